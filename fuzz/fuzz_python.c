/*
 * fuzz_python.c - the embedded CPython the fuzz targets run in, and the
 * built-in module `_hydra_fuzz` that hands the C code under test to the
 * Python checks in fuzz_models.py.
 *
 * The C files under test (src/objects/util_qs.c, strings.c, table.c) are
 * linked in unchanged, built with the sanitizers. They need a module state
 * for the table types; this file provides hydra_state_from_type() (in the
 * module it is apache_module.c's) returning one state made here. Python
 * uses the plain malloc allocator so that AddressSanitizer sees every
 * object allocation, not pymalloc's arenas.
 */
#include "fuzz_python.h"
#include "objects/objects.h"

#include "apr_general.h"

#include <stdio.h>
#include <stdlib.h>

#ifndef FUZZ_MODELS_DIR
#error "build with -DFUZZ_MODELS_DIR='\"/path/to/fuzz\"' (the Makefile does)"
#endif

static hydra_apache_state fuzz_state;
static apr_pool_t *fuzz_pool;
static PyObject *check_function;

hydra_apache_state *hydra_state_from_type(PyTypeObject *type)
{
    (void)type;
    return &fuzz_state;
}

/* ---- _hydra_fuzz: the functions under test, callable from Python ----- */

static PyObject *fuzz_str_from_apache(PyObject *module, PyObject *arg)
{
    /* Apache strings are NUL-terminated: everything after a NUL is gone. */
    if (!PyBytes_Check(arg))
        return PyErr_Format(PyExc_TypeError, "bytes expected");
    return hydra_str_from_apache(PyBytes_AS_STRING(arg));
}

static PyObject *fuzz_str_from_latin1(PyObject *module, PyObject *arg)
{
    if (!PyBytes_Check(arg))
        return PyErr_Format(PyExc_TypeError, "bytes expected");
    return hydra_str_from_latin1(PyBytes_AS_STRING(arg));
}

static PyObject *fuzz_str_as_latin1(PyObject *module, PyObject *arg)
{
    PyObject *holder = NULL, *result;
    Py_ssize_t len = -1;
    const char *data = hydra_str_as_latin1(arg, &holder, &len);

    if (!data)
        return NULL;
    result = PyBytes_FromStringAndSize(data, len);
    Py_XDECREF(holder);
    return result;
}

/* hydra_str_to_apache() copies into a pool; the copy must read back as a
 * C string of the same bytes. The pool is cleared per call. */
static PyObject *fuzz_str_to_apache(PyObject *module, PyObject *arg)
{
    const char *copy = hydra_str_to_apache(fuzz_pool, arg);
    PyObject *result = copy ? PyBytes_FromString(copy) : NULL;

    apr_pool_clear(fuzz_pool);
    return result;
}

static PyMethodDef fuzz_functions[] = {
    {"parse_qs", (PyCFunction)(void (*)(void))hydra_parse_qs, METH_VARARGS | METH_KEYWORDS, NULL},
    {"parse_qsl", (PyCFunction)(void (*)(void))hydra_parse_qsl, METH_VARARGS | METH_KEYWORDS, NULL},
    {"str_from_apache", fuzz_str_from_apache, METH_O, NULL},
    {"str_from_latin1", fuzz_str_from_latin1, METH_O, NULL},
    {"str_as_latin1", fuzz_str_as_latin1, METH_O, NULL},
    {"str_to_apache", fuzz_str_to_apache, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef fuzz_module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_hydra_fuzz",
    .m_size = -1,
    .m_methods = fuzz_functions,
};

static PyObject *fuzz_module_init(void)
{
    PyObject *module = PyModule_Create(&fuzz_module_def);

    if (!module)
        return NULL;
    fuzz_state.table_type = (PyTypeObject *)PyType_FromSpec(&hydra_table_spec);
    fuzz_state.table_iter_type = (PyTypeObject *)PyType_FromSpec(&hydra_table_iter_spec);
    if (!fuzz_state.table_type || !fuzz_state.table_iter_type
        || PyModule_AddObjectRef(module, "table", (PyObject *)fuzz_state.table_type) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}

/* ---- start-up --------------------------------------------------------- */

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_python: %s\n", what);
    if (PyErr_Occurred())
        PyErr_Print();
    exit(2);
}

static void start_python(void)
{
    PyPreConfig preconfig;
    PyConfig config;
    PyStatus status;

    PyPreConfig_InitIsolatedConfig(&preconfig);
    preconfig.allocator = PYMEM_ALLOCATOR_MALLOC;
    status = Py_PreInitialize(&preconfig);
    if (PyStatus_Exception(status))
        fail("Py_PreInitialize failed");

    if (PyImport_AppendInittab("_hydra_fuzz", fuzz_module_init) != 0)
        fail("cannot register _hydra_fuzz");
    PyConfig_InitIsolatedConfig(&config);
    config.install_signal_handlers = 0;
    config.site_import = 0;
#ifdef HYDRA_PYTHON_HOME
    /* A CPython outside /usr (the copy scripts/python-home.sh makes): the
     * fuzzer binary's path tells CPython nothing about where it lives. */
    status = PyConfig_SetBytesString(&config, &config.home, HYDRA_PYTHON_HOME);
    if (PyStatus_Exception(status))
        fail("cannot set the Python home");
#endif
    status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status))
        fail(status.err_msg ? status.err_msg : "Py_InitializeFromConfig failed");
}

int fuzz_python_init(const char *check_name)
{
    PyObject *sys_path, *dir, *models;

    if (apr_initialize() != APR_SUCCESS || apr_pool_create(&fuzz_pool, NULL) != APR_SUCCESS)
        fail("cannot initialise APR");
    start_python();
    sys_path = PySys_GetObject("path"); /* borrowed */
    dir = PyUnicode_FromString(FUZZ_MODELS_DIR);
    if (!sys_path || !dir || PyList_Insert(sys_path, 0, dir) < 0)
        fail("cannot set sys.path");
    Py_DECREF(dir);
    models = PyImport_ImportModule("fuzz_models");
    if (!models)
        fail("cannot import fuzz_models");
    check_function = PyObject_GetAttrString(models, check_name);
    Py_DECREF(models);
    if (!check_function)
        fail("no such check in fuzz_models");
    return 0;
}

void fuzz_python_check(const uint8_t *data, size_t size)
{
    PyObject *input = PyBytes_FromStringAndSize((const char *)data, (Py_ssize_t)size);
    PyObject *result = input ? PyObject_CallOneArg(check_function, input) : NULL;

    Py_XDECREF(input);
    if (!result) {
        PyErr_Print();
        fprintf(stderr, "fuzz_python: the check failed for this input\n");
        abort();
    }
    Py_DECREF(result);
}
