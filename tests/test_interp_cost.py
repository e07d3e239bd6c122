"""
What one more interpreter costs (issue 9): behaviour that keeps it low,
checked without timing anything.

  * a fresh interpreter has not imported importlib (nor warnings): only a
    reload needs them, and `apache.importlib` is still there when asked;
  * one warning at child start (HYDRA0431) when the mod_python package has
    no valid bytecode for this Python, none when it has;
  * `PythonBytecodeCache` (directives.md, Hydra only): every interpreter
    writes and reads compiled modules in one folder the children can
    write, so a handler module in a folder they cannot write is compiled
    once, not once per interpreter; a relative folder is in the runtime
    directory; a folder they cannot write (HYDRA0119) or a path that is
    not a folder (HYDRA0430) is not used; the directive is accepted only
    outside sections.
"""

import os
import shutil

import pytest

import harness
from harness import assert_no_crashes, get_json, location, log_lines

# Answers what this interpreter has loaded, without importing anything
# that would change the answer.
COST_PY = r'''
import sys
from mod_python import apache

def _reply(req, text):
    req.content_type = "application/json"
    req.write(text)
    return apache.OK

def modules(req):
    names = ",".join('"%s"' % n for n in sorted(sys.modules))
    return _reply(req, '{"interp": "%s", "modules": [%s]}' % (apache.interpreter, names))

def cached(req):
    return _reply(req, '{"interp": "%s", "prefix": "%s", "handler": "%s", "apache": "%s"}' % (
        apache.interpreter, sys.pycache_prefix, __cached__, apache.__cached__))

def lazy_importlib(req):
    import importlib
    return _reply(req, '{"same": %s, "listed": %s}' % (
        str(apache.importlib is importlib).lower(), str("importlib" in dir(apache)).lower()))
'''


def handler_locations(directory, *interps):
    """<Location /NAME/FUNC> for every interpreter NAME and every function
    of COST_PY, the handler module found in `directory`."""
    return "\n".join(
        location("/%s/%s" % (name, func), "PythonPath \"['%s'] + sys.path\"" % directory,
                 interp=name, handler="cost_handler::" + func)
        for name in interps for func in ("modules", "cached", "lazy_importlib"))


@pytest.fixture(scope="module")
def server(start_apache, mpm):
    return start_apache(handler_locations("{root}/handlers", "fresh", "other"),
                        {"handlers/cost_handler.py": COST_PY}, mpm=mpm)


def test_fresh_interpreter_has_not_imported_importlib(server):
    loaded = get_json(server, "/fresh/modules")
    assert loaded["interp"] == "fresh"
    assert "mod_python.apache" in loaded["modules"]
    assert "importlib" not in loaded["modules"]
    assert "warnings" not in loaded["modules"]


def test_apache_importlib_is_still_a_name_of_the_module(server):
    assert get_json(server, "/other/lazy_importlib") == {"same": True, "listed": True}


def test_no_bytecode_warning_when_the_package_is_compiled(server):
    get_json(server, "/fresh/modules")
    assert log_lines(server.error_log(), "HYDRA0431") == []
    assert_no_crashes(server)


def test_one_warning_at_child_start_when_the_package_has_no_bytecode():
    # The harness copies a byte-compiled package; take its bytecode away.
    # The children cannot write pylib/ (root's, 0755), and the tests run
    # with PYTHONDONTWRITEBYTECODE anyway: nothing is compiled for them.
    server = harness.ApacheServer(handler_locations("{root}/handlers", "fresh"),
                                  {"handlers/cost_handler.py": COST_PY})
    try:
        shutil.rmtree(server.root.pylib / "mod_python" / "__pycache__")
        server.start()
        get_json(server, "/fresh/modules")
        lines = log_lines(server.error_log(), "HYDRA0431", level="warn")
        assert len(lines) == 1, lines
        assert str(server.root.pylib / "mod_python") in lines[0]
        assert "PythonBytecodeCache" in lines[0]
        assert_no_crashes(server)
    finally:
        server.close()


@pytest.fixture(scope="module")
def bytecode_writing(monkeypatch_module):
    """The harness runs Apache with PYTHONDONTWRITEBYTECODE=1; a bytecode
    cache needs CPython to write bytecode."""
    real = harness.apache_env

    def env(root):
        e = real(root)
        e.pop("PYTHONDONTWRITEBYTECODE", None)
        return e

    monkeypatch_module.setattr(harness, "apache_env", env)


@pytest.fixture(scope="module")
def monkeypatch_module():
    patch = pytest.MonkeyPatch()
    yield patch
    patch.undo()


@pytest.fixture(scope="module")
def cached_server(start_apache, bytecode_writing):
    return start_apache("PythonBytecodeCache On\n"
                        + handler_locations("{root}/handlers", "first", "second"),
                        {"handlers/cost_handler.py": COST_PY})


def pyc_in_cache(server, source):
    tag = "cpython-%d%d" % harness.python_version()
    name = os.path.basename(source)[:-3] + "." + tag + ".pyc"
    return os.path.join(str(server.root.run), "hydra-pycache",
                        os.path.dirname(str(source)).lstrip("/"), name)


def test_bytecode_cache_is_made_in_the_runtime_directory_for_the_children(cached_server):
    cache = cached_server.root.run / "hydra-pycache"
    assert cache.is_dir()
    assert cache.stat().st_uid == harness_user_id()


def harness_user_id():
    import pwd
    return pwd.getpwnam("www-data").pw_uid if os.geteuid() == 0 else os.geteuid()


def test_handler_from_an_unwritable_folder_is_compiled_once_for_every_interpreter(cached_server):
    source = cached_server.root.path / "handlers" / "cost_handler.py"
    pyc = pyc_in_cache(cached_server, source)
    # The children cannot write handlers/ (root's, 0755): no __pycache__ there.
    first = get_json(cached_server, "/first/cached")
    assert first["prefix"] == str(cached_server.root.run / "hydra-pycache")
    assert first["handler"] == pyc
    assert os.path.isfile(pyc)
    assert not (cached_server.root.path / "handlers" / "__pycache__").exists()
    written = os.stat(pyc)
    # A second interpreter loads the same bytecode: a compile would have
    # replaced the file (CPython writes a new file and renames it).
    second = get_json(cached_server, "/second/cached")
    assert second["interp"] == "second" and second["handler"] == pyc
    again = os.stat(pyc)
    assert (again.st_ino, again.st_mtime_ns) == (written.st_ino, written.st_mtime_ns)


def test_the_package_is_compiled_into_the_cache_and_no_warning_is_logged(cached_server):
    apache_py = cached_server.root.pylib / "mod_python" / "apache.py"
    assert get_json(cached_server, "/first/cached")["apache"] == pyc_in_cache(cached_server,
                                                                             apache_py)
    assert os.path.isfile(pyc_in_cache(cached_server, apache_py))
    assert log_lines(cached_server.error_log(), "HYDRA0431") == []
    assert_no_crashes(cached_server)


def test_a_cache_the_children_cannot_write_is_not_used(start_apache, bytecode_writing):
    if os.geteuid() != 0:
        pytest.skip("needs root: the children must not be able to write rootonly/")
    server = start_apache("PythonBytecodeCache {root}/rootonly\n"
                          + handler_locations("{root}/handlers", "first"),
                          {"handlers/cost_handler.py": COST_PY, "rootonly/": None})
    assert get_json(server, "/first/cached")["prefix"] == "None"
    lines = log_lines(server.error_log(), "HYDRA0119", "rootonly", level="warn")
    assert len(lines) == 1, lines
    assert_no_crashes(server)


def test_a_relative_cache_directory_is_in_the_runtime_directory(start_apache, bytecode_writing):
    server = start_apache("PythonBytecodeCache my-cache\n"
                          + handler_locations("{root}/handlers", "first"),
                          {"handlers/cost_handler.py": COST_PY})
    assert get_json(server, "/first/cached")["prefix"] == str(server.root.run / "my-cache")
    assert (server.root.run / "my-cache").is_dir()


def test_a_cache_path_that_is_a_file_is_not_used(start_apache, bytecode_writing):
    server = start_apache("PythonBytecodeCache {root}/a-file\n"
                          + handler_locations("{root}/handlers", "first"),
                          {"handlers/cost_handler.py": COST_PY, "a-file": "not a folder\n"})
    assert get_json(server, "/first/cached")["prefix"] == "None"
    lines = log_lines(server.error_log(), "HYDRA0430", "not a directory")
    assert len(lines) == 1, lines
    assert_no_crashes(server)


@pytest.mark.parametrize("where", ["<Directory /tmp>", "<VirtualHost *:80>"])
def test_bytecode_cache_is_refused_inside_sections(config_check, where):
    end = "</%s>" % where[1:].split()[0]
    rc, out = config_check("%s\n    PythonBytecodeCache On\n%s" % (where, end))
    assert rc != 0
    assert "PythonBytecodeCache" in out


def test_bytecode_cache_off_is_accepted(config_check):
    rc, out = config_check("PythonBytecodeCache Off")
    assert rc == 0, out
