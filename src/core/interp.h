/*
 * interp.h - the public face of the interpreter core: Python start-up in
 * the child, the registry name -> interpreter, creation (shared or own
 * GIL), per-(OS thread, interpreter) thread states, re-entrant
 * acquire/release and the inventory.
 *
 * The core knows CPython and APR and nothing of requests, dispatch or the
 * Python objects: callers give it a name and a mode, it gives back an
 * opaque handle whose GIL the calling thread now holds. What must happen
 * inside a new interpreter (importing mod_python, building objects,
 * per-interpreter caches) is the `init` hook that the layer above installs
 * at start-up; the core keeps the pointer that hook returns and hands it
 * back with interp_data(). See interpreters.md §1, §2, §8, §9, beyond.md §1.
 */
#ifndef HYDRA_INTERP_H
#define HYDRA_INTERP_H

#include "hydra.h"
#include "core/interp_gilstate.h"

#define HYDRA_MAIN_INTERPRETER "main_interpreter"

/* An interpreter of the registry; opaque outside src/core. */
typedef struct hydra_interp hydra_interp;

typedef enum {
    HYDRA_INTERP_MAIN = 0, /* the main interpreter, process GIL */
    HYDRA_INTERP_SHARED,   /* sub-interpreter sharing the main GIL */
    HYDRA_INTERP_OWN       /* sub-interpreter with its own GIL (3.12+) */
} hydra_interp_kind;

/* What interp_acquire() reports. Every failure has been logged. */
typedef enum {
    INTERP_ACQUIRED = 0, /* the handle is set and its GIL is held */
    INTERP_REFUSED,      /* PythonMaxInterpreters reached: callers answer 503 */
    INTERP_FAILED        /* could not be created or entered: callers answer 500 */
} interp_status;

/* Hooks of the layer above, called by the core. */
typedef struct interp_hooks {
    /* Runs once inside every new interpreter (the main one included),
     * with its GIL held, before anyone else may use it. Returns the
     * layer's per-interpreter data (kept for interp_data()), or NULL after
     * logging why and dropping whatever it made: creation fails then. */
    void *(*init)(hydra_interp *interp, server_rec *s);
    /* Runs once for every new replica of a pool (replica 1 and up) after
     * init, with no GIL held, before any invocation can choose it: the
     * layer above may acquire it with interp_acquire_this. May be NULL. */
    void (*replica_ready)(hydra_interp *interp, server_rec *s);
} interp_hooks;

/* Process-wide settings, from RSRC_CONF directives and the layer above. */
typedef struct interp_settings {
    int optimize;                    /* PythonOptimize */
    int max_interpreters;            /* counting main; 0 = no limit */
    const char *builtin_name;        /* a built-in module for the inittab ("_apache") */
    PyObject *(*builtin_init)(void); /* its PyInit function */
    const interp_hooks *hooks;
    /* PythonVirtualEnv of the main server outside sections, or NULL: the
     * main interpreter is created at start-up, before any request could
     * ask for another one. */
    const char *main_venv;
    const char *pycache_prefix; /* PythonBytecodeCache: CPython's pycache_prefix, or NULL */
} interp_settings;

/* Starts Python in this child process (DESIGN.md decision 1) and
 * initialises the main interpreter. Returns APR_SUCCESS or logs and returns
 * an error. Python is never finalised. */
apr_status_t interp_system_init(apr_pool_t *pchild, server_rec *main_server,
                                const interp_settings *settings);

/* 1 once interp_system_init succeeded in this process. */
int interp_system_ready(void);

/* What an invocation asks for. The mode, pool and virtualenv are
 * properties of a name, fixed by the invocation that creates it; later
 * invocations that ask otherwise get what exists and one warning per
 * (name, value) per child. */
typedef struct interp_want {
    const char *name;     /* NULL or "main_interpreter" = main */
    int own_gil;          /* PythonInterpGIL own (implied by a pool) */
    int pool_size;        /* PythonInterpPool: replicas, 1 = no pool, 0 = not configured */
    int pool_concurrency; /* invocations one replica runs at once; 0 = no bound */
    const char *venv;     /* PythonVirtualEnv; NULL = the base installation */
    int venv_configured;  /* 0: the caller has no configuration; venv means nothing */
    /* A replica of this name the caller's request already runs in (one
     * replica per request, beyond.md §3), or NULL. */
    hydra_interp *replica;
} interp_want;

/* Gets or creates the interpreter `want` names and makes the calling
 * thread hold its GIL; for a pool, chooses (or creates) a replica. Must be
 * called without holding any GIL. Re-entrant: a thread may acquire again
 * while it has released the GIL inside an earlier acquisition. On
 * INTERP_ACQUIRED, *out is set; otherwise no GIL is held and the reason
 * has been logged against `s`. */
interp_status interp_acquire(const interp_want *want, server_rec *s, hydra_interp **out);

/* Acquires the ready interpreter `interp` itself (a replica a request or a
 * cleanup was made in), counted like interp_acquire. */
interp_status interp_acquire_this(hydra_interp *interp, server_rec *s);

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

/* The main interpreter once it is ready (for bookkeeping with
 * interp_enter), or NULL. */
hydra_interp *interp_main(void);

/* The interpreter whose GIL the calling thread holds, or NULL. */
hydra_interp *interp_current(void);

/* Facts about a ready interpreter; constant for its lifetime. */
const char *interp_name(const hydra_interp *interp); /* registry name */
hydra_interp_kind interp_kind(const hydra_interp *interp);
PyInterpreterState *interp_istate(const hydra_interp *interp);
/* What the init hook returned for it. */
void *interp_data(const hydra_interp *interp);
/* Its index in its pool (0 ... pool size - 1; 0 when not pooled). */
int interp_replica(const hydra_interp *interp);
/* The size of its pool (1 when not pooled). */
int interp_pool_size(const hydra_interp *interp);
/* The virtualenv it was created with, or NULL. */
const char *interp_venv(const hydra_interp *interp);
/* 1 when `a` and `b` are replicas of one pool (or the same interpreter). */
int interp_same_name(const hydra_interp *a, const hydra_interp *b);

/* Counts a failed handler in the inventory (atomic, no lock). */
void interp_count_error(hydra_interp *interp);

/* Counts a handler call interrupted by PythonRequestTimeout (atomic). */
void interp_count_timeout(hydra_interp *interp);

/* One line of the inventory, copied under the registry lock. */
typedef struct interp_info {
    const char *name; /* registry records are never freed */
    hydra_interp_kind kind;
    apr_time_t created;
    apr_uint32_t requests; /* invocations that acquired it */
    apr_uint32_t active;   /* invocations running now */
    apr_uint32_t errors;   /* handler errors */
    int replica;           /* index in its pool */
    int pool_size;         /* 1 when not pooled */
    apr_uint32_t timeouts; /* handler calls interrupted by PythonRequestTimeout */
} interp_info;

/* Inventory for apache.interpreters() and the status page: calls `fn` for
 * every ready interpreter, in creation order, with the registry lock held
 * (so `fn` must not block or take a GIL). */
void interp_foreach(void (*fn)(const interp_info *info, void *baton), void *baton);

/* "main", "shared" or "own". */
const char *interp_kind_name(hydra_interp_kind kind);

/* Releases the GIL around a blocking Apache call (DESIGN.md decision 3).
 * Usage: HYDRA_BLOCKING_BEGIN; ap_rwrite(...); HYDRA_BLOCKING_END;
 * Like Py_BEGIN/END_ALLOW_THREADS, but the end re-binds the GIL-state
 * thread state: a filter may have run in another interpreter on this
 * thread meanwhile, and PyGILState_Ensure() must find the running one. */
#define HYDRA_BLOCKING_BEGIN Py_BEGIN_ALLOW_THREADS
#define HYDRA_BLOCKING_END                                                                         \
    PyEval_RestoreThread(_save);                                                                   \
    interp_gilstate_bind(_save);                                                                   \
    }

#endif /* HYDRA_INTERP_H */
