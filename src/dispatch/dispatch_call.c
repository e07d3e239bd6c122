/*
 * dispatch_call.c - one handler entry, called in C (DESIGN.md decision 4):
 * sys.path, the module from the interpreter's cache, the callable, the
 * call, SERVER_RETURN and the error report.
 *
 * Per interpreter, the module of each handler is cached with the time of
 * its next autoreload check (mod_python.apache.import_module is called at
 * most once a second per module, or never again with PythonAutoReload
 * Off), and every name the request path looks up (object names, the parts
 * of dotted paths, handler directories) is kept as an interned str, so a
 * handler the cache knows costs no Python string and no call into
 * mod_python.apache. The object itself is looked up in the module (one
 * dict lookup, or a getattr per part of a dotted path) on every call, as
 * mod_python does, so a module that rebinds its handler is followed at
 * once; only a class on a dotted path costs an instance per call, as
 * upstream's resolve_object makes.
 */
#include "dispatch/dispatch_call.h"
#include "dispatch/dispatch_map.h"
#include "dispatch/dispatch_metrics.h"

#define MODULE_RECHECK_USEC APR_USEC_PER_SEC /* import_module checks mtimes once a second */
#define MAX_DOTTED_PART 256

typedef struct cached_module {
    PyObject *module;
    apr_time_t next_check;
} cached_module;

void dispatch_call_settings(const hydra_config *conf, call_settings *cs)
{
    cs->debug = hydra_flag(conf->debug, 0);
    cs->autoreload = hydra_flag(conf->autoreload, 1);
    cs->pythonpath = conf->pythonpath;
    cs->pythonpath_hash = conf->pythonpath_hash;
    cs->pdb = hydra_flag(conf->enable_pdb, 0) && ap_exists_config_define("ONE_PROCESS");
}

/* The interned str for `text` (decoded like a file name: UTF-8 with
 * surrogateescape), made once per interpreter. Borrowed, or NULL with an
 * exception. */
static PyObject *interned(dispatch_interp *di, const char *text, unsigned hash)
{
    PyObject *str = dispatch_map_get(di->names, text, hash);

    if (str)
        return str;
    str = PyUnicode_DecodeFSDefault(text);
    if (!str)
        return NULL;
    PyUnicode_InternInPlace(&str);
    if (dispatch_map_put(di->names, text, hash, str) != 0) {
        Py_DECREF(str);
        PyErr_NoMemory();
        return NULL;
    }
    return str; /* the map keeps the reference for the interpreter's life */
}

/* ------------------------------------------------------------------ */
/* sys.path                                                           */

int dispatch_prepare_sys_path(dispatch_interp *di, const call_settings *cs, const hydra_handler *h)
{
    if (cs->pythonpath) {
        PyObject *expr, *res;
        if (dispatch_map_get(di->pythonpaths, cs->pythonpath, cs->pythonpath_hash))
            return 0;
        expr = PyUnicode_FromString(cs->pythonpath);
        if (!expr)
            return -1;
        res = PyObject_CallMethod(di->mp_apache, "_apply_pythonpath", "O", expr);
        Py_DECREF(expr);
        if (!res)
            return -1;
        Py_DECREF(res);
        /* The value is unused; the key is what counts. */
        if (dispatch_map_put(di->pythonpaths, cs->pythonpath, cs->pythonpath_hash, di) != 0) {
            PyErr_NoMemory();
            return -1;
        }
        return 0;
    }
    if (h->directory && !h->is_location) {
        PyObject *sys_path = PySys_GetObject("path"); /* borrowed */
        PyObject *dir;
        int present;
        if (!sys_path || !PyList_Check(sys_path))
            return 0;
        /* Checked on every call, as upstream does: code may edit sys.path. */
        dir = interned(di, h->directory, h->directory_hash);
        if (!dir)
            return -1;
        present = PySequence_Contains(sys_path, dir);
        if (present == 0)
            return PyList_Insert(sys_path, 0, dir);
        return present < 0 ? -1 : 0;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Modules and callables                                              */

/* The module of `h`, from the cache when it was checked less than a second
 * ago (or autoreload is off). The cache is filled only with what
 * import_module returned, so a module another thread is still importing
 * is never handed out. New reference. */
static PyObject *get_module(dispatch_interp *di, const hydra_handler *h, const call_settings *cs)
{
    cached_module *entry = dispatch_map_get(di->modules, h->module_name, h->module_hash);
    apr_time_t now;
    PyObject *module;

    if (entry && !cs->autoreload)
        return Py_NewRef(entry->module);
    now = apr_time_now();
    if (entry && now < entry->next_check)
        return Py_NewRef(entry->module);

    module = PyObject_CallMethod(di->mp_apache, "import_module", "sii", h->module_name,
                                 cs->autoreload, cs->debug);
    if (!module)
        return NULL;
    if (!entry) {
        entry = calloc(1, sizeof(*entry));
        if (!entry || dispatch_map_put(di->modules, h->module_name, h->module_hash, entry) != 0) {
            free(entry);
            Py_DECREF(module);
            return PyErr_NoMemory();
        }
    }
    /* import_module may have run Python that filled the same entry meanwhile. */
    Py_XSETREF(entry->module, Py_NewRef(module));
    entry->next_check = now + MODULE_RECHECK_USEC;
    return module;
}

static PyObject *module_file_or_name(PyObject *module)
{
    PyObject *file = PyObject_GetAttrString(module, "__file__");

    if (!file) {
        PyErr_Clear();
        file = PyObject_GetAttrString(module, "__name__");
        PyErr_Clear();
    }
    return file;
}

/* A plain name: the module's dict. */
static PyObject *lookup_plain(dispatch_interp *di, PyObject *module, const char *path,
                              unsigned hash, int silent, int *skip)
{
    PyObject *key = interned(di, path, hash), *obj;

    if (!key)
        return NULL;
    obj = PyDict_GetItemWithError(PyModule_GetDict(module), key); /* borrowed */
    if (obj)
        return Py_NewRef(obj);
    if (PyErr_Occurred())
        return NULL;
    if (silent) {
        *skip = 1;
    } else {
        PyObject *file = PyObject_GetAttrString(module, "__file__");
        PyErr_Clear();
        PyErr_Format(PyExc_AttributeError, "module '%S' contains no '%s'", file ? file : Py_None,
                     path);
        Py_XDECREF(file);
    }
    return NULL;
}

/* A dotted path, walked like mod_python.apache.resolve_object: an
 * attribute found on a class is taken from an instance made as cls(arg). */
static PyObject *lookup_dotted(dispatch_interp *di, PyObject *module, const char *path,
                               PyObject *arg, int silent, int *skip)
{
    PyObject *obj = Py_NewRef(module);
    const char *part = path;

    while (obj) {
        const char *dot = strchr(part, '.');
        size_t len = dot ? (size_t)(dot - part) : strlen(part);
        char name[MAX_DOTTED_PART];
        PyObject *key, *holder = obj, *found;

        if (len >= sizeof(name)) {
            Py_DECREF(holder);
            return PyErr_Format(PyExc_ValueError, "handler object path too long: %s", path);
        }
        memcpy(name, part, len);
        name[len] = '\0';
        key = interned(di, name, dispatch_map_hash(name));
        found = key ? PyObject_GetAttr(holder, key) : NULL;
        if (!found && key && PyErr_ExceptionMatches(PyExc_AttributeError)) {
            if (silent) {
                PyErr_Clear();
                *skip = 1;
            } else if (holder == module) {
                PyObject *file = module_file_or_name(module);
                PyErr_Clear();
                PyErr_Format(PyExc_AttributeError, "module '%S' contains no '%s'",
                             file ? file : Py_None, name);
                Py_XDECREF(file);
            }
        }
        if (found && PyType_Check(holder)) {
            PyObject *instance = PyObject_CallOneArg(holder, arg);
            Py_SETREF(found, instance ? PyObject_GetAttr(instance, key) : NULL);
            Py_XDECREF(instance);
        }
        Py_DECREF(holder);
        obj = found;
        if (!dot)
            break;
        part = dot + 1;
    }
    if (obj == Py_None && silent) { /* as upstream: a silent None is skipped */
        Py_DECREF(obj);
        *skip = 1;
        return NULL;
    }
    return obj;
}

PyObject *dispatch_resolve_callable(dispatch_interp *di, const hydra_handler *h,
                                    const char *default_object, PyObject *arg,
                                    const call_settings *cs, int *skip)
{
    const char *path = h->object_path ? h->object_path : default_object;
    PyObject *module, *obj;

    *skip = 0;
    module = get_module(di, h, cs);
    if (!module)
        return NULL;
    if (strchr(path, '.'))
        obj = lookup_dotted(di, module, path, arg, h->silent, skip);
    else
        obj = lookup_plain(di, module, path,
                           h->object_path ? h->object_hash : dispatch_map_hash(path), h->silent,
                           skip);
    Py_DECREF(module);
    return obj;
}

PyObject *dispatch_call(dispatch_interp *di, const call_settings *cs, PyObject *callable,
                        PyObject *req)
{
    if (cs->pdb) /* directives.md §5.13; rare, so done in Python */
        return PyObject_CallMethod(di->mp_apache, "_call_with_pdb", "OO", callable, req);
    return PyObject_CallOneArg(callable, req);
}

/* ------------------------------------------------------------------ */
/* Results and errors                                                 */

int dispatch_take_server_return(dispatch_interp *interp, request_rec *r, int *status)
{
    PyObject *type, *value, *tb, *args, *first;
    int handled = 0;

    if (!PyErr_ExceptionMatches(interp->state->server_return))
        return 0;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    args = value ? PyObject_GetAttrString(value, "args") : NULL;
    /* SERVER_RETURN((status, http)) carries the pair as its one argument. */
    if (args && PyTuple_Check(args) && PyTuple_GET_SIZE(args) == 1
        && PyTuple_Check(PyTuple_GET_ITEM(args, 0)))
        Py_SETREF(args, Py_NewRef(PyTuple_GET_ITEM(args, 0)));
    if (args && PyTuple_Check(args) && PyTuple_GET_SIZE(args) >= 1
        && PyLong_CheckExact(first = PyTuple_GET_ITEM(args, 0))) {
        *status = (int)PyLong_AsLong(first);
        if (PyTuple_GET_SIZE(args) >= 2) {
            PyObject *http_status = PyTuple_GET_ITEM(args, 1);
            if (PyObject_IsTrue(http_status) == 1 && PyLong_Check(http_status))
                r->status = (int)PyLong_AsLong(http_status);
        }
        handled = 1;
    }
    Py_XDECREF(args);
    if (handled) {
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
        PyErr_Clear();
    } else {
        PyErr_Restore(type, value, tb);
    }
    return handled;
}

/* The page and the traceback lines are CallBack.ReportError's. */
int dispatch_report_error(dispatch_interp *interp, request_rec *r, PyObject *req, PyObject *filter,
                          const char *phase, const char *handler, int debug)
{
    PyObject *type, *value, *tb, *res = NULL, *kwargs;
    int status = HTTP_INTERNAL_SERVER_ERROR;

    if (!filter) {
        interp_count_error(interp->core);
        dispatch_metrics_count_error(interp->metrics);
    }
    PyErr_Fetch(&type, &value, &tb);
    /* One line that says where, before the spec's traceback lines; logging
     * may block (piped logs), so without the GIL. */
    HYDRA_BLOCKING_BEGIN
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                  "HYDRA0201: %s %s: handler failed in interpreter '%s'", phase, handler,
                  interp->name);
    HYDRA_BLOCKING_END
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb && value)
        PyException_SetTraceback(value, tb);
    kwargs = Py_BuildValue("{s:O,s:s,s:s,s:i}", "req", req, "phase", phase, "hname", handler,
                           "debug", debug);
    if (kwargs && filter && PyDict_SetItemString(kwargs, "filter", filter) < 0)
        Py_CLEAR(kwargs);
    if (kwargs) {
        PyObject *meth = PyObject_GetAttrString(interp->callback, "ReportError");
        PyObject *args = Py_BuildValue("(OOO)", type ? type : Py_None, value ? value : Py_None,
                                       tb ? tb : Py_None);
        if (meth && args)
            res = PyObject_Call(meth, args, kwargs);
        Py_XDECREF(meth);
        Py_XDECREF(args);
        Py_DECREF(kwargs);
    }
    if (res && PyLong_Check(res)) {
        status = (int)PyLong_AsLong(res);
    } else {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "HYDRA0202: %s %s: error report failed in interpreter '%s'", phase, handler,
                      interp->name);
        PyErr_Print();
    }
    PyErr_Clear();
    Py_XDECREF(res);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    return status;
}
