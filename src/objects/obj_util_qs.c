/*
 * util_qs.c - _apache.parse_qs() and _apache.parse_qsl(): the query-string
 * parser behind mod_python.util (python-api.md §12.4).
 *
 * Owns only the parsing. The input is turned into one byte string first and
 * every name and value is decoded into a scratch buffer sized for the whole
 * input, so no pointer ever refers to memory that a later step resizes (the
 * upstream str-mode bug this spec tells us not to repeat).
 *
 * Must not touch Apache: these functions are pure and run with the GIL held.
 */
#include "objects/objects.h"

/* One query string reduced to bytes, plus how to build result strings. */
typedef struct qs_input {
    PyObject *bytes; /* owned: the query string as bytes */
    int as_str;      /* results are str (UTF-8 decoded), else bytes */
} qs_input;

/* Receives each (name, value) pair; returns 0, or -1 with an exception. */
typedef int (*qs_pair_sink)(PyObject *name, PyObject *value, void *baton);

/* str must be Latin-1-encodable (spec); bytes are used as given. A str that
 * holds characters above U+00FF cannot have come from Latin-1 bytes, so it
 * is encoded as UTF-8 instead: the decoded result then reads back exactly
 * as it was written, which is what a caller of such a string expects. */
static int qs_input_from_object(PyObject *qs, qs_input *in)
{
    in->as_str = 0;
    in->bytes = NULL;
    if (PyBytes_Check(qs)) {
        in->bytes = Py_NewRef(qs);
        return 0;
    }
    if (!PyUnicode_Check(qs)) {
        PyErr_Format(PyExc_TypeError, "query string must be str or bytes, not %.100s",
                     Py_TYPE(qs)->tp_name);
        return -1;
    }
    in->as_str = 1;
    if (PyUnicode_MAX_CHAR_VALUE(qs) <= 0xff)
        in->bytes = PyUnicode_AsLatin1String(qs);
    else
        in->bytes = PyUnicode_AsEncodedString(qs, "utf-8", "surrogateescape");
    return in->bytes ? 0 : -1;
}

static int hex_digit_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes src[0..len) into out: '+' -> space, %XX -> byte; a '%' not
 * followed by two hex digits is kept. A NUL (literal or decoded) ends the
 * text, as it did upstream where the result was a C string. Returns the
 * decoded length; out needs room for len bytes. */
static Py_ssize_t qs_unescape(const char *src, Py_ssize_t len, char *out)
{
    Py_ssize_t n = 0;
    for (Py_ssize_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%' && i + 2 < len) {
            int hi = hex_digit_value(src[i + 1]);
            int lo = hex_digit_value(src[i + 2]);
            if (hi >= 0 && lo >= 0) {
                c = (char)(hi * 16 + lo);
                i += 2;
            }
        }
        if (c == '\0')
            break;
        out[n++] = c;
    }
    return n;
}

/* Builds one result element from decoded bytes. Invalid UTF-8 in str mode
 * raises SystemError, which mod_python.util.FieldStorage catches to fall
 * back to urllib (spec: keep upstream's exception type). */
static PyObject *qs_element(const qs_input *in, const char *data, Py_ssize_t len)
{
    if (!in->as_str)
        return PyBytes_FromStringAndSize(data, len);
    PyObject *text = PyUnicode_DecodeUTF8(data, len, NULL);
    if (text == NULL && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
        PyErr_Clear();
        PyErr_SetString(PyExc_SystemError, "query string does not decode as UTF-8");
    }
    return text;
}

/* Handles one '&'/';'-delimited segment (non-empty). */
static int qs_segment(const qs_input *in, const char *seg, Py_ssize_t len, int keep_blank,
                      char *scratch, qs_pair_sink sink, void *baton)
{
    const char *eq = memchr(seg, '=', (size_t)len);
    Py_ssize_t name_len = eq ? eq - seg : len;
    const char *raw_value = eq ? eq + 1 : seg + len;
    Py_ssize_t raw_value_len = eq ? len - name_len - 1 : 0;

    /* Blank means blank as written, like urllib: "a=%00" is not blank. */
    if (raw_value_len == 0 && !keep_blank)
        return 0;

    Py_ssize_t n = qs_unescape(seg, name_len, scratch);
    PyObject *name = qs_element(in, scratch, n);
    if (name == NULL)
        return -1;
    n = qs_unescape(raw_value, raw_value_len, scratch);
    PyObject *value = qs_element(in, scratch, n);
    if (value == NULL) {
        Py_DECREF(name);
        return -1;
    }
    int rc = sink(name, value, baton);
    Py_DECREF(name);
    Py_DECREF(value);
    return rc;
}

/* Splits the input on '&' and ';', skipping empty segments. */
static int qs_walk(const qs_input *in, int keep_blank, qs_pair_sink sink, void *baton)
{
    const char *qs = PyBytes_AS_STRING(in->bytes);
    Py_ssize_t len = PyBytes_GET_SIZE(in->bytes);
    /* Every decoded piece is at most as long as the input. */
    char *scratch = PyMem_Malloc((size_t)len + 1);
    if (scratch == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    int rc = 0;
    Py_ssize_t start = 0;
    for (Py_ssize_t i = 0; i <= len && rc == 0; i++) {
        if (i < len && qs[i] != '&' && qs[i] != ';')
            continue;
        if (i > start)
            rc = qs_segment(in, qs + start, i - start, keep_blank, scratch, sink, baton);
        start = i + 1;
    }
    PyMem_Free(scratch);
    return rc;
}

static int qsl_append_pair(PyObject *name, PyObject *value, void *baton)
{
    PyObject *pair = PyTuple_Pack(2, name, value);
    if (pair == NULL)
        return -1;
    int rc = PyList_Append((PyObject *)baton, pair);
    Py_DECREF(pair);
    return rc;
}

static int qs_add_to_dict(PyObject *name, PyObject *value, void *baton)
{
    PyObject *dict = baton;
    PyObject *values = PyDict_GetItemWithError(dict, name); /* borrowed */
    if (values != NULL)
        return PyList_Append(values, value);
    if (PyErr_Occurred())
        return -1;
    values = PyList_New(1);
    if (values == NULL)
        return -1;
    PyList_SET_ITEM(values, 0, Py_NewRef(value));
    int rc = PyDict_SetItem(dict, name, values);
    Py_DECREF(values);
    return rc;
}

/* Shared front end: parses (qs, keep_blank_values=0, strict_parsing=0) with
 * `format` (its name part names the function in errors) and
 * feeds every pair into `sink`. strict_parsing is accepted and ignored. */
static int qs_parse_args(PyObject *args, PyObject *kw, const char *format, qs_pair_sink sink,
                         void *baton)
{
    static char *kwlist[] = {"qs", "keep_blank_values", "strict_parsing", NULL};
    PyObject *qs;
    int keep_blank = 0, strict = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, format, kwlist, &qs, &keep_blank, &strict))
        return -1;
    qs_input in;
    if (qs_input_from_object(qs, &in) < 0)
        return -1;
    int rc = qs_walk(&in, keep_blank, sink, baton);
    Py_DECREF(in.bytes);
    return rc;
}

PyObject *hydra_parse_qs(PyObject *module, PyObject *args, PyObject *kw)
{
    PyObject *result = PyDict_New();
    if (result != NULL && qs_parse_args(args, kw, "O|ii:parse_qs", qs_add_to_dict, result) < 0)
        Py_CLEAR(result);
    return result;
}

PyObject *hydra_parse_qsl(PyObject *module, PyObject *args, PyObject *kw)
{
    PyObject *result = PyList_New(0);
    if (result != NULL && qs_parse_args(args, kw, "O|ii:parse_qsl", qsl_append_pair, result) < 0)
        Py_CLEAR(result);
    return result;
}
