/*
 * glue_directives.h - what the module record needs from the configuration
 * code of the glue layer: the directive table, the record create/merge
 * functions, the process-wide settings and the post_config passes.
 * Private to src/glue.
 */
#ifndef HYDRA_GLUE_DIRECTIVES_H
#define HYDRA_GLUE_DIRECTIVES_H

#include "glue/glue_config.h"

/* glue_directives.c: the Python* directives. */
extern const command_rec hydra_directives[];

/* Process-global settings (RSRC_CONF, read in child_init). */
extern int hydra_optimize;         /* PythonOptimize */
extern int hydra_max_interpreters; /* PythonMaxInterpreters */
/* PythonBytecodeCache as written ("On" or a path; NULL = Off), resolved
 * against the runtime directory in post_config (glue_bytecode.c). */
extern const char *hydra_bytecode_cache_arg;
/* The smallest PythonRequestTimeout anywhere in the configuration (0:
 * none), so that child_init starts the watchdog only when it has work. */
extern apr_interval_time_t hydra_request_timeout_min;

/* pre_config: the process-wide settings back to their defaults, so that a
 * directive removed before a graceful restart stops applying. */
void hydra_config_reset_settings(void);

/* glue_config.c: records. */
void *hydra_create_dir_config(apr_pool_t *p, char *dir);
void *hydra_create_server_config(apr_pool_t *p, server_rec *s);
void *hydra_merge_config(apr_pool_t *p, void *base, void *add);

/* post_config: deletes the "removed" ("") PythonOption entries of every
 * server's lookup_defaults, once, single-threaded (see glue_config.c). */
void hydra_config_strip_removed_options(server_rec *s);

/* post_config: warns about every section where PythonInterpreter
 * main_interpreter meets PythonInterpGIL own (beyond.md §1) or a
 * PythonVirtualEnv other than the server-level one (§5). */
void hydra_config_warn_own_main(server_rec *s, apr_pool_t *ptemp);

/* post_config: name -> hydra_config holding the pool and the virtualenv
 * (creation settings) the first sections running in that name ask for
 * (each field from the first section that sets it), so that PythonImport,
 * which runs before any request, creates the interpreter the way the
 * requests will want it. Names without such a section are absent. */
apr_hash_t *hydra_config_creation_hints(server_rec *s, apr_pool_t *pconf);

#endif /* HYDRA_GLUE_DIRECTIVES_H */
