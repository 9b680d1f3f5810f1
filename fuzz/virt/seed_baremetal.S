/* Source of fuzz/corpus/fuzz_virt_loader/{baremetal-tohost,kernel-high-vaddr}.elf:
 *   riscv64-linux-gnu-gcc -nostdlib -static -Wl,-n -Wl,-Ttext=0x80000000 -Wl,-Tdata=0x80000100 \
 *     -Wl,--build-id=none -Wl,--no-warn-rwx-segments -o bm seed_baremetal.S
 *   riscv64-linux-gnu-strip -R .riscv.attributes --keep-symbol=tohost bm -o baremetal-tohost.elf
 * and the same with -mcmodel=medany, text/data at 0xffffffff80000000/..100, `strip -s`
 * for kernel-high-vaddr.elf (linked at a virtual address: the loader moves it).
 * linux-image-head is the first 4 KiB of the cached default riscv64 Image. */
.globl _start
_start: la t0, tohost; li t1, 1; sd t1, 0(t0); 1: j 1b
.data
.globl tohost
.align 3
tohost: .dword 0
