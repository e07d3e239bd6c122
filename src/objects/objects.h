/*
 * objects.h - the public face of the Python object layer: constructors the
 * dispatch layer and the objects themselves use, and the type specs that
 * `_apache`'s exec slot turns into heap types.
 *
 * Every constructor takes the module state of the interpreter the calling
 * thread holds, and returns a new reference (NULL + exception on failure).
 * Wrappers over Apache structs are live views: they do not copy, and they
 * must not outlive the pool of the struct they wrap.
 */
#ifndef HYDRA_OBJECTS_H
#define HYDRA_OBJECTS_H

#include "hydra.h"
#include "core/interp.h"
#include "glue/glue_config.h"
#include "objects/obj_apache_module.h"
#include "objects/obj_request_state.h"
#include "apr_file_info.h"

/* Type specs, one per object file. */
extern PyType_Spec hydra_table_spec; /* table.c: "_apache.mp_table", exposed as _apache.table */
extern PyType_Spec hydra_table_iter_spec; /* table.c */
extern PyType_Spec hydra_request_spec;    /* request.c: "mp_request" */
extern PyType_Spec hydra_server_spec;     /* server.c: "mp_server" */
extern PyType_Spec hydra_connection_spec; /* connection.c: "mp_conn" */
extern PyType_Spec hydra_hlist_spec;      /* hlist.c: "mp_hlist" */
extern PyType_Spec hydra_finfo_spec;      /* finfo.c: "mp_finfo" */

/* table.c ------------------------------------------------------------- */
/* A live view of `t`. `owner` (may be NULL) is kept alive by the view; use
 * it when the table belongs to an object's pool. */
PyObject *table_wrap(hydra_apache_state *st, apr_table_t *t, PyObject *owner);

/* request.c ----------------------------------------------------------- */
/* The Python request object for `r`. Called only by dispatch_reqctx.c,
 * which caches the result; everyone else asks it (obj_services). */
PyObject *request_object_new(hydra_apache_state *st, request_rec *r, hydra_reqctx *ctx);

/* server.c / connection.c --------------------------------------------- */
PyObject *server_object_new(hydra_apache_state *st, server_rec *s);
PyObject *connection_object_new(hydra_apache_state *st, conn_rec *c);
/* Lets conn.hlist show the connection handler list being run (hl may be
 * NULL; it must outlive the object or be reset). 0, or -1 + TypeError. */
int connection_object_set_hlist(hydra_apache_state *st, PyObject *conn, hydra_hlist *hl);
/* The server_rec behind a server object, or NULL (no exception set). */
server_rec *server_object_get(hydra_apache_state *st, PyObject *obj);

/* hlist.c ------------------------------------------------------------- */
/* A view of a running handler list; `owner` keeps the pool alive. */
PyObject *hlist_object_new(hydra_apache_state *st, hydra_hlist *hl, PyObject *owner);

/* finfo.c ------------------------------------------------------------- */
/* A copy of `fi` (mp_finfo); `live` non-NULL makes it a view of that struct. */
PyObject *finfo_object_new(hydra_apache_state *st, const apr_finfo_t *fi, apr_finfo_t *live,
                           PyObject *owner);
/* apr_finfo_t behind an mp_finfo (NULL + TypeError if not one). */
const apr_finfo_t *finfo_object_get(hydra_apache_state *st, PyObject *obj);

/* strings.c ----------------------------------------------------------- */
/* Apache string -> str: UTF-8 with surrogateescape (documented deviation:
 * no exception on invalid bytes); NULL -> None. */
PyObject *hydra_str_from_apache(const char *s);
/* Apache string -> str decoded as Latin-1; NULL -> None. */
PyObject *hydra_str_from_latin1(const char *s);
/* str (Latin-1 encodable) or bytes -> C string copied into `p`.
 * NULL + TypeError("not an ISO-8859-1 string") otherwise. */
const char *hydra_str_to_apache(apr_pool_t *p, PyObject *obj);
/* The same checks without copying: a pointer valid while *holder lives
 * (the caller Py_XDECREFs *holder); *len receives the length. */
const char *hydra_str_as_latin1(PyObject *obj, PyObject **holder, Py_ssize_t *len);

/* apache_functions.c: module-level functions of _apache ---------------- */
extern PyMethodDef hydra_apache_functions[];
/* lock_functions.c: _global_lock, _global_trylock, _global_unlock (api §11) */
extern PyMethodDef hydra_lock_functions[];
/* log_error for every object: message (str/bytes/None) at `level` (0 means
 * ERR) against the most specific of r, c, s; GIL released while logging.
 * Returns None (new ref) or NULL + exception. */
PyObject *hydra_log_python_message(PyObject *message, int level, server_rec *s, conn_rec *c,
                                   request_rec *r);
/* util_qs.c: parse_qs / parse_qsl (C, api §12.4) */
PyObject *hydra_parse_qs(PyObject *module, PyObject *args, PyObject *kw);
PyObject *hydra_parse_qsl(PyObject *module, PyObject *args, PyObject *kw);

#endif /* HYDRA_OBJECTS_H */
