#!/usr/bin/env bash
# bench/density/wakeups.sh: does an idle guest wake the host only for its
# timer interrupts (issue 14)? Boots the default riscv64 guest (-m 128M),
# lets it idle at its shell, then over IDLE_S seconds (default 20) counts
# the guest's timer interrupts (/proc/interrupts, riscv-timer) and the
# voluntary context switches (sleeps, so wake-ups) of each of the vessel
# process's threads. Prints both; the claim holds when the threads other
# than the harts do not wake at all and the harts wake at most once per
# timer interrupt.
# Environment: VESSEL, SRC (set by bench/run.sh), IDLE_S.
set -u
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
VESSEL=${VESSEL:-$SRC/build/vessel}
IDLE_S=${IDLE_S:-20}
. "$SRC/tests/guestlib.sh"
trap guest_kill EXIT
line=$(bash "$SRC/guest/build.sh" --print riscv64) || { echo "wakeups: no riscv64 guest; run 'make guest'"; exit 1; }
KERNEL= INITRD=
eval "$line"
guest_start "$VESSEL" run -m 128M --kernel "$KERNEL" --initrd "$INITRD"
guest_wait_ready 180 || { echo "wakeups: the guest did not boot"; exit 1; }
# the shell's answer sets the start; the guest is idle once it has printed it
timer() { guest_run "grep riscv-timer /proc/interrupts" | awk '{ print $2 }'; }
wakes() { local t; for t in /proc/"$GUEST_PID"/task/*; do
              printf '%s:%s ' "$(cat "$t/comm")" "$(awk '/^voluntary_ctxt/ { print $2 }' "$t/status")"; done; }
i1=$(timer); w1=$(wakes); t1=$(date +%s%N)
# wait IDLE_S seconds of idle: nothing to wait for but the time itself
sleep "$IDLE_S"
w2=$(wakes); t2=$(date +%s%N); i2=$(timer)
echo "wakeups: load $(cut -d' ' -f1-3 /proc/loadavg); over $(( (t2 - t1) / 1000000 )) ms of idle:" \
     "guest timer interrupts $((i2 - i1)) (the count read after includes the reading shell's own)"
echo "wakeups: voluntary context switches per thread (thread:count), before: $w1"
echo "wakeups:                                                     after:  $w2"
