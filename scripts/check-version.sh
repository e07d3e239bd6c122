#!/usr/bin/env bash
# check-version.sh - every copy of the version numbers against the one
# place they are set, python/mod_python/version.py.
#
#   version = "3.5.0"        the mod_python API; src/hydra.h HYDRA_MP_VERSION
#   hydra_version = "0.1.0"  Hydra's release; src/hydra.h HYDRA_VERSION, the
#                            top entry of debian/changelog, and the newest
#                            "## [X.Y.Z]" release in CHANGELOG.md (none yet
#                            is fine; a newer version than the newest
#                            release needs an "## [Unreleased]" section)
#
# Run by `make lint` and by debian/rules before the package is built.
# Prints each difference and exits 1 if there is one; with --print, prints
# hydra_version and exits.
set -euo pipefail
cd "$(dirname "$0")/.."

status=0
problem() {
    echo "check-version: $*" >&2
    status=1
}

# The string assigned to $1 at the start of a line of version.py.
py_value() {
    sed -nE "s/^$1[[:space:]]*=[[:space:]]*\"([^\"]+)\".*/\\1/p" python/mod_python/version.py
}
# The string a #define gives $1 in src/hydra.h.
c_value() {
    sed -nE "s/^#define[[:space:]]+$1[[:space:]]+\"([^\"]+)\".*/\\1/p" src/hydra.h
}

mp_version=$(py_value version)
hydra_version=$(py_value hydra_version)
[ -n "$mp_version" ] || problem "no version = \"...\" in python/mod_python/version.py"
[ -n "$hydra_version" ] || problem "no hydra_version = \"...\" in python/mod_python/version.py"
[ "$status" = 0 ] || exit 1

if [ "${1:-}" = --print ]; then
    echo "$hydra_version"
    exit 0
fi

[ "$(c_value HYDRA_MP_VERSION)" = "$mp_version" ] ||
    problem "src/hydra.h HYDRA_MP_VERSION is \"$(c_value HYDRA_MP_VERSION)\", version.py version is \"$mp_version\""
[ "$(c_value HYDRA_VERSION)" = "$hydra_version" ] ||
    problem "src/hydra.h HYDRA_VERSION is \"$(c_value HYDRA_VERSION)\", version.py hydra_version is \"$hydra_version\""

# debian/changelog: a native package, so its version is the release itself.
deb_version=$(sed -nE '1s/^[a-z0-9.+-]+ \(([^)]+)\).*/\1/p' debian/changelog 2>/dev/null || true)
[ "$deb_version" = "$hydra_version" ] ||
    problem "debian/changelog's top entry is \"${deb_version:-none}\", version.py hydra_version is \"$hydra_version\"" \
        "(add an entry: dch -v $hydra_version, or edit debian/changelog)"

# CHANGELOG.md: the newest release heading is this version, or an older one
# with the work towards this version under [Unreleased].
newest=$(sed -nE 's/^## \[([0-9][^]]*)\].*/\1/p' CHANGELOG.md | head -n 1)
if [ -n "$newest" ] && [ "$newest" != "$hydra_version" ]; then
    if ! dpkg --compare-versions "$hydra_version" gt "$newest"; then
        problem "CHANGELOG.md's newest release is $newest, newer than version.py hydra_version $hydra_version"
    elif ! grep -qE '^## \[Unreleased\]' CHANGELOG.md; then
        problem "CHANGELOG.md has no [$hydra_version] and no [Unreleased] section (newest release: $newest)"
    fi
fi

[ "$status" = 0 ] && echo "version ok: Hydra $hydra_version, mod_python API $mp_version"
exit "$status"
