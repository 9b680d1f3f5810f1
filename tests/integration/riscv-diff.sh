#!/usr/bin/env bash
# Differential test of `vessel exec` against qemu-riscv64 on random
# instruction sequences (tests/rvgen/rvgen.py: RV64I M A F D C Zba Zbb Zbs,
# every rounding mode, NaN/inf/denormal operands, misaligned loads/stores).
# Each program packs 100 cases; each case dumps x0..x31, f0..f31, fflags,
# frm and the scratch buffer. Outputs must be byte-identical. Each program
# runs twice: as configured, and with VESSEL_JIT_THRESHOLD=0 (the translator
# on every block).
#
#   VESSEL_DIFF_CASES  number of cases (default 5000; 500 under VESSEL_ASAN=1)
#   VESSEL_DIFF_SEED   first program seed (default 1000)
# Built programs are cached in $VESSEL_CACHE/rvgen/<generator hash>/.
source "$SRC/tests/lib.sh"
source "$SRC/tests/rvgen/common.sh"

if t=$(rv_missing_tools "$RV_CC" python3 qemu-riscv64); then
    skip riscv-diff "$t not installed (scripts/deps.sh)"
    exit 0
fi

per=100
default=5000
[ -n "${VESSEL_ASAN:-}" ] && default=500
cases=${VESSEL_DIFF_CASES:-$default}
seed0=${VESSEL_DIFF_SEED:-1000}
nprog=$(( (cases + per - 1) / per ))
gen=$SRC/tests/rvgen/rvgen.py
ghash=$(sha256sum "$gen" | cut -c1-16)
dir=$VESSEL_CACHE/rvgen/$ghash
mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Build the missing programs, two at a time.
build_one() {   # seed
    local s=$1 n=$per
    [ -x "$dir/s$s.elf" ] && return 0
    python3 "$gen" --seed "$s" --cases "$n" -o "$dir/s$s.S.tmp" && mv "$dir/s$s.S.tmp" "$dir/s$s.S" &&
        "$RV_CC" -static -nostdlib -march="$RV_MARCH" -o "$dir/s$s.elf.tmp" "$dir/s$s.S" &&
        mv "$dir/s$s.elf.tmp" "$dir/s$s.elf"
}
export -f build_one
export dir gen per RV_CC RV_MARCH
seeds=$(seq "$seed0" $((seed0 + nprog - 1)))
need=$(for s in $seeds; do [ -x "$dir/s$s.elf" ] || echo "$s"; done)
if [ -n "$need" ]; then
    echo "# building $(wc -w <<<"$need") programs of $per cases in $dir" >&2
    xargs -P2 -n1 bash -c 'build_one "$0"' <<<"$need"
fi

state=$(vessel_exec_state)
echo "# $cases cases in $nprog programs (seeds $seed0..$((seed0 + nprog - 1))), vessel exec: $state" >&2

i=0 qbad=0
for s in $seeds; do
    i=$((i + 1))
    exe=$dir/s$s.elf
    if [ ! -x "$exe" ]; then nok "seed $s: program did not build"; continue; fi
    timeout 30 qemu-riscv64 "$exe" >"$tmp/q" 2>"$tmp/qe"; qrc=$?
    qlen=$(stat -c %s "$tmp/q")
    if [ $qrc -ne 0 ] || [ "$qlen" -ne $((per * 1552)) ]; then
        # the generator must only produce programs that run to the end
        nok "seed $s: qemu-riscv64 exited $qrc after $qlen bytes (generator bug?)"
        qbad=$((qbad + 1))
        continue
    fi
    if [ "$i" -eq 1 ]; then
        # the reporter must catch a single flipped bit and name the register
        python3 -c 'import sys; d = bytearray(open(sys.argv[1], "rb").read()); d[1552 * 37 + 8 * 10 + 1] ^= 4; open(sys.argv[2], "wb").write(d)' "$tmp/q" "$tmp/bad"
        if ! python3 "$SRC/tests/rvgen/rvdiff.py" "$tmp/bad" "$tmp/q" --asm "$dir/s$s.S" --seed "$s" >"$tmp/rep" &&
            grep -q 'case 37' "$tmp/rep" && grep -q 'first differing register: x10(a0)' "$tmp/rep"; then
            ok "rvdiff.py reports a flipped bit in x10 of case 37"
        else
            nok "rvdiff.py missed a flipped bit: $(head -c 300 "$tmp/rep")"
        fi
    fi
    if [ "$state" = pending ]; then
        skip "seed $s: vessel vs qemu ($per cases)" "vessel exec not available yet (CPU core not built in)"
        continue
    fi
    # as configured (the interpreter, translating hot blocks), then with the
    # translator on every block at its first run
    for how in default translated; do
        if [ $how = default ]; then
            timeout 60 "$VESSEL" exec "$exe" >"$tmp/v" 2>"$tmp/ve"; vrc=$?
        else
            VESSEL_JIT=1 VESSEL_JIT_THRESHOLD=0 timeout 60 "$VESSEL" exec "$exe" >"$tmp/v" 2>"$tmp/ve"; vrc=$?
        fi
        if cmp -s "$tmp/v" "$tmp/q" && [ $vrc -eq 0 ]; then
            ok "seed $s ($how): vessel == qemu ($per cases)"
        else
            nok "seed $s ($how): vessel differs from qemu (vessel exit $vrc, stderr: $(head -c 200 "$tmp/ve"))"
            python3 "$SRC/tests/rvgen/rvdiff.py" "$tmp/v" "$tmp/q" --asm "$dir/s$s.S" --seed "$s" | sed 's/^/# /'
        fi
    done
    [ $((i % 10)) -eq 0 ] && echo "# $i/$nprog programs" >&2
done
[ $qbad -eq 0 ] && ok "generator: all $nprog programs ($cases cases) run to the end under qemu-riscv64"
exit 0
