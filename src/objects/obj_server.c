/*
 * server.c - `mp_server`, the Python view of a server_rec
 * (python-api.md §7): read-only attributes, live views of the server's own
 * directives and options tables, logging, child-exit cleanups.
 *
 * The wrapper copies nothing: every attribute is read from the server_rec
 * when asked for. server_recs live as long as the configuration, which
 * outlives every interpreter of a child, so a wrapper never dangles. A new
 * wrapper may be made on every access (req.server caches its own); it has a
 * __dict__ so applications can hang attributes on it.
 */
#include "objects/objects.h"
#include "objects/obj_services.h"
#include "objects/obj_config_tables.h"
#include "scoreboard.h"

#include <stddef.h>

#if PY_VERSION_HEX < 0x030C0000
#include "structmember.h"
#define Py_T_PYSSIZET T_PYSSIZET
#define Py_READONLY READONLY
#endif

typedef struct server_object {
    PyObject_HEAD
    server_rec *server;
    PyObject *dict; /* __dict__, created on first use */
} server_object;

#define SERVER_REC(self) (((server_object *)(self))->server)

/* ---------------------------------------------------------------------
 * Plain server_rec fields, described by a table so that one getter serves
 * them all.
 */

typedef enum {
    FIELD_STR,      /* const char * (NULL -> None) */
    FIELD_INT,      /* int */
    FIELD_UNSIGNED, /* unsigned */
    FIELD_CHAR,     /* char used as a flag */
    FIELD_PORT,     /* apr_port_t */
    FIELD_SECONDS   /* apr_interval_time_t -> float seconds */
} field_kind;

typedef struct server_field {
    field_kind kind;
    size_t offset;
} server_field;

/* clang-format off */
#define FIELD(kind, member) {kind, offsetof(server_rec, member)}
/* clang-format on */

static const server_field field_defn_name = FIELD(FIELD_STR, defn_name);
static const server_field field_defn_line_number = FIELD(FIELD_UNSIGNED, defn_line_number);
static const server_field field_server_admin = FIELD(FIELD_STR, server_admin);
static const server_field field_server_hostname = FIELD(FIELD_STR, server_hostname);
static const server_field field_port = FIELD(FIELD_PORT, port);
static const server_field field_error_fname = FIELD(FIELD_STR, error_fname);
static const server_field field_is_virtual = FIELD(FIELD_CHAR, is_virtual);
static const server_field field_timeout = FIELD(FIELD_SECONDS, timeout);
static const server_field field_keep_alive_timeout = FIELD(FIELD_SECONDS, keep_alive_timeout);
static const server_field field_keep_alive_max = FIELD(FIELD_INT, keep_alive_max);
static const server_field field_keep_alive = FIELD(FIELD_INT, keep_alive);
static const server_field field_path = FIELD(FIELD_STR, path);
static const server_field field_pathlen = FIELD(FIELD_INT, pathlen);
static const server_field field_limit_req_line = FIELD(FIELD_INT, limit_req_line);
static const server_field field_limit_req_fieldsize = FIELD(FIELD_INT, limit_req_fieldsize);
static const server_field field_limit_req_fields = FIELD(FIELD_INT, limit_req_fields);

static PyObject *server_field_get(PyObject *self, void *closure)
{
    const server_field *field = closure;
    const char *base = (const char *)SERVER_REC(self) + field->offset;
    switch (field->kind) {
    case FIELD_STR:
        return hydra_str_from_apache(*(const char *const *)base);
    case FIELD_INT:
        return PyLong_FromLong(*(const int *)base);
    case FIELD_UNSIGNED:
        return PyLong_FromUnsignedLong(*(const unsigned *)base);
    case FIELD_CHAR:
        return PyLong_FromLong(*(const char *)base);
    case FIELD_PORT:
        return PyLong_FromLong(*(const apr_port_t *)base);
    case FIELD_SECONDS:
        return PyFloat_FromDouble((double)*(const apr_interval_time_t *)base / APR_USEC_PER_SEC);
    }
    PyErr_SetString(PyExc_SystemError, "mp_server: unknown field kind");
    return NULL;
}

/* ---------------------------------------------------------------------
 * Attributes that need more than a field read
 */

static PyObject *string_array_tuple(const apr_array_header_t *arr)
{
    Py_ssize_t n = arr ? arr->nelts : 0;
    PyObject *tuple = PyTuple_New(n);
    for (Py_ssize_t i = 0; tuple != NULL && i < n; i++) {
        PyObject *item = hydra_str_from_apache(APR_ARRAY_IDX(arr, i, const char *));
        if (item == NULL)
            Py_CLEAR(tuple);
        else
            PyTuple_SET_ITEM(tuple, i, item);
    }
    return tuple;
}

static PyObject *server_get_names(PyObject *self, void *closure)
{
    return string_array_tuple(SERVER_REC(self)->names);
}

static PyObject *server_get_wild_names(PyObject *self, void *closure)
{
    return string_array_tuple(SERVER_REC(self)->wild_names);
}

static PyObject *server_get_loglevel(PyObject *self, void *closure)
{
    return PyLong_FromLong(SERVER_REC(self)->log.level);
}

static PyObject *server_get_next(PyObject *self, void *closure)
{
    server_rec *next = SERVER_REC(self)->next;
    if (next == NULL)
        Py_RETURN_NONE;
    return server_object_new(hydra_state_from_type(Py_TYPE(self)), next);
}

/* The MPM generation; httpd 2.4 has no global for it any more. */
static PyObject *server_get_my_generation(PyObject *self, void *closure)
{
    int generation = 0;
    ap_mpm_query(AP_MPMQ_GENERATION, &generation);
    return PyLong_FromLong(generation);
}

static PyObject *server_get_restart_time(PyObject *self, void *closure)
{
    apr_time_t when = 0;
    if (ap_scoreboard_image != NULL && ap_scoreboard_image->global != NULL)
        when = ap_scoreboard_image->global->restart_time;
    return PyFloat_FromDouble((double)when / APR_USEC_PER_SEC);
}

static PyObject *server_get_server_rec(PyObject *self, void *closure)
{
    /* Unnamed, like upstream's, so existing C extensions can unwrap it. */
    return PyCapsule_New(SERVER_REC(self), NULL, NULL);
}

/* ---------------------------------------------------------------------
 * Methods
 */

/* The server's own configuration record, as set outside any section. */
static hydra_config *server_config_or_raise(PyObject *self)
{
    hydra_config *conf = hydra_server_config(SERVER_REC(self));
    if (conf == NULL)
        PyErr_SetString(PyExc_RuntimeError, "server has no mod_python configuration");
    return conf;
}

/* The directives (0) or options (1) table of the server as the calling
 * interpreter may see it (obj_config_tables.h: own-GIL interpreters get a
 * copy of their own). */
static PyObject *server_table_view(PyObject *self, int options)
{
    hydra_apache_state *st = hydra_state_from_type(Py_TYPE(self));
    hydra_config *conf = server_config_or_raise(self);
    apr_table_t *t;

    if (!conf)
        return NULL;
    t = obj_config_server_table(st, options ? conf->options : conf->server_directives);
    return t ? table_wrap(st, t, NULL) : NULL;
}

/* Both tables live in the configuration pool (or an own-GIL interpreter's
 * pool), which outlives the wrapper, so the views need no owner. Unlike req.get_options() nothing
 * is filtered: "" entries (removed options) are visible here. */
static PyObject *server_get_config(PyObject *self, PyObject *unused)
{
    return server_table_view(self, 0);
}

static PyObject *server_get_options(PyObject *self, PyObject *unused)
{
    return server_table_view(self, 1);
}

/* log_error(message, level=APLOG_ERR) */
static PyObject *server_log_error(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"message", "level", NULL};
    PyObject *message;
    int level = APLOG_ERR;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|i:log_error", kwlist, &message, &level))
        return NULL;
    return hydra_log_python_message(message, level, SERVER_REC(self), NULL, NULL);
}

/* register_cleanup(req, callable, data=None): callable(data) at child exit,
 * in the interpreter running now. `req` is only checked, as upstream did. */
static PyObject *server_register_cleanup(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"req", "callable", "data", NULL};
    PyObject *req, *callable, *data = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|O:register_cleanup", kwlist, &req, &callable,
                                     &data))
        return NULL;
    hydra_apache_state *st = hydra_state_from_type(Py_TYPE(self));
    if (!PyObject_TypeCheck(req, st->request_type)) {
        PyErr_SetString(PyExc_ValueError, "first argument must be a request object");
        return NULL;
    }
    if (!PyCallable_Check(callable)) {
        PyErr_SetString(PyExc_ValueError, "second argument must be a callable object");
        return NULL;
    }
    hydra_interp *interp = interp_current();
    const char *name =
        interp && interp_kind(interp) != HYDRA_INTERP_MAIN ? interp_name(interp) : NULL;
    if (obj_services_table->register_child_cleanup(name, SERVER_REC(self), callable, data) < 0)
        return NULL;
    Py_RETURN_NONE;
}

#define KW_METHOD(fn) ((PyCFunction)(void (*)(void))(fn))

static PyMethodDef server_methods[] = {
    {"get_config", server_get_config, METH_NOARGS, "live table of this server's own directives"},
    {"get_options", server_get_options, METH_NOARGS,
     "live table of this server's own PythonOption values"},
    {"log_error", KW_METHOD(server_log_error), METH_VARARGS | METH_KEYWORDS,
     "log_error(message, level=APLOG_ERR): write to this server's error log"},
    {"register_cleanup", KW_METHOD(server_register_cleanup), METH_VARARGS | METH_KEYWORDS,
     "register_cleanup(req, callable, data=None): call callable(data) at child exit"},
    {NULL, NULL, 0, NULL}};

/* clang-format off */
#define FIELD_GETTER(name) {#name, server_field_get, NULL, NULL, (void *)&field_##name}
/* clang-format on */

static PyGetSetDef server_getset[] = {
    FIELD_GETTER(defn_name),
    FIELD_GETTER(defn_line_number),
    FIELD_GETTER(server_admin),
    FIELD_GETTER(server_hostname),
    FIELD_GETTER(port),
    FIELD_GETTER(error_fname),
    FIELD_GETTER(is_virtual),
    FIELD_GETTER(timeout),
    FIELD_GETTER(keep_alive_timeout),
    FIELD_GETTER(keep_alive_max),
    FIELD_GETTER(keep_alive),
    FIELD_GETTER(path),
    FIELD_GETTER(pathlen),
    FIELD_GETTER(limit_req_line),
    FIELD_GETTER(limit_req_fieldsize),
    FIELD_GETTER(limit_req_fields),
    {"loglevel", server_get_loglevel, NULL, NULL, NULL},
    {"names", server_get_names, NULL, NULL, NULL},
    {"wild_names", server_get_wild_names, NULL, NULL, NULL},
    {"next", server_get_next, NULL, NULL, NULL},
    {"my_generation", server_get_my_generation, NULL, NULL, NULL},
    {"restart_time", server_get_restart_time, NULL, NULL, NULL},
    {"_server_rec", server_get_server_rec, NULL, NULL, NULL},
    /* Types made from a spec get no __dict__ descriptor by themselves. */
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyMemberDef server_members[] = {
    {"__dictoffset__", Py_T_PYSSIZET, offsetof(server_object, dict), Py_READONLY, NULL},
    {NULL, 0, 0, 0, NULL}};

/* ---------------------------------------------------------------------
 * Type plumbing
 */

static int server_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(((server_object *)self)->dict);
    return 0;
}

static int server_clear(PyObject *self)
{
    Py_CLEAR(((server_object *)self)->dict);
    return 0;
}

static void server_dealloc(PyObject *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    server_clear(self);
    type->tp_free(self);
    Py_DECREF(type);
}

static PyType_Slot server_slots[] = {
    {Py_tp_doc, "Apache server (server_rec) as seen by mod_python"},
    {Py_tp_dealloc, server_dealloc},
    {Py_tp_traverse, server_traverse},
    {Py_tp_clear, server_clear},
    {Py_tp_methods, server_methods},
    {Py_tp_getset, server_getset},
    {Py_tp_members, server_members},
    {0, NULL}};

PyType_Spec hydra_server_spec = {
    .name = "mp_server",
    .basicsize = sizeof(server_object),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION
             | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = server_slots,
};

PyObject *server_object_new(hydra_apache_state *st, server_rec *s)
{
    server_object *self = (server_object *)st->server_type->tp_alloc(st->server_type, 0);
    if (self != NULL)
        self->server = s;
    return (PyObject *)self;
}

server_rec *server_object_get(hydra_apache_state *st, PyObject *obj)
{
    if (obj == NULL || !PyObject_TypeCheck(obj, st->server_type))
        return NULL;
    return SERVER_REC(obj);
}
