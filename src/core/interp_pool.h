/*
 * interp_pool.h - the replicas of one pooled interpreter name
 * (PythonInterpPool, beyond.md §3) and the rule that chooses one for an
 * invocation. Private to src/core.
 */
#ifndef HYDRA_INTERP_POOL_H
#define HYDRA_INTERP_POOL_H

#include "core/interp.h"

#define HYDRA_POOL_MAX 64

typedef struct interp_pool interp_pool;

/* Makes the pool of `head` (replica 0, not ready yet) in `p`. Registry
 * lock held. NULL if out of memory. */
interp_pool *interp_pool_make(apr_pool_t *p, hydra_interp *head, int size, int concurrency);

/* Chooses the replica of the ready pooled name `head` for `want` and
 * counts it active: the request's own replica if it has one, one this
 * thread is already inside, an idle replica, a new replica if every one
 * is busy and the pool is not full, else the least busy one below the
 * concurrency bound, else the first one to fall below it (waiting with no
 * GIL held). NULL only when `head` has no pool. */
hydra_interp *interp_pool_take(hydra_interp *head, const interp_want *want, server_rec *s);

/* Counts `replica` no longer active and wakes a waiter if one waits. */
void interp_pool_give_back(hydra_interp *replica);

int interp_pool_size_of(const interp_pool *pool);

#endif /* HYDRA_INTERP_POOL_H */
