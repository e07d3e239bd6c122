"""
Own-GIL interpreters, `PythonInterpGIL shared|own`: spec/beyond.md §1, and
their rows in `apache.interpreters()` (beyond.md §2).

  * mode selection in every allowed context, inner replacing outer, and not
    in .htaccess;
  * the mode is fixed when the interpreter is created; a conflicting later
    invocation uses it as it is and warns once per (name, mode) per child;
  * the main interpreter always runs on the process GIL;
  * own-GIL and shared-GIL interpreters side by side in one child, the
    inventory asked from an own-GIL interpreter;
  * what an own-GIL interpreter may do: threads, daemon threads,
    subprocess/exec yes, fork no;
  * the request object per (request, interpreter);
  * what the core offers (tables, body read/write, output filters,
    PythonImport, PythonDebug pages, autoreload, request and child-exit
    cleanups) works in own-GIL interpreters;
  * an extension module without per-interpreter-GIL support (built here from
    tests/owngil_ext/, or CPython's _testsinglephase) fails with a hint
    naming the module and both ways out;
  * isolation between own-GIL interpreters, concurrent load over four of them
    in one event child, and Python really running in parallel.

Everything but the configuration error runs only against a module built with
Python >= 3.12 (marker `own_gil`); the configuration error of `own` runs only
against a module built with an older Python. Parallel execution without any
timing is probed in test_gil_modes.py.
"""

import hashlib
import json
import os
import subprocess
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest

import harness
from harness import assert_no_crashes, get_json, location, log_lines

EXT_SOURCES = Path(__file__).resolve().parent / "owngil_ext"

own_gil = pytest.mark.own_gil

# The handler module most servers of this file load from pylib/.
OG_PY = r'''
import importlib, itertools, json, os, subprocess, sys, threading, time
from mod_python import apache

_served = itertools.count(1)      # next() is atomic under the interpreter's GIL
GLOBALS_SEEN = {}

def _reply(req, data):
    req.content_type = "application/json"
    req.write(json.dumps(data))
    return apache.OK

def whoami(req):
    return _reply(req, {"interp": req.interpreter, "module_interp": apache.interpreter,
                        "pid": os.getpid()})

def inventory(req):
    return _reply(req, {"interp": req.interpreter, "inventory": apache.interpreters()})

def capabilities(req):
    out = {"interp": req.interpreter}
    out["true"] = subprocess.run(["/bin/true"]).returncode
    out["echo"] = subprocess.run(["/bin/echo", "hydra"], capture_output=True,
                                 text=True).stdout.strip()
    seen = []
    worker = threading.Thread(target=lambda: seen.append(apache.interpreter))
    worker.start()
    worker.join(10)
    out["thread"] = seen
    done = threading.Event()
    threading.Thread(target=done.set, daemon=True).start()
    out["daemon"] = done.wait(10)
    try:
        pid = os.fork()
    except RuntimeError as exc:
        out["fork"] = "refused: %s" % exc
    else:
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        out["fork"] = "allowed"
    return _reply(req, out)

def settings(req):
    try:
        import _testinternalcapi
        found = _testinternalcapi.get_interp_settings()
    except (ImportError, AttributeError) as exc:
        found = {"unavailable": repr(exc)}
    return _reply(req, {"interp": req.interpreter, "settings": found})

def import_ext(req):
    module = importlib.import_module(req.args)
    return _reply(req, {"interp": req.interpreter, "answer": module.answer()})

def mark(req):
    req.hydra_mark = apache.interpreter
    req.notes["hydra-mark"] = apache.interpreter
    req.headers_out["X-Hydra-Mark"] = apache.interpreter
    return apache.OK

def report(req):
    return _reply(req, {"interp": req.interpreter,
                        "py_attr": getattr(req, "hydra_mark", None),
                        "note": req.notes.get("hydra-mark")})

def isolation(req):
    # Module state, sys.path and sys.modules of this interpreter only.
    key = req.args or ""
    if key:
        GLOBALS_SEEN[key] = apache.interpreter
        if "/hydra-isolation-" + key not in sys.path:
            sys.path.append("/hydra-isolation-" + key)
        import colorsys              # a module nobody else here imports
    return _reply(req, {"interp": req.interpreter, "globals": sorted(GLOBALS_SEEN),
                        "marker_paths": sorted(p for p in sys.path
                                               if p.startswith("/hydra-isolation-")),
                        "colorsys": "colorsys" in sys.modules,
                        "threads": [t.name for t in threading.enumerate()]})

def load(req):
    token = req.read().decode()
    n = next(_served)
    spin = sum(i * i for i in range(2000))
    digest = __import__("hashlib").sha256(token.encode()).hexdigest()
    return _reply(req, {"interp": req.interpreter, "token": token, "n": n, "pid": os.getpid(),
                        "digest": digest, "spin": spin})

def cpu(req):
    iterations = int(req.args)
    start = time.thread_time()
    total = 0
    for i in range(iterations):
        total += i * i
    return _reply(req, {"interp": req.interpreter, "pid": os.getpid(),
                        "cpu": time.thread_time() - start})
'''


def start_own_gil_server(start_apache, config, files):
    """A server of this file (event MPM); skips the test before Python 3.12."""
    if harness.python_version() < (3, 12):
        pytest.skip("PythonInterpGIL own needs Python >= 3.12")
    return start_apache(config, files, mpm="event")


def vhost(name, *body):
    return "<VirtualHost 127.0.0.1:{port}>\n    ServerName %s\n%s\n</VirtualHost>" % (
        name, "\n".join(body))


def gil_modes(server, path="/inventory"):
    """{interpreter name: gil} of the child that answers `path`."""
    return {e["name"]: e["gil"] for e in get_json(server, path)["inventory"]}


# ---------------------------------------------------------------------------
# The configuration error before Python 3.12

@pytest.mark.skipif(harness.python_version() >= (3, 12),
                    reason="PythonInterpGIL own is valid on Python >= 3.12")
@pytest.mark.parametrize("section", [None, "<VirtualHost 127.0.0.1:{port}>",
                                     "<Directory {root}/htdocs>", "<Location /app>"],
                         ids=["server", "virtualhost", "directory", "location"])
def test_own_is_a_configuration_error_before_python_3_12(config_check, python_version, section):
    bad = "PythonInterpGIL own"
    snippet = bad if section is None else "%s\n    %s\n</%s>" % (
        section, bad, section[1:].split()[0].rstrip(">"))
    if section and section.startswith("<VirtualHost"):
        snippet = snippet.replace("<VirtualHost 127.0.0.1:{port}>",
                                  "<VirtualHost 127.0.0.1:{port}>\n    ServerName v.test")
    result = config_check(snippet)
    assert result.rc != 0, result.output
    line = result.line_of(bad)
    assert "line %d" % line in result.output, result.output
    assert result.conf in result.output, result.output
    assert "PythonInterpGIL" in result.output
    assert "%d.%d" % python_version in result.output, "no Python version in: " + result.output


@pytest.mark.skipif(harness.python_version() >= (3, 12), reason="checks the pre-3.12 build")
def test_shared_is_accepted_before_python_3_12(config_check):
    rc, output = config_check("PythonInterpGIL shared\n<Location /app>\n"
                              "    PythonInterpGIL shared\n</Location>")
    assert rc == 0, output


# ---------------------------------------------------------------------------
# Mode selection, conflicts, the main interpreter

MODES_CONFIG = "\n".join([
    vhost("hydra.test",
          location("/inventory", interp="m_default", handler="og::inventory"),
          location("/default", interp="m_default", handler="og::whoami"),
          location("/loc-own", interp="m_loc_own", gil="own", handler="og::whoami"),
          '''<LocationMatch "^/locmatch-own">
    SetHandler mod_python
    PythonInterpreter m_locmatch_own
    PythonInterpGIL own
    PythonHandler og::whoami
</LocationMatch>''',
          '''<Directory {root}/htdocs/dir-own>
    SetHandler mod_python
    PythonInterpreter m_dir_own
    PythonInterpGIL own
    PythonHandler og::whoami
</Directory>
<Directory {root}/htdocs/files>
    SetHandler mod_python
    PythonInterpreter m_files_shared
    PythonHandler og::whoami
    <Files "own.py">
        PythonInterpreter m_files_own
        PythonInterpGIL own
    </Files>
</Directory>
<Directory {root}/htdocs/htaccess>
    AllowOverride All
    SetHandler mod_python
    PythonInterpreter m_htaccess
    PythonHandler og::whoami
</Directory>''',
          location("/main-own", interp="main_interpreter", gil="own", handler="og::whoami"),
          location("/x-own", interp="m_x", gil="own", handler="og::whoami"),
          location("/x-shared", interp="m_x", gil="shared", handler="og::whoami"),
          location("/y-shared", interp="m_y", gil="shared", handler="og::whoami"),
          location("/y-own", interp="m_y", gil="own", handler="og::whoami")),
    vhost("own.test",
          "    PythonInterpGIL own",
          location("/", handler="og::whoami"),
          location("/inner-shared", interp="m_vhost_inner", gil="shared", handler="og::whoami")),
])

MODES_FILES = {
    "pylib/og.py": OG_PY,
    "htdocs/dir-own/page.py": "# served by og::whoami\n",
    "htdocs/files/own.py": "# served by og::whoami\n",
    "htdocs/files/other.py": "# served by og::whoami\n",
    "htdocs/htaccess/.htaccess": "PythonInterpGIL own\n",
    "htdocs/htaccess/page.py": "# never served\n",
}


@pytest.fixture(scope="module")
def modes(start_apache):
    return start_own_gil_server(start_apache, MODES_CONFIG, MODES_FILES)


@own_gil
@pytest.mark.parametrize("path, host, interp, gil", [
    ("/default", None, "m_default", "shared"),
    ("/loc-own", None, "m_loc_own", "own"),
    ("/locmatch-own/x", None, "m_locmatch_own", "own"),
    ("/dir-own/page.py", None, "m_dir_own", "own"),
    ("/files/own.py", None, "m_files_own", "own"),
    ("/files/other.py", None, "m_files_shared", "shared"),
    ("/", "own.test", "own.test", "own"),
    ("/inner-shared", "own.test", "m_vhost_inner", "shared"),
])
def test_mode_comes_from_the_config_in_effect(modes, path, host, interp, gil):
    assert get_json(modes, path, host=host)["interp"] == interp
    assert gil_modes(modes)[interp] == gil


@own_gil
def test_interp_gil_is_not_allowed_in_htaccess(modes):
    mark = modes.log_mark()
    status, _, _ = modes.get("/htaccess/page.py")
    assert status == 500
    modes.wait_for_log(r"PythonInterpGIL not allowed here", since=mark)
    assert "m_htaccess" not in gil_modes(modes)


@own_gil
def test_own_on_the_main_interpreter_is_ignored_with_a_warning(modes):
    data = get_json(modes, "/main-own")
    assert data["interp"] == "main_interpreter"
    assert data["module_interp"] == "main_interpreter"
    gil = gil_modes(modes)
    assert gil["main_interpreter"] == "main"
    assert list(gil).count("main_interpreter") == 1
    assert log_lines(modes.error_log(), "PythonInterpGIL", "main_interpreter", level="warn"), \
        "no warning that PythonInterpGIL own is ignored for main_interpreter"


@own_gil
def test_own_on_the_main_interpreter_warns_at_start(start_apache):
    server = start_apache(location("/main-own", interp="main_interpreter", gil="own",
                                   handler="og::whoami"),
                          {"pylib/og.py": OG_PY}, mpm="event")
    # No request is made: the warning is due when the server (or its child) starts.
    deadline = time.monotonic() + 20
    while not log_lines(server.error_log(), "PythonInterpGIL", "main_interpreter", level="warn"):
        assert time.monotonic() < deadline, \
            "no start-up warning that PythonInterpGIL own is ignored for main_interpreter"
        time.sleep(0.1)


@own_gil
def test_mode_is_fixed_at_creation_and_a_conflict_warns_once(modes):
    mark = modes.log_mark()
    # m_x is created own, then asked for as shared; m_y the other way round.
    assert get_json(modes, "/x-own")["interp"] == "m_x"
    assert get_json(modes, "/y-shared")["interp"] == "m_y"
    for _ in range(3):
        assert get_json(modes, "/x-shared")["interp"] == "m_x"
        assert get_json(modes, "/y-own")["interp"] == "m_y"
        assert get_json(modes, "/x-own")["interp"] == "m_x"
    gil = gil_modes(modes)
    assert gil["m_x"] == "own" and gil["m_y"] == "shared"
    log = modes.error_log(mark)
    assert len(log_lines(log, "'m_x'", level="warn")) == 1, log
    assert len(log_lines(log, "'m_y'", level="warn")) == 1, log
    assert_no_crashes(modes)


# ---------------------------------------------------------------------------
# Own-GIL and shared-GIL interpreters side by side in one child, with the
# inventory asked from an own-GIL interpreter (og1)

OGMOD_PY = r'''
import json, os, sys, time
from mod_python import apache

def handler(req):
    arg = req.args or ""
    out = {"interp": req.interpreter, "pid": os.getpid()}
    if arg == "inventory":
        out["inventory"] = apache.interpreters()
    elif arg == "single":
        import _testsinglephase
    req.content_type = "application/json"
    req.write(json.dumps(out))
    return apache.OK
'''

MIXED_CONFIG = "\n".join([
    location("/og1", interp="og1", gil="own", handler="ogmod"),
    location("/og2", interp="og2", gil="own", handler="ogmod"),
    location("/og1-shared", interp="og1", gil="shared", handler="ogmod"),
    location("/sh1", interp="sh1", gil="shared", handler="ogmod"),
    location("/sh2", interp="sh2", gil="shared", handler="ogmod"),
    location("/main", interp="main_interpreter", gil="own", handler="ogmod"),
    location("/og-debug", "PythonDebug Off", interp="og3", gil="own", handler="ogmod"),
])


@pytest.fixture(scope="module")
def mixed(start_apache):
    return start_own_gil_server(start_apache, MIXED_CONFIG, {"pylib/ogmod.py": OGMOD_PY})


@own_gil
def test_own_gil_interpreters_serve_requests(mixed):
    assert get_json(mixed, "/og1")["interp"] == "og1"
    assert get_json(mixed, "/og2")["interp"] == "og2"


@own_gil
def test_inventory_reports_gil_mode(mixed):
    for path in ["/og1", "/og2", "/sh1"]:
        get_json(mixed, path)
    gil = gil_modes(mixed, "/og1?inventory")
    assert gil["og1"] == "own" and gil["og2"] == "own"
    assert gil["sh1"] == "shared"
    assert gil["main_interpreter"] == "main"


@own_gil
def test_own_on_main_interpreter_is_ignored(mixed):
    # As test_own_on_the_main_interpreter_is_ignored_with_a_warning, with the
    # inventory seen from own-GIL interpreter og1.
    assert get_json(mixed, "/main")["interp"] == "main_interpreter"
    warnings = log_lines(mixed.error_log(), "PythonInterpGIL", "main_interpreter", level="warn")
    assert warnings, "no warning that PythonInterpGIL own is ignored for main_interpreter"
    assert gil_modes(mixed, "/og1?inventory")["main_interpreter"] == "main"


@own_gil
def test_existing_interpreter_keeps_its_mode_and_warns_once(mixed):
    # As test_mode_is_fixed_at_creation_and_a_conflict_warns_once, counting
    # every warning that names og1, quoted or not.
    get_json(mixed, "/og1")
    mark = mixed.log_mark()
    assert get_json(mixed, "/og1-shared")["interp"] == "og1"
    assert get_json(mixed, "/og1-shared")["interp"] == "og1"
    assert gil_modes(mixed, "/og1?inventory")["og1"] == "own"
    warnings = log_lines(mixed.error_log(mark), "og1", level="warn")
    assert len(warnings) == 1, warnings


# ---------------------------------------------------------------------------
# What an own-GIL interpreter may do, and isolation between them

CAPS_CONFIG = "\n".join([
    location("/inventory", interp="c_shared", handler="og::inventory"),
    location("/caps-own", interp="c_own", gil="own", handler="og::capabilities"),
    location("/settings-own", interp="c_own", gil="own", handler="og::settings"),
    location("/settings-shared", interp="c_shared", handler="og::settings"),
    location("/iso1", interp="iso1", gil="own", handler="og::isolation"),
    location("/iso2", interp="iso2", gil="own", handler="og::isolation"),
])


@pytest.fixture(scope="module")
def caps(start_apache):
    return start_own_gil_server(start_apache, CAPS_CONFIG, {"pylib/og.py": OG_PY})


@own_gil
def test_own_gil_interpreter_runs_subprocess_threads_and_daemon_threads(caps):
    data = get_json(caps, "/caps-own")
    assert data["interp"] == "c_own"
    assert data["true"] == 0                      # subprocess.run(["/bin/true"])
    assert data["echo"] == "hydra"
    assert data["thread"] == ["c_own"]
    assert data["daemon"] is True
    assert gil_modes(caps)["c_own"] == "own"
    assert_no_crashes(caps)


@own_gil
def test_own_gil_interpreter_refuses_fork(caps):
    data = get_json(caps, "/caps-own")
    assert data["fork"].startswith("refused"), data["fork"]


# CPython's runtime feature flags (Include/internal/pycore_interp.h).
RTFLAGS = {"main_obmalloc": 1 << 5, "multi_interp_extensions": 1 << 8, "threads": 1 << 10,
           "daemon_threads": 1 << 11, "fork": 1 << 15, "exec": 1 << 16}


def interp_settings(server, path):
    found = get_json(server, path)["settings"]
    if "unavailable" in found:
        pytest.skip("CPython's _testinternalcapi is not available: " + found["unavailable"])
    return found["own_gil"], {name for name, bit in RTFLAGS.items()
                              if found["feature_flags"] & bit}


@own_gil
def test_own_gil_interpreter_has_own_gil_and_allocator(caps):
    own_gil, flags = interp_settings(caps, "/settings-own")
    assert own_gil is True
    assert flags == {"multi_interp_extensions", "threads", "daemon_threads", "exec"}


@own_gil
def test_shared_gil_interpreter_is_a_legacy_sub_interpreter(caps):
    own_gil, flags = interp_settings(caps, "/settings-shared")
    assert own_gil is False
    assert flags == {"main_obmalloc", "threads", "daemon_threads", "fork", "exec"}


@own_gil
def test_own_gil_interpreters_are_isolated(caps):
    get_json(caps, "/iso1?one")
    two = get_json(caps, "/iso2")
    assert two == dict(two, globals=[], marker_paths=[], colorsys=False)
    get_json(caps, "/iso2?two")
    one = get_json(caps, "/iso1")
    assert one["globals"] == ["one"]
    assert one["marker_paths"] == ["/hydra-isolation-one"]
    assert one["colorsys"] is True
    two = get_json(caps, "/iso2")
    assert two["globals"] == ["two"]
    assert two["marker_paths"] == ["/hydra-isolation-two"]
    gil = gil_modes(caps)
    assert gil["iso1"] == gil["iso2"] == "own"


# ---------------------------------------------------------------------------
# The request object per (request, interpreter)

REQOBJ_CONFIG = "\n".join([
    # PerDirective: the fixup (from /pd-*) and the handler (from
    # /pd-*/inner) run in two interpreters named after their sections.
    vhost("hydra.test",
          location("/inventory", interp="inv_shared", handler="og::inventory"),
          '''<Location /pd-own>
    SetHandler mod_python
    PythonInterpGIL own
    PythonInterpPerDirective On
    PythonFixupHandler og::mark
</Location>
<Location /pd-own/inner>
    PythonHandler og::report
</Location>
<Location /pd-shared>
    SetHandler mod_python
    PythonInterpPerDirective On
    PythonFixupHandler og::mark
</Location>
<Location /pd-shared/inner>
    PythonHandler og::report
</Location>
<Location /same-own>
    SetHandler mod_python
    PythonInterpreter same_own
    PythonInterpGIL own
    PythonFixupHandler og::mark
    PythonHandler og::report
</Location>'''),
    # Post-read-request runs with the virtual host's config (interpreter
    # "early"), the content handler with its <Location>'s.
    vhost("mixed.test",
          "    PythonInterpreter early",
          "    PythonPostReadRequestHandler og::mark",
          location("/to-own", interp="late_own", gil="own", handler="og::report"),
          location("/to-shared", interp="late_shared", handler="og::report"),
          location("/same", handler="og::report")),
    vhost("mixed-own.test",
          "    PythonInterpreter early_own",
          "    PythonInterpGIL own",
          "    PythonPostReadRequestHandler og::mark",
          location("/to-own", interp="late_own2", handler="og::report"),
          location("/to-shared", interp="late_shared2", gil="shared", handler="og::report"),
          location("/same", handler="og::report")),
])


@pytest.fixture(scope="module")
def reqobj(start_apache):
    return start_own_gil_server(start_apache, REQOBJ_CONFIG, {"pylib/og.py": OG_PY})


@own_gil
@pytest.mark.parametrize("path, host, interp, py_attr, note", [
    # two own-GIL interpreters: each its own wrapper
    ("/pd-own/inner/x", None, "/pd-own/inner", None, "/pd-own"),
    # two shared-GIL interpreters: mod_python's single shared request object
    ("/pd-shared/inner/x", None, "/pd-shared/inner", "/pd-shared", "/pd-shared"),
    # one own-GIL interpreter, two phases: the same wrapper
    ("/same-own", None, "same_own", "same_own", "same_own"),
    # shared -> own and own -> shared: separate wrappers
    ("/to-own", "mixed.test", "late_own", None, "early"),
    ("/to-shared", "mixed-own.test", "late_shared2", None, "early_own"),
    # shared -> shared and own -> the same own interpreter
    ("/to-shared", "mixed.test", "late_shared", "early", "early"),
    ("/same", "mixed-own.test", "early_own", "early_own", "early_own"),
    # own -> another own
    ("/to-own", "mixed-own.test", "late_own2", None, "early_own"),
])
def test_request_object_is_per_request_and_interpreter(reqobj, path, host, interp, py_attr,
                                                       note):
    resp = reqobj.get(path, host=host)
    assert resp.status == 200, resp.body
    data = json.loads(resp.body)
    assert data["interp"] == interp
    assert data["py_attr"] == py_attr              # plain Python attribute
    assert data["note"] == note                    # Apache-backed: always shared
    assert resp.headers.get("X-Hydra-Mark") == note
    assert_no_crashes(reqobj)


@own_gil
def test_gil_modes_of_the_request_object_interpreters(reqobj):
    for path, host in [("/pd-own/inner/x", None), ("/pd-shared/inner/x", None),
                       ("/to-own", "mixed.test"), ("/to-own", "mixed-own.test")]:
        assert reqobj.get(path, host=host).status == 200
    gil = gil_modes(reqobj)
    assert gil["/pd-own"] == gil["/pd-own/inner"] == "own"
    assert gil["/pd-shared"] == gil["/pd-shared/inner"] == "shared"
    assert gil["early"] == "shared"
    assert gil["early_own"] == gil["late_own"] == gil["late_own2"] == "own"


# ---------------------------------------------------------------------------
# Extension modules without per-interpreter-GIL support

SINGLE = "hydra_single_phase"          # tests/owngil_ext/single_phase.c
PER_GIL = "hydra_per_interpreter_gil"  # tests/owngil_ext/per_interpreter_gil.c

EXT_CONFIG = "\n".join([
    location("/inventory", interp="e_shared", handler="og::inventory"),
    location("/ext-own", "PythonDebug On", interp="e_own", gil="own", handler="og::import_ext"),
    location("/ext-own-quiet", "PythonDebug Off", interp="e_own_quiet", gil="own",
             handler="og::import_ext"),
    location("/ext-own-toplevel", "PythonDebug On", interp="e_own_top", gil="own",
             handler="uses_single"),
    location("/ext-shared", interp="e_shared", handler="og::import_ext"),
    location("/ext-main", interp="main_interpreter", handler="og::import_ext"),
])

EXT_FILES = {
    "pylib/og.py": OG_PY,
    # A handler module that needs the extension at import time, the usual
    # way an application meets the problem.
    "pylib/uses_single.py": "import %s\nfrom mod_python import apache\n\n"
                            "def handler(req):\n    return apache.OK\n" % SINGLE,
}


def build_extension(source, module_name, dest_dir):
    """Compiles tests/owngil_ext/<source> against the headers of HYDRA_PYTHON
    into dest_dir/<module_name><EXT_SUFFIX>, readable by the Apache children."""
    info = subprocess.run(
        [harness.HYDRA_PYTHON, "-c",
         "import sysconfig; print(sysconfig.get_paths()['include']); "
         "print(sysconfig.get_config_var('EXT_SUFFIX'))"],
        capture_output=True, text=True, check=True, timeout=60).stdout.split()
    include, suffix = info[0], info[1]
    target = Path(dest_dir) / (module_name + suffix)
    proc = subprocess.run(["gcc", "-shared", "-fPIC", "-O1", "-Wall", "-I", include,
                           str(EXT_SOURCES / source), "-o", str(target)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, "building %s failed:\n%s" % (source, proc.stderr)
    os.chmod(target, 0o644)
    return target


@pytest.fixture(scope="module")
def ext(start_apache):
    server = start_own_gil_server(start_apache, EXT_CONFIG, EXT_FILES)
    # Built before the first request, so no interpreter has looked at pylib/ yet.
    build_extension("single_phase.c", SINGLE, server.path / "pylib")
    build_extension("per_interpreter_gil.c", PER_GIL, server.path / "pylib")
    return server


def hint_lines(log):
    """Error-log lines that name the module and both ways out."""
    return log_lines(log, SINGLE, "PythonInterpGIL shared", "PythonInterpreter main_interpreter")


@own_gil
def test_extension_without_support_fails_with_hint_in_log_and_debug_page(ext):
    mark = ext.log_mark()
    resp = ext.get("/ext-own?" + SINGLE)
    assert resp.status == 500
    assert "ImportError" in resp.body
    assert SINGLE in resp.body
    assert "PythonInterpGIL shared" in resp.body
    assert "PythonInterpreter main_interpreter" in resp.body
    log = ext.wait_for_log(SINGLE, since=mark)
    assert hint_lines(log), "no error-log line naming %s and both ways out:\n%s" % (
        SINGLE, log)
    # The interpreter survives: the import fails again, others still work.
    assert ext.get("/ext-own?" + SINGLE).status == 500
    assert get_json(ext, "/ext-own?" + PER_GIL)["answer"] == 43
    assert_no_crashes(ext)


@own_gil
def test_extension_without_support_fails_without_debug_page(ext):
    mark = ext.log_mark()
    resp = ext.get("/ext-own-quiet?" + SINGLE)
    assert resp.status == 500
    assert "PythonInterpGIL" not in resp.body and "Traceback" not in resp.body
    assert hint_lines(ext.wait_for_log(SINGLE, since=mark))


@own_gil
def test_extension_imported_by_the_handler_module_fails_with_hint(ext):
    mark = ext.log_mark()
    resp = ext.get("/ext-own-toplevel")
    assert resp.status == 500
    assert "PythonInterpGIL shared" in resp.body
    assert hint_lines(ext.wait_for_log(SINGLE, since=mark))


@own_gil
@pytest.mark.parametrize("path, interp", [("/ext-shared", "e_shared"),
                                          ("/ext-main", "main_interpreter")])
def test_the_ways_out_import_the_extension(ext, path, interp):
    data = get_json(ext, "%s?%s" % (path, SINGLE))
    assert (data["interp"], data["answer"]) == (interp, 42)


@own_gil
def test_extension_declaring_per_interpreter_gil_support_imports(ext):
    data = get_json(ext, "/ext-own?" + PER_GIL)
    assert (data["interp"], data["answer"]) == ("e_own", 43)
    assert gil_modes(ext)["e_own"] == "own"


@own_gil
def test_single_phase_extension_import_fails_with_hint(mixed):
    # CPython's own single-phase test module, imported with PythonDebug Off.
    mark = mixed.log_mark()
    status, _, _ = mixed.get("/og-debug?single")
    assert status == 500
    log = mixed.wait_for_log("_testsinglephase", since=mark)
    assert "PythonInterpGIL shared" in log
    assert "PythonInterpreter main_interpreter" in log


# ---------------------------------------------------------------------------
# The core in own-GIL interpreters

CORE_PY = r'''
import json, os
from mod_python import apache

def echo(req):
    body = req.read()
    req.headers_out["X-Echo-Header"] = req.headers_in.get("X-Hydra", "")
    req.notes["seen"] = "yes"
    req.subprocess_env["HYDRA_ENV"] = "set"
    req.content_type = "application/json"
    req.write(json.dumps({"interp": req.interpreter, "len": len(body),
                          "body": body.decode("latin-1"),
                          "note": req.notes.get("seen"),
                          "env": req.subprocess_env.get("HYDRA_ENV"),
                          "args": req.args, "method": req.method}))
    req.write("\n--second write--")
    return apache.OK

def boom(req):
    raise ValueError("boom in %s" % req.interpreter)

def cleanup(req):
    path = "{root}/var/cleanup-" + req.interpreter
    def done(data):
        with open(path, "w") as f:
            f.write(data)
    req.register_cleanup(done, "cleaned " + req.interpreter)
    req.write("registered")
    return apache.OK

def upper(filter):
    data = filter.read()
    while data:
        filter.write(data.upper())
        data = filter.read()
    if data is None:
        filter.close()

def imported(req):
    import og_imported
    req.content_type = "application/json"
    req.write(json.dumps({"interp": req.interpreter, "loaded_in": og_imported.LOADED_IN}))
    return apache.OK
'''

RELOAD_V1 = "from mod_python import apache\n\ndef handler(req):\n" \
            "    req.write('version 1 in ' + req.interpreter)\n    return apache.OK\n"
RELOAD_V2 = RELOAD_V1.replace("version 1", "version 2")


def core_locations(suffix, interp, gil):
    return [
        location("/echo-" + suffix, interp=interp, gil=gil, handler="core::echo"),
        location("/boom-" + suffix, "PythonDebug On", interp=interp, gil=gil,
                 handler="core::boom"),
        location("/cleanup-" + suffix, interp=interp, gil=gil, handler="core::cleanup"),
        location("/reload-" + suffix, "PythonAutoReload On", interp=interp, gil=gil,
                 handler="reloadme_" + suffix),
        location("/filtered-" + suffix, "SetOutputFilter UPPER_" + suffix, interp=interp,
                 gil=gil, handler="core::echo"),
        "PythonOutputFilter core::upper UPPER_" + suffix,
    ]


CORE_CONFIG = "\n".join(
    # PythonImport runs with the server config: own at server level makes
    # the imported-into interpreter own-GIL; main_interpreter stays main.
    ["PythonInterpGIL own",
     "PythonImport og_imported k_imported",
     "PythonImport og_imported main_interpreter",
     location("/inventory", interp="k_own", handler="og::inventory"),
     location("/imported", interp="k_imported", handler="core::imported"),
     location("/imported-main", interp="main_interpreter", handler="core::imported")]
    + core_locations("own", "k_own", None)
    + core_locations("shared", "k_shared", "shared"))

CORE_FILES = {
    "pylib/og.py": OG_PY,
    "pylib/core.py": CORE_PY,
    "pylib/og_imported.py": "from mod_python import apache\nLOADED_IN = apache.interpreter\n"
                            "with open('{root}/var/imported-' + LOADED_IN, 'w') as f:\n"
                            "    f.write(LOADED_IN)\n",
    "pylib/reloadme_own.py": RELOAD_V1,
    "pylib/reloadme_shared.py": RELOAD_V1,
}


@pytest.fixture(scope="module")
def core(start_apache):
    return start_own_gil_server(start_apache, CORE_CONFIG, CORE_FILES)


@own_gil
def test_tables_and_body_read_write_in_own_gil_interpreter(core):
    body = "x" * 100000 + "end"
    resp = core.post("/echo-own?a=1", body, headers={"X-Hydra": "hello"})
    assert resp.status == 200, resp.body
    first, _, second = resp.body.partition("\n")
    data = json.loads(first)
    assert data == {"interp": "k_own", "len": len(body), "body": body, "note": "yes",
                    "env": "set", "args": "a=1", "method": "POST"}
    assert second == "--second write--"
    assert resp.headers.get("X-Echo-Header") == "hello"
    assert gil_modes(core)["k_own"] == "own"


@own_gil
def test_python_debug_page_in_own_gil_interpreter(core):
    mark = core.log_mark()
    resp = core.get("/boom-own")
    assert resp.status == 500
    assert "ValueError: boom in k_own" in resp.body
    assert "Traceback" in resp.body
    core.wait_for_log(r"ValueError: boom in k_own", since=mark)


@own_gil
def test_autoreload_in_own_gil_interpreter(core):
    assert core.get("/reload-own").body == "version 1 in k_own"
    core.write("pylib/reloadme_own.py", RELOAD_V2, mtime=time.time() + 5)
    deadline = time.monotonic() + 10
    while True:
        body = core.get("/reload-own").body
        if body == "version 2 in k_own" or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert body == "version 2 in k_own"


@own_gil
def test_request_cleanup_runs_in_own_gil_interpreter(core):
    target = core.path / "var" / "cleanup-k_own"
    assert core.get("/cleanup-own").body == "registered"
    # The cleanup runs after the response; wait for the file's whole text
    # (it exists, empty, between open() and write()).
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if target.exists() and target.read_text() == "cleaned k_own":
            break
        time.sleep(0.05)
    assert target.read_text() == "cleaned k_own"
    assert_no_crashes(core)


CHILD_EXIT_PY = r'''
from mod_python import apache

def _at_exit(data):
    with open("{root}/var/child-exit-" + apache.interpreter, "w") as f:
        f.write(data)

def handler(req):
    apache.register_cleanup(_at_exit, "exit " + apache.interpreter)
    req.write("registered")
    return apache.OK
'''


def run_child_exit_cleanup(start_apache):
    """Registers a child-exit cleanup in own-GIL interpreter x_own, stops the
    server; returns (server, error log written while stopping)."""
    server = start_apache(location("/exit", interp="x_own", gil="own", handler="child_exit"),
                          {"pylib/child_exit.py": CHILD_EXIT_PY}, mpm="event")
    assert server.get("/exit").body == "registered"
    mark = server.log_mark()
    server.stop(graceful=True)
    return server, server.error_log(mark)


@own_gil
def test_child_exit_cleanup_runs_in_own_gil_interpreter(start_apache):
    server, log = run_child_exit_cleanup(start_apache)
    target = server.path / "var" / "child-exit-x_own"
    assert target.exists(), "child-exit cleanup did not run:\n" + log
    assert target.read_text() == "exit x_own"
    assert server.crash_lines() == []


@own_gil
def test_child_exit_cleanup_logs_no_mode_warning(start_apache):
    server, log = run_child_exit_cleanup(start_apache)
    assert (server.path / "var" / "child-exit-x_own").exists(), "the cleanup did not run:\n" + log
    # Nobody configured a mode for this invocation: nothing to warn about.
    assert log_lines(log, "x_own", level="warn") == [], log


@own_gil
def test_python_import_creates_the_interpreter_with_the_server_mode(core):
    data = get_json(core, "/imported")
    assert data == {"interp": "k_imported", "loaded_in": "k_imported"}
    assert (core.path / "var" / "imported-k_imported").exists()
    gil = gil_modes(core)
    assert gil["k_imported"] == "own"
    assert gil["main_interpreter"] == "main"
    assert get_json(core, "/imported-main")["loaded_in"] == "main_interpreter"
    # Server-level own resolved to main_interpreter by PythonImport: ignored,
    # with a warning at start.
    assert log_lines(core.error_log(), "PythonInterpGIL", "main_interpreter", level="warn")


@own_gil
def test_output_filter_in_own_gil_interpreter_as_in_shared(core):
    shared = core.get("/filtered-shared")
    assert '"INTERP": "K_SHARED"' in shared.body, shared.body
    own = core.get("/filtered-own")
    assert own.status == shared.status == 200, own.body
    assert own.body == shared.body.replace("K_SHARED", "K_OWN")


# ---------------------------------------------------------------------------
# Concurrent load over four own-GIL interpreters in one event child

LOAD_INTERPS = ["load1", "load2", "load3", "load4"]
LOAD_CLIENTS = 8
LOAD_PER_CLIENT = 40

LOAD_CONFIG = "\n".join(
    [location("/inventory", interp="l_inventory", handler="og::inventory"),
     "<Location /status>\n    SetHandler python-status\n</Location>"]
    + [location("/" + name, interp=name, gil="own", handler="og::load") for name in LOAD_INTERPS])


@pytest.fixture(scope="module")
def load(start_apache):
    return start_own_gil_server(start_apache, LOAD_CONFIG, {"pylib/og.py": OG_PY})


@own_gil
def test_concurrent_load_over_four_own_gil_interpreters(load):
    failures, results = [], defaultdict(list)
    lock = threading.Lock()
    barrier = threading.Barrier(LOAD_CLIENTS)

    def client(k):
        conn = load.connection()
        try:
            barrier.wait(timeout=30)
            for i in range(LOAD_PER_CLIENT):
                interp = LOAD_INTERPS[(k + i) % len(LOAD_INTERPS)]
                token = "c%d-r%d-%s" % (k, i, interp)
                resp = load.post("/" + interp, token, conn=conn)
                problem = None
                if resp.status != 200:
                    problem = "%s: status %d %r" % (token, resp.status, resp.body[:300])
                else:
                    data = json.loads(resp.body)
                    if (data["interp"], data["token"]) != (interp, token) or \
                            data["digest"] != hashlib.sha256(token.encode()).hexdigest():
                        problem = "%s: wrong answer %r" % (token, data)
                with lock:
                    if problem:
                        failures.append(problem)
                    else:
                        results[interp].append(data)
        except Exception as exc:  # reported below, not lost in the thread
            with lock:
                failures.append("client %d: %r" % (k, exc))
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(LOAD_CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert not failures, failures[:10]
    per_interp = LOAD_CLIENTS * LOAD_PER_CLIENT // len(LOAD_INTERPS)
    pids = set()
    for interp in LOAD_INTERPS:
        answers = results[interp]
        assert len(answers) == per_interp
        # Each interpreter counted its own requests, and only those.
        assert sorted(a["n"] for a in answers) == list(range(1, per_interp + 1))
        pids |= {a["pid"] for a in answers}
    assert len(pids) == 1, "answers came from several children: %s" % pids
    assert_no_crashes(load)

    status = get_json(load, "/status?json")
    assert status["pid"] in pids
    rows = {e["name"]: e for e in status["interpreters"]}
    for interp in LOAD_INTERPS:
        assert rows[interp]["gil"] == "own"
        assert rows[interp]["errors"] == 0
        assert rows[interp]["requests"] == per_interp
        assert rows[interp]["active"] == 0


# ---------------------------------------------------------------------------
# Python really runs in parallel in two own-GIL interpreters of one child
#
# A CPU-bound handler (about 50 ms of pure-Python arithmetic) is called in
# two virtual hosts (interpreters named after them), by two clients per host
# at the same time. The child's CPU time (from /proc/<pid>/stat) divided by
# the wall time of the run is about 2 on two free cores with own GILs and at
# most about 1 with the shared GIL, whatever the speed of the machine. The
# shared-GIL bound holds under any load. The own-GIL bound needs two free
# cores: when other processes used more than PAR_QUIET_OTHERS cores during
# every attempt, that test is skipped, not failed (test_gil_modes.py proves
# separate GILs without timing anything). The speed-up itself is the
# benchmark's business (bench/).

PAR_CLIENTS_PER_HOST = 2
PAR_REQUESTS_PER_CLIENT = 8
PAR_TARGET_SECONDS = 0.05
PAR_QUIET_OTHERS = 0.3       # cores other processes may use while we measure

PAR_CONFIG = "\n".join([
    vhost("hydra.test", location("/inventory", interp="p_inventory", handler="og::inventory")),
    vhost("own-a.test", "    PythonInterpGIL own", location("/cpu", handler="og::cpu")),
    vhost("own-b.test", "    PythonInterpGIL own", location("/cpu", handler="og::cpu")),
    vhost("shared-a.test", location("/cpu", handler="og::cpu")),
    vhost("shared-b.test", location("/cpu", handler="og::cpu")),
])


@pytest.fixture(scope="module")
def par(start_apache):
    return start_own_gil_server(start_apache, PAR_CONFIG, {"pylib/og.py": OG_PY})


def process_cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds():
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]            # idle + iowait
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class CpuRun:
    """What one concurrent CPU load showed: the child's CPU time over the
    wall time (`cores`), and the CPU time everything else on the machine
    used over the same wall time (`others`)."""

    def __init__(self, cores, others):
        self.cores, self.others = cores, others

    def __repr__(self):
        return "child %.2f cores, others %.2f cores" % (self.cores, self.others)


def cpu_run(server, hosts, iterations):
    """Runs the concurrent CPU load on `hosts` and measures it (CpuRun)."""
    pid = get_json(server, "/cpu?1", host=hosts[0])["pid"]
    errors = []
    barrier = threading.Barrier(len(hosts) * PAR_CLIENTS_PER_HOST + 1)

    def client(host):
        conn = server.connection()
        try:
            barrier.wait(timeout=30)
            for _ in range(PAR_REQUESTS_PER_CLIENT):
                resp = server.get("/cpu?%d" % iterations, host=host, conn=conn)
                if resp.status != 200 or json.loads(resp.body)["pid"] != pid:
                    errors.append((host, resp.status, resp.body[:300]))
        except Exception as exc:
            errors.append((host, repr(exc)))
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(h,))
               for h in hosts for _ in range(PAR_CLIENTS_PER_HOST)]
    for t in threads:
        t.start()
    barrier.wait(timeout=30)
    cpu0, busy0, wall0 = process_cpu_seconds(pid), machine_busy_seconds(), time.monotonic()
    for t in threads:
        t.join(300)
    cpu1, busy1, wall1 = process_cpu_seconds(pid), machine_busy_seconds(), time.monotonic()
    assert not errors, errors[:5]
    wall = wall1 - wall0
    child = cpu1 - cpu0
    return CpuRun(child / wall, max(0.0, (busy1 - busy0) - child) / wall)


def calibrate(server, host):
    """Loop iterations for about PAR_TARGET_SECONDS of handler CPU time."""
    probe = 200000
    used = min(get_json(server, "/cpu?%d" % probe, host=host)["cpu"] for _ in range(3))
    return max(10000, int(probe * PAR_TARGET_SECONDS / max(used, 1e-4)))


@own_gil
def test_two_own_gil_interpreters_use_two_cores(par):
    if os.cpu_count() < 2:
        pytest.skip("needs two cores")
    iterations = calibrate(par, "own-a.test")
    get_json(par, "/cpu?1", host="own-b.test")
    gil = gil_modes(par)
    assert gil["own-a.test"] == gil["own-b.test"] == "own"
    # Up to three runs; the best quiet one counts. Shared-GIL interpreters
    # stay near 1 core (the next test bounds them at 1.3); other load only
    # lowers the figure, so a quiet run above 1.5 ends the measuring.
    runs = []
    for _ in range(3):
        runs.append(cpu_run(par, ["own-a.test", "own-b.test"], iterations))
        if runs[-1].others <= PAR_QUIET_OTHERS and runs[-1].cores > 1.5:
            break
    quiet = [run for run in runs if run.others <= PAR_QUIET_OTHERS]
    if not quiet:
        pytest.skip("machine too busy to measure parallelism: %s" % runs)
    assert max(run.cores for run in quiet) > 1.4, \
        "own-GIL interpreters did not run in parallel: %s" % runs


@own_gil
def test_two_shared_gil_interpreters_use_at_most_one_core(par):
    # An upper bound: other load on the machine can only lower it.
    iterations = calibrate(par, "shared-a.test")
    get_json(par, "/cpu?1", host="shared-b.test")
    gil = gil_modes(par)
    assert gil["shared-a.test"] == gil["shared-b.test"] == "shared"
    run = cpu_run(par, ["shared-a.test", "shared-b.test"], iterations)
    assert run.cores < 1.3, "shared-GIL interpreters used more than one core: %s" % run
