/*
 * glue_bytecode.h - PythonBytecodeCache's directory and the child-start
 * check of the mod_python package's bytecode; see glue_bytecode.c.
 */
#ifndef HYDRA_GLUE_BYTECODE_H
#define HYDRA_GLUE_BYTECODE_H

#include "hydra.h"

/* The resolved PythonBytecodeCache directory, or NULL (Off); set in
 * post_config, handed to the core in child_init. */
extern const char *hydra_bytecode_cache;

/* post_config: resolves the directory and creates it, owned by the child
 * user, when it does not exist. Problems are logged and leave it Off. */
void bytecode_cache_post_config(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s);

/* child_init, after Python started: one warning when the mod_python
 * package has no bytecode the next interpreter can use. */
void bytecode_check_package(apr_pool_t *pchild, server_rec *s);

#endif /* HYDRA_GLUE_BYTECODE_H */
