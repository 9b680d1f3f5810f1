#!/usr/bin/env bash
# Build every libFuzzer target with clang + ASan + UBSan and run each for
# SECONDS (default 60). Corpora live in fuzz/corpus/NAME (seeds, committed)
# and BUILD/corpus/NAME (what the run found). Prints TAP and a summary line.
set -u
build=${1:-build-fuzz} secs=${2:-60}
src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src"
if [ ! -f "$build/build.ninja" ]; then
    CC=clang CFLAGS="-fsanitize=fuzzer-no-link" meson setup "$build" -Dfuzz=true -Dtests=disabled \
        -Dbuildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false >/dev/null || exit 1
fi
ninja -C "$build" >"$build/ninja.log" 2>&1 || { cat "$build/ninja.log"; echo "0 passed, 1 failed"; exit 1; }
pass=0 fail=0 n=0
# a UBSan report is a failure, as an ASan one is
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
while IFS= read -r t; do
    name=$(basename "$t"); n=$((n + 1))
    mkdir -p "$build/corpus/$name" "$build/crashes"
    seeds=(); [ -d "fuzz/corpus/$name" ] && seeds=("fuzz/corpus/$name")
    if timeout $((secs + 60)) "$t" -max_total_time="$secs" -rss_limit_mb=4096 -timeout=10 \
        -artifact_prefix="$build/crashes/$name-" "$build/corpus/$name" "${seeds[@]}" \
        >"$build/$name.log" 2>&1; then
        pass=$((pass + 1)); echo "ok $n - fuzz $name ${secs}s ($(grep -oE 'cov: [0-9]+' "$build/$name.log" | tail -1))"
    else
        fail=$((fail + 1)); echo "not ok $n - fuzz $name: see $build/$name.log"; tail -20 "$build/$name.log"
    fi
done < <(find "$build/fuzz" -type f -name 'fuzz_*' -perm -u+x 2>/dev/null | sort)
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
