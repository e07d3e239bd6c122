/*
 * hydra.h - what every Hydra source file needs: Python first (it must be
 * included before any system header), then the Apache and APR headers, the
 * module record, and the version strings compiled into the module.
 *
 * Nothing here owns state; see DESIGN.md for the layers.
 */
#ifndef HYDRA_H
#define HYDRA_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "ap_mpm.h"
#include "apr_strings.h"
#include "apr_hash.h"
#include "apr_tables.h"
#include "apr_thread_mutex.h"
#include "apr_thread_cond.h"

/* Python.h defines these as well; Apache's values are the ones we want. */
#ifdef APLOG_USE_MODULE
APLOG_USE_MODULE(python);
#endif

/* Every error-log message Hydra writes starts with a stable id of its own,
 * written out in the format string ("HYDRA0101: text") so that grep finds
 * it; docs/messages.md lists them. Ranges: 01xx interpreter core, 02xx
 * dispatch, 03xx objects, 04xx Apache glue, 05xx the mod_python package.
 * Never reuse or renumber an id; a new message takes the next free one. */

/* The Apache module record. Its symbol name is fixed by mod_python 3.5
 * compatibility: configurations say `LoadModule python_module ...`. */
extern module AP_MODULE_DECLARE_DATA python_module;

/* The process-wide main server and the child pool, set in child_init
 * before Python starts (glue_module.c). The child pool's cleanups run the
 * child-exit callbacks. */
extern server_rec *hydra_main_server;
extern apr_pool_t *hydra_child_pool;

/* Copies of python/mod_python/version.py, where both are set: `version`
 * (mod_python.version.version must match HYDRA_MP_VERSION, interpreters.md
 * §2) and `hydra_version`, Hydra's release (also the Debian package's).
 * scripts/check-version.sh, run by `make lint`, fails when they differ. */
#define HYDRA_MP_VERSION "3.5.0"
#define HYDRA_VERSION "0.1.0"

#endif /* HYDRA_H */
