# Shared by the riscv-* integration tests and bench/exec (source it after
# tests/lib.sh). Needs $VESSEL and $VESSEL_CACHE.
RV_CC=${RV_CC:-riscv64-linux-gnu-gcc}
RV_MARCH=rv64gc_zba_zbb_zbs

# rv_missing_tools TOOL...: print the first missing tool and return 0, else return 1
rv_missing_tools() {
    local t
    for t in "$@"; do
        command -v "$t" >/dev/null 2>&1 || { echo "$t"; return 0; }
    done
    return 1
}

# vessel_exec_state: "ready" when `vessel exec` runs a minimal static riscv64
# program (exit 0), "pending" while it reports the CPU core as not implemented
# / not built in yet (the only case the tests skip), "broken" otherwise.
vessel_exec_state() {
    local d=$VESSEL_CACHE/rvgen exe out rc
    exe=$d/exit0.elf
    mkdir -p "$d"
    if [ ! -x "$exe" ]; then
        printf '\t.globl _start\n_start:\n\tli a0, 0\n\tli a7, 93\n\tecall\n' >"$d/exit0.S"
        "$RV_CC" -static -nostdlib -o "$exe.tmp" "$d/exit0.S" && mv "$exe.tmp" "$exe" || { echo broken; return; }
    fi
    out=$(timeout 20 "$VESSEL" exec "$exe" 2>&1); rc=$?
    if [ $rc -eq 0 ]; then
        echo ready
    elif grep -qi 'not implemented' <<<"$out"; then
        echo pending
    else
        echo broken
    fi
}
