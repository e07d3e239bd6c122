/*
 * optional_fns.h - the functions mod_python exports to other Apache
 * modules through APR's optional-function registry (interpreters.md §11),
 * under mod_python's names so modules written against it find them.
 */
#ifndef HYDRA_OPTIONAL_FNS_H
#define HYDRA_OPTIONAL_FNS_H

#include "hydra.h"
#include "apr_optional.h"

APR_DECLARE_OPTIONAL_FN(PyInterpreterState *, mp_acquire_interpreter, (const char *));
APR_DECLARE_OPTIONAL_FN(void, mp_release_interpreter, (void));
APR_DECLARE_OPTIONAL_FN(PyObject *, mp_get_request_object, (request_rec *));
APR_DECLARE_OPTIONAL_FN(PyObject *, mp_get_server_object, (server_rec *));
APR_DECLARE_OPTIONAL_FN(PyObject *, mp_get_connection_object, (conn_rec *));

/* Registers them; called from post_config. */
void optional_fns_register(void);

#endif
