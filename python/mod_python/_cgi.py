"""CGI emulation (python-api.md §2.1, §17): the environment, stdin and
stdout a CGI script expects, built from a request.

What this module owns: ``build_cgi_env()``, ``setup_cgi()`` /
``restore_nocgi()`` and the file objects they install (``NullIO``,
``CGIStdin``, ``CGIStdout``). mod_python.apache serves these names on
first use, so interpreters that never run a CGI script never load this
file. It must not hold state: setup_cgi() hands the caller what
restore_nocgi() needs.
"""

import io
import os
import sys

from ._constants import HTTP_MOVED_TEMPORARILY, HTTP_OK


def build_cgi_env(req):
    """The CGI environment of `req`, as a new table."""
    req.add_cgi_vars()
    env = req.subprocess_env.copy()
    uri, path_info = req.uri or "", req.path_info or ""
    if path_info and uri.endswith(path_info):
        env["SCRIPT_NAME"] = uri[:-len(path_info)]
    else:
        env["SCRIPT_NAME"] = uri
    env["GATEWAY_INTERFACE"] = "Python-CGI/1.1"
    authorization = req.headers_in.get("Authorization")
    if authorization is not None:
        env["HTTP_AUTHORIZATION"] = authorization
    return env


class NullIO:
    """A file that is always empty and swallows what is written to it."""

    def tell(self):
        return 0

    def read(self, n=-1):
        return b""

    def readline(self, n=-1):
        return b""

    def readlines(self, hint=-1):
        return []

    def write(self, s):
        return len(s)

    def writelines(self, lines):
        pass

    def seek(self, pos, mode=0):
        return 0

    def isatty(self):
        return False

    def flush(self):
        pass

    def close(self):
        pass

    def __iter__(self):
        return iter(())


class _RequestBody(io.RawIOBase):
    """The request body as a raw binary stream."""

    def __init__(self, req):
        io.RawIOBase.__init__(self)
        self.req = req

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self.req.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


class CGIStdin(io.TextIOWrapper):
    """sys.stdin of a CGI script: the request body, read from the request
    in 64 KiB blocks. Like a real stdin it is text (UTF-8, undecodable
    bytes kept as surrogates, line ends untouched) with the bytes in
    `.buffer`."""

    BLOCK = 65536

    def __init__(self, req):
        io.TextIOWrapper.__init__(self, io.BufferedReader(_RequestBody(req), self.BLOCK),
                                  encoding="utf-8", errors="surrogateescape", newline="")
        self.req = req


class CGIStdout(NullIO):
    """sys.stdout of a CGI script: the header block it prints sets the
    response status and headers, everything after it is the body."""

    def __init__(self, req):
        self.req = req
        self.pos = 0
        self.headers_sent = False
        self._headers = b""

    @property
    def buffer(self):
        return self

    def write(self, s):
        if not s:
            return 0
        data = s.encode("utf-8", "surrogateescape") if isinstance(s, str) else bytes(s)
        if self.headers_sent:
            self.req.write(data)
        else:
            self._collect_headers(data)
        self.pos += len(data)
        return len(s)

    def _collect_headers(self, data):
        self._headers += data
        ends = [(i, len(sep)) for sep in (b"\r\n\r\n", b"\n\n")
                for i in (self._headers.find(sep),) if i >= 0]
        if not ends:
            return
        end, sep_len = min(ends)
        head, body = self._headers[:end], self._headers[end + sep_len:]
        self._headers = b""
        self.headers_sent = True
        self._apply_headers(head)
        if body:
            self.req.write(body)

    def _apply_headers(self, head):
        req = self.req
        for line in head.replace(b"\r\n", b"\n").split(b"\n"):
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep:
                continue
            name, value = name.strip(), value.strip()
            lower = name.lower()
            if lower == "status":
                req.status = int(value.split()[0])
            elif lower == "content-type":
                req.content_type = value
            else:
                req.headers_out.add(name, value)
                # CGI: an absolute Location without Status is a redirect.
                if lower == "location" and req.status == HTTP_OK and "://" in value:
                    req.status = HTTP_MOVED_TEMPORARILY

    def tell(self):
        return self.pos


def setup_cgi(req):
    """Replaces os.environ, sys.stdin and sys.stdout for a CGI script.
    Returns what restore_nocgi() needs to undo it."""
    saved = (os.environ, sys.stdin, sys.stdout)
    # A new mapping rather than changing the process environment, which
    # belongs to httpd and to every other thread.
    os.environ = dict(build_cgi_env(req).items())
    sys.stdout = CGIStdout(req)
    sys.stdin = CGIStdin(req)
    sys.argv = []
    return saved


def restore_nocgi(env, si, so):
    """Undoes setup_cgi() (deviation: upstream swapped stdin and stdout)."""
    os.environ = env
    sys.stdin = si
    sys.stdout = so
