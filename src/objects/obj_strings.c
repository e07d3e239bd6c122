/*
 * strings.c - the one place where C strings cross between Apache and Python.
 *
 * From Apache: UTF-8 decoded with surrogateescape (a documented deviation:
 * upstream decodes strictly and raises on bad bytes), or Latin-1 where the
 * spec says so. To Apache: a str must be Latin-1 encodable (lone surrogates
 * U+DC80..U+DCFF, which is what surrogateescape produced for undecodable
 * bytes, go back to those bytes so a value read from Apache can be written
 * back unchanged) and bytes are taken as they are.
 * No Apache calls, no state.
 */
#include "objects/objects.h"

PyObject *hydra_str_from_apache(const char *s)
{
    if (!s)
        Py_RETURN_NONE;
    return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "surrogateescape");
}

PyObject *hydra_str_from_latin1(const char *s)
{
    if (!s)
        Py_RETURN_NONE;
    return PyUnicode_DecodeLatin1(s, (Py_ssize_t)strlen(s), NULL);
}

static void raise_not_latin1(void)
{
    PyErr_SetString(PyExc_TypeError, "not an ISO-8859-1 string");
}

/* A str whose code points all fit in one byte already holds its Latin-1
 * encoding, NUL-terminated (CPython's compact representation), so the
 * common case needs no temporary object. */
static const char *unicode_as_latin1(PyObject *obj, PyObject **holder, Py_ssize_t *len)
{
    PyObject *encoded;

#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(obj) < 0)
        return NULL;
#endif
    if (PyUnicode_KIND(obj) == PyUnicode_1BYTE_KIND) {
        *len = PyUnicode_GET_LENGTH(obj);
        return (const char *)PyUnicode_1BYTE_DATA(obj);
    }
    encoded = PyUnicode_AsEncodedString(obj, "latin-1", "surrogateescape");
    if (!encoded) {
        if (PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
            PyErr_Clear();
            raise_not_latin1();
        }
        return NULL;
    }
    *holder = encoded;
    *len = PyBytes_GET_SIZE(encoded);
    return PyBytes_AS_STRING(encoded);
}

/* The bytes Apache should see for `obj`, valid while `obj` and `*holder`
 * (a new reference or NULL, to be released by the caller) live. NULL +
 * exception: TypeError for anything but a Latin-1 str or bytes, ValueError
 * for an embedded NUL (Apache would silently cut the string there). */
const char *hydra_str_as_latin1(PyObject *obj, PyObject **holder, Py_ssize_t *len)
{
    const char *data;
    Py_ssize_t n;

    *holder = NULL;
    if (PyUnicode_Check(obj))
        data = unicode_as_latin1(obj, holder, &n);
    else if (PyBytes_Check(obj)) {
        data = PyBytes_AS_STRING(obj);
        n = PyBytes_GET_SIZE(obj);
    } else {
        raise_not_latin1();
        return NULL;
    }
    if (!data)
        return NULL;
    if (memchr(data, '\0', (size_t)n)) {
        Py_CLEAR(*holder);
        PyErr_SetString(PyExc_ValueError, "embedded null character");
        return NULL;
    }
    if (len)
        *len = n;
    return data;
}

const char *hydra_str_to_apache(apr_pool_t *p, PyObject *obj)
{
    PyObject *holder;
    Py_ssize_t len;
    const char *data = hydra_str_as_latin1(obj, &holder, &len);
    const char *copy;

    if (!data)
        return NULL;
    copy = apr_pstrmemdup(p, data, (apr_size_t)len);
    Py_XDECREF(holder);
    return copy;
}
