#!/bin/bash
# vessel's default x86-64 guest (guest/x86_64-linux.config, built by
# guest/build.sh: ACPI, PCI, virtio-pci and virtio-mmio built in) under
# vessel kvm, driven through its shell on the 8250: both vCPUs online,
# no ACPI complaint, the devices bound to virtio-pci with MSI-X, an ext2
# file system made in the guest and read on the host, a file fetched from
# the host through slirp, virtio-rng, power-off with status 0; then the
# same kernel over --transport mmio (devices from the DSDT alone) and a
# reboot with --no-reboot (status 3). Runs where /dev/kvm works, and in the
# nested tier (build-l1.sh packs the guest).
. "$SRC/tests/lib.sh"
. "$SRC/tests/guestlib.sh"
dev=${VESSEL_KVM_DEV:-/dev/kvm}
names="guest-x86-boot guest-x86-smp guest-x86-acpi guest-x86-pci guest-x86-blk guest-x86-net guest-x86-rng guest-x86-poweroff guest-x86-mmio guest-x86-reboot"
skip_all() { local n; for n in $names; do skip "$n" "$1"; done; exit 0; }
x86_linux_guest || skip_all "$X86_LINUX_MISSING"
{ [ -r "$dev" ] && [ -w "$dev" ]; } || skip_all "$dev missing or not accessible"
why=$(kvm_soft_why); [ -z "$why" ] || skip_all "$why"
have busybox || skip_all "busybox missing (its httpd serves the guest; package busybox-static)"
GUEST_TIMEOUT=$(slow 60)
out=$(mktemp -d)
hpid=
trap 'guest_kill; [ -n "$hpid" ] && kill $hpid 2>/dev/null; rm -rf "$out"' EXIT
mkdir -p "$out/www"
token=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
echo "$token" >"$out/www/token"
port=$((20000 + ($$ + 7) % 20000))
busybox httpd -f -p "127.0.0.1:$port" -h "$out/www" & hpid=$!
truncate -s 32M "$out/disk.img"
base=(--kernel "$KERNEL" --initrd "$INITRD" -m 256M)

guest_start "$VESSEL" kvm "${base[@]}" --smp 2 --disk "$out/disk.img" --net user --rng \
    --append "console=ttyS0 panic=-1"
if ! guest_wait_ready; then
    nok "guest-x86-boot: no shell ($(guest_tail 15 | tr '\n' ' ' | tail -c 600))"
    for n in $names; do [ "$n" = guest-x86-boot ] || skip "$n" "the guest did not boot"; done
    exit 0
fi
ok "guest-x86-boot: the default x86-64 guest reaches its shell under vessel kvm ($(guest_elapsed) s)"
n=$(guest_run 'grep -c ^processor /proc/cpuinfo')
check "guest-x86-smp: --smp 2, both CPUs online (got $n)" test "$n" = 2
acpi=$(guest_run "dmesg | grep -iE 'ACPI (BIOS )?(Error|Warning)|ACPI: .*(fail|error)' | head -3; ls /sys/firmware/acpi/tables | tr '\n' ' '")
if [[ $acpi == *MCFG* && $acpi == *DSDT* && $acpi != *rror* && $acpi != *arning* ]]; then
    ok "guest-x86-acpi: tables ($acpi), no ACPI error or warning in dmesg"
else nok "guest-x86-acpi: $acpi"; fi
pci=$(guest_run "echo \$(ls /sys/bus/pci/drivers/virtio-pci | grep -c :) \$(grep -c PCI-MSI /proc/interrupts)")
read -r npci nmsi <<<"$pci"
if [ "${npci:-0}" = 3 ] && [ "${nmsi:-0}" -ge 3 ]; then
    ok "guest-x86-pci: blk, net and rng bound to virtio-pci, $nmsi MSI-X vectors"
else nok "guest-x86-pci: '$pci' (want 3 devices and >= 3 MSI vectors)"; fi
guest_run "mkdir -p /mnt && mkfs.ext2 -q /dev/vda >/dev/null 2>&1 || mkfs.ext2 /dev/vda >/dev/null && mount -t ext2 /dev/vda /mnt && echo $token >/mnt/hello && umount /mnt && sync" 120 >/dev/null
rc=$?
if [ $rc -ne 0 ]; then nok "guest-x86-blk: mkfs/mount/write in the guest failed (status $rc)"
elif have debugfs; then
    got=$(debugfs -R 'cat /hello' "$out/disk.img" 2>/dev/null)
    check "guest-x86-blk: ext2 made and written in the guest, read back on the host ('$got')" test "$got" = "$token"
else ok "guest-x86-blk: ext2 made and written in the guest (host check skipped: no debugfs)"; fi
got=$(guest_run "wget -q -O - http://10.0.2.2:$port/token" 60)
check "guest-x86-net: the guest fetched a file from the host through slirp ('$got')" test "$got" = "$token"
got=$(guest_run 'dd if=/dev/hwrng bs=16 count=1 2>/dev/null | wc -c')
check "guest-x86-rng: 16 bytes from /dev/hwrng (got $got)" test "$got" = 16
guest_poweroff "$(slow 30)"; rc=$?
check "guest-x86-poweroff: the shell's exit powers off, vessel exits 0 (got $rc)" test $rc -eq 0

# --transport mmio: the same kernel finds the devices in the DSDT, and the
# command line does not name them (they would be probed twice)
guest_start "$VESSEL" kvm "${base[@]}" --transport mmio --disk "$out/disk.img" --rng \
    --append "console=ttyS0 panic=-1 vessel.nonet"
if guest_wait_ready; then
    got=$(guest_run "echo \$(ls /sys/bus/platform/drivers/virtio-mmio | grep -c LNRO) \$(grep -c virtio_mmio.device /proc/cmdline) \$(dd if=/dev/vda bs=512 count=1 skip=2 2>/dev/null | wc -c) \$(dd if=/dev/hwrng bs=8 count=1 2>/dev/null | wc -c)")
    check "guest-x86-mmio: --transport mmio: 2 devices from the DSDT, none on the command line, blk and rng answer ('$got')" \
        test "$got" = "2 0 512 8"
    guest_poweroff "$(slow 30)" >/dev/null
    guest_kill
else
    nok "guest-x86-mmio: no shell ($(guest_tail 10 | tr '\n' ' ' | tail -c 400))"
    guest_kill
fi

guest_start "$VESSEL" kvm "${base[@]}" --no-reboot --append "console=ttyS0 panic=-1 vessel.nonet"
if guest_wait_ready; then
    guest_send 'reboot'
    guest_wait_exit "$(slow 30)"; rc=$?
    check "guest-x86-reboot: reboot in the guest with --no-reboot ends vessel with status 3 (got $rc)" test $rc -eq 3
else nok "guest-x86-reboot: no shell ($(guest_tail 10 | tr '\n' ' ' | tail -c 400))"; fi
