# virtio-blk end to end: a file system made and written in the guest is
# checked on the host (e2fsck, debugfs, bytes); two disks; a read-only disk
# refuses writes; the image lock keeps a second VM out.
. "$(dirname "${BASH_SOURCE[0]}")/virtio-common.inc"
have mkfs.ext2 && have debugfs && have e2fsck || { echo "e2fsprogs missing" >&2; exit 77; }

a=$WORK/a.img b=$WORK/b.img
truncate -s 32M "$a"
head -c 4M /dev/urandom > "$b"
b_sum=$(sha256sum < "$b" | cut -d' ' -f1)

vm_start --disk "$a,id=alpha" --disk "$b,readonly" --rng
vm_ready

out=$(guest_run 'cat /sys/block/vda/size /sys/block/vdb/size /sys/block/vdb/ro /sys/block/vda/serial 2>/dev/null | tr "\n" " "')
if [ "$out" = "65536 8192 1 alpha" ]; then ok "guest sees two disks of the right sizes, vdb read-only, vda serial"
else nok "guest sees two disks of the right sizes, vdb read-only, vda serial (got '$out')"; fi
check "mkfs.ext2 on /dev/vda" guest_run 'mkfs.ext2 -q /dev/vda >/dev/null 2>&1 || mkfs.ext2 /dev/vda >/dev/null'
check "mount /dev/vda" guest_run 'mkdir -p /mnt && mount -t ext2 /dev/vda /mnt'
guest_run 'dd if=/dev/urandom of=/mnt/big bs=64k count=48 2>/dev/null; echo hello-from-guest > /mnt/small; mkdir /mnt/dir; seq 1 5000 > /mnt/dir/seq' >/dev/null
g_big=$(guest_run 'sha256sum /mnt/big | cut -d" " -f1')
g_b=$(guest_run 'sha256sum /dev/vdb | cut -d" " -f1')
check "guest reads the read-only disk's bytes" test "$g_b" = "$b_sum"
guest_run 'dd if=/dev/zero of=/dev/vdb bs=4k count=1 conv=fsync 2>/dev/null' >/dev/null
check "write to the read-only disk fails in the guest" test $? -ne 0
check "umount" guest_run 'umount /mnt'

# while the VM runs, a second one cannot open its disk
if [ "$VMM" = vessel ]; then
    expect_fail "a second VM is refused the locked image" "$a.*(in use|lock)" \
        timeout 20 "$VESSEL" run --kernel "$KERNEL" --initrd "$INITRD" --disk "$a"
fi
guest_poweroff 60 >/dev/null
check "VM powered off" test $? -eq 0

check "e2fsck -n finds the file system clean" bash -c 'e2fsck -fn "$1" >/dev/null 2>&1' _ "$a"
check "debugfs reads the small file" test "$(debugfs -R 'cat /small' "$a" 2>/dev/null)" = hello-from-guest
check "big file: same bytes on the host" test "$(debugfs -R 'cat /big' "$a" 2>/dev/null | sha256sum | cut -d' ' -f1)" = "$g_big"
check "dir/seq intact" test "$(debugfs -R 'cat /dir/seq' "$a" 2>/dev/null | tail -n 1)" = 5000
check "read-only image unchanged" test "$(sha256sum < "$b" | cut -d' ' -f1)" = "$b_sum"
