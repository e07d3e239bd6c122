/*
 * interp_pool.c - the replicas of one pooled interpreter name and the
 * choice of a replica per invocation (PythonInterpPool, beyond.md §3).
 *
 * The rule, and why: two threads in one interpreter hand its GIL back and
 * forth, so an invocation goes to an idle replica first, and a new replica
 * is made only when every existing one is busy; otherwise it joins the
 * least busy replica. A bound (PythonInterpPool's second argument; default
 * none, which measured best, see docs/directives.md) makes invocations
 * beyond `concurrency` per replica wait here, on a condition variable,
 * holding no GIL. Choosing is lock-free: the replicas' `active`
 * counters are claimed with compare-and-swap; the mutex is taken only to
 * wait, and by a release only when someone waits.
 *
 * A request keeps its replica across phases (the dispatch layer passes it
 * back in interp_want.replica), and a thread already inside a replica of
 * the pool (an internal redirect, a nested filter) stays there: neither
 * waits for the bound, which could otherwise deadlock on itself. Nor does
 * any thread that is inside another interpreter already: two such threads
 * could each wait for what the other holds.
 */
#include "core/interp_pool.h"
#include "core/interp_record.h"

#include "apr_atomic.h"

/* After a replica failed to be created, the pool makes do with what it has
 * for this long before trying again. */
#define REPLICA_RETRY_USEC (5 * APR_USEC_PER_SEC)
/* A waiter re-checks this often even without a wake-up (a replica that
 * became ready, a lost race). */
#define WAIT_SLICE_USEC (50 * 1000)

struct interp_pool {
    int size;        /* replicas wanted, 2 ... HYDRA_POOL_MAX */
    int concurrency; /* invocations per replica at once; 0 = no bound */
    hydra_interp *replicas[HYDRA_POOL_MAX];
    unsigned count;      /* replicas published (ready), in order; atomic */
    unsigned creating;   /* 1 while one thread creates the next replica; atomic */
    unsigned waiters;    /* threads waiting for a replica; atomic */
    apr_time_t retry_at; /* no creation before this after a failure; atomic-ish */
    apr_thread_mutex_t *lock;
    apr_thread_cond_t *cond;
};

interp_pool *interp_pool_make(apr_pool_t *p, hydra_interp *head, int size, int concurrency)
{
    interp_pool *pool = apr_pcalloc(p, sizeof(*pool));

    if (apr_thread_mutex_create(&pool->lock, APR_THREAD_MUTEX_DEFAULT, p) != APR_SUCCESS
        || apr_thread_cond_create(&pool->cond, p) != APR_SUCCESS)
        return NULL;
    pool->size = size > HYDRA_POOL_MAX ? HYDRA_POOL_MAX : size;
    pool->concurrency = concurrency;
    /* Replica 0 is the name's own record; it is published when the
     * registry marks it ready (interp_pool_take only runs after that). */
    pool->replicas[0] = head;
    pool->count = 1;
    return pool;
}

int interp_pool_size_of(const interp_pool *pool)
{
    return pool ? pool->size : 1;
}

static unsigned published(const interp_pool *pool)
{
    return __atomic_load_n(&pool->count, __ATOMIC_ACQUIRE);
}

/* Claims a replica whose active count is below `bound` (0 = any), the
 * least busy first. NULL if none is, or a race was lost too often. */
static hydra_interp *claim_below(interp_pool *pool, unsigned bound)
{
    int tries;

    for (tries = 0; tries < 4; tries++) {
        unsigned n = published(pool), i, best_active = (unsigned)-1;
        hydra_interp *best = NULL;
        for (i = 0; i < n; i++) {
            unsigned a = __atomic_load_n(&pool->replicas[i]->active, __ATOMIC_RELAXED);
            if (a < best_active) {
                best = pool->replicas[i];
                best_active = a;
                if (a == 0)
                    break;
            }
        }
        if (!best || (bound && best_active >= bound))
            return NULL;
        if (__atomic_compare_exchange_n(&best->active, &best_active, best_active + 1, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            return best;
    }
    return NULL;
}

/* 1 when grow() may make a replica now (checked again inside it). */
static int may_grow(interp_pool *pool)
{
    return published(pool) < (unsigned)pool->size
           && __atomic_load_n(&pool->creating, __ATOMIC_ACQUIRE) == 0
           && __atomic_load_n(&pool->retry_at, __ATOMIC_RELAXED) <= apr_time_now();
}

/* Makes the next replica if the pool is not full, nobody else is making
 * one and no recent failure says to wait. Returns it counted active, or
 * NULL. */
static hydra_interp *grow(interp_pool *pool, server_rec *s)
{
    unsigned expected = 0, n;
    hydra_interp *replica;

    if (!may_grow(pool)
        || !__atomic_compare_exchange_n(&pool->creating, &expected, 1, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_RELAXED))
        return NULL;
    n = published(pool);
    replica =
        n < (unsigned)pool->size ? registry_create_replica(pool->replicas[0], (int)n, s) : NULL;
    if (replica) {
        /* Counted before it is published, so nobody else sees it idle. */
        __atomic_store_n(&replica->active, 1, __ATOMIC_RELAXED);
        pool->replicas[n] = replica;
        __atomic_store_n(&pool->count, n + 1, __ATOMIC_RELEASE);
    } else if (n < (unsigned)pool->size) {
        __atomic_store_n(&pool->retry_at, apr_time_now() + REPLICA_RETRY_USEC, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&pool->creating, 0, __ATOMIC_RELEASE);
    return replica;
}

/* Waits, holding no GIL, until a replica falls below the bound, making a
 * new replica meanwhile if the pool may grow (a waiter is exactly the case
 * "every replica is busy"). The mutex is not held while a replica is made:
 * releases take it to wake waiters and must not wait for a creation. */
static hydra_interp *wait_for_replica(interp_pool *pool, unsigned bound, server_rec *s)
{
    hydra_interp *replica;

    apr_thread_mutex_lock(pool->lock);
    __atomic_add_fetch(&pool->waiters, 1, __ATOMIC_SEQ_CST);
    for (;;) {
        if ((replica = claim_below(pool, bound)) != NULL)
            break;
        if (may_grow(pool)) {
            apr_thread_mutex_unlock(pool->lock);
            replica = grow(pool, s);
            apr_thread_mutex_lock(pool->lock);
            if (replica)
                break;
            continue;
        }
        apr_thread_cond_timedwait(pool->cond, pool->lock, WAIT_SLICE_USEC);
    }
    __atomic_sub_fetch(&pool->waiters, 1, __ATOMIC_SEQ_CST);
    apr_thread_mutex_unlock(pool->lock);
    return replica;
}

hydra_interp *interp_pool_take(hydra_interp *head, const interp_want *want, server_rec *s)
{
    interp_pool *pool = head->pool;
    hydra_interp *replica;
    unsigned bound;

    if (!pool)
        return NULL;
    replica =
        want->replica && want->replica->pool == pool ? want->replica : registry_held_replica(pool);
    if (replica) {
        __atomic_add_fetch(&replica->active, 1, __ATOMIC_ACQ_REL);
        return replica;
    }
    /* A thread inside another acquisition (a subrequest from another pool,
     * say) never waits: its holder could be what the others wait for. */
    bound = pool->concurrency > 0 && !registry_thread_inside() ? (unsigned)pool->concurrency : 0;
    if ((replica = claim_below(pool, 1)) != NULL || (replica = grow(pool, s)) != NULL)
        return replica;
    if (!bound) {
        /* No bound: the least busy, whatever its load (fails only when a
         * race for it was lost; try again). */
        while ((replica = claim_below(pool, 0)) == NULL)
            ;
        return replica;
    }
    if ((replica = claim_below(pool, bound)) != NULL)
        return replica;
    return wait_for_replica(pool, bound, s);
}

void interp_pool_give_back(hydra_interp *replica)
{
    interp_pool *pool = replica->pool;

    __atomic_sub_fetch(&replica->active, 1, __ATOMIC_SEQ_CST);
    if (pool && __atomic_load_n(&pool->waiters, __ATOMIC_SEQ_CST) > 0) {
        /* Taking the mutex orders this wake-up after the waiter's last
         * failed claim: it is either still trying (and will see the free
         * slot) or in the wait (and gets the signal). */
        apr_thread_mutex_lock(pool->lock);
        apr_thread_cond_signal(pool->cond);
        apr_thread_mutex_unlock(pool->lock);
    }
}
