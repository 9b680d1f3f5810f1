# virtio-rng: /dev/hwrng in the guest gives data from the host.
. "$(dirname "${BASH_SOURCE[0]}")/virtio-common.inc"
vm_start --rng
vm_ready
out=$(guest_run 'cat /sys/class/misc/hw_random/rng_current')
check "guest uses the virtio rng" grep -q virtio <<<"$out"
n=$(guest_run 'dd if=/dev/hwrng bs=256 count=4 2>/dev/null | wc -c')
check "/dev/hwrng gives 1024 bytes" test "$n" = 1024
a=$(guest_run 'dd if=/dev/hwrng bs=64 count=1 2>/dev/null | sha256sum')
b=$(guest_run 'dd if=/dev/hwrng bs=64 count=1 2>/dev/null | sha256sum')
check "two reads differ" test "$a" != "$b"
