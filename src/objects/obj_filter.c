/*
 * filter.c (objects) - `mp_filter`, the object a Python filter function
 * receives (python-api.md §8): reading the data of one filter call,
 * writing the data the filter produces, flush/close/pass_on/disable.
 *
 * One object per call of the httpd filter function; what must survive
 * between calls (the pass-through flag, input data fetched but not read,
 * output written but not passed) lives in the hydra_filter_ctx of the
 * filter instance (src/filter.h). The object points into the brigades of
 * its call only until filter_object_detach(), after which every I/O
 * method raises, so a filter object kept by Python code cannot reach
 * freed brigades.
 *
 * Every call that may block (ap_get_brigade, ap_pass_brigade, reading a
 * bucket) runs with the GIL released; data is copied into a malloc'd
 * buffer first and turned into bytes once the GIL is back.
 *
 * SSI mode (call.is_ssi, an SSI `#python` tag run by ssi.c): the object
 * stands for mod_include's INCLUDES filter. write() appends to the brigade
 * mod_include is building, so the output lands exactly where the tag was;
 * read() finds no stream (None); flush(), close() and pass_on() never
 * pass anything down the chain, because that would send the text before
 * the tag out of order or end mod_include's stream; disable() does
 * nothing, because f->ctx is mod_include's, not ours.
 */
#include "objects/objects.h"
#include "objects/obj_filter.h"

typedef struct filter_object {
    PyObject_HEAD
    hydra_filter_call call; /* call.f == NULL once detached */
    const char *name;       /* httpd's (lower-cased) filter name */
    PyObject *req;
    int closed;
    int softspace;
    apr_status_t status; /* of the last brigade operation */
} filter_object;

#define FILTER(self) ((filter_object *)(self))

/* Refuses I/O on a closed or detached filter. 0 if I/O may go on. */
static int check_open(filter_object *fo)
{
    if (fo->closed || fo->call.f == NULL) {
        PyErr_SetString(PyExc_ValueError, "I/O operation on closed filter");
        return -1;
    }
    return 0;
}

/* The brigade read() takes from, and the one write() appends to. */
static apr_bucket_brigade *source_brigade(filter_object *fo)
{
    return fo->call.is_input ? fo->call.ctx->fetched : fo->call.bb;
}

static apr_bucket_brigade *sink_brigade(filter_object *fo)
{
    if (fo->call.is_input || fo->call.is_ssi)
        return fo->call.bb;
    return fo->call.ctx->queue;
}

static apr_bucket_alloc_t *bucket_alloc(filter_object *fo)
{
    return fo->call.f->c->bucket_alloc;
}

/* ---------------------------------------------------------------------
 * Reading
 */

typedef struct read_buffer {
    char *data;
    apr_size_t len, cap;
    int eos; /* the stream ended before any data */
} read_buffer;

static apr_status_t read_buffer_append(read_buffer *buf, const char *data, apr_size_t len)
{
    if (buf->len + len > buf->cap) {
        apr_size_t cap = buf->cap ? buf->cap : 8192;
        char *grown;
        while (cap < buf->len + len)
            cap *= 2;
        grown = realloc(buf->data, cap);
        if (!grown)
            return APR_ENOMEM;
        buf->data = grown;
        buf->cap = cap;
    }
    memcpy(buf->data + buf->len, data, len);
    buf->len += len;
    return APR_SUCCESS;
}

/* Moves up to `want` bytes (a whole line when `line`) from the head of
 * `src` into `buf`. Stops before EOS (left in place, so every later read
 * sees it again) and at a FLUSH that follows data; a FLUSH at the head is
 * dropped, because the filter's own flush() will pass one on. Other
 * metadata buckets (errors, ...) go to `meta` so they are not lost.
 * Runs without the GIL. */
static apr_status_t take_data(apr_bucket_brigade *src, apr_bucket_brigade *meta, apr_size_t want,
                              int line, read_buffer *buf)
{
    while (!APR_BRIGADE_EMPTY(src) && buf->len < want) {
        apr_bucket *b = APR_BRIGADE_FIRST(src);
        const char *data, *nl = NULL;
        apr_size_t len, take;
        apr_status_t rv;

        if (APR_BUCKET_IS_EOS(b)) {
            buf->eos = buf->len == 0;
            break;
        }
        if (APR_BUCKET_IS_FLUSH(b)) {
            if (buf->len > 0)
                break;
            apr_bucket_delete(b);
            continue;
        }
        if (APR_BUCKET_IS_METADATA(b)) {
            APR_BUCKET_REMOVE(b);
            APR_BRIGADE_INSERT_TAIL(meta, b);
            continue;
        }
        rv = apr_bucket_read(b, &data, &len, APR_BLOCK_READ);
        if (rv != APR_SUCCESS)
            return rv;
        take = len < want - buf->len ? len : want - buf->len;
        if (line && (nl = memchr(data, '\n', take)) != NULL)
            take = (apr_size_t)(nl - data) + 1;
        if (take < len)
            apr_bucket_split(b, take);
        rv = read_buffer_append(buf, data, take);
        apr_bucket_delete(b);
        if (rv != APR_SUCCESS)
            return rv;
        if (nl)
            break;
    }
    return APR_SUCCESS;
}

/* Input filters: asks f->next for data the way our caller asked us, when
 * nothing fetched earlier is left. APR_EOF counts as end of stream.
 * Runs without the GIL. */
static apr_status_t fetch_input(filter_object *fo)
{
    apr_bucket_brigade *fetched = fo->call.ctx->fetched;
    apr_status_t rv;

    if (!APR_BRIGADE_EMPTY(fetched))
        return APR_SUCCESS;
    rv = ap_get_brigade(fo->call.f->next, fetched, fo->call.mode, APR_BLOCK_READ,
                        fo->call.readbytes);
    fo->status = rv;
    if (rv == APR_EOF) {
        APR_BRIGADE_INSERT_TAIL(fetched, apr_bucket_eos_create(bucket_alloc(fo)));
        rv = APR_SUCCESS;
    }
    return rv;
}

/* read() and readline(): bytes, b"" when nothing is buffered, None at
 * end of stream. */
static PyObject *filter_read_common(filter_object *fo, Py_ssize_t length, int line)
{
    read_buffer buf = {NULL, 0, 0, 0};
    apr_size_t want = length < 0 ? (apr_size_t)-1 : (apr_size_t)length;
    apr_status_t rv = APR_SUCCESS;
    PyObject *result;

    if (check_open(fo) < 0)
        return NULL;
    if (fo->call.is_ssi) /* a tag has no input: an empty, ended stream */
        Py_RETURN_NONE;
    if (length == 0)
        return PyBytes_FromStringAndSize(NULL, 0);

    HYDRA_BLOCKING_BEGIN
    if (fo->call.is_input)
        rv = fetch_input(fo);
    if (rv == APR_SUCCESS)
        rv = take_data(source_brigade(fo), sink_brigade(fo), want, line, &buf);
    HYDRA_BLOCKING_END

    if (rv == APR_ENOMEM)
        result = PyErr_NoMemory();
    else if (rv != APR_SUCCESS)
        result = PyErr_Format(PyExc_IOError, "%s",
                              fo->call.is_input ? "Input filter read error" : "Filter read error");
    else if (buf.eos)
        result = Py_NewRef(Py_None);
    else
        result = PyBytes_FromStringAndSize(buf.data, (Py_ssize_t)buf.len);
    free(buf.data);
    return result;
}

static PyObject *filter_read(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"length", NULL};
    Py_ssize_t length = -1;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "|n:read", kwlist, &length))
        return NULL;
    return filter_read_common(FILTER(self), length, 0);
}

static PyObject *filter_readline(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"length", NULL};
    Py_ssize_t length = -1;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "|n:readline", kwlist, &length))
        return NULL;
    return filter_read_common(FILTER(self), length, 1);
}

/* ---------------------------------------------------------------------
 * Writing
 */

/* write(data): str (UTF-8) or a bytes-like object, copied into a heap
 * bucket now, so the caller may reuse its buffer at once. */
static PyObject *filter_write(PyObject *self, PyObject *data)
{
    filter_object *fo = FILTER(self);
    PyObject *encoded = NULL;
    Py_buffer view;

    if (check_open(fo) < 0)
        return NULL;
    if (PyUnicode_Check(data)) {
        encoded = PyUnicode_AsUTF8String(data);
        if (!encoded)
            return NULL;
        data = encoded;
    }
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) {
        Py_XDECREF(encoded);
        return NULL;
    }
    if (view.len > 0) {
        /* A NULL free function makes the heap bucket copy the data. */
        apr_bucket *b =
            apr_bucket_heap_create(view.buf, (apr_size_t)view.len, NULL, bucket_alloc(fo));
        APR_BRIGADE_INSERT_TAIL(sink_brigade(fo), b);
    }
    PyBuffer_Release(&view);
    Py_XDECREF(encoded);
    Py_RETURN_NONE;
}

/* Output filters: hands the queue to f->next. Runs without the GIL. */
static apr_status_t pass_queue(filter_object *fo)
{
    apr_bucket_brigade *queue = fo->call.ctx->queue;
    apr_status_t rv = ap_pass_brigade(fo->call.f->next, queue);

    apr_brigade_cleanup(queue);
    fo->status = rv;
    return rv;
}

/* Appends a FLUSH or EOS bucket to what the filter produces and, for an
 * output filter, passes it all on. -1 with IOError if the pass failed. */
static int end_with(filter_object *fo, apr_bucket *b)
{
    apr_status_t rv = APR_SUCCESS;

    APR_BRIGADE_INSERT_TAIL(sink_brigade(fo), b);
    if (fo->call.is_input)
        return 0;
    HYDRA_BLOCKING_BEGIN
    rv = pass_queue(fo);
    HYDRA_BLOCKING_END
    if (rv != APR_SUCCESS) {
        PyErr_SetString(PyExc_IOError, "Flush failed.");
        return -1;
    }
    return 0;
}

static PyObject *filter_flush(PyObject *self, PyObject *unused)
{
    filter_object *fo = FILTER(self);

    if (check_open(fo) < 0)
        return NULL;
    if (fo->call.is_ssi) /* mod_include passes its brigade when it is ready */
        Py_RETURN_NONE;
    if (end_with(fo, apr_bucket_flush_create(bucket_alloc(fo))) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *filter_close(PyObject *self, PyObject *unused)
{
    filter_object *fo = FILTER(self);

    if (fo->closed)
        Py_RETURN_NONE;
    if (check_open(fo) < 0)
        return NULL;
    fo->closed = 1;
    if (fo->call.is_ssi) /* the tag's output ends; mod_include's stream does not */
        Py_RETURN_NONE;
    if (end_with(fo, apr_bucket_eos_create(bucket_alloc(fo))) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static int brigade_has_eos(apr_bucket_brigade *bb)
{
    for (apr_bucket *b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);
         b = APR_BUCKET_NEXT(b)) {
        if (APR_BUCKET_IS_EOS(b))
            return 1;
    }
    return 0;
}

/* Output: what was written so far, then the rest of the brigade handed
 * in, go to f->next. Runs without the GIL. */
static apr_status_t pass_on_output(filter_object *fo, int *eos)
{
    APR_BRIGADE_CONCAT(fo->call.ctx->queue, fo->call.bb);
    *eos = brigade_has_eos(fo->call.ctx->queue);
    return pass_queue(fo);
}

/* Input: what was fetched and not read goes to our caller; if there is
 * none, our caller gets what f->next gives for its request. Runs without
 * the GIL. */
static apr_status_t pass_on_input(filter_object *fo, int *eos)
{
    apr_status_t rv = APR_SUCCESS;

    APR_BRIGADE_CONCAT(fo->call.bb, fo->call.ctx->fetched);
    if (APR_BRIGADE_EMPTY(fo->call.bb)) {
        rv = ap_get_brigade(fo->call.f->next, fo->call.bb, fo->call.mode, fo->call.block,
                            fo->call.readbytes);
        fo->status = rv;
    }
    *eos = brigade_has_eos(fo->call.bb);
    return rv;
}

/* pass_on(): everything through unchanged. A stream that ended on the way
 * leaves the filter closed, so no FLUSH follows the EOS. */
static PyObject *filter_pass_on(PyObject *self, PyObject *unused)
{
    filter_object *fo = FILTER(self);
    apr_status_t rv;
    int eos = 0;

    if (check_open(fo) < 0)
        return NULL;
    if (fo->call.is_ssi) /* nothing was handed in to pass on */
        Py_RETURN_NONE;
    HYDRA_BLOCKING_BEGIN
    rv = fo->call.is_input ? pass_on_input(fo, &eos) : pass_on_output(fo, &eos);
    HYDRA_BLOCKING_END
    if (eos)
        fo->closed = 1;
    if (rv != APR_SUCCESS && rv != APR_EOF) {
        PyErr_SetString(PyExc_IOError,
                        fo->call.is_input ? "Input filter read error" : "Flush failed.");
        return NULL;
    }
    Py_RETURN_NONE;
}

/* disable(): this filter instance passes data through unchanged for the
 * rest of the request (filter.c reads the flag on every call). For an SSI
 * tag there is no instance of ours (ctx is NULL), and the flag must not
 * be set on mod_include's context: nothing happens. */
static PyObject *filter_disable(PyObject *self, PyObject *unused)
{
    filter_object *fo = FILTER(self);

    if (fo->call.ctx)
        fo->call.ctx->transparent = 1;
    Py_RETURN_NONE;
}

/* ---------------------------------------------------------------------
 * Attributes
 */

static PyObject *filter_get_closed(PyObject *self, void *closure)
{
    return PyLong_FromLong(FILTER(self)->closed);
}

static PyObject *filter_get_name(PyObject *self, void *closure)
{
    return hydra_str_from_apache(FILTER(self)->name);
}

static PyObject *filter_get_req(PyObject *self, void *closure)
{
    filter_object *fo = FILTER(self);
    return Py_NewRef(fo->req ? fo->req : Py_None);
}

static int filter_set_req(PyObject *self, PyObject *value, void *closure)
{
    if (!value) {
        PyErr_SetString(PyExc_TypeError, "can't delete the req attribute");
        return -1;
    }
    Py_XSETREF(FILTER(self)->req, Py_NewRef(value));
    return 0;
}

static PyObject *filter_get_is_input(PyObject *self, void *closure)
{
    return PyLong_FromLong(FILTER(self)->call.is_input);
}

/* The registration lives in the config pool, or in the request pool for
 * per-request registrations: readable while the call lasts. */
static const hydra_filter_reg *filter_reg(PyObject *self)
{
    hydra_filter_ctx *ctx = FILTER(self)->call.ctx;
    return ctx ? ctx->reg : NULL;
}

static PyObject *filter_get_handler(PyObject *self, void *closure)
{
    const hydra_filter_reg *reg = filter_reg(self);
    return hydra_str_from_apache(reg ? reg->handler : NULL);
}

static PyObject *filter_get_dir(PyObject *self, void *closure)
{
    const hydra_filter_reg *reg = filter_reg(self);
    return hydra_str_from_apache(reg ? reg->directory : NULL);
}

static PyObject *filter_get_is_location(PyObject *self, void *closure)
{
    const hydra_filter_reg *reg = filter_reg(self);
    return PyLong_FromLong(reg ? reg->is_location : 0);
}

static PyObject *filter_get_softspace(PyObject *self, void *closure)
{
    return PyLong_FromLong(FILTER(self)->softspace);
}

static int filter_set_softspace(PyObject *self, PyObject *value, void *closure)
{
    long v;

    if (!value) {
        PyErr_SetString(PyExc_TypeError, "can't delete the softspace attribute");
        return -1;
    }
    v = PyLong_AsLong(value);
    if (v == -1 && PyErr_Occurred())
        return -1;
    FILTER(self)->softspace = v != 0;
    return 0;
}

/* ---------------------------------------------------------------------
 * Type plumbing
 */

static PyMethodDef filter_methods[] = {
    {"read", (PyCFunction)(void (*)(void))filter_read, METH_VARARGS | METH_KEYWORDS,
     "read(length=-1) -> bytes, or None at end of stream"},
    {"readline", (PyCFunction)(void (*)(void))filter_readline, METH_VARARGS | METH_KEYWORDS,
     "readline(length=-1) -> bytes up to and including a newline, or None"},
    {"write", filter_write, METH_O, "write(data): queue str or bytes for the next filter"},
    {"flush", filter_flush, METH_NOARGS, "flush(): pass what was written on"},
    {"close", filter_close, METH_NOARGS, "close(): end the stream (EOS)"},
    {"pass_on", filter_pass_on, METH_NOARGS, "pass_on(): pass everything through unchanged"},
    {"disable", filter_disable, METH_NOARGS, "disable(): pass-through for the rest of the request"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef filter_getset[] = {
    {"closed", filter_get_closed, NULL, "1 once the stream was closed", NULL},
    {"name", filter_get_name, NULL, "httpd's (lower-case) filter name", NULL},
    {"req", filter_get_req, filter_set_req, "the request object", NULL},
    {"is_input", filter_get_is_input, NULL, "1 for an input filter", NULL},
    {"handler", filter_get_handler, NULL, "the handler string of the registration", NULL},
    {"dir", filter_get_dir, NULL, "the directory of the registration, or None", NULL},
    {"is_location", filter_get_is_location, NULL, "1 if registered in a <Location>", NULL},
    {"softspace", filter_get_softspace, filter_set_softspace, "legacy print support", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static int filter_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(FILTER(self)->req);
    return 0;
}

static int filter_clear(PyObject *self)
{
    Py_CLEAR(FILTER(self)->req);
    return 0;
}

static void filter_dealloc(PyObject *self)
{
    PyTypeObject *type = Py_TYPE(self);

    PyObject_GC_UnTrack(self);
    filter_clear(self);
    type->tp_free(self);
    Py_DECREF(type);
}

static PyType_Slot filter_slots[] = {
    {Py_tp_doc, "A Python filter's view of one call of an httpd filter"},
    {Py_tp_dealloc, filter_dealloc},
    {Py_tp_traverse, filter_traverse},
    {Py_tp_clear, filter_clear},
    {Py_tp_methods, filter_methods},
    {Py_tp_getset, filter_getset},
    {0, NULL},
};

PyType_Spec hydra_filter_spec = {
    .name = "_apache.mp_filter",
    .basicsize = sizeof(filter_object),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION
             | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = filter_slots,
};

PyObject *filter_object_new(hydra_apache_state *st, const hydra_filter_call *call, PyObject *req)
{
    filter_object *fo = (filter_object *)st->filter_type->tp_alloc(st->filter_type, 0);

    if (!fo)
        return NULL;
    fo->call = *call;
    fo->name = call->f->frec->name;
    fo->req = Py_XNewRef(req);
    fo->status = APR_SUCCESS;
    return (PyObject *)fo;
}

apr_status_t filter_object_status(PyObject *filter)
{
    return FILTER(filter)->status;
}

int filter_object_closed(PyObject *filter)
{
    return FILTER(filter)->closed;
}

void filter_object_detach(PyObject *filter)
{
    filter_object *fo = FILTER(filter);
    int is_input = fo->call.is_input;

    memset(&fo->call, 0, sizeof(fo->call));
    fo->call.is_input = is_input; /* still answered by filter.is_input */
}
