/*
 * glue_module.c - the Apache module record and hook wiring, nothing else.
 *
 * Directives live in glue_directives.c and glue_config.c, the interpreter
 * core in src/core, the request path in src/dispatch. The module symbol is
 * `python_module` so that existing `LoadModule python_module ...` lines
 * keep working.
 */
#include "hydra.h"
#include "glue/glue_bytecode.h"
#include "glue/glue_directives.h"
#include "glue/glue_metrics.h"
#include "glue/glue_optional_fns.h"
#include "glue/glue_status.h"
#include "dispatch/dispatch.h"
#include "dispatch/dispatch_connection.h"
#include "dispatch/dispatch_filter.h"
#include "dispatch/dispatch_ssi.h"
#include "dispatch/dispatch_watchdog.h"
#include "objects/obj_global_lock.h"
#include "http_connection.h"

server_rec *hydra_main_server;
apr_pool_t *hydra_child_pool;

/* Every configuration read (start, graceful restart) starts from the
 * defaults of the process-wide directives. */
static int hydra_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    hydra_config_reset_settings();
    return OK;
}

/* Made in post_config, read in child_init (dispatch_import.c). */
static apr_hash_t *creation_hints;

/* interpreters.md §10 step 1; Python itself is not started in the parent. */
static int hydra_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    ap_add_version_component(pconf, "mod_python/" HYDRA_MP_VERSION);
    ap_add_version_component(pconf, "Python/" PY_VERSION);
    hydra_config_strip_removed_options(s);
    optional_fns_register();
    /* Startup reads the configuration twice; warn on the second pass only. */
    if (ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_CREATE_PRE_CONFIG)
        hydra_config_warn_own_main(s, ptemp);
    creation_hints = hydra_config_creation_hints(s, pconf);
    bytecode_cache_post_config(pconf, ptemp, s);
    if (global_lock_post_config(pconf, s) != APR_SUCCESS)
        return HTTP_INTERNAL_SERVER_ERROR;
    metrics_post_config(pconf, s);
    return OK;
}

/* DESIGN.md decision 1: Python starts here, in each child. */
static void hydra_child_init(apr_pool_t *pchild, server_rec *s)
{
    hydra_child_pool = pchild;
    hydra_main_server = s;
    ssi_register_python_tag(s); /* interpreters.md §10 step 3 */
    global_lock_child_init(pchild, s);
    /* Before Python: the main interpreter's row is claimed as it starts,
     * and the block is given back after every child-exit callback ran. */
    metrics_child_init(pchild, s);
    /* A failure is logged; every Python invocation then answers 500. */
    if (dispatch_child_init(pchild, s, hydra_optimize, hydra_max_interpreters, hydra_bytecode_cache,
                            creation_hints)
        == APR_SUCCESS)
        bytecode_check_package(pchild, s);
    /* Only when some configuration has a PythonRequestTimeout. */
    dispatch_watchdog_child_init(pchild, s, hydra_request_timeout_min);
}

static int hook_post_read_request(request_rec *r)
{
    return dispatch_post_read_request(r);
}

static int hook_trans(request_rec *r)
{
    return dispatch_phase(r, HYDRA_PHASE_TRANS);
}

static int hook_header_parser(request_rec *r)
{
    return dispatch_header_parser(r);
}

static int hook_access(request_rec *r)
{
    return dispatch_phase(r, HYDRA_PHASE_ACCESS);
}

static int hook_authen(request_rec *r)
{
    return dispatch_phase(r, HYDRA_PHASE_AUTHEN);
}

static int hook_authz(request_rec *r)
{
    return dispatch_phase(r, HYDRA_PHASE_AUTHZ);
}

static int hook_type(request_rec *r)
{
    return dispatch_phase(r, HYDRA_PHASE_TYPE);
}

static int hook_fixup(request_rec *r)
{
    return dispatch_phase(r, HYDRA_PHASE_FIXUP);
}

static int hook_log(request_rec *r)
{
    return dispatch_phase(r, HYDRA_PHASE_LOG);
}

static void hydra_register_hooks(apr_pool_t *p)
{
    ap_hook_pre_config(hydra_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(hydra_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(hydra_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_read_request(hook_post_read_request, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_translate_name(hook_trans, NULL, NULL, APR_HOOK_MIDDLE);
    /* Registered after the PythonTransHandler hook: same order, runs second. */
    ap_hook_translate_name(dispatch_location_skip, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_header_parser(hook_header_parser, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_access_checker(hook_access, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_user_id(hook_authen, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_auth_checker(hook_authz, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_type_checker(hook_type, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_fixups(hook_fixup, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(dispatch_content, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(status_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_log_transaction(hook_log, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_process_connection(connection_handler_run, NULL, NULL, APR_HOOK_MIDDLE);
    filter_register_generic();
}

module AP_MODULE_DECLARE_DATA python_module = {
    STANDARD20_MODULE_STUFF,    hydra_create_dir_config, hydra_merge_config,
    hydra_create_server_config, hydra_merge_config,      hydra_directives,
    hydra_register_hooks,       AP_MODULE_FLAG_NONE,
};
