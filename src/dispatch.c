/*
 * dispatch.c - the request hot path: phase -> handler list -> interpreter ->
 * cached module -> callable -> call -> status chaining.
 *
 * mod_python 3.5 ran this walk through a Python class on every request;
 * Hydra keeps it in C (DESIGN.md decision 4) and calls into
 * mod_python.apache only for cold work: importing/reloading modules
 * (at most once a second per module), dotted object paths, PythonPath and
 * error reports.
 */
#include "dispatch.h"
#include "interp.h"
#include "naming.h"
#include "reqctx.h"
#include "objects/objects.h"

#include "apr_atomic.h"
#include "apr_fnmatch.h"

#define MODULE_RECHECK_USEC APR_USEC_PER_SEC /* import_module checks mtimes once a second */

/* ------------------------------------------------------------------ */
/* Building the list to run                                           */

static int flag_on(const hydra_config *conf, const char *directive)
{
    const char *v = apr_table_get(conf->directives, directive);
    return v && v[0] == '1' && v[1] == '\0';
}

/* directives.md §2.3: "." + everything after the first dot of the basename. */
static const char *filename_extension(const char *filename)
{
    const char *base = strrchr(filename, '/');
    const char *dot;

    base = base ? base + 1 : filename;
    dot = strchr(base, '.');
    return dot;
}

/* interpreters.md §4: the directory of a wildcard/regex <Directory> for
 * this request: the shortest matching prefix of r->filename. */
static const char *resolve_pattern_dir(apr_pool_t *p, const hydra_handler *h,
                                       const char *filename)
{
    size_t i;

    for (i = 0; filename[i]; i++) {
        char *with_slash, *without;
        int pass;

        if (filename[i] != '/')
            continue;
        with_slash = apr_pstrmemdup(p, filename, i + 1);
        without = i > 0 ? apr_pstrmemdup(p, filename, i) : NULL;
        for (pass = 0; pass < 2; pass++) {
            const char *candidate = pass == 0 ? with_slash : without;
            int match;
            if (!candidate)
                continue;
            if (h->dir_kind == HYDRA_DIR_REGEX)
                match = ap_regexec(h->dir_regex, candidate, 0, NULL, 0) == 0;
            else
                match = apr_fnmatch(h->directory, candidate, APR_FNM_PATHNAME) == APR_SUCCESS;
            if (match)
                return with_slash;
        }
    }
    return h->directory;
}

/* Copies `src` onto the tail `*tail` (request pool), resolving patterns. */
static hydra_handler **copy_entries(request_rec *r, const hydra_handler *src,
                                    hydra_handler **tail)
{
    for (; src; src = src->next) {
        hydra_handler *h = apr_pmemdup(r->pool, src, sizeof(*h));
        h->next = NULL;
        if (h->dir_kind != HYDRA_DIR_PLAIN && !h->is_location && r->filename)
            h->directory = resolve_pattern_dir(r->pool, src, r->filename);
        *tail = h;
        tail = &h->next;
    }
    return tail;
}

/* Steps 2-5 of directives.md §3.2. Returns NULL when nothing is to run. */
static hydra_hlist *build_hlist(request_rec *r, const hydra_config *conf, hydra_phase phase,
                                hydra_reqctx *ctx, const char **extension)
{
    const hydra_handler *statics = conf->hlists[phase];
    hydra_handler *dynamic = ctx ? ctx->dynamic[phase] : NULL;
    hydra_hlist *hl;
    hydra_handler **tail;

    *extension = NULL;
    if (r->filename && apr_hash_count(conf->ext_hlists) > 0) {
        const char *ext = filename_extension(r->filename);
        if (ext) {
            const char *key = apr_pstrcat(r->pool, hydra_phase_names[phase], ext, NULL);
            const hydra_handler *by_ext = apr_hash_get(conf->ext_hlists, key, APR_HASH_KEY_STRING);
            if (by_ext) {
                statics = by_ext;
                *extension = ext;
            }
        }
    }
    if (!statics && !dynamic)
        return NULL;

    hl = apr_pcalloc(r->pool, sizeof(*hl));
    tail = copy_entries(r, statics, &hl->head);
    copy_entries(r, dynamic, tail);
    if (ctx)
        ctx->dynamic[phase] = NULL; /* consumed */
    hl->current = hl->head;
    return hl;
}

const char *dispatch_interpreter_name(request_rec *r, const hydra_config *conf,
                                      const char *head_dir)
{
    naming_input in = {0};

    in.interpreter = apr_table_get(conf->directives, "PythonInterpreter");
    in.per_directory = flag_on(conf, "PythonInterpPerDirectory");
    in.per_directive = flag_on(conf, "PythonInterpPerDirective");
    in.filename = r->filename;
    if (in.per_directory && !in.interpreter && r->filename) {
        apr_finfo_t fi;
        in.filename_is_dir = apr_stat(&fi, r->filename, APR_FINFO_TYPE, r->pool) == APR_SUCCESS
                             && fi.filetype == APR_DIR;
    }
    in.handler_dir = head_dir;
    in.server_name = r->server->server_hostname;
    return naming_resolve(r->pool, &in);
}

/* ------------------------------------------------------------------ */
/* Calling one handler                                                */

typedef struct {
    int debug;
    int autoreload;
    int pdb; /* PythonEnablePdb On and httpd started with -DONE_PROCESS */
    const char *pythonpath;
} call_settings;

/* directives.md §5.11 and §6.2. 0 on success, -1 with an exception. */
static int prepare_sys_path(hydra_interp *interp, const call_settings *cs, const hydra_handler *h)
{
    if (cs->pythonpath) {
        PyObject *expr = PyUnicode_FromString(cs->pythonpath);
        int seen, rc = -1;
        if (!expr)
            return -1;
        seen = PySet_Contains(interp->pythonpath_seen, expr);
        if (seen == 0) {
            PyObject *res = PyObject_CallMethod(interp->mp_apache, "_apply_pythonpath", "O", expr);
            if (res) {
                Py_DECREF(res);
                rc = PySet_Add(interp->pythonpath_seen, expr);
            }
        } else if (seen == 1) {
            rc = 0;
        }
        Py_DECREF(expr);
        return rc;
    }
    if (h->directory && !h->is_location) {
        PyObject *sys_path = PySys_GetObject("path"); /* borrowed */
        PyObject *dir;
        int present, rc = 0;
        if (!sys_path || !PyList_Check(sys_path))
            return 0;
        dir = PyUnicode_DecodeFSDefault(h->directory);
        if (!dir)
            return -1;
        present = PySequence_Contains(sys_path, dir);
        if (present == 0)
            rc = PyList_Insert(sys_path, 0, dir);
        else if (present < 0)
            rc = -1;
        Py_DECREF(dir);
        return rc;
    }
    return 0;
}

/* The module for `name`, from the per-interpreter cache when it was
 * checked less than a second ago (or autoreload is off). The cache is
 * filled only with what import_module returned, so a module another thread
 * is still importing is never handed out. New reference. */
static PyObject *get_module(hydra_interp *interp, const char *name, const call_settings *cs)
{
    PyObject *key, *entry, *module;
    apr_time_t now = apr_time_now();

    key = PyUnicode_FromString(name);
    if (!key)
        return NULL;
    entry = PyDict_GetItemWithError(interp->module_cache, key); /* borrowed */
    if (entry) {
        apr_time_t next_check = (apr_time_t)PyLong_AsLongLong(PyTuple_GET_ITEM(entry, 1));
        if (!cs->autoreload || now < next_check) {
            module = PyTuple_GET_ITEM(entry, 0);
            Py_INCREF(module);
            Py_DECREF(key);
            return module;
        }
    } else if (PyErr_Occurred()) {
        Py_DECREF(key);
        return NULL;
    }

    module = PyObject_CallMethod(interp->mp_apache, "import_module", "Oii", key, cs->autoreload,
                                 cs->debug);
    if (module) {
        PyObject *fresh = Py_BuildValue("(OL)", module, (long long)(now + MODULE_RECHECK_USEC));
        if (!fresh || PyDict_SetItem(interp->module_cache, key, fresh) < 0) {
            Py_CLEAR(module);
        }
        Py_XDECREF(fresh);
    }
    Py_DECREF(key);
    return module;
}

/* python-api.md §1.2 step 4: the callable of `h`, or NULL. *skip is set
 * when a silent entry has no such object (not an error). New reference. */
static PyObject *resolve_callable(hydra_interp *interp, const hydra_handler *h, hydra_phase phase,
                                  PyObject *arg, const call_settings *cs, int *skip)
{
    const char *path = h->object_path ? h->object_path : hydra_phase_default_callables[phase];
    PyObject *module, *obj;

    *skip = 0;
    module = get_module(interp, h->module_name, cs);
    if (!module)
        return NULL;

    if (strchr(path, '.')) {
        obj = PyObject_CallMethod(interp->mp_apache, "resolve_object", "OsOi", module, path, arg,
                                  h->silent);
        if (obj == Py_None && h->silent) {
            Py_DECREF(obj);
            obj = NULL;
            *skip = 1;
        }
    } else {
        obj = PyDict_GetItemString(PyModule_GetDict(module), path); /* borrowed */
        if (obj) {
            Py_INCREF(obj);
        } else if (h->silent) {
            *skip = 1;
        } else {
            PyObject *file = PyObject_GetAttrString(module, "__file__");
            PyErr_Clear();
            PyErr_Format(PyExc_AttributeError, "module '%S' contains no '%s'",
                         file ? file : Py_None, path);
            Py_XDECREF(file);
        }
    }
    Py_DECREF(module);
    return obj;
}

/* Turns a raised SERVER_RETURN into a status. Returns 1 when it was one
 * (exception cleared, *status set), 0 otherwise (exception left set). */
static int take_server_return(hydra_interp *interp, request_rec *r, int *status)
{
    PyObject *type, *value, *tb, *args, *first;
    int handled = 0;

    if (!PyErr_ExceptionMatches(interp->state->server_return))
        return 0;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    args = value ? PyObject_GetAttrString(value, "args") : NULL;
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

/* directives.md §4. */
static int phase_continues(hydra_phase phase, int status)
{
    switch (phase) {
    case HYDRA_PHASE_TRANS:
    case HYDRA_PHASE_AUTHEN:
    case HYDRA_PHASE_AUTHZ:
    case HYDRA_PHASE_TYPE:
        return status == DECLINED;
    case HYDRA_PHASE_HANDLER:
    case HYDRA_PHASE_CLEANUP:
        return status == OK;
    default:
        return status == OK || status == DECLINED;
    }
}

/* python-api.md §1.5, done by mod_python.apache's CallBack.ReportError.
 * Consumes the current exception; returns the status to use. */
static int report_error(hydra_interp *interp, request_rec *r, PyObject *req, const char *phase,
                        const char *handler, int debug)
{
    PyObject *type, *value, *tb, *res = NULL, *kwargs;
    int status = HTTP_INTERNAL_SERVER_ERROR;

    apr_atomic_inc32(&interp->errors);
    PyErr_Fetch(&type, &value, &tb);
    /* One line that says where, before the spec's traceback lines; logging
     * may block (piped logs), so without the GIL. */
    HYDRA_BLOCKING_BEGIN
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "%s %s: handler failed in interpreter '%s'",
                  phase, handler, interp->name);
    HYDRA_BLOCKING_END
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb && value)
        PyException_SetTraceback(value, tb);
    kwargs = Py_BuildValue("{s:O,s:s,s:s,s:i}", "req", req, "phase", phase, "hname", handler,
                           "debug", debug);
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
                      "%s %s: error report failed in interpreter '%s'", phase, handler,
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

/* Walks the running list (python-api.md §1.2). GIL held. */
static int run_hlist(request_rec *r, hydra_reqctx *ctx, hydra_interp *interp, PyObject *req,
                     hydra_phase phase, const hydra_config *conf)
{
    hydra_hlist *hl = ctx->hlist;
    call_settings cs;
    int result = HTTP_INTERNAL_SERVER_ERROR;
    const char *autoreload = apr_table_get(conf->directives, "PythonAutoReload");

    cs.debug = flag_on(conf, "PythonDebug");
    cs.autoreload = !(autoreload && strcmp(autoreload, "0") == 0);
    cs.pythonpath = apr_table_get(conf->directives, "PythonPath");
    cs.pdb = flag_on(conf, "PythonEnablePdb") && ap_exists_config_define("ONE_PROCESS");

    while (hl->current) {
        hydra_handler *h = hl->current;
        PyObject *callable = NULL, *ret;
        int skip;

        if (prepare_sys_path(interp, &cs, h) < 0)
            return report_error(interp, r, req, ctx->phase, h->handler, cs.debug);
        callable = resolve_callable(interp, h, phase, req, &cs, &skip);
        if (!callable && !skip)
            return report_error(interp, r, req, ctx->phase, h->handler, cs.debug);
        if (skip) {
            if (result == HTTP_INTERNAL_SERVER_ERROR)
                result = DECLINED;
            hl->current = h->next;
            continue;
        }
        if (cs.pdb) /* directives.md §5.13; rare, so done in Python */
            ret = PyObject_CallMethod(interp->mp_apache, "_call_with_pdb", "OO", callable, req);
        else
            ret = PyObject_CallOneArg(callable, req);
        Py_DECREF(callable);
        if (ret) {
            if (!PyLong_CheckExact(ret)) {
                PyErr_Format(PyExc_AssertionError,
                             "Handler '%s' returned invalid return code: expected an int, "
                             "got %s",
                             h->handler, Py_TYPE(ret)->tp_name);
                Py_DECREF(ret);
                return report_error(interp, r, req, ctx->phase, h->handler, cs.debug);
            }
            result = (int)PyLong_AsLong(ret);
            Py_DECREF(ret);
        } else if (!take_server_return(interp, r, &result)) {
            return report_error(interp, r, req, ctx->phase, h->handler, cs.debug);
        }
        if (!phase_continues(phase, result))
            break;
        hl->current = h->next;
    }
    return result;
}

/* ------------------------------------------------------------------ */
/* Phases                                                             */

/* After the content phase: can any more Python run for this request? Not
 * if no Log or Cleanup handlers are configured or queued, it is a plain
 * top-level request (no redirect or sub-request shares its objects), and
 * no Python filter is configured for it or registered by it (conservative:
 * a configured filter may not be active on this request). */
static int python_done_after_content(request_rec *r, const hydra_reqctx *ctx,
                                     const hydra_config *conf)
{
    if (r->main || r->prev || r->next)
        return 0;
    if (conf->hlists[HYDRA_PHASE_LOG] || conf->hlists[HYDRA_PHASE_CLEANUP]
        || ctx->dynamic[HYDRA_PHASE_LOG] || apr_hash_count(conf->ext_hlists) > 0)
        return 0;
    return apr_hash_count(conf->in_filters) == 0 && apr_hash_count(conf->out_filters) == 0
           && (!ctx->registered_filters || apr_hash_count(ctx->registered_filters) == 0);
}

int dispatch_phase(request_rec *r, hydra_phase phase)
{
    const hydra_config *conf = hydra_dir_config(r);
    hydra_reqctx *ctx = reqctx_get(r, 0);
    const char *extension, *name, *saved_phase;
    hydra_hlist *hl, *saved_hlist;
    hydra_interp *interp;
    PyObject *req;
    int result;

    hl = build_hlist(r, conf, phase, ctx, &extension);
    if (!hl)
        return DECLINED;
    ctx = reqctx_get(r, 1);

    name = dispatch_interpreter_name(r, conf, hl->head->directory);
    interp = interp_acquire(name, conf->gil == HYDRA_GIL_OWN, r->server);
    if (!interp)
        return interp_acquire_refused() ? HTTP_SERVICE_UNAVAILABLE : HTTP_INTERNAL_SERVER_ERROR;

    req = reqctx_request_object(r, interp);
    if (!req) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "python_handler: cannot create the request object in '%s'",
                      interp->name);
        PyErr_Print();
        interp_release(interp);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    /* Nested dispatches (internal redirects use another request_rec, but
     * filters may run inside a phase) must not lose the outer phase. */
    saved_phase = ctx->phase;
    saved_hlist = ctx->hlist;
    ctx->phase = hydra_phase_names[phase];
    ctx->hlist = hl;
    if (extension)
        ctx->extension = extension;

    result = run_hlist(r, ctx, interp, req, phase, conf);
    if (phase == HYDRA_PHASE_HANDLER && python_done_after_content(r, ctx, conf))
        reqctx_drop_if_unreferenced(ctx, interp);

    ctx->phase = saved_phase;
    ctx->hlist = saved_hlist;
    interp_release(interp);

    if (phase == HYDRA_PHASE_AUTHEN) {
        if (result == OK && !r->user) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                          "python_handler: After PythonAuthenHandler req.user is NULL. Assign "
                          "something to req.user if returning OK to avoid this error.");
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        if (result == HTTP_UNAUTHORIZED)
            ap_note_basic_auth_failure(r);
    }
    return result;
}

int dispatch_content(request_rec *r)
{
    if (!r->handler
        || (strcmp(r->handler, "mod_python") != 0 && strcmp(r->handler, "python-program") != 0))
        return DECLINED;
    return dispatch_phase(r, HYDRA_PHASE_HANDLER);
}

int dispatch_post_read_request(request_rec *r)
{
    const hydra_config *conf = hydra_dir_config(r);
    int rc;

    /* The deviation of directives.md §3.3: note only when an Init list ran. */
    if (conf->hlists[HYDRA_PHASE_INIT]) {
        apr_table_setn(r->notes, "python_init_ran", "1");
        rc = dispatch_phase(r, HYDRA_PHASE_INIT);
        if (rc != OK && rc != DECLINED)
            return rc;
    }
    return dispatch_phase(r, HYDRA_PHASE_POST_READ_REQUEST);
}

int dispatch_header_parser(request_rec *r)
{
    int rc;

    if (!apr_table_get(r->notes, "python_init_ran")) {
        rc = dispatch_phase(r, HYDRA_PHASE_INIT);
        if (rc != OK && rc != DECLINED)
            return rc;
    }
    return dispatch_phase(r, HYDRA_PHASE_HEADER_PARSER);
}

int dispatch_location_skip(request_rec *r)
{
    const hydra_config *conf = hydra_dir_config(r);
    return conf->d_is_location ? OK : DECLINED;
}

void dispatch_cleanup_phase(request_rec *r)
{
    /* Return value ignored, and ReportError never writes for this phase. */
    (void)dispatch_phase(r, HYDRA_PHASE_CLEANUP);
}
