/*
 * glue_venv.h - checking the argument of PythonVirtualEnv at
 * configuration time; see glue_venv.c. Private to src/glue.
 */
#ifndef HYDRA_GLUE_VENV_H
#define HYDRA_GLUE_VENV_H

#include "hydra.h"

/* Checks that `arg` (absolute, or relative to the ServerRoot) is a
 * virtualenv made by the Python X.Y this module embeds. Returns NULL with
 * *canonical set to its real path (symlinks resolved, in `p`), or the
 * error text for Apache to show with the file and line. */
const char *venv_check(apr_pool_t *p, const char *arg, const char **canonical);

#endif
