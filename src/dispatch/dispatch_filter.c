/*
 * dispatch_filter.c - Python filters, the httpd side (directives.md §5.8,
 * python-api.md §1.3): registering filter names with httpd, binding a
 * filter instance to its registration, naming and acquiring the
 * interpreter, and calling the filter's callable with one mp_filter per
 * call, in C like a handler (dispatch_call.c): the module and names are
 * cached per interpreter, so a brigade costs no trip through
 * mod_python.apache.
 *
 * Every Python filter name (PythonInputFilter/PythonOutputFilter) and the
 * generic MOD_PYTHON filter share the two functions below; which Python
 * code runs is decided by the registration found for the instance.
 * Nothing here blocks with a GIL held: the brigade passes of a disabled
 * (transparent) filter happen after the interpreter is released.
 */
#include "dispatch/dispatch_filter.h"
#include "dispatch/dispatch_call.h"
#include "dispatch/dispatch_interp.h"
#include "dispatch/dispatch_reqctx.h"
#include "dispatch/dispatch_watchdog.h"

/* ------------------------------------------------------------------ */
/* Registration                                                       */

void filter_register_generic(void)
{
    ap_register_input_filter(HYDRA_GENERIC_FILTER, filter_input, NULL, AP_FTYPE_RESOURCE);
    ap_register_output_filter(HYDRA_GENERIC_FILTER, filter_output, NULL, AP_FTYPE_RESOURCE);
}

void filter_register_name(const char *name, int is_input)
{
    if (is_input)
        ap_register_input_filter(name, filter_input, NULL, AP_FTYPE_RESOURCE);
    else
        ap_register_output_filter(name, filter_output, NULL, AP_FTYPE_RESOURCE);
}

apr_status_t filter_add_registered(request_rec *r, const hydra_filter_reg *reg)
{
    ap_filter_t *f =
        reg->is_input ? ap_add_input_filter(HYDRA_GENERIC_FILTER, (void *)reg, r, r->connection)
                      : ap_add_output_filter(HYDRA_GENERIC_FILTER, (void *)reg, r, r->connection);
    return f ? APR_SUCCESS : APR_NOTFOUND;
}

/* ------------------------------------------------------------------ */
/* The instance context                                               */

/* Its address marks the f->ctx values made here (filter.h). */
static const char filter_ctx_tag;

static int is_instance_ctx(const void *ctx)
{
    const void *first;

    memcpy(&first, ctx, sizeof(first)); /* both kinds start with a pointer */
    return first == &filter_ctx_tag;
}

/* The registration an instance runs: for the generic filter the one it
 * was added with, else the one the merged config of the request has for
 * httpd's name of the filter. NULL if there is none. */
static const hydra_filter_reg *instance_reg(ap_filter_t *f, int is_input)
{
    const hydra_config *conf;

    if (f->ctx)
        return f->ctx;
    conf = hydra_dir_config(f->r);
    return apr_hash_get(is_input ? conf->in_filters : conf->out_filters, f->frec->name,
                        APR_HASH_KEY_STRING);
}

/* f->ctx as a hydra_filter_ctx, made on the first call. NULL if the
 * instance has no registration. */
static hydra_filter_ctx *instance_ctx(ap_filter_t *f, int is_input)
{
    hydra_filter_ctx *ctx = f->ctx;

    if (!ctx || !is_instance_ctx(ctx)) {
        const hydra_filter_reg *reg = instance_reg(f, is_input);
        if (!reg)
            return NULL;
        ctx = apr_pcalloc(f->r->pool, sizeof(*ctx));
        ctx->tag = &filter_ctx_tag;
        ctx->reg = reg;
        if (is_input)
            ctx->fetched = apr_brigade_create(f->r->pool, f->c->bucket_alloc);
        else
            ctx->queue = apr_brigade_create(f->r->pool, f->c->bucket_alloc);
        f->ctx = ctx;
    }
    return ctx;
}

/* directives.md §5.8. The filter leaves the chain, so that the error
 * response httpd makes next can get through. */
static apr_status_t unregistered_filter(ap_filter_t *f, int is_input)
{
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, f->r,
                  "HYDRA0207: python_filter: Could not find registered filter.");
    if (is_input)
        ap_remove_input_filter(f);
    else
        ap_remove_output_filter(f);
    return HTTP_INTERNAL_SERVER_ERROR;
}

/* ------------------------------------------------------------------ */
/* Calling Python                                                     */

/* Everything through unchanged: what a disabled filter does. Output:
 * anything still queued, then the brigade handed in. Input: data fetched
 * and not read, else what f->next gives. No GIL held. */
static apr_status_t pass_through(const hydra_filter_call *call)
{
    apr_status_t rv;

    if (!call->is_input) {
        APR_BRIGADE_CONCAT(call->ctx->queue, call->bb);
        rv = ap_pass_brigade(call->f->next, call->ctx->queue);
        apr_brigade_cleanup(call->ctx->queue);
        return rv;
    }
    APR_BRIGADE_CONCAT(call->bb, call->ctx->fetched);
    if (!APR_BRIGADE_EMPTY(call->bb))
        return APR_SUCCESS;
    return ap_get_brigade(call->f->next, call->bb, call->mode, call->block, call->readbytes);
}

/* Runs the filter's callable with `filter` (python-api.md §1.3): the
 * result is ignored, SERVER_RETURN only sets the request's status, and
 * what was written is flushed unless the filter closed the stream. On an
 * error the filter is disabled (what it did not take passes through) and
 * the error reported like a handler's; after PythonRequestTimeout
 * interrupted it, ctx->timed_out is set instead. GIL held. */
static void run_filter_callable(dispatch_interp *interp, const hydra_filter_call *call,
                                PyObject *req, PyObject *filter, const hydra_config *conf)
{
    const hydra_filter_reg *reg = call->ctx->reg;
    request_rec *r = call->f->r;
    call_settings cs;
    PyObject *callable = NULL, *res = NULL;
    dispatch_watch watch;
    int skip, ignored, fired = 0;

    dispatch_call_settings(conf, &cs);
    if (dispatch_prepare_sys_path(interp, &cs, reg->entry) == 0)
        callable = dispatch_resolve_callable(interp, reg->entry,
                                             call->is_input ? "inputfilter" : "outputfilter",
                                             filter, &cs, &skip);
    if (callable) {
        const char *phase = call->is_input ? "PythonInputFilter" : "PythonOutputFilter";
        dispatch_watch_begin(&watch, interp, conf);
        res = dispatch_call(interp, &cs, callable, filter);
        fired = dispatch_watch_end(&watch, interp, r, NULL, phase, reg->handler);
        Py_DECREF(callable);
        if (!res && PyErr_ExceptionMatches(interp->state->server_return)) {
            /* Sets r->status when it says so; the result is ignored. */
            if (!dispatch_take_server_return(interp, r, &ignored))
                PyErr_Clear();
            res = Py_NewRef(Py_None);
        }
        if (res && !filter_object_closed(filter)) {
            /* Without a FLUSH or EOS nothing would reach the network. */
            PyObject *flushed = PyObject_CallMethod(filter, "flush", NULL);
            Py_XDECREF(flushed);
            if (!flushed)
                Py_CLEAR(res);
        }
    }
    if (!res && PyErr_Occurred() && dispatch_watch_is_timeout(interp, fired)) {
        call->ctx->timed_out = 1;
    } else if (!res && PyErr_Occurred()) {
        PyObject *type, *value, *tb, *disabled;
        PyErr_Fetch(&type, &value, &tb);
        disabled = PyObject_CallMethod(filter, "disable", NULL);
        Py_XDECREF(disabled);
        PyErr_Clear();
        PyErr_Restore(type, value, tb);
        (void)dispatch_report_error(interp, r, req, filter, reg->name, reg->handler, cs.debug);
    }
    Py_XDECREF(res);
}

/* One call of the filter in `interp` (GIL held). Returns the status of the
 * filter's last brigade operation; *closed tells whether the filter ended
 * the stream. */
static apr_status_t call_filter(dispatch_interp *interp, const hydra_filter_call *call,
                                const hydra_config *conf, int *closed)
{
    request_rec *r = call->f->r;
    PyObject *req, *filter;
    apr_status_t status;

    *closed = 0;
    req = reqctx_request_object(r, interp); /* borrowed */
    filter = req ? filter_object_new(interp->state, call, req) : NULL;
    if (!filter) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "HYDRA0208: python_filter: cannot create the filter object in '%s'",
                      interp->name);
        PyErr_Print();
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    run_filter_callable(interp, call, req, filter, conf);
    status = filter_object_status(filter);
    *closed = filter_object_closed(filter);
    filter_object_detach(filter);
    Py_DECREF(filter);
    return status;
}

/* After PythonRequestTimeout interrupted the filter, it drops everything
 * it is given. An output filter whose response has not started yet sends
 * a 504 down instead (the header filter turns it into the error page);
 * otherwise the connection is closed with nothing more sent, as for a
 * handler. An input filter fails the read. No GIL held. */
static apr_status_t timed_out_filter(const hydra_filter_call *call, int first)
{
    request_rec *r = call->f->r;
    conn_rec *c = call->f->c;

    apr_brigade_cleanup(call->bb);
    c->keepalive = AP_CONN_CLOSE;
    if (call->is_input)
        return APR_TIMEUP;
    if (first && !r->sent_bodyct) {
        apr_bucket_brigade *bb = apr_brigade_create(r->pool, c->bucket_alloc);
        APR_BRIGADE_INSERT_TAIL(
            bb, ap_bucket_error_create(HTTP_GATEWAY_TIME_OUT, NULL, r->pool, c->bucket_alloc));
        APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(c->bucket_alloc));
        (void)ap_pass_brigade(call->f->next, bb);
        return AP_FILTER_ERROR;
    }
    if (first)
        c->aborted = 1;
    return AP_FILTER_ERROR;
}

/* One call of a Python filter (interpreters.md §7: request config, the
 * registration's directory). */
static apr_status_t run_filter(const hydra_filter_call *call)
{
    request_rec *r = call->f->r;
    const hydra_config *conf = hydra_dir_config(r);
    dispatch_interp *interp;
    apr_status_t status;
    int closed;

    status = dispatch_enter_request(r, conf, call->ctx->reg->directory, &interp);
    if (status != OK)
        return status;
    status = call_filter(interp, call, conf, &closed);
    dispatch_leave(interp);
    if (call->ctx->timed_out)
        return timed_out_filter(call, 1);

    /* Disabled during this call (on purpose, or by run_filter_callable after an
     * error): what the filter did not take goes through unchanged now. */
    if (call->ctx->transparent && !closed)
        status = pass_through(call);
    return status;
}

apr_status_t filter_output(ap_filter_t *f, apr_bucket_brigade *bb)
{
    hydra_filter_call call = {.f = f, .bb = bb, .mode = AP_MODE_READBYTES, .block = APR_BLOCK_READ};

    if (!f->r) /* a connection-level instance: nothing to run Python for */
        return ap_pass_brigade(f->next, bb);
    call.ctx = instance_ctx(f, 0);
    if (!call.ctx)
        return unregistered_filter(f, 0);
    if (call.ctx->timed_out)
        return timed_out_filter(&call, 0);
    if (call.ctx->transparent)
        return pass_through(&call);
    return run_filter(&call);
}

apr_status_t filter_input(ap_filter_t *f, apr_bucket_brigade *bb, ap_input_mode_t mode,
                          apr_read_type_e block, apr_off_t readbytes)
{
    hydra_filter_call call = {
        .f = f, .bb = bb, .is_input = 1, .mode = mode, .block = block, .readbytes = readbytes};

    /* AP_MODE_INIT asks filters to get ready, not for data. */
    if (!f->r || mode == AP_MODE_INIT)
        return ap_get_brigade(f->next, bb, mode, block, readbytes);
    call.ctx = instance_ctx(f, 1);
    if (!call.ctx)
        return unregistered_filter(f, 1);
    if (call.ctx->timed_out)
        return timed_out_filter(&call, 0);
    if (call.ctx->transparent)
        return pass_through(&call);
    return run_filter(&call);
}
