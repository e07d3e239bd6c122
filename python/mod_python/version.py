"""Version and installation facts of this mod_python implementation.

``version`` is the mod_python API this implements; ``hydra_version`` is
Hydra's own release. This file is where both are set: HYDRA_MP_VERSION and
HYDRA_VERSION in src/hydra.h, the top entry of debian/changelog (the Debian
package) and the newest release in CHANGELOG.md follow it, and
scripts/check-version.sh, run by ``make lint`` and by the package build,
fails when one of them differs (the C module also warns about a
``version`` mismatch when it starts an interpreter). The other names describe a
Debian httpd installation; tests and the configuration generator use them.
The httpd and APR versions are read from the development headers when they
are installed, so they follow the machine rather than a hard-coded guess.
"""

import os
import sys

version = "3.5.0"
hydra_version = "0.1.0"

HTTPD = "/usr/sbin/apache2"
LIBEXECDIR = "/usr/lib/apache2/modules"
SYSCONFDIR = "/etc/apache2"


def _header_version(path, names, fallback):
    """Joins the numeric #defines `names` found in C header `path`."""
    try:
        with open(path, encoding="latin-1") as header:
            text = header.read()
    except OSError:
        return fallback
    import re  # here, not at the top: every interpreter imports this module

    parts = []
    for name in names:
        found = re.search(r"#define\s+%s\s+(\d+)" % name, text)
        if found is None:
            return fallback
        parts.append(found.group(1))
    return ".".join(parts)


_HEADER_VERSIONS = {
    "HTTPD_VERSION": ("/usr/include/apache2/ap_release.h",
                      ("AP_SERVER_MAJORVERSION_NUMBER", "AP_SERVER_MINORVERSION_NUMBER",
                       "AP_SERVER_PATCHLEVEL_NUMBER"),
                      "2.4"),
    "APR_VERSION": ("/usr/include/apr-1.0/apr_version.h",
                    ("APR_MAJOR_VERSION", "APR_MINOR_VERSION", "APR_PATCH_VERSION"),
                    "1.7"),
}


def __getattr__(name):
    # HTTPD_VERSION and APR_VERSION are read from the headers on first use
    # (PEP 562), not each time an interpreter imports this module.
    if name in _HEADER_VERSIONS:
        value = _header_version(*_HEADER_VERSIONS[name])
        globals()[name] = value
        return value
    raise AttributeError("module %r has no attribute %r" % (__name__, name))

# This file lives in <tree>/python/mod_python/ when run from a source tree;
# the build puts the module for Python X.Y in <tree>/build/pyX.Y/.
_TREE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TEST_MOD_PYTHON_SO = os.path.join(
    _TREE, "build", "py%d.%d" % sys.version_info[:2], "mod_hydra.so")
TESTHOME = os.path.join(_TREE, "tests")


def _python_bin():
    # Inside httpd sys.executable is not a Python interpreter.
    exe = sys.executable or ""
    if os.path.basename(exe).startswith("python"):
        return exe
    return "/usr/bin/python3"


PYTHON_BIN = _python_bin()
