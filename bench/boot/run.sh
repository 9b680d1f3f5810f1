#!/usr/bin/env bash
# bench/boot: boot the default riscv64 guest (same kernel and initramfs) to
# its "vessel-guest: ready" marker with `vessel run` and with
# qemu-system-riscv64 -M virt + OpenSBI fw_jump, RUNS times each (default 5),
# in the same run. Prints per engine: median wall time to the marker, peak RSS
# (GNU time %M), and the host CPU an idle guest uses over IDLE_S seconds
# (default 10; utime+stime from /proc/PID/stat); then vessel/QEMU ratios and
# the bars of issue 4 (boot ratio at most 1.5, idle guest under 2% of a core,
# vessel's RSS below QEMU's; issue 18's boot ratio at most 0.3). vessel uses its built-in SBI, QEMU OpenSBI
# fw_jump; VESSEL_RUN_OPTS="--bios $fw" boots vessel on OpenSBI too.
# Should `vessel run` not reach the marker it says so and prints no figure for it.
# Then the power-off latency of each (the guest's last console byte to the
# process's exit, bench/boot/poweroff.py), with the bar of issue 11 (20 ms).
#
# Environment: VESSEL (binary), SRC, VESSEL_CACHE (set by bench/run.sh),
# RUNS, IDLE_S, VESSEL_RUN_OPTS (extra options for vessel run), VESSEL_BASE
# (another vessel binary, e.g. the build before a change: booted in the same
# rounds, interleaved with the other two, and its own ratio printed).
set -u
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
VESSEL=${VESSEL:-$SRC/build/vessel}
RUNS=${RUNS:-5}
IDLE_S=${IDLE_S:-10}
fw=/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin
. "$SRC/tests/guestlib.sh"
GUEST_POLL=0.01        # guest_run's polling (the marker: wait_marker)
GUEST_TIMEOUT=${GUEST_TIMEOUT:-120}
trap guest_kill EXIT

line=$(bash "$SRC/guest/build.sh" --print riscv64) || { echo "boot: no riscv64 guest; run 'make guest'"; exit 1; }
KERNEL= INITRD=
eval "$line"
[ -x /usr/bin/time ] || { echo "boot: GNU time (/usr/bin/time, package time) is missing"; exit 1; }
tck=$(getconf CLK_TCK)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vessel-bench-boot.XXXXXX")

# The VM process is the child of GNU time.
vm_pid() { local c; c=$(cat "/proc/$GUEST_PID/task/$GUEST_PID/children" 2>/dev/null); echo "${c%% *}"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null; }

# wait_marker TIMEOUT: wait for the marker line in the console log, then
# marker_at = the host time it was seen. No process per look: tests'
# guest_wait_for runs tr, grep and date every GUEST_POLL, which took 40%
# of a host core (0.64 s of CPU in 1.64 s, measured alone), CPU that the
# VM being timed then lacked; a VM with two busy threads (vessel run's
# hart and translator thread) lost more to it than one with a single busy
# one (QEMU's TCG thread). Here the log is read on as it grows, by bash's
# own read, with 5 ms naps (read -t on a FIFO nobody writes).
marker_at=
wait_marker() {
    local log nap line part= end=$((SECONDS + ${1%.*}))
    exec {log}< "$GUEST_LOG"
    rm -f "$tmp/nap"; mkfifo "$tmp/nap"; exec {nap}<> "$tmp/nap"
    while :; do
        while :; do
            if IFS= read -r -u "$log" line; then
                line=$part$line; part=
            else
                part=$part$line        # a line not yet ended: the rest comes later
                break
            fi
            if [[ ${line//$'\r'/} =~ $GUEST_MARKER ]]; then
                marker_at=${EPOCHREALTIME/,/.}
                exec {log}<&- {nap}>&-
                return 0
            fi
        done
        if ! kill -0 "$GUEST_PID" 2>/dev/null || [ "$SECONDS" -ge "$end" ]; then
            exec {log}<&- {nap}>&-
            return 1
        fi
        read -r -t 0.005 -u "$nap" _ || true
    done
}

# boot_once NAME IDLE CMD...: one boot to the marker; appends the wall time
# (s) to $tmp/NAME.wall and the peak RSS (KB) to $tmp/NAME.rss; with IDLE=1
# also measures idle CPU into $tmp/NAME.idle. Returns non-zero if no marker.
boot_once() {
    local name=$1 idle=$2; shift 2
    guest_start /usr/bin/time -f %M -o "$tmp/rss" "$@" || return 1
    if ! wait_marker "$GUEST_TIMEOUT"; then
        tr -d '\r' < "$GUEST_LOG" | grep -v '^$' | tail -n 3 > "$tmp/$name.fail"
        guest_kill
        return 1
    fi
    awk -v a="$GUEST_T0_" -v b="$marker_at" 'BEGIN { printf "%.3f\n", b - a }' >> "$tmp/$name.wall"
    if [ "$idle" = 1 ]; then
        local pid c0 c1
        guest_run true 60 >/dev/null  # the shell is up: the guest is idle from here
        pid=$(vm_pid)
        c0=$(cpu_ticks "$pid"); sleep "$IDLE_S"; c1=$(cpu_ticks "$pid")
        awk -v a="$c0" -v b="$c1" -v t="$tck" -v s="$IDLE_S" \
            'BEGIN { printf "%.1f\n", 100 * (b - a) / t / s }' > "$tmp/$name.idle"
    fi
    guest_poweroff 60 || { echo "boot: $name did not power off cleanly" >&2; }
    cat "$tmp/rss" >> "$tmp/$name.rss"
    rm -f "$tmp/rss"
}

median() { sort -g "$1" | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
report() {
    local name=$1
    printf '%-8s median %6.3f s to marker (%d runs: %s)  peak RSS %s MB  idle guest CPU %s%%\n' \
        "$name" "$(median "$tmp/$name.wall")" "$(wc -l < "$tmp/$name.wall")" \
        "$(tr '\n' ' ' < "$tmp/$name.wall" | sed 's/ $//')" \
        "$(awk '{ print $1 / 1024 }' "$tmp/$name.rss" | sort -g | tail -n 1 | xargs printf '%.1f')" \
        "$(cat "$tmp/$name.idle" 2>/dev/null || echo '?')"
}

echo "boot: kernel $KERNEL"
echo "boot: initrd $INITRD"
qemu=(qemu-system-riscv64 -M virt -m 128M -nographic -no-reboot -bios "$fw"
      -kernel "$KERNEL" -initrd "$INITRD" -append "console=ttyS0")
# shellcheck disable=SC2206
vessel=("$VESSEL" run --kernel "$KERNEL" --initrd "$INITRD" --append "console=ttyS0"
        --memory 128M ${VESSEL_RUN_OPTS:-})

have_qemu=1
command -v qemu-system-riscv64 >/dev/null && [ -r "$fw" ] || have_qemu=0
[ $have_qemu = 1 ] || echo "boot: qemu-system-riscv64 or $fw missing: no peer figures"

# shellcheck disable=SC2206
base=(${VESSEL_BASE:-} run --kernel "$KERNEL" --initrd "$INITRD" --append "console=ttyS0"
      --memory 128M ${VESSEL_RUN_OPTS:-})
base_ok=0
[ -n "${VESSEL_BASE:-}" ] && base_ok=1

vessel_ok=1
for i in $(seq 1 "$RUNS"); do
    if [ $base_ok = 1 ] && ! boot_once base 0 "${base[@]}" 2>/dev/null; then
        base_ok=0
        echo "base: $VESSEL_BASE did not reach the marker ($(tail -n 1 "$tmp/base.fail" 2>/dev/null))"
    fi
    idle=0; [ "$i" = 1 ] && idle=1
    if [ $have_qemu = 1 ] && ! boot_once qemu $idle "${qemu[@]}"; then
        echo "boot: qemu run $i did not reach the marker: $(cat "$tmp/qemu.fail")"
        have_qemu=0
    fi
    if [ $vessel_ok = 1 ] && ! boot_once vessel $idle "${vessel[@]}" 2>/dev/null; then
        vessel_ok=0
        echo "vessel: cannot boot yet ($(tail -n 1 "$tmp/vessel.fail" 2>/dev/null))"
    fi
done

[ $have_qemu = 1 ] && report qemu
if [ $base_ok = 1 ]; then
    report base
    [ $have_qemu = 1 ] && awk -v v="$(median "$tmp/base.wall")" -v q="$(median "$tmp/qemu.wall")" \
        'BEGIN { printf "ratio base/qemu boot time: %.2f (VESSEL_BASE, the same rounds)\n", v / q }'
fi
if [ $vessel_ok = 1 ]; then
    report vessel
    if [ $have_qemu = 1 ]; then
        awk -v v="$(median "$tmp/vessel.wall")" -v q="$(median "$tmp/qemu.wall")" \
            'BEGIN { printf "ratio vessel/qemu boot time: %.2f (below 1: vessel faster)\n", v / q }'
        awk -v v="$(sort -g "$tmp/vessel.rss" | tail -n 1)" -v q="$(sort -g "$tmp/qemu.rss" | tail -n 1)" \
            'BEGIN { printf "ratio vessel/qemu peak RSS: %.2f\n", v / q }'
        awk -v v="$(median "$tmp/vessel.wall")" -v q="$(median "$tmp/qemu.wall")" \
            -v rv="$(sort -g "$tmp/vessel.rss" | tail -n 1)" -v rq="$(sort -g "$tmp/qemu.rss" | tail -n 1)" \
            -v idle="$(cat "$tmp/vessel.idle" 2>/dev/null || echo 100)" 'BEGIN {
                printf "bars: boot ratio %.2f <= 1.5 %s (issue 18: <= 0.3 %s); idle CPU %.1f%% < 2%% %s; RSS %.0f < %.0f MB %s\n",
                    v / q, v / q <= 1.5 ? "met" : "NOT met", v / q <= 0.3 ? "met" : "NOT met", idle, idle < 2 ? "met" : "NOT met",
                    rv / 1024, rq / 1024, rv < rq ? "met" : "NOT met" }'
    fi
fi

# Power-off: from the guest's last console byte (the kernel's "reboot:
# Power down") to the VM process's exit, RUNS times each, same kernel and
# init; bench/boot/poweroff.py types `poweroff` at the shell.
poweroff_runs() {
    local name=$1 i out; shift
    for i in $(seq 1 "$RUNS"); do
        out=$(python3 "$SRC/bench/boot/poweroff.py" -- "$@")
        case $out in poweroff_ms*) echo "$out" | awk '{ print $2 }' >> "$tmp/$name.off" ;;
                     *) echo "boot: $name power-off run $i: $out"; return 1 ;; esac
    done
}
[ $have_qemu = 1 ] && poweroff_runs qemu "${qemu[@]}" || rm -f "$tmp/qemu.off"
[ $vessel_ok = 1 ] && poweroff_runs vessel "${vessel[@]}" || rm -f "$tmp/vessel.off"
for n in qemu vessel; do
    [ -s "$tmp/$n.off" ] && printf '%-8s power-off to exit: median %.1f ms (%d runs: %s)\n' "$n" "$(median "$tmp/$n.off")" \
        "$(wc -l < "$tmp/$n.off")" "$(xargs printf '%.1f ' < "$tmp/$n.off" | sed 's/ $//')"
done
if [ -s "$tmp/vessel.off" ]; then
    awk -v v="$(median "$tmp/vessel.off")" 'BEGIN { printf "bar: vessel power-off to exit %.1f ms <= 20 ms %s\n", v, v <= 20 ? "met" : "NOT met" }'
fi
rm -rf "$tmp"
[ $have_qemu = 1 ] || [ $vessel_ok = 1 ]
