"""
Extensions that re-enter through PyGILState_Ensure while a handler runs in a
sub-interpreter: spec/interpreters.md §8. The stdlib sqlite3 module calls
PyGILState_Ensure from the destructor of a function registered with
Connection.create_function; many threads doing that at once in several
sub-interpreters of one event-MPM child must neither crash nor deadlock.
(Upstream mod_python's child dies with "Fatal Python error".)
"""

import threading

import pytest

from harness import ApacheServer

INTERPRETERS = ["sq1", "sq2", "sq3", "sq4"]
CONCURRENCY = 32
REQUESTS_PER_CONNECTION = 40
ROUNDS = 6

SQL_PY = r'''
import os, sqlite3
from mod_python import apache

def handler(req):
    n = int(req.args or "1")
    doubled, summed = use_sqlite(n)
    req.content_type = "text/plain"
    req.write("%s %d %d %d" % (req.interpreter, os.getpid(), doubled, summed))
    return apache.OK

def use_sqlite(n):
    con = sqlite3.connect(":memory:")
    con.create_function("twice", 1, lambda x: 2 * x)
    for k in range(8):             # more destructors per request
        con.create_function("f%d" % k, 1, lambda x, k=k: x + k)
    con.create_aggregate("total", 1, Total)
    con.execute("create table t (v integer)")
    con.executemany("insert into t values (?)", [(i,) for i in range(n)])
    doubled = con.execute("select twice(?)", (n,)).fetchone()[0]
    summed = con.execute("select total(twice(v)) from t").fetchone()[0]
    con.close()                      # destroys the functions: PyGILState_Ensure
    return doubled, summed

class Total:
    def __init__(self):
        self.sum = 0
    def step(self, v):
        self.sum += v
    def finalize(self):
        return self.sum
'''

CONFIG = "\n".join(
    '''<Location /%(n)s>
    SetHandler mod_python
    PythonInterpreter %(n)s
    PythonHandler sqlhandler
</Location>''' % {"n": name} for name in INTERPRETERS) + '''
<Location /main>
    SetHandler mod_python
    PythonInterpreter main_interpreter
    PythonHandler sqlhandler
</Location>
'''

FILES = {"pylib/sqlhandler.py": SQL_PY}


@pytest.fixture(scope="module")
def server():
    with ApacheServer(CONFIG, FILES, mpm="event") as server:
        yield server


def expected(n):
    return 2 * n, sum(2 * i for i in range(n))


def test_sqlite_function_in_main_interpreter_works(server):
    status, _, body = server.get("/main/x?7")
    assert status == 200, body
    interp, _, doubled, summed = body.split()
    assert interp == "main_interpreter"
    assert (int(doubled), int(summed)) == expected(7)


def test_sqlite_create_function_in_many_subinterpreters_at_once(server):
    # Create the interpreters and import the handler one at a time first, so
    # that what is tested is the GIL-state re-entry, not the start-up race
    # (test_concurrency.py covers that).
    for interp in INTERPRETERS:
        status, _, body = server.get("/%s/x?3" % interp)
        assert status == 200, body
    mark = server.log_mark()
    failures = []
    pids = set()
    lock = threading.Lock()

    def client(i):
        conn = server.connection(timeout=30)
        try:
            for k in range(REQUESTS_PER_CONNECTION):
                interp = INTERPRETERS[(i + k) % len(INTERPRETERS)]
                n = (i * 7 + k) % 50 + 1
                try:
                    resp = server.request("GET", "/%s/x?%d" % (interp, n), conn=conn)
                except Exception as exc:
                    with lock:
                        failures.append("%s?%d: %r" % (interp, n, exc))
                    conn.close()
                    conn = server.connection(timeout=30)
                    continue
                parts = resp.body.split()
                ok = (resp.status == 200 and len(parts) == 4 and parts[0] == interp
                      and (int(parts[2]), int(parts[3])) == expected(n))
                with lock:
                    if ok:
                        pids.add(parts[1])
                    else:
                        failures.append("%s?%d: %d %r" % (interp, n, resp.status, resp.body[:200]))
        finally:
            conn.close()

    # Several rounds on fresh connections, so that requests for each
    # interpreter land on many different worker threads.
    for _ in range(ROUNDS):
        threads = [threading.Thread(target=client, args=(i,), daemon=True)
                   for i in range(CONCURRENCY)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=180)
        assert not any(t.is_alive() for t in threads), "requests hung: deadlock in the child?"
        if failures or server.crash_lines(mark):
            break
    assert not server.crash_lines(mark), "\n".join(server.crash_lines(mark))
    assert not failures, "%d failures, first:\n%s" % (len(failures), "\n".join(failures[:20]))
    assert len(pids) == 1, "served by several processes: the child was replaced"
