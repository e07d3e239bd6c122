/*
 * interp_gilstate.c - keeps CPython's PyGILState bookkeeping pointing at the
 * thread state that is running, so extensions that re-enter through
 * PyGILState_Ensure() (sqlite3's callbacks, interpreters.md §8) find it.
 *
 * Why a file of its own: CPython 3.12+ does this itself (activating a
 * thread state binds it as the thread's GIL-state thread state), but 3.11
 * binds only the first thread state ever created on a thread. There is no
 * public API to rebind on 3.11, so for 3.11 alone this file reads the
 * runtime's GIL-state TSS key through the internal headers.
 */
#include <patchlevel.h> /* PY_VERSION_HEX, before deciding how to include Python.h */

#if PY_VERSION_HEX < 0x030C0000
#define Py_BUILD_CORE 1 /* this file only: the internal headers need it */
#include <Python.h>
#include "internal/pycore_runtime.h"
#else
#include <Python.h>
#endif

#include "core/interp_gilstate.h"

void interp_gilstate_bind(PyThreadState *tstate)
{
#if PY_VERSION_HEX < 0x030C0000
    Py_tss_t *key = &_PyRuntime.gilstate.autoTSSkey;
    if (PyThread_tss_get(key) != (void *)tstate)
        PyThread_tss_set(key, (void *)tstate);
#else
    (void)tstate; /* 3.12+: tstate_activate() binds it already */
#endif
}
