/*
 * dispatch_handler.c - the phases and handler entries that configuration
 * and req.add_handler() produce: the phase names, parsing "mod[::obj]"
 * once into an entry, and the canonical form of a handler's directory
 * (interpreters.md §4).
 */
#include "dispatch/dispatch_handler.h"
#include "dispatch/dispatch_map.h"

const char *const hydra_phase_names[HYDRA_PHASE_COUNT] = {
    "PythonPostReadRequestHandler",
    "PythonTransHandler",
    "PythonHeaderParserHandler",
    "PythonInitHandler",
    "PythonAccessHandler",
    "PythonAuthenHandler",
    "PythonAuthzHandler",
    "PythonTypeHandler",
    "PythonFixupHandler",
    "PythonHandler",
    "PythonLogHandler",
    "PythonCleanupHandler",
    "PythonConnectionHandler",
};

const char *const hydra_phase_default_callables[HYDRA_PHASE_COUNT] = {
    "postreadrequesthandler", "transhandler",  "headerparserhandler", "inithandler",
    "accesshandler",          "authenhandler", "authzhandler",        "typehandler",
    "fixuphandler",           "handler",       "loghandler",          "cleanuphandler",
    "connectionhandler",
};

hydra_handler *hydra_handler_new(apr_pool_t *p, const char *text, const char *directory,
                                 int is_location, int silent)
{
    hydra_handler *h = apr_pcalloc(p, sizeof(*h));
    const char *sep = strstr(text, "::");

    h->handler = apr_pstrdup(p, text);
    if (sep) {
        h->module_name = apr_pstrmemdup(p, text, sep - text);
        h->object_path = sep[2] ? apr_pstrdup(p, sep + 2) : NULL;
    } else {
        h->module_name = h->handler;
    }
    h->module_hash = dispatch_map_hash(h->module_name);
    h->object_hash = h->object_path ? dispatch_map_hash(h->object_path) : 0;
    h->directory = directory;
    h->directory_hash = directory ? dispatch_map_hash(directory) : 0;
    h->is_location = is_location;
    h->silent = silent;
    return h;
}

const char *hydra_canonical_dir(apr_pool_t *p, const char *dir)
{
    char *path;
    size_t len;

    if (apr_filepath_merge(&path, NULL, dir, APR_FILEPATH_TRUENAME, p) != APR_SUCCESS)
        return dir;
    len = strlen(path);
    if (len == 0 || path[len - 1] != '/')
        path = apr_pstrcat(p, path, "/", NULL);
    return path;
}
