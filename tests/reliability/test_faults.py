"""
Faults cost only their own request (reliability issue, item 3; DESIGN.md:
"a failing handler or a broken interpreter costs one request a 500 and a
clear error-log line, never the child process").

One child (event MPM; prefork with a single child), one interpreter
"faults". Each fault is followed by a request to the same interpreter in
the same process, which must succeed:

  raise          an exception -> 500 and a traceback in the log
  non-int        a str / None / float result -> 500
  recursion      Python recursion, repr() and json.dumps() of a structure
                 nested 100,000 deep -> RecursionError -> 500
  client gone    the client disconnects; the handler keeps writing 24 MiB:
                 req.write raises OSError, the handler sees it
  never returns  (threaded MPM) a handler that sleeps, and one that spins
                 on the CPU, until the test releases them: the client times
                 out, other requests in the same interpreter and process
                 are answered meanwhile

And interpreters that cannot be made:

  creation fails while var/break-interpreters exists, a sitecustomize
                 refuses `mod_python.apache` in every interpreter created
                 afterwards: clear 500s naming the interpreter, other
                 interpreters unaffected, not one new half-made interpreter
                 per request (a retry back-off), and once the cause is gone
                 the interpreter is created and succeeds
  PythonPath     an expression that raises -> 500 with the traceback; it is
                 evaluated again on the next request, which succeeds once
                 the expression does
"""

import json
import os
import socket
import time

import pytest

import harness
from harness import ApacheServer, get_json, location
import procfs

FAULTS_PY = r'''
import json, os, sys, time
from mod_python import apache

RELEASE = "{root}/var/release"

def ok(req):
    req.content_type = "application/json"
    req.write(json.dumps({"interp": req.interpreter, "pid": os.getpid(),
                          "path0": sys.path[0]}))
    return apache.OK

def boom(req):
    raise ValueError("hydra-fault-raise")

def ret_str(req):
    return "ok"

def ret_none(req):
    return None

def ret_float(req):
    return 0.0

def recurse(req):
    def down(n):
        return down(n + 1)
    return down(0)

def _nested(depth):
    x = []
    for _ in range(depth):
        x = [x]
    return x

def deep_repr(req):
    req.write(repr(_nested(100000))[:10])
    return apache.OK

def deep_json(req):
    req.write(json.dumps(_nested(100000))[:10])
    return apache.OK

def gone(req):
    time.sleep(0.5)       # the client is gone by now
    chunk = b"x" * 65536
    sent = 0
    try:
        for _ in range(384):
            req.write(chunk)
            sent += len(chunk)
    except OSError as exc:
        req.log_error("hydra-fault-gone: write failed after %d bytes: %s" % (sent, exc),
                      apache.APLOG_NOTICE)
        return apache.OK
    req.log_error("hydra-fault-gone: all %d bytes written" % sent, apache.APLOG_NOTICE)
    return apache.OK

def gone_uncaught(req):
    time.sleep(0.5)
    chunk = b"y" * 65536
    for _ in range(384):
        req.write(chunk)
    return apache.OK

def hang(req):
    deadline = time.time() + 60
    while not os.path.exists(RELEASE) and time.time() < deadline:
        time.sleep(0.05)
    return apache.OK

def spin(req):
    deadline = time.time() + 60
    n = 0
    while time.time() < deadline:
        n += 1
        if n % 100000 == 0 and os.path.exists(RELEASE):
            break
    return apache.OK
'''

# Installed as sitecustomize: every interpreter imports it when it is
# created (the main one at child start, sub-interpreters on first use).
SITECUSTOMIZE_PY = r'''
import os, sys

class _RefuseModPython:
    """Breaks interpreter creation while the flag file exists."""
    def find_spec(self, name, path=None, target=None):
        if name == "mod_python.apache" and os.path.exists("{root}/var/break-interpreters"):
            raise ImportError("hydra-fault: interpreter creation refused by the test")
        return None

sys.meta_path.insert(0, _RefuseModPython())
'''

PATHCHECK_PY = r'''
import os

def path(current):
    if os.path.exists("{root}/var/break-path"):
        raise RuntimeError("hydra-fault-pythonpath")
    return ["{root}/pylib/pathdir"] + [p for p in current if p != "{root}/pylib/pathdir"]
'''


HANDLERS = ["ok", "boom", "ret_str", "ret_none", "ret_float", "recurse", "deep_repr",
            "deep_json", "gone", "gone_uncaught", "hang", "spin"]

CONFIG = "\n".join(
    [location("/" + h, interp="faults", handler="faultmod::" + h) for h in HANDLERS]
    + [location("/other", interp="bystander", handler="faultmod::ok"),
       location("/fragile", interp="fragile", handler="faultmod::ok"),
       location("/pathy", 'PythonPath "__import__(\'pathcheck\').path(sys.path)"',
                interp="pathy", handler="faultmod::ok")])

FILES = {
    "pylib/faultmod.py": FAULTS_PY,
    "pylib/sitecustomize.py": SITECUSTOMIZE_PY,
    "pylib/pathcheck.py": PATHCHECK_PY,
    "pylib/pathdir/": "",
}


@pytest.fixture(scope="module")
def server(mpm):
    with ApacheServer(CONFIG, FILES, mpm=mpm, single_child=True) as server:
        yield server
        # Let hung handlers return so the server stops at once.
        (server.path / "var" / "release").write_text("")


@pytest.fixture(scope="module")
def baseline(server):
    return get_json(server, "/ok")


def assert_same_process_still_serves(server, baseline):
    after = get_json(server, "/ok")
    assert after["interp"] == "faults" and after["pid"] == baseline["pid"], (baseline, after)
    assert not server.crash_lines()


@pytest.mark.parametrize("path", ["/boom", "/ret_str", "/ret_none", "/ret_float", "/recurse",
                                  "/deep_repr", "/deep_json"])
def test_failing_handler_costs_only_its_request(server, baseline, path):
    mark = server.log_mark()
    resp = server.get(path)
    assert resp.status == 500, resp
    log = server.error_log(mark)
    assert path[1:] in log or "faultmod" in log, log
    assert_same_process_still_serves(server, baseline)


def test_recursion_error_is_reported_as_such(server, baseline):
    mark = server.log_mark()
    assert server.get("/recurse").status == 500
    assert "RecursionError" in server.error_log(mark)


def drop_after_sending(server, path):
    """Sends a GET and closes the socket without reading the answer."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, server.host_header()))
                  .encode())
        time.sleep(0.1)
        # RST instead of FIN: the harshest way for a client to go away.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")


def test_writing_after_client_went_away_raises_oserror_in_handler(server, baseline):
    mark = server.log_mark()
    drop_after_sending(server, "/gone")
    log = server.wait_for_log(r"hydra-fault-gone: ", since=mark, timeout=30)
    assert "write failed after" in log, log
    assert_same_process_still_serves(server, baseline)


def test_uncaught_write_error_after_client_went_away_is_logged(server, baseline):
    mark = server.log_mark()
    drop_after_sending(server, "/gone_uncaught")
    log = server.wait_for_log(r"OSError", since=mark, timeout=30)
    assert "gone_uncaught" in log
    assert_same_process_still_serves(server, baseline)


@pytest.mark.parametrize("path", ["/hang", "/spin"])
def test_handler_that_never_returns_blocks_only_its_own_request(server, baseline, mpm, path):
    if mpm != "event":
        pytest.skip("a single prefork child serves one request at a time")
    release = server.path / "var" / "release"
    if release.exists():
        release.unlink()
    conn = server.connection(timeout=2.0)
    try:
        with pytest.raises(socket.timeout):
            server.request("GET", path, conn=conn, timeout=2.0)
    finally:
        conn.close()
    server.timeouts = 0  # that timeout was the point, not a hung server
    # CPython 3.11 asks only the waiting thread's own interpreter to drop
    # the shared GIL: a pure-Python loop holds off the other shared
    # interpreters until it ends (docs/directives.md, PythonInterpGIL; the
    # bystander got through only when the loop's stat() call let it, and
    # waited out the whole loop once in a CI rehearsal). 3.13 asks the holder.
    other_interpreters = path == "/hang" or harness.python_version() >= (3, 13)
    t0 = time.monotonic()
    for _ in range(20):
        assert_same_process_still_serves(server, baseline)
        if other_interpreters:
            assert get_json(server, "/other")["interp"] == "bystander"
    assert time.monotonic() - t0 < 10.0
    release.write_text("")


# How long /fragile is requested while its interpreter cannot be made
# (about 50 requests): longer than a creation back-off of a few seconds.
FAILING_SECONDS = 6.0


def wait_until_ok(server, path, timeout):
    """Polls `path` until it answers 200 (a broken interpreter is retried
    after a back-off); returns the decoded answer."""
    deadline = time.monotonic() + timeout
    while True:
        resp = server.get(path)
        if resp.status == 200:
            return json.loads(resp.body)
        assert time.monotonic() < deadline, resp
        time.sleep(0.25)


@pytest.fixture(scope="module")
def failed_creations(server, baseline):
    """Requests for an interpreter whose creation fails, for
    FAILING_SECONDS, then the cause is removed and the name is retried."""
    flag = server.path / "var" / "break-interpreters"
    child = baseline["pid"]
    mark = server.log_mark()
    flag.write_text("")
    try:
        rss_before = procfs.rss_kib(child)
        statuses = []
        bystander_ok = True
        t0 = time.monotonic()
        while time.monotonic() - t0 < FAILING_SECONDS:
            statuses.append(server.get("/fragile").status)
            bystander_ok = bystander_ok and get_json(server, "/ok")["interp"] == "faults"
            time.sleep(0.1)
        rss_after = procfs.rss_kib(child)
    finally:
        flag.unlink()
    log = server.error_log(mark)
    recovered = wait_until_ok(server, "/fragile", timeout=30)
    return {"statuses": statuses, "bystander_ok": bystander_ok, "log": log,
            "attempts": log.count("hydra-fault: interpreter creation refused"),
            "rss_growth": rss_after - rss_before, "recovered": recovered, "child": child}



def test_failed_interpreter_creation_gives_clear_500s_then_is_retried(server, failed_creations,
                                                                      report):
    f = failed_creations
    report("failed-interpreter-creation-%s" % server.mpm, requests=len(f["statuses"]),
           creation_attempts=f["attempts"], child_rss_growth_kib=f["rss_growth"])
    assert set(f["statuses"]) == {500}, f["statuses"]
    assert "interpreter 'fragile'" in f["log"], f["log"][-3000:]
    assert f["attempts"] >= 1
    # Interpreters that already exist are not affected.
    assert f["bystander_ok"]
    # Once the cause is gone the name is created again, in the same child.
    assert f["recovered"]["interp"] == "fragile" and f["recovered"]["pid"] == f["child"]
    assert not server.crash_lines()


def test_failed_interpreter_creation_is_not_retried_on_every_request(failed_creations):
    f = failed_creations
    # A back-off of a few seconds between attempts: at most one attempt per
    # few seconds, not one per request (about 50 requests were sent).
    assert f["attempts"] <= 3, (f["attempts"], len(f["statuses"]))
    # Under AddressSanitizer freed memory sits in its quarantine, so RSS says
    # nothing about leaks there; the attempt count above still does.
    if not os.environ.get("HYDRA_ASAN_PRELOAD"):
        assert f["rss_growth"] < 8 * 1024, f["rss_growth"]


def test_pythonpath_that_raises_gives_500_and_is_evaluated_again(server, baseline):
    flag = server.path / "var" / "break-path"
    flag.write_text("")
    try:
        mark = server.log_mark()
        for _ in range(3):
            assert server.get("/pathy").status == 500
        assert "hydra-fault-pythonpath" in server.error_log(mark)
    finally:
        flag.unlink()
    after = get_json(server, "/pathy")
    assert after["interp"] == "pathy"
    assert after["path0"] == str(server.path / "pylib" / "pathdir")
    assert not server.crash_lines()
