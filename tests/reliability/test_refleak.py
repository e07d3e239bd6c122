"""
Reference leaks (reliability issue, item 5): HYDRA_LEAK_REQUESTS (10,000)
requests to one handler that touches a broad part of the request API, then
the Python object counts of that interpreter are compared with the counts
after a warm-up. A reference leaked per request in the C object layer
(request, table, connection, server, hlist wrappers, strings, parse_qs,
the body reader) shows up as thousands of extra objects.

Counted, after gc.collect(), in the handler's own interpreter:
  gc objects      len(gc.get_objects()): containers (dicts, lists, wrappers)
  pymalloc blocks sys.getallocatedblocks(): every small object, str and
                  bytes included
  live wrappers   instances of mp_request, mp_table, mp_conn, mp_server,
                  mp_hlist still alive (only the counting request's own)
"""

import pytest

import budget
from harness import ApacheServer, get_json
from load import LoadGenerator, Planned

WARMUP_REQUESTS = 2000
CLIENT_THREADS = 4
# Growth allowed over the measured requests: CPython's caches (method cache,
# interned strings, free lists) settle within a few hundred objects; a leak
# of one object per request would be LEAK_REQUESTS.
GC_GROWTH_LIMIT = 200
BLOCK_GROWTH_LIMIT = 1000

LEAKMOD_PY = r'''
import gc, json, sys
from collections import Counter
from mod_python import apache, util

WRAPPERS = ("mp_request", "mp_table", "mp_conn", "mp_server", "mp_hlist", "mp_finfo")

def _parse(args):
    try:
        return apache.parse_qs(args)
    except SystemError:          # str mode and %ff: the error path, leaks included
        return apache.parse_qs(args.encode())

def work(req):
    out = {
        "uri": req.uri, "args": req.args, "method": req.method,
        "interp": req.interpreter, "phase": req.phase, "hlist": req.hlist.handler,
        "headers": sorted(req.headers_in.keys()), "items": len(req.headers_in.items()),
        "host": req.server.server_hostname, "remote": req.connection.client_ip,
        "options": dict(req.get_options()), "config": len(req.get_config()),
        "qs": _parse(req.args or ""), "qsl": apache.parse_qsl((req.args or "").encode(), 1),
        "body": len(req.read()), "inventory": len(apache.interpreters()),
    }
    form = util.FieldStorage(req, keep_blank_values=1)
    out["form"] = sorted(form.keys())
    req.notes["hydra-leak"] = req.args or ""
    req.subprocess_env["HYDRA_LEAK"] = "1"
    req.headers_out["X-Leak"] = "\udcff" if req.args and "bad" in req.args else "ok"
    req.content_type = "application/json"
    req.write(repr(out))
    return apache.OK

def counts(req):
    gc.collect()
    by_type = Counter(type(o).__name__ for o in gc.get_objects())
    wrappers = {name: by_type.get(name, 0) for name in WRAPPERS}
    req.content_type = "application/json"
    req.write(json.dumps({"gc": sum(by_type.values()), "blocks": sys.getallocatedblocks(),
                          "wrappers": wrappers, "by_type": dict(by_type)}))
    return apache.OK
'''

CONFIG = '''
<Location /leak>
    SetHandler mod_python
    PythonInterpreter leaky
    PythonOption leak-option some-value
    PythonHandler leakmod::work
</Location>
<Location /leak/counts>
    PythonHandler leakmod::counts
</Location>
'''

FILES = {"pylib/leakmod.py": LEAKMOD_PY}


def plan(thread, n):
    args = "a=%d&b=x&b=y&empty=&bad=%%ff" % n
    body = ("f=%d&g=h" % n).encode()
    return Planned("POST", "/leak/x?" + args, body,
                   [("Content-Type", "application/x-www-form-urlencoded"),
                    ("X-Extra", "e%d" % n)],
                   lambda r: None if r.status == 200 else "status %d %r" % (r.status, r.body[:100]))


def counts(server):
    return get_json(server, "/leak/counts")


def run(server, total):
    load = LoadGenerator(server, plan, threads=CLIENT_THREADS,
                         requests_per_thread=total // CLIENT_THREADS)
    outcomes = load.run()
    assert outcomes.wrong == 0 and outcomes.timeout == 0 and outcomes.closed == 0, \
        outcomes.explain()
    return outcomes


@pytest.fixture(scope="module")
def measured():
    with ApacheServer(CONFIG, FILES, mpm="event") as server:
        run(server, WARMUP_REQUESTS)
        before = counts(server)
        outcomes = run(server, budget.LEAK_REQUESTS)
        after = counts(server)
        yield {"server": server, "before": before, "after": after, "sent": outcomes.sent}


def type_growth(before, after):
    grown = {name: after["by_type"].get(name, 0) - n for name, n in before["by_type"].items()}
    for name, n in after["by_type"].items():
        grown.setdefault(name, n)
    return sorted(((d, name) for name, d in grown.items() if d), reverse=True)[:10]


def test_refleak_numbers(measured, report):
    b, a = measured["before"], measured["after"]
    report("refleak", requests=measured["sent"], gc_objects_before=b["gc"],
           gc_objects_after=a["gc"], gc_growth=a["gc"] - b["gc"],
           pymalloc_blocks_before=b["blocks"], pymalloc_blocks_after=a["blocks"],
           blocks_growth=a["blocks"] - b["blocks"])
    assert measured["sent"] == budget.LEAK_REQUESTS - budget.LEAK_REQUESTS % CLIENT_THREADS


def test_gc_object_count_does_not_grow(measured):
    b, a = measured["before"], measured["after"]
    assert a["gc"] - b["gc"] <= GC_GROWTH_LIMIT, type_growth(b, a)


def test_allocated_blocks_do_not_grow(measured):
    b, a = measured["before"], measured["after"]
    assert a["blocks"] - b["blocks"] <= BLOCK_GROWTH_LIMIT, (a["blocks"] - b["blocks"],
                                                             type_growth(b, a))


def test_no_request_wrappers_outlive_their_requests(measured):
    wrappers = measured["after"]["wrappers"]
    # Only the counting request's own objects may be alive.
    assert wrappers["mp_request"] <= 1, wrappers
    assert wrappers["mp_hlist"] <= 1, wrappers
    assert wrappers["mp_table"] <= 8, wrappers
    assert wrappers["mp_conn"] <= 1 and wrappers["mp_server"] <= 2, wrappers
    assert not measured["server"].crash_lines()
