/*
 * request_config.c - what a request adds to or reads from its
 * configuration at run time (python-api.md §5.1): get_config, get_options,
 * add_handler, register_cleanup, and per-request filters
 * (register_input_filter / register_output_filter, add_input_filter /
 * add_output_filter).
 *
 * Handlers and filter registrations are stored in the C request context
 * (reqctx.h), never on this object, because every interpreter's wrapper of
 * the same request must see them (beyond.md §1). The filters themselves
 * run in src/filter.c.
 */
#include "request_internal.h"

#include "../filter.h"

/* ------------------------------------------------------------------ */
/* Configuration and handlers                                         */

hydra_config *request_dir_config(RequestObject *self)
{
    hydra_config *conf = hydra_dir_config(self->r);
    if (!conf)
        PyErr_SetString(PyExc_RuntimeError, "no mod_python configuration for this request");
    return conf;
}

PyObject *request_get_config(RequestObject *self, PyObject *unused)
{
    hydra_config *conf = request_dir_config(self);
    return conf ? table_wrap(self->st, conf->directives, (PyObject *)self) : NULL;
}

/* PythonOption with an empty value means "removed" (directives.md); the
 * merged table keeps the "" so that it can override outer sections, and
 * get_options() strips those entries before showing it (spec README §7). */
static void options_strip_removed(apr_table_t *options)
{
    const apr_array_header_t *arr = apr_table_elts(options);
    int i = 0;

    while (i < arr->nelts) {
        const apr_table_entry_t *e = &APR_ARRAY_IDX(arr, i, apr_table_entry_t);
        if (e->key && e->val && e->val[0] == '\0')
            apr_table_unset(options, e->key); /* shifts later entries down */
        else
            i++;
    }
}

PyObject *request_get_options(RequestObject *self, PyObject *unused)
{
    hydra_config *conf = request_dir_config(self);

    if (!conf)
        return NULL;
    options_strip_removed(conf->options);
    return table_wrap(self->st, conf->options, (PyObject *)self);
}

/* The request phases add_handler() accepts: every phase directive before
 * PythonCleanupHandler. */
static int request_phase_index(const char *name)
{
    int i;
    for (i = 0; i <= HYDRA_PHASE_LOG; i++) {
        if (strcmp(name, hydra_phase_names[i]) == 0)
            return i;
    }
    return -1;
}

static void handler_list_append(hydra_handler **head, hydra_handler *entry)
{
    while (*head)
        head = &(*head)->next;
    *head = entry;
}

PyObject *request_add_handler(RequestObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"phase", "handler", "dir", NULL};
    const char *phase, *handler, *dir = NULL;
    apr_pool_t *p = self->r->pool;
    hydra_reqctx *ctx = self->ctx;
    hydra_handler *entry;
    int index;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "ss|z:add_handler", kwlist, &phase, &handler, &dir))
        return NULL;
    index = request_phase_index(phase);
    if (index < 0)
        return PyErr_Format(PyExc_IndexError, "Invalid phase: %s", phase);
    if (!ctx) {
        PyErr_SetString(PyExc_RuntimeError, "request has no mod_python context");
        return NULL;
    }
    if (dir)
        dir = hydra_canonical_dir(p, apr_pstrdup(p, dir));
    entry = hydra_handler_new(p, handler, dir, 0, 0);

    if (ctx->phase && ctx->hlist && strcmp(ctx->phase, phase) == 0) {
        /* The running list: the dispatch loop reaches it after the entries
         * already there; if it is already past the end, point it here. */
        handler_list_append(&ctx->hlist->head, entry);
        if (!ctx->hlist->current)
            ctx->hlist->current = entry;
    } else {
        handler_list_append(&ctx->dynamic[index], entry);
    }
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ */
/* register_cleanup                                                   */

/* str() of `type` and of `value` of the pending exception, which is
 * cleared. Either may come back NULL when str() itself fails. */
static void take_exception_strings(PyObject **type_str, PyObject **value_str)
{
#if PY_VERSION_HEX >= 0x030C0000
    PyObject *exc = PyErr_GetRaisedException();
    *type_str = exc ? PyObject_Str((PyObject *)Py_TYPE(exc)) : NULL;
    *value_str = exc ? PyObject_Str(exc) : NULL;
    Py_XDECREF(exc);
#else
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    *type_str = type ? PyObject_Str(type) : NULL;
    *value_str = value ? PyObject_Str(value) : NULL;
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
#endif
    PyErr_Clear();
}

static const char *utf8_or(PyObject *str, const char *fallback)
{
    const char *s = str ? PyUnicode_AsUTF8(str) : NULL;
    if (!s) {
        PyErr_Clear();
        return fallback;
    }
    return s;
}

/* What a request-pool cleanup needs to call back into Python. Lives in the
 * request pool; holds strong references until the cleanup ran. */
typedef struct {
    hydra_interp *interp;
    server_rec *server;
    PyObject *callable;
    PyObject *data;
} request_cleanup;

static void cleanup_log_error(server_rec *s, PyObject *callable)
{
    PyObject *type_str, *value_str, *callable_str;

    take_exception_strings(&type_str, &value_str);
    callable_str = PyObject_Str(callable);
    if (!callable_str)
        PyErr_Clear();
    {
        const char *what = utf8_or(callable_str, "<unprintable>");
        const char *etype = utf8_or(type_str, "<unknown>");
        const char *evalue = utf8_or(value_str, "<unprintable>");
        HYDRA_BLOCKING_BEGIN;
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "python_cleanup: Error calling cleanup object %s",
                     what);
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "    %s: %s", etype, evalue);
        HYDRA_BLOCKING_END;
    }
    Py_XDECREF(callable_str);
    Py_XDECREF(type_str);
    Py_XDECREF(value_str);
}

/* Runs in whatever thread destroys the request pool, holding no GIL. */
static apr_status_t request_cleanup_run(void *baton)
{
    request_cleanup *c = baton;
    hydra_interp *interp;
    PyObject *result;
    int own = c->interp->kind == HYDRA_INTERP_OWN;
    const char *name = c->interp->kind == HYDRA_INTERP_MAIN ? NULL : c->interp->name;

    interp = interp_acquire(name, own, c->server);
    if (!interp) {
        /* Logged by interp_acquire; without the GIL the references cannot
         * be dropped, so they leak. */
        return APR_SUCCESS;
    }
    result = PyObject_CallOneArg(c->callable, c->data);
    if (result)
        Py_DECREF(result);
    else
        cleanup_log_error(c->server, c->callable);
    Py_CLEAR(c->callable);
    Py_CLEAR(c->data);
    interp_release(interp);
    return APR_SUCCESS;
}

PyObject *request_register_cleanup(RequestObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"callable", "data", NULL};
    PyObject *callable, *data = Py_None;
    hydra_interp *interp = interp_current();
    request_cleanup *c;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|O:register_cleanup", kwlist, &callable, &data))
        return NULL;
    if (!PyCallable_Check(callable)) {
        PyErr_SetString(PyExc_ValueError, "first argument must be a callable object");
        return NULL;
    }
    if (!interp) {
        PyErr_SetString(PyExc_RuntimeError, "register_cleanup: no current interpreter");
        return NULL;
    }
    c = apr_palloc(self->r->pool, sizeof(*c));
    c->interp = interp;
    c->server = self->r->server;
    c->callable = Py_NewRef(callable);
    c->data = Py_NewRef(data);
    apr_pool_cleanup_register(self->r->pool, c, request_cleanup_run, apr_pool_cleanup_null);
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ */
/* Filters                                                            */

/* Per-request registrations live in ctx->registered_filters under
 * (direction, name): like httpd, which keeps input and output filters in
 * two registries, a request may register the same name once as an input
 * and once as an output filter. The direction prefix is the key's first
 * part, so the two never collide. */
static const char *registered_filter_key(apr_pool_t *p, const char *name, int is_input)
{
    return apr_pstrcat(p, is_input ? "in:" : "out:", name, NULL);
}

/* req.register_input_filter / register_output_filter(name, handler,
 * dir=None): a Python filter known to this request only, under `name`
 * (exact case), kept in the request context so that every interpreter's
 * wrapper sees it. */
static PyObject *request_register_filter(RequestObject *self, PyObject *args, PyObject *kw,
                                         int is_input)
{
    static char *kwlist[] = {"name", "handler", "dir", NULL};
    const char *name, *handler, *dir = NULL;
    apr_pool_t *p = self->r->pool;
    hydra_filter_reg *reg;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "ss|z", kwlist, &name, &handler, &dir))
        return NULL;
    if (!self->ctx) {
        PyErr_SetString(PyExc_RuntimeError, "request has no mod_python context");
        return NULL;
    }
    reg = apr_pcalloc(p, sizeof(*reg));
    reg->name = apr_pstrdup(p, name);
    reg->handler = apr_pstrdup(p, handler);
    reg->directory = dir ? hydra_canonical_dir(p, apr_pstrdup(p, dir)) : NULL;
    reg->is_input = is_input;
    if (!self->ctx->registered_filters)
        self->ctx->registered_filters = apr_hash_make(p);
    apr_hash_set(self->ctx->registered_filters, registered_filter_key(p, reg->name, is_input),
                 APR_HASH_KEY_STRING, reg);
    Py_RETURN_NONE;
}

PyObject *request_register_input_filter(RequestObject *self, PyObject *args, PyObject *kw)
{
    return request_register_filter(self, args, kw, 1);
}

PyObject *request_register_output_filter(RequestObject *self, PyObject *args, PyObject *kw)
{
    return request_register_filter(self, args, kw, 0);
}

/* This request's registration of `name` for the given direction, or NULL. */
static const hydra_filter_reg *registered_filter(RequestObject *self, const char *name,
                                                 int is_input)
{
    if (!self->ctx || !self->ctx->registered_filters)
        return NULL;
    return apr_hash_get(self->ctx->registered_filters,
                        registered_filter_key(self->r->pool, name, is_input), APR_HASH_KEY_STRING);
}

/* A name registered with req.register_*_filter for this direction runs
 * under the generic filter, which finds the registration in f->ctx
 * (src/filter.c); any other name is looked up in httpd's filter registry
 * (which holds PythonInputFilter/PythonOutputFilter names and httpd's own
 * filters such as INCLUDES or CONTENT_LENGTH). */
static PyObject *request_add_filter(RequestObject *self, PyObject *arg, int is_input)
{
    const char *name = request_pool_str(self, arg);
    const hydra_filter_reg *reg;

    if (!name)
        return NULL;
    reg = registered_filter(self, name, is_input);
    if (reg)
        filter_add_registered(self->r, reg);
    else if (is_input)
        ap_add_input_filter(name, NULL, self->r, self->r->connection);
    else
        ap_add_output_filter(name, NULL, self->r, self->r->connection);
    Py_RETURN_NONE;
}

PyObject *request_add_input_filter(RequestObject *self, PyObject *arg)
{
    return request_add_filter(self, arg, 1);
}

PyObject *request_add_output_filter(RequestObject *self, PyObject *arg)
{
    return request_add_filter(self, arg, 0);
}
