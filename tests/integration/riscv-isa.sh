#!/usr/bin/env bash
# Hand-written per-instruction edge cases (tests/guests/riscv-isa/*.c):
# integer division/shift/W-form corners, Zb*, misaligned and page-crossing
# loads/stores, AMOs and LR/SC, NaN handling, fmin/fmax, fcvt saturation,
# all five rounding modes, fflags. Each program checks its results against
# values derived from the RISC-V spec and prints every result; it must pass
# under qemu-riscv64 (validating the expectations) and under vessel exec,
# whose output must be identical to qemu's.
source "$SRC/tests/lib.sh"
source "$SRC/tests/rvgen/common.sh"

if t=$(rv_missing_tools "$RV_CC" qemu-riscv64); then
    skip riscv-isa "$t not installed (scripts/deps.sh)"
    exit 0
fi
isa=$SRC/tests/guests/riscv-isa
hash=$(cat "$isa"/*.c "$isa"/*.h | sha256sum | cut -c1-16)
dir=$VESSEL_CACHE/riscv-isa/$hash
mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
state=$(vessel_exec_state)

for c in "$isa"/*.c; do
    name=$(basename "$c" .c)
    exe=$dir/$name
    if [ ! -x "$exe" ]; then
        if ! "$RV_CC" -static -O2 -march="$RV_MARCH" -I"$isa" -o "$exe.tmp" "$c" 2>"$tmp/cc"; then
            nok "$name: does not build: $(head -c 300 "$tmp/cc")"
            continue
        fi
        mv "$exe.tmp" "$exe"
    fi
    qemu-riscv64 "$exe" >"$tmp/q" 2>&1; qrc=$?
    if [ $qrc -eq 0 ] && ! grep -q FAIL "$tmp/q"; then
        ok "$name: qemu-riscv64 matches the spec ($(tail -n1 "$tmp/q"))"
    else
        nok "$name: qemu-riscv64 exit $qrc, $(grep -c FAIL "$tmp/q") results differ from the spec"
        grep FAIL "$tmp/q" | head -20 | sed 's/^/# /'
    fi
    if [ "$state" = pending ]; then
        skip "$name: vessel exec" "vessel exec not available yet (CPU core not built in)"
        continue
    fi
    timeout 60 "$VESSEL" exec "$exe" >"$tmp/v" 2>&1; vrc=$?
    if [ $vrc -eq 0 ] && cmp -s "$tmp/v" "$tmp/q"; then
        ok "$name: vessel exec matches qemu and the spec"
    else
        nok "$name: vessel exec exit $vrc, output differs from qemu"
        diff "$tmp/q" "$tmp/v" | head -30 | sed 's/^/# /'
    fi
done
exit 0
