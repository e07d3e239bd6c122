/*
 * naming.h - the interpreter naming policy (interpreters.md §3-§6): a pure
 * function of the configuration and a few request facts, so that it can be
 * unit-tested without Apache running.
 */
#ifndef HYDRA_NAMING_H
#define HYDRA_NAMING_H

#include "apr_pools.h" /* only APR: the policy knows nothing of Apache or Python */

/* The inputs of one naming decision. Any pointer may be NULL. */
typedef struct naming_input {
    const char *interpreter; /* PythonInterpreter value */
    int per_directory;       /* PythonInterpPerDirectory is "1" */
    int per_directive;       /* PythonInterpPerDirective is "1" */
    const char *filename;    /* r->filename (NULL: none yet) */
    int filename_is_dir;     /* r->filename names an existing directory */
    const char *handler_dir; /* directory of the head handler / filter */
    const char *server_name; /* r->server (or c->base_server) hostname */
} naming_input;

/* Returns the registry name, or NULL for the main interpreter. Strings are
 * allocated from `p` when they have to be built. */
const char *naming_resolve(apr_pool_t *p, const naming_input *in);

#endif /* HYDRA_NAMING_H */
