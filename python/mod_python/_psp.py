'''mod_python._psp: translates a PSP page into Python source that writes the
page through `req` (python-api.md §16.1). Upstream's translator is a C
lexer; this one is pure Python with the same two entry points,
parse(filename, dir=None) and parsestring(text).

The translation, in short:

* The output starts with ``req.write("""`` and ends with ``""",0)`` and a
  newline. Text between tags goes into triple-quoted literals, every write
  passes ``,0`` (no flush).
* In text, ``"`` is escaped, the two-character sequences backslash-n,
  backslash-r and backslash-t get their backslash doubled (so they print
  literally), other backslashes are copied, CRLF becomes LF.
* ``<%= expr %>`` writes ``str(expr)``; ``<%-- ... --%>`` disappears;
  ``<%@ include file="path" %>`` translates the file in place, sharing the
  open text literal.
* ``<% code %>`` copies the code as written (the first ``%>`` ends it) and
  then reopens a text literal at the *current indent*, upstream's rule:
  the indent starts empty at ``<%``; after each newline in the code the
  blanks that begin the next line become the indent (an empty line or one
  starting with code resets it), except that ``%>`` at the very start of a
  line keeps the indent of the line before. So the indent of the block's
  last code line, even a comment, persists into the following text, and a
  later block whose last line is at column 0 ends the indented block. One
  tab is added when the code's last character is a colon. A block without
  a newline is followed by ``;``, so a one-line block stays on the line.

Two leniencies, each affecting only pages upstream turns into invalid
Python: blanks before ``%>`` on the block's last line are not emitted a
second time in front of the next write, and a block whose last line holds
code gets a ``;`` before the next write instead of running into it
(unless that code ends in a colon: ``for x in y:%>`` stays one line).
Trailing blanks after a colon do not hide the colon either.

Pages are read as UTF-8 (Latin-1 when they are not valid UTF-8); the
result is a str.
'''

import re

__all__ = ["parse", "parsestring"]

_TEXT, _CODE, _ECHO = "text", "code", "echo"

# Nested includes deeper than this are taken to be a page including itself.
_MAX_INCLUDE_DEPTH = 64

_TEXT_SPECIAL = re.compile(r'\r\n|\\[nrt]|"')
_TAG_OPEN = re.compile(r"<%(--|=|@)?")
_INCLUDE = re.compile(r'\s*include\s+file\s*=\s*"([^"\s]+)"')
_BLANKS = re.compile(r"[ \t]*")


def _escape_text(text):
    """Text between tags as the body of a triple-double-quoted literal."""
    def replace(match):
        found = match.group(0)
        if found == "\r\n":
            return "\n"
        if found == '"':
            return '\\"'
        return "\\" + found  # backslash-n/r/t: print the backslash
    return _TEXT_SPECIAL.sub(replace, text)


def _decode(data):
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


class _Translator:
    """One translation: the output so far, the lexer mode, and the current
    indent, fed with the page and then with each included file."""

    def __init__(self, directory=None):
        self.directory = directory
        self.out = ['req.write("""']
        self.mode = _TEXT
        self.code = []          # the code block being read
        self.indent = ""        # where the next text write starts

    # -- input -----------------------------------------------------------

    def feed(self, text, depth=0):
        pos, end = 0, len(text)
        while pos < end:
            if self.mode == _TEXT:
                pos = self._text(text, pos, depth)
            else:
                pos = self._code(text, pos)

    def finish(self):
        if self.mode != _TEXT:  # a page that ends inside <% ... : close it
            self._close_block()
        self.out.append('""",0)\n')
        return "".join(self.out)

    # -- text and tags ---------------------------------------------------

    def _text(self, text, pos, depth):
        match = _TAG_OPEN.search(text, pos)
        if match is None:
            self.out.append(_escape_text(text[pos:]))
            return len(text)
        self.out.append(_escape_text(text[pos:match.start()]))
        kind = match.group(1)
        if kind == "--":
            close = text.find("--%>", match.end())
            return len(text) if close < 0 else close + 4
        if kind == "@":
            return self._directive(text, match.end(), depth)
        if kind == "=":
            self.out.append('""",0); req.write(str(')
            self.mode = _ECHO
        else:
            self.out.append('""",0); ')
            self.mode = _CODE
        self.code = []
        return match.end()

    def _directive(self, text, pos, depth):
        close = text.find("%>", pos)
        body = text[pos:] if close < 0 else text[pos:close]
        match = _INCLUDE.match(body)
        if match is not None:
            self._include(match.group(1), depth)
        return len(text) if close < 0 else close + 2

    def _include(self, path, depth):
        if depth >= _MAX_INCLUDE_DEPTH:
            raise RecursionError("PSP include nesting deeper than %d at %r"
                                 % (_MAX_INCLUDE_DEPTH, path))
        if self.directory and not path.startswith("/"):
            path = self.directory + path
        with open(path, "rb") as f:
            included = _decode(f.read())
        self.feed(included, depth + 1)
        if self.mode != _TEXT:  # tags do not span files
            self._close_block()

    # -- code ------------------------------------------------------------

    def _code(self, text, pos):
        close = text.find("%>", pos)
        if close < 0:
            self.code.append(text[pos:])
            return len(text)
        self.code.append(text[pos:close])
        self._close_block()
        return close + 2

    def _close_block(self):
        code = "".join(self.code).replace("\r\n", "\n").replace("\r", "\n")
        self.code = []
        if self.mode == _ECHO:
            self.out.append(code + '),0); req.write("""')
        else:
            self.out.append(self._code_with_indent(code) + 'req.write("""')
        self.mode = _TEXT

    def _code_with_indent(self, code):
        """The block as emitted, followed by the blanks that put the next
        write at the current indent (upstream's rule, python-api.md §16.1).

        The indent starts empty at each `<%`. After each newline in the
        code, the blanks that begin the next line become the indent; an
        empty line, or a line that starts with code, resets it; but `%>`
        at the very start of a line keeps the indent of the line before.
        So the indent of the block's last code line, even a comment line,
        persists into the text that follows, and a block whose last line is
        at column 0 ends an indented block. A trailing colon adds a tab."""
        lines = code.split("\n")
        after_colon = code.rstrip(" \t\n").endswith(":")
        if len(lines) == 1:
            # No newline: the write follows on the same line, after a ';'.
            # (A one-line `if x:` block stays invalid, as upstream.)
            return code + ";" + ("\t" if after_colon else "")
        indent = ""
        for number, line in enumerate(lines[1:], 1):
            if number == len(lines) - 1 and line == "":
                break  # `%>` at the start of a line: the indent stays
            indent = _BLANKS.match(line).group(0)
        last_line = lines[-1]
        if not last_line.strip(" \t"):
            # Nothing or only blanks before `%>`: the indent is emitted once,
            # here (leniency: upstream emits such blanks twice, an
            # IndentationError).
            code = code[:len(code) - len(last_line)]
            separator = indent
        elif last_line.rstrip(" \t").endswith(":"):
            # `for x in y:%>text`: one line, the write is the loop's body.
            separator = ""
        else:
            # Code right before `%>` (leniency: upstream runs the write
            # into it, a SyntaxError).
            separator = ";"
        self.indent = indent
        return code + separator + ("\t" if after_colon else "")


def parse(filename, dir=None):
    """Python source for the PSP file `filename`. With `dir`, the file read
    is dir + filename (plain concatenation) and relative includes are
    looked up the same way."""
    path = dir + filename if dir else filename
    with open(path, "rb") as f:
        page = _decode(f.read())
    translator = _Translator(dir)
    translator.feed(page)
    return translator.finish()


def parsestring(text):
    """Python source for the PSP page `text` (bytes, or a str that is
    Latin-1 encodable as upstream requires)."""
    if isinstance(text, str):
        text.encode("latin-1")  # raises UnicodeEncodeError like upstream
    elif isinstance(text, (bytes, bytearray)):
        text = _decode(bytes(text))
    else:
        raise TypeError("parsestring() argument must be str or bytes, not %s"
                        % type(text).__name__)
    translator = _Translator()
    translator.feed(text)
    return translator.finish()
