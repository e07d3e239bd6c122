"""
Initialising a new interpreter: spec/interpreters.md §2 (mod_python.apache
imported, version check, apache.init sets interpreter, main_server and
sys.argv) and §9 (PYTHONPATH from httpd's environment is honoured).
"""

import re
from pathlib import Path

import pytest

import harness
from harness import ApacheServer, get_json, log_lines

INIT_PY = r'''
import json, os, sys
from mod_python import apache

def handler(req):
    req.content_type = "application/json"
    req.write(json.dumps({
        "interp": req.interpreter,
        "apache_interpreter": apache.interpreter,
        "argv": repr(sys.argv),
        "main_server_hostname": apache.main_server.server_hostname,
        "main_server_is_virtual": apache.main_server.is_virtual,
        "req_server_hostname": req.server.server_hostname,
        "pylib_in_path": "{root}/pylib" in sys.path,
        "mod_python_file": sys.modules["mod_python"].__file__,
    }))
    return apache.OK
'''

CONFIG = r'''
<VirtualHost 127.0.0.1:{port}>
    ServerName vhost.example.com
    <Location /sub>
        SetHandler mod_python
        PythonInterpreter sub_one
        PythonHandler inithandler
    </Location>
    <Location /main>
        SetHandler mod_python
        PythonInterpreter main_interpreter
        PythonHandler inithandler
    </Location>
    <Location /default>
        SetHandler mod_python
        PythonHandler inithandler
    </Location>
</VirtualHost>
'''

FILES = {"pylib/inithandler.py": INIT_PY}


@pytest.fixture(scope="module")
def server(mpm):
    with ApacheServer(CONFIG, FILES, mpm=mpm, server_name="main.example.com") as server:
        yield server


VHOST = "vhost.example.com"      # every request goes to the <VirtualHost>


@pytest.mark.parametrize("path, name", [("/sub", "sub_one"), ("/main", "main_interpreter"),
                                        ("/default", "vhost.example.com")])
def test_init_sets_interpreter_name(server, path, name):
    data = get_json(server, path, host=VHOST)
    assert data["interp"] == data["apache_interpreter"] == name


@pytest.mark.parametrize("path", ["/sub", "/main", "/default"])
def test_init_sets_sys_argv(server, path):
    assert get_json(server, path, host=VHOST)["argv"] == "['mod_python']"


def test_main_server_is_the_main_server_not_the_vhost(server):
    data = get_json(server, "/sub", host=VHOST)
    assert data["main_server_hostname"] == "main.example.com"
    assert not data["main_server_is_virtual"]
    assert data["req_server_hostname"] == "vhost.example.com"


@pytest.mark.parametrize("path", ["/sub", "/main"])
def test_pythonpath_environment_is_honoured_in_every_interpreter(server, path):
    data = get_json(server, path, host=VHOST)
    assert data["pylib_in_path"]
    assert data["mod_python_file"] == "%s/pylib/mod_python/__init__.py" % server.path


def test_no_version_mismatch_with_matching_package(server):
    get_json(server, "/sub", host=VHOST)
    assert "mod_python version mismatch" not in server.error_log()


# -- version mismatch --------------------------------------------------------

def mismatched_version_py():
    text = (Path(harness.MP_PACKAGE) / "version.py").read_text()
    changed, n = re.subn(r'(?m)^version\s*=.*$', 'version = "9.9.9-hydra-test"', text)
    assert n == 1, "cannot find the version line in version.py"
    return changed


def test_version_mismatch_is_logged_and_requests_still_work(start_apache):
    files = dict(FILES)
    files["pylib/mod_python/version.py"] = mismatched_version_py()
    server = start_apache(CONFIG, files, mpm="event", server_name="main.example.com")
    assert get_json(server, "/sub", host=VHOST)["interp"] == "sub_one"
    log = server.wait_for_log(r"mod_python version mismatch", timeout=5)
    lines = log_lines(log, "mod_python version mismatch")
    assert any("expected '" in l and "found '9.9.9-hydra-test'" in l for l in lines), lines
    assert all(":warn]" in l for l in lines), lines
    assert "%s/pylib/mod_python" % server.path in log
