/*
 * lock_functions.c - the `_apache` functions over the cross-process session
 * mutexes (python-api.md §11): _global_lock, _global_trylock and
 * _global_unlock. The mutexes themselves belong to global_lock.c.
 *
 * Choosing a mutex: an explicit index is used as given (0 is reserved for
 * dbm-file locking); index -1 maps the key onto 1..n-1 with FNV-1a over the
 * UTF-8 of str(key). Unlike Python's hash(), which is randomised per
 * process for str, FNV-1a gives the same index in every child, so two
 * children locking the same session id really meet on one mutex
 * (a deliberate deviation from upstream, spec README item 18).
 */
#include "objects/objects.h"
#include "objects/obj_global_lock.h"
#include "core/interp.h"

/* The array behind PyModule_AddFunctions; declared for the module file. */
extern PyMethodDef hydra_lock_functions[];

#define FNV1A_OFFSET_BASIS 0x811C9DC5u
#define FNV1A_PRIME 0x01000193u

static apr_uint32_t fnv1a(const char *bytes, Py_ssize_t len)
{
    apr_uint32_t hash = FNV1A_OFFSET_BASIS;
    Py_ssize_t i;
    for (i = 0; i < len; i++) {
        hash ^= (unsigned char)bytes[i];
        hash *= FNV1A_PRIME;
    }
    return hash;
}

/* Index 1..count-1 for `key`; -1 with an exception set on failure. Lone
 * surrogates (from surrogateescape-decoded Apache strings) are encoded as
 * they are, so every str has an index. */
static int index_from_key(PyObject *key, int count)
{
    PyObject *text = PyObject_Str(key);
    PyObject *utf8;
    apr_uint32_t hash;

    if (text == NULL)
        return -1;
    utf8 = PyUnicode_AsEncodedString(text, "utf-8", "surrogatepass");
    Py_DECREF(text);
    if (utf8 == NULL)
        return -1;
    hash = fnv1a(PyBytes_AS_STRING(utf8), PyBytes_GET_SIZE(utf8));
    Py_DECREF(utf8);
    return (int)(hash % (apr_uint32_t)(count - 1)) + 1;
}

/* Parses (server, key, index=-1) and returns the mutex they name, or NULL
 * with an exception set. */
static apr_global_mutex_t *mutex_from_args(PyObject *module, PyObject *args, PyObject *kw,
                                           const char *fname)
{
    static char *kwlist[] = {"server", "key", "index", NULL};
    PyObject *server, *key;
    int index = -1;
    int count = global_lock_count();
    char format[32];

    PyOS_snprintf(format, sizeof(format), "OO|i:%s", fname);
    if (!PyArg_ParseTupleAndKeywords(args, kw, format, kwlist, &server, &key, &index))
        return NULL;
    if (server_object_get(hydra_state_from_module(module), server) == NULL) {
        PyErr_Format(PyExc_TypeError, "%s() argument 1 must be a server object, not %.100s", fname,
                     Py_TYPE(server)->tp_name);
        return NULL;
    }
    if (count == 0) {
        PyErr_SetString(PyExc_RuntimeError,
                        "this Apache process has no session mutexes (see the error log)");
        return NULL;
    }
    if (index == -1) {
        index = index_from_key(key, count);
        if (index < 0)
            return NULL;
    } else if (index < 0 || index >= count) {
        PyErr_Format(PyExc_ValueError,
                     "lock index %d is out of range: there are %d session mutexes (0..%d)", index,
                     count, count - 1);
        return NULL;
    }
    return global_lock_mutex(index);
}

static PyObject *raise_apr_error(const char *what, apr_status_t rv)
{
    char reason[256];
    apr_strerror(rv, reason, sizeof(reason));
    PyErr_Format(PyExc_OSError, "%s: %s", what, reason);
    return NULL;
}

/* _global_lock(server, key, index=-1): waits for the mutex with the GIL
 * released, so other threads of the process run meanwhile. */
static PyObject *lock_global_lock(PyObject *module, PyObject *args, PyObject *kw)
{
    apr_global_mutex_t *mutex = mutex_from_args(module, args, kw, "_global_lock");
    apr_status_t rv;

    if (mutex == NULL)
        return NULL;
    HYDRA_BLOCKING_BEGIN
    rv = apr_global_mutex_lock(mutex);
    HYDRA_BLOCKING_END
    if (rv != APR_SUCCESS)
        return raise_apr_error("cannot lock the session mutex", rv);
    Py_RETURN_NONE;
}

/* _global_trylock(server, key, index=-1) -> True if acquired, False if busy. */
static PyObject *lock_global_trylock(PyObject *module, PyObject *args, PyObject *kw)
{
    apr_global_mutex_t *mutex = mutex_from_args(module, args, kw, "_global_trylock");
    apr_status_t rv;

    if (mutex == NULL)
        return NULL;
    rv = apr_global_mutex_trylock(mutex);
    if (rv == APR_SUCCESS)
        Py_RETURN_TRUE;
    if (APR_STATUS_IS_EBUSY(rv))
        Py_RETURN_FALSE;
    return raise_apr_error("cannot try the session mutex", rv);
}

/* _global_unlock(server, key, index=-1) */
static PyObject *lock_global_unlock(PyObject *module, PyObject *args, PyObject *kw)
{
    apr_global_mutex_t *mutex = mutex_from_args(module, args, kw, "_global_unlock");
    apr_status_t rv;

    if (mutex == NULL)
        return NULL;
    rv = apr_global_mutex_unlock(mutex);
    if (rv != APR_SUCCESS)
        return raise_apr_error("cannot unlock the session mutex", rv);
    Py_RETURN_NONE;
}

PyMethodDef hydra_lock_functions[] = {
    {"_global_lock", (PyCFunction)(void (*)(void))lock_global_lock, METH_VARARGS | METH_KEYWORDS,
     "_global_lock(server, key, index=-1): lock a session mutex, waiting without the GIL"},
    {"_global_trylock", (PyCFunction)(void (*)(void))lock_global_trylock,
     METH_VARARGS | METH_KEYWORDS,
     "_global_trylock(server, key, index=-1) -> True if locked, False if busy"},
    {"_global_unlock", (PyCFunction)(void (*)(void))lock_global_unlock,
     METH_VARARGS | METH_KEYWORDS, "_global_unlock(server, key, index=-1): unlock a session mutex"},
    {NULL, NULL, 0, NULL},
};
