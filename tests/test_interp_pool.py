"""
Interpreter pools, `PythonInterpPool N|auto [concurrency]`: spec/beyond.md §3
and docs/directives.md (PythonInterpPool).

  * directive errors with file and line: before Python 3.12, with
    `PythonInterpGIL shared` in the same section (either order), a bad size
    or bound, in .htaccess;
  * replicas are made only under load: one request at a time uses replica 0;
  * 2,000 requests over 32 connections to a pool of 4 in one event child:
    every answer right, every replica served some, never more than 4;
  * one replica per request: what a fixup handler stores on `req` is there
    in the content handler, under concurrency; an internal redirect under
    load does not wait for itself;
  * `PythonImport` ran in every replica, `apache.interpreter_replica`;
  * a pooled WSGI application of our own and a pooled Flask application
    (Debian's, found in dist-packages by the 3.12+ builds);
  * the inventory and the status page list the replicas;
  * a conflicting pool size for the same name warns once;
  * prefork: one request at a time per child, so one replica per child.

Everything but the pre-3.12 configuration error needs a module built with
Python >= 3.12 (marker `own_gil`).
"""

import hashlib
import json
import threading
from collections import Counter

import pytest

import harness
from harness import assert_no_crashes, get_json, get_ok, location, log_lines

own_gil = pytest.mark.own_gil

POOL_PY = r'''
import hashlib, json, os, sys
from mod_python import apache

def _reply(req, data):
    req.content_type = "application/json"
    req.write(json.dumps(data))
    return apache.OK

def _spin(n=20000):
    return sum(i * i for i in range(n))

def whoami(req):
    _spin()
    warm = sys.modules.get("poolwarm")
    return _reply(req, {"interp": req.interpreter, "module_interp": apache.interpreter,
                        "replica": apache.interpreter_replica, "pid": os.getpid(),
                        "warm": getattr(warm, "REPLICA", None),
                        "warm_interp": getattr(warm, "INTERP", None)})

def work(req):
    token = req.args or ""
    _spin()
    return _reply(req, {"interp": req.interpreter, "replica": apache.interpreter_replica,
                        "token": token, "pid": os.getpid(),
                        "digest": hashlib.sha256(token.encode()).hexdigest()})

def fixup(req):
    req.hydra_replica = apache.interpreter_replica
    req.notes["fixup-replica"] = str(apache.interpreter_replica)
    return apache.OK

def phases(req):
    _spin()
    return _reply(req, {"fixup": getattr(req, "hydra_replica", None),
                        "note": req.notes.get("fixup-replica"),
                        "content": apache.interpreter_replica, "token": req.args})

def redirect(req):
    req.internal_redirect("/pool/work?" + (req.args or ""))
    return apache.OK

def inventory(req):
    return _reply(req, {"inventory": apache.interpreters()})

def spin_forever(req):
    while True:
        _spin(1000)
'''

POOLWARM_PY = r'''
from mod_python import apache
REPLICA = apache.interpreter_replica
INTERP = apache.interpreter
'''

POOLWSGI_PY = r'''
import hashlib, json
from mod_python import apache

def application(environ, start_response):
    token = environ.get("QUERY_STRING", "")
    rows = "".join("<li>%d: %s</li>" % (i, hashlib.md5(("%s%d" % (token, i)).encode())
                                         .hexdigest()) for i in range(200))
    body = json.dumps({"replica": apache.interpreter_replica, "token": token,
                       "size": len(rows)}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
'''

# Debian's Flask is packaged for 3.11 but is pure Python; the 3.12+ builds
# find it in dist-packages (markupsafe falls back to its Python code).
POOLFLASK_PY = r'''
import hashlib
from flask import Flask, render_template_string, request
from mod_python import apache

app = Flask(__name__)

PAGE = """<ul>{% for row in rows %}<li>{{ row.name }}: {{ row.digest }}</li>{% endfor %}</ul>
<p id="token">{{ token }}</p><p id="replica">{{ replica }}</p>"""

@app.route("/")
def page():
    token = request.args.get("t", "")
    rows = [{"name": "<%d>" % i, "digest": hashlib.md5(("%s%d" % (token, i)).encode())
             .hexdigest()} for i in range(40)]
    return render_template_string(PAGE, rows=rows, token=token,
                                  replica=apache.interpreter_replica)
'''

POOL = "PythonInterpPool 4"


def pool_location(path, handler, *lines):
    return location(path, "PythonInterpreter pool_app", POOL, *lines, handler=handler)


CONFIG = "\n".join([
    "PythonImport poolwarm pool_app",
    pool_location("/pool/who", "pool::whoami"),
    pool_location("/pool/work", "pool::work"),
    pool_location("/pool/phases", "pool::phases", "PythonFixupHandler pool::fixup"),
    pool_location("/pool/redirect", "pool::redirect"),
    pool_location("/pool/inv", "pool::inventory"),
    pool_location("/pool/spin", "pool::spin_forever", "PythonRequestTimeout 0.5"),
    location("/pool-other-size", "PythonInterpreter pool_app", "PythonInterpPool 2",
             handler="pool::whoami"),
    location("/wsgi", "PythonInterpreter pool_wsgi", "PythonInterpPool 2",
             "PythonOption mod_python.wsgi.application poolwsgi::application",
             handler="mod_python.wsgi"),
    location("/flask", "PythonInterpreter pool_flask", "PythonInterpPool 2",
             "PythonPath \"sys.path + ['/usr/lib/python3/dist-packages']\"",
             "PythonOption mod_python.wsgi.application poolflask::app",
             handler="mod_python.wsgi"),
    location("/plain", "PythonInterpreter plain_app", handler="pool::whoami"),
    location("/status", handler=None, set_handler="python-status"),
])

FILES = {"pylib/pool.py": POOL_PY, "pylib/poolwarm.py": POOLWARM_PY,
         "pylib/poolwsgi.py": POOLWSGI_PY, "pylib/poolflask.py": POOLFLASK_PY}

CONCURRENCY = 32
TOTAL = 2000


def needs_pools():
    if harness.python_version() < (3, 12):
        pytest.skip("PythonInterpPool needs Python >= 3.12")


@pytest.fixture(scope="module")
def server(start_apache):
    needs_pools()
    return start_apache(CONFIG, FILES, mpm="event")


def replicas_of(server, name, path="/pool/inv"):
    """{replica index: inventory row} of `name` in the answering child."""
    rows = get_json(server, path)["inventory"]
    return {row["replica"]: row for row in rows if row["name"] == name}


def run_clients(n, fn):
    threads = [threading.Thread(target=fn, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "client threads hung (deadlock?)"


def load(server, path, per_conn, check):
    """per_conn requests on each of CONCURRENCY keep-alive connections;
    returns (failures, [parsed answers])."""
    failures, answers = [], []
    lock = threading.Lock()

    def client(i):
        conn = server.connection()
        try:
            for k in range(per_conn):
                token = "c%d-r%d" % (i, k)
                try:
                    resp = server.request("GET", "%s?%s" % (path, token), conn=conn)
                except Exception as exc:
                    with lock:
                        failures.append("%s: %r" % (token, exc))
                    conn.close()
                    conn = server.connection()
                    continue
                problem = None
                if resp.status != 200:
                    problem = "%s: %d %s" % (token, resp.status, resp.body[:200])
                else:
                    data = json.loads(resp.body)
                    problem = check(token, data)
                with lock:
                    if problem:
                        failures.append(problem)
                    else:
                        answers.append(data)
        finally:
            conn.close()

    run_clients(CONCURRENCY, client)
    return failures, answers


# ---------------------------------------------------------------------------
# The directive

@pytest.mark.skipif(harness.python_version() >= (3, 12), reason="checks the pre-3.12 build")
@pytest.mark.parametrize("section", [None, "<VirtualHost 127.0.0.1:{port}>", "<Location /app>"],
                         ids=["server", "virtualhost", "location"])
def test_a_pool_is_a_configuration_error_before_python_3_12(config_check, python_version,
                                                           section):
    bad = "PythonInterpPool 2"
    snippet = bad if section is None else "%s\n    %s\n</%s>" % (
        section, bad, section[1:].split()[0].rstrip(">"))
    result = config_check(snippet)
    assert result.rc != 0, result.output
    assert "line %d" % result.line_of(bad) in result.output, result.output
    assert result.conf in result.output, result.output
    assert "PythonInterpPool" in result.output
    assert "%d.%d" % python_version in result.output, result.output


@pytest.mark.skipif(harness.python_version() >= (3, 12), reason="checks the pre-3.12 build")
def test_a_pool_of_one_is_accepted_before_python_3_12(config_check):
    rc, output = config_check("<Location /app>\n    PythonInterpPool 1\n</Location>")
    assert rc == 0, output


@own_gil
@pytest.mark.parametrize("lines, bad", [
    (["PythonInterpPool 0"], "PythonInterpPool 0"),
    (["PythonInterpPool 65"], "PythonInterpPool 65"),
    (["PythonInterpPool many"], "PythonInterpPool many"),
    (["PythonInterpPool 2 -1"], "PythonInterpPool 2 -1"),
    (["PythonInterpPool 2 x"], "PythonInterpPool 2 x"),
    (["PythonInterpGIL shared", "PythonInterpPool 2"], "PythonInterpPool 2"),
    (["PythonInterpPool auto", "PythonInterpGIL shared"], "PythonInterpGIL shared"),
], ids=["zero", "too-many", "word", "negative-bound", "word-bound", "shared-then-pool",
        "pool-then-shared"])
def test_bad_pool_directives_fail_with_file_and_line(config_check, lines, bad):
    needs_pools()
    snippet = "<Location /app>\n%s\n</Location>" % "\n".join("    " + l for l in lines)
    result = config_check(snippet)
    assert result.rc != 0, result.output
    assert "line %d" % result.line_of(bad) in result.output, result.output
    assert result.conf in result.output, result.output
    assert bad.split()[0] in result.output, result.output


@own_gil
@pytest.mark.parametrize("line", ["PythonInterpPool 1", "PythonInterpPool 64",
                                  "PythonInterpPool auto", "PythonInterpPool 4 0",
                                  "PythonInterpPool 2 8"])
def test_good_pool_directives_pass(config_check, line):
    needs_pools()
    rc, output = config_check("%s\n<Location /app>\n    %s\n</Location>" % (line, line))
    assert rc == 0, output


@own_gil
def test_a_pool_is_not_allowed_in_htaccess(start_apache):
    needs_pools()
    config = "\n".join([
        "<Directory {root}/htdocs/ht>",
        "    AllowOverride All",
        "    SetHandler mod_python",
        "    PythonHandler pool::whoami",
        "</Directory>",
    ])
    files = dict(FILES, **{"htdocs/ht/.htaccess": "PythonInterpPool 2\n",
                           "htdocs/ht/page.py": "# never served\n"})
    server = start_apache(config, files, mpm="event")
    mark = server.log_mark()
    assert server.get("/ht/page.py").status == 500
    server.wait_for_log(r"PythonInterpPool not allowed here", since=mark)


# ---------------------------------------------------------------------------
# Replicas on demand, under load

@own_gil
def test_one_request_at_a_time_uses_one_replica(server):
    for i in range(20):
        data = get_json(server, "/pool/who")
        assert data["replica"] == 0, data
        assert data["interp"] == data["module_interp"] == "pool_app"
    replicas = replicas_of(server, "pool_app")
    assert sorted(replicas) == [0], replicas
    assert replicas[0]["pool"] == 4
    assert replicas[0]["gil"] == "own"


@pytest.fixture(scope="module")
def pool_load(server):
    # After test_one_request_at_a_time_uses_one_replica, which needs a fresh pool.
    def check(token, data):
        if data["token"] != token or data["digest"] != hashlib.sha256(token.encode()).hexdigest():
            return "%s: wrong answer %r" % (token, data)
        if data["interp"] != "pool_app":
            return "%s: answered by %r" % (token, data["interp"])
        return None
    return load(server, "/pool/work", TOTAL // CONCURRENCY, check)


@own_gil
def test_every_answer_under_load_is_right(server, pool_load):
    failures, answers = pool_load
    assert failures == [], failures[:10]
    assert len(answers) == TOTAL // CONCURRENCY * CONCURRENCY
    assert len({a["pid"] for a in answers}) == 1, "expected one event child"
    assert_no_crashes(server)


@own_gil
def test_every_replica_served_and_there_are_never_more_than_four(server, pool_load):
    _, answers = pool_load
    served = Counter(a["replica"] for a in answers)
    assert sorted(served) == [0, 1, 2, 3], served
    replicas = replicas_of(server, "pool_app")
    assert sorted(replicas) == [0, 1, 2, 3], replicas
    assert all(row["pool"] == 4 and row["gil"] == "own" for row in replicas.values())
    assert len(log_lines(server.error_log(), "HYDRA0115", "pool_app")) == 3


@own_gil
def test_python_import_ran_in_every_replica(server, pool_load):
    seen = {}
    for _ in range(200):
        data = get_json(server, "/pool/who")
        seen[data["replica"]] = data
        if len(seen) == 4:
            break
    # One request at a time may keep landing on the same idle replica; load
    # makes the others answer (the last one only when three are busy at
    # once: a few rounds on a busy machine).
    for _ in range(10):
        if len(seen) == 4:
            break
        _, answers = load(server, "/pool/who", 4, lambda token, data: None)
        for data in answers:
            seen[data["replica"]] = data
    assert sorted(seen) == [0, 1, 2, 3], sorted(seen)
    for replica, data in seen.items():
        assert data["warm"] == replica, data
        assert data["warm_interp"] == "pool_app", data


@own_gil
def test_one_replica_per_request_across_phases(server, pool_load):
    def check(token, data):
        if data["token"] != token:
            return "%s: wrong token %r" % (token, data)
        if not (data["fixup"] == data["content"] == int(data["note"])):
            return "%s: fixup ran in replica %r, content in %r" % (token, data["fixup"],
                                                                    data["content"])
        return None
    failures, answers = load(server, "/pool/phases", 20, check)
    assert failures == [], failures[:10]
    assert len({a["content"] for a in answers}) > 1, "the load used one replica only"


@own_gil
def test_internal_redirects_under_load_do_not_wait_for_themselves(server, pool_load):
    def check(token, data):
        if data["token"] != token:
            return "%s: wrong answer %r" % (token, data)
        return None
    failures, answers = load(server, "/pool/redirect", 10, check)
    assert failures == [], failures[:10]
    assert len(answers) == 10 * CONCURRENCY


@own_gil
def test_a_pooled_wsgi_application_under_concurrency(server):
    def check(token, data):
        if data["token"] != token or data["size"] < 1000:
            return "%s: wrong answer %r" % (token, data)
        return None
    failures, answers = load(server, "/wsgi", 10, check)
    assert failures == [], failures[:10]
    assert {a["replica"] for a in answers} == {0, 1}


@own_gil
@pytest.mark.skipif(harness.python_version()[:2] == (3, 12),
                    reason="CPython 3.12.1 aborts (munmap_chunk(): invalid pointer) when Flask runs "
                           "in two own-GIL interpreters at once, pooled or not; 3.13 does not "
                           "(docs/directives.md, PythonInterpGIL)")
def test_a_pooled_flask_application_under_concurrency(server):
    pytest.importorskip("flask")  # the Debian package, for the path above
    failures, pages = [], []
    lock = threading.Lock()

    def client(i):
        conn = server.connection()
        try:
            for k in range(8):
                token = "f%d-%d" % (i, k)
                resp = server.request("GET", "/flask/?t=" + token, conn=conn)
                want = hashlib.md5((token + "39").encode()).hexdigest()
                ok = (resp.status == 200 and '<p id="token">%s</p>' % token in resp.body
                      and want in resp.body and "&lt;39&gt;" in resp.body)
                with lock:
                    if ok:
                        pages.append(resp.body)
                    else:
                        failures.append("%s: %d %s" % (token, resp.status, resp.body[:300]))
        finally:
            conn.close()

    run_clients(16, client)
    assert failures == [], failures[:5]
    replicas = {p.split('<p id="replica">')[1].split("<")[0] for p in pages}
    assert replicas == {"0", "1"}, replicas
    assert_no_crashes(server)


@own_gil
def test_status_page_lists_replicas(server, pool_load):
    rows = [row for row in get_json(server, "/status?json")["interpreters"]
            if row["name"] == "pool_app"]
    assert sorted(row["replica"] for row in rows) == [0, 1, 2, 3]
    assert {row["pool"] for row in rows} == {4}
    assert sum(row["requests"] for row in rows) >= TOTAL
    html = get_ok(server, "/status").body
    assert "<th>replica</th>" in html
    for i in range(4):
        assert "<td>%d of 4</td>" % i in html, html


@own_gil
def test_prometheus_has_a_row_per_replica(server, pool_load):
    from prometheus_client.parser import text_string_to_metric_families
    body = get_ok(server, "/status?prometheus").body
    families = {f.name: f for f in text_string_to_metric_families(body)}
    rows = {s.labels["replica"]: s.value for s in families["hydra_requests"].samples
            if s.name == "hydra_requests_total" and s.labels.get("interpreter") == "pool_app"}
    assert sorted(rows) == ["0", "1", "2", "3"], rows
    assert sum(rows.values()) >= TOTAL


@own_gil
def test_a_request_timeout_in_a_replica(server, pool_load):
    # Production controls work in replicas too (beyond.md §5): a 504, the
    # replica's `timeouts` counter, and the pool keeps serving.
    statuses = []

    def client(i):
        statuses.append(server.get("/pool/spin?%d" % i).status)
    run_clients(4, client)
    assert statuses == [504] * 4, statuses
    replicas = replicas_of(server, "pool_app")
    assert sum(row["timeouts"] for row in replicas.values()) == 4, replicas
    assert len(log_lines(server.error_log(), "HYDRA0230", "pool_app")) == 4
    assert get_json(server, "/pool/who")["interp"] == "pool_app"
    assert_no_crashes(server)


@own_gil
def test_a_pool_size_conflict_warns_once(server):
    for _ in range(3):
        data = get_json(server, "/pool-other-size")
        assert data["interp"] == "pool_app"
    warnings = log_lines(server.error_log(), "HYDRA0117", "pool_app", "PythonInterpPool 2")
    assert len(warnings) == 1, warnings


@own_gil
def test_a_name_without_a_pool_is_one_interpreter(server):
    data = get_json(server, "/plain")
    assert data["replica"] == 0
    rows = replicas_of(server, "plain_app")
    assert list(rows) == [0] and rows[0]["pool"] == 1 and rows[0]["gil"] == "shared"


# ---------------------------------------------------------------------------
# Prefork

@own_gil
def test_prefork_children_use_one_replica_each(start_apache):
    needs_pools()
    server = start_apache(CONFIG, FILES, mpm="prefork")

    def check(token, data):
        if data["token"] != token:
            return "%s: wrong answer %r" % (token, data)
        return None
    failures, answers = load(server, "/pool/work", 10, check)
    assert failures == [], failures[:10]
    # A prefork child runs one request at a time: it never needs a second replica.
    assert {a["replica"] for a in answers} == {0}
    assert not log_lines(server.error_log(), "HYDRA0115")
    assert_no_crashes(server)
