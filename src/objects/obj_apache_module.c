/*
 * apache_module.c - the built-in `_apache` module: module definition with
 * multi-phase init, the exec slot that creates every heap type into the
 * module state, and the module-level constants.
 *
 * Modelled on CPython's isolated stdlib modules (PEP 687): no static
 * PyObject *, state reached through the module or the defining type, and
 * per-interpreter-GIL support declared, so the module imports in own-GIL
 * interpreters (DESIGN.md decision 5).
 */
#include "objects/obj_apache_module.h"
#include "objects/objects.h"
#include "objects/obj_filter.h"
#include "objects/obj_services.h"
#include "objects/obj_config_tables.h"

static PyModuleDef apache_module_def;

hydra_apache_state *hydra_state_from_type(PyTypeObject *type)
{
    PyObject *module = PyType_GetModuleByDef(type, &apache_module_def);
    if (!module) {
        PyErr_Clear();
        return NULL;
    }
    return hydra_state_from_module(module);
}

static int add_type(PyObject *module, PyType_Spec *spec, PyTypeObject **slot, PyObject *base)
{
    PyObject *type = PyType_FromModuleAndSpec(module, spec, base);
    if (!type)
        return -1;
    *slot = (PyTypeObject *)type;
    /* Types are reachable as module attributes by their short name. */
    {
        const char *dot = strrchr(spec->name, '.');
        const char *short_name = dot ? dot + 1 : spec->name;
        if (PyModule_AddObjectRef(module, short_name, type) < 0)
            return -1;
    }
    return 0;
}

static int apache_exec(PyObject *module)
{
    hydra_apache_state *st = hydra_state_from_module(module);

    if (add_type(module, &hydra_table_spec, &st->table_type, NULL) < 0
        || add_type(module, &hydra_table_iter_spec, &st->table_iter_type, NULL) < 0
        || add_type(module, &hydra_request_spec, &st->request_type, NULL) < 0
        || add_type(module, &hydra_server_spec, &st->server_type, NULL) < 0
        || add_type(module, &hydra_connection_spec, &st->connection_type, NULL) < 0
        || add_type(module, &hydra_hlist_spec, &st->hlist_type, NULL) < 0
        || add_type(module, &hydra_finfo_spec, &st->finfo_type, NULL) < 0
        || add_type(module, &hydra_filter_spec, &st->filter_type, NULL) < 0)
        return -1;
    /* mod_python's name for the table type and its factory. */
    if (PyModule_AddObjectRef(module, "table", (PyObject *)st->table_type) < 0
        || PyModule_AddObjectRef(module, "make_table", (PyObject *)st->table_type) < 0)
        return -1;

    st->server_return = PyErr_NewException("_apache.SERVER_RETURN", PyExc_Exception, NULL);
    if (!st->server_return || PyModule_AddObjectRef(module, "SERVER_RETURN", st->server_return) < 0)
        return -1;
    st->str_interpreter = PyUnicode_InternFromString("interpreter");
    if (!st->str_interpreter)
        return -1;

    if (PyModule_AddIntConstant(module, "MODULE_MAGIC_NUMBER_MAJOR", MODULE_MAGIC_NUMBER_MAJOR) < 0
        || PyModule_AddIntConstant(module, "MODULE_MAGIC_NUMBER_MINOR", MODULE_MAGIC_NUMBER_MINOR)
               < 0
        || PyModule_AddStringConstant(module, "mp_version", HYDRA_MP_VERSION) < 0
        || PyModule_AddStringConstant(module, "hydra_version", HYDRA_VERSION) < 0)
        return -1;
    if (PyModule_AddFunctions(module, hydra_lock_functions) < 0)
        return -1;
    return PyModule_AddFunctions(module, hydra_apache_functions);
}

static int apache_traverse(PyObject *module, visitproc visit, void *arg)
{
    hydra_apache_state *st = hydra_state_from_module(module);
    Py_VISIT(st->table_type);
    Py_VISIT(st->table_iter_type);
    Py_VISIT(st->request_type);
    Py_VISIT(st->server_type);
    Py_VISIT(st->connection_type);
    Py_VISIT(st->hlist_type);
    Py_VISIT(st->finfo_type);
    Py_VISIT(st->filter_type);
    Py_VISIT(st->server_return);
    return 0;
}

static int apache_clear(PyObject *module)
{
    hydra_apache_state *st = hydra_state_from_module(module);
    Py_CLEAR(st->table_type);
    Py_CLEAR(st->table_iter_type);
    Py_CLEAR(st->request_type);
    Py_CLEAR(st->server_type);
    Py_CLEAR(st->connection_type);
    Py_CLEAR(st->hlist_type);
    Py_CLEAR(st->finfo_type);
    Py_CLEAR(st->filter_type);
    Py_CLEAR(st->server_return);
    Py_CLEAR(st->str_interpreter);
    return 0;
}

static void apache_free(void *module)
{
    apache_clear((PyObject *)module);
    obj_config_copies_free(hydra_state_from_module((PyObject *)module));
}

static PyModuleDef_Slot apache_slots[] = {
    {Py_mod_exec, apache_exec},
#if PY_VERSION_HEX >= 0x030C0000
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
    {0, NULL},
};

static PyModuleDef apache_module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_apache",
    .m_doc = "Hydra's interface to Apache (the C half of mod_python.apache).",
    .m_size = sizeof(hydra_apache_state),
    .m_slots = apache_slots,
    .m_traverse = apache_traverse,
    .m_clear = apache_clear,
    .m_free = apache_free,
};

PyObject *hydra_apache_module_init(void)
{
    return PyModuleDef_Init(&apache_module_def);
}

/* ---------------------------------------------------------------------
 * The services of the layer above (obj_services.h)
 */

const obj_services *obj_services_table;

void obj_services_install(const obj_services *services)
{
    obj_services_table = services;
}
