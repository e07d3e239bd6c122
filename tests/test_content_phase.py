"""
The content phase and the request API reachable from it: directives.md §2
(handler strings, lists, `| .ext`), §4 (chaining, SERVER_RETURN), §5.10
(PythonOption), §5.11 (PythonPath), §5.14 (PythonAutoReload), §6.2
(sys.path), §8 (routing); python-api.md §1.1, §2.1-§2.4 (import_module,
log_error, constants), §3.3 (resolve_object), §4 (mp_table), §5 (request).

One Apache per MPM with exactly one child, so that state checks (reload,
PythonPath cache) always meet the same process.
"""

import hashlib
import json
import os
import re
import time

import pytest

from harness import ApacheServer, get_body, get_json, location, log_lines

CP_PY = r'''
import hashlib, json, os, sys
from mod_python import apache

def _json(req, obj):
    req.content_type = "application/json"
    req.write(json.dumps(obj))
    return apache.OK

# -- handler resolution ------------------------------------------------------

def named(req):
    req.write("named")
    return apache.OK

class Greeter:
    def __init__(self, req):
        self.seen = req
    def greet(self, req):
        req.write("greet same_req=%s" % (self.seen is req))
        return apache.OK

class Plain:
    instances = 0
    def __init__(self):
        Plain.instances += 1
    def method(self, req):
        req.write("instances=%d" % Plain.instances)
        return apache.OK

instance = Plain()

class Outer:
    made = []
    def __init__(self, req):
        Outer.made.append("outer")
    class Inner:
        def __init__(self, req):
            Outer.made.append("inner")
        def run(self, req):
            req.write(",".join(Outer.made))
            del Outer.made[:]
            return apache.OK

# -- chaining ----------------------------------------------------------------

def first_ok(req):
    req.write("first;")
    return apache.OK

def second_ok(req):
    req.write("second;")
    return apache.OK

def first_declined(req):
    return apache.DECLINED

def first_notfound(req):
    return apache.HTTP_NOT_FOUND

def sr_ok(req):
    req.write("sr;")
    raise apache.SERVER_RETURN(apache.OK)

def sr_forbidden(req):
    raise apache.SERVER_RETURN(apache.HTTP_FORBIDDEN)

def sr_two_args(req):
    raise apache.SERVER_RETURN(apache.OK, 201)

def fix_declined(req):
    req.notes["trail"] = (req.notes.get("trail") or "") + "declined,"
    return apache.DECLINED

def fix_ok(req):
    req.notes["trail"] = (req.notes.get("trail") or "") + "ok,"
    return apache.OK

def fix_ok2(req):
    req.notes["trail"] = (req.notes.get("trail") or "") + "ok2,"
    return apache.OK

def report_trail(req):
    req.write("trail=" + (req.notes.get("trail") or ""))
    return apache.OK

def route(req):
    req.handler = "mod_python"
    req.add_handler("PythonHandler", "cp::named")
    return apache.OK

# -- | .ext ------------------------------------------------------------------

def ext_py(req):
    req.write("py %s" % req.extension)
    return apache.OK

def ext_multi(req):
    req.write("multi %s" % req.extension)
    return apache.OK

def ext_plain(req):
    req.write("plain %r" % (req.extension,))
    return apache.OK

# -- options, config, introspection ------------------------------------------

def _table(t):
    return dict((k, t[k]) for k in t.keys())

def options(req):
    opts = req.get_options()
    return _json(req, {"req": _table(opts), "server": _table(req.server.get_options()),
                       "case": opts.get("LOCAL_KEY")})

def config(req):
    return _json(req, {"req": _table(req.get_config()),
                       "server": _table(req.server.get_config())})

def introspect(req):
    return _json(req, {"phase": req.phase, "handler": req.hlist.handler,
                       "is_location": req.hlist.is_location, "method": req.method,
                       "uri": req.uri, "args": req.args, "filename": req.filename,
                       "interpreter": req.interpreter, "main_server_is_obj":
                       apache.main_server is not None})

def pathinfo(req, here=None):
    here = here or os.path.dirname(__file__) + "/"
    return _json(req, {"path0": sys.path[0], "here": here, "here_in_path": here in sys.path,
                       "ppdir_in_path": any(p.rstrip("/").endswith("/ppdir") for p in sys.path)})

def pp_remove(req):
    for p in [p for p in sys.path if p.rstrip("/").endswith("/ppdir")]:
        sys.path.remove(p)
    return pathinfo(req)

# -- import_module -----------------------------------------------------------

def use_import_module(req):
    m = apache.import_module("imtarget")
    return _json(req, {"value": m.VALUE, "same": m is sys.modules["imtarget"]})

def use_import_module_reload(req):
    m = apache.import_module("imtarget_reload")
    return _json(req, {"value": m.VALUE})

# -- body I/O ----------------------------------------------------------------

def echo(req):
    data = req.read()
    return _json(req, {"len": len(data), "sha": hashlib.sha256(data).hexdigest(),
                       "type": type(data).__name__, "method": req.method})

def read_parts(req):
    first = req.read(10)
    rest = req.read()
    again = req.read()
    return _json(req, {"first": first.decode(), "rest_len": len(rest),
                       "sha": hashlib.sha256(first + rest).hexdigest(), "again": len(again)})

def readlines_loop(req):
    lines = []
    while True:
        line = req.readline()
        if not line:
            break
        lines.append(line.decode())
    return _json(req, lines)

def readline_limit(req):
    a = req.readline(3)
    b = req.readline()
    c = req.read()
    return _json(req, [a.decode(), b.decode(), c.decode()])

def readlines_all(req):
    return _json(req, [l.decode() for l in req.readlines()])

def write_kinds(req):
    req.content_type = "text/plain; charset=utf-8"
    req.write("h\u00e9llo \u2713 ")
    req.write(b"bytes ")
    req.write("")
    req.write(b"nf", 0)
    return apache.OK

# -- headers, status, content type --------------------------------------------

def headers(req):
    req.headers_out["X-Hydra-Out"] = "out"
    req.err_headers_out["X-Hydra-Err"] = "err"
    req.headers_out.add("X-Multi", "1")
    req.headers_out.add("X-Multi", "2")
    return _json(req, {"in": req.headers_in["x-hydra-in"],
                       "in_get": req.headers_in.get("X-HYDRA-IN"),
                       "missing": req.headers_in.get("x-not-sent", "default")})

def err_headers(req):
    req.headers_out["X-Hydra-Out"] = "out"
    req.err_headers_out["X-Hydra-Err"] = "err"
    return apache.HTTP_NOT_FOUND

def content_type(req):
    req.content_type = "application/x-hydra; charset=utf-8"
    req.write("typed")
    return apache.OK

def status(req):
    req.status = 202
    req.write("accepted")
    return apache.OK

def log(req):
    tag = req.args
    req.log_error("hydra-req-warning-" + tag, apache.APLOG_WARNING)
    apache.log_error("hydra-apache-notice-" + tag, apache.APLOG_NOTICE, req.server)
    req.log_error("hydra-emerg-" + tag, apache.APLOG_EMERG)
    req.log_error("hydra-default-" + tag)
    req.write("logged")
    return apache.OK

# -- mp_table ----------------------------------------------------------------

def table(req):
    t = apache.table()
    t["Content-Type"] = "a"
    t.add("content-type", "b")
    t.add("Other", "c")
    res = {
        "getitem": t["CONTENT-TYPE"],
        "get": t.get("content-type"),
        "len": len(t),
        "repr": repr(t),
        "has_key": t.has_key("OTHER"),
        "has_key_type": type(t.has_key("OTHER")).__name__,
        "has_key_missing": t.has_key("nope"),
        "in": "other" in t,
        "keys": list(t.keys()),
        "items": [list(i) for i in t.items()],
        "empty_repr": repr(apache.table()),
        "eq_dict": apache.table({"a": "1"}) == {"a": "1"},
    }
    try:
        t["missing"]
        res["keyerror"] = False
    except KeyError:
        res["keyerror"] = True
    try:
        hash(t)
        res["unhashable"] = False
    except TypeError:
        res["unhashable"] = True
    t["content-type"] = "z"
    res["after_set"] = t["Content-Type"]
    res["len_after_set"] = len(t)
    del t["OTHER"]
    res["len_after_del"] = len(t)
    p = apache.table([("k1", "v1"), ("k2", "v2")])
    res["popitem"] = list(p.popitem())
    res["copy_independent"] = _copy_is_independent()
    return _json(req, res)

def _copy_is_independent():
    a = apache.table({"x": "1"})
    b = a.copy()
    b["x"] = "2"
    return a["x"] == "1" and b["x"] == "2"

# -- constants and package ----------------------------------------------------

def constants(req):
    names = req.args.split(",")
    return _json(req, dict((n, getattr(apache, n, "MISSING")) for n in names))

def version(req):
    import mod_python, mod_python.version, mod_python.python22
    return _json(req, {"version": mod_python.version.version,
                       "mp_version": mod_python.mp_version})
'''

CPDEFAULT_PY = r'''
from mod_python import apache

def handler(req):
    req.write("default handler")
    return apache.OK
'''

TESTS_PY = r'''
from mod_python import apache

def x(req):
    return "published x"

def simplehandler(req):
    req.write("simplehandler ran")
    return apache.OK
'''

PATHMOD_PY = r'''
import os
import cp

def handler(req):
    return cp.pathinfo(req, here=os.path.dirname(__file__) + "/")
'''


def reload_module(value):
    return r'''
from mod_python import apache
VALUE = "%s"

def handler(req):
    req.write(VALUE)
    return apache.OK
''' % value


def directory(rel, *lines):
    return "<Directory {root}/htdocs/%s>\n%s\n</Directory>" % (rel, "\n".join("    " + l for l in lines))


CONFIG = "\n".join([
    "PythonOption PythonOptionTest sample_value",
    'PythonOption EmptyAtServer ""',
    "PythonEnablePdb Off",
    # handler strings
    location("/default", handler="cpdefault"),
    location("/callable", handler="cp::named"),
    location("/python-program", "SetHandler python-program", handler="cp::named"),
    location("/dotted-class", handler="cp::Greeter.greet"),
    location("/dotted-instance", handler="cp::instance.method"),
    location("/dotted-nested", handler="cp::Outer.Inner.run"),
    location("/introspect", handler="cp::introspect"),
    # lists and chaining
    location("/chain-ok", handler="cp::first_ok cp::second_ok"),
    location("/chain-repeat", "PythonHandler cp::first_ok", handler="cp::second_ok"),
    location("/chain-status", handler="cp::first_notfound cp::second_ok"),
    location("/outer", handler="cp::first_ok"),
    location("/outer/inner", handler="cp::second_ok"),
    location("/sr-ok", handler="cp::sr_ok cp::second_ok"),
    location("/sr-forbidden", handler="cp::sr_forbidden cp::second_ok"),
    location("/sr-two", handler="cp::sr_two_args cp::second_ok"),
    location("/fixups", "PythonFixupHandler cp::fix_declined cp::fix_ok cp::fix_ok2",
             handler="cp::report_trail"),
    "<Location /dynamic-route>\n    PythonFixupHandler cp::route\n</Location>",
    directory("declined", "SetHandler mod_python", "PythonHandler cp::first_declined cp::second_ok"),
    directory("addh", "AddHandler mod_python .py", "PythonHandler cp::named"),
    # | .ext
    directory("ext", "SetHandler mod_python", "PythonHandler cp::ext_py | .py",
              "PythonHandler cp::ext_multi | .html .htm", "PythonHandler cp::ext_plain"),
    directory("pubext", "SetHandler mod_python", "PythonHandler mod_python.publisher | .py",
              "PythonHandler tests::simplehandler"),
    # PythonPath and sys.path
    location("/pp", "PythonPath \"sys.path + ['{root}/ppdir']\"", handler="ppmod",
             interp="pp"),
    location("/pp-remove", "PythonPath \"sys.path + ['{root}/ppdir']\"",
             handler="ppmod::remove", interp="pp"),
    directory("ppd", "SetHandler mod_python", "PythonInterpreter ppd",
              "PythonPath \"['{root}/ppdir'] + sys.path\"", "PythonHandler ppmod"),
    directory("noppd", "SetHandler mod_python", "PythonInterpreter noppd",
              "PythonHandler dirmod"),
    # options and config
    location("/opt-inherit", handler="cp::options"),
    location("/opt-removed", "PythonOption PythonOptionTest", handler="cp::options"),
    location("/opt-removed-empty", 'PythonOption PythonOptionTest ""', handler="cp::options"),
    location("/opt-local", 'PythonOption local_key "with space"', handler="cp::options"),
    location("/config", "PythonDebug On", "PythonAutoReload Off", handler="cp::config",
             interp="cfg"),
    # autoreload
    directory("reload_on", "SetHandler mod_python", "PythonInterpreter rl_on",
              "PythonHandler rmod_on"),
    directory("reload_off", "SetHandler mod_python", "PythonInterpreter rl_off",
              "PythonAutoReload Off", "PythonHandler rmod_off"),
    location("/import-module", handler="cp::use_import_module"),
    location("/import-module-reload", handler="cp::use_import_module_reload", interp="imr"),
    # request API
    location("/echo", handler="cp::echo"),
    location("/read-parts", handler="cp::read_parts"),
    location("/readline", handler="cp::readlines_loop"),
    location("/readline-limit", handler="cp::readline_limit"),
    location("/readlines", handler="cp::readlines_all"),
    location("/write-kinds", handler="cp::write_kinds"),
    location("/headers", handler="cp::headers"),
    location("/err-headers", handler="cp::err_headers"),
    location("/content-type", handler="cp::content_type"),
    location("/status", handler="cp::status"),
    location("/log", handler="cp::log"),
    location("/table", handler="cp::table"),
    location("/constants", handler="cp::constants"),
    location("/version", handler="cp::version"),
])

FILES = {
    "pylib/cp.py": CP_PY,
    "pylib/cpdefault.py": CPDEFAULT_PY,
    "pylib/imtarget.py": "VALUE = 'imported'\n",
    "pylib/imtarget_reload.py": "VALUE = 'v1'\n",
    "ppdir/ppmod.py": "from cp import pathinfo as handler, pp_remove as remove\n",
    "htdocs/ppd/": "",
    "htdocs/noppd/dirmod.py": PATHMOD_PY,
    "htdocs/declined/static.txt": "static file content\n",
    "htdocs/addh/x.txt": "plain text file\n",
    "htdocs/ext/": "",
    "htdocs/pubext/tests.py": TESTS_PY,
    "htdocs/reload_on/rmod_on.py": reload_module("v1"),
    "htdocs/reload_off/rmod_off.py": reload_module("v1"),
}


@pytest.fixture(scope="module")
def server(mpm):
    with ApacheServer(CONFIG, FILES, mpm=mpm, single_child=True) as server:
        yield server


# -- handler strings (directives.md §2.1, python-api.md §3.3) ---------------

def test_module_only_calls_default_callable_named_after_phase(server):
    assert get_body(server, "/default") == "default handler"


def test_module_callable_calls_that_callable(server):
    assert get_body(server, "/callable") == "named"


def test_python_program_is_a_synonym_of_mod_python(server):
    assert get_body(server, "/python-program") == "named"


def test_dotted_callable_through_class_instantiates_it_with_req(server):
    assert get_body(server, "/dotted-class") == "greet same_req=True"


def test_dotted_callable_through_instance_does_not_instantiate(server):
    assert get_body(server, "/dotted-instance") == "instances=1"
    assert get_body(server, "/dotted-instance") == "instances=1"


def test_dotted_callable_instantiates_every_class_on_the_way(server):
    assert get_body(server, "/dotted-nested") == "outer,inner"


def test_content_handler_sees_phase_and_hlist(server):
    data = get_json(server, "/introspect?a=1")
    assert data["phase"] == "PythonHandler"
    assert data["handler"] == "cp::introspect"
    assert data["is_location"] in (1, True)
    assert data["method"] == "GET"
    assert data["uri"] == "/introspect"
    assert data["args"] == "a=1"
    assert data["filename"] is None        # Location: no URI->file mapping


# -- lists and chaining (directives.md §2.2, §4) ------------------------------

def test_handler_list_runs_in_order_while_ok(server):
    assert get_body(server, "/chain-ok") == "first;second;"


def test_repeated_directives_in_one_section_append(server):
    assert get_body(server, "/chain-repeat") == "first;second;"


def test_inner_section_list_replaces_outer_list(server):
    assert get_body(server, "/outer/inner") == "second;"
    assert get_body(server, "/outer") == "first;"


def test_declined_stops_content_list_and_default_handler_serves_file(server):
    body = get_body(server, "/declined/static.txt")
    assert "second;" not in body
    assert body == "static file content\n"


def test_http_status_stops_list_and_is_the_response(server):
    status, _, body = server.get("/chain-status")
    assert status == 404
    assert "second;" not in body


def test_server_return_ok_continues_the_list(server):
    assert get_body(server, "/sr-ok") == "sr;second;"


def test_server_return_status_stops_the_list(server):
    status, _, body = server.get("/sr-forbidden")
    assert status == 403
    assert "second;" not in body


def test_server_return_second_argument_sets_status(server):
    status, _, body = server.get("/sr-two")
    assert status == 201
    assert body == "second;"


def test_fixup_list_continues_on_declined_and_ok(server):
    assert get_body(server, "/fixups") == "trail=declined,ok,ok2,"


def test_fixup_can_route_to_python_handler_without_sethandler(server):
    assert get_body(server, "/dynamic-route") == "named"


def test_addhandler_routes_by_extension(server):
    assert get_body(server, "/addh/page.py") == "named"
    assert get_body(server, "/addh/x.txt") == "plain text file\n"


# -- | .ext (directives.md §2.3) ----------------------------------------------

def test_ext_list_used_instead_of_plain_list(server):
    assert get_body(server, "/ext/page.py") == "py .py"


def test_ext_list_with_several_extensions(server):
    assert get_body(server, "/ext/page.htm") == "multi .htm"
    assert get_body(server, "/ext/page.html") == "multi .html"


def test_plain_list_used_when_no_ext_list_matches(server):
    assert get_body(server, "/ext/page.txt") == "plain None"


def test_basename_without_dot_has_no_extension(server):
    # upstream leaves req.extension == "" here; the spec says None
    assert get_body(server, "/ext/noext") == "plain None"


def test_extension_starts_at_first_dot_of_basename(server):
    assert get_body(server, "/ext/page.tar.py") == "plain None"


def test_ext_example_publisher_for_py_simplehandler_otherwise(server):
    assert get_body(server, "/pubext/tests.py/x") == "published x"
    assert get_body(server, "/pubext/tests/anything") == "simplehandler ran"


# -- PythonPath and sys.path (directives.md §5.11, §6.2) ----------------------

def test_python_path_is_evaluated_with_sys_available(server):
    data = get_json(server, "/pp")
    assert data["ppdir_in_path"]


def test_python_path_disables_handler_directory_prepending(server):
    data = get_json(server, "/ppd/x")
    assert data["path0"].rstrip("/") == "%s/ppdir" % server.path
    assert "%s/htdocs/ppd/" % server.path not in json.dumps(data)


def test_handler_directory_prepended_without_python_path(server):
    data = get_json(server, "/noppd/x")
    assert data["here"] == "%s/htdocs/noppd/" % server.path
    assert data["path0"] == data["here"]


def test_python_path_string_is_evaluated_once_per_interpreter(server):
    get_json(server, "/pp")
    after_remove = get_json(server, "/pp-remove")
    assert not after_remove["ppdir_in_path"]
    # same PythonPath string again in the same interpreter: not re-applied
    assert not get_json(server, "/pp")["ppdir_in_path"]


# -- PythonOption (directives.md §5.10) -------------------------------------

def test_option_inherited_from_server(server):
    data = get_json(server, "/opt-inherit")
    assert data["req"]["PythonOptionTest"] == "sample_value"


@pytest.mark.parametrize("path", ["/opt-removed", "/opt-removed-empty"])
def test_option_without_value_removes_it_from_req_options(server, path):
    data = get_json(server, path)
    assert "PythonOptionTest" not in data["req"]
    assert data["server"]["PythonOptionTest"] == "sample_value"


def test_empty_server_option_hidden_from_req_but_shown_by_server(server):
    data = get_json(server, "/opt-inherit")
    assert "EmptyAtServer" not in data["req"]
    assert data["server"]["EmptyAtServer"] == ""


def test_option_value_with_space_and_case_insensitive_key(server):
    data = get_json(server, "/opt-local")
    assert data["req"]["local_key"] == "with space"
    assert data["case"] == "with space"
    assert "local_key" not in data["server"]


def test_get_config_shows_merged_directives_as_strings(server):
    data = get_json(server, "/config")
    assert data["req"]["PythonDebug"] == "1"
    assert data["req"]["PythonAutoReload"] == "0"
    assert data["req"]["PythonInterpreter"] == "cfg"
    assert data["server"].get("PythonEnablePdb") == "0"
    assert "PythonInterpreter" not in data["server"]


# -- PythonAutoReload and import_module (directives.md §5.14, api §2.2) -------

def rewrite(server, relpath, text):
    target = server.path / relpath
    new_mtime = target.stat().st_mtime + 10
    server.write(relpath, text, mtime=new_mtime)
    time.sleep(1.2)    # import_module checks mtimes at most once a second


def test_autoreload_on_reloads_changed_module(server):
    assert get_body(server, "/reload_on/x") == "v1"
    rewrite(server, "htdocs/reload_on/rmod_on.py", reload_module("v2"))
    assert get_body(server, "/reload_on/x") == "v2"


def test_autoreload_off_keeps_old_module(server):
    assert get_body(server, "/reload_off/x") == "v1"
    rewrite(server, "htdocs/reload_off/rmod_off.py", reload_module("v2"))
    assert get_body(server, "/reload_off/x") == "v1"


def test_import_module_returns_the_sys_modules_entry(server):
    data = get_json(server, "/import-module")
    assert data == {"value": "imported", "same": True}


def test_import_module_reloads_changed_module(server):
    assert get_json(server, "/import-module-reload")["value"] == "v1"
    rewrite(server, "pylib/imtarget_reload.py", "VALUE = 'v2'\n")
    assert get_json(server, "/import-module-reload")["value"] == "v2"


# -- body I/O (python-api.md §5.1) -------------------------------------------

def test_read_returns_whole_post_body(server):
    body = os.urandom(200 * 1024)
    resp = server.post("/echo", body)
    assert resp.status == 200, resp.body
    data = json.loads(resp.body)
    assert data == {"len": len(body), "sha": hashlib.sha256(body).hexdigest(),
                    "type": "bytes", "method": "POST"}


def test_read_without_body_returns_empty_bytes(server):
    data = get_json(server, "/echo")
    assert data["len"] == 0 and data["type"] == "bytes"


def test_read_with_length_then_rest(server):
    body = b"0123456789" + os.urandom(50000)
    data = json.loads(server.post("/read-parts", body).body)
    assert data["first"] == "0123456789"
    assert data["rest_len"] == 50000
    assert data["sha"] == hashlib.sha256(body).hexdigest()
    assert data["again"] == 0


def test_readline_splits_after_newline(server):
    resp = server.post("/readline", b"line1\nline2\n\nlast")
    assert json.loads(resp.body) == ["line1\n", "line2\n", "\n", "last"]


def test_readline_with_limit_and_shared_buffer_with_read(server):
    resp = server.post("/readline-limit", b"abcdef\nrest of body")
    assert json.loads(resp.body) == ["abc", "def\n", "rest of body"]


def test_readlines(server):
    resp = server.post("/readlines", b"a\nb\nc")
    assert json.loads(resp.body) == ["a\n", "b\n", "c"]


def test_write_accepts_str_as_utf8_and_bytes(server):
    resp = server.get("/write-kinds")
    assert resp.raw == "h\u00e9llo \u2713 ".encode("utf-8") + b"bytes nf"


# -- headers, status, content type, logging ----------------------------------

def test_headers_in_case_insensitive_and_headers_out_sent(server):
    resp = server.get("/headers", headers={"X-Hydra-In": "sent value"})
    data = json.loads(resp.body)
    assert data == {"in": "sent value", "in_get": "sent value", "missing": "default"}
    assert resp.headers["X-Hydra-Out"] == "out"
    assert resp.headers["X-Hydra-Err"] == "err"
    assert resp.headers.get_all("X-Multi") == ["1", "2"]


def test_err_headers_out_survive_error_response_headers_out_do_not(server):
    status, headers, _ = server.get("/err-headers")
    assert status == 404
    assert headers["X-Hydra-Err"] == "err"
    assert headers.get("X-Hydra-Out") is None


def test_content_type_is_sent(server):
    status, headers, body = server.get("/content-type")
    assert headers["Content-Type"] == "application/x-hydra; charset=utf-8"
    assert body == "typed"


def test_status_attribute_sets_response_status(server):
    status, _, body = server.get("/status")
    assert (status, body) == (202, "accepted")


def test_log_error_levels(server):
    mark = server.log_mark()
    tag = "t%d" % time.time_ns()
    get_body(server, "/log?" + tag)
    log = server.wait_for_log("hydra-default-" + tag, since=mark)

    def level(marker):
        lines = log_lines(log, marker + tag)
        assert lines, "no log line for %s" % marker
        m = re.search(r"\[[a-z_]*:([a-z]+)\]", lines[0])
        return m.group(1)

    assert level("hydra-req-warning-") == "warn"
    assert level("hydra-apache-notice-") == "notice"
    assert level("hydra-emerg-") == "error"      # level 0 means "default" (ERR)
    assert level("hydra-default-") == "error"


# -- mp_table (python-api.md §4) ---------------------------------------------

@pytest.fixture(scope="module")
def table_results(server):
    return get_json(server, "/table")


def test_table_lookup_is_case_insensitive_and_duplicates_give_list(table_results):
    assert table_results["getitem"] == ["a", "b"]
    assert table_results["get"] == "a"
    assert table_results["in"] is True
    assert table_results["keyerror"] is True


def test_table_len_keys_items_include_duplicates_in_order(table_results):
    assert table_results["len"] == 3
    assert table_results["keys"] == ["Content-Type", "content-type", "Other"]
    assert table_results["items"] == [["Content-Type", "a"], ["content-type", "b"], ["Other", "c"]]


def test_table_repr_lists_entries_last_to_first(table_results):
    assert table_results["repr"] == "{'Other': 'c', 'content-type': 'b', 'Content-Type': 'a'}"
    assert table_results["empty_repr"] == "{}"


def test_table_has_key_returns_int(table_results):
    assert table_results["has_key"] == 1
    assert table_results["has_key_type"] == "int"
    assert table_results["has_key_missing"] == 0


def test_table_set_replaces_all_and_del_removes_all(table_results):
    assert table_results["after_set"] == "z"
    assert table_results["len_after_set"] == 2
    assert table_results["len_after_del"] == 1


def test_table_compares_as_dict_is_unhashable_popitem_first_copy_independent(table_results):
    assert table_results["eq_dict"] is True
    assert table_results["unhashable"] is True
    assert table_results["popitem"] == ["k1", "v1"]
    assert table_results["copy_independent"] is True


# -- constants and package (python-api.md §2.3, §2.4, package table) ---------

SPEC_CONSTANTS = {
    "OK": 0, "REQ_PROCEED": 0, "DECLINED": -1, "REQ_NOACTION": -1, "DONE": -2,
    "REQ_ABORTED": 500, "REQ_EXIT": "REQ_EXIT",
    "HTTP_CONTINUE": 100, "HTTP_SWITCHING_PROTOCOLS": 101, "HTTP_PROCESSING": 102,
    "HTTP_OK": 200, "HTTP_CREATED": 201, "HTTP_ACCEPTED": 202, "HTTP_NON_AUTHORITATIVE": 203,
    "HTTP_NO_CONTENT": 204, "HTTP_RESET_CONTENT": 205, "HTTP_PARTIAL_CONTENT": 206,
    "HTTP_MULTI_STATUS": 207, "HTTP_MULTIPLE_CHOICES": 300, "HTTP_MOVED_PERMANENTLY": 301,
    "HTTP_MOVED_TEMPORARILY": 302, "HTTP_SEE_OTHER": 303, "HTTP_NOT_MODIFIED": 304,
    "HTTP_USE_PROXY": 305, "HTTP_TEMPORARY_REDIRECT": 307, "HTTP_BAD_REQUEST": 400,
    "HTTP_UNAUTHORIZED": 401, "HTTP_PAYMENT_REQUIRED": 402, "HTTP_FORBIDDEN": 403,
    "HTTP_NOT_FOUND": 404, "HTTP_METHOD_NOT_ALLOWED": 405, "HTTP_NOT_ACCEPTABLE": 406,
    "HTTP_PROXY_AUTHENTICATION_REQUIRED": 407, "HTTP_REQUEST_TIME_OUT": 408,
    "HTTP_CONFLICT": 409, "HTTP_GONE": 410, "HTTP_LENGTH_REQUIRED": 411,
    "HTTP_PRECONDITION_FAILED": 412, "HTTP_REQUEST_ENTITY_TOO_LARGE": 413,
    "HTTP_REQUEST_URI_TOO_LARGE": 414, "HTTP_UNSUPPORTED_MEDIA_TYPE": 415,
    "HTTP_RANGE_NOT_SATISFIABLE": 416, "HTTP_EXPECTATION_FAILED": 417,
    "HTTP_IM_A_TEAPOT": 418, "HTTP_UNPROCESSABLE_ENTITY": 422, "HTTP_LOCKED": 423,
    "HTTP_FAILED_DEPENDENCY": 424, "HTTP_UPGRADE_REQUIRED": 426,
    "HTTP_INTERNAL_SERVER_ERROR": 500, "HTTP_NOT_IMPLEMENTED": 501, "HTTP_BAD_GATEWAY": 502,
    "HTTP_SERVICE_UNAVAILABLE": 503, "HTTP_GATEWAY_TIME_OUT": 504,
    "HTTP_VERSION_NOT_SUPPORTED": 505, "HTTP_VARIANT_ALSO_VARIES": 506,
    "HTTP_INSUFFICIENT_STORAGE": 507, "HTTP_NOT_EXTENDED": 510,
    "APLOG_EMERG": 0, "APLOG_ALERT": 1, "APLOG_CRIT": 2, "APLOG_ERR": 3, "APLOG_WARNING": 4,
    "APLOG_NOTICE": 5, "APLOG_INFO": 6, "APLOG_DEBUG": 7, "APLOG_NOERRNO": 0,
    "REMOTE_HOST": 0, "REMOTE_NAME": 1, "REMOTE_NOLOOKUP": 2, "REMOTE_DOUBLE_REV": 3,
    "FINFO_MODE": 0, "FINFO_INO": 1, "FINFO_DEV": 2, "FINFO_NLINK": 3, "FINFO_UID": 4,
    "FINFO_GID": 5, "FINFO_SIZE": 6, "FINFO_ATIME": 7, "FINFO_MTIME": 8, "FINFO_CTIME": 9,
    "FINFO_FNAME": 10, "FINFO_NAME": 11, "FINFO_FILETYPE": 12,
    "URI_SCHEME": 0, "URI_HOSTINFO": 1, "URI_USER": 2, "URI_PASSWORD": 3, "URI_HOSTNAME": 4,
    "URI_PORT": 5, "URI_PATH": 6, "URI_QUERY": 7, "URI_FRAGMENT": 8,
    "PROXYREQ_NONE": 0, "PROXYREQ_PROXY": 1, "PROXYREQ_REVERSE": 2, "PROXYREQ_RESPONSE": 3,
    "M_GET": 0, "M_PUT": 1, "M_POST": 2, "M_DELETE": 3, "M_CONNECT": 4, "M_OPTIONS": 5,
    "M_TRACE": 6, "M_PATCH": 7, "M_PROPFIND": 8, "M_PROPPATCH": 9, "M_MKCOL": 10,
    "M_COPY": 11, "M_MOVE": 12, "M_LOCK": 13, "M_UNLOCK": 14, "M_VERSION_CONTROL": 15,
    "M_CHECKOUT": 16, "M_UNCHECKOUT": 17, "M_CHECKIN": 18, "M_UPDATE": 19, "M_LABEL": 20,
    "M_REPORT": 21, "M_MKWORKSPACE": 22, "M_MKACTIVITY": 23, "M_BASELINE_CONTROL": 24,
    "M_MERGE": 25, "M_INVALID": 26,
    "AP_REQ_ACCEPT_PATH_INFO": 0, "AP_REQ_REJECT_PATH_INFO": 1, "AP_REQ_DEFAULT_PATH_INFO": 2,
    "AP_MPMQ_NOT_SUPPORTED": 0, "AP_MPMQ_STATIC": 1, "AP_MPMQ_DYNAMIC": 2,
    "AP_MPMQ_MAX_DAEMON_USED": 1, "AP_MPMQ_IS_THREADED": 2, "AP_MPMQ_IS_FORKED": 3,
    "AP_MPMQ_HARD_LIMIT_DAEMONS": 4, "AP_MPMQ_HARD_LIMIT_THREADS": 5,
    "AP_MPMQ_MAX_THREADS": 6, "AP_MPMQ_MIN_SPARE_DAEMONS": 7, "AP_MPMQ_MIN_SPARE_THREADS": 8,
    "AP_MPMQ_MAX_SPARE_DAEMONS": 9, "AP_MPMQ_MAX_SPARE_THREADS": 10,
    "AP_MPMQ_MAX_REQUESTS_DAEMON": 11, "AP_MPMQ_MAX_DAEMONS": 12,
    "CGI_MAGIC_TYPE": "application/x-httpd-cgi",
    "INCLUDES_MAGIC_TYPE": "text/x-server-parsed-html",
    "INCLUDES_MAGIC_TYPE3": "text/x-server-parsed-html3",
    "DIR_MAGIC_TYPE": "httpd/unix-directory",
    "REQUEST_NO_BODY": 0, "REQUEST_CHUNKED_ERROR": 1, "REQUEST_CHUNKED_DECHUNK": 2,
    "AP_CONN_UNKNOWN": 0, "AP_CONN_CLOSE": 1, "AP_CONN_KEEPALIVE": 2,
    "APR_NOFILE": 0, "APR_REG": 1, "APR_DIR": 2, "APR_CHR": 3, "APR_BLK": 4, "APR_PIPE": 5,
    "APR_LNK": 6, "APR_SOCK": 7, "APR_UNKFILE": 127,
    "APR_FINFO_LINK": 0x1, "APR_FINFO_MTIME": 0x10, "APR_FINFO_CTIME": 0x20,
    "APR_FINFO_ATIME": 0x40, "APR_FINFO_SIZE": 0x100, "APR_FINFO_CSIZE": 0x200,
    "APR_FINFO_DEV": 0x1000, "APR_FINFO_INODE": 0x2000, "APR_FINFO_NLINK": 0x4000,
    "APR_FINFO_TYPE": 0x8000, "APR_FINFO_USER": 0x10000, "APR_FINFO_GROUP": 0x20000,
    "APR_FINFO_UPROT": 0x100000, "APR_FINFO_GPROT": 0x200000, "APR_FINFO_WPROT": 0x400000,
    "APR_FINFO_ICASE": 0x1000000, "APR_FINFO_NAME": 0x2000000, "APR_FINFO_MIN": 0x8170,
    "APR_FINFO_IDENT": 0x3000, "APR_FINFO_OWNER": 0x30000, "APR_FINFO_PROT": 0x700000,
    "APR_FINFO_NORM": 0x73b170, "APR_FINFO_DIRENT": 0x2000000,
    "MODULE_MAGIC_NUMBER_MAJOR": 20120211,
}


def test_apache_constants_have_spec_values(server):
    data = get_json(server, "/constants?" + ",".join(SPEC_CONSTANTS))
    wrong = {k: (data[k], v) for k, v in SPEC_CONSTANTS.items() if data[k] != v}
    assert not wrong, "name: (got, spec) %r" % wrong


def test_mod_python_version_and_python22_importable(server):
    data = get_json(server, "/version")
    assert data["mp_version"] == data["version"]
    assert data["version"].startswith("3.5.")
