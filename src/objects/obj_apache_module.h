/*
 * obj_apache_module.h - the built-in `_apache` module: its per-module state,
 * which holds every type and cached object (PEP 687 style, no static
 * PyObject *), and the entry point registered with PyImport_AppendInittab.
 */
#ifndef HYDRA_APACHE_MODULE_H
#define HYDRA_APACHE_MODULE_H

#include "hydra.h"

typedef struct hydra_apache_state {
    PyTypeObject *table_type;
    PyTypeObject *table_iter_type;
    PyTypeObject *request_type;
    PyTypeObject *server_type;
    PyTypeObject *connection_type;
    PyTypeObject *hlist_type;
    PyTypeObject *finfo_type;
    PyTypeObject *filter_type;
    PyObject *server_return;   /* exception class _apache.SERVER_RETURN */
    PyObject *str_interpreter; /* interned "interpreter" */
    /* Own-GIL interpreters: private copies of configuration tables
     * (obj_config_tables.c); NULL until first asked. */
    struct obj_config_copies *config_copies;
} hydra_apache_state;

typedef struct obj_config_copies obj_config_copies;

/* PyInit function for the inittab. */
PyObject *hydra_apache_module_init(void);

/* State of the module that defines `type` (a type created by _apache). */
hydra_apache_state *hydra_state_from_type(PyTypeObject *type);

/* State of the _apache module object `module`. */
static inline hydra_apache_state *hydra_state_from_module(PyObject *module)
{
    return (hydra_apache_state *)PyModule_GetState(module);
}

#endif /* HYDRA_APACHE_MODULE_H */
