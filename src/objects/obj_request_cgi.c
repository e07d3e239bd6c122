/*
 * request_cgi.c - the request as a gateway sees it (python-api.md §5.1,
 * §18): CGI variables (add_common_vars, add_cgi_vars), the WSGI environ and
 * start_response, mod_mime's AddHandler extensions for the publisher, and
 * the questions about the client, the URL and authentication such
 * environments are built from (get_basic_auth_pw, auth_name, auth_type,
 * construct_url, document_root, get_remote_host, is_https,
 * ssl_var_lookup).
 *
 * Calls that may look a host name up run with the GIL released.
 */
#include "objects/obj_request_internal.h"

#include "apr_lib.h"
#include "apr_optional.h"
#include "mod_ssl.h"
#include "util_script.h"

/* ------------------------------------------------------------------ */
/* Authentication, URLs, client                                       */

PyObject *request_get_basic_auth_pw(RequestObject *self, PyObject *unused)
{
    const char *pw = NULL;

    if (ap_get_basic_auth_pw(self->r, &pw) != OK)
        Py_RETURN_NONE;
    return hydra_str_from_latin1(pw);
}

PyObject *request_auth_name(RequestObject *self, PyObject *unused)
{
    return hydra_str_from_apache(ap_auth_name(self->r));
}

PyObject *request_auth_type(RequestObject *self, PyObject *unused)
{
    return hydra_str_from_apache(ap_auth_type(self->r));
}

PyObject *request_construct_url(RequestObject *self, PyObject *arg)
{
    const char *uri = request_pool_str(self, arg);

    if (!uri)
        return NULL;
    return hydra_str_from_apache(ap_construct_url(self->r->pool, uri, self->r));
}

PyObject *request_document_root(RequestObject *self, PyObject *unused)
{
    return hydra_str_from_apache(ap_document_root(self->r));
}

PyObject *request_get_remote_host(RequestObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"type", "str_is_ip", NULL};
    int type = REMOTE_NAME;
    PyObject *want_is_ip = Py_None;
    int is_ip = 0;
    const char *host;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "|iO:get_remote_host", kwlist, &type, &want_is_ip))
        return NULL;
    /* May do a DNS lookup. */
    HYDRA_BLOCKING_BEGIN;
    host = ap_get_remote_host(self->r->connection, self->r->per_dir_config, type,
                              want_is_ip != Py_None ? &is_ip : NULL);
    HYDRA_BLOCKING_END;
    if (!host)
        Py_RETURN_NONE;
    if (want_is_ip != Py_None)
        return Py_BuildValue("(O&i)", hydra_str_from_apache, host, is_ip);
    return hydra_str_from_apache(host);
}

PyObject *request_is_https(RequestObject *self, PyObject *unused)
{
    APR_OPTIONAL_FN_TYPE(ssl_is_https) *is_https = APR_RETRIEVE_OPTIONAL_FN(ssl_is_https);

    return PyLong_FromLong(is_https && is_https(self->r->connection) ? 1 : 0);
}

PyObject *request_ssl_var_lookup(RequestObject *self, PyObject *arg)
{
    APR_OPTIONAL_FN_TYPE(ssl_var_lookup) *lookup = APR_RETRIEVE_OPTIONAL_FN(ssl_var_lookup);
    const char *name;
    const char *value;

    name = request_pool_str(self, arg);
    if (!name)
        return NULL;
    if (!lookup)
        Py_RETURN_NONE;
    value = lookup(self->r->pool, self->r->server, self->r->connection, self->r, (char *)name);
    /* mod_ssl answers "" for variables it does not know. */
    if (!value || !*value)
        Py_RETURN_NONE;
    return hydra_str_from_apache(value);
}

/* ------------------------------------------------------------------ */
/* CGI variables                                                      */

PyObject *request_add_common_vars(RequestObject *self, PyObject *unused)
{
    /* May look the client's host name up. */
    HYDRA_BLOCKING_BEGIN;
    ap_add_common_vars(self->r);
    HYDRA_BLOCKING_END;
    Py_RETURN_NONE;
}

/* The CGI variables of python-api.md §5.1 add_cgi_vars: a subset of
 * ap_add_cgi_vars() without PATH_TRANSLATED, which would run a
 * sub-request. */
static void add_cgi_vars(request_rec *r)
{
    apr_table_t *env = r->subprocess_env;
    const char *script_name = r->uri;

    apr_table_setn(env, "GATEWAY_INTERFACE", "CGI/1.1");
    apr_table_setn(env, "SERVER_PROTOCOL", r->protocol);
    apr_table_setn(env, "REQUEST_METHOD", r->method);
    apr_table_setn(env, "QUERY_STRING", r->args ? r->args : "");
    apr_table_setn(env, "REQUEST_URI", r->uri);
    if (r->uri && r->path_info && *r->path_info) {
        int len = ap_find_path_info(r->uri, r->path_info);
        script_name = apr_pstrndup(r->pool, r->uri, (apr_size_t)len);
        apr_table_setn(env, "PATH_INFO", r->path_info);
    }
    apr_table_setn(env, "SCRIPT_NAME", script_name);
    ap_add_common_vars(r);
}

PyObject *request_add_cgi_vars(RequestObject *self, PyObject *unused)
{
    HYDRA_BLOCKING_BEGIN;
    add_cgi_vars(self->r);
    HYDRA_BLOCKING_END;
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ */
/* mod_mime's AddHandler extensions (for mod_python.publisher)         */

/* The leading members of mod_mime's per-directory config and of its
 * per-extension record (httpd 2.4, modules/http/mod_mime.c). They are in
 * no public header; only the members read here are declared. */
typedef struct {
    apr_hash_t *extension_mappings; /* extension (no dot, lower case) -> info */
} mime_dir_config_head;

typedef struct {
    char *forced_type;
    char *encoding_type;
    char *language_type;
    char *handler; /* AddHandler, lower-cased */
} mime_extension_head;

static int is_python_handler_name(const char *handler)
{
    return handler
           && (strcmp(handler, "mod_python") == 0 || strcmp(handler, "python-program") == 0);
}

PyObject *request_get_addhandler_exts(RequestObject *self, PyObject *unused)
{
    module *mime = ap_find_linked_module("mod_mime.c");
    const mime_dir_config_head *conf;
    apr_hash_index_t *hi;
    const char *exts = "";

    if (!mime)
        return PyUnicode_FromString("");
    conf = ap_get_module_config(self->r->per_dir_config, mime);
    if (!conf || !conf->extension_mappings)
        return PyUnicode_FromString("");
    for (hi = apr_hash_first(self->r->pool, conf->extension_mappings); hi; hi = apr_hash_next(hi)) {
        const void *key;
        void *val;
        const mime_extension_head *info;

        apr_hash_this(hi, &key, NULL, &val);
        info = val;
        if (info && is_python_handler_name(info->handler))
            exts = *exts ? apr_pstrcat(self->r->pool, exts, " ", (const char *)key, NULL)
                         : (const char *)key;
    }
    return hydra_str_from_apache(exts);
}

/* ------------------------------------------------------------------ */
/* WSGI support (python-api.md §18)                                    */

#define WSGI_BASE_URI_OPTION "mod_python.wsgi.base_uri"

/* The base URI (SCRIPT_NAME) of the WSGI application: the option, else the
 * <Location> path without one trailing "/", else "". NULL + ValueError for
 * an option ending in "/". */
static const char *wsgi_base_uri(RequestObject *self, const hydra_config *conf)
{
    const char *base = apr_table_get(request_options(self, conf), WSGI_BASE_URI_OPTION);
    size_t len;

    if (base && *base) {
        len = strlen(base);
        if (base[len - 1] == '/') {
            PyErr_Format(PyExc_ValueError,
                         "PythonOption '" WSGI_BASE_URI_OPTION "' ('%s') must not end with '/'",
                         base);
            return NULL;
        }
        return base;
    }
    if (!conf->d_is_location || !conf->config_dir)
        return "";
    len = strlen(conf->config_dir);
    if (len > 0 && conf->config_dir[len - 1] == '/')
        len--;
    return apr_pstrndup(self->r->pool, conf->config_dir, len);
}

/* PEP 3333 native strings: Latin-1 of the raw bytes (a documented
 * deviation from upstream's UTF-8, so frameworks can re-decode). */
static int wsgi_env_set(PyObject *env, const char *key, const char *value)
{
    PyObject *k = hydra_str_from_latin1(key);
    PyObject *v = k ? hydra_str_from_latin1(value) : NULL;
    int rc = v ? PyDict_SetItem(env, k, v) : -1;

    Py_XDECREF(k);
    Py_XDECREF(v);
    return rc;
}

static int wsgi_env_set_object(PyObject *env, const char *key, PyObject *value)
{
    int rc;

    if (!value)
        return -1;
    rc = PyDict_SetItemString(env, key, value);
    Py_DECREF(value);
    return rc;
}

static int mpm_flag(int query)
{
    int result = 0;
    if (ap_mpm_query(query, &result) != APR_SUCCESS)
        return 0;
    return result != AP_MPMQ_NOT_SUPPORTED;
}

static int wsgi_env_add_wsgi_keys(RequestObject *self, PyObject *env)
{
    const char *https = apr_table_get(self->r->subprocess_env, "HTTPS");
    int secure = https && strcasecmp(https, "off") != 0;
    PyObject *errors = PySys_GetObject("stderr"); /* borrowed */
    struct {
        const char *key;
        PyObject *value; /* new reference, or NULL after a failure */
    } items[] = {
        {"wsgi.input", Py_NewRef((PyObject *)self)},
        {"wsgi.errors", Py_NewRef(errors ? errors : Py_None)},
        {"wsgi.version", Py_BuildValue("(ii)", 1, 0)},
        {"wsgi.multithread", PyBool_FromLong(mpm_flag(AP_MPMQ_IS_THREADED))},
        {"wsgi.multiprocess", PyBool_FromLong(mpm_flag(AP_MPMQ_IS_FORKED))},
        {"wsgi.run_once", Py_NewRef(Py_False)},
        {"wsgi.url_scheme", PyUnicode_FromString(secure ? "https" : "http")},
    };
    size_t i;
    int rc = 0;

    for (i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
        if (rc == 0)
            rc = wsgi_env_set_object(env, items[i].key, items[i].value);
        else
            Py_XDECREF(items[i].value);
    }
    return rc;
}

PyObject *request_build_wsgi_env(RequestObject *self, PyObject *unused)
{
    request_rec *r = self->r;
    hydra_config *conf = request_dir_config(self);
    const char *base, *path_info, *auth;
    const apr_array_header_t *arr;
    PyObject *env;
    int i;

    if (!conf)
        return NULL;
    base = wsgi_base_uri(self, conf);
    if (!base)
        return NULL;
    path_info = r->uri ? r->uri : "";
    if (*base) {
        size_t len = strlen(base);
        if (strncmp(path_info, base, len) != 0)
            Py_RETURN_NONE;
        path_info += len;
    }
    r->path_info = apr_pstrdup(r->pool, path_info);
    HYDRA_BLOCKING_BEGIN;
    add_cgi_vars(r);
    HYDRA_BLOCKING_END;

    env = PyDict_New();
    if (!env)
        return NULL;
    arr = apr_table_elts(r->subprocess_env);
    for (i = 0; i < arr->nelts; i++) {
        const apr_table_entry_t *e = &APR_ARRAY_IDX(arr, i, apr_table_entry_t);
        if (e->key && wsgi_env_set(env, e->key, e->val ? e->val : "") < 0)
            goto error;
    }
    /* ap_add_common_vars() leaves the credentials out; WSGI apps expect them. */
    auth = apr_table_get(r->headers_in, "Authorization");
    if (auth && wsgi_env_set(env, "HTTP_AUTHORIZATION", auth) < 0)
        goto error;
    if (wsgi_env_add_wsgi_keys(self, env) < 0)
        goto error;
    return env;

error:
    Py_DECREF(env);
    return NULL;
}

/* Leading integer of a status line; -1 if there is none. */
static long wsgi_status_code(const char *status)
{
    char *end;
    long code;

    while (*status == ' ')
        status++;
    if (!apr_isdigit(*status))
        return -1;
    code = strtol(status, &end, 10);
    return code;
}

/* Drops the headers_out entries added since the first start_response()
 * (an application's error handler calls it again with exc_info before any
 * body went out, PEP 3333). */
static void wsgi_forget_headers(RequestObject *self)
{
    apr_table_t *headers = self->r->headers_out;
    const apr_array_header_t *arr = apr_table_elts(headers);
    apr_table_t *kept;
    int i;

    if (self->wsgi_headers_mark < 0 || arr->nelts <= self->wsgi_headers_mark)
        return;
    kept = apr_table_copy(self->r->pool, headers);
    apr_table_clear(headers);
    arr = apr_table_elts(kept);
    for (i = 0; i < self->wsgi_headers_mark; i++) {
        const apr_table_entry_t *e = &APR_ARRAY_IDX(arr, i, apr_table_entry_t);
        apr_table_addn(headers, e->key, e->val);
    }
}

/* exc_info given: re-raise it once the response has started (headers can
 * no longer change), else forget the headers of the earlier call.
 * Returns -1 with the exception set when re-raised. */
static int wsgi_handle_exc_info(RequestObject *self, PyObject *exc_info)
{
    PyObject *type, *value, *tb;

    if (exc_info == Py_None)
        return 0;
    if (!self->r->sent_bodyct) {
        wsgi_forget_headers(self);
        return 0;
    }
    if (!PyTuple_Check(exc_info) || PyTuple_GET_SIZE(exc_info) != 3) {
        PyErr_SetString(PyExc_TypeError, "exc_info must be a (type, value, traceback) tuple");
        return -1;
    }
    type = PyTuple_GET_ITEM(exc_info, 0);
    value = PyTuple_GET_ITEM(exc_info, 1);
    tb = PyTuple_GET_ITEM(exc_info, 2);
    PyErr_Restore(Py_NewRef(type), Py_NewRef(value), tb == Py_None ? NULL : Py_NewRef(tb));
    return -1;
}

static int wsgi_add_header(RequestObject *self, PyObject *item)
{
    const char *name, *value;

    if (!PyTuple_CheckExact(item) || PyTuple_GET_SIZE(item) != 2) {
        PyErr_SetString(PyExc_TypeError, "each response header must be a tuple of two strings");
        return -1;
    }
    name = request_pool_str(self, PyTuple_GET_ITEM(item, 0));
    value = name ? request_pool_str(self, PyTuple_GET_ITEM(item, 1)) : NULL;
    if (!value)
        return -1;
    if (strcasecmp(name, "Content-Type") == 0) {
        /* httpd builds Content-Type from r->content_type; a copy in
         * headers_out would be replaced anyway. */
        ap_set_content_type(self->r, value);
        self->content_type_set = 1;
    } else {
        apr_table_addn(self->r->headers_out, name, value);
    }
    return 0;
}

PyObject *request_wsgi_start_response(RequestObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"status", "headers", "exc_info", NULL};
    PyObject *status_obj, *headers, *exc_info = Py_None;
    const char *status;
    long code;
    Py_ssize_t i;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|O:start_response", kwlist, &status_obj, &headers,
                                     &exc_info))
        return NULL;
    if (wsgi_handle_exc_info(self, exc_info) < 0)
        return NULL;
    status = request_pool_str(self, status_obj);
    if (!status)
        return NULL;
    code = wsgi_status_code(status);
    if (code < 100 || code > 599)
        return PyErr_Format(PyExc_ValueError, "Invalid status line: %s", status);
    if (!PyList_Check(headers)) {
        PyErr_SetString(PyExc_TypeError, "response headers must be a list");
        return NULL;
    }
    if (self->wsgi_headers_mark < 0)
        self->wsgi_headers_mark = apr_table_elts(self->r->headers_out)->nelts;
    for (i = 0; i < PyList_GET_SIZE(headers); i++) {
        if (wsgi_add_header(self, PyList_GET_ITEM(headers, i)) < 0)
            return NULL;
    }
    self->r->status_line = status;
    self->r->status = (int)code; /* deviation: upstream sets only status_line */
    return PyObject_GetAttrString((PyObject *)self, "write");
}
