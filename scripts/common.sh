# shellcheck shell=bash
# common.sh - shell helpers shared by Hydra's scripts (sourced, not run).
#
# Owns the one question several scripts ask: can the Apache child user read
# a path? Apache starts as root but runs Python in children that have
# switched to the run user (www-data on Debian), so everything Python reads
# at run time must be reachable by that user.

HYDRA_RUN_USER=${HYDRA_RUN_USER:-www-data}

say() { printf '%s\n' "$*"; }
warn() { printf '%s: warning: %s\n' "${0##*/}" "$*" >&2; }
die() {
    printf '%s: error: %s\n' "${0##*/}" "$*" >&2
    exit 1
}

# Every directory from / down to $1 lets "others" search it (o+x).
# Used when the run user does not exist yet (Apache not installed).
others_can_traverse() {
    local dir=$1 mode
    while :; do
        [ -d "$dir" ] || return 1
        mode=$(stat -L -c %a "$dir") || return 1
        (((${mode: -1} & 1) == 1)) || return 1
        [ "$dir" = / ] && return 0
        dir=$(dirname "$dir")
    done
}

# True when the Apache run user can read file or directory $1. As root,
# asks the kernel as that user (when the user exists); otherwise checks the
# mode bits for "others".
run_user_can_read() {
    local path=$1
    if [ "$(id -u)" = 0 ] && id -u "$HYDRA_RUN_USER" >/dev/null 2>&1 \
        && command -v runuser >/dev/null 2>&1; then
        if [ -d "$path" ]; then
            runuser -u "$HYDRA_RUN_USER" -- test -r "$path" -a -x "$path"
        else
            runuser -u "$HYDRA_RUN_USER" -- test -r "$path"
        fi
        return
    fi
    local dir=$path
    [ -d "$dir" ] || dir=$(dirname "$path")
    others_can_traverse "$dir" || return 1
    local mode
    mode=$(stat -L -c %a "$path") || return 1
    (((${mode: -1} & 4) == 4))
}
