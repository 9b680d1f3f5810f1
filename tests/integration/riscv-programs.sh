#!/usr/bin/env bash
# Real programs nobody here wrote, cross-built from Debian source packages by
# scripts/riscv-programs.sh (Lua 5.4, SQLite 3, bzip2), run on real work
# under qemu-riscv64 and under vessel exec: output must be identical.
#   lua:     tests/rvgen/programs/work.lua (recursion, strings, sorts, coroutines, floats)
#   sqlite3: tests/rvgen/programs/work-sql.sh (thousands of INSERTs, joins, aggregates, windows) on a file database
#   bzip2:   compress + decompress 3 MB (1 MB under VESSEL_ASAN) of generated text
#   sed:     tests/rvgen/programs/work.sed over 256 KB of it (64 KB under VESSEL_ASAN)
#   lame:    a generated WAV of 4 s (1 s) to MP3 (floating point)
#   xz:      compress + decompress 1 MB (256 KB) of it
source "$SRC/tests/lib.sh"
source "$SRC/tests/rvgen/common.sh"

if t=$(rv_missing_tools "$RV_CC" qemu-riscv64 apt-get dpkg-source tclsh); then
    skip riscv-programs "$t not installed (scripts/deps.sh)"
    exit 0
fi
log=$(mktemp)
bin=$(bash "$SRC/scripts/riscv-programs.sh" 2>"$log"); rc=$?
if [ $rc -eq 2 ]; then
    skip riscv-programs "$(tail -n1 "$log")"; rm -f "$log"; exit 0
elif [ $rc -ne 0 ]; then
    nok "scripts/riscv-programs.sh failed: $(tail -n2 "$log" | tr '\n' ' ')"; rm -f "$log"; exit 0
fi
rm -f "$log"
P=$SRC/tests/rvgen/programs
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
state=$(vessel_exec_state)
kb=3072 rows=3000 scale=1 sedkb=256 wavs=4 xzkb=1024
[ -n "${VESSEL_ASAN:-}" ] && kb=1024 rows=1000 sedkb=64 wavs=1 xzkb=256

bash "$P/work-sql.sh" "$rows" >"$tmp/work.sql"
bash "$P/gen-data.sh" "$kb" >"$tmp/data"

# run_both NAME CMD...: runs CMD under qemu-riscv64 in $tmp/q and under
# vessel exec in $tmp/v (the program path is $bin/PROG), compares stdout and
# exit status. CMD may refer to the run's directory as $W.
run_both() {
    local name=$1 prog=$2; shift 2
    mkdir -p "$tmp/q" "$tmp/v"
    (cd "$tmp/q" && W=$tmp/q eval "qemu-riscv64 $bin/$prog $*") >"$tmp/q.out" 2>"$tmp/q.err"; local qrc=$?
    if [ $qrc -ne 0 ]; then
        nok "$name: fails under qemu-riscv64 (exit $qrc: $(head -c 200 "$tmp/q.err"))"; return 1
    fi
    if [ "$state" = pending ]; then
        skip "$name: vessel exec" "vessel exec not available yet (CPU core not built in)"; return 2
    fi
    (cd "$tmp/v" && W=$tmp/v eval "timeout 300 $VESSEL exec $bin/$prog $*") >"$tmp/v.out" 2>"$tmp/v.err"; local vrc=$?
    if [ $vrc -eq 0 ] && cmp -s "$tmp/q.out" "$tmp/v.out"; then
        ok "$name: vessel exec output identical to qemu-riscv64 ($(wc -c <"$tmp/q.out") bytes)"
    else
        nok "$name: vessel exec exit $vrc (stderr: $(head -c 200 "$tmp/v.err")), output differs from qemu"
        diff "$tmp/q.out" "$tmp/v.out" | head -20 | sed 's/^/# /'
        return 1
    fi
}

run_both "lua work.lua" lua "$P/work.lua" "$scale"
grep -q '^fib' "$tmp/q.out" || nok "lua: qemu output lacks the fib line"

run_both "sqlite3 workload ($rows rows)" sqlite3 '$W/t.db' "<$tmp/work.sql"
[ "$(tail -n1 "$tmp/q.out")" = ok ] || nok "sqlite3: integrity_check did not print ok under qemu"

run_both "bzip2 compress $kb KB" bzip2 -9 -c "$tmp/data"
cp "$tmp/q.out" "$tmp/data.bz2"
run_both "bzip2 decompress" bzip2 -d -c "$tmp/data.bz2"
if cmp -s "$tmp/q.out" "$tmp/data"; then
    ok "bzip2 round trip under qemu-riscv64 restores the input"
else
    nok "bzip2 round trip under qemu-riscv64 does not restore the input"
fi
[ "$state" = pending ] || run_both "bzip2 -t integrity test" bzip2 -t "$tmp/data.bz2"

head -c $((sedkb * 1024)) "$tmp/data" >"$tmp/text"
run_both "sed -E -f work.sed $sedkb KB" sed -E -f "$P/work.sed" "$tmp/text"
grep -q '<u..c>' "$tmp/q.out" || nok "sed: qemu output lacks a <u..c> line (the script did not run)"

python3 "$P/gen-wav.py" "$wavs" >"$tmp/in.wav"
run_both "lame $wavs s WAV to MP3" lame --quiet -b 128 "$tmp/in.wav" -
[ "$(head -c 3 "$tmp/q.out")" = ID3 ] || [ "$(od -An -tx1 -N2 "$tmp/q.out" | tr -d ' ')" = fffb ] ||
    nok "lame: qemu output is not an MP3 stream"

head -c $((xzkb * 1024)) "$tmp/data" >"$tmp/xzin"
run_both "xz -6 $xzkb KB" xz -6 -T1 -c "$tmp/xzin"
cp "$tmp/q.out" "$tmp/xzin.xz"
run_both "xz -d" xz -d -c "$tmp/xzin.xz"
if cmp -s "$tmp/q.out" "$tmp/xzin"; then
    ok "xz round trip under qemu-riscv64 restores the input"
else
    nok "xz round trip under qemu-riscv64 does not restore the input"
fi
exit 0
