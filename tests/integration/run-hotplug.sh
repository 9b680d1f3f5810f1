# Harts that come and go: vessel run --smp 1,maxcpus=3 with the default
# riscv64 guest. Three harts in the device tree, one online at boot
# (maxcpus=1 on the kernel command line); while a compute job runs in the
# guest, harts are brought online and offline from inside it
# (/sys/devices/system/cpu/cpuN/online, which the kernel does through SBI
# HSM hart_start / hart_stop), and after every step /proc/cpuinfo, the
# kernel's online mask and QMP query-cpus-fast (vessel's "x-state": the
# HSM state of each hart) agree; a stopped hart's host thread uses no CPU.
. "$SRC/tests/lib.sh"
. "$SRC/tests/guestlib.sh"
d=$(mktemp -d "${TMPDIR:-/tmp}/vessel-hotplug.XXXXXX")
cleanup() { guest_kill; rm -rf "$d"; }
trap cleanup EXIT
GUEST_TIMEOUT=${GUEST_TIMEOUT:-180}

line=$(bash "$SRC/guest/build.sh" --print riscv64 2>/dev/null) || { echo "riscv64 guest not built (make guest)" >&2; exit 77; }
KERNEL= INITRD=
eval "$line"
if ! grep -q '^CONFIG_HOTPLUG_CPU=y' "$(dirname "$KERNEL")/kernel.config" 2>/dev/null; then
    echo "this default guest's kernel has no CPU hotplug (built before it; make guest)" >&2
    exit 77
fi
sock=$d/qmp.sock
q() { "$VESSEL" qmp "$sock" "$@"; }
# "started stopped ..." in cpu-index order
qmp_states() { q query-cpus-fast | python3 -c 'import json,sys; print(" ".join(c.get("x-state", "?") for c in json.load(sys.stdin)))'; }
qmp_tid() { q query-cpus-fast | python3 -c 'import json,sys; print(json.load(sys.stdin)[int(sys.argv[1])]["thread-id"])' "$1"; }
thread_ticks() { awk '{ print $14 + $15 }' "/proc/$GUEST_PID/task/$1/stat"; }
# the guest's view: online mask and processors in /proc/cpuinfo
guest_view() { guest_run 'echo "$(cat /sys/devices/system/cpu/online) $(grep -c ^processor /proc/cpuinfo)"' | tail -1; }
# agree WANT_ONLINE WANT_COUNT WANT_QMP: the guest and QMP say the same
agree() {
    local view st
    view=$(guest_view); st=$(qmp_states)
    check "online $1: guest says '$view', QMP '$st'" test "$view" = "$1 $2" -a "$st" = "$3"
}

guest_start "$VESSEL" run --smp 1,maxcpus=3 --qmp "unix:$sock,server,wait=off"
if ! guest_wait_ready; then
    nok "the default guest boots with --smp 1,maxcpus=3"; guest_tail 30 | sed 's/^/# /'; exit 1
fi
ok "the default guest boots with --smp 1,maxcpus=3 ($(guest_elapsed) s)"
check "the kernel command line says maxcpus=1" guest_run 'grep -q "maxcpus=1" /proc/cmdline'
check "three harts present (0-2)" test "$(guest_run 'cat /sys/devices/system/cpu/present' | tail -1)" = "0-2"
agree 0 1 "started stopped stopped"

# a stopped hart costs no host CPU
tid2=$(qmp_tid 2)
c0=$(thread_ticks "$tid2"); sleep 1; c1=$(thread_ticks "$tid2")
check "a stopped hart's thread (tid $tid2) used no CPU over 1 s ($((c1 - c0)) ticks)" test $((c1 - c0)) -le 1

# the compute job: a counter the shell keeps incrementing in /tmp/count
# (written aside and renamed, so a read never sees a half-written file)
guest_send '(i=0; while :; do i=$((i+1)); [ $((i % 500)) = 0 ] && echo $i > /tmp/count.new && mv /tmp/count.new /tmp/count; done) &'
count() { guest_run 'cat /tmp/count 2>/dev/null || echo 0' | grep -E '^[0-9]+$' | tail -1; }
for ((i = 0; i < 600; i++)); do [ "$(count)" -gt 0 ] && break; sleep 0.2; done
check "the compute job runs" test "$(count)" -gt 0

check "cpu1 online" guest_run 'echo 1 > /sys/devices/system/cpu/cpu1/online'
agree 0-1 2 "started started stopped"
check "cpu2 online" guest_run 'echo 1 > /sys/devices/system/cpu/cpu2/online'
agree 0-2 3 "started started started"
check "cpu1 offline" guest_run 'echo 0 > /sys/devices/system/cpu/cpu1/online'
agree 0,2 2 "started stopped started"
tid1=$(qmp_tid 1)
c0=$(thread_ticks "$tid1"); sleep 1; c1=$(thread_ticks "$tid1")
check "the offlined hart's thread (tid $tid1) used no CPU over 1 s while the job runs ($((c1 - c0)) ticks)" \
    test $((c1 - c0)) -le 1
# round trips while the job keeps running
for r in 1 2 3; do
    guest_run 'echo 0 > /sys/devices/system/cpu/cpu2/online && echo 1 > /sys/devices/system/cpu/cpu1/online' >/dev/null
    guest_run 'echo 1 > /sys/devices/system/cpu/cpu2/online && echo 0 > /sys/devices/system/cpu/cpu1/online' >/dev/null
done
agree 0,2 2 "started stopped started"
n0=$(count); sleep 1; n1=$(count)
check "the compute job went on through the changes ($n0 -> $n1)" test "$n1" -gt "$n0"
check "cpu1 online again" guest_run 'echo 1 > /sys/devices/system/cpu/cpu1/online'
agree 0-2 3 "started started started"
check "no hotplug errors in the kernel log" \
    test "$(guest_run 'dmesg | grep -ciE "failed to (come online|start)|may not have stopped|cpu[0-9]+: failed"' | tail -1)" = 0
guest_send 'kill %1'
guest_poweroff 120; rc=$?
check "powers off (status $rc)" test "$rc" = 0
