# The default guests: guest/build.sh builds and caches them, and they boot
# under the QEMU peers, driven through tests/guestlib.sh. Builds the riscv64
# guest when it is not cached yet (about 4 minutes on 2 idle cores); checks
# the x86_64 guest only when `make guest` has built it.
. "$SRC/tests/lib.sh"
. "$SRC/tests/guestlib.sh"
trap guest_kill EXIT
build="bash $SRC/guest/build.sh"
fw=/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin
GUEST_TIMEOUT=90

expect_fail "--print rejects an unknown architecture" "unknown architecture 'mips'" $build --print mips
expect_fail "unknown option gives one clear line" "unknown argument '--frob'" $build --frob

out=$($build --only riscv64 2>&1); rc=$?
if [ $rc -ne 0 ]; then
    nok "build.sh --only riscv64 (status $rc): $(tail -n 5 <<<"$out")"
    exit 1
fi
ok "build.sh --only riscv64"

out=$($build --only riscv64 2>&1)
check "second build.sh run is a cache hit" grep -q 'riscv64: cached in' <<<"$out"

line=$($build --print riscv64); rc=$?
KERNEL= INITRD=
eval "$line"
check "--print riscv64 names existing files" test $rc -eq 0 -a -s "$KERNEL" -a -s "$INITRD"
case $KERNEL in "$VESSEL_CACHE"/guest/riscv64-*/Image) ok "riscv64 guest lives in \$VESSEL_CACHE/guest";;
*) nok "riscv64 guest lives in \$VESSEL_CACHE/guest (got $KERNEL)";; esac

# RISC-V Linux Image header: magic "RISCV\0\0\0" at 0x30, "RSC\x05" at 0x38.
check "Image has the RISC-V boot header" \
    bash -c '[ "$(dd if="$1" bs=1 skip=48 count=5 2>/dev/null)" = RISCV ] &&
             [ "$(dd if="$1" bs=1 skip=56 count=3 2>/dev/null)" = RSC ]' _ "$KERNEL"
list=$(zcat "$INITRD" | cpio -t 2>/dev/null)
check "initramfs holds init, busybox and applet links" \
    bash -c 'for f in init bin/busybox bin/sh sbin/udhcpc usr/bin/wget sbin/mkfs.ext2 usr/sbin/httpd usr/bin/nc; do
                 grep -qx "$f" <<<"$1" || { echo "missing $f" >&2; exit 1; }; done' _ "$list"
check "busybox is a static riscv64 executable" \
    bash -c 'file "$1" | grep -q "RISC-V.*statically linked"' _ "$(dirname "$KERNEL")/busybox"

if ! have qemu-system-riscv64; then
    skip "riscv64 guest boots under QEMU" "qemu-system-riscv64 not installed"
elif [ ! -r "$fw" ]; then
    skip "riscv64 guest boots under QEMU" "no OpenSBI firmware at $fw (package opensbi)"
else
    qemu=(qemu-system-riscv64 -M virt -m 128M -nographic -no-reboot -bios "$fw"
          -kernel "$KERNEL" -initrd "$INITRD")
    # 1. Plain boot: marker, shell, uname, exit status of commands, power-off.
    guest_start "${qemu[@]}" -append "console=ttyS0"
    if guest_wait_ready; then
        ok "riscv64 guest prints the ready marker and answers ($(guest_elapsed) s)"
        out=$(guest_run 'uname -a')
        if [[ $out == "Linux vessel 6.1."*" riscv64 GNU/Linux" ]]; then ok "uname -a: $out"
        else nok "uname -a printed: $out"; fi
        guest_run '(exit 3)' >/dev/null
        check "guest_run returns the command's status" test $? -eq 3
        year=$(guest_run 'date +%Y')
        check "the clock comes from the RTC (year $year)" test "${year:-0}" -ge 2024
        guest_poweroff 30; rc=$?
        check "exit powers the riscv64 guest off (QEMU status $rc)" test $rc -eq 0
    else
        guest_tail 30; guest_kill
        nok "riscv64 guest prints the ready marker and answers"
    fi

    # 2. Devices: virtio blk/net/rng over MMIO, DHCP from QEMU's user network,
    #    ext2 on the disk; reboot leaves QEMU (-no-reboot).
    disk=$(mktemp "${TMPDIR:-/tmp}/vessel-disk.XXXXXX")
    truncate -s 8M "$disk"
    guest_start "${qemu[@]}" -append "console=ttyS0 vessel.reboot" \
        -drive "file=$disk,format=raw,if=none,id=d0" -device virtio-blk-device,drive=d0 \
        -netdev user,id=n0 -device virtio-net-device,netdev=n0 \
        -device virtio-rng-device
    if guest_wait_ready; then
        guest_run 'test -b /dev/vda' >/dev/null
        check "virtio-blk disk appears as /dev/vda" test $? -eq 0
        out=$(guest_run 'ifconfig eth0 | grep "inet addr"')
        check "eth0 got a DHCP lease ($out)" grep -q 'inet addr:10\.0\.2\.15' <<<"$out"
        out=$(guest_run 'dd if=/dev/hwrng bs=16 count=1 2>/dev/null | wc -c')
        check "virtio-rng feeds /dev/hwrng ($out bytes)" test "$out" = 16
        out=$(guest_run 'mkfs.ext2 /dev/vda >/dev/null && mount -t ext2 /dev/vda /mnt && echo hi > /mnt/f && sync && umount /mnt && mount /dev/vda /mnt && cat /mnt/f')
        check "mkfs.ext2 + mount ext2 on the virtio disk" test "$out" = hi
        guest_poweroff 30; rc=$?
        check "vessel.reboot: exit reboots (QEMU -no-reboot status $rc)" test $rc -eq 0
    else
        guest_tail 30; guest_kill
        nok "riscv64 guest with virtio devices boots"
    fi
    rm -f "$disk"
fi

# x86_64: only when built (make guest builds it; this test does not).
if line=$($build --print x86_64 2>/dev/null); then
    eval "$line"
    if ! have qemu-system-x86_64; then
        skip "x86_64 guest boots under QEMU" "qemu-system-x86_64 not installed"
    else
        guest_start qemu-system-x86_64 -M microvm,acpi=off -accel tcg -m 128M -nographic \
            -no-reboot -kernel "$KERNEL" -initrd "$INITRD" -append "console=ttyS0" \
            -netdev user,id=n0 -device virtio-net-device,netdev=n0
        if guest_wait_ready; then
            ok "x86_64 guest boots on QEMU microvm to a shell ($(guest_elapsed) s)"
            out=$(guest_run 'uname -m; ifconfig eth0 | grep -o "inet addr:[0-9.]*"')
            check "x86_64 guest: uname -m and DHCP over virtio-net-mmio ($(echo $out))" \
                test "$out" = "x86_64
inet addr:10.0.2.15"
            guest_poweroff 30; rc=$?
            check "x86_64 guest powers off (QEMU status $rc)" test $rc -eq 0
        else
            guest_tail 30; guest_kill
            nok "x86_64 guest boots on QEMU microvm to a shell"
        fi
    fi
else
    skip "x86_64 guest boots under QEMU" "x86_64 guest not built (make guest)"
fi
