/*
 * obj_config_tables.c - which apr_table_t a Python view of configuration
 * shows, so that interpreters running in parallel never share one.
 *
 * The configuration tables (server.get_options(), server.get_config(), and
 * req.get_options() when no section applies, which is the server's own
 * per-directory record) live in configuration pools that every thread of
 * the child reads, and mod_python lets Python write to them. The main and
 * shared-GIL interpreters all run under the main GIL, so their accesses
 * are serialised and they keep mod_python's live, shared tables. An
 * interpreter with its own GIL runs truly in parallel with them: it gets a
 * private copy of each table instead, from a pool of its own (beyond.md
 * §1: own-GIL interpreters share nothing), and per request a copy of the
 * request's options. The copies are made from snapshots of every server's
 * tables taken at the end of child_init (after PythonImport, before any
 * worker thread runs), which nobody writes afterwards, so no copy ever
 * reads a table another thread may be writing. No lock is needed anywhere:
 * every live table is used under exactly one GIL.
 */
#include "objects/objects.h"
#include "objects/obj_config_tables.h"

/* The private copies of one own-GIL interpreter (module state). */
struct obj_config_copies {
    apr_pool_t *pool;   /* unmanaged, own allocator: used under this GIL only */
    apr_hash_t *copies; /* source table address -> copy */
};

/* Live table address -> its snapshot; written in child_init only, then
 * read-only (apr_hash_get does not modify the hash). */
static apr_hash_t *snapshots;

static void snapshot(apr_pool_t *p, apr_table_t *live)
{
    if (live && !apr_hash_get(snapshots, &live, sizeof(live)))
        apr_hash_set(snapshots, apr_pmemdup(p, &live, sizeof(live)), sizeof(live),
                     apr_table_copy(p, live));
}

void obj_config_tables_snapshot(apr_pool_t *pchild, server_rec *s)
{
    snapshots = apr_hash_make(pchild);
    for (; s; s = s->next) {
        hydra_config *sconf = hydra_server_config(s);
        hydra_config *dconf = ap_get_module_config(s->lookup_defaults, &python_module);
        if (sconf) {
            snapshot(pchild, sconf->options);
            snapshot(pchild, sconf->server_directives);
        }
        if (dconf)
            snapshot(pchild, dconf->options);
    }
}

/* What to copy from for `live`: its snapshot when it has one (a server's
 * own table), else `live` itself (a request's merged table, private to
 * its request). */
static const apr_table_t *copy_source(apr_table_t *live)
{
    apr_table_t *snap = snapshots ? apr_hash_get(snapshots, &live, sizeof(live)) : NULL;
    return snap ? snap : live;
}

static int calling_interpreter_is_own(void)
{
    hydra_interp *interp = interp_current();
    return interp && interp_kind(interp) == HYDRA_INTERP_OWN;
}

static obj_config_copies *copies_of(hydra_apache_state *st)
{
    apr_allocator_t *allocator;
    obj_config_copies *c;

    if (st->config_copies)
        return st->config_copies;
    if (apr_allocator_create(&allocator) != APR_SUCCESS) {
        PyErr_NoMemory();
        return NULL;
    }
    c = PyMem_Calloc(1, sizeof(*c));
    if (!c || apr_pool_create_unmanaged_ex(&c->pool, NULL, allocator) != APR_SUCCESS) {
        PyMem_Free(c);
        apr_allocator_destroy(allocator);
        PyErr_NoMemory();
        return NULL;
    }
    apr_allocator_owner_set(allocator, c->pool);
    c->copies = apr_hash_make(c->pool);
    st->config_copies = c;
    return c;
}

apr_table_t *obj_config_server_table(hydra_apache_state *st, apr_table_t *shared)
{
    obj_config_copies *c;
    apr_table_t *copy;

    if (!calling_interpreter_is_own())
        return shared;
    if (!(c = copies_of(st)))
        return NULL;
    copy = apr_hash_get(c->copies, &shared, sizeof(shared));
    if (!copy) {
        copy = apr_table_copy(c->pool, copy_source(shared));
        apr_hash_set(c->copies, apr_pmemdup(c->pool, &shared, sizeof(shared)), sizeof(shared),
                     copy);
    }
    return copy;
}

apr_table_t *obj_config_request_options(apr_pool_t *rpool, apr_table_t *merged, apr_table_t **cache)
{
    if (!calling_interpreter_is_own())
        return merged;
    if (!*cache)
        *cache = apr_table_copy(rpool, copy_source(merged));
    return *cache;
}

void obj_config_copies_free(hydra_apache_state *st)
{
    if (st->config_copies) {
        apr_pool_destroy(st->config_copies->pool);
        PyMem_Free(st->config_copies);
        st->config_copies = NULL;
    }
}
