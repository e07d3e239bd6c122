"""mod_python.apache: the public Python API of the module and the Python side
of the C <-> Python contract (docs/internals.md).

What this module owns:
  * the constants of python-api.md §2.4 and the functions of §2.1;
  * ``init()``, which the C side calls once in every new interpreter, and the
    ``CallBack`` object it returns: error reporting (``ReportError``, used by
    C for every handler error), PythonImport (``ImportDispatch``), and the
    filter / connection / SSI dispatchers;
  * ``import_module()`` with autoreload, and ``_apply_pythonpath()``.

Request phases are dispatched in C (the hot path). ``CallBack.
HandlerDispatch`` is a faithful Python rendering of the same algorithm
(python-api.md §1.2), kept for compatibility and as executable
documentation; C does not call it.

This module is imported only inside httpd: it needs the built-in ``_apache``.
"""

import _thread
import importlib
import io
import os
import sys
import time

# html, traceback and importlib.util are imported where they are used:
# every new interpreter imports this module, and those imports (with re,
# enum, functools behind them) cost milliseconds and memory per
# interpreter for code that only runs when something fails.

import _apache

# ---------------------------------------------------------------------------
# Module attributes (python-api.md §2.3)

interpreter = None   # registry name of this interpreter, set by init()
main_server = None   # server object of the main server, set by init()

SERVER_RETURN = _apache.SERVER_RETURN

# httpd's compile-time module magic number; 2.4 has major 20120211.
MODULE_MAGIC_NUMBER_MAJOR = getattr(_apache, "MODULE_MAGIC_NUMBER_MAJOR", 20120211)
MODULE_MAGIC_NUMBER_MINOR = getattr(_apache, "MODULE_MAGIC_NUMBER_MINOR", 0)

# ---------------------------------------------------------------------------
# Constants (python-api.md §2.4), exact values.

OK = REQ_PROCEED = 0
DECLINED = REQ_NOACTION = -1
DONE = -2
REQ_ABORTED = 500
REQ_EXIT = "REQ_EXIT"

HTTP_CONTINUE = 100
HTTP_SWITCHING_PROTOCOLS = 101
HTTP_PROCESSING = 102
HTTP_OK = 200
HTTP_CREATED = 201
HTTP_ACCEPTED = 202
HTTP_NON_AUTHORITATIVE = 203
HTTP_NO_CONTENT = 204
HTTP_RESET_CONTENT = 205
HTTP_PARTIAL_CONTENT = 206
HTTP_MULTI_STATUS = 207
HTTP_MULTIPLE_CHOICES = 300
HTTP_MOVED_PERMANENTLY = 301
HTTP_MOVED_TEMPORARILY = 302
HTTP_SEE_OTHER = 303
HTTP_NOT_MODIFIED = 304
HTTP_USE_PROXY = 305
HTTP_TEMPORARY_REDIRECT = 307
HTTP_BAD_REQUEST = 400
HTTP_UNAUTHORIZED = 401
HTTP_PAYMENT_REQUIRED = 402
HTTP_FORBIDDEN = 403
HTTP_NOT_FOUND = 404
HTTP_METHOD_NOT_ALLOWED = 405
HTTP_NOT_ACCEPTABLE = 406
HTTP_PROXY_AUTHENTICATION_REQUIRED = 407
HTTP_REQUEST_TIME_OUT = 408
HTTP_CONFLICT = 409
HTTP_GONE = 410
HTTP_LENGTH_REQUIRED = 411
HTTP_PRECONDITION_FAILED = 412
HTTP_REQUEST_ENTITY_TOO_LARGE = 413
HTTP_REQUEST_URI_TOO_LARGE = 414
HTTP_UNSUPPORTED_MEDIA_TYPE = 415
HTTP_RANGE_NOT_SATISFIABLE = 416
HTTP_EXPECTATION_FAILED = 417
HTTP_IM_A_TEAPOT = 418
HTTP_UNPROCESSABLE_ENTITY = 422
HTTP_LOCKED = 423
HTTP_FAILED_DEPENDENCY = 424
HTTP_UPGRADE_REQUIRED = 426
HTTP_INTERNAL_SERVER_ERROR = 500
HTTP_NOT_IMPLEMENTED = 501
HTTP_BAD_GATEWAY = 502
HTTP_SERVICE_UNAVAILABLE = 503
HTTP_GATEWAY_TIME_OUT = 504
HTTP_VERSION_NOT_SUPPORTED = 505
HTTP_VARIANT_ALSO_VARIES = 506
HTTP_INSUFFICIENT_STORAGE = 507
HTTP_NOT_EXTENDED = 510

APLOG_EMERG = 0
APLOG_ALERT = 1
APLOG_CRIT = 2
APLOG_ERR = 3
APLOG_WARNING = 4
APLOG_NOTICE = 5
APLOG_INFO = 6
APLOG_DEBUG = 7
APLOG_NOERRNO = 0  # deprecated, no effect

REMOTE_HOST = 0
REMOTE_NAME = 1
REMOTE_NOLOOKUP = 2
REMOTE_DOUBLE_REV = 3

FINFO_MODE = 0
FINFO_INO = 1
FINFO_DEV = 2
FINFO_NLINK = 3
FINFO_UID = 4
FINFO_GID = 5
FINFO_SIZE = 6
FINFO_ATIME = 7
FINFO_MTIME = 8
FINFO_CTIME = 9
FINFO_FNAME = 10
FINFO_NAME = 11
FINFO_FILETYPE = 12

URI_SCHEME = 0
URI_HOSTINFO = 1
URI_USER = 2
URI_PASSWORD = 3
URI_HOSTNAME = 4
URI_PORT = 5
URI_PATH = 6
URI_QUERY = 7
URI_FRAGMENT = 8

PROXYREQ_NONE = 0
PROXYREQ_PROXY = 1
PROXYREQ_REVERSE = 2
PROXYREQ_RESPONSE = 3

M_GET = 0
M_PUT = 1
M_POST = 2
M_DELETE = 3
M_CONNECT = 4
M_OPTIONS = 5
M_TRACE = 6
M_PATCH = 7
M_PROPFIND = 8
M_PROPPATCH = 9
M_MKCOL = 10
M_COPY = 11
M_MOVE = 12
M_LOCK = 13
M_UNLOCK = 14
M_VERSION_CONTROL = 15
M_CHECKOUT = 16
M_UNCHECKOUT = 17
M_CHECKIN = 18
M_UPDATE = 19
M_LABEL = 20
M_REPORT = 21
M_MKWORKSPACE = 22
M_MKACTIVITY = 23
M_BASELINE_CONTROL = 24
M_MERGE = 25
M_INVALID = 26

AP_REQ_ACCEPT_PATH_INFO = 0
AP_REQ_REJECT_PATH_INFO = 1
AP_REQ_DEFAULT_PATH_INFO = 2

AP_MPMQ_NOT_SUPPORTED = 0
AP_MPMQ_STATIC = 1
AP_MPMQ_DYNAMIC = 2

AP_MPMQ_MAX_DAEMON_USED = 1
AP_MPMQ_IS_THREADED = 2
AP_MPMQ_IS_FORKED = 3
AP_MPMQ_HARD_LIMIT_DAEMONS = 4
AP_MPMQ_HARD_LIMIT_THREADS = 5
AP_MPMQ_MAX_THREADS = 6
AP_MPMQ_MIN_SPARE_DAEMONS = 7
AP_MPMQ_MIN_SPARE_THREADS = 8
AP_MPMQ_MAX_SPARE_DAEMONS = 9
AP_MPMQ_MAX_SPARE_THREADS = 10
AP_MPMQ_MAX_REQUESTS_DAEMON = 11
AP_MPMQ_MAX_DAEMONS = 12

CGI_MAGIC_TYPE = "application/x-httpd-cgi"
INCLUDES_MAGIC_TYPE = "text/x-server-parsed-html"
INCLUDES_MAGIC_TYPE3 = "text/x-server-parsed-html3"
DIR_MAGIC_TYPE = "httpd/unix-directory"

REQUEST_NO_BODY = 0
REQUEST_CHUNKED_ERROR = 1
REQUEST_CHUNKED_DECHUNK = 2

AP_CONN_UNKNOWN = 0
AP_CONN_CLOSE = 1
AP_CONN_KEEPALIVE = 2

APR_NOFILE = 0
APR_REG = 1
APR_DIR = 2
APR_CHR = 3
APR_BLK = 4
APR_PIPE = 5
APR_LNK = 6
APR_SOCK = 7
APR_UNKFILE = 127

APR_FINFO_LINK = 0x00000001
APR_FINFO_MTIME = 0x00000010
APR_FINFO_CTIME = 0x00000020
APR_FINFO_ATIME = 0x00000040
APR_FINFO_SIZE = 0x00000100
APR_FINFO_CSIZE = 0x00000200
APR_FINFO_DEV = 0x00001000
APR_FINFO_INODE = 0x00002000
APR_FINFO_NLINK = 0x00004000
APR_FINFO_TYPE = 0x00008000
APR_FINFO_USER = 0x00010000
APR_FINFO_GROUP = 0x00020000
APR_FINFO_UPROT = 0x00100000
APR_FINFO_GPROT = 0x00200000
APR_FINFO_WPROT = 0x00400000
APR_FINFO_ICASE = 0x01000000
APR_FINFO_NAME = 0x02000000
APR_FINFO_MIN = 0x00008170
APR_FINFO_IDENT = 0x00003000
APR_FINFO_OWNER = 0x00030000
APR_FINFO_PROT = 0x00700000
APR_FINFO_NORM = 0x0073b170
APR_FINFO_DIRENT = 0x02000000

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
# Module loading (python-api.md §2.2)

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
    if path:
        log_error("mod_python: (Re)importing module '%s' with path set to '%s'"
                  % (module_name, path), APLOG_NOTICE)
    else:
        log_error("mod_python: (Re)importing module '%s'" % module_name, APLOG_NOTICE)


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
    else:
        module = importlib.import_module(module_name)
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

# Results after which the next handler of the list still runs
# (directives.md §4).
_CONTINUE_WHEN = {
    "PythonPostReadRequestHandler": (OK, DECLINED),
    "PythonTransHandler": (DECLINED,),
    "PythonHeaderParserHandler": (OK, DECLINED),
    "PythonInitHandler": (OK, DECLINED),
    "PythonAccessHandler": (OK, DECLINED),
    "PythonAuthenHandler": (DECLINED,),
    "PythonAuthzHandler": (DECLINED,),
    "PythonTypeHandler": (DECLINED,),
    "PythonFixupHandler": (OK, DECLINED),
    "PythonHandler": (OK,),
    "PythonLogHandler": (OK, DECLINED),
    "PythonCleanupHandler": (OK,),
}

# CPython's ImportError text for extension modules that cannot live in an
# interpreter with its own GIL.
_OWN_GIL_IMPORT_ERROR = "does not support loading in subinterpreters"


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


def _is_write_failure(evalue):
    """A failed write to a client that went away (deviation: upstream's
    test for this never matches on Python 3)."""
    if not isinstance(evalue, OSError):
        return False
    message = evalue.args[0] if evalue.args else ""
    return str(message).startswith("Write") or str(evalue).startswith("Write")


def _own_gil_hint(evalue):
    """An extra log/page line for an extension module that cannot be
    imported in an own-GIL interpreter (beyond.md §1)."""
    if not isinstance(evalue, ImportError) or _OWN_GIL_IMPORT_ERROR not in str(evalue):
        return None
    module = getattr(evalue, "name", None) or str(evalue).split()[1]
    return ("Hydra: the extension module %s cannot be imported in interpreter "
            "'%s', which has its own GIL. Use 'PythonInterpGIL shared' for this "
            "interpreter, or 'PythonInterpreter main_interpreter'.\n"
            % (module, interpreter))


class CallBack:
    """The object C keeps per interpreter and calls into."""

    # -- error reporting (python-api.md §1.5) ------------------------------

    def ReportError(self, etype, evalue, etb, conn=None, req=None, filter=None,
                    phase="N/A", hname="N/A", debug=0):
        """Logs a handler error and, with PythonDebug, shows it to the client.
        Returns DONE if a page was sent, else HTTP_INTERNAL_SERVER_ERROR."""
        import traceback
        try:
            try:
                chunks = traceback.format_exception(etype, evalue, etb)
                hint = _own_gil_hint(evalue)
                if hint:
                    chunks.append(hint)
                self._log_traceback(chunks, conn, req, phase, hname)
                if (not debug or req is None or _is_write_failure(evalue)
                        or phase == "PythonCleanupHandler"):
                    return HTTP_INTERNAL_SERVER_ERROR
                self._send_error_page(chunks, req, filter, phase, hname)
                return DONE
            except BaseException:
                # Reporting failed too (e.g. the client went away while the
                # page was written): stderr ends up in the error log.
                traceback.print_exc()
                sys.stderr.flush()
                return HTTP_INTERNAL_SERVER_ERROR
        finally:
            etb = None

    @staticmethod
    def _log_traceback(chunks, conn, req, phase, hname):
        prefix = "%s %s: " % (phase, hname)
        if req is not None:
            write_log = lambda line: req.log_error(line, APLOG_ERR)
        else:
            server = conn.base_server if conn is not None else main_server
            write_log = lambda line: log_error(line, APLOG_ERR, server)
        for chunk in chunks:
            if chunk.endswith("\n"):
                chunk = chunk[:-1]
            write_log(prefix + chunk)

    @staticmethod
    def _send_error_page(chunks, req, filter, phase, hname):
        import html
        req.status = HTTP_INTERNAL_SERVER_ERROR
        req.content_type = "text/html"
        page = ['\n<pre>\nMod_python error: "%s %s"\n\n' % (phase, hname)]
        for chunk in chunks:
            page.append(html.escape(chunk, quote=True))
            page.append("\n")
        page.append("</pre>\n")
        text = "".join(page)
        if filter is not None:
            filter.write(text)
            filter.flush()
        else:
            req.write(text)

    # -- request phases (python-api.md §1.2; reference only) ---------------

    def HandlerDispatch(self, req):
        config = req.get_config()
        debug = config.get("PythonDebug") == "1"
        autoreload = _flag(config, "PythonAutoReload", True)
        pythonpath = config.get("PythonPath")
        phase = req.phase
        default = phase[len("Python"):].lower()
        continue_when = _CONTINUE_WHEN.get(phase, (OK,))
        hlist = req.hlist
        result = HTTP_INTERNAL_SERVER_ERROR
        try:
            while hlist.handler is not None:
                ran, outcome = self._run_one_handler(req, hlist, config, default,
                                                     pythonpath, autoreload, debug)
                if ran:
                    result = outcome
                    if result not in continue_when:
                        break
                elif result == HTTP_INTERNAL_SERVER_ERROR:
                    # (deviation) a silent entry without its callable is
                    # skipped; upstream dies with UnboundLocalError here.
                    result = DECLINED
                hlist.next()
        except BaseException:
            result = self.ReportError(*sys.exc_info(), req=req, phase=req.phase,
                                      hname=hlist.handler, debug=debug)
        return result

    def _run_one_handler(self, req, hlist, config, default, pythonpath, autoreload, debug):
        """Runs the current entry: (True, its result), or (False, None) for
        a silent entry whose module lacks the callable."""
        handler = hlist.handler
        silent = hlist.silent
        module_name, object_str = _split_handler(handler, default)
        _prepare_sys_path(pythonpath, hlist.directory, hlist.is_location)
        module = import_module(module_name, autoreload=autoreload, log=debug)
        obj = self._lookup_handler(module, object_str, req, silent)
        if obj is None and silent:
            return False, None
        try:
            result = _call_handler(obj, req, config)
        except SERVER_RETURN as exc:
            result = _server_return_status(exc, req)
        _check_int_result(result, handler)
        return True, result

    @staticmethod
    def _lookup_handler(module, object_str, req, silent):
        if "." in object_str:
            return resolve_object(module, object_str, arg=req, silent=silent)
        try:
            return module.__dict__[object_str]
        except KeyError:
            if silent:
                return None
            raise AttributeError("module '%s' contains no '%s'"
                                 % (getattr(module, "__file__", module.__name__),
                                    object_str)) from None

    # -- filters (python-api.md §1.3) --------------------------------------

    def FilterDispatch(self, filter):
        req = filter.req
        config = req.get_config()
        debug = config.get("PythonDebug") == "1"
        try:
            default = "inputfilter" if filter.is_input else "outputfilter"
            module_name, object_str = _split_handler(filter.handler, default)
            _prepare_sys_path(config.get("PythonPath"), filter.dir,
                              getattr(filter, "is_location", 0))
            module = import_module(module_name,
                                   autoreload=_flag(config, "PythonAutoReload", True),
                                   log=debug)
            obj = resolve_object(module, object_str, arg=filter, silent=0)
            try:
                _call_handler(obj, filter, config)  # the result is ignored
            except SERVER_RETURN as exc:
                _server_return_status(exc, req)
            # Without a FLUSH or EOS nothing would reach the network.
            if not filter.closed:
                filter.flush()
        except BaseException:
            etype, evalue, etb = sys.exc_info()
            try:
                filter.disable()
            except BaseException:
                pass
            self.ReportError(etype, evalue, etb, req=req, filter=filter,
                             phase=filter.name, hname=filter.handler, debug=debug)
        return OK

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
            log_error("directive_PythonImport: error importing %s" % module_spec,
                      APLOG_ERR, main_server)
            return HTTP_INTERNAL_SERVER_ERROR


# ---------------------------------------------------------------------------
# CGI emulation (python-api.md §2.1, §17)

def build_cgi_env(req):
    """The CGI environment of `req`, as a new table."""
    req.add_cgi_vars()
    env = req.subprocess_env.copy()
    uri, path_info = req.uri or "", req.path_info or ""
    if path_info and uri.endswith(path_info):
        env["SCRIPT_NAME"] = uri[:-len(path_info)]
    else:
        env["SCRIPT_NAME"] = uri
    env["GATEWAY_INTERFACE"] = "Python-CGI/1.1"
    authorization = req.headers_in.get("Authorization")
    if authorization is not None:
        env["HTTP_AUTHORIZATION"] = authorization
    return env


class NullIO:
    """A file that is always empty and swallows what is written to it."""

    def tell(self):
        return 0

    def read(self, n=-1):
        return b""

    def readline(self, n=-1):
        return b""

    def readlines(self, hint=-1):
        return []

    def write(self, s):
        return len(s)

    def writelines(self, lines):
        pass

    def seek(self, pos, mode=0):
        return 0

    def isatty(self):
        return False

    def flush(self):
        pass

    def close(self):
        pass

    def __iter__(self):
        return iter(())


class _RequestBody(io.RawIOBase):
    """The request body as a raw binary stream."""

    def __init__(self, req):
        io.RawIOBase.__init__(self)
        self.req = req

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self.req.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


class CGIStdin(io.TextIOWrapper):
    """sys.stdin of a CGI script: the request body, read from the request
    in 64 KiB blocks. Like a real stdin it is text (UTF-8, undecodable
    bytes kept as surrogates, line ends untouched) with the bytes in
    `.buffer`."""

    BLOCK = 65536

    def __init__(self, req):
        io.TextIOWrapper.__init__(self, io.BufferedReader(_RequestBody(req), self.BLOCK),
                                  encoding="utf-8", errors="surrogateescape", newline="")
        self.req = req


class CGIStdout(NullIO):
    """sys.stdout of a CGI script: the header block it prints sets the
    response status and headers, everything after it is the body."""

    def __init__(self, req):
        self.req = req
        self.pos = 0
        self.headers_sent = False
        self._headers = b""

    @property
    def buffer(self):
        return self

    def write(self, s):
        if not s:
            return 0
        data = s.encode("utf-8", "surrogateescape") if isinstance(s, str) else bytes(s)
        if self.headers_sent:
            self.req.write(data)
        else:
            self._collect_headers(data)
        self.pos += len(data)
        return len(s)

    def _collect_headers(self, data):
        self._headers += data
        ends = [(i, len(sep)) for sep in (b"\r\n\r\n", b"\n\n")
                for i in (self._headers.find(sep),) if i >= 0]
        if not ends:
            return
        end, sep_len = min(ends)
        head, body = self._headers[:end], self._headers[end + sep_len:]
        self._headers = b""
        self.headers_sent = True
        self._apply_headers(head)
        if body:
            self.req.write(body)

    def _apply_headers(self, head):
        req = self.req
        for line in head.replace(b"\r\n", b"\n").split(b"\n"):
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep:
                continue
            name, value = name.strip(), value.strip()
            lower = name.lower()
            if lower == "status":
                req.status = int(value.split()[0])
            elif lower == "content-type":
                req.content_type = value
            else:
                req.headers_out.add(name, value)
                # CGI: an absolute Location without Status is a redirect.
                if lower == "location" and req.status == HTTP_OK and "://" in value:
                    req.status = HTTP_MOVED_TEMPORARILY

    def tell(self):
        return self.pos


def setup_cgi(req):
    """Replaces os.environ, sys.stdin and sys.stdout for a CGI script.
    Returns what restore_nocgi() needs to undo it."""
    saved = (os.environ, sys.stdin, sys.stdout)
    # A new mapping rather than changing the process environment, which
    # belongs to httpd and to every other thread.
    os.environ = dict(build_cgi_env(req).items())
    sys.stdout = CGIStdout(req)
    sys.stdin = CGIStdin(req)
    sys.argv = []
    return saved


def restore_nocgi(env, si, so):
    """Undoes setup_cgi() (deviation: upstream swapped stdin and stdout)."""
    os.environ = env
    sys.stdin = si
    sys.stdout = so
