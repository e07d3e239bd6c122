/*
 * glue_config.c - Hydra's configuration records (directives.md §1):
 * creating them, merging them field by field, and the passes post_config
 * makes over the merged configuration.
 *
 * Everything here runs at configuration time in the Apache parent, and
 * touches no Python. The directives themselves are parsed in
 * glue_directives.c.
 */
#include "glue/glue_directives.h"
#include "http_core.h"

int hydra_optimize = 0;
int hydra_max_interpreters = HYDRA_DEFAULT_MAX_INTERPRETERS;
const char *hydra_bytecode_cache_arg = NULL;
apr_interval_time_t hydra_request_timeout_min = 0;

void hydra_config_reset_settings(void)
{
    hydra_optimize = 0;
    hydra_max_interpreters = HYDRA_DEFAULT_MAX_INTERPRETERS;
    hydra_bytecode_cache_arg = NULL;
    hydra_request_timeout_min = 0;
}

/* ------------------------------------------------------------------ */
/* Records                                                            */

static hydra_config *config_new(apr_pool_t *p, const char *dir)
{
    hydra_config *conf = apr_pcalloc(p, sizeof(*conf));
    conf->debug = conf->enable_pdb = conf->autoreload = HYDRA_UNSET;
    conf->interp_per_directory = conf->interp_per_directive = HYDRA_UNSET;
    conf->options = apr_table_make(p, 4);
    conf->ext_hlists = apr_hash_make(p);
    conf->in_filters = apr_hash_make(p);
    conf->out_filters = apr_hash_make(p);
    conf->gil = HYDRA_GIL_UNSET;
    conf->pool_size = HYDRA_UNSET;
    conf->request_timeout = conf->slow_request_log = HYDRA_UNSET;
    conf->config_dir = dir;
    return conf;
}

void *hydra_create_dir_config(apr_pool_t *p, char *dir)
{
    return config_new(p, dir ? apr_pstrdup(p, dir) : NULL);
}

void *hydra_create_server_config(apr_pool_t *p, server_rec *s)
{
    hydra_config *conf = config_new(p, NULL);
    conf->imports = apr_array_make(p, 2, sizeof(hydra_import));
    conf->server_directives = apr_table_make(p, 4);
    return conf;
}

static int merge_flag(int base, int add)
{
    return add != HYDRA_UNSET ? add : base;
}

/* Read-only at run time, so an empty side need not be copied. */
static apr_hash_t *merge_hash(apr_pool_t *p, apr_hash_t *base, apr_hash_t *add)
{
    if (apr_hash_count(add) == 0)
        return base;
    if (apr_hash_count(base) == 0)
        return add;
    return apr_hash_overlay(p, add, base);
}

/* req.get_options() may strip "" entries from the merged table and Python
 * may write to it, so the result is always a table of this merge's own;
 * only when both sides have options is a sort (compress) needed. */
static apr_table_t *merge_options(apr_pool_t *p, const apr_table_t *base, const apr_table_t *add)
{
    apr_table_t *merged;

    if (apr_is_empty_table(add))
        return apr_table_copy(p, base);
    if (apr_is_empty_table(base))
        return apr_table_copy(p, add);
    merged = apr_table_overlay(p, base, add);
    apr_table_compress(merged, APR_OVERLAP_TABLES_SET);
    return merged;
}

/* directives.md §1.2: every field takes the inner value when it is set;
 * options overlay key-wise, handler lists and filters replace per key,
 * imports are not merged. */
void *hydra_merge_config(apr_pool_t *p, void *base_, void *add_)
{
    const hydra_config *base = base_, *add = add_;
    hydra_config *merged = apr_pcalloc(p, sizeof(*merged));
    int i;

    merged->debug = merge_flag(base->debug, add->debug);
    merged->enable_pdb = merge_flag(base->enable_pdb, add->enable_pdb);
    merged->autoreload = merge_flag(base->autoreload, add->autoreload);
    merged->interp_per_directory =
        merge_flag(base->interp_per_directory, add->interp_per_directory);
    merged->interp_per_directive =
        merge_flag(base->interp_per_directive, add->interp_per_directive);
    merged->interpreter = add->interpreter ? add->interpreter : base->interpreter;
    if (add->pythonpath) {
        merged->pythonpath = add->pythonpath;
        merged->pythonpath_hash = add->pythonpath_hash;
    } else {
        merged->pythonpath = base->pythonpath;
        merged->pythonpath_hash = base->pythonpath_hash;
    }
    merged->options = merge_options(p, base->options, add->options);

    for (i = 0; i < HYDRA_PHASE_COUNT; i++)
        merged->hlists[i] = add->hlists[i] ? add->hlists[i] : base->hlists[i];
    merged->ext_hlists = merge_hash(p, base->ext_hlists, add->ext_hlists);
    merged->in_filters = merge_hash(p, base->in_filters, add->in_filters);
    merged->out_filters = merge_hash(p, base->out_filters, add->out_filters);

    if (add->config_dir) {
        merged->config_dir = add->config_dir;
        merged->d_is_location = add->d_is_location;
    } else {
        merged->config_dir = base->config_dir;
        merged->d_is_location = base->d_is_location;
    }
    merged->gil = add->gil != HYDRA_GIL_UNSET ? add->gil : base->gil;
    /* The size and its bound come from one directive: they travel together. */
    if (add->pool_size != HYDRA_UNSET) {
        merged->pool_size = add->pool_size;
        merged->pool_concurrency = add->pool_concurrency;
    } else {
        merged->pool_size = base->pool_size;
        merged->pool_concurrency = base->pool_concurrency;
    }
    merged->virtualenv = add->virtualenv ? add->virtualenv : base->virtualenv;
    merged->request_timeout =
        add->request_timeout != HYDRA_UNSET ? add->request_timeout : base->request_timeout;
    merged->slow_request_log =
        add->slow_request_log != HYDRA_UNSET ? add->slow_request_log : base->slow_request_log;
    merged->imports = NULL;
    /* Server records only (a virtual host over the main server): once, at
     * start-up. */
    if (base->server_directives && add->server_directives) {
        merged->server_directives =
            apr_table_overlay(p, base->server_directives, add->server_directives);
        apr_table_compress(merged->server_directives, APR_OVERLAP_TABLES_SET);
    }
    return merged;
}

/* An empty PythonOption value means "removed" (directives.md §5.10);
 * req.get_options() deletes such keys from the merged table. When no
 * section matches a request, that table is the server's lookup_defaults,
 * shared by every thread; deleting the keys here, once, single-threaded,
 * keeps get_options() from writing to it. The result is the same: a key
 * with "" and an absent key both merge and read as absent. */
void hydra_config_strip_removed_options(server_rec *s)
{
    for (; s; s = s->next) {
        hydra_config *conf = ap_get_module_config(s->lookup_defaults, &python_module);
        const apr_array_header_t *arr = apr_table_elts(conf->options);
        const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
        int i;
        for (i = arr->nelts - 1; i >= 0; i--) {
            if (e[i].val && e[i].val[0] == '\0')
                apr_table_unset(conf->options, e[i].key);
        }
    }
}

/* ------------------------------------------------------------------ */
/* PythonInterpGIL own, or another PythonVirtualEnv, on the main     */
/* interpreter (beyond.md §1, §5)                                     */

typedef struct own_main_walk {
    server_rec *s;
    apr_hash_t *warned;      /* section vectors already reported */
    apr_hash_t *venv_warned; /* the same for PythonVirtualEnv */
    const char *main_venv;   /* what the main interpreter is created with */
    apr_pool_t *p;
} own_main_walk;

static int is_main_interpreter(const char *name)
{
    return name && strcmp(name, "main_interpreter") == 0;
}

/* A section running in main_interpreter asks for another venv than the
 * server-level one the main interpreter is created with at child start. */
static void warn_venv_main_section(own_main_walk *w, ap_conf_vector_t *section, const char *venv,
                                   const char *where)
{
    if ((venv == w->main_venv || (venv && w->main_venv && strcmp(venv, w->main_venv) == 0))
        || apr_hash_get(w->venv_warned, &section, sizeof(section)))
        return;
    apr_hash_set(w->venv_warned, apr_pmemdup(w->p, &section, sizeof(section)), sizeof(section), "");
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, w->s,
                 "HYDRA0420: PythonVirtualEnv %s for section '%s' is ignored: it runs in "
                 "main_interpreter, which is created at child start with %s%s (the value "
                 "outside every section)",
                 venv ? venv : "(none)", where,
                 w->main_venv ? "PythonVirtualEnv " : "no PythonVirtualEnv",
                 w->main_venv ? w->main_venv : "");
}

/* Checks one section (and the <Files> nested in it) with the values it
 * inherits: its own PythonInterpGIL / PythonInterpreter / PythonVirtualEnv,
 * else the outer ones. */
static void warn_own_main_section(own_main_walk *w, ap_conf_vector_t *section,
                                  hydra_gil_setting outer_gil, const char *outer_interp,
                                  const char *outer_venv)
{
    const hydra_config *conf = ap_get_module_config(section, &python_module);
    const core_dir_config *core = ap_get_core_module_config(section);
    hydra_gil_setting gil = outer_gil;
    const char *interp = outer_interp;
    const char *venv = outer_venv;
    int i;

    if (conf) {
        if (conf->gil != HYDRA_GIL_UNSET)
            gil = conf->gil;
        if (conf->interpreter)
            interp = conf->interpreter;
        if (conf->virtualenv)
            venv = conf->virtualenv;
    }
    if (is_main_interpreter(interp))
        warn_venv_main_section(w, section, venv, core && core->d ? core->d : "(server)");
    if (gil == HYDRA_GIL_OWN && is_main_interpreter(interp)
        && !apr_hash_get(w->warned, &section, sizeof(section))) {
        apr_hash_set(w->warned, apr_pmemdup(w->p, &section, sizeof(section)), sizeof(section), "");
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, w->s,
                     "HYDRA0401: PythonInterpGIL own for section '%s' is ignored: it runs in "
                     "main_interpreter, which always uses the process GIL",
                     core && core->d ? core->d : "(server)");
    }
    for (i = 0; core && core->sec_file && i < core->sec_file->nelts; i++)
        warn_own_main_section(w, APR_ARRAY_IDX(core->sec_file, i, ap_conf_vector_t *), gil, interp,
                              venv);
}

/* ------------------------------------------------------------------ */
/* What PythonImport creates an interpreter with (beyond.md §3)        */

typedef struct hint_walk {
    apr_pool_t *p;
    apr_hash_t *hints; /* name -> hydra_config* (creation fields only) */
} hint_walk;

/* Adds to the hint of `name` what `asked` (creation fields only) sets and
 * the hint does not have yet: for each setting the first section in
 * configuration order decides, as the first invocation would. */
static void hint_record(hint_walk *w, const char *name, const hydra_config *asked)
{
    hydra_config *hint = apr_hash_get(w->hints, name, APR_HASH_KEY_STRING);

    if (asked->pool_size == HYDRA_UNSET && !asked->virtualenv)
        return;
    if (!hint) {
        hint = apr_pcalloc(w->p, sizeof(*hint));
        hint->gil = HYDRA_GIL_UNSET;
        hint->pool_size = HYDRA_UNSET;
        apr_hash_set(w->hints, name, APR_HASH_KEY_STRING, hint);
    }
    if (hint->pool_size == HYDRA_UNSET && asked->pool_size != HYDRA_UNSET) {
        hint->pool_size = asked->pool_size;
        hint->pool_concurrency = asked->pool_concurrency;
    }
    if (!hint->virtualenv)
        hint->virtualenv = asked->virtualenv;
}

/* Records what a section asks of the creation of the name it runs in: its
 * own pool and virtualenv, else those of the sections around it (`outer`,
 * creation fields only). */
static void hint_section(hint_walk *w, ap_conf_vector_t *section, const char *outer_interp,
                         const hydra_config *outer)
{
    const hydra_config *conf = ap_get_module_config(section, &python_module);
    const core_dir_config *core = ap_get_core_module_config(section);
    const char *interp = conf && conf->interpreter ? conf->interpreter : outer_interp;
    hydra_config asked = *outer;
    int i;

    if (conf && conf->pool_size != HYDRA_UNSET) {
        asked.pool_size = conf->pool_size;
        asked.pool_concurrency = conf->pool_concurrency;
    }
    if (conf && conf->virtualenv)
        asked.virtualenv = conf->virtualenv;
    if (interp)
        hint_record(w, interp, &asked);
    for (i = 0; core && core->sec_file && i < core->sec_file->nelts; i++)
        hint_section(w, APR_ARRAY_IDX(core->sec_file, i, ap_conf_vector_t *), interp, &asked);
}

apr_hash_t *hydra_config_creation_hints(server_rec *s, apr_pool_t *pconf)
{
    hint_walk w = {pconf, apr_hash_make(pconf)};
    int i;

    for (; s; s = s->next) {
        const hydra_config *sconf = ap_get_module_config(s->lookup_defaults, &python_module);
        const core_server_config *core = ap_get_core_module_config(s->module_config);
        /* Outside sections the name is PythonInterpreter's or the host's. */
        const char *interp = sconf->interpreter ? sconf->interpreter : s->server_hostname;

        hint_section(&w, s->lookup_defaults, interp, sconf);
        for (i = 0; i < core->sec_dir->nelts; i++)
            hint_section(&w, APR_ARRAY_IDX(core->sec_dir, i, ap_conf_vector_t *), interp, sconf);
        for (i = 0; i < core->sec_url->nelts; i++)
            hint_section(&w, APR_ARRAY_IDX(core->sec_url, i, ap_conf_vector_t *), interp, sconf);
    }
    return w.hints;
}

void hydra_config_warn_own_main(server_rec *s, apr_pool_t *ptemp)
{
    own_main_walk w = {NULL, apr_hash_make(ptemp), apr_hash_make(ptemp),
                       hydra_server_config(s)->virtualenv, ptemp};
    int i;

    for (; s; s = s->next) {
        const hydra_config *sconf = ap_get_module_config(s->lookup_defaults, &python_module);
        const core_server_config *core = ap_get_core_module_config(s->module_config);
        const char *interp = sconf->interpreter;

        w.s = s;
        warn_own_main_section(&w, s->lookup_defaults, HYDRA_GIL_UNSET, NULL, NULL);
        for (i = 0; i < core->sec_dir->nelts; i++)
            warn_own_main_section(&w, APR_ARRAY_IDX(core->sec_dir, i, ap_conf_vector_t *),
                                  sconf->gil, interp, sconf->virtualenv);
        for (i = 0; i < core->sec_url->nelts; i++)
            warn_own_main_section(&w, APR_ARRAY_IDX(core->sec_url, i, ap_conf_vector_t *),
                                  sconf->gil, interp, sconf->virtualenv);
    }
}
