/*
 * connection.c - `mp_conn`, the Python view of a conn_rec
 * (python-api.md §6): connection facts, the live notes table, logging,
 * and raw I/O for connection handlers.
 *
 * read/readline/write go through the connection's own filter chains
 * (c->input_filters, c->output_filters) with brigades, never around them,
 * so mod_ssl and friends keep working. The GIL is released around every
 * brigade call and every bucket read, since each of them may block on the
 * client. The wrapper must not outlive c->pool (objects.h).
 */
#include "objects/objects.h"
#include "apr_buckets.h"

#include <stddef.h>

/* What read(0) asks for: "the first available bucket" (at most 8 KiB). */
#define CONN_READ_DEFAULT_BYTES 8192

typedef struct conn_object {
    PyObject_HEAD
    conn_rec *conn;
    PyObject *base_server;     /* cached mp_server */
    PyObject *notes;           /* cached live view of c->notes */
    PyObject *pending;         /* bytes read from Apache but not yet returned */
    apr_bucket_brigade *bb_in; /* reused; made on first use from c->pool */
    apr_bucket_brigade *bb_out;
    hydra_hlist *hlist; /* set by the connection-handler dispatcher */
} conn_object;

#define CONN_REC(self) (((conn_object *)(self))->conn)

static hydra_apache_state *conn_state(PyObject *self)
{
    return hydra_state_from_type(Py_TYPE(self));
}

/* ---------------------------------------------------------------------
 * Reading
 *
 * A read fills a malloc'd buffer with the GIL released and turns it into
 * bytes afterwards. Data Apache returned beyond what the caller asked for
 * (readline with a cap) is kept in `pending` and served first next time.
 */

typedef struct read_buffer {
    char *data;
    apr_size_t len, cap;
    int eos; /* an EOS bucket was seen */
    apr_status_t status;
} read_buffer;

static int read_buffer_append(read_buffer *buf, const char *data, apr_size_t len)
{
    if (buf->len + len > buf->cap) {
        apr_size_t cap = buf->cap ? buf->cap : 8192;
        while (cap < buf->len + len)
            cap *= 2;
        char *grown = realloc(buf->data, cap);
        if (grown == NULL)
            return -1;
        buf->data = grown;
        buf->cap = cap;
    }
    memcpy(buf->data + buf->len, data, len);
    buf->len += len;
    return 0;
}

/* Copies the data buckets of `bb` up to EOS. Reading a socket bucket
 * splits off what arrived and leaves a new socket bucket behind it, so in
 * AP_MODE_EXHAUSTIVE this walk continues until the peer closes. Runs
 * without the GIL. */
static apr_status_t drain_brigade(apr_bucket_brigade *bb, read_buffer *buf)
{
    for (apr_bucket *b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);
         b = APR_BUCKET_NEXT(b)) {
        if (APR_BUCKET_IS_EOS(b)) {
            buf->eos = 1;
            break;
        }
        if (APR_BUCKET_IS_METADATA(b))
            continue;
        const char *data;
        apr_size_t len;
        apr_status_t rv = apr_bucket_read(b, &data, &len, APR_BLOCK_READ);
        if (rv != APR_SUCCESS)
            return rv;
        if (len > 0 && read_buffer_append(buf, data, len) < 0)
            return APR_ENOMEM;
    }
    return APR_SUCCESS;
}

/* One ap_get_brigade in `mode`, repeated while a filter hands back an
 * empty brigade (blocking reads should not, but nothing forbids it).
 * Runs without the GIL. */
static void fetch_from_filters(conn_rec *c, apr_bucket_brigade *bb, ap_input_mode_t mode,
                               apr_off_t readbytes, read_buffer *buf)
{
    apr_status_t rv;
    do {
        rv = ap_get_brigade(c->input_filters, bb, mode, APR_BLOCK_READ, readbytes);
    } while (rv == APR_SUCCESS && APR_BRIGADE_EMPTY(bb));
    if (rv == APR_SUCCESS)
        rv = drain_brigade(bb, buf);
    /* The core input filter says APR_EOF once the socket is done. */
    if (rv == APR_EOF) {
        buf->eos = 1;
        rv = APR_SUCCESS;
    }
    apr_brigade_cleanup(bb);
    buf->status = rv;
}

/* The Python value of a finished read: bytes, None at end of stream with
 * no data, or NULL with an exception. */
static PyObject *read_result(const read_buffer *buf)
{
    if (buf->status == APR_ENOMEM)
        return PyErr_NoMemory();
    if (buf->status != APR_SUCCESS) {
        PyErr_SetString(PyExc_IOError, "Connection read error");
        return NULL;
    }
    if (buf->len == 0 && buf->eos)
        Py_RETURN_NONE;
    return PyBytes_FromStringAndSize(buf->data, (Py_ssize_t)buf->len);
}

/* Reads once from the input filters. Returns new bytes, Py_None at end of
 * stream with no data, or NULL with an exception. */
static PyObject *conn_fetch(PyObject *self, ap_input_mode_t mode, apr_off_t readbytes)
{
    conn_object *co = (conn_object *)self;
    conn_rec *c = co->conn;
    if (co->bb_in == NULL)
        co->bb_in = apr_brigade_create(c->pool, c->bucket_alloc);
    read_buffer buf = {NULL, 0, 0, 0, APR_SUCCESS};
    HYDRA_BLOCKING_BEGIN
    fetch_from_filters(c, co->bb_in, mode, readbytes, &buf);
    HYDRA_BLOCKING_END

    PyObject *result = read_result(&buf);
    free(buf.data);
    return result;
}

/* Splits `data` at `n`: returns the head, keeps the tail in `pending`. */
static PyObject *conn_keep_tail(PyObject *self, PyObject *data, Py_ssize_t n)
{
    conn_object *co = (conn_object *)self;
    Py_ssize_t len = PyBytes_GET_SIZE(data);
    if (n >= len)
        return Py_NewRef(data);
    const char *raw = PyBytes_AS_STRING(data);
    PyObject *tail = PyBytes_FromStringAndSize(raw + n, len - n);
    if (tail == NULL)
        return NULL;
    Py_XSETREF(co->pending, tail);
    return PyBytes_FromStringAndSize(raw, n);
}

/* Takes the pending bytes (new reference, or NULL if there are none). */
static PyObject *conn_take_pending(PyObject *self)
{
    conn_object *co = (conn_object *)self;
    PyObject *pending = co->pending;
    co->pending = NULL;
    return pending;
}

/* a + b where b may be None (end of stream) or NULL (error). */
static PyObject *bytes_join(PyObject *a, PyObject *b)
{
    if (b == NULL || b == Py_None) {
        Py_XDECREF(b);
        return b == NULL ? NULL : Py_NewRef(a);
    }
    PyObject *joined = PyBytes_FromStringAndSize(NULL, PyBytes_GET_SIZE(a) + PyBytes_GET_SIZE(b));
    if (joined != NULL) {
        memcpy(PyBytes_AS_STRING(joined), PyBytes_AS_STRING(a), (size_t)PyBytes_GET_SIZE(a));
        memcpy(PyBytes_AS_STRING(joined) + PyBytes_GET_SIZE(a), PyBytes_AS_STRING(b),
               (size_t)PyBytes_GET_SIZE(b));
    }
    Py_DECREF(b);
    return joined;
}

/* read(length=0): 0 = what one read brings (<= 8 KiB), > 0 = up to length
 * bytes, < 0 = everything until the peer closes (AP_MODE_EXHAUSTIVE, the
 * documented meaning). None at end of stream. */
static PyObject *conn_read(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"length", NULL};
    long length = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|l:read", kwlist, &length))
        return NULL;
    PyObject *pending = conn_take_pending(self);
    if (pending != NULL) {
        if (length < 0) {
            PyObject *rest = bytes_join(pending, conn_fetch(self, AP_MODE_EXHAUSTIVE, 0));
            Py_DECREF(pending);
            return rest;
        }
        PyObject *head = conn_keep_tail(self, pending, length > 0 ? length : PY_SSIZE_T_MAX);
        Py_DECREF(pending);
        return head;
    }
    if (length < 0)
        return conn_fetch(self, AP_MODE_EXHAUSTIVE, 0);
    apr_off_t want = length > 0 ? (apr_off_t)length : CONN_READ_DEFAULT_BYTES;
    PyObject *data = conn_fetch(self, AP_MODE_READBYTES, want);
    if (data == NULL || data == Py_None)
        return data;
    PyObject *head = conn_keep_tail(self, data, (Py_ssize_t)want);
    Py_DECREF(data);
    return head;
}

/* Length of the first line of `data` including its "\n", or -1. */
static Py_ssize_t line_length(PyObject *data)
{
    const char *raw = PyBytes_AS_STRING(data);
    const char *nl = memchr(raw, '\n', (size_t)PyBytes_GET_SIZE(data));
    return nl ? nl - raw + 1 : -1;
}

/* readline(length=0): one line (AP_MODE_GETLINE), at most `length` bytes
 * when length > 0. None at end of stream. */
static PyObject *conn_readline(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"length", NULL};
    long length = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|l:readline", kwlist, &length))
        return NULL;
    Py_ssize_t cap = length > 0 ? (Py_ssize_t)length : PY_SSIZE_T_MAX;
    PyObject *line = conn_take_pending(self);
    if (line == NULL) {
        line = conn_fetch(self, AP_MODE_GETLINE, 0);
        if (line == NULL || line == Py_None)
            return line;
    } else if (line_length(line) < 0 && PyBytes_GET_SIZE(line) < cap) {
        /* A partial line was left over: complete it from the filters. */
        PyObject *joined = bytes_join(line, conn_fetch(self, AP_MODE_GETLINE, 0));
        Py_DECREF(line);
        if (joined == NULL)
            return NULL;
        line = joined;
    }
    Py_ssize_t n = line_length(line);
    PyObject *head = conn_keep_tail(self, line, n >= 0 && n < cap ? n : cap);
    Py_DECREF(line);
    return head;
}

/* ---------------------------------------------------------------------
 * Writing
 */

/* write(data): str (UTF-8) or bytes-like; sent and flushed at once. */
static PyObject *conn_write(PyObject *self, PyObject *data)
{
    conn_object *co = (conn_object *)self;
    conn_rec *c = co->conn;
    PyObject *encoded = NULL;
    if (PyUnicode_Check(data)) {
        encoded = PyUnicode_AsUTF8String(data);
        if (encoded == NULL)
            return NULL;
        data = encoded;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) {
        Py_XDECREF(encoded);
        return NULL;
    }
    if (co->bb_out == NULL)
        co->bb_out = apr_brigade_create(c->pool, c->bucket_alloc);
    /* Copied while we hold the GIL: a bytearray could change once we let go. */
    apr_status_t rv =
        view.len > 0 ? apr_brigade_write(co->bb_out, NULL, NULL, view.buf, (apr_size_t)view.len)
                     : APR_SUCCESS;
    PyBuffer_Release(&view);
    Py_XDECREF(encoded);
    APR_BRIGADE_INSERT_TAIL(co->bb_out, apr_bucket_flush_create(c->bucket_alloc));
    if (rv == APR_SUCCESS) {
        HYDRA_BLOCKING_BEGIN
        rv = ap_pass_brigade(c->output_filters, co->bb_out);
        HYDRA_BLOCKING_END
    }
    apr_brigade_cleanup(co->bb_out);
    if (rv != APR_SUCCESS) {
        PyErr_SetString(PyExc_IOError, "Write failed, client closed connection.");
        return NULL;
    }
    Py_RETURN_NONE;
}

/* log_error(message, level=APLOG_ERR) */
static PyObject *conn_log_error(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"message", "level", NULL};
    PyObject *message;
    int level = APLOG_ERR;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|i:log_error", kwlist, &message, &level))
        return NULL;
    return hydra_log_python_message(message, level, NULL, CONN_REC(self), NULL);
}

/* ---------------------------------------------------------------------
 * Attributes
 */

static PyObject *conn_get_base_server(PyObject *self, void *closure)
{
    conn_object *co = (conn_object *)self;
    if (co->base_server == NULL)
        co->base_server = server_object_new(conn_state(self), co->conn->base_server);
    return Py_XNewRef(co->base_server);
}

static PyObject *conn_get_notes(PyObject *self, void *closure)
{
    conn_object *co = (conn_object *)self;
    /* No owner: c->notes lives in c->pool, which outlives this wrapper,
     * and an owner would make a reference cycle with the cache. */
    if (co->notes == NULL)
        co->notes = table_wrap(conn_state(self), co->conn->notes, NULL);
    return Py_XNewRef(co->notes);
}

static PyObject *conn_get_hlist(PyObject *self, void *closure)
{
    conn_object *co = (conn_object *)self;
    if (co->hlist == NULL)
        Py_RETURN_NONE;
    return hlist_object_new(conn_state(self), co->hlist, self);
}

/* (ip, port) of an address; the text form is made into a local buffer
 * (apr_sockaddr_ip_get would allocate from the connection pool on every
 * call). */
static PyObject *sockaddr_tuple(apr_sockaddr_t *addr)
{
    if (addr == NULL)
        Py_RETURN_NONE;
    char ip[64];
    if (apr_sockaddr_ip_getbuf(ip, sizeof ip, addr) != APR_SUCCESS)
        ip[0] = '\0';
    return Py_BuildValue("(si)", ip, (int)addr->port);
}

static PyObject *conn_get_local_addr(PyObject *self, void *closure)
{
    return sockaddr_tuple(CONN_REC(self)->local_addr);
}

static PyObject *conn_get_client_addr(PyObject *self, void *closure)
{
    return sockaddr_tuple(CONN_REC(self)->client_addr);
}

/* remote_addr / remote_ip are the httpd 2.2 names; httpd 2.4 split them
 * into client_* and useragent_*. Each use is logged so it can be found. */
static void warn_deprecated(PyObject *self, const char *old_name, const char *new_name)
{
    conn_rec *c = CONN_REC(self);
    HYDRA_BLOCKING_BEGIN
    ap_log_cerror(APLOG_MARK, APLOG_WARNING, 0, c,
                  "HYDRA0301: mod_python: conn.%s is deprecated, use conn.%s instead", old_name,
                  new_name);
    HYDRA_BLOCKING_END
}

static PyObject *conn_get_remote_addr(PyObject *self, void *closure)
{
    warn_deprecated(self, "remote_addr", "client_addr");
    return conn_get_client_addr(self, closure);
}

static PyObject *conn_get_remote_ip(PyObject *self, void *closure)
{
    warn_deprecated(self, "remote_ip", "client_ip");
    return hydra_str_from_apache(CONN_REC(self)->client_ip);
}

static PyObject *conn_get_client_ip(PyObject *self, void *closure)
{
    return hydra_str_from_apache(CONN_REC(self)->client_ip);
}

static PyObject *conn_get_local_ip(PyObject *self, void *closure)
{
    return hydra_str_from_apache(CONN_REC(self)->local_ip);
}

static PyObject *conn_get_remote_host(PyObject *self, void *closure)
{
    return hydra_str_from_apache(CONN_REC(self)->remote_host);
}

static PyObject *conn_get_remote_logname(PyObject *self, void *closure)
{
    return hydra_str_from_apache(CONN_REC(self)->remote_logname);
}

static PyObject *conn_get_local_host(PyObject *self, void *closure)
{
    return hydra_str_from_apache(CONN_REC(self)->local_host);
}

static PyObject *conn_get_aborted(PyObject *self, void *closure)
{
    return PyLong_FromLong(CONN_REC(self)->aborted ? 1 : 0);
}

static PyObject *conn_get_keepalive(PyObject *self, void *closure)
{
    return PyLong_FromLong((long)CONN_REC(self)->keepalive);
}

static int conn_set_keepalive(PyObject *self, PyObject *value, void *closure)
{
    if (value == NULL || !PyLong_Check(value)) {
        PyErr_SetString(PyExc_TypeError, "keepalive must be an int");
        return -1;
    }
    long keepalive = PyLong_AsLong(value);
    if (keepalive == -1 && PyErr_Occurred())
        return -1;
    CONN_REC(self)->keepalive = (ap_conn_keepalive_e)keepalive;
    return 0;
}

static PyObject *conn_get_double_reverse(PyObject *self, void *closure)
{
    return PyLong_FromLong(CONN_REC(self)->double_reverse);
}

static PyObject *conn_get_keepalives(PyObject *self, void *closure)
{
    return PyLong_FromLong(CONN_REC(self)->keepalives);
}

static PyObject *conn_get_id(PyObject *self, void *closure)
{
    return PyLong_FromLong(CONN_REC(self)->id);
}

static PyObject *conn_get_conn_rec(PyObject *self, void *closure)
{
    /* Unnamed, like upstream's, so existing C extensions can unwrap it. */
    return PyCapsule_New(CONN_REC(self), NULL, NULL);
}

#define KW_METHOD(fn) ((PyCFunction)(void (*)(void))(fn))

static PyMethodDef conn_methods[] = {
    {"log_error", KW_METHOD(conn_log_error), METH_VARARGS | METH_KEYWORDS,
     "log_error(message, level=APLOG_ERR): write to the error log for this connection"},
    {"read", KW_METHOD(conn_read), METH_VARARGS | METH_KEYWORDS,
     "read(length=0): bytes from the client; None at end of stream"},
    {"readline", KW_METHOD(conn_readline), METH_VARARGS | METH_KEYWORDS,
     "readline(length=0): one line from the client; None at end of stream"},
    {"write", conn_write, METH_O, "write(data): send str or bytes and flush"},
    {NULL, NULL, 0, NULL}};

/* clang-format off */
#define GETTER(name) {#name, conn_get_##name, NULL, NULL, NULL}
/* clang-format on */

static PyGetSetDef conn_getset[] = {
    GETTER(base_server),
    GETTER(local_addr),
    GETTER(client_addr),
    GETTER(remote_addr),
    GETTER(client_ip),
    GETTER(local_ip),
    GETTER(remote_ip),
    GETTER(remote_host),
    GETTER(remote_logname),
    GETTER(local_host),
    GETTER(aborted),
    {"keepalive", conn_get_keepalive, conn_set_keepalive, NULL, NULL},
    GETTER(double_reverse),
    GETTER(keepalives),
    GETTER(id),
    GETTER(notes),
    GETTER(hlist),
    {"_conn_rec", conn_get_conn_rec, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL}};

/* ---------------------------------------------------------------------
 * Type plumbing
 */

static int conn_traverse(PyObject *self, visitproc visit, void *arg)
{
    conn_object *co = (conn_object *)self;
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(co->base_server);
    Py_VISIT(co->notes);
    return 0;
}

static int conn_clear(PyObject *self)
{
    conn_object *co = (conn_object *)self;
    Py_CLEAR(co->base_server);
    Py_CLEAR(co->notes);
    Py_CLEAR(co->pending);
    return 0;
}

static void conn_dealloc(PyObject *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    conn_clear(self);
    type->tp_free(self);
    Py_DECREF(type);
}

static PyType_Slot conn_slots[] = {
    {Py_tp_doc, "Apache connection (conn_rec) as seen by mod_python"},
    {Py_tp_dealloc, conn_dealloc},
    {Py_tp_traverse, conn_traverse},
    {Py_tp_clear, conn_clear},
    {Py_tp_methods, conn_methods},
    {Py_tp_getset, conn_getset},
    {0, NULL}};

PyType_Spec hydra_connection_spec = {
    .name = "mp_conn",
    .basicsize = sizeof(conn_object),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION
             | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = conn_slots,
};

PyObject *connection_object_new(hydra_apache_state *st, conn_rec *c)
{
    conn_object *self = (conn_object *)st->connection_type->tp_alloc(st->connection_type, 0);
    if (self != NULL)
        self->conn = c;
    return (PyObject *)self;
}

int connection_object_set_hlist(hydra_apache_state *st, PyObject *conn, hydra_hlist *hl)
{
    if (!PyObject_TypeCheck(conn, st->connection_type)) {
        PyErr_SetString(PyExc_TypeError, "not a connection object");
        return -1;
    }
    ((conn_object *)conn)->hlist = hl;
    return 0;
}
