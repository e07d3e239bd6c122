"""mod_python.cgihandler: runs plain CGI scripts inside the interpreter
(python-api.md §17).

    SetHandler mod_python
    PythonHandler mod_python.cgihandler

Each request executes the script file afresh, as a module named after the
file, with os.environ, sys.stdin and sys.stdout replaced by CGI
equivalents. Because the working directory and those globals belong to the
whole process, scripts run one at a time (a process-wide lock).

Modules that scripts imported are forgotten before the next script runs,
so edits to them take effect, except the standard library, extension
modules and mod_python itself, which are costly or unsafe to re-import.
"""

import importlib.util
import os
import sys
import sysconfig
import threading

from . import apache

# Scripts get a private environment: never the process environment, which
# httpd and every other thread share.
os.environ = dict(os.environ)

_modules_before = set(sys.modules)
_stdlib = os.path.realpath(sysconfig.get_paths()["stdlib"]) + os.sep
_lock = threading.Lock()


def _forget_imported_modules():
    for name, module in list(sys.modules.items()):
        if name in _modules_before or name == "mod_python" or name.startswith("mod_python."):
            continue
        filename = getattr(module, "__file__", None)
        if not filename or not filename.endswith((".py", ".pyc")):
            continue  # built-in, namespace package or extension module
        if os.path.realpath(filename).startswith(_stdlib):
            continue
        del sys.modules[name]


def _script_path(req):
    return req.subprocess_env.get("SCRIPT_FILENAME") or req.filename


def _run_script(path):
    directory, filename = os.path.split(path)
    real = os.path.realpath(path)
    if not os.path.isfile(real) or os.path.dirname(real) != os.path.realpath(directory or "."):
        raise apache.SERVER_RETURN(apache.HTTP_NOT_FOUND)
    name = os.path.splitext(filename)[0]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise apache.SERVER_RETURN(apache.HTTP_NOT_FOUND)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)


def handler(req):
    _forget_imported_modules()
    path = _script_path(req)
    with _lock:
        cwd = os.getcwd()
        try:
            os.chdir(os.path.dirname(path) or ".")
            argv = sys.argv
            saved = apache.setup_cgi(req)
            try:
                _run_script(path)
                sys.stdout.flush()
            finally:
                apache.restore_nocgi(*saved)
                sys.argv = argv
        finally:
            os.chdir(cwd)
    return apache.OK
