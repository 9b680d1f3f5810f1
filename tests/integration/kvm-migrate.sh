#!/bin/bash
# Live migration on vessel kvm (docs/snapshot.md, "Migration"): the default
# x86-64 guest (--smp 2, virtio-blk on PCI) runs a workload that writes a
# checksummed counter to memory (/tmp/ctr), to the disk (sector i holds
# "i md5") and to the console ("ctr i md5 uptime"). On the source A:
# - kvm-mig-cancel: migrate to B at 1 MiB/s, migrate_cancel while active:
#   A runs on (its counter goes on), B exits 1 with the reason;
# - kvm-mig-corrupt / kvm-mig-truncated: migrate through a relay (busybox
#   nc and dd) that flips one byte of the stream, or cuts it: the
#   destination exits 1 with one line naming it, A reports failed and runs
#   on; a destination fed garbage exits 1 with one line;
# - kvm-mig-live: migrate A to D (unix socket) while it runs: A exits 0
#   after "migrate: completed ... passes ... downtime", the console goes on
#   at D from the next number (nothing repeated, nothing lost, checksums
#   right), the guest's uptime goes on from A's; the largest gap between
#   counter lines' arrival on the host is printed (nested: not a hardware
#   figure);
# - kvm-mig-dirty: D, with a loop rewriting 32 MiB of a tmpfs file on top,
#   moves to E (tcp) with a 20 ms downtime limit and auto-converge: it
#   completes after several passes and the counter goes on at E;
# - kvm-mig-file: E to a file (file:, QEMU's file migration): E stays
#   paused until quit, its query-migrate shows the passes and downtime;
#   F (--incoming file: -S) reads it and stays stopped (the MiB of its RAM
#   that differ from E's, by vm-snapshot of both, are printed) and goes on
#   from it after cont;
# then at F the counter in memory is the last printed, every disk sector
# 1..m holds what the console printed for it, and F powers off (status 0).
# Runs where /dev/kvm works and in the nested tier (kvm-nested-migrate.sh).
# Only bash, busybox and vessel: what L1 has (no python, no /dev/fd).
. "$SRC/tests/lib.sh"
. "$SRC/tests/guestlib.sh"
dev=${VESSEL_KVM_DEV:-/dev/kvm}
names="kvm-mig-boot kvm-mig-cancel kvm-mig-corrupt kvm-mig-truncated kvm-mig-live kvm-mig-dirty kvm-mig-file kvm-mig-end"
skip_all() { local n; for n in $names; do skip "$n" "$1"; done; exit 0; }
x86_linux_guest || skip_all "$X86_LINUX_MISSING"
{ [ -r "$dev" ] && [ -w "$dev" ]; } || skip_all "$dev missing or not accessible (the nested tier runs this test inside its L1)"
why=$(kvm_soft_why); [ -z "$why" ] || skip_all "$why"
have nc || skip_all "nc missing (the relay of the corrupt-stream cases; busybox has it)"
GUEST_TIMEOUT=$(slow 60)
GUEST_KEEP=1        # the console logs live under $d until the end
d=$(mktemp -d "${TMPDIR:-/tmp}/vessel-kvmmig.XXXXXX")
declare -A PID IN STAMP
pids=()
cleanup() { local p; for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; kvm_trace off 2>/dev/null; rm -rf "$d"; }
trap cleanup EXIT
truncate -s 16M "$d/disk.img"
# --no-reboot: a guest reset (a triple fault, panic=-1) ends its VM (status
# 3) with the console as it was, instead of a second boot over it
opts=(--kernel "$KERNEL" --initrd "$INITRD" -m 256M --smp 2 --disk "$d/disk.img" --append "console=ttyS0 panic=-1" --no-reboot)
port0=$((20000 + ($$ * 7) % 20000))

# stamp RAW STAMPS: the console to RAW as it comes (a last line cut by the
# migration stays without its newline: the destination prints the rest),
# and every counter line with its arrival time to STAMPS (bash builtins
# only, so the time is when the line arrived)
stamp() {
    local l=
    { while IFS= read -r l; do
          printf '%s\n' "$l" >&3
          case $l in *"ctr "*) printf '%s %s\n' "$EPOCHREALTIME" "$l" >&4 ;; esac
      done
      [ -n "$l" ] && printf '%s' "$l" >&3; } 3>>"$1" 4>>"$2"
}
# vm NAME VESSEL-KVM-ARGS...: start a VM whose console is driven through
# guestlib (use_vm NAME), logged to $d/NAME/console.log and stamped;
# vessel's own lines go to $d/NAME/err (a line cut by the migration must
# stay whole: the destination prints the rest of it)
vm() {
    local n=$1 fd; shift
    mkdir -p "$d/$n"; mkfifo "$d/$n/in" "$d/$n/out"; : >"$d/$n/console.log"; : >"$d/$n/stamps"
    stamp "$d/$n/console.log" "$d/$n/stamps" <"$d/$n/out" &
    STAMP[$n]=$!
    "$VESSEL" kvm "$@" <"$d/$n/in" >"$d/$n/out" 2>"$d/$n/err" &
    PID[$n]=$!; pids+=($!)
    exec {fd}>"$d/$n/in"
    IN[$n]=$fd
}
use_vm() { GUEST_PID=${PID[$1]} GUEST_LOG=$d/$1/console.log GUEST_IN=${IN[$1]} GUEST_DIR=$d/$1; }
q() { timeout -k 5 "$(slow 30)" "$VESSEL" qmp "$d/$1.qmp" "${@:2}"; }
# field JSON KEY: the first value of KEY in a one-line JSON object
field() { grep -o "\"$2\": *[^,}]*" <<<"$1" | head -1 | sed 's/^[^:]*: *//; s/"//g'; }
wait_for() { local end=$(( $(date +%s) + $1 )); shift; until "$@"; do [ "$(date +%s)" -lt "$end" ] || return 1; sleep 0.05; done; }
# exited PID: the process has ended (reaped or a zombie)
exited() { ! kill -0 "$1" 2>/dev/null || [ "$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null)" = Z ]; }
# ramsums SNAPDIR: "FILE MIB MD5" for every MiB of every RAM file of a
# vm-snapshot (busybox only: L1 has no python)
ramsums() {
    local f i size
    for f in "$1"/ram-*.bin; do
        [ -f "$f" ] || continue
        size=$(stat -c %s "$f") i=0
        while [ $((i * 1048576)) -lt "$size" ]; do
            echo "${f##*/} $i $(dd if="$f" bs=1M skip=$i count=1 2>/dev/null | md5sum | cut -c1-32)"
            i=$((i + 1))
        done
    done
}
# ctrs [FILE]: "i md5 uptime" of every counter line (stdin without FILE:
# L1 has no /dev/stdin)
ctrs() { if [ $# -gt 0 ]; then tr -d '\r' < "$1"; else tr -d '\r'; fi | grep -aoE 'ctr [0-9]+ [0-9a-f]{8} [0-9]+\.[0-9]+' | cut -d' ' -f2-; }
lastctr() { ctrs "$1" | tail -1 | cut -d' ' -f1; }
reached() { [ "$(lastctr "$1")" -ge "$2" ] 2>/dev/null; }
# runs_on NAME N: VM NAME's counter goes N further than now
runs_on() { local c; c=$(lastctr "$d/$1/console.log"); wait_for "$(slow 6)" reached "$d/$1/console.log" $((${c:-0} + $2)); }
# consecutive: the counters on stdin go up by one
consecutive() { awk 'NR > 1 && $1 != p + 1 { print "after " p ": " $1; bad = 1; exit } { p = $1 } END { exit bad }' >&2; }
# sums_ok FROM TO FILE...: the checksums of counters FROM..TO are right
sums_ok() {
    local from=$1 to=$2 bad; shift 2
    bad=$(cat "$@" | ctrs | while read -r i s u; do
        [ "$i" -ge "$from" ] && [ "$i" -le "$to" ] || continue
        [ "$(echo "n=$i" | md5sum | cut -c1-8)" = "$s" ] || echo "$i"; done)
    [ -z "$bad" ] || { echo "bad checksums: $bad" >&2; return 1; }
}
# mig_status NAME: query-migrate on VM NAME into $MIGQ, its status into
# $MIGS (no subshell: the caller reads both)
mig_status() { MIGQ=$(q "$1" query-migrate 2>/dev/null); MIGS=$(field "$MIGQ" status); }
is_status() { mig_status "$1"; [ "$MIGS" = "$2" ]; }
active_sent() { is_status "$1" active && [ "$(field "$MIGQ" transferred)" -gt 0 ] 2>/dev/null; }
# destination NAME URI: a destination that fails (no console of its own)
destination() {
    "$VESSEL" kvm "${opts[@]}" --serial null --incoming "$2" </dev/null >"$d/$1.err" 2>&1 &
    PID[$1]=$!; pids+=($!)
}
# ended NAME: its exit status once it has exited (bounded)
ended() { wait_for "$(slow 6)" exited "${PID[$1]}" || kill -9 "${PID[$1]}"; wait "${PID[$1]}"; }
# gaps STAMPS-A STAMPS-B T: largest gap between counter lines' arrivals
# in the 5 s before T (A alone), from T on (both), and at the handover
# (A's last to B's first), in ms
gaps() {
    { sed 's/^/a /' "$1"; sed 's/^/b /' "$2"; } | sort -k2,2n | awk -v t="$3" '
        $3 != "ctr" || $4 !~ /^[0-9]+$/ { next }
        { tm = $2 * 1000 }
        $1 == "a" && tm < t * 1000 && tm >= (t - 5) * 1000 { if (pa != "" && tm - pa > before) before = tm - pa; pa = tm }
        tm >= t * 1000 { if (pl != "" && tm - pl > after) after = tm - pl }
        { pl = tm }
        $1 == "a" { lasta = tm }
        $1 == "b" && firstb == "" { firstb = tm }
        END { printf "%.1f %.1f %.1f\n", before, after, (firstb != "" && lasta != "") ? firstb - lasta : -1 }'
}

# job NAME DEFINITION: define the shell function NAME in the guest and
# start it in the background, each step answered (guest_run), the
# definition typed again if the shell does not have it: a line sent right
# after the guest was ready once reached its shell without its first 80
# bytes (a syntax error, and no workload)
job() {
    local try
    for try in 1 2 3; do
        guest_run "$2" "$(slow 3)" >/dev/null
        guest_run "type $1 >/dev/null" "$(slow 3)" >/dev/null && break
    done
    guest_run "{ $1 & }" "$(slow 3)" >/dev/null
}

# L1's KVM tracepoints (kvm_trace, tests/guestlib.sh), on from A's boot to
# the end: now and then a guest stopped printing after a migration or a
# cancelled one (idle: its workload waiting on something), or a
# destination reset before its first line.

# stalled VM: why VM's workload printed nothing more: whether a key on its
# console wakes it (a console whose transmit interrupt was lost goes on
# at the next input, its receive interrupt running the same handler; a
# workload waiting on the disk does not), then L1's KVM trace of its threads
stalled() {
    local c0 c1
    c0=$(lastctr "$d/$1/console.log")
    printf '\n' >&"${IN[$1]}" 2>/dev/null
    wait_for "$(slow 3)" reached "$d/$1/console.log" $((${c0:-0} + 2))
    c1=$(lastctr "$d/$1/console.log")
    echo "a key on its console: ctr ${c0:-none} -> ${c1:-none} ($([ "${c1:-0}" -gt "${c0:-0}" ] && echo 'woke it' || echo 'did not wake it')); vessel: $(tail -c 300 "$d/$1/err" | tr '\n' '|'); L1's KVM trace: $(kvm_trace dump "$1" "${PID[$1]}" | tail -c 2500)"
}

vm A "${opts[@]}" --qmp "unix:$d/A.qmp"
use_vm A
if ! guest_wait_ready; then
    nok "kvm-mig-boot: the default x86-64 guest boots ($(guest_tail 10 2>&1 | tr '\n' ' ' | tail -c 400))"
    for n in $names; do [ "$n" = kvm-mig-boot ] || skip "$n" "the guest did not boot"; done
    exit 0
fi
job w 'w() { i=$(cat /tmp/ctr 2>/dev/null || echo 0); while [ ! -f /tmp/stop ]; do i=$((i+1)); s=$(echo "n=$i" | md5sum | cut -c1-8); echo $i > /tmp/ctr; printf "%08d %s\n" $i $s | dd of=/dev/vda bs=512 seek=$i conv=notrunc oflag=direct 2>/dev/null; echo "ctr $i $s $(cut -d" " -f1 /proc/uptime)"; done; }'
if wait_for "$(slow 6)" reached "$d/A/console.log" 6; then
    ok "kvm-mig-boot: the guest boots (--smp 2, virtio-blk on PCI) and runs the workload (ctr $(lastctr "$d/A/console.log"))"
    kvm_trace on
else
    nok "kvm-mig-boot: the workload runs"; guest_tail 10 | sed 's/^/# /'; exit 0
fi

# ---- migrate_cancel: A runs on, B exits 1 ----
destination B "unix:$d/b.sock"
wait_for "$(slow 3)" test -S "$d/b.sock"
q A migrate-set-parameters '{"max-bandwidth": 1048576}' >/dev/null
out=$(q A migrate "{\"uri\":\"unix:$d/b.sock\"}" 2>&1)
wait_for "$(slow 3)" active_sent A; act=$MIGQ
q A migrate_cancel >/dev/null
wait_for "$(slow 3)" is_status A cancelled; st=$(field "$MIGQ" status)
[ "$st" = cancelled ] || echo "# query-migrate: $act then $MIGQ; A: $(tail -3 "$d/A/err" | tr '\n' '|')"
ended B; rc=$?
check "kvm-mig-cancel: migrate {} ($out), active ($(field "$act" transferred) bytes sent), migrate_cancel: $st; B exits $rc: $(grep -a 'cancelled' "$d/B.err" | head -1)" \
    eval 'test "$out" = "{}" -a "$st" = cancelled -a $rc -eq 1 && grep -aq "migration cancelled by the source" "$d/B.err"'
if runs_on A 3 && q A query-status | grep -q '"running":true'; then
    ok "kvm-mig-cancel: A runs on ($(q A query-status))"
else
    nok "kvm-mig-cancel: A runs on ($(q A query-status); last ctr $(lastctr "$d/A/console.log"); $(stalled A))"
fi
q A migrate-set-parameters '{"max-bandwidth": 0}' >/dev/null

# ---- bad streams through a relay: the destination fails with one line, A runs on ----
# relay CUT INSERT: listen on port0 for A, forward to port0+1 (the
# destination): the first CUT bytes, then (INSERT=1) one byte more and
# the rest (every later record shifted: no CRC can match), else nothing
relay() {
    timeout -k 10 "$(slow 120)" nc -l -p "$port0" | {
        exec 5<>"/dev/tcp/127.0.0.1/$((port0 + 1))" || exit 1
        dd bs=4096 count=$(($1 / 4096)) iflag=fullblock 2>/dev/null >&5
        if [ "$2" = 1 ]; then printf 'Z' >&5; cat >&5; fi
        exec 5>&-; } &
    pids+=($!)
}
listening() { { netstat -ltn 2>/dev/null || ss -ltn 2>/dev/null; } | grep -q ":$1 "; }
bad_relay() {   # NAME CUT INSERT PATTERN
    local name=$1 n=$2 flip=$3 pat=$4 rc out st why
    destination C "tcp:127.0.0.1:$((port0 + 1))"
    wait_for "$(slow 3)" listening $((port0 + 1))
    relay "$n" "$flip"
    wait_for "$(slow 3)" listening "$port0"
    out=$(q A migrate "{\"uri\":\"tcp:127.0.0.1:$port0\"}" 2>&1)
    ended C; rc=$?
    wait_for "$(slow 6)" is_status A failed; st=$(field "$MIGQ" status) why=$(field "$MIGQ" error-desc)
    [ "$st" = failed ] || echo "# migrate $out; query-migrate: $MIGQ; C: $(tail -3 "$d/C.err" | tr '\n' '|')"
    check "kvm-mig-$name: the destination exits $rc with one line: $(grep -ac . "$d/C.err") line(s): $(head -1 "$d/C.err" | head -c 200)" \
        eval '[ $rc -eq 1 ] && [ "$(grep -ac . "$d/C.err")" -eq 1 ] && grep -aq "$pat" "$d/C.err"'
    check "kvm-mig-$name: A says $st ($why) and runs on" eval '[ "$st" = failed ] && runs_on A 3'
    port0=$((port0 + 2))
}
bad_relay corrupt 1048576 1 "CRC-32\|corrupt"
bad_relay truncated 2097152 0 "ended early"
# garbage straight into a destination (bash's /dev/tcp)
destination G "tcp:127.0.0.1:$port0"
wait_for "$(slow 3)" listening "$port0"
{ exec 5<>"/dev/tcp/127.0.0.1/$port0" && printf 'hello, world....' >&5; exec 5>&-; }
ended G; rc=$?
check "kvm-mig-corrupt: garbage at the destination: exit $rc, one line: $(head -1 "$d/G.err" | head -c 160)" \
    eval '[ $rc -eq 1 ] && [ "$(grep -ac . "$d/G.err")" -eq 1 ] && grep -aq "not a vessel migration stream" "$d/G.err"'
port0=$((port0 + 1))

# ---- the live migration A -> D over a unix socket ----
vm D "${opts[@]}" --qmp "unix:$d/D.qmp" --incoming "unix:$d/d.sock"
wait_for "$(slow 3)" test -S "$d/d.sock"
st=$(q D query-status)
runs_on A 3
t=$EPOCHREALTIME
out=$(q A migrate "{\"uri\":\"unix:$d/d.sock\"}" 2>&1)
# query-migrate while it runs (A exits right after completed)
passes=0 exp= end=$(( $(date +%s) + $(slow 15) ))
while ! exited "${PID[A]}" && [ "$(date +%s)" -lt "$end" ]; do
    mig_status A
    if [ "$MIGS" = active ]; then p=$(field "$MIGQ" dirty-sync-count); e=$(field "$MIGQ" expected-downtime)
        [ "${p:-0}" -gt "$passes" ] && passes=$p exp=$e; fi
    sleep 0.05
done
exited "${PID[A]}" || { q A migrate_cancel >/dev/null; echo "# A did not finish: $MIGQ"; kill -9 "${PID[A]}"; }
wait "${PID[A]}"; rc=$?
wait "${STAMP[A]}"
line=$(grep -ao 'migrate: completed.*' "$d/A/err" | head -1)
check "kvm-mig-live: migrate {} ($out), D waited in $(field "$st" status); A exits $rc: ${line:-no completed line}" \
    eval '[ "$out" = "{}" ] && [ $rc -eq 0 ] && [ -n "$line" ] && grep -q prelaunch <<<"$st"'
echo "# kvm-mig-live: query-migrate while active: dirty-sync-count up to $passes, expected-downtime ${exp:-?} ms"
n=$(lastctr "$d/A/console.log") upa=$(ctrs "$d/A/console.log" | tail -1 | cut -d' ' -f3)
use_vm D    # from here on guestlib drives D
if wait_for "$(slow 6)" reached "$d/D/console.log" $((n + 6)); then
    first=$(ctrs "$d/D/console.log" | head -1) upd=$(ctrs "$d/D/console.log" | head -1 | cut -d' ' -f3)
    all=$(cat "$d/A/console.log" "$d/D/console.log" | ctrs)
    check "kvm-mig-live: the console goes on at D after A's last ctr $n (D's first whole line ${first%% *}), up by one, none repeated or lost" \
        eval '[ "${first%% *}" -le $((n + 2)) ] && consecutive <<<"$all"'
    check "kvm-mig-live: every checksum right around the handover ($((n - 10))..$((n + 6)))" \
        sums_ok $((n - 10)) $((n + 6)) "$d/A/console.log" "$d/D/console.log"
    check "kvm-mig-live: the guest's clock goes on from A's ($upa s -> $upd s)" \
        awk -v a="$upa" -v b="$upd" -v m=10 'BEGIN { exit !(b != "" && b >= a && b - a < m) }'
    read -r before after hand <<<"$(gaps "$d/A/stamps" "$d/D/stamps" "$t")"
    echo "# kvm-mig-live: downtime as the host sees it: largest gap between counter lines from migrate on ${after} ms, at the handover ${hand} ms (largest gap in the 5 s before: ${before} ms); vessel's own: $(grep -o 'downtime [0-9]* ms' <<<"$line"). Nested (L2 under an L1 on TCG): not a hardware figure"
else
    nok "kvm-mig-live: the workload goes on at D (last ctr $(lastctr "$d/D/console.log"); $(tail -c 400 "$d/D/console.log" | tr -d '\r' | tr '\n' '|'); $(stalled D))"
fi

# ---- D -> E (tcp) with memory dirtied fast, a 20 ms downtime limit, auto-converge ----
if exited "${PID[D]}"; then
    skip kvm-mig-dirty "D is not running"
else
    # (not zeros: a zero page travels as a run without its data)
    job z 'z() { while [ ! -f /tmp/stop ]; do yes abcdefgh | dd of=/tmp/big bs=1M count=32 iflag=fullblock conv=notrunc 2>/dev/null; done; }'
    runs_on D 3
    vm E "${opts[@]}" --qmp "unix:$d/E.qmp" --incoming "tcp:127.0.0.1:$port0"
    wait_for "$(slow 3)" listening "$port0"
    q D migrate-set-parameters '{"downtime-limit": 20}' >/dev/null
    q D migrate-set-capabilities '{"capabilities": [{"capability": "auto-converge", "state": true}]}' >/dev/null
    t=$EPOCHREALTIME
    out=$(q D migrate "{\"uri\":\"tcp:127.0.0.1:$port0\"}" 2>&1)
    rate=0 thr=0 end=$(( $(date +%s) + $(slow 20) ))
    while ! exited "${PID[D]}" && [ "$(date +%s)" -lt "$end" ]; do
        mig_status D
        if [ "$MIGS" = active ]; then
            r=$(field "$MIGQ" dirty-pages-rate) c=$(field "$MIGQ" cpu-throttle-percentage)
            [ "${r:-0}" -gt "$rate" ] && rate=$r
            [ "${c:-0}" -gt "$thr" ] && thr=$c
        fi
        sleep 0.05
    done
    exited "${PID[D]}" || { q D migrate_cancel >/dev/null; echo "# D did not finish: $MIGQ"; kill -9 "${PID[D]}"; }
    wait "${PID[D]}"; rc=$?
    wait "${STAMP[D]}"
    line=$(grep -ao 'migrate: completed.*' "$d/D/err" | head -1)
    np=$(grep -o '[0-9]* passes' <<<"$line" | cut -d' ' -f1)
    check "kvm-mig-dirty: D exits $rc after several passes (${np:-?}; dirty-pages-rate up to $rate pages/s, throttle up to $thr%): ${line:-no completed line}" \
        eval '[ $rc -eq 0 ] && [ "${np:-0}" -ge 3 ]'
    n=$(lastctr "$d/D/console.log")
    echo "# kvm-mig-dirty: vessel's own: $(grep -o 'downtime [0-9]* ms' <<<"$line")"
    use_vm E
    if wait_for "$(slow 6)" reached "$d/E/console.log" $((n + 6)); then
        all=$(cat "$d/A/console.log" "$d/D/console.log" "$d/E/console.log" | ctrs)
        check "kvm-mig-dirty: the console goes on at E after D's last ctr $n, up by one, none repeated or lost" \
            eval 'consecutive <<<"$all" && sums_ok $((n - 5)) $((n + 6)) "$d/D/console.log" "$d/E/console.log"'
        read -r before after hand <<<"$(gaps "$d/D/stamps" "$d/E/stamps" "$t")"
        echo "# kvm-mig-dirty: gap between counter lines as the host sees it: largest from migrate on ${after} ms, at the handover ${hand} ms (5 s before: ${before} ms); nested, not a hardware figure"
    else
        nok "kvm-mig-dirty: the workload goes on at E (last ctr $(lastctr "$d/E/console.log"); $(tail -c 400 "$d/E/console.log" | tr -d '\r' | tr '\n' '|'); $(stalled E))"
    fi
fi

# ---- E -> a file -> F (QEMU's file migration): E stays paused, F goes on from the file ----
if [ -n "${PID[E]}" ] && ! exited "${PID[E]}"; then
    out=$(q E migrate "{\"uri\":\"file:$d/e.mig\"}" 2>&1)
    wait_for "$(slow 15)" is_status E completed; st=$(field "$MIGQ" status)
    # E outlives its migration: query-migrate's totals can be read
    np=$(field "$MIGQ" dirty-sync-count) dt=$(field "$MIGQ" downtime) tt=$(field "$MIGQ" total-time)
    rs=$(q E query-status)
    n=$(lastctr "$d/E/console.log")
    # E's RAM as it stays paused (vm-snapshot), set against F's once F has
    # read the file and before it runs (-S): a page the migration missed
    # shows here by its MiB, not later as a guest gone wrong
    q E vm-snapshot "{\"path\":\"$d/se\"}" >/dev/null && ramsums "$d/se" >"$d/se.sums"
    cp "$d/se/state.bin" "$d/se.state" 2>/dev/null; rm -rf "$d/se"
    q E quit >/dev/null
    wait_for "$(slow 6)" exited "${PID[E]}"; wait "${PID[E]}"; rc=$?
    wait "${STAMP[E]}"
    check "kvm-mig-file: migrate file: $out, $st (query-migrate: dirty-sync-count $np, downtime $dt ms, total-time $tt ms); E stays paused ($rs) until quit (status $rc); $(du -k "$d/e.mig" | cut -f1) KiB" \
        eval '[ "$out" = "{}" ] && [ "$st" = completed ] && [ "${np:-0}" -ge 2 ] && [ -n "$dt" ] && grep -q "\"paused\"" <<<"$rs" && [ $rc -eq 0 ]'
    vm F "${opts[@]}" --qmp "unix:$d/F.qmp" --incoming "file:$d/e.mig" -S
    use_vm F
    wait_for "$(slow 15)" is_status F completed
    fs=$(q F query-status)
    sn=$(q F vm-snapshot "{\"path\":\"$d/sf\"}" 2>&1) && ramsums "$d/sf" >"$d/sf.sums"
    # and the machine state F loaded against the one E saved: the bytes
    # that differ (the clocks move on; anything else is a state not put back)
    sd=$(cmp -l "$d/se.state" "$d/sf/state.bin" 2>/dev/null | awk '{ n++; if (n <= 40) o = o sprintf("%d ", $1 - 1) } END { printf "%d bytes, at %s", n, o }')
    rm -rf "$d/sf"
    rd=$(awk 'NR == FNR { e[$1 " " $2] = $3; next } e[$1 " " $2] != $3 { printf "%s MiB %s, ", $1, $2; if (++n == 8) exit }' \
            "$d/se.sums" "$d/sf.sums" 2>/dev/null)
    # not a check: in passing runs one MiB (27) differed, the guest
    # running on after it (in the one failing run with this line, none). The default guest kernel's System.map puts its
    # kvmclock structures there (wall_clock at 0x1baa008, hv_clock_boot at
    # 0x1bab000, the kernel at 16 MiB), which KVM itself writes when F's
    # MSRs are loaded (MSR_KVM_WALL_CLOCK_NEW): equal RAM is not expected.
    # Which MiB differ goes into the lines below.
    echo "# kvm-mig-file: F's RAM against E's: E $(grep -c . "$d/se.sums" 2>/dev/null) MiB, F $(grep -c . "$d/sf.sums" 2>/dev/null) MiB, differing: ${rd:-none}; F's state.bin against E's: $sd"
    check "kvm-mig-file: with -S, F reads the file and stays stopped ($fs)" eval 'grep -q "\"prelaunch\"" <<<"$fs"'
    q F cont >/dev/null
    if wait_for "$(slow 6)" reached "$d/F/console.log" $((n + 6)); then
        all=$(cat "$d"/[ADEF]/console.log | ctrs)
        check "kvm-mig-file: --incoming file: goes on after E's last ctr $n, up by one, none repeated or lost" \
            eval 'consecutive <<<"$all" && sums_ok $((n - 5)) $((n + 6)) "$d/E/console.log" "$d/F/console.log"'
    else
        # what F did (a reset boots the kernel again: its first lines), and
        # E's account of the migration into the file, in the one line CI shows
        nok "kvm-mig-file: the workload goes on at F (last ctr $(lastctr "$d/F/console.log"); F's vessel lines: $(tail -c 600 "$d/F/err" | tr '\n' '|'); F's console ($(wc -c < "$d/F/console.log") bytes): $(head -c 300 "$d/F/console.log" | tr -d '\r' | tr '\n' '|') ... $(tail -c 300 "$d/F/console.log" | tr -d '\r' | tr '\n' '|'); E's: $(grep -a 'migrate: ' "$d/E/err" | tail -n 2 | tr '\n' '|'); RAM MiB differing before F ran: ${rd:-none}; state.bin differing: $sd; $(stalled F))"
    fi
else
    skip kvm-mig-file "E is not running"
fi

# ---- the end: memory, disk, power-off on the last VM ----
if [ -n "${PID[F]}" ] && ! exited "${PID[F]}"; then last=F
elif [ -n "${PID[E]}" ] && ! exited "${PID[E]}"; then last=E; elif ! exited "${PID[D]}"; then last=D; else last=; fi
if [ -n "$last" ]; then
    use_vm "$last"
    # no answer: what the console held then, and (after the power-off)
    # what came out later, in the failure line (a console whose output
    # stalled until the next input, or a workload that never stopped)
    stuck=
    guest_run 'touch /tmp/stop; wait' >/dev/null
    [ $? -ne 255 ] ||
        stuck="no answer to 'touch /tmp/stop; wait'; the console then: $(tail -c 300 "$d/$last/console.log" | tr -d '\r' | tr '\n' '|')"
    stuck_at=$(stat -c %s "$d/$last/console.log")
    m=$(lastctr "$d/$last/console.log")
    mem=$(guest_run 'cat /tmp/ctr' | grep -E '^[0-9]+$' | tail -1)
    rc=0; guest_poweroff "$(slow 30)" || rc=$?
    [ -n "$stuck" ] && stuck+="; after it: $(tail -c +$((stuck_at + 1)) "$d/$last/console.log" | head -c 400 | tr -d '\r' | tr '\n' '|'); vessel: $(tail -c 300 "$d/$last/err" | tr '\n' '|')"
    check "kvm-mig-end: at $last the counter in guest memory is the last one printed ($mem = $m${stuck:+; $stuck})" test "$mem" = "$m"
    check "kvm-mig-end: the migrated guest powers off (status $rc)" test $rc -eq 0
    # every sector 1..m holds what the console printed for it (no md5 per
    # line; compared as text, the zero-padded numbers never read as numbers)
    want=$(cat "$d"/[ADEF]/console.log 2>/dev/null | ctrs | awk -v m="$m" '$1 <= m { printf "%08d %s\n", $1, $2 }' | sort -u)
    got=$(dd if="$d/disk.img" bs=512 skip=1 count="$m" 2>/dev/null | tr -s '\0' '\n' | grep -aE '^[0-9]{8} [0-9a-f]{8}$')
    bad=$( [ "$got" = "$want" ] || { echo "$want" >"$d/want"; echo "$got" >"$d/got"; diff "$d/want" "$d/got" | head -4 | tr '\n' ' '; } )
    check "kvm-mig-end: disk sectors 1..$m hold the counters the console printed ($(echo "$got" | grep -c .) lines${bad:+; $bad})" \
        eval '[ -z "$bad" ] && [ "$(echo "$want" | grep -c .)" -eq "$m" ]'
else
    nok "kvm-mig-end: no migrated guest left running"
fi
