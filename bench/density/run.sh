#!/usr/bin/env bash
# bench/density: how many idle default riscv64 guests (-m 128M each) fit in
# one memory cgroup limited to 768 MiB (the seed's machine), for vessel run
# and for qemu-system-riscv64 -M virt (OpenSBI fw_jump, no NIC), in the same
# run and with the same KSM setting: ksmd is turned on for the run
# (/sys/kernel/mm/ksm/run = 1) and restored after it. Guests are started one
# after another; each must print its shell prompt (after the default
# guest's "vessel-guest: ready") within READY_S seconds while every earlier
# one is still alive; the first that fails ends the count. Before the
# cgroup is read, the new guest must have settled into idle (its process
# under 5 % of a CPU over half a second; settle below). Prints per
# engine the count and the host memory per guest (the cgroup's
# memory.usage_in_bytes over the guests running, read after the last guest
# that made it), then the ratio and the bar of issue 14 (3x QEMU's count).
# For vessel, where guest 1's resident memory is, once settled and again
# at the end of the count.
#
# Needs root (a cgroup v1 memory controller at /sys/fs/cgroup/memory).
# Environment: VESSEL, SRC (bench/run.sh sets them), DENSITY_LIMIT (768M),
# DENSITY_MEM (128M), DENSITY_MAX (64 guests per engine at most), READY_S
# (180), DENSITY_ENGINES ("vessel qemu"), VESSEL_RUN_OPTS (extra options
# for vessel run, e.g. --balloon=free-page-reporting=on), DENSITY_MAPPED=1
# (boot every engine from a read-only copy of the kernel and initrd, which
# vessel maps instead of copying; docs/balloon.md), DENSITY_CTR=0 (skip the
# containers' count that follows, bench/density/ctr.sh: vessel ctr vs runc).
set -u
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
VESSEL=${VESSEL:-$SRC/build/vessel}
LIMIT=${DENSITY_LIMIT:-768M}
MEM=${DENSITY_MEM:-128M}
MAX=${DENSITY_MAX:-64}
READY_S=${READY_S:-180}
ENGINES=${DENSITY_ENGINES:-vessel qemu}
fw=/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin
cgroot=/sys/fs/cgroup/memory
ksm=/sys/kernel/mm/ksm

line=$(bash "$SRC/guest/build.sh" --print riscv64) || { echo "density: no riscv64 guest; run 'make guest'"; exit 1; }
KERNEL= INITRD=
eval "$line"
[ "$(id -u)" = 0 ] || { echo "density: needs root (a memory cgroup and ksmd)"; exit 1; }
[ -w "$cgroot" ] || { echo "density: no writable cgroup v1 memory controller at $cgroot"; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vessel-density.XXXXXX")
if [ "${DENSITY_MAPPED:-0}" = 1 ]; then
    cp "$KERNEL" "$tmp/Image"; cp "$INITRD" "$tmp/initrd"; chmod a-w "$tmp/Image" "$tmp/initrd"
    KERNEL=$tmp/Image INITRD=$tmp/initrd
fi
cg=$cgroot/vessel-density.$$
pids=()
ksm_was=
stop_all() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
    pids=()
}
cleanup() {
    stop_all
    [ -d "$cg" ] && rmdir "$cg" 2>/dev/null
    [ -n "$ksm_was" ] && echo "$ksm_was" > "$ksm/run"
    chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -w "$ksm/run" ]; then
    ksm_was=$(cat "$ksm/run")
    echo 1 > "$ksm/run"
    ksm_note="ksmd on for the run (was $ksm_was; pages_to_scan $(cat "$ksm/pages_to_scan"), sleep_millisecs $(cat "$ksm/sleep_millisecs"))"
else
    ksm_note="no KSM on this host"
fi

# start ENGINE I: the I-th guest of ENGINE, in the cgroup from its first
# instruction; its console goes to $tmp/ENGINE.I.con
start() {
    local con=$tmp/$1.$2.con
    : > "$con"
    case $1 in
    vessel) set -- "$VESSEL" run -m "$MEM" --kernel "$KERNEL" --initrd "$INITRD" --serial "file:$con" ${VESSEL_RUN_OPTS:-} ;;
    qemu) set -- qemu-system-riscv64 -M virt -m "$MEM" -display none -monitor none -nic none -serial "file:$con" \
              -bios "$fw" -kernel "$KERNEL" -initrd "$INITRD" -append console=ttyS0 ;;
    esac
    sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$cg" "$@" </dev/null >"$con.log" 2>&1 &
    pids+=($!)
}
# the console shows the ready marker and then a shell prompt ("# " at its end)
prompted() { grep -q 'vessel-guest: ready' "$1" && tail -c 64 "$1" | tr -d '\r' | grep -qE '# $'; }
all_alive() { local p; for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || return 1; done; }

# cpu_ticks PID: user + system clock ticks of the process (all its threads)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo -1; }
# settle PID: wait until the guest is idle, i.e. its process used at most
# 2 clock ticks (20 ms at USER_HZ 100: under 5 %) of CPU over the last
# half second, at most SETTLE_S seconds (default 30); SETTLED_AFTER is how
# long that took
settle() {
    local pid=$1 t0=$SECONDS a b
    b=$(cpu_ticks "$pid")
    while [ $((SECONDS - t0)) -lt "${SETTLE_S:-30}" ]; do
        sleep 0.5
        a=$b; b=$(cpu_ticks "$pid")
        [ "$b" -ge 0 ] && [ $((b - a)) -le 2 ] && break
    done
    SETTLED_AFTER=$((SECONDS - t0))
}

# footprint PID: where a vessel guest's resident memory is (Rss from
# /proc/PID/smaps, KiB), told apart by the mappings' shapes: guest RAM (the
# anonymous mapping of -m's size), the decoded-block arena (16 MiB and its
# 32 KiB of page lists, or a mapping of its own), the translated-code arena (anonymous, executable),
# and the rest (heap, thread stacks, hart tables, binary and libraries)
footprint() {
    local ram=$(( $(numfmt --from=iec "$MEM") / 1024 ))
    awk -v ram="$ram" '
        /^[0-9a-f]+-[0-9a-f]+ / { perm = $2; anon = NF < 6 || $6 ~ /^\[(heap|stack)/; named = NF >= 6 }
        /^Size:/ { k = "rest"
                   if (!named && $2 == ram) k = "ram"
                   else if (!named && ($2 == 16 * 1024 || $2 == 16 * 1024 + 32)) k = "blocks"
                   else if (!named && perm ~ /x/) k = "jit" }
        /^Rss:/ { r[k] += $2; if (k == "rest") { if (anon) ra += $2; else rf += $2 } }
        END { printf "guest RAM %d KiB, decoded blocks %d KiB, translated code %d KiB, the rest %d KiB (anonymous %d: heap, stacks, hart tables; file %d: binary, libraries)",
                     r["ram"], r["blocks"], r["jit"], r["rest"], ra, rf }' "/proc/$1/smaps"
}

# count ENGINE: sets n (guests that made it) and per (KiB per guest)
count() {
    local engine=$1 i t usage=0
    mkdir "$cg" || { echo "density: cannot create $cg"; exit 1; }
    echo "$LIMIT" > "$cg/memory.limit_in_bytes"
    [ -e "$cg/memory.memsw.limit_in_bytes" ] && echo "$LIMIT" > "$cg/memory.memsw.limit_in_bytes" 2>/dev/null
    n=0 why="reached DENSITY_MAX ($MAX)"
    for ((i = 1; i <= MAX; i++)); do
        start "$engine" "$i"
        t=$SECONDS
        while ! prompted "$tmp/$engine.$i.con"; do
            all_alive || break
            [ $((SECONDS - t)) -ge "$READY_S" ] && break
            sleep 0.2
        done
        if ! all_alive; then why="a guest died while guest $i booted"; break; fi
        if ! prompted "$tmp/$engine.$i.con"; then
            why="guest $i printed no prompt within ${READY_S} s"; break
        fi
        if ! all_alive; then why="a guest died when guest $i started"; break; fi
        settle "${pids[-1]}"    # the new guest idle before the cgroup is read
        if ! all_alive; then why="a guest died after guest $i started"; break; fi
        n=$i
        usage=$(cat "$cg/memory.usage_in_bytes")
        [ "$engine" = vessel ] && [ "$i" = 1 ] && first="vessel guest 1 (settled in ${SETTLED_AFTER} s): $(footprint "${pids[0]}")" t1=$SECONDS
    done
    oom=$(awk '$1 == "oom_kill" { print $2 }' "$cg/memory.oom_control" 2>/dev/null)
    # guest 1 again after the count, long idle (its RAM has given up its
    # sparse huge pages by then: mem_huge_settle)
    [ -n "${first:-}" ] && kill -0 "${pids[0]}" 2>/dev/null &&
        first+=$'\n'"vessel guest 1 at the end of the count ($((SECONDS - t1)) s later): $(footprint "${pids[0]}")"
    stop_all
    rmdir "$cg" 2>/dev/null
    per=$(( n > 0 ? usage / 1024 / n : 0 ))
    printf '%-7s %3d guests in %s (%s), %d MiB per guest (cgroup usage %d MiB / %d)%s\n' \
        "$engine" "$n" "$LIMIT" "$why" $((per / 1024)) $((usage / 1048576)) "$n" "${oom:+, oom_kill $oom}"
    [ -n "${first:-}" ] && echo "$first"
    first=
}

echo "density: idle default riscv64 guests (-m $MEM) in one $LIMIT memory cgroup; $ksm_note;" \
     "${VESSEL_RUN_OPTS:+vessel options: $VESSEL_RUN_OPTS; }${DENSITY_MAPPED:+read-only kernel/initrd copies; }" \
     "load $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A result
for e in $ENGINES; do
    if [ "$e" = qemu ] && ! command -v qemu-system-riscv64 >/dev/null; then
        echo "qemu    (qemu-system-riscv64 not installed)"; continue
    fi
    count "$e"
    result[$e]=$n
done
if [ -n "${result[vessel]:-}" ] && [ -n "${result[qemu]:-}" ] && [ "${result[qemu]}" -gt 0 ]; then
    ratio=$(awk -v a="${result[vessel]}" -v b="${result[qemu]}" 'BEGIN { printf "%.2f", a / b }')
    bar=$(awk -v r="$ratio" 'BEGIN { print (r >= 3 ? "met" : "NOT met") }')
    echo "vessel/qemu guests: $ratio (bar: at least 3x: $bar)"
fi

# the same for containers: vessel ctr against runc (bench/density/ctr.sh)
if [ "${DENSITY_CTR:-1}" = 1 ]; then
    trap - EXIT; cleanup
    bash "$SRC/bench/density/ctr.sh"
fi
