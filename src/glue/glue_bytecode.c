/*
 * glue_bytecode.c - where compiled modules go, and a warning when they
 * cannot.
 *
 * CPython writes a module's bytecode into a __pycache__ folder next to its
 * source. Apache's children run as an unprivileged user who often cannot
 * write there (a package installed by root, a source tree), and then every
 * new interpreter compiles the same sources again: for the mod_python
 * package that is about a third more memory per interpreter.
 * PythonBytecodeCache gives CPython a folder the children can write
 * (pycache_prefix); this file resolves it and creates it in the parent,
 * and warns at child start when the package has no usable bytecode.
 */
#include "glue/glue_bytecode.h"

#include <errno.h>
#include <unistd.h>
#include "glue/glue_directives.h"
#include "dispatch/dispatch_bytecode.h"
#include "unixd.h"

const char *hydra_bytecode_cache;

#define CACHE_PERMS                                                                                \
    (APR_FPROT_UREAD | APR_FPROT_UWRITE | APR_FPROT_UEXECUTE | APR_FPROT_GREAD                     \
     | APR_FPROT_GEXECUTE | APR_FPROT_WREAD | APR_FPROT_WEXECUTE)

void bytecode_cache_post_config(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s)
{
    const char *arg = hydra_bytecode_cache_arg;
    const char *dir;
    apr_finfo_t fi;
    apr_status_t rv;

    hydra_bytecode_cache = NULL;
    /* Start-up reads the configuration twice and starts children only
     * after the second pass: make the folder (and warn) once. */
    if (!arg || ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG)
        return;
    dir = ap_runtime_dir_relative(pconf, strcmp(arg, "On") == 0 ? "hydra-pycache" : arg);
    if (!dir) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     "HYDRA0430: PythonBytecodeCache %s: not a valid path; not used", arg);
        return;
    }
    rv = apr_stat(&fi, dir, APR_FINFO_TYPE, ptemp);
    if (rv == APR_SUCCESS && fi.filetype != APR_DIR) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     "HYDRA0430: PythonBytecodeCache %s: not a directory; not used", dir);
        return;
    }
    if (rv != APR_SUCCESS) {
        rv = apr_dir_make_recursive(dir, CACHE_PERMS, ptemp);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s,
                         "HYDRA0430: PythonBytecodeCache %s: cannot create it; not used", dir);
            return;
        }
        /* Only a folder made here is given to the child user: an existing
         * one keeps the owner the administrator chose. */
        if (geteuid() == 0 && chown(dir, ap_unixd_config.user_id, ap_unixd_config.group_id) != 0)
            ap_log_error(APLOG_MARK, APLOG_WARNING, errno, s,
                         "HYDRA0430: PythonBytecodeCache %s: cannot give it to the child user",
                         dir);
    }
    hydra_bytecode_cache = dir;
}

void bytecode_check_package(apr_pool_t *pchild, server_rec *s)
{
    package_bytecode found;

    if (dispatch_package_bytecode(s, pchild, &found) != 0 || found.without == 0)
        return;
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                 "HYDRA0431: the mod_python package in %s has no valid bytecode for Python "
                 "%d.%d%s (%d of its %d loaded modules, e.g. %s), so every new interpreter "
                 "compiles it again (about 0.3 MiB and 5 ms more each): byte-compile it "
                 "(python%d.%d -m compileall%s %s) or set PythonBytecodeCache On",
                 found.package_dir ? found.package_dir : "?", PY_MAJOR_VERSION, PY_MINOR_VERSION,
                 hydra_optimize ? " at optimisation level 2" : "", found.without, found.modules,
                 found.example, PY_MAJOR_VERSION, PY_MINOR_VERSION, hydra_optimize ? " -o 2" : "",
                 found.package_dir ? found.package_dir : "DIR");
}
