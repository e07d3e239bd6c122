/*
 * connection_handler.h - PythonConnectionHandler (directives.md §7,
 * python-api.md §1.4): Python code that owns a whole connection instead
 * of httpd's HTTP processing.
 */
#ifndef HYDRA_CONNECTION_HANDLER_H
#define HYDRA_CONNECTION_HANDLER_H

#include "hydra.h"

/* The process_connection hook: DECLINED when c->base_server has no
 * PythonConnectionHandler, else what the handler returned (OK: the
 * connection was handled), or 500 after an error. */
int connection_handler_run(conn_rec *c);

#endif /* HYDRA_CONNECTION_HANDLER_H */
