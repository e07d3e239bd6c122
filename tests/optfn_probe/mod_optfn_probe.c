/*
 * mod_optfn_probe.c - a test-only Apache module that uses mod_python's
 * optional functions (interpreters.md §11) the way a third-party module
 * would: `SetHandler optfn-probe` answers the interpreter name read through
 * the request object it got from mp_get_request_object().
 */
#include <Python.h>

#include "httpd.h"
#include "http_config.h"
#include "http_protocol.h"
#include "apr_optional.h"
#include "apr_strings.h"

APR_DECLARE_OPTIONAL_FN(PyInterpreterState *, mp_acquire_interpreter, (const char *));
APR_DECLARE_OPTIONAL_FN(void, mp_release_interpreter, (void));
APR_DECLARE_OPTIONAL_FN(PyObject *, mp_get_request_object, (request_rec *));

static int probe_handler(request_rec *r)
{
    APR_OPTIONAL_FN_TYPE(mp_acquire_interpreter) * acquire;
    APR_OPTIONAL_FN_TYPE(mp_release_interpreter) * release;
    APR_OPTIONAL_FN_TYPE(mp_get_request_object) * get_request;
    PyObject *req, *name;
    const char *text = "no request object";

    if (!r->handler || strcmp(r->handler, "optfn-probe") != 0)
        return DECLINED;
    acquire = APR_RETRIEVE_OPTIONAL_FN(mp_acquire_interpreter);
    release = APR_RETRIEVE_OPTIONAL_FN(mp_release_interpreter);
    get_request = APR_RETRIEVE_OPTIONAL_FN(mp_get_request_object);
    ap_set_content_type(r, "text/plain");
    if (!acquire || !release || !get_request) {
        ap_rputs("optional functions missing", r);
        return OK;
    }
    if (!acquire(r->args ? r->args : "probe_interp")) {
        ap_rputs("acquire failed", r);
        return OK;
    }
    req = get_request(r);
    name = req ? PyObject_GetAttrString(req, "interpreter") : NULL;
    if (name && PyUnicode_Check(name))
        text = apr_pstrdup(r->pool, PyUnicode_AsUTF8(name));
    PyErr_Clear();
    Py_XDECREF(name);
    Py_XDECREF(req);
    release();
    ap_rputs(text, r);
    return OK;
}

static void probe_register_hooks(apr_pool_t *p)
{
    ap_hook_handler(probe_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

module AP_MODULE_DECLARE_DATA optfn_probe_module = {
    STANDARD20_MODULE_STUFF, NULL, NULL, NULL, NULL, NULL, probe_register_hooks,
};
