"""mod_python.testhandler: a diagnostics page (python-api.md §19).

    <Location /mpinfo>
        SetHandler mod_python
        PythonHandler mod_python.testhandler
        Require local
    </Location>

Shows the request, its configuration and options, the server, the
interpreters of this child, Python's sys.path and modules, httpd's parsed
configuration and the end of the error log. It reveals a lot about the
server: protect it like mod_status.
"""

import html
import os
import sys

from . import apache

_LOG_TAIL_LINES = 100


def _escape(value):
    return html.escape("%s" % (value,), quote=True)


def _table(rows):
    out = ['<table border="1" cellspacing="0" cellpadding="3">\n']
    for key, value in rows:
        out.append("<tr><th align=\"left\" valign=\"top\">%s</th><td><pre>%s</pre></td></tr>\n"
                   % (_escape(key), _escape(value)))
    out.append("</table>\n")
    return "".join(out)


def _section(title, body):
    return "<h2>%s</h2>\n%s" % (_escape(title), body)


_REQUEST_ATTRIBUTES = (
    "the_request", "method", "protocol", "hostname", "uri", "unparsed_uri", "args",
    "filename", "path_info", "handler", "content_type", "status", "user",
    "ap_auth_type", "interpreter", "phase", "useragent_ip")


def _request_rows(req):
    rows = []
    for name in _REQUEST_ATTRIBUTES:
        try:
            rows.append((name, repr(getattr(req, name))))
        except Exception as error:
            rows.append((name, "<%s: %s>" % (type(error).__name__, error)))
    rows.append(("document_root()", req.document_root()))
    return rows


def _server_rows(server):
    names = ("server_hostname", "port", "server_admin", "defn_name", "defn_line_number",
             "error_fname", "loglevel", "is_virtual", "timeout", "keep_alive",
             "keep_alive_timeout", "keep_alive_max", "names", "wild_names")
    return [(name, repr(getattr(server, name, None))) for name in names]


def _interpreter_rows():
    try:
        inventory = apache.interpreters()
    except Exception as error:
        return [("error", "%s: %s" % (type(error).__name__, error))]
    rows = []
    for entry in inventory:
        details = ", ".join("%s=%r" % item for item in sorted(entry.items()) if item[0] != "name")
        rows.append((entry.get("name"), details))
    return rows


def _config_tree_text(tree, depth=0):
    lines = []
    for item in tree:
        if isinstance(item, list):
            lines.append(_config_tree_text(item, depth + 1))
        else:
            lines.append("  " * depth + " ".join("%s" % part for part in item))
    return "\n".join(line for line in lines if line)


def _error_log_tail(req):
    filename = req.server.error_fname
    if not filename or filename.startswith("|") or filename.startswith("syslog"):
        return "(the error log is not a file: %r)" % (filename,)
    if not os.path.isabs(filename):
        filename = os.path.join(apache.server_root(), filename)
    try:
        with open(filename, "rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - 64 * 1024))
            lines = log.read().decode("utf-8", "replace").splitlines()
    except OSError as error:
        return "(cannot read %s: %s)" % (filename, error)
    return "\n".join(lines[-_LOG_TAIL_LINES:])


def handler(req):
    req.content_type = "text/html"
    parts = ["<html><head><title>mod_python test page</title></head><body>\n",
             "<h1>mod_python %s</h1>\n" % _escape(_mp_version())]
    parts.append(_section("Request", _table(_request_rows(req))))
    parts.append(_section("req.headers_in", _table(req.headers_in.items())))
    parts.append(_section("req.get_options()", _table(req.get_options().items())))
    parts.append(_section("req.get_config()", _table(req.get_config().items())))
    parts.append(_section("req.server", _table(_server_rows(req.server))))
    parts.append(_section("Interpreters of process %d" % os.getpid(),
                          _table(_interpreter_rows())))
    parts.append(_section("Python", _table([
        ("sys.version", sys.version),
        ("sys.path", "\n".join(sys.path)),
        ("sys.modules", " ".join(sorted(sys.modules))),
    ])))
    try:
        tree = _config_tree_text(apache.config_tree())
    except Exception as error:
        tree = "%s: %s" % (type(error).__name__, error)
    parts.append(_section("apache.config_tree()", "<pre>%s</pre>\n" % _escape(tree)))
    parts.append(_section("End of the error log",
                          "<pre>%s</pre>\n" % _escape(_error_log_tail(req))))
    parts.append("</body></html>\n")
    req.write("".join(parts))
    return apache.OK


def _mp_version():
    from . import version
    return version.version
