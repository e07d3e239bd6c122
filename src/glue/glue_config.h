/*
 * glue_config.h - the configuration record of Hydra (directives.md §1.1)
 * and the handler entries that the Python*Handler directives produce.
 *
 * Every directive is parsed once, at configuration time, into a typed
 * field (flags as ints with HYDRA_UNSET, names and paths as strings, lists
 * as linked entries) and merged field by field; the request path reads
 * fields and never parses strings. The one table C keeps is `options`
 * (PythonOption is a key/value map by nature); the directive table that
 * req.get_config() shows is built from the fields when Python asks.
 *
 * This is the one glue header the other layers include: types and inline
 * accessors only, no functions of the glue layer (docs/internals.md).
 */
#ifndef HYDRA_CONFIG_H
#define HYDRA_CONFIG_H

#include "hydra.h"

/* Request phases in the order httpd runs them. The order of this enum is the
 * index into hydra_config.hlists. */
typedef enum {
    HYDRA_PHASE_POST_READ_REQUEST = 0,
    HYDRA_PHASE_TRANS,
    HYDRA_PHASE_HEADER_PARSER,
    HYDRA_PHASE_INIT,
    HYDRA_PHASE_ACCESS,
    HYDRA_PHASE_AUTHEN,
    HYDRA_PHASE_AUTHZ,
    HYDRA_PHASE_TYPE,
    HYDRA_PHASE_FIXUP,
    HYDRA_PHASE_HANDLER,
    HYDRA_PHASE_LOG,
    HYDRA_PHASE_CLEANUP,
    HYDRA_PHASE_CONNECTION, /* stored in the server config only */
    HYDRA_PHASE_COUNT
} hydra_phase;

/* Every directive a flag or string field stands for may be unset in a
 * record; the merge takes the inner value when it is set. */
#define HYDRA_UNSET (-1)

/* How a handler directory was written (interpreters.md §4). */
typedef enum {
    HYDRA_DIR_PLAIN = 0, /* a path, or NULL */
    HYDRA_DIR_FNMATCH,   /* <Directory> with wildcards: resolved per request */
    HYDRA_DIR_REGEX      /* <Directory ~>, <DirectoryMatch>: resolved per request */
} hydra_dir_kind;

/* One handler of a list: `module[::object]` plus where it was configured.
 * Lists are singly linked because req.add_handler() appends to the list
 * that is running. Entries in the config are never modified after start-up;
 * the request path copies a list into the request pool before running it. */
typedef struct hydra_handler {
    const char *handler;     /* the text as written: "mod::obj" */
    const char *module_name; /* before the first "::" */
    const char *object_path; /* after "::"; NULL means the phase default */
    unsigned module_hash;    /* dispatch_map_hash(module_name), for the module cache */
    unsigned object_hash;    /* dispatch_map_hash(object_path) when it is set */
    unsigned directory_hash; /* dispatch_map_hash(directory) when it is set */
    const char *directory;   /* interpreters.md §4; NULL = none */
    int is_location;
    int silent; /* PythonHandlerModule entries */
    hydra_dir_kind dir_kind;
    ap_regex_t *dir_regex; /* HYDRA_DIR_REGEX only */
    struct hydra_handler *next;
} hydra_handler;

/* A filter registration (PythonInputFilter / PythonOutputFilter). */
typedef struct hydra_filter_reg {
    const char *name; /* lower-cased, as httpd stores filter names */
    const char *handler;
    const char *directory;
    int is_location;
    int is_input;
    hydra_handler *entry; /* `handler` parsed, with directory and is_location */
} hydra_filter_reg;

/* A PythonImport entry. */
typedef struct hydra_import {
    const char *module_spec; /* "module[::function]" */
    const char *interpreter; /* the registry name, verbatim */
} hydra_import;

/* Interpreter GIL mode as configured (beyond.md §1). */
typedef enum {
    HYDRA_GIL_UNSET = -1,
    HYDRA_GIL_SHARED = 0,
    HYDRA_GIL_OWN = 1
} hydra_gil_setting;

/* PythonInterpPool auto: the CPUs the child may run on, counted in the
 * child (dispatch_pool_size). */
#define HYDRA_POOL_AUTO 0
#define HYDRA_POOL_MAX_SIZE 64
/* Invocations one replica runs at once unless the directive says: no
 * bound, which measured best (docs/directives.md, PythonInterpPool). */
#define HYDRA_POOL_DEFAULT_CONCURRENCY 0

/* One record type serves both per-directory and per-server configuration,
 * like mod_python's, because "(+ server)" directives write the same fields
 * into both. */
typedef struct hydra_config {
    /* Flags: 1, 0 or HYDRA_UNSET. */
    int debug;                /* PythonDebug (default off) */
    int enable_pdb;           /* PythonEnablePdb (default off) */
    int autoreload;           /* PythonAutoReload (default on) */
    int interp_per_directory; /* PythonInterpPerDirectory (default off) */
    int interp_per_directive; /* PythonInterpPerDirective (default off) */
    const char *interpreter;  /* PythonInterpreter; NULL = unset */
    const char *pythonpath;   /* PythonPath, the expression as written; NULL = unset */
    unsigned pythonpath_hash; /* dispatch_map_hash(pythonpath) */
    apr_table_t *options;     /* PythonOption key -> value ("" = removed) */
    hydra_handler *hlists[HYDRA_PHASE_COUNT]; /* plain phase lists */
    apr_hash_t *ext_hlists;                   /* "PythonHandler.py" -> hydra_handler* */
    apr_hash_t *in_filters;                   /* lower-cased name -> hydra_filter_reg* */
    apr_hash_t *out_filters;
    const char *config_dir;
    int d_is_location;
    hydra_gil_setting gil;  /* PythonInterpGIL */
    int pool_size;          /* PythonInterpPool: 1-64, HYDRA_POOL_AUTO, or HYDRA_UNSET */
    int pool_concurrency;   /* its second argument: 0 = no bound (with pool_size) */
    const char *virtualenv; /* PythonVirtualEnv; NULL = unset */
    /* Microseconds; HYDRA_UNSET, 0 for Off, else the limit (beyond.md §5). */
    apr_interval_time_t request_timeout;  /* PythonRequestTimeout */
    apr_interval_time_t slow_request_log; /* PythonSlowRequestLog */
    apr_array_header_t *imports;          /* server config only: hydra_import */
    /* Server config only: the directives given outside sections, as the
     * table server.get_config() shows (mod_python's view, kept for Python;
     * C never reads it). */
    apr_table_t *server_directives;
} hydra_config;

/* The effective value of a flag field. */
static inline int hydra_flag(int field, int default_value)
{
    return field == HYDRA_UNSET ? default_value : field;
}

/* PythonMaxInterpreters when not given: no limit, so that a mod_python
 * configuration with many virtual hosts or directories keeps working
 * (beyond.md: extensions never change what does not use them). */
#define HYDRA_DEFAULT_MAX_INTERPRETERS 0

static inline hydra_config *hydra_dir_config(request_rec *r)
{
    return (hydra_config *)ap_get_module_config(r->per_dir_config, &python_module);
}

static inline hydra_config *hydra_server_config(server_rec *s)
{
    return (hydra_config *)ap_get_module_config(s->module_config, &python_module);
}

#endif /* HYDRA_CONFIG_H */
