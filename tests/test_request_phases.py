"""
Every request phase the other files do not test, python-api.md §1 and
directives.md §4: Access, Authen, Authz, Type, HeaderParser, Init (server
and directory level), Cleanup, PythonHandlerModule; the request methods
req.sendfile, internal_redirect, get_basic_auth_pw, allow_methods,
construct_url, register_cleanup (python-api.md §5.1); and the two items of
the issue's defect 7: `raise SERVER_RETURN((status, http))` (the tuple
form) and req.hlist.next() called by a handler (spec §1.2 step 8: the
dispatcher steps on from where the list is, so the next entry is skipped).

One Apache per MPM, one <Location> per behaviour.
"""

import base64
import json
import time

import pytest

from harness import assert_no_crashes, get_body, get_json, get_ok, location

PHASES_PY = r'''
import json, os
from mod_python import apache

VAR = "{root}/var"

def _note(req, key, value):
    req.notes[key] = value

def _show(req):
    req.content_type = "application/json"
    req.write(json.dumps({"phase": req.phase, "notes": dict(req.notes),
                          "user": req.user, "type": req.content_type}))
    return apache.OK

# -- handler lists ---------------------------------------------------------------

def skipper(req):
    req.write("a")
    req.hlist.next()
    return apache.OK

def skipped(req):
    req.write("b")
    return apache.OK

def last(req):
    req.write("c")
    return apache.OK

def tuple_ok_201(req):
    raise apache.SERVER_RETURN((apache.OK, 201))

def tuple_forbidden(req):
    raise apache.SERVER_RETURN((apache.HTTP_FORBIDDEN, 0))

def after_tuple(req):
    req.write("status=%d" % req.status)
    return apache.OK

# -- phases ----------------------------------------------------------------------

def init_server(req):
    _note(req, "init_server", req.phase)
    return apache.OK

def init_dir(req):
    _note(req, "init_dir", req.phase)
    return apache.OK

def headerparser(req):
    _note(req, "headerparser", req.phase)
    return apache.OK

def access(req):
    _note(req, "access", req.phase)
    if "deny" in (req.args or ""):
        return apache.HTTP_FORBIDDEN
    return apache.OK

def authen(req):
    password = req.get_basic_auth_pw()
    _note(req, "authen", req.phase)
    if req.user == "ann" and password == "pw":
        return apache.OK
    if req.user == "bob" and password == "pw":
        return apache.OK
    return apache.HTTP_UNAUTHORIZED

def authen_without_user(req):
    return apache.OK

def authz(req):
    _note(req, "authz", req.phase)
    return apache.OK if req.user == "ann" else apache.HTTP_FORBIDDEN

def typer(req):
    req.content_type = "text/x-hydra"
    _note(req, "type", req.phase)
    return apache.OK

def show_type(req):
    req.write(req.content_type)
    return apache.OK

show = _show

def _cleanup_file(req):
    return os.path.join(VAR, "cleanup-%s.txt" % req.args)

def _registered(data):
    path, text = data
    with open(path, "a") as f:
        f.write(text)

def cleanup_request(req):
    req.register_cleanup(_registered, (_cleanup_file(req), "registered;"))
    req.write("cleanup later")
    return apache.OK

def cleanuphandler(req):
    with open(_cleanup_file(req), "a") as f:
        f.write("handler:%s;" % req.phase)
    return apache.OK

# -- request methods ---------------------------------------------------------------

def sendfile(req):
    req.content_type = "text/plain"
    path = req.document_root() + "/data.txt"
    sent = req.sendfile(path, 2, 5)
    req.write(";%d" % sent)
    return apache.OK

def redirect_from(req):
    req.internal_redirect("/target?from=redirect")
    return apache.OK

def redirect_target(req):
    req.content_type = "text/plain"
    req.write("target %s prev=%s" % (req.args, req.prev.uri if req.prev else None))
    return apache.OK

def allow(req):
    req.allow_methods(["GET", "PUT"])
    if req.method not in ("GET", "PUT"):
        return apache.HTTP_METHOD_NOT_ALLOWED
    req.write("allowed")
    return apache.OK

def construct(req):
    req.write(req.construct_url("/some/where?x=1"))
    return apache.OK
'''

HMOD_PY = r'''
from mod_python import apache

def _mark(req, name):
    req.notes[name] = "1"
    return apache.OK

def headerparserhandler(req):
    return _mark(req, "headerparser")

def fixuphandler(req):
    return _mark(req, "fixup")

def handler(req):
    req.content_type = "text/plain"
    req.write(",".join(sorted(k for k in req.notes.keys() if k in ("headerparser", "fixup"))))
    return apache.OK
'''

CONFIG = "\n".join([
    # A server-level Init runs at post-read-request time, and then the
    # directory-level ones do not (upstream's once-per-request rule): the
    # server-level one gets a virtual host of its own.
    "<VirtualHost 127.0.0.1:{port2}>",
    "PythonInitHandler phases::init_server",
    location("/vhost_phases", handler="phases::show"),
    "</VirtualHost>",
    location("/hlist", "PythonHandler phases::skipper phases::skipped phases::last"),
    location("/hlist_plain", "PythonHandler phases::skipped phases::last"),
    location("/tuple201", "PythonHandler phases::tuple_ok_201 phases::after_tuple"),
    location("/tuple403", "PythonHandler phases::tuple_forbidden phases::after_tuple"),
    location("/phases", "PythonInitHandler phases::init_dir",
             "PythonHeaderParserHandler phases::headerparser",
             "PythonAccessHandler phases::access", handler="phases::show"),
    location("/auth", "AuthType Basic", 'AuthName "Hydra Test"', "Require valid-user",
             "PythonAuthenHandler phases::authen", "PythonAuthzHandler phases::authz",
             handler="phases::show"),
    location("/auth_nouser", "AuthType Basic", 'AuthName "Hydra Test"', "Require valid-user",
             "PythonAuthenHandler phases::authen_without_user", handler="phases::show"),
    location("/type", "PythonTypeHandler phases::typer", handler="phases::show_type"),
    location("/cleanup", "PythonCleanupHandler phases::cleanuphandler",
             handler="phases::cleanup_request"),
    location("/hmod", "PythonHandlerModule hmod"),
    location("/sendfile", handler="phases::sendfile"),
    location("/redirect", handler="phases::redirect_from"),
    location("/target", handler="phases::redirect_target"),
    location("/allow", handler="phases::allow"),
    location("/construct", handler="phases::construct"),
])

FILES = {
    "pylib/phases.py": PHASES_PY,
    "pylib/hmod.py": HMOD_PY,
    "htdocs/data.txt": "0123456789",
}


@pytest.fixture(scope="module")
def server(start_apache, mpm):
    return start_apache(CONFIG, FILES, mpm=mpm, modules=("authn_core", "authz_user"),
                        extra_ports=1)


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(
        ("%s:%s" % (user, password)).encode()).decode()}


# -- defect 7: the handler list ---------------------------------------------------

def test_hlist_next_in_a_handler_skips_the_following_entry(server):
    assert get_body(server, "/hlist_plain") == "bc"
    assert get_body(server, "/hlist") == "ac"


def test_server_return_tuple_sets_status_and_chains_like_a_return(server):
    resp = server.get("/tuple201")
    assert resp.status == 201, resp.body
    assert resp.body == "status=201"


def test_server_return_tuple_with_an_error_status_stops_the_list(server):
    resp = server.get("/tuple403")
    assert resp.status == 403
    assert "status=" not in resp.body


# -- Init, HeaderParser, Access -----------------------------------------------------

def test_server_init_directory_init_headerparser_and_access_run_in_their_phases(server):
    notes = get_json(server, "/vhost_phases", port=server.extra_ports[0])["notes"]
    assert notes["init_server"] == "PythonInitHandler"
    assert "init_dir" not in notes
    notes = get_json(server, "/phases")["notes"]
    assert notes["init_dir"] == "PythonInitHandler"
    assert notes["headerparser"] == "PythonHeaderParserHandler"
    assert notes["access"] == "PythonAccessHandler"


def test_access_handler_can_deny(server):
    assert server.get("/phases?deny").status == 403


# -- Authen, Authz ---------------------------------------------------------------

def test_authen_without_credentials_is_401(server):
    # The Basic challenge header itself is mod_auth_basic's work in httpd
    # 2.4 (ap_note_basic_auth_failure), and that module is not loaded here:
    # it would answer before the Python handler.
    assert server.get("/auth").status == 401


def test_authen_reads_user_and_password_then_authz_decides(server):
    data = get_json(server, "/auth", headers=basic("ann", "pw"))
    assert data["user"] == "ann"
    assert data["notes"]["authen"] == "PythonAuthenHandler"
    assert data["notes"]["authz"] == "PythonAuthzHandler"
    assert server.get("/auth", headers=basic("ann", "wrong")).status == 401
    assert server.get("/auth", headers=basic("bob", "pw")).status == 403


def test_authen_ok_without_a_user_is_500(server):
    assert server.get("/auth_nouser", headers=basic("x", "y")).status == 500


# -- Type, PythonHandlerModule ---------------------------------------------------

def test_type_handler_sets_the_content_type(server):
    resp = get_ok(server, "/type")
    assert resp.body == "text/x-hydra"
    assert resp.headers["Content-Type"] == "text/x-hydra"


def test_handler_module_runs_the_functions_it_has_and_skips_the_others(server):
    assert get_body(server, "/hmod") == "fixup,headerparser"


# -- Cleanup, register_cleanup ---------------------------------------------------

def test_registered_cleanups_run_before_the_cleanup_handler(server):
    tag = "c%d" % int(time.time() * 1000)
    assert get_body(server, "/cleanup?" + tag) == "cleanup later"
    path = server.path / "var" / ("cleanup-%s.txt" % tag)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if path.exists() and "handler" in path.read_text():
            break
        time.sleep(0.05)
    assert path.read_text() == "registered;handler:PythonCleanupHandler;"


# -- request methods ----------------------------------------------------------------

def test_sendfile_sends_the_slice_and_returns_its_length(server):
    assert get_body(server, "/sendfile") == "23456;5"


def test_internal_redirect_runs_the_target_with_prev(server):
    assert get_body(server, "/redirect") == "target from=redirect prev=/redirect"


def test_allow_methods_fill_the_allow_header(server):
    assert get_body(server, "/allow") == "allowed"
    resp = server.post("/allow", "x")
    assert resp.status == 405
    allow = resp.headers.get("Allow", "")
    assert "PUT" in allow and "GET" in allow


def test_construct_url_uses_the_server_name_and_port(server):
    assert get_body(server, "/construct") == \
        "http://hydra.test:%d/some/where?x=1" % server.port


def test_no_crashes(server):
    assert_no_crashes(server)
