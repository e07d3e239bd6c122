/*
 * dispatch_metrics.h - server-wide interpreter counters in shared memory
 * (beyond.md §5): the layout of the segment, the lock-free counting API
 * the request path calls, and a snapshot for the status page.
 *
 * The glue makes the segment in post_config (one per generation, so a
 * graceful restart starts afresh) and hands it to every child in
 * child_init; everything here only lays it out, claims in it and counts
 * in it. The second, per-child view, apache.interpreters(), stays the
 * core's (interp_foreach).
 *
 * Layout: a header, then one block per possible child (ServerLimit); a
 * block has HYDRA_METRICS_ROWS interpreter rows (replicas take one row
 * each) and one "(other)" row that counts every interpreter created after
 * the rows ran out. Every field a child writes after claiming is an
 * atomic, so counting takes no lock and readers never block writers.
 */
#ifndef HYDRA_DISPATCH_METRICS_H
#define HYDRA_DISPATCH_METRICS_H

#include "hydra.h"

#include <stdatomic.h>
#include <stdint.h>

/* Interpreter rows per child, pool replicas included. */
#define HYDRA_METRICS_ROWS 64
/* Longer interpreter names are cut (at a UTF-8 character boundary). */
#define HYDRA_METRICS_NAME_MAX 128
/* Request-duration histogram: upper bounds 1 ms ... 10 s, then +Inf. */
#define HYDRA_METRICS_BUCKETS 14
/* The name the overflow row is shown with. */
#define HYDRA_METRICS_OTHER_NAME "(other)"

/* Upper bounds in microseconds of every bucket but the last (+Inf). */
extern const apr_int64_t hydra_metrics_bucket_usec[HYDRA_METRICS_BUCKETS - 1];

/* One interpreter (or replica) of one child. The hot counters come first
 * so that entry and exit touch one or two cache lines. */
typedef struct hydra_metrics_row {
    _Atomic uint64_t requests; /* invocations that entered it */
    _Atomic uint32_t active;   /* invocations inside it now */
    _Atomic uint32_t ready;    /* 1 once the identity below is written */
    _Atomic uint64_t errors;   /* handler errors, as the core's inventory counts them */
    _Atomic uint64_t timeouts; /* PythonRequestTimeout hits */
    _Atomic uint64_t duration_usec;
    _Atomic uint64_t buckets[HYDRA_METRICS_BUCKETS]; /* per bucket, not cumulative */
    _Atomic uint32_t merged; /* the "(other)" row: interpreters counted in it */
    int32_t kind;            /* hydra_interp_kind; -1 for the "(other)" row */
    int32_t replica;
    int64_t created; /* apr_time_t */
    char name[HYDRA_METRICS_NAME_MAX];
} __attribute__((aligned(64))) hydra_metrics_row;

/* The rows of one child process. */
typedef struct hydra_metrics_child {
    _Atomic int32_t pid;   /* 0 free, -1 being (re)claimed, else its owner */
    _Atomic uint32_t used; /* rows handed out; beyond HYDRA_METRICS_ROWS: the other row */
    int64_t started;       /* apr_time_t of the claim */
    hydra_metrics_row rows[HYDRA_METRICS_ROWS];
    hydra_metrics_row other;
} hydra_metrics_child;

/* The segment of one generation. */
typedef struct hydra_metrics_shm {
    uint32_t magic;
    uint32_t nchildren; /* blocks: the MPM's hard limit of child processes */
    int64_t started;    /* when post_config made it */
    /* What children of this generation that are gone had counted, so that
     * server totals never go down when a child exits. */
    _Atomic uint64_t exited_children;
    _Atomic uint64_t exited_requests;
    _Atomic uint64_t exited_errors;
    _Atomic uint64_t exited_timeouts;
    _Atomic uint32_t no_block_logged;
    hydra_metrics_child children[];
} hydra_metrics_shm;

/* Bytes of a mapping for `nchildren` blocks, with room to align the
 * segment inside it. */
apr_size_t dispatch_metrics_size(int nchildren);

/* Lays out a fresh segment in `mapping` (the parent, post_config) and
 * returns where it starts: the rows are cache-line aligned, and APR's
 * shared memory hands out an address only 8-byte aligned (its own size
 * header comes first). `mapping` must be zero-filled, as a new anonymous
 * mapping is. */
void *dispatch_metrics_format(void *mapping, int nchildren);

/* child_init, before any interpreter exists: claims a free block (or that
 * of a child that died without releasing it) and releases it when
 * `pchild` is destroyed. Without a free block this child is not counted
 * (logged once per generation). */
void dispatch_metrics_attach(void *base, apr_pool_t *pchild, server_rec *s);

/* The row of a new interpreter of this child (from the core's init hook),
 * or NULL when the child has no block. */
hydra_metrics_row *dispatch_metrics_claim_row(const char *name, int kind, int replica,
                                              server_rec *s);

/* An invocation enters/leaves the interpreter of `row` (NULL: nothing is
 * counted). Calls nest per thread like interp_acquire/interp_release; the
 * start time is kept per thread. */
void dispatch_metrics_enter(hydra_metrics_row *row);
void dispatch_metrics_leave(hydra_metrics_row *row);

/* A handler error, or a request stopped by PythonRequestTimeout. */
void dispatch_metrics_count_error(hydra_metrics_row *row);
void dispatch_metrics_count_timeout(hydra_metrics_row *row);

/* ------------------------------------------------------------------ */
/* Reading (the status page; plain C, no GIL)                          */

typedef struct metrics_row_view {
    const char *name;
    int kind; /* -1: the "(other)" row */
    int replica;
    unsigned merged; /* the "(other)" row: how many interpreters it holds */
    apr_time_t created;
    apr_uint64_t requests, errors, timeouts, duration_usec;
    apr_uint32_t active;
    apr_uint64_t buckets[HYDRA_METRICS_BUCKETS]; /* cumulative, as Prometheus shows them */
} metrics_row_view;

typedef struct metrics_child_view {
    pid_t pid;
    apr_time_t started;
    int nrows;
    metrics_row_view *rows;
} metrics_child_view;

typedef struct metrics_view {
    apr_time_t started; /* of the generation: the last (graceful) restart */
    int max_children;   /* blocks in the segment */
    int rows_per_child; /* HYDRA_METRICS_ROWS */
    int nchildren;      /* live children with a block */
    metrics_child_view *children;
    int interpreters; /* rows of live children, the "(other)" rows' interpreters included */
    apr_uint64_t exited_children;
    /* Server totals: live children plus those of this generation that are gone. */
    apr_uint64_t requests, errors, timeouts;
    apr_uint32_t active;
} metrics_view;

/* Copies the segment this child is attached to into `out` (allocated from
 * `p`). Returns 0, or -1 when there is no segment. */
int dispatch_metrics_snapshot(apr_pool_t *p, metrics_view *out);

#endif /* HYDRA_DISPATCH_METRICS_H */
