"""
mod_python.wsgi: python-api.md §18 through a real Apache: the environ
(PEP 3333 native strings, SCRIPT_NAME from <Location> and from
mod_python.wsgi.base_uri), status codes other than 200, a streaming
generator and its close(), exc_info, wsgi.input read/readline/readlines
and iteration.

Defect 5 of the issue: a second start_response() without exc_info used to
add a second set of headers to the response; PEP 3333 makes it an error
(raised into the application: a 500 when it lets it through). And
wsgi.input can be iterated (PEP 3333; documented in docs/migrating.md).
"""

import json
import time

import pytest

from harness import assert_no_crashes, get_body, get_json, get_ok, location

WSGIAPP_PY = r'''
import json, sys

CLOSED = "{root}/var/closed-%s"

def _json(start_response, data, status="200 OK"):
    start_response(status, [("Content-Type", "application/json")])
    return [json.dumps(data).encode()]

def environ(env, start_response):
    keys = ("SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "REQUEST_METHOD", "REQUEST_URI",
            "HTTP_X_TEST", "SERVER_PROTOCOL", "wsgi.url_scheme")
    data = {k: env.get(k) for k in keys}
    data["types"] = sorted({type(v).__name__ for k, v in env.items()
                            if k.isupper() and not k.startswith("wsgi")})
    data["version"] = list(env["wsgi.version"])
    data["flags"] = [env["wsgi.multithread"], env["wsgi.multiprocess"], env["wsgi.run_once"]]
    data["errors_is_stderr"] = env["wsgi.errors"] is sys.stderr
    data["input_iterable"] = hasattr(env["wsgi.input"], "__iter__")
    data["path_bytes"] = list(env["PATH_INFO"].encode("latin-1"))
    return _json(start_response, data)

def status(env, start_response):
    code = env["QUERY_STRING"]
    reasons = {"201": "Created", "404": "Not Found", "302": "Found", "418": "I'm a teapot",
               "500": "Internal Server Error"}
    headers = [("Content-Type", "text/plain"), ("X-Dup", "a"), ("X-Dup", "b")]
    if code == "302":
        headers.append(("Location", "/elsewhere"))
    start_response("%s %s" % (code, reasons[code]), headers)
    return [("status %s" % code).encode()]

class Stream:
    def __init__(self, tag):
        self.tag = tag
    def __iter__(self):
        for n in range(3):
            yield ("chunk%d;" % n).encode()
    def close(self):
        with open(CLOSED % self.tag, "w") as f:
            f.write("closed")

def stream(env, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return Stream(env["QUERY_STRING"])

def generator(env, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    def body():
        try:
            yield b"a"
            yield b""
            yield b"b"
        finally:
            with open(CLOSED % env["QUERY_STRING"], "w") as f:
                f.write("generator closed")
    return body()

def exc_info(env, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-First", "1")])
    try:
        raise ValueError("late failure")
    except ValueError:
        start_response("503 Service Unavailable",
                       [("Content-Type", "text/plain"), ("X-Second", "2")], sys.exc_info())
    return [b"replaced"]

def twice(env, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-A", "1")])
    start_response("202 Accepted", [("X-B", "2")])
    return [b"both header sets"]

def twice_caught(env, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-A", "1")])
    try:
        start_response("202 Accepted", [("X-B", "2")])
    except Exception as e:
        return [type(e).__name__.encode()]
    return [b"no error"]

def input(env, start_response):
    stream = env["wsgi.input"]
    mode = env["QUERY_STRING"]
    if mode == "read":
        got = [stream.read(5), stream.read()]
    elif mode == "readline":
        got = [stream.readline(), stream.readline(3), stream.readline()]
    elif mode == "readlines":
        got = stream.readlines()
    else:
        got = list(stream)
    return _json(start_response, [g.decode("latin-1") for g in got])

def checks(env, start_response):
    results = {}
    for label, args in (("tuple_headers", ("200 OK", (("A", "b"),))),
                        ("list_item", ("200 OK", [["A", "b"]])),
                        ("three_tuple", ("200 OK", [("A", "b", "c")])),
                        ("int_value", ("200 OK", [("A", 1)])),
                        ("status_999", ("999 Nope", [])),
                        ("status_text", ("OK", []))):
        try:
            start_response(*args)
            results[label] = "accepted"
        except (TypeError, ValueError) as e:
            results[label] = type(e).__name__
    write = start_response("200 OK", [("Content-Type", "application/json")])
    write(json.dumps(results).encode())
    return []

def application(env, start_response):
    name = env["PATH_INFO"].strip("/").split("/")[0] or "environ"
    return globals()[name](env, start_response)
'''

CONFIG = "\n".join([
    location("/wsgi", "PythonOption mod_python.wsgi.application wsgiapp",
             handler="mod_python.wsgi"),
    location("/based", "PythonOption mod_python.wsgi.application wsgiapp::environ",
             "PythonOption mod_python.wsgi.base_uri /based/app", handler="mod_python.wsgi"),
])


@pytest.fixture(scope="module")
def server(start_apache, mpm):
    return start_apache(CONFIG, {"pylib/wsgiapp.py": WSGIAPP_PY}, mpm=mpm)


def test_environ_has_script_name_from_location_and_native_strings(server):
    data = get_json(server, "/wsgi/environ/sub?q=1", headers={"X-Test": "yes"})
    assert data["SCRIPT_NAME"] == "/wsgi"
    assert data["PATH_INFO"] == "/environ/sub"
    assert data["QUERY_STRING"] == "q=1"
    assert data["REQUEST_METHOD"] == "GET"
    assert data["HTTP_X_TEST"] == "yes"
    assert data["types"] == ["str"]
    assert data["version"] == [1, 0]
    assert data["flags"][2] is False
    assert data["errors_is_stderr"] is True
    assert data["wsgi.url_scheme"] == "http"
    assert data["input_iterable"] is True


def test_non_ascii_path_arrives_as_latin1_decoded_bytes(server):
    """(deviation, docs/directives.md summary: "WSGI environ strings")"""
    data = get_json(server, "/wsgi/environ/%C3%A9t%C3%A9")
    assert bytes(data["path_bytes"]).decode("utf-8") == "/environ/\u00e9t\u00e9"


def test_base_uri_option_sets_script_name_and_declines_outside(server):
    data = get_json(server, "/based/app/x/y")
    assert data["SCRIPT_NAME"] == "/based/app"
    assert data["PATH_INFO"] == "/x/y"
    assert server.get("/based/other").status == 404


@pytest.mark.parametrize("code", [201, 404, 302, 418, 500])
def test_the_applications_status_is_sent(server, code):
    """(deviation, docs/directives.md summary: "WSGI status codes")"""
    resp = server.get("/wsgi/status?%d" % code)
    assert resp.status == code
    assert resp.body == "status %d" % code
    assert resp.headers.get_all("X-Dup") == ["a", "b"]
    if code == 302:
        assert resp.headers["Location"] == "/elsewhere"


def _wait_closed(server, tag):
    path = server.path / "var" / ("closed-" + tag)
    deadline = time.monotonic() + 20
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return path.read_text() if path.exists() else None


def test_streamed_iterable_is_sent_in_order_and_closed(server):
    tag = "s%d" % time.monotonic_ns()
    assert get_body(server, "/wsgi/stream?" + tag) == "chunk0;chunk1;chunk2;"
    assert _wait_closed(server, tag) == "closed"


def test_generator_response_skips_empty_chunks_and_is_closed(server):
    tag = "g%d" % time.monotonic_ns()
    assert get_body(server, "/wsgi/generator?" + tag) == "ab"
    assert _wait_closed(server, tag) == "generator closed"


def test_exc_info_before_any_body_replaces_status_and_headers(server):
    resp = server.get("/wsgi/exc_info")
    assert resp.status == 503
    assert resp.body == "replaced"
    assert resp.headers.get("X-Second") == "2"
    assert resp.headers.get("X-First") is None


def test_second_start_response_without_exc_info_is_an_error(server):
    resp = server.get("/wsgi/twice")
    assert resp.status == 500
    assert "both header sets" not in resp.body
    assert resp.headers.get("X-A") is None and resp.headers.get("X-B") is None
    caught = get_ok(server, "/wsgi/twice_caught")
    assert caught.body == "RuntimeError"
    assert caught.headers.get("X-A") == "1" and caught.headers.get("X-B") is None


def test_start_response_checks_its_arguments_and_returns_write(server):
    assert get_json(server, "/wsgi/checks") == {
        "tuple_headers": "TypeError", "list_item": "TypeError", "three_tuple": "TypeError",
        "int_value": "TypeError", "status_999": "ValueError", "status_text": "ValueError"}


BODY = "first line\nsecond\nthird line without end"


@pytest.mark.parametrize("mode, expected", [
    ("read", ["first", " line\nsecond\nthird line without end"]),
    ("readline", ["first line\n", "sec", "ond\n"]),
    ("readlines", ["first line\n", "second\n", "third line without end"]),
    ("iterate", ["first line\n", "second\n", "third line without end"]),
])
def test_wsgi_input_read_readline_readlines_and_iteration(server, mode, expected):
    resp = server.post("/wsgi/input?" + mode, BODY)
    assert resp.status == 200, resp.body
    assert json.loads(resp.body) == expected


def test_no_crashes(server):
    assert_no_crashes(server)
