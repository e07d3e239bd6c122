/*
 * dispatch.h - the public face of the dispatch layer for the glue: running
 * Python handlers for a request phase (pick the list, name and acquire the
 * interpreter, call each handler, chain the results; directives.md §3.2,
 * §4; python-api.md §1.2), and what child_init must start.
 */
#ifndef HYDRA_DISPATCH_H
#define HYDRA_DISPATCH_H

#include "hydra.h"
#include "glue/glue_config.h"

/* Runs the handlers of `phase` for `r`; returns what httpd should see
 * (DECLINED when there is nothing to run: no Python is touched then). */
int dispatch_phase(request_rec *r, hydra_phase phase);

/* The content handler hook: only for SetHandler mod_python/python-program. */
int dispatch_content(request_rec *r);

/* post_read_request: PythonInitHandler, then PythonPostReadRequestHandler. */
int dispatch_post_read_request(request_rec *r);

/* header_parser: PythonInitHandler unless it ran at post-read time, then
 * PythonHeaderParserHandler (directives.md §3.3). */
int dispatch_header_parser(request_rec *r);

/* translate_name, after PythonTransHandler: OK for Location handlers so
 * that no file mapping happens (directives.md §3.4). */
int dispatch_location_skip(request_rec *r);

/* Runs PythonCleanupHandler from the request-pool cleanup. */
void dispatch_cleanup_phase(request_rec *r);

/* child_init: installs the services the objects call (before Python
 * starts), starts the interpreter core with the dispatch layer's
 * interpreter hook, then runs PythonImport. `bytecode_cache` is the
 * PythonBytecodeCache directory, or NULL. Returns APR_SUCCESS, or an
 * error after logging it (every invocation then answers 500). */
apr_status_t dispatch_child_init(apr_pool_t *pchild, server_rec *s, int optimize,
                                 int max_interpreters, const char *bytecode_cache,
                                 apr_hash_t *creation_hints);

#endif /* HYDRA_DISPATCH_H */
