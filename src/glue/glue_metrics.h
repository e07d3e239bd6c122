/*
 * glue_metrics.h - the server-wide metrics segment's lifetime (made per
 * generation in post_config, attached in child_init) and its Prometheus
 * text; see glue_metrics.c.
 */
#ifndef HYDRA_GLUE_METRICS_H
#define HYDRA_GLUE_METRICS_H

#include "hydra.h"

/* post_config: makes this generation's segment (the previous one goes
 * with the previous pconf). A failure is logged and leaves the server
 * without server-wide metrics; it never stops the start. */
void metrics_post_config(apr_pool_t *pconf, server_rec *s);

/* child_init, before Python starts: claims this child's block. */
void metrics_child_init(apr_pool_t *pchild, server_rec *s);

/* The `?prometheus` view of the status page: every child's rows and the
 * server totals in the text exposition format 0.0.4. */
int metrics_render_prometheus(request_rec *r);

/* "main", "shared", "own", or "other" for the overflow row. */
const char *metrics_kind_name(int kind);

#endif /* HYDRA_GLUE_METRICS_H */
