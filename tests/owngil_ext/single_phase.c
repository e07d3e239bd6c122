/*
 * single_phase.c - an extension module the own-GIL tests build themselves
 * (tests/test_own_gil_interpreters.py): single-phase init with
 * PyModule_Create and no Py_mod_multiple_interpreters slot, i.e. a module
 * that declares no support for sub-interpreters at all. CPython must refuse
 * it in an interpreter with its own GIL, and Hydra must say how to get out
 * (spec/beyond.md §1). In the main or a shared-GIL interpreter it imports.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *single_phase_answer(PyObject *module, PyObject *unused)
{
    return PyLong_FromLong(42);
}

static PyMethodDef single_phase_methods[] = {
    {"answer", single_phase_answer, METH_NOARGS, "Returns 42."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef single_phase_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "hydra_single_phase",
    .m_doc = "single-phase init, no multi-interpreter support declared",
    .m_size = -1,
    .m_methods = single_phase_methods,
};

PyMODINIT_FUNC PyInit_hydra_single_phase(void)
{
    return PyModule_Create(&single_phase_module);
}
