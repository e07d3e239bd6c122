/*
 * dispatch_reqctx.c - Hydra's per-request C state and the Python request objects
 * (one shared by the main and shared-GIL interpreters, one per own-GIL
 * interpreter; beyond.md §1), and the request-pool cleanup that runs
 * PythonCleanupHandler and then drops those objects (directives.md §3.5).
 */
#include "dispatch/dispatch_reqctx.h"
#include "dispatch/dispatch.h"
#include "core/interp.h"
#include "objects/objects.h"

hydra_reqctx *reqctx_get(request_rec *r, int create)
{
    hydra_reqctx *ctx = ap_get_module_config(r->request_config, &python_module);

    if (!ctx && create) {
        ctx = apr_pcalloc(r->pool, sizeof(*ctx));
        ctx->r = r;
        ap_set_module_config(r->request_config, &python_module, ctx);
    }
    return ctx;
}

/* Drops `obj` inside the interpreter that made it. No GIL held on entry.
 * Bookkeeping, not an invocation: the inventory does not count it. */
static void drop_in(dispatch_interp *owner, PyObject *obj, request_rec *r)
{
    if (interp_enter(owner->core) != 0) {
        ap_log_rerror(
            APLOG_MARK, APLOG_ERR, 0, r,
            "HYDRA0222: cannot enter interpreter '%s' to drop a request object; leaking it",
            owner->name);
        return;
    }
    Py_DECREF(obj);
    interp_leave(owner->core);
}

/* Request-pool cleanup: PythonCleanupHandler first, then the objects.
 * Pool cleanups run last-registered-first, so req.register_cleanup()
 * callbacks (registered later) have already run. */
static apr_status_t request_cleanup(void *data)
{
    hydra_reqctx *ctx = data;
    request_rec *r = ctx->r;
    int i;

    dispatch_cleanup_phase(r);

    if (ctx->shared_request) {
        drop_in(ctx->shared_owner, ctx->shared_request, r);
        ctx->shared_request = NULL;
    }
    for (i = 0; i < ctx->own_count; i++) {
        drop_in(ctx->own[i].interp, ctx->own[i].request, r);
        ctx->own[i].request = NULL;
    }
    ctx->own_count = 0;
    return APR_SUCCESS;
}

static PyObject *make_request(request_rec *r, hydra_reqctx *ctx, dispatch_interp *interp)
{
    PyObject *req = request_object_new(interp->state, r, ctx);

    if (req && !ctx->cleanup_registered) {
        ctx->cleanup_registered = 1;
        apr_pool_cleanup_register(r->pool, ctx, request_cleanup, apr_pool_cleanup_null);
    }
    return req;
}

void reqctx_drop_if_unreferenced(hydra_reqctx *ctx, dispatch_interp *interp)
{
    int i;

    if (interp->kind != HYDRA_INTERP_OWN) {
        if (ctx->shared_request && Py_REFCNT(ctx->shared_request) == 1)
            Py_CLEAR(ctx->shared_request);
        return;
    }
    for (i = 0; i < ctx->own_count; i++) {
        if (ctx->own[i].interp == interp) {
            if (Py_REFCNT(ctx->own[i].request) == 1) {
                Py_CLEAR(ctx->own[i].request);
                ctx->own[i] = ctx->own[--ctx->own_count];
            }
            return;
        }
    }
}

PyObject *reqctx_request_object(request_rec *r, dispatch_interp *interp)
{
    hydra_reqctx *ctx = reqctx_get(r, 1);
    int i;

    if (interp->kind != HYDRA_INTERP_OWN) {
        if (!ctx->shared_request) {
            ctx->shared_request = make_request(r, ctx, interp);
            ctx->shared_owner = interp;
        }
        return ctx->shared_request;
    }
    for (i = 0; i < ctx->own_count; i++) {
        if (ctx->own[i].interp == interp)
            return ctx->own[i].request;
    }
    if (ctx->own_count == HYDRA_REQCTX_OWN_MAX) {
        PyErr_Format(PyExc_RuntimeError, "a request may visit at most %d own-GIL interpreters",
                     HYDRA_REQCTX_OWN_MAX);
        return NULL;
    }
    ctx->own[ctx->own_count].request = make_request(r, ctx, interp);
    if (!ctx->own[ctx->own_count].request)
        return NULL;
    ctx->own[ctx->own_count].interp = interp;
    return ctx->own[ctx->own_count++].request;
}
