#!/usr/bin/env bash
# Bare-metal riscv64 system tests (tests/guests/riscv-sys): freestanding
# M-mode programs on traps, delegation, privilege transitions, Sv39/Sv48,
# timers, software interrupts, CSRs and two harts sharing memory, reporting
# through HTIF tohost.
# Each program runs under the peers, QEMU's spike machine (HTIF) and QEMU's
# virt machine (the board vessel emulates; exit through its test device),
# and under `vessel run --kernel PROG.elf` (exit 0 on tohost pass, else the
# value >> 1). A run passes when its exit status is 0 and the program
# printed its PASS line. strict.elf holds spec checks QEMU 7.2 misses, and
# trigger.elf Sdtrig checks (QEMU 7.2 has no chained triggers): they must
# pass under vessel; under QEMU a failure is reported as a skip that lists
# the deviations.
# The programs are built once per source hash into $VESSEL_CACHE/riscv-sys/.
source "$SRC/tests/lib.sh"

src=$SRC/tests/guests/riscv-sys
VESSEL_CACHE=${VESSEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vessel}
cc=${RV_CC:-riscv64-linux-gnu-gcc}
progs=(traps priv deleg sv39 sv48 timer swi csr smp strict trigger)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ! have "$cc"; then
    for p in "${progs[@]}"; do skip "$p (build)" "$cc not installed (scripts/deps.sh)"; done
    exit 0
fi
hash=$({ cat "$src"/*.c "$src"/*.h "$src"/*.S "$src"/*.ld "$src"/build.sh; "$cc" --version | head -1; } |
       sha256sum | cut -c1-16)
dir=$VESSEL_CACHE/riscv-sys/$hash
if [ ! -e "$dir/.built" ]; then
    mkdir -p "$dir"
    if bash "$src/build.sh" "$dir" >"$tmp/build.log" 2>&1; then
        touch "$dir/.built"
    else
        nok "riscv-sys programs do not build: $(tail -n 5 "$tmp/build.log" | tr '\n' ' ' | head -c 400)"
        exit 0
    fi
fi

# Extra QEMU options per program: without -icount, QEMU's minstret counts
# host TSC ticks, not instructions (csr checks instruction counts); timer
# needs real time (WFI under -icount without sleep never wakes).
qemu_opts() { case $1 in csr) echo "-icount shift=0" ;; smp) echo "-smp 2" ;; esac; }
vessel_opts() { case $1 in smp) echo "--smp 2" ;; esac; }

# run_one LABEL NAME CMD...: run, then print "ok"/"not ok" TAP for it.
# A pass: exit 0 and the PASS line. strict and trigger under QEMU: a
# failure is a skip.
run_one() {
    local label=$1 name=$2; shift 2
    local out=$tmp/$name.$label.out rc note=
    timeout 120 "$@" </dev/null >"$out" 2>&1; rc=$?
    tr -d '\r' <"$out" >"$out.txt"
    grep -q 'checks left out' "$out.txt" && note=" (partial: $(grep -o 'time CSR and Sstc checks left out' "$out.txt" | head -1), the board has no time CSR)"
    if [ $rc -eq 0 ] && grep -q "^riscv-sys $name: PASS" "$out.txt"; then
        ok "$name ($label): $(grep "^riscv-sys $name: PASS" "$out.txt" | sed 's/^riscv-sys [a-z0-9]*: //')$note"
    elif { [ "$name" = strict ] || [ "$name" = trigger ]; } && [[ $label == qemu* ]] && [ $rc -ne 124 ]; then
        skip "$name ($label)" "QEMU deviates from the spec here: $(grep -o 'FAIL [^(]*' "$out.txt" | sed 's/^FAIL //; s/ $//' | paste -sd ';' | head -c 600)"
    else
        nok "$name ($label): exit $rc$([ $rc -eq 124 ] && echo ' (timeout)')"
        tail -n 8 "$out.txt" | sed 's/^/# /'
    fi
}

have_qemu=0; have qemu-system-riscv64 && have_qemu=1
have_vessel=0
"$VESSEL" run --help >/dev/null 2>&1 && have_vessel=1

for p in "${progs[@]}"; do
    elf=$dir/$p.elf
    if [ $have_qemu = 1 ]; then
        # shellcheck disable=SC2046
        run_one "qemu spike" "$p" qemu-system-riscv64 -M spike -bios none -nographic $(qemu_opts "$p") -kernel "$elf"
        # shellcheck disable=SC2046
        run_one "qemu virt" "$p" qemu-system-riscv64 -M virt -bios none -nographic $(qemu_opts "$p") -kernel "$elf"
    else
        skip "$p (qemu)" "qemu-system-riscv64 not installed (qemu-system-misc)"
    fi
    if [ $have_vessel = 1 ]; then
        # shellcheck disable=SC2046
        run_one vessel "$p" "$VESSEL" run $(vessel_opts "$p") --kernel "$elf"
    else
        skip "$p (vessel)" "vessel run not available"
    fi
done
exit 0
