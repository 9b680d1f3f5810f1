#!/usr/bin/env bash
# make test: the full suite on the release build, then the same suite under
# ASan+UBSan (integration scripts see VESSEL_ASAN=1 and may shorten their
# longest loops), and a short run of every fuzz target. One summary line.
set -u
build=$1 asan=$2
src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src"
total_p=0 total_f=0 total_s=0
summ() {   # add the counts of the last "N passed, N failed, N skipped" line in $1
    local l
    l=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1)
    [ -n "$l" ] || { total_f=$((total_f + 1)); echo "no summary line in $1"; return; }
    read -r p _ f _ s _ <<<"${l//,/}"
    total_p=$((total_p + p)); total_f=$((total_f + f)); total_s=$((total_s + ${s:-0}))
}

echo "=== release build: $build"
bash tests/run.sh "$build" 2>&1 | tee "$build/test-summary.log"
summ "$build/test-summary.log"

echo "=== AddressSanitizer + UBSan build: $asan"
if [ ! -f "$asan/build.ninja" ]; then
    meson setup "$asan" -Dwerror=true -Dbuildtype=debugoptimized \
        -Db_sanitize=address,undefined -Db_lundef=false >/dev/null || exit 1
fi
if ninja -C "$asan" >"$asan.ninja.log" 2>&1; then
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    VESSEL_ASAN=1 bash tests/run.sh "$asan" 2>&1 | tee "$asan/test-summary.log"
    summ "$asan/test-summary.log"
else
    cat "$asan.ninja.log"; total_f=$((total_f + 1))
fi

if [ -f fuzz/run.sh ]; then
    echo "=== fuzz targets (short run)"
    bash fuzz/run.sh build-fuzz "${FUZZ_SECONDS_CI:-10}" 2>&1 | tee build-fuzz.log
    summ build-fuzz.log
fi

echo "$total_p passed, $total_f failed, $total_s skipped"
[ "$total_f" -eq 0 ]
