/*
 * dispatch_import.c - PythonImport (interpreters.md §12): at child start the
 * main server's entries, last directive first, each in the interpreter it
 * names; and the same entries again in every new replica of a pool
 * (beyond.md §3), before the replica serves anything. Errors are logged by
 * mod_python.apache's ImportDispatch and do not stop the remaining entries.
 */
#include "dispatch/dispatch_import.h"
#include "dispatch/dispatch_interp.h"

/* Runs one entry in `di`, whose GIL the caller holds. */
static void run_in(server_rec *s, const hydra_import *imp, dispatch_interp *di)
{
    PyObject *res = PyObject_CallMethod(di->callback, "ImportDispatch", "s", imp->module_spec);

    if (!res) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                     "HYDRA0210: directive_PythonImport: error importing %s", imp->module_spec);
        PyErr_Print();
    }
    Py_XDECREF(res);
}

/* The configuration an entry's interpreter is created with: the main
 * server's, with the pool and virtualenv that the sections running in that
 * name ask for (creation_hints), so that PythonImport, which comes first,
 * does not fix a pooled name to a single interpreter or to the wrong
 * virtualenv. */
static const hydra_config *config_for(server_rec *main_server, apr_hash_t *hints, const char *name,
                                      hydra_config *scratch)
{
    const hydra_config *sconf = hydra_server_config(main_server);
    const hydra_config *hint = hints ? apr_hash_get(hints, name, APR_HASH_KEY_STRING) : NULL;

    if (!hint)
        return sconf;
    *scratch = *sconf;
    if (hint->pool_size != HYDRA_UNSET) {
        scratch->pool_size = hint->pool_size;
        scratch->pool_concurrency = hint->pool_concurrency;
    }
    if (hint->virtualenv)
        scratch->virtualenv = hint->virtualenv;
    return scratch;
}

static void run_one(server_rec *s, apr_hash_t *hints, const hydra_import *imp)
{
    dispatch_interp *interp;
    hydra_config scratch;

    if (dispatch_enter_config(imp->interpreter, config_for(s, hints, imp->interpreter, &scratch), s,
                              &interp)
        != OK) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                     "HYDRA0209: directive_PythonImport: error importing %s: no interpreter '%s'",
                     imp->module_spec, imp->interpreter);
        return;
    }
    run_in(s, imp, interp);
    dispatch_leave(interp);
}

void import_run_all(server_rec *main_server, apr_hash_t *creation_hints)
{
    const hydra_config *sconf = hydra_server_config(main_server);
    int i;

    if (!sconf->imports)
        return;
    for (i = sconf->imports->nelts - 1; i >= 0; i--)
        run_one(main_server, creation_hints, &APR_ARRAY_IDX(sconf->imports, i, hydra_import));
}

void import_run_in_replica(server_rec *main_server, dispatch_interp *di)
{
    const hydra_config *sconf = hydra_server_config(main_server);
    int i;

    if (!sconf->imports)
        return;
    for (i = sconf->imports->nelts - 1; i >= 0; i--) {
        const hydra_import *imp = &APR_ARRAY_IDX(sconf->imports, i, hydra_import);
        if (strcmp(imp->interpreter, di->name) != 0)
            continue;
        if (dispatch_enter_this(di, main_server) != OK)
            return; /* logged */
        run_in(main_server, imp, di);
        dispatch_leave(di);
    }
}
