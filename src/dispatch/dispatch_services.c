/*
 * dispatch_services.c - the dispatch work that methods of the Python
 * objects ask for (objects/obj_services.h): the request objects of other
 * requests, req.add_handler(), per-request filters, and cleanups. Installed
 * once at child start, before any Python runs.
 *
 * Handlers and filter registrations go into the C request context
 * (obj_request_state.h), never onto a Python object, because every
 * interpreter's wrapper of the same request must see them (beyond.md §1).
 */
#include "dispatch/dispatch_services.h"
#include "dispatch/dispatch_cleanup.h"
#include "dispatch/dispatch_filter.h"
#include "dispatch/dispatch_handler.h"
#include "dispatch/dispatch_reqctx.h"
#include "objects/obj_services.h"

static PyObject *request_object(request_rec *r)
{
    hydra_interp *current = interp_current();

    if (!current || !dispatch_interp_of(current)) {
        PyErr_SetString(PyExc_RuntimeError, "no Hydra interpreter is running");
        return NULL;
    }
    return reqctx_request_object(r, dispatch_interp_of(current));
}

/* The request phases add_handler() accepts: every phase directive before
 * PythonCleanupHandler. */
static int request_phase_index(const char *name)
{
    int i;
    for (i = 0; i <= HYDRA_PHASE_LOG; i++) {
        if (strcmp(name, hydra_phase_names[i]) == 0)
            return i;
    }
    return -1;
}

static void handler_list_append(hydra_handler **head, hydra_handler *entry)
{
    while (*head)
        head = &(*head)->next;
    *head = entry;
}

static hydra_reqctx *context_or_raise(request_rec *r)
{
    hydra_reqctx *ctx = reqctx_get(r, 0);

    if (!ctx)
        PyErr_SetString(PyExc_RuntimeError, "request has no mod_python context");
    return ctx;
}

static int add_handler(request_rec *r, const char *phase, const char *handler, const char *dir)
{
    apr_pool_t *p = r->pool;
    int index = request_phase_index(phase);
    hydra_reqctx *ctx;
    hydra_handler *entry;

    if (index < 0) {
        PyErr_Format(PyExc_IndexError, "Invalid phase: %s", phase);
        return -1;
    }
    if (!(ctx = context_or_raise(r)))
        return -1;
    if (dir)
        dir = hydra_canonical_dir(p, apr_pstrdup(p, dir));
    entry = hydra_handler_new(p, handler, dir, 0, 0);

    if (ctx->phase && ctx->hlist && strcmp(ctx->phase, phase) == 0) {
        /* The running list: the dispatch loop reaches it after the entries
         * already there; if it is already past the end, point it here. */
        handler_list_append(&ctx->hlist->head, entry);
        if (!ctx->hlist->current)
            ctx->hlist->current = entry;
    } else {
        handler_list_append(&ctx->dynamic[index], entry);
    }
    return 0;
}

/* Per-request registrations live in ctx->registered_filters under
 * (direction, name): like httpd, which keeps input and output filters in
 * two registries, a request may register the same name once as an input
 * and once as an output filter. The direction prefix is the key's first
 * part, so the two never collide. */
static const char *registered_filter_key(apr_pool_t *p, const char *name, int is_input)
{
    return apr_pstrcat(p, is_input ? "in:" : "out:", name, NULL);
}

/* A Python filter known to this request only, under `name` (exact case). */
static int register_filter(request_rec *r, const char *name, const char *handler, const char *dir,
                           int is_input)
{
    apr_pool_t *p = r->pool;
    hydra_reqctx *ctx = context_or_raise(r);
    hydra_filter_reg *reg;

    if (!ctx)
        return -1;
    reg = apr_pcalloc(p, sizeof(*reg));
    reg->name = apr_pstrdup(p, name);
    reg->handler = apr_pstrdup(p, handler);
    reg->directory = dir ? hydra_canonical_dir(p, apr_pstrdup(p, dir)) : NULL;
    reg->is_input = is_input;
    reg->entry = hydra_handler_new(p, reg->handler, reg->directory, 0, 0);
    if (!ctx->registered_filters)
        ctx->registered_filters = apr_hash_make(p);
    apr_hash_set(ctx->registered_filters, registered_filter_key(p, reg->name, is_input),
                 APR_HASH_KEY_STRING, reg);
    return 0;
}

/* A name registered with req.register_*_filter for this direction runs
 * under the generic filter, which finds the registration in f->ctx
 * (dispatch_filter.c); any other name is looked up in httpd's filter
 * registry (which holds PythonInputFilter/PythonOutputFilter names and
 * httpd's own filters such as INCLUDES or CONTENT_LENGTH). */
static int add_filter(request_rec *r, const char *name, int is_input)
{
    hydra_reqctx *ctx = reqctx_get(r, 0);
    const hydra_filter_reg *reg = NULL;

    if (ctx && ctx->registered_filters)
        reg = apr_hash_get(ctx->registered_filters, registered_filter_key(r->pool, name, is_input),
                           APR_HASH_KEY_STRING);
    if (reg)
        filter_add_registered(r, reg);
    else if (is_input)
        ap_add_input_filter(name, NULL, r, r->connection);
    else
        ap_add_output_filter(name, NULL, r, r->connection);
    return 0;
}

static const obj_services services = {
    request_object,
    add_handler,
    register_filter,
    add_filter,
    dispatch_cleanup_register_request,
    dispatch_cleanup_register_child,
};

void dispatch_services_install(void)
{
    obj_services_install(&services);
}
