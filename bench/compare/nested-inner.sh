#!/bin/bash
# bench/compare's KVM cells inside the nested tier's L1 (a Linux under
# qemu-system-x86_64 -accel tcg -cpu qemu64,+svm,+npt with kvm-amd loaded):
# bench/compare/nested.sh packs this script as the L1's one inner "test"
# (tests/nested/l1-init runs it and frames its lines), with lib.sh, the
# workload disk and QEMU. Each run line goes out prefixed "RAW<TAB>".
# Parameters from /nested/compare/params: size reps boots cells.
# (size: the workload's; int and fp are per unit of work and the others
# rates, so a smaller size here still compares with the host's cells)
set -u
. /nested/compare/params
export RAW_PREFIX=$'RAW\t'
raw=/proc/self/fd/1      # the L1 has no /dev/stdout link
work=$(mktemp -d)
WORKLOADS="int fp mem syscall proc file tcp startup"
t_start=$SECONDS
. "$SRC/tests/guestlib.sh"
. "$SRC/bench/compare/lib.sh"
GUEST_POLL=0.01
GUEST_TIMEOUT=600
trap 'guest_kill; rm -rf "$work"' EXIT
k=$SRC/guest-images/x86_64/bzImage i=$SRC/guest-images/x86_64/initramfs.cpio.gz
for cell in $cells; do
    if [ ! -c /dev/kvm ]; then na "$cell" '*' "nested: L1 has no /dev/kvm (kvm-amd did not load)"; continue; fi
    if [ ! -r "$k" ]; then na "$cell" '*' "nested: the default x86-64 guest is not in L1 (make guest)"; continue; fi
    kvm_vm_cell "$cell" "$k" "$i" /nested/compare/wl.img
done
