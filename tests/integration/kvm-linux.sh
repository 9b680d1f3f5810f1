#!/bin/bash
# Linux under vessel kvm, through Linux's own drivers: Debian's cloud kernel
# (no MP-table parsing: it needs ACPI's MADT to find its APICs; virtio
# drivers as modules, no virtio_mmio.device= support) with an initramfs
# built here (the host's static busybox, the virtio modules of
# tests/linux-modules.txt). Without `nolapic`. The devices are virtio-pci
# (the default: the PCI root and MCFG in ACPI, MSI-X) in the main boot and
# virtio-mmio (found in the DSDT) in a second one. Runs where /dev/kvm
# works, and in the nested tier.
. "$SRC/tests/lib.sh"
dev=${VESSEL_KVM_DEV:-/dev/kvm}
names="linux-boot linux-smp linux-acpi linux-pci linux-virtio-blk linux-virtio-rng linux-virtio-net linux-virtio-console linux-poweroff linux-mmio linux-reboot linux-power-button"
skip_all() { local n; for n in $names; do skip "$n" "$1"; done; exit 0; }
kver=
for k in /boot/vmlinuz-*; do
    v=${k#/boot/vmlinuz-}
    [ -r "$k" ] && [ -e "/lib/modules/$v/kernel/drivers/virtio/virtio_mmio.ko" ] && kver=$v
done
[ -n "$kver" ] || skip_all "no /boot/vmlinuz-V with virtio modules in /lib/modules/V (package linux-image-cloud-amd64)"
bb=$(command -v busybox || true)
[ -n "$bb" ] || skip_all "busybox missing (package busybox-static)"
{ [ -r "$dev" ] && [ -w "$dev" ]; } || skip_all "$dev missing or not accessible"
why=$(kvm_soft_why); [ -z "$why" ] || skip_all "$why"

out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
st=$out/stage
mkdir -p "$st"/{bin,proc,sys,dev,mnt,lib/modules}
cp "$bb" "$st/bin/busybox"
for a in sh mount umount insmod mke2fs dmesg grep sed cat echo poweroff reboot dd wc sync sleep head ls \
         ifconfig route wget tr; do
    ln -s busybox "$st/bin/$a"
done
while read -r m; do
    cp "/lib/modules/$kver/$m" "$st/lib/modules/" || skip_all "/lib/modules/$kver/$m missing"
done <"$SRC/tests/linux-modules.txt"
cat >"$st/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
exec </dev/console >/dev/console 2>&1
echo "L2 init at $(cut -d' ' -f1 /proc/uptime) s"
for m in virtio_ring virtio virtio_mmio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk \
         virtio-rng virtio_console failover net_failover virtio_net button evdev; do
    err=$(insmod /lib/modules/$m.ko 2>&1) || echo "L2 insmod $m failed: $err"
done
echo "L2 cpus=$(grep -c ^processor /proc/cpuinfo)"
dmesg | grep -iE 'ACPI (BIOS )?(Error|Warning)|ACPI: .*(fail|error)|PCI.*(fail|error)' | sed 's/^/L2 acpi-problem: /'
echo "L2 virtio-pci=$(ls /sys/bus/pci/drivers/virtio-pci 2>/dev/null | grep -c :) virtio-mmio=$(ls /sys/bus/platform/drivers/virtio-mmio 2>/dev/null | grep -c LNRO) msix=$(grep -c 'PCI-MSI' /proc/interrupts)"
dmesg | grep -E 'MMCONFIG' | tail -1 | sed 's/^/L2 dmesg: /'
grep -q nolapic /proc/cmdline && echo "L2 nolapic on the command line"
if [ -b /dev/vda ] && mke2fs -q /dev/vda && mount -t ext4 /dev/vda /mnt; then
    echo "written in L2" >/mnt/hello && umount /mnt && sync && echo "L2 disk written"
fi
[ -e /dev/hwrng ] && echo "L2 rng bytes=$(dd if=/dev/hwrng bs=16 count=1 2>/dev/null | wc -c)"
[ -e /dev/hvc0 ] && echo "L2 through hvc0: $(cat /proc/sys/kernel/random/boot_id | head -c 8)" >/dev/hvc0
port=$(sed -n 's/.*vport=\([0-9]*\).*/\1/p' /proc/cmdline)
if [ -e /sys/class/net/eth0 ] && [ -n "$port" ]; then
    err=$( { ifconfig eth0 10.0.2.15 netmask 255.255.255.0 up && route add default gw 10.0.2.2; } 2>&1) ||
        echo "L2 net setup failed: $err ($(ls /sys/class/net | tr '\n' ' ') $(cat /sys/class/net/eth0/operstate))"
    echo "L2 fetched: $(wget -q -O - "http://10.0.2.2:$port/token" 2>&1 | head -c 64)"
    echo "L2 net: $(route -n 2>&1 | tail -n +3 | tr -s ' \n' '  ') | $(ifconfig eth0 2>&1 | tr -s ' \n' '  ' | head -c 200)"
    dmesg | grep -iE 'virtio_net|eth0' | tail -3 | sed 's/^/L2 net: /'
fi
case $(cat /proc/cmdline) in
*vtest=reboot*) echo "L2 rebooting"; reboot -f ;;
*vtest=button*)
    # the ACPI power button (PNP0C0C, notified by the GED) is an input
    # device: one key event ends the wait
    ev=$(grep -l 'Power Button' /sys/class/input/event*/device/name 2>/dev/null | head -1)
    ev=${ev#/sys/class/input/}; ev=${ev%%/*}
    if [ -n "$ev" ]; then
        echo "L2 waiting for the power button on $ev"
        dd if=/dev/input/$ev bs=24 count=1 >/dev/null 2>&1 && echo "L2 power button pressed"
    else echo "L2 no power button input device"; fi
    poweroff -f ;;
*) echo "L2 powering off"; poweroff -f ;;
esac
INIT
chmod 755 "$st/init"
(cd "$st" && find . | cpio -o -H newc 2>/dev/null) >"$out/initrd.cpio"
[ -s "$out/initrd.cpio" ] || { nok "linux: build the initramfs"; exit 0; }
truncate -s 64M "$out/disk.img"

# boot NAME ARGS...: vessel kvm on the cloud kernel; status in rc, output in $out/NAME.{out,err}
boot() {
    local n=$1 t0=$SECONDS; shift
    timeout -k 10 "$(slow 30)" "$VESSEL" kvm --kernel "/boot/vmlinuz-$kver" --initrd "$out/initrd.cpio" -m 256M "$@" \
        >"$out/$n.out" 2>"$out/$n.err" </dev/null
    rc=$?
    echo "# $n: vessel kvm ran $((SECONDS - t0))s (rc $rc)"
}
why() { echo "rc $rc: $(grep -a '^L2' "$out/$1.out" | tr '\n' ' ' | head -c 300) | $(tail -c 300 "$out/$1.err" | tr '\n' ' ') | console tail: $(tail -c 600 "$out/$1.out" | tr -d '\r' | tr '\n' ' ')"; }

# the host's side of virtio-net: a web server the guest reaches through
# slirp's 10.0.2.2 (the host's loopback)
mkdir -p "$out/www"
token=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
echo "$token" >"$out/www/token"
port=$((20000 + $$ % 20000))
busybox httpd -f -p "127.0.0.1:$port" -h "$out/www" & hpid=$!
trap 'kill $hpid 2>/dev/null; rm -rf "$out"' EXIT

boot main --smp 2 --disk "$out/disk.img" --rng --net user --console \
    --append "console=ttyS0 panic=-1 vtest=poweroff vport=$port"
o=$out/main.out
if grep -aq '^L2 init' "$o"; then ok "linux-boot: Debian's cloud kernel reaches /init under vessel kvm (no nolapic; $(grep -ao '^L2 init at [0-9.]* s' "$o" | cut -c4-) of guest uptime)"
else nok "linux-boot ($(why main))"; fi
if grep -aq '^L2 cpus=2' "$o"; then ok "linux-smp: --smp 2, both CPUs online (found through the MADT)"
else nok "linux-smp ($(why main))"; fi
if grep -aq 'ACPI: ' "$o" && ! grep -aq '^L2 acpi-problem' "$o"; then ok "linux-acpi: tables parsed, no ACPI error or warning in dmesg"
else nok "linux-acpi ($(grep -a 'L2 acpi-problem' "$o" | head -5 | tr '\n' ' ') $(why main))"; fi
if ! grep -aq '^L2 disk written' "$o"; then nok "linux-virtio-blk: no file system written ($(why main))"
elif have debugfs; then
    got=$(debugfs -R 'cat /hello' "$out/disk.img" 2>/dev/null)
    if [ "$got" = "written in L2" ]; then ok "linux-virtio-blk: ext2 made and written in the guest (virtio-pci), read back on the host"
    else nok "linux-virtio-blk: host read '$got' from the guest's file system"; fi
else ok "linux-virtio-blk: ext2 made and written in the guest (host check skipped: no debugfs)"; fi
if grep -aq '^L2 rng bytes=16' "$o"; then ok "linux-virtio-rng: 16 bytes from /dev/hwrng"
else nok "linux-virtio-rng ($(why main))"; fi
if grep -aq "^L2 fetched: $token" "$o"; then ok "linux-virtio-net: the guest fetched a file from the host's web server through slirp (10.0.2.2)"
else nok "linux-virtio-net (want token $token; $(grep -a '^L2 fetched\|^L2 net' "$o" | tr '\n' ' ' | head -c 900))"; fi
if grep -aq '^L2 through hvc0: ' "$o"; then ok "linux-virtio-console: a line written to /dev/hvc0 reached vessel's console"
else nok "linux-virtio-console ($(why main))"; fi
pl=$(grep -a '^L2 virtio-pci=' "$o" | head -1)
if [[ $pl =~ virtio-pci=4\ virtio-mmio=0\ msix=([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -ge 4 ]; then
    ok "linux-pci: the 4 devices bound to virtio_pci (MSI-X: ${BASH_REMATCH[1]} vectors), none to virtio_mmio ($(grep -a '^L2 dmesg: ' "$o" | head -1 | sed 's/^L2 dmesg: \[[ 0-9.]*\] //' | cut -c1-110))"
else nok "linux-pci ($pl; $(why main))"; fi
if [ $rc -eq 0 ] && grep -aq '^L2 powering off' "$o" && grep -q 'ACPI power-off' "$out/main.err"; then
    ok "linux-poweroff: poweroff -f ends vessel with status 0 through ACPI S5"
else nok "linux-poweroff ($(why main))"; fi

# the same devices over virtio-mmio: found in the DSDT, not the command line
truncate -s 0 "$out/disk.img"; truncate -s 64M "$out/disk.img"
boot mmio --transport mmio --disk "$out/disk.img" --rng --append "console=ttyS0 panic=-1 vtest=poweroff"
ml=$(grep -a '^L2 virtio-pci=' "$out/mmio.out" | head -1)
if [ $rc -eq 0 ] && [[ $ml == *"virtio-pci=0 virtio-mmio=2 "* ]] && grep -aq '^L2 disk written' "$out/mmio.out" &&
   grep -aq '^L2 rng bytes=16' "$out/mmio.out" && ! grep -aq 'virtio_mmio.device=' "$out/mmio.out" &&
   ! grep -aq '^L2 acpi-problem' "$out/mmio.out"; then
    ok "linux-mmio: --transport mmio: blk and rng through virtio_mmio from the DSDT alone, powered off"
else nok "linux-mmio ($ml; $(why mmio))"; fi

boot reboot --no-reboot --append "console=ttyS0 panic=-1 vtest=reboot"
if [ $rc -eq 3 ] && grep -aq '^L2 rebooting' "$out/reboot.out"; then ok "linux-reboot: reboot -f with --no-reboot ends vessel with status 3 ($(grep -o 'reset through the .*' "$out/reboot.err" | head -1))"
else nok "linux-reboot ($(why reboot))"; fi

# QMP system_powerdown: the GED event reaches Linux's ACPI button driver as
# a key press; the guest then powers off (exit 0)
sock=$out/qmp.sock
timeout -k 10 "$(slow 30)" "$VESSEL" kvm --kernel "/boot/vmlinuz-$kver" --initrd "$out/initrd.cpio" -m 256M \
    --qmp "unix:$sock" --append "console=ttyS0 panic=-1 vtest=button" >"$out/button.out" 2>"$out/button.err" </dev/null &
vpid=$!
n=$(( $(slow 30) * 20 ))
for ((i = 0; i < n; i++)); do
    grep -aq '^L2 waiting for the power button\|^L2 no power button' "$out/button.out" && break
    kill -0 $vpid 2>/dev/null || break
    sleep 0.05
done
pd=$(timeout -k 5 "$(slow 30)" "$VESSEL" qmp "$sock" system_powerdown 2>&1)
wait $vpid; rc=$?
if [ $rc -eq 0 ] && grep -aq '^L2 power button pressed' "$out/button.out" && grep -q 'ACPI power-off' "$out/button.err"; then
    ok "linux-power-button: QMP system_powerdown ($pd) -> GED -> Linux's power button key -> poweroff, exit 0"
else nok "linux-power-button (qmp: $pd; $(why button))"; fi
