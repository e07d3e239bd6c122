/*
 * obj_config_tables.h - the configuration tables Python views show: the
 * shared live ones for the main and shared-GIL interpreters, private
 * copies for an own-GIL interpreter (see obj_config_tables.c).
 *
 * For users: in an interpreter with `PythonInterpGIL own`,
 * server.get_options() and server.get_config() show the server's tables as
 * they were when the child finished starting (configuration plus what
 * PythonImport code wrote), and writes to them stay in that interpreter;
 * req.get_options() is the request's own copy. Other interpreters keep
 * mod_python's shared tables (docs/directives.md).
 */
#ifndef HYDRA_OBJ_CONFIG_TABLES_H
#define HYDRA_OBJ_CONFIG_TABLES_H

#include "hydra.h"
#include "objects/obj_apache_module.h"

/* child_init, after PythonImport and before any worker thread: snapshots
 * of every server's options and directives (and of the options of its
 * lookup_defaults), from which own-GIL interpreters take their copies. */
void obj_config_tables_snapshot(apr_pool_t *pchild, server_rec *s);

/* The table a view of server table `shared` should show to the calling
 * interpreter. NULL + MemoryError on failure. GIL held. */
apr_table_t *obj_config_server_table(hydra_apache_state *st, apr_table_t *shared);

/* The same for the merged options of a request: `merged` itself, or (own
 * GIL) a copy in `rpool`, made once and kept in *cache. */
apr_table_t *obj_config_request_options(apr_pool_t *rpool, apr_table_t *merged,
                                        apr_table_t **cache);

/* Frees an interpreter's copies (module free). */
void obj_config_copies_free(hydra_apache_state *st);

#endif /* HYDRA_OBJ_CONFIG_TABLES_H */
