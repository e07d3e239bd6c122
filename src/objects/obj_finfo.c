/*
 * finfo.c - `mp_finfo`, the file information object of python-api.md §10
 * (`apache.stat()`, `req.finfo`).
 *
 * Either a copy of an apr_finfo_t (its fname and name strings copied too,
 * since the pool they came from may go first) or a live view of one that
 * Apache owns (r->finfo), kept valid by `owner`. Read-only; setting
 * req.finfo is request.c's business.
 */
#include "objects/objects.h"

typedef struct {
    PyObject_HEAD
    apr_finfo_t copy;  /* used when live is NULL */
    apr_finfo_t *live; /* the viewed struct, or NULL */
    PyObject *owner;   /* keeps `live` alive; NULL for a copy */
    char *fname_copy;  /* PyMem-owned strings behind copy.fname / copy.name */
    char *name_copy;
} finfo_object;

/* Field numbers 0..12 are the FINFO_* sequence indexes of the spec;
 * `valid` is an attribute only. */
enum finfo_field {
    FIELD_MODE,
    FIELD_INO,
    FIELD_DEV,
    FIELD_NLINK,
    FIELD_UID,
    FIELD_GID,
    FIELD_SIZE,
    FIELD_ATIME,
    FIELD_MTIME,
    FIELD_CTIME,
    FIELD_FNAME,
    FIELD_NAME,
    FIELD_FILETYPE,
    FINFO_SEQUENCE_LENGTH,
    FIELD_VALID = FINFO_SEQUENCE_LENGTH
};

/* The `valid` bits a field needs (0: needs none beyond an existing file). */
static const apr_int32_t field_bits[] = {
    [FIELD_MODE] = APR_FINFO_PROT,
    [FIELD_INO] = APR_FINFO_INODE,
    [FIELD_DEV] = APR_FINFO_DEV,
    [FIELD_NLINK] = APR_FINFO_NLINK,
    [FIELD_UID] = APR_FINFO_USER,
    [FIELD_GID] = APR_FINFO_GROUP,
    [FIELD_SIZE] = APR_FINFO_SIZE,
    [FIELD_ATIME] = APR_FINFO_ATIME,
    [FIELD_MTIME] = APR_FINFO_MTIME,
    [FIELD_CTIME] = APR_FINFO_CTIME,
    [FIELD_FNAME] = 0,
    [FIELD_NAME] = APR_FINFO_NAME,
    [FIELD_FILETYPE] = 0,
    [FIELD_VALID] = 0,
};

static const apr_finfo_t *finfo_of(const finfo_object *f)
{
    return f->live ? f->live : &f->copy;
}

/* Times as integer epoch seconds (upstream gave floats in some versions;
 * the spec fixes integers). */
static PyObject *epoch_seconds(apr_time_t t)
{
    return PyLong_FromLongLong((long long)apr_time_sec(t));
}

static PyObject *finfo_field_value(const apr_finfo_t *fi, enum finfo_field field)
{
    if (field == FIELD_FNAME)
        return hydra_str_from_apache(fi->fname);
    if (field == FIELD_FILETYPE)
        return PyLong_FromLong((long)fi->filetype);
    if (fi->filetype == APR_NOFILE || (field_bits[field] && !(fi->valid & field_bits[field])))
        Py_RETURN_NONE;
    switch (field) {
    case FIELD_MODE:
        return PyLong_FromLong((long)fi->protection);
    case FIELD_INO:
        return PyLong_FromUnsignedLongLong((unsigned long long)fi->inode);
    case FIELD_DEV:
        return PyLong_FromUnsignedLongLong((unsigned long long)fi->device);
    case FIELD_NLINK:
        return PyLong_FromLong((long)fi->nlink);
    case FIELD_UID:
        return PyLong_FromUnsignedLongLong((unsigned long long)fi->user);
    case FIELD_GID:
        return PyLong_FromUnsignedLongLong((unsigned long long)fi->group);
    case FIELD_SIZE:
        return PyLong_FromLongLong((long long)fi->size);
    case FIELD_ATIME:
        return epoch_seconds(fi->atime);
    case FIELD_MTIME:
        return epoch_seconds(fi->mtime);
    case FIELD_CTIME:
        return epoch_seconds(fi->ctime);
    case FIELD_NAME:
        return hydra_str_from_apache(fi->name);
    case FIELD_VALID:
        return PyLong_FromLong((long)fi->valid);
    default:
        PyErr_SetString(PyExc_SystemError, "mp_finfo: unknown field");
        return NULL;
    }
}

static PyObject *finfo_getter(PyObject *self, void *closure)
{
    return finfo_field_value(finfo_of((finfo_object *)self), (enum finfo_field)(intptr_t)closure);
}

static Py_ssize_t finfo_length(PyObject *self)
{
    return FINFO_SEQUENCE_LENGTH;
}

/* finfo[i] for the FINFO_* indexes; 12 (FINFO_FILETYPE) included, which
 * upstream rejected (deviation in the spec). */
static PyObject *finfo_item(PyObject *self, Py_ssize_t i)
{
    if (i < 0 || i >= FINFO_SEQUENCE_LENGTH) {
        PyErr_SetString(PyExc_IndexError, "mp_finfo index out of range");
        return NULL;
    }
    return finfo_field_value(finfo_of((finfo_object *)self), (enum finfo_field)i);
}

#define FINFO_GETTER(attr, field, doc)                                                             \
    {                                                                                              \
        attr, finfo_getter, NULL, doc, (void *)(intptr_t)(field)                                   \
    }

static PyGetSetDef finfo_getset[] = {
    FINFO_GETTER("fname", FIELD_FNAME, "path the information was asked for"),
    FINFO_GETTER("filetype", FIELD_FILETYPE, "APR_NOFILE, APR_REG, APR_DIR, ..."),
    FINFO_GETTER("valid", FIELD_VALID, "APR_FINFO_* bits of the valid fields"),
    FINFO_GETTER("protection", FIELD_MODE, "permission bits"),
    FINFO_GETTER("user", FIELD_UID, "owner user id"),
    FINFO_GETTER("group", FIELD_GID, "owner group id"),
    FINFO_GETTER("inode", FIELD_INO, "inode number"),
    FINFO_GETTER("device", FIELD_DEV, "device id"),
    FINFO_GETTER("nlink", FIELD_NLINK, "number of hard links"),
    FINFO_GETTER("size", FIELD_SIZE, "size in bytes"),
    FINFO_GETTER("atime", FIELD_ATIME, "access time, integer epoch seconds"),
    FINFO_GETTER("mtime", FIELD_MTIME, "modification time, integer epoch seconds"),
    FINFO_GETTER("ctime", FIELD_CTIME, "inode change time, integer epoch seconds"),
    FINFO_GETTER("name", FIELD_NAME, "file name in proper case, without the directory"),
    {NULL, NULL, NULL, NULL, NULL},
};

/* Copies a C string into memory the object owns; NULL stays NULL. */
static int own_string(const char *s, char **owned)
{
    size_t len;

    *owned = NULL;
    if (!s)
        return 0;
    len = strlen(s) + 1;
    if (!(*owned = PyMem_Malloc(len))) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(*owned, s, len);
    return 0;
}

static int finfo_take_copy(finfo_object *f, const apr_finfo_t *fi)
{
    if (fi)
        f->copy = *fi;
    f->copy.pool = NULL; /* not ours to use */
    if (own_string(f->copy.fname, &f->fname_copy) < 0
        || own_string(f->copy.name, &f->name_copy) < 0)
        return -1;
    f->copy.fname = f->fname_copy;
    f->copy.name = f->name_copy;
    return 0;
}

PyObject *finfo_object_new(hydra_apache_state *st, const apr_finfo_t *fi, apr_finfo_t *live,
                           PyObject *owner)
{
    finfo_object *f = (finfo_object *)st->finfo_type->tp_alloc(st->finfo_type, 0);

    if (!f)
        return NULL;
    if (live) {
        f->live = live;
        f->owner = Py_XNewRef(owner);
    } else if (finfo_take_copy(f, fi) < 0)
        Py_CLEAR(f);
    return (PyObject *)f;
}

const apr_finfo_t *finfo_object_get(hydra_apache_state *st, PyObject *obj)
{
    if (!PyObject_TypeCheck(obj, st->finfo_type)) {
        PyErr_Format(PyExc_TypeError, "expected an mp_finfo, got %.200s", Py_TYPE(obj)->tp_name);
        return NULL;
    }
    return finfo_of((finfo_object *)obj);
}

static int finfo_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(((finfo_object *)self)->owner);
    return 0;
}

static int finfo_clear(PyObject *self)
{
    Py_CLEAR(((finfo_object *)self)->owner);
    return 0;
}

static void finfo_dealloc(PyObject *self)
{
    finfo_object *f = (finfo_object *)self;
    PyTypeObject *type = Py_TYPE(self);

    PyObject_GC_UnTrack(self);
    finfo_clear(self);
    PyMem_Free(f->fname_copy);
    PyMem_Free(f->name_copy);
    type->tp_free(self);
    Py_DECREF(type);
}

static PyType_Slot finfo_slots[] = {
    {Py_tp_doc, "mp_finfo: file information (apache.stat(), req.finfo)"},
    {Py_tp_getset, finfo_getset},
    {Py_tp_dealloc, finfo_dealloc},
    {Py_tp_traverse, finfo_traverse},
    {Py_tp_clear, finfo_clear},
    {Py_sq_length, finfo_length},
    {Py_sq_item, finfo_item},
    {0, NULL},
};

PyType_Spec hydra_finfo_spec = {
    .name = "_apache.mp_finfo",
    .basicsize = sizeof(finfo_object),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = finfo_slots,
};
