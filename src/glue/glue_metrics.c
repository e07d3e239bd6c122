/*
 * glue_metrics.c - the server-wide metrics in Apache's life cycle: an
 * anonymous APR shared-memory segment made in post_config (so every
 * generation, i.e. every graceful restart, starts with fresh counters and
 * the previous segment is destroyed with the previous pconf), inherited by
 * the children through fork() and attached in child_init; and the
 * `?prometheus` view of the status page.
 *
 * The layout, the claiming and the counting are dispatch_metrics.c's; this
 * file only sizes the segment from the MPM's limits and renders it. It
 * enters no Python.
 */
#include "glue/glue_metrics.h"
#include "core/interp.h"
#include "dispatch/dispatch_metrics.h"

#include "apr_shm.h"

/* This generation's segment, set in the parent before the children are
 * forked; NULL when none could be made. */
static void *metrics_base;

void metrics_post_config(apr_pool_t *pconf, server_rec *s)
{
    apr_shm_t *shm;
    apr_status_t rv;
    int limit = 0;

    metrics_base = NULL;
    /* ServerLimit: no generation has more children than that at once. */
    if (ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &limit) != APR_SUCCESS || limit < 1)
        limit = 1;
    /* Anonymous: nothing in the file system, gone with the last process
     * that maps it; apr_shm_create ties its destruction to pconf. A new
     * mapping is zero-filled, which is the empty layout. */
    rv = apr_shm_create(&shm, dispatch_metrics_size(limit), NULL, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s,
                     "HYDRA0403: cannot create the shared memory of the server-wide metrics (%d "
                     "children); the status page shows only the answering child",
                     limit);
        return;
    }
    metrics_base = dispatch_metrics_format(apr_shm_baseaddr_get(shm), limit);
}

void metrics_child_init(apr_pool_t *pchild, server_rec *s)
{
    if (metrics_base)
        dispatch_metrics_attach(metrics_base, pchild, s);
}

const char *metrics_kind_name(int kind)
{
    return kind < 0 ? "other" : interp_kind_name((hydra_interp_kind)kind);
}

/* ------------------------------------------------------------------ */
/* Prometheus text exposition format 0.0.4                            */

/* A label value: backslash, double quote and line feed are escaped. */
static const char *label_escape(apr_pool_t *p, const char *s)
{
    char *out = apr_palloc(p, strlen(s) * 2 + 1), *o = out;

    for (; *s; s++) {
        if (*s == '\\' || *s == '"') {
            *o++ = '\\';
            *o++ = *s;
        } else if (*s == '\n') {
            *o++ = '\\';
            *o++ = 'n';
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
    return out;
}

static double seconds(apr_time_t t)
{
    return (double)apr_time_sec(t) + (double)apr_time_usec(t) / 1e6;
}

static void family(request_rec *r, const char *name, const char *type, const char *help)
{
    ap_rprintf(r, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

typedef enum {
    ROW_REQUESTS,
    ROW_ACTIVE,
    ROW_ERRORS,
    ROW_TIMEOUTS,
    ROW_CREATED,
    ROW_DURATION
} row_metric;

/* One family over every row of every live child. */
static void row_family(request_rec *r, const metrics_view *v, const char **labels, row_metric what)
{
    int c, i, k, n = 0;

    for (c = 0; c < v->nchildren; c++) {
        const metrics_child_view *cv = &v->children[c];
        for (i = 0; i < cv->nrows; i++, n++) {
            const metrics_row_view *row = &cv->rows[i];
            const char *l = labels[n];
            switch (what) {
            case ROW_REQUESTS:
                ap_rprintf(r, "hydra_requests_total{%s} %" APR_UINT64_T_FMT "\n", l, row->requests);
                break;
            case ROW_ACTIVE:
                ap_rprintf(r, "hydra_active_requests{%s} %u\n", l, row->active);
                break;
            case ROW_ERRORS:
                ap_rprintf(r, "hydra_errors_total{%s} %" APR_UINT64_T_FMT "\n", l, row->errors);
                break;
            case ROW_TIMEOUTS:
                ap_rprintf(r, "hydra_timeouts_total{%s} %" APR_UINT64_T_FMT "\n", l, row->timeouts);
                break;
            case ROW_CREATED:
                ap_rprintf(r, "hydra_interpreter_created_seconds{%s,gil=\"%s\"} %.6f\n", l,
                           metrics_kind_name(row->kind), seconds(row->created));
                break;
            case ROW_DURATION:
                for (k = 0; k < HYDRA_METRICS_BUCKETS - 1; k++)
                    ap_rprintf(r,
                               "hydra_request_duration_seconds_bucket{%s,le=\"%g\"} "
                               "%" APR_UINT64_T_FMT "\n",
                               l, (double)hydra_metrics_bucket_usec[k] / 1e6, row->buckets[k]);
                ap_rprintf(r,
                           "hydra_request_duration_seconds_bucket{%s,le=\"+Inf\"} "
                           "%" APR_UINT64_T_FMT "\n"
                           "hydra_request_duration_seconds_sum{%s} %.6f\n"
                           "hydra_request_duration_seconds_count{%s} %" APR_UINT64_T_FMT "\n",
                           l, row->buckets[HYDRA_METRICS_BUCKETS - 1], l,
                           (double)row->duration_usec / 1e6, l,
                           row->buckets[HYDRA_METRICS_BUCKETS - 1]);
                break;
            }
        }
    }
}

/* The label set of every row, in the order row_family walks them. */
static const char **row_labels(apr_pool_t *p, const metrics_view *v)
{
    int c, i, n = 0;
    const char **labels;

    for (c = 0; c < v->nchildren; c++)
        n += v->children[c].nrows;
    labels = apr_palloc(p, (n + 1) * sizeof(*labels));
    n = 0;
    for (c = 0; c < v->nchildren; c++)
        for (i = 0; i < v->children[c].nrows; i++)
            labels[n++] =
                apr_psprintf(p, "pid=\"%" APR_PID_T_FMT "\",interpreter=\"%s\",replica=\"%d\"",
                             v->children[c].pid, label_escape(p, v->children[c].rows[i].name),
                             v->children[c].rows[i].replica);
    return labels;
}

int metrics_render_prometheus(request_rec *r)
{
    metrics_view v;
    const char **labels;
    int c;

    if (dispatch_metrics_snapshot(r->pool, &v) != 0)
        return HTTP_SERVICE_UNAVAILABLE; /* HYDRA0403 said why at start */
    labels = row_labels(r->pool, &v);
    ap_set_content_type(r, "text/plain; version=0.0.4; charset=utf-8");

    family(r, "hydra_children", "gauge", "Child processes of the server counted now.");
    ap_rprintf(r, "hydra_children %d\n", v.nchildren);
    family(r, "hydra_children_limit", "gauge",
           "Child processes the metrics have room for (ServerLimit).");
    ap_rprintf(r, "hydra_children_limit %d\n", v.max_children);
    family(r, "hydra_interpreter_rows_limit", "gauge",
           "Interpreter rows per child; later interpreters share the row \"(other)\".");
    ap_rprintf(r, "hydra_interpreter_rows_limit %d\n", v.rows_per_child);
    family(r, "hydra_interpreters", "gauge", "Interpreters (and replicas) of the live children.");
    ap_rprintf(r, "hydra_interpreters %d\n", v.interpreters);
    family(r, "hydra_server_requests_total", "counter",
           "Python invocations since the last (graceful) restart, children that exited included.");
    ap_rprintf(r, "hydra_server_requests_total %" APR_UINT64_T_FMT "\n", v.requests);
    family(r, "hydra_server_errors_total", "counter",
           "Handler errors since the last (graceful) restart, children that exited included.");
    ap_rprintf(r, "hydra_server_errors_total %" APR_UINT64_T_FMT "\n", v.errors);
    family(r, "hydra_server_timeouts_total", "counter",
           "Invocations stopped by PythonRequestTimeout since the last (graceful) restart.");
    ap_rprintf(r, "hydra_server_timeouts_total %" APR_UINT64_T_FMT "\n", v.timeouts);
    family(r, "hydra_server_active_requests", "gauge", "Python invocations running now.");
    ap_rprintf(r, "hydra_server_active_requests %u\n", v.active);
    family(r, "hydra_exited_children_total", "counter",
           "Child processes that exited since the last (graceful) restart.");
    ap_rprintf(r, "hydra_exited_children_total %" APR_UINT64_T_FMT "\n", v.exited_children);
    family(r, "hydra_start_time_seconds", "gauge",
           "When the counters started: the last start or graceful restart (Unix time).");
    ap_rprintf(r, "hydra_start_time_seconds %.6f\n", seconds(v.started));
    family(r, "hydra_child_start_time_seconds", "gauge", "When each child started (Unix time).");
    for (c = 0; c < v.nchildren; c++)
        ap_rprintf(r, "hydra_child_start_time_seconds{pid=\"%" APR_PID_T_FMT "\"} %.6f\n",
                   v.children[c].pid, seconds(v.children[c].started));

    family(r, "hydra_interpreter_created_seconds", "gauge",
           "When the interpreter was created (Unix time); gil is main, shared, own or other.");
    row_family(r, &v, labels, ROW_CREATED);
    family(r, "hydra_requests_total", "counter",
           "Python invocations that entered the interpreter.");
    row_family(r, &v, labels, ROW_REQUESTS);
    family(r, "hydra_active_requests", "gauge", "Python invocations inside the interpreter now.");
    row_family(r, &v, labels, ROW_ACTIVE);
    family(r, "hydra_errors_total", "counter", "Handler errors in the interpreter.");
    row_family(r, &v, labels, ROW_ERRORS);
    family(r, "hydra_timeouts_total", "counter",
           "Invocations in the interpreter stopped by PythonRequestTimeout.");
    row_family(r, &v, labels, ROW_TIMEOUTS);
    family(r, "hydra_request_duration_seconds", "histogram",
           "Time of finished invocations inside the interpreter.");
    row_family(r, &v, labels, ROW_DURATION);
    return OK;
}
