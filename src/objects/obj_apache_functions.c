/*
 * obj_apache_functions.c - the module-level functions of `_apache`
 * (python-api.md §2.1, §11; beyond.md §2): log_error, config_tree,
 * server_root, mpm_query, exists_config_define, stat, parse_qs/parse_qsl,
 * register_cleanup and interpreters.
 *
 * Also owns a service other object files share: writing a Python message
 * to the error log (log_error of module, server and connection). The
 * child-exit cleanups that register_cleanup asks for are kept and run by
 * the dispatch layer (dispatch_cleanup.c), reached through obj_services.
 *
 * Functions reach the module state through their module argument, never
 * through a C global.
 */
#include "objects/objects.h"
#include "objects/obj_services.h"
#include "core/interp.h"
#include "http_main.h"

/* ---------------------------------------------------------------------
 * Logging a Python message
 */

/* str -> UTF-8 (characters that cannot be encoded are written as
 * backslash escapes, so logging never fails on odd text); bytes as given. */
static PyObject *log_text_bytes(PyObject *message)
{
    if (PyUnicode_Check(message))
        return PyUnicode_AsEncodedString(message, "utf-8", "backslashreplace");
    if (PyBytes_Check(message))
        return Py_NewRef(message);
    PyErr_Format(PyExc_TypeError, "log message must be str, bytes or None, not %.100s",
                 Py_TYPE(message)->tp_name);
    return NULL;
}

/* Writes `message` (str, bytes or None = nothing) at `level` to the most
 * specific of r, c, s; all NULL writes to the process-wide default log.
 * Level 0 means "not given" and logs at APLOG_ERR, so APLOG_EMERG cannot be
 * used (upstream quirk the spec keeps). The GIL is released while Apache
 * writes. Returns None, or NULL with an exception. */
PyObject *hydra_log_python_message(PyObject *message, int level, server_rec *s, conn_rec *c,
                                   request_rec *r)
{
    if (message == Py_None)
        Py_RETURN_NONE;
    PyObject *bytes = log_text_bytes(message);
    if (bytes == NULL)
        return NULL;
    const char *text = PyBytes_AS_STRING(bytes);
    if (level == 0)
        level = APLOG_ERR;
    HYDRA_BLOCKING_BEGIN
    if (r != NULL)
        ap_log_rerror(APLOG_MARK, level, 0, r, "%s", text);
    else if (c != NULL)
        ap_log_cerror(APLOG_MARK, level, 0, c, "%s", text);
    else
        ap_log_error(APLOG_MARK, level, 0, s, "%s", text);
    HYDRA_BLOCKING_END
    Py_DECREF(bytes);
    Py_RETURN_NONE;
}

/* log_error(message, level=APLOG_ERR, server=None) */
static PyObject *apache_log_error(PyObject *module, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"message", "level", "server", NULL};
    PyObject *message, *server = Py_None;
    int level = APLOG_ERR;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|iO:log_error", kwlist, &message, &level, &server))
        return NULL;
    server_rec *s = NULL;
    if (server != Py_None) {
        s = server_object_get(hydra_state_from_module(module), server);
        if (s == NULL) {
            PyErr_SetString(PyExc_TypeError, "server must be a server object or None");
            return NULL;
        }
    }
    return hydra_log_python_message(message, level, s, NULL, NULL);
}

/* register_cleanup(interpreter, server, callable, data=None) */
static PyObject *apache_register_cleanup(PyObject *module, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"interpreter", "server", "callable", "data", NULL};
    const char *interp_name;
    PyObject *server, *callable, *data = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "zOO|O:register_cleanup", kwlist, &interp_name,
                                     &server, &callable, &data))
        return NULL;
    server_rec *s = server_object_get(hydra_state_from_module(module), server);
    if (s == NULL) {
        PyErr_SetString(PyExc_TypeError, "second argument must be a server object");
        return NULL;
    }
    if (!PyCallable_Check(callable)) {
        PyErr_SetString(PyExc_ValueError, "third argument must be a callable object");
        return NULL;
    }
    if (obj_services_table->register_child_cleanup(interp_name, s, callable, data) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* ---------------------------------------------------------------------
 * Configuration and server facts
 */

static PyObject *conftree_entry(const ap_directive_t *node)
{
    PyObject *directive = hydra_str_from_apache(node->directive);
    PyObject *args = directive ? hydra_str_from_apache(node->args) : NULL;
    PyObject *entry = args ? PyTuple_Pack(2, directive, args) : NULL;
    Py_XDECREF(directive);
    Py_XDECREF(args);
    return entry;
}

/* One level of the tree: each node's (directive, args) tuple, followed by
 * the nested list of its children when it is a section. */
static PyObject *conftree_list(const ap_directive_t *node)
{
    PyObject *list = PyList_New(0);
    for (; list != NULL && node != NULL; node = node->next) {
        PyObject *entry = conftree_entry(node);
        if (entry == NULL || PyList_Append(list, entry) < 0) {
            Py_XDECREF(entry);
            Py_CLEAR(list);
            break;
        }
        Py_DECREF(entry);
        if (node->first_child == NULL)
            continue;
        PyObject *children = conftree_list(node->first_child);
        if (children == NULL || PyList_Append(list, children) < 0)
            Py_CLEAR(list);
        Py_XDECREF(children);
    }
    return list;
}

static PyObject *apache_config_tree(PyObject *module, PyObject *unused)
{
    return conftree_list(ap_conftree);
}

static PyObject *apache_server_root(PyObject *module, PyObject *unused)
{
    return hydra_str_from_apache(ap_server_root);
}

static PyObject *apache_mpm_query(PyObject *module, PyObject *code)
{
    if (!PyLong_Check(code)) {
        PyErr_SetString(PyExc_TypeError, "mpm_query() argument must be an int");
        return NULL;
    }
    int query = (int)PyLong_AsLong(code);
    if (query == -1 && PyErr_Occurred())
        return NULL;
    int result = 0;
    ap_mpm_query(query, &result);
    return PyLong_FromLong(result);
}

static PyObject *apache_exists_config_define(PyObject *module, PyObject *args)
{
    const char *name;
    if (!PyArg_ParseTuple(args, "s:exists_config_define", &name))
        return NULL;
    return PyBool_FromLong(ap_exists_config_define(name));
}

/* ---------------------------------------------------------------------
 * stat(fname, wanted)
 *
 * The finfo lives in a pool of its own that the returned object keeps
 * alive (through a capsule), because apr_stat leaves pointers into that
 * pool (fname, name) in the struct.
 */

#define STAT_POOL_CAPSULE "_apache.stat_pool"

static void stat_pool_destroy(PyObject *capsule)
{
    apr_pool_t *pool = PyCapsule_GetPointer(capsule, STAT_POOL_CAPSULE);
    if (pool != NULL)
        apr_pool_destroy(pool);
}

static PyObject *stat_pool_capsule(apr_pool_t **pool)
{
    if (apr_pool_create(pool, NULL) != APR_SUCCESS)
        return PyErr_NoMemory();
    PyObject *capsule = PyCapsule_New(*pool, STAT_POOL_CAPSULE, stat_pool_destroy);
    if (capsule == NULL)
        apr_pool_destroy(*pool);
    return capsule;
}

static PyObject *apache_stat(PyObject *module, PyObject *args)
{
    PyObject *fname_bytes;
    int wanted;
    if (!PyArg_ParseTuple(args, "O&i:stat", PyUnicode_FSConverter, &fname_bytes, &wanted))
        return NULL;
    apr_pool_t *pool;
    PyObject *owner = stat_pool_capsule(&pool);
    if (owner == NULL) {
        Py_DECREF(fname_bytes);
        return NULL;
    }
    const char *path = apr_pstrdup(pool, PyBytes_AS_STRING(fname_bytes));
    Py_DECREF(fname_bytes);
    apr_finfo_t *fi = apr_pcalloc(pool, sizeof *fi);
    apr_status_t rc;
    HYDRA_BLOCKING_BEGIN
    rc = apr_stat(fi, path, (apr_int32_t)wanted, pool);
    HYDRA_BLOCKING_END

    PyObject *result = NULL;
    if (APR_STATUS_IS_ENOENT(rc)) {
        /* apr_stat leaves the struct alone on failure. */
        memset(fi, 0, sizeof *fi);
        fi->fname = path;
        fi->filetype = APR_NOFILE;
        rc = APR_SUCCESS;
    }
    if (rc == APR_SUCCESS || rc == APR_INCOMPLETE) {
        result = finfo_object_new(hydra_state_from_module(module), fi, fi, owner);
    } else {
        PyObject *err = Py_BuildValue("(is)", (int)rc, "apr_stat() failed");
        if (err != NULL) {
            PyErr_SetObject(PyExc_OSError, err);
            Py_DECREF(err);
        }
    }
    Py_DECREF(owner);
    return result;
}

/* ---------------------------------------------------------------------
 * interpreters(): the inventory of this child (beyond.md §2)
 *
 * interp_foreach holds the registry lock, which a thread creating an
 * interpreter may hold while it waits for a GIL. So the walk runs with our
 * GIL released and only copies C values; Python objects are built after.
 */

typedef struct interp_inventory {
    interp_info *items;
    size_t count, capacity;
    int out_of_memory;
} interp_inventory;

static void inventory_add(const interp_info *info, void *baton)
{
    interp_inventory *inv = baton;
    if (inv->out_of_memory)
        return;
    if (inv->count == inv->capacity) {
        size_t capacity = inv->capacity ? inv->capacity * 2 : 16;
        interp_info *items = realloc(inv->items, capacity * sizeof *items);
        if (items == NULL) {
            inv->out_of_memory = 1;
            return;
        }
        inv->items = items;
        inv->capacity = capacity;
    }
    inv->items[inv->count++] = *info;
}

static PyObject *interp_info_dict(const interp_info *snap)
{
    /* clang-format off */
    return Py_BuildValue("{s:N,s:s,s:d,s:k,s:k,s:k,s:k,s:i,s:i}",
                         "name", hydra_str_from_apache(snap->name),
                         "gil", interp_kind_name(snap->kind),
                         "created", (double)snap->created / APR_USEC_PER_SEC,
                         "requests", (unsigned long)snap->requests,
                         "active", (unsigned long)snap->active,
                         "errors", (unsigned long)snap->errors,
                         "timeouts", (unsigned long)snap->timeouts,
                         "replica", snap->replica,
                         "pool", snap->pool_size);
    /* clang-format on */
}

static PyObject *apache_interpreters(PyObject *module, PyObject *unused)
{
    interp_inventory inv = {NULL, 0, 0, 0};
    HYDRA_BLOCKING_BEGIN
    interp_foreach(inventory_add, &inv);
    HYDRA_BLOCKING_END

    PyObject *list = inv.out_of_memory ? PyErr_NoMemory() : PyList_New((Py_ssize_t)inv.count);
    for (size_t i = 0; list != NULL && i < inv.count; i++) {
        PyObject *entry = interp_info_dict(&inv.items[i]);
        if (entry == NULL)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, (Py_ssize_t)i, entry);
    }
    free(inv.items);
    return list;
}

/* ---------------------------------------------------------------------
 * The table the exec slot adds with PyModule_AddFunctions.
 */

#define KW_FUNCTION(fn) ((PyCFunction)(void (*)(void))(fn))

PyMethodDef hydra_apache_functions[] = {
    {"log_error", KW_FUNCTION(apache_log_error), METH_VARARGS | METH_KEYWORDS,
     "log_error(message, level=APLOG_ERR, server=None): write to the error log"},
    {"register_cleanup", KW_FUNCTION(apache_register_cleanup), METH_VARARGS | METH_KEYWORDS,
     "register_cleanup(interpreter, server, callable, data=None): call callable(data) "
     "at child exit in the named interpreter"},
    {"config_tree", apache_config_tree, METH_NOARGS,
     "config_tree(): httpd's parsed configuration as nested lists of (directive, args)"},
    {"server_root", apache_server_root, METH_NOARGS, "server_root(): the ServerRoot"},
    {"mpm_query", apache_mpm_query, METH_O, "mpm_query(code): ap_mpm_query() result"},
    {"exists_config_define", apache_exists_config_define, METH_VARARGS,
     "exists_config_define(name): true if httpd was started with -D<name>"},
    {"stat", apache_stat, METH_VARARGS, "stat(fname, wanted): apr_stat() as an mp_finfo object"},
    {"parse_qs", KW_FUNCTION(hydra_parse_qs), METH_VARARGS | METH_KEYWORDS,
     "parse_qs(qs, keep_blank_values=0, strict_parsing=0): dict name -> list of values"},
    {"parse_qsl", KW_FUNCTION(hydra_parse_qsl), METH_VARARGS | METH_KEYWORDS,
     "parse_qsl(qs, keep_blank_values=0, strict_parsing=0): list of (name, value)"},
    {"interpreters", apache_interpreters, METH_NOARGS,
     "interpreters(): the interpreters of this child process, one dict each"},
    {NULL, NULL, 0, NULL}};
