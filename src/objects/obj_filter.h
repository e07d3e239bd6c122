/*
 * obj_filter.h - the `mp_filter` object (python-api.md §8) and the per-call
 * state it wraps: what one call of a Python filter (or one SSI #python tag)
 * may read, write and pass on. The dispatch layer makes the calls
 * (dispatch_filter.c, dispatch_ssi.c); this layer owns the object.
 */
#ifndef HYDRA_OBJ_FILTER_H
#define HYDRA_OBJ_FILTER_H

#include "hydra.h"
#include "glue/glue_config.h"
#include "objects/obj_apache_module.h"
#include "apr_buckets.h"
#include "util_filter.h"

/* State of one filter instance (f->ctx), kept for the whole request: the
 * filter is called once per brigade and each call gets a fresh mp_filter,
 * so what must survive between calls lives here.
 *
 * An instance of the generic filter starts with f->ctx = the
 * hydra_filter_reg it runs (what ap_add_*_filter was given); the first
 * call replaces it with one of these. `tag` tells the two apart: it
 * holds an address private to dispatch_filter.c, while a hydra_filter_reg starts
 * with a pointer to its name in a pool. */
typedef struct hydra_filter_ctx {
    const void *tag;
    const hydra_filter_reg *reg;
    int transparent;             /* set by filter.disable(): pass-through */
    int timed_out;               /* PythonRequestTimeout interrupted it: drops all */
    apr_bucket_brigade *fetched; /* input: read from f->next, not yet consumed */
    apr_bucket_brigade *queue;   /* output: written, not yet passed to f->next */
} hydra_filter_ctx;

/* One call of a filter function, as the mp_filter object sees it.
 *
 * An SSI `#python` tag (dispatch_ssi.c) is a call too, of mod_include's INCLUDES
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

#endif /* HYDRA_OBJ_FILTER_H */
