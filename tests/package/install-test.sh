#!/usr/bin/env bash
# install-test.sh - the Debian package the way an Apache admin uses it, on a
# clean Debian 12 that this script makes and throws away.
#
#   tests/package/install-test.sh build/hydra_<version>_amd64.deb
#
# 1. lintian: no errors (warnings are printed).
# 2. A debootstrap chroot of bookworm (minbase) with Debian's apache2, in
#    /var/tmp; a policy-rc.d in it stops package scripts from starting
#    services. Nothing is installed on, or changed in, the host.
# 3. Clean install: apt-get install ./hydra.deb, a2enmod hydra, the system
#    apache2 of the chroot started with a site (tests/package/site/) that
#    has one content handler, one publisher page and one PSP page, on
#    127.0.0.1:<free port> only; each is requested. Then apt-get purge:
#    nothing the package installed is left, and apache2 starts without it.
# 4. Over libapache2-mod-python: installed and serving first, then the
#    package replaces it (removed, its module disabled and gone, every file
#    of mod_python/ owned by hydra) and the same pages are served by Hydra.
#
# Why a chroot, not this machine: installing the package removes
# libapache2-mod-python, which the benchmark needs on the host; other test
# runs use the host's apache2 and /usr/lib/python3 at the same time; and a
# fresh debootstrap is a clean Debian 12 by construction (it costs 30-110 s
# of the 1.5-4 minutes this takes on 2 cores).
#
# Every apache2 this script starts runs in the chroot and is stopped by its
# pid; on exit any process left with its root in the chroot (only ones this
# script started can be) is killed by pid and the chroot is removed. Every
# step has a timeout; `make package-test` bounds the whole at 480 s.
# Logs: build/package-test/ (next to the .deb). HYDRA_PACKAGE_MIRROR picks
# the Debian mirror; by default the host's own (the first bookworm source of
# its apt configuration), since a machine may reach only the mirror it is
# configured for, else deb.debian.org.
set -euo pipefail

deb=$(realpath "${1:?usage: $0 build/hydra_<version>_<arch>.deb}")
here=$(dirname "$(realpath "$0")")

# The URI of the host's first apt source for bookworm (deb822 .sources,
# then one-line .list files), or nothing. A missing file is normal: awk
# skips it, and `|| true` keeps set -e and pipefail from ending the script.
host_mirror() {
    awk '/^URIs:/ { uri = $2 }
         /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm" && !done) { print uri; done = 1 } }' \
        /etc/apt/sources.list.d/*.sources 2>/dev/null || true
    awk '$1 == "deb" && $3 == "bookworm" && !done { print $2; done = 1 }' \
        /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true
}
mirror=${HYDRA_PACKAGE_MIRROR:-$(host_mirror)}
mirror=${mirror%%$'\n'*}
mirror=${mirror:-http://deb.debian.org/debian}
logs=$(dirname "$deb")/package-test
started=$SECONDS
# The script's own output: a trap may run while a step's output goes to a log.
exec 3>&1 4>&2
root=
apache_pid=
child=

# Runs "$@" in the background and waits for it: bash runs a trap only
# between foreground commands, so this is what lets a TERM from `timeout`
# stop the script at once; cleanup then stops $child by its pid (each
# `timeout` below is in a process group of its own and passes the signal on).
run() {
    "$@" &
    child=$!
    local rc=0
    wait "$child" || rc=$?
    child=
    return "$rc"
}

step() { echo "== package-test [$((SECONDS - started))s]: $*"; }
fail() {
    echo "package-test: FAIL: $*" >&2
    exit 1
}

# Runs a command in the chroot, bounded, without the host's PATH or locale.
in_root() {
    local limit=$1
    shift
    timeout -k 10 "$limit" chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}
# apt-get in the chroot; its output goes to a log named $1.
apt_in_root() {
    local log=$logs/$1.log
    shift
    run in_root 150 apt-get -y -q -o Dpkg::Use-Pty=0 -o Dpkg::Options::=--force-unsafe-io "$@" >"$log" 2>&1 ||
        { tail -n 30 "$log" >&2; fail "apt-get $* (log: $log)"; }
}

# Processes whose root directory is the chroot: only the ones started here.
processes_in_root() {
    local proc
    for proc in /proc/[0-9]*; do
        [ "$(readlink "$proc/root" 2>/dev/null)" = "$root" ] && echo "${proc#/proc/}"
    done
    return 0
}

cleanup() {
    local rc=$? pids
    trap '' TERM INT # `timeout` signals the whole group: finish cleaning up
    if [ -n "$child" ]; then
        kill -TERM "$child" 2>/dev/null || true
        wait "$child" 2>/dev/null || true
    fi
    if [ -n "$root" ] && [ -d "$root" ]; then
        pids=$(processes_in_root)
        if [ -n "$pids" ]; then
            echo "package-test: stopping what is left in the chroot:" "$pids" >&4
            # shellcheck disable=SC2086 # one pid per word
            kill -KILL $pids 2>/dev/null || true
            sleep 1
        fi
        # debootstrap mounts /proc and /sys in the chroot while it runs; if
        # it was stopped half-way they are still there.
        awk -v root="$root" 'index($2, root "/") == 1 { print $2 }' /proc/self/mounts |
            sort -r | while read -r mount; do umount -l "$mount" || true; done
        rm -rf --one-file-system "$root"
    fi
    if [ "$rc" = 0 ]; then
        echo "== package-test: ok in $((SECONDS - started)) s" >&3
    else
        echo "== package-test: FAILED after $((SECONDS - started)) s (logs: $logs)" >&4
    fi
}
trap cleanup EXIT
trap 'exit 143' TERM INT # `timeout` ends the script: clean up all the same

[ "$(id -u)" = 0 ] || fail "must run as root (debootstrap, chroot)"
for tool in debootstrap lintian curl; do
    command -v "$tool" >/dev/null || fail "$tool is not installed (apt-get install debootstrap lintian curl)"
done
rm -rf "$logs" && mkdir -p "$logs"

# --- 1. the package itself --------------------------------------------------
step "lintian $(basename "$deb")"
lintian_rc=0
run timeout -k 10 120 lintian --fail-on error --display-info "$deb" >"$logs/lintian.log" 2>&1 || lintian_rc=$?
grep -v 'running with root privileges' "$logs/lintian.log" || true
[ "$lintian_rc" = 0 ] || fail "lintian reports errors (exit $lintian_rc)"
depends=$(dpkg-deb -f "$deb" Depends)
grep -q 'apache2-api-[0-9]' <<<"$depends" || fail "Depends has no apache2-api-*: $depends"
grep -q 'libpython3' <<<"$depends" || fail "Depends has no libpython3.*: $depends"
for field in Conflicts Replaces; do
    [ "$(dpkg-deb -f "$deb" "$field")" = libapache2-mod-python ] ||
        fail "$field is not libapache2-mod-python"
done

# --- 2. a clean Debian 12 with apache2 ----------------------------------------
root=$(mktemp -d /var/tmp/hydra-package-test.XXXXXX)
chmod 755 "$root" # it becomes /, which www-data must be able to search
step "debootstrap bookworm from $mirror into $root"
run timeout -k 10 200 debootstrap --variant=minbase bookworm "$root" "$mirror" >"$logs/debootstrap.log" 2>&1 ||
    { tail -n 30 "$logs/debootstrap.log" >&2; fail "debootstrap"; }
printf '#!/bin/sh\n# install-test.sh: package scripts start no services here.\nexit 101\n' \
    >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
step "apt-get install apache2 (in the chroot)"
apt_in_root update update
apt_in_root apache2 install --no-install-recommends apache2 curl

port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'Listen 127.0.0.1:%s\nServerName 127.0.0.1\n' "$port" >"$root/etc/apache2/ports.conf"
mkdir -p "$root/srv/hydra-test"
cp -r "$here/site/handler" "$here/site/pub" "$here/site/psp" "$here/site/index.html" "$root/srv/hydra-test/"
sed "s/@PORT@/$port/" "$here/site/hydra-test.conf" >"$root/etc/apache2/sites-available/hydra-test.conf"
in_root 30 a2dissite -q 000-default
in_root 30 a2ensite -q hydra-test
cp "$deb" "$root/tmp/" && chmod 644 "$root/tmp/$(basename "$deb")"
deb_in_root=/tmp/$(basename "$deb")

# Debian's apache2ctl, in the chroot; it forks the server and returns.
apache_start() {
    in_root 30 apache2ctl -t >"$logs/configtest.log" 2>&1 ||
        { cat "$logs/configtest.log" >&2; fail "apache2ctl -t"; }
    in_root 30 apache2ctl start || fail "apache2ctl start"
    for _ in $(seq 100); do
        apache_pid=$(cat "$root/run/apache2/apache2.pid" 2>/dev/null || true)
        [ -n "$apache_pid" ] && curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/" && return 0
        sleep 0.2
    done
    tail -n 20 "$root/var/log/apache2/error.log" >&2
    fail "apache2 did not answer on 127.0.0.1:$port"
}
apache_stop() {
    [ -n "$apache_pid" ] || return 0
    kill -TERM "$apache_pid" 2>/dev/null || true
    for _ in $(seq 100); do
        kill -0 "$apache_pid" 2>/dev/null || break
        sleep 0.2
    done
    kill -0 "$apache_pid" 2>/dev/null && fail "apache2 (pid $apache_pid) did not stop in 20 s"
    apache_pid=
    local left
    left=$(processes_in_root)
    [ -z "$left" ] || fail "processes left in the chroot after apache2 stopped: $left"
}
# GET $1 must answer 200 with a body containing $2.
expect_page() {
    local body
    body=$(curl -sS --max-time 15 -f "http://127.0.0.1:$port$1") ||
        { tail -n 20 "$root/var/log/apache2/error.log" >&2; fail "GET $1"; }
    grep -qF -- "$2" <<<"$body" || fail "GET $1 answered '$body', expected '$2'"
    echo "   GET $1 -> $(head -n 1 <<<"$body")"
}
# $1: the hydra version the handler must report ("none": mod_python 3.5);
# $2: the publisher's answer (Debian's mod_python 3.5 drops the argument).
expect_site() {
    expect_page /handler/ "handler ok, hydra $1"
    expect_page "/pub/page.py?who=apt" "$2"
    expect_page /psp/page.psp "psp ok, 42, Python 3."
}
package_status() {
    # shellcheck disable=SC2016 # a dpkg-query format, not shell
    in_root 10 dpkg-query -W -f '${db:Status-Abbrev}' "$1" 2>/dev/null || echo "un"
}

version=$(dpkg-deb -f "$deb" Version)
pkgdir=/usr/lib/python3/dist-packages/mod_python

# --- 3. clean install, use, purge ---------------------------------------------
step "apt-get install ./$(basename "$deb") on a clean system"
apt_in_root install-clean install "$deb_in_root"
[ "$(package_status hydra)" = "ii " ] || fail "hydra is not installed: $(package_status hydra)"
in_root 30 a2enmod hydra
for file in hydra.load hydra.conf; do
    [ -L "$root/etc/apache2/mods-enabled/$file" ] || fail "a2enmod hydra left no mods-enabled/$file"
done
[ -f "$root$pkgdir/__pycache__/apache.cpython-311.pyc" ] ||
    fail "mod_python is not byte-compiled (no $pkgdir/__pycache__/apache.cpython-311.pyc)"
in_root 10 dpkg -L hydra >"$logs/hydra.files"
# Not a failure, a fact the README states: Debian's unrelated "hydra"
# (THC-Hydra) has a higher version, so it is apt's candidate for an
# upgrade (`apt upgrade` and `apt full-upgrade` take it; `apt-get upgrade`
# keeps it back, it needs new packages).
in_root 30 apt-cache policy hydra 2>/dev/null | grep -E '^ +Candidate:' |
    sed 's/^ */   note: apt-cache policy hydra: /' || true

step "apache2 with the mod_python site on 127.0.0.1:$port"
apache_start
expect_site "$version" "publisher ok, hello apt"
apache_stop

step "apt-get purge hydra"
apt_in_root purge purge hydra
[ "$(package_status hydra)" = "un " ] || [ "$(package_status hydra)" = "un" ] ||
    fail "hydra is still known to dpkg after purge: $(package_status hydra)"
left=
while read -r path; do
    case $path in
        /. | /etc | /etc/apache2 | /etc/apache2/mods-available | /usr | /usr/lib | /usr/lib/apache2 | \
            /usr/lib/apache2/modules | /usr/lib/python3 | /usr/lib/python3/dist-packages | /usr/share | \
            /usr/share/doc) ;; # shared with other packages
        *) if [ -e "$root$path" ] || [ -L "$root$path" ]; then left="$left $path"; fi ;;
    esac
done <"$logs/hydra.files"
[ -z "$left" ] || fail "left after purge:$left"
# The test's own site (sites-*/hydra-test.conf, its a2ensite state,
# /srv/hydra-test) and the copy of the .deb in /tmp are not the package's.
found=$(find "$root" -mindepth 1 -xdev \( -path "$root/tmp" -o -path "$root/srv" -o -path "$root/proc" \) -prune -o \
    \( -iname '*hydra*' -o -name mod_python \) -print |
    grep -vE "^$root/(etc/apache2/sites-(available|enabled)|var/lib/apache2/site/enabled_by_admin)/hydra-test" || true)
[ -z "$found" ] || fail "left after purge: $found"

step "apache2 starts without the package"
apache_start
expect_page /index.html "static ok"
in_root 10 apache2ctl -M 2>/dev/null | grep -q python_module && fail "python_module is still loaded"
apache_stop

# --- 4. over an existing libapache2-mod-python ----------------------------------
step "apt-get install libapache2-mod-python, serving the site"
apt_in_root mod-python install --no-install-recommends libapache2-mod-python
[ -L "$root/etc/apache2/mods-enabled/python.load" ] || fail "libapache2-mod-python did not enable python.load"
apache_start
expect_site none "publisher ok, hello"
apache_stop

step "apt-get install ./$(basename "$deb") over libapache2-mod-python"
apt_in_root install-over install "$deb_in_root"
grep -qE '^Remv libapache2-mod-python|REMOVED:' "$logs/install-over.log" ||
    fail "apt did not remove libapache2-mod-python (log: $logs/install-over.log)"
status=$(package_status libapache2-mod-python)
case $status in ii*) fail "libapache2-mod-python is still installed" ;; esac
[ "$(package_status hydra)" = "ii " ] || fail "hydra is not installed: $(package_status hydra)"
[ ! -e "$root/etc/apache2/mods-enabled/python.load" ] || fail "python.load is still enabled"
[ ! -e "$root/usr/lib/apache2/modules/mod_python.so" ] || fail "mod_python.so is still there"
[ -L "$root/etc/apache2/mods-enabled/hydra.load" ] || fail "hydra.load is not enabled"
while read -r file; do
    owner=$(in_root 10 dpkg -S "$file" 2>/dev/null | cut -d: -f1 || true)
    [ "$owner" = hydra ] || fail "$file belongs to '${owner:-nobody}', not hydra"
done < <(cd "$root" && find ".$pkgdir" -path '*/__pycache__' -prune -o -type f -print | sed 's/^\.//')
audit=$(in_root 30 dpkg --audit)
[ -z "$audit" ] || fail "dpkg --audit: $audit"
in_root 10 a2enmod hydra >/dev/null
apache_start
expect_site "$version" "publisher ok, hello apt"
apache_stop

step "done (libapache2-mod-python: '$status' after the replace)"
