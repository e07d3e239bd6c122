"""
Concurrency inside one threaded child: spec/interpreters.md §1 (exactly one
interpreter per name even when many threads ask for a new name at the same
moment), §8 (threading), python-api.md §2.2 (a thread is never handed a
module that another thread is still importing) and beyond.md §2 (inventory).

One event-MPM child with 32 threads. The handler module sleeps 0.5 s at
import and defines its handler only after that, so concurrent first
requests really race for the interpreter and for the import. Every import
appends a line to var/imports.log.
"""

import json
import re
import threading
import time
from collections import Counter, defaultdict

import pytest

from harness import ApacheServer

INTERPRETERS = ["alpha", "beta", "gamma"]
CONCURRENCY = 32
TOTAL_REQUESTS = 2016          # 63 per connection
FIRST_BURST_LIMIT = 10.0       # seconds; 32 serial imports would take 16 s

SLOW_PY = r'''
import json, os, time
from mod_python import apache

TOKEN = object()
with open("{root}/var/imports.log", "a") as _f:
    _f.write("%s %d %d\n" % (apache.interpreter, os.getpid(), id(TOKEN)))
time.sleep(0.5)   # make concurrent first imports overlap

def handler(req):
    out = {"interp": req.interpreter, "pid": os.getpid(), "token": id(TOKEN),
           "echo": req.args}
    if req.args == "inventory":
        if hasattr(apache, "interpreters"):
            out["inventory"] = apache.interpreters()
        else:
            out["inventory"] = None
    req.content_type = "application/json"
    req.write(json.dumps(out))
    return apache.OK
'''

CONFIG = "\n".join(
    '''<Location /%(n)s>
    SetHandler mod_python
    PythonInterpreter %(n)s
    PythonHandler slowmod
</Location>''' % {"n": name} for name in INTERPRETERS)

FILES = {"pylib/slowmod.py": SLOW_PY}


@pytest.fixture(scope="module")
def server():
    with ApacheServer(CONFIG, FILES, mpm="event") as server:
        yield server


def check(resp, interp, echo):
    """None if the response is the right one, else a description."""
    if resp.status != 200:
        return "%s?%s: status %d %r" % (interp, echo, resp.status, resp.body[:300])
    try:
        data = json.loads(resp.body)
    except ValueError:
        return "%s?%s: not JSON: %r" % (interp, echo, resp.body[:300])
    if data["interp"] != interp or data["echo"] != echo:
        return "%s?%s: got %r" % (interp, echo, data)
    return None


def run_threads(n, target):
    threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "client threads hung (server deadlock?)"


@pytest.fixture(scope="module")
def first_burst(server):
    """32 requests released at once at a child that has no interpreter yet."""
    results = [None] * CONCURRENCY
    barrier = threading.Barrier(CONCURRENCY)
    started = []

    def client(i):
        interp = INTERPRETERS[i % len(INTERPRETERS)]
        echo = "first-%d" % i
        conn = server.connection()
        try:
            conn.connect()
            barrier.wait(timeout=30)
            if i == 0:
                started.append(time.monotonic())
            resp = server.request("GET", "/%s/x?%s" % (interp, echo), conn=conn)
            results[i] = (interp, echo, resp, None)
        except Exception as exc:  # reported by the tests
            results[i] = (interp, echo, None, exc)
        finally:
            conn.close()

    run_threads(CONCURRENCY, client)
    elapsed = time.monotonic() - started[0] if started else None
    return results, elapsed


@pytest.fixture(scope="module")
def load(server, first_burst):
    """TOTAL_REQUESTS over CONCURRENCY keep-alive connections, round-robin
    over the interpreters. Returns (failures, data by interpreter, sent)."""
    failures = []
    seen = defaultdict(list)
    sent = Counter()
    lock = threading.Lock()
    per_conn = TOTAL_REQUESTS // CONCURRENCY

    def client(i):
        conn = server.connection()
        try:
            for k in range(per_conn):
                interp = INTERPRETERS[(i + k) % len(INTERPRETERS)]
                echo = "c%d-r%d" % (i, k)
                try:
                    resp = server.request("GET", "/%s/x?%s" % (interp, echo), conn=conn)
                except Exception as exc:
                    with lock:
                        failures.append("%s?%s: %r" % (interp, echo, exc))
                    conn.close()
                    conn = server.connection()
                    continue
                problem = check(resp, interp, echo)
                with lock:
                    sent[interp] += 1
                    if problem:
                        failures.append(problem)
                    else:
                        seen[interp].append(json.loads(resp.body))
        finally:
            conn.close()

    run_threads(CONCURRENCY, client)
    return failures, seen, sent


def test_first_requests_of_fresh_child_all_succeed(first_burst):
    results, _ = first_burst
    problems = []
    for interp, echo, resp, exc in results:
        if exc is not None:
            problems.append("%s?%s: %r" % (interp, echo, exc))
        else:
            p = check(resp, interp, echo)
            if p:
                problems.append(p)
    assert not problems, "\n".join(problems)


def test_first_requests_wait_for_one_import_per_interpreter(server, first_burst):
    results, _ = first_burst
    tokens = defaultdict(set)
    for interp, _, resp, exc in results:
        if exc is None and resp.status == 200:
            data = json.loads(resp.body)
            tokens[interp].add((data["pid"], data["token"]))
    assert set(tokens) == set(INTERPRETERS)
    for interp, t in tokens.items():
        assert len(t) == 1, "%s answered from %d module instances" % (interp, len(t))
    lines = (server.path / "var" / "imports.log").read_text().split()
    imported = Counter(lines[0::3])
    assert imported == Counter({name: 1 for name in INTERPRETERS}), imported
    # Hydra logs one INFO line per interpreter it creates; where such lines
    # exist, each name must appear exactly once.
    created = Counter(re.findall(r"created interpreter '([^']*)'", server.error_log()))
    if created:
        for name in INTERPRETERS:
            assert created[name] == 1, created


def test_first_burst_is_not_serialised(first_burst):
    _, elapsed = first_burst
    assert elapsed is not None and elapsed < FIRST_BURST_LIMIT, elapsed


def test_two_thousand_requests_over_three_interpreters_all_correct(load):
    failures, seen, sent = load
    assert not failures, "%d failures, first ones:\n%s" % (len(failures), "\n".join(failures[:20]))
    assert sum(sent.values()) >= 2000
    assert sum(len(v) for v in seen.values()) == sum(sent.values())


def test_load_runs_in_one_process_and_one_interpreter_per_name(server, first_burst, load):
    _, seen, _ = load
    results, _ = first_burst
    burst_tokens = {i: json.loads(r.body)["token"] for i, _, r, e in results if e is None}
    pids = {d["pid"] for records in seen.values() for d in records}
    assert len(pids) == 1, "requests were served by %d processes (child died?)" % len(pids)
    for interp, records in seen.items():
        tokens = {d["token"] for d in records}
        assert tokens == {burst_tokens[interp]}, interp


def test_no_crash_or_half_imported_module_in_error_log(server, load):
    text = server.error_log()
    assert not server.crash_lines()
    assert "contains no 'handler'" not in text
    assert "Traceback" not in text


def test_inventory_lists_each_interpreter_once(server, load):
    _, _, sent = load
    status, _, body = server.get("/alpha/x?inventory")
    assert status == 200, body
    inventory = json.loads(body)["inventory"]
    assert inventory is not None, "apache.interpreters() missing (beyond.md §2)"
    names = Counter(entry["name"] for entry in inventory)
    for name in INTERPRETERS:
        assert names[name] == 1, names
    by_name = {entry["name"]: entry for entry in inventory}
    for name in INTERPRETERS:
        assert by_name[name]["gil"] == "shared"
        assert by_name[name]["requests"] >= sent[name]
    assert by_name["alpha"]["active"] >= 1     # this very request
