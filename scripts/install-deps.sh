#!/usr/bin/env bash
# install-deps.sh - installs the Debian packages that building, testing,
# benchmarking and the demo need, and only those that are missing.
#
# Idempotent and quick when everything is present (one dpkg-query, no
# network). Meant for a fresh Debian 12 run as root (CI). It never leaves a
# system Apache running or a Python module enabled in /etc/apache2: Hydra's
# servers all use generated configurations, and the benchmark peers
# (Debian's mod_python and mod_wsgi) are loaded by path from those.
set -euo pipefail

# shellcheck source=scripts/common.sh
. "$(dirname "$0")/common.sh"

PACKAGES=(
    apache2                 # /usr/sbin/apache2 and its modules
    apache2-dev             # apxs, httpd and APR headers
    python3-dev             # Debian's CPython 3.11 headers and libpython
    python3-pytest          # the test runner (`make test`)
    curl                    # demo instructions, tests' smoke checks
    wrk                     # load generator for bench/
    python3-flask           # bench scenario (e2) and the pooled Flask test
    python3-venv            # tests/test_virtualenv.py makes venvs with -m venv
    libapache2-mod-python   # benchmark peer: mod_python 3.5
    libapache2-mod-wsgi-py3 # benchmark peer: mod_wsgi
    patchelf                # relocates a copied CPython (scripts/python-home.sh)
    gcc
    make
    binutils                # nm: the build checks the python_module export
    util-linux              # runuser, flock
    clang                   # fuzz/: libFuzzer targets (make fuzz-run)
    libclang-rt-14-dev      # clang's libFuzzer, ASan and UBSan runtimes
    llvm                    # llvm-symbolizer: readable sanitizer stack traces
    clang-format            # make lint: the committed .clang-format
    cppcheck                # make lint: static checks of src/
    redis-server            # session stores: private servers started by the tests
    memcached
    python3-redis           # mod_python.Session's RedisSession
    python3-prometheus-client # tests/test_metrics.py parses ?prometheus with it
    python3-pymemcache      # mod_python.Session's MemcachedSession
    iproute2                # the multi-node test's network namespaces
    debhelper               # make deb (dh, dh_apache2 comes with apache2-dev)
    dh-python               # make deb: dh_python3
    lintian                 # make package-test
    debootstrap             # make package-test: a clean Debian 12 chroot
    python3-starlette       # mod_python.asgi tests and bench scenario d
    python3-fastapi
    python3-multipart       # FastAPI forms and uploads
    python3-uvicorn         # bench scenario d: the peer
)
# Debian modules those packages enable on install; our servers never use
# /etc/apache2, and the system Apache must not load a second python_module.
MODULES_TO_DISABLE=(python wsgi)

missing_packages() {
    local pkg status
    for pkg in "${PACKAGES[@]}"; do
        status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
        [ "$status" = "install ok installed" ] || printf '%s\n' "$pkg"
    done
}

# Package scripts would start the system Apache on *:80. Deny service
# starts for the duration of the install, unless a policy already exists.
install_packages() {
    local policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "$@" </dev/null
}

disable_system_modules() {
    local mod
    for mod in "${MODULES_TO_DISABLE[@]}"; do
        if [ -e "/etc/apache2/mods-enabled/$mod.load" ]; then
            a2dismod -q "$mod" >/dev/null
            say "install-deps: disabled the system Apache's $mod module (Hydra's servers use their own configs)"
        fi
    done
}

main() {
    [ "$(id -u)" = 0 ] || die "run as root (it uses apt-get)"
    local missing
    mapfile -t missing < <(missing_packages)
    if [ "${#missing[@]}" -gt 0 ]; then
        say "install-deps: installing ${missing[*]}"
        install_packages "${missing[@]}"
    fi
    disable_system_modules
    say "install-deps: all dependencies present"
}

main "$@"
