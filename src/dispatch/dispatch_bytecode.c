/*
 * dispatch_bytecode.c - does the mod_python package have bytecode the next
 * interpreter can load?
 *
 * Every interpreter imports mod_python.apache. When the package folder
 * holds no valid .pyc for this Python (a source tree, or a folder the
 * children cannot write), every interpreter compiles it again, which costs
 * about a third more memory per interpreter. After the main
 * interpreter imported the package, a .pyc that CPython could use is
 * either there already or was just written; if it is missing or stale,
 * every later interpreter pays. The glue turns the answer into one warning.
 */
#include "dispatch/dispatch_bytecode.h"

#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include "dispatch/dispatch_interp.h"

static uint32_t le32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* What CPython's SourceLoader checks before it uses `pyc` for `source`:
 * the magic number, then the source's mtime and size for a
 * timestamp-based file. A hash-based file counts as valid (CPython checks
 * it against the source only when told to). */
static int pyc_is_valid(const char *pyc, const char *source)
{
    unsigned char head[16];
    struct stat st;
    FILE *f = fopen(pyc, "rb");
    size_t got = f ? fread(head, 1, sizeof(head), f) : 0;

    if (f)
        fclose(f);
    if (got != sizeof(head) || le32(head) != (uint32_t)PyImport_GetMagicNumber())
        return 0;
    if (le32(head + 4) & 1)
        return 1;
    if (stat(source, &st) != 0)
        return 0;
    return le32(head + 8) == (uint32_t)st.st_mtime && le32(head + 12) == (uint32_t)st.st_size;
}

static const char *str_attr(PyObject *obj, const char *name)
{
    PyObject *value = PyObject_GetAttrString(obj, name);
    const char *text = value && PyUnicode_Check(value) ? PyUnicode_AsUTF8(value) : NULL;

    PyErr_Clear();
    /* The module keeps its own reference: the text stays valid while the
     * module lives, and the package is never unloaded. */
    Py_XDECREF(value);
    return text;
}

static int is_package_module(PyObject *name)
{
    const char *text = PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : NULL;

    PyErr_Clear();
    return text && (strcmp(text, "mod_python") == 0 || strncmp(text, "mod_python.", 11) == 0);
}

/* Called with the main interpreter's GIL held. */
static void look_at_package(apr_pool_t *p, package_bytecode *out)
{
    PyObject *modules = PySys_GetObject("modules"); /* borrowed */
    PyObject *items = modules ? PyMapping_Items(modules) : NULL;
    Py_ssize_t i, n = items ? PyList_GET_SIZE(items) : 0;

    for (i = 0; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(items, i);
        PyObject *module = PyTuple_GET_ITEM(item, 1);
        const char *file, *cached;
        size_t len;

        if (!is_package_module(PyTuple_GET_ITEM(item, 0)))
            continue;
        file = str_attr(module, "__file__");
        cached = str_attr(module, "__cached__");
        len = file ? strlen(file) : 0;
        /* Only modules loaded from a .py file can be compiled again. */
        if (!cached || len < 3 || strcmp(file + len - 3, ".py") != 0)
            continue;
        out->modules++;
        if (!out->package_dir && strrchr(file, '/')
            && strcmp(PyUnicode_AsUTF8(PyTuple_GET_ITEM(item, 0)), "mod_python") == 0)
            out->package_dir = apr_pstrndup(p, file, strrchr(file, '/') - file);
        if (!pyc_is_valid(cached, file)) {
            out->without++;
            if (!out->example)
                out->example = apr_pstrdup(p, file);
        }
    }
    PyErr_Clear();
    Py_XDECREF(items);
}

int dispatch_package_bytecode(server_rec *s, apr_pool_t *p, package_bytecode *out)
{
    hydra_interp *main_interp = interp_main();

    (void)s;
    memset(out, 0, sizeof(*out));
    /* Bookkeeping, not an invocation: not counted in the inventory or the
     * server-wide metrics. */
    if (!main_interp || interp_enter(main_interp) != 0)
        return -1;
    look_at_package(p, out);
    interp_leave(main_interp);
    return 0;
}
