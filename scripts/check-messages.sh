#!/usr/bin/env bash
# check-messages.sh - the message catalogue docs/messages.md against the code.
#
# Every HYDRAnnnn id the code logs (a literal "HYDRAnnnn: " at the start of
# a format string under src/ or of a message in python/mod_python/) must
# have exactly one "### HYDRAnnnn" entry in docs/messages.md, and the
# catalogue must document no id the code does not have; entries go in
# numeric order. Also checked: each id is in its part's range (src/core
# 01xx, src/dispatch 02xx, src/objects 03xx, src/glue 04xx, the package
# 05xx). Comment lines are not read. Prints each difference and exits 1 if
# there is one.
set -euo pipefail
cd "$(dirname "$0")/.."

doc=docs/messages.md
status=0
problem() {
    echo "check-messages: $*" >&2
    status=1
}

[ -f "$doc" ] || {
    problem "$doc is missing"
    exit 1
}

# file:id for every id in the code. C: comments dropped (string literals
# kept as they are). Python: comment lines skipped.
code_ids() {
    # shellcheck disable=SC2016 # a perl program, not shell expansions
    find src -name '*.[ch]' -print0 | sort -z | xargs -0 perl -0777 -ne '
        s{("(?:\\.|[^"\\\n])*"|'\''(?:\\.|[^'\''\\\n])*'\'')|/\*.*?\*/|//[^\n]*}{defined $1 ? $1 : " "}gse;
        print "$ARGV:HYDRA$1\n" while /HYDRA([0-9]{4})/g;'
    grep -rHnE 'HYDRA[0-9]{4}' --include='*.py' python/mod_python |
        grep -vE '^[^:]+:[0-9]+:[[:space:]]*#' |
        while IFS=: read -r file _ text; do
            grep -oE 'HYDRA[0-9]{4}' <<<"$text" | sed "s|^|$file:|"
        done || true
}

code=$(code_ids | sort -u)

# Each id in the range of the part of the code that logs it.
while IFS=: read -r file id; do
    [ -n "$id" ] || continue
    case "$file" in
    src/core/*) want=01 ;;
    src/dispatch/*) want=02 ;;
    src/objects/*) want=03 ;;
    src/glue/*) want=04 ;;
    python/mod_python/*) want=05 ;;
    *) want= ;;
    esac
    [ -z "$want" ] || [ "${id:5:2}" = "$want" ] ||
        problem "$id in $file is outside its range (${want}xx)"
done <<<"$code"

code_set=$(cut -d: -f2 <<<"$code" | sed '/^$/d' | sort -u)
doc_list=$(sed -nE 's/^### (HYDRA[0-9]{4})[[:space:]]*$/\1/p' "$doc")
doc_set=$(sort -u <<<"$doc_list")

for id in $(comm -23 <(echo "$code_set") <(echo "$doc_set")); do
    problem "$id is logged by $(grep ":$id\$" <<<"$code" | cut -d: -f1 | sort -u | paste -sd, -) but not documented in $doc"
done
for id in $(comm -13 <(echo "$code_set") <(echo "$doc_set")); do
    problem "$id is documented in $doc but the code does not log it"
done
for id in $(sort <<<"$doc_list" | uniq -d); do
    problem "$id has more than one entry in $doc"
done
[ "$doc_list" = "$(sort <<<"$doc_list")" ] || problem "the entries of $doc are not in numeric order"

[ $status = 0 ] && echo "messages ok: $(wc -l <<<"$code_set") ids, each documented once in $doc"
exit $status
