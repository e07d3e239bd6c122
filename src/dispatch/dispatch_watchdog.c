/*
 * dispatch_watchdog.c - PythonRequestTimeout and PythonSlowRequestLog
 * (beyond.md §5): per-thread slots that time Python calls, and the one
 * watchdog thread per child that interrupts a call past its limit with
 * PyThreadState_SetAsyncExc(mod_python.apache.RequestTimeout).
 *
 * The request path touches only its own thread's slot, with atomics: no
 * lock and no allocation per call. A slot is claimed on a thread's first
 * watched call (lock-free: slots form a list that only grows, and a
 * thread that ends gives its slot back for the next new thread).
 *
 * A slot's generation `gen` is even while no call is armed and odd while
 * one is; the deadline and interpreter of an armed call are written before
 * its odd generation is published and do not change until the call
 * disarms. The watchdog reads them like a seqlock, then takes that
 * interpreter's GIL and checks the generation again. The handler thread
 * disarms holding the same GIL, so a generation that is still the same
 * under the GIL is the same call, still running: the shot cannot hit a
 * later call. The watchdog records the generation it fired into (`fired`,
 * written under the GIL); the handler thread reads it at disarm under
 * that GIL, and then drops the exception if Python has not seen it yet
 * (drop_pending_shot).
 *
 * The watchdog never holds its own lock while it waits for a GIL, and
 * the request path never takes that lock, so no thread can wait for the
 * watchdog while holding a GIL it needs.
 */
#include "dispatch/dispatch_watchdog.h"
#include "dispatch/dispatch_metrics.h"

#include "apr_lib.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

#define TICK_MAX_USEC (100 * 1000) /* the watchdog looks at the slots this often */
#define TICK_MIN_USEC (10 * 1000)
#define STOP_WAIT_USEC (500 * 1000) /* at child exit; then the thread is left behind */

typedef struct watch_slot {
    struct watch_slot *next; /* fixed once the slot is in the list */
    atomic_int in_use;       /* owned by a live thread */
    atomic_uint gen;         /* odd: a call is armed */
    atomic_uint fired;       /* the generation the watchdog raised into */
    _Atomic apr_time_t deadline;
    _Atomic(hydra_interp *) interp; /* where the armed call runs */
    unsigned long thread_id;        /* PyThread_get_thread_ident() of the owner */
} watch_slot;

static _Atomic(watch_slot *) slots; /* newest first; never freed */
static __thread watch_slot *tl_slot;
static pthread_key_t slot_key; /* its destructor gives a slot back */
static pthread_once_t slot_key_once = PTHREAD_ONCE_INIT;
static int slot_key_ok;

static atomic_int watchdog_running; /* calls arm only while the thread serves */
static atomic_int watchdog_stopping;
static atomic_int watchdog_exited;
static pthread_t watchdog_thread;
static pthread_mutex_t watchdog_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t watchdog_wake;
static apr_interval_time_t watchdog_tick;

/* Deadlines and durations use the monotonic clock: a wall-clock step
 * must neither fire early nor never. */
static apr_time_t monotonic_usec(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (apr_time_t)ts.tv_sec * APR_USEC_PER_SEC + ts.tv_nsec / 1000;
}

/* ------------------------------------------------------------------ */
/* Slots                                                              */

static void slot_release(void *data)
{
    watch_slot *slot = data;
    unsigned gen = atomic_load(&slot->gen);

    if (gen & 1) /* a thread cannot end inside a call; be safe anyway */
        atomic_store(&slot->gen, gen + 1);
    atomic_store(&slot->in_use, 0);
}

static void slot_key_make(void)
{
    slot_key_ok = pthread_key_create(&slot_key, slot_release) == 0;
}

/* This thread's slot: a free one from the list, else a new one. NULL when
 * out of memory (the call then runs unwatched). */
static watch_slot *slot_claim(void)
{
    watch_slot *slot;

    pthread_once(&slot_key_once, slot_key_make);
    for (slot = atomic_load(&slots); slot; slot = slot->next) {
        int expected = 0;
        if (atomic_compare_exchange_strong(&slot->in_use, &expected, 1))
            break;
    }
    if (!slot) {
        slot = calloc(1, sizeof(*slot));
        if (!slot)
            return NULL;
        atomic_init(&slot->in_use, 1);
        slot->next = atomic_load(&slots);
        while (!atomic_compare_exchange_weak(&slots, &slot->next, slot))
            ;
    }
    /* Read by the watchdog only after an odd generation is published. */
    slot->thread_id = PyThread_get_thread_ident();
    if (slot_key_ok)
        pthread_setspecific(slot_key, slot);
    tl_slot = slot;
    return slot;
}

/* ------------------------------------------------------------------ */
/* The request path                                                   */

void dispatch_watch_start(dispatch_watch *w, dispatch_interp *di, apr_interval_time_t limit,
                          apr_interval_time_t slow)
{
    watch_slot *slot;
    unsigned gen;

    w->start = monotonic_usec();
    w->limit = limit;
    w->slow = slow;
    w->gen = 0;
    if (limit <= 0 || !atomic_load_explicit(&watchdog_running, memory_order_relaxed))
        return;
    slot = tl_slot ? tl_slot : slot_claim();
    if (!slot)
        return;
    gen = atomic_load_explicit(&slot->gen, memory_order_relaxed);
    if (gen & 1)
        return; /* an outer call of this thread is armed */
    /* The fields must not become visible before the even generation that
     * precedes them (the seqlock's writer side). */
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&slot->deadline, w->start + limit, memory_order_relaxed);
    atomic_store_explicit(&slot->interp, di->core, memory_order_relaxed);
    atomic_store_explicit(&slot->gen, gen + 1, memory_order_release);
    w->gen = gen + 1;
}

/* After an interrupted call (GIL held): the exception the watchdog set
 * may still wait in this thread's state when the call returned before
 * Python looked (its last step was one C call). It must not hit the next
 * call. Running a bit of Python lets CPython deliver it the normal way,
 * which also resets the interpreter's "async exception" signal; clearing
 * it with PyThreadState_SetAsyncExc(id, NULL) instead leaves that signal
 * set on 3.11/3.12, so that every thread of the interpreter would take the
 * slow path of the eval loop from then on. The clear is the fallback. */
static void drop_pending_shot(dispatch_interp *di, unsigned long thread_id)
{
    PyObject *type, *value, *tb, *drain, *res;

    if (PyThreadState_Get()->async_exc == NULL)
        return; /* Python saw it: the usual case */
    PyErr_Fetch(&type, &value, &tb);
    drain = PyObject_GetAttrString(di->mp_apache, "_drain_request_timeout");
    res = drain ? PyObject_CallNoArgs(drain) : NULL;
    Py_XDECREF(res);
    Py_XDECREF(drain);
    PyErr_Clear();
    if (PyThreadState_Get()->async_exc != NULL)
        PyThreadState_SetAsyncExc(thread_id, NULL);
    PyErr_Restore(type, value, tb);
}

/* "30", "0.5", "0.125": the limit as it was written (APR's %g drops the
 * leading zero). */
static const char *seconds_text(apr_pool_t *p, apr_interval_time_t usec)
{
    char *text = apr_psprintf(p, "%.3f", (double)usec / APR_USEC_PER_SEC);
    char *end = text + strlen(text) - 1;

    while (*end == '0')
        *end-- = '\0';
    if (*end == '.')
        *end = '\0';
    return text;
}

static const char *request_uri(request_rec *r)
{
    /* The path only: a query string may carry secrets. Escaped, since it
     * is the client's text. */
    return r->uri ? ap_escape_logitem(r->pool, r->uri) : "-";
}

int dispatch_watch_finish(dispatch_watch *w, dispatch_interp *di, request_rec *r, conn_rec *c,
                          const char *phase, const char *handler)
{
    apr_time_t elapsed;
    int fired = 0, slow;

    if (w->gen) {
        watch_slot *slot = tl_slot;
        /* Written by the watchdog under this GIL, which is held here. */
        fired = atomic_load_explicit(&slot->fired, memory_order_relaxed) == w->gen;
        atomic_store_explicit(&slot->gen, w->gen + 1, memory_order_release);
        if (fired)
            drop_pending_shot(di, slot->thread_id);
    }
    if (!fired && w->slow <= 0)
        return 0;
    elapsed = monotonic_usec() - w->start;
    slow = w->slow > 0 && elapsed >= w->slow;
    if (fired) {
        interp_count_timeout(di->core);
        dispatch_metrics_count_timeout(di->metrics);
    }
    if (!fired && !slow)
        return 0;
    if (!c)
        c = r->connection;
    /* Logging may block (piped logs): without the GIL. */
    HYDRA_BLOCKING_BEGIN
    if (fired && r)
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "HYDRA0230: %s %s in interpreter '%s' interrupted by PythonRequestTimeout "
                      "after %.2f s (limit %s s): %s",
                      phase, handler, di->name, (double)elapsed / APR_USEC_PER_SEC,
                      seconds_text(r->pool, w->limit), request_uri(r));
    else if (fired)
        ap_log_cerror(APLOG_MARK, APLOG_ERR, 0, c,
                      "HYDRA0230: %s %s in interpreter '%s' interrupted by PythonRequestTimeout "
                      "after %.2f s (limit %s s): (connection)",
                      phase, handler, di->name, (double)elapsed / APR_USEC_PER_SEC,
                      seconds_text(c->pool, w->limit));
    if (slow && r)
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      "HYDRA0231: %s %s in interpreter '%s' took %" APR_TIME_T_FMT
                      " ms (PythonSlowRequestLog %" APR_TIME_T_FMT " ms): %s",
                      phase, handler, di->name, elapsed / 1000, w->slow / 1000, request_uri(r));
    else if (slow)
        ap_log_cerror(APLOG_MARK, APLOG_WARNING, 0, c,
                      "HYDRA0231: %s %s in interpreter '%s' took %" APR_TIME_T_FMT
                      " ms (PythonSlowRequestLog %" APR_TIME_T_FMT " ms): (connection)",
                      phase, handler, di->name, elapsed / 1000, w->slow / 1000);
    HYDRA_BLOCKING_END
    return fired;
}

int dispatch_watch_is_timeout(dispatch_interp *di, int fired)
{
    if (!fired && !(di->request_timeout && PyErr_ExceptionMatches(di->request_timeout)))
        return 0;
    /* Whatever the interrupted code raised while unwinding ends here: the
     * timeout is the answer, not a traceback. */
    PyErr_Clear();
    return 1;
}

int dispatch_timeout_response(request_rec *r)
{
    if (!r->sent_bodyct)
        return HTTP_GATEWAY_TIME_OUT;
    /* Headers (and maybe part of the body) are out: a 504 now would be
     * appended to the body. Send nothing more (no last chunk either), so
     * the client sees a cut response, and close the connection. */
    r->connection->keepalive = AP_CONN_CLOSE;
    r->connection->aborted = 1;
    return DONE;
}

/* ------------------------------------------------------------------ */
/* The watchdog thread                                                */

/* Raises RequestTimeout in the call of generation `gen` on `slot`, if it
 * is still running. Called with no GIL held. */
static void fire(watch_slot *slot, unsigned gen, hydra_interp *interp)
{
    dispatch_interp *di;

    if (interp_enter(interp) != 0)
        return;
    di = dispatch_interp_of(interp);
    if (!atomic_load(&watchdog_stopping) && atomic_load(&slot->gen) == gen
        && atomic_load(&slot->fired) != gen && di && di->request_timeout) {
        PyThreadState_SetAsyncExc(slot->thread_id, di->request_timeout);
        atomic_store(&slot->fired, gen); /* once per call, found or not */
    }
    interp_leave(interp);
}

static void scan_slots(void)
{
    apr_time_t now = monotonic_usec();
    watch_slot *slot;

    for (slot = atomic_load(&slots); slot && !atomic_load(&watchdog_stopping); slot = slot->next) {
        unsigned gen = atomic_load_explicit(&slot->gen, memory_order_acquire);
        apr_time_t deadline;
        hydra_interp *interp;

        if (!(gen & 1) || atomic_load_explicit(&slot->fired, memory_order_relaxed) == gen)
            continue;
        deadline = atomic_load_explicit(&slot->deadline, memory_order_relaxed);
        interp = atomic_load_explicit(&slot->interp, memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&slot->gen, memory_order_relaxed) != gen || now < deadline)
            continue; /* changed while read, or not due */
        fire(slot, gen, interp);
    }
}

static void *watchdog_main(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&watchdog_lock);
    while (!atomic_load(&watchdog_stopping)) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += (long)(watchdog_tick % APR_USEC_PER_SEC) * 1000;
        until.tv_sec += (time_t)(watchdog_tick / APR_USEC_PER_SEC) + until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&watchdog_wake, &watchdog_lock, &until);
        if (atomic_load(&watchdog_stopping))
            break;
        /* GILs are taken without the lock held. */
        pthread_mutex_unlock(&watchdog_lock);
        scan_slots();
        pthread_mutex_lock(&watchdog_lock);
    }
    pthread_mutex_unlock(&watchdog_lock);
    atomic_store(&watchdog_exited, 1);
    return NULL;
}

/* A pre-cleanup of the child pool: runs before every Python-related
 * cleanup. Under prefork the pool may be destroyed from a signal handler
 * on the thread that holds a GIL the watchdog is waiting for, so the wait
 * for the thread is bounded; a thread that did not stop in time is left
 * behind (it checks watchdog_stopping before it raises anything). */
static apr_status_t watchdog_stop(void *unused)
{
    apr_interval_time_t waited = 0;

    (void)unused;
    atomic_store(&watchdog_running, 0);
    atomic_store(&watchdog_stopping, 1);
    pthread_mutex_lock(&watchdog_lock);
    pthread_cond_signal(&watchdog_wake);
    pthread_mutex_unlock(&watchdog_lock);
    while (!atomic_load(&watchdog_exited) && waited < STOP_WAIT_USEC) {
        apr_sleep(5000);
        waited += 5000;
    }
    if (atomic_load(&watchdog_exited))
        pthread_join(watchdog_thread, NULL);
    else
        pthread_detach(watchdog_thread);
    return APR_SUCCESS;
}

void dispatch_watchdog_child_init(apr_pool_t *pchild, server_rec *s, apr_interval_time_t min_limit)
{
    pthread_condattr_t attr;
    sigset_t all, saved;
    int rc;

    if (min_limit <= 0 || !interp_system_ready())
        return;
    /* A tenth of the smallest limit, within bounds: a call is interrupted
     * at most one tick late. */
    watchdog_tick = min_limit / 10;
    if (watchdog_tick > TICK_MAX_USEC)
        watchdog_tick = TICK_MAX_USEC;
    if (watchdog_tick < TICK_MIN_USEC)
        watchdog_tick = TICK_MIN_USEC;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    rc = pthread_cond_init(&watchdog_wake, &attr);
    pthread_condattr_destroy(&attr);
    if (rc == 0) {
        /* Apache's signals (prefork's exit signals above all) must reach
         * the MPM's threads, never this one. */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &saved);
        rc = pthread_create(&watchdog_thread, NULL, watchdog_main, NULL);
        pthread_sigmask(SIG_SETMASK, &saved, NULL);
    }
    if (rc != 0) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rc, s,
                     "HYDRA0232: cannot start the PythonRequestTimeout watchdog thread; no "
                     "handler will be interrupted in process %" APR_PID_T_FMT,
                     getpid());
        return;
    }
    atomic_store(&watchdog_running, 1);
    apr_pool_pre_cleanup_register(pchild, NULL, watchdog_stop);
}
