#!/bin/bash
# Snapshot and restore on vessel kvm: the default x86-64 guest (--smp 2,
# virtio-blk on PCI with MSI-X) runs a workload that writes a checksummed
# counter to memory (/tmp/ctr), to the disk (sector i holds "i md5") and to
# the console ("ctr i md5 uptime"). vm-snapshot with the disks saved and
# paused; kill -9; the image is scribbled on; `vessel kvm --restore`: the
# saved disk is put back, the console goes on at i+1 with every checksum
# right (nothing repeated, nothing lost), the guest's uptime goes on from
# the snapshot's (no jump back, none far forward), the disk holds every
# counter and memory the last one. Then vm-snapshot + vm-restore into that
# running process: it goes on again from the snapshot's counter. Bad
# snapshots: a truncated state.bin (--restore and vm-restore, the running
# guest untouched), a snapshot of this machine given to `vessel run`. Runs
# where /dev/kvm works and in the nested tier (kvm-nested-linux.sh); prints
# snapshot and restore times as '#' lines (nested: not hardware figures).
# Only bash, grep, busybox and vessel: what L1 has.
. "$SRC/tests/lib.sh"
. "$SRC/tests/guestlib.sh"
dev=${VESSEL_KVM_DEV:-/dev/kvm}
names="kvm-snap-boot kvm-snap-save kvm-snap-restore kvm-snap-vm-restore kvm-snap-bad"
skip_all() { local n; for n in $names; do skip "$n" "$1"; done; exit 0; }
x86_linux_guest || skip_all "$X86_LINUX_MISSING"
{ [ -r "$dev" ] && [ -w "$dev" ]; } || skip_all "$dev missing or not accessible (the nested tier runs this test inside its L1)"
why=$(kvm_soft_why); [ -z "$why" ] || skip_all "$why"
GUEST_TIMEOUT=$(slow 60)
d=$(mktemp -d "${TMPDIR:-/tmp}/vessel-kvmsnap.XXXXXX")
cleanup() { [ -n "$GUEST_PID" ] && kill -9 "$GUEST_PID" 2>/dev/null; guest_kill; rm -rf "$d"; }
trap cleanup EXIT
sock=$d/q.sock
q() { timeout -k 5 "$(slow 30)" "$VESSEL" qmp "$sock" "$@"; }
now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
truncate -s 8M "$d/disk.img"
# ctrs FILE: "i md5 uptime" of every counter line (a line cut by a restore
# into the running process is followed by a whole one on the same line)
ctrs() { tr -d '\r' < "$1" | grep -aoE 'ctr [0-9]+ [0-9a-f]{8} [0-9]+\.[0-9]+' | cut -d' ' -f2-; }
lastctr() { ctrs "$1" | tail -1 | cut -d' ' -f1; }
reached() { [ "$(lastctr "$GUEST_LOG")" -ge "$1" ] 2>/dev/null; }
# wait_reached N: until the console shows counter N; bounded by wall time
# (a check costs several processes: in a loaded L1 each one is slow)
wait_reached() {
    local end=$(( $(date +%s) + $(slow 6) ))
    while [ "$(date +%s)" -lt "$end" ]; do reached "$1" && return 0; guest_alive_ || return 1; sleep 0.02; done
    reached "$1"
}
# sums_ok FILE FIRST: every counter line from FIRST on has its checksum
# (a pipe, not a process substitution: L1 has no /dev/fd)
sums_ok() {
    local bad
    bad=$(ctrs "$1" | while read -r i s u; do
        [ "$i" -ge "$2" ] || continue
        [ "$(echo "n=$i" | md5sum | cut -c1-8)" = "$s" ] || echo "$i"; done)
    [ -z "$bad" ] || { echo "bad checksums: $bad" >&2; return 1; }
}
# midline FILE: the guest's output in FILE stops in the middle of a line.
# vessel's own lines ("vessel: ..." to the line's end: its stderr goes to
# the same file) are not the guest's: one that came while the guest was
# mid-line ("ctr 49 e6vessel: snapshot: ...") ends with a newline the
# guest never printed.
midline() {
    [ "$(tail -c 1 "$1" | od -An -c | tr -d ' ')" = '\n' ] || return 0
    [ "$(tr -d '\r' < "$1" | awk 'BEGIN { p = 0 }
        { i = index($0, "vessel: ") } i == 1 { next } i > 1 { p = 1; next } { p = 0 }
        END { print p }')" = 1 ]
}
# consecutive FILE: the counter goes up by one from line to line
consecutive() { ctrs "$1" | awk 'NR > 1 && $1 != p + 1 { print "after " p ": " $1; exit 1 } { p = $1 }' >&2; }

guest_start "$VESSEL" kvm --kernel "$KERNEL" --initrd "$INITRD" -m 256M --smp 2 --disk "$d/disk.img" \
    --qmp "unix:$sock" --append "console=ttyS0 panic=-1"
if ! guest_wait_ready; then
    nok "kvm-snap-boot: the default x86-64 guest boots ($(guest_tail 10 2>&1 | tr '\n' ' ' | tail -c 400))"
    for n in $names; do [ "$n" = kvm-snap-boot ] || skip "$n" "the guest did not boot"; done
    exit 0
fi
guest_send 'w() { i=0; while [ ! -f /tmp/stop ]; do i=$((i+1)); s=$(echo "n=$i" | md5sum | cut -c1-8); echo $i > /tmp/ctr; printf "%08d %s\n" $i $s | dd of=/dev/vda bs=512 seek=$i conv=notrunc oflag=direct 2>/dev/null; echo "ctr $i $s $(cut -d" " -f1 /proc/uptime)"; done; }; w &'
if wait_reached 6; then ok "kvm-snap-boot: the guest boots (--smp 2, virtio-blk on PCI) and runs the workload (ctr $(lastctr "$GUEST_LOG"))"
else nok "kvm-snap-boot: the workload runs"; guest_tail 10 | sed 's/^/# /'; exit 0; fi

t0=$(now_ms)
out=$(q vm-snapshot "{\"path\":\"$d/s1\",\"paused\":true,\"disks\":true}" 2>&1)
t1=$(now_ms)
n=$(lastctr "$GUEST_LOG") up=$(ctrs "$GUEST_LOG" | tail -1 | cut -d' ' -f3)
# paused in the middle of printing line n+1: the restored guest prints the
# rest of it, and n+2 is its first whole line
if midline "$GUEST_LOG"; then nx=$((n + 2)); else nx=$((n + 1)); fi
kill -9 "$GUEST_PID"; guest_wait_exit 30 >/dev/null
cp "$GUEST_LOG" "$d/out1"
check "kvm-snap-save: vm-snapshot with the disks, paused: {} ($out; ctr $n at uptime $up; $(du -sk "$d/s1" | cut -f1) KiB on disk)" \
    test "$out" = "{}" -a -s "$d/s1/disk-vda.img" -a -s "$d/s1/ram-0.bin"
echo "# kvm snapshot: vm-snapshot of 256 MiB, 2 vCPUs, disk saved: $((t1 - t0)) ms (QMP client included; nested, not a hardware figure)"
printf 'scribble' | dd of="$d/disk.img" bs=512 seek=3 conv=notrunc 2>/dev/null

# --- restore in a new process ---
echo "# restoring from $d/s1 (ctr $n, next whole line $nx)"
t0=$(now_ms)
guest_start "$VESSEL" kvm --restore "$d/s1" --qmp "unix:$sock"
wait_reached "$nx"; t1=$(now_ms)
if wait_reached $((n + 6)); then
    echo "# kvm restore: exec to the guest's next counter line: $((t1 - t0)) ms (nested, not a hardware figure)"
    first=$(ctrs "$GUEST_LOG" | head -1)
    up1=$(echo "$first" | cut -d' ' -f3)
    check "kvm-snap-restore: --restore goes on at ctr $nx, the first whole line after the snapshot's $n (got ${first%% *})" \
        test "${first%% *}" = "$nx"
    check "kvm-snap-restore: every checksum right (from $((n - 5)) on), the counter goes up by one" \
        eval 'sums_ok "$d/out1" $((n - 5)) && sums_ok "$GUEST_LOG" 0 && consecutive "$GUEST_LOG"'
    # uptime (kvmclock) after the restore: not before the snapshot's, and
    # not more than a few seconds past it (a clock that ran on while the
    # process was dead would be many seconds ahead)
    check "kvm-snap-restore: the guest's clock goes on from the snapshot's ($up s -> $up1 s)" \
        awk -v a="$up" -v b="$up1" -v m=10 'BEGIN { exit !(b >= a && b - a < m) }'
    check "kvm-snap-restore: the saved disk was put back" grep -q "disk vda put back at $d/disk.img" "$GUEST_LOG"
    guest_run 'touch /tmp/stop; wait' >/dev/null
    m=$(lastctr "$GUEST_LOG")
    mem=$(guest_run 'cat /tmp/ctr' | grep -E '^[0-9]+$' | tail -1)
    check "kvm-snap-restore: the counter in guest memory is the last one printed ($mem = $m, past $n)" \
        test "$mem" = "$m" -a "${m:-0}" -gt "$n"
    # the disk from the host: sector i holds "i md5" for every i up to m
    got=$(dd if="$d/disk.img" bs=512 skip=1 count="$m" 2>/dev/null | tr -s '\0' '\n' | grep -aE '^[0-9]{8} [0-9a-f]{8}$')
    want=$(for ((i = 1; i <= m; i++)); do printf '%08d %s\n' $i "$(echo "n=$i" | md5sum | cut -c1-8)"; done)
    check "kvm-snap-restore: sectors 1..$m of the disk hold their counters ($(echo "$got" | wc -l) lines)" \
        test "$got" = "$want" -a "$(echo "$want" | wc -l)" -eq "$m"
else
    nok "kvm-snap-restore: --restore goes on (last ctr $(lastctr "$GUEST_LOG"); console: $(tail -c 600 "$GUEST_LOG" | tr -d '\r' | tr '\n' '|'))"
fi

# --- vm-restore into the running process ---
if guest_alive_; then
    guest_send 'rm -f /tmp/stop; w &'
    k0=$(lastctr "$GUEST_LOG")
    wait_reached $((k0 + 3))
    out=$(q vm-snapshot "{\"path\":\"$d/s2\",\"paused\":true,\"disks\":true}" 2>&1)
    k=$(lastctr "$GUEST_LOG") upk=$(ctrs "$GUEST_LOG" | tail -1 | cut -d' ' -f3)
    # paused in the middle of printing line k+1: the restored guest prints
    # the rest of it, and k+2 is its first whole line
    if midline "$GUEST_LOG"; then next=$((k + 2)); else next=$((k + 1)); fi
    q cont >/dev/null
    wait_reached $((k + 6))
    lines=$(wc -l < "$GUEST_LOG")
    cp "$GUEST_LOG" "$d/before"
    t0=$(now_ms)
    out2=$(q vm-restore "{\"path\":\"$d/s2\"}" 2>&1)
    t1=$(now_ms)
    tail -n +$((lines + 1)) "$GUEST_LOG" > "$d/after"
    end=$(( $(date +%s) + $(slow 6) ))
    # until the restored guest has printed 4 lines from `next` on
    while [ "$(date +%s)" -lt "$end" ]; do
        [ "$(ctrs "$d/after" | awk -v k="$next" '$1 == k { on = 1 } on' | wc -l)" -ge 4 ] && break
        sleep 0.05; tail -n +$((lines + 1)) "$GUEST_LOG" > "$d/after"; done
    # lines printed between the restore's start and the pause belong to
    # the run being rolled back: the restored guest's first is `next`
    rest=$(ctrs "$d/after" | awk -v k="$next" '$1 == k { on = 1 } on')
    first=$(echo "$rest" | head -1)
    check "kvm-snap-vm-restore: vm-snapshot then vm-restore in the running process: {} {} ($out $out2)" \
        test "$out" = "{}" -a "$out2" = "{}"
    echo "# kvm vm-restore into the running process: $((t1 - t0)) ms (QMP client included; nested, not a hardware figure)"
    if [ -n "$rest" ] && echo "$rest" | awk -v k="$next" 'NR == 1 && $1 != k { exit 1 } NR > 1 && $1 != p + 1 { exit 1 } { p = $1 }'; then
        ok "kvm-snap-vm-restore: the guest goes on at ctr $next after the restore ($(echo "$rest" | wc -l) lines, up by one)"
    else
        nok "kvm-snap-vm-restore: the guest goes on at ctr $next after the restore (snapshot at $k; after it, $(wc -l < "$d/after") lines: $(head -c 400 "$d/after" | tr -d '\r' | tr '\n' '|') ... $(tail -c 200 "$d/after" | tr -d '\r' | tr '\n' '|'); $(q query-status 2>&1))"
        # the console's bytes around the restore, and vessel's own lines
        echo "# console before the restore: $(head -c "$(wc -c < "$d/before")" "$GUEST_LOG" | tail -c 300 | tr -d '\r' | tr '\n' '|')"
        echo "# vessel's lines: $(grep -a -e 'vessel' -e 'restore' -e 'snapshot' "$GUEST_LOG" | tail -8 | tr '\n' '|')"
    fi
    upr=$(echo "$first" | cut -d' ' -f3)
    check "kvm-snap-vm-restore: its clock goes back to the snapshot's ($upk s -> ${upr:-none} s)" \
        awk -v a="$upk" -v b="$upr" -v m=10 'BEGIN { exit !(b != "" && b >= a && b - a < m) }'
else
    nok "kvm-snap-vm-restore: no restored guest to restore into"
fi

# --- bad snapshots: one clear line each, a running guest untouched ---
# (L1's /tmp is RAM: the RAM and disk files are linked, not copied)
mkdir "$d/bad"
cp "$d/s1/manifest.json" "$d/bad/"
ln -s "$d/s1/ram-0.bin" "$d/s1/disk-vda.img" "$d/bad/"
sz=$(stat -c %s "$d/s1/state.bin")
head -c $((sz - 100)) "$d/s1/state.bin" > "$d/bad/state.bin"
err=$("$VESSEL" kvm --restore "$d/bad" 2>&1 </dev/null); rc=$?
check "kvm-snap-bad: --restore of a truncated state.bin: status 2, one line ($err)" \
    test $rc -eq 2 -a "$(echo "$err" | wc -l)" -eq 1 -a -n "$(echo "$err" | grep -i 'truncated\|payload')"
err=$("$VESSEL" run --restore "$d/s1" 2>&1 </dev/null); rc=$?
check "kvm-snap-bad: vessel run --restore of a kvm snapshot: status 2, one line ($err)" \
    test $rc -eq 2 -a "$(echo "$err" | wc -l)" -eq 1 -a -n "$(echo "$err" | grep 'x86_64-kvm')"
if guest_alive_; then
    c0=$(lastctr "$GUEST_LOG")
    err=$(q vm-restore "{\"path\":\"$d/bad\"}" 2>&1); rc=$?
    wait_reached $((c0 + 3))
    check "kvm-snap-bad: vm-restore of the truncated snapshot is refused ($err) and the guest runs on ($c0 -> $(lastctr "$GUEST_LOG"))" \
        test $rc -ne 0 -a -n "$(echo "$err" | grep -i 'truncated\|payload')" -a "$(lastctr "$GUEST_LOG")" -ge $((c0 + 3))
    guest_run 'touch /tmp/stop; wait' >/dev/null; rr=$?
    at=$(stat -c %s "$GUEST_LOG")
    guest_send 'exit'
    # not gone: what the guest printed after the exit, what vessel says
    # of its vCPUs, and where each of its threads waits
    why=
    if ! guest_wait_gone "$(slow 30)"; then
        why="; the stop's answer: status $rr; after the exit the console printed: $(tail -c +$((at + 1)) "$GUEST_LOG" | tail -c 500 | tr -d '\r' | tr '\n' '|')"
        why+="; $(q query-status 2>&1 | tr -d '\n'); $(q query-cpus-fast 2>&1 | grep -o '"x-state": *"[^"]*"' | tr '\n' ' ')"
        why+="; threads: $(for t in /proc/$GUEST_PID/task/*; do echo "$(cut -d' ' -f3 "$t/stat" 2>/dev/null)/$(cat "$t/wchan" 2>/dev/null)"; done | tr '\n' ' ')"
    fi
    rc=0; guest_wait_exit 1 >/dev/null 2>&1 || rc=$?
    check "kvm-snap-bad: the restored guest powers off (status $rc$why)" test $rc -eq 0
fi
