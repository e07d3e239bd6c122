"""mod_python.util: form data (FieldStorage and its fields), calling a
function with form fields as arguments, and redirects (python-api.md §12).

FieldStorage keeps mod_python 3.5's Python 3 types on purpose, because
applications and tests depend on them: query-string fields are str,
url-encoded POST fields are bytes (names included), multipart names are
str and their values bytes. apply_fs_data() (and so the publisher and
psp.apply_data) passes one type whatever the encoding (deviation): text
fields as str names and values decoded UTF-8, uploads as their Field.
"""

import io
import re
import tempfile
import types
import urllib.parse

from . import apache

parse_qs = apache.parse_qs
parse_qsl = apache.parse_qsl

# How much one readline() of the request body may return: lines of a
# multipart body longer than this arrive in several pieces.
readBlockSize = 65368

_DEFAULT_FORM_TYPE = "application/x-www-form-urlencoded"


class Field:
    """A form field backed by a file: uploads, and fields built with the
    legacy constructor Field(name, file, ctype, type_options, disp,
    disp_options, headers={})."""

    filename = None
    headers = {}

    def __init__(self, name, *args, **kwargs):
        self.name = name
        if args or kwargs:
            self._legacy_init(*args, **kwargs)

    def _legacy_init(self, file, ctype, type_options, disp, disp_options, headers={}):
        self.file = file
        self.type = ctype
        self.type_options = type_options
        self.disposition = disp
        self.disposition_options = disp_options
        self.headers = headers
        options = disp_options or {}
        self.filename = options.get("filename", options.get(b"filename"))

    def __getattr__(self, name):
        # Only `value` is computed; everything else is a plain attribute.
        if name != "value":
            raise AttributeError(name)
        file = self.__dict__.get("file")
        if file is None:
            return None
        file.seek(0)
        value = file.read()
        file.seek(0)
        if not isinstance(value, bytes):
            raise TypeError("Field %r: file must yield bytes, not %s"
                            % (self.name, type(value).__name__))
        return value

    def __repr__(self):
        return "Field(%r, %r)" % (self.name, self.value)

    def __del__(self):
        file = self.__dict__.get("file")
        if file is not None:
            try:
                file.close()
            except Exception:
                pass


class StringField(bytes):
    """A form field held in memory: bytes holding the UTF-8 encoding of the
    value; the object it was made from is kept in `.value`."""

    filename = None
    headers = {}
    ctype = "text/plain"
    type_options = {}
    disposition = None
    disp_options = None

    def __new__(cls, value):
        text = value.decode("utf-8") if isinstance(value, bytes) else str(value)
        field = bytes.__new__(cls, text.encode("utf-8"))
        field.value = value
        return field

    def __getattr__(self, name):
        if name != "file":
            raise AttributeError(name)
        self.file = io.BytesIO(bytes(self))
        return self.file

    def __repr__(self):
        return "Field(%r, %r)" % (getattr(self, "name", None), self.value)


class FieldList(list):
    """The list of fields of a FieldStorage, in arrival order, with an index
    name -> fields that is rebuilt after any change to the list."""

    def __init__(self, *args):
        list.__init__(self, *args)
        self._by_name = None

    def by_name(self):
        if self._by_name is None:
            index = {}
            for field in self:
                index.setdefault(field.name, []).append(field)
            self._by_name = index
        return self._by_name


def _invalidating(method_name):
    base = getattr(list, method_name)

    def method(self, *args, **kwargs):
        self._by_name = None
        return base(self, *args, **kwargs)

    method.__name__ = method_name
    method.__doc__ = base.__doc__
    return method


for _name in ("append", "extend", "insert", "remove", "pop", "clear", "sort",
              "reverse", "__setitem__", "__delitem__", "__iadd__", "__imul__"):
    setattr(FieldList, _name, _invalidating(_name))
del _name


def _split_header_params(line):
    """Splits `line` (bytes) at semicolons that are not inside quotes."""
    parts, start, quoted, i = [], 0, False, 0
    while i < len(line):
        char = line[i:i + 1]
        if char == b"\\" and quoted:
            i += 2
            continue
        if char == b'"':
            quoted = not quoted
        elif char == b";" and not quoted:
            parts.append(line[start:i])
            start = i + 1
        i += 1
    parts.append(line[start:])
    return parts


def parse_header(line):
    """Parses a Content-Type / Content-Disposition value (bytes) into the
    lower-cased main value (bytes) and a dict of its parameters: names are
    lower-cased bytes, values str (Latin-1) without surrounding quotes."""
    if not isinstance(line, bytes):
        raise TypeError("parse_header() argument must be bytes, not %s"
                        % type(line).__name__)
    parts = _split_header_params(line)
    main = parts[0].strip().lower()
    options = {}
    for part in parts[1:]:
        name, sep, value = part.partition(b"=")
        if not sep:
            continue
        value = value.strip()
        if len(value) >= 2 and value[:1] == value[-1:] == b'"':
            value = value[1:-1]
        options[name.strip().lower()] = value.decode("latin-1")
    return main, options


def _multipart_boundary(ctype):
    """The boundary parameter of a multipart Content-Type, or None."""
    at = ctype.lower().rfind("boundary=")
    if at < 0:
        return None
    rest = ctype[at + len("boundary="):].strip()
    if rest.startswith('"'):
        end = rest.find('"', 1)
        boundary = rest[1:end] if end > 0 else rest[1:]
    else:
        boundary = rest.split(";", 1)[0].strip()
    return boundary or None


class FieldStorage:
    """All form data of a request, parsed when constructed. Make at most one
    per request: the body can be read only once (publisher and PSP keep
    theirs in req.form)."""

    def __init__(self, req, keep_blank_values=0, strict_parsing=0,
                 file_callback=None, field_callback=None):
        self.list = FieldList()
        if req.args:
            for name, value in self.parse_qsl_safely(req.args, keep_blank_values):
                self.add_field(name, value)
        if req.method != "POST":
            return
        try:
            clen = int(req.headers_in["content-length"])
        except (KeyError, ValueError, TypeError):
            raise apache.SERVER_RETURN(apache.HTTP_LENGTH_REQUIRED)
        ctype = req.headers_in.get("content-type", _DEFAULT_FORM_TYPE)
        if ctype.lower().startswith(_DEFAULT_FORM_TYPE):
            body = req.read(clen)
            for name, value in parse_qsl(body, keep_blank_values):
                self.add_field(name, value)
            return
        if not ctype.lower().startswith("multipart/"):
            raise apache.SERVER_RETURN(apache.HTTP_NOT_IMPLEMENTED)
        boundary = _multipart_boundary(ctype)
        if boundary is None:
            raise apache.SERVER_RETURN(apache.HTTP_BAD_REQUEST)
        self._read_multipart(req, boundary.encode("latin-1"),
                             file_callback, field_callback)

    @staticmethod
    def parse_qsl_safely(qs, keep_blank_values):
        """parse_qsl, falling back to urllib's parser for query strings the
        C parser rejects (invalid UTF-8)."""
        try:
            return parse_qsl(qs, keep_blank_values)
        except (SystemError, UnicodeError):
            return urllib.parse.parse_qsl(qs, keep_blank_values)

    # -- multipart ---------------------------------------------------------

    def _read_multipart(self, req, boundary, file_callback, field_callback):
        # A delimiter line: "--" boundary, "--" on the last one, CR LF. The
        # line break is optional only at the very end of the body.
        delimiter = re.compile(rb"--" + re.escape(boundary) + rb"(--)?[ \t]*\r?\n?\Z")
        if self._skip_to_first_delimiter(req, delimiter):
            return
        while True:
            status, headers = self._read_part_headers(req, delimiter)
            if status == "end":
                return
            if status == "next":
                continue
            if self._read_part(req, delimiter, headers, file_callback, field_callback):
                return

    @staticmethod
    def _skip_to_first_delimiter(req, delimiter):
        """Reads up to the first delimiter. True if the body ended first (or
        the first delimiter was already the final one)."""
        at_line_start = True
        while True:
            line = req.readline(readBlockSize)
            if not line:
                return True
            if at_line_start:
                found = delimiter.match(line)
                if found:
                    return bool(found.group(1)) or not line.endswith(b"\n")
            at_line_start = line.endswith(b"\n")

    @staticmethod
    def _read_part_headers(req, delimiter):
        """Reads one part's header block. Returns ("ok", [(name, value)]),
        ("next", None) when a delimiter cut the headers short, or ("end",
        None) at the final delimiter or the end of the body."""
        lines = []
        pending = b""
        while True:
            piece = req.readline(readBlockSize)
            if not piece:
                return "end", None
            pending += piece
            if not pending.endswith(b"\n") and len(piece) == readBlockSize:
                continue  # a header longer than a block: keep reading it
            line, pending = pending, b""
            if line in (b"\r\n", b"\n", b"\r"):
                break
            found = delimiter.match(line)
            if found:
                final = bool(found.group(1)) or not line.endswith(b"\n")
                return ("end" if final else "next"), None
            if line[:1] in (b" ", b"\t") and lines:
                lines[-1] += b" " + line.strip()
            else:
                lines.append(line.rstrip(b"\r\n"))
        headers = []
        for line in lines:
            name, sep, value = line.partition(b":")
            if sep:
                headers.append((name.strip(), value.strip()))
        return "ok", headers

    def _read_part(self, req, delimiter, raw_headers, file_callback, field_callback):
        """Reads one part's body into a new field. True if it was the last."""
        headers = apache.table()
        disposition, disp_options = None, {}
        ctype, type_options = b"text/plain", {}
        for name, value in raw_headers:
            headers.add(name.decode("latin-1"), value.decode("latin-1"))
            lower = name.lower()
            if lower == b"content-disposition":
                disposition, disp_options = parse_header(value)
            elif lower == b"content-type":
                ctype, type_options = parse_header(value)
                if b"/" not in ctype:
                    ctype = b"application/octet-stream"
        name = disp_options.get(b"name")
        filename = disp_options.get(b"filename")
        if filename is not None:
            if callable(file_callback):
                file = file_callback(filename)
            else:
                file = tempfile.TemporaryFile("w+b")
        elif callable(field_callback):
            file = field_callback()
        else:
            file = io.BytesIO()
        last = self.read_to_boundary(req, delimiter, file)
        file.seek(0)
        if filename is not None:
            field = Field(name)
            field.filename = filename
        else:
            field = StringField(file.read())
            file.seek(0)
            field.name = name
        field.file = file
        field.type = ctype.decode("latin-1")
        field.type_options = type_options
        field.disposition = disposition.decode("latin-1") if disposition is not None else None
        field.disposition_options = disp_options
        field.headers = headers
        self.list.append(field)
        return last

    def read_to_boundary(self, req, boundary_re, file):
        """Copies body lines into `file` up to the next delimiter, leaving out
        the line break in front of it. True if that was the final delimiter
        or the body ended; False if another part follows."""
        held = b""            # line break not yet written: it may precede a delimiter
        at_line_start = True  # the previous piece ended a line
        while True:
            line = req.readline(readBlockSize)
            if not line:
                file.write(held)  # a part cut short by EOF keeps its line break
                return True
            if held == b"\r" and line == b"\n" and not at_line_start:
                # A CR LF that a block boundary cut in two.
                held, at_line_start = b"\r\n", True
                continue
            if at_line_start:
                found = boundary_re.match(line)
                if found:
                    return bool(found.group(1)) or not line.endswith(b"\n")
            file.write(held)
            if line.endswith(b"\r\n"):
                file.write(line[:-2])
                held = b"\r\n"
            elif line.endswith(b"\n") or line.endswith(b"\r"):
                file.write(line[:-1])
                held = line[-1:]
            else:
                file.write(line)
                held = b""
            at_line_start = line.endswith(b"\n")

    # -- mapping interface -------------------------------------------------

    def add_field(self, key, value):
        item = StringField(value)
        item.name = key
        self.list.append(item)

    def __getitem__(self, key):
        found = self.list.by_name()[key]
        if len(found) == 1:
            return found[0]
        return list(found)

    def __setitem__(self, key, value):
        if not isinstance(key, bytes) or not isinstance(value, bytes):
            raise TypeError("FieldStorage keys and values must be bytes")
        if key in self.list.by_name():
            del self[key]
        self.add_field(key, value)

    def __delitem__(self, key):
        if key not in self.list.by_name():
            raise KeyError(key)
        self.list[:] = [field for field in self.list if field.name != key]

    def get(self, key, default):
        try:
            return self[key]
        except (KeyError, TypeError):
            return default

    def getfirst(self, key, default=None):
        found = self.list.by_name().get(key)
        return found[0] if found else default

    def getlist(self, key):
        return list(self.list.by_name().get(key, ()))

    def keys(self):
        return list(self.list.by_name().keys())

    def __iter__(self):
        return iter(self.keys())

    def __len__(self):
        return len(self.list.by_name())

    def has_key(self, key):
        return key in self.list.by_name()

    __contains__ = has_key

    def items(self):
        return [(field.name, field) for field in self.list]

    def clear(self):
        self.list.clear()

    def __repr__(self):
        return repr(self.list.by_name())


# ---------------------------------------------------------------------------
# Calling a function with form fields (python-api.md §12.5)

_CO_VARKEYWORDS = 0x08  # code flag: the function takes **kwargs


def _signature_source(obj, depth=0):
    """(code object, number of leading parameters bound already) for the
    callable `obj`, or None when it has no Python code to inspect."""
    if depth > 8:
        return None
    if isinstance(obj, types.FunctionType):
        return obj.__code__, 0
    if isinstance(obj, types.MethodType):
        function = obj.__func__
        return (function.__code__, 1) if isinstance(function, types.FunctionType) else None
    if isinstance(obj, type):
        init = getattr(obj, "__init__", None)
        return (init.__code__, 1) if isinstance(init, types.FunctionType) else None
    if isinstance(obj, types.BuiltinFunctionType) or not callable(obj):
        return None
    call = getattr(type(obj), "__call__", None)
    if isinstance(call, types.FunctionType):
        return call.__code__, 1
    call = getattr(obj, "__call__", None)
    if call is None or call is obj or isinstance(call, (types.MethodWrapperType,
                                                        types.WrapperDescriptorType)):
        return None
    return _signature_source(call, depth + 1)


def _accepted_arguments(obj):
    """(names the callable accepts by keyword, whether it takes **kwargs),
    or None if that cannot be known."""
    source = _signature_source(obj)
    if source is None:
        return None
    code, bound = source
    positional = code.co_varnames[:code.co_argcount]
    keyword_only = code.co_varnames[code.co_argcount:code.co_argcount + code.co_kwonlyargcount]
    # Positional-only parameters cannot be passed by keyword.
    names = positional[max(bound, code.co_posonlyargcount):] + keyword_only
    return set(names), bool(code.co_flags & _CO_VARKEYWORDS)


def _text(data):
    """Form bytes as str: UTF-8 (what browsers send for UTF-8 pages), bytes
    that are not UTF-8 kept as surrogate escapes."""
    return data.decode("utf-8", "surrogateescape")


def _argument(field):
    """(name, value) under which a field is passed to a function.

    (deviation) One rule whatever the form's encoding (docs/migrating.md):
    names and values of text fields are str, decoded UTF-8, the same for a
    query string, an url-encoded body and a multipart body; an upload is
    passed as its Field (value bytes, .filename, .file). Upstream passes
    str for query strings, bytes values for multipart text fields, and
    never matches url-encoded names (bytes), so POSTed fields went missing.
    FieldStorage itself keeps upstream's types (python-api.md §12.1)."""
    name = field.name
    if isinstance(name, bytes):
        name = _text(name)
    elif isinstance(name, str) and not name.isascii():
        # multipart names are decoded Latin-1 by parse_header(): undo that
        try:
            name = name.encode("latin-1").decode("utf-8")
        except UnicodeError:
            pass
    if isinstance(field, Field):
        return name, field
    value = field.value
    if isinstance(value, (bytes, bytearray)):
        value = _text(bytes(value))
    return name, value


def apply_fs_data(obj, fs, **extra):
    """Calls `obj` with the form fields of `fs` as keyword arguments, plus
    `extra`; only the arguments `obj` accepts are passed."""
    fields = {}
    for field in fs.list:
        name, value = _argument(field)
        if name is None or name in extra:
            # A field may not override what the caller passes (e.g. req).
            continue
        fields.setdefault(name, []).append(value)
    args = dict(extra)
    for name, values in fields.items():
        args[name] = values[0] if len(values) == 1 else values
    accepted = _accepted_arguments(obj)
    if accepted is None:
        return obj()
    names, takes_kwargs = accepted
    if not takes_kwargs:
        args = {name: value for name, value in args.items() if name in names}
    return obj(**args)


# ---------------------------------------------------------------------------
# Redirects (python-api.md §12.6)

def redirect(req, location, permanent=0, text=None):
    """Sends a 301/302 to `location` and ends the request (raises
    SERVER_RETURN(DONE), so no later handler or phase runs)."""
    if not isinstance(location, str):
        raise TypeError("location must be of type str")
    if req.sent_bodyct:
        raise IOError("Cannot redirect after headers have already been sent.")
    req.err_headers_out["Location"] = location
    if permanent:
        req.status = apache.HTTP_MOVED_PERMANENTLY
    else:
        req.status = apache.HTTP_MOVED_TEMPORARILY
    if text is None:
        text = '<p>The document has moved <a href="%s">here</a></p>\n' % location
    req.write(text)
    raise apache.SERVER_RETURN(apache.DONE)
