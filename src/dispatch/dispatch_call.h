/*
 * dispatch_call.h - calling one handler entry in an interpreter
 * (python-api.md §1.2 steps 3-6): sys.path, the cached module, the
 * callable, the call, SERVER_RETURN and the error report. Used by the
 * phase walk (dispatch_phase.c). GIL of `di` held throughout.
 */
#ifndef HYDRA_DISPATCH_CALL_H
#define HYDRA_DISPATCH_CALL_H

#include "hydra.h"
#include "dispatch/dispatch_interp.h"

/* What the directives in effect say about calling handlers, read once per
 * phase from the typed record. */
typedef struct call_settings {
    int debug;      /* PythonDebug */
    int autoreload; /* PythonAutoReload */
    int pdb;        /* PythonEnablePdb On and httpd started with -DONE_PROCESS */
    const char *pythonpath;
    unsigned pythonpath_hash;
} call_settings;

void dispatch_call_settings(const hydra_config *conf, call_settings *cs);

/* directives.md §5.11, §6.2: applies PythonPath once per distinct string,
 * or puts the entry's directory in front of sys.path. 0, or -1 with an
 * exception. */
int dispatch_prepare_sys_path(dispatch_interp *di, const call_settings *cs, const hydra_handler *h);

/* The callable of `h` (new reference), `default_object` when the entry
 * names none (the phase's, or "inputfilter"/"outputfilter"); or NULL:
 * with an exception, or with *skip set when a silent entry has no such
 * object. `arg` is what a class on a dotted path is instantiated with. */
PyObject *dispatch_resolve_callable(dispatch_interp *di, const hydra_handler *h,
                                    const char *default_object, PyObject *arg,
                                    const call_settings *cs, int *skip);

/* Calls `callable(req)`, under pdb when cs->pdb. New reference or NULL. */
PyObject *dispatch_call(dispatch_interp *di, const call_settings *cs, PyObject *callable,
                        PyObject *req);

/* Turns a raised SERVER_RETURN into a status (python-api.md §1.1): 1 when
 * it was one (exception cleared, *status set, r->status set from a true
 * second argument; SERVER_RETURN((status, http)) is read the same way),
 * 0 otherwise (exception left set). */
int dispatch_take_server_return(dispatch_interp *di, request_rec *r, int *status);

/* python-api.md §1.5: logs the failure and lets CallBack.ReportError show
 * it; consumes the current exception and returns the status to answer.
 * `filter` is the mp_filter of a failed filter call, else NULL; handler
 * failures (not filter ones) count as errors in the inventory. */
int dispatch_report_error(dispatch_interp *di, request_rec *r, PyObject *req, PyObject *filter,
                          const char *phase, const char *handler, int debug);

#endif /* HYDRA_DISPATCH_CALL_H */
