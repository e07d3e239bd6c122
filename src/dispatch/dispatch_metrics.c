/*
 * dispatch_metrics.c - the server-wide counters in shared memory: laying
 * out a segment, a child claiming and releasing its block, interpreters
 * claiming rows, counting invocations, and copying it all out for the
 * status page. See dispatch_metrics.h for the layout.
 *
 * It owns no Apache hook and makes no segment (the glue does); it never
 * takes a lock: a child's block and rows are claimed with compare-and-swap
 * or fetch-and-add, and counting is relaxed atomic arithmetic on rows that
 * only their child writes.
 */
#include "dispatch/dispatch_metrics.h"

#include <errno.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#define METRICS_MAGIC 0x48594d31u /* "HYM1" */
/* Deeper nesting than this is not counted (the core refuses at 64). */
#define MAX_DEPTH 64

const apr_int64_t hydra_metrics_bucket_usec[HYDRA_METRICS_BUCKETS - 1] = {
    1000,   2500,   5000,    10000,   25000,   50000,   100000,
    250000, 500000, 1000000, 2500000, 5000000, 10000000};

/* This child's view: set in child_init, before worker threads exist. */
static hydra_metrics_shm *segment;
static hydra_metrics_child *block;
/* 0 once the block is given back at child exit: its rows may then belong
 * to another child, so nothing more is written. */
static volatile int counting;

/* The start (monotonic_usec) of each counted invocation of this thread,
 * 0 when that one is not counted; indexed by nesting depth. */
static __thread apr_int64_t tl_start[MAX_DEPTH];
static __thread int tl_depth;

/* Durations from the monotonic clock: a step of the wall clock (NTP,
 * date -s) must not make an invocation look long or negative. Never 0
 * after boot, so 0 can mean "not counted". */
static apr_int64_t monotonic_usec(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (apr_int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 + 1;
}

/* ------------------------------------------------------------------ */
/* The segment and the blocks                                         */

apr_size_t dispatch_metrics_size(int nchildren)
{
    return _Alignof(hydra_metrics_shm) + sizeof(hydra_metrics_shm)
           + (apr_size_t)nchildren * sizeof(hydra_metrics_child);
}

void *dispatch_metrics_format(void *mapping, int nchildren)
{
    uintptr_t align = _Alignof(hydra_metrics_shm);
    hydra_metrics_shm *shm = (hydra_metrics_shm *)(((uintptr_t)mapping + align - 1) & ~(align - 1));

    shm->magic = METRICS_MAGIC;
    shm->nchildren = (uint32_t)nchildren;
    shm->started = apr_time_now();
    return shm;
}

/* A pid that no longer exists. A zombie still does (until its parent
 * reaps it, which happens before the MPM starts a child in its place);
 * EPERM means it exists under another user. */
static int pid_gone(int32_t pid)
{
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

static unsigned rows_used(const hydra_metrics_child *b)
{
    unsigned used = atomic_load(&b->used);
    return used < HYDRA_METRICS_ROWS ? used : HYDRA_METRICS_ROWS;
}

/* Adds what the block counted to the generation's "exited" totals. The
 * block is ours (pid -1): nobody writes it meanwhile. */
static void retire(hydra_metrics_child *b)
{
    uint64_t requests = 0, errors = 0, timeouts = 0;
    unsigned i, used = rows_used(b);

    for (i = 0; i <= used; i++) {
        hydra_metrics_row *row = i < used ? &b->rows[i] : &b->other;
        requests += atomic_load(&row->requests);
        errors += atomic_load(&row->errors);
        timeouts += atomic_load(&row->timeouts);
    }
    atomic_fetch_add(&segment->exited_requests, requests);
    atomic_fetch_add(&segment->exited_errors, errors);
    atomic_fetch_add(&segment->exited_timeouts, timeouts);
    atomic_fetch_add(&segment->exited_children, 1);
}

/* Child exit: the totals keep what this child counted; the rows go. */
static apr_status_t release_block(void *data)
{
    hydra_metrics_child *b = data;

    counting = 0;
    atomic_store(&b->pid, -1); /* readers skip it from here on */
    retire(b);
    atomic_store(&b->pid, 0);
    block = NULL;
    return APR_SUCCESS;
}

/* Only the rows a child used were ever touched; zeroing only those keeps
 * the rest of the segment unbacked by memory. */
static void reset_block(hydra_metrics_child *b)
{
    memset(b->rows, 0, rows_used(b) * sizeof(hydra_metrics_row));
    memset(&b->other, 0, sizeof(b->other));
    atomic_store(&b->used, 0);
    b->started = apr_time_now();
}

void dispatch_metrics_attach(void *base, apr_pool_t *pchild, server_rec *s)
{
    hydra_metrics_shm *shm = base;
    int32_t me = (int32_t)getpid();
    uint32_t i;

    if (!shm || shm->magic != METRICS_MAGIC)
        return;
    segment = shm;
    for (i = 0; i < shm->nchildren; i++) {
        hydra_metrics_child *b = &shm->children[i];
        int32_t owner = atomic_load(&b->pid);

        if (owner == -1 || (owner != 0 && !pid_gone(owner)))
            continue;
        if (!atomic_compare_exchange_strong(&b->pid, &owner, -1))
            continue; /* another child was quicker */
        if (owner != 0)
            retire(b); /* it died without giving the block back */
        reset_block(b);
        atomic_store(&b->pid, me);
        block = b;
        counting = 1;
        apr_pool_cleanup_register(pchild, b, release_block, apr_pool_cleanup_null);
        return;
    }
    if (atomic_exchange(&shm->no_block_logged, 1) == 0)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     "HYDRA0228: process %" APR_PID_T_FMT " finds no free block among the %u of "
                     "the server-wide metrics; its interpreters are not counted there",
                     getpid(), shm->nchildren);
}

/* ------------------------------------------------------------------ */
/* Rows                                                               */

/* Copies `name`, cut at a character boundary if it is too long. */
static void copy_name(char *dst, const char *name)
{
    size_t len = strlen(name);

    if (len >= HYDRA_METRICS_NAME_MAX) {
        len = HYDRA_METRICS_NAME_MAX - 1;
        while (len > 0 && ((unsigned char)name[len] & 0xC0) == 0x80)
            len--;
    }
    memcpy(dst, name, len);
    dst[len] = '\0';
}

hydra_metrics_row *dispatch_metrics_claim_row(const char *name, int kind, int replica,
                                              server_rec *s)
{
    hydra_metrics_row *row;
    unsigned idx;

    if (!block || !counting)
        return NULL;
    idx = atomic_fetch_add(&block->used, 1);
    if (idx < HYDRA_METRICS_ROWS) {
        row = &block->rows[idx];
        copy_name(row->name, name);
        row->kind = kind;
        row->replica = replica;
        row->created = apr_time_now();
        atomic_store_explicit(&row->ready, 1, memory_order_release);
        return row;
    }
    row = &block->other;
    if (atomic_fetch_add(&row->merged, 1) == 0) {
        copy_name(row->name, HYDRA_METRICS_OTHER_NAME);
        row->kind = -1;
        row->created = apr_time_now();
        atomic_store_explicit(&row->ready, 1, memory_order_release);
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     "HYDRA0229: interpreter '%s' is the first beyond the %d rows per process of "
                     "the server-wide metrics; it and later ones are counted together as "
                     "'" HYDRA_METRICS_OTHER_NAME "'",
                     name, HYDRA_METRICS_ROWS);
    }
    return row;
}

/* ------------------------------------------------------------------ */
/* Counting: the request path                                         */

void dispatch_metrics_enter(hydra_metrics_row *row)
{
    int depth = tl_depth++;

    if (depth >= MAX_DEPTH)
        return;
    if (!row || !counting) {
        tl_start[depth] = 0;
        return;
    }
    atomic_fetch_add_explicit(&row->requests, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&row->active, 1, memory_order_relaxed);
    tl_start[depth] = monotonic_usec();
}

void dispatch_metrics_leave(hydra_metrics_row *row)
{
    int depth = --tl_depth;
    apr_int64_t start, elapsed;
    int b = 0;

    if (depth < 0) { /* a leave without an enter: keep the stack sane */
        tl_depth = 0;
        return;
    }
    if (depth >= MAX_DEPTH || !row || !(start = tl_start[depth]) || !counting)
        return;
    elapsed = monotonic_usec() - start;
    while (b < HYDRA_METRICS_BUCKETS - 1 && elapsed > hydra_metrics_bucket_usec[b])
        b++;
    atomic_fetch_add_explicit(&row->buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&row->duration_usec, (uint64_t)elapsed, memory_order_relaxed);
    atomic_fetch_sub_explicit(&row->active, 1, memory_order_relaxed);
}

void dispatch_metrics_count_error(hydra_metrics_row *row)
{
    if (row && counting)
        atomic_fetch_add_explicit(&row->errors, 1, memory_order_relaxed);
}

void dispatch_metrics_count_timeout(hydra_metrics_row *row)
{
    if (row && counting)
        atomic_fetch_add_explicit(&row->timeouts, 1, memory_order_relaxed);
}

/* ------------------------------------------------------------------ */
/* Reading                                                            */

static void copy_row(apr_pool_t *p, const hydra_metrics_row *row, metrics_row_view *v)
{
    apr_uint64_t sum = 0;
    int i;

    v->name = apr_pstrndup(p, row->name, HYDRA_METRICS_NAME_MAX);
    v->kind = row->kind;
    v->replica = row->replica;
    v->merged = atomic_load_explicit(&row->merged, memory_order_relaxed);
    v->created = row->created;
    v->requests = atomic_load_explicit(&row->requests, memory_order_relaxed);
    v->errors = atomic_load_explicit(&row->errors, memory_order_relaxed);
    v->timeouts = atomic_load_explicit(&row->timeouts, memory_order_relaxed);
    v->duration_usec = atomic_load_explicit(&row->duration_usec, memory_order_relaxed);
    v->active = atomic_load_explicit(&row->active, memory_order_relaxed);
    for (i = 0; i < HYDRA_METRICS_BUCKETS; i++) {
        sum += atomic_load_explicit(&row->buckets[i], memory_order_relaxed);
        v->buckets[i] = sum;
    }
}

/* The rows of one live block into `cv`; adds to the server totals. */
static void copy_child(apr_pool_t *p, const hydra_metrics_child *b, int32_t pid,
                       metrics_child_view *cv, metrics_view *out)
{
    unsigned i, used = rows_used(b);

    cv->pid = (pid_t)pid;
    cv->started = b->started;
    cv->rows = apr_pcalloc(p, (used + 1) * sizeof(*cv->rows));
    for (i = 0; i <= used; i++) {
        const hydra_metrics_row *row = i < used ? &b->rows[i] : &b->other;
        metrics_row_view *v = &cv->rows[cv->nrows];

        if (!atomic_load_explicit(&row->ready, memory_order_acquire))
            continue;
        copy_row(p, row, v);
        cv->nrows++;
        out->interpreters += v->kind < 0 ? (int)v->merged : 1;
        out->requests += v->requests;
        out->errors += v->errors;
        out->timeouts += v->timeouts;
        out->active += v->active;
    }
}

int dispatch_metrics_snapshot(apr_pool_t *p, metrics_view *out)
{
    uint32_t i;

    memset(out, 0, sizeof(*out));
    if (!segment)
        return -1;
    out->started = segment->started;
    out->max_children = (int)segment->nchildren;
    out->rows_per_child = HYDRA_METRICS_ROWS;
    out->children = apr_pcalloc(p, segment->nchildren * sizeof(*out->children));
    out->exited_children = atomic_load(&segment->exited_children);
    for (i = 0; i < segment->nchildren; i++) {
        const hydra_metrics_child *b = &segment->children[i];
        int32_t pid = atomic_load_explicit(&b->pid, memory_order_acquire);

        if (pid <= 0)
            continue;
        if (pid_gone(pid)) {
            /* Died without releasing: what it counted stays in the totals,
             * as it will once a new child reclaims the block. */
            metrics_child_view dead = {0};
            metrics_view sums = {0};
            copy_child(p, b, pid, &dead, &sums);
            out->requests += sums.requests;
            out->errors += sums.errors;
            out->timeouts += sums.timeouts;
            out->exited_children++;
            continue;
        }
        copy_child(p, b, pid, &out->children[out->nchildren++], out);
    }
    out->requests += atomic_load(&segment->exited_requests);
    out->errors += atomic_load(&segment->exited_errors);
    out->timeouts += atomic_load(&segment->exited_timeouts);
    return 0;
}
