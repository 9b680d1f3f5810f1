#!/usr/bin/env bash
# Run the official RISC-V ISA tests (riscv-tests) against `vessel run`.
#
#   bash scripts/riscv-tests.sh RISCV_TESTS_DIR [VESSEL]
#
# RISCV_TESTS_DIR is a checkout of riscv-tests with its env/ (riscv-test-env)
# in place; nothing of it is kept in this project. The ISA tests are built
# there with Debian's riscv64-linux-gnu-gcc for RV64 IMAFDC, Zba, Zbb, Zbs
# and Svnapot (what vessel's hart offers), `-p` and `-v` variants. Debian's
# compiler builds position-independent executables by default; the `-v`
# tests then reach `tohost` through the GOT at its physical address and
# hang, so PIE is turned off. Each test runs bare-metal (its `tohost`
# symbol selects the HTIF exit); the exit status is the test's verdict.
# Prints every failure and "N passed, N failed".
set -u
dir=${1:?usage: scripts/riscv-tests.sh RISCV_TESTS_DIR [VESSEL]}
vessel=${2:-$(dirname "$0")/../build/vessel}
[ -d "$dir/isa" ] && [ -e "$dir/env/encoding.h" ] ||
    { echo "riscv-tests: $dir is not a riscv-tests checkout with env/ in place" >&2; exit 2; }
[ -x "$vessel" ] || { echo "riscv-tests: no vessel binary at $vessel (make build)" >&2; exit 2; }
command -v riscv64-linux-gnu-gcc >/dev/null ||
    { echo "riscv-tests: riscv64-linux-gnu-gcc not found (scripts/deps.sh installs it)" >&2; exit 2; }

suites=(rv64ui rv64um rv64ua rv64uf rv64ud rv64uc rv64uzba rv64uzbb rv64uzbs rv64mi rv64si rv64ssvnapot)
opts="-static -mcmodel=medany -fvisibility=hidden -nostdlib -nostartfiles -fno-pie -fno-pic -no-pie"
echo "riscv-tests: building ${suites[*]}"
make -s -C "$dir/isa" -j"$(nproc)" XLEN=64 RISCV_PREFIX=riscv64-linux-gnu- RISCV_GCC_OPTS="$opts" \
    "${suites[@]}" >/dev/null || { echo "riscv-tests: build failed" >&2; exit 2; }

pass=0 fail=0
out=$(mktemp); trap 'rm -f "$out"' EXIT
for s in "${suites[@]}"; do
    for t in "$dir/isa/$s"-[pv]-*; do
        case $t in *.dump) continue ;; esac
        [ -x "$t" ] || continue
        if timeout 60 "$vessel" run --kernel "$t" -m 64M </dev/null >"$out" 2>&1; then
            pass=$((pass + 1))
        else
            rc=$?
            fail=$((fail + 1))
            echo "FAIL $(basename "$t") (exit $rc)"
            tail -n 3 "$out" | sed 's/^/  /'
        fi
    done
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
