/*
 * request_internal.h - what the files of the `mp_request` object share and
 * nobody else may use: the RequestObject struct and the method functions
 * each file contributes to the one method table in request.c.
 *
 * The object is split by concern:
 *   request.c        the type: lifecycle, GC, attributes, method table
 *   request_body.c   request body in, response body out (and its metadata)
 *   request_config.c configuration, handlers, cleanups, per-request filters
 *   request_cgi.c    CGI/WSGI environment, start_response, and what a
 *                    gateway asks about the client, the URL and auth
 *
 * Everything else goes through objects.h (request_object_new) and
 * reqctx.h (reqctx_request_object).
 */
#ifndef HYDRA_REQUEST_INTERNAL_H
#define HYDRA_REQUEST_INTERNAL_H

#include "objects/objects.h"

/* The request tables exposed as attributes, in getset order. */
enum {
    REQ_HEADERS_IN,
    REQ_HEADERS_OUT,
    REQ_ERR_HEADERS_OUT,
    REQ_SUBPROCESS_ENV,
    REQ_NOTES,
    REQ_TABLE_COUNT
};

/* Whether reading the body has been set up for this wrapper. */
typedef enum {
    BODY_UNSET = 0,
    BODY_EXPECTED,
    BODY_NONE
} body_state;

typedef struct {
    PyObject_HEAD
    request_rec *r;
    hydra_reqctx *ctx;
    hydra_apache_state *st; /* of our type's module; lives as long as the type */
    PyObject *dict;
    apr_table_t *config_view;  /* req.get_config(), built on first use */
    apr_table_t *options_copy; /* own-GIL interpreters: req.get_options()'s copy */

    /* Cached wrappers, remade when httpd pointed `r` at another struct. */
    PyObject *connection;
    conn_rec *connection_of;
    PyObject *server;
    server_rec *server_of;
    struct {
        PyObject *wrapper;
        apr_table_t *of;
    } tables[REQ_TABLE_COUNT];

    /* Request body (request_body.c): what readline() fetched beyond the
     * line it returned. */
    body_state body;
    int body_busy; /* a read is running with the GIL released */
    char *rbuf;    /* PyMem, REQUEST_READ_CHUNK bytes, allocated on first use */
    Py_ssize_t rbuf_pos;
    Py_ssize_t rbuf_len;

    apr_off_t bytes_queued;
    int content_type_set;

    /* Headers already in headers_out when wsgi_start_response() first ran;
     * a later call with exc_info drops whatever was added after them. */
    int wsgi_headers_mark; /* -1: start_response not called yet */
} RequestObject;

/* A str/bytes argument copied into the request pool (strings to Apache
 * must be Latin-1, python-api.md introduction). */
static inline const char *request_pool_str(RequestObject *self, PyObject *obj)
{
    return hydra_str_to_apache(self->r->pool, obj);
}

/* request_config.c: the merged mod_python configuration of the request,
 * or NULL + RuntimeError. */
hydra_config *request_dir_config(RequestObject *self);
/* The request's PythonOption table as req.get_options() shows it: the
 * merged table, or an own-GIL interpreter's copy; "removed" entries
 * stripped (obj_request_config.c). */
apr_table_t *request_options(RequestObject *self, const hydra_config *conf);

/* Method functions, by the file that defines them (python-api.md §5.1). */

/* request_body.c */
PyObject *request_write(RequestObject *self, PyObject *args, PyObject *kw);
PyObject *request_flush(RequestObject *self, PyObject *unused);
PyObject *request_sendfile(RequestObject *self, PyObject *args, PyObject *kw);
PyObject *request_internal_redirect(RequestObject *self, PyObject *arg);
PyObject *request_send_http_header(RequestObject *self, PyObject *unused);
PyObject *request_read(RequestObject *self, PyObject *args, PyObject *kw);
PyObject *request_readline(RequestObject *self, PyObject *args, PyObject *kw);
PyObject *request_readlines(RequestObject *self, PyObject *args, PyObject *kw);
PyObject *request_read_body_chunk(RequestObject *self, PyObject *args, PyObject *kw);
PyObject *request_abort_connection(RequestObject *self, PyObject *unused);
PyObject *request_discard_request_body(RequestObject *self, PyObject *unused);
PyObject *request_meets_conditions(RequestObject *self, PyObject *unused);
PyObject *request_set_content_length(RequestObject *self, PyObject *arg);
PyObject *request_set_etag(RequestObject *self, PyObject *unused);
PyObject *request_set_last_modified(RequestObject *self, PyObject *unused);
PyObject *request_update_mtime(RequestObject *self, PyObject *arg);

/* request_config.c */
PyObject *request_get_config(RequestObject *self, PyObject *unused);
PyObject *request_get_options(RequestObject *self, PyObject *unused);
PyObject *request_add_handler(RequestObject *self, PyObject *args, PyObject *kw);
PyObject *request_register_cleanup(RequestObject *self, PyObject *args, PyObject *kw);
PyObject *request_register_input_filter(RequestObject *self, PyObject *args, PyObject *kw);
PyObject *request_register_output_filter(RequestObject *self, PyObject *args, PyObject *kw);
PyObject *request_add_input_filter(RequestObject *self, PyObject *arg);
PyObject *request_add_output_filter(RequestObject *self, PyObject *arg);

/* request_cgi.c */
PyObject *request_add_common_vars(RequestObject *self, PyObject *unused);
PyObject *request_add_cgi_vars(RequestObject *self, PyObject *unused);
PyObject *request_get_addhandler_exts(RequestObject *self, PyObject *unused);
PyObject *request_build_wsgi_env(RequestObject *self, PyObject *unused);
PyObject *request_wsgi_start_response(RequestObject *self, PyObject *args, PyObject *kw);
PyObject *request_get_basic_auth_pw(RequestObject *self, PyObject *unused);
PyObject *request_auth_name(RequestObject *self, PyObject *unused);
PyObject *request_auth_type(RequestObject *self, PyObject *unused);
PyObject *request_construct_url(RequestObject *self, PyObject *arg);
PyObject *request_document_root(RequestObject *self, PyObject *unused);
PyObject *request_get_remote_host(RequestObject *self, PyObject *args, PyObject *kw);
PyObject *request_is_https(RequestObject *self, PyObject *unused);
PyObject *request_ssl_var_lookup(RequestObject *self, PyObject *arg);

#endif /* HYDRA_REQUEST_INTERNAL_H */
