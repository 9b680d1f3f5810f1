#!/usr/bin/env bash
# Build the riscv-sys bare-metal programs into OUTDIR (default: ./out).
#   bash tests/guests/riscv-sys/build.sh [OUTDIR]
# Each program is NAME.c + the runtime (crt.S lib.c pt.c); vm.c is built
# twice, as sv39 and sv48.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/out}
cc=${RV_CC:-riscv64-linux-gnu-gcc}
mkdir -p "$out"
flags=(-march=rv64gc -mabi=lp64d -mcmodel=medany -static -nostdlib -nostartfiles
       -ffreestanding -fno-pic -fno-builtin -O2 -g -Wall -Wextra -Werror
       -fno-tree-loop-distribute-patterns -Wl,--build-id=none -T "$here/link.ld" -I "$here")
rt=("$here/crt.S" "$here/lib.c" "$here/pt.c")
build() { # NAME SRC [DEFS...]
    local name=$1 src=$2; shift 2
    "$cc" "${flags[@]}" "$@" -o "$out/$name.elf.tmp" "${rt[@]}" "$src" -lgcc
    mv "$out/$name.elf.tmp" "$out/$name.elf"
}
for c in "$here"/*.c; do
    n=$(basename "$c" .c)
    case $n in
    lib|pt) ;;
    vm) build sv39 "$c" -DLEVELS=3; build sv48 "$c" -DLEVELS=4 ;;
    *) build "$n" "$c" ;;
    esac
done
