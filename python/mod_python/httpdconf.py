"""mod_python.httpdconf: builds Apache configuration text from Python
objects (python-api.md §19). str() of an object is the configuration text;
repr() is the Python expression that builds it.

    conf = Container(
        Listen("127.0.0.1:8080"),
        Directory("/srv/www",
                  SetHandler("mod_python"),
                  PythonHandler("mod_python.publisher")))
    open("httpd.conf", "w").write(str(conf))

This module does not need httpd: it imports nothing from _apache.
"""

import os

_INDENT = "  "


def _flip(value, flipslash):
    # Backslashes only separate paths on Windows; elsewhere they are data
    # (regular expressions in FilesMatch and the like).
    if flipslash and os.sep == "\\" and isinstance(value, str):
        return value.replace("\\", "/")
    return value


def _render(item, indent):
    if hasattr(item, "render"):
        return item.render(indent)
    return _INDENT * indent + str(item) + "\n"


class Directive:
    """One directive line: `name value`."""

    def __init__(self, name, val, flipslash=1):
        self.name = name
        self.flipslash = flipslash
        if isinstance(val, (list, tuple)):
            val = " ".join(str(part) for part in val)
        self.val = _flip(val, flipslash)

    def value_text(self):
        return "%s" % (self.val,)

    def render(self, indent=0):
        return "%s%s %s\n" % (_INDENT * indent, self.name, self.value_text())

    def __str__(self):
        return self.render()

    def __repr__(self):
        if type(self) is Directive:
            return "Directive(%r, %r)" % (self.name, self.val)
        return "%s(%r)" % (type(self).__name__, self.val)


class Comment:
    """Comment lines."""

    def __init__(self, text):
        self.text = text

    def render(self, indent=0):
        return "".join("%s# %s\n" % (_INDENT * indent, line)
                       for line in str(self.text).splitlines() or [""])

    def __str__(self):
        return self.render()

    def __repr__(self):
        return "Comment(%r)" % (self.text,)


def _condition_holds(only_if):
    """Evaluates an only_if expression; `mod_python` (with `version`) is in
    scope, e.g. "mod_python.version.HTTPD_VERSION[0:3] == '2.4'"."""
    import mod_python
    import mod_python.version  # noqa: F401 - makes mod_python.version available
    return bool(eval(only_if, {"mod_python": mod_python, "os": os}))


class Container:
    """A sequence of configuration items, rendered one after the other.
    With only_if (a Python expression) the items render only if it is true
    when the text is made."""

    def __init__(self, *args, **kwargs):
        self.args = list(args)
        self.only_if = kwargs.pop("only_if", None)
        if kwargs:
            raise TypeError("unexpected keyword arguments: %s" % ", ".join(kwargs))

    def append(self, item):
        self.args.append(item)

    def render_items(self, indent):
        return "".join(_render(item, indent) for item in self.args)

    def render(self, indent=0):
        if self.only_if and not _condition_holds(self.only_if):
            return ""
        return self.render_items(indent)

    def __str__(self):
        return self.render()

    def _repr_items(self):
        parts = [repr(item) for item in self.args]
        if self.only_if:
            parts.append("only_if=%r" % (self.only_if,))
        return ", ".join(parts)

    def __repr__(self):
        return "Container(%s)" % self._repr_items()


class ContainerTag(Container):
    """A section: <tag attr> items </tag>."""

    def __init__(self, tag, attr, args, flipslash=1):
        Container.__init__(self, *args)
        self.tag = tag
        self.attr = _flip(attr, flipslash)
        self.flipslash = flipslash

    def render(self, indent=0):
        if self.only_if and not _condition_holds(self.only_if):
            return ""
        pad = _INDENT * indent
        return "%s<%s %s>\n%s%s</%s>\n" % (pad, self.tag, self.attr,
                                          self.render_items(indent + 1), pad, self.tag)

    def __repr__(self):
        if type(self) is ContainerTag:
            return "ContainerTag(%r, %r, [%s])" % (self.tag, self.attr, self._repr_items())
        items = self._repr_items()
        return "%s(%r%s)" % (type(self).__name__, self.attr, ", " + items if items else "")


def _section(tag):
    def __init__(self, attr, *args, **kwargs):
        ContainerTag.__init__(self, tag, attr, args, kwargs.pop("flipslash", 1))
        self.only_if = kwargs.pop("only_if", None)
        if kwargs:
            raise TypeError("unexpected keyword arguments: %s" % ", ".join(kwargs))
    return type(tag, (ContainerTag,), {"__init__": __init__,
                                       "__doc__": "<%s ...> section." % tag})


def _directive(name):
    def __init__(self, val, flipslash=1):
        Directive.__init__(self, name, val, flipslash)
    return type(name, (Directive,), {"__init__": __init__,
                                     "__doc__": "The %s directive." % name})


_SECTIONS = ("Directory", "DirectoryMatch", "Files", "FilesMatch", "IfDefine",
             "IfModule", "IfVersion", "Limit", "LimitExcept", "Location",
             "LocationMatch", "VirtualHost")

_DIRECTIVES = (
    # httpd core and common modules
    "AcceptMutex", "AddHandler", "AddInputFilter", "AddOutputFilter", "AddType",
    "Alias", "AllowOverride", "AuthBasicAuthoritative", "AuthBasicProvider",
    "AuthName", "AuthType", "AuthUserFile", "CoreDumpDirectory", "CustomLog",
    "DefaultRuntimeDir", "DirectoryIndex", "DocumentRoot", "ErrorLog", "Group",
    "Header", "HostnameLookups", "Include", "IncludeOptional", "KeepAlive",
    "KeepAliveTimeout", "Listen", "LoadModule", "LockFile", "LogFormat",
    "LogLevel", "MaxClients", "MaxConnectionsPerChild", "MaxKeepAliveRequests",
    "MaxRequestWorkers", "MaxRequestsPerChild", "MaxSpareServers",
    "MaxSpareThreads", "MinSpareServers", "MinSpareThreads", "Mutex",
    "NameVirtualHost", "Options", "PidFile", "Require", "ScoreBoardFile",
    "ScriptAlias", "ServerAdmin", "ServerAlias", "ServerLimit", "ServerName",
    "ServerPath", "ServerRoot", "SetHandler", "SetInputFilter",
    "SetOutputFilter", "StartServers", "StartThreads", "ThreadLimit",
    "ThreadsPerChild", "Timeout", "TypesConfig", "UseCanonicalName", "User",
    # mod_python / Hydra
    "PythonAccessHandler", "PythonAuthenHandler", "PythonAuthzHandler",
    "PythonAutoReload", "PythonCleanupHandler", "PythonConnectionHandler",
    "PythonDebug", "PythonEnablePdb", "PythonFixupHandler", "PythonHandler",
    "PythonHandlerModule", "PythonHeaderParserHandler", "PythonImport",
    "PythonInitHandler", "PythonInputFilter", "PythonInterpGIL",
    "PythonInterpPerDirective", "PythonInterpPerDirectory", "PythonInterpreter",
    "PythonLogHandler", "PythonOptimize", "PythonOption", "PythonOutputFilter",
    "PythonPostReadRequestHandler", "PythonTransHandler", "PythonTypeHandler",
)

for _name in _SECTIONS:
    globals()[_name] = _section(_name)
for _name in _DIRECTIVES:
    globals()[_name] = _directive(_name)
del _name


class PythonPath(Directive):
    """PythonPath takes one Python expression, which usually contains
    spaces or quotes: it is written as one double-quoted argument."""

    def __init__(self, val, flipslash=1):
        Directive.__init__(self, "PythonPath", val, flipslash)

    def value_text(self):
        text = "%s" % (self.val,)
        if len(text) >= 2 and text[0] == text[-1] == '"':
            return text
        return '"%s"' % text.replace('"', '\\"')
