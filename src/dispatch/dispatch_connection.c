/*
 * dispatch_connection.c - PythonConnectionHandler (directives.md §7,
 * python-api.md §1.4): at process_connection, name and acquire the
 * interpreter from the config of c->base_server, and hand an mp_conn to
 * mod_python.apache's CallBack.ConnectionDispatch, which runs the first
 * handler of the list.
 *
 * Rare and per connection, not per request: the Python side does the
 * import/resolve/call and the error report; this file only decides
 * whether Python is involved at all and where.
 */
#include "dispatch/dispatch_connection.h"
#include "dispatch/dispatch_interp.h"
#include "dispatch/dispatch_watchdog.h"
#include "objects/objects.h"

/* CallBack.ConnectionDispatch(conn) in `interp` (GIL held). */
static int call_connection_dispatch(dispatch_interp *interp, conn_rec *c, hydra_hlist *hl,
                                    const hydra_config *sconf)
{
    PyObject *conn, *res = NULL;
    int status = HTTP_INTERNAL_SERVER_ERROR, fired = 0;
    dispatch_watch watch;

    conn = connection_object_new(interp->state, c);
    if (conn && connection_object_set_hlist(interp->state, conn, hl) == 0) {
        dispatch_watch_begin(&watch, interp, sconf);
        res = PyObject_CallMethod(interp->callback, "ConnectionDispatch", "O", conn);
        fired = dispatch_watch_end(&watch, interp, NULL, c, "PythonConnectionHandler",
                                   hl->head->handler);
    }
    if (res && PyLong_Check(res)) {
        status = (int)PyLong_AsLong(res);
    } else if (!res && PyErr_Occurred() && dispatch_watch_is_timeout(interp, fired)) {
        /* ConnectionDispatch lets RequestTimeout through: the connection
         * is done, and nothing more may be written on it. */
        c->keepalive = AP_CONN_CLOSE;
        c->aborted = 1;
        status = OK;
    } else {
        /* ConnectionDispatch reports handler errors itself and returns
         * an int; getting here means Hydra's own machinery failed. */
        ap_log_cerror(
            APLOG_MARK, APLOG_ERR, 0, c,
            "HYDRA0206: python_connection: ConnectionDispatch failed in interpreter '%s' for %s",
            interp->name, hl->head->handler);
        if (PyErr_Occurred())
            PyErr_Print();
    }
    Py_XDECREF(res);
    Py_XDECREF(conn);
    return status;
}

int connection_handler_run(conn_rec *c)
{
    const hydra_config *sconf = hydra_server_config(c->base_server);
    hydra_handler *head = sconf->hlists[HYDRA_PHASE_CONNECTION];
    dispatch_interp *interp;
    hydra_hlist *hl;
    int status;

    if (!head)
        return DECLINED;
    status = dispatch_enter_connection(c, sconf, &interp);
    if (status != OK)
        return status;

    /* The whole list is visible as conn.hlist; only its head runs. */
    hl = apr_pcalloc(c->pool, sizeof(*hl));
    hl->head = hl->current = head;
    status = call_connection_dispatch(interp, c, hl, sconf);
    dispatch_leave(interp);
    return status;
}
