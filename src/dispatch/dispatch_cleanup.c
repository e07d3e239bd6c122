/*
 * dispatch_cleanup.c - Python callables that run later inside an
 * interpreter: req.register_cleanup() at the end of the request, and
 * apache.register_cleanup() / server.register_cleanup() at child exit
 * (python-api.md §2.1, §5.1, §6). The object methods reach these through
 * obj_services (dispatch_services.c).
 */
#include "dispatch/dispatch_cleanup.h"
#include "dispatch/dispatch_interp.h"

#include <pthread.h>

/* ------------------------------------------------------------------ */
/* Reporting a failed cleanup                                         */

static const char *str_utf8_or(PyObject *str, const char *fallback)
{
    const char *text = str ? PyUnicode_AsUTF8(str) : NULL;
    if (text == NULL) {
        PyErr_Clear();
        return fallback;
    }
    return text;
}

/* Takes the pending exception (GIL held) and logs the two lines mod_python
 * users grep for: the callable, then "    <type>: <value>". Every cleanup
 * (request or child exit) fails with these lines. */
static void log_cleanup_error(server_rec *s, PyObject *callable)
{
#if PY_VERSION_HEX >= 0x030C0000
    PyObject *exc = PyErr_GetRaisedException();
#else
    PyObject *type, *exc, *tb;
    PyErr_Fetch(&type, &exc, &tb);
    PyErr_NormalizeException(&type, &exc, &tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
#endif
    PyObject *callable_str = PyObject_Str(callable);
    PyObject *type_str = exc ? PyObject_Str((PyObject *)Py_TYPE(exc)) : NULL;
    PyObject *value_str = exc ? PyObject_Str(exc) : NULL;
    const char *what = str_utf8_or(callable_str, "?");
    const char *etype = str_utf8_or(type_str, "?");
    const char *evalue = str_utf8_or(value_str, "?");
    HYDRA_BLOCKING_BEGIN
    ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                 "HYDRA0203: python_cleanup: Error calling cleanup object %s", what);
    ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "HYDRA0204:     %s: %s", etype, evalue);
    HYDRA_BLOCKING_END
    Py_XDECREF(callable_str);
    Py_XDECREF(type_str);
    Py_XDECREF(value_str);
    Py_XDECREF(exc);
    PyErr_Clear();
}

/* ------------------------------------------------------------------ */
/* Request cleanups (req.register_cleanup, python-api.md §5.1)         */

/* What a request-pool cleanup needs to call back into Python. Lives in the
 * request pool; holds strong references until the cleanup ran. */
typedef struct request_cleanup {
    dispatch_interp *interp;
    server_rec *server;
    PyObject *callable;
    PyObject *data;
} request_cleanup;

/* Runs in whatever thread destroys the request pool, holding no GIL. */
static apr_status_t request_cleanup_run(void *baton)
{
    request_cleanup *c = baton;
    dispatch_interp *interp = c->interp;
    PyObject *result;

    /* The interpreter (pool replica) it was registered in, itself. */
    if (dispatch_enter_this(interp, c->server) != OK) {
        /* Logged; without the GIL the references cannot be dropped, so
         * they leak. */
        return APR_SUCCESS;
    }
    result = PyObject_CallOneArg(c->callable, c->data);
    if (result)
        Py_DECREF(result);
    else
        log_cleanup_error(c->server, c->callable);
    Py_CLEAR(c->callable);
    Py_CLEAR(c->data);
    dispatch_leave(interp);
    return APR_SUCCESS;
}

int dispatch_cleanup_register_request(request_rec *r, PyObject *callable, PyObject *data)
{
    hydra_interp *current = interp_current();
    request_cleanup *c;

    if (!current || !dispatch_interp_of(current)) {
        PyErr_SetString(PyExc_RuntimeError, "register_cleanup: no current interpreter");
        return -1;
    }
    c = apr_palloc(r->pool, sizeof(*c));
    c->interp = dispatch_interp_of(current);
    c->server = r->server;
    c->callable = Py_NewRef(callable);
    c->data = Py_NewRef(data);
    apr_pool_cleanup_register(r->pool, c, request_cleanup_run, apr_pool_cleanup_null);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Child-exit cleanups (python-api.md §2.1, §6)                        */

/*
 * Registered from any thread of any interpreter while requests run, so the
 * list is guarded by a plain mutex. It is held only for a few pointer
 * updates and nobody waits for a GIL while holding it, so taking it with a
 * GIL held cannot deadlock. The nodes live in malloc memory rather than in
 * hydra_child_pool (hydra.h) because APR pools are not
 * thread-safe; the pool only carries the one cleanup that walks the list.
 */

typedef struct child_cleanup {
    struct child_cleanup *next;
    char *interp_name;      /* registry name; NULL = main interpreter */
    server_rec *server;     /* errors are logged against it */
    dispatch_interp *owner; /* where callable and data were made */
    PyObject *callable;
    PyObject *data;
} child_cleanup;

static pthread_mutex_t child_cleanups_lock = PTHREAD_MUTEX_INITIALIZER;
static child_cleanup *child_cleanups; /* newest first: run LIFO like pool cleanups */

/* Objects of one interpreter may be used in another only when both run
 * under the main GIL (mod_python passes objects around like that); an
 * own-GIL interpreter shares objects with nobody (beyond.md §1). */
static int interps_may_share_objects(const dispatch_interp *a, const dispatch_interp *b)
{
    return a == b || (a->kind != HYDRA_INTERP_OWN && b->kind != HYDRA_INTERP_OWN);
}

/* Runs one cleanup inside its interpreter. Called with no GIL held. If the
 * interpreter cannot be entered, or may not touch the objects, they are
 * leaked: the process is exiting and nothing else could release them. */
static void run_child_cleanup(child_cleanup *cc)
{
    /* An own-GIL owner can only have registered for itself: ask for the mode
     * it has, so no conflict warning is logged at child exit. */
    dispatch_interp *interp = cc->owner;
    /* An own-GIL owner registered for itself: enter it, not its name (a
     * pool's replicas share one name). */
    if (cc->owner->kind == HYDRA_INTERP_OWN
            ? dispatch_enter_this(cc->owner, cc->server) != OK
            : dispatch_enter_named(cc->interp_name, 0, cc->server, &interp) != OK)
        return; /* logged why */
    if (!interps_may_share_objects(interp, cc->owner)) {
        HYDRA_BLOCKING_BEGIN
        ap_log_error(
            APLOG_MARK, APLOG_ERR, 0, cc->server,
            "HYDRA0205: python_cleanup: not running a cleanup registered in interpreter '%s' "
            "for own-GIL interpreter '%s'",
            cc->owner->name, interp->name);
        HYDRA_BLOCKING_END
        dispatch_leave(interp);
        return;
    }
    PyObject *result = PyObject_CallOneArg(cc->callable, cc->data);
    if (result == NULL)
        log_cleanup_error(cc->server, cc->callable);
    Py_XDECREF(result);
    Py_DECREF(cc->callable);
    Py_DECREF(cc->data);
    dispatch_leave(interp);
}

/* The hydra_child_pool cleanup (dispatch_cleanup_child_init). */
static apr_status_t run_child_cleanups(void *unused)
{
    pthread_mutex_lock(&child_cleanups_lock);
    child_cleanup *list = child_cleanups;
    child_cleanups = NULL;
    pthread_mutex_unlock(&child_cleanups_lock);

    while (list != NULL) {
        child_cleanup *cc = list;
        list = cc->next;
        run_child_cleanup(cc);
        free(cc->interp_name);
        free(cc);
    }
    return APR_SUCCESS;
}

/* Registered once, in child_init, right after the interpreter core
 * started: pool cleanups run last-registered-first, so the callbacks run
 * before the core's own resources (registry lock) go, and registering a
 * callback at request time allocates nothing from pchild (APR pools are
 * not thread-safe; worker threads register callbacks concurrently). */
void dispatch_cleanup_child_init(apr_pool_t *pchild)
{
    apr_pool_cleanup_register(pchild, NULL, run_child_cleanups, apr_pool_cleanup_null);
}

/* NULL and the main interpreter's registry name both mean main. */
static int names_main_interp(const char *interp_name)
{
    return interp_name == NULL || strcmp(interp_name, HYDRA_MAIN_INTERPRETER) == 0;
}

/* 1 if `name` is the interpreter `interp`. */
static int names_interp(const char *name, const dispatch_interp *interp)
{
    if (interp->kind == HYDRA_INTERP_MAIN)
        return names_main_interp(name);
    return name != NULL && strcmp(name, interp->name) == 0;
}

/* Arranges for callable(data) to run at child exit in interpreter
 * `interp_name` (NULL or "main_interpreter" = main). Called from Python, so
 * the calling thread holds the GIL of the interpreter that owns callable
 * and data. Returns 0, or -1 with an exception. */
int dispatch_cleanup_register_child(const char *interp_name, server_rec *s, PyObject *callable,
                                    PyObject *data)
{
    hydra_interp *current = interp_current();
    dispatch_interp *owner = current ? dispatch_interp_of(current) : NULL;
    if (hydra_child_pool == NULL || owner == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "child-exit cleanups need a running Apache child");
        return -1;
    }
    if (owner->kind == HYDRA_INTERP_OWN && !names_interp(interp_name, owner)) {
        PyErr_SetString(PyExc_ValueError,
                        "an own-GIL interpreter can only register cleanups for itself");
        return -1;
    }
    child_cleanup *cc = calloc(1, sizeof *cc);
    if (cc == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    if (!names_main_interp(interp_name)) {
        cc->interp_name = strdup(interp_name);
        if (cc->interp_name == NULL) {
            free(cc);
            PyErr_NoMemory();
            return -1;
        }
    }
    cc->server = s ? s : hydra_main_server;
    cc->owner = owner;
    cc->callable = Py_NewRef(callable);
    cc->data = Py_NewRef(data);

    pthread_mutex_lock(&child_cleanups_lock);
    cc->next = child_cleanups;
    child_cleanups = cc;
    pthread_mutex_unlock(&child_cleanups_lock);
    return 0;
}
