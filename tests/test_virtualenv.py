"""
Virtual environments per interpreter, `PythonVirtualEnv PATH`: spec/beyond.md
§5 and docs/directives.md (PythonVirtualEnv).

The venvs are made by the test with the Python the module is built against
(`python -m venv --without-pip`), each holding its own version of one
pure-Python package `vpkg`.

  * configuration errors with file and line: a venv made by another Python
    X.Y (both versions named), a directory without pyvenv.cfg, a missing
    path; a virtualenv-style `version_info` key is accepted; .htaccess is
    refused;
  * three virtual hosts in one child, two with their own venvs, one
    without: each imports its own vpkg (or none), has the venv as
    sys.prefix/sys.exec_prefix, and the venv hosts do not see the base
    installation's site-packages; a .pth file of a venv works;
    `include-system-site-packages = true` keeps the base site-packages,
    after the venv's;
  * an interpreter keeps the venv it was created with, and another value
    for it warns once;
  * PythonImport into a venv'd interpreter runs with the venv;
  * own-GIL interpreters and every replica of a pool (3.12+) get the venv;
  * the main interpreter takes the server-level PythonVirtualEnv at start;
    a section running in it with another one warns at start and when used;
  * under the event and the prefork MPM.
"""

import json
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

import harness
from harness import ApacheServer, assert_no_crashes, get_json, location, log_lines

PY_VERSION = harness.python_version()
OTHER_PYTHON = ("/usr/bin/python3" if PY_VERSION != (3, 11)
                else "/root/.pyenv/versions/3.13.0/bin/python3")

VINFO_PY = r'''
import importlib.util, json, os, sys, time
from mod_python import apache

def handler(req):
    args = dict(a.split("=", 1) for a in (req.args or "").split("&") if "=" in a)
    if "sleep" in args:
        time.sleep(float(args["sleep"]))
    try:
        import vpkg
        version, vfile = vpkg.VERSION, vpkg.__file__
    except ImportError:
        version = vfile = None
    try:
        import vextra
        extra = vextra.WHERE
    except ImportError:
        extra = None
    probe = args.get("probe")
    warm = sys.modules.get("vwarm")
    req.content_type = "application/json"
    req.write(json.dumps({
        "interp": req.interpreter, "replica": apache.interpreter_replica,
        "pid": os.getpid(), "prefix": sys.prefix, "exec_prefix": sys.exec_prefix,
        "base_prefix": sys.base_prefix, "path": sys.path, "version": version,
        "vfile": vfile, "extra": extra, "mp_file": apache.__file__,
        "probe": probe and importlib.util.find_spec(probe) is not None,
        "warm": getattr(warm, "VERSION", "not imported"),
        "gil": [i["gil"] for i in apache.interpreters() if i["name"] == req.interpreter],
    }))
    return apache.OK
'''

# Imported by PythonImport at child start: what vpkg was then.
VWARM_PY = r'''
try:
    import vpkg
    VERSION = vpkg.VERSION
except ImportError:
    VERSION = None
'''


def _make_readable(top):
    for dirpath, dirnames, filenames in os.walk(top):
        os.chmod(dirpath, 0o755)
        for f in filenames:
            path = os.path.join(dirpath, f)
            if not os.path.islink(path):
                os.chmod(path, 0o644 if not os.access(path, os.X_OK) else 0o755)


def version_of(python):
    """"X.Y" of the Python `python`."""
    return subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                          check=True, capture_output=True, text=True).stdout.strip()


def make_venv(python, path, version=None, system=False):
    """A venv at `path` made by `python`, holding vpkg with VERSION
    `version` (none if None). Returns its site-packages directory."""
    cmd = [python, "-m", "venv", "--without-pip"] + (["--system-site-packages"] if system else [])
    subprocess.run(cmd + [str(path)], check=True, capture_output=True, timeout=120)
    major_minor = version_of(python)
    site_dir = path / "lib" / ("python" + major_minor) / "site-packages"
    assert site_dir.is_dir(), site_dir
    if version:
        (site_dir / "vpkg").mkdir()
        (site_dir / "vpkg" / "__init__.py").write_text('VERSION = "%s"\n' % version)
    return site_dir


@pytest.fixture(scope="module")
def venvs():
    """{name: path} of the venvs of this module, in a world-readable
    directory (the children run as www-data)."""
    top = Path(tempfile.mkdtemp(prefix="hydra-venvs-", dir="/tmp"))
    try:
        made = {"top": top}
        for name, version, system in (("a", "1.0", False), ("b", "2.0", False),
                                      ("sys", "3.0", True)):
            site_dir = make_venv(harness.HYDRA_PYTHON, top / name, version, system)
            made[name] = top / name
            made[name + "_site"] = site_dir
        # A .pth file in venv a adds a directory outside the venv.
        extra = top / "a-extra"
        extra.mkdir()
        (extra / "vextra.py").write_text('WHERE = "a-extra"\n')
        (made["a_site"] / "hydra-extra.pth").write_text("# a comment line\n%s\n" % extra)
        if os.path.exists(OTHER_PYTHON):
            make_venv(OTHER_PYTHON, top / "other", "9.9")
            made["other"] = top / "other"
        (top / "not-a-venv").mkdir()
        made["not-a-venv"] = top / "not-a-venv"
        _make_readable(top)
        yield made
    finally:
        shutil.rmtree(top, ignore_errors=True)


def vhost(name, *lines):
    body = ["ServerName %s" % name] + list(lines) + [
        location("/info", handler="vinfo")]
    return "<VirtualHost 127.0.0.1:{port}>\n%s\n</VirtualHost>" % "\n".join(
        "    " + line for block in body for line in block.split("\n"))


def runtime_config(venvs):
    lines = [
        # The main server's own sections, in interpreters named here.
        "PythonImport vwarm imported",
        location("/imported", "PythonInterpreter imported",
                 "PythonVirtualEnv %s" % venvs["a"], handler="vinfo"),
        # va.test was created with venv a by its own requests; this asks for b.
        location("/conflict", "PythonInterpreter va.test",
                 "PythonVirtualEnv %s" % venvs["b"], handler="vinfo"),
        "<Directory {root}/htdocs/ht>",
        "    AllowOverride All",
        "    SetHandler mod_python",
        "    PythonHandler vinfo",
        "</Directory>",
    ]
    if PY_VERSION >= (3, 12):
        lines += [
            location("/own", "PythonInterpreter own_a", "PythonInterpGIL own",
                     "PythonVirtualEnv %s" % venvs["a"], handler="vinfo"),
            "PythonImport vwarm pool_b",
            location("/pool", "PythonInterpreter pool_b", "PythonInterpPool 2",
                     "PythonVirtualEnv %s" % venvs["b"], handler="vinfo"),
        ]
    lines += [
        vhost("va.test", "PythonVirtualEnv %s" % venvs["a"]),
        vhost("vb.test", "PythonVirtualEnv %s/" % venvs["b"]),   # canonicalised
        vhost("plain.test"),
        vhost("vsys.test", "PythonVirtualEnv %s" % venvs["sys"]),
    ]
    return "\n".join(lines)


FILES = {"pylib/vinfo.py": VINFO_PY, "pylib/vwarm.py": VWARM_PY,
         "htdocs/ht/.htaccess": "PythonVirtualEnv /nonexistent\n"}


@pytest.fixture(scope="module")
def server(venvs, mpm):
    # One child under prefork too, so that "warns once" means once.
    with ApacheServer(runtime_config(venvs), FILES, mpm=mpm, single_child=True) as server:
        yield server


def info(server, host, path="/info", **kw):
    return get_json(server, path, host=host, **kw)


def base_site_dirs(server):
    """The base installation's site-packages directories that are on
    sys.path of an interpreter without a venv."""
    plain = info(server, "plain.test")
    probe = subprocess.run([harness.HYDRA_PYTHON, "-c",
                            "import json, site; print(json.dumps(site.getsitepackages()))"],
                           check=True, capture_output=True, text=True).stdout
    dirs = [os.path.normpath(d) for d in json.loads(probe)]
    on_path = [p for p in plain["path"] if os.path.normpath(p) in dirs]
    assert on_path, (dirs, plain["path"])
    return on_path


def a_base_package(server):
    """A top-level package in the base site-packages (not ours)."""
    for d in base_site_dirs(server):
        for entry in sorted(os.listdir(d)):
            if (os.path.isfile(os.path.join(d, entry, "__init__.py"))
                    and entry not in ("mod_python", "vpkg") and entry.isidentifier()):
                return entry
    pytest.skip("no package in the base site-packages to probe")


# ---------------------------------------------------------------------------
# The directive

def _section(snippet, section):
    if section is None:
        return snippet
    return "%s\n    %s\n</%s>" % (section, snippet, section[1:].split()[0].rstrip(">"))


SECTIONS = [None, "<VirtualHost 127.0.0.1:{port}>", "<Location /app>", "<Directory /srv>"]
SECTION_IDS = ["server", "virtualhost", "location", "directory"]


@pytest.mark.parametrize("section", SECTIONS, ids=SECTION_IDS)
def test_a_venv_is_accepted_in_every_context(config_check, venvs, section):
    rc, output = config_check(_section("PythonVirtualEnv %s" % venvs["a"], section))
    assert rc == 0, output


@pytest.mark.parametrize("section", [None, "<Location /app>"], ids=["server", "location"])
def test_a_venv_of_another_python_fails_with_both_versions(config_check, venvs, section):
    if "other" not in venvs:
        pytest.skip("no %s to make a venv of another Python" % OTHER_PYTHON)
    bad = "PythonVirtualEnv %s" % venvs["other"]
    result = config_check(_section(bad, section))
    assert result.rc != 0, result.output
    assert "line %d" % result.line_of(bad) in result.output, result.output
    assert result.conf in result.output, result.output
    assert "PythonVirtualEnv" in result.output
    assert str(venvs["other"]) in result.output
    other = version_of(OTHER_PYTHON)
    assert "Python %s" % other in result.output, result.output
    assert "Python %d.%d" % PY_VERSION in result.output, result.output


@pytest.mark.parametrize("what", ["not-a-venv", "missing"])
def test_a_path_that_is_no_venv_fails(config_check, venvs, what):
    path = venvs["not-a-venv"] if what == "not-a-venv" else venvs["top"] / "missing"
    bad = "PythonVirtualEnv %s" % path
    result = config_check("<VirtualHost 127.0.0.1:{port}>\n    %s\n</VirtualHost>" % bad)
    assert result.rc != 0, result.output
    assert "line %d" % result.line_of(bad) in result.output, result.output
    assert result.conf in result.output, result.output
    assert "PythonVirtualEnv %s" % path in result.output, result.output
    if what == "not-a-venv":
        assert "pyvenv.cfg" in result.output, result.output


def test_a_relative_path_is_taken_from_the_server_root(config_check):
    result = config_check("PythonVirtualEnv relative/venv")
    assert result.rc != 0
    root = os.path.dirname(result.conf)
    assert "PythonVirtualEnv %s/relative/venv" % root in result.output, result.output


def test_a_virtualenv_style_version_info_is_accepted(config_check, venvs):
    fake = venvs["top"] / "virtualenv-style"
    fake.mkdir(exist_ok=True)
    (fake / "pyvenv.cfg").write_text(
        "home = /usr/bin\nimplementation = CPython\nversion_info = %d.%d.0.final.0\n"
        "virtualenv = 20.0.0\ninclude-system-site-packages = false\n" % PY_VERSION)
    _make_readable(fake)
    rc, output = config_check("PythonVirtualEnv %s" % fake)
    assert rc == 0, output


def test_a_pyvenv_cfg_without_version_fails(config_check, venvs):
    fake = venvs["top"] / "no-version"
    fake.mkdir(exist_ok=True)
    (fake / "pyvenv.cfg").write_text("home = /usr/bin\n")
    _make_readable(fake)
    result = config_check("PythonVirtualEnv %s" % fake)
    assert result.rc != 0
    assert "no version key" in result.output, result.output


def test_a_venv_is_not_allowed_in_htaccess(server):
    mark = server.log_mark()
    status, _, _ = server.get("/ht/")
    assert status == 500
    server.wait_for_log(r"PythonVirtualEnv not allowed here", since=mark)


# ---------------------------------------------------------------------------
# What an interpreter sees

def test_each_virtual_host_imports_its_own_package(server, venvs):
    a, b, plain = (info(server, h) for h in ("va.test", "vb.test", "plain.test"))
    assert a["version"] == "1.0" and a["vfile"].startswith(str(venvs["a"]))
    assert b["version"] == "2.0" and b["vfile"].startswith(str(venvs["b"]))
    assert plain["version"] is None
    assert a["pid"] == b["pid"] == plain["pid"]   # one child, three interpreters
    assert {a["interp"], b["interp"], plain["interp"]} == {"va.test", "vb.test", "plain.test"}


def test_sys_prefix_is_the_venv(server, venvs):
    a, b, plain = (info(server, h) for h in ("va.test", "vb.test", "plain.test"))
    assert a["prefix"] == a["exec_prefix"] == os.path.realpath(venvs["a"])
    assert b["prefix"] == b["exec_prefix"] == os.path.realpath(venvs["b"])
    assert plain["prefix"] == plain["base_prefix"] == a["base_prefix"]
    assert plain["prefix"] not in (a["prefix"], b["prefix"])


def test_the_venv_site_packages_replace_the_base_ones(server, venvs):
    base = base_site_dirs(server)
    for host, name in (("va.test", "a"), ("vb.test", "b")):
        data = info(server, host)
        assert str(venvs[name + "_site"]) in data["path"]
        assert not [p for p in data["path"] if os.path.normpath(p) in base], data["path"]
    package = a_base_package(server)
    assert info(server, "plain.test", path="/info?probe=" + package)["probe"] is True
    assert info(server, "va.test", path="/info?probe=" + package)["probe"] is False


def test_mod_python_is_still_the_package_hydra_runs(server):
    for host in ("va.test", "vb.test", "plain.test", "vsys.test"):
        data = info(server, host)
        assert data["mp_file"].startswith(str(server.root.pylib)), data["mp_file"]


def test_a_pth_file_in_the_venv_is_processed(server, venvs):
    a = info(server, "va.test")
    assert a["extra"] == "a-extra"
    assert str(venvs["top"] / "a-extra") in a["path"]
    assert info(server, "vb.test")["extra"] is None
    assert info(server, "plain.test")["extra"] is None


def test_include_system_site_packages_keeps_the_base_after_the_venv(server, venvs):
    data = info(server, "vsys.test")
    assert data["version"] == "3.0"
    assert data["prefix"] == os.path.realpath(venvs["sys"])
    path = [os.path.normpath(p) for p in data["path"]]
    base = base_site_dirs(server)
    venv_site = path.index(os.path.normpath(venvs["sys_site"]))
    assert all(b in path and path.index(b) > venv_site for b in base), data["path"]
    package = a_base_package(server)
    assert info(server, "vsys.test", path="/info?probe=" + package)["probe"] is True


def test_another_venv_for_an_existing_interpreter_warns_once(server, venvs):
    assert info(server, "va.test")["version"] == "1.0"     # va.test exists, with venv a
    mark = server.log_mark()
    for _ in range(3):
        data = get_json(server, "/conflict")
        assert data["interp"] == "va.test"
        assert data["version"] == "1.0" and data["prefix"] == os.path.realpath(venvs["a"])
    server.wait_for_log(r"HYDRA0118: interpreter 'va.test'", since=mark)
    warnings = log_lines(server.error_log(mark), "HYDRA0118", "'va.test'", level="warn")
    assert len(warnings) == 1, warnings
    assert str(venvs["a"]) in warnings[0] and str(venvs["b"]) in warnings[0]
    assert_no_crashes(server)


def test_python_import_runs_in_the_venv(server, venvs):
    data = get_json(server, "/imported")
    assert data["interp"] == "imported"
    assert data["warm"] == "1.0"
    assert data["prefix"] == os.path.realpath(venvs["a"])
    # It was created with the venv its section asks for: no conflict.
    assert not log_lines(server.error_log(), "HYDRA0118", "'imported'")


def test_the_set_up_is_logged(server, venvs):
    info(server, "va.test")
    assert log_lines(server.error_log(), "HYDRA0241", "'va.test'", str(venvs["a"]))
    assert not log_lines(server.error_log(), "HYDRA0241", "'plain.test'")


@pytest.mark.own_gil
def test_an_own_gil_interpreter_gets_the_venv(server, venvs):
    data = get_json(server, "/own")
    assert data["gil"] == ["own"]
    assert data["version"] == "1.0" and data["extra"] == "a-extra"
    assert data["prefix"] == os.path.realpath(venvs["a"])


@pytest.mark.own_gil
def test_every_replica_of_a_pool_gets_the_venv(server, venvs):
    if server.mpm != "event":
        pytest.skip("prefork serves one request at a time per child: one replica")
    answers, lock = [], threading.Lock()

    def client(i):
        data = get_json(server, "/pool?sleep=1.0&n=%d" % i)  # long enough to overlap
        with lock:
            answers.append(data)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(answers) == 6
    assert {a["replica"] for a in answers} == {0, 1}, answers
    for a in answers:
        assert a["interp"] == "pool_b"
        assert a["version"] == "2.0" and a["prefix"] == os.path.realpath(venvs["b"])
        assert a["warm"] == "2.0"   # PythonImport ran in the replica, with the venv
    assert not log_lines(server.error_log(), "HYDRA0118", "'pool_b'")


# ---------------------------------------------------------------------------
# The main interpreter

def test_the_main_interpreter_takes_the_server_level_venv(start_apache, venvs):
    config = "\n".join([
        "PythonVirtualEnv %s" % venvs["a"],
        location("/main", "PythonInterpreter main_interpreter", handler="vinfo"),
        location("/main-b", "PythonInterpreter main_interpreter",
                 "PythonVirtualEnv %s" % venvs["b"], handler="vinfo"),
        location("/host", handler="vinfo"),
        vhost("plainer.test"),
    ])
    server = start_apache(config, FILES, mpm="event")
    main = get_json(server, "/main")
    assert main["interp"] == "main_interpreter" and main["gil"] == ["main"]
    assert main["version"] == "1.0" and main["prefix"] == os.path.realpath(venvs["a"])
    # A virtual host inherits the server-level venv, as every directive does.
    assert info(server, "plainer.test")["version"] == "1.0"
    assert get_json(server, "/host")["version"] == "1.0"
    mark = server.log_mark()
    for _ in range(2):
        assert get_json(server, "/main-b")["version"] == "1.0"
    server.wait_for_log(r"HYDRA0118: interpreter 'main_interpreter'", since=mark)
    assert len(log_lines(server.error_log(mark), "HYDRA0118", level="warn")) == 1
    # ... and was announced at start-up, for that section only.
    start_warnings = log_lines(server.error_log(), "HYDRA0420", level="warn")
    assert len(start_warnings) == 1, start_warnings
    assert "'/main-b'" in start_warnings[0] and str(venvs["b"]) in start_warnings[0]
    assert str(venvs["a"]) in start_warnings[0]
    assert_no_crashes(server)


def test_no_venv_changes_nothing(start_apache):
    server = start_apache(location("/info", handler="vinfo"), FILES, mpm="event")
    data = get_json(server, "/info")
    assert data["prefix"] == data["base_prefix"] and data["version"] is None
    assert not log_lines(server.error_log(), "HYDRA0241")
    assert not log_lines(server.error_log(), "HYDRA0118")
    assert not log_lines(server.error_log(), "HYDRA0420")


def test_a_venv_gone_after_start_fails_the_interpreter_not_the_child(start_apache, venvs):
    gone = venvs["top"] / "gone"
    make_venv(harness.HYDRA_PYTHON, gone, "4.0")
    _make_readable(gone)
    server = start_apache(vhost("gone.test", "PythonVirtualEnv %s" % gone), FILES, mpm="event")
    cfg = gone / "pyvenv.cfg"
    cfg.rename(gone / "pyvenv.cfg.away")
    try:
        mark = server.log_mark()
        status, _, _ = server.get("/info", host="gone.test")
        assert status == 500
        server.wait_for_log(r"HYDRA0240: cannot use PythonVirtualEnv %s in interpreter "
                            r"'gone.test'" % gone, since=mark)
        # The interpreter was not used with the base installation instead.
        assert not log_lines(server.error_log(mark), "HYDRA0241", "'gone.test'")
    finally:
        (gone / "pyvenv.cfg.away").rename(cfg)
    assert_no_crashes(server)
