/*
 * filter.h - Python input and output filters (directives.md §5.8,
 * python-api.md §1.3, §8): the httpd filter functions, their registration,
 * per-request registrations (req.register_*_filter / req.add_*_filter),
 * and the constructor of the `mp_filter` object they hand to Python.
 */
#ifndef HYDRA_FILTER_H
#define HYDRA_FILTER_H

#include "hydra.h"
#include "config.h"
#include "objects/apache_module.h"
#include "apr_buckets.h"
#include "util_filter.h"

/* The name of the generic filter (httpd stores it lower-cased). Requests
 * get it through req.add_*_filter() for per-request registrations. */
#define HYDRA_GENERIC_FILTER "MOD_PYTHON"

/* State of one filter instance (f->ctx), kept for the whole request: the
 * filter is called once per brigade and each call gets a fresh mp_filter,
 * so what must survive between calls lives here.
 *
 * An instance of the generic filter starts with f->ctx = the
 * hydra_filter_reg it runs (what ap_add_*_filter was given); the first
 * call replaces it with one of these. `tag` tells the two apart: it
 * holds an address private to filter.c, while a hydra_filter_reg starts
 * with a pointer to its name in a pool. */
typedef struct hydra_filter_ctx {
    const void *tag;
    const hydra_filter_reg *reg;
    int transparent;             /* set by filter.disable(): pass-through */
    apr_bucket_brigade *fetched; /* input: read from f->next, not yet consumed */
    apr_bucket_brigade *queue;   /* output: written, not yet passed to f->next */
} hydra_filter_ctx;

/* One call of a filter function, as the mp_filter object sees it.
 *
 * An SSI `#python` tag (ssi.c) is a call too, of mod_include's INCLUDES
 * filter: `bb` is the brigade mod_include is building, write() appends to
 * it so the output lands where the tag was, and nothing is read, flushed
 * or passed on. f->ctx then belongs to mod_include, so `ctx` is NULL. */
typedef struct hydra_filter_call {
    ap_filter_t *f;
    apr_bucket_brigade *bb; /* output: what was handed in; input: what to fill;
                               SSI: what mod_include is building */
    int is_input;
    ap_input_mode_t mode; /* input only: what the caller asked for */
    apr_read_type_e block;
    apr_off_t readbytes;
    hydra_filter_ctx *ctx; /* NULL for an SSI tag */
    int is_ssi;
} hydra_filter_call;

/* httpd filter functions, for every Python filter name and for MOD_PYTHON. */
apr_status_t filter_output(ap_filter_t *f, apr_bucket_brigade *bb);
apr_status_t filter_input(ap_filter_t *f, apr_bucket_brigade *bb, ap_input_mode_t mode,
                          apr_read_type_e block, apr_off_t readbytes);

/* Registers the generic MOD_PYTHON input and output filters (register_hooks). */
void filter_register_generic(void);

/* Registers a PythonInputFilter/PythonOutputFilter name with httpd
 * (config.c, when the directive is parsed). */
void filter_register_name(const char *name, int is_input);

/* Inserts the generic filter bound to `reg` (a per-request registration,
 * req.register_*_filter) into r's chain; same as
 * ap_add_*_filter(HYDRA_GENERIC_FILTER, reg, r, r->connection). */
apr_status_t filter_add_registered(request_rec *r, const hydra_filter_reg *reg);

/* mp_filter (objects/filter.c) ---------------------------------------- */

extern PyType_Spec hydra_filter_spec; /* "_apache.mp_filter" */

/* A filter object for one call; `req` is the request object (may be
 * None). New reference, NULL + exception on failure. */
PyObject *filter_object_new(hydra_apache_state *st, const hydra_filter_call *call, PyObject *req);

/* The apr_status_t of the last brigade operation (APR_SUCCESS if none). */
apr_status_t filter_object_status(PyObject *filter);

/* 1 once close() (or pass_on() of an EOS) ended the stream. */
int filter_object_closed(PyObject *filter);

/* Ends the call: the object keeps no pointer into the brigade or the
 * filter, and every I/O method raises from now on. */
void filter_object_detach(PyObject *filter);

#endif /* HYDRA_FILTER_H */
