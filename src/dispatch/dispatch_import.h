/*
 * dispatch_import.h - PythonImport at child start and in new pool
 * replicas; see dispatch_import.c.
 */
#ifndef HYDRA_IMPORT_H
#define HYDRA_IMPORT_H

#include "hydra.h"

struct dispatch_interp;

/* Runs the main server's PythonImport entries. Called from child_init,
 * after the interpreter core started, with no GIL held. `creation_hints`
 * (glue_directives.h: name -> what the sections running in it ask of its
 * creation) may be NULL. */
void import_run_all(server_rec *main_server, apr_hash_t *creation_hints);

/* Runs the entries that name `di`'s interpreter inside `di`, a new replica
 * of a pool that nothing else can use yet. No GIL held. */
void import_run_in_replica(server_rec *main_server, struct dispatch_interp *di);

#endif
