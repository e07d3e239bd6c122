"""mod_python.apache: the public Python API of the module and the Python side
of the C <-> Python contract (docs/internals.md).

What this module owns:
  * the module attributes of python-api.md §2.3 (``interpreter`` and
    ``main_server`` are set by ``init()``; this is their only copy) and the
    functions of §2.1;
  * ``init()``, which the C side calls once in every new interpreter, and the
    ``CallBack`` object it returns: error reporting (``ReportError``, used by
    C for every handler error), PythonImport (``ImportDispatch``), and the
    filter / connection / SSI dispatchers;
  * sys.path handling: ``_apply_pythonpath()`` evaluates PythonPath with
    this module's globals.

Request phases are dispatched in C (the hot path). The rest lives in private
modules, one job each, and every name is reachable here as ``apache.NAME``:
  * ``_constants``: OK, DECLINED, HTTP_*, APLOG_* and the other constants;
  * ``_importer``: ``import_module()`` with autoreload, ``resolve_object()``;
  * ``_errors``: the work behind ``ReportError``, loaded on the first error;
  * ``_cgi``: CGI emulation (``setup_cgi()`` & co.), loaded on first use.

This module is imported only inside httpd: it needs the built-in ``_apache``.
"""

import _thread
import sys
# io, os and time are not used here any more. They stay because they were
# always apache.* names, and PythonPath expressions are evaluated with this
# module's globals (``os.path.join(...)`` in a PythonPath must keep working).
import io  # noqa: F401
import os  # noqa: F401
import time  # noqa: F401

# html, traceback, pdb, _errors and _cgi are imported where they are used:
# every new interpreter imports this module, and those imports (with re,
# enum, functools behind them) cost milliseconds and memory per
# interpreter for code that only runs when something fails or a CGI
# script runs. importlib is not imported here either (nor by _importer,
# except to reload): the package and, on 3.11, warnings behind it cost
# about 60 KiB per interpreter.

import _apache

from ._constants import *  # noqa: F401,F403 (python-api.md §2.4)
from ._importer import (  # noqa: F401
    _RELOAD_WAIT, _check_and_reload, _first_import, _is_initializing, _load_from_path,
    _log_import, _module_lock, _module_locks, _module_locks_guard, _outside_path,
    _reloading, _wait_for_reload, import_module, module_mtime, resolve_object)

# ---------------------------------------------------------------------------
# Module attributes (python-api.md §2.3)

interpreter = None   # registry name of this interpreter, set by init()
interpreter_replica = 0  # index of this replica in its PythonInterpPool (Hydra)
main_server = None   # server object of the main server, set by init()

SERVER_RETURN = _apache.SERVER_RETURN


class RequestTimeout(BaseException):
    """Raised inside a handler, filter or connection handler that ran longer
    than PythonRequestTimeout (beyond.md §5). A BaseException, so that
    ``except Exception:`` in applications does not swallow it; Hydra answers
    504 (or closes the connection if output was sent)."""


def _drain_request_timeout():
    """Called by C after an interrupted handler returned before Python saw
    the RequestTimeout the watchdog set: running this function lets CPython
    deliver it here, where C drops it (dispatch_watchdog.c)."""
    return None

# httpd's compile-time module magic number; 2.4 has major 20120211.
MODULE_MAGIC_NUMBER_MAJOR = getattr(_apache, "MODULE_MAGIC_NUMBER_MAJOR", 20120211)
MODULE_MAGIC_NUMBER_MINOR = getattr(_apache, "MODULE_MAGIC_NUMBER_MINOR", 0)

# ---------------------------------------------------------------------------
# Thin wrappers over _apache (python-api.md §2.1, §11).
#
# They look the C function up at call time rather than binding it at import,
# so that one missing low-level function costs only its callers, not the
# import of the whole package.

table = _apache.table
make_table = table


def log_error(message, level=APLOG_ERR, server=None):
    """Logs `message` through ap_log_error. Level 0 means "not given" and
    logs at ERR (upstream quirk, kept: APLOG_EMERG therefore logs at ERR)."""
    if message is None:
        return
    if not level:
        level = APLOG_ERR
    _apache.log_error(message, level, server)


def register_cleanup(callable, data=None):
    """Runs callable(data) at child exit, in this interpreter."""
    _apache.register_cleanup(interpreter, main_server, callable, data)


def config_tree():
    return _apache.config_tree()


def server_root():
    return _apache.server_root()


def mpm_query(code):
    return _apache.mpm_query(code)


def exists_config_define(name):
    return _apache.exists_config_define(name)


def stat(fname, wanted):
    return _apache.stat(fname, wanted)


def interpreters():
    """Inventory of the interpreters of this child (beyond.md §2)."""
    return _apache.interpreters()


def parse_qs(qs, keep_blank_values=0, strict_parsing=0):
    return _apache.parse_qs(qs, keep_blank_values, strict_parsing)


def parse_qsl(qs, keep_blank_values=0, strict_parsing=0):
    return _apache.parse_qsl(qs, keep_blank_values, strict_parsing)


# ---------------------------------------------------------------------------
# Interpreter initialisation (interpreters.md §2)

def init(name, server):
    """Called by C exactly once per interpreter, right after creating it."""
    global interpreter, main_server
    interpreter = name
    main_server = server
    sys.argv = ["mod_python"]
    return CallBack()


# ---------------------------------------------------------------------------
# sys.path handling (directives.md §5.11, §6.2)

_path_lock = _thread.RLock()
# Every PythonPath string already applied in this interpreter. The C side
# keeps its own copy as a fast path; this one makes _apply_pythonpath safe
# to call from both sides.
_pythonpath_applied = set()


def _apply_pythonpath(expr):
    """Evaluates a PythonPath string with this module's globals and replaces
    sys.path's contents with the result, once per distinct string. Returns
    True if it was applied now."""
    with _path_lock:
        if expr in _pythonpath_applied:
            return False
        value = eval(expr, globals())
        sys.path[:] = value
        _pythonpath_applied.add(expr)
        return True


def _add_handler_directory(directory):
    """Puts a handler's directory in front of sys.path unless present."""
    with _path_lock:
        if directory not in sys.path:
            sys.path.insert(0, directory)


def _prepare_sys_path(pythonpath, directory, is_location):
    if pythonpath:
        _apply_pythonpath(pythonpath)
    elif directory and not is_location:
        _add_handler_directory(directory)


# ---------------------------------------------------------------------------
# The dispatcher object

def _flag(config, name, default):
    value = config.get(name)
    if value is None:
        return default
    return value == "1"


def _split_handler(handler, default):
    module_name, _, object_str = handler.partition("::")
    return module_name, object_str or default


def _server_return_status(exc, req):
    """The result a SERVER_RETURN stands for; applies its HTTP status."""
    args = exc.args
    if len(args) == 1 and isinstance(args[0], tuple):
        args = args[0]
    if len(args) > 1 and args[1] and req is not None:
        req.status = args[1]
    return args[0] if args else OK


def _call_with_pdb(obj, arg):
    import pdb
    debugger = pdb.Pdb()
    debugger.reset()
    sys.settrace(debugger.trace_dispatch)
    try:
        return obj(arg)
    finally:
        debugger.quitting = 1
        sys.settrace(None)


def _call_handler(obj, arg, config):
    """Calls a handler, filter or connection callable, under pdb when
    PythonEnablePdb is on and httpd runs with -DONE_PROCESS."""
    if config.get("PythonEnablePdb") == "1" and exists_config_define("ONE_PROCESS"):
        return _call_with_pdb(obj, arg)
    return obj(arg)


def _check_int_result(result, handler):
    # An explicit check rather than `assert`, so PythonOptimize keeps it.
    if result.__class__ is not int:
        raise AssertionError("Handler '%s' returned invalid return code: "
                             "a non-int of type %s" % (handler, type(result).__name__))


class CallBack:
    """The object C keeps per interpreter and calls into."""

    # -- error reporting (python-api.md §1.5) ------------------------------

    def ReportError(self, etype, evalue, etb, conn=None, req=None, filter=None,
                    phase="N/A", hname="N/A", debug=0):
        """Logs a handler error and, with PythonDebug, shows it to the client.
        Returns DONE if a page was sent, else HTTP_INTERNAL_SERVER_ERROR."""
        from . import _errors
        try:
            return _errors.report_error(etype, evalue, etb, conn, req, filter,
                                        phase, hname, debug)
        finally:
            etb = None

    # Filters (python-api.md §1.3) are called from C (dispatch_filter.c).

    # -- connection handlers (python-api.md §1.4) --------------------------

    def ConnectionDispatch(self, conn):
        config = conn.base_server.get_config()
        debug = config.get("PythonDebug") == "1"
        handler = conn.hlist.handler
        try:
            module_name, object_str = _split_handler(handler, "connectionhandler")
            pythonpath = config.get("PythonPath")
            if pythonpath:
                _apply_pythonpath(pythonpath)
            module = import_module(module_name,
                                   autoreload=_flag(config, "PythonAutoReload", True),
                                   log=debug)
            obj = resolve_object(module, object_str, arg=conn, silent=0)
            try:
                result = _call_handler(obj, conn, config)
            except SERVER_RETURN as exc:
                result = _server_return_status(exc, None)
            _check_int_result(result, handler)
            return result
        except RequestTimeout:
            raise   # C ends the connection; not a handler error
        except BaseException:
            return self.ReportError(*sys.exc_info(), conn=conn, phase="ConnectionHandler",
                                    hname=handler, debug=debug)

    # -- SSI #python tags (python-api.md §1.6) -----------------------------

    def IncludeDispatch(self, filter, tag, code):
        req = filter.req
        namespace = None
        try:
            if not hasattr(req, "ssi_globals"):
                req.ssi_globals = {}
            namespace = req.ssi_globals
            namespace["filter"] = filter
            namespace["__file__"] = req.filename
            code = code.replace("\r\n", "\n").rstrip()
            source_name = req.filename or "<ssi>"
            if tag == "eval":
                result = eval(compile(code, source_name, "eval"), namespace)
                if result is not None:
                    filter.write(str(result))
            elif tag == "exec":
                exec(compile(code, source_name, "exec"), namespace)
            else:
                raise ValueError("unknown #python attribute %r" % (tag,))
            filter.flush()
            return OK
        except BaseException:
            # Never a traceback inside the page: C writes mod_include's
            # error text in place of the tag.
            return self.ReportError(*sys.exc_info(), req=req, phase=filter.name,
                                    hname=req.filename, debug=0)
        finally:
            if namespace is not None:
                namespace["filter"] = None

    # -- PythonImport (interpreters.md §12) --------------------------------

    def ImportDispatch(self, module_spec):
        config = main_server.get_config()
        debug = config.get("PythonDebug") == "1"
        module_name, _, function_name = module_spec.partition("::")
        try:
            pythonpath = config.get("PythonPath")
            if pythonpath:
                _apply_pythonpath(pythonpath)
            module = import_module(module_name, log=debug)
            if function_name:
                getattr(module, function_name)()
            return OK
        except BaseException:
            import traceback
            traceback.print_exc()
            sys.stderr.flush()
            log_error("HYDRA0503: directive_PythonImport: error importing %s" % module_spec,
                      APLOG_ERR, main_server)
            return HTTP_INTERNAL_SERVER_ERROR


# ---------------------------------------------------------------------------
# Names served on first use (PEP 562), from modules that most interpreters
# never need. Each is cached in this module's globals once looked up.

_LAZY_NAMES = {
    "build_cgi_env": "_cgi", "setup_cgi": "_cgi", "restore_nocgi": "_cgi",
    "NullIO": "_cgi", "CGIStdin": "_cgi", "CGIStdout": "_cgi", "_RequestBody": "_cgi",
    "_OWN_GIL_IMPORT_ERROR": "_errors", "_is_write_failure": "_errors",
    "_own_gil_hint": "_errors",
}


def __getattr__(name):
    if name == "__all__":
        # Built on demand (it costs as much as a small import): `from
        # mod_python.apache import *` gives what it gave when every name
        # was defined here, the lazy ones included.
        value = sorted(n for n in __dir__() if not n.startswith("_"))
    elif name == "importlib":
        # Imported at the top of this module until 0.1: still an apache.*
        # name, but only imported when someone asks for it.
        import importlib as value
    else:
        module_name = _LAZY_NAMES.get(name)
        if module_name is None:
            raise AttributeError("module %r has no attribute %r" % (__name__, name))
        qualified = __package__ + "." + module_name
        __import__(qualified)
        value = getattr(sys.modules[qualified], name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY_NAMES) | {"importlib"})
