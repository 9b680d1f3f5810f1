#!/bin/bash
# ACPI PCI hotplug on vessel kvm (virtio-pci) with Debian's cloud kernel
# (acpiphp built in, the virtio drivers as modules): QMP device_add of a
# virtio-blk-pci disk, the guest sees it appear (the GED's notify, the
# slot's device check) and reads the token the host wrote into it;
# query-pci and query-block agree with the guest's /sys/bus/pci at each
# step; device_del asks, the guest lets go and ejects (_EJ0),
# DEVICE_DELETED follows and the slot takes a disk again; the same for a
# virtio-net-pci NIC (eth0 comes and goes); no ACPI or PCI complaint in
# dmesg. Then a hostile guest (busybox devmem on the register block):
# garbage at every offset, an eject of an empty slot and of a boot
# device's, and the eject of the hot-plugged disk behind its driver's back
# while it reads: vessel runs on, DEVICE_DELETED comes, quit ends it with
# status 0. First, with -S: the QMP argument errors, and --transport mmio
# refusing. Needs /dev/kvm: the nested tier runs it inside its L1
# (kvm-nested-hotplug.sh).
. "$SRC/tests/lib.sh"
. "$SRC/tests/guestlib.sh"
dev=${VESSEL_KVM_DEV:-/dev/kvm}
names="pci-hotplug-errors pci-hotplug-mmio pci-hotplug-boot pci-hotplug-blk-add pci-hotplug-blk-del pci-hotplug-blk-replug pci-hotplug-net pci-hotplug-hostile pci-hotplug-exit pci-hotplug-default-guest"
skip_all() { local n; for n in $names; do skip "$n" "$1"; done; exit 0; }
kver=
for k in /boot/vmlinuz-*; do
    v=${k#/boot/vmlinuz-}
    [ -r "$k" ] && [ -e "/lib/modules/$v/kernel/drivers/virtio/virtio_pci.ko" ] && kver=$v
done
[ -n "$kver" ] || skip_all "no /boot/vmlinuz-V with virtio modules in /lib/modules/V (package linux-image-cloud-amd64)"
bb=$(command -v busybox || true)
[ -n "$bb" ] || skip_all "busybox missing (package busybox-static)"
{ [ -r "$dev" ] && [ -w "$dev" ]; } || skip_all "$dev missing or not accessible (the nested tier runs this test inside its L1)"

out=$(mktemp -d); pid=
trap 'guest_kill; [ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$out"' EXIT
st=$out/stage
mkdir -p "$st"/{bin,proc,sys,dev,lib/modules}
cp "$bb" "$st/bin/busybox"
for a in sh mount cat grep sed dmesg sleep ls echo tr head wc insmod devmem dd cut; do ln -s busybox "$st/bin/$a"; done
while read -r m; do
    cp "/lib/modules/$kver/$m" "$st/lib/modules/" || skip_all "/lib/modules/$kver/$m missing"
done <"$SRC/tests/linux-modules.txt"
# The guest's side: it reacts to what the host plugs and unplugs, each wait
# bounded (nested TCG is slow: 0.2 s steps, up to 10 minutes). /dev/vda is
# the boot disk, /dev/vdb the hot-plugged one.
cat >"$st/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
exec </dev/console >/dev/console 2>&1
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk failover net_failover virtio_net; do
    err=$(insmod /lib/modules/$m.ko 2>&1) || echo "L2 insmod $m failed: $err"
done
until_() { i=0; while [ $i -lt 3000 ]; do eval "$1" && return 0; sleep 0.2; i=$((i + 1)); done; return 1; }
pci() { ls /sys/bus/pci/devices | sed 's/^0000:00://; s/\.0$//' | tr '\n' ' '; }
echo "L2 ready pci=$(pci)"
for round in 1 2; do
    if until_ '[ -b /dev/vdb ]'; then echo "L2 round $round: vdb token=$(head -c 16 /dev/vdb) pci=$(pci)"
    else echo "L2 round $round: vdb never appeared"; fi
    if until_ '[ ! -b /dev/vdb ] && [ ! -e /sys/bus/pci/devices/0000:00:02.0 ]'; then echo "L2 round $round: vdb gone pci=$(pci)"
    else echo "L2 round $round: vdb still there"; fi
done
if until_ '[ -e /sys/class/net/eth0 ]'; then echo "L2 eth0 mac=$(cat /sys/class/net/eth0/address) pci=$(pci)"
else echo "L2 eth0 never appeared"; fi
if until_ '[ ! -e /sys/class/net/eth0 ] && [ ! -e /sys/bus/pci/devices/0000:00:02.0 ]'; then echo "L2 eth0 gone pci=$(pci)"
else echo "L2 eth0 still there"; fi
dmesg | grep -iE 'ACPI (BIOS )?(Error|Warning)|ACPI: .*(fail|error)|acpiphp.*(fail|error)|pci .*(fail|error)' | sed 's/^/L2 problem: /'
dmesg | grep -iE 'acpiphp|hotplug|pci 0000:00:0[2-9]' | tail -n 6 | sed 's/^/L2 dmesg: /'
# hostile: the host has plugged a disk again
if until_ '[ -b /dev/vdb ]'; then
    base=$(cat /proc/cmdline | sed -n 's/.*pcihp=\([0-9a-fx]*\).*/\1/p')
    for off in 0 4 12 16 1 2 3 5; do devmem $((base + off)) 32 0xffffffff; devmem $((base + off)) 8 0xa5; done
    devmem $((base + 8)) 8 0xff; devmem $((base + 8)) 16 0xffff
    for off in 0 4 12 16; do devmem $((base + off)) 32 >/dev/null; done
    devmem $((base + 8)) 32 $((1 << 9))          # an empty slot
    devmem $((base + 8)) 32 $((1 << 1))          # the boot disk's slot
    dd if=/dev/vdb of=/dev/null bs=4096 count=100000 2>/dev/null &
    dd_pid=$!
    until_ '! [ -e /proc/$dd_pid/io ] || ! grep -q "^read_bytes: 0$" /proc/$dd_pid/io'   # reading: I/O in flight
    devmem $((base + 8)) 32 $((1 << 2))          # the hot-plugged disk, behind its driver's back
    echo "L2 hostile done"
else echo "L2 hostile: vdb never appeared"; fi
until_ false
INIT
chmod 755 "$st/init"
(cd "$st" && find . | cpio -o -H newc 2>/dev/null) >"$out/initrd.cpio"
[ -s "$out/initrd.cpio" ] || { nok "pci-hotplug: build the initramfs"; exit 0; }
truncate -s 16M "$out/boot.img" "$out/hot.img" "$out/hot2.img"
token=$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s' "$token" | dd of="$out/hot.img" conv=notrunc 2>/dev/null
printf 'second%s' "${token:0:10}" | dd of="$out/hot2.img" conv=notrunc 2>/dev/null

sock=$out/qmp.sock
q() { timeout -k 5 "$(slow 30)" "$VESSEL" qmp "$sock" "$@" 2>&1; }
wait_for() { local end=$((SECONDS + $(slow 60))); while [ $SECONDS -lt $end ]; do "$@" && return 0; kill -0 $pid 2>/dev/null || return 1; sleep 0.05; done; return 1; }
seen() { grep -aq "$1" "$out/vm.out"; }
why() { echo "$(grep -a '^L2' "$out/vm.out" | tr '\n' ' ' | head -c 900) | vessel: $(tail -c 400 "$out/vm.err" | tr '\n' ' ')"; }
wait_guest() { local end=$((SECONDS + $(slow 30))); while [ $SECONDS -lt $end ]; do seen "$1" && return 0; kill -0 $pid 2>/dev/null || return 1; sleep 0.05; done; return 1; }
# the slots query-pci lists, as the guest's pci() prints them
qslots() { q query-pci | grep -o '"slot":[0-9]*' | sed 's/"slot"://' | while read -r n; do printf '%02x ' "$n"; done; }
slots_are() { [ "$(qslots)" = "$1" ]; }
# del_wait ID: device_del, then the DEVICE_DELETED event (the client stays
# connected for it; other QMP clients wait meanwhile), into $out/ev.ID
del_wait() { timeout -k 10 "$(slow 40)" "$VESSEL" qmp --wait-event DEVICE_DELETED "$sock" device_del "{\"id\":\"$1\"}" >"$out/ev.$1" 2>&1; }
evd() { grep -q "\"event\":\"DEVICE_DELETED\",\"data\":{\"device\":\"$1\",\"path\":\"/machine/peripheral/$1\"}" "$out/ev.$1"; }

esock=$out/qmp-e.sock
qe() { timeout -k 5 "$(slow 30)" "$VESSEL" qmp "$esock" "$@" 2>&1; }
"$VESSEL" kvm --kernel "/boot/vmlinuz-$kver" --initrd "$out/initrd.cpio" -m 256M -S --disk "$out/boot.img,id=boot0" \
    --qmp "unix:$esock" --append "console=ttyS0" >"$out/s.out" 2>"$out/s.err" </dev/null &
pid=$!
wait_for test -S "$esock"
e1=$(qe device_add "{\"driver\":\"virtio-blk-pci\",\"id\":\"d\",\"file\":\"$out/none.img\"}")
e2=$(qe device_add "{\"driver\":\"virtio-blk-pci\",\"id\":\"d\",\"file\":\"$out/boot.img\"}")
e3=$(qe device_add "{\"driver\":\"virtio-blk-pci\",\"id\":\"boot0\",\"file\":\"$out/hot.img\"}")
e4=$(qe device_add "{\"driver\":\"virtio-blk-pci\",\"id\":\"d\",\"file\":\"$out/hot.img\",\"addr\":\"0x1\"}")
e5=$(qe device_del '{"id":"boot0"}')
e6=$(qe device_add "{\"driver\":\"virtio-blk-pci\",\"id\":\"d\",\"file\":\"$out/hot.img\",\"addr\":\"0x13\"}")
qe quit >/dev/null; wait $pid; pid=
if [[ $e1 == *"'file' $out/none.img: No such file or directory"* ]] && [[ $e2 == *"disk boot0 uses that image already"* ]] &&
   [[ $e3 == *"Duplicate device ID 'boot0'"* ]] && [[ $e4 == *"'addr' 0x1: PCI slot 1 is taken"* ]] &&
   [[ $e5 == *"was given on the command line"* ]] && [[ $e6 == *"'addr' 0x13: this machine's hot-pluggable PCI slots are 0x1-0x12"* ]]; then
    ok "pci-hotplug-errors: a missing image, an image in use, a taken id, a taken slot, a boot disk's device_del, a slot past the last: one line each"
else nok "pci-hotplug-errors ($e1 | $e2 | $e3 | $e4 | $e5 | $e6 | $(tail -c 300 "$out/s.err" | tr '\n' ' '))"; fi

"$VESSEL" kvm --kernel "/boot/vmlinuz-$kver" --initrd "$out/initrd.cpio" -m 256M -S --transport mmio --rng \
    --qmp "unix:$esock" --append "console=ttyS0" >"$out/s.out" 2>"$out/s.err" </dev/null &
pid=$!
wait_for test -S "$esock"
e1=$(qe device_add "{\"driver\":\"virtio-net-pci\",\"id\":\"n\"}")
qe quit >/dev/null; wait $pid; pid=
if [[ $e1 == *"device_add of 'virtio-net-pci': this machine's virtio devices are on virtio-mmio, which has no hotplug"* ]]; then
    ok "pci-hotplug-mmio: --transport mmio refuses device_add with one line naming why"
else nok "pci-hotplug-mmio ($e1)"; fi

# the base of the register block, for the hostile guest: VKVM_PCIHP_BASE
base=$((0xcfe00000 + 0x200))
why=$(kvm_soft_why); [ -z "$why" ] || { skip_from pci-hotplug-boot "$why" $names; exit 0; }
timeout -k 10 "$(slow 60)" "$VESSEL" kvm --kernel "/boot/vmlinuz-$kver" --initrd "$out/initrd.cpio" -m 256M \
    --disk "$out/boot.img,id=boot0" --qmp "unix:$sock" --append "console=ttyS0 panic=-1 pcihp=$base" \
    >"$out/vm.out" 2>"$out/vm.err" </dev/null &
pid=$!
if wait_for seen '^L2 ready'; then
    ok "pci-hotplug-boot: boots with one boot disk ($(grep -a '^L2 ready' "$out/vm.out" | tr -d '\r' | cut -c4-); query-pci: $(qslots))"
else nok "pci-hotplug-boot ($(why))"; exit 0; fi

add=$(q device_add "{\"driver\":\"virtio-blk-pci\",\"id\":\"disk1\",\"file\":\"$out/hot.img\"}")
if [ "$add" = '{}' ] && wait_guest "^L2 round 1: vdb token=$token pci=00 01 02 " && [ "$(qslots)" = "00 01 02 " ] &&
   [[ $(q query-block) == *'"device":"boot0"'*'"device":"disk1"'*"\"file\":\"$out/hot.img\""* ]] &&
   [[ $(q query-pci) == *'"slot":2,'*'"qdev_id":"disk1"'* ]]; then
    ok "pci-hotplug-blk-add: device_add {}; the guest found the disk in slot 2 and read the host's token; query-pci and query-block list it"
else nok "pci-hotplug-blk-add ($add; $(qslots); $(q query-block | head -c 300); $(why))"; fi

del_wait disk1
if [ "$(head -1 "$out/ev.disk1")" = '{}' ] && evd disk1 && wait_guest '^L2 round 1: vdb gone pci=00 01 [[:space:]]*$' &&
   slots_are "00 01 " && [[ $(q query-block) != *disk1* ]] && grep -q 'device disk1 (PCI slot 2) unplugged' "$out/vm.err"; then
    ok "pci-hotplug-blk-del: device_del {}, DEVICE_DELETED; the guest let go and ejected it; query-pci and query-block agree (slots 0, 1)"
else nok "pci-hotplug-blk-del ($(tr '\n' ' ' <"$out/ev.disk1"); $(qslots); $(why))"; fi

add2=$(q device_add "{\"driver\":\"virtio-blk-pci\",\"id\":\"disk1\",\"file\":\"$out/hot2.img\"}")
if [ "$add2" = '{}' ] && wait_guest "^L2 round 2: vdb token=second${token:0:10} pci=00 01 02 " &&
   del_wait disk1 && evd disk1 && wait_guest '^L2 round 2: vdb gone pci=00 01 [[:space:]]*$'; then
    ok "pci-hotplug-blk-replug: the id and slot 2 take another disk (its token read), which goes again"
else nok "pci-hotplug-blk-replug ($add2; $(why))"; fi

addn=$(q device_add '{"driver":"virtio-net-pci","id":"nic1","net":"user","mac":"52:54:00:ab:cd:ef"}')
if [ "$addn" = '{}' ] && wait_guest '^L2 eth0 mac=52:54:00:ab:cd:ef pci=00 01 02 ' &&
   del_wait nic1 && evd nic1 && wait_guest '^L2 eth0 gone pci=00 01 [[:space:]]*$' && slots_are "00 01 " &&
   ! seen '^L2 problem'; then
    ok "pci-hotplug-net: a virtio-net-pci NIC came (eth0 with its MAC) and went; no ACPI or PCI complaint in dmesg"
else nok "pci-hotplug-net ($addn; $(grep -a 'L2 problem' "$out/vm.out" | head -3 | tr '\n' ' ') $(why))"; fi

# the guest ejects disk2 itself: a client waits for the event meanwhile
timeout -k 10 "$(slow 60)" "$VESSEL" qmp --wait-event DEVICE_DELETED "$sock" device_add \
    "{\"driver\":\"virtio-blk-pci\",\"id\":\"disk2\",\"file\":\"$out/hot.img\"}" >"$out/ev.disk2" 2>&1
if [ "$(head -1 "$out/ev.disk2")" = '{}' ] && evd disk2 && wait_guest '^L2 hostile done' && slots_are "00 01 " &&
   grep -q 'device disk2 (PCI slot 2) unplugged' "$out/vm.err" && grep -q 'eject of slots 0x00000200 ignored' "$out/vm.err" &&
   grep -q 'eject of slots 0x00000002 ignored' "$out/vm.err" && [[ $(q query-status) == *running* ]]; then
    ok "pci-hotplug-hostile: garbage in the registers, ejects of an empty and a boot slot ignored (logged); the disk ejected under I/O left; vessel runs on"
else nok "pci-hotplug-hostile ($(tr '\n' ' ' <"$out/ev.disk2"); $(qslots); $(grep -c 'PCI hotplug' "$out/vm.err") lines; $(why))"; fi

q quit >/dev/null; wait $pid; rc=$?; pid=
if [ $rc -eq 0 ] && ! grep -aqE 'Sanitizer|runtime error:' "$out/vm.err" "$out/s.err"; then
    ok "pci-hotplug-exit: quit, status 0, no sanitizer report"
else nok "pci-hotplug-exit: status $rc $(grep -ahE -m3 'Sanitizer|runtime error:' "$out/vm.err" "$out/s.err" | tr '\n' ' ')"; fi

# vessel's default x86-64 guest (CONFIG_HOTPLUG_PCI_ACPI built in): a disk
# plugged into its running shell is read there and given back
if ! x86_linux_guest; then
    skip "pci-hotplug-default-guest" "$X86_LINUX_MISSING"
else
    GUEST_TIMEOUT=$(slow 60)
    guest_start "$VESSEL" kvm --kernel "$KERNEL" --initrd "$INITRD" -m 256M --qmp "unix:$sock" \
        --append "console=ttyS0 panic=-1"
    if guest_wait_ready; then
        # each wait bounded by the guest's timeout (slow-scaled), not 120 s:
        # in a loaded nested tier the first one once gave no answer in 120 s
        add=$(q device_add "{\"driver\":\"virtio-blk-pci\",\"id\":\"gdisk\",\"file\":\"$out/hot.img\"}")
        got=$(guest_run 'i=0; while [ ! -b /dev/vda ] && [ $i -lt 300 ]; do sleep 0.2; i=$((i+1)); done; echo "tok=$(head -c 16 /dev/vda) pci=$(ls /sys/bus/pci/devices | tr "\n" " ")"' "$GUEST_TIMEOUT")
        timeout -k 10 "$(slow 40)" "$VESSEL" qmp --wait-event DEVICE_DELETED "$sock" device_del '{"id":"gdisk"}' >"$out/ev.gdisk" 2>&1
        gone=$(guest_run 'i=0; while [ -e /sys/bus/pci/devices/0000:00:01.0 ] && [ $i -lt 300 ]; do sleep 0.2; i=$((i+1)); done; ls /sys/bus/pci/devices | tr "\n" " "; [ -b /dev/vda ] && echo vda-still-there' "$GUEST_TIMEOUT")
        if [ "$add" = '{}' ] && [[ $got == *"tok=$token pci=0000:00:00.0 0000:00:01.0 "* ]] && evd gdisk &&
           [[ $gone == "0000:00:00.0 " ]]; then
            ok "pci-hotplug-default-guest: the default x86-64 guest read a hot-plugged disk ($token) and ejected it on device_del"
        else nok "pci-hotplug-default-guest ($add | $got | $(tr '\n' ' ' <"$out/ev.gdisk") | $gone | $(guest_tail 8 2>&1 | tr '\n' ' '))"; fi
    else nok "pci-hotplug-default-guest: no shell ($(guest_tail 10 2>&1 | tr '\n' ' ' | tail -c 500))"; fi
    guest_kill
fi
