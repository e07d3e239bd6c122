/*
 * dispatch_filter.h - Python input and output filters (directives.md §5.8,
 * python-api.md §1.3): the httpd filter functions and their registration.
 * The per-call state and the `mp_filter` object they hand to Python are
 * the object layer's (objects/obj_filter.h).
 */
#ifndef HYDRA_FILTER_H
#define HYDRA_FILTER_H

#include "hydra.h"
#include "glue/glue_config.h"
#include "objects/obj_filter.h"

/* The name of the generic filter (httpd stores it lower-cased). Requests
 * get it through req.add_*_filter() for per-request registrations. */
#define HYDRA_GENERIC_FILTER "MOD_PYTHON"
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

#endif /* HYDRA_FILTER_H */
