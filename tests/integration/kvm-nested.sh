#!/bin/bash
# The nested tier: the kvm tests on every machine, /dev/kvm or not. Boots a
# Linux L1 (Debian's cloud kernel) under qemu-system-x86_64 -accel tcg -cpu
# qemu64,+svm,+npt (TCG emulates AMD SVM with nested paging), whose initramfs
# (tests/nested/build-l1.sh) loads kvm-amd and runs the kvm test scripts
# below with this build's vessel on L1's /dev/kvm. Each inner result comes
# back as its own TAP line here, named "nested SCRIPT: ...".
# The Linux guests run in a second L1 of their own (kvm-nested-linux.sh),
# so that each L1 stays inside tests/run.sh's 900 s per script on a loaded
# host.
# Environment: VESSEL_NESTED_TESTS (space-separated scripts to run inside),
# VESSEL_NESTED_TIMEOUT (seconds for one L1 run, default 840),
# VESSEL_NESTED_TOTAL (seconds for all of this script's L1 runs, default
# the same: a wrapper that retries asks tests/run.sh for more with its
# "# test-timeout:" line).
. "$SRC/tests/lib.sh"
inner=${VESSEL_NESTED_TESTS:-kvm-guests kvm-errors virtio-hostile-kvm qmp-kvm}
l1log=${VESSEL_NESTED_LOG:-kvm-nested-l1.log}

# Each inner script's TAP lines appear only once L1 runs it; when it cannot,
# one line per script says why.
skip_all() { local t; for t in $inner; do skip "nested $t" "$1"; done; exit 0; }
if [ -n "${VESSEL_ASAN:-}" ]; then
    skip_all "not repeated under ASan: the release pass runs it (3-10 min of nested TCG here)"
fi
have qemu-system-x86_64 || skip_all "qemu-system-x86_64 missing (package qemu-system-x86)"
have cpio || skip_all "cpio missing"
# L1: the newest kernel in /boot with KVM modules beside it
kver=
for k in $(ls -v /boot/vmlinuz-* 2>/dev/null); do
    v=${k#/boot/vmlinuz-}
    [ -r "$k" ] && [ -e "/lib/modules/$v/kernel/arch/x86/kvm/kvm-amd.ko" ] && kver=$v
done
[ -n "$kver" ] || skip_all "no readable /boot/vmlinuz-V with /lib/modules/V/kernel/arch/x86/kvm/kvm-amd.ko (package linux-image-cloud-amd64)"

out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
# shellcheck disable=SC2086
if ! cpio=$(bash "$SRC/tests/nested/build-l1.sh" "$BUILD" "$kver" $inner 2>"$out/build.err"); then
    why=$(tail -n 1 "$out/build.err")
    case $why in
    *"no static busybox"*|*"not found (package"*) skip_all "$why" ;;
    *) nok "nested: build the L1 initramfs: $why"; exit 0 ;;
    esac
fi

# L1's vCPUs (VESSEL_NESTED_CPUS; TCG runs each on a host thread): 1 for
# this script's own tests, 2 for the scripts that boot Linux guests
# (their wrappers set it). Under TCG an L1 CPU running L2 is not taken back
# out of it by L1's timer or IPIs while L2 has interrupts off. With one
# CPU, an L2 --smp 2 guest's vCPU spinning on a lock the other vCPU held
# kept L1 for good (RIP in L2's queued_spin_lock_slowpath: three wedges
# in a row of kvm-nested-snapshot here; +pause-filter did not help); with
# two, the holder runs on the other CPU. But with two, kvm-guests' L1
# wedged twice in a row in its own kernel with interrupts off (waiting,
# it seems, on the CPU that was in L2), where with one it has passed in
# every run: so one here.
# no_timer_check: on a starved host TCG's L1 once failed Linux's IO-APIC
# timer check ("IO-APIC + timer doesn't work!", a panic at 0.04 s).
# l1_run LIMIT: one L1 boot of at most LIMIT s, its console in l1.log;
# qrc is qemu's status. L1 prints a heartbeat every 15 s of its uptime
# (l1-init): a console silent for STALL s (VESSEL_NESTED_STALL, default
# 150) is L1 itself stopped (seen: once in 15 boots here, the L1 kernel's
# own watchdog dump never came out), not an inner test being slow; so is
# a soft lockup L1's kernel reports (not an L2 guest's, which comes
# framed in an inner test's lines) of LOCKUP s or more
# (VESSEL_NESTED_LOCKUP, default 120; seen once in CI: CPU#1 stuck in a
# vessel process for 727 s after a kvm-virtio-mem guest was killed, where
# the whole script takes 80 s). Then the first report's stack (l1-init
# copies it from dmesg) and every CPU's registers, read from QEMU's
# monitor, go into wedge.txt, L1 is stopped, and l1_run returns 3. So it
# does when L1's kernel panicked (seen once: "corrupted stack end detected
# inside scheduler" in a vessel vCPU thread's KVM_RUN), with the panic's
# line and stack, and when L1 ended before its init's last line without
# one (seen once: a reset, QEMU exiting 0 with -no-reboot).
stall=${VESSEL_NESTED_STALL:-150} lockup=${VESSEL_NESTED_LOCKUP:-120}
l1_run() {
    local qpid size last=-1 still=$SECONDS lk s why lines
    rm -f "$out/l1.log" "$out/mon.sock" "$out/wedge.txt"
    timeout -k 10 "$1" qemu-system-x86_64 -accel tcg -cpu qemu64,+svm,+npt \
        -m 1024 -smp "${VESSEL_NESTED_CPUS:-1}" -nodefaults -display none -monitor "unix:$out/mon.sock,server=on,wait=off" -no-reboot \
        -serial "file:$out/l1.log" -kernel "/boot/vmlinuz-$kver" -initrd "$cpio" \
        -append "console=ttyS0 quiet loglevel=3 panic=-1 no_timer_check printk.devkmsg=on nested_dump=$(($1 - 60)) nested_limit=$1 nested_keeper=${VESSEL_NESTED_KEEPER:-0} nested_kvm=${VESSEL_NESTED_KVM:-} nested_kvm_amd=${VESSEL_NESTED_KVM_AMD:-}" </dev/null >"$out/qemu.out" 2>&1 &
    qpid=$!
    while kill -0 "$qpid" 2>/dev/null; do
        size=$(stat -c %s "$out/l1.log" 2>/dev/null || echo 0) why=
        if [ "$size" != "$last" ]; then
            last=$size still=$SECONDS
            lk=$(grep -av '@@nested' "$out/l1.log" 2>/dev/null | grep -ao 'soft lockup - CPU#[0-9]* stuck for [0-9]*s' | tail -n 1)
            s=${lk##*for }; s=${s%s}
            [ -n "$lk" ] && [ "$s" -ge "$lockup" ] && why="L1's kernel: $lk (VESSEL_NESTED_LOCKUP $lockup s)"
        elif [ $((SECONDS - still)) -ge "$stall" ]; then
            why="console silent for $stall s at $size bytes; last heartbeat: $(grep -a '^@@nested l1 alive' "$out/l1.log" | tail -n 1)"
        fi
        if [ -n "$why" ]; then
            { echo "$why"
              # the first report's stack (l1-init copies it from dmesg)
              lines=$(grep -a '^@@nested l1 lockup: ' "$out/l1.log" | sed 's/^@@nested l1 lockup: \[ *[0-9.]*\] *//' |
                      grep -E 'lockup|stall|RIP:|\+0x' | head -n 14 | tr -d '\r' | tr '\n' '|')
              [ -n "$lines" ] && echo "L1's report: $lines"
              have python3 && python3 "$SRC/tests/nested/l1-regs.py" "$out/mon.sock" "$out/l1.log" 2>&1
            } >"$out/wedge.txt"
            kill "$qpid" 2>/dev/null; wait "$qpid"; qrc=$?
            return 3
        fi
        sleep 1
    done
    wait "$qpid"; qrc=$?
    # L1's own kernel panicked (panic=-1 and -no-reboot end QEMU with 0):
    # L1 broken as a wedged one is, not an inner test failing
    lk=$(grep -av '@@nested' "$out/l1.log" 2>/dev/null | grep -a -m1 'Kernel panic - not syncing' | tr -d '\r')
    if [ -n "$lk" ]; then
        { echo "L1's kernel: ${lk#*] }"
          echo "its stack: $(grep -av '@@nested' "$out/l1.log" | sed -n '/Kernel panic - not syncing/,/<\/TASK>/p' |
                             grep -E '\+0x' | grep -v ' ? ' | head -n 8 | sed 's/^\[ *[0-9.]*\] *//' | tr -d '\r' | tr '\n' '|')"
        } >"$out/wedge.txt"
        return 3
    fi
    # L1's own kernel stalled (a soft lockup or an RCU stall, shorter than
    # the wedge limit above) in a run where an inner test failed: that L1
    # was no working host for its guests (a CPU stuck in L1's kernel for
    # 20 s and more; in one run L1 soft-locked 138 s just after
    # kvm-replicate's guest stopped answering, and a vessel process was
    # left waiting in synchronize_srcu): booted again as a wedged one is,
    # the stall and the first failure in its SKIP line
    lk=$(grep -av '@@nested' "$out/l1.log" 2>/dev/null | grep -a -m1 -E 'soft lockup - CPU#|rcu: INFO: .*detected stall|self-detected stall' | tr -d '\r')
    if [ -n "$lk" ] && grep -aq '^@@nested [^ ]*: not ok' "$out/l1.log"; then
        echo "L1's kernel: ${lk#*] } in a run where an inner test failed: $(grep -a -m1 '^@@nested [^ ]*: not ok' "$out/l1.log" | sed 's/^@@nested //' | tr -d '\r' | head -c 300)" >"$out/wedge.txt"
        return 3
    fi
    # L1 ended before its init's last line, not by the time limit: a
    # reset (with -no-reboot QEMU exits 0), seen once with no kernel line
    if [ "$qrc" -ne 124 ] && [ "$qrc" -ne 137 ] && ! grep -aq '^@@nested done' "$out/l1.log" 2>/dev/null; then
        echo "L1 ended (QEMU status $qrc) before its tests were done, no panic on its console; last lines: $(tail -c 300 "$out/l1.log" | tr -d '\r' | tr '\n' '|')" >"$out/wedge.txt"
        return 3
    fi
}
t0=$SECONDS
limit=${VESSEL_NESTED_TIMEOUT:-840}
total=${VESSEL_NESTED_TOTAL:-$limit}
[ "$total" -ge "$limit" ] || limit=$total
# boot_l1 SECONDS: L1 booted, its inner tests run, its console in
# $out/l1.txt. L1 itself wedged, panicked or reset, or its kernel stalled
# in a run where an inner test failed (QEMU TCG's emulated SVM: no inner
# test's doing, each says so in a SKIP line): booted again
# while the script's total (VESSEL_NESTED_TOTAL) leaves 300 s for it, at most
# VESSEL_NESTED_BOOTS times in all (3: a clean-clone run had an L1 reset at
# 10 s and its second boot wedged at 17 s)
boots=0
boot_l1() {
    boots=$((boots + 1))
    l1_run "$1"; rc=$?
    while [ $rc -eq 3 ]; do
        wedge=$(tr '\n' ' ' <"$out/wedge.txt")
        cp "$out/l1.log" "$out/l1-wedged.log"
        left=$((total - (SECONDS - t0)))
        [ "$left" -ge 300 ] && [ "$boots" -lt "${VESSEL_NESTED_BOOTS:-3}" ] || break
        skip "nested L1 wedged, panicked or reset after $((SECONDS - t0)) s: booted once more with $left s left" "$wedge"
        boots=$((boots + 1))
        l1_run "$(( left < limit ? left : limit ))"; rc=$?
    done
    [ $rc -eq 3 ] && [ -f "$out/wedge.txt" ] && wedge=$(tr '\n' ' ' <"$out/wedge.txt") && qrc="wedged ($wedge)"
    secs=$((SECONDS - t0))
    tr -d '\r' <"$out/l1.log" >"$out/l1.txt"
}

# report MODE: the inner tests' lines from $out/l1.txt as this script's
# results (MODE final), or, for a run to be repeated (MODE first), only
# its failures, each as a SKIP line, or nothing (MODE count). Sets failed
# (the inner failures).
report() {
    local t nf end line d
    mode=$1 failed=0
    for t in $inner; do
        if ! grep -q "^@@nested begin $t\$" "$out/l1.txt"; then
            first_or_nok "nested $t: never started (L1 ended after ${secs}s, qemu status $qrc)"; continue
        fi
        nf=0
        while IFS= read -r line; do
            case $line in
            "not ok"*) first_or_nok "nested $t: ${line#not ok*- }"; nf=$((nf + 1)) ;;
            "ok"*"# SKIP"*) [ "$1" = final ] && { d=${line#ok*- }; skip "nested $t: ${d%% # SKIP*}" "${d#* # SKIP }"; } ;;
            "ok"*) [ "$1" = final ] && ok "nested $t: ${line#ok*- }" ;;
            esac
        done < <(sed -n "s/^@@nested $t: //p" "$out/l1.txt")
        end=$(grep "^@@nested end $t " "$out/l1.txt")
        if [ -z "$end" ]; then
            first_or_nok "nested $t: did not finish (L1 ended after ${secs}s, qemu status $qrc; last: $(grep "^@@nested $t: " "$out/l1.txt" | tail -n 2 | tr '\n' ' ' | head -c 300); L1's own last lines: $(grep -av '@@nested' "$out/l1.txt" | tail -n 4 | tr '\n' ' ' | head -c 400); $(grep -a '@@nested l1 watchdog: ' "$out/l1.txt" | sed 's/^.*@@nested l1 watchdog: //' | tr '\n' '|' | head -c 2500))"
        elif [[ $end != *" rc=0 "* ]] && [ $nf -eq 0 ]; then
            first_or_nok "nested $t: exited with ${end#* rc=}"
        elif [ "$1" = final ]; then
            echo "# nested $t: exit ${end#*rc=} (L1 uptime, s)"
        fi
    done
}
first_or_nok() {
    failed=$((failed + 1))
    case $mode in
    first) skip "$1 (first L1 run: run again)" "$retry_why" ;;
    final) nok "$1" ;;
    esac
}

boot_l1 "$limit"
# L1's whole console (kernel, inner scripts' output) for a look afterwards
mkdir -p "$BUILD/test-logs" && cp "$out/l1.txt" "$BUILD/test-logs/$l1log"
[ -f "$out/l1-wedged.log" ] && tr -d '\r' <"$out/l1-wedged.log" >"$BUILD/test-logs/${l1log%.log}-wedged.log"

if grep -q '^@@nested l1 kvm ready' "$out/l1.txt"; then
    # the module parameters the host gave (VESSEL_NESTED_KVM, _KVM_AMD)
    params=$(sed -n 's/^@@nested l1 \(kvm[-a-z]*\) parameters: /\1 /p' "$out/l1.txt" | tr '\n' ';' | sed 's/;$//; s/;/; /g')
    desc=$(grep -o 'Nested Paging enabled' "$out/l1.txt" | head -1)
    [ -n "$params" ] && desc="${desc:+$desc; }parameters: $params"
    ok "nested L1: kvm-amd loaded, /dev/kvm present ($desc)"
else
    nok "nested L1: no /dev/kvm (qemu status $qrc: $(grep '^@@nested l1' "$out/l1.txt" | tail -n 3 | tr '\n' ' ') $(tail -c 300 "$out/qemu.out"))"
    exit 0
fi
# VESSEL_NESTED_RETRY=1 (kvm-nested-migrate.sh, -replicate.sh): inner
# tests that failed in the first L1 are run once more in a new L1, their
# first failures kept as SKIP lines, when 300 s of VESSEL_NESTED_TOTAL are
# left (the second L1 gets at most VESSEL_NESTED_TIMEOUT). In this tier an
# L2 guest dies or stalls now and then, most around dirty logging and
# migration, some while booting, with QEMU as the L2 VMM too (docs/kvm.md:
# QEMU 7.2 in the same L1 lost its source guest in 5 of 72 migrations, one
# with the very triple fault seen with vessel, one idle for good after
# migrate_cancel, and one of its guests ended while booting; vessel's
# kvm-migrate failed 2 runs in 18 beside it); a second failure in a row
# fails. Any failure of the test is repeated, not only those: what the
# first run said stays in its SKIP lines and its console.
retry_why="nested tier: L2 guests die or stall now and then, most around dirty logging and migration, some while booting, with QEMU as the L2 VMM too (docs/kvm.md)"
report count
left=$((total - (SECONDS - t0)))
if [ "${VESSEL_NESTED_RETRY:-0}" = 1 ] && [ "$failed" -gt 0 ] && [ "$left" -ge 300 ]; then
    report first
    cp "$out/l1.txt" "$BUILD/test-logs/${l1log%.log}-first.log"
    skip "nested: $failed inner failure(s) in the first L1: booted again with $left s left (its console: test-logs/${l1log%.log}-first.log)" "$retry_why"
    boot_l1 "$(( left < limit ? left : limit ))"
    cp "$out/l1.txt" "$BUILD/test-logs/$l1log"
fi
report final
echo "# nested tier: ${secs}s wall for L1 boot + inner tests (qemu status $qrc)"
