#!/usr/bin/env bash
# Captures what the book shows from real runs and draws its figures: every line of
# book/captures.txt whose file contains PATTERN (all of them without one). Run it through
# `just book-refresh [PATTERN]`, which builds halab and halab-figures first.
#
# Lab runs start lab daemons: this needs root, Docker Engine and busybox-static, as the runs do.
# A run that fails stops the refresh, so a failing run is never committed as the book's output.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/book/src/generated
halab=$root/target/release/halab
figures=$root/target/release/halab-figures
pattern=${1:-}

# What a reader's shell would have: no halab overrides, help wrapped at 100 columns.
unset HALAB_STATE_DIR HALAB_SCENARIOS HALAB_LOG DOCKER_HOST
export COLUMNS=100

grep -v -e '^#' -e '^[[:space:]]*$' book/captures.txt | while read -r file cmd; do
    [[ -z $pattern || $file == *"$pattern"* ]] || continue
    mkdir -p "$(dirname "$out/$file")"
    read -r -a words <<<"$cmd"
    tmp=$(mktemp)
    echo "book-refresh: $file ← $cmd" >&2
    case ${words[0]} in
    halab)
        if [[ $file == *.json ]]; then
            "$halab" "${words[@]:1}" >"$tmp" 2>/dev/null </dev/null
        else
            { echo "\$ $cmd"; "$halab" "${words[@]:1}" </dev/null 2>&1; } >"$tmp"
        fi
        ;;
    halab-figures) (cd "$out" && "$figures" "${words[@]:1}") >"$tmp" ;;
    dot) (cd "$out" && dot "${words[@]:1}") >"$tmp" ;;
    *)
        echo "book-refresh: $file: unknown command \`${words[0]}\`" >&2
        exit 2
        ;;
    esac
    chmod 644 "$tmp"
    mv "$tmp" "$out/$file"
done
echo "book-refresh: done; review \`git diff book/src/generated\` and commit it" >&2
