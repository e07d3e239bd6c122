#!/usr/bin/env bash
# demo.sh - starts and stops the demo Apache (make demo / make demo-stop).
#
# Usage: demo.sh start BUILD_INFO    (BUILD_INFO: build/py<X.Y>/build-info)
#        demo.sh stop
# Environment: DEMO_PORT (default 8080).
#
# The demo runs Debian's /usr/sbin/apache2 with a generated configuration,
# its own ServerRoot, pid file and logs, listening on 127.0.0.1 only. The
# Apache children run as www-data, so the module's Python package and the
# demo applications are staged where www-data can read them: build/demo/,
# or /var/tmp/hydra-demo when the work tree itself is private.
set -euo pipefail

# shellcheck source=scripts/common.sh
. "$(dirname "$0")/common.sh"

REPO=$(cd "$(dirname "$0")/.." && pwd)
PORT=${DEMO_PORT:-8080}
APACHE=/usr/sbin/apache2
FALLBACK_STAGE=/var/tmp/hydra-demo
STAGE_POINTER="$REPO/build/demo-stage"

choose_stage() {
    mkdir -p "$REPO/build"
    if run_user_can_read "$REPO/build"; then
        printf '%s\n' "$REPO/build/demo"
    else
        warn "$REPO/build is not readable by $HYDRA_RUN_USER (a private parent directory?); staging the demo in $FALLBACK_STAGE"
        printf '%s\n' "$FALLBACK_STAGE"
    fi
}

# The stage of a running (or last) demo.
known_stage() {
    if [ -f "$STAGE_POINTER" ]; then
        cat "$STAGE_POINTER"
    elif [ -f "$REPO/build/demo/run/httpd.pid" ]; then
        printf '%s\n' "$REPO/build/demo"
    else
        printf '%s\n' "$FALLBACK_STAGE"
    fi
}

# Prints the pid of the demo's Apache parent if it is running.
running_pid() {
    local pidfile=$1/run/httpd.pid pid
    [ -f "$pidfile" ] || return 1
    pid=$(cat "$pidfile")
    [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
    # A stale pid file may name an unrelated process by now.
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = apache2 ] || return 1
    printf '%s\n' "$pid"
}

stop_demo() {
    local stage pid
    stage=$(known_stage)
    if ! pid=$(running_pid "$stage"); then
        say "demo: not running"
        return 0
    fi
    kill -TERM "$pid"
    for _ in $(seq 50); do
        [ -d "/proc/$pid" ] || break
        sleep 0.2
    done
    if [ -d "/proc/$pid" ]; then
        die "Apache (pid $pid) did not stop; see $stage/logs/error_log"
    fi
    rm -f "$stage/run/httpd.pid"
    say "demo: stopped (pid $pid)"
}

stage_files() {
    local stage=$1 module=$2
    rm -rf "$stage/conf" "$stage/site" "$stage/python" "$stage/modules"
    mkdir -p "$stage/conf" "$stage/site" "$stage/python" "$stage/modules" "$stage/logs" "$stage/run"
    cp -r "$REPO/python/mod_python" "$stage/python/"
    cp -r "$REPO/demo/home" "$REPO/demo/shop" "$REPO/demo/blog" "$REPO/demo/lib" "$stage/site/"
    find "$stage/python" "$stage/site" -name __pycache__ -prune -exec rm -rf {} +
    cp "$module" "$stage/modules/mod_hydra.so"
    sed -e "s|@STAGE@|$stage|g" -e "s|@PORT@|$PORT|g" \
        -e "s|@MODULE@|$stage/modules/mod_hydra.so|g" \
        "$REPO/demo/httpd.conf.in" >"$stage/conf/httpd.conf"
    chmod -R a+rX "$stage"
}

# Probes /status so that the applications' counters start at zero.
port_in_use() {
    curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/status"
}

# Runs apache2 with the demo's environment: the staged mod_python package
# and demo/lib on PYTHONPATH (read by Python in each child), and nothing
# from the caller's Python environment.
run_apache() {
    local stage=$1
    shift
    env -u PYTHONHOME -u PYTHONSTARTUP -u PYTHONSAFEPATH \
        PYTHONPATH="$stage/python:$stage/site/lib" \
        "$APACHE" -d "$stage" -f "$stage/conf/httpd.conf" "${DEFINES[@]}" "$@"
}

print_instructions() {
    local base="http://127.0.0.1:$PORT"
    cat <<EOF

Hydra demo running on $base (Python $PYVER, pid $1)
  logs: $2/logs/error_log

Try:
  curl $base/
  curl -H 'Host: shop.localhost' $base/
  curl -H 'Host: blog.localhost' $base/
  curl $base/teams/red/
  curl $base/teams/blue/
  curl $base/reports/
  curl $base/asgi/
EOF
    if [ "${#DEFINES[@]}" -gt 0 ]; then
        echo "  curl $base/fast/"
        echo "  curl $base/pool/          (PythonInterpPool 2; see demo/README.md)"
    fi
    cat <<EOF
  curl '$base/status?json'

Stop it with: make demo-stop
EOF
}

start_demo() {
    local info=$1 stage pid HYDRA_SO PYVER
    [ -f "$info" ] || die "$info missing; run make first"
    HYDRA_SO=$(sed -n 's/^HYDRA_SO=//p' "$info")
    PYVER=$(sed -n 's/^HYDRA_PYVER=//p' "$info")
    [ -f "$HYDRA_SO" ] || die "$HYDRA_SO missing; run make first"
    [ "$(id -u)" = 0 ] || die "the demo Apache must start as root (it switches to $HYDRA_RUN_USER)"

    # Own-GIL interpreters need CPython >= 3.12 (spec/beyond.md section 1).
    DEFINES=()
    if [ "$(printf '%s\n3.12\n' "$PYVER" | sort -V | head -n1)" = 3.12 ]; then
        DEFINES=(-D HYDRA_OWN_GIL)
    fi

    stop_demo >/dev/null
    if port_in_use; then
        die "something already answers on 127.0.0.1:$PORT; set DEMO_PORT"
    fi
    stage=$(choose_stage)
    printf '%s\n' "$stage" >"$STAGE_POINTER"
    stage_files "$stage" "$HYDRA_SO"

    run_apache "$stage" -t >/dev/null 2>"$stage/logs/configtest" || {
        cat "$stage/logs/configtest" >&2
        die "the demo configuration does not pass apache2 -t"
    }
    run_apache "$stage" -k start
    for _ in $(seq 50); do
        pid=$(running_pid "$stage") && port_in_use && break
        sleep 0.2
    done
    if ! pid=$(running_pid "$stage"); then
        tail -n 20 "$stage/logs/error_log" >&2 || true
        die "the demo Apache did not start"
    fi
    print_instructions "$pid" "$stage"
}

case "${1:-}" in
start)
    [ $# -eq 2 ] || die "usage: ${0##*/} start BUILD_INFO"
    start_demo "$2"
    ;;
stop) stop_demo ;;
*) die "usage: ${0##*/} start BUILD_INFO | stop" ;;
esac
