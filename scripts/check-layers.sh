#!/usr/bin/env bash
# check-layers.sh - the include rules of docs/internals.md, checked on src/.
#
# Calls go down the layers only: glue -> dispatch -> objects -> core. A
# file may include its own folder's headers and those of the layers below
# it; glue/glue_config.h (the configuration record: types and inline
# accessors, no functions) may be included by every layer but the core.
# Prints each include that breaks a rule and exits 1 if there is one.
set -euo pipefail
cd "$(dirname "$0")/.."

allowed() { # layer -> the folders its files may include from
    case "$1" in
    core) echo "core" ;;
    objects) echo "objects core" ;;
    dispatch) echo "dispatch objects core" ;;
    glue) echo "glue dispatch objects core" ;;
    esac
}

status=0
for layer in core objects dispatch glue; do
    ok=$(allowed "$layer")
    while IFS=: read -r file line text; do
        inc=$(sed -n 's/^#include "\([a-z_]*\)\/[a-z_]*\.h".*/\1/p' <<<"$text")
        header=$(sed -n 's/^#include "\([a-z_/]*\.h\)".*/\1/p' <<<"$text")
        case "$inc" in core | objects | dispatch | glue) ;; *) continue ;; esac # not ours
        [ "$header" = "glue/glue_config.h" ] && [ "$layer" != core ] && continue
        case " $ok " in *" $inc "*) continue ;; esac
        echo "$file:$line: the $layer layer may not include $header" >&2
        status=1
    done < <(grep -Hn '^#include "' src/$layer/*.[ch] || true)
done
[ $status = 0 ] && echo "layers ok: core <- objects <- dispatch <- glue"
exit $status
