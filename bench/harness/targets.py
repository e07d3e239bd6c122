"""The things being measured, and the Apache config each needs per scenario.

Every target answers the same URL with the same bytes; only the module that
produces them differs. Hydra and mod_python share the mod_python API, so
they share handlers and config and differ in module, environment and GIL
mode."""

import os

from .stage import linked_python

HELLO_URL = "/hello"
CPU_URL = "/cpu"
VHOSTS = ("a.bench", "b.bench")


class Target:
    """Base: a name for the tables, LoadModule lines, environment, and per-scenario config."""

    key = ""
    label = ""
    gil = ""

    def __init__(self):
        self.env = {}

    def prepare(self, stage):
        """Put what the children will read into the stage, once per run."""

    def load(self, stage):
        return ""

    def hello(self, stage):
        raise NotImplementedError

    def cpu_vhost(self, stage, vhost):
        raise NotImplementedError

    def per_directory(self, stage):
        raise NotImplementedError


class Ceiling(Target):
    key, label = "ceiling", "C ceiling (mod_ceiling)"

    def __init__(self, so):
        super().__init__()
        self.so = so

    def load(self, stage):
        return f"LoadModule ceiling_module {self.so}"

    def hello(self, stage):
        return f"<Location {HELLO_URL}>\n    SetHandler ceiling\n</Location>"


class StaticFile(Target):
    key, label = "static", "static file"

    def hello(self, stage):
        # docroot/hello holds the 12 bytes; it has no extension, so name its type.
        return f"<Location {HELLO_URL}>\n    ForceType text/plain\n</Location>"


class ModPythonApi(Target):
    """Hydra or Debian's mod_python 3.5: LoadModule python_module, mod_python directives."""

    def __init__(self, key, label, so, gil="", python=None, hydra=True, directives=""):
        super().__init__()
        self.key, self.label, self.so, self.gil, self.hydra = key, label, so, gil, hydra
        self.python = python or linked_python(so)
        # Server-level lines for Hydra only (bench/run.py --hydra-directives).
        self.directives = directives if hydra else ""

    def prepare(self, stage):
        """Stage what the children read; set PYTHONPATH/PYTHONHOME for Hydra only
        (Debian's mod_python finds its own package in dist-packages)."""
        stage.compile_apps(self.python.executable if self.python else None)
        if self.hydra:
            self.env["PYTHONPATH"] = stage.stage_hydra_package(self.python)
            home = stage.python_home(self.python)
            if home:
                self.env["PYTHONHOME"] = home

    def load(self, stage):
        return f"LoadModule python_module {self.so}" + (f"\n{self.directives}" if self.directives else "")

    def _handler(self, stage, module, indent="    "):
        lines = [
            "SetHandler mod_python",
            f"PythonHandler {module}",
            f"PythonPath \"['{stage.apps}'] + sys.path\"",
        ]
        if self.gil == "own":
            lines.append("PythonInterpGIL own")
        return "\n".join(indent + line for line in lines)

    def hello(self, stage):
        return f"<Location {HELLO_URL}>\n{self._handler(stage, 'hello')}\n</Location>"

    def cpu_vhost(self, stage, vhost):
        # The default interpreter name is the vhost's ServerName: one interpreter per vhost.
        return f"<Location {CPU_URL}>\n{self._handler(stage, 'cpu')}\n</Location>"

    def per_directory(self, stage):
        return (
            f'<Directory "{stage.interp_root}">\n{self._handler(stage, "interp")}\n'
            "    PythonInterpPerDirectory On\n</Directory>"
        )


class ModWsgi(Target):
    key, label = "mod_wsgi", "mod_wsgi 4.9 (embedded)"

    def __init__(self, so):
        super().__init__()
        self.so = so

    def prepare(self, stage):
        stage.compile_apps("/usr/bin/python3")

    def load(self, stage):
        # WSGIDestroyInterpreter Off: without it the event child often hangs in
        # interpreter teardown until Apache SIGKILLs it, ~10 s per stop. It
        # only changes what happens at child exit, not how requests are served.
        return f"LoadModule wsgi_module {self.so}\nWSGIPythonPath {stage.apps}\nWSGIDestroyInterpreter Off"

    def hello(self, stage):
        return f"WSGIScriptAlias {HELLO_URL} {os.path.join(stage.apps, 'hello.wsgi')}"

    def cpu_vhost(self, stage, vhost):
        # One application group (sub-interpreter) per vhost, like Hydra's one interpreter per vhost.
        return (
            f"WSGIScriptAlias {CPU_URL} {os.path.join(stage.apps, 'cpu.wsgi')}\n"
            f"WSGIApplicationGroup {vhost}"
        )


def vhosts_config(target, stage):
    """Two name-based virtual hosts, each mapped to its own interpreter by the target."""
    blocks = []
    for vhost in VHOSTS:
        inner = "\n".join("    " + line for line in target.cpu_vhost(stage, vhost).splitlines())
        blocks.append(
            f"<VirtualHost *:*>\n    ServerName {vhost}\n"
            f'    DocumentRoot "{stage.docroot}"\n{inner}\n</VirtualHost>'
        )
    return "\n".join(blocks)
