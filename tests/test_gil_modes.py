"""
GIL modes, observed directly: spec/interpreters.md §9 (by default every
sub-interpreter shares the main GIL) and beyond.md §1 (`PythonInterpGIL
own` interpreters run Python in parallel).

The probe does not time anything. Request A spins in pure Python, holding
its GIL with a 10 s switch interval, until it sees a flag in a shared
memory map; request B, in another interpreter, waits until A spins and then
sets the flag. B can only do that while A spins if the two interpreters
have different GILs; with a shared GIL, A gives up after 4 s without
seeing the flag.
"""

import json
import threading

import pytest

from harness import location

PROBE_PY = r'''
import json, mmap, sys, time
from mod_python import apache

FLAG_FILE = "{root}/var/rendezvous"

def _map():
    with open(FLAG_FILE, "r+b") as f:
        return mmap.mmap(f.fileno(), 16)

def spin(req):
    mm = _map()
    old = sys.getswitchinterval()
    sys.setswitchinterval(10.0)
    try:
        # A waiter reads the interval when its wait for the GIL begins: one
        # that began before the line above asks for the GIL after the old
        # 5 ms. Letting go of the GIL once makes every later wait a 10 s one
        # before B may act (a shared-GIL run saw the flag once without it).
        time.sleep(0.05)
        mm[1] = 1                        # tell B that A spins now
        start = time.monotonic()
        seen = False
        while time.monotonic() < start + 4.0:
            if mm[0] == 1:
                seen = True
                break
        elapsed = time.monotonic() - start
    finally:
        sys.setswitchinterval(old)
    req.write(json.dumps({"interp": req.interpreter, "seen": seen, "elapsed": elapsed}))
    return apache.OK

def signal(req):
    mm = _map()
    deadline = time.monotonic() + 8.0
    while mm[1] != 1 and time.monotonic() < deadline:
        time.sleep(0.001)
    mm[0] = 1
    req.write(json.dumps({"interp": req.interpreter, "saw_spinner": mm[1] == 1}))
    return apache.OK

def warm(req):
    req.write(req.interpreter)
    return apache.OK
'''


def config(gil):
    """/a/<action> and /b/<action> run probe::<action> in interpreters a and b."""
    return "\n".join(location("/%s/%s" % (name, action), interp=name, gil=gil,
                              handler="probe::" + action)
                     for name in ("a", "b") for action in ("spin", "signal", "warm"))


FILES = {"pylib/probe.py": PROBE_PY}


def start_server(start_apache, gil):
    server = start_apache(config(gil), FILES, mpm="event")
    for name in ("a", "b"):                    # create both interpreters first
        status, _, body = server.get("/%s/warm" % name)
        assert (status, body) == (200, name), body
    return server


def run_probe(server):
    flag = server.path / "var" / "rendezvous"
    flag.write_bytes(b"\0" * 16)
    flag.chmod(0o666)
    results = {}

    def go(key, path):
        results[key] = server.get(path, timeout=60)

    spinner = threading.Thread(target=go, args=("spin", "/a/spin"))
    signaller = threading.Thread(target=go, args=("signal", "/b/signal"))
    spinner.start()
    signaller.start()
    spinner.join(90)
    signaller.join(90)
    for key in ("spin", "signal"):
        assert results[key].status == 200, results[key].body
    return json.loads(results["spin"].body), json.loads(results["signal"].body)


def test_sub_interpreters_share_one_gil_by_default(start_apache):
    server = start_server(start_apache, gil=None)
    spin, _ = run_probe(server)
    assert spin["interp"] == "a"
    assert spin["seen"] is False, "interpreters a and b ran Python at the same time"


@pytest.mark.own_gil
def test_own_gil_interpreters_run_python_at_the_same_time(start_apache):
    server = start_server(start_apache, gil="own")
    spin, signal = run_probe(server)
    assert signal["saw_spinner"] is True
    assert spin["seen"] is True, spin
    assert spin["elapsed"] < 4.0
