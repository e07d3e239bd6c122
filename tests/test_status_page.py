"""
The interpreter inventory: `apache.interpreters()` and `SetHandler
python-status` (spec/beyond.md §2), an HTML table by default and JSON with
`?json`, for the child that answers.

Runs on every build, both MPMs. Own-GIL rows are checked only when the
module under test is built with Python >= 3.12. The status page is asked on
the same keep-alive connection as the requests it is meant to count, so
under prefork it comes from the same child.
"""

import html
import json
import subprocess
import threading
import time

import pytest

import harness
from harness import get_body, get_json, get_ok, location

ST_PY = r'''
import json, os, time
from mod_python import apache

def handler(req):
    req.content_type = "application/json"
    req.write(json.dumps({"interp": req.interpreter, "pid": os.getpid()}))
    return apache.OK

def inventory(req):
    req.content_type = "application/json"
    req.write(json.dumps({"interp": req.interpreter, "pid": os.getpid(),
                          "inventory": apache.interpreters()}))
    return apache.OK

def logged(req):
    return apache.OK

def upper(filter):
    data = filter.read()
    while data:
        filter.write(data.upper())
        data = filter.read()
    if data is None:
        filter.close()

def fail(req):
    raise RuntimeError("counted failure")

def slow(req):
    # Holds the request until the test creates var/release (at most 20 s).
    flag = "{root}/var/release"
    with open("{root}/var/slow-started", "w") as f:
        f.write("started")
    deadline = time.monotonic() + 20
    while not os.path.exists(flag) and time.monotonic() < deadline:
        time.sleep(0.02)
    req.write("released")
    return apache.OK
'''

ODD_NAME = 'odd <"&> café'
ODD_NAME_CONF = 'odd <\\"&> café'      # as written inside quotes in httpd.conf

OWN = harness.python_version() >= (3, 12)


def python_location(path, interp, handler, *extra):
    """A Python handler in interpreter `interp`, its name quoted (ODD_NAME)."""
    return location(path, *extra, interp='"%s"' % interp, handler=handler)


CONFIG = "\n".join(
    [location("/python-status", set_handler="python-status"),
     location("/python-status-denied", "Require all denied", set_handler="python-status"),
     python_location("/app", "st_app", "st::handler"),
     python_location("/inv", "st_app", "st::inventory"),
     python_location("/fail", "st_fail", "st::fail"),
     python_location("/slow", "st_slow", "st::slow"),
     python_location("/odd", ODD_NAME_CONF, "st::handler"),
     # More Python may run after the content handler: a configured (not
     # added) output filter, a log handler.
     python_location("/with-filter", "st_filter", "st::handler",
                     "PythonOutputFilter st::upper UPPER"),
     python_location("/with-log", "st_log", "st::handler", "PythonLogHandler st::logged")]
    + ([python_location("/own", "st_own", "st::inventory", "PythonInterpGIL own")]
       if OWN else []))

FILES = {"pylib/st.py": ST_PY}

# beyond.md §2, plus `timeouts` (§5) and the pool fields of §3 (replica
# index, pool size).
ENTRY_KEYS = {"name", "gil", "created", "requests", "active", "errors", "timeouts", "replica",
              "pool"}


@pytest.fixture(scope="module")
def server(start_apache, mpm):
    server = start_apache(CONFIG, FILES, mpm=mpm)
    server.started_at = time.time()
    return server


def hydra_python_version():
    return subprocess.run([harness.HYDRA_PYTHON, "-c", "import platform; "
                           "print(platform.python_version())"],
                          capture_output=True, text=True, check=True).stdout.strip()


def status_json(server, conn):
    resp = get_ok(server, "/python-status?json", conn=conn)
    assert resp.headers.get_content_type() == "application/json"
    return json.loads(resp.body)


def rows(status):
    return {e["name"]: e for e in status["interpreters"]}


def test_json_lists_every_interpreter_of_the_answering_child(server):
    conn = server.connection()
    try:
        pid = get_json(server, "/app", conn=conn)["pid"]
        get_ok(server, "/odd", conn=conn)
        status = status_json(server, conn)
    finally:
        conn.close()
    assert status["pid"] == pid
    assert status["python"] == hydra_python_version()
    by_name = rows(status)
    assert {"main_interpreter", "st_app", ODD_NAME} <= set(by_name)
    for entry in status["interpreters"]:
        assert set(entry) == ENTRY_KEYS, entry
    assert by_name["main_interpreter"]["gil"] == "main"
    assert by_name["st_app"]["gil"] == "shared"
    now = time.time()
    for entry in status["interpreters"]:
        assert server.started_at - 60 < entry["created"] <= now + 1, entry
    assert by_name["main_interpreter"]["created"] <= by_name["st_app"]["created"]


def test_html_table_by_default(server):
    conn = server.connection()
    try:
        get_ok(server, "/app", conn=conn)
        get_ok(server, "/odd", conn=conn)
        resp = get_ok(server, "/python-status", conn=conn)
        other_args = get_ok(server, "/python-status?auto", conn=conn)
    finally:
        conn.close()
    assert resp.headers.get_content_type() == "text/html"
    body = resp.body
    assert "<table" in body
    for column in ("name", "gil", "created", "requests", "active", "errors", "timeouts"):
        assert "<th>%s</th>" % column in body
    assert "<td>st_app</td><td>shared</td>" in body
    assert "<td>main_interpreter</td><td>main</td>" in body
    assert ODD_NAME not in body                       # escaped, not raw
    assert html.escape(ODD_NAME, quote=False) in body or html.escape(ODD_NAME) in body
    assert other_args.headers.get_content_type() == "text/html"


def test_json_escapes_odd_interpreter_names(server):
    conn = server.connection()
    try:
        get_ok(server, "/odd", conn=conn)
        by_name = rows(status_json(server, conn))
    finally:
        conn.close()
    assert by_name[ODD_NAME]["gil"] == "shared"


def test_requests_are_counted_per_interpreter(server):
    conn = server.connection()
    try:
        get_ok(server, "/app", conn=conn)
        before = rows(status_json(server, conn))["st_app"]["requests"]
        for _ in range(5):
            get_ok(server, "/app", conn=conn)
        after = rows(status_json(server, conn))["st_app"]
    finally:
        conn.close()
    assert after["requests"] - before == 5
    assert after["active"] == 0
    assert after["errors"] == 0


@pytest.mark.parametrize("path, interp, per_request", [("/with-filter", "st_filter", 1),
                                                       ("/with-log", "st_log", 2)])
def test_only_invocations_are_counted(server, path, interp, per_request):
    conn = server.connection()
    try:
        get_ok(server, path, conn=conn)
        before = rows(status_json(server, conn))[interp]["requests"]
        for _ in range(3):
            get_ok(server, path, conn=conn)
        after = rows(status_json(server, conn))[interp]
    finally:
        conn.close()
    assert after["requests"] - before == 3 * per_request
    assert after["active"] == 0


def test_handler_errors_are_counted(server):
    if server.mpm != "event":
        pytest.skip("a 500 closes the connection: under prefork the status request may "
                    "reach another child")
    conn = server.connection()
    try:
        first = server.get("/fail", conn=conn)
        assert first.status == 500
        before = rows(status_json(server, conn))["st_fail"]
        assert server.get("/fail", conn=conn).status == 500
        assert server.get("/fail", conn=conn).status == 500
        after = rows(status_json(server, conn))["st_fail"]
    finally:
        conn.close()
    assert after["errors"] - before["errors"] == 2


def test_failed_requests_are_counted_once(server):
    if server.mpm != "event":
        pytest.skip("a 500 closes the connection: under prefork the status request may "
                    "reach another child")
    conn = server.connection()
    try:
        assert server.get("/fail", conn=conn).status == 500
        before = rows(status_json(server, conn))["st_fail"]
        assert server.get("/fail", conn=conn).status == 500
        assert server.get("/fail", conn=conn).status == 500
        # A 500 closes its connection: the count may land just after the
        # answer, so wait for the two (and then check there are no more).
        deadline = time.monotonic() + 20
        while True:
            after = rows(status_json(server, conn))["st_fail"]
            if after["requests"] - before["requests"] >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    finally:
        conn.close()
    assert after["requests"] - before["requests"] == 2


def test_apache_interpreters_matches_the_status_page(server):
    conn = server.connection()
    try:
        data = get_json(server, "/inv", conn=conn)
        status = status_json(server, conn)
    finally:
        conn.close()
    inventory = data["inventory"]
    assert isinstance(inventory, list)
    for entry in inventory:
        assert set(entry) == ENTRY_KEYS, entry
        assert isinstance(entry["created"], float)
        assert all(isinstance(entry[k], int) for k in ("requests", "active", "errors", "timeouts"))
    mine = {e["name"]: e for e in inventory}
    assert mine["st_app"]["active"] >= 1               # the call itself is running
    assert mine["st_app"]["requests"] >= 1
    by_name = rows(status)
    assert status["pid"] == data["pid"]
    assert {n: e["gil"] for n, e in mine.items()} == \
        {n: e["gil"] for n, e in by_name.items() if n in mine}
    for name, entry in mine.items():
        assert abs(entry["created"] - by_name[name]["created"]) < 0.001


@pytest.mark.own_gil
def test_own_gil_interpreters_are_listed_as_own(server):
    conn = server.connection()
    try:
        data = get_json(server, "/own", conn=conn)
        status = status_json(server, conn)
        page = get_body(server, "/python-status", conn=conn)
    finally:
        conn.close()
    assert {e["name"]: e["gil"] for e in data["inventory"]}["st_own"] == "own"
    assert rows(status)["st_own"]["gil"] == "own"
    assert "<td>st_own</td><td>own</td>" in page


def test_status_page_can_be_protected_with_require(server):
    assert server.get("/python-status-denied").status == 403
    assert server.get("/python-status-denied?json").status == 403


def test_status_page_answers_get_only(server):
    assert server.post("/python-status?json", "x").status == 405


def test_status_page_is_off_unless_configured(server):
    resp = server.get("/no-status-here?json")
    assert resp.status == 404
    assert "interpreters" not in resp.body


def test_status_page_shows_active_invocations_while_python_is_busy(start_apache):
    # Event MPM: one child, so the status request meets the busy interpreter.
    server = start_apache(CONFIG, FILES, mpm="event")
    results = {}
    started = server.path / "var" / "slow-started"
    slow = threading.Thread(target=lambda: results.setdefault("slow", server.get("/slow")))
    slow.start()
    try:
        deadline = time.monotonic() + 15
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert started.exists(), "the slow handler never started"
        conn = server.connection(timeout=5)
        try:
            busy = rows(status_json(server, conn))["st_slow"]
        finally:
            conn.close()
    finally:
        (server.path / "var" / "release").write_text("go")
        slow.join(30)
    assert results["slow"].status == 200
    assert busy["active"] == 1
    assert busy["requests"] >= 1
    conn = server.connection()
    try:
        deadline = time.monotonic() + 20
        while rows(status_json(server, conn))["st_slow"]["active"] != 0:
            assert time.monotonic() < deadline, "st_slow still active after the request"
            time.sleep(0.05)
    finally:
        conn.close()


def test_status_page_enters_no_python(start_apache):
    # A fresh child: the status page itself creates no interpreter.
    server = start_apache(CONFIG, FILES, mpm="event")
    conn = server.connection()
    try:
        first = status_json(server, conn)
        get_ok(server, "/python-status", conn=conn)
        second = status_json(server, conn)
    finally:
        conn.close()
    assert [e["name"] for e in first["interpreters"]] == ["main_interpreter"]
    assert [e["name"] for e in second["interpreters"]] == ["main_interpreter"]
    assert second["interpreters"][0]["requests"] == first["interpreters"][0]["requests"]
