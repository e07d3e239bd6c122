/*
 * optional_fns.c - mod_python's optional functions for other Apache
 * modules (interpreters.md §11). They are thin wrappers over the
 * interpreter core and the object layer; the calling module must pair
 * mp_acquire_interpreter with mp_release_interpreter on the same thread,
 * and call the object getters between the two.
 */
#include "optional_fns.h"
#include "interp.h"
#include "reqctx.h"
#include "objects/objects.h"

/* The interpreter the last mp_acquire_interpreter of this thread took. */
static __thread hydra_interp *tl_acquired[16];
static __thread int tl_acquired_depth;

static PyInterpreterState *mp_acquire_interpreter(const char *name)
{
    hydra_interp *interp;

    if (tl_acquired_depth == (int)(sizeof(tl_acquired) / sizeof(tl_acquired[0])))
        return NULL;
    interp = interp_acquire(name, 0, hydra_main_server);
    if (!interp)
        return NULL;
    tl_acquired[tl_acquired_depth++] = interp;
    return interp->istate;
}

static void mp_release_interpreter(void)
{
    if (tl_acquired_depth > 0)
        interp_release(tl_acquired[--tl_acquired_depth]);
}

/* The interpreter the calling thread holds, or NULL (with a Python error
 * set when one can be set). */
static hydra_interp *held_interpreter(void)
{
    return interp_current();
}

static PyObject *mp_get_request_object(request_rec *r)
{
    hydra_interp *interp = held_interpreter();
    PyObject *req;

    if (!interp)
        return NULL;
    req = reqctx_request_object(r, interp); /* borrowed */
    Py_XINCREF(req);
    return req;
}

static PyObject *mp_get_server_object(server_rec *s)
{
    hydra_interp *interp = held_interpreter();
    return interp ? server_object_new(interp->state, s) : NULL;
}

static PyObject *mp_get_connection_object(conn_rec *c)
{
    hydra_interp *interp = held_interpreter();
    return interp ? connection_object_new(interp->state, c) : NULL;
}

void optional_fns_register(void)
{
    APR_REGISTER_OPTIONAL_FN(mp_acquire_interpreter);
    APR_REGISTER_OPTIONAL_FN(mp_release_interpreter);
    APR_REGISTER_OPTIONAL_FN(mp_get_request_object);
    APR_REGISTER_OPTIONAL_FN(mp_get_server_object);
    APR_REGISTER_OPTIONAL_FN(mp_get_connection_object);
}
