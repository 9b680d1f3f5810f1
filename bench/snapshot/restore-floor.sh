#!/usr/bin/env bash
# bench/snapshot/restore-floor.sh: vessel's restore time beside its floor,
# in one alternating run of bench/snapshot/restore.py: (1) floor.c, a C
# program linked against the same shared libraries as vessel (libc, libm)
# that prints vessel's "main" and "vCPUs running" stamps as soon as it
# reaches main; (2) `vessel run --restore` of the default riscv64 guest
# (256 MiB, a "tick N" loop every 10 ms, snapshotted paused, as run.sh);
# (3) with OLD=path, another vessel build restoring the same snapshot.
# What (1) measures is the floor no change inside vessel can go below:
# the bench's own fork and exec, the kernel's exec and the dynamic loader.
#
# Environment: VESSEL, OLD, SRC, RUNS (default 41), FIFO=1: run the bench
# and what it starts under SCHED_FIFO (chrt -f 10; root), so that the
# other work on a loaded host does not take the CPU from the process being
# measured (the figures then approach an idle host's; say so with them).
set -u
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
VESSEL=${VESSEL:-$SRC/build/vessel}
RUNS=${RUNS:-41}
OLD=${OLD:-}
. "$SRC/tests/guestlib.sh"
GUEST_TIMEOUT=${GUEST_TIMEOUT:-180}
command -v cc >/dev/null || { echo "restore-floor: no C compiler (cc) for floor.c"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vessel-bench-floor.XXXXXX")
trap 'guest_kill; rm -rf "$tmp"' EXIT
# --no-as-needed: libm stays a dependency even where the call is inlined
cc -O2 -o "$tmp/floor" "$SRC/bench/snapshot/floor.c" -Wl,--no-as-needed -lm || exit 1
line=$(bash "$SRC/guest/build.sh" --print riscv64) || { echo "restore-floor: no riscv64 guest; run 'make guest'"; exit 1; }
KERNEL= INITRD=
eval "$line"
sock=$tmp/qmp.sock
guest_start "$VESSEL" run -m 256M --kernel "$KERNEL" --initrd "$INITRD" --qmp "unix:$sock"
guest_wait_ready || { echo "restore-floor: the guest did not boot"; exit 1; }
guest_send 'i=0; while :; do i=$((i+1)); echo "tick $i"; usleep 10000; done &'
guest_wait_for 'tick 20$' 60
"$VESSEL" qmp "$sock" vm-snapshot "{\"path\":\"$tmp/vs\",\"paused\":true}" >/dev/null
guest_kill
cmds=(-- "$tmp/floor" -- "$VESSEL" run --restore "$tmp/vs" --serial stdio)
[ -n "$OLD" ] && cmds+=(-- "$OLD" run --restore "$tmp/vs" --serial stdio)
run=(python3 "$SRC/bench/snapshot/restore.py" "$RUNS" "tick " "${cmds[@]}")
[ "${FIFO:-0}" = 1 ] && run=(chrt -f 10 "${run[@]}")
echo "restore-floor: load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores${FIFO:+, FIFO=$FIFO}"
"${run[@]}"
echo "restore-floor: load average $(cut -d' ' -f1-3 /proc/loadavg) after"
