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

/* The Apache module record. Its symbol name is fixed by mod_python 3.5
 * compatibility: configurations say `LoadModule python_module ...`. */
extern module AP_MODULE_DECLARE_DATA python_module;

/* mod_python.version.version must match this (interpreters.md §2). */
#define HYDRA_MP_VERSION "3.5.0"
#define HYDRA_VERSION "0.1.0"

#endif /* HYDRA_H */
