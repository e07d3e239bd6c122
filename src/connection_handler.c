/*
 * connection_handler.c - PythonConnectionHandler (directives.md §7,
 * python-api.md §1.4): at process_connection, name and acquire the
 * interpreter from the config of c->base_server, and hand an mp_conn to
 * mod_python.apache's CallBack.ConnectionDispatch, which runs the first
 * handler of the list.
 *
 * Rare and per connection, not per request: the Python side does the
 * import/resolve/call and the error report; this file only decides
 * whether Python is involved at all and where.
 */
#include "connection_handler.h"
#include "config.h"
#include "interp.h"
#include "naming.h"
#include "reqctx.h"
#include "objects/objects.h"

static int flag_on(const hydra_config *conf, const char *directive)
{
    const char *v = apr_table_get(conf->directives, directive);
    return v && strcmp(v, "1") == 0;
}

/* interpreters.md §3 and §7 for a connection: no request, so
 * PerDirectory yields the main interpreter, PerDirective has no
 * directory (handlers outside sections have none), and the default is
 * the base server's name. */
static const char *connection_interpreter_name(conn_rec *c, const hydra_config *sconf)
{
    naming_input in = {0};

    in.interpreter = apr_table_get(sconf->directives, "PythonInterpreter");
    in.per_directory = flag_on(sconf, "PythonInterpPerDirectory");
    in.per_directive = flag_on(sconf, "PythonInterpPerDirective");
    in.filename = NULL;
    in.handler_dir = NULL;
    in.server_name = c->base_server->server_hostname;
    return naming_resolve(c->pool, &in);
}

/* CallBack.ConnectionDispatch(conn) in `interp` (GIL held). */
static int call_connection_dispatch(hydra_interp *interp, conn_rec *c, hydra_hlist *hl)
{
    PyObject *conn, *res = NULL;
    int status = HTTP_INTERNAL_SERVER_ERROR;

    conn = connection_object_new(interp->state, c);
    if (conn && connection_object_set_hlist(interp->state, conn, hl) == 0)
        res = PyObject_CallMethod(interp->callback, "ConnectionDispatch", "O", conn);
    if (res && PyLong_Check(res)) {
        status = (int)PyLong_AsLong(res);
    } else {
        /* ConnectionDispatch reports handler errors itself and returns
         * an int; getting here means Hydra's own machinery failed. */
        ap_log_cerror(APLOG_MARK, APLOG_ERR, 0, c,
                      "python_connection: ConnectionDispatch failed in interpreter '%s' for %s",
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
    hydra_interp *interp;
    hydra_hlist *hl;
    int status;

    if (!head)
        return DECLINED;
    interp = interp_acquire(connection_interpreter_name(c, sconf), sconf->gil == HYDRA_GIL_OWN,
                            c->base_server);
    if (!interp)
        return HTTP_INTERNAL_SERVER_ERROR;

    /* The whole list is visible as conn.hlist; only its head runs. */
    hl = apr_pcalloc(c->pool, sizeof(*hl));
    hl->head = hl->current = head;
    status = call_connection_dispatch(interp, c, hl);
    interp_release(interp);
    return status;
}
