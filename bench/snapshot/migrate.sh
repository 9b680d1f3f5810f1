#!/usr/bin/env bash
# bench/snapshot/migrate.sh: live-migration downtime of the default guest
# (256 MiB) between two processes, vessel and qemu-system-riscv64 in the
# same run, for an idle guest (a loop printing "tick N" every 5 ms) and one
# also dirtying 64 MiB/s (16 MiB of a tmpfs file rewritten four times a
# second). Per case one JSON line from bench/snapshot/migrate.py: the
# largest gap between the host arrival times of consecutive tick lines
# (the downtime the host sees), the engine's own downtime beside it
# (vessel's "downtime N ms" line, QEMU's query-migrate "downtime"), and
# whether the destination resumed ("resumed": false: did not resume; no
# tick within 30 s). The bar of issue 12: at most 30 ms at both rates.
#
# Environment: VESSEL, SRC (set by bench/run.sh), MIG_RUNS (default 3),
# MIG_CASES (default "idle dirty bare": which cases run), MIG_ENGINES
# (default "vessel qemu"; qemu only where installed).
set -u
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
VESSEL=${VESSEL:-$SRC/build/vessel}
runs=${MIG_RUNS:-3}
cases=" ${MIG_CASES:-idle dirty bare} "
line=$(bash "$SRC/guest/build.sh" --print riscv64) || { echo "migrate: no riscv64 guest; run 'make guest'"; exit 1; }
KERNEL= INITRD=
eval "$line"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vessel-bench-mig.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
engines=()
[[ " ${MIG_ENGINES:-vessel qemu} " == *" vessel "* ]] && engines+=(vessel)
if [[ " ${MIG_ENGINES:-vessel qemu} " != *" qemu "* ]]; then
    :
elif command -v qemu-system-riscv64 >/dev/null && [ -f /usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin ]; then
    engines+=(qemu)
else
    echo "qemu    not installed (qemu-system-misc, opensbi)"
fi
echo "migrate: load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
for eng in "${engines[@]}"; do
    for dirty in "" --dirty; do
        [[ $cases == *" $([ -n "$dirty" ] && echo dirty || echo idle) "* ]] || continue
        for ((k = 0; k < runs; k++)); do
            python3 "$SRC/bench/snapshot/migrate.py" "$eng" "$VESSEL" "$KERNEL" "$INITRD" "$tmp" $dirty
        done
    done
done
# without a guest OS: what vessel itself costs at the handover
if [[ $cases == *" bare "* ]] && command -v riscv64-linux-gnu-gcc >/dev/null; then
    for ((k = 0; k < runs; k++)); do
        printf 'vessel bare-metal counter: '
        python3 "$SRC/bench/snapshot/migrate-bare.py" "$VESSEL" "$SRC" "$tmp"
    done
fi
echo "migrate: load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
echo "bar (issue 12): live-migration downtime <= 30 ms (host gap) for an idle guest and one dirtying 64 MiB/s"
