/*
 * status.c - `SetHandler python-status` (beyond.md §2): the interpreter
 * inventory of the child that answers, as an HTML table or, with `?json`,
 * as JSON (like mod_status's `?auto`).
 *
 * Reads only the registry's C counters: no Python is entered, so the page
 * answers even when every interpreter is busy.
 */
#include "status.h"
#include "interp.h"

#include "apr_atomic.h"
#include "util_script.h"

typedef struct {
    request_rec *r;
    int json;
    int first;
} status_baton;

static const char *kind_name(hydra_interp_kind kind)
{
    switch (kind) {
    case HYDRA_INTERP_MAIN:
        return "main";
    case HYDRA_INTERP_OWN:
        return "own";
    default:
        return "shared";
    }
}

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

static void emit_row(hydra_interp *interp, void *data)
{
    status_baton *b = data;
    request_rec *r = b->r;
    apr_uint32_t requests = apr_atomic_read32(&interp->requests);
    apr_uint32_t active = apr_atomic_read32(&interp->active);
    apr_uint32_t errors = apr_atomic_read32(&interp->errors);
    double created = (double)apr_time_sec(interp->created)
                     + (double)apr_time_usec(interp->created) / 1e6;

    if (b->json) {
        ap_rprintf(r,
                   "%s{\"name\": \"%s\", \"gil\": \"%s\", \"created\": %.6f, \"requests\": %u, "
                   "\"active\": %u, \"errors\": %u}",
                   b->first ? "" : ", ", json_escape(r->pool, interp->name),
                   kind_name(interp->kind), created, requests, active, errors);
    } else {
        char stamp[APR_RFC822_DATE_LEN];
        apr_rfc822_date(stamp, interp->created);
        ap_rprintf(r,
                   "<tr><td>%s</td><td>%s</td><td>%s</td><td>%u</td><td>%u</td><td>%u</td></tr>\n",
                   ap_escape_html(r->pool, interp->name), kind_name(interp->kind), stamp,
                   requests, active, errors);
    }
    b->first = 0;
}

int status_handler(request_rec *r)
{
    status_baton b = {r, 0, 1};

    if (!r->handler || strcmp(r->handler, "python-status") != 0)
        return DECLINED;
    if (r->method_number != M_GET)
        return HTTP_METHOD_NOT_ALLOWED;
    b.json = r->args && strcmp(r->args, "json") == 0;
    if (!interp_system_ready())
        return HTTP_SERVICE_UNAVAILABLE;

    /* Rows are written while the registry lock is held; ap_rprintf only
     * buffers (no network wait until the flush at the end). */
    if (b.json) {
        ap_set_content_type(r, "application/json");
        ap_rprintf(r, "{\"pid\": %" APR_PID_T_FMT ", \"python\": \"%s\", \"interpreters\": [",
                   getpid(), PY_VERSION);
        interp_foreach(emit_row, &b);
        ap_rputs("]}\n", r);
    } else {
        ap_set_content_type(r, "text/html; charset=utf-8");
        ap_rprintf(r,
                   "<!DOCTYPE html>\n<html><head><title>Hydra interpreters</title></head><body>\n"
                   "<h1>Hydra interpreters in process %" APR_PID_T_FMT "</h1>\n"
                   "<p>Python %s</p>\n<table border=\"1\">\n"
                   "<tr><th>name</th><th>gil</th><th>created</th><th>requests</th>"
                   "<th>active</th><th>errors</th></tr>\n",
                   getpid(), PY_VERSION);
        interp_foreach(emit_row, &b);
        ap_rputs("</table>\n</body></html>\n", r);
    }
    return OK;
}
