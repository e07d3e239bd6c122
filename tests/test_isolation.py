"""
Isolation and reuse of interpreters inside one child: spec/interpreters.md
§1 (registry: exactly one interpreter per name, reused) and §10 (state is
per child and per interpreter).

The server has exactly one child (event: ServerLimit 1; prefork: one
process), so every request lands in the same process; handlers report
os.getpid() to prove it.
"""

import uuid

import pytest

from harness import ApacheServer, get_json

STATE_PY = r'''
import json, os, sys
from mod_python import apache

COUNTER = 0
SECRET = None
TOKEN = object()          # created once per import, i.e. per interpreter

def handler(req):
    global COUNTER, SECRET
    action = req.uri.rsplit("/", 1)[-1]
    out = {"interp": req.interpreter, "pid": os.getpid(), "token": id(TOKEN)}
    if action == "bump":
        COUNTER += 1
        out["counter"] = COUNTER
    elif action == "set":
        SECRET = req.args
    elif action == "get":
        out["secret"] = SECRET
    elif action == "import_private":
        import private_mod
    elif action == "add_path":
        sys.path.append("/hydra-isolation-marker")
    elif action == "inspect":
        out["private_loaded"] = "private_mod" in sys.modules
        out["marker_in_path"] = "/hydra-isolation-marker" in sys.path
    req.content_type = "application/json"
    req.write(json.dumps(out))
    return apache.OK
'''

CONFIG = r'''
<Location /one>
    SetHandler mod_python
    PythonInterpreter one
    PythonHandler state
</Location>
<Location /one-again>
    SetHandler mod_python
    PythonInterpreter one
    PythonHandler state
</Location>
<Location /two>
    SetHandler mod_python
    PythonInterpreter two
    PythonHandler state
</Location>
<Location /main>
    SetHandler mod_python
    PythonInterpreter main_interpreter
    PythonHandler state
</Location>
'''

FILES = {
    "pylib/state.py": STATE_PY,
    "pylib/private_mod.py": "VALUE = 1\n",
}


@pytest.fixture(scope="module")
def server(mpm):
    with ApacheServer(CONFIG, FILES, mpm=mpm, single_child=True) as server:
        yield server


def test_module_global_set_in_one_interpreter_is_not_seen_in_another(server):
    secret = uuid.uuid4().hex
    a = get_json(server, "/one/set?" + secret)
    assert get_json(server, "/one/get")["secret"] == secret
    b = get_json(server, "/two/get")
    m = get_json(server, "/main/get")
    assert b["secret"] is None and m["secret"] is None
    assert a["pid"] == b["pid"] == m["pid"], "test needs one child"
    assert len({a["token"], b["token"], m["token"]}) == 3


def test_counter_grows_across_requests_in_same_interpreter_and_process(server):
    results = [get_json(server, "/one/bump") for _ in range(5)]
    counters = [r["counter"] for r in results]
    assert counters == list(range(counters[0], counters[0] + 5))
    assert len({r["pid"] for r in results}) == 1
    assert len({r["token"] for r in results}) == 1, "module was imported again"


def test_counter_is_per_interpreter(server):
    one = get_json(server, "/one/bump")["counter"]
    two_first = get_json(server, "/two/bump")["counter"]
    two_second = get_json(server, "/two/bump")["counter"]
    assert two_second == two_first + 1
    assert get_json(server, "/one/bump")["counter"] == one + 1


def test_same_name_in_two_sections_is_one_interpreter(server):
    secret = uuid.uuid4().hex
    get_json(server, "/one/set?" + secret)
    again = get_json(server, "/one-again/get")
    assert again["interp"] == "one"
    assert again["secret"] == secret
    assert again["token"] == get_json(server, "/one/get")["token"]


def test_imported_module_is_private_to_its_interpreter(server):
    get_json(server, "/one/import_private")
    assert get_json(server, "/one/inspect")["private_loaded"] is True
    assert get_json(server, "/two/inspect")["private_loaded"] is False
    assert get_json(server, "/main/inspect")["private_loaded"] is False


def test_sys_path_edit_is_private_to_its_interpreter(server):
    get_json(server, "/two/add_path")
    assert get_json(server, "/two/inspect")["marker_in_path"] is True
    assert get_json(server, "/one/inspect")["marker_in_path"] is False
    assert get_json(server, "/main/inspect")["marker_in_path"] is False
