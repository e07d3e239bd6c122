/*
 * request.c - the Python request object `mp_request` (python-api.md §5): a
 * live view of one request_rec for one interpreter. This file owns the
 * type: its lifecycle and GC, the attribute table (request_rec fields,
 * req.main/prev/next, the request tables, ...), the method table and the
 * type spec. The methods live in request_body.c, request_config.c and
 * request_cgi.c (see request_internal.h); only the two that merely set or
 * log against `r` (allow_methods, log_error) are here.
 *
 * The object owns only what is private to its interpreter: the __dict__
 * (req.form, req.session, ...), cached wrappers (connection, server, the
 * five request tables), the request-body read buffer and two counters.
 * Everything every interpreter must see the same way (req.phase, req.hlist,
 * req.extension, handlers queued by add_handler) is read from the C
 * request context (reqctx.h), never stored here, because an own-GIL
 * interpreter has its own wrapper over the same request (beyond.md §1).
 *
 * The object never outlives the request in normal use (reqctx.c drops its
 * reference from a pool cleanup), so it must not touch `r` once the pool is
 * gone: tp_clear and tp_dealloc only release Python references.
 */
#include "objects/obj_request_internal.h"
#include "objects/obj_services.h"

#include <stddef.h>

#if PY_VERSION_HEX >= 0x030C0000
#define REQUEST_T_PYSSIZET Py_T_PYSSIZET
#define REQUEST_READONLY Py_READONLY
#else
#include "structmember.h"
#define REQUEST_T_PYSSIZET T_PYSSIZET
#define REQUEST_READONLY READONLY
#endif

/* ------------------------------------------------------------------ */
/* Small helpers                                                      */

/* Tuple of str from an APR array of char * (NULL array -> empty tuple). */
static PyObject *tuple_from_string_array(const apr_array_header_t *arr)
{
    PyObject *tuple;
    int i;

    tuple = PyTuple_New(arr ? arr->nelts : 0);
    if (!tuple || !arr)
        return tuple;
    for (i = 0; i < arr->nelts; i++) {
        PyObject *s = hydra_str_from_apache(APR_ARRAY_IDX(arr, i, const char *));
        if (!s) {
            Py_DECREF(tuple);
            return NULL;
        }
        PyTuple_SET_ITEM(tuple, i, s);
    }
    return tuple;
}

static PyObject *seconds_from_apr_time(apr_time_t t)
{
    return PyFloat_FromDouble((double)t / APR_USEC_PER_SEC);
}

/* ------------------------------------------------------------------ */
/* Plain request_rec fields, described by a table so that one getter   */
/* and one setter serve them all.                                     */

typedef enum {
    FIELD_INT,        /* int */
    FIELD_UNSIGNED,   /* unsigned int */
    FIELD_OFF,        /* apr_off_t */
    FIELD_INT64,      /* apr_int64_t */
    FIELD_TIME,       /* apr_time_t, shown as float epoch seconds */
    FIELD_STR,        /* char *, UTF-8 (surrogateescape) */
    FIELD_STR_LATIN1, /* char *, Latin-1 (r->user, like upstream) */
} field_kind;

typedef struct {
    size_t offset;
    field_kind kind;
    int none_ok; /* the setter accepts None (stores NULL) */
} request_field;

/* Fields are read and written with memcpy: several are `const char *` and
 * others `char *`, and memcpy keeps that out of the aliasing rules. */
static void *field_addr(RequestObject *self, const request_field *f)
{
    return (char *)self->r + f->offset;
}

static PyObject *field_get(RequestObject *self, void *closure)
{
    const request_field *f = closure;
    void *addr = field_addr(self, f);

    switch (f->kind) {
    case FIELD_INT: {
        int v;
        memcpy(&v, addr, sizeof v);
        return PyLong_FromLong(v);
    }
    case FIELD_UNSIGNED: {
        unsigned v;
        memcpy(&v, addr, sizeof v);
        return PyLong_FromUnsignedLong(v);
    }
    case FIELD_OFF: {
        apr_off_t v;
        memcpy(&v, addr, sizeof v);
        return PyLong_FromLongLong((long long)v);
    }
    case FIELD_INT64: {
        apr_int64_t v;
        memcpy(&v, addr, sizeof v);
        return PyLong_FromLongLong((long long)v);
    }
    case FIELD_TIME: {
        apr_time_t v;
        memcpy(&v, addr, sizeof v);
        return seconds_from_apr_time(v);
    }
    case FIELD_STR:
    case FIELD_STR_LATIN1: {
        const char *v;
        memcpy(&v, addr, sizeof v);
        return f->kind == FIELD_STR ? hydra_str_from_apache(v) : hydra_str_from_latin1(v);
    }
    }
    PyErr_SetString(PyExc_SystemError, "mp_request: unknown field kind");
    return NULL;
}

static int refuse_delete(void)
{
    PyErr_SetString(PyExc_AttributeError, "mp_request attributes cannot be deleted");
    return -1;
}

static int field_set_int(RequestObject *self, const request_field *f, PyObject *value)
{
    long v;

    if (!PyLong_Check(value)) {
        PyErr_SetString(PyExc_TypeError, "attribute value must be an int");
        return -1;
    }
    v = PyLong_AsLong(value);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (v < INT_MIN || v > INT_MAX) {
        PyErr_SetString(PyExc_OverflowError, "attribute value out of range for a C int");
        return -1;
    }
    {
        int iv = (int)v;
        memcpy(field_addr(self, f), &iv, sizeof iv);
    }
    return 0;
}

static int field_set_str(RequestObject *self, const request_field *f, PyObject *value)
{
    const char *v = NULL;

    if (value != Py_None || !f->none_ok) {
        v = request_pool_str(self, value);
        if (!v)
            return -1;
    }
    memcpy(field_addr(self, f), &v, sizeof v);
    return 0;
}

static int field_set(RequestObject *self, PyObject *value, void *closure)
{
    const request_field *f = closure;

    if (!value)
        return refuse_delete();
    if (f->kind == FIELD_INT)
        return field_set_int(self, f, value);
    if (f->kind == FIELD_STR || f->kind == FIELD_STR_LATIN1)
        return field_set_str(self, f, value);
    PyErr_SetString(PyExc_AttributeError, "attribute is read-only");
    return -1;
}

/* clang-format off */
#define FIELD(member, kind, none_ok) \
    ((void *)&(const request_field){offsetof(request_rec, member), kind, none_ok})
#define FIELD_RO(name, kind) {#name, (getter)field_get, NULL, NULL, FIELD(name, kind, 0)}
#define FIELD_RW(name, kind) {#name, (getter)field_get, (setter)field_set, NULL, FIELD(name, kind, 0)}
#define FIELD_RW_NONE(name, kind) {#name, (getter)field_get, (setter)field_set, NULL, FIELD(name, kind, 1)}
/* clang-format on */

/* ------------------------------------------------------------------ */
/* Attributes that are more than a field                              */

static PyObject *request_get_connection(RequestObject *self, void *closure)
{
    if (!self->connection || self->connection_of != self->r->connection) {
        PyObject *conn = connection_object_new(self->st, self->r->connection);
        if (!conn)
            return NULL;
        Py_XSETREF(self->connection, conn);
        self->connection_of = self->r->connection;
    }
    return Py_NewRef(self->connection);
}

static PyObject *request_get_server(RequestObject *self, void *closure)
{
    if (!self->server || self->server_of != self->r->server) {
        PyObject *server = server_object_new(self->st, self->r->server);
        if (!server)
            return NULL;
        Py_XSETREF(self->server, server);
        self->server_of = self->r->server;
    }
    return Py_NewRef(self->server);
}

/* req.main / req.prev / req.next: the related request's object for the
 * running interpreter, cached by reqctx.c, so `req.prev` is the very object
 * the previous request's handlers saw. */
typedef struct {
    size_t offset;
} request_link;

static PyObject *request_get_link(RequestObject *self, void *closure)
{
    const request_link *link = closure;
    request_rec *other;
    PyObject *obj;

    memcpy(&other, (char *)self->r + link->offset, sizeof other);
    if (!other)
        Py_RETURN_NONE;
    obj = obj_services_table->request_object(other);
    return obj ? Py_NewRef(obj) : NULL;
}

/* clang-format off */
#define LINK(member) \
    {#member, (getter)request_get_link, NULL, NULL, \
     (void *)&(const request_link){offsetof(request_rec, member)}}
/* clang-format on */

/* The five request tables. httpd may replace one of them between phases
 * (e.g. ap_internal_fast_redirect copies the sub-request's tables in), so
 * the wrapper is remade whenever the pointer changed. */
typedef struct {
    size_t offset;
    int slot;
} request_table;

static PyObject *request_get_table(RequestObject *self, void *closure)
{
    const request_table *t = closure;
    apr_table_t *current;

    memcpy(&current, (char *)self->r + t->offset, sizeof current);
    if (!self->tables[t->slot].wrapper || self->tables[t->slot].of != current) {
        /* No owner: the table lives in the request pool, which the request
         * object does not keep alive either, and an owner would make a
         * reference cycle through the cache. */
        PyObject *wrapper = table_wrap(self->st, current, NULL);
        if (!wrapper)
            return NULL;
        Py_XSETREF(self->tables[t->slot].wrapper, wrapper);
        self->tables[t->slot].of = current;
    }
    return Py_NewRef(self->tables[t->slot].wrapper);
}

/* clang-format off */
#define TABLE(member, slot) \
    {#member, (getter)request_get_table, NULL, NULL, \
     (void *)&(const request_table){offsetof(request_rec, member), slot}}
/* clang-format on */

static PyObject *request_get_content_type(RequestObject *self, void *closure)
{
    return hydra_str_from_apache(self->r->content_type);
}

static int request_set_content_type(RequestObject *self, PyObject *value, void *closure)
{
    const char *type;

    if (!value)
        return refuse_delete();
    type = request_pool_str(self, value);
    if (!type)
        return -1;
    ap_set_content_type(self->r, type);
    self->content_type_set = 1;
    return 0;
}

static PyObject *request_get_content_type_set(RequestObject *self, void *closure)
{
    return PyLong_FromLong(self->content_type_set);
}

static PyObject *request_get_bytes_queued(RequestObject *self, void *closure)
{
    return PyLong_FromLongLong((long long)self->bytes_queued);
}

static PyObject *request_get_content_languages(RequestObject *self, void *closure)
{
    return tuple_from_string_array(self->r->content_languages);
}

static PyObject *request_get_allowed_xmethods(RequestObject *self, void *closure)
{
    return tuple_from_string_array(self->r->allowed_xmethods);
}

static PyObject *request_get_allowed_methods(RequestObject *self, void *closure)
{
    ap_method_list_t *ml = self->r->allowed_methods;
    return tuple_from_string_array(ml ? ml->method_list : NULL);
}

static PyObject *request_get_finfo(RequestObject *self, void *closure)
{
    return finfo_object_new(self->st, &self->r->finfo, &self->r->finfo, (PyObject *)self);
}

/* Assignment copies the struct; the name strings are copied into the
 * request pool because the source object may die first. */
static int request_set_finfo(RequestObject *self, PyObject *value, void *closure)
{
    const apr_finfo_t *fi;
    apr_finfo_t copy;

    if (!value)
        return refuse_delete();
    fi = finfo_object_get(self->st, value);
    if (!fi)
        return -1;
    copy = *fi;
    copy.pool = self->r->pool;
    copy.fname = fi->fname ? apr_pstrdup(self->r->pool, fi->fname) : NULL;
    copy.name = fi->name ? apr_pstrdup(self->r->pool, fi->name) : NULL;
    self->r->finfo = copy;
    return 0;
}

static PyObject *request_get_parsed_uri(RequestObject *self, void *closure)
{
    const apr_uri_t *u = &self->r->parsed_uri;
    PyObject *port;

    if (u->port_str)
        port = PyLong_FromLong(u->port);
    else
        port = Py_NewRef(Py_None);
    if (!port)
        return NULL;
    return Py_BuildValue("(O&O&O&O&O&NO&O&O&)", hydra_str_from_apache, u->scheme,
                         hydra_str_from_apache, u->hostinfo, hydra_str_from_apache, u->user,
                         hydra_str_from_apache, u->password, hydra_str_from_apache, u->hostname,
                         port, hydra_str_from_apache, u->path, hydra_str_from_apache, u->query,
                         hydra_str_from_apache, u->fragment);
}

static PyObject *request_get_useragent_addr(RequestObject *self, void *closure)
{
    const apr_sockaddr_t *addr = self->r->useragent_addr;
    char *ip = NULL;

    if (!addr)
        Py_RETURN_NONE;
    if (apr_sockaddr_ip_get(&ip, (apr_sockaddr_t *)addr) != APR_SUCCESS)
        Py_RETURN_NONE;
    return Py_BuildValue("(O&i)", hydra_str_from_apache, ip, (int)addr->port);
}

/* interpreters.md §13: the running interpreter's mod_python.apache.interpreter,
 * not something stored on the request. */
static PyObject *request_get_interpreter(RequestObject *self, void *closure)
{
    PyObject *name, *module;
    hydra_interp *interp;

    name = PyUnicode_FromString("mod_python.apache");
    if (!name)
        return NULL;
    module = PyImport_GetModule(name);
    Py_DECREF(name);
    if (module) {
        PyObject *value = PyObject_GetAttr(module, self->st->str_interpreter);
        Py_DECREF(module);
        return value;
    }
    if (PyErr_Occurred())
        return NULL;
    /* mod_python.apache not imported (cannot happen once the interpreter is
     * ready): the registry name is what it would have said. */
    interp = interp_current();
    return PyUnicode_FromString(interp ? interp_name(interp) : HYDRA_MAIN_INTERPRETER);
}

static PyObject *request_get_phase(RequestObject *self, void *closure)
{
    return hydra_str_from_apache(self->ctx ? self->ctx->phase : NULL);
}

static PyObject *request_get_hlist(RequestObject *self, void *closure)
{
    if (!self->ctx || !self->ctx->hlist)
        Py_RETURN_NONE;
    return hlist_object_new(self->st, self->ctx->hlist, (PyObject *)self);
}

static PyObject *request_get_extension(RequestObject *self, void *closure)
{
    return hydra_str_from_apache(self->ctx ? self->ctx->extension : NULL);
}

static PyObject *request_get_request_rec(RequestObject *self, void *closure)
{
    /* Unnamed like upstream's, so PyCapsule_GetPointer(c, NULL) works. */
    return PyCapsule_New(self->r, NULL, NULL);
}

static PyGetSetDef request_getset[] = {
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, NULL, NULL},
    {"connection", (getter)request_get_connection, NULL, NULL, NULL},
    {"server", (getter)request_get_server, NULL, NULL, NULL},
    LINK(next),
    LINK(prev),
    LINK(main),
    FIELD_RO(the_request, FIELD_STR),
    FIELD_RW(assbackwards, FIELD_INT),
    FIELD_RW(proxyreq, FIELD_INT),
    FIELD_RO(header_only, FIELD_INT),
    FIELD_RO(protocol, FIELD_STR),
    FIELD_RO(proto_num, FIELD_INT),
    FIELD_RO(hostname, FIELD_STR),
    FIELD_RO(request_time, FIELD_TIME),
    FIELD_RW(status_line, FIELD_STR),
    FIELD_RW(status, FIELD_INT),
    FIELD_RO(method, FIELD_STR),
    FIELD_RO(method_number, FIELD_INT),
    FIELD_RO(allowed, FIELD_INT64),
    {"allowed_xmethods", (getter)request_get_allowed_xmethods, NULL, NULL, NULL},
    {"allowed_methods", (getter)request_get_allowed_methods, NULL, NULL, NULL},
    FIELD_RO(sent_bodyct, FIELD_OFF),
    FIELD_RO(bytes_sent, FIELD_OFF),
    FIELD_RO(mtime, FIELD_TIME),
    FIELD_RW(chunked, FIELD_INT),
    FIELD_RO(range, FIELD_STR),
    FIELD_RO(clength, FIELD_OFF),
    FIELD_RO(remaining, FIELD_OFF),
    FIELD_RO(read_length, FIELD_OFF),
    FIELD_RO(read_body, FIELD_INT),
    FIELD_RO(read_chunked, FIELD_INT),
    FIELD_RO(expecting_100, FIELD_UNSIGNED),
    TABLE(headers_in, REQ_HEADERS_IN),
    TABLE(headers_out, REQ_HEADERS_OUT),
    TABLE(err_headers_out, REQ_ERR_HEADERS_OUT),
    TABLE(subprocess_env, REQ_SUBPROCESS_ENV),
    TABLE(notes, REQ_NOTES),
    {"content_type", (getter)request_get_content_type, (setter)request_set_content_type, NULL,
     NULL},
    {"_content_type_set", (getter)request_get_content_type_set, NULL, NULL, NULL},
    FIELD_RO(content_encoding, FIELD_STR),
    {"content_languages", (getter)request_get_content_languages, NULL, NULL, NULL},
    FIELD_RW_NONE(handler, FIELD_STR),
    FIELD_RO(vlist_validator, FIELD_STR),
    FIELD_RW(user, FIELD_STR_LATIN1),
    FIELD_RW(ap_auth_type, FIELD_STR),
    FIELD_RW(no_cache, FIELD_INT),
    FIELD_RW(no_local_copy, FIELD_INT),
    FIELD_RO(unparsed_uri, FIELD_STR),
    FIELD_RW(uri, FIELD_STR),
    FIELD_RW(filename, FIELD_STR),
    FIELD_RW(canonical_filename, FIELD_STR),
    FIELD_RW(path_info, FIELD_STR),
    FIELD_RW_NONE(args, FIELD_STR),
    {"finfo", (getter)request_get_finfo, (setter)request_set_finfo, NULL, NULL},
    {"parsed_uri", (getter)request_get_parsed_uri, NULL, NULL, NULL},
    FIELD_RW(used_path_info, FIELD_INT),
    FIELD_RO(eos_sent, FIELD_INT),
    {"useragent_addr", (getter)request_get_useragent_addr, NULL, NULL, NULL},
    FIELD_RO(useragent_ip, FIELD_STR),
    {"interpreter", (getter)request_get_interpreter, NULL, NULL, NULL},
    {"phase", (getter)request_get_phase, NULL, NULL, NULL},
    {"hlist", (getter)request_get_hlist, NULL, NULL, NULL},
    {"extension", (getter)request_get_extension, NULL, NULL, NULL},
    {"_bytes_queued", (getter)request_get_bytes_queued, NULL, NULL, NULL},
    {"_request_rec", (getter)request_get_request_rec, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

/* ------------------------------------------------------------------ */
/* Methods that only set or log against `r`                           */

static PyObject *request_log_error(RequestObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"message", "level", NULL};
    const char *message = NULL;
    int level = APLOG_ERR;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "z|i:log_error", kwlist, &message, &level))
        return NULL;
    if (!message)
        Py_RETURN_NONE;
    /* 0 is APLOG_EMERG, but mod_python callers pass it meaning "default"
     * (spec README §15). */
    level &= APLOG_LEVELMASK;
    if (level == 0)
        level = APLOG_ERR;
    HYDRA_BLOCKING_BEGIN;
    ap_log_rerror(APLOG_MARK, level, 0, self->r, "%s", message);
    HYDRA_BLOCKING_END;
    Py_RETURN_NONE;
}

static PyObject *request_allow_methods(RequestObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"methods", "reset", NULL};
    PyObject *methods;
    int reset = 0;
    Py_ssize_t i, n;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|i:allow_methods", kwlist, &methods, &reset))
        return NULL;
    if (!PySequence_Check(methods)) {
        PyErr_SetString(PyExc_TypeError, "First argument must be a sequence");
        return NULL;
    }
    n = PySequence_Size(methods);
    if (n < 0)
        return NULL;
    for (i = 0; i < n; i++) {
        PyObject *item = PySequence_GetItem(methods, i);
        const char *method;

        if (!item)
            return NULL;
        method = request_pool_str(self, item);
        Py_DECREF(item);
        if (!method)
            return NULL;
        /* The first one replaces the list when asked to; the rest merge. */
        ap_allow_methods(self->r, i == 0 && reset == REPLACE_ALLOW ? REPLACE_ALLOW : MERGE_ALLOW,
                         method, NULL);
    }
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ */
/* Type                                                               */

/* clang-format off */
#define METH_KW(name, fn) {name, (PyCFunction)(void (*)(void))fn, METH_VARARGS | METH_KEYWORDS, NULL}
#define METH_NOARGS_(name, fn) {name, (PyCFunction)fn, METH_NOARGS, NULL}
#define METH_ONE(name, fn) {name, (PyCFunction)fn, METH_O, NULL}
/* clang-format on */

/* request_internal.h says which file defines each method. */
static PyMethodDef request_methods[] = {
    METH_KW("write", request_write),
    METH_NOARGS_("flush", request_flush),
    METH_KW("read", request_read),
    METH_KW("readline", request_readline),
    METH_KW("readlines", request_readlines),
    METH_KW("read_body_chunk", request_read_body_chunk),
    METH_NOARGS_("abort_connection", request_abort_connection),
    METH_NOARGS_("get_config", request_get_config),
    METH_NOARGS_("get_options", request_get_options),
    METH_KW("add_handler", request_add_handler),
    METH_ONE("add_input_filter", request_add_input_filter),
    METH_ONE("add_output_filter", request_add_output_filter),
    METH_KW("register_input_filter", request_register_input_filter),
    METH_KW("register_output_filter", request_register_output_filter),
    METH_KW("allow_methods", request_allow_methods),
    METH_NOARGS_("get_basic_auth_pw", request_get_basic_auth_pw),
    METH_NOARGS_("auth_name", request_auth_name),
    METH_NOARGS_("auth_type", request_auth_type),
    METH_ONE("construct_url", request_construct_url),
    METH_NOARGS_("document_root", request_document_root),
    METH_NOARGS_("discard_request_body", request_discard_request_body),
    METH_KW("get_remote_host", request_get_remote_host),
    METH_ONE("internal_redirect", request_internal_redirect),
    METH_NOARGS_("is_https", request_is_https),
    METH_ONE("ssl_var_lookup", request_ssl_var_lookup),
    METH_KW("log_error", request_log_error),
    METH_NOARGS_("meets_conditions", request_meets_conditions),
    METH_KW("register_cleanup", request_register_cleanup),
    METH_KW("sendfile", request_sendfile),
    METH_ONE("set_content_length", request_set_content_length),
    METH_NOARGS_("set_etag", request_set_etag),
    METH_NOARGS_("set_last_modified", request_set_last_modified),
    METH_ONE("update_mtime", request_update_mtime),
    METH_NOARGS_("add_common_vars", request_add_common_vars),
    METH_NOARGS_("add_cgi_vars", request_add_cgi_vars),
    METH_NOARGS_("send_http_header", request_send_http_header),
    METH_NOARGS_("get_addhandler_exts", request_get_addhandler_exts),
    METH_NOARGS_("build_wsgi_env", request_build_wsgi_env),
    METH_KW("wsgi_start_response", request_wsgi_start_response),
    {NULL, NULL, 0, NULL},
};

static PyMemberDef request_members[] = {
    /* How a heap type made from a spec gets a __dict__ on 3.11-3.13. */
    {"__dictoffset__", REQUEST_T_PYSSIZET, offsetof(RequestObject, dict), REQUEST_READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static int request_traverse(RequestObject *self, visitproc visit, void *arg)
{
    int i;

    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->dict);
    Py_VISIT(self->connection);
    Py_VISIT(self->server);
    for (i = 0; i < REQ_TABLE_COUNT; i++)
        Py_VISIT(self->tables[i].wrapper);
    return 0;
}

/* Releases Python references only: `r` may already be gone. */
static int request_clear(RequestObject *self)
{
    int i;

    Py_CLEAR(self->dict);
    Py_CLEAR(self->connection);
    Py_CLEAR(self->server);
    for (i = 0; i < REQ_TABLE_COUNT; i++)
        Py_CLEAR(self->tables[i].wrapper);
    return 0;
}

static void request_dealloc(RequestObject *self)
{
    PyTypeObject *type = Py_TYPE(self);

    PyObject_GC_UnTrack(self);
    request_clear(self);
    PyMem_Free(self->rbuf);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

static PyType_Slot request_slots[] = {
    {Py_tp_doc, "A mod_python request (python-api.md §5); made by Hydra, not from Python."},
    {Py_tp_dealloc, request_dealloc},
    {Py_tp_traverse, request_traverse},
    {Py_tp_clear, request_clear},
    {Py_tp_methods, request_methods},
    {Py_tp_members, request_members},
    {Py_tp_getset, request_getset},
    {0, NULL},
};

/* Named exactly "mp_request", like upstream: tests and frameworks look at
 * type(req).__name__ (e.g. wsgi.input). */
PyType_Spec hydra_request_spec = {
    .name = "mp_request",
    .basicsize = sizeof(RequestObject),
    .itemsize = 0,
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = request_slots,
};

PyObject *request_object_new(hydra_apache_state *st, request_rec *r, hydra_reqctx *ctx)
{
    PyTypeObject *type = st->request_type;
    RequestObject *self = (RequestObject *)type->tp_alloc(type, 0);

    if (!self)
        return NULL;
    /* tp_alloc zeroed the rest: no caches, body not set up, nothing queued. */
    self->r = r;
    self->ctx = ctx;
    self->st = st;
    self->wsgi_headers_mark = -1;
    return (PyObject *)self;
}
