/*
 * global_lock.h - the cross-process session mutexes (python-api.md §11,
 * interpreters.md §10 steps 1 and 3): a small set of APR global mutexes
 * created once per configuration generation in the Apache parent and
 * re-attached in every child, used by mod_python.Session through
 * _apache._global_lock (objects/lock_functions.c).
 *
 * The set is process state, not interpreter state: every interpreter of a
 * child shares it, and every child of a generation locks the same mutexes.
 */
#ifndef HYDRA_GLOBAL_LOCK_H
#define HYDRA_GLOBAL_LOCK_H

#include "hydra.h"
#include "apr_global_mutex.h"

/* Creates the mutex set for this generation (parent, post_config). Does
 * nothing on the first, configuration-check pass. Logs and returns an APR
 * error when a mutex cannot be created or handed to the child user. */
apr_status_t global_lock_post_config(apr_pool_t *pconf, server_rec *s);

/* Re-attaches the mutexes in a new child (child_init). A mutex that cannot
 * be re-attached is logged and leaves this child without session mutexes. */
void global_lock_child_init(apr_pool_t *pchild, server_rec *s);

/* Number of usable mutexes in this process: 0 when there are none, else at
 * least 2 (index 0 is reserved for dbm-file locking). */
int global_lock_count(void);

/* Mutex `index` (0 <= index < global_lock_count()), or NULL. */
apr_global_mutex_t *global_lock_mutex(int index);

#endif /* HYDRA_GLOBAL_LOCK_H */
