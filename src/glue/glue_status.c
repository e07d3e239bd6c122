/*
 * glue_status.c - `SetHandler python-status` (beyond.md §2, §5): the
 * interpreter inventory of the child that answers, then the server-wide
 * metrics of every child (shared memory, dispatch_metrics.h), as an HTML
 * page or, with `?json`, as JSON (like mod_status's `?auto`); `?prometheus`
 * is glue_metrics.c's.
 *
 * Reads only C counters: no Python is entered, so the page answers even
 * when every interpreter is busy, and it counts in no interpreter.
 */
#include "glue/glue_status.h"
#include "glue/glue_metrics.h"
#include "core/interp.h"
#include "dispatch/dispatch_metrics.h"

#include "apr_atomic.h"
#include "util_script.h"

typedef struct {
    request_rec *r;
    int json;
    int first;
} status_baton;

/* JSON string escaping for interpreter names (any bytes). */
static const char *json_escape(apr_pool_t *p, const char *s)
{
    char *out = apr_palloc(p, strlen(s) * 6 + 1), *o = out;

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c < 0x20) {
            o += sprintf(o, "\\u%04x", c);
        } else {
            *o++ = (char)c;
        }
    }
    *o = '\0';
    return out;
}

static void emit_row(const interp_info *interp, void *data)
{
    status_baton *b = data;
    request_rec *r = b->r;
    apr_uint32_t requests = interp->requests;
    apr_uint32_t active = interp->active;
    apr_uint32_t errors = interp->errors;
    apr_uint32_t timeouts = interp->timeouts;
    double created =
        (double)apr_time_sec(interp->created) + (double)apr_time_usec(interp->created) / 1e6;

    if (b->json) {
        ap_rprintf(
            r,
            "%s{\"name\": \"%s\", \"gil\": \"%s\", \"created\": %.6f, \"requests\": %u, "
            "\"active\": %u, \"errors\": %u, \"timeouts\": %u, \"replica\": %d, \"pool\": %d}",
            b->first ? "" : ", ", json_escape(r->pool, interp->name),
            interp_kind_name(interp->kind), created, requests, active, errors, timeouts,
            interp->replica, interp->pool_size);
    } else {
        char stamp[APR_RFC822_DATE_LEN];
        apr_rfc822_date(stamp, interp->created);
        ap_rprintf(r,
                   "<tr><td>%s</td><td>%s</td><td>%s</td><td>%u</td><td>%u</td><td>%u</td>"
                   "<td>%u</td><td>%d of %d</td></tr>\n",
                   ap_escape_html(r->pool, interp->name), interp_kind_name(interp->kind), stamp,
                   requests, active, errors, timeouts, interp->replica, interp->pool_size);
    }
    b->first = 0;
}

static double seconds(apr_time_t t)
{
    return (double)apr_time_sec(t) + (double)apr_time_usec(t) / 1e6;
}

/* `"server": {...}, "children": [...]` of the server-wide metrics. */
static void emit_server_json(request_rec *r, const metrics_view *v, int have)
{
    int c, i;

    if (!have) {
        ap_rputs(", \"server\": null, \"children\": []", r);
        return;
    }
    ap_rprintf(r,
               ", \"server\": {\"started\": %.6f, \"children\": %d, \"max_children\": %d, "
               "\"rows_per_child\": %d, \"interpreters\": %d, \"requests\": %" APR_UINT64_T_FMT
               ", \"active\": %u, \"errors\": %" APR_UINT64_T_FMT
               ", \"timeouts\": %" APR_UINT64_T_FMT ", \"exited_children\": %" APR_UINT64_T_FMT
               "}, \"children\": [",
               seconds(v->started), v->nchildren, v->max_children, v->rows_per_child,
               v->interpreters, v->requests, v->active, v->errors, v->timeouts, v->exited_children);
    for (c = 0; c < v->nchildren; c++) {
        const metrics_child_view *cv = &v->children[c];
        ap_rprintf(r, "%s{\"pid\": %" APR_PID_T_FMT ", \"started\": %.6f, \"interpreters\": [",
                   c ? ", " : "", cv->pid, seconds(cv->started));
        for (i = 0; i < cv->nrows; i++) {
            const metrics_row_view *row = &cv->rows[i];
            ap_rprintf(r,
                       "%s{\"name\": \"%s\", \"gil\": \"%s\", \"replica\": %d, \"created\": %.6f, "
                       "\"requests\": %" APR_UINT64_T_FMT
                       ", \"active\": %u, \"errors\": %" APR_UINT64_T_FMT
                       ", \"timeouts\": %" APR_UINT64_T_FMT ", \"duration\": %.6f}",
                       i ? ", " : "", json_escape(r->pool, row->name), metrics_kind_name(row->kind),
                       row->replica, seconds(row->created), row->requests, row->active, row->errors,
                       row->timeouts, (double)row->duration_usec / 1e6);
        }
        ap_rputs("]}", r);
    }
    ap_rputs("]", r);
}

/* The totals, then one table per child. */
static void emit_server_html(request_rec *r, const metrics_view *v, int have)
{
    char stamp[APR_RFC822_DATE_LEN];
    int c, i;

    if (!have) {
        ap_rputs("<h2>Server</h2>\n<p>No server-wide metrics (see the error log).</p>\n", r);
        return;
    }
    apr_rfc822_date(stamp, v->started);
    ap_rprintf(r,
               "<h2>Server</h2>\n<p>Counting since %s (the last start or graceful restart).</p>\n"
               "<table border=\"1\">\n"
               "<tr><th>children</th><th>interpreters</th><th>requests</th><th>active</th>"
               "<th>errors</th><th>timeouts</th><th>exited children</th></tr>\n"
               "<tr><td>%d</td><td>%d</td><td>%" APR_UINT64_T_FMT
               "</td><td>%u</td><td>%" APR_UINT64_T_FMT "</td><td>%" APR_UINT64_T_FMT
               "</td><td>%" APR_UINT64_T_FMT "</td></tr>\n</table>\n",
               stamp, v->nchildren, v->interpreters, v->requests, v->active, v->errors, v->timeouts,
               v->exited_children);
    for (c = 0; c < v->nchildren; c++) {
        const metrics_child_view *cv = &v->children[c];
        apr_rfc822_date(stamp, cv->started);
        ap_rprintf(r,
                   "<h3>Child %" APR_PID_T_FMT "</h3>\n<p>Started %s.</p>\n<table border=\"1\">\n"
                   "<tr><th>name</th><th>gil</th><th>replica</th><th>created</th><th>requests</th>"
                   "<th>active</th><th>errors</th><th>timeouts</th></tr>\n",
                   cv->pid, stamp);
        for (i = 0; i < cv->nrows; i++) {
            const metrics_row_view *row = &cv->rows[i];
            apr_rfc822_date(stamp, row->created);
            ap_rprintf(r,
                       "<tr><td>%s</td><td>%s</td><td>%d</td><td>%s</td><td>%" APR_UINT64_T_FMT
                       "</td><td>%u</td><td>%" APR_UINT64_T_FMT "</td><td>%" APR_UINT64_T_FMT
                       "</td></tr>\n",
                       ap_escape_html(r->pool, row->name), metrics_kind_name(row->kind),
                       row->replica, stamp, row->requests, row->active, row->errors, row->timeouts);
        }
        ap_rputs("</table>\n", r);
    }
}

/* `?prometheus`, also as Prometheus sends it from `params:`
 * (`?prometheus=`), possibly among other arguments. */
static int wants_prometheus(const char *args)
{
    static const char word[] = "prometheus";

    for (; args && *args; args = strchr(args, '&') ? strchr(args, '&') + 1 : NULL)
        /* strchr also finds the terminating NUL: the word may end args. */
        if (strncmp(args, word, sizeof(word) - 1) == 0
            && strchr("=&", args[sizeof(word) - 1]) != NULL)
            return 1;
    return 0;
}

int status_handler(request_rec *r)
{
    status_baton b = {r, 0, 1};
    metrics_view v;
    int have;

    if (!r->handler || strcmp(r->handler, "python-status") != 0)
        return DECLINED;
    if (r->method_number != M_GET)
        return HTTP_METHOD_NOT_ALLOWED;
    /* The shared memory needs no Python: it answers even in a child whose
     * Python failed to start. */
    if (wants_prometheus(r->args))
        return metrics_render_prometheus(r);
    b.json = r->args && strcmp(r->args, "json") == 0;
    if (!interp_system_ready())
        return HTTP_SERVICE_UNAVAILABLE;
    have = dispatch_metrics_snapshot(r->pool, &v) == 0;

    /* Rows are written while the registry lock is held; ap_rprintf only
     * buffers (no network wait until the flush at the end). */
    if (b.json) {
        ap_set_content_type(r, "application/json");
        ap_rprintf(r, "{\"pid\": %" APR_PID_T_FMT ", \"python\": \"%s\", \"interpreters\": [",
                   getpid(), PY_VERSION);
        interp_foreach(emit_row, &b);
        ap_rputs("]", r);
        emit_server_json(r, &v, have);
        ap_rputs("}\n", r);
    } else {
        ap_set_content_type(r, "text/html; charset=utf-8");
        ap_rprintf(r,
                   "<!DOCTYPE html>\n<html><head><title>Hydra interpreters</title></head><body>\n"
                   "<h1>Hydra interpreters in process %" APR_PID_T_FMT "</h1>\n"
                   "<p>Python %s</p>\n<table border=\"1\">\n"
                   "<tr><th>name</th><th>gil</th><th>created</th><th>requests</th>"
                   "<th>active</th><th>errors</th><th>timeouts</th><th>replica</th></tr>\n",
                   getpid(), PY_VERSION);
        interp_foreach(emit_row, &b);
        ap_rputs("</table>\n", r);
        emit_server_html(r, &v, have);
        ap_rputs("</body></html>\n", r);
    }
    return OK;
}
