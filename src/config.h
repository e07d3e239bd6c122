/*
 * config.h - the configuration record of Hydra (directives.md §1.1) and the
 * handler entries that the Python*Handler directives produce.
 *
 * Configuration is parsed once, at start-up, into these structs; the request
 * path only reads them (the live `directives` and `options` tables are the
 * exception, because mod_python exposes them to Python as writable views).
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

/* "PythonHandler", ... indexed by hydra_phase. */
extern const char *const hydra_phase_names[HYDRA_PHASE_COUNT];
/* "handler", ... : the default callable of each phase. */
extern const char *const hydra_phase_default_callables[HYDRA_PHASE_COUNT];
/* Returns the phase for a directive name, or -1. */
int hydra_phase_from_name(const char *name);

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

/* One record type serves both per-directory and per-server configuration,
 * like mod_python's, because "(+ server)" directives write the same fields
 * into both. */
typedef struct hydra_config {
    apr_table_t *directives; /* directive name -> value; flags "1"/"0" */
    apr_table_t *options;    /* PythonOption key -> value ("" = removed) */
    hydra_handler *hlists[HYDRA_PHASE_COUNT]; /* plain phase lists */
    apr_hash_t *ext_hlists;  /* "PythonHandler.py" -> hydra_handler* */
    apr_hash_t *in_filters;  /* lower-cased name -> hydra_filter_reg* */
    apr_hash_t *out_filters;
    const char *config_dir;
    int d_is_location;
    hydra_gil_setting gil; /* PythonInterpGIL; not in `directives` */
    apr_array_header_t *imports; /* server config only: hydra_import */
} hydra_config;

/* The directive table, and the create/merge functions for the module record. */
extern const command_rec hydra_directives[];
void *hydra_create_dir_config(apr_pool_t *p, char *dir);
void *hydra_merge_config(apr_pool_t *p, void *base, void *add);
void *hydra_create_server_config(apr_pool_t *p, server_rec *s);

/* Process-global settings (RSRC_CONF, read in child_init). */
extern int hydra_optimize;         /* PythonOptimize */
extern int hydra_max_interpreters; /* PythonMaxInterpreters */
#define HYDRA_DEFAULT_MAX_INTERPRETERS 100

static inline hydra_config *hydra_dir_config(request_rec *r)
{
    return (hydra_config *)ap_get_module_config(r->per_dir_config, &python_module);
}

static inline hydra_config *hydra_server_config(server_rec *s)
{
    return (hydra_config *)ap_get_module_config(s->module_config, &python_module);
}

/* Called from post_config: see config.c. */
void hydra_config_strip_removed_options(server_rec *s);

/* Called from post_config: warns about every section where PythonInterpGIL
 * own meets PythonInterpreter main_interpreter (beyond.md §1). */
void hydra_config_warn_own_main(server_rec *s, apr_pool_t *ptemp);

/* Builds one handler entry from "mod[::obj]" (used by config and by
 * req.add_handler). `directory` is stored as given. */
hydra_handler *hydra_handler_new(apr_pool_t *p, const char *text, const char *directory,
                                 int is_location, int silent);

/* Canonicalises a directory the way <Directory> paths are: absolute true
 * name with a trailing "/". On failure returns `dir` unchanged. */
const char *hydra_canonical_dir(apr_pool_t *p, const char *dir);

#endif /* HYDRA_CONFIG_H */
