/*
 * obj_request_config.c - what a request adds to or reads from its
 * configuration at run time (python-api.md §5.1): get_config, get_options,
 * add_handler, register_cleanup, and per-request filters
 * (register_input_filter / register_output_filter, add_input_filter /
 * add_output_filter).
 *
 * The methods parse their arguments and hand the work to the dispatch
 * layer through obj_services (dispatch_services.c), which keeps handlers
 * and filters in the C request context so that every interpreter's wrapper
 * of the same request sees them (beyond.md §1).
 */
#include "objects/obj_request_internal.h"
#include "objects/obj_services.h"
#include "objects/obj_config_tables.h"

/* ------------------------------------------------------------------ */
/* Configuration and handlers                                         */

hydra_config *request_dir_config(RequestObject *self)
{
    hydra_config *conf = hydra_dir_config(self->r);
    if (!conf)
        PyErr_SetString(PyExc_RuntimeError, "no mod_python configuration for this request");
    return conf;
}

static void view_flag(apr_table_t *t, const char *directive, int field)
{
    if (field != HYDRA_UNSET)
        apr_table_setn(t, directive, field ? "1" : "0");
}

/* mod_python's view of the merged directives: the name of every directive
 * set for this request and its value as a string, flags as "1"/"0". The
 * record holds typed fields; the table is made from them once per request
 * object (so writes to it stay in it; C never reads it). */
static apr_table_t *config_view(apr_pool_t *p, const hydra_config *conf)
{
    apr_table_t *t = apr_table_make(p, 8);

    view_flag(t, "PythonDebug", conf->debug);
    view_flag(t, "PythonEnablePdb", conf->enable_pdb);
    view_flag(t, "PythonAutoReload", conf->autoreload);
    view_flag(t, "PythonInterpPerDirectory", conf->interp_per_directory);
    view_flag(t, "PythonInterpPerDirective", conf->interp_per_directive);
    if (conf->interpreter)
        apr_table_setn(t, "PythonInterpreter", conf->interpreter);
    if (conf->pythonpath)
        apr_table_setn(t, "PythonPath", conf->pythonpath);
    return t;
}

PyObject *request_get_config(RequestObject *self, PyObject *unused)
{
    hydra_config *conf = request_dir_config(self);

    if (!conf)
        return NULL;
    if (!self->config_view)
        self->config_view = config_view(self->r->pool, conf);
    return table_wrap(self->st, self->config_view, (PyObject *)self);
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

apr_table_t *request_options(RequestObject *self, const hydra_config *conf)
{
    apr_table_t *t = obj_config_request_options(self->r->pool, conf->options, &self->options_copy);
    options_strip_removed(t);
    return t;
}

PyObject *request_get_options(RequestObject *self, PyObject *unused)
{
    hydra_config *conf = request_dir_config(self);

    if (!conf)
        return NULL;
    return table_wrap(self->st, request_options(self, conf), (PyObject *)self);
}

PyObject *request_add_handler(RequestObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"phase", "handler", "dir", NULL};
    const char *phase, *handler, *dir = NULL;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "ss|z:add_handler", kwlist, &phase, &handler, &dir))
        return NULL;
    if (obj_services_table->add_handler(self->r, phase, handler, dir) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ */
/* register_cleanup                                                   */

PyObject *request_register_cleanup(RequestObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"callable", "data", NULL};
    PyObject *callable, *data = Py_None;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|O:register_cleanup", kwlist, &callable, &data))
        return NULL;
    if (!PyCallable_Check(callable)) {
        PyErr_SetString(PyExc_ValueError, "first argument must be a callable object");
        return NULL;
    }
    if (obj_services_table->register_request_cleanup(self->r, callable, data) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ */
/* Filters                                                            */

/* req.register_input_filter / register_output_filter(name, handler,
 * dir=None): a Python filter known to this request only. */
static PyObject *request_register_filter(RequestObject *self, PyObject *args, PyObject *kw,
                                         int is_input)
{
    static char *kwlist[] = {"name", "handler", "dir", NULL};
    const char *name, *handler, *dir = NULL;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "ss|z", kwlist, &name, &handler, &dir))
        return NULL;
    if (obj_services_table->register_filter(self->r, name, handler, dir, is_input) < 0)
        return NULL;
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

static PyObject *request_add_filter(RequestObject *self, PyObject *arg, int is_input)
{
    const char *name = request_pool_str(self, arg);

    if (!name || obj_services_table->add_filter(self->r, name, is_input) < 0)
        return NULL;
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
