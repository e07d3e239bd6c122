#!/usr/bin/env bash
# run.sh - runs each libFuzzer target for a bounded time and prints one
# line per target with the number of executions, e.g.
#   FUZZ parse_qs: 1234567 executions in 60 s, corpus 312 inputs, no finding
# Usage: fuzz/run.sh BUILD_DIR SECONDS TARGET...
# BUILD_DIR holds <target>_fuzz binaries (make fuzz); the corpus grown by a
# run is kept in BUILD_DIR/corpus/<target>, seeded from fuzz/corpus/<target>
# (which the run never writes). A finding is saved in BUILD_DIR/artifacts/
# and makes the script exit 1 after all targets ran.
set -uo pipefail

build_dir=$1
seconds=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
status=0
summary=()

for target in "$@"; do
    bin="$build_dir/${target}_fuzz"
    work="$build_dir/corpus/$target"
    artifacts="$build_dir/artifacts/$target/"
    log="$build_dir/$target.log"
    mkdir -p "$work" "$artifacts"
    ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -max_len=4096 \
            -print_final_stats=1 -artifact_prefix="$artifacts" \
            "$work" "$here/corpus/$target" >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
    inputs=$(find "$work" -type f | wc -l)
    if [ "$rc" -eq 0 ] && [ -n "$runs" ]; then
        summary+=("FUZZ $target: $runs executions in $seconds s, corpus $inputs inputs, no finding")
    else
        status=1
        summary+=("FUZZ $target: FINDING (exit $rc) after ${runs:-?} executions; see $log and $artifacts")
        tail -60 "$log"
    fi
done
printf '%s\n' "${summary[@]}"
exit $status
