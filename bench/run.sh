#!/usr/bin/env bash
# make bench: every bench/*/run.sh in turn. Each measures vessel and the peer
# it names in the same run and prints their ratio.
set -u
build=$(cd "${1:-build}" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
export VESSEL=$build/vessel BUILD=$build SRC=$src
export VESSEL_CACHE=${VESSEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vessel}
rc=0
for b in "$src"/bench/*/run.sh; do
    [ -e "$b" ] || continue
    name=$(basename "$(dirname "$b")")
    [ -n "${BENCH:-}" ] && [[ $name != *$BENCH* ]] && continue
    echo "=== bench/$name"
    bash "$b" || { echo "bench/$name failed"; rc=1; }
done
exit $rc
