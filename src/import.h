/*
 * import.h - PythonImport at child start; see import.c.
 */
#ifndef HYDRA_IMPORT_H
#define HYDRA_IMPORT_H

#include "hydra.h"

/* Runs the main server's PythonImport entries. Called from child_init,
 * after the interpreter core started, with no GIL held. */
void import_run_all(server_rec *main_server);

#endif
