#!/usr/bin/env bash
# Build the S-mode SBI test program, or another S-mode program of this
# directory on the same entry (entry.S) and link script:
#   bash tests/guests/riscv-sbi/build.sh OUT.elf [SOURCE.c]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/sbi.elf}
src=${2:-$here/sbi.c}
cc=${RV_CC:-riscv64-linux-gnu-gcc}
"$cc" -march=rv64gc -mabi=lp64d -mcmodel=medany -static -nostdlib -nostartfiles -ffreestanding \
    -fno-pic -fno-builtin -O2 -g -Wall -Wextra -Werror -Wl,--build-id=none -Wl,--no-warn-rwx-segments -T "$here/link.ld" \
    -o "$out.tmp" "$here/entry.S" "$src" -lgcc
mv "$out.tmp" "$out"
