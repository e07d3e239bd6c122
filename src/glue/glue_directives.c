/*
 * glue_directives.c - the Python* directives (directives.md §1, §2, §5):
 * parsing each one, once, into its typed field of a hydra_config record,
 * recording each handler's directory (interpreters.md §4), and the
 * directive table.
 *
 * Runs at configuration time in the Apache parent. Nothing here touches
 * Python: PythonPath is stored as written and evaluated in the child.
 */
#include "glue/glue_directives.h"
#include "glue/glue_venv.h"
#include "dispatch/dispatch.h"
#include "dispatch/dispatch_filter.h"
#include "dispatch/dispatch_handler.h"
#include "dispatch/dispatch_map.h"
#include "http_core.h"

#include "apr_fnmatch.h"
#include "apr_lib.h"

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
    while (sect
           && (strcasecmp(sect->directive, "<Files") == 0
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
                return apr_psprintf(cmd->pool, "%s: bad regular expression '%s'", cmd->cmd->name,
                                    arg);
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
            hydra_handler *h =
                hydra_handler_new(cmd->pool, word, place->directory, place->is_location, silent);
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
        HYDRA_PHASE_POST_READ_REQUEST,
        HYDRA_PHASE_TRANS,
        HYDRA_PHASE_HEADER_PARSER,
        HYDRA_PHASE_ACCESS,
        HYDRA_PHASE_AUTHEN,
        HYDRA_PHASE_AUTHZ,
        HYDRA_PHASE_TYPE,
        HYDRA_PHASE_FIXUP,
        HYDRA_PHASE_HANDLER,
        HYDRA_PHASE_INIT,
        HYDRA_PHASE_LOG,
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
    reg->entry = hydra_handler_new(cmd->pool, reg->handler, reg->directory, reg->is_location, 0);
    apr_hash_set(is_input ? conf->in_filters : conf->out_filters, reg->name, APR_HASH_KEY_STRING,
                 reg);
    /* So that SetOutputFilter NAME & co. find it. */
    filter_register_name(reg->name, is_input);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Plain value directives                                             */

/* Which typed field a plain directive sets (cmd->info). */
typedef enum {
    FIELD_DEBUG,
    FIELD_ENABLE_PDB,
    FIELD_AUTORELOAD,
    FIELD_INTERP_PER_DIRECTORY,
    FIELD_INTERP_PER_DIRECTIVE,
    FIELD_INTERPRETER,
    FIELD_PYTHONPATH
} config_field;

static int *flag_field(hydra_config *conf, config_field field)
{
    switch (field) {
    case FIELD_DEBUG:
        return &conf->debug;
    case FIELD_ENABLE_PDB:
        return &conf->enable_pdb;
    case FIELD_AUTORELOAD:
        return &conf->autoreload;
    case FIELD_INTERP_PER_DIRECTORY:
        return &conf->interp_per_directory;
    case FIELD_INTERP_PER_DIRECTIVE:
    default:
        return &conf->interp_per_directive;
    }
}

static void set_field(hydra_config *conf, config_field field, const char *value, int on)
{
    if (field == FIELD_INTERPRETER) {
        conf->interpreter = value;
    } else if (field == FIELD_PYTHONPATH) {
        conf->pythonpath = value;
        conf->pythonpath_hash = dispatch_map_hash(value);
    } else {
        *flag_field(conf, field) = on;
    }
}

/* Sets the directive's field, mirrored into the server record when outside
 * sections ("(+ server)"), unless `dir_only`; the server record also keeps
 * the text for server.get_config(). */
static void store_directive(cmd_parms *cmd, hydra_config *conf, const char *value, int on,
                            int dir_only)
{
    config_field field = (config_field)(intptr_t)cmd->cmd->cmd_data;

    value = value ? apr_pstrdup(cmd->pool, value) : NULL;
    set_field(conf, field, value, on);
    if (!dir_only && at_server_level(cmd)) {
        hydra_config *sconf = server_conf_of(cmd);
        set_field(sconf, field, value, on);
        apr_table_set(sconf->server_directives, cmd->cmd->name, value ? value : on ? "1" : "0");
    }
}

static const char *directive_flag(cmd_parms *cmd, void *mconfig, int on)
{
    store_directive(cmd, mconfig, NULL, on, 0);
    return NULL;
}

/* PythonInterpPerDirectory is the one flag upstream does not mirror. */
static const char *directive_flag_dir_only(cmd_parms *cmd, void *mconfig, int on)
{
    store_directive(cmd, mconfig, NULL, on, 1);
    return NULL;
}

static const char *directive_take1(cmd_parms *cmd, void *mconfig, const char *value)
{
    store_directive(cmd, mconfig, value, 0, 0);
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
        ap_log_error(
            APLOG_MARK, APLOG_WARNING, 0, cmd->server,
            "HYDRA0402: PythonImport %s %s in a <VirtualHost> (%s:%d) is ignored: only the main "
            "server's PythonImport entries are run",
            module_spec, interpreter, cmd->directive->filename, cmd->directive->line_num);
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

/* Hydra extension: one bytecode folder for every interpreter of the child
 * (CPython's pycache_prefix). Kept as written: DefaultRuntimeDir may come
 * later in the configuration, so the path is resolved in post_config. */
static const char *directive_bytecode_cache(cmd_parms *cmd, void *mconfig, const char *value)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    if (err)
        return err;
    if (*value == '\0')
        return "PythonBytecodeCache needs On, Off or a directory";
    hydra_bytecode_cache_arg = strcasecmp(value, "Off") == 0  ? NULL
                               : strcasecmp(value, "On") == 0 ? "On"
                                                              : apr_pstrdup(cmd->pool, value);
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
    if (conf->gil == HYDRA_GIL_SHARED && conf->pool_size != HYDRA_UNSET && conf->pool_size != 1)
        return "PythonInterpGIL shared cannot be used with PythonInterpPool in the same "
               "section: the replicas of a pool have their own GIL";
    if (at_server_level(cmd))
        server_conf_of(cmd)->gil = conf->gil;
    return NULL;
}

/* PythonInterpPool N|auto [concurrency] (beyond.md §3). */
static const char *directive_interp_pool(cmd_parms *cmd, void *mconfig, const char *size,
                                         const char *concurrency)
{
    hydra_config *conf = mconfig;
    long n = HYDRA_POOL_AUTO, k = HYDRA_POOL_DEFAULT_CONCURRENCY;
    char *end;

    if (strcasecmp(size, "auto") != 0) {
        n = strtol(size, &end, 10);
        if (*size == '\0' || *end != '\0' || n < 1 || n > HYDRA_POOL_MAX_SIZE)
            return apr_psprintf(cmd->pool,
                                "PythonInterpPool must be a number from 1 to %d or 'auto', not "
                                "'%s'",
                                HYDRA_POOL_MAX_SIZE, size);
    }
    if (concurrency) {
        k = strtol(concurrency, &end, 10);
        if (*concurrency == '\0' || *end != '\0' || k < 0 || k > 100000)
            return apr_psprintf(cmd->pool,
                                "PythonInterpPool: the invocations one replica runs at once must "
                                "be a number from 1 to 100000, or 0 for no bound, not '%s'",
                                concurrency);
    }
    if (n != 1 && PY_VERSION_HEX < 0x030C0000)
        return apr_psprintf(cmd->pool,
                            "PythonInterpPool needs CPython 3.12 or later (its replicas have "
                            "their own GIL); this Hydra is built against Python %s. Remove it, "
                            "or rebuild with make PYTHON=/path/to/python3.12+",
                            PY_VERSION);
    if (n != 1 && conf->gil == HYDRA_GIL_SHARED)
        return "PythonInterpPool cannot be used with PythonInterpGIL shared in the same "
               "section: the replicas of a pool have their own GIL";
    conf->pool_size = (int)n;
    conf->pool_concurrency = (int)k;
    if (at_server_level(cmd)) {
        server_conf_of(cmd)->pool_size = conf->pool_size;
        server_conf_of(cmd)->pool_concurrency = conf->pool_concurrency;
    }
    return NULL;
}

/* PythonVirtualEnv PATH (beyond.md §5): checked here, applied in each
 * new interpreter by dispatch_venv.c. */
static const char *directive_virtualenv(cmd_parms *cmd, void *mconfig, const char *path)
{
    hydra_config *conf = mconfig;
    const char *err = venv_check(cmd->pool, path, &conf->virtualenv);

    if (err)
        return err;
    if (at_server_level(cmd))
        server_conf_of(cmd)->virtualenv = conf->virtualenv;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* PythonRequestTimeout, PythonSlowRequestLog (beyond.md §5)          */

#define MAX_REQUEST_TIMEOUT_SEC 1000000 /* about eleven days: anything more is a typo */
#define MAX_SLOW_LOG_MSEC 86400000      /* a day */

/* Parses a plain decimal number ("30", "0.5", at most three decimals: the
 * watchdog works in milliseconds anyway) into milliseconds. -1 when `text`
 * is anything else: signs, exponents, spaces, hex and "inf" are refused,
 * which strtod would accept. */
static long long parse_decimal_ms(const char *text, int decimals_allowed)
{
    long long whole = 0, frac = 0;
    int frac_digits = 0;
    const char *p = text;

    if (!apr_isdigit(*p))
        return -1;
    for (; apr_isdigit(*p); p++) {
        whole = whole * 10 + (*p - '0');
        if (whole > MAX_SLOW_LOG_MSEC * 1000LL)
            return -1;
    }
    if (*p == '.' && decimals_allowed) {
        for (p++; apr_isdigit(*p); p++) {
            if (++frac_digits > 3)
                return -1;
            frac = frac * 10 + (*p - '0');
        }
        if (frac_digits == 0)
            return -1;
    }
    if (*p != '\0')
        return -1;
    if (!decimals_allowed)
        return whole;
    while (frac_digits++ < 3)
        frac *= 10;
    return whole * 1000 + frac;
}

/* Mirrored into the server record when outside sections, so that a
 * PythonConnectionHandler (which reads the server record) sees it too. */
static void store_interval(cmd_parms *cmd, hydra_config *conf, int slow_log,
                           apr_interval_time_t value)
{
    hydra_config *sconf = at_server_level(cmd) ? server_conf_of(cmd) : NULL;

    if (slow_log) {
        conf->slow_request_log = value;
        if (sconf)
            sconf->slow_request_log = value;
    } else {
        conf->request_timeout = value;
        if (sconf)
            sconf->request_timeout = value;
    }
}

/* The value of PythonRequestTimeout (`seconds`: up to three decimals,
 * from 0.001 to MAX_REQUEST_TIMEOUT_SEC) or PythonSlowRequestLog (whole
 * milliseconds up to MAX_SLOW_LOG_MSEC), or Off (0), in microseconds.
 * NULL, or the error for `apachectl -t`. */
static const char *limit_arg(cmd_parms *cmd, const char *value, int seconds,
                             apr_interval_time_t *usec)
{
    long long max_ms = seconds ? MAX_REQUEST_TIMEOUT_SEC * 1000LL : MAX_SLOW_LOG_MSEC;
    long long ms;

    if (strcasecmp(value, "off") == 0) {
        *usec = 0;
        return NULL;
    }
    ms = parse_decimal_ms(value, seconds);
    if (ms > 0 && ms <= max_ms) {
        *usec = (apr_interval_time_t)ms * 1000;
        return NULL;
    }
    if (seconds)
        return apr_psprintf(cmd->pool,
                            "PythonRequestTimeout must be Off or a number of seconds greater "
                            "than 0 and at most %d (up to three decimals, e.g. 30 or 0.5), not "
                            "'%s'",
                            MAX_REQUEST_TIMEOUT_SEC, value);
    return apr_psprintf(cmd->pool,
                        "PythonSlowRequestLog must be Off or a whole number of milliseconds "
                        "from 1 to %d, not '%s'",
                        MAX_SLOW_LOG_MSEC, value);
}

static const char *directive_request_timeout(cmd_parms *cmd, void *mconfig, const char *value)
{
    apr_interval_time_t usec = 0;
    const char *err = limit_arg(cmd, value, 1, &usec);

    if (err)
        return err;
    store_interval(cmd, mconfig, 0, usec);
    if (usec > 0 && (hydra_request_timeout_min == 0 || usec < hydra_request_timeout_min))
        hydra_request_timeout_min = usec;
    return NULL;
}

static const char *directive_slow_request_log(cmd_parms *cmd, void *mconfig, const char *value)
{
    apr_interval_time_t usec = 0;
    const char *err = limit_arg(cmd, value, 0, &usec);

    if (err)
        return err;
    store_interval(cmd, mconfig, 1, usec);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* The directive table                                                */

#define HANDLER_DIRECTIVE(name, phase, where)                                                      \
    AP_INIT_RAW_ARGS(name, directive_handler, (void *)(intptr_t)(phase), where,                    \
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
    AP_INIT_TAKE1("PythonPath", directive_take1, (void *)FIELD_PYTHONPATH, OR_ALL,
                  "a Python expression whose value replaces sys.path"),
    AP_INIT_FLAG("PythonDebug", directive_flag, (void *)FIELD_DEBUG, OR_ALL,
                 "On: send Python tracebacks to the browser"),
    AP_INIT_FLAG("PythonEnablePdb", directive_flag, (void *)FIELD_ENABLE_PDB, OR_ALL,
                 "On: run handlers under pdb (with -DONE_PROCESS only)"),
    AP_INIT_FLAG("PythonAutoReload", directive_flag, (void *)FIELD_AUTORELOAD, OR_ALL,
                 "On (default): reload handler modules whose file changed"),
    AP_INIT_TAKE1("PythonInterpreter", directive_take1, (void *)FIELD_INTERPRETER, OR_ALL,
                  "name of the interpreter to run handlers in"),
    AP_INIT_FLAG("PythonInterpPerDirectory", directive_flag_dir_only,
                 (void *)FIELD_INTERP_PER_DIRECTORY, OR_ALL,
                 "On: name interpreters after the directory of the requested file"),
    AP_INIT_FLAG("PythonInterpPerDirective", directive_flag, (void *)FIELD_INTERP_PER_DIRECTIVE,
                 OR_ALL, "On: name interpreters after the directory of the handler directive"),
    AP_INIT_TAKE2("PythonImport", directive_import, NULL, RSRC_CONF,
                  "module[::function] and the interpreter to import it into at child start"),
    AP_INIT_FLAG("PythonOptimize", directive_optimize, NULL, RSRC_CONF,
                 "On: run Python with optimisation level 2 (-OO)"),
    AP_INIT_TAKE1("PythonInterpGIL", directive_interp_gil, NULL, RSRC_CONF | ACCESS_CONF,
                  "shared (default) or own: whether new interpreters get their own GIL"),
    AP_INIT_TAKE12("PythonInterpPool", directive_interp_pool, NULL, RSRC_CONF | ACCESS_CONF,
                   "N (1-64) or auto, and optionally the invocations one replica runs at once "
                   "(default 0: no bound): own-GIL replicas of one interpreter"),
    AP_INIT_TAKE1("PythonVirtualEnv", directive_virtualenv, NULL, RSRC_CONF | ACCESS_CONF,
                  "a virtualenv (made by this Python X.Y) for the interpreters created here"),
    AP_INIT_TAKE1("PythonMaxInterpreters", directive_max_interpreters, NULL, RSRC_CONF,
                  "most interpreters one child may create, main included (0: no limit)"),
    AP_INIT_TAKE1("PythonBytecodeCache", directive_bytecode_cache, NULL, RSRC_CONF,
                  "Off (default), On (a folder in the runtime directory) or a directory: where "
                  "every interpreter writes and reads compiled modules"),
    AP_INIT_TAKE1("PythonRequestTimeout", directive_request_timeout, NULL, RSRC_CONF | ACCESS_CONF,
                  "seconds a Python handler may run before it is interrupted (504), or Off"),
    AP_INIT_TAKE1("PythonSlowRequestLog", directive_slow_request_log, NULL, RSRC_CONF | ACCESS_CONF,
                  "milliseconds above which a Python handler call is logged, or Off"),
    {NULL},
};
