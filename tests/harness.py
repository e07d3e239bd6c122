"""
harness.py - starts Debian's real /usr/sbin/apache2 on 127.0.0.1 with a
generated configuration in a temporary ServerRoot, and talks HTTP to it.

Owns: the ServerRoot layout, httpd.conf generation (MPM, modules, the module
under test, the test's own snippet), start/stop by the pid in the PidFile,
HTTP helpers, error-log access and `apache2 -t` configuration checks; and,
at the end, the small helpers test modules share instead of copying them:
`location()` for <Location> sections, `get_ok()`/`get_body()`/`get_json()`
for requests that must answer a given status, `log_lines()` and
`assert_no_crashes()` for the error log. Knows nothing about what a
particular test checks; conftest.py turns it into fixtures.

Environment (set by `make test`):
  HYDRA_SO          module under test (default <repo>/build/py3.11/mod_hydra.so)
  HYDRA_PYTHON      the python it was built against (default /usr/bin/python3)
  HYDRA_MP_PACKAGE  mod_python package to copy (default <repo>/python/mod_python)
  HYDRA_KEEP_ROOT   if set, temporary ServerRoots are kept for inspection

Children run as www-data and the repository may sit below a directory they
cannot read, so everything they load is copied into a world-readable root
under /tmp, and the mod_python package is found through PYTHONPATH.
"""

import atexit
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
APACHE_BIN = "/usr/sbin/apache2"
APACHE_MODULES = Path("/usr/lib/apache2/modules")

HYDRA_SO = os.environ.get("HYDRA_SO") or str(REPO / "build" / "py3.11" / "mod_hydra.so")
HYDRA_PYTHON = os.environ.get("HYDRA_PYTHON") or "/usr/bin/python3"
MP_PACKAGE = os.environ.get("HYDRA_MP_PACKAGE") or str(REPO / "python" / "mod_python")
KEEP_ROOT = bool(os.environ.get("HYDRA_KEEP_ROOT"))

# Debian modules every test server gets; a test adds more with `modules=`.
BASE_MODULES = ("authz_core", "mime")

# Lines that mean a child died or Python aborted; no test may produce them.
CRASH_PATTERNS = (
    "exit signal",
    "Fatal Python error",
    "Segmentation fault",
    "AH00052",  # child pid ... exit signal ...
)

# Info lines that only add noise to failure reports.
TAIL_NOISE = ("AH00029",)  # "Module bug? Request filename is missing" (Location handlers)

START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
# How long a graceful stop lets children finish before httpd ends them.
GRACEFUL_STOP_SECONDS = 5
HTTP_TIMEOUT = 30.0
# After this many timed-out requests a server counts as hung: later requests
# fail at once instead of each waiting HTTP_TIMEOUT (keeps a deadlock from
# turning the suite into hours).
MAX_TIMEOUTS = 2

_python_version = None


def python_version():
    """(major, minor) of HYDRA_PYTHON, asked from the interpreter itself."""
    global _python_version
    if _python_version is None:
        out = subprocess.run(
            [HYDRA_PYTHON, "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True, text=True, check=True, timeout=30,
        ).stdout.split()
        _python_version = (int(out[0]), int(out[1]))
    return _python_version


_stdlib_checked = False


def check_python_readable_by_children():
    """The children start Python as www-data: the stdlib of HYDRA_PYTHON
    must be readable by that user (a pyenv under /root is not, unless
    /root is searchable). Raises RuntimeError with the reason."""
    global _stdlib_checked
    if _stdlib_checked or os.geteuid() != 0:
        return
    stdlib = subprocess.run(
        [HYDRA_PYTHON, "-c", "import os; print(os.__file__)"],
        capture_output=True, text=True, check=True, timeout=30).stdout.strip()
    probe = subprocess.run(["runuser", "-u", "www-data", "--", "test", "-r", stdlib],
                           capture_output=True, timeout=30)
    if probe.returncode != 0:
        raise RuntimeError("www-data cannot read %s: Apache children could not start "
                           "Python %s. Make its installation world-readable (e.g. "
                           "chmod o+x on the directories above it)."
                           % (stdlib, "%d.%d" % python_version()))
    _stdlib_checked = True


_compiled_package_dir = None


def _compiled_package():
    """A copy of the mod_python package byte-compiled once per test run by
    the Python under test: the children (www-data) cannot write __pycache__
    into the ServerRoot, and every new interpreter would otherwise compile
    the package again."""
    global _compiled_package_dir
    if _compiled_package_dir is None:
        top = tempfile.mkdtemp(prefix="hydra-pkg-")
        atexit.register(shutil.rmtree, top, True)
        dest = os.path.join(top, "mod_python")
        shutil.copytree(MP_PACKAGE, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        subprocess.run([HYDRA_PYTHON, "-m", "compileall", "-q", dest], check=False,
                       capture_output=True)
        _compiled_package_dir = dest
    return _compiled_package_dir


# Ports this test process handed out already. The kernel may give the same
# ephemeral port to two bind(0) calls in a row once the first socket is
# closed, and a config with two Listen lines on one port does not start.
_ports_handed_out = set()


def free_port():
    """A TCP port on 127.0.0.1 that nobody listens on right now, and that
    this process has not handed out before."""
    for _ in range(1000):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _ports_handed_out:
            _ports_handed_out.add(port)
            return port
    raise RuntimeError("no free port on 127.0.0.1 after 1000 tries")


def _mpm_block(mpm, single_child, children=None):
    """`children` (tests of several processes) fixes the number of child
    processes of either MPM; by default event has one, prefork three."""
    if mpm == "event":
        # One child with enough threads for the concurrency tests: every
        # request lands in the same process.
        n = children or 1
        return "\n".join([
            "LoadModule mpm_event_module %s/mod_mpm_event.so" % APACHE_MODULES,
            "StartServers %d" % n,
            "ServerLimit %d" % n,
            "ThreadLimit 32",
            "ThreadsPerChild 32",
            "MaxRequestWorkers %d" % (32 * n),
            # With `children`, one thread more than n - 1 children have, so
            # that the MPM keeps (and after a graceful restart, makes) n.
            "MinSpareThreads %d" % (32 * (n - 1) + 1 if children else 1),
            # Above every thread of every child: idle children are never stopped.
            "MaxSpareThreads %d" % (32 * n + 32),
            "MaxConnectionsPerChild 0",
        ])
    if mpm == "prefork":
        n = children or (1 if single_child else 3)
        return "\n".join([
            "LoadModule mpm_prefork_module %s/mod_mpm_prefork.so" % APACHE_MODULES,
            "StartServers %d" % n,
            # With `children`, as many idle ones as children: after a
            # graceful restart prefork replaces old children one for one
            # only while they exit within a second of each other; one that
            # takes longer (a keep-alive connection, Python finalizing) is
            # replaced only when fewer than MinSpareServers are idle.
            "MinSpareServers %d" % (n if children else 1),
            "MaxSpareServers %d" % n,
            "ServerLimit %d" % n,
            "MaxRequestWorkers %d" % n,
            "MaxConnectionsPerChild 0",
        ])
    raise ValueError("unknown MPM %r" % mpm)


class Response:
    """An HTTP response; unpacks as (status, headers, body).

    `headers` is an http.client.HTTPMessage (case-insensitive `get`,
    `get_all` for repeated headers), `body` is text, `raw` the bytes."""

    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers
        self.raw = raw
        self.body = raw.decode("utf-8", "replace")

    def __iter__(self):
        return iter((self.status, self.headers, self.body))

    def __repr__(self):
        return "<Response %d %r>" % (self.status, self.body[:200])


class ServerRoot:
    """A temporary, world-readable ServerRoot with the mod_python package
    copied in. `{root}` and `{port}` in config text and in files written
    with `write()` are replaced by the real values (plain replacement, so
    other braces in Python code are left alone)."""

    def __init__(self, prefix="hydra-", extra_ports=0):
        self.path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
        os.chmod(self.path, 0o755)
        self.pylib = self.path / "pylib"       # on PYTHONPATH
        self.var = self.path / "var"           # writable by the children
        self.run = self.path / "run"
        for d in (self.pylib, self.run):
            d.mkdir(mode=0o755)
        self.var.mkdir()
        os.chmod(self.var, 0o777)
        if os.path.isdir(MP_PACKAGE):
            shutil.copytree(_compiled_package(), self.pylib / "mod_python")
        self.port = free_port()
        # more ports for tests that need several listeners: {port2}, {port3}...
        self.extra_ports = []
        while len(self.extra_ports) < extra_ports:
            p = free_port()
            if p != self.port and p not in self.extra_ports:
                self.extra_ports.append(p)
        self._make_readable(self.path)

    def subst(self, text):
        text = text.replace("{root}", str(self.path)).replace("{port}", str(self.port))
        for n, p in enumerate(self.extra_ports, 2):
            text = text.replace("{port%d}" % n, str(p))
        return text

    def write(self, relpath, text, mtime=None):
        """Writes `relpath` (relative to the root), world-readable, creating
        parent directories. `mtime` (epoch seconds) sets the file's times."""
        target = self.path / relpath
        for parent in reversed(target.relative_to(self.path).parents):
            d = self.path / parent
            if not d.exists():
                d.mkdir(mode=0o755)
                os.chmod(d, 0o755)
        target.write_text(self.subst(text))
        os.chmod(target, 0o644)
        if mtime is not None:
            os.utime(target, (mtime, mtime))
        return target

    def mkdir(self, relpath):
        d = self.path / relpath
        d.mkdir(parents=True, exist_ok=True)
        self._make_readable(self.path)
        return d

    def write_files(self, files):
        for relpath, text in (files or {}).items():
            if relpath.endswith("/"):
                self.mkdir(relpath)
            else:
                self.write(relpath, text)

    @staticmethod
    def _make_readable(top):
        for dirpath, dirnames, filenames in os.walk(top):
            if Path(dirpath).name == "var":
                continue
            os.chmod(dirpath, 0o755)
            for f in filenames:
                os.chmod(os.path.join(dirpath, f), 0o644)

    def remove(self):
        if not KEEP_ROOT:
            shutil.rmtree(self.path, ignore_errors=True)


def render_config(root, snippet, mpm="event", modules=(), server_name="hydra.test",
                  single_child=False, so=None, children=None):
    """The whole httpd.conf for one test server."""
    lines = [
        "# generated by tests/harness.py",
        'ServerRoot "%s"' % root.path,
        'DefaultRuntimeDir "%s"' % root.run,
        'PidFile "%s/httpd.pid"' % root.run,
        "Listen 127.0.0.1:%d" % root.port,
    ]
    lines += ["Listen 127.0.0.1:%d" % p for p in root.extra_ports]
    lines += [
        "ServerName %s" % server_name,
        "ServerAdmin admin@hydra.test",
        'ErrorLog "%s/error_log"' % root.path,
        "LogLevel info",
        "User www-data",
        "Group www-data",
        "Timeout 20",
        "KeepAlive On",
        "KeepAliveTimeout 5",
        # stop() is a graceful stop: bounded, so a stuck child cannot hold it.
        "GracefulShutdownTimeout %d" % GRACEFUL_STOP_SECONDS,
        "MaxKeepAliveRequests 0",
        _mpm_block(mpm, single_child, children),
    ]
    for name in dict.fromkeys(BASE_MODULES + tuple(modules)):
        lines.append("LoadModule %s_module %s/mod_%s.so" % (name, APACHE_MODULES, name))
    lines += [
        "LoadModule python_module %s" % (so or HYDRA_SO),
        "TypesConfig /etc/mime.types",
        'DocumentRoot "%s/htdocs"' % root.path,
        '<Directory "%s">' % root.path,
        "    Require all granted",
        "</Directory>",
        "# ---- test snippet ----",
        root.subst(snippet).strip("\n"),
        "",
    ]
    return "\n".join(lines)


def apache_env(root):
    """Environment of the apache2 process: only what it needs."""
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(root.pylib),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    return env


class CheckResult:
    """Result of `apache2 -t`; unpacks as (rc, output)."""

    def __init__(self, rc, output, conf):
        self.rc = rc
        self.output = output
        self.conf = conf
        self.conf_text = Path(conf).read_text()

    def __iter__(self):
        return iter((self.rc, self.output))

    def line_of(self, text):
        """1-based line number of the first config line containing `text`."""
        for n, line in enumerate(self.conf_text.splitlines(), 1):
            if text in line:
                return n
        raise ValueError("%r not in the generated config" % text)


def config_check(snippet, files=None, mpm="event", modules=()):
    """Runs `apache2 -t -f <conf>` on a config made of `snippet`; returns a
    CheckResult (rc, output with stdout and stderr)."""
    root = ServerRoot(prefix="hydra-check-")
    try:
        root.write_files(files)
        conf = root.path / "httpd.conf"
        conf.write_text(render_config(root, snippet, mpm=mpm, modules=modules))
        os.chmod(conf, 0o644)
        root.mkdir("htdocs")
        proc = subprocess.run([APACHE_BIN, "-t", "-f", str(conf)], env=apache_env(root),
                              capture_output=True, text=True, timeout=60)
        return CheckResult(proc.returncode, proc.stdout + proc.stderr, str(conf))
    finally:
        root.remove()


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie nobody reaps is dead for our purposes
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("State:"):
                    return "Z" not in line.split()[1]
    except OSError:
        return False
    return True


class ApacheServer:
    """One running apache2. Use as a context manager or start()/stop().

    config   - the test's httpd.conf snippet ({root}/{port} substituted)
    files    - {relative path: text} written into the ServerRoot before start
               (a key ending in "/" makes an empty directory)
    mpm      - "event" or "prefork"
    modules  - extra Debian modules to load (e.g. "dir", "alias", "include")
    single_child - prefork with exactly one child (event has one by default)
    children - the number of child processes, for either MPM
    extra_ports  - number of additional listeners, {port2}, {port3}, ...
    """

    def __init__(self, config, files=None, mpm="event", modules=(), server_name="hydra.test",
                 single_child=False, so=None, extra_ports=0, children=None):
        self.mpm = mpm
        self.server_name = server_name
        self.root = ServerRoot(extra_ports=extra_ports)
        self.port = self.root.port
        self.extra_ports = self.root.extra_ports
        self.root.mkdir("htdocs")
        self.root.write_files(files)
        self.conf = self.root.path / "httpd.conf"
        self.conf.write_text(render_config(self.root, config, mpm=mpm, modules=modules,
                                           server_name=server_name,
                                           single_child=single_child, so=so,
                                           children=children))
        os.chmod(self.conf, 0o644)
        self.pidfile = self.root.run / "httpd.pid"
        self.log_path = self.root.path / "error_log"
        self.pid = None
        self.timeouts = 0

    # -- lifecycle -------------------------------------------------------

    def start(self):
        if not os.path.exists(HYDRA_SO):
            raise RuntimeError("module under test not found: HYDRA_SO=%s (run make first)" % HYDRA_SO)
        check_python_readable_by_children()
        proc = subprocess.run([APACHE_BIN, "-f", str(self.conf), "-k", "start"],
                              env=apache_env(self.root), capture_output=True, text=True,
                              timeout=60)
        if proc.returncode != 0:
            out = proc.stdout + proc.stderr
            raise RuntimeError("apache2 -k start failed (rc=%d):\n%s" % (proc.returncode, out))
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.pid is None and self.pidfile.exists():
                text = self.pidfile.read_text().strip()
                if text:
                    self.pid = int(text)
            if self.pid is not None:
                if not _pid_alive(self.pid):
                    self.pid = None
                    raise RuntimeError("apache2 exited during start-up:\n" + self.error_log_tail())
                if self._port_answers():
                    return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("apache2 did not come up within %ss:\n%s"
                           % (START_TIMEOUT, self.error_log_tail()))

    def _port_answers(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def stop(self, graceful=False):
        """Stops the server and waits until the parent is gone: SIGTERM
        (`apachectl stop`), or with `graceful` SIGWINCH (`apachectl
        graceful-stop`: children finish what they serve, then run their
        child-exit work; a second slower). Tests that check what a child
        does at exit stop gracefully: Debian's httpd 2.4 event MPM itself
        can crash on SIGTERM (in close_worker_sockets, with or without any
        Python module loaded; docs/migrating.md), and a child that crashed
        ran no child-exit callbacks."""
        pid = self.pid
        if pid is None and self.pidfile.exists():
            text = self.pidfile.read_text().strip()
            pid = int(text) if text else None
        if pid is not None and _pid_alive(pid):
            os.kill(pid, signal.SIGWINCH if graceful else signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT
            while _pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
        self.pid = None

    def close(self):
        self.stop()
        self.root.remove()

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc):
        self.close()

    # -- files -----------------------------------------------------------

    @property
    def path(self):
        return self.root.path

    def write(self, relpath, text, mtime=None):
        return self.root.write(relpath, text, mtime=mtime)

    # -- HTTP ------------------------------------------------------------

    def connection(self, timeout=HTTP_TIMEOUT, port=None):
        return http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=timeout)

    def host_header(self, host=None):
        if host is None:
            return "%s:%d" % (self.server_name, self.port)
        return host

    def request(self, method, path, body=None, headers=(), host=None, conn=None,
                timeout=HTTP_TIMEOUT, port=None):
        """Sends one request and returns a Response. `headers` is a dict or
        a sequence of (name, value) pairs (repeat a name to send duplicates).
        Without `conn` a fresh connection is used and closed afterwards."""
        if self.timeouts >= MAX_TIMEOUTS:
            raise TimeoutError("server stopped answering earlier (%d timeouts); not waiting again"
                               % self.timeouts)
        own = conn is None
        if own:
            conn = self.connection(timeout=timeout, port=port)
        try:
            return self._exchange_retrying(conn, method, path, body, headers, host)
        except TimeoutError:
            self.timeouts += 1
            raise
        finally:
            if own:
                conn.close()

    def _exchange_retrying(self, conn, method, path, body, headers, host):
        try:
            return self._exchange(conn, method, path, body, headers, host)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # A server may close an idle keep-alive connection at any time
            # (the event MPM does when all workers are busy); like any HTTP
            # client, retry once on a fresh connection.
            if not getattr(conn, "hydra_used", False):
                raise
            conn.close()
            conn.hydra_used = False
            return self._exchange(conn, method, path, body, headers, host)

    def _exchange(self, conn, method, path, body, headers, host):
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", self.host_header(host))
        items = headers.items() if hasattr(headers, "items") else headers
        names = set()
        for k, v in items:
            conn.putheader(k, v)
            names.add(k.lower())
        if isinstance(body, str):
            body = body.encode("utf-8")
        if body is not None and "content-length" not in names:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        raw = resp.read()
        conn.hydra_used = True
        return Response(resp.status, resp.headers, raw)

    def get(self, path, host=None, headers=(), **kw):
        """GET `path`; returns Response, which unpacks as (status, headers, body)."""
        return self.request("GET", path, headers=headers, host=host, **kw)

    def post(self, path, body, host=None, headers=(), **kw):
        return self.request("POST", path, body=body, headers=headers, host=host, **kw)

    # -- error log -------------------------------------------------------

    def log_mark(self):
        """Position in the error log; pass it as `since` to see only later lines."""
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def error_log(self, since=0):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(since)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def error_log_tail(self, lines=60):
        kept = [l for l in self.error_log().splitlines() if not any(n in l for n in TAIL_NOISE)]
        return "\n".join(kept[-lines:])

    def wait_for_log(self, pattern, since=0, timeout=10.0):
        """Waits until a line matching regex `pattern` appears after `since`;
        returns the log text after `since`, or raises AssertionError."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            text = self.error_log(since)
            if rx.search(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError("no log line matching %r after %.0fs; log since mark:\n%s"
                                     % (pattern, timeout, text[-4000:]))
            time.sleep(0.05)

    def crash_lines(self, since=0):
        """Error-log lines that show a dead child or an aborted Python."""
        return [line for line in self.error_log(since).splitlines()
                if any(p in line for p in CRASH_PATTERNS)]


# ---------------------------------------------------------------------------
# Helpers shared by the test modules

def location(path, *lines, handler=None, interp=None, gil=None, set_handler="mod_python"):
    """A <Location `path`> section, each line indented by four spaces, in
    this order: `SetHandler set_handler` (none if set_handler is None),
    `PythonInterpreter interp` and `PythonInterpGIL gil` when given, the
    other `lines` as they are, `PythonHandler handler` last when given."""
    body = []
    if set_handler:
        body.append("SetHandler %s" % set_handler)
    if interp:
        body.append("PythonInterpreter %s" % interp)
    if gil:
        body.append("PythonInterpGIL %s" % gil)
    body += lines
    if handler:
        body.append("PythonHandler %s" % handler)
    return "<Location %s>\n%s\n</Location>" % (path, "\n".join("    " + l for l in body))


def get_ok(server, path, status=200, **kw):
    """GET `path` on `server` (keywords as for ApacheServer.get); asserts
    the answer has `status` and returns the Response."""
    resp = server.get(path, **kw)
    assert resp.status == status, "%s -> %d %s" % (path, resp.status, resp.body[:2000])
    return resp


def get_body(server, path, status=200, **kw):
    """get_ok(), returning the body text."""
    return get_ok(server, path, status=status, **kw).body


def get_json(server, path, status=200, **kw):
    """get_ok(), returning the body parsed as JSON."""
    return json.loads(get_ok(server, path, status=status, **kw).body)


def log_lines(log, *words, level=None):
    """The lines of error-log text `log` that contain every one of `words`
    (and `:level]`, e.g. level="warn", when level is given)."""
    if level:
        words += (":%s]" % level,)
    return [line for line in log.splitlines() if all(w in line for w in words)]


def assert_no_crashes(server, since=0):
    """No dead child and no aborted Python in the error log after `since`."""
    crashes = server.crash_lines(since)
    assert crashes == [], crashes
