"""
Own-GIL interpreters (`PythonInterpGIL own`, Python >= 3.12): spec/beyond.md
§1 and §2. Skipped when the module under test is built against an older
Python (the configuration error for that case is tested in test_errors.py;
parallel execution is probed in test_gil_modes.py).
"""

import json

import pytest

from harness import ApacheServer

pytestmark = pytest.mark.own_gil

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

def mark(req):
    req.py_attr = apache.interpreter
    req.notes["hydra-note"] = apache.interpreter
    return apache.OK

def report(req):
    req.content_type = "application/json"
    req.write(json.dumps({"interp": req.interpreter,
                          "py_attr": getattr(req, "py_attr", None),
                          "note": req.notes.get("hydra-note")}))
    return apache.OK
'''


def loc(path, interp, gil, *extra):
    lines = ["SetHandler mod_python", "PythonInterpreter %s" % interp,
             "PythonInterpGIL %s" % gil] + list(extra) + ["PythonHandler ogmod"]
    return "<Location %s>\n%s\n</Location>" % (path, "\n".join("    " + l for l in lines))


CONFIG = "\n".join([
    loc("/og1", "og1", "own"),
    loc("/og2", "og2", "own"),
    loc("/og1-shared", "og1", "shared"),
    loc("/sh1", "sh1", "shared"),
    loc("/sh2", "sh2", "shared"),
    loc("/main", "main_interpreter", "own"),
    loc("/og-debug", "og3", "own", "PythonDebug Off"),
    '''<Location /split>
    SetHandler mod_python
    PythonInterpGIL own
    PythonInterpPerDirective On
    PythonFixupHandler ogmod::mark
</Location>
<Location /split/inner>
    PythonHandler ogmod::report
</Location>''',
])

FILES = {"pylib/ogmod.py": OGMOD_PY}


@pytest.fixture(scope="module")
def server():
    with ApacheServer(CONFIG, FILES, mpm="event") as server:
        yield server


def call(server, path):
    status, _, body = server.get(path)
    assert status == 200, body
    return json.loads(body)


def test_own_gil_interpreters_serve_requests(server):
    assert call(server, "/og1")["interp"] == "og1"
    assert call(server, "/og2")["interp"] == "og2"


def test_inventory_reports_gil_mode(server):
    for path in ["/og1", "/og2", "/sh1"]:
        call(server, path)
    inventory = call(server, "/og1?inventory")["inventory"]
    gil = {e["name"]: e["gil"] for e in inventory}
    assert gil["og1"] == "own" and gil["og2"] == "own"
    assert gil["sh1"] == "shared"
    assert gil["main_interpreter"] == "main"


def test_own_on_main_interpreter_is_ignored(server):
    assert call(server, "/main")["interp"] == "main_interpreter"
    warnings = [l for l in server.error_log().splitlines()
                if ":warn]" in l and "PythonInterpGIL" in l and "main_interpreter" in l]
    assert warnings, "no warning that PythonInterpGIL own is ignored for main_interpreter"
    inventory = call(server, "/og1?inventory")["inventory"]
    assert {e["name"]: e["gil"] for e in inventory}["main_interpreter"] == "main"


def test_existing_interpreter_keeps_its_mode_and_warns_once(server):
    call(server, "/og1")
    mark = server.log_mark()
    assert call(server, "/og1-shared")["interp"] == "og1"
    assert call(server, "/og1-shared")["interp"] == "og1"
    inventory = call(server, "/og1?inventory")["inventory"]
    assert {e["name"]: e["gil"] for e in inventory}["og1"] == "own"
    warnings = [l for l in server.error_log(mark).splitlines()
                if ":warn]" in l and "og1" in l]
    assert len(warnings) == 1, warnings


def test_python_attributes_on_req_are_per_own_gil_interpreter(server):
    data = call(server, "/split/inner/x")
    assert data["interp"] == "/split/inner"
    assert data["py_attr"] is None               # set by the fixup in "/split"
    assert data["note"] == "/split"              # Apache-backed: shared


def test_single_phase_extension_import_fails_with_hint(server):
    mark = server.log_mark()
    status, _, _ = server.get("/og-debug?single")
    assert status == 500
    log = server.wait_for_log("_testsinglephase", since=mark)
    assert "PythonInterpGIL shared" in log
    assert "PythonInterpreter main_interpreter" in log
