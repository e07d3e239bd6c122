/*
 * interp_record.h - the registry record of one interpreter, shared by the
 * files of the core (interp_registry.c, interp_pool.c) and nobody else:
 * outside src/core the record is the opaque hydra_interp of interp.h.
 */
#ifndef HYDRA_INTERP_RECORD_H
#define HYDRA_INTERP_RECORD_H

#include "core/interp.h"

typedef enum {
    REC_NEW = 0,
    REC_CREATING,
    REC_READY
} rec_state;

struct interp_pool;

/* One registry record. Fields after `ready` are written once, before the
 * record becomes ready, and only read afterwards. Counters are atomics so
 * the inventory needs no lock on the request path. */
struct hydra_interp {
    const char *name; /* registry key, never normalised; shared by replicas */
    int index;        /* position in the registry; indexes thread-local tstates */
    hydra_interp_kind kind;
    volatile int ready; /* 1 once fully initialised */
    PyInterpreterState *istate;
    void *data; /* what hooks.init returned */
    apr_time_t created;
    int replica;                       /* index in its pool; 0 when not pooled */
    struct interp_pool *pool;          /* its name's pool, or NULL */
    const char *venv;                  /* PythonVirtualEnv it was created with, or NULL */
    const char *venv_warned;           /* the last other venv value warned about */
    volatile apr_uint32_t requests;    /* invocations that acquired it */
    volatile apr_uint32_t active;      /* invocations running now */
    volatile apr_uint32_t errors;      /* handler errors */
    volatile apr_uint32_t timeouts;    /* calls interrupted by PythonRequestTimeout */
    int mode_warned[2];                /* one warning per (name, other mode) */
    volatile apr_uint64_t pool_warned; /* bit n: warned about PythonInterpPool n */
};

/* interp_registry.c, for interp_pool.c: creates replica `replica` of the
 * pooled name `head` (own GIL), initialised and ready, or returns NULL
 * after logging why (also when PythonMaxInterpreters is reached). Called
 * with no GIL held. */
hydra_interp *registry_create_replica(hydra_interp *head, int replica, server_rec *s);

/* The replica of `pool` the calling thread is already inside (an outer
 * acquisition on its stack), or NULL. */
hydra_interp *registry_held_replica(const struct interp_pool *pool);

/* 1 when the calling thread is inside an acquisition already. */
int registry_thread_inside(void);

#endif /* HYDRA_INTERP_RECORD_H */
