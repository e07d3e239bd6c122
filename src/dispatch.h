/*
 * dispatch.h - running Python handlers for a request phase: pick the list,
 * name and acquire the interpreter, call each handler, chain the results
 * (directives.md §3.2, §4; python-api.md §1.2).
 */
#ifndef HYDRA_DISPATCH_H
#define HYDRA_DISPATCH_H

#include "hydra.h"
#include "config.h"

/* Runs the handlers of `phase` for `r`; returns what httpd should see
 * (DECLINED when there is nothing to run: no Python is touched then). */
int dispatch_phase(request_rec *r, hydra_phase phase);

/* The interpreter name for an invocation on `r` (interpreters.md §3) with
 * `conf` in effect and `head_dir` the directory of the head handler or of
 * the filter registration. NULL means the main interpreter. */
const char *dispatch_interpreter_name(request_rec *r, const hydra_config *conf,
                                      const char *head_dir);

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

#endif /* HYDRA_DISPATCH_H */
