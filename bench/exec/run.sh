#!/usr/bin/env bash
# bench/exec: `vessel exec` against qemu-riscv64, measured in the same run.
# Programs: lua 5.4, sqlite3, bzip2 (compress, decompress), GNU sed (regular
# expressions: tests/rvgen/programs/work.sed), LAME (floating point: a
# generated WAV to MP3), xz (LZMA2 compress, decompress) cross-built from
# Debian sources by scripts/riscv-programs.sh; cpu.c (C kernels); mips.c (a
# loop of exactly 8 instructions per iteration, for guest MIPS); hello.c
# (start-up). Each is run REPS times under each emulator (interleaved), the
# median wall time is kept; peak RSS is the child's rusage (max over the
# runs; bench/exec/rusage.py).
# Prints per-program ratio vessel/qemu, their geometric mean, guest MIPS,
# peak RSS and hello-world start-up of both. Outputs of both must agree.
#
#   VESSEL_BENCH_REPS   runs per program and emulator (default 5; hello: 5x that)
#   VESSEL_BENCH_SCALE  work multiplier (default 1)
#   VESSEL_BASE         a second vessel binary (say, the build before a change),
#                       run interleaved with the two others: its ratio is printed
#                       beside vessel's, measured in the same conditions
#   VESSEL_BENCH_ONLY   an extended regular expression: only the programs whose
#                       name matches it
#   VESSEL_BENCH_CPU=1  measure CPU time (user + system, the child's rusage,
#                       to the microsecond) instead of wall time: far steadier on a loaded host,
#                       blind to time spent waiting (neither emulator waits)
set -u
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
VESSEL=${VESSEL:-$SRC/build/vessel}
VESSEL_CACHE=${VESSEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vessel}
source "$SRC/tests/rvgen/common.sh"
reps=${VESSEL_BENCH_REPS:-5}
scale=${VESSEL_BENCH_SCALE:-1}
say() { echo "bench/exec: $*" >&2; }

if t=$(rv_missing_tools "$RV_CC" qemu-riscv64 python3); then
    echo "bench/exec: skipped: $t not installed (scripts/deps.sh)"; exit 0
fi
bin=$(bash "$SRC/scripts/riscv-programs.sh") || { echo "bench/exec: scripts/riscv-programs.sh failed"; exit 1; }
hash=$(cat "$SRC"/bench/exec/*.c | sha256sum | cut -c1-16)
bdir=$VESSEL_CACHE/bench-exec/$hash
mkdir -p "$bdir"
for p in cpu mips hello; do
    [ -x "$bdir/$p" ] || "$RV_CC" -static -O2 -o "$bdir/$p" "$SRC/bench/exec/$p.c" || exit 1
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bash "$SRC/tests/rvgen/programs/work-sql.sh" $((6000 * scale)) >"$tmp/work.sql"
bash "$SRC/tests/rvgen/programs/gen-data.sh" $((4096 * scale)) >"$tmp/data"
qemu-riscv64 "$bin/bzip2" -9 -c "$tmp/data" >"$tmp/data.bz2"
head -c $((512 * 1024 * scale)) "$tmp/data" >"$tmp/text"
python3 "$SRC/tests/rvgen/programs/gen-wav.py" $((10 * scale)) >"$tmp/in.wav"
qemu-riscv64 "$bin/xz" -6 -T1 -c "$tmp/data" >"$tmp/data.xz"
mips_n=$((200000000 * scale))

state=$(vessel_exec_state)
[ "$state" = ready ] || say "vessel exec is $state: measuring qemu-riscv64 only"

# one_run EMU OUTFILE STDIN PROG ARGS... -> prints "seconds rss_kb"; status of the program
one_run() {
    local emu=$1 out=$2 in=$3; shift 3
    rm -f "$tmp/t.db"
    local -a cmd
    case $emu in
    qemu) cmd=(qemu-riscv64 "$@") ;;
    base) cmd=("$VESSEL_BASE" exec "$@") ;;
    *) cmd=("$VESSEL" exec "$@") ;;
    esac
    local t0 t1 rc
    t0=$(date +%s%N)
    python3 "$SRC/bench/exec/rusage.py" "$tmp/rss" "${cmd[@]}" <"$in" >"$out" 2>"$tmp/err"; rc=$?
    t1=$(date +%s%N)
    local rss u s
    read -r rss u s < <(tail -n1 "$tmp/rss")
    if [ "${VESSEL_BENCH_CPU:-0}" = 1 ]; then
        # seconds with 6 decimals -> microseconds
        echo "$(python3 -c "print(round(($u + $s) * 1e6))") $rss"
    else
        echo "$(( (t1 - t0) / 1000 )) $rss"
    fi
    return $rc
}

median() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
max() { sort -n | tail -n1; }

rows=()
# bench NAME STDIN PROG ARGS...
bench() {
    local name=$1 in=$2; shift 2
    local n=$reps i r
    [ -n "${VESSEL_BENCH_ONLY:-}" ] && ! grep -qE -- "$VESSEL_BENCH_ONLY" <<<"$name" && return
    [ "$name" = hello ] && n=$((reps * 5))
    : >"$tmp/qt"; : >"$tmp/vt"; : >"$tmp/qr"; : >"$tmp/vr"; : >"$tmp/bt"
    local bad=
    for ((i = 1; i <= n; i++)); do
        say "$name: run $i/$n qemu"
        r=$(one_run qemu "$tmp/q.out" "$in" "$@") || { bad="qemu exit $?"; break; }
        echo "${r% *}" >>"$tmp/qt"; echo "${r#* }" >>"$tmp/qr"
        [ "$state" = ready ] || continue
        say "$name: run $i/$n vessel"
        r=$(one_run vessel "$tmp/v.out" "$in" "$@") || { bad="vessel exit $? ($(head -c 100 "$tmp/err"))"; break; }
        echo "${r% *}" >>"$tmp/vt"; echo "${r#* }" >>"$tmp/vr"
        cmp -s "$tmp/q.out" "$tmp/v.out" || { bad="vessel output differs from qemu"; break; }
        if [ -n "${VESSEL_BASE:-}" ]; then
            say "$name: run $i/$n base"
            r=$(one_run base "$tmp/v.out" "$in" "$@") || { bad="base exit $?"; break; }
            echo "${r% *}" >>"$tmp/bt"
            cmp -s "$tmp/q.out" "$tmp/v.out" || { bad="base output differs from qemu"; break; }
        fi
        # keep the whole bench within minutes when vessel is slow
        if [ "$i" -eq 1 ] && [ "${r% *}" -gt 15000000 ]; then
            n=1; say "$name: vessel took over 15 s, one run only"
        fi
    done
    if [ -n "$bad" ]; then
        rows+=("$name|FAILED: $bad")
        return
    fi
    local qt qr vt=- vr=- qs vs=- bt=-
    qt=$(median <"$tmp/qt"); qr=$(max <"$tmp/qr"); qs="$(sort -n "$tmp/qt" | head -n1)-$(max <"$tmp/qt")"
    if [ "$state" = ready ]; then
        vt=$(median <"$tmp/vt"); vr=$(max <"$tmp/vr"); vs="$(sort -n "$tmp/vt" | head -n1)-$(max <"$tmp/vt")"
        [ -s "$tmp/bt" ] && bt=$(median <"$tmp/bt")
    fi
    rows+=("$name|$qt|$vt|$qr|$vr|$qs|$vs|$bt")
}

bench "lua work.lua $((2 * scale))" /dev/null "$bin/lua" "$SRC/tests/rvgen/programs/work.lua" $((2 * scale))
bench "sqlite3 $((6000 * scale)) rows" "$tmp/work.sql" "$bin/sqlite3" "$tmp/t.db"
bench "bzip2 -9 $((4 * scale)) MB" /dev/null "$bin/bzip2" -9 -c "$tmp/data"
bench "bzip2 -d $((4 * scale)) MB" /dev/null "$bin/bzip2" -d -c "$tmp/data.bz2"
bench "sed -E $((512 * scale)) KB" /dev/null "$bin/sed" -E -f "$SRC/tests/rvgen/programs/work.sed" "$tmp/text"
bench "lame $((10 * scale)) s WAV" /dev/null "$bin/lame" --quiet -b 128 "$tmp/in.wav" -
bench "xz -6 $((4 * scale)) MB" /dev/null "$bin/xz" -6 -T1 -c "$tmp/data"
bench "xz -d $((4 * scale)) MB" /dev/null "$bin/xz" -d -c "$tmp/data.xz"
bench "cpu.c kernels" /dev/null "$bdir/cpu" "$scale"
bench "mips.c 8x$mips_n" /dev/null "$bdir/mips" "$mips_n"
bench hello /dev/null "$bdir/hello"

printf '%s\n' "${rows[@]}" | python3 -c '
import math, sys
state, mips_n, reps, cpu = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
rows = [l.rstrip("\n").split("|") for l in sys.stdin if l.strip()]
kind = "CPU" if cpu == "1" else "wall"
print("bench/exec: vessel exec vs qemu-riscv64, median %s time of %s runs (hello: 5x), peak RSS" % (kind, reps))
print("%-22s %10s %10s %8s %10s %10s  %s" % ("program", "qemu s", "vessel s", "ratio", "qemu RSS", "vessel RSS", "range qemu / vessel (s)"))
def rng(x):
    if x == "-": return "n/a"
    a, b = x.split("-"); return "%.3f-%.3f" % (int(a) / 1e6, int(b) / 1e6)
ratios, bratios, t = [], [], {}
for r in rows:
    if len(r) == 2:
        print("%-22s %s" % (r[0], r[1])); continue
    name, qt, vt, qr, vr, qs, vs, bt = r
    spread = "%s / %s" % (rng(qs), rng(vs))
    q = int(qt) / 1e6
    if vt == "-":
        print("%-22s %10.3f %10s %8s %7.1f MB %10s  %s" % (name, q, "n/a", "n/a", int(qr) / 1024, "n/a", spread))
        t[name] = (q, None); continue
    v = int(vt) / 1e6
    if q <= 0 or v <= 0:
        # a time of 0: not measurable (a failed run)
        print("%-22s %10.3f %10.3f %8s %7.1f MB %7.1f MB  %s  (no ratio: a time of 0, left out of the mean)"
              % (name, q, v, "n/a", int(qr) / 1024, int(vr) / 1024, spread))
        t[name] = (q, v); continue
    ratios.append(v / q); t[name] = (q, v)
    base = ""
    if bt != "-":
        bratios.append(int(bt) / 1e6 / q)
        base = "  base %.3f s %.2fx" % (int(bt) / 1e6, bratios[-1])
    print("%-22s %10.3f %10.3f %7.2fx %7.1f MB %7.1f MB  %s%s" % (name, q, v, v / q, int(qr) / 1024, int(vr) / 1024, spread, base))
if ratios:
    print("geometric mean ratio (vessel/qemu, %d programs, lower is better for vessel): %.2f"
          % (len(ratios), math.exp(sum(map(math.log, ratios)) / len(ratios))))
    if bratios:
        print("geometric mean ratio of VESSEL_BASE (same runs, %d programs): %.2f"
              % (len(bratios), math.exp(sum(map(math.log, bratios)) / len(bratios))))
else:
    print("geometric mean ratio: n/a (vessel exec %s)" % ("not available yet" if state == "pending" else state))
m = [k for k in t if k.startswith("mips.c")]
if m:
    q, v = t[m[0]]
    ins = 8 * mips_n
    print("guest MIPS (%.2g instructions of mips.c, %s time incl. start-up): qemu %.0f, vessel %s"
          % (ins, kind, ins / q / 1e6, "%.0f" % (ins / v / 1e6) if v else "n/a"))
if "hello" in t:
    q, v = t["hello"]
    print("hello-world start-up (median %s): qemu %.1f ms, vessel %s"
          % (kind, q * 1e3, "%.1f ms" % (v * 1e3) if v else "n/a"))
' "$state" "$mips_n" "$reps" "${VESSEL_BENCH_CPU:-0}"
failed=$(printf '%s\n' "${rows[@]}" | grep -c 'FAILED' || true)
[ "$failed" -eq 0 ]
