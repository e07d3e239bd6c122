/*
 * reqctx.h - Hydra's per-request C state, kept in r->request_config.
 *
 * Everything that must be the same for every interpreter that touches a
 * request lives here, in C, not in a Python object: the running phase and
 * handler list, handlers added with req.add_handler(), the extension that
 * picked a "| .ext" list, and the Python request objects themselves (one
 * shared by all shared-GIL interpreters, one per own-GIL interpreter;
 * beyond.md §1).
 */
#ifndef HYDRA_REQCTX_H
#define HYDRA_REQCTX_H

#include "hydra.h"
#include "config.h"
#include "interp.h"

/* The handler list of one running phase, as seen by req.hlist. */
typedef struct hydra_hlist {
    hydra_handler *head;
    hydra_handler *current; /* NULL once past the end */
} hydra_hlist;

#define HYDRA_REQCTX_OWN_MAX 8

typedef struct hydra_reqctx {
    request_rec *r;
    const char *phase;       /* running phase directive name, or NULL */
    hydra_hlist *hlist;      /* running list (req.hlist), or NULL */
    hydra_handler *dynamic[HYDRA_PHASE_COUNT]; /* req.add_handler() queues */
    apr_hash_t *registered_filters; /* req.register_*_filter(): "in:"/"out:" + name -> hydra_filter_reg* */
    const char *extension;   /* req.extension */
    PyObject *shared_request; /* for the main and shared-GIL interpreters */
    hydra_interp *shared_owner; /* the interpreter that created it */
    int own_count;
    struct {
        hydra_interp *interp;
        PyObject *request;
    } own[HYDRA_REQCTX_OWN_MAX];
    int cleanup_registered; /* the pool cleanup that runs PythonCleanupHandler */
} hydra_reqctx;

/* Returns the context of `r`, creating it if `create` (NULL otherwise). */
hydra_reqctx *reqctx_get(request_rec *r, int create);

/* Returns a borrowed reference to the Python request object of `r` for the
 * interpreter the calling thread holds (`interp`), creating it on first use.
 * The first creation registers the request-pool cleanup that runs
 * PythonCleanupHandler and then drops the objects. NULL + exception on
 * failure. */
PyObject *reqctx_request_object(request_rec *r, hydra_interp *interp);

/* Drops the request object of `interp` now (GIL held) when nothing but the
 * context refers to it. The dispatcher calls this when it knows no more
 * Python can run for the request, which saves the request-pool cleanup a
 * second trip into the interpreter; anything that kept a reference (a
 * module global, a cleanup's data, a traceback) keeps the object alive
 * until the cleanup, as before. */
void reqctx_drop_if_unreferenced(hydra_reqctx *ctx, hydra_interp *interp);

#endif /* HYDRA_REQCTX_H */
