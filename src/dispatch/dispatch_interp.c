/*
 * dispatch_interp.c - the dispatch layer's state of each interpreter (made
 * by the init hook the core calls inside every new interpreter), and the
 * one sequence every caller uses to get into an interpreter: build the
 * naming input, resolve the name, acquire, and turn a refusal into 503.
 * Also the dispatch layer's start in each child.
 */
#include "dispatch/dispatch_interp.h"

#include <sched.h>
#include "dispatch/dispatch.h"
#include "dispatch/dispatch_cleanup.h"
#include "dispatch/dispatch_import.h"
#include "dispatch/dispatch_map.h"
#include "dispatch/dispatch_metrics.h"
#include "dispatch/dispatch_reqctx.h"
#include "dispatch/dispatch_services.h"
#include "dispatch/dispatch_venv.h"
#include "core/interp_naming.h"
#include "objects/objects.h"
#include "objects/obj_config_tables.h"

/* ------------------------------------------------------------------ */
/* Initialising an interpreter                                        */

static PyObject *name_to_str(const char *name)
{
    return PyUnicode_DecodeUTF8(name, strlen(name), "surrogateescape");
}

static void log_python_error(server_rec *s, const char *what, const char *name)
{
    PyObject *type, *value, *tb, *text = NULL;

    PyErr_Fetch(&type, &value, &tb);
    if (value)
        text = PyObject_Str(value);
    ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "HYDRA0211: %s in interpreter '%s': %s: %s", what,
                 name, type ? ((PyTypeObject *)type)->tp_name : "?",
                 text ? PyUnicode_AsUTF8(text) : "?");
    PyErr_Clear();
    Py_XDECREF(text);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
}

static void check_package_version(server_rec *s)
{
    PyObject *pkg = PyImport_ImportModule("mod_python");
    PyObject *ver = pkg ? PyObject_GetAttrString(pkg, "mp_version") : NULL;
    const char *found = ver && PyUnicode_Check(ver) ? PyUnicode_AsUTF8(ver) : NULL;

    if (!found || strcmp(found, HYDRA_MP_VERSION) != 0) {
        PyObject *file = pkg ? PyObject_GetAttrString(pkg, "__file__") : NULL;
        PyErr_Clear();
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     "HYDRA0212: mod_python version mismatch, expected '%s', found '%s'",
                     HYDRA_MP_VERSION, found ? found : "(unknown)");
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "HYDRA0213: mod_python package location: %s",
                     file && PyUnicode_Check(file) ? PyUnicode_AsUTF8(file) : "(unknown)");
        Py_XDECREF(file);
    }
    PyErr_Clear();
    Py_XDECREF(ver);
    Py_XDECREF(pkg);
}

static void log_import_failure(server_rec *s)
{
    PyObject *sys_path = PySys_GetObject("path"); /* borrowed */
    PyObject *repr = sys_path ? PyObject_Repr(sys_path) : NULL;

    ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                 "HYDRA0214: make_obcallback: could not import mod_python.apache.");
    ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "HYDRA0215: make_obcallback: sys.path is %s",
                 repr ? PyUnicode_AsUTF8(repr) : "?");
    ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                 "HYDRA0216: get_interpreter: no interpreter callback found.");
    Py_XDECREF(repr);
    PyErr_Clear();
}

/* Imports mod_python.apache and calls its init() (interpreters.md §2).
 * Returns 0 on success; on failure everything is logged. */
static int import_package(dispatch_interp *interp, server_rec *s)
{
    PyObject *server = NULL, *name = NULL;

    interp->apache_module = PyImport_ImportModule("_apache");
    if (!interp->apache_module) {
        log_python_error(s, "cannot import _apache", interp->name);
        return -1;
    }
    interp->state = hydra_state_from_module(interp->apache_module);

    interp->mp_apache = PyImport_ImportModule("mod_python.apache");
    if (!interp->mp_apache) {
        log_python_error(s, "cannot import mod_python.apache", interp->name);
        log_import_failure(s);
        return -1;
    }
    check_package_version(s);
    /* The class the watchdog raises in this interpreter: each interpreter
     * has its own. Without it (an older package) nothing is interrupted. */
    interp->request_timeout = PyObject_GetAttrString(interp->mp_apache, "RequestTimeout");
    if (!interp->request_timeout)
        PyErr_Clear();

    server = server_object_new(interp->state, hydra_main_server);
    name = name_to_str(interp->name);
    if (server && name)
        interp->callback = PyObject_CallMethod(interp->mp_apache, "init", "OO", name, server);
    Py_XDECREF(server);
    Py_XDECREF(name);
    if (!interp->callback) {
        log_python_error(s, "mod_python.apache.init() failed", interp->name);
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                     "HYDRA0216: get_interpreter: no interpreter callback found.");
        return -1;
    }
    return 0;
}

/* mod_python.apache.interpreter_replica: the replica's index in its pool. */
static int set_replica_index(dispatch_interp *di, int replica)
{
    PyObject *index = PyLong_FromLong(replica);
    int rc = index ? PyObject_SetAttrString(di->mp_apache, "interpreter_replica", index) : -1;

    Py_XDECREF(index);
    return rc;
}

/* Drops what a failed initialisation made, so that nothing of it leaks
 * into a retry. GIL held. */
static void discard(dispatch_interp *di)
{
    Py_CLEAR(di->apache_module);
    Py_CLEAR(di->mp_apache);
    Py_CLEAR(di->callback);
    Py_CLEAR(di->request_timeout);
    /* The maps are empty: nothing was cached before init succeeded. */
    dispatch_map_free(di->modules);
    dispatch_map_free(di->names);
    dispatch_map_free(di->pythonpaths);
    free(di);
}

static void *init_hook(hydra_interp *interp, server_rec *s)
{
    dispatch_interp *di = calloc(1, sizeof(*di));

    if (!di) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                     "HYDRA0218: out of memory initialising interpreter '%s'", interp_name(interp));
        return NULL;
    }
    di->core = interp;
    di->name = interp_name(interp);
    di->kind = interp_kind(interp);
    di->modules = dispatch_map_new();
    di->names = dispatch_map_new();
    di->pythonpaths = dispatch_map_new();
    if (!di->modules || !di->names || !di->pythonpaths) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                     "HYDRA0218: out of memory initialising interpreter '%s'", di->name);
        discard(di);
        return NULL;
    }
    /* Before the package: the handlers' imports, and mod_python's own
     * when the base installation lacks it, must see the venv's path. */
    if (venv_apply(interp, s) != 0) {
        discard(di);
        return NULL;
    }
    if (import_package(di, s) != 0) {
        discard(di);
        return NULL;
    }
    if (set_replica_index(di, interp_replica(interp)) != 0) {
        log_python_error(s, "cannot set mod_python.apache.interpreter_replica", di->name);
        discard(di);
        return NULL;
    }
    /* Last, so that a failed creation takes no row. */
    di->metrics = dispatch_metrics_claim_row(di->name, (int)di->kind, interp_replica(interp), s);
    return di;
}

/* A new replica of a pool runs the PythonImport entries of its name before
 * it serves anything (beyond.md §3). */
static void replica_ready_hook(hydra_interp *interp, server_rec *s)
{
    (void)s;
    import_run_in_replica(hydra_main_server, dispatch_interp_of(interp));
}

const interp_hooks dispatch_interp_hooks = {init_hook, replica_ready_hook};

/* ------------------------------------------------------------------ */
/* Getting in                                                         */

static int status_of(interp_status st)
{
    switch (st) {
    case INTERP_ACQUIRED:
        return OK;
    case INTERP_REFUSED:
        return HTTP_SERVICE_UNAVAILABLE;
    case INTERP_FAILED:
    default:
        return HTTP_INTERNAL_SERVER_ERROR;
    }
}

static int enter_want(const interp_want *want, server_rec *s, dispatch_interp **out)
{
    hydra_interp *interp;
    interp_status st = interp_acquire(want, s, &interp);

    *out = st == INTERP_ACQUIRED ? dispatch_interp_of(interp) : NULL;
    if (*out)
        dispatch_metrics_enter((*out)->metrics);
    return status_of(st);
}

int dispatch_enter_named(const char *name, int own_gil, server_rec *s, dispatch_interp **out)
{
    interp_want want = {0};

    want.name = name;
    want.own_gil = own_gil;
    return enter_want(&want, s, out);
}

int dispatch_enter_this(dispatch_interp *di, server_rec *s)
{
    interp_status st = interp_acquire_this(di->core, s);

    if (st == INTERP_ACQUIRED)
        dispatch_metrics_enter(di->metrics);
    return status_of(st);
}

/* CPUs this child may run on, for PythonInterpPool auto; counted once at
 * child start. */
static int cpus_of_child = 1;

static void count_cpus(void)
{
    cpu_set_t set;

    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
        cpus_of_child = CPU_COUNT(&set);
    if (cpus_of_child > HYDRA_POOL_MAX_SIZE)
        cpus_of_child = HYDRA_POOL_MAX_SIZE;
}

/* What `conf` asks of the interpreter `name`. */
static void want_of_config(interp_want *want, const char *name, const hydra_config *conf)
{
    want->name = name;
    want->own_gil = conf->gil == HYDRA_GIL_OWN;
    if (conf->pool_size == HYDRA_UNSET) {
        want->pool_size = 1;
    } else {
        want->pool_size = conf->pool_size == HYDRA_POOL_AUTO ? cpus_of_child : conf->pool_size;
        want->pool_concurrency = conf->pool_concurrency;
    }
    want->venv = conf->virtualenv;
    want->venv_configured = 1;
}

int dispatch_enter_config(const char *name, const hydra_config *conf, server_rec *s,
                          dispatch_interp **out)
{
    interp_want want = {0};

    want_of_config(&want, name, conf);
    return enter_want(&want, s, out);
}

/* The replica of `name` that request `ctx` already runs in (one replica per
 * request, beyond.md §3), or NULL. */
static hydra_interp *replica_of_request(const hydra_reqctx *ctx, const char *name)
{
    int i;

    for (i = 0; ctx && i < ctx->replica_count; i++) {
        if (strcmp(interp_name(ctx->replicas[i]), name) == 0)
            return ctx->replicas[i];
    }
    return NULL;
}

static void remember_replica(request_rec *r, hydra_interp *replica)
{
    hydra_reqctx *ctx;

    if (interp_pool_size(replica) < 2)
        return;
    ctx = reqctx_get(r, 1);
    if (replica_of_request(ctx, interp_name(replica)) || ctx->replica_count == HYDRA_REQCTX_OWN_MAX)
        return;
    ctx->replicas[ctx->replica_count++] = replica;
}

int dispatch_enter_request(request_rec *r, const hydra_config *conf, const char *head_dir,
                           dispatch_interp **out)
{
    naming_input in = {0};

    in.interpreter = conf->interpreter;
    in.per_directory = hydra_flag(conf->interp_per_directory, 0);
    in.per_directive = hydra_flag(conf->interp_per_directive, 0);
    in.filename = r->filename;
    if (in.per_directory && !in.interpreter && r->filename) {
        apr_finfo_t fi;
        in.filename_is_dir = apr_stat(&fi, r->filename, APR_FINFO_TYPE, r->pool) == APR_SUCCESS
                             && fi.filetype == APR_DIR;
    }
    in.handler_dir = head_dir;
    in.server_name = r->server->server_hostname;
    {
        interp_want want = {0};
        int status;
        want_of_config(&want, naming_resolve(r->pool, &in), conf);
        if (want.name)
            want.replica = replica_of_request(reqctx_get(r, 0), want.name);
        status = enter_want(&want, r->server, out);
        if (status == OK)
            remember_replica(r, (*out)->core);
        return status;
    }
}

/* interpreters.md §3 and §7 for a connection: no request, so PerDirectory
 * yields the main interpreter, PerDirective has no directory (handlers
 * outside sections have none), and the default is the base server's name. */
int dispatch_enter_connection(conn_rec *c, const hydra_config *sconf, dispatch_interp **out)
{
    naming_input in = {0};

    in.interpreter = sconf->interpreter;
    in.per_directory = hydra_flag(sconf->interp_per_directory, 0);
    in.per_directive = hydra_flag(sconf->interp_per_directive, 0);
    in.server_name = c->base_server->server_hostname;
    return dispatch_enter_config(naming_resolve(c->pool, &in), sconf, c->base_server, out);
}

void dispatch_leave(dispatch_interp *di)
{
    dispatch_metrics_leave(di->metrics);
    interp_release(di->core);
}

/* ------------------------------------------------------------------ */
/* Start-up in the child                                              */

apr_status_t dispatch_child_init(apr_pool_t *pchild, server_rec *s, int optimize,
                                 int max_interpreters, const char *bytecode_cache,
                                 apr_hash_t *creation_hints)
{
    interp_settings settings = {0};
    apr_status_t rv;

    dispatch_services_install();
    count_cpus();
    settings.optimize = optimize;
    settings.max_interpreters = max_interpreters;
    settings.pycache_prefix = bytecode_cache;
    settings.builtin_name = "_apache";
    settings.builtin_init = hydra_apache_module_init;
    settings.hooks = &dispatch_interp_hooks;
    /* The main interpreter is made now, so only the configuration outside
     * every section can choose its venv (docs/directives.md). */
    settings.main_venv = hydra_server_config(s)->virtualenv;
    rv = interp_system_init(pchild, s, &settings);
    if (rv != APR_SUCCESS)
        return rv;
    dispatch_cleanup_child_init(pchild);
    import_run_all(s, creation_hints);
    /* After what PythonImport wrote, before any worker thread runs. */
    obj_config_tables_snapshot(pchild, s);
    return rv;
}
