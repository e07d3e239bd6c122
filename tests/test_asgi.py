"""
test_asgi.py - mod_python.asgi with plain ASGI applications, no framework
(docs/asgi.md): the scope, receive() and send() and their event-sequence
rules, streaming both ways, chunked request bodies, errors before and after
http.response.start, lifespan (startup state, failure and retry, shutdown
at child exit), WebSocket refusal, several interpreters in one child
(the Python 3.11 _asyncio trap) and own-GIL interpreters (3.12+).
One Apache per MPM for the whole module.
"""

import hashlib
import json
import os
import socket
import threading
import time

import pytest

from harness import ApacheServer, get_json, get_ok, location, log_lines, assert_no_crashes

APP = r'''
import asyncio, hashlib, json, os

VAR = "{root}/var"


async def read_body(receive):
    events, digest, size = [], hashlib.sha256(), 0
    while True:
        message = await receive()
        events.append((message["type"], len(message.get("body", b"")), message.get("more_body")))
        if message["type"] != "http.request":
            break
        digest.update(message["body"])
        size += len(message["body"])
        if not message.get("more_body"):
            break
    return events, digest.hexdigest(), size


async def respond(send, status, body, headers=()):
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json")] + list(headers)})
    await send({"type": "http.response.body", "body": body})


def jsonable(scope):
    out = {}
    for key, value in scope.items():
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        elif key == "headers":
            value = [[n.decode("latin-1"), v.decode("latin-1")] for n, v in value]
        elif isinstance(value, tuple):
            value = list(value)
        out[key] = value
    return out


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                scope["state"]["started_at"] = "startup-ran"
                await send({"type": "lifespan.startup.complete"})
            else:
                with open(os.path.join(VAR, "shutdown-%d" % os.getpid()), "w") as f:
                    f.write("shutdown")
                await send({"type": "lifespan.shutdown.complete"})
                return
    path = scope["path"]
    if path.startswith("/scope"):
        await respond(send, 200, json.dumps(jsonable(scope)).encode())
    elif path == "/body":
        events, digest, size = await read_body(receive)
        await respond(send, 200, json.dumps({"events": events[:3], "count": len(events),
                                             "sha256": digest, "size": size}).encode())
    elif path == "/stream":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        for n in range(5):
            await send({"type": "http.response.body", "body": b"chunk%d\n" % n, "more_body": True})
            await asyncio.sleep(0.2)
        await send({"type": "http.response.body", "body": b"end\n"})
    elif path == "/sleep":
        await asyncio.sleep(0.2)
        await respond(send, 200, json.dumps({"interpreter": __import__("mod_python.apache").apache.interpreter,
                                             "pid": os.getpid()}).encode())
    elif path == "/raise-before":
        raise ValueError("boom before start")
    elif path == "/raise-after":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"100")]})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise ValueError("boom after start")
    elif path == "/raise-after-chunked":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise ValueError("boom after start")
    elif path == "/no-response":
        return
    elif path == "/body-before-start":
        await send({"type": "http.response.body", "body": b"x"})
    elif path == "/rules":
        errors = []
        await send({"type": "http.response.start", "status": 201,
                    "headers": [(b"x-dup", b"1"), (b"x-dup", b"2")]})
        for bad in ({"type": "http.response.start", "status": 200},
                    {"type": "no.such.event"}):
            try:
                await send(bad)
            except RuntimeError as exc:
                errors.append(type(exc).__name__)
        await send({"type": "http.response.body", "body": json.dumps(errors).encode()})
        try:
            await send({"type": "http.response.body", "body": b"late"})
        except (RuntimeError, OSError) as exc:
            errors.append(type(exc).__name__)
        message = await receive()
        with open(os.path.join(VAR, "rules-after.tmp"), "w") as f:
            json.dump({"errors": errors, "after": message["type"]}, f)
        os.replace(os.path.join(VAR, "rules-after.tmp"), os.path.join(VAR, "rules-after"))
    elif path == "/status-only":
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body"})
    else:
        await respond(send, 404, b'{"error": "not found"}')
'''

FAILING_STARTUP = r'''
import os
MARK = "{root}/var/startup-attempts"

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        message = await receive()
        with open(MARK, "a") as f:
            f.write("x")
        if os.path.getsize(MARK) == 1:
            await send({"type": "lifespan.startup.failed", "message": "database not ready"})
            return
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"started after retry"})
'''

NO_LIFESPAN = r'''
async def app(scope, receive, send):
    assert scope["type"] == "http"
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"no lifespan"})
'''

READ_HANDLER = r'''
from mod_python import apache

def handler(req):
    req.write(repr(len(req.read())))
    return apache.OK
'''

APP_SPEC = "PythonOption mod_python.asgi.application asgiapp::app"


def config():
    parts = [
        location("/app", APP_SPEC, "PythonDebug On", handler="mod_python.asgi", interp="asgi_main"),
        location("/nodebug", APP_SPEC, handler="mod_python.asgi", interp="asgi_main"),
        location("/failing", "PythonOption mod_python.asgi.application failing::app",
                 "PythonOption mod_python.asgi.startup_retry 1",
                 handler="mod_python.asgi", interp="asgi_failing"),
        location("/nolifespan", "PythonOption mod_python.asgi.application nolifespan::app",
                 handler="mod_python.asgi", interp="asgi_nolifespan"),
        location("/read", handler="readhandler", interp="asgi_main"),
        location("/reload", "PythonOption mod_python.asgi.application reloadme::app",
                 "PythonOption mod_python.asgi.lifespan off", handler="mod_python.asgi",
                 interp="asgi_reload"),
        location("/limited", APP_SPEC, "LimitRequestBody 1000", handler="mod_python.asgi",
                 interp="asgi_main"),
    ]
    for name in ("one", "two", "three"):
        parts.append(location("/multi/%s" % name, APP_SPEC, handler="mod_python.asgi",
                              interp="asgi_%s" % name))
    return "\n".join(parts)


RELOADABLE = '''
async def app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"%s"})
'''

FILES = {
    "pylib/asgiapp.py": APP,
    "pylib/failing.py": FAILING_STARTUP,
    "pylib/nolifespan.py": NO_LIFESPAN,
    "pylib/readhandler.py": READ_HANDLER,
    "pylib/reloadme.py": RELOADABLE % "version one",
}


@pytest.fixture(scope="module")
def server(mpm):
    with ApacheServer(config(), FILES, mpm=mpm) as server:
        yield server


def raw_request(server, data, timeout=10):
    """Sends raw bytes, returns everything the server answers until it
    closes (or the timeout)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except socket.timeout:
            chunks.append(b"<timeout>")
        return b"".join(chunks)


# -- scope -----------------------------------------------------------------

def test_scope_has_asgi_http_fields(server):
    scope = get_json(server, "/app/scope/caf%C3%A9%20x?a=1&b=%20",
                     headers=[("X-Dup", "one"), ("X-Dup", "two")])
    assert scope["type"] == "http"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.3"}
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "GET"
    assert scope["scheme"] == "http"
    assert scope["root_path"] == "/app"
    assert scope["path"] == "/scope/caf\u00e9 x"
    assert scope["raw_path"] == "/app/scope/caf%C3%A9%20x"
    assert scope["query_string"] == "a=1&b=%20"
    assert scope["client"][0] == "127.0.0.1" and isinstance(scope["client"][1], int)
    assert scope["server"] == ["127.0.0.1", server.port]
    # httpd itself merges repeated request headers (in order) while parsing.
    assert ["x-dup", "one, two"] in scope["headers"]
    assert scope["headers"][0][0] == "host"
    assert scope["state"] == {"started_at": "startup-ran"}


def test_scope_path_is_percent_decoded_utf8(server):
    scope = get_json(server, "/app/scope%C3%A9")
    assert scope["path"] == "/scope\u00e9"


# -- receive() -------------------------------------------------------------

def test_request_body_arrives_in_chunks_with_more_body(server):
    body = os.urandom(300_000)
    resp = server.post("/app/body", body)
    assert resp.status == 200, resp.body
    result = json.loads(resp.body)
    assert result["sha256"] == hashlib.sha256(body).hexdigest()
    assert result["size"] == len(body)
    assert result["count"] >= 2
    assert result["events"][0][0] == "http.request" and result["events"][0][2] is True


def test_empty_body_is_one_event_without_more_body(server):
    result = get_json(server, "/app/body")
    assert result["events"] == [["http.request", 0, False]]


def test_chunked_request_body_is_read(server):
    body = os.urandom(200_000)
    conn = server.connection()
    try:
        conn.putrequest("POST", "/app/body", skip_host=True)
        conn.putheader("Host", server.host_header())
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        for start in range(0, len(body), 50_000):
            piece = body[start:start + 50_000]
            conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        conn.send(b"0\r\n\r\n")
        resp = conn.getresponse()
        result = json.loads(resp.read())
    finally:
        conn.close()
    assert resp.status == 200
    assert result["sha256"] == hashlib.sha256(body).hexdigest()
    assert result["events"][-1:] != [] and result["size"] == len(body)


def test_body_over_limit_request_body_gives_413_and_next_request_works(server):
    resp = server.post("/limited/body", b"x" * 5000)
    assert resp.status == 413
    assert get_json(server, "/limited/body")["size"] == 0


def test_req_read_still_refuses_chunked_body_with_411(server):
    answer = raw_request(server, b"POST /read HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                                 b"Connection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 411"), answer[:200]


# -- send() ----------------------------------------------------------------

def test_streamed_response_chunks_arrive_spread_out(server):
    conn = server.connection()
    try:
        conn.request("GET", "/app/stream", headers={"Host": server.host_header()})
        resp = conn.getresponse()
        assert resp.status == 200
        arrivals = []
        while True:
            line = resp.readline()
            if not line:
                break
            arrivals.append((time.monotonic(), line))
    finally:
        conn.close()
    lines = [line for _, line in arrivals]
    assert lines == [b"chunk%d\n" % n for n in range(5)] + [b"end\n"]
    assert arrivals[-1][0] - arrivals[0][0] >= 0.7


def test_status_and_duplicate_headers_and_event_rules(server):
    mark = server.log_mark()
    resp = get_ok(server, "/app/rules", status=201)
    assert resp.headers.get_all("X-Dup") == ["1", "2"]
    assert json.loads(resp.body) == ["RuntimeError", "RuntimeError"]
    path = server.path / "var" / "rules-after"
    deadline = time.monotonic() + 20
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    after = json.loads(path.read_text())
    assert after["after"] == "http.disconnect"
    assert len(after["errors"]) == 3
    assert_no_crashes(server, mark)


def test_status_without_body(server):
    resp = get_ok(server, "/app/status-only", status=204)
    assert resp.raw == b""


# -- errors ----------------------------------------------------------------

def test_exception_before_start_gives_500_debug_page_and_log(server):
    mark = server.log_mark()
    resp = get_ok(server, "/app/raise-before", status=500)
    assert "boom before start" in resp.body and "Mod_python error" in resp.body
    log = server.wait_for_log("HYDRA0551", since=mark)
    line = log_lines(log, "HYDRA0551")[0]
    assert "asgiapp::app" in line and "asgi_main" in line
    assert log_lines(log, "ValueError: boom before start")
    get_json(server, "/app/scope")


def test_exception_before_start_without_debug_is_plain_500(server):
    resp = get_ok(server, "/nodebug/raise-before", status=500)
    assert "boom before start" not in resp.body


def test_exception_after_start_closes_connection(server):
    mark = server.log_mark()
    answer = raw_request(server, b"GET /app/raise-after HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200")
    assert answer.endswith(b"partial")  # closed short of Content-Length: 100
    log = server.wait_for_log("HYDRA0552", since=mark)
    assert log_lines(log, "HYDRA0552", "boom after start")
    get_json(server, "/app/scope")


def test_exception_after_start_cuts_chunked_response_short(server):
    answer = raw_request(server, b"GET /app/raise-after-chunked HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in answer
    assert answer.endswith(b"7\r\npartial\r\n")  # no last chunk: the client sees the failure
    get_json(server, "/app/scope")


def test_body_before_start_is_an_error(server):
    mark = server.log_mark()
    get_ok(server, "/nodebug/body-before-start", status=500)
    log = server.wait_for_log("HYDRA0551", since=mark)
    assert "http.response.body before http.response.start" in log


def test_returning_without_response_gives_500(server):
    mark = server.log_mark()
    get_ok(server, "/app/no-response", status=500)
    server.wait_for_log("HYDRA0553", since=mark)


def test_websocket_upgrade_gets_501_and_log_line(server):
    mark = server.log_mark()
    get_ok(server, "/app/ws", status=501,
           headers={"Upgrade": "websocket", "Connection": "Upgrade",
                    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13"})
    server.wait_for_log("HYDRA0554", since=mark)


# -- lifespan ----------------------------------------------------------------

def test_failing_startup_answers_500_then_retries(server):
    mark = server.log_mark()
    # prefork: every child tries once; the attempts file is shared, so only
    # the very first attempt fails.
    first = server.get("/failing/")
    if first.status == 500:
        log = server.wait_for_log("HYDRA0556", since=mark)
        assert len(log_lines(log, "HYDRA0556", "database not ready")) == 1
        time.sleep(1.2)
    deadline = time.monotonic() + 10
    while True:
        resp = server.get("/failing/")
        if resp.status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert resp.status == 200 and resp.body == "started after retry"
    assert (server.path / "var" / "startup-attempts").read_text().startswith("xx")


def test_application_without_lifespan_support_just_runs(server):
    assert get_ok(server, "/nolifespan/").body == "no lifespan"


def test_changed_application_module_is_reloaded(server):
    assert get_ok(server, "/reload/").body == "version one"
    server.write("pylib/reloadme.py", RELOADABLE % "version two", mtime=time.time() + 5)
    deadline = time.monotonic() + 10
    while True:
        body = get_ok(server, "/reload/").body
        if body == "version two" or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert body == "version two"


# -- interpreters --------------------------------------------------------------

def test_three_asgi_interpreters_in_one_child_serve_concurrently(server):
    # The Python 3.11 trap: the C _asyncio running-loop cache is process-wide.
    results, errors = [], []

    def fetch(name):
        try:
            results.append(get_json(server, "/multi/%s/sleep" % name, timeout=15))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))

    for _ in range(2):
        threads = [threading.Thread(target=fetch, args=(name,))
                   for name in ("one", "two", "three") for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert errors == []
    assert len(results) == 18
    assert {r["interpreter"] for r in results} == {"asgi_one", "asgi_two", "asgi_three"}


def test_shutdown_runs_at_child_exit(mpm):
    with ApacheServer(location("/app", APP_SPEC, handler="mod_python.asgi", interp="asgi_sd"),
                      FILES, mpm=mpm, single_child=True) as server:
        pid = get_json(server, "/app/sleep")["pid"]
        server.stop(graceful=True)  # child-exit work runs only on a clean exit
        assert (server.path / "var" / ("shutdown-%d" % pid)).read_text() == "shutdown"
        assert_no_crashes(server)


OWN_GIL_APP = r'''
import asyncio, sys

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await asyncio.sleep(0.05)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"own:%d:" % len(body), "more_body": True})
    await send({"type": "http.response.body", "body": sys.version.split()[0].encode()})
'''


@pytest.mark.own_gil
def test_own_gil_interpreters_serve_asgi(mpm):
    cfg = "\n".join(location("/own%d" % n, "PythonOption mod_python.asgi.application owngil::app",
                             handler="mod_python.asgi", interp="own%d" % n, gil="own")
                    for n in range(3))
    with ApacheServer(cfg, {"pylib/owngil.py": OWN_GIL_APP}, mpm=mpm) as server:
        results, errors = [], []

        def fetch(n):
            try:
                resp = server.post("/own%d/x" % n, b"y" * 100_000)
                results.append((resp.status, resp.body))
            except Exception as exc:  # noqa: BLE001
                errors.append(repr(exc))

        threads = [threading.Thread(target=fetch, args=(n % 3,)) for n in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert errors == []
        assert len(results) == 12
        assert all(status == 200 and body.startswith("own:100000:") for status, body in results)
        assert_no_crashes(server)
