"""
The cross-process session mutexes: python-api.md §11 (_global_lock,
_global_trylock, _global_unlock, the mutex count and its log line),
interpreters.md §10 steps 1 and 3 (created in the parent, re-attached in
each child), spec README item 18 (a stable key -> index mapping), and
python-api.md §15 (FileSession and DbmSession round trips over them).

Every test runs on both MPMs: prefork with three children (so locks must
hold across processes) and event with one child of 32 threads (so waiting
for a mutex must release the GIL, or the holder could never finish).
"""

import json
import os
import re
import signal
import threading
import time

import pytest

from harness import get_json, get_ok

LOCKS_PY = r'''
import json, os, time
import _apache
from mod_python import apache, util, Session


def mutex_count(req):
    """The first index _global_trylock rejects is the number of mutexes."""
    n = 0
    while True:
        try:
            acquired = _apache._global_trylock(req.server, None, n)
        except ValueError:
            return n
        if acquired:
            _apache._global_unlock(req.server, None, n)
        n += 1


def count(req, form):
    return {"count": mutex_count(req)}


def hold(req, form):
    """Holds mutex 1 for a second; reports when, and in which process."""
    _apache._global_lock(req.server, None, 1)
    try:
        start = time.time()
        time.sleep(1.0)
        end = time.time()
    finally:
        _apache._global_unlock(req.server, None, 1)
    return {"pid": os.getpid(), "start": start, "end": end}


def keymap(req, form):
    """Locks by key, then finds which mutex that was: the one this thread
    can no longer take."""
    key = form["key"].value  # a StringField is bytes; the key is the str
    n = mutex_count(req)
    _apache._global_lock(req.server, key)
    busy = []
    try:
        for i in range(1, n):
            if _apache._global_trylock(req.server, None, i):
                _apache._global_unlock(req.server, None, i)
            else:
                busy.append(i)
    finally:
        _apache._global_unlock(req.server, key)
    return {"count": n, "busy": busy}


def trylock(req, form):
    _apache._global_lock(req.server, "k", 1)
    while_held = _apache._global_trylock(req.server, "k", 1)
    _apache._global_unlock(req.server, "k", 1)
    after = _apache._global_trylock(req.server, "k", 1)
    if after:
        _apache._global_unlock(req.server, "k", 1)
    dbm = _apache._global_trylock(req.server, None, 0)
    if dbm:
        _apache._global_unlock(req.server, None, 0)
    return {"while_held": while_held, "after": after, "dbm": dbm}


def errors(req, form):
    out = {}
    calls = {
        "index_too_big": lambda: _apache._global_lock(req.server, None, 1000),
        "index_negative": lambda: _apache._global_lock(req.server, None, -2),
        "not_a_server": lambda: _apache._global_lock("server", None, 1),
        "trylock_too_big": lambda: _apache._global_trylock(req.server, None, 1000),
        "unlock_too_big": lambda: _apache._global_unlock(req.server, None, 1000),
    }
    for name, call in calls.items():
        try:
            call()
            out[name] = None
        except Exception as e:
            out[name] = type(e).__name__
    return out


def session(req, form):
    sess = Session.Session(req)
    n = sess.get("n", 0) + 1
    sess["n"] = n
    sess.save()
    return {"n": n, "new": sess.is_new(), "id": sess.id(), "type": type(sess).__name__,
            "pid": os.getpid()}


def handler(req):
    form = util.FieldStorage(req)
    action = globals()[req.uri.rstrip("/").rsplit("/", 1)[-1]]
    req.content_type = "application/json"
    req.write(json.dumps(action(req, form)))
    return apache.OK
'''

CONFIG = r'''
PythonOption mod_python.mutex_locks 5
PythonOption mod_python.mutex_directory {root}/var
<Location /locks>
    SetHandler mod_python
    PythonHandler locks
</Location>
<Location /filesession>
    SetHandler mod_python
    PythonHandler locks::handler
    PythonOption mod_python.session.session_type FileSession
    PythonOption mod_python.file_session.database_directory {root}/var
</Location>
<Location /dbmsession>
    SetHandler mod_python
    PythonHandler locks::handler
    PythonOption mod_python.session.session_type DbmSession
    PythonOption mod_python.dbm_session.database_filename {root}/var/sessions.dbm
</Location>
'''

FILES = {"pylib/locks.py": LOCKS_PY}

# min(mod_python.mutex_locks = 5, threads per child x processes): prefork
# runs three single-threaded children, event one child of 32 threads.
EXPECTED = {"prefork": (3, 3, 1), "event": (5, 1, 32)}  # count, processes, threads

HOLDERS = 5


@pytest.fixture(scope="module")
def server(start_apache, mpm):
    return start_apache(CONFIG, FILES, mpm=mpm)


def fnv1a_index(key, count):
    value = 0x811C9DC5
    for byte in str(key).encode("utf-8"):
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value % (count - 1) + 1


# -- §11: the mutex set --------------------------------------------------------

def test_parent_logs_how_many_session_mutexes_it_creates(server):
    count, processes, threads = EXPECTED[server.mpm]
    text = server.wait_for_log(r"Creating \d+ session mutexes")
    assert ("mod_python: Creating %d session mutexes based on %d max processes and %d max "
            "threads." % (count, processes, threads)) in text


def test_mutex_count_is_the_option_capped_by_max_clients(server):
    data = get_json(server, "/locks/count")
    assert data["count"] == EXPECTED[server.mpm][0]


def test_every_child_sees_the_same_mutex_count(server):
    counts = set()
    for _ in range(6):
        data = get_json(server, "/locks/count")
        counts.add(data["count"])
    assert counts == {EXPECTED[server.mpm][0]}


# -- §11: locking --------------------------------------------------------------

def test_concurrent_holders_of_one_mutex_take_turns(server):
    """The spec's own test: 5 concurrent requests each holding lock 1 for
    1 s take at least 5 s, and their critical sections never overlap."""
    results, failures = [], []

    def hold(i):
        try:
            resp = server.get("/locks/hold", timeout=60)
            if resp.status != 200:
                failures.append(resp)
            else:
                results.append(json.loads(resp.body))
        except Exception as e:  # reported below
            failures.append(e)

    threads = [threading.Thread(target=hold, args=(i,), daemon=True) for i in range(HOLDERS)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    elapsed = time.monotonic() - began

    assert not failures, failures
    assert len(results) == HOLDERS
    assert elapsed >= HOLDERS * 1.0
    spans = sorted((r["start"], r["end"]) for r in results)
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert start >= end - 0.01, spans  # 10 ms of clock slack
    if server.mpm == "prefork":
        # Three children, each blocked while it serves one request: the
        # mutex was really shared between processes.
        assert len({r["pid"] for r in results}) >= 2
    assert not server.crash_lines()


def test_trylock_reports_a_held_mutex_as_busy(server):
    data = get_json(server, "/locks/trylock")
    assert data == {"while_held": False, "after": True, "dbm": True}


@pytest.mark.parametrize("key", ["0123456789abcdef0123456789abcdef", "some key", "ünïcødé",
                                 "None"])
def test_key_picks_the_same_stable_mutex_in_every_process(server, key):
    """index = FNV-1a(UTF-8 of str(key)) mod (n-1) + 1: computable here,
    so the same in every child (deviation from upstream's hash())."""
    for _ in range(3):  # under prefork, more than one child answers
        data = get_json(server, "/locks/keymap?key=" + _quote(key))
        assert data["busy"] == [fnv1a_index(key, data["count"])]


def test_bad_arguments_raise(server):
    data = get_json(server, "/locks/errors")
    assert data == {"index_too_big": "ValueError", "index_negative": "ValueError",
                    "not_a_server": "TypeError", "trylock_too_big": "ValueError",
                    "unlock_too_big": "ValueError"}


def _quote(text):
    from urllib.parse import quote
    return quote(text)


# -- §15: sessions over the mutexes -----------------------------------------------

def _cookie(resp):
    header = resp.headers.get("Set-Cookie")
    assert header, "no session cookie"
    match = re.search(r"pysid=([0-9a-f]{32})", header)
    assert match, header
    return "pysid=" + match.group(1)


@pytest.mark.parametrize("path,kind", [("/filesession/session", "FileSession"),
                                       ("/dbmsession/session", "DbmSession")])
def test_session_round_trip_across_requests(server, path, kind):
    resp = get_ok(server, path)
    first = json.loads(resp.body)
    assert first["type"] == kind
    assert first["new"] is True and first["n"] == 1
    cookie = _cookie(resp)
    for n in (2, 3, 4):  # under prefork these reach different children
        data = get_json(server, path, headers={"Cookie": cookie})
        assert (data["id"], data["new"], data["n"]) == (first["id"], False, n)
    assert "has no session mutexes" not in server.error_log()


# -- interpreters.md §10: a graceful restart builds a new set -------------------

def test_graceful_restart_recreates_the_mutexes(server):
    mark = server.log_mark()
    os.kill(server.pid, signal.SIGUSR1)
    server.wait_for_log(r"Creating \d+ session mutexes", since=mark, timeout=20)
    server.wait_for_log(r"resuming normal operations", since=mark, timeout=20)
    data = get_json(server, "/locks/count")
    assert data["count"] == EXPECTED[server.mpm][0]
    data = get_json(server, "/locks/hold")
    assert data["end"] - data["start"] >= 1.0
    data = get_json(server, "/locks/trylock")
    assert data == {"while_held": False, "after": True, "dbm": True}
    assert not server.crash_lines(since=mark)
