/*
 * per_interpreter_gil.c - the control case for single_phase.c: multi-phase
 * init that declares Py_MOD_PER_INTERPRETER_GIL_SUPPORTED, so it must import
 * in an own-GIL interpreter (spec/beyond.md §1). Python >= 3.12 only.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *per_interpreter_gil_answer(PyObject *module, PyObject *unused)
{
    return PyLong_FromLong(43);
}

static PyMethodDef per_interpreter_gil_methods[] = {
    {"answer", per_interpreter_gil_answer, METH_NOARGS, "Returns 43."},
    {NULL, NULL, 0, NULL},
};

static PyModuleDef_Slot per_interpreter_gil_slots[] = {
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
    {0, NULL},
};

static struct PyModuleDef per_interpreter_gil_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "hydra_per_interpreter_gil",
    .m_doc = "multi-phase init, per-interpreter GIL supported",
    .m_size = 0,
    .m_methods = per_interpreter_gil_methods,
    .m_slots = per_interpreter_gil_slots,
};

PyMODINIT_FUNC PyInit_hydra_per_interpreter_gil(void)
{
    return PyModuleDef_Init(&per_interpreter_gil_module);
}
