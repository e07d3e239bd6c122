"""Module loading for handlers (python-api.md §2.2, §3.3).

What this module owns: ``import_module()`` with autoreload, the per-module
locks that serialise a module's check-and-reload, ``module_mtime()`` and
``resolve_object()``. The C side calls ``import_module`` and
``resolve_object`` through mod_python.apache, which re-exports them; the
lock tables below are the only copies.

What it must not do: touch sys.path (PythonPath belongs to
mod_python.apache) or import mod_python.apache, which imports this module.
"""

import _thread
import os
import sys
import time

# importlib.import_module(name) is exactly _bootstrap._gcd_import(name) for
# an absolute name, and _bootstrap is _frozen_importlib, which every
# interpreter has loaded at start. Calling it directly spares each new
# interpreter the import of the importlib package (and of warnings behind
# it on 3.11); only a reload imports importlib.
from _frozen_importlib import _gcd_import

import _apache

from ._constants import APLOG_NOTICE

# One lock per module name serialises the check-and-reload of that module.
# First imports need no lock of ours: importlib's own module locks make a
# second thread wait until the first has finished executing the module.
_module_locks = {}
_module_locks_guard = _thread.allocate_lock()
# Names being reloaded right now: a caller must not get such a module
# before the reload has finished, even when its own check is not due.
_reloading = set()


def _module_lock(name):
    with _module_locks_guard:
        lock = _module_locks.get(name)
        if lock is None:
            lock = _module_locks[name] = _thread.RLock()
        return lock


def module_mtime(module):
    """Newest mtime of the module's file (and of that path minus its last
    character, so foo.pyc also looks at foo.py); 0 if it has no file."""
    mtime = 0
    filename = getattr(module, "__file__", None)
    if filename:
        for candidate in (filename, filename[:-1]):
            try:
                mtime = max(mtime, os.stat(candidate).st_mtime)
            except OSError:
                pass
    module.__mtime_check__ = time.time()
    return mtime


def _log_import(module_name, path):
    # Straight to _apache: apache.log_error would add nothing for a string
    # message with a level, and this module cannot import mod_python.apache.
    if path:
        message = ("HYDRA0502: mod_python: (Re)importing module '%s' with path set to '%s'"
                   % (module_name, path))
    else:
        message = "HYDRA0502: mod_python: (Re)importing module '%s'" % module_name
    _apache.log_error(message, APLOG_NOTICE, None)


def _is_initializing(module):
    spec = getattr(module, "__spec__", None)
    return bool(getattr(spec, "_initializing", False))


def _load_from_path(module_name, path):
    """Loads `module_name` afresh from the directories `path` only and puts
    it in sys.modules (replacing what was there)."""
    import importlib.machinery
    import importlib.util
    spec = importlib.machinery.PathFinder.find_spec(module_name, list(path))
    if spec is None or spec.loader is None:
        raise ImportError("No module named '%s' in %r" % (module_name, path),
                          name=module_name)
    module = importlib.util.module_from_spec(spec)
    previous = sys.modules.get(module_name)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        if previous is None:
            sys.modules.pop(module_name, None)
        else:
            sys.modules[module_name] = previous
        raise
    return sys.modules[module_name]


def _outside_path(module, path):
    filename = getattr(module, "__file__", None) or ""
    return not any(filename.startswith(entry) for entry in path)


def _first_import(module_name, log, path):
    # Threads that find the module half-imported only wait for it: they
    # do not log an import of their own.
    if log and module_name not in sys.modules:
        _log_import(module_name, path)
    if path:
        with _module_lock(module_name):
            module = sys.modules.get(module_name)
            if module is None or _outside_path(module, path):
                module = _load_from_path(module_name, path)
    elif module_name.startswith("."):
        # A relative name without a package: importlib's own error.
        import importlib
        module = importlib.import_module(module_name)
    else:
        module = _gcd_import(module_name)
    module.__mtime__ = module_mtime(module)
    return module


# How long a thread waits for another thread's reload of a module. Past
# that the module is used as it is: two modules whose reloads import each
# other from two threads would otherwise wait for each other for ever.
_RELOAD_WAIT = 10.0


def _wait_for_reload(module_name):
    if module_name in _reloading:
        lock = _module_lock(module_name)
        if lock.acquire(timeout=_RELOAD_WAIT):
            lock.release()
    return sys.modules.get(module_name)


def _check_and_reload(module_name, module, log, path):
    """Reloads `module` if it changed on disk (or lives outside `path`).
    Caller holds the module's lock."""
    if path and _outside_path(module, path):
        if log:
            _log_import(module_name, path)
        module = _load_from_path(module_name, path)
        module.__mtime__ = module_mtime(module)
        return module
    last_check = getattr(module, "__mtime_check__", 0)
    if time.time() - last_check < 1:
        return module
    mtime = module_mtime(module)
    known = getattr(module, "__mtime__", None)
    if known is None:
        # Imported by ordinary means (e.g. by another module): it is as
        # current as its file was then; start watching it from here.
        module.__mtime__ = mtime
        return module
    if mtime == known:
        return module
    if log:
        _log_import(module_name, path)
    _reloading.add(module_name)
    try:
        # (deviation) upstream re-ran importlib.import_module, which returns
        # the cached module: autoreload never worked on Python 3.
        import importlib
        module = importlib.reload(module)
    finally:
        _reloading.discard(module_name)
    module.__mtime__ = mtime
    return module


def import_module(module_name, autoreload=1, log=0, path=None):
    """Imports (or reloads when its file changed) and returns a module."""
    module = sys.modules.get(module_name)
    if module is None or _is_initializing(module):
        return _first_import(module_name, log, path)
    if not autoreload:
        return _wait_for_reload(module_name) or module
    if not getattr(module, "__file__", None):
        # Built-in module or namespace package: nothing to reload, ever.
        return module
    if not path and module_name not in _reloading and \
            time.time() - getattr(module, "__mtime_check__", 0) < 1:
        return module
    lock = _module_lock(module_name)
    if not lock.acquire(timeout=_RELOAD_WAIT):
        return sys.modules.get(module_name, module)
    try:
        module = sys.modules.get(module_name, module)
        return _check_and_reload(module_name, module, log, path)
    finally:
        lock.release()


def resolve_object(module, obj_str, arg=None, silent=0):
    """Walks the dotted `obj_str` from `module` (python-api.md §3.3). An
    attribute found on a class is taken from an instance made as cls(arg)."""
    obj = module
    for name in obj_str.split("."):
        holder = obj
        if not hasattr(holder, name):
            if silent:
                return None
            if holder is module:
                raise AttributeError("module '%s' contains no '%s'"
                                     % (getattr(module, "__file__", module.__name__), name))
        obj = getattr(holder, name)
        if isinstance(holder, type):
            obj = getattr(holder(arg), name)
    return obj
