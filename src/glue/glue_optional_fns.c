/*
 * glue_optional_fns.c - mod_python's optional functions for other Apache
 * modules (interpreters.md §11). They are thin wrappers over the
 * interpreter core and the object layer; the calling module must pair
 * mp_acquire_interpreter with mp_release_interpreter on the same thread,
 * and call the object getters between the two.
 */
#include "glue/glue_optional_fns.h"
#include "dispatch/dispatch_interp.h"
#include "dispatch/dispatch_reqctx.h"
#include "objects/objects.h"

/* The interpreter the last mp_acquire_interpreter of this thread took. */
static __thread dispatch_interp *tl_acquired[16];
static __thread int tl_acquired_depth;

static PyInterpreterState *mp_acquire_interpreter(const char *name)
{
    dispatch_interp *interp;

    if (tl_acquired_depth == (int)(sizeof(tl_acquired) / sizeof(tl_acquired[0])))
        return NULL;
    if (dispatch_enter_named(name, 0, hydra_main_server, &interp) != OK)
        return NULL;
    tl_acquired[tl_acquired_depth++] = interp;
    return interp_istate(interp->core);
}

static void mp_release_interpreter(void)
{
    if (tl_acquired_depth > 0)
        dispatch_leave(tl_acquired[--tl_acquired_depth]);
}

/* The dispatch state of the interpreter the calling thread holds, or NULL. */
static dispatch_interp *current_interpreter(void)
{
    hydra_interp *interp = interp_current();
    return interp ? dispatch_interp_of(interp) : NULL;
}

static PyObject *mp_get_request_object(request_rec *r)
{
    dispatch_interp *interp = current_interpreter();
    PyObject *req;

    if (!interp)
        return NULL;
    req = reqctx_request_object(r, interp); /* borrowed */
    Py_XINCREF(req);
    return req;
}

static PyObject *mp_get_server_object(server_rec *s)
{
    dispatch_interp *interp = current_interpreter();
    return interp ? server_object_new(interp->state, s) : NULL;
}

static PyObject *mp_get_connection_object(conn_rec *c)
{
    dispatch_interp *interp = current_interpreter();
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
