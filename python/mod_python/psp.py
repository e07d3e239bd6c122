"""mod_python.psp: Python Server Pages (python-api.md §16).

A page is translated to Python by mod_python._psp, compiled, cached, and
run with `req`, `form`, `session` and `psp` (a PSPInterface) as globals.

Compiled pages are cached per interpreter: in memory (by path and mtime for
files, by text for strings), or, for files, in a dbm file shared by every
process when the option mod_python.psp.cache_database_filename (legacy
PSPDbmCache) names one. The dbm file is only opened under session mutex 0,
the one reserved for dbm files.

The `handler` serves .psp files; with PythonDebug On a URL ending in "_"
shows the page's generated code next to its source instead of running it.
"""

import dbm
import html
import marshal
import os
import sys
import threading

from . import apache, Session, util, _psp

# The dbm module the PSP code cache is opened with (upstream's name).
dbm_cache_type = dbm


def parse(filename, dir=None):
    """Python source for the PSP file `filename` (dir + filename with `dir`)."""
    return _psp.parse(filename, dir)


def parsestring(text):
    """Python source for the PSP page `text`."""
    return _psp.parsestring(text)


# ---------------------------------------------------------------------------
# Code caches

class HitsCache:
    """A bounded map key -> (mtime, code) that counts hits; when full, the
    least hit entries are dropped until it is at three quarters of its
    size. Shared by the threads of one interpreter."""

    def __init__(self, size=512):
        self.size = size
        self._entries = {}   # key -> [mtime, code, hits]
        self._lock = threading.Lock()

    def get(self, key, mtime=None):
        """The code stored for `key` at `mtime`, or None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != mtime:
                return None
            entry[2] += 1
            return entry[1]

    def store(self, key, code, mtime=None):
        with self._lock:
            if key not in self._entries and len(self._entries) >= self.size:
                self._evict()
            self._entries[key] = [mtime, code, 0]

    def _evict(self):
        keep = (self.size * 3) // 4
        by_hits = sorted(self._entries, key=lambda k: self._entries[k][2])
        for key in by_hits[:len(by_hits) - keep]:
            del self._entries[key]

    def __len__(self):
        return len(self._entries)


mem_fcache = HitsCache()   # files: path -> (mtime, code)
mem_scache = HitsCache()   # strings: text -> code


def dbm_cache_get(server, dbmfile, filename, mtime):
    """Compiled code for `filename` at `mtime` from the dbm cache, or None."""
    Session._global_lock(server, None, 0)
    try:
        with dbm_cache_type.open(dbmfile, "c") as db:
            key = filename.encode("utf-8")
            stored = db[key] if key in db else None
    finally:
        Session._global_unlock(server, None, 0)
    if stored is None:
        return None
    try:
        stored_mtime, code = marshal.loads(stored)
    except (ValueError, EOFError, TypeError):
        return None  # written by another Python version: recompile
    return code if stored_mtime == mtime else None


def dbm_cache_store(server, dbmfile, filename, mtime, code):
    data = marshal.dumps((mtime, code))
    Session._global_lock(server, None, 0)
    try:
        with dbm_cache_type.open(dbmfile, "c") as db:
            db[filename.encode("utf-8")] = data
    finally:
        Session._global_unlock(server, None, 0)


def _compile_file(filename):
    directory, name = os.path.split(filename)
    source = _psp.parse(name, directory + "/")
    return compile(source, filename, "exec")


# ---------------------------------------------------------------------------
# The page

class PSPInterface:
    """The `psp` object a page sees."""

    def __init__(self, req, filename, form):
        self.req = req
        self.filename = filename
        self.error_page = None
        self.form = form

    def set_error_page(self, page):
        """Runs `page` instead of raising when this page fails. A page
        starting with "/" is under the document root, others are relative
        to this page's directory."""
        if page and page[0] == "/":
            page = self.req.document_root() + page
        else:
            page = os.path.join(os.path.dirname(self.filename or ""), page)
        self.error_page = PSP(self.req, page)

    def apply_data(self, obj):
        """Calls `obj` with the form fields as keyword arguments."""
        if self.form is None:
            if not hasattr(self.req, "form"):
                self.req.form = util.FieldStorage(self.req, keep_blank_values=1)
            self.form = self.req.form
        return util.apply_fs_data(obj, self.form, req=self.req)

    def redirect(self, location, permanent=0):
        util.redirect(self.req, location, permanent)


class PSP:
    """A page from a file (`filename`, default req.filename) or from a
    string, compiled (or found in a cache) at construction."""

    code = None

    def __init__(self, req, filename=None, string=None, vars={}):
        if filename is not None and string is not None:
            raise ValueError("Must specify either filename or string")
        self.req = req
        self.vars = vars
        self.string = string
        if filename is None and string is None:
            filename = req.filename
        if filename is not None and not os.path.isabs(filename):
            filename = os.path.join(os.path.dirname(req.filename or ""), filename)
        self.filename = filename
        if string is not None:
            self.load_from_string()
        else:
            self.load_from_file()

    def load_from_string(self):
        code = mem_scache.get(self.string)
        if code is None:
            code = compile(_psp.parsestring(self.string), "__psp__", "exec")
            mem_scache.store(self.string, code)
        self.code = code

    def load_from_file(self):
        filename = self.filename
        if not os.path.isfile(filename):
            raise apache.SERVER_RETURN(apache.HTTP_NOT_FOUND)
        mtime = os.path.getmtime(filename)
        options = self.req.get_options()
        dbmfile = (options.get("mod_python.psp.cache_database_filename")
                   or options.get("PSPDbmCache"))
        if dbmfile:
            code = dbm_cache_get(self.req.server, dbmfile, filename, mtime)
            if code is None:
                code = _compile_file(filename)
                dbm_cache_store(self.req.server, dbmfile, filename, mtime, code)
        else:
            code = mem_fcache.get(filename, mtime)
            if code is None:
                code = _compile_file(filename)
                mem_fcache.store(filename, code, mtime)
        self.code = code

    def __str__(self):
        self.req.content_type = "text/html"
        self.run()
        return ""

    def run(self, vars={}, flush=0):
        """Executes the page. A page that uses `session` gets req.session
        (created here when missing, saved after the page, unlocked and
        dropped at the end if created here); one that uses `form` gets
        req.form. An exception runs the error page, if one was set;
        SERVER_RETURN (psp.redirect, for one) is passed on instead, since it
        is how a page ends a request on purpose."""
        req, code = self.req, self.code
        session_created = False
        if "session" in code.co_names and not hasattr(req, "session"):
            req.session = Session.Session(req)
            session_created = True
        form = None
        if "form" in code.co_names:
            if not hasattr(req, "form"):
                req.form = util.FieldStorage(req, keep_blank_values=1)
            form = req.form
        psp = PSPInterface(req, self.filename, form)
        try:
            scope = globals().copy()
            scope.update(req=req, form=form, psp=psp,
                         session=getattr(req, "session", None))
            scope.update(self.vars)
            scope.update(vars)
            scope["__file__"] = req.filename
            try:
                exec(code, scope)
                if flush:
                    req.flush()
                if hasattr(req, "session"):
                    req.session.save()
            except apache.SERVER_RETURN:
                raise  # a redirect or a status, not a failure of the page
            except Exception:
                if psp.error_page is None:
                    raise
                psp.error_page.run({"exception": sys.exc_info()}, flush)
        finally:
            if session_created and hasattr(req, "session"):
                req.session.unlock()
                del req.session

    def display_code(self):
        """Writes an HTML table: line number, generated Python, source."""
        source = _read_text(self.filename).splitlines()
        directory, name = os.path.split(self.filename)
        generated = _psp.parse(name, directory + "/").splitlines()
        req = self.req
        req.write('<table border="1" cellpadding="3" cellspacing="0">\n'
                  "<tr><th>line</th><th>Python code</th><th>PSP source</th></tr>\n", 0)
        for number, line in enumerate(generated, 1):
            original = source[number - 1] if number <= len(source) else ""
            req.write("<tr><td>%d</td><td><code>%s</code></td><td><code>%s</code></td></tr>\n"
                      % (number, _listing_html(line), _listing_html(original)), 0)
        req.write("</table>\n", 0)


def _read_text(filename):
    with open(filename, "rb") as f:
        data = f.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _listing_html(line):
    """A code line for the listing: escaped, tabs as 4 spaces, spaces as
    &nbsp; so the indentation shows."""
    return html.escape(line.replace("\t", "    "), quote=True).replace(" ", "&nbsp;")


def handler(req):
    req.content_type = "text/html"
    debug = req.get_config().get("PythonDebug") == "1"
    if debug and req.filename and req.filename.endswith("_"):
        PSP(req, req.filename[:-1]).display_code()
    else:
        PSP(req).run()
    return apache.OK
