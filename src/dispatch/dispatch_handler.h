/*
 * dispatch_handler.h - phases and handler entries (see dispatch_handler.c).
 * Used by the directive parser (glue) and by req.add_handler (through the
 * object services, dispatch_services.c).
 */
#ifndef HYDRA_DISPATCH_HANDLER_H
#define HYDRA_DISPATCH_HANDLER_H

#include "hydra.h"
#include "glue/glue_config.h"

/* "PythonHandler", ... indexed by hydra_phase. */
extern const char *const hydra_phase_names[HYDRA_PHASE_COUNT];
/* "handler", ... : the default callable of each phase. */
extern const char *const hydra_phase_default_callables[HYDRA_PHASE_COUNT];

/* Builds one handler entry from "mod[::obj]". `directory` is stored as
 * given. */
hydra_handler *hydra_handler_new(apr_pool_t *p, const char *text, const char *directory,
                                 int is_location, int silent);

/* Canonicalises a directory the way <Directory> paths are: absolute true
 * name with a trailing "/". On failure returns `dir` unchanged. */
const char *hydra_canonical_dir(apr_pool_t *p, const char *dir);

#endif /* HYDRA_DISPATCH_HANDLER_H */
