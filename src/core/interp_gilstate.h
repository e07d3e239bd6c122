/*
 * interp_gilstate.h - see interp_gilstate.c.
 */
#ifndef HYDRA_INTERP_GILSTATE_H
#define HYDRA_INTERP_GILSTATE_H

#include <Python.h>

/* Makes `tstate` (current, GIL held) the calling thread's GIL-state thread
 * state. Call after every PyEval_RestoreThread of a Hydra thread state. */
void interp_gilstate_bind(PyThreadState *tstate);

#endif
