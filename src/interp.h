/*
 * interp.h - the interpreter core: the per-process registry
 * name -> interpreter, creation (shared or own GIL), per-(OS thread,
 * interpreter) thread states, and re-entrant acquire/release.
 *
 * This layer knows CPython and APR, and nothing of requests: callers give it
 * a name and a mode, it gives back an interpreter whose GIL the calling
 * thread now holds. See interpreters.md §1, §2, §8, §9 and beyond.md §1.
 */
#ifndef HYDRA_INTERP_H
#define HYDRA_INTERP_H

#include "hydra.h"
#include "interp_gilstate.h"

#define HYDRA_MAIN_INTERPRETER "main_interpreter"

typedef enum {
    HYDRA_INTERP_MAIN = 0, /* the main interpreter, process GIL */
    HYDRA_INTERP_SHARED,   /* sub-interpreter sharing the main GIL */
    HYDRA_INTERP_OWN       /* sub-interpreter with its own GIL (3.12+) */
} hydra_interp_kind;

struct hydra_apache_state; /* objects/apache_module.h */

/* One registry record. Fields after `ready` are written once, before the
 * record becomes ready, and only read afterwards. Counters are atomics so
 * the inventory needs no lock on the request path. */
typedef struct hydra_interp {
    const char *name;  /* registry key, never normalised */
    int index;         /* position in the registry; indexes thread-local tstates */
    hydra_interp_kind kind;
    volatile int ready; /* 1 once fully initialised */
    PyInterpreterState *istate;
    PyObject *apache_module;    /* this interpreter's _apache module */
    struct hydra_apache_state *state; /* its module state */
    PyObject *mp_apache;        /* mod_python.apache in this interpreter */
    PyObject *callback;         /* what mod_python.apache.init() returned */
    PyObject *module_cache;     /* dict: module name -> (module, next check) */
    PyObject *pythonpath_seen;  /* set of PythonPath strings already applied */
    apr_time_t created;
    volatile apr_uint32_t requests; /* invocations that acquired it */
    volatile apr_uint32_t active;   /* invocations running now */
    volatile apr_uint32_t errors;   /* handler errors */
    int mode_warned[2];             /* one warning per (name, other mode) */
} hydra_interp;

/* Process-wide settings, from RSRC_CONF directives. */
typedef struct interp_settings {
    int optimize;         /* PythonOptimize */
    int max_interpreters; /* PythonMaxInterpreters, counting main; 0 = no limit */
} interp_settings;

/* Starts Python in this child process (DESIGN.md decision 1) and registers
 * the main interpreter. Returns APR_SUCCESS or logs and returns an error.
 * Python is never finalised; `pchild` cleanups run child-exit callbacks. */
apr_status_t interp_system_init(apr_pool_t *pchild, server_rec *main_server,
                                const interp_settings *settings);

/* 1 once interp_system_init succeeded in this process. */
int interp_system_ready(void);

/* Gets or creates interpreter `name` (NULL = main) and makes the calling
 * thread hold its GIL. `own_gil` is the mode wanted should the interpreter
 * have to be created now. Must be called without holding any GIL.
 * Returns NULL (GIL not held) if the interpreter cannot be made; the reason
 * has been logged against `s`. Re-entrant: a thread may acquire again while
 * it has released the GIL inside an earlier acquisition. */
hydra_interp *interp_acquire(const char *name, int own_gil, server_rec *s);

/* 1 when the calling thread's last interp_acquire() failed because the
 * PythonMaxInterpreters limit was reached (callers answer 503 then). */
int interp_acquire_refused(void);

/* Gives back what interp_acquire returned. */
void interp_release(hydra_interp *interp);

/* Makes the calling thread hold the GIL of the ready interpreter `interp`
 * for Hydra's own bookkeeping (dropping objects it made): no registry
 * lookup, no mode check, and not counted as an invocation in the
 * inventory. Same nesting rules as interp_acquire. Returns 0, or -1 (GIL
 * not held) if no thread state could be made. */
int interp_enter(hydra_interp *interp);

/* Gives back what interp_enter took. */
void interp_leave(hydra_interp *interp);

/* The interpreter whose GIL the calling thread holds, or NULL. */
hydra_interp *interp_current(void);

/* Inventory for apache.interpreters() and the status page: calls `fn` for
 * every ready interpreter, in creation order. The registry lock is held. */
void interp_foreach(void (*fn)(hydra_interp *interp, void *baton), void *baton);

/* Releases the GIL around a blocking Apache call (DESIGN.md decision 3).
 * Usage: HYDRA_BLOCKING_BEGIN; ap_rwrite(...); HYDRA_BLOCKING_END;
 * Like Py_BEGIN/END_ALLOW_THREADS, but the end re-binds the GIL-state
 * thread state: a filter may have run in another interpreter on this
 * thread meanwhile, and PyGILState_Ensure() must find the running one. */
#define HYDRA_BLOCKING_BEGIN Py_BEGIN_ALLOW_THREADS
#define HYDRA_BLOCKING_END                                                                    \
    PyEval_RestoreThread(_save);                                                              \
    interp_gilstate_bind(_save);                                                              \
    }

#endif /* HYDRA_INTERP_H */
