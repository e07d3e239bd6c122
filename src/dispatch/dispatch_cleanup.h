/*
 * dispatch_cleanup.h - request and child-exit cleanups that run Python
 * inside an interpreter (see dispatch_cleanup.c).
 */
#ifndef HYDRA_DISPATCH_CLEANUP_H
#define HYDRA_DISPATCH_CLEANUP_H

#include "hydra.h"

/* Both are called from Python (GIL of the registering interpreter held)
 * and return 0, or -1 with an exception. */

/* callable(data) when r's pool is destroyed, in the calling interpreter. */
int dispatch_cleanup_register_request(request_rec *r, PyObject *callable, PyObject *data);

/* callable(data) at child exit, in interpreter `interp_name` (NULL or
 * "main_interpreter" = main). */
int dispatch_cleanup_register_child(const char *interp_name, server_rec *s, PyObject *callable,
                                    PyObject *data);

/* child_init, after the interpreter core started: arranges for the
 * child-exit callbacks to run when `pchild` is destroyed. */
void dispatch_cleanup_child_init(apr_pool_t *pchild);

#endif /* HYDRA_DISPATCH_CLEANUP_H */
