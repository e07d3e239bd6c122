/*
 * dispatch_interp.h - the dispatch layer's state of one interpreter and
 * the one way into an interpreter for an invocation.
 *
 * The interpreter core creates interpreters and knows nothing of what runs
 * in them; at start-up this layer gives it the init hook below, which
 * imports mod_python.apache in each new interpreter and makes the state
 * the request path needs there. The core keeps the pointer (interp_data).
 */
#ifndef HYDRA_DISPATCH_INTERP_H
#define HYDRA_DISPATCH_INTERP_H

#include "hydra.h"
#include "core/interp.h"
#include "glue/glue_config.h"
#include "objects/obj_apache_module.h"

struct dispatch_map;
struct hydra_metrics_row;

/* Per interpreter; used only with its GIL held. */
typedef struct dispatch_interp {
    hydra_interp *core;
    const char *name;                 /* interp_name(core), for log lines */
    hydra_interp_kind kind;           /* interp_kind(core) */
    PyObject *apache_module;          /* this interpreter's _apache */
    hydra_apache_state *state;        /* its module state */
    PyObject *mp_apache;              /* mod_python.apache */
    PyObject *callback;               /* what mod_python.apache.init() returned */
    PyObject *request_timeout;        /* mod_python.apache.RequestTimeout (dispatch_watchdog.c) */
    struct dispatch_map *modules;     /* module name -> cached_module (dispatch_call.c) */
    struct dispatch_map *names;       /* C string -> interned str (object names, directories) */
    struct dispatch_map *pythonpaths; /* PythonPath strings already applied (value unused) */
    /* Its row in the server-wide metrics (dispatch_metrics.h), or NULL. */
    struct hydra_metrics_row *metrics;
} dispatch_interp;

/* The hook the glue layer hands to interp_system_init. */
extern const interp_hooks dispatch_interp_hooks;

/* The dispatch state of a ready interpreter. */
static inline dispatch_interp *dispatch_interp_of(hydra_interp *interp)
{
    return (dispatch_interp *)interp_data(interp);
}

/* Names the interpreter for an invocation on `r` with `conf` in effect and
 * `head_dir` the directory of the head handler or filter registration
 * (interpreters.md §3-§7), and acquires it. Returns OK with *out set (its
 * GIL held), or the status to answer: HTTP_SERVICE_UNAVAILABLE when
 * PythonMaxInterpreters refused a new interpreter, HTTP_INTERNAL_SERVER_ERROR
 * when it could not be had (both logged). */
int dispatch_enter_request(request_rec *r, const hydra_config *conf, const char *head_dir,
                           dispatch_interp **out);

/* The same for a connection (PythonConnectionHandler): the base server's
 * configuration, no file and no handler directory. */
int dispatch_enter_connection(conn_rec *c, const hydra_config *sconf, dispatch_interp **out);

/* The same for a name given as is, with what `conf` asks of it if it must
 * be created (PythonImport). */
int dispatch_enter_config(const char *name, const hydra_config *conf, server_rec *s,
                          dispatch_interp **out);

/* The same for a name given as is, without a configuration (child-exit
 * cleanups, other modules' optional functions): a pool gives any replica. */
int dispatch_enter_named(const char *name, int own_gil, server_rec *s, dispatch_interp **out);

/* Enters `di` itself (the replica a request cleanup or a child-exit
 * callback was registered in). Returns OK (GIL held) or 500, logged. */
int dispatch_enter_this(dispatch_interp *di, server_rec *s);

/* Gives back what a dispatch_enter_* returned. */
void dispatch_leave(dispatch_interp *di);

#endif /* HYDRA_DISPATCH_INTERP_H */
