#!/usr/bin/env bash
# Build the hostile virtio guest: bash tests/guests/riscv-virtio/build.sh OUT.elf
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/hostile.elf}
cc=${RV_CC:-riscv64-linux-gnu-gcc}
"$cc" -march=rv64gc -mabi=lp64d -mcmodel=medany -static -nostdlib -nostartfiles -ffreestanding \
    -fno-pic -fno-builtin -O2 -Wall -Wextra -Werror -Wl,--build-id=none -Wl,--no-warn-rwx-segments \
    -T "$here/link.ld" -o "$out.tmp" "$here/entry.S" "$here/hostile.c" -lgcc
mv "$out.tmp" "$out"
