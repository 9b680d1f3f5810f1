#!/usr/bin/env bash
# Build the S-mode SBI test program: bash tests/guests/riscv-sbi/build.sh OUT.elf
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/sbi.elf}
cc=${RV_CC:-riscv64-linux-gnu-gcc}
"$cc" -march=rv64gc -mabi=lp64d -mcmodel=medany -static -nostdlib -nostartfiles -ffreestanding \
    -fno-pic -fno-builtin -O2 -Wall -Wextra -Werror -Wl,--build-id=none -Wl,--no-warn-rwx-segments -T "$here/link.ld" \
    -o "$out.tmp" "$here/entry.S" "$here/sbi.c" -lgcc
mv "$out.tmp" "$out"
