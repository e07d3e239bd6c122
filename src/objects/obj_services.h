/*
 * obj_services.h - what the object layer needs from the layer above it.
 *
 * A few methods of the Python objects do dispatch work: req.add_handler(),
 * per-request filters, cleanups that must run inside an interpreter later,
 * and the request objects of req.main/prev/next. The object layer never
 * calls the dispatch layer directly (that would make the two call each
 * other); the dispatch layer installs this table once, at child start,
 * before any Python runs, and the objects call through it.
 *
 * Every function is called with the GIL of the calling interpreter held
 * and returns 0 (or a new/borrowed object as said), or -1 (NULL) with a
 * Python exception set.
 */
#ifndef HYDRA_OBJ_SERVICES_H
#define HYDRA_OBJ_SERVICES_H

#include "hydra.h"

typedef struct obj_services {
    /* The request object of `r` in the calling interpreter (borrowed). */
    PyObject *(*request_object)(request_rec *r);
    /* req.add_handler(phase, handler, dir=None). */
    int (*add_handler)(request_rec *r, const char *phase, const char *handler, const char *dir);
    /* req.register_input_filter / register_output_filter(name, handler, dir=None). */
    int (*register_filter)(request_rec *r, const char *name, const char *handler, const char *dir,
                           int is_input);
    /* req.add_input_filter / add_output_filter(name). */
    int (*add_filter)(request_rec *r, const char *name, int is_input);
    /* req.register_cleanup(callable, data): at the end of the request, in
     * the calling interpreter. */
    int (*register_request_cleanup)(request_rec *r, PyObject *callable, PyObject *data);
    /* apache.register_cleanup / server.register_cleanup: at child exit, in
     * interpreter `interp_name` (NULL or "main_interpreter" = main). */
    int (*register_child_cleanup)(const char *interp_name, server_rec *s, PyObject *callable,
                                  PyObject *data);
} obj_services;

/* Installs the table (dispatch, at child start). */
void obj_services_install(const obj_services *services);

/* The installed table. */
extern const obj_services *obj_services_table;

#endif /* HYDRA_OBJ_SERVICES_H */
