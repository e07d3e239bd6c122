"""
Child exit with every kind of interpreter (reliability issue 11, item 1).

A child holds thread states of several worker threads in the main
interpreter, a shared-GIL interpreter and (Python >= 3.12) two own-GIL
interpreters, each of which registered a child-exit callback
(apache.register_cleanup). The child is then ended, HYDRA_CHILD_EXITS
times (50 by default on 3.12+, 15 on 3.11) for each way:

  * graceful restart (event MPM): the old child finishes and exits;
  * MaxConnectionsPerChild (event MPM): the child retires by itself;
  * SIGTERM while a handler runs (prefork): the child is stopped in the
    middle of Python.

Proved: no crash line ever (no "exit signal", no segfault, no fatal Python
error), no child that had to be killed; after a graceful end, the callback
of every interpreter ran, once, with its own data, in its own interpreter.
After SIGTERM during a handler the callbacks of that child are not run (the
child's pool is destroyed on the thread that was interrupted inside Python,
where entering Python again would deadlock; docs/migrating.md); the test
only proves that the child ends at once and cleanly.

Not tested here: SIGTERM under the event MPM. Debian's httpd 2.4 event MPM
itself crashes in a few percent of ungraceful stops (in close_worker_sockets,
with no Python module loaded at all: 1 crash in about 80 stops of a static
file server on this machine), so a crash line there says nothing about
Hydra; graceful stops and restarts never showed it.
"""

import http.client
import os
import signal
import threading
import time

import pytest

import harness
from harness import ApacheServer, location
import budget

# 50 child ends per way where own-GIL interpreters exist (the case that
# crashed); 15 on 3.11, which has only the main and shared interpreters.
EXITS = budget.env_int("HYDRA_CHILD_EXITS", 50 if harness.python_version() >= (3, 12) else 15)
WAIT = 15.0  # seconds for a child to go and its callbacks to appear

HANDLER_PY = r'''
import os, threading, time
from mod_python import apache

_registered = set()
_lock = threading.Lock()

def _at_exit(data):
    pid, name = data
    # Written by the interpreter that registered it: its name must match.
    with open("{root}/var/exit-%d-%s" % (pid, name), "a") as f:
        f.write("%s ran in %s\n" % (name, apache.interpreter))

def handler(req):
    name = apache.interpreter
    pid = os.getpid()
    with _lock:
        if pid not in _registered:
            _registered.add(pid)
            apache.register_cleanup(_at_exit, (pid, name))
    if req.args == "busy":
        open("{root}/var/busy-%d" % pid, "w").close()
        deadline = time.time() + 5
        while time.time() < deadline:
            sum(range(1000))
    req.content_type = "text/plain"
    req.write("%d %s" % (pid, name))
    return apache.OK
'''


def interpreters():
    """(location path, PythonInterpreter, PythonInterpGIL) for every kind."""
    kinds = [("/main", "main_interpreter", None), ("/shared", "sh1", None)]
    if harness.python_version() >= (3, 12):
        kinds += [("/own1", "own1", "own"), ("/own2", "own2", "own")]
    return kinds


def site_config(extra=""):
    sections = [location(path, interp=interp, gil=gil, handler="exitcb")
                for path, interp, gil in interpreters()]
    return "\n".join(sections) + "\n" + extra


def touch_every_interpreter(server, threads=3):
    """Each interpreter served from several worker threads at once (so the
    child holds several thread states of it). Returns the child pid."""
    pids, errors = set(), []

    def one(path):
        resp = server.get(path)
        if resp.status != 200:
            errors.append((path, resp.status, resp.body[:200]))
        else:
            pids.add(int(resp.body.split()[0]))

    workers = [threading.Thread(target=one, args=(path,))
               for path, _, _ in interpreters() for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(harness.HTTP_TIMEOUT)
    assert not errors, errors
    assert len(pids) == 1, pids  # one child serves every interpreter
    return pids.pop()


def expected_files(pid):
    names = ["main_interpreter" if interp == "main_interpreter" else interp
             for _, interp, _ in interpreters()]
    return {"exit-%d-%s" % (pid, name): "%s ran in %s\n" % (name, name) for name in names}


def wait_for_callbacks(server, pid):
    """Waits until the callbacks of child `pid` have all run; returns what
    is missing or wrong (empty when all is well)."""
    want = expected_files(pid)
    deadline = time.monotonic() + WAIT
    while True:
        got = {name: (server.path / "var" / name).read_text() if (server.path / "var" / name).exists() else None
               for name in want}
        if got == want or time.monotonic() > deadline:
            return {name: got[name] for name in want if got[name] != want[name]}
        time.sleep(0.05)


def graceful_restart(server):
    """`apache2 -k graceful`: SIGUSR1 to the parent."""
    os.kill(server.pid, signal.SIGUSR1)


def wait_for_new_child(server, old_pid):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        resp = server.get("/shared")
        if resp.status == 200 and int(resp.body.split()[0]) != old_pid:
            return
        time.sleep(0.1)
    raise AssertionError("no new child after %d" % old_pid)


def report(way, ends, missing, server):
    crashes = server.crash_lines()
    print("RELIABILITY child-exit way=%s python=%d.%d interpreters=%d ends=%d "
          "missing_callbacks=%d crash_lines=%d"
          % (way, *harness.python_version(), len(interpreters()), ends, len(missing),
             len(crashes)))
    assert crashes == [], crashes[:5]
    assert missing == [], missing[:5]


def test_graceful_restart_runs_every_child_exit_callback():
    with ApacheServer(site_config(), {"pylib/exitcb.py": HANDLER_PY}, mpm="event") as server:
        missing = []
        for _ in range(EXITS):
            pid = touch_every_interpreter(server)
            graceful_restart(server)
            wrong = wait_for_callbacks(server, pid)
            if wrong:
                missing.append((pid, wrong))
            wait_for_new_child(server, pid)
        report("graceful-restart", EXITS, missing, server)


def test_max_connections_per_child_runs_every_child_exit_callback():
    # Requests go round the interpreters, one connection each; a child
    # retires after `per_child` connections (counting whatever else
    # connected, such as the start-up probe), so each child serves some of
    # the interpreters. Every child that retired must have run the
    # callbacks of exactly the interpreters it served.
    kinds = interpreters()
    per_child = 2 * len(kinds) + 1
    config = site_config("MaxConnectionsPerChild %d" % per_child)
    with ApacheServer(config, {"pylib/exitcb.py": HANDLER_PY}, mpm="event") as server:
        served = {}  # pid -> interpreter names it served
        order = []
        i = 0
        deadline = time.monotonic() + EXITS * WAIT
        while len(order) <= EXITS and time.monotonic() < deadline:
            path, interp, _ = kinds[i % len(kinds)]
            i += 1
            try:
                resp = server.get(path)
            except (ConnectionError, http.client.HTTPException):
                continue  # a connection the retiring child closed: try again
            if resp.status != 200:
                continue  # the same, answered with an error: try again
            pid = int(resp.body.split()[0])
            if pid not in served:
                served[pid] = set()
                order.append(pid)
            served[pid].add(interp)
        assert len(order) > EXITS, "only %d children in the time allowed" % len(order)
        missing = []
        for pid in order[:-1]:  # every child but the one still running
            want = {"exit-%d-%s" % (pid, name): "%s ran in %s\n" % (name, name)
                    for name in served[pid]}
            end = time.monotonic() + WAIT
            while True:
                got = {f: (server.path / "var" / f).read_text()
                       if (server.path / "var" / f).exists() else None for f in want}
                if got == want or time.monotonic() > end:
                    break
                time.sleep(0.05)
            if got != want:
                missing.append((pid, {f: got[f] for f in want if got[f] != want[f]}))
        report("max-connections-per-child", len(order) - 1, missing, server)


def test_sigterm_during_a_handler_ends_the_child_cleanly():
    missing, log = [], ""
    for _ in range(EXITS):
        server = ApacheServer(site_config(), {"pylib/exitcb.py": HANDLER_PY}, mpm="prefork",
                              single_child=True)
        server.start()
        try:
            pid = touch_every_interpreter(server, threads=1)
            busy = threading.Thread(target=lambda: server.get("/own1?busy" if len(interpreters()) > 2
                                                              else "/shared?busy"), daemon=True)
            busy.start()
            deadline = time.monotonic() + WAIT
            while not (server.path / "var" / ("busy-%d" % pid)).exists() and time.monotonic() < deadline:
                time.sleep(0.02)
            started = time.monotonic()
            server.stop()
            took = time.monotonic() - started
            log = server.error_log()
            if took > harness.GRACEFUL_STOP_SECONDS or "SIGKILL" in log:
                missing.append((pid, "took %.1f s to stop" % took))
            crashes = server.crash_lines()
            if crashes:
                missing.append((pid, crashes[:3]))
        finally:
            server.close()
    print("RELIABILITY child-exit way=sigterm-during-handler python=%d.%d interpreters=%d "
          "ends=%d problems=%d" % (*harness.python_version(), len(interpreters()), EXITS,
                                   len(missing)))
    assert missing == [], (missing[:5], log[-2000:])
