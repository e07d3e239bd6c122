"""Handler error reporting (python-api.md §1.5): the work behind
``CallBack.ReportError``.

What this module owns: logging a traceback to the error log, the PythonDebug
error page, and the two tests that shape a report (a write to a client
that went away, an extension module refused by an own-GIL interpreter).

It is loaded on the first error, not with mod_python.apache: most
interpreters never report one. It reads ``interpreter`` and
``main_server`` from mod_python.apache at call time, so it sees what
``init()`` set. It must not hold state of its own.
"""

import sys

from . import apache
from ._constants import APLOG_ERR, DONE, HTTP_INTERNAL_SERVER_ERROR

# CPython's ImportError text for extension modules that cannot live in an
# interpreter with its own GIL.
_OWN_GIL_IMPORT_ERROR = "does not support loading in subinterpreters"


def report_error(etype, evalue, etb, conn, req, filter, phase, hname, debug):
    """Logs a handler error and, with PythonDebug, shows it to the client.
    Returns DONE if a page was sent, else HTTP_INTERNAL_SERVER_ERROR."""
    import traceback
    try:
        try:
            chunks = traceback.format_exception(etype, evalue, etb)
            hint = _own_gil_hint(evalue)
            if hint:
                chunks.append(hint)
            _log_traceback(chunks, conn, req, phase, hname)
            if (not debug or req is None or _is_write_failure(evalue)
                    or phase == "PythonCleanupHandler"):
                return HTTP_INTERNAL_SERVER_ERROR
            _send_error_page(chunks, req, filter, phase, hname)
            return DONE
        except BaseException:
            # Reporting failed too (e.g. the client went away while the
            # page was written): stderr ends up in the error log.
            traceback.print_exc()
            sys.stderr.flush()
            return HTTP_INTERNAL_SERVER_ERROR
    finally:
        etb = None


def _log_traceback(chunks, conn, req, phase, hname):
    prefix = "HYDRA0501: %s %s: " % (phase, hname)
    if req is not None:
        write_log = lambda line: req.log_error(line, APLOG_ERR)
    else:
        server = conn.base_server if conn is not None else apache.main_server
        write_log = lambda line: apache.log_error(line, APLOG_ERR, server)
    for chunk in chunks:
        if chunk.endswith("\n"):
            chunk = chunk[:-1]
        write_log(prefix + chunk)


def _send_error_page(chunks, req, filter, phase, hname):
    import html
    req.status = HTTP_INTERNAL_SERVER_ERROR
    req.content_type = "text/html"
    page = ['\n<pre>\nMod_python error: "%s %s"\n\n' % (phase, hname)]
    for chunk in chunks:
        page.append(html.escape(chunk, quote=True))
        page.append("\n")
    page.append("</pre>\n")
    text = "".join(page)
    if filter is not None:
        filter.write(text)
        filter.flush()
    else:
        req.write(text)


def _is_write_failure(evalue):
    """A failed write to a client that went away (deviation: upstream's
    test for this never matches on Python 3)."""
    if not isinstance(evalue, OSError):
        return False
    message = evalue.args[0] if evalue.args else ""
    return str(message).startswith("Write") or str(evalue).startswith("Write")


def _own_gil_hint(evalue):
    """An extra log/page line for an extension module that cannot be
    imported in an own-GIL interpreter (beyond.md §1)."""
    if not isinstance(evalue, ImportError) or _OWN_GIL_IMPORT_ERROR not in str(evalue):
        return None
    module = getattr(evalue, "name", None) or str(evalue).split()[1]
    return ("Hydra: the extension module %s cannot be imported in interpreter "
            "'%s', which has its own GIL. Use 'PythonInterpGIL shared' for this "
            "interpreter, or 'PythonInterpreter main_interpreter'.\n"
            % (module, apache.interpreter))
