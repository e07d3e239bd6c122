/*
 * request_body.c - the bodies of a request (python-api.md §5.1): reading
 * the request body (read, readline, readlines, discard_request_body and the
 * buffer they share), writing the response (write, flush, sendfile,
 * internal_redirect), and the response metadata set from it
 * (set_content_length, set_etag, set_last_modified, update_mtime,
 * meets_conditions); and two extensions for mod_python.asgi:
 * read_body_chunk (a body read that accepts chunked bodies) and
 * abort_connection.
 *
 * Every Apache call that can block runs with the GIL released
 * (HYDRA_BLOCKING_BEGIN/END): output filters written in Python run inside
 * ap_rwrite() on this very thread, input filters inside
 * ap_get_client_block(), and an internal redirect runs a whole nested
 * request. The read buffer lives in the RequestObject, so it is private
 * to one interpreter's wrapper.
 */
#include "objects/obj_request_internal.h"

/* ap_get_client_block() read size for readline()'s buffer, and the growth
 * step of read() when the body length is not known in advance. */
#define REQUEST_READ_CHUNK 8192
/* Largest buffer read() allocates on the strength of Content-Length. */
#define REQUEST_PREALLOC_MAX (1 << 20)
/* ap_rwrite() takes an int length. */
#define REQUEST_WRITE_CHUNK (1 << 30)

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

PyObject *request_write(RequestObject *self, PyObject *args, PyObject *kw)
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

PyObject *request_flush(RequestObject *self, PyObject *unused)
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
PyObject *request_sendfile(RequestObject *self, PyObject *args, PyObject *kw)
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

PyObject *request_internal_redirect(RequestObject *self, PyObject *arg)
{
    const char *uri = request_pool_str(self, arg);

    if (!uri)
        return NULL;
    HYDRA_BLOCKING_BEGIN;
    ap_internal_redirect(uri, self->r);
    HYDRA_BLOCKING_END;
    Py_RETURN_NONE;
}

PyObject *request_send_http_header(RequestObject *self, PyObject *unused)
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

/* read(len=-1) and readline(len=-1): the same argument rules. */
static PyObject *read_with_limit(RequestObject *self, PyObject *args, PyObject *kw,
                                 const char *format,
                                 PyObject *(*reader)(RequestObject *, Py_ssize_t))
{
    static char *kwlist[] = {"len", NULL};
    Py_ssize_t len = -1;

    if (!PyArg_ParseTupleAndKeywords(args, kw, format, kwlist, &len))
        return NULL;
    if (len == 0)
        return PyBytes_FromStringAndSize(NULL, 0);
    return reader(self, len);
}

PyObject *request_read(RequestObject *self, PyObject *args, PyObject *kw)
{
    return read_with_limit(self, args, kw, "|n:read", body_read);
}

PyObject *request_readline(RequestObject *self, PyObject *args, PyObject *kw)
{
    return read_with_limit(self, args, kw, "|n:readline", body_readline);
}

PyObject *request_readlines(RequestObject *self, PyObject *args, PyObject *kw)
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

/* read_body_chunk(size=65536), Hydra's extension for mod_python.asgi
 * (docs/asgi.md): at most `size` bytes of the body as one client-block
 * read returns them, b"" at the end. Unlike read(), a chunked body is
 * accepted (REQUEST_CHUNKED_DECHUNK), so read()'s 411 stays as upstream. */
PyObject *request_read_body_chunk(RequestObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"size", NULL};
    Py_ssize_t size = 65536;
    PyObject *chunk;
    long got;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "|n:read_body_chunk", kwlist, &size))
        return NULL;
    if (body_check_not_busy(self) < 0)
        return NULL;
    if (size <= 0)
        return PyBytes_FromStringAndSize(NULL, 0);
    if (self->rbuf_pos < self->rbuf_len) {
        Py_ssize_t n = Py_MIN(size, self->rbuf_len - self->rbuf_pos);
        chunk = PyBytes_FromStringAndSize(self->rbuf + self->rbuf_pos, n);
        if (chunk)
            self->rbuf_pos += n;
        return chunk;
    }
    if (self->body == BODY_UNSET) {
        int status = self->r->read_length == 0
                         ? ap_setup_client_block(self->r, REQUEST_CHUNKED_DECHUNK)
                         : OK;
        int should = 1;
        if (status != OK)
            return raise_server_return(self, status);
        if (self->r->read_length == 0) {
            HYDRA_BLOCKING_BEGIN;
            should = ap_should_client_block(self->r);
            HYDRA_BLOCKING_END;
        }
        self->body = should ? BODY_EXPECTED : BODY_NONE;
    }
    if (self->body != BODY_EXPECTED)
        return PyBytes_FromStringAndSize(NULL, 0);
    chunk = PyBytes_FromStringAndSize(NULL, size);
    if (!chunk)
        return NULL;
    got = body_read_block(self, PyBytes_AS_STRING(chunk), size);
    if (got < 0 || (got != size && _PyBytes_Resize(&chunk, got) < 0)) {
        Py_XDECREF(chunk);
        return NULL;
    }
    return chunk;
}

/* abort_connection(), Hydra's extension for mod_python.asgi: a response
 * that started cannot be completed (the application failed half-way).
 * What was flushed has gone; httpd sends nothing more, not even the last
 * chunk, and closes the connection, so the client sees it cut short. */
PyObject *request_abort_connection(RequestObject *self, PyObject *unused)
{
    self->r->connection->keepalive = AP_CONN_CLOSE;
    self->r->connection->aborted = 1;
    Py_RETURN_NONE;
}

PyObject *request_discard_request_body(RequestObject *self, PyObject *unused)
{
    int status;

    HYDRA_BLOCKING_BEGIN;
    status = ap_discard_request_body(self->r);
    HYDRA_BLOCKING_END;
    return PyLong_FromLong(status);
}

/* ------------------------------------------------------------------ */
/* Response metadata                                                  */

PyObject *request_meets_conditions(RequestObject *self, PyObject *unused)
{
    return PyLong_FromLong(ap_meets_conditions(self->r));
}

PyObject *request_set_content_length(RequestObject *self, PyObject *arg)
{
    long long len = PyLong_AsLongLong(arg);

    if (len == -1 && PyErr_Occurred())
        return NULL;
    ap_set_content_length(self->r, (apr_off_t)len);
    Py_RETURN_NONE;
}

PyObject *request_set_etag(RequestObject *self, PyObject *unused)
{
    ap_set_etag(self->r);
    Py_RETURN_NONE;
}

PyObject *request_set_last_modified(RequestObject *self, PyObject *unused)
{
    ap_set_last_modified(self->r);
    Py_RETURN_NONE;
}

PyObject *request_update_mtime(RequestObject *self, PyObject *arg)
{
    double seconds = PyFloat_AsDouble(arg);

    if (seconds == -1.0 && PyErr_Occurred())
        return NULL;
    ap_update_mtime(self->r, (apr_time_t)(seconds * APR_USEC_PER_SEC));
    Py_RETURN_NONE;
}
