/*
 * hlist.c - `mp_hlist`, the Python view of a running handler list
 * (python-api.md §9; req.hlist, conn.hlist).
 *
 * The list itself (hydra_hlist, reqctx.h) is C state shared by every
 * interpreter that touches the request; this object only reads
 * hl->current and advances it in next(). The entries live in the request
 * (or connection) pool, which `owner` keeps from going away under us.
 */
#include "objects/objects.h"

typedef struct hlist_object {
    PyObject_HEAD
    hydra_hlist *hl;
    PyObject *owner; /* the request or connection object; may be NULL */
} hlist_object;

/* The entry being run, or NULL once the list is exhausted. */
static const hydra_handler *hlist_current(PyObject *self)
{
    hydra_hlist *hl = ((hlist_object *)self)->hl;
    return hl ? hl->current : NULL;
}

static PyObject *hlist_get_handler(PyObject *self, void *closure)
{
    const hydra_handler *entry = hlist_current(self);
    return entry ? hydra_str_from_apache(entry->handler) : Py_NewRef(Py_None);
}

static PyObject *hlist_get_directory(PyObject *self, void *closure)
{
    const hydra_handler *entry = hlist_current(self);
    return entry ? hydra_str_from_apache(entry->directory) : Py_NewRef(Py_None);
}

static PyObject *hlist_get_is_location(PyObject *self, void *closure)
{
    const hydra_handler *entry = hlist_current(self);
    return entry ? PyLong_FromLong(entry->is_location) : Py_NewRef(Py_None);
}

static PyObject *hlist_get_silent(PyObject *self, void *closure)
{
    const hydra_handler *entry = hlist_current(self);
    return entry ? PyLong_FromLong(entry->silent) : Py_NewRef(Py_None);
}

/* next(): moves the shared list on. The dispatcher reads the same C struct
 * and, after the handler returns, steps on once more from wherever the list
 * then is (mod_python's loop), so a handler calling next() skips the entry
 * after it. Past the end it stays past the end. */
static PyObject *hlist_next(PyObject *self, PyObject *unused)
{
    hydra_hlist *hl = ((hlist_object *)self)->hl;
    if (hl != NULL && hl->current != NULL)
        hl->current = hl->current->next;
    Py_RETURN_NONE;
}

/* Dict-like, in the exact shape mod_python printed:
 * {'handler':'m::h','directory':'/d/','is_location':False,'silent':0}
 * (is_location as a bool, silent as an int, no spaces). Past the end every
 * value is None. */
static PyObject *hlist_repr(PyObject *self)
{
    const hydra_handler *entry = hlist_current(self);
    if (entry == NULL)
        return PyUnicode_FromString(
            "{'handler':None,'directory':None,'is_location':None,'silent':None}");
    PyObject *handler = hlist_get_handler(self, NULL);
    PyObject *directory = handler ? hlist_get_directory(self, NULL) : NULL;
    PyObject *repr = NULL;
    if (directory != NULL)
        repr = PyUnicode_FromFormat("{'handler':%R,'directory':%R,'is_location':%s,'silent':%d}",
                                    handler, directory, entry->is_location ? "True" : "False",
                                    entry->silent ? 1 : 0);
    Py_XDECREF(handler);
    Py_XDECREF(directory);
    return repr;
}

static PyMethodDef hlist_methods[] = {
    {"next", hlist_next, METH_NOARGS, "advance to the next handler of the list"},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef hlist_getset[] = {
    {"handler", hlist_get_handler, NULL, "current handler string, or None past the end", NULL},
    {"directory", hlist_get_directory, NULL, "directory of the current handler, or None", NULL},
    {"is_location", hlist_get_is_location, NULL, "1 if configured in a <Location>", NULL},
    {"silent", hlist_get_silent, NULL, "1 for PythonHandlerModule entries", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static int hlist_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(((hlist_object *)self)->owner);
    return 0;
}

static int hlist_clear(PyObject *self)
{
    Py_CLEAR(((hlist_object *)self)->owner);
    return 0;
}

static void hlist_dealloc(PyObject *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    hlist_clear(self);
    type->tp_free(self);
    Py_DECREF(type);
}

/* clang-format off */
static PyType_Slot hlist_slots[] = {
    {Py_tp_doc, "the handler list of the running phase"},
    {Py_tp_dealloc, hlist_dealloc},
    {Py_tp_traverse, hlist_traverse},
    {Py_tp_clear, hlist_clear},
    {Py_tp_repr, hlist_repr},
    {Py_tp_methods, hlist_methods},
    {Py_tp_getset, hlist_getset},
    {0, NULL}};
/* clang-format on */

PyType_Spec hydra_hlist_spec = {
    .name = "mp_hlist",
    .basicsize = sizeof(hlist_object),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION
             | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = hlist_slots,
};

PyObject *hlist_object_new(hydra_apache_state *st, hydra_hlist *hl, PyObject *owner)
{
    hlist_object *self = (hlist_object *)st->hlist_type->tp_alloc(st->hlist_type, 0);
    if (self != NULL) {
        self->hl = hl;
        self->owner = Py_XNewRef(owner);
    }
    return (PyObject *)self;
}
