/*
 * dispatch_phase.c - the request hot path: phase -> handler list ->
 * interpreter -> handler calls (dispatch_call.c) -> status chaining, and
 * the entry points the module's hooks call.
 *
 * mod_python 3.5 ran this walk through a Python class on every request;
 * Hydra keeps it in C (DESIGN.md decision 4) and calls into
 * mod_python.apache only for cold work: importing/reloading modules (at
 * most once a second per module), PythonPath and error reports.
 */
#include "dispatch/dispatch.h"
#include "dispatch/dispatch_call.h"
#include "dispatch/dispatch_handler.h"
#include "dispatch/dispatch_interp.h"
#include "dispatch/dispatch_map.h"
#include "dispatch/dispatch_reqctx.h"
#include "dispatch/dispatch_watchdog.h"

#include "apr_fnmatch.h"

/* ------------------------------------------------------------------ */
/* Building the list to run                                           */

/* directives.md §2.3: "." + everything after the first dot of the basename. */
static const char *filename_extension(const char *filename)
{
    const char *base = strrchr(filename, '/');
    const char *dot;

    base = base ? base + 1 : filename;
    dot = strchr(base, '.');
    return dot;
}

/* interpreters.md §4: the directory of a wildcard/regex <Directory> for
 * this request: the shortest matching prefix of r->filename. */
static const char *resolve_pattern_dir(apr_pool_t *p, const hydra_handler *h, const char *filename)
{
    size_t i;

    for (i = 0; filename[i]; i++) {
        char *with_slash, *without;
        int pass;

        if (filename[i] != '/')
            continue;
        with_slash = apr_pstrmemdup(p, filename, i + 1);
        without = i > 0 ? apr_pstrmemdup(p, filename, i) : NULL;
        for (pass = 0; pass < 2; pass++) {
            const char *candidate = pass == 0 ? with_slash : without;
            int match;
            if (!candidate)
                continue;
            if (h->dir_kind == HYDRA_DIR_REGEX)
                match = ap_regexec(h->dir_regex, candidate, 0, NULL, 0) == 0;
            else
                match = apr_fnmatch(h->directory, candidate, APR_FNM_PATHNAME) == APR_SUCCESS;
            if (match)
                return with_slash;
        }
    }
    return h->directory;
}

/* Copies `src` onto the tail `*tail` (request pool), resolving patterns. */
static hydra_handler **copy_entries(request_rec *r, const hydra_handler *src, hydra_handler **tail)
{
    for (; src; src = src->next) {
        hydra_handler *h = apr_pmemdup(r->pool, src, sizeof(*h));
        h->next = NULL;
        if (h->dir_kind != HYDRA_DIR_PLAIN && !h->is_location && r->filename) {
            h->directory = resolve_pattern_dir(r->pool, src, r->filename);
            h->directory_hash = h->directory ? dispatch_map_hash(h->directory) : 0;
        }
        *tail = h;
        tail = &h->next;
    }
    return tail;
}

/* Steps 2-5 of directives.md §3.2. Returns NULL when nothing is to run. */
static hydra_hlist *build_hlist(request_rec *r, const hydra_config *conf, hydra_phase phase,
                                hydra_reqctx *ctx, const char **extension)
{
    const hydra_handler *statics = conf->hlists[phase];
    hydra_handler *dynamic = ctx ? ctx->dynamic[phase] : NULL;
    hydra_hlist *hl;
    hydra_handler **tail;

    *extension = NULL;
    if (r->filename && apr_hash_count(conf->ext_hlists) > 0) {
        const char *ext = filename_extension(r->filename);
        if (ext) {
            const char *key = apr_pstrcat(r->pool, hydra_phase_names[phase], ext, NULL);
            const hydra_handler *by_ext = apr_hash_get(conf->ext_hlists, key, APR_HASH_KEY_STRING);
            if (by_ext) {
                statics = by_ext;
                *extension = ext;
            }
        }
    }
    if (!statics && !dynamic)
        return NULL;

    hl = apr_pcalloc(r->pool, sizeof(*hl));
    tail = copy_entries(r, statics, &hl->head);
    copy_entries(r, dynamic, tail);
    if (ctx)
        ctx->dynamic[phase] = NULL; /* consumed */
    hl->current = hl->head;
    return hl;
}

/* directives.md §4. */
static int phase_continues(hydra_phase phase, int status)
{
    switch (phase) {
    case HYDRA_PHASE_TRANS:
    case HYDRA_PHASE_AUTHEN:
    case HYDRA_PHASE_AUTHZ:
    case HYDRA_PHASE_TYPE:
        return status == DECLINED;
    case HYDRA_PHASE_HANDLER:
    case HYDRA_PHASE_CLEANUP:
        return status == OK;
    default:
        return status == OK || status == DECLINED;
    }
}

/* What a phase answers after PythonRequestTimeout interrupted a handler.
 * The Log and Cleanup phases run after the response: nothing to change. */
static int timeout_result(request_rec *r, hydra_phase phase)
{
    if (phase == HYDRA_PHASE_LOG || phase == HYDRA_PHASE_CLEANUP)
        return OK;
    return dispatch_timeout_response(r);
}

/* Walks the running list (python-api.md §1.2). GIL held. */
static int run_hlist(request_rec *r, hydra_reqctx *ctx, dispatch_interp *di, PyObject *req,
                     hydra_phase phase, const hydra_config *conf)
{
    hydra_hlist *hl = ctx->hlist;
    call_settings cs;
    int result = HTTP_INTERNAL_SERVER_ERROR;

    dispatch_call_settings(conf, &cs);
    while (hl->current) {
        hydra_handler *h = hl->current;
        PyObject *callable = NULL, *ret;
        dispatch_watch watch;
        int skip, fired;

        if (dispatch_prepare_sys_path(di, &cs, h) < 0)
            return dispatch_report_error(di, r, req, NULL, ctx->phase, h->handler, cs.debug);
        callable =
            dispatch_resolve_callable(di, h, hydra_phase_default_callables[phase], req, &cs, &skip);
        if (!callable && !skip)
            return dispatch_report_error(di, r, req, NULL, ctx->phase, h->handler, cs.debug);
        if (skip) {
            if (result == HTTP_INTERNAL_SERVER_ERROR)
                result = DECLINED;
            hl->current = h->next;
            continue;
        }
        dispatch_watch_begin(&watch, di, conf);
        ret = dispatch_call(di, &cs, callable, req);
        fired = dispatch_watch_end(&watch, di, r, NULL, ctx->phase, h->handler);
        Py_DECREF(callable);
        if (ret) {
            if (!PyLong_CheckExact(ret)) {
                PyErr_Format(PyExc_AssertionError,
                             "Handler '%s' returned invalid return code: expected an int, "
                             "got %s",
                             h->handler, Py_TYPE(ret)->tp_name);
                Py_DECREF(ret);
                return dispatch_report_error(di, r, req, NULL, ctx->phase, h->handler, cs.debug);
            }
            result = (int)PyLong_AsLong(ret);
            Py_DECREF(ret);
        } else if (!dispatch_take_server_return(di, r, &result)) {
            if (dispatch_watch_is_timeout(di, fired))
                return timeout_result(r, phase);
            return dispatch_report_error(di, r, req, NULL, ctx->phase, h->handler, cs.debug);
        }
        if (!phase_continues(phase, result))
            break;
        /* Step on from where the list is now, as mod_python's loop calls
         * req.hlist.next(): a handler that called req.hlist.next() itself
         * has moved the list already, so the entry it stepped over is
         * skipped (python-api.md §1.2, §9). */
        if (hl->current)
            hl->current = hl->current->next;
    }
    return result;
}

/* ------------------------------------------------------------------ */
/* Phases                                                             */

/* After the content phase: can any more Python run for this request? Not
 * if no Log or Cleanup handlers are configured or queued, it is a plain
 * top-level request (no redirect or sub-request shares its objects), and
 * no Python filter is configured for it or registered by it (conservative:
 * a configured filter may not be active on this request). */
static int python_done_after_content(request_rec *r, const hydra_reqctx *ctx,
                                     const hydra_config *conf)
{
    if (r->main || r->prev || r->next)
        return 0;
    if (conf->hlists[HYDRA_PHASE_LOG] || conf->hlists[HYDRA_PHASE_CLEANUP]
        || ctx->dynamic[HYDRA_PHASE_LOG] || apr_hash_count(conf->ext_hlists) > 0)
        return 0;
    return apr_hash_count(conf->in_filters) == 0 && apr_hash_count(conf->out_filters) == 0
           && (!ctx->registered_filters || apr_hash_count(ctx->registered_filters) == 0);
}

int dispatch_phase(request_rec *r, hydra_phase phase)
{
    const hydra_config *conf = hydra_dir_config(r);
    hydra_reqctx *ctx = reqctx_get(r, 0);
    const char *extension, *saved_phase;
    hydra_hlist *hl, *saved_hlist;
    dispatch_interp *di;
    PyObject *req;
    int result;

    hl = build_hlist(r, conf, phase, ctx, &extension);
    if (!hl)
        return DECLINED;
    ctx = reqctx_get(r, 1);

    result = dispatch_enter_request(r, conf, hl->head->directory, &di);
    if (result != OK)
        return result;

    req = reqctx_request_object(r, di);
    if (!req) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "HYDRA0220: python_handler: cannot create the request object in '%s'",
                      di->name);
        PyErr_Print();
        dispatch_leave(di);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    /* Nested dispatches (internal redirects use another request_rec, but
     * filters may run inside a phase) must not lose the outer phase. */
    saved_phase = ctx->phase;
    saved_hlist = ctx->hlist;
    ctx->phase = hydra_phase_names[phase];
    ctx->hlist = hl;
    if (extension)
        ctx->extension = extension;

    result = run_hlist(r, ctx, di, req, phase, conf);
    if (phase == HYDRA_PHASE_HANDLER && python_done_after_content(r, ctx, conf))
        reqctx_drop_if_unreferenced(ctx, di);

    ctx->phase = saved_phase;
    ctx->hlist = saved_hlist;
    dispatch_leave(di);

    if (phase == HYDRA_PHASE_AUTHEN) {
        if (result == OK && !r->user) {
            ap_log_rerror(
                APLOG_MARK, APLOG_ERR, 0, r,
                "HYDRA0221: python_handler: After PythonAuthenHandler req.user is NULL. Assign "
                "something to req.user if returning OK to avoid this error.");
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        if (result == HTTP_UNAUTHORIZED)
            ap_note_basic_auth_failure(r);
    }
    return result;
}

int dispatch_content(request_rec *r)
{
    if (!r->handler
        || (strcmp(r->handler, "mod_python") != 0 && strcmp(r->handler, "python-program") != 0))
        return DECLINED;
    return dispatch_phase(r, HYDRA_PHASE_HANDLER);
}

int dispatch_post_read_request(request_rec *r)
{
    const hydra_config *conf = hydra_dir_config(r);
    int rc;

    /* The deviation of directives.md §3.3: note only when an Init list ran. */
    if (conf->hlists[HYDRA_PHASE_INIT]) {
        apr_table_setn(r->notes, "python_init_ran", "1");
        rc = dispatch_phase(r, HYDRA_PHASE_INIT);
        if (rc != OK && rc != DECLINED)
            return rc;
    }
    return dispatch_phase(r, HYDRA_PHASE_POST_READ_REQUEST);
}

int dispatch_header_parser(request_rec *r)
{
    int rc;

    if (!apr_table_get(r->notes, "python_init_ran")) {
        rc = dispatch_phase(r, HYDRA_PHASE_INIT);
        if (rc != OK && rc != DECLINED)
            return rc;
    }
    return dispatch_phase(r, HYDRA_PHASE_HEADER_PARSER);
}

int dispatch_location_skip(request_rec *r)
{
    const hydra_config *conf = hydra_dir_config(r);
    return conf->d_is_location ? OK : DECLINED;
}

void dispatch_cleanup_phase(request_rec *r)
{
    /* Return value ignored, and ReportError never writes for this phase. */
    (void)dispatch_phase(r, HYDRA_PHASE_CLEANUP);
}
