/*
 * config.c - the Python* directives (directives.md §1, §2, §5): parsing them
 * into hydra_config records, recording each handler's directory
 * (interpreters.md §4), and merging records.
 *
 * Everything here runs at configuration time in the Apache parent. Nothing
 * here touches Python: PythonPath is stored raw and evaluated in the child.
 */
#include "config.h"
#include "http_core.h"
#include "filter.h"

#include "apr_fnmatch.h"
#include "apr_lib.h"

const char *const hydra_phase_names[HYDRA_PHASE_COUNT] = {
    "PythonPostReadRequestHandler", "PythonTransHandler", "PythonHeaderParserHandler",
    "PythonInitHandler",            "PythonAccessHandler", "PythonAuthenHandler",
    "PythonAuthzHandler",           "PythonTypeHandler",  "PythonFixupHandler",
    "PythonHandler",                "PythonLogHandler",   "PythonCleanupHandler",
    "PythonConnectionHandler",
};

const char *const hydra_phase_default_callables[HYDRA_PHASE_COUNT] = {
    "postreadrequesthandler", "transhandler", "headerparserhandler", "inithandler",
    "accesshandler",          "authenhandler", "authzhandler",       "typehandler",
    "fixuphandler",           "handler",       "loghandler",         "cleanuphandler",
    "connectionhandler",
};

int hydra_optimize = 0;
int hydra_max_interpreters = HYDRA_DEFAULT_MAX_INTERPRETERS;

int hydra_phase_from_name(const char *name)
{
    int i;
    for (i = 0; i < HYDRA_PHASE_COUNT; i++) {
        if (strcmp(name, hydra_phase_names[i]) == 0)
            return i;
    }
    return -1;
}

/* ------------------------------------------------------------------ */
/* Records                                                            */

static hydra_config *config_new(apr_pool_t *p, const char *dir)
{
    hydra_config *conf = apr_pcalloc(p, sizeof(*conf));
    conf->directives = apr_table_make(p, 4);
    conf->options = apr_table_make(p, 4);
    conf->ext_hlists = apr_hash_make(p);
    conf->in_filters = apr_hash_make(p);
    conf->out_filters = apr_hash_make(p);
    conf->gil = HYDRA_GIL_UNSET;
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
    return conf;
}

/* directives.md §1.2: tables overlay key-wise, handler lists and filters
 * replace per key, imports are not merged. */
void *hydra_merge_config(apr_pool_t *p, void *base_, void *add_)
{
    const hydra_config *base = base_, *add = add_;
    hydra_config *merged = apr_pcalloc(p, sizeof(*merged));
    int i;

    merged->directives = apr_table_overlay(p, base->directives, add->directives);
    apr_table_compress(merged->directives, APR_OVERLAP_TABLES_SET);
    merged->options = apr_table_overlay(p, base->options, add->options);
    apr_table_compress(merged->options, APR_OVERLAP_TABLES_SET);

    for (i = 0; i < HYDRA_PHASE_COUNT; i++)
        merged->hlists[i] = add->hlists[i] ? add->hlists[i] : base->hlists[i];
    merged->ext_hlists = apr_hash_overlay(p, add->ext_hlists, base->ext_hlists);
    merged->in_filters = apr_hash_overlay(p, add->in_filters, base->in_filters);
    merged->out_filters = apr_hash_overlay(p, add->out_filters, base->out_filters);

    if (add->config_dir) {
        merged->config_dir = add->config_dir;
        merged->d_is_location = add->d_is_location;
    } else {
        merged->config_dir = base->config_dir;
        merged->d_is_location = base->d_is_location;
    }
    merged->gil = add->gil != HYDRA_GIL_UNSET ? add->gil : base->gil;
    merged->imports = NULL;
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
/* PythonInterpGIL own on the main interpreter (beyond.md §1)         */

typedef struct own_main_walk {
    server_rec *s;
    apr_hash_t *warned; /* section vectors already reported */
    apr_pool_t *p;
} own_main_walk;

static int is_main_interpreter(const char *name)
{
    return name && strcmp(name, "main_interpreter") == 0;
}

/* Checks one section (and the <Files> nested in it) with the values it
 * inherits: its own PythonInterpGIL / PythonInterpreter, else the outer ones. */
static void warn_own_main_section(own_main_walk *w, ap_conf_vector_t *section,
                                  hydra_gil_setting outer_gil, const char *outer_interp)
{
    const hydra_config *conf = ap_get_module_config(section, &python_module);
    const core_dir_config *core = ap_get_core_module_config(section);
    hydra_gil_setting gil = outer_gil;
    const char *interp = outer_interp;
    int i;

    if (conf) {
        if (conf->gil != HYDRA_GIL_UNSET)
            gil = conf->gil;
        if (apr_table_get(conf->directives, "PythonInterpreter"))
            interp = apr_table_get(conf->directives, "PythonInterpreter");
    }
    if (gil == HYDRA_GIL_OWN && is_main_interpreter(interp)
        && !apr_hash_get(w->warned, &section, sizeof(section))) {
        apr_hash_set(w->warned, apr_pmemdup(w->p, &section, sizeof(section)), sizeof(section),
                     "");
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, w->s,
                     "PythonInterpGIL own for section '%s' is ignored: it runs in "
                     "main_interpreter, which always uses the process GIL",
                     core && core->d ? core->d : "(server)");
    }
    for (i = 0; core && core->sec_file && i < core->sec_file->nelts; i++)
        warn_own_main_section(w, APR_ARRAY_IDX(core->sec_file, i, ap_conf_vector_t *), gil,
                              interp);
}

void hydra_config_warn_own_main(server_rec *s, apr_pool_t *ptemp)
{
    own_main_walk w = {NULL, apr_hash_make(ptemp), ptemp};
    int i;

    for (; s; s = s->next) {
        const hydra_config *sconf = ap_get_module_config(s->lookup_defaults, &python_module);
        const core_server_config *core = ap_get_core_module_config(s->module_config);
        const char *interp = apr_table_get(sconf->directives, "PythonInterpreter");

        w.s = s;
        warn_own_main_section(&w, s->lookup_defaults, HYDRA_GIL_UNSET, NULL);
        for (i = 0; i < core->sec_dir->nelts; i++)
            warn_own_main_section(&w, APR_ARRAY_IDX(core->sec_dir, i, ap_conf_vector_t *),
                                  sconf->gil, interp);
        for (i = 0; i < core->sec_url->nelts; i++)
            warn_own_main_section(&w, APR_ARRAY_IDX(core->sec_url, i, ap_conf_vector_t *),
                                  sconf->gil, interp);
    }
}

/* ------------------------------------------------------------------ */
/* Handler entries and their directories                              */

hydra_handler *hydra_handler_new(apr_pool_t *p, const char *text, const char *directory,
                                 int is_location, int silent)
{
    hydra_handler *h = apr_pcalloc(p, sizeof(*h));
    const char *sep = strstr(text, "::");

    h->handler = apr_pstrdup(p, text);
    if (sep) {
        h->module_name = apr_pstrmemdup(p, text, sep - text);
        h->object_path = sep[2] ? apr_pstrdup(p, sep + 2) : NULL;
    } else {
        h->module_name = h->handler;
    }
    h->directory = directory;
    h->is_location = is_location;
    h->silent = silent;
    return h;
}

const char *hydra_canonical_dir(apr_pool_t *p, const char *dir)
{
    char *path;
    size_t len;

    if (apr_filepath_merge(&path, NULL, dir, APR_FILEPATH_TRUENAME, p) != APR_SUCCESS)
        return dir;
    len = strlen(path);
    if (len == 0 || path[len - 1] != '/')
        path = apr_pstrcat(p, path, "/", NULL);
    return path;
}

/* Where a directive sits, as interpreters.md §4 needs it. */
typedef struct {
    const char *directory;
    int is_location;
    hydra_dir_kind kind;
    ap_regex_t *regex;
} directive_place;

static const char *section_arg(apr_pool_t *p, const ap_directive_t *d, int *is_regex)
{
    const char *args = d->args;
    char *first;
    size_t len;

    *is_regex = 0;
    first = ap_getword_conf(p, &args);
    if (strcmp(first, "~") == 0) {
        *is_regex = 1;
        first = ap_getword_conf(p, &args);
    }
    len = strlen(first);
    if (len > 0 && first[len - 1] == '>')
        first[len - 1] = '\0';
    return first;
}

static const char *place_of(cmd_parms *cmd, directive_place *place)
{
    const ap_directive_t *sect;
    int is_regex;

    memset(place, 0, sizeof(*place));
    sect = cmd->directive ? cmd->directive->parent : NULL;

    /* <Files>/<FilesMatch> do not count: look at what encloses them. */
    while (sect && (strcasecmp(sect->directive, "<Files") == 0
                    || strcasecmp(sect->directive, "<FilesMatch") == 0))
        sect = sect->parent;

    if (!sect) {
        /* .htaccess: Apache gives the directory as the section path. */
        if (cmd->path && cmd->config_file && cmd->directive && !cmd->directive->parent
            && (cmd->override & ACCESS_CONF) == 0) {
            place->directory = hydra_canonical_dir(cmd->pool, cmd->path);
        }
        return NULL;
    }
    if (strcasecmp(sect->directive, "<Location") == 0
        || strcasecmp(sect->directive, "<LocationMatch") == 0) {
        place->directory = section_arg(cmd->pool, sect, &is_regex);
        place->is_location = 1;
        return NULL;
    }
    if (strcasecmp(sect->directive, "<Directory") == 0
        || strcasecmp(sect->directive, "<DirectoryMatch") == 0) {
        const char *arg = section_arg(cmd->pool, sect, &is_regex);
        if (is_regex || strcasecmp(sect->directive, "<DirectoryMatch") == 0) {
            place->kind = HYDRA_DIR_REGEX;
            place->directory = arg;
            place->regex = ap_pregcomp(cmd->pool, arg, AP_REG_EXTENDED);
            if (!place->regex)
                return apr_psprintf(cmd->pool, "%s: bad regular expression '%s'",
                                    cmd->cmd->name, arg);
        } else if (apr_fnmatch_test(arg)) {
            place->kind = HYDRA_DIR_FNMATCH;
            place->directory = arg;
        } else {
            place->directory = hydra_canonical_dir(cmd->pool, arg);
        }
        return NULL;
    }
    /* <VirtualHost>, <If>, <IfModule>...: no directory. <IfModule>-style
     * wrappers inside a <Directory> still belong to that directory. */
    if (strncasecmp(sect->directive, "<If", 3) == 0 && sect->parent) {
        cmd_parms outer = *cmd;
        ap_directive_t fake = *cmd->directive;
        fake.parent = sect->parent;
        outer.directive = &fake;
        return place_of(&outer, place);
    }
    return NULL;
}

/* 1 when the directive is outside any section: "(+ server)" mirroring. */
static int at_server_level(cmd_parms *cmd)
{
    return cmd->path == NULL;
}

static hydra_config *server_conf_of(cmd_parms *cmd)
{
    return hydra_server_config(cmd->server);
}

/* ------------------------------------------------------------------ */
/* Handler directives                                                 */

static void append_handler(hydra_handler **list, hydra_handler *h)
{
    while (*list)
        list = &(*list)->next;
    *list = h;
}

/* The next whitespace-separated word of *pos, or "" at the end.
 * (ap_getword_white stops at once on leading whitespace.) */
static char *next_word(apr_pool_t *p, const char **pos)
{
    while (apr_isspace(**pos))
        (*pos)++;
    return ap_getword_white(p, pos);
}

/* Adds the handlers of `words` (already split off the "| .ext" part) to
 * the list for `key_phase` (+ extension). */
static void add_handlers(cmd_parms *cmd, hydra_config *conf, int phase, const char *handlers,
                         const char *exts, const directive_place *place, int silent)
{
    const char *pos = handlers;
    char *word;

    while (*(word = next_word(cmd->pool, &pos)) != '\0') {
        if (exts) {
            const char *epos = exts;
            char *ext;
            while (*(ext = next_word(cmd->pool, &epos)) != '\0') {
                const char *key = apr_pstrcat(cmd->pool, hydra_phase_names[phase], ext, NULL);
                hydra_handler *head = apr_hash_get(conf->ext_hlists, key, APR_HASH_KEY_STRING);
                hydra_handler *h = hydra_handler_new(cmd->pool, word, place->directory,
                                                     place->is_location, silent);
                h->dir_kind = place->kind;
                h->dir_regex = place->regex;
                append_handler(&head, h);
                apr_hash_set(conf->ext_hlists, key, APR_HASH_KEY_STRING, head);
            }
        } else {
            hydra_handler *h = hydra_handler_new(cmd->pool, word, place->directory,
                                                 place->is_location, silent);
            h->dir_kind = place->kind;
            h->dir_regex = place->regex;
            append_handler(&conf->hlists[phase], h);
        }
    }
}

/* Splits "h1 h2 | .a .b" into handlers and extensions. */
static void split_exts(apr_pool_t *p, const char *arg, const char **handlers, const char **exts)
{
    const char *bar = strchr(arg, '|');

    *handlers = bar ? apr_pstrmemdup(p, arg, bar - arg) : arg;
    *exts = bar ? bar + 1 : NULL;
}

static const char *directive_handler(cmd_parms *cmd, void *mconfig, const char *arg)
{
    hydra_config *conf = mconfig;
    int phase = (int)(intptr_t)cmd->info;
    directive_place place;
    const char *handlers, *exts, *err;

    split_exts(cmd->pool, arg, &handlers, &exts);
    if (exts && (phase == HYDRA_PHASE_POST_READ_REQUEST || phase == HYDRA_PHASE_TRANS))
        return apr_psprintf(cmd->pool, "%s does not accept \"| .ext\" syntax.",
                            hydra_phase_names[phase]);
    if (!*next_word(cmd->temp_pool, &(const char *){handlers}))
        return apr_psprintf(cmd->pool, "%s requires at least one handler", cmd->cmd->name);
    if ((err = place_of(cmd, &place)) != NULL)
        return err;

    add_handlers(cmd, conf, phase, handlers, exts, &place, 0);
    /* directives.md §3.4: the last handler directive of a section decides. */
    conf->d_is_location = place.is_location;
    return NULL;
}

static const char *directive_handler_module(cmd_parms *cmd, void *mconfig, const char *arg)
{
    static const int phases[] = {
        HYDRA_PHASE_POST_READ_REQUEST, HYDRA_PHASE_TRANS, HYDRA_PHASE_HEADER_PARSER,
        HYDRA_PHASE_ACCESS, HYDRA_PHASE_AUTHEN, HYDRA_PHASE_AUTHZ, HYDRA_PHASE_TYPE,
        HYDRA_PHASE_FIXUP, HYDRA_PHASE_HANDLER, HYDRA_PHASE_INIT, HYDRA_PHASE_LOG,
        HYDRA_PHASE_CLEANUP,
    };
    hydra_config *conf = mconfig;
    directive_place place;
    const char *err;
    size_t i;

    if (strchr(arg, '|'))
        return "PythonHandlerModule does not accept \"| .ext\" syntax.";
    if ((err = place_of(cmd, &place)) != NULL)
        return err;
    for (i = 0; i < sizeof(phases) / sizeof(phases[0]); i++)
        add_handlers(cmd, conf, phases[i], arg, NULL, &place, 1);
    conf->d_is_location = place.is_location;
    return NULL;
}

static const char *directive_connection_handler(cmd_parms *cmd, void *mconfig, const char *arg)
{
    hydra_config *sconf = server_conf_of(cmd);
    directive_place place = {0};
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE);

    if (err)
        return err;
    if (strchr(arg, '|'))
        return "PythonConnectionHandler does not accept \"| .ext\" syntax.";
    add_handlers(cmd, sconf, HYDRA_PHASE_CONNECTION, arg, NULL, &place, 0);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Filters                                                            */

static const char *directive_filter(cmd_parms *cmd, void *mconfig, const char *handler,
                                    const char *name)
{
    hydra_config *conf = mconfig;
    int is_input = (int)(intptr_t)cmd->info;
    directive_place place;
    hydra_filter_reg *reg;
    const char *err;
    char *lower;

    /* RSRC_CONF | ACCESS_CONF already keeps this out of .htaccess. */
    if ((err = place_of(cmd, &place)) != NULL)
        return err;
    reg = apr_pcalloc(cmd->pool, sizeof(*reg));
    lower = apr_pstrdup(cmd->pool, name ? name : handler);
    ap_str_tolower(lower);
    reg->name = lower;
    reg->handler = apr_pstrdup(cmd->pool, handler);
    reg->directory = place.directory;
    reg->is_location = place.is_location;
    reg->is_input = is_input;
    apr_hash_set(is_input ? conf->in_filters : conf->out_filters, reg->name,
                 APR_HASH_KEY_STRING, reg);
    /* So that SetOutputFilter NAME & co. find it. */
    filter_register_name(reg->name, is_input);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Plain value directives                                             */

/* Stores `value` under the directive's name, mirrored into the server
 * config when outside sections ("(+ server)"), unless `dir_only`. */
static void store_directive(cmd_parms *cmd, hydra_config *conf, const char *value, int dir_only)
{
    apr_table_set(conf->directives, cmd->cmd->name, value);
    if (!dir_only && at_server_level(cmd))
        apr_table_set(server_conf_of(cmd)->directives, cmd->cmd->name, value);
}

static const char *directive_flag(cmd_parms *cmd, void *mconfig, int on)
{
    store_directive(cmd, mconfig, on ? "1" : "0", 0);
    return NULL;
}

/* PythonInterpPerDirectory is the one flag upstream does not mirror. */
static const char *directive_flag_dir_only(cmd_parms *cmd, void *mconfig, int on)
{
    store_directive(cmd, mconfig, on ? "1" : "0", 1);
    return NULL;
}

static const char *directive_take1(cmd_parms *cmd, void *mconfig, const char *value)
{
    store_directive(cmd, mconfig, value, 0);
    return NULL;
}

static const char *directive_option(cmd_parms *cmd, void *mconfig, const char *key,
                                    const char *value)
{
    hydra_config *conf = mconfig;
    if (!value)
        value = "";
    apr_table_set(conf->options, key, value);
    if (at_server_level(cmd))
        apr_table_set(server_conf_of(cmd)->options, key, value);
    return NULL;
}

static const char *directive_import(cmd_parms *cmd, void *mconfig, const char *module_spec,
                                    const char *interpreter)
{
    hydra_config *sconf = server_conf_of(cmd);
    hydra_import *imp;
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE);

    if (err)
        return err;
    if (cmd->server->is_virtual)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, cmd->server,
                     "PythonImport %s %s in a <VirtualHost> (%s:%d) is ignored: only the main "
                     "server's PythonImport entries are run",
                     module_spec, interpreter, cmd->directive->filename,
                     cmd->directive->line_num);
    imp = apr_array_push(sconf->imports);
    imp->module_spec = apr_pstrdup(cmd->pool, module_spec);
    imp->interpreter = apr_pstrdup(cmd->pool, interpreter);
    return NULL;
}

static const char *directive_optimize(cmd_parms *cmd, void *mconfig, int on)
{
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE);
    if (err)
        return err;
    hydra_optimize = on;
    return NULL;
}

/* Hydra extension: a bound on interpreters per child, so that names built
 * from request paths (PythonInterpPerDirectory) cannot grow without limit. */
static const char *directive_max_interpreters(cmd_parms *cmd, void *mconfig, const char *value)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    char *end;
    long n;

    if (err)
        return err;
    n = strtol(value, &end, 10);
    if (*value == '\0' || *end != '\0' || n < 0 || n > 100000)
        return apr_psprintf(cmd->pool,
                            "PythonMaxInterpreters must be a number from 0 (no limit) to 100000, "
                            "not '%s'",
                            value);
    hydra_max_interpreters = (int)n;
    return NULL;
}

static const char *directive_interp_gil(cmd_parms *cmd, void *mconfig, const char *value)
{
    hydra_config *conf = mconfig;

    if (strcasecmp(value, "shared") == 0) {
        conf->gil = HYDRA_GIL_SHARED;
    } else if (strcasecmp(value, "own") == 0) {
#if PY_VERSION_HEX < 0x030C0000
        return apr_psprintf(cmd->pool,
                            "PythonInterpGIL own needs CPython 3.12 or later; this Hydra is "
                            "built against Python %s. Use PythonInterpGIL shared, or rebuild "
                            "with make PYTHON=/path/to/python3.12+",
                            PY_VERSION);
#else
        conf->gil = HYDRA_GIL_OWN;
#endif
    } else {
        return apr_psprintf(cmd->pool, "PythonInterpGIL must be 'shared' or 'own', not '%s'",
                            value);
    }
    if (at_server_level(cmd))
        server_conf_of(cmd)->gil = conf->gil;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* The directive table                                                */

#define HANDLER_DIRECTIVE(name, phase, where)                                            \
    AP_INIT_RAW_ARGS(name, directive_handler, (void *)(intptr_t)(phase), where,     \
                     "Python " name " handlers: module[::callable] ... [| .ext ...]")

const command_rec hydra_directives[] = {
    HANDLER_DIRECTIVE("PythonPostReadRequestHandler", HYDRA_PHASE_POST_READ_REQUEST, RSRC_CONF),
    HANDLER_DIRECTIVE("PythonTransHandler", HYDRA_PHASE_TRANS, RSRC_CONF),
    HANDLER_DIRECTIVE("PythonHeaderParserHandler", HYDRA_PHASE_HEADER_PARSER, OR_ALL),
    HANDLER_DIRECTIVE("PythonInitHandler", HYDRA_PHASE_INIT, OR_ALL),
    HANDLER_DIRECTIVE("PythonAccessHandler", HYDRA_PHASE_ACCESS, OR_ALL),
    HANDLER_DIRECTIVE("PythonAuthenHandler", HYDRA_PHASE_AUTHEN, OR_ALL),
    HANDLER_DIRECTIVE("PythonAuthzHandler", HYDRA_PHASE_AUTHZ, OR_ALL),
    HANDLER_DIRECTIVE("PythonTypeHandler", HYDRA_PHASE_TYPE, OR_ALL),
    HANDLER_DIRECTIVE("PythonFixupHandler", HYDRA_PHASE_FIXUP, OR_ALL),
    HANDLER_DIRECTIVE("PythonHandler", HYDRA_PHASE_HANDLER, OR_ALL),
    HANDLER_DIRECTIVE("PythonLogHandler", HYDRA_PHASE_LOG, OR_ALL),
    HANDLER_DIRECTIVE("PythonCleanupHandler", HYDRA_PHASE_CLEANUP, OR_ALL),
    AP_INIT_RAW_ARGS("PythonHandlerModule", directive_handler_module, NULL, OR_ALL,
                     "module names whose phase-named callables handle every phase"),
    AP_INIT_RAW_ARGS("PythonConnectionHandler", directive_connection_handler, NULL, RSRC_CONF,
                     "Python connection handler: module[::callable]"),
    AP_INIT_TAKE12("PythonInputFilter", directive_filter, (void *)1, RSRC_CONF | ACCESS_CONF,
                   "Python input filter: module[::callable] [name]"),
    AP_INIT_TAKE12("PythonOutputFilter", directive_filter, (void *)0, RSRC_CONF | ACCESS_CONF,
                   "Python output filter: module[::callable] [name]"),
    AP_INIT_TAKE12("PythonOption", directive_option, NULL, OR_ALL,
                   "a key and an optional value, readable with req.get_options()"),
    AP_INIT_TAKE1("PythonPath", directive_take1, NULL, OR_ALL,
                  "a Python expression whose value replaces sys.path"),
    AP_INIT_FLAG("PythonDebug", directive_flag, NULL, OR_ALL,
                 "On: send Python tracebacks to the browser"),
    AP_INIT_FLAG("PythonEnablePdb", directive_flag, NULL, OR_ALL,
                 "On: run handlers under pdb (with -DONE_PROCESS only)"),
    AP_INIT_FLAG("PythonAutoReload", directive_flag, NULL, OR_ALL,
                 "On (default): reload handler modules whose file changed"),
    AP_INIT_TAKE1("PythonInterpreter", directive_take1, NULL, OR_ALL,
                  "name of the interpreter to run handlers in"),
    AP_INIT_FLAG("PythonInterpPerDirectory", directive_flag_dir_only, NULL, OR_ALL,
                 "On: name interpreters after the directory of the requested file"),
    AP_INIT_FLAG("PythonInterpPerDirective", directive_flag, NULL, OR_ALL,
                 "On: name interpreters after the directory of the handler directive"),
    AP_INIT_TAKE2("PythonImport", directive_import, NULL, RSRC_CONF,
                  "module[::function] and the interpreter to import it into at child start"),
    AP_INIT_FLAG("PythonOptimize", directive_optimize, NULL, RSRC_CONF,
                 "On: run Python with optimisation level 2 (-OO)"),
    AP_INIT_TAKE1("PythonInterpGIL", directive_interp_gil, NULL, RSRC_CONF | ACCESS_CONF,
                  "shared (default) or own: whether new interpreters get their own GIL"),
    AP_INIT_TAKE1("PythonMaxInterpreters", directive_max_interpreters, NULL, RSRC_CONF,
                  "most interpreters one child may create, main included (0: no limit)"),
    {NULL},
};
