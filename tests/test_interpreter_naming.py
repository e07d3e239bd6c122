"""
Interpreter naming: spec/interpreters.md §3-§6, §12, §13 and the example
table of §14 (rows that involve the content phase, fixups, PythonImport and
default naming). Row numbers in the test docstrings refer to that table.

One Apache per MPM serves every row: name-based virtual hosts on one port,
told apart by the Host header. The handler `ni::show` answers one JSON line
with `req.interpreter` and what it was derived from.
"""

import json

import pytest

from harness import ApacheServer

NI_PY = r'''
import json, os, sys
from mod_python import apache

def _record(req):
    return {
        "interp": req.interpreter,
        "apache_interpreter": apache.interpreter,
        "filename": req.filename,
        "server_hostname": req.server.server_hostname,
        "is_dir": bool(req.filename) and os.path.isdir(req.filename),
        "pid": os.getpid(),
    }

def show(req):
    req.content_type = "text/plain"
    req.write(json.dumps(_record(req)) + "\n")
    return apache.OK

def fixup_add_lib(req):
    req.add_handler("PythonHandler", "ni::show", "{root}/lib")
    return apache.OK

def imports(req):
    rec = _record(req)
    opts = apache.main_server.get_options()
    rec["marks"] = dict((k, opts[k]) for k in opts.keys() if k.startswith("import."))
    rec["imp_modules"] = sorted(m for m in sys.modules if m.startswith("imp_"))
    req.content_type = "text/plain"
    req.write(json.dumps(rec) + "\n")
    return apache.OK
'''


def import_marker(name):
    """A module for PythonImport that records, in the main server's options
    (shared by all interpreters of a child), which interpreter imported it."""
    return r'''
import os
from mod_python import apache
_opts = apache.main_server.get_options()
_opts["import.%(name)s"] = apache.interpreter
_opts["import.order"] = (_opts.get("import.order") or "") + "%(name)s,"

def setup():
    _opts["import.%(name)s.setup"] = apache.interpreter
''' % {"name": name}


CONFIG = r'''
PythonImport imp_main main_interpreter
PythonImport imp_app app.example.com
PythonImport imp_func::setup app.example.com
PythonImport imp_order_a app.example.com
PythonImport imp_order_b app.example.com

<VirtualHost 127.0.0.1:{port}>
    ServerName www.example.com
    DocumentRoot {root}/www
    <Directory {root}/www>
        SetHandler mod_python
        PythonHandler ni::show
    </Directory>
    <Directory {root}/www/named>
        PythonInterpreter shared
    </Directory>
    <Directory {root}/www/mainint>
        PythonInterpreter main_interpreter
    </Directory>
    <Directory {root}/www/perdir>
        PythonInterpPerDirectory On
    </Directory>
    <Directory {root}/www/pd>
        AllowOverride All
        PythonInterpPerDirective On
        PythonHandler ni::show
    </Directory>
    <DirectoryMatch "^{root}/www/pd/u[0-9]+">
        PythonHandler ni::show
    </DirectoryMatch>
    <Directory {root}/www/pdfiles>
        PythonInterpPerDirective On
        <Files *.py>
            PythonHandler ni::show
        </Files>
    </Directory>
    <Location /api>
        SetHandler mod_python
        PythonInterpPerDirectory On
        PythonHandler ni::show
    </Location>
    <Location /loc>
        SetHandler mod_python
        PythonInterpPerDirective On
        PythonHandler ni::show
    </Location>
    <Location /slash/>
        SetHandler mod_python
        PythonInterpPerDirective On
        PythonHandler ni::show
    </Location>
    <Location /mainimports>
        SetHandler mod_python
        PythonInterpreter main_interpreter
        PythonHandler ni::imports
    </Location>
</VirtualHost>

<VirtualHost 127.0.0.1:{port}>
    ServerName app.example.com
    DocumentRoot {root}/app
    PythonImport imp_vhost app.example.com
    <Directory {root}/app>
        SetHandler mod_python
        PythonHandler ni::show
    </Directory>
    <Location /imports>
        SetHandler mod_python
        PythonHandler ni::imports
    </Location>
</VirtualHost>

<VirtualHost 127.0.0.1:{port}>
    ServerName shared.example.com
    DocumentRoot {root}/shr
    PythonInterpreter shared
    <Directory {root}/shr>
        SetHandler mod_python
        PythonInterpPerDirectory On
        PythonHandler ni::show
    </Directory>
</VirtualHost>

<VirtualHost 127.0.0.1:{port}>
    ServerName plain.example.com
    DocumentRoot {root}/plain
    PythonInterpPerDirective On
    PythonHandler ni::show
    <Directory {root}/plain>
        SetHandler mod_python
    </Directory>
</VirtualHost>

<VirtualHost 127.0.0.1:{port}>
    ServerName dyn.example.com
    DocumentRoot {root}/dyn
    <Directory {root}/dyn>
        SetHandler mod_python
        PythonInterpPerDirective On
        PythonFixupHandler ni::fixup_add_lib
    </Directory>
    <Directory {root}/dyn/static>
        PythonHandler ni::show
    </Directory>
</VirtualHost>

<VirtualHost 127.0.0.1:{port}>
    ServerName Mixed.Example.COM
    DocumentRoot {root}/mixed
    <Directory {root}/mixed>
        SetHandler mod_python
        PythonHandler ni::show
    </Directory>
</VirtualHost>
'''

FILES = {
    "pylib/ni.py": NI_PY,
    "pylib/imp_main.py": import_marker("imp_main"),
    "pylib/imp_app.py": import_marker("imp_app"),
    "pylib/imp_func.py": import_marker("imp_func"),
    "pylib/imp_order_a.py": import_marker("imp_order_a"),
    "pylib/imp_order_b.py": import_marker("imp_order_b"),
    "pylib/imp_vhost.py": import_marker("imp_vhost"),
    "lib/": "",
    "www/named/": "",
    "www/mainint/": "",
    "www/perdir/sub/": "",
    "www/pd/sub/": "",
    "www/pd/hta/.htaccess": "PythonHandler ni::show\n",
    "www/pd/u42/": "",
    "www/pdfiles/": "",
    "app/": "",
    "shr/": "",
    "plain/": "",
    "dyn/static/": "",
    "mixed/": "",
}


@pytest.fixture(scope="module")
def server(mpm):
    with ApacheServer(CONFIG, FILES, mpm=mpm, server_name="main.example.com") as server:
        yield server


def ask(server, path, host="www.example.com"):
    """Runs `path` on `host`; returns the JSON records the handlers wrote.
    Every record also proves req.interpreter == apache.interpreter (§13)."""
    status, _, body = server.get(path, host=host)
    assert status == 200, body
    records = [json.loads(line) for line in body.splitlines()]
    assert records, "handler wrote nothing"
    for rec in records:
        assert rec["interp"] == rec["apache_interpreter"]
    return records


def interp(server, path, host="www.example.com"):
    records = ask(server, path, host)
    assert len(records) == 1, records
    return records[0]["interp"]


# -- default naming: the selected virtual host's ServerName (rule 5) ---------

def test_default_name_is_server_hostname_of_the_vhost(server):
    """Row 1."""
    rec = ask(server, "/x.py", host="www.example.com")[0]
    assert rec["interp"] == "www.example.com"
    assert rec["interp"] == rec["server_hostname"]


def test_default_name_has_no_port_even_if_host_header_has_one(server):
    """Row 2."""
    host = "app.example.com:%d" % server.port
    assert interp(server, "/x.py", host=host) == "app.example.com"


def test_default_name_follows_name_based_vhost_not_connection(server):
    """Rule 5 uses r->server: two vhosts on one address get two names."""
    a = interp(server, "/x.py", host="www.example.com")
    b = interp(server, "/x.py", host="app.example.com")
    assert (a, b) == ("www.example.com", "app.example.com")


def test_default_name_keeps_servername_case(server):
    """Row 27: no case folding; the request's Host may differ in case."""
    rec = ask(server, "/x.py", host="mixed.example.com")[0]
    assert rec["interp"] == rec["server_hostname"] == "Mixed.Example.COM"


# -- PythonInterpreter (rule 1) ----------------------------------------------

def test_python_interpreter_names_the_interpreter_verbatim(server):
    """Row 3."""
    assert interp(server, "/named/x.py") == "shared"


def test_python_interpreter_main_interpreter_selects_main(server):
    """Row 4."""
    assert interp(server, "/mainint/x.py") == "main_interpreter"


def test_python_interpreter_wins_over_per_directory(server):
    """Row 5: PythonInterpreter at vhost level, PerDirectory On inside."""
    assert interp(server, "/x.py", host="shared.example.com") == "shared"


# -- PythonInterpPerDirectory (rule 2, §5) -----------------------------------

def test_per_directory_name_has_trailing_slash(server):
    """Row 6."""
    assert interp(server, "/perdir/x.py") == "%s/www/perdir/" % server.path


def test_per_directory_name_is_the_directory_of_the_file(server):
    """Row 7."""
    assert interp(server, "/perdir/sub/page.py") == "%s/www/perdir/sub/" % server.path


@pytest.mark.parametrize("path", ["/perdir/sub/", "/perdir/sub"])
def test_per_directory_name_of_a_directory_request_is_the_directory(server, path):
    """Row 8: /sub/ and /sub give the same name."""
    rec = ask(server, path)[0]
    assert rec["is_dir"], rec
    assert rec["interp"] == "%s/www/perdir/sub/" % server.path


def test_per_directory_name_of_missing_path_is_parent_of_filename(server):
    """Row 9: whatever r->filename Apache computed, up to its last slash."""
    rec = ask(server, "/perdir/nosuchdir/page.py")[0]
    filename = rec["filename"]
    assert filename.startswith("%s/www/perdir" % server.path), rec
    expected = filename + "/" if rec["is_dir"] else filename[:filename.rfind("/") + 1]
    assert rec["interp"] == expected


def test_per_directory_in_location_uses_main_interpreter(server):
    """Row 11: Location handlers have no r->filename."""
    rec = ask(server, "/api/v1")[0]
    assert rec["filename"] is None
    assert rec["interp"] == "main_interpreter"


# -- PythonInterpPerDirective (rule 3, §4, §6) -------------------------------

def test_per_directive_name_is_the_directory_section(server):
    """Row 12: the handler's <Directory>, not the file's directory."""
    assert interp(server, "/pd/sub/page.py") == "%s/www/pd/" % server.path


def test_per_directive_name_of_htaccess_handler_is_its_directory(server):
    """Row 13."""
    assert interp(server, "/pd/hta/page.py") == "%s/www/pd/hta/" % server.path


def test_per_directive_handler_at_vhost_level_uses_main_interpreter(server):
    """Row 14: no section, no directory."""
    assert interp(server, "/x.py", host="plain.example.com") == "main_interpreter"


def test_per_directive_name_of_location_is_the_path_as_written(server):
    """Row 15: no slash added."""
    assert interp(server, "/loc/v1") == "/loc"


def test_per_directive_location_trailing_slash_kept_verbatim(server):
    """Row 16."""
    assert interp(server, "/slash/v1") == "/slash/"


def test_per_directive_directorymatch_resolves_to_matching_directory(server):
    """Row 17: the regex is resolved against the request's filename."""
    assert interp(server, "/pd/u42/p.py") == "%s/www/pd/u42/" % server.path


def test_per_directive_files_section_uses_enclosing_directory(server):
    """Row 18: <Files> is ignored for the directory capture."""
    assert interp(server, "/pdfiles/p.py") == "%s/www/pdfiles/" % server.path


def test_per_directive_dynamic_handler_uses_its_canonical_dir(server):
    """Row 19: req.add_handler(..., dir) from a fixup, no static handler."""
    assert interp(server, "/x", host="dyn.example.com") == "%s/lib/" % server.path


def test_per_directive_head_of_list_decides_for_whole_phase(server):
    """Row 20: static handler first, dynamic one appended; both run in the
    interpreter of the head entry."""
    records = ask(server, "/static/x", host="dyn.example.com")
    assert [r["interp"] for r in records] == ["%s/dyn/static/" % server.path] * 2


# -- PythonImport (§12, rows 24, 25) -----------------------------------------

def test_python_import_runs_in_named_interpreter_at_child_start(server):
    """Row 24: imported in app.example.com before any request needed it."""
    rec = ask(server, "/imports", host="app.example.com")[0]
    assert rec["interp"] == "app.example.com"
    assert rec["marks"].get("import.imp_app") == "app.example.com"
    assert "imp_app" in rec["imp_modules"]


def test_python_import_main_interpreter(server):
    """Row 25."""
    rec = ask(server, "/mainimports")[0]
    assert rec["interp"] == "main_interpreter"
    assert rec["marks"].get("import.imp_main") == "main_interpreter"
    assert "imp_main" in rec["imp_modules"]
    assert "imp_app" not in rec["imp_modules"]


def test_python_import_calls_function_after_import(server):
    rec = ask(server, "/imports", host="app.example.com")[0]
    assert rec["marks"].get("import.imp_func.setup") == "app.example.com"


def test_python_import_runs_in_reverse_configuration_order(server):
    rec = ask(server, "/imports", host="app.example.com")[0]
    order = [m for m in rec["marks"]["import.order"].split(",") if m.startswith("imp_order")]
    assert order == ["imp_order_b", "imp_order_a"]


def test_python_import_in_virtual_host_is_not_executed(server):
    rec = ask(server, "/imports", host="app.example.com")[0]
    assert "import.imp_vhost" not in rec["marks"]
    assert "imp_vhost" not in rec["imp_modules"]


# -- other kinds of invocation (rows 10, 21, 22, 23, 26) ---------------------
# A separate server, so that these rows do not hold up the ones above.

PH_PY = r'''
import json
from mod_python import apache

def postread(req):
    req.notes["postread"] = req.interpreter
    return apache.OK

def trans(req):
    req.notes["trans"] = req.interpreter
    return apache.DECLINED

def report(req):
    req.content_type = "application/json"
    req.write(json.dumps({"postread": req.notes.get("postread"),
                          "trans": req.notes.get("trans"),
                          "content": req.interpreter}))
    return apache.OK

def upper(filter):
    if filter.req.headers_out.get("Content-Length") is not None:
        del filter.req.headers_out["Content-Length"]
    s = filter.read()
    while s:
        filter.write(s.upper())
        s = filter.read()
    if s is None:
        filter.write("[filter %s]" % apache.interpreter)
        filter.close()

def echo(conn):
    while True:
        line = conn.readline()
        if not line or not line.strip():
            break
    body = apache.interpreter.encode()
    conn.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
               + str(len(body)).encode() + b"\r\n\r\n" + body)
    return apache.OK
'''

PHASES_CONFIG = r'''
PythonOutputFilter ph::upper UPPER

<VirtualHost 127.0.0.1:{port}>
    ServerName pd.example.com
    DocumentRoot {root}/site
    PythonInterpPerDirectory On
    PythonPostReadRequestHandler ph::postread
    PythonTransHandler ph::trans
    <Directory {root}/site>
        SetHandler mod_python
        PythonHandler ph::report
    </Directory>
</VirtualHost>

<VirtualHost 127.0.0.1:{port}>
    ServerName app.example.com
    DocumentRoot {root}/app
    <Directory {root}/app>
        SetOutputFilter UPPER
    </Directory>
    <Directory {root}/app/pd>
        PythonInterpPerDirective On
    </Directory>
</VirtualHost>

<VirtualHost 127.0.0.1:{port}>
    ServerName ssi.example.com
    DocumentRoot {root}/ssi
    <Directory {root}/ssi>
        Options +Includes
        AddType text/html .shtml
        AddOutputFilter INCLUDES .shtml
        PythonInterpPerDirective On
    </Directory>
    <Directory {root}/ssi/off>
        PythonInterpPerDirective Off
    </Directory>
</VirtualHost>

<VirtualHost 127.0.0.1:{port2}>
    ServerName echo.local
    PythonConnectionHandler ph::echo
</VirtualHost>
'''

SSI_PAGE = 'before <!--#python eval="filter.req.interpreter"--> after\n'

PHASES_FILES = {
    "pylib/ph.py": PH_PY,
    "site/": "",
    "app/page.txt": "hello\n",
    "app/pd/page.txt": "hello\n",
    "ssi/page.shtml": SSI_PAGE,
    "ssi/off/page.shtml": SSI_PAGE,
}


@pytest.fixture(scope="module")
def phases_server(mpm):
    with ApacheServer(PHASES_CONFIG, PHASES_FILES, mpm=mpm, modules=("include",),
                      server_name="main.example.com", extra_ports=1) as server:
        yield server


def test_per_directory_postread_and_trans_use_main_interpreter(phases_server):
    """Row 10: no filename yet; the content phase of the same request then
    runs in the per-directory interpreter."""
    status, _, body = phases_server.get("/x", host="pd.example.com")
    assert status == 200, body
    assert json.loads(body) == {"postread": "main_interpreter", "trans": "main_interpreter",
                                "content": "%s/site/" % phases_server.path}


def test_server_level_output_filter_runs_in_vhost_interpreter(phases_server):
    """Row 21."""
    status, _, body = phases_server.get("/page.txt", host="app.example.com")
    assert (status, body) == (200, "HELLO\n[filter app.example.com]")


def test_server_level_output_filter_per_directive_uses_main(phases_server):
    """Row 22: the filter was registered outside any section."""
    status, _, body = phases_server.get("/pd/page.txt", host="app.example.com")
    assert (status, body) == (200, "HELLO\n[filter main_interpreter]")


def test_connection_handler_uses_base_server_name(phases_server):
    """Row 23."""
    resp = phases_server.get("/", port=phases_server.extra_ports[0], host="echo.local")
    assert (resp.status, resp.body) == (200, "echo.local")


def test_ssi_python_tag_per_directive_uses_main(phases_server):
    """Row 26."""
    status, _, body = phases_server.get("/page.shtml", host="ssi.example.com")
    assert (status, body) == (200, "before main_interpreter after\n")


def test_ssi_python_tag_default_uses_vhost_name(phases_server):
    status, _, body = phases_server.get("/off/page.shtml", host="ssi.example.com")
    assert (status, body) == (200, "before ssi.example.com after\n")
