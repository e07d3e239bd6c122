"""The staging area: one world-readable directory under /tmp per benchmark run.

Apache's children run as www-data, so everything they read (handlers, the
static file, the Hydra Python package, the ceiling module) is copied here
rather than read from the work tree, which may sit under a private home.
The stage also owns the per-instance ServerRoots and is removed at the end."""

import compileall
import os
import re
import shutil
import stat
import subprocess
import tempfile

BENCH_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO_DIR = os.path.dirname(BENCH_DIR)

BODY = b"Hello world!"
INTERP_DIRS = 50

# Parts of a CPython stdlib that no handler imports; left out of a staged home.
_STDLIB_SKIP = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "site-packages"}


def others_can_reach(path):
    """True if every directory above path lets others in (www-data can reach it)."""
    path = os.path.abspath(path)
    while True:
        parent = os.path.dirname(path)
        if parent == path:
            return True
        if not os.stat(parent).st_mode & stat.S_IXOTH:
            return False
        path = parent


class Stage:
    def __init__(self, keep=False, bytecode=True, hydra_package=None):
        self.root = tempfile.mkdtemp(prefix="hydra-bench-", dir="/tmp")
        self.keep = keep
        # False: neither the Hydra package nor the handlers are byte-compiled,
        # and the children (www-data) cannot write __pycache__ here, like a
        # package run from a source tree they cannot write.
        self.bytecode = bytecode
        self.hydra_package = hydra_package or os.path.join(REPO_DIR, "python", "mod_python")
        self._instances = 0
        self._python_homes = {}
        os.chmod(self.root, 0o755)
        self.apps = self._copy_tree(os.path.join(BENCH_DIR, "apps"), "apps")
        self.docroot = self._make_docroot()
        self.interp_root = self._make_interp_dirs()
        self._compiled_apps_for = set()

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def _copy_tree(self, source, name):
        dest = self.path(name)
        shutil.copytree(source, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        _open_up(dest)
        return dest

    def _make_docroot(self):
        docroot = self.path("docroot")
        os.makedirs(docroot)
        _write(os.path.join(docroot, "hello"), BODY)
        _write(os.path.join(docroot, "ready"), b"ready\n")
        _open_up(docroot)
        return docroot

    def _make_interp_dirs(self):
        """docroot/interps/d00 .. d49, one page each: PythonInterpPerDirectory makes one interpreter per folder."""
        root = os.path.join(self.docroot, "interps")
        for i in range(INTERP_DIRS):
            folder = os.path.join(root, f"d{i:02d}")
            os.makedirs(folder)
            _write(os.path.join(folder, "page"), b"")
        _open_up(root)
        return root

    def new_server_root(self, label):
        self._instances += 1
        root = self.path("instances", f"{self._instances:03d}-{label}")
        for sub in ("conf", "logs", "run"):
            os.makedirs(os.path.join(root, sub))
        os.chmod(self.path("instances"), 0o755)
        os.chmod(root, 0o755)
        return root

    def build_ceiling(self):
        """Build bench/mod_ceiling.c with apxs in the stage; return the .so path."""
        build = self.path("ceiling")
        os.makedirs(build)
        shutil.copy(os.path.join(BENCH_DIR, "mod_ceiling.c"), build)
        proc = subprocess.run(
            ["apxs", "-c", "mod_ceiling.c"], cwd=build, capture_output=True, text=True
        )
        so = os.path.join(build, ".libs", "mod_ceiling.so")
        if proc.returncode != 0 or not os.path.exists(so):
            raise RuntimeError("apxs -c mod_ceiling.c failed:\n" + proc.stdout + proc.stderr)
        _open_up(build)
        return so

    def compile_apps(self, python):
        """Byte-compile the handlers for one Python, so no child pays for compiling them."""
        if python and python not in self._compiled_apps_for and self.bytecode:
            _compile(python, self.apps)
            self._compiled_apps_for.add(python)

    def stage_hydra_package(self, python_info):
        """Copy python/mod_python for Hydra and compile it; return the PYTHONPATH entry."""
        dest = self.path(f"hydra-py{python_info.version}")
        if not os.path.isdir(dest):
            os.makedirs(dest)
            shutil.copytree(
                self.hydra_package,
                os.path.join(dest, "mod_python"),
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            )
            if self.bytecode:
                _compile(python_info.executable, dest)
            _open_up(dest)
        return dest

    def python_home(self, python_info):
        """PYTHONHOME for a CPython www-data cannot read (e.g. under /root/.pyenv), else None.

        The stdlib is hard-linked (copied if linking fails) into the stage."""
        if others_can_reach(python_info.stdlib):
            return None
        if python_info.version in self._python_homes:
            return self._python_homes[python_info.version]
        home = self.path(f"pyhome-{python_info.version}")
        _link_tree(python_info.stdlib, os.path.join(home, "lib", f"python{python_info.version}"))
        # Directories only: the files are hard links, and their modes belong to the source.
        _open_up(home, files=False)
        self._python_homes[python_info.version] = home
        return home

    def remove(self):
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)


class PythonInfo:
    """The CPython a module is linked against: version, stdlib directory, executable."""

    def __init__(self, version, libpython):
        self.version = version
        self.libpython = libpython
        prefix = os.path.dirname(os.path.dirname(libpython))
        candidates = [
            (os.path.join(prefix, "lib", f"python{version}"), os.path.join(prefix, "bin", f"python{version}")),
            (f"/usr/lib/python{version}", f"/usr/bin/python{version}"),
        ]
        self.stdlib, self.executable = next(
            ((lib, exe) for lib, exe in candidates if os.path.isfile(os.path.join(lib, "os.py"))),
            candidates[-1],
        )
        if not os.path.exists(self.executable):
            self.executable = shutil.which(f"python{version}")

    @property
    def version_tuple(self):
        return tuple(int(v) for v in self.version.split("."))


def linked_python(module_path):
    """PythonInfo for the libpython a module links to (via ldd), or None."""
    proc = subprocess.run(["ldd", module_path], capture_output=True, text=True)
    match = re.search(r"libpython(\d+\.\d+)\S*\.so\S* => (\S+)", proc.stdout)
    if not match or match.group(2) == "not":
        return None
    return PythonInfo(match.group(1), os.path.realpath(match.group(2)))


def _compile(python, directory):
    if python and os.path.exists(python):
        subprocess.run([python, "-m", "compileall", "-q", directory], check=False, capture_output=True)
    else:
        compileall.compile_dir(directory, quiet=1)
    _open_up(directory)


def _link_tree(source, dest):
    for top, dirs, files in os.walk(source):
        rel = os.path.relpath(top, source)
        if rel == ".":
            dirs[:] = [d for d in dirs if d not in _STDLIB_SKIP]
        target_dir = os.path.normpath(os.path.join(dest, rel))
        os.makedirs(target_dir, exist_ok=True)
        for name in files:
            src, dst = os.path.join(top, name), os.path.join(target_dir, name)
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def _open_up(top, files=True):
    """World-traversable directories and (unless files=False) world-readable files."""
    for current, _dirs, names in os.walk(top):
        os.chmod(current, 0o755)
        for name in names if files else ():
            path = os.path.join(current, name)
            os.chmod(path, os.stat(path).st_mode | 0o444)
