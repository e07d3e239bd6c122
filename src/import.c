/*
 * import.c - PythonImport at child start (interpreters.md §12): the main
 * server's entries, last directive first, each in the interpreter it names.
 * Errors are logged by mod_python.apache's ImportDispatch and do not stop
 * the remaining entries.
 */
#include "import.h"
#include "config.h"
#include "interp.h"

static void run_one(server_rec *s, const hydra_import *imp, int own_gil)
{
    hydra_interp *interp = interp_acquire(imp->interpreter, own_gil, s);
    PyObject *res;

    if (!interp) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                     "directive_PythonImport: error importing %s: no interpreter '%s'",
                     imp->module_spec, imp->interpreter);
        return;
    }
    res = PyObject_CallMethod(interp->callback, "ImportDispatch", "s", imp->module_spec);
    if (!res) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "directive_PythonImport: error importing %s",
                     imp->module_spec);
        PyErr_Print();
    }
    Py_XDECREF(res);
    interp_release(interp);
}

void import_run_all(server_rec *main_server)
{
    const hydra_config *sconf = hydra_server_config(main_server);
    int i;

    if (!sconf->imports)
        return;
    for (i = sconf->imports->nelts - 1; i >= 0; i--)
        run_one(main_server, &APR_ARRAY_IDX(sconf->imports, i, hydra_import),
                sconf->gil == HYDRA_GIL_OWN);
}
