/*
 * dispatch_venv.h - PythonVirtualEnv inside a new interpreter (beyond.md
 * §5, docs/directives.md PythonVirtualEnv); see dispatch_venv.c.
 */
#ifndef HYDRA_DISPATCH_VENV_H
#define HYDRA_DISPATCH_VENV_H

#include "hydra.h"
#include "core/interp.h"

/* Makes the new interpreter `interp`, whose GIL the caller holds and in
 * which nothing has run yet, use the virtualenv it was created with
 * (interp_venv), if any: sys.prefix and sys.exec_prefix, the venv's
 * site-packages (with its .pth files) on sys.path, the base installation's
 * site-packages off it unless the venv's pyvenv.cfg includes them. Must
 * run before mod_python.apache is imported. Returns 0 (also when there is
 * no virtualenv), or -1 after logging why: the interpreter must not be
 * used then, since its code would run against the wrong packages. */
int venv_apply(hydra_interp *interp, server_rec *s);

#endif
