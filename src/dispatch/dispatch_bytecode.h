/*
 * dispatch_bytecode.h - whether the mod_python package this child loaded
 * has bytecode that the next interpreter can use (see dispatch_bytecode.c).
 */
#ifndef HYDRA_DISPATCH_BYTECODE_H
#define HYDRA_DISPATCH_BYTECODE_H

#include "hydra.h"

typedef struct package_bytecode {
    int modules;             /* modules of the package loaded from source */
    int without;             /* of those, how many have no valid bytecode */
    const char *package_dir; /* where the package is */
    const char *example;     /* a source file without valid bytecode */
} package_bytecode;

/* Looks at the mod_python modules of the main interpreter (at child start,
 * after it imported the package). Returns 0 and fills `out`, or -1 when the
 * main interpreter is not there (its failure is logged elsewhere). */
int dispatch_package_bytecode(server_rec *s, apr_pool_t *p, package_bytecode *out);

#endif /* HYDRA_DISPATCH_BYTECODE_H */
