#!/usr/bin/env bash
# bench/compare: one set of workloads (bench/compare/wl.c, built for x86-64
# and riscv64) across the four kinds of virtualization and their peers, in
# one run: native; vessel ctr and runc; vessel kvm and qemu-system-x86_64
# with KVM; vessel exec and qemu-riscv64; vessel run and qemu-system-riscv64
# (the default guest, virtio disk and net). Writes to OUTDIR: raw.tsv (every
# run), results.json, table.txt and chart.svg (bench/compare/report.py).
#
#   bash bench/compare/run.sh [--short|--full] [OUTDIR]
#
# OUTDIR defaults to $BUILD/compare (bench/run.sh runs it that way).
# --short (make bench): SIZE 2, 3 runs per cell, 2 boots per VM; the KVM
#   cells are "not measurable here" when they need the nested tier.
# --full (make compare): SIZE 16, 5 rounds; in each round every cell in
#   turn, 2 runs per cell and 1 boot per VM (the nested tier: one L1 boot
#   per round, 2 runs and 1 boot per cell in it). A cell's runs are thus spread over the whole run, minutes
#   apart, and the range printed beside it is the host's run-to-run
#   spread, not that of a few back-to-back seconds.
# Environment: COMPARE_SIZE, COMPARE_REPS, COMPARE_BOOTS (per round),
# COMPARE_ROUNDS override those;
# COMPARE_CELLS (space-separated cell names) runs only those cells, the
# others are reported "not measurable here: not selected (COMPARE_CELLS)";
# VESSEL, SRC, VESSEL_CACHE as for every bench.
# Each figure is measured by the workload itself (CLOCK_MONOTONIC), except
# start-up: spawn to the first output line (firstline.py), and for a VM the
# VM process's start to the guest's "vessel-guest: ready" line.
set -u
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
VESSEL=${VESSEL:-$SRC/build/vessel}
export VESSEL_CACHE=${VESSEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vessel}
mode=short
case ${1:-} in --short) shift ;; --full) mode=full; shift ;; esac
[ $# -le 1 ] || { echo "usage: bench/compare/run.sh [--short|--full] [OUTDIR]" >&2; exit 2; }
out=${1:-${BUILD:-$SRC/build}/compare}
mkdir -p "$out" || { echo "compare: cannot create '$out'" >&2; exit 1; }
out=$(cd "$out" && pwd)
if [ $mode = short ]; then size=2 reps=3 boots=2 rounds=1; else size=16 reps=2 boots=1 rounds=5; fi
size=${COMPARE_SIZE:-$size} reps=${COMPARE_REPS:-$reps} boots=${COMPARE_BOOTS:-$boots} rounds=${COMPARE_ROUNDS:-$rounds}
for v in size reps boots rounds; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "compare: COMPARE_${v^^} '${!v}' is not a positive integer" >&2; exit 2; }
done
CELLS="native vessel-ctr runc vessel-kvm qemu-kvm vessel-exec qemu-riscv64 vessel-run qemu-system-riscv64"
WORKLOADS="int fp mem syscall proc file tcp startup"
selected=${COMPARE_CELLS:-$CELLS}
for c in $selected; do
    [[ " $CELLS " == *" $c "* ]] || { echo "compare: COMPARE_CELLS: unknown cell '$c' (cells: $CELLS)" >&2; exit 2; }
done

raw=$out/raw.tsv
: >"$raw"
work=$(mktemp -d "${TMPDIR:-/tmp}/vessel-compare.XXXXXX")
cleanup_dirs=("$work")
nested_pid=
cleanup() {
    guest_kill 2>/dev/null
    [ -n "$nested_pid" ] && kill "$nested_pid" 2>/dev/null
    rm -rf "${cleanup_dirs[@]}"
}
trap cleanup EXIT
. "$SRC/tests/guestlib.sh"
. "$SRC/tests/kvmkind.sh"
GUEST_POLL=0.01
# A version manager's python3 shim costs seconds per call on a loaded host
# (see tests/run.sh): resolve the interpreter once.
if py=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) && [ -x "$py" ]; then
    mkdir -p "$work/bin" && ln -sfn "$py" "$work/bin/python3" && export PATH=$work/bin:$PATH
fi
GUEST_TIMEOUT=${GUEST_TIMEOUT:-180}
t_start=$SECONDS

. "$SRC/bench/compare/lib.sh"
. "$SRC/bench/compare/nested.sh"
nested_used=0
# per L1 boot (one per round): the full form's 5 rounds give 10 runs and 5 boots
if [ "$rounds" -gt 1 ]; then nested_reps=2 nested_boots=1; else nested_reps=2 nested_boots=2; fi
nested_reps=${COMPARE_NESTED_REPS:-$nested_reps} nested_boots=${COMPARE_NESTED_BOOTS:-$nested_boots}
nested_size=${COMPARE_NESTED_SIZE:-2}
nested_timeout=${COMPARE_NESTED_TIMEOUT:-540}

# ---- the workload, built once per source hash ----
bdir=$VESSEL_CACHE/bench-compare/$(sha256sum "$SRC/bench/compare/wl.c" | cut -c1-16)
mkdir -p "$bdir"
build_wl() {   # build_wl CC OUT
    [ -x "$2" ] && return 0
    command -v "$1" >/dev/null || return 1
    "$1" -static -O2 -o "$2.tmp" "$SRC/bench/compare/wl.c" -lm && mv "$2.tmp" "$2"
}
wl_x86= wl_rv=
build_wl gcc "$bdir/wl-x86_64" && wl_x86=$bdir/wl-x86_64
build_wl riscv64-linux-gnu-gcc "$bdir/wl-riscv64" && wl_rv=$bdir/wl-riscv64

selected_or_na() {   # selected_or_na CELL: 0 when CELL is to be measured
    [[ " $selected " == *" $1 "* ]] && return 0
    na "$1" '*' "not selected (COMPARE_CELLS)"
    return 1
}

# ---- process cells: native, vessel exec, qemu-riscv64, vessel ctr, runc ----
# proc_cell CELL CMDFN: CMDFN WHAT sets CMD (argv) and CMD_CWD for WHAT
# ("all" or "hello"); runs the workloads $reps times and the start-up
# ($reps times 3).
proc_cell() {
    local cell=$1 fn=$2 i ms
    for ((i = 1; i <= reps; i++)); do
        progress "$cell: workloads, run $i/$reps"
        "$fn" all || return 1
        (cd "$CMD_CWD" && timeout 600 "${CMD[@]//\{n\}/1}") 2>"$work/last.err" | take "$cell"
    done
    progress "$cell: start-up, $((reps * 3)) runs"
    "$fn" hello || return 1
    local got=0
    while read -r ms; do put "$cell" startup "$ms" ms; got=$((got + 1)); done < <(
        python3 "$SRC/bench/compare/firstline.py" --cwd "$CMD_CWD" --runs $((reps * 3)) "wl hello" -- "${CMD[@]}" 2>"$work/last.err")
    [ $got -eq $((reps * 3)) ] || { sed -i "/^$cell\tstartup\t/d" "$raw"; na "$cell" startup "start-up run $((got + 1)) failed: $(head -c 200 "$work/last.err")"; }
}
wl_args() { if [ "$1" = all ]; then echo "all $size"; else echo hello; fi; }
cmd_native() { CMD=("$wl_x86" $(wl_args "$1")); CMD_CWD=$work/native; mkdir -p "$CMD_CWD"; }
cmd_vexec() { CMD=("$VESSEL" exec "$wl_rv" $(wl_args "$1")); CMD_CWD=$work/native; mkdir -p "$CMD_CWD"; }
cmd_qexec() { CMD=(qemu-riscv64 "$wl_rv" $(wl_args "$1")); CMD_CWD=$work/native; mkdir -p "$CMD_CWD"; }

cell_native() {
    [ -n "$wl_x86" ] || { na native '*' "gcc could not build the x86-64 workload"; return; }
    proc_cell native cmd_native
}
cell_exec() {   # cell_exec CELL TOOL CMDFN
    local cell=$1 tool=$2 fn=$3
    [ -n "$wl_rv" ] || { na "$cell" '*' "riscv64-linux-gnu-gcc missing (scripts/deps.sh)"; return; }
    command -v "$tool" >/dev/null || { na "$cell" '*' "$tool not installed (scripts/deps.sh)"; return; }
    proc_cell "$cell" "$fn"
}

# containers: one bundle per (runtime, what), busybox rootfs + /wl, the
# host's network namespace (a new one has its loopback down, and the
# default capabilities cannot bring it up: TCP over loopback needs it)
ctr_n=0
cmd_ctr() {   # uses CTR_RT (vessel|runc)
    local b=$work/ctr-$CTR_RT-$1
    if [ ! -d "$b" ]; then
        mkbundle "$b" && cp "$wl_x86" "$b/rootfs/wl" &&
            cfg "$b" "c['process']['args']=['/wl']+'$(wl_args "$1")'.split(); c['process']['cwd']='/tmp';
c['linux']['namespaces']=[n for n in c['linux']['namespaces'] if n['type']!='network']" || return 1
    fi
    ctr_n=$((ctr_n + 1))
    CMD_CWD=$b
    # {n}: firstline.py's run number, so that every container has its own ID
    if [ "$CTR_RT" = vessel ]; then CMD=("$VESSEL" ctr --root "$CTR_ROOT" run "cmp$$-$ctr_n-{n}")
    else CMD=(runc --root "$RUNC_ROOT" run "cmp$$-$ctr_n-{n}"); fi
}
cell_ctr() {   # cell_ctr CELL vessel|runc
    local cell=$1
    [ "$(id -u)" -eq 0 ] || { na "$cell" '*' "needs root (containers with cgroups)"; return; }
    [ -n "$wl_x86" ] || { na "$cell" '*' "gcc could not build the x86-64 workload"; return; }
    [ "$2" = runc ] && ! command -v runc >/dev/null && { na "$cell" '*' "runc not installed (scripts/deps.sh)"; return; }
    [ -x /bin/busybox ] || { na "$cell" '*' "no /bin/busybox for the rootfs (busybox-static)"; return; }
    if [ -z "${CTR_ROOT:-}" ]; then
        . "$SRC/tests/lib.sh" >/dev/null
        . "$SRC/tests/ctrlib.sh"
        cleanup_dirs+=("$CTR_ROOT" "$RUNC_ROOT" "$CTR_BASE")
        trap cleanup EXIT
    fi
    CTR_RT=$2 proc_cell "$cell" cmd_ctr
}

riscv_vm() {   # riscv_vm CELL
    local cell=$1 fw=/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin line KERNEL= INITRD=
    [ -n "$wl_rv" ] || { na "$cell" '*' "riscv64-linux-gnu-gcc missing (scripts/deps.sh)"; return; }
    line=$(bash "$SRC/guest/build.sh" --print riscv64 2>/dev/null) || { na "$cell" '*' "the default riscv64 guest is not built (make guest)"; return; }
    eval "$line"
    local img=$work/$cell.img
    mkdisk "$wl_rv" "$img" || { na "$cell" '*' "mkfs.ext2 -d failed (e2fsprogs)"; return; }
    if [ "$cell" = vessel-run ]; then
        vm_cell "$cell" "$VESSEL" run -m 256M --smp 1 --kernel "$KERNEL" --initrd "$INITRD" --append console=ttyS0 \
            --disk "$img,id=wl" --net user
    else
        command -v qemu-system-riscv64 >/dev/null && [ -r "$fw" ] || { na "$cell" '*' "qemu-system-riscv64 or OpenSBI missing (scripts/deps.sh)"; return; }
        vm_cell "$cell" qemu-system-riscv64 -M virt -m 256M -smp 1 -nographic -bios "$fw" \
            -kernel "$KERNEL" -initrd "$INITRD" -append console=ttyS0 \
            -drive "file=$img,format=raw,if=none,id=d0,cache=writeback" -device virtio-blk-device,drive=d0,serial=wl \
            -netdev user,id=n0 -device virtio-net-device,netdev=n0
    fi
}
# kvm_usable: empty when /dev/kvm runs a guest here at hardware speed, else why not
kvm_usable() {
    local dev=${VESSEL_KVM_DEV:-/dev/kvm}
    [ -e "$dev" ] || { echo "no $dev on this host"; return; }
    [ -r "$dev" ] && [ -w "$dev" ] || { echo "$dev is not read-writable"; return; }
    kvm_soft_why    # a software backend (kvm_pvm): not what the KVM cells are about
}
kvm_vm() {   # kvm_vm CELL
    local cell=$1 line KERNEL= INITRD=
    [ -n "$wl_x86" ] || { na "$cell" '*' "gcc could not build the x86-64 workload"; return; }
    line=$(bash "$SRC/guest/build.sh" --print x86_64 2>/dev/null) || { na "$cell" '*' "the default x86-64 guest is not built (make guest)"; return; }
    eval "$line"
    local img=$work/$cell.img
    mkdisk "$wl_x86" "$img" || { na "$cell" '*' "mkfs.ext2 -d failed (e2fsprogs)"; return; }
    if [ "$cell" = qemu-kvm ] && ! command -v qemu-system-x86_64 >/dev/null; then
        na "$cell" '*' "qemu-system-x86_64 not installed (scripts/deps.sh)"; return
    fi
    kvm_vm_cell "$cell" "$KERNEL" "$INITRD" "$img"
}

load0=$(cut -d' ' -f1-3 /proc/loadavg)
for cell in $CELLS; do selected_or_na "$cell"; done
for ((round = 1; round <= rounds; round++)); do
[ "$rounds" -gt 1 ] && ROUND_TAG="round $round/$rounds: "
ROUND=$round
for cell in $CELLS; do
    [[ " $selected " == *" $cell "* ]] || continue
    case $cell in
    native) cell_native ;;
    vessel-ctr) cell_ctr "$cell" vessel ;;
    runc) cell_ctr "$cell" runc ;;
    vessel-kvm|qemu-kvm)
        why=$(kvm_usable)
        if [ -z "$why" ]; then kvm_vm "$cell"
        elif [ $mode = short ]; then
            na "$cell" '*' "$why; the nested tier (an L1 under QEMU TCG, minutes) does not fit the short form's 3 minutes: make compare measures it"
        elif [ "$cell" = vessel-kvm ] || [[ " $selected " != *" vessel-kvm "* ]]; then
            # both KVM cells in one L1 boot
            kc=
            for c in vessel-kvm qemu-kvm; do [[ " $selected " == *" $c "* ]] && kc+=" $c"; done
            nested_kvm_cells "$why" $kc
        fi ;;
    vessel-exec) cell_exec "$cell" "$VESSEL" cmd_vexec ;;
    qemu-riscv64) cell_exec "$cell" qemu-riscv64 cmd_qexec ;;
    vessel-run|qemu-system-riscv64) riscv_vm "$cell" ;;
    esac
done
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)
[ -t 2 ] && echo >&2
secs=$((SECONDS - t_start))
python3 - "$out/meta.json" <<PY
import json, os, platform, sys
json.dump({"mode": "$mode", "size": $size, "reps": $reps, "boots": $boots, "rounds": $rounds, "seconds": $secs,
           "loadavg_start": "$load0", "loadavg_end": "$load1", "cpus": os.cpu_count(),
           "kernel": platform.release(), "kvm": "$(kvm_usable)" or "usable", "kvm_kind": "$(kvm_kind)", "kvm_nested": $nested_used == 1,
           "nested_reps": $nested_reps, "nested_boots": $nested_boots, "nested_size": $nested_size,
           "vessel": "$("$VESSEL" --version 2>/dev/null)", "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
           "cells": "$CELLS".split(), "workloads": "$WORKLOADS".split()}, open(sys.argv[1], "w"), indent=1)
PY
python3 "$SRC/bench/compare/report.py" "$out" || exit 1
cat "$out/table.txt"
echo "compare: $out/table.txt, results.json, chart.svg (${secs}s)"
