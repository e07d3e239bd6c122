/*
 * dispatch_watchdog.h - PythonRequestTimeout and PythonSlowRequestLog
 * (beyond.md §5): the timing of every Python handler, filter and
 * connection handler call, and the child's watchdog thread that
 * interrupts a call running past its limit.
 *
 * A call site wraps the Python call (GIL of `di` held on both sides):
 *
 *     dispatch_watch w;
 *     dispatch_watch_begin(&w, di, conf);
 *     res = <call into Python>;
 *     fired = dispatch_watch_end(&w, di, r, c, phase, handler);
 *
 * and, when the call raised, asks dispatch_watch_is_timeout() before its
 * usual error report. With neither directive in effect the wrap costs two
 * field reads: no clock, no atomics.
 */
#ifndef HYDRA_DISPATCH_WATCHDOG_H
#define HYDRA_DISPATCH_WATCHDOG_H

#include "hydra.h"
#include "dispatch/dispatch_interp.h"

/* One watched call, on the caller's stack. */
typedef struct dispatch_watch {
    apr_time_t start;          /* monotonic microseconds; 0 = not watched */
    apr_interval_time_t limit; /* PythonRequestTimeout in effect, 0 = none */
    apr_interval_time_t slow;  /* PythonSlowRequestLog in effect, 0 = none */
    unsigned gen;              /* the slot generation this call armed; 0 = none */
} dispatch_watch;

void dispatch_watch_start(dispatch_watch *w, dispatch_interp *di, apr_interval_time_t limit,
                          apr_interval_time_t slow);
int dispatch_watch_finish(dispatch_watch *w, dispatch_interp *di, request_rec *r, conn_rec *c,
                          const char *phase, const char *handler);

/* Before the call. Arms this thread's slot unless an outer call on the
 * same thread (a handler around a filter run by req.write(), an internal
 * redirect) is armed already: then the outer limit holds. */
static inline void dispatch_watch_begin(dispatch_watch *w, dispatch_interp *di,
                                        const hydra_config *conf)
{
    if (conf->request_timeout <= 0 && conf->slow_request_log <= 0) {
        w->start = 0;
        return;
    }
    dispatch_watch_start(w, di, conf->request_timeout > 0 ? conf->request_timeout : 0,
                         conf->slow_request_log > 0 ? conf->slow_request_log : 0);
}

/* After the call: disarms, drops an exception the watchdog raised that
 * Python has not seen yet (so it cannot hit the next call), and writes the
 * timeout and slow-call lines (logged against `r`, else `c`). Returns 1
 * when the watchdog interrupted this call. */
static inline int dispatch_watch_end(dispatch_watch *w, dispatch_interp *di, request_rec *r,
                                     conn_rec *c, const char *phase, const char *handler)
{
    return w->start ? dispatch_watch_finish(w, di, r, c, phase, handler) : 0;
}

/* After a call that raised (exception set, GIL held): 1, with the
 * exception cleared, when the failure is the timeout (`fired`, or the
 * exception is this interpreter's RequestTimeout); 0 otherwise. */
int dispatch_watch_is_timeout(dispatch_interp *di, int fired);

/* What a request phase answers after a timeout: 504 when nothing has
 * been sent yet; else the connection is marked to close, with nothing
 * more sent on it, and DONE. */
int dispatch_timeout_response(request_rec *r);

/* child_init, after the interpreter core started: starts the watchdog
 * thread when the configuration has a PythonRequestTimeout (`min_limit`,
 * the smallest, > 0), and arranges for it to stop first at child exit. */
void dispatch_watchdog_child_init(apr_pool_t *pchild, server_rec *s, apr_interval_time_t min_limit);

#endif /* HYDRA_DISPATCH_WATCHDOG_H */
