/*
 * request.c - the Python request object `mp_request` (python-api.md §5): a
 * live view of one request_rec for one interpreter.
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
 *
 * Every Apache call that can block runs with the GIL released
 * (HYDRA_BLOCKING_BEGIN/END): output filters written in Python run inside
 * ap_rwrite() on this very thread, and an internal redirect runs a whole
 * nested request.
 */
#include "objects.h"

#include <stddef.h>

#include "apr_lib.h"
#include "apr_optional.h"
#include "mod_ssl.h"
#include "util_script.h"

#if PY_VERSION_HEX >= 0x030C0000
#define REQUEST_T_PYSSIZET Py_T_PYSSIZET
#define REQUEST_READONLY Py_READONLY
#else
#include "structmember.h"
#define REQUEST_T_PYSSIZET T_PYSSIZET
#define REQUEST_READONLY READONLY
#endif

/* ap_get_client_block() read size for readline()'s buffer, and the growth
 * step of read() when the body length is not known in advance. */
#define REQUEST_READ_CHUNK 8192
/* Largest buffer read() allocates on the strength of Content-Length. */
#define REQUEST_PREALLOC_MAX (1 << 20)
/* ap_rwrite() takes an int length. */
#define REQUEST_WRITE_CHUNK (1 << 30)

/* The request tables exposed as attributes, in getset order. */
enum {
    REQ_HEADERS_IN,
    REQ_HEADERS_OUT,
    REQ_ERR_HEADERS_OUT,
    REQ_SUBPROCESS_ENV,
    REQ_NOTES,
    REQ_TABLE_COUNT
};

/* Whether reading the body has been set up for this wrapper. */
typedef enum {
    BODY_UNSET = 0,
    BODY_EXPECTED,
    BODY_NONE
} body_state;

typedef struct {
    PyObject_HEAD
    request_rec *r;
    hydra_reqctx *ctx;
    hydra_apache_state *st; /* of our type's module; lives as long as the type */
    PyObject *dict;

    /* Cached wrappers, remade when httpd pointed `r` at another struct. */
    PyObject *connection;
    conn_rec *connection_of;
    PyObject *server;
    server_rec *server_of;
    struct {
        PyObject *wrapper;
        apr_table_t *of;
    } tables[REQ_TABLE_COUNT];

    /* Request body: what readline() fetched beyond the line it returned. */
    body_state body;
    int body_busy; /* a read is running with the GIL released */
    char *rbuf;    /* PyMem, REQUEST_READ_CHUNK bytes, allocated on first use */
    Py_ssize_t rbuf_pos;
    Py_ssize_t rbuf_len;

    apr_off_t bytes_queued;
    int content_type_set;

    /* Headers already in headers_out when wsgi_start_response() first ran;
     * a later call with exc_info drops whatever was added after them. */
    int wsgi_headers_mark; /* -1: start_response not called yet */
} RequestObject;

/* ------------------------------------------------------------------ */
/* Small helpers                                                      */

static PyObject *raise_oserror(const char *message)
{
    PyErr_SetString(PyExc_OSError, message);
    return NULL;
}

/* raise SERVER_RETURN(status): how read() refuses a chunked body. */
static PyObject *raise_server_return(RequestObject *self, int status)
{
    PyObject *value = PyLong_FromLong(status);
    if (value) {
        PyErr_SetObject(self->st->server_return, value);
        Py_DECREF(value);
    }
    return NULL;
}

/* A str/bytes argument copied into the request pool (strings to Apache
 * must be Latin-1, python-api.md introduction). */
static const char *request_pool_str(RequestObject *self, PyObject *obj)
{
    return hydra_str_to_apache(self->r->pool, obj);
}

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
    hydra_interp *interp;
    PyObject *obj;

    memcpy(&other, (char *)self->r + link->offset, sizeof other);
    if (!other)
        Py_RETURN_NONE;
    interp = interp_current();
    if (!interp) {
        PyErr_SetString(PyExc_RuntimeError, "no Hydra interpreter is running");
        return NULL;
    }
    obj = reqctx_request_object(other, interp);
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
    return PyUnicode_FromString(interp ? interp->name : HYDRA_MAIN_INTERPRETER);
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
/* Response body                                                      */

/* ap_rwrite() in int-sized pieces. Called with the GIL released. */
static int write_all(request_rec *r, const char *buf, Py_ssize_t len)
{
    while (len > 0) {
        int n = len > REQUEST_WRITE_CHUNK ? REQUEST_WRITE_CHUNK : (int)len;
        if (ap_rwrite(buf, n, r) < 0)
            return -1;
        buf += n;
        len -= n;
    }
    return 0;
}

static PyObject *request_write(RequestObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"data", "flush", NULL};
    Py_buffer data;
    int flush = 1;
    int rc = 0;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "s*|i:write", kwlist, &data, &flush))
        return NULL;
    if (data.len > 0) {
        HYDRA_BLOCKING_BEGIN;
        rc = write_all(self->r, data.buf, data.len);
        if (rc == 0 && flush)
            rc = ap_rflush(self->r);
        HYDRA_BLOCKING_END;
        self->bytes_queued += data.len;
    }
    PyBuffer_Release(&data);
    if (rc < 0)
        return raise_oserror("Write failed, client closed connection.");
    Py_RETURN_NONE;
}

static PyObject *request_flush(RequestObject *self, PyObject *unused)
{
    int rc;

    HYDRA_BLOCKING_BEGIN;
    rc = ap_rflush(self->r);
    HYDRA_BLOCKING_END;
    if (rc < 0)
        return raise_oserror("Flush failed, client closed connection.");
    Py_RETURN_NONE;
}

/* Sends (part of) a file with ap_send_fd. The file is opened in the
 * request pool and deliberately not closed here: the core output filter may
 * still hold the file bucket (set aside for a slow client), and the pool
 * cleanup closes the descriptor once nothing can use it any more. */
static PyObject *request_sendfile(RequestObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"path", "offset", "len", NULL};
    PyObject *path_bytes;
    long long offset = 0, len = -1;
    const char *path;
    apr_finfo_t finfo;
    apr_file_t *fd = NULL;
    apr_size_t sent = 0;
    apr_status_t status;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|LL:sendfile", kwlist, PyUnicode_FSConverter,
                                     &path_bytes, &offset, &len))
        return NULL;
    path = apr_pstrdup(self->r->pool, PyBytes_AS_STRING(path_bytes));
    Py_DECREF(path_bytes);

    HYDRA_BLOCKING_BEGIN;
    status = apr_stat(&finfo, path, APR_FINFO_NORM, self->r->pool);
    HYDRA_BLOCKING_END;
    if (status != APR_SUCCESS)
        return raise_oserror("Could not stat file for reading");

    HYDRA_BLOCKING_BEGIN;
    status = apr_file_open(&fd, path, APR_READ, APR_OS_DEFAULT, self->r->pool);
    HYDRA_BLOCKING_END;
    if (status != APR_SUCCESS)
        return raise_oserror("Could not open file for reading");

    if (offset < 0)
        offset = 0;
    if (len < 0) /* -1: the rest of the file from `offset` */
        len = finfo.size > offset ? (long long)finfo.size - offset : 0;

    HYDRA_BLOCKING_BEGIN;
    status = ap_send_fd(fd, self->r, (apr_off_t)offset, (apr_size_t)len, &sent);
    HYDRA_BLOCKING_END;
    if (status != APR_SUCCESS)
        return raise_oserror("Write failed, client closed connection.");
    self->bytes_queued += (apr_off_t)len;
    return PyLong_FromSize_t(sent);
}

static PyObject *request_internal_redirect(RequestObject *self, PyObject *arg)
{
    const char *uri = request_pool_str(self, arg);

    if (!uri)
        return NULL;
    HYDRA_BLOCKING_BEGIN;
    ap_internal_redirect(uri, self->r);
    HYDRA_BLOCKING_END;
    Py_RETURN_NONE;
}

static PyObject *request_send_http_header(RequestObject *self, PyObject *unused)
{
    /* Headers go out with the first body write; kept for old code. */
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ */
/* Request body                                                       */

/* A bytes object filled in place and shrunk to size at the end, so the
 * body is read straight into the object returned to Python. */
typedef struct {
    PyObject *bytes;
    Py_ssize_t len;
} byte_sink;

static Py_ssize_t sink_room(const byte_sink *s)
{
    return s->bytes ? PyBytes_GET_SIZE(s->bytes) - s->len : 0;
}

static int sink_grow(byte_sink *s, Py_ssize_t extra)
{
    Py_ssize_t cap = s->bytes ? PyBytes_GET_SIZE(s->bytes) : 0;
    Py_ssize_t want = s->len + extra;

    if (want <= cap)
        return 0;
    if (want < cap * 2)
        want = cap * 2;
    if (!s->bytes) {
        s->bytes = PyBytes_FromStringAndSize(NULL, want);
        return s->bytes ? 0 : -1;
    }
    return _PyBytes_Resize(&s->bytes, want);
}

static int sink_append(byte_sink *s, const char *data, Py_ssize_t n)
{
    if (sink_room(s) < n && sink_grow(s, n) < 0)
        return -1;
    memcpy(PyBytes_AS_STRING(s->bytes) + s->len, data, (size_t)n);
    s->len += n;
    return 0;
}

static PyObject *sink_finish(byte_sink *s)
{
    if (!s->bytes)
        return PyBytes_FromStringAndSize(NULL, 0);
    if (s->len != PyBytes_GET_SIZE(s->bytes) && _PyBytes_Resize(&s->bytes, s->len) < 0)
        return NULL;
    return s->bytes;
}

static void sink_discard(byte_sink *s)
{
    Py_CLEAR(s->bytes);
}

/* Body bytes httpd still expects (Content-Length minus what was read), or
 * 0 when unknown (chunked) or finished. Only a size hint. */
static Py_ssize_t body_left_hint(const request_rec *r)
{
    if (r->read_chunked || r->remaining <= r->read_length)
        return 0;
    if (r->remaining - r->read_length > PY_SSIZE_T_MAX)
        return PY_SSIZE_T_MAX;
    return (Py_ssize_t)(r->remaining - r->read_length);
}

/* Sets up body reading on first use. 1: a body may follow, 0: none,
 * -1: exception (SERVER_RETURN with httpd's status, e.g. 411 for a chunked
 * body, which REQUEST_CHUNKED_ERROR refuses like upstream). */
static int body_prepare(RequestObject *self)
{
    request_rec *r = self->r;
    int should;

    if (self->body != BODY_UNSET)
        return self->body == BODY_EXPECTED;
    if (r->read_length == 0) {
        /* Nothing read yet by anyone: set up; otherwise another wrapper
         * or module already did, and setting up again would reset httpd's
         * bookkeeping. */
        int status = ap_setup_client_block(r, REQUEST_CHUNKED_ERROR);
        if (status != OK) {
            raise_server_return(self, status);
            return -1;
        }
        /* May send "100 Continue" to the client. */
        HYDRA_BLOCKING_BEGIN;
        should = ap_should_client_block(r);
        HYDRA_BLOCKING_END;
    } else {
        should = 1;
    }
    self->body = should ? BODY_EXPECTED : BODY_NONE;
    return should;
}

/* One ap_get_client_block() into `buf`, GIL released. >0 bytes, 0 end of
 * body, -1 error (OSError set). */
static long body_read_block(RequestObject *self, char *buf, Py_ssize_t n)
{
    long got;

    self->body_busy = 1;
    HYDRA_BLOCKING_BEGIN;
    got = ap_get_client_block(self->r, buf, (apr_size_t)n);
    HYDRA_BLOCKING_END;
    self->body_busy = 0;
    if (got < 0)
        raise_oserror("Client read error (Timeout?)");
    return got;
}

/* An input filter written in Python runs inside ap_get_client_block() on
 * this thread; if it read this request's body through `req` it would
 * write into the buffer the outer read is filling. */
static int body_check_not_busy(RequestObject *self)
{
    if (!self->body_busy)
        return 0;
    PyErr_SetString(PyExc_RuntimeError, "request body read re-entered while a read is running");
    return -1;
}

/* Refills the readline buffer once it is empty. >0, 0 at end, -1 error. */
static long body_fill_buffer(RequestObject *self)
{
    long got;

    if (!self->rbuf) {
        self->rbuf = PyMem_Malloc(REQUEST_READ_CHUNK);
        if (!self->rbuf) {
            PyErr_NoMemory();
            return -1;
        }
    }
    got = body_read_block(self, self->rbuf, REQUEST_READ_CHUNK);
    self->rbuf_pos = 0;
    self->rbuf_len = got > 0 ? got : 0;
    return got;
}

/* Moves up to `limit` buffered bytes (all when negative) into the sink. */
static int body_take_buffered(RequestObject *self, byte_sink *sink, Py_ssize_t limit)
{
    Py_ssize_t n = self->rbuf_len - self->rbuf_pos;

    if (limit >= 0 && n > limit)
        n = limit;
    if (n <= 0)
        return 0;
    if (sink_append(sink, self->rbuf + self->rbuf_pos, n) < 0)
        return -1;
    self->rbuf_pos += n;
    return 0;
}

/* Reads up to `limit` bytes (everything when negative), looping over short
 * reads until the limit or the end of the body. */
static PyObject *body_read(RequestObject *self, Py_ssize_t limit)
{
    byte_sink sink = {NULL, 0};
    Py_ssize_t max = limit < 0 ? PY_SSIZE_T_MAX : limit;
    Py_ssize_t first;
    int ready;

    if (body_check_not_busy(self) < 0)
        return NULL;
    ready = body_prepare(self);
    if (ready < 0)
        return NULL;
    /* Sized for what is buffered plus what Content-Length still promises,
     * but a client's claim alone never buys more than REQUEST_PREALLOC_MAX
     * up front: beyond that the buffer doubles as data really arrives. */
    first = self->rbuf_len - self->rbuf_pos;
    if (ready)
        first += Py_MIN(body_left_hint(self->r), REQUEST_PREALLOC_MAX);
    if (first > max)
        first = max;
    if (first > 0 && sink_grow(&sink, first) < 0)
        return NULL;
    if (body_take_buffered(self, &sink, limit) < 0)
        goto error;
    while (ready && sink.len < max) {
        Py_ssize_t room = sink_room(&sink);
        long got;

        if (room == 0) {
            Py_ssize_t step = max - sink.len;
            if (step > REQUEST_READ_CHUNK)
                step = REQUEST_READ_CHUNK;
            if (sink_grow(&sink, step) < 0)
                goto error;
            room = sink_room(&sink);
        }
        if (room > max - sink.len)
            room = max - sink.len;
        got = body_read_block(self, PyBytes_AS_STRING(sink.bytes) + sink.len, room);
        if (got < 0)
            goto error;
        if (got == 0)
            break;
        sink.len += got;
    }
    return sink_finish(&sink);

error:
    sink_discard(&sink);
    return NULL;
}

/* One line (newline included) of at most `limit` bytes (no limit when
 * negative), through the read buffer shared with read(). */
static PyObject *body_readline(RequestObject *self, Py_ssize_t limit)
{
    byte_sink sink = {NULL, 0};
    int ready;

    if (body_check_not_busy(self) < 0)
        return NULL;
    ready = body_prepare(self);
    if (ready < 0)
        return NULL;
    while (limit < 0 || sink.len < limit) {
        Py_ssize_t take;
        const char *start, *nl;

        if (self->rbuf_pos == self->rbuf_len) {
            long got = ready ? body_fill_buffer(self) : 0;
            if (got < 0)
                goto error;
            if (got == 0)
                break;
        }
        start = self->rbuf + self->rbuf_pos;
        take = self->rbuf_len - self->rbuf_pos;
        if (limit >= 0 && take > limit - sink.len)
            take = limit - sink.len;
        nl = memchr(start, '\n', (size_t)take);
        if (nl)
            take = nl - start + 1;
        if (sink_append(&sink, start, take) < 0)
            goto error;
        self->rbuf_pos += take;
        if (nl)
            break;
    }
    return sink_finish(&sink);

error:
    sink_discard(&sink);
    return NULL;
}

static PyObject *request_read(RequestObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"len", NULL};
    Py_ssize_t len = -1;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "|n:read", kwlist, &len))
        return NULL;
    if (len == 0)
        return PyBytes_FromStringAndSize(NULL, 0);
    return body_read(self, len);
}

static PyObject *request_readline(RequestObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"len", NULL};
    Py_ssize_t len = -1;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "|n:readline", kwlist, &len))
        return NULL;
    if (len == 0)
        return PyBytes_FromStringAndSize(NULL, 0);
    return body_readline(self, len);
}

static PyObject *request_readlines(RequestObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"sizehint", NULL};
    Py_ssize_t sizehint = -1, total = 0;
    PyObject *lines;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "|n:readlines", kwlist, &sizehint))
        return NULL;
    lines = PyList_New(0);
    if (!lines)
        return NULL;
    for (;;) {
        PyObject *line = body_readline(self, -1);
        Py_ssize_t n;

        if (!line)
            goto error;
        n = PyBytes_GET_SIZE(line);
        if (n == 0) {
            Py_DECREF(line);
            break;
        }
        if (PyList_Append(lines, line) < 0) {
            Py_DECREF(line);
            goto error;
        }
        Py_DECREF(line);
        total += n;
        if (sizehint > 0 && total >= sizehint)
            break;
    }
    return lines;

error:
    Py_DECREF(lines);
    return NULL;
}

static PyObject *request_discard_request_body(RequestObject *self, PyObject *unused)
{
    int status;

    HYDRA_BLOCKING_BEGIN;
    status = ap_discard_request_body(self->r);
    HYDRA_BLOCKING_END;
    return PyLong_FromLong(status);
}

/* ------------------------------------------------------------------ */
/* Configuration and handlers                                         */

static hydra_config *request_dir_config(RequestObject *self)
{
    hydra_config *conf = hydra_dir_config(self->r);
    if (!conf)
        PyErr_SetString(PyExc_RuntimeError, "no mod_python configuration for this request");
    return conf;
}

static PyObject *request_get_config(RequestObject *self, PyObject *unused)
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

static PyObject *request_get_options(RequestObject *self, PyObject *unused)
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

static PyObject *request_add_handler(RequestObject *self, PyObject *args, PyObject *kw)
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

static PyObject *request_register_cleanup(RequestObject *self, PyObject *args, PyObject *kw)
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

/* The generic filter that runs per-request Python filters (directives.md
 * §3.1). Contract with dispatch.c: the instance is added with f->ctx set
 * to the hydra_filter_reg it runs. */
#define HYDRA_GENERIC_FILTER "MOD_PYTHON"

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
    apr_hash_set(self->ctx->registered_filters, reg->name, APR_HASH_KEY_STRING, reg);
    Py_RETURN_NONE;
}

static PyObject *request_register_input_filter(RequestObject *self, PyObject *args, PyObject *kw)
{
    return request_register_filter(self, args, kw, 1);
}

static PyObject *request_register_output_filter(RequestObject *self, PyObject *args, PyObject *kw)
{
    return request_register_filter(self, args, kw, 0);
}

static hydra_filter_reg *registered_filter(RequestObject *self, const char *name, int is_input)
{
    hydra_filter_reg *reg;

    if (!self->ctx || !self->ctx->registered_filters)
        return NULL;
    reg = apr_hash_get(self->ctx->registered_filters, name, APR_HASH_KEY_STRING);
    return reg && reg->is_input == is_input ? reg : NULL;
}

/* A name registered with req.register_*_filter runs under the generic
 * filter; any other name is looked up in httpd's filter registry (which
 * holds PythonInputFilter/PythonOutputFilter names and httpd's own filters
 * such as INCLUDES or CONTENT_LENGTH). */
static PyObject *request_add_filter(RequestObject *self, PyObject *arg, int is_input)
{
    const char *name = request_pool_str(self, arg);
    hydra_filter_reg *reg;

    if (!name)
        return NULL;
    reg = registered_filter(self, name, is_input);
    if (reg)
        name = HYDRA_GENERIC_FILTER;
    if (is_input)
        ap_add_input_filter(name, reg, self->r, self->r->connection);
    else
        ap_add_output_filter(name, reg, self->r, self->r->connection);
    Py_RETURN_NONE;
}

static PyObject *request_add_input_filter(RequestObject *self, PyObject *arg)
{
    return request_add_filter(self, arg, 1);
}

static PyObject *request_add_output_filter(RequestObject *self, PyObject *arg)
{
    return request_add_filter(self, arg, 0);
}

/* ------------------------------------------------------------------ */
/* Authentication, URLs, client, logging                              */

static PyObject *request_get_basic_auth_pw(RequestObject *self, PyObject *unused)
{
    const char *pw = NULL;

    if (ap_get_basic_auth_pw(self->r, &pw) != OK)
        Py_RETURN_NONE;
    return hydra_str_from_latin1(pw);
}

static PyObject *request_auth_name(RequestObject *self, PyObject *unused)
{
    return hydra_str_from_apache(ap_auth_name(self->r));
}

static PyObject *request_auth_type(RequestObject *self, PyObject *unused)
{
    return hydra_str_from_apache(ap_auth_type(self->r));
}

static PyObject *request_construct_url(RequestObject *self, PyObject *arg)
{
    const char *uri = request_pool_str(self, arg);

    if (!uri)
        return NULL;
    return hydra_str_from_apache(ap_construct_url(self->r->pool, uri, self->r));
}

static PyObject *request_document_root(RequestObject *self, PyObject *unused)
{
    return hydra_str_from_apache(ap_document_root(self->r));
}

static PyObject *request_get_remote_host(RequestObject *self, PyObject *args, PyObject *kw)
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

static PyObject *request_is_https(RequestObject *self, PyObject *unused)
{
    APR_OPTIONAL_FN_TYPE(ssl_is_https) *is_https = APR_RETRIEVE_OPTIONAL_FN(ssl_is_https);

    return PyLong_FromLong(is_https && is_https(self->r->connection) ? 1 : 0);
}

static PyObject *request_ssl_var_lookup(RequestObject *self, PyObject *arg)
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
/* Response metadata                                                  */

static PyObject *request_meets_conditions(RequestObject *self, PyObject *unused)
{
    return PyLong_FromLong(ap_meets_conditions(self->r));
}

static PyObject *request_set_content_length(RequestObject *self, PyObject *arg)
{
    long long len = PyLong_AsLongLong(arg);

    if (len == -1 && PyErr_Occurred())
        return NULL;
    ap_set_content_length(self->r, (apr_off_t)len);
    Py_RETURN_NONE;
}

static PyObject *request_set_etag(RequestObject *self, PyObject *unused)
{
    ap_set_etag(self->r);
    Py_RETURN_NONE;
}

static PyObject *request_set_last_modified(RequestObject *self, PyObject *unused)
{
    ap_set_last_modified(self->r);
    Py_RETURN_NONE;
}

static PyObject *request_update_mtime(RequestObject *self, PyObject *arg)
{
    double seconds = PyFloat_AsDouble(arg);

    if (seconds == -1.0 && PyErr_Occurred())
        return NULL;
    ap_update_mtime(self->r, (apr_time_t)(seconds * APR_USEC_PER_SEC));
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ */
/* CGI variables                                                      */

static PyObject *request_add_common_vars(RequestObject *self, PyObject *unused)
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

static PyObject *request_add_cgi_vars(RequestObject *self, PyObject *unused)
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

static PyObject *request_get_addhandler_exts(RequestObject *self, PyObject *unused)
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
    const char *base = apr_table_get(conf->options, WSGI_BASE_URI_OPTION);
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

static PyObject *request_build_wsgi_env(RequestObject *self, PyObject *unused)
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

static PyObject *request_wsgi_start_response(RequestObject *self, PyObject *args, PyObject *kw)
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

/* ------------------------------------------------------------------ */
/* Type                                                               */

/* clang-format off */
#define METH_KW(name, fn) {name, (PyCFunction)(void (*)(void))fn, METH_VARARGS | METH_KEYWORDS, NULL}
#define METH_NOARGS_(name, fn) {name, (PyCFunction)fn, METH_NOARGS, NULL}
#define METH_ONE(name, fn) {name, (PyCFunction)fn, METH_O, NULL}
/* clang-format on */

static PyMethodDef request_methods[] = {
    METH_KW("write", request_write),
    METH_NOARGS_("flush", request_flush),
    METH_KW("read", request_read),
    METH_KW("readline", request_readline),
    METH_KW("readlines", request_readlines),
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
