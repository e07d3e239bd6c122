/*
 * dispatch_reqctx.h - Hydra's per-request C state (the struct is
 * objects/obj_request_state.h, which the request objects read), its
 * lifetime, and the Python request objects made from it.
 */
#ifndef HYDRA_DISPATCH_REQCTX_H
#define HYDRA_DISPATCH_REQCTX_H

#include "hydra.h"
#include "dispatch/dispatch_interp.h"
#include "objects/obj_request_state.h"

/* Returns the context of `r`, creating it if `create` (NULL otherwise). */
hydra_reqctx *reqctx_get(request_rec *r, int create);

/* Returns a borrowed reference to the Python request object of `r` for the
 * interpreter the calling thread holds (`di`), creating it on first use.
 * The first creation registers the request-pool cleanup that runs
 * PythonCleanupHandler and then drops the objects. NULL + exception on
 * failure. */
PyObject *reqctx_request_object(request_rec *r, dispatch_interp *di);

/* Drops the request object of `di` now (GIL held) when nothing but the
 * context refers to it. The dispatcher calls this when it knows no more
 * Python can run for the request, which saves the request-pool cleanup a
 * second trip into the interpreter; anything that kept a reference (a
 * module global, a cleanup's data, a traceback) keeps the object alive
 * until the cleanup, as before. */
void reqctx_drop_if_unreferenced(hydra_reqctx *ctx, dispatch_interp *di);

#endif /* HYDRA_DISPATCH_REQCTX_H */
