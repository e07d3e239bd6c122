/*
 * obj_request_state.h - the per-request C state that every interpreter's
 * request object shows (req.phase, req.hlist, req.extension), kept in
 * r->request_config.
 *
 * Everything that must be the same for every interpreter that touches a
 * request lives here, in C, not in a Python object: the running phase and
 * handler list, handlers added with req.add_handler(), per-request filter
 * registrations, the extension that picked a "| .ext" list, and the Python
 * request objects themselves (one shared by all shared-GIL interpreters,
 * one per own-GIL interpreter; beyond.md §1). The dispatch layer owns its
 * lifetime and every write (dispatch_reqctx.c); the object layer reads it.
 */
#ifndef HYDRA_OBJ_REQUEST_STATE_H
#define HYDRA_OBJ_REQUEST_STATE_H

#include "hydra.h"
#include "glue/glue_config.h"

struct dispatch_interp;

/* The handler list of one running phase, as seen by req.hlist. */
typedef struct hydra_hlist {
    hydra_handler *head;
    hydra_handler *current; /* NULL once past the end */
} hydra_hlist;

#define HYDRA_REQCTX_OWN_MAX 8

typedef struct hydra_reqctx {
    request_rec *r;
    const char *phase;                         /* running phase directive name, or NULL */
    hydra_hlist *hlist;                        /* running list (req.hlist), or NULL */
    hydra_handler *dynamic[HYDRA_PHASE_COUNT]; /* req.add_handler() queues */
    apr_hash_t *registered_filters;       /* req.register_*_filter(): "in:"/"out:" + name -> reg */
    const char *extension;                /* req.extension */
    PyObject *shared_request;             /* for the main and shared-GIL interpreters */
    struct dispatch_interp *shared_owner; /* the interpreter that created it */
    int own_count;
    struct {
        struct dispatch_interp *interp;
        PyObject *request;
    } own[HYDRA_REQCTX_OWN_MAX];
    int cleanup_registered; /* the pool cleanup that runs PythonCleanupHandler */
    /* The pool replicas this request runs in, one per pooled name, so that
     * every phase, filter and cleanup of it uses the same one (beyond.md §3). */
    int replica_count;
    struct hydra_interp *replicas[HYDRA_REQCTX_OWN_MAX];
} hydra_reqctx;

#endif /* HYDRA_OBJ_REQUEST_STATE_H */
