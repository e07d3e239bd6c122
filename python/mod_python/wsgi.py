"""mod_python.wsgi: runs a WSGI application as a mod_python content
handler (python-api.md §18).

    PythonHandler mod_python.wsgi
    PythonOption mod_python.wsgi.application mypackage.app::application
    PythonOption mod_python.wsgi.base_uri /app      (optional)

The request object builds the environment and provides start_response
(req.build_wsgi_env, req.wsgi_start_response). When the request object in
use has no such methods, the same behaviour is provided here from the
request's attributes, subprocess_env and add_cgi_vars().

(deviation) Environment values are PEP 3333 native strings: the raw bytes
decoded as Latin-1, so applications can recover the original bytes;
start_response sets req.status, which upstream forgets, and refuses a
second call without exc_info; wsgi.input can be iterated (a thin wrapper
over the request while the request object itself cannot).
"""

import re
import sys

from . import apache

_APPLICATION = "mod_python.wsgi.application"
_BASE_URI = "mod_python.wsgi.base_uri"


def handler(req):
    options = req.get_options()
    config = req.get_config()
    app_spec = options[_APPLICATION]  # unset: KeyError, i.e. a 500
    module_name, _, callable_name = app_spec.partition("::")
    module = apache.import_module(module_name,
                                  autoreload=config.get("PythonAutoReload", "1") != "0",
                                  log=config.get("PythonDebug") == "1")
    application = module.__dict__.get(callable_name or "application")
    if not application:
        req.log_error("HYDRA0512: WSGI handler: %s (%r) not found, declining." % (_APPLICATION, app_spec),
                      apache.APLOG_WARNING)
        return apache.DECLINED

    environ = _environ(req)
    if environ is None:
        req.log_error("HYDRA0513: WSGI handler: req.uri (%r) does not start with %s (%r), declining."
                      % (req.uri, _BASE_URI, options.get(_BASE_URI)), apache.APLOG_WARNING)
        return apache.DECLINED

    start_response = OnceStartResponse(getattr(req, "wsgi_start_response", None)
                                       or StartResponse(req))
    response = application(environ, start_response)
    try:
        for chunk in response:
            if chunk:
                req.write(chunk)
    finally:
        if not isinstance(response, (list, tuple)):
            close = getattr(response, "close", None)
            if close is not None:
                close()
    return apache.OK


# ---------------------------------------------------------------------------
# The environment (§18.2), for request objects without build_wsgi_env

def _environ(req):
    build = getattr(req, "build_wsgi_env", None)
    environ = build() if build is not None else build_wsgi_env(req)
    if environ is not None and not hasattr(type(environ.get("wsgi.input")), "__iter__"):
        environ["wsgi.input"] = Input(req)
    return environ


class Input:
    """wsgi.input when the request object cannot be iterated: the request
    body as PEP 3333 wants it (read, readline, readlines and iteration over
    lines), every other attribute the request's own, so code written for
    mod_python's wsgi.input (the request itself) keeps working."""

    def __init__(self, req):
        self._req = req

    def read(self, size=-1):
        return self._req.read(-1 if size is None else size)

    def readline(self, size=-1):
        return self._req.readline(-1 if size is None else size)

    def readlines(self, hint=-1):
        return self._req.readlines(-1 if hint is None else hint)

    def __iter__(self):
        return self

    def __next__(self):
        line = self._req.readline()
        if not line:
            raise StopIteration
        return line

    def __getattr__(self, name):
        return getattr(self._req, name)

    def __repr__(self):
        return "<mod_python.wsgi.Input of %r>" % (self._req,)


def _base_uri(req):
    base = req.get_options().get(_BASE_URI)
    if base is None:
        hlist = req.hlist
        if hlist.is_location and hlist.directory:
            base = hlist.directory
            if base.endswith("/"):
                base = base[:-1]
        return base or ""
    if base.endswith("/"):
        raise ValueError("PythonOption '%s' ('%s') must not end with '/'" % (_BASE_URI, base))
    return base


def _native(value):
    """An Apache string as a PEP 3333 native string: the original bytes
    (strings from Apache are decoded UTF-8 with surrogateescape) decoded as
    Latin-1."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape").decode("latin-1")
    return value


def build_wsgi_env(req):
    """The WSGI environ of `req`, or None if req.uri is not under the base
    URI. Sets req.path_info to the part of the URI after the base."""
    base = _base_uri(req)
    uri = req.uri
    if base:
        if not uri.startswith(base):
            return None
        req.path_info = uri[len(base):]
    else:
        req.path_info = uri
    req.add_cgi_vars()

    environ = {name: _native(value) for name, value in req.subprocess_env.items()}
    authorization = req.headers_in.get("Authorization")
    if authorization is not None:
        environ["HTTP_AUTHORIZATION"] = _native(authorization)
    https = environ.get("HTTPS")
    environ.update({
        "wsgi.input": req,
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": bool(apache.mpm_query(apache.AP_MPMQ_IS_THREADED)),
        "wsgi.multiprocess": bool(apache.mpm_query(apache.AP_MPMQ_IS_FORKED)),
        "wsgi.url_scheme": "https" if https and https.lower() != "off" else "http",
        "wsgi.run_once": False,
    })
    return environ


# ---------------------------------------------------------------------------
# start_response (§18.3)

class OnceStartResponse:
    """PEP 3333's rule around the request's start_response: a second call
    without exc_info is an error (raised into the application, so the
    request becomes a 500 if nothing was sent yet) instead of adding a
    second set of headers."""

    def __init__(self, start_response):
        self._start_response = start_response
        self.started = False

    def __call__(self, status, headers, exc_info=None):
        if self.started and not exc_info:
            raise RuntimeError("start_response() called a second time without exc_info "
                               "(PEP 3333)")
        if exc_info:
            write = self._start_response(status, headers, exc_info)
        else:
            write = self._start_response(status, headers)
        self.started = True
        return write


# For request objects without wsgi_start_response

_STATUS_CODE = re.compile(r"\s*(\d+)")


class StartResponse:
    """start_response for one request: adds the headers to headers_out and
    sets the status; returns req.write."""

    def __init__(self, req):
        self.req = req
        self.added = []

    def __call__(self, status, headers, exc_info=None):
        req = self.req
        if exc_info:
            try:
                if req.sent_bodyct:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
            self._discard_headers()
        code = self._status_code(status)
        self._check_headers(headers)
        for name, value in headers:
            if _lower(name) == "content-type":
                # Setting the header alone is not enough: httpd writes
                # Content-Type from r->content_type.
                req.content_type = value
            else:
                req.headers_out.add(name, value)
                self.added.append(name)
        req.status_line = status
        req.status = code
        return req.write

    @staticmethod
    def _status_code(status):
        found = _STATUS_CODE.match(status) if isinstance(status, str) else None
        code = int(found.group(1)) if found else 0
        if not 100 <= code <= 599:
            raise ValueError("Invalid status line: %s" % (status,))
        return code

    @staticmethod
    def _check_headers(headers):
        if not isinstance(headers, list):
            raise TypeError("start_response() headers must be a list, not %s"
                            % type(headers).__name__)
        for item in headers:
            if (type(item) is not tuple or len(item) != 2
                    or not all(isinstance(part, (str, bytes)) for part in item)):
                raise TypeError("start_response() headers must be tuples of two strings, "
                                "got %r" % (item,))

    def _discard_headers(self):
        for name in self.added:
            try:
                del self.req.headers_out[name]
            except KeyError:
                pass
        self.added = []


def _lower(name):
    return (name.decode("latin-1") if isinstance(name, bytes) else name).lower()
