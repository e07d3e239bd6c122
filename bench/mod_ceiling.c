/* mod_ceiling: the benchmark's ceiling target.
 *
 * Answers "Hello world!" (text/plain, 12 bytes) for `SetHandler ceiling`,
 * the same bytes the Python targets send, with no interpreter at all: the
 * fastest any content handler in this Apache can be. run.py builds it with
 * `apxs -c` into a temporary directory; it is never installed.
 *
 * It flushes, as req.write() does by default: under the event MPM an
 * unflushed small response is finished in the write-completion state, which
 * costs measurably more CPU per request than writing it from the handler. */

#include "httpd.h"
#include "http_config.h"
#include "http_protocol.h"

static const char ceiling_body[] = "Hello world!";

static int ceiling_handler(request_rec *r)
{
    if (!r->handler || strcmp(r->handler, "ceiling") != 0)
        return DECLINED;
    ap_set_content_type(r, "text/plain");
    ap_set_content_length(r, sizeof ceiling_body - 1);
    if (!r->header_only) {
        ap_rwrite(ceiling_body, sizeof ceiling_body - 1, r);
        ap_rflush(r);
    }
    return OK;
}

static void ceiling_register_hooks(apr_pool_t *pool)
{
    ap_hook_handler(ceiling_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

module AP_MODULE_DECLARE_DATA ceiling_module = {
    STANDARD20_MODULE_STUFF,
    NULL, /* per-directory config: none, the handler has no settings */
    NULL,
    NULL, /* per-server config: none */
    NULL,
    NULL, /* directives: none */
    ceiling_register_hooks,
    AP_MODULE_FLAG_NONE,
};
