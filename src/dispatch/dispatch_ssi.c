/*
 * dispatch_ssi.c - the `#python` tag of server-side includes (python-api.md §1.6):
 * registering the tag with mod_include, checking its attribute, naming and
 * acquiring the interpreter (interpreters.md §7), and running the code
 * through mod_python.apache's CallBack.IncludeDispatch with an mp_filter
 * in SSI mode, whose output goes into the brigade mod_include is building
 * so that it lands exactly where the tag was.
 *
 * mod_include is optional and reached only through its optional functions.
 * This file never touches mod_include's private context (f->ctx): a tag
 * that fails is replaced by mod_include's own error text, and that is all.
 * Nothing here blocks with a GIL held.
 */
#include "dispatch/dispatch_ssi.h"
#include "dispatch/dispatch_interp.h"
#include "dispatch/dispatch_metrics.h"
#include "dispatch/dispatch_reqctx.h"
#include "objects/obj_filter.h"
#include "objects/objects.h"
#include "mod_include.h"

typedef APR_OPTIONAL_FN_TYPE(ap_ssi_get_tag_and_value) get_tag_and_value_fn;
typedef APR_OPTIONAL_FN_TYPE(ap_register_include_handler) register_include_handler_fn;

/* Set once in child_init, before the worker threads start; read only. */
static get_tag_and_value_fn *ssi_get_tag_and_value;

/* The one attribute of a tag: "eval" or "exec", and the code. */
typedef struct python_tag {
    const char *kind;
    const char *code;
} python_tag;

/* ------------------------------------------------------------------ */
/* The attribute                                                      */

/* Reads the tag's attributes into `tag`: exactly one, named eval or exec,
 * with a non-empty value. Returns NULL if so, else what is wrong, for the
 * log (allocated from mod_include's per-tag pool). */
static const char *read_python_tag(include_ctx_t *ctx, python_tag *tag)
{
    char *name, *value;

    tag->kind = tag->code = NULL;
    for (;;) {
        ssi_get_tag_and_value(ctx, &name, &value, SSI_VALUE_DECODED);
        if (!name)
            break;
        if (strcmp(name, "eval") != 0 && strcmp(name, "exec") != 0)
            return apr_psprintf(ctx->dpool, "unknown attribute \"%s\"", name);
        if (tag->kind)
            return "more than one eval or exec attribute";
        if (!value || !*value)
            return apr_psprintf(ctx->dpool, "empty value for attribute \"%s\"", name);
        tag->kind = name;
        tag->code = value;
    }
    return tag->kind ? NULL : "missing eval or exec attribute";
}

/* ------------------------------------------------------------------ */
/* Calling Python                                                     */

/* CallBack.IncludeDispatch(filter, kind, code) in `interp` (GIL held).
 * Returns OK, or HTTP_INTERNAL_SERVER_ERROR when the tag failed; an error
 * of the tag's code has then been logged by IncludeDispatch
 * (python-api.md §1.5, with debug off, so no traceback reaches the page). */
static int call_include_dispatch(dispatch_interp *interp, ap_filter_t *f, apr_bucket_brigade *bb,
                                 const python_tag *tag)
{
    hydra_filter_call call = {.f = f, .bb = bb, .is_ssi = 1};
    request_rec *r = f->r;
    PyObject *req, *filter, *code, *res = NULL;
    int status = HTTP_INTERNAL_SERVER_ERROR;

    req = reqctx_request_object(r, interp); /* borrowed */
    filter = req ? filter_object_new(interp->state, &call, req) : NULL;
    if (!filter) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "HYDRA0223: python_ssi: cannot create the filter object in '%s'",
                      interp->name);
        PyErr_Print();
        return status;
    }
    code = hydra_str_from_apache(tag->code);
    if (code)
        res = PyObject_CallMethod(interp->callback, "IncludeDispatch", "OsO", filter, tag->kind,
                                  code);
    if (res && PyLong_Check(res)) {
        long value = PyLong_AsLong(res);
        if (value == -1 && PyErr_Occurred())
            PyErr_Clear(); /* out of range: not OK, so a failure */
        else
            status = value == OK ? OK : HTTP_INTERNAL_SERVER_ERROR;
    } else {
        /* IncludeDispatch reports errors of the tag's code itself; this is
         * its own failure. */
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "HYDRA0224: python_ssi: IncludeDispatch failed in interpreter '%s' for %s",
                      interp->name, r->filename);
        if (PyErr_Occurred())
            PyErr_Print();
    }
    if (status != OK) {
        interp_count_error(interp->core);
        dispatch_metrics_count_error(interp->metrics);
    }
    Py_XDECREF(res);
    Py_XDECREF(code);
    filter_object_detach(filter);
    Py_DECREF(filter);
    return status;
}

/* Runs one tag (interpreters.md §7: the request's per-directory config;
 * no handler list and no filter registration, so PythonInterpPerDirective
 * names the main interpreter). Returns OK or a failure status. */
static int run_python_tag(ap_filter_t *f, apr_bucket_brigade *bb, const python_tag *tag)
{
    request_rec *r = f->r;
    const hydra_config *conf = hydra_dir_config(r);
    dispatch_interp *interp;
    int status = dispatch_enter_request(r, conf, NULL, &interp);

    if (status != OK)
        return status; /* the reason has been logged */
    status = call_include_dispatch(interp, f, bb, tag);
    dispatch_leave(interp);
    return status;
}

/* Deletes every bucket of `bb` after `mark` (the sentinel: all of them). */
static void discard_after(apr_bucket_brigade *bb, apr_bucket *mark)
{
    while (APR_BUCKET_NEXT(mark) != APR_BRIGADE_SENTINEL(bb))
        apr_bucket_delete(APR_BUCKET_NEXT(mark));
}

/* ------------------------------------------------------------------ */
/* The tag handler                                                    */

/* mod_include's handler for <!--#python ... -->. `bb` holds what
 * mod_include has produced so far and not yet passed on; whatever is
 * appended here follows it. Always APR_SUCCESS: any other value would
 * make mod_include abandon the whole document. */
static apr_status_t handle_python_tag(include_ctx_t *ctx, ap_filter_t *f, apr_bucket_brigade *bb)
{
    request_rec *r = f->r;
    python_tag tag;
    const char *problem;
    apr_bucket *mark;

    if (!(ctx->flags & SSI_FLAG_PRINTING)) /* inside a false #if branch */
        return APR_SUCCESS;
    if (ctx->flags & SSI_FLAG_NO_EXEC) { /* Options IncludesNOEXEC */
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "HYDRA0225: #python used but not allowed in %s",
                      r->filename);
        SSI_CREATE_ERROR_BUCKET(ctx, f, bb);
        return APR_SUCCESS;
    }
    problem = read_python_tag(ctx, &tag);
    if (problem) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "HYDRA0226: #python: %s in %s", problem,
                      r->filename);
        SSI_CREATE_ERROR_BUCKET(ctx, f, bb);
        return APR_SUCCESS;
    }
    mark = APR_BRIGADE_LAST(bb); /* the sentinel when bb is empty */
    if (run_python_tag(f, bb, &tag) != OK) {
        /* The whole tag is replaced by the error text, so what the code
         * wrote before it failed goes. */
        discard_after(bb, mark);
        SSI_CREATE_ERROR_BUCKET(ctx, f, bb);
    }
    return APR_SUCCESS;
}

/* ------------------------------------------------------------------ */
/* Registration                                                       */

int ssi_register_python_tag(server_rec *s)
{
    static char tag_name[] = "python"; /* the register function takes char * */
    register_include_handler_fn *register_handler =
        APR_RETRIEVE_OPTIONAL_FN(ap_register_include_handler);
    get_tag_and_value_fn *get_tag_and_value = APR_RETRIEVE_OPTIONAL_FN(ap_ssi_get_tag_and_value);

    if (!register_handler || !get_tag_and_value) {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s,
                     "HYDRA0227: python_ssi: mod_include is not loaded; no #python tag");
        return 0;
    }
    ssi_get_tag_and_value = get_tag_and_value;
    register_handler(tag_name, handle_python_tag);
    return 1;
}
