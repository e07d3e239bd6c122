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
 *  - a pool (PythonInterpPool, beyond.md §3) is a name whose record is
 *    replica 0 and which holds up to N own-GIL replicas, created on demand
 *    (interp_pool.c chooses among them without a lock while one is free);
 *  - a thread state belongs to one OS thread and one interpreter forever;
 *    it is created on the thread's first use of that interpreter and kept
 *    in thread-local storage. The PyGILState API is never used here.
 *
 * Nothing here knows about requests.
 */
#include "core/interp.h"
#include "core/interp_gilstate.h"
#include "core/interp_pool.h"
#include "core/interp_record.h"

#include "apr_atomic.h"
#include <errno.h>
#include <unistd.h>

#define MAX_NESTING 64
/* After a failed creation, invocations that need the same name fail at
 * once for this long instead of each making (and leaking) another
 * interpreter: a broken PythonPath or package under load would otherwise
 * cost a sub-interpreter per request. */
#define CREATE_RETRY_USEC (5 * APR_USEC_PER_SEC)

static interp_hooks hooks;

static apr_pool_t *registry_pool; /* used under registry_lock only */
static apr_allocator_t *registry_allocator;
static apr_thread_mutex_t *registry_lock;
static apr_thread_cond_t *registry_cond;
static apr_hash_t *registry;    /* name -> hydra_interp* */
static hydra_interp **by_index; /* creation order, for thread states and inventory */
static int interp_count, interp_cap;
static rec_state *rec_states; /* by index */
static hydra_interp *main_interp;
static server_rec *log_server;
static int system_ready;
static int max_interpreters;
/* Set when the child pool starts being destroyed. Under prefork that can
 * happen from a signal handler on the thread that is inside a handler and
 * may hold a GIL: entering Python again there would wait for itself. */
static volatile int process_exiting;
static int live_names;        /* names in the registry, main included */
static apr_hash_t *failed_at; /* name -> apr_time_t* of its last failed creation */

/* Per OS thread: its thread state for each interpreter (by index), and the
 * stack of interpreters it has acquired (re-entrancy). */
static __thread PyThreadState **tl_tstates;
static __thread int tl_tstates_cap;
static __thread hydra_interp *tl_stack[MAX_NESTING];
static __thread int tl_depth;

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

int interp_system_ready(void)
{
    return system_ready;
}

hydra_interp *interp_main(void)
{
    return main_interp && main_interp->ready ? main_interp : NULL;
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

/* Runs the layer above's init hook inside `interp` (its GIL held).
 * Returns 0 on success; on failure the hook has logged why. */
static int init_in_interpreter(hydra_interp *interp, server_rec *s)
{
    interp->data = hooks.init ? hooks.init(interp, s) : NULL;
    return hooks.init && !interp->data ? -1 : 0;
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
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "HYDRA0101: could not create interpreter '%s'",
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
    PyEval_SaveThread();
    return rc;
}

/* ------------------------------------------------------------------ */
/* The registry                                                       */

/* Appends a record in state NEW to the creation order (not to the name
 * table). Registry lock held. NULL with *refused set when
 * PythonMaxInterpreters is reached, NULL alone when out of memory. */
static hydra_interp *record_new(const char *name, int *refused)
{
    hydra_interp *interp;

    if (max_interpreters > 0 && live_names >= max_interpreters) {
        *refused = 1;
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
    interp->name = name;
    interp->index = interp_count;
    interp->created = apr_time_now();
    by_index[interp_count] = interp;
    rec_states[interp_count] = REC_NEW;
    interp_count++;
    live_names++;
    return interp;
}

/* Adds the record of a new name, with what `want` asks to be fixed at its
 * creation. Registry lock held; NULL as for record_new. */
static hydra_interp *registry_add(const interp_want *want, const char *name, int *refused)
{
    hydra_interp *interp = record_new(apr_pstrdup(registry_pool, name), refused);

    if (!interp)
        return NULL;
    if (want && want->venv)
        interp->venv = apr_pstrdup(registry_pool, want->venv);
    if (want && want->pool_size > 1 && strcmp(name, HYDRA_MAIN_INTERPRETER) != 0) {
        interp->pool =
            interp_pool_make(registry_pool, interp, want->pool_size, want->pool_concurrency);
        if (!interp->pool)
            return NULL; /* out of memory; the record stays unused */
    }
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
                     "HYDRA0102: PythonInterpGIL own is ignored for main_interpreter: the main "
                     "interpreter always uses the process GIL");
    else
        ap_log_error(
            APLOG_MARK, APLOG_WARNING, 0, s,
            "HYDRA0103: interpreter '%s' was created with %s; PythonInterpGIL %s for it is "
            "ignored until the child restarts",
            interp->name, has ? "its own GIL" : "the shared GIL", own_gil ? "own" : "shared");
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
                 "HYDRA0104: not creating interpreter '%s': its creation failed %.1f s ago; next "
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
static hydra_interp *registry_get(const interp_want *want, const char *name, server_rec *s,
                                  int *refused)
{
    hydra_interp *interp;
    /* A pool is made of own-GIL interpreters (beyond.md §3). */
    int own_gil = want && (want->own_gil || want->pool_size > 1);
    int rc;

    apr_thread_mutex_lock(registry_lock);
    for (;;) {
        interp = apr_hash_get(registry, name, APR_HASH_KEY_STRING);
        if (!interp) {
            if (creation_backing_off(name, s)) {
                apr_thread_mutex_unlock(registry_lock);
                return NULL;
            }
            interp = registry_add(want, name, refused);
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
            ap_log_error(
                APLOG_MARK, APLOG_INFO, 0, s,
                "HYDRA0105: created interpreter '%s' (%s GIL%s) in process %" APR_PID_T_FMT,
                interp->name, own_gil ? "own" : "shared",
                interp->pool ? ", replica 0 of a pool" : "", getpid());
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

hydra_interp *registry_create_replica(hydra_interp *head, int replica, server_rec *s)
{
    hydra_interp *interp;
    int refused = 0, rc;

    apr_thread_mutex_lock(registry_lock);
    interp = process_exiting ? NULL : record_new(head->name, &refused);
    if (interp) {
        interp->replica = replica;
        interp->pool = head->pool;
        interp->venv = head->venv;
        rec_states[interp->index] = REC_CREATING;
    }
    apr_thread_mutex_unlock(registry_lock);
    if (!interp) {
        if (refused)
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                         "HYDRA0114: not creating replica %d of pool '%s': this process already "
                         "has PythonMaxInterpreters (%d) interpreters; the pool serves with %d",
                         replica, head->name, max_interpreters, replica);
        return NULL;
    }

    rc = create_subinterpreter(interp, 1, s);
    if (rc == 0)
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                     "HYDRA0115: created replica %d of pool '%s' (%d at most) in process "
                     "%" APR_PID_T_FMT,
                     replica, interp->name, interp_pool_size_of(interp->pool), getpid());
    else
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                     "HYDRA0116: could not create replica %d of pool '%s'; the pool serves with "
                     "%d for now",
                     replica, interp->name, replica);

    apr_thread_mutex_lock(registry_lock);
    if (rc == 0) {
        interp->ready = 1;
        rec_states[interp->index] = REC_READY;
    } else {
        by_index[interp->index] = NULL;
        live_names--;
    }
    apr_thread_mutex_unlock(registry_lock);
    if (rc == 0 && hooks.replica_ready)
        hooks.replica_ready(interp, s); /* not yet published: nobody else can choose it */
    return rc == 0 ? interp : NULL;
}

hydra_interp *registry_held_replica(const struct interp_pool *pool)
{
    int i;

    for (i = tl_depth - 1; i >= 0; i--) {
        if (tl_stack[i]->pool == pool)
            return tl_stack[i];
    }
    return NULL;
}

int registry_thread_inside(void)
{
    return tl_depth > 0;
}

/* One warning per (name, size) per child when an invocation asks for
 * another pool size than the name was created with. */
static void warn_pool_conflict(hydra_interp *interp, int wanted, server_rec *s)
{
    int has = interp_pool_size_of(interp->pool);
    apr_uint64_t bit = (apr_uint64_t)1 << (wanted & 63);

    if (wanted == has || (__atomic_fetch_or(&interp->pool_warned, bit, __ATOMIC_RELAXED) & bit))
        return;
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                 "HYDRA0117: interpreter '%s' was created with PythonInterpPool %d; "
                 "PythonInterpPool %d for it is ignored until the child restarts",
                 interp->name, has, wanted);
}

/* One warning per (name, virtualenv) per child (beyond.md §5): the last
 * value warned about is remembered without a lock, the values warned
 * about before under the registry lock. */
static apr_hash_t *venv_warned;

static void warn_venv_conflict(hydra_interp *interp, const char *wanted, server_rec *s)
{
    static const char no_venv[] = "";
    const char *has = interp->venv, *memo = wanted ? wanted : no_venv;
    const char *key;
    int first;

    if ((!wanted && !has) || (wanted && has && strcmp(wanted, has) == 0)
        || __atomic_load_n(&interp->venv_warned, __ATOMIC_RELAXED) == memo)
        return;
    apr_thread_mutex_lock(registry_lock);
    key = apr_pstrcat(registry_pool, interp->name, "\n", wanted ? wanted : "", NULL);
    first = apr_hash_get(venv_warned, key, APR_HASH_KEY_STRING) == NULL;
    if (first)
        apr_hash_set(venv_warned, key, APR_HASH_KEY_STRING, "");
    apr_thread_mutex_unlock(registry_lock);
    __atomic_store_n(&interp->venv_warned, memo, __ATOMIC_RELAXED);
    if (first)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     "HYDRA0118: interpreter '%s' was created with %s%s; PythonVirtualEnv %s for "
                     "it is ignored until the child restarts",
                     interp->name, has ? "PythonVirtualEnv " : "no PythonVirtualEnv",
                     has ? has : "", wanted ? wanted : "(none)");
}

/* ------------------------------------------------------------------ */
/* Public API                                                         */

interp_status interp_acquire(const interp_want *want, server_rec *s, hydra_interp **out)
{
    hydra_interp *interp;
    const char *name = want->name;
    int own_gil = want->own_gil || want->pool_size > 1;
    int is_main, refused = 0, counted = 0;

    *out = NULL;
    if (entry_forbidden())
        return INTERP_FAILED; /* the process is exiting; nothing to report to */
    if (!system_ready) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                     "HYDRA0106: python_handler: Python is not initialised in this process.");
        return INTERP_FAILED;
    }
    if (tl_depth >= MAX_NESTING) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                     "HYDRA0107: interpreter acquisitions nested more than %d deep", MAX_NESTING);
        return INTERP_FAILED;
    }
    is_main = !name || strcmp(name, HYDRA_MAIN_INTERPRETER) == 0;

    /* The main interpreter needs no registry lookup once it is ready, and
     * a thread remembers the few names it served last. */
    if (is_main)
        interp = main_interp->ready ? main_interp
                                    : registry_get(want, HYDRA_MAIN_INTERPRETER, s, &refused);
    else if ((interp = memo_find(name)) == NULL
             && (interp = registry_get(want, name, s, &refused)) != NULL)
        memo_add(interp);
    if (!interp) {
        if (refused) {
            ap_log_error(
                APLOG_MARK, APLOG_ERR, 0, s,
                "HYDRA0108: python_handler: not creating interpreter '%s': this process already "
                "has PythonMaxInterpreters (%d) interpreters",
                name, max_interpreters);
            return INTERP_REFUSED;
        }
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                     "HYDRA0109: python_handler: Can't get/create interpreter.");
        return INTERP_FAILED;
    }
    if ((own_gil != 0) != (interp->kind == HYDRA_INTERP_OWN))
        warn_mode_conflict(interp, own_gil, s);
    /* pool_size 0: the caller does not care (it has no configuration). */
    if (want->pool_size > 0 && want->pool_size != interp_pool_size_of(interp->pool) && !is_main)
        warn_pool_conflict(interp, want->pool_size, s);
    if (want->venv_configured && want->venv != interp->venv)
        warn_venv_conflict(interp, want->venv, s);
    if (interp->pool) {
        interp = interp_pool_take(interp, want, s);
        counted = 1;
    }

    if (interp_enter(interp) != 0) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                     "HYDRA0110: cannot create a thread state for '%s'", interp->name);
        if (counted)
            interp_pool_give_back(interp);
        return INTERP_FAILED;
    }
    apr_atomic_inc32(&interp->requests);
    if (!counted)
        apr_atomic_inc32(&interp->active);
    *out = interp;
    return INTERP_ACQUIRED;
}

interp_status interp_acquire_this(hydra_interp *interp, server_rec *s)
{
    if (entry_forbidden())
        return INTERP_FAILED;
    if (interp_enter(interp) != 0) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                     "HYDRA0110: cannot create a thread state for '%s'", interp->name);
        return INTERP_FAILED;
    }
    apr_atomic_inc32(&interp->requests);
    apr_atomic_inc32(&interp->active);
    return INTERP_ACQUIRED;
}

void interp_release(hydra_interp *interp)
{
    if (interp->pool) {
        /* The GIL first, then the slot: a waiter woken for this replica
         * should not find its GIL still held. */
        interp_leave(interp);
        interp_pool_give_back(interp);
        return;
    }
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

const char *interp_name(const hydra_interp *interp)
{
    return interp->name;
}

hydra_interp_kind interp_kind(const hydra_interp *interp)
{
    return interp->kind;
}

PyInterpreterState *interp_istate(const hydra_interp *interp)
{
    return interp->istate;
}

void *interp_data(const hydra_interp *interp)
{
    return interp->data;
}

int interp_replica(const hydra_interp *interp)
{
    return interp->replica;
}

int interp_pool_size(const hydra_interp *interp)
{
    return interp_pool_size_of(interp->pool);
}

const char *interp_venv(const hydra_interp *interp)
{
    return interp->venv;
}

int interp_same_name(const hydra_interp *a, const hydra_interp *b)
{
    return a == b || (a->pool && a->pool == b->pool);
}

void interp_count_error(hydra_interp *interp)
{
    apr_atomic_inc32(&interp->errors);
}

void interp_count_timeout(hydra_interp *interp)
{
    apr_atomic_inc32(&interp->timeouts);
}

const char *interp_kind_name(hydra_interp_kind kind)
{
    switch (kind) {
    case HYDRA_INTERP_MAIN:
        return "main";
    case HYDRA_INTERP_OWN:
        return "own";
    case HYDRA_INTERP_SHARED:
    default:
        return "shared";
    }
}

void interp_foreach(void (*fn)(const interp_info *info, void *baton), void *baton)
{
    int i;

    apr_thread_mutex_lock(registry_lock);
    for (i = 0; i < interp_count; i++) {
        hydra_interp *interp = by_index[i];
        interp_info info;
        if (!interp || rec_states[i] != REC_READY)
            continue;
        info.name = interp->name;
        info.kind = interp->kind;
        info.created = interp->created;
        info.requests = apr_atomic_read32(&interp->requests);
        info.active = apr_atomic_read32(&interp->active);
        info.errors = apr_atomic_read32(&interp->errors);
        info.replica = interp->replica;
        info.pool_size = interp_pool_size_of(interp->pool);
        info.timeouts = apr_atomic_read32(&interp->timeouts);
        fn(&info, baton);
    }
    apr_thread_mutex_unlock(registry_lock);
}

/* ------------------------------------------------------------------ */
/* Start-up in the child                                              */

static apr_status_t start_python(const interp_settings *settings)
{
    PyConfig config;
    PyStatus status;
    int optimize = settings->optimize;

    if (settings->builtin_name
        && PyImport_AppendInittab(settings->builtin_name, settings->builtin_init) != 0)
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
    /* Every interpreter copies this configuration, so all of them write
     * and read bytecode there. A directory this child cannot write would
     * only hide the __pycache__ folders next to the sources: skip it. */
    if (settings->pycache_prefix) {
        if (access(settings->pycache_prefix, W_OK | X_OK) == 0) {
            status =
                PyConfig_SetBytesString(&config, &config.pycache_prefix, settings->pycache_prefix);
            if (PyStatus_Exception(status))
                goto fail;
        } else {
            ap_log_error(APLOG_MARK, APLOG_WARNING, errno, log_server,
                         "HYDRA0119: PythonBytecodeCache %s is not writable by this child: "
                         "not used, bytecode is read from and written to __pycache__ folders",
                         settings->pycache_prefix);
        }
    }
    status = Py_InitializeFromConfig(&config);
    if (PyStatus_Exception(status))
        goto fail;
    PyConfig_Clear(&config);
    return APR_SUCCESS;

fail:
    ap_log_error(APLOG_MARK, APLOG_CRIT, 0, log_server,
                 "HYDRA0111: Python initialisation failed: %s%s%s", status.func ? status.func : "",
                 status.func ? ": " : "", status.err_msg ? status.err_msg : "");
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
    interp_want main_want = {0};
    apr_status_t rv;
    int refused = 0;

    log_server = main_server;
    if (settings->hooks)
        hooks = *settings->hooks;
    max_interpreters = settings->max_interpreters;
    apr_pool_pre_cleanup_register(pchild, NULL, mark_process_exiting);
    /* The registry's records are allocated by whichever worker thread
     * creates an interpreter, under registry_lock only. They get a pool of
     * their own, with its own allocator, so that no allocation races with
     * another thread's use of pchild; unmanaged, so that it outlives
     * pchild's subpools and cleanups (child-exit callbacks look names up
     * while pchild is being destroyed). */
    if ((rv = apr_allocator_create(&registry_allocator)) != APR_SUCCESS
        || (rv = apr_pool_create_unmanaged_ex(&registry_pool, NULL, registry_allocator))
               != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, main_server,
                     "HYDRA0113: cannot create the interpreter registry's pool");
        return rv;
    }
    apr_allocator_owner_set(registry_allocator, registry_pool);
    registry = apr_hash_make(registry_pool);
    failed_at = apr_hash_make(registry_pool);
    venv_warned = apr_hash_make(registry_pool);
    if ((rv = apr_thread_mutex_create(&registry_lock, APR_THREAD_MUTEX_DEFAULT, pchild))
            != APR_SUCCESS
        || (rv = apr_thread_cond_create(&registry_cond, pchild)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, main_server,
                     "HYDRA0112: cannot create the interpreter registry lock");
        return rv;
    }
    if ((rv = start_python(settings)) != APR_SUCCESS)
        return rv;

    main_want.venv = settings->main_venv;
    main_interp = registry_add(&main_want, HYDRA_MAIN_INTERPRETER, &refused);
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
    registry_get(NULL, HYDRA_MAIN_INTERPRETER, main_server, &refused);
    return APR_SUCCESS;
}
