"""
interpreters.md §11: the optional functions mod_python exports to other
Apache modules. A small C module (tests/optfn_probe), built here with apxs
against the Python the module under test uses, acquires an interpreter by
name through mp_acquire_interpreter, gets the request object with
mp_get_request_object and reads req.interpreter from it.
"""

import os
import shutil
import subprocess

import pytest

import harness
from harness import ApacheServer

PROBE_SRC = os.path.join(os.path.dirname(__file__), "optfn_probe", "mod_optfn_probe.c")


def python_build_flags():
    """-I, -L and -l flags for the Python the module under test embeds (the
    probe calls the C API, so it links libpython like any embedding module)."""
    out = subprocess.run([harness.HYDRA_PYTHON, "-c",
                          "import sysconfig as s; print(s.get_paths()['include']); "
                          "print(s.get_config_var('LIBDIR')); "
                          "print(s.get_config_var('LDVERSION'))"],
                         capture_output=True, text=True, check=True)
    include, libdir, ldversion = out.stdout.split()
    return ["-I" + include, "-L" + libdir, "-Wl,-rpath," + libdir, "-lpython" + ldversion]


@pytest.fixture(scope="module")
def probe_so(tmp_path_factory):
    work = tmp_path_factory.mktemp("optfn")
    src = work / "mod_optfn_probe.c"
    shutil.copy(PROBE_SRC, src)
    subprocess.run(["apxs", "-c"] + python_build_flags() + [str(src)], cwd=work, check=True,
                   capture_output=True)
    return str(work / ".libs" / "mod_optfn_probe.so")


@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_other_module_runs_python_in_a_named_interpreter(probe_so, mpm):
    config = "LoadModule optfn_probe_module %s\n<Location /probe>\n    SetHandler optfn-probe\n</Location>\n" % probe_so
    with ApacheServer(config, mpm=mpm) as server:
        assert server.get("/probe").body == "probe_interp"
        assert server.get("/probe?other_name").body == "other_name"
        assert server.get("/probe?main_interpreter").body == "main_interpreter"
        assert not server.crash_lines()
