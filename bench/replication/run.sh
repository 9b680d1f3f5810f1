#!/usr/bin/env bash
# bench/replication: hot-spare replication of the default riscv64 guest
# (`vessel run --replicate` to a `vessel run --standby`, 25 ms epochs,
# docs/replication.md), measured in one run:
#   - throughput: a compute loop in the guest (a shell counting to N, no
#     I/O) timed from the host, RUNS times without replication and RUNS
#     times with it; the ratio of the medians (bar of issue 13: <= 2x);
#     also the CPU time the primary's process used for the loops (on a
#     loaded host the wall time is mostly waiting for a CPU);
#   - failover: the time from SIGKILL of the primary to the guest's next
#     console line at the standby (bench/replication/failover.py; the guest
#     prints "tick N" every 10 ms), FAILOVERS times, each after a new
#     standby protected the new primary (bar: <= 100 ms);
#   - bandwidth per epoch (stream bytes / epochs over 3 s of
#     query-replication) with the guest idle and while it rewrites 8 MiB of
#     its tmpfs in a loop.
# The peer is the same guest without replication, measured in the same run.
#
# Environment: VESSEL, SRC (set by bench/run.sh), RUNS (default 3),
# FAILOVERS (default 5), COUNT (the loop's N, default 200000), PERF (a
# file: `perf record -e cpu-clock` of the primary's process during the
# loops with replication, written there; `perf report -i FILE --sort
# comm,dso,sym` reads it).
set -u
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
VESSEL=${VESSEL:-$SRC/build/vessel}
RUNS=${RUNS:-3} FAILOVERS=${FAILOVERS:-5} COUNT=${COUNT:-200000}
. "$SRC/tests/guestlib.sh"
GUEST_TIMEOUT=${GUEST_TIMEOUT:-300}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vessel-bench-repl.XXXXXX")
spids=()
cleanup() { guest_kill; for p in "${spids[@]}"; do kill -9 "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
line=$(bash "$SRC/guest/build.sh" --print riscv64) || { echo "replication: no riscv64 guest; run 'make guest'"; exit 1; }
KERNEL= INITRD=
eval "$line"
vm=(run -m 256M --kernel "$KERNEL" --initrd "$INITRD" --append "console=ttyS0")
ms() { echo $(( $(date +%s%N) / 1000000 )); }
median() { tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
waitsock() { local i; for ((i = 0; i < 600; i++)); do [ -S "$1" ] && return 0; sleep 0.05; done; return 1; }
qfield() { "$VESSEL" qmp "$1" query-replication | python3 -c "import json,sys; print(json.load(sys.stdin).get('$2', 0))"; }
# standby N: a standby listening at $tmp/rN.sock, console to $tmp/sN.log
standby() {
    "$VESSEL" "${vm[@]}" --standby "unix:$tmp/r$1.sock,timeout=5000" --qmp "unix:$tmp/s$1.qmp" </dev/null \
        >"$tmp/s$1.log" 2>&1 &
    spids+=($!)
    eval "spid_$1=$!"
    waitsock "$tmp/r$1.sock"
}
# cpums PID: the CPU time of the process (all its threads: the harts, the
# replication thread, the I/O thread), user + system, in ms
cpums() { awk -v hz="$(getconf CLK_TCK)" '{ print int(($14 + $15) * 1000 / hz) }' "/proc/$1/stat"; }
# loop K: the compute loop, its time on the host in ms; the primary's CPU
# time for it is appended to $tmp/cpu
loop() {
    local t0 t1 c0
    t0=$(ms) c0=$(cpums "$GUEST_PID")
    guest_send "i=0; while [ \$i -lt $COUNT ]; do i=\$((i+1)); done; echo loop-done-$1"
    guest_wait_for "^loop-done-$1\$" 600 || { echo "replication: the loop did not finish" >&2; return 1; }
    t1=$(ms)
    echo "$1 $(( $(cpums "$GUEST_PID") - c0 ))" >> "$tmp/cpu"
    echo $((t1 - t0))
}

echo "replication: load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
# ---- without replication (the peer)
guest_start "$VESSEL" "${vm[@]}"
guest_wait_ready || { echo "replication: the guest did not boot"; exit 1; }
off=; for k in $(seq 1 "$RUNS"); do off="$off $(loop "off$k")"; done
guest_kill
# ---- with replication
standby 1
guest_start "$VESSEL" "${vm[@]}" --replicate "unix:$tmp/r1.sock" --qmp "unix:$tmp/p.qmp"
guest_wait_ready || { echo "replication: the primary did not boot"; exit 1; }
perfpid=
if [ -n "${PERF:-}" ]; then
    perf record -q -e cpu-clock -p "$GUEST_PID" -o "$PERF" >/dev/null 2>&1 &
    perfpid=$!
fi
on=; for k in $(seq 1 "$RUNS"); do on="$on $(loop "on$k")"; done
if [ -n "$perfpid" ]; then kill -INT "$perfpid"; wait "$perfpid"; fi
moff=$(echo "$off" | median) mon=$(echo "$on" | median)
printf 'throughput: a shell loop to %d: %s ms without replication, %s ms with it (medians of%s /%s): ratio %s\n' \
    "$COUNT" "$moff" "$mon" "$off" "$on" "$(python3 -c "print(round($mon / $moff, 2))")"
# on a loaded host the wall time is mostly waiting for a CPU: the CPU time
# the primary's process used for the same loops says what replication costs
coff=$(grep '^off' "$tmp/cpu" | cut -d' ' -f2 | tr '\n' ' ') con=$(grep '^on' "$tmp/cpu" | cut -d' ' -f2 | tr '\n' ' ')
mcoff=$(echo "$coff" | median) mcon=$(echo "$con" | median)
printf 'throughput, CPU time of the vessel process for the loop: %s ms without, %s ms with (medians of %s/ %s): ratio %s\n' \
    "$mcoff" "$mcon" "$coff" "$con" "$(python3 -c "print(round($mcon / max($mcoff, 1), 2))")"

# ---- bandwidth per epoch: idle, then under a memory-writing load
bw() {
    local b0 e0 b1 e1
    b0=$(qfield "$tmp/p.qmp" transferred) e0=$(qfield "$tmp/p.qmp" epochs)
    sleep 3
    b1=$(qfield "$tmp/p.qmp" transferred) e1=$(qfield "$tmp/p.qmp" epochs)
    python3 -c "e = $e1 - $e0; b = $b1 - $b0; print('%d epochs in 3 s, %.1f KiB per epoch, %.2f MiB/s' % (e, b / max(e, 1) / 1024, b / 3 / 1048576))"
}
echo "replication: $("$VESSEL" qmp "$tmp/p.qmp" query-replication)"
echo "standby: $("$VESSEL" qmp "$tmp/s1.qmp" query-replication)"
echo "bandwidth idle: $(bw)"
guest_send 'while :; do dd if=/dev/zero of=/tmp/w bs=1M count=8 2>/dev/null; done &'
sleep 1
echo "bandwidth while the guest rewrites 8 MiB of tmpfs in a loop: $(bw)"
guest_send 'kill %1; rm -f /tmp/w'

# ---- failover: kill the primary, time the standby's next console line
guest_send 'i=0; while :; do i=$((i+1)); echo "tick $i"; usleep 10000; done &'
guest_wait_for '^tick 20' 60 || { echo "replication: no ticks"; exit 1; }
times=
prim=$GUEST_PID pq=$tmp/p.qmp
for k in $(seq 1 "$FAILOVERS"); do
    # the standby has epochs
    for ((i = 0; i < 600; i++)); do [ "$(qfield "$tmp/s$k.qmp" epochs 2>/dev/null)" -gt 2 ] 2>/dev/null && break; sleep 0.05; done
    sleep 0.$((RANDOM % 5 + 1))
    out=$(python3 "$SRC/bench/replication/failover.py" "$prim" "$tmp/s$k.log")
    echo "failover $k: $out"
    times="$times $(grep -oE '^failover [0-9.]+' <<<"$out" | cut -d' ' -f2)"
    wait "$prim" 2>/dev/null
    # re-protection: a new standby for the new primary
    n=$((k + 1))
    standby "$n"
    "$VESSEL" qmp "$tmp/s$k.qmp" vm-replicate "{\"uri\": \"unix:$tmp/r$n.sock\"}" >/dev/null
    eval "prim=\$spid_$k"
done
printf 'failover: kill to the next console line: median %s ms (runs:%s)\n' "$(echo "$times" | median)" "$times"
echo "bars (issue 13): failover <= 100 ms; throughput ratio <= 2"
