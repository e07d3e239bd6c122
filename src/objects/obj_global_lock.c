/*
 * global_lock.c - owns the cross-process session mutexes: how many there
 * are, where their lock files live, creating them in the parent and
 * re-attaching them in each child (python-api.md §11, interpreters.md §10).
 *
 * The set is built from the configuration pool of a generation, so a
 * restart destroys the old set with the old configuration and post_config
 * builds a new one. Nothing here touches Python: the _apache functions
 * that lock and unlock are in objects/lock_functions.c.
 */
#include "objects/obj_global_lock.h"
#include "glue/glue_config.h"
#include "unixd.h"

#include <unistd.h>

#define DEFAULT_MUTEX_COUNT 8 /* mod_python's compile-time default */
#define MINIMUM_MUTEX_COUNT 2 /* index 0 is for dbm files, keys hash onto 1..n-1 */
#define DEFAULT_MUTEX_DIRECTORY "/tmp"

/* The set of this generation. Written by the parent in post_config before
 * any child exists (children inherit it through fork) and by each child in
 * child_init before it serves requests; only read afterwards. */
static struct {
    int count;
    apr_global_mutex_t **mutexes;
    const char **lock_files;
} mutex_set;

int global_lock_count(void)
{
    return mutex_set.count;
}

apr_global_mutex_t *global_lock_mutex(int index)
{
    if (index < 0 || index >= mutex_set.count)
        return NULL;
    return mutex_set.mutexes[index];
}

/* The value of PythonOption `key` in the main server config, or NULL when
 * unset or removed (an empty value removes an option, directives.md §5.10). */
static const char *main_server_option(server_rec *s, const char *key)
{
    hydra_config *conf = hydra_server_config(s);
    const char *value = conf && conf->options ? apr_table_get(conf->options, key) : NULL;
    return value && *value ? value : NULL;
}

static int mpm_value(int query)
{
    int value = 0;
    if (ap_mpm_query(query, &value) != APR_SUCCESS)
        return 0;
    return value;
}

/* Clients that can hold a session at once: MPM threads per child times
 * child processes, each counted as at least one. */
static void max_clients(int *processes, int *threads)
{
    *threads = mpm_value(AP_MPMQ_MAX_THREADS);
    *processes = mpm_value(AP_MPMQ_MAX_DAEMONS);
    if (*processes <= 0)
        *processes = mpm_value(AP_MPMQ_HARD_LIMIT_DAEMONS);
    if (*threads <= 0)
        *threads = 1;
    if (*processes <= 0)
        *processes = 1;
}

/* min(mod_python.mutex_locks or the default, max clients), at least 2.
 * More mutexes than clients would never be contended; fewer than two would
 * leave no index for session keys. */
static int mutex_count(server_rec *s, int processes, int threads)
{
    const char *configured = main_server_option(s, "mod_python.mutex_locks");
    long count = configured ? strtol(configured, NULL, 10) : DEFAULT_MUTEX_COUNT;
    long clients = (long)processes * threads;

    if (count > clients)
        count = clients;
    if (count < MINIMUM_MUTEX_COUNT)
        count = MINIMUM_MUTEX_COUNT;
    return (int)count;
}

/* The generation's pool is going away and takes the mutexes with it. */
static apr_status_t forget_mutex_set(void *unused)
{
    mutex_set.count = 0;
    mutex_set.mutexes = NULL;
    mutex_set.lock_files = NULL;
    return APR_SUCCESS;
}

/* One mutex, usable by the unprivileged child user (the parent runs as
 * root: a lock file or semaphore it creates is root's otherwise). */
static apr_status_t create_mutex(apr_pool_t *pconf, server_rec *s, const char *lock_file,
                                 apr_global_mutex_t **mutex)
{
    apr_status_t rv = apr_global_mutex_create(mutex, lock_file, APR_LOCK_DEFAULT, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                     "HYDRA0302: mod_python: cannot create session mutex with lock file %s",
                     lock_file);
        return rv;
    }
    rv = ap_unixd_set_global_mutex_perms(*mutex);
    if (rv != APR_SUCCESS)
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                     "HYDRA0303: mod_python: cannot hand session mutex %s to the child user",
                     lock_file);
    return rv;
}

apr_status_t global_lock_post_config(apr_pool_t *pconf, server_rec *s)
{
    int processes, threads, count, i;
    const char *directory;
    apr_status_t rv;

    /* The first pass only checks the configuration; children come from
     * the second one (and from each restart). */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG)
        return APR_SUCCESS;

    max_clients(&processes, &threads);
    count = mutex_count(s, processes, threads);
    directory = main_server_option(s, "mod_python.mutex_directory");
    if (directory == NULL)
        directory = DEFAULT_MUTEX_DIRECTORY;

    ap_log_error(
        APLOG_MARK, APLOG_NOTICE, 0, s,
        "HYDRA0304: mod_python: Creating %d session mutexes based on %d max processes and %d max "
        "threads.",
        count, processes, threads);

    mutex_set.mutexes = apr_pcalloc(pconf, count * sizeof(*mutex_set.mutexes));
    mutex_set.lock_files = apr_pcalloc(pconf, count * sizeof(*mutex_set.lock_files));
    apr_pool_cleanup_register(pconf, NULL, forget_mutex_set, apr_pool_cleanup_null);
    for (i = 0; i < count; i++) {
        mutex_set.lock_files[i] =
            apr_psprintf(pconf, "%s/mpmtx%ld%d", directory, (long)getpid(), i);
        rv = create_mutex(pconf, s, mutex_set.lock_files[i], &mutex_set.mutexes[i]);
        if (rv != APR_SUCCESS)
            return rv; /* the mutexes made so far go with pconf */
    }
    mutex_set.count = count;
    return APR_SUCCESS;
}

void global_lock_child_init(apr_pool_t *pchild, server_rec *s)
{
    int i;

    for (i = 0; i < mutex_set.count; i++) {
        apr_status_t rv =
            apr_global_mutex_child_init(&mutex_set.mutexes[i], mutex_set.lock_files[i], pchild);
        if (rv != APR_SUCCESS) {
            ap_log_error(
                APLOG_MARK, APLOG_ERR, rv, s,
                "HYDRA0305: mod_python: cannot re-attach session mutex %s; this child has no "
                "session mutexes",
                mutex_set.lock_files[i]);
            mutex_set.count = 0;
            return;
        }
    }
}
