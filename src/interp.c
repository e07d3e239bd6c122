/*
 * interp.c - the interpreter core: Python start-up in the child, the
 * registry name -> interpreter, creation of sub-interpreters (shared or own
 * GIL), per-(OS thread, interpreter) thread states, acquire/release.
 *
 * Rules this file keeps (DESIGN.md decisions 1-3, interpreters.md §1, §8):
 *  - Python starts in child_init and is never finalised;
 *  - exactly one interpreter per name per process: a record is inserted
 *    in state CREATING under the registry lock, and other threads asking for
 *    the same name wait on a condition variable (holding no GIL) until it is
 *    READY or removed after a failure (then they retry);
 *  - a thread state belongs to one OS thread and one interpreter forever;
 *    it is created on the thread's first use of that interpreter and kept
 *    in thread-local storage. The PyGILState API is never used here.
 *
 * Nothing here knows about requests.
 */
#include "interp.h"
#include "interp_gilstate.h"
#include "objects/apache_module.h"
#include "objects/objects.h"

#include "apr_atomic.h"

#define MAX_NESTING 64
/* After a failed creation, invocations that need the same name fail at
 * once for this long instead of each making (and leaking) another
 * interpreter: a broken PythonPath or package under load would otherwise
 * cost a sub-interpreter per request. */
#define CREATE_RETRY_USEC (5 * APR_USEC_PER_SEC)

typedef enum { REC_NEW = 0, REC_CREATING, REC_READY } rec_state;

static apr_pool_t *registry_pool;
static apr_thread_mutex_t *registry_lock;
static apr_thread_cond_t *registry_cond;
static apr_hash_t *registry;       /* name -> hydra_interp* */
static hydra_interp **by_index;    /* creation order, for thread states and inventory */
static int interp_count, interp_cap;
static rec_state *rec_states;      /* by index */
static hydra_interp *main_interp;
static server_rec *log_server;
static int system_ready;
static int max_interpreters;
/* Set when the child pool starts being destroyed. Under prefork that can
 * happen from a signal handler on the thread that is inside a handler and
 * may hold a GIL: entering Python again there would wait for itself. */
static volatile int process_exiting;
static int live_names; /* names in the registry, main included */
static apr_hash_t *failed_at; /* name -> apr_time_t* of its last failed creation */

/* Per OS thread: its thread state for each interpreter (by index), and the
 * stack of interpreters it has acquired (re-entrancy). */
static __thread PyThreadState **tl_tstates;
static __thread int tl_tstates_cap;
static __thread hydra_interp *tl_stack[MAX_NESTING];
static __thread int tl_depth;
static __thread int tl_refused;

/* Per-thread memo of the last few names looked up. Ready records are never
 * destroyed, so a remembered one stays valid; this keeps the registry lock
 * off the request hot path (a worker thread serves few names). */
#define LOOKUP_MEMO 4
static __thread hydra_interp *tl_memo[LOOKUP_MEMO];
static __thread unsigned tl_memo_next;

static hydra_interp *memo_find(const char *name)
{
    int i;
    for (i = 0; i < LOOKUP_MEMO; i++) {
        if (tl_memo[i] && strcmp(tl_memo[i]->name, name) == 0)
            return tl_memo[i];
    }
    return NULL;
}

static void memo_add(hydra_interp *interp)
{
    tl_memo[tl_memo_next++ % LOOKUP_MEMO] = interp;
}

/* No new entry into Python from a thread interrupted inside Python by the
 * process exit (see process_exiting). */
static int entry_forbidden(void)
{
    return process_exiting && tl_depth > 0;
}

int interp_acquire_refused(void)
{
    return tl_refused;
}

int interp_system_ready(void)
{
    return system_ready;
}

hydra_interp *interp_current(void)
{
    return tl_depth > 0 ? tl_stack[tl_depth - 1] : NULL;
}

/* ------------------------------------------------------------------ */
/* Thread states                                                      */

/* Makes room for `interp` in this thread's table. 0 on success. */
static int tstate_slot_reserve(hydra_interp *interp)
{
    if (interp->index >= tl_tstates_cap) {
        int cap = tl_tstates_cap ? tl_tstates_cap * 2 : 16;
        PyThreadState **grown;
        while (cap <= interp->index)
            cap *= 2;
        grown = realloc(tl_tstates, cap * sizeof(*grown));
        if (!grown)
            return -1;
        memset(grown + tl_tstates_cap, 0, (cap - tl_tstates_cap) * sizeof(*grown));
        tl_tstates = grown;
        tl_tstates_cap = cap;
    }
    return 0;
}

static PyThreadState *thread_tstate(hydra_interp *interp)
{
    PyThreadState *ts;

    if (tstate_slot_reserve(interp) != 0)
        return NULL;
    ts = tl_tstates[interp->index];
    if (!ts) {
        ts = PyThreadState_New(interp->istate);
        if (!ts)
            return NULL;
        /* PyGILState_Release() deletes a thread state whose counter drops to
         * zero; ours must survive extensions' Ensure/Release pairs. */
        if (ts->gilstate_counter < 1)
            ts->gilstate_counter = 1;
        tl_tstates[interp->index] = ts;
    }
    return ts;
}

/* ------------------------------------------------------------------ */
/* Initialising an interpreter (interpreters.md §2)                   */

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
    ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "AH%s: %s in interpreter '%s': %s: %s", "10001",
                 what, name, type ? ((PyTypeObject *)type)->tp_name : "?",
                 text ? PyUnicode_AsUTF8(text) : "?");
    PyErr_Clear();
    Py_XDECREF(text);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
}

static void check_package_version(hydra_interp *interp, server_rec *s)
{
    PyObject *pkg = PyImport_ImportModule("mod_python");
    PyObject *ver = pkg ? PyObject_GetAttrString(pkg, "mp_version") : NULL;
    const char *found = ver && PyUnicode_Check(ver) ? PyUnicode_AsUTF8(ver) : NULL;

    if (!found || strcmp(found, HYDRA_MP_VERSION) != 0) {
        PyObject *file = pkg ? PyObject_GetAttrString(pkg, "__file__") : NULL;
        PyErr_Clear();
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     "mod_python version mismatch, expected '%s', found '%s'", HYDRA_MP_VERSION,
                     found ? found : "(unknown)");
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "mod_python package location: %s",
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

    ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "make_obcallback: could not import mod_python.apache.");
    ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "make_obcallback: sys.path is %s",
                 repr ? PyUnicode_AsUTF8(repr) : "?");
    ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "get_interpreter: no interpreter callback found.");
    Py_XDECREF(repr);
    PyErr_Clear();
}

/* Runs inside `interp` (its GIL held): imports mod_python.apache and calls
 * its init(). Returns 0 on success; on failure everything is logged. */
static int init_in_interpreter(hydra_interp *interp, server_rec *s)
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
    check_package_version(interp, s);

    server = server_object_new(interp->state, hydra_main_server);
    name = name_to_str(interp->name);
    if (server && name)
        interp->callback = PyObject_CallMethod(interp->mp_apache, "init", "OO", name, server);
    Py_XDECREF(server);
    Py_XDECREF(name);
    if (!interp->callback) {
        log_python_error(s, "mod_python.apache.init() failed", interp->name);
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "get_interpreter: no interpreter callback found.");
        return -1;
    }
    interp->module_cache = PyDict_New();
    interp->pythonpath_seen = PySet_New(NULL);
    if (!interp->module_cache || !interp->pythonpath_seen) {
        PyErr_Clear();
        return -1;
    }
    return 0;
}

/* Drops what a failed init_in_interpreter left, so a retry starts clean. */
static void forget_init(hydra_interp *interp)
{
    Py_CLEAR(interp->apache_module);
    Py_CLEAR(interp->mp_apache);
    Py_CLEAR(interp->callback);
    Py_CLEAR(interp->module_cache);
    Py_CLEAR(interp->pythonpath_seen);
    interp->state = NULL;
}

/* Ends a sub-interpreter whose initialisation failed, when that is safe:
 * `new_ts` is current and is its only thread state (an import that started
 * threads makes Py_EndInterpreter wait for them or abort, which is how
 * upstream hung; such an interpreter is left alone). Shared-GIL only: the
 * caller still holds the shared GIL afterwards and swaps to `main_ts`.
 * Returns 1 if ended. */
static int end_failed_interpreter(PyThreadState *new_ts, PyThreadState *main_ts)
{
    PyInterpreterState *istate = PyThreadState_GetInterpreter(new_ts);

    if (PyInterpreterState_ThreadHead(istate) != new_ts || PyThreadState_Next(new_ts) != NULL)
        return 0;
    Py_EndInterpreter(new_ts);
    PyThreadState_Swap(main_ts);
    interp_gilstate_bind(main_ts);
    return 1;
}

/* Creates the sub-interpreter of `interp` and initialises it. Called with
 * no GIL held; returns with no GIL held. The creating thread keeps the new
 * interpreter's first thread state as its own. */
static int create_subinterpreter(hydra_interp *interp, int own_gil, server_rec *s)
{
    PyThreadState *main_ts = thread_tstate(main_interp);
    PyThreadState *new_ts = NULL;
    int rc;

    if (!main_ts)
        return -1;
    PyEval_RestoreThread(main_ts);
    interp_gilstate_bind(main_ts);

#if PY_VERSION_HEX >= 0x030C0000
    {
        PyInterpreterConfig config = {
            .use_main_obmalloc = own_gil ? 0 : 1,
            .allow_fork = own_gil ? 0 : 1,
            .allow_exec = 1,
            .allow_threads = 1,
            .allow_daemon_threads = 1,
            .check_multi_interp_extensions = own_gil ? 1 : 0,
            .gil = own_gil ? PyInterpreterConfig_OWN_GIL : PyInterpreterConfig_SHARED_GIL,
        };
        PyStatus status = Py_NewInterpreterFromConfig(&new_ts, &config);
        if (PyStatus_Exception(status))
            new_ts = NULL;
    }
#else
    (void)own_gil;
    new_ts = Py_NewInterpreter();
#endif
    if (!new_ts) {
        /* CPython left main_ts current on failure. */
        PyEval_SaveThread();
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "could not create interpreter '%s'",
                     interp->name);
        return -1;
    }
    interp->istate = PyThreadState_GetInterpreter(new_ts);
    interp->kind = own_gil ? HYDRA_INTERP_OWN : HYDRA_INTERP_SHARED;
    if (new_ts->gilstate_counter < 1)
        new_ts->gilstate_counter = 1;
    interp_gilstate_bind(new_ts);

    rc = init_in_interpreter(interp, s);
    if (rc != 0) {
        forget_init(interp);
        /* A failed interpreter is dropped from the registry; it is ended
         * when nothing else runs in it, else left (and leaked) as is. */
        if (!own_gil && end_failed_interpreter(new_ts, main_ts))
            interp->istate = NULL;
    }
    PyEval_SaveThread();
    if (rc == 0 && tstate_slot_reserve(interp) == 0)
        tl_tstates[interp->index] = new_ts;
    return rc;
}

/* Initialises the main interpreter (created by Py_Initialize). */
static int init_main(hydra_interp *interp, server_rec *s)
{
    PyThreadState *ts = thread_tstate(interp);
    int rc;

    if (!ts)
        return -1;
    PyEval_RestoreThread(ts);
    interp_gilstate_bind(ts);
    rc = init_in_interpreter(interp, s);
    if (rc != 0)
        forget_init(interp);
    PyEval_SaveThread();
    return rc;
}

/* ------------------------------------------------------------------ */
/* The registry                                                       */

/* Adds a record for `name` in state NEW. Registry lock held. */
static hydra_interp *registry_add(const char *name)
{
    hydra_interp *interp;

    if (max_interpreters > 0 && live_names >= max_interpreters) {
        tl_refused = 1;
        return NULL;
    }
    interp = apr_pcalloc(registry_pool, sizeof(*interp));
    if (interp_count == interp_cap) {
        int cap = interp_cap ? interp_cap * 2 : 16;
        hydra_interp **grown = realloc(by_index, cap * sizeof(*grown));
        rec_state *states = realloc(rec_states, cap * sizeof(*states));
        if (!grown || !states)
            return NULL;
        by_index = grown;
        rec_states = states;
        interp_cap = cap;
    }
    interp->name = apr_pstrdup(registry_pool, name);
    interp->index = interp_count;
    interp->created = apr_time_now();
    by_index[interp_count] = interp;
    rec_states[interp_count] = REC_NEW;
    interp_count++;
    live_names++;
    apr_hash_set(registry, interp->name, APR_HASH_KEY_STRING, interp);
    return interp;
}

static void warn_mode_conflict(hydra_interp *interp, int own_gil, server_rec *s)
{
    int wanted = own_gil ? 1 : 0;
    int has = interp->kind == HYDRA_INTERP_OWN ? 1 : 0;

    /* One warning per (name, mode) per child, even when many threads see
     * the conflict at once. */
    if (wanted == has || !__sync_bool_compare_and_swap(&interp->mode_warned[wanted], 0, 1))
        return;
    if (interp->kind == HYDRA_INTERP_MAIN)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     "PythonInterpGIL own is ignored for main_interpreter: the main "
                     "interpreter always uses the process GIL");
    else
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     "interpreter '%s' was created with %s; PythonInterpGIL %s for it is "
                     "ignored until the child restarts",
                     interp->name, has ? "its own GIL" : "the shared GIL",
                     own_gil ? "own" : "shared");
}

/* 1 (and logged) when `name` failed to initialise less than
 * CREATE_RETRY_USEC ago. Registry lock held. */
static int creation_backing_off(const char *name, server_rec *s)
{
    apr_time_t *when = apr_hash_get(failed_at, name, APR_HASH_KEY_STRING);
    apr_time_t now = apr_time_now();

    if (!when || now - *when >= CREATE_RETRY_USEC)
        return 0;
    ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                 "not creating interpreter '%s': its creation failed %.1f s ago; next "
                 "attempt in %.1f s",
                 name, (double)(now - *when) / APR_USEC_PER_SEC,
                 (double)(*when + CREATE_RETRY_USEC - now) / APR_USEC_PER_SEC);
    return 1;
}

/* Remembers (failed) or forgets (!failed) a failed creation of `name`.
 * Registry lock held. The table holds at most one entry per name that
 * ever failed. */
static void note_creation_result(const char *name, int failed)
{
    apr_time_t *when = apr_hash_get(failed_at, name, APR_HASH_KEY_STRING);

    if (!failed) {
        if (when)
            apr_hash_set(failed_at, name, APR_HASH_KEY_STRING, NULL);
        return;
    }
    if (!when) {
        when = apr_palloc(registry_pool, sizeof(*when));
        apr_hash_set(failed_at, apr_pstrdup(registry_pool, name), APR_HASH_KEY_STRING, when);
    }
    *when = apr_time_now();
}

/* Returns a READY record for `name`, creating or initialising it if need
 * be. Called with no GIL held. */
static hydra_interp *registry_get(const char *name, int own_gil, server_rec *s)
{
    hydra_interp *interp;
    int rc;

    apr_thread_mutex_lock(registry_lock);
    for (;;) {
        interp = apr_hash_get(registry, name, APR_HASH_KEY_STRING);
        if (!interp) {
            if (creation_backing_off(name, s)) {
                apr_thread_mutex_unlock(registry_lock);
                return NULL;
            }
            interp = registry_add(name);
            if (!interp) {
                apr_thread_mutex_unlock(registry_lock);
                return NULL;
            }
        }
        if (rec_states[interp->index] == REC_READY) {
            apr_thread_mutex_unlock(registry_lock);
            return interp;
        }
        if (rec_states[interp->index] == REC_NEW)
            break;
        apr_thread_cond_wait(registry_cond, registry_lock); /* someone is creating it */
    }
    rec_states[interp->index] = REC_CREATING;
    apr_thread_mutex_unlock(registry_lock);

    if (interp == main_interp) {
        rc = init_main(interp, s);
    } else {
        rc = create_subinterpreter(interp, own_gil, s);
        if (rc == 0)
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                         "created interpreter '%s' (%s GIL) in process %" APR_PID_T_FMT,
                         interp->name, own_gil ? "own" : "shared", getpid());
    }

    apr_thread_mutex_lock(registry_lock);
    if (interp != main_interp)
        note_creation_result(name, rc != 0);
    if (rc == 0) {
        interp->ready = 1;
        rec_states[interp->index] = REC_READY;
    } else if (interp == main_interp) {
        rec_states[interp->index] = REC_NEW;
    } else {
        /* Forget the name; the slot of the failed record stays unused. */
        apr_hash_set(registry, interp->name, APR_HASH_KEY_STRING, NULL);
        by_index[interp->index] = NULL;
        live_names--;
    }
    apr_thread_cond_broadcast(registry_cond);
    apr_thread_mutex_unlock(registry_lock);
    return rc == 0 ? interp : NULL;
}

/* ------------------------------------------------------------------ */
/* Public API                                                         */

hydra_interp *interp_acquire(const char *name, int own_gil, server_rec *s)
{
    hydra_interp *interp;
    int is_main;

    tl_refused = 0;
    if (entry_forbidden())
        return NULL; /* the process is exiting; nothing to report to */
    if (!system_ready) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "python_handler: Python is not initialised in this process.");
        return NULL;
    }
    if (tl_depth >= MAX_NESTING) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                     "interpreter acquisitions nested more than %d deep", MAX_NESTING);
        return NULL;
    }
    is_main = !name || strcmp(name, HYDRA_MAIN_INTERPRETER) == 0;

    /* The main interpreter needs no registry lookup once it is ready, and
     * a thread remembers the few names it served last. */
    if (is_main)
        interp = main_interp->ready ? main_interp : registry_get(HYDRA_MAIN_INTERPRETER, own_gil, s);
    else if ((interp = memo_find(name)) == NULL && (interp = registry_get(name, own_gil, s)) != NULL)
        memo_add(interp);
    if (!interp) {
        if (tl_refused)
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                         "python_handler: not creating interpreter '%s': this process already "
                         "has PythonMaxInterpreters (%d) interpreters",
                         name, max_interpreters);
        else
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "python_handler: Can't get/create interpreter.");
        return NULL;
    }
    if ((own_gil != 0) != (interp->kind == HYDRA_INTERP_OWN))
        warn_mode_conflict(interp, own_gil, s);

    if (interp_enter(interp) != 0) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "cannot create a thread state for '%s'",
                     interp->name);
        return NULL;
    }
    apr_atomic_inc32(&interp->requests);
    apr_atomic_inc32(&interp->active);
    return interp;
}

void interp_release(hydra_interp *interp)
{
    apr_atomic_dec32(&interp->active);
    interp_leave(interp);
}

int interp_enter(hydra_interp *interp)
{
    PyThreadState *ts;

    if (entry_forbidden() || tl_depth >= MAX_NESTING || !(ts = thread_tstate(interp)))
        return -1;
    PyEval_RestoreThread(ts);
    interp_gilstate_bind(ts);
    tl_stack[tl_depth++] = interp;
    return 0;
}

void interp_leave(hydra_interp *interp)
{
    (void)interp;
    tl_depth--;
    PyEval_SaveThread();
    /* Back in an outer acquisition whose GIL was released around a blocking
     * call: that code restores its own thread state when the call returns. */
}

void interp_foreach(void (*fn)(hydra_interp *interp, void *baton), void *baton)
{
    int i;

    apr_thread_mutex_lock(registry_lock);
    for (i = 0; i < interp_count; i++) {
        if (by_index[i] && rec_states[i] == REC_READY)
            fn(by_index[i], baton);
    }
    apr_thread_mutex_unlock(registry_lock);
}

/* ------------------------------------------------------------------ */
/* Start-up in the child                                              */

static apr_status_t start_python(int optimize)
{
    PyConfig config;
    PyStatus status;

    if (PyImport_AppendInittab("_apache", hydra_apache_module_init) != 0)
        return APR_EGENERAL;

    PyConfig_InitPythonConfig(&config);
    config.install_signal_handlers = 0; /* Apache owns signals */
    config.user_site_directory = 0;
    config.parse_argv = 0;
    if (optimize)
        config.optimization_level = 2; /* like -OO, as upstream */
#ifdef HYDRA_PYTHON_HOME
    /* A build against a CPython outside the system prefix (a world-readable
     * copy made by scripts/python-home.sh): find its stdlib there unless
     * the environment says otherwise. */
    if (!getenv("PYTHONHOME")) {
        status = PyConfig_SetBytesString(&config, &config.home, HYDRA_PYTHON_HOME);
        if (PyStatus_Exception(status))
            goto fail;
    }
#endif
    status = Py_InitializeFromConfig(&config);
    if (PyStatus_Exception(status))
        goto fail;
    PyConfig_Clear(&config);
    return APR_SUCCESS;

fail:
    ap_log_error(APLOG_MARK, APLOG_CRIT, 0, log_server, "Python initialisation failed: %s%s%s",
                 status.func ? status.func : "", status.func ? ": " : "",
                 status.err_msg ? status.err_msg : "");
    PyConfig_Clear(&config);
    return APR_EGENERAL;
}

static apr_status_t mark_process_exiting(void *unused)
{
    (void)unused;
    process_exiting = 1;
    return APR_SUCCESS;
}

apr_status_t interp_system_init(apr_pool_t *pchild, server_rec *main_server,
                                const interp_settings *settings)
{
    PyThreadState *ts;
    apr_status_t rv;

    log_server = main_server;
    max_interpreters = settings->max_interpreters;
    apr_pool_pre_cleanup_register(pchild, NULL, mark_process_exiting);
    registry_pool = pchild;
    registry = apr_hash_make(pchild);
    failed_at = apr_hash_make(pchild);
    if ((rv = apr_thread_mutex_create(&registry_lock, APR_THREAD_MUTEX_DEFAULT, pchild))
            != APR_SUCCESS
        || (rv = apr_thread_cond_create(&registry_cond, pchild)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, main_server, "cannot create the interpreter registry lock");
        return rv;
    }
    if ((rv = start_python(settings->optimize)) != APR_SUCCESS)
        return rv;

    main_interp = registry_add(HYDRA_MAIN_INTERPRETER);
    main_interp->kind = HYDRA_INTERP_MAIN;
    main_interp->istate = PyInterpreterState_Main();
    ts = PyThreadState_Get();
    if (ts->gilstate_counter < 1)
        ts->gilstate_counter = 1;
    PyEval_SaveThread();
    /* The thread that started Python keeps that thread state. */
    if (tstate_slot_reserve(main_interp) == 0)
        tl_tstates[main_interp->index] = ts;
    system_ready = 1;

    /* Initialise the main interpreter now so PythonImport into it and first
     * requests find it ready; a failure is retried on first use. */
    registry_get(HYDRA_MAIN_INTERPRETER, 0, main_server);
    return APR_SUCCESS;
}
