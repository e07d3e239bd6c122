#!/usr/bin/env bash
# python-home.sh - decides, and if needed makes, the Python installation
# that mod_hydra.so is built against and that its Apache children use.
#
# Why: Apache starts as root but Python starts in the children, after they
# switched to the run user (www-data). A CPython installed under a private
# directory (pyenv under /root, mode 0700) loads fine in the root parent,
# then cannot read its own standard library in the child. For such a Python
# we make a world-readable copy of its installation prefix, by default
# /opt/hydra/python-<X.Y.Z>, and build and link against the copy.
#
# Usage: python-home.sh [--print|--make|--force] PYTHON
#   --print  print the prefix the module must use (the Python's own prefix
#            when the run user can read it, else where the copy goes); no
#            side effects. This is the default.
#   --make   like --print, but first make the copy if it is needed and is
#            missing or older than the source (idempotent).
#   --force  make the copy again even if it looks current.
# Environment: HYDRA_PYTHON_HOMES (default /opt/hydra) is where copies go;
# HYDRA_RUN_USER (default www-data) is the Apache child user.
set -euo pipefail

# shellcheck source=scripts/common.sh
. "$(dirname "$0")/common.sh"

HOMES_DIR=${HYDRA_PYTHON_HOMES:-/opt/hydra}
MARKER=.hydra-python-home

usage() { die "usage: ${0##*/} [--print|--make|--force] PYTHON"; }

mode=print
case "${1:-}" in
--print) mode="print"; shift ;;
--make) mode="make"; shift ;;
--force) mode="force"; shift ;;
-*) usage ;;
esac
[ $# -eq 1 ] || usage
python=$1
[ -x "$python" ] || die "$python is not an executable Python"

# One query: base prefix, stdlib dir, full version, shared-libpython flag.
{
    read -r src_prefix
    read -r src_stdlib
    read -r full_version
    read -r enable_shared
    read -r ldlibrary
} < <("$python" -c '
import platform, sys, sysconfig
print(sys.base_prefix)
print(sysconfig.get_path("stdlib"))
print(platform.python_version() + sys.abiflags)
print(sysconfig.get_config_var("Py_ENABLE_SHARED") or 0)
print(sysconfig.get_config_var("LDLIBRARY") or "")
')

dest="$HOMES_DIR/python-$full_version"

needs_copy() {
    ! run_user_can_read "$src_stdlib/os.py"
}

copy_is_current() {
    [ -f "$dest/$MARKER" ] || return 1
    [ "$(head -n1 "$dest/$MARKER")" = "$src_prefix" ] || return 1
    # A reinstalled source (pyenv install -f) makes the copy stale.
    [ ! "$src_prefix/lib/$ldlibrary" -nt "$dest/$MARKER" ]
}

# Rewrites RUNPATHs that name the private prefix (pyenv links bin/python3
# and every extension module with -rpath <prefix>/lib) so that the copy's
# own python3 runs as the run user too.
relocate_runpaths() {
    local root=$1 file rpath
    if ! command -v patchelf >/dev/null 2>&1; then
        warn "patchelf missing: $dest/bin/python3 will only run as root (the module is unaffected)"
        return 0
    fi
    while IFS= read -r -d '' file; do
        rpath=$(patchelf --print-rpath "$file" 2>/dev/null) || continue
        case "$rpath" in
        *"$src_prefix"*) patchelf --set-rpath "${rpath//$src_prefix/$dest}" "$file" ;;
        esac
    done < <(find "$root" -type f \( -name '*.so' -o -name '*.so.*' -o -perm -u+x \) -print0)
}

make_copy() {
    local tmp
    mkdir -p "$HOMES_DIR"
    chmod a+rx "$HOMES_DIR"
    others_can_traverse "$HOMES_DIR" ||
        die "$HOMES_DIR sits under a directory the run user cannot enter; set HYDRA_PYTHON_HOMES"
    tmp=$(mktemp -d "$dest.tmp.XXXXXX")
    say "python-home: copying $src_prefix to $dest (world-readable, for the Apache children)" >&2
    cp -a "$src_prefix/." "$tmp/"
    relocate_runpaths "$tmp"
    printf '%s\n' "$src_prefix" >"$tmp/$MARKER"
    chmod -R a+rX "$tmp"
    chmod a+rx "$tmp"
    rm -rf "$dest"
    mv "$tmp" "$dest"
}

ensure_copy() {
    # Two builds at once (make -j, parallel CI jobs) must not race.
    exec 9>"$HOMES_DIR/.lock"
    flock 9
    if [ "$mode" = force ] || ! copy_is_current; then
        make_copy
    fi
    exec 9>&-
}

[ "$enable_shared" = 1 ] ||
    die "$python has no shared libpython (Py_ENABLE_SHARED=0); rebuild it with --enable-shared (pyenv: PYTHON_CONFIGURE_OPTS=--enable-shared)"

if ! needs_copy; then
    printf '%s\n' "$src_prefix"
    exit 0
fi
if [ "$mode" != print ]; then
    [ "$(id -u)" = 0 ] || die "making $dest needs root"
    mkdir -p "$HOMES_DIR"
    ensure_copy
fi
printf '%s\n' "$dest"
