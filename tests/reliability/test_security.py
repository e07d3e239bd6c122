"""
Security limits (reliability issue, item 6).

.htaccess: with `AllowOverride All`, an .htaccess file still cannot set
the directives the spec keeps out of it (PythonImport, PythonInterpGIL,
PythonConnectionHandler, PythonInputFilter, PythonOutputFilter,
PythonPostReadRequestHandler, PythonTransHandler, PythonOptimize,
PythonMaxInterpreters): httpd refuses the file, the request gets a 500 and
the log names the directive. Directives .htaccess may set still work.

Interpreter names: with `PythonInterpPerDirectory On` the name comes from
the directory of the file a URL maps to, so clients choose among
directories that exist, never more: hundreds of URLs for missing
directories, dot segments, doubled slashes, encoded dots and path info
create no interpreter beyond one per real directory. And
`PythonMaxInterpreters N` caps the count per child: past it a request that
needs a new interpreter gets a 503 with the log line "not creating
interpreter '<name>' ... PythonMaxInterpreters (N)", while the existing
interpreters keep serving.
"""

import pytest

from harness import ApacheServer, get_json
import procfs

SECMOD_PY = r'''
from mod_python import apache

def handler(req):
    req.content_type = "text/plain"
    req.write(req.interpreter)
    return apache.OK
'''

FORBIDDEN_IN_HTACCESS = {
    "PythonImport": "PythonImport secmod evil",
    "PythonInterpGIL": "PythonInterpGIL shared",
    "PythonConnectionHandler": "PythonConnectionHandler secmod",
    "PythonInputFilter": "PythonInputFilter secmod EVILIN",
    "PythonOutputFilter": "PythonOutputFilter secmod EVILOUT",
    "PythonPostReadRequestHandler": "PythonPostReadRequestHandler secmod",
    "PythonTransHandler": "PythonTransHandler secmod",
    "PythonOptimize": "PythonOptimize On",
    "PythonMaxInterpreters": "PythonMaxInterpreters 1000",
}

HTACCESS_CONFIG = '''
<Directory {root}/htdocs/sec>
    AllowOverride All
</Directory>
'''


def htaccess_files():
    files = {"pylib/secmod.py": SECMOD_PY,
             "htdocs/sec/allowed/.htaccess": "SetHandler mod_python\nPythonHandler secmod\n"
                                             "PythonInterpreter from-htaccess\n",
             "htdocs/sec/allowed/page.txt": "page\n"}
    for name, line in FORBIDDEN_IN_HTACCESS.items():
        files["htdocs/sec/%s/.htaccess" % name] = line + "\n"
        files["htdocs/sec/%s/page.txt" % name] = "page\n"
    return files


@pytest.fixture(scope="module")
def htaccess_server(mpm):
    with ApacheServer(HTACCESS_CONFIG, htaccess_files(), mpm=mpm) as server:
        yield server


def test_htaccess_may_set_handlers_and_interpreter(htaccess_server):
    resp = htaccess_server.get("/sec/allowed/page.txt")
    assert resp.status == 200, resp
    assert resp.body == "from-htaccess"


@pytest.mark.parametrize("directive", sorted(FORBIDDEN_IN_HTACCESS))
def test_htaccess_cannot_set(htaccess_server, directive):
    mark = htaccess_server.log_mark()
    resp = htaccess_server.get("/sec/%s/page.txt" % directive)
    assert resp.status == 500, resp
    log = htaccess_server.error_log(mark)
    assert "%s not allowed here" % directive in log, log
    assert not htaccess_server.crash_lines()


# ---- interpreter names chosen by URL ------------------------------------

DIRS = ["d%d" % i for i in range(8)]


def per_directory_files():
    files = {"pylib/secmod.py": SECMOD_PY}
    for d in DIRS:
        files["htdocs/per/%s/page.py" % d] = "# served by secmod\n"
        files["htdocs/per/%s/sub/page.py" % d] = "# served by secmod\n"
    files["htdocs/per/page.py"] = "# served by secmod\n"
    return files


def per_directory_config(limit):
    return '''
PythonMaxInterpreters %d
<Directory {root}/htdocs/per>
    SetHandler mod_python
    PythonHandler secmod
    PythonInterpPerDirectory On
</Directory>
<Location /status>
    SetHandler python-status
</Location>
''' % limit


def inventory(server):
    data = get_json(server, "/status?json")
    entries = data["interpreters"] if isinstance(data, dict) else data
    return sorted(e["name"] for e in entries)


def steering_urls():
    urls = []
    for i in range(300):
        urls.append("/per/missing%d/page.py" % i)
        urls.append("/per/d%d/missing%d/deeper/page.py" % (i % len(DIRS), i))
    for d in DIRS:
        urls += ["/per//%s/page.py" % d, "/per/./%s/page.py" % d,
                 "/per/%s/../%s/page.py" % (DIRS[0], d), "/per/%%2e/%s/page.py" % d,
                 "/per/%s/page.py/path/info/%d" % (d, 1), "/per/%s/sub/page.py" % d,
                 "/per/%s/sub/../page.py" % d, "/per/%s%%2fsub/page.py" % d]
    return urls


@pytest.fixture(scope="module")
def steered():
    """A server without a limit flooded with URLs a client chose."""
    with ApacheServer(per_directory_config(0), per_directory_files(), mpm="event") as server:
        statuses = {}
        for url in steering_urls():
            status = server.get(url).status
            statuses[status] = statuses.get(status, 0) + 1
        yield server, statuses, inventory(server)


def test_client_urls_cannot_create_interpreters_beyond_real_directories(steered, report):
    server, statuses, names = steered
    root = str(server.path / "htdocs" / "per")
    allowed = {"main_interpreter", root + "/"}
    for d in DIRS:
        allowed.add("%s/%s/" % (root, d))
        allowed.add("%s/%s/sub/" % (root, d))
    report("interpreter-steering", urls=len(steering_urls()), interpreters=len(names),
           real_directories=len(allowed) - 1,
           statuses={str(k): v for k, v in sorted(statuses.items())})
    assert set(names) <= allowed, sorted(set(names) - allowed)
    assert 500 not in statuses and not server.crash_lines()


LIMIT = 4


@pytest.fixture(scope="module")
def limited(mpm):
    with ApacheServer(per_directory_config(LIMIT), per_directory_files(), mpm=mpm,
                      single_child=True) as server:
        yield server


def test_max_interpreters_answers_503_with_a_log_line_past_the_limit(limited, report):
    mark = limited.log_mark()
    statuses = [limited.get("/per/%s/page.py" % d).status for d in DIRS]
    # main_interpreter counts: LIMIT - 1 directories get an interpreter.
    served = LIMIT - 1
    assert statuses[:served] == [200] * served, statuses
    assert statuses[served:] == [503] * (len(DIRS) - served), statuses
    log = limited.error_log(mark)
    assert "not creating interpreter" in log and "PythonMaxInterpreters (%d)" % LIMIT in log, log
    report("max-interpreters-%s" % limited.mpm, limit=LIMIT, requests=len(statuses),
           answered_200=statuses.count(200), answered_503=statuses.count(503))


def test_interpreters_made_before_the_limit_keep_serving(limited):
    for _ in range(3):
        for d in DIRS[:LIMIT - 1]:
            resp = limited.get("/per/%s/page.py" % d)
            assert resp.status == 200, resp
            assert resp.body.endswith("/per/%s/" % d)
        assert limited.get("/per/%s/page.py" % DIRS[-1]).status == 503
    assert not limited.crash_lines()
    assert len(procfs.children(limited.pid)) == 1
