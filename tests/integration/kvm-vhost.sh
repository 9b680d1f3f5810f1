#!/bin/bash
# vhost-net under vessel kvm (--net tap,ifname=NAME,vhost=on): the kernel's
# vhost-net moves the packets between the guest's rings and a tap.
# - vessel's default x86-64 guest over virtio-pci (MSI-X, ioeventfd
#   doorbells) and over virtio-mmio: the device's features as the guest
#   sees them (VIRTIO_NET_F_MRG_RXBUF, which only the vhost path offers),
#   a file the guest serves fetched by the host side (guest -> host: the
#   transmit ring) and one the host serves fetched by the guest (the
#   receive ring), both compared by SHA-256; no fallback line, packets
#   counted on the tap; the offloads (CSUM, GUEST_CSUM, GUEST_TSO4/6,
#   HOST_TSO4/6) negotiated and used: the tap carries frames larger than
#   the MTU both ways (TUNSETOFFLOAD on the tap, TSO in the guest), which
#   the checksums above then prove intact; power-off exits 0; a snapshot is
#   refused.
# - the hostile guest tests/guests/x86/vhost-hostile.asm: transmit buffers
#   outside guest RAM must be refused by vhost-net (its memory table holds
#   only guest RAM): the request is not consumed, nothing leaves on the
#   tap, the device reports NEEDS_RESET, vessel logs the queue's error; a
#   good frame (the negative control) leaves.
# Runs where /dev/kvm and /dev/vhost-net work (the nested tier's L1 loads
# vhost_net: kvm-nested-vhost.sh); needs root and iproute2 for the tap.
. "$SRC/tests/lib.sh"
. "$SRC/tests/guestlib.sh"
dev=${VESSEL_KVM_DEV:-/dev/kvm}
hostile="vhost-hostile-good vhost-hostile-ram-end vhost-hostile-high vhost-hostile-chain"
linux="vhost-pci-boot vhost-pci-features vhost-pci-tx vhost-pci-rx vhost-pci-offloads vhost-pci-tap vhost-snapshot-refused vhost-pci-poweroff vhost-mmio"
skip_all() { local n; for n in $hostile $linux; do skip "$n" "$1"; done; exit 0; }
{ [ -r "$dev" ] && [ -w "$dev" ]; } || skip_all "$dev missing or not accessible"
[ -c /dev/vhost-net ] || skip_all "no /dev/vhost-net (module vhost_net)"
[ "$(id -u)" = 0 ] && [ -c /dev/net/tun ] || skip_all "needs root and /dev/net/tun"
{ ip tuntap help 2>&1 || true; } | grep tuntap >/dev/null || skip_all "iproute2's ip (with tuntap) missing"
out=$(mktemp -d)
tap=vhtap$$ addr=10.77.$(( $$ % 200 )).1 gaddr=10.77.$(( $$ % 200 )).2
hpid=
trap 'guest_kill; [ -n "$hpid" ] && kill $hpid 2>/dev/null; ip link del "$tap" 2>/dev/null; rm -rf "$out"' EXIT
ip tuntap add dev "$tap" mode tap vnet_hdr || skip_all "cannot create a tap"
ip addr add "$addr/24" dev "$tap" && ip link set "$tap" up || skip_all "cannot configure $tap"
counter() { cat "/sys/class/net/$tap/statistics/$1"; }
sanitizer='AddressSanitizer|LeakSanitizer|runtime error:'     # an ASan+UBSan build's reports

# ---- the hostile guest ----
why=$(x86_guests_missing)
if [ -n "$why" ] || ! x86_guest vhost-hostile "$out/vh.bz"; then
    for n in $hostile; do skip "$n" "${why:-vhost-hostile.bz missing}"; done
else
    # vhc CASE: sets rc, leaves the output in $out/o, and d = frames the tap got
    vhc() {
        local before; before=$(counter rx_packets)
        timeout "$(slow 120)" "$VESSEL" kvm --kernel "$out/vh.bz" -m 64M --transport mmio --no-acpi \
            --append "vhc=$1" --net "tap,ifname=$tap,vhost=on" >"$out/o" 2>&1 </dev/null
        rc=$?
        d=$(( $(counter rx_packets) - before ))
    }
    said() { grep -qE "$1" "$out/o"; }
    vhc n
    if [ $rc -eq 0 ] && said '^PASS' && [ "$d" -ge 1 ] && ! said "vessel moves the packets itself|$sanitizer"; then
        ok "vhost-hostile-good: negative control: a good frame left through vhost-net ($d on the tap)"
    else nok "vhost-hostile-good: rc $rc, tap +$d: $(tr '\n' ' ' <"$out/o" | tail -c 400)"; fi
    for c in e:ram-end:0x4000000 h:high:0x7fff00000000 r:chain:0x7fff00001000; do
        IFS=: read -r k name where <<<"$c"
        vhc "$k"
        # the good frame after the reset is the only one that may leave
        if [ $rc -eq 0 ] && said '^PASS' && said 'vhost-net stopped queue 1' && [ "$d" -eq 1 ] &&
            ! said "vessel moves the packets itself|$sanitizer"; then
            ok "vhost-hostile-$name: a transmit buffer at $where refused by vhost-net (NEEDS_RESET, not consumed, 1 frame on the tap: the good one after the reset)"
        else nok "vhost-hostile-$name: rc $rc, tap +$d: $(tr '\n' ' ' <"$out/o" | tail -c 400)"; fi
    done
fi

# ---- Linux through its own virtio-net driver ----
if ! x86_linux_guest; then
    for n in $linux; do skip "$n" "$X86_LINUX_MISSING"; done
    exit 0
fi
have busybox || { for n in $linux; do skip "$n" "busybox missing (httpd)"; done; exit 0; }
why=$(kvm_soft_why); [ -z "$why" ] || { for n in $linux; do skip "$n" "$why"; done; exit 0; }
GUEST_TIMEOUT=$(slow 60)
mkdir -p "$out/www"
head -c $((4 << 20)) /dev/urandom >"$out/www/blob"
hsum=$(sha256sum <"$out/www/blob" | cut -d' ' -f1)
port=$((20000 + ($$ + 11) % 20000))
busybox httpd -f -p "$addr:$port" -h "$out/www" & hpid=$!
base=(--kernel "$KERNEL" --initrd "$INITRD" -m 256M)
# the features word the guest's driver negotiated, as a 64-character bit string
features='for d in /sys/bus/virtio/devices/*; do [ "$(cat $d/device)" = 0x0001 ] && cat $d/features; done'

guest_start "$VESSEL" kvm "${base[@]}" --net "tap,ifname=$tap,vhost=on" --qmp "unix:$out/q.sock" \
    --append "console=ttyS0 panic=-1 vessel.nonet"
if ! guest_wait_ready; then
    nok "vhost-pci-boot: no shell ($(guest_tail 15 | tr '\n' ' ' | tail -c 600))"
    for n in $linux; do [ "$n" = vhost-pci-boot ] || skip "$n" "the guest did not boot"; done
    exit 0
fi
if grep -qE 'vessel moves the packets itself|as an irqfd' "$GUEST_LOG"; then
    nok "vhost-pci-boot: vessel fell back: $(grep -E 'vhost|irqfd' "$GUEST_LOG" | head -2 | tr '\n' ' ')"
else ok "vhost-pci-boot: the default guest booted with --net tap,vhost=on, no fallback or irqfd failure line ($(guest_elapsed) s)"; fi
f=$(guest_run "$features")
# bit 0 first: 5 MAC, 15 MRG_RXBUF, 16 STATUS, 32 VERSION_1; the offloads
# (offered only with vhost-net) 0 CSUM, 1 GUEST_CSUM, 7/8 GUEST_TSO4/6,
# 11/12 HOST_TSO4/6
if [ "${f:5:1}${f:15:1}${f:16:1}${f:32:1}" = 1111 ] && [ "${f:0:2}${f:7:2}${f:11:2}" = 111111 ]; then
    ok "vhost-pci-features: the guest negotiated MAC, MRG_RXBUF, STATUS, VERSION_1 and the offloads CSUM, GUEST_CSUM, GUEST_TSO4/6, HOST_TSO4/6 ($f)"
else nok "vhost-pci-features: '$f'"; fi
guest_run "ifconfig eth0 $gaddr netmask 255.255.255.0 up" >/dev/null
tx0=$(counter rx_packets) txb0=$(counter rx_bytes)
guest_run "mkdir -p /www && dd if=/dev/urandom of=/www/g bs=1k count=3072 2>/dev/null && httpd -p 8080 -h /www" 60 >/dev/null
gsum=$(guest_run "sha256sum /www/g | cut -d' ' -f1")
got=$(timeout "$(slow 60)" busybox wget -q -O - "http://$gaddr:8080/g" | sha256sum | cut -d' ' -f1)
check "vhost-pci-tx: 3 MiB the guest serves, fetched on the host side through the tap ($got)" \
    test -n "$gsum" -a "$got" = "$gsum"
txn=$(( $(counter rx_packets) - tx0 )) txb=$(( $(counter rx_bytes) - txb0 ))
rx0=$(counter tx_packets) rxb0=$(counter tx_bytes)
got=$(guest_run "wget -q -O - http://$addr:$port/blob | sha256sum | cut -d' ' -f1" 120)
check "vhost-pci-rx: 4 MiB the host serves, fetched by the guest ($got)" test "$got" = "$hsum"
rxn=$(( $(counter tx_packets) - rx0 )) rxb=$(( $(counter tx_bytes) - rxb0 ))
# mean frame size each way: above the 1514 bytes of a full Ethernet frame
# only if segments of up to 64 KiB crossed the tap (TSO)
if [ "$txn" -gt 0 ] && [ "$rxn" -gt 0 ] && [ $((txb / txn)) -gt 1514 ] && [ $((rxb / rxn)) -gt 1514 ]; then
    ok "vhost-pci-offloads: frames larger than the MTU crossed the tap both ways (mean $((txb / txn)) bytes from the guest, $((rxb / rxn)) to it)"
else nok "vhost-pci-offloads: mean frame ${txb}/${txn} bytes from the guest, ${rxb}/${rxn} to it (no TSO through the tap)"; fi
msix=$(guest_run "grep -c 'PCI-MSI.*virtio0' /proc/interrupts")
# 3 MiB in segments of at most 64 KiB: at least 48 frames
if [ "$txn" -ge 48 ] && [ "${msix:-0}" -ge 2 ]; then
    ok "vhost-pci-tap: $txn frames from the guest on the tap while it served 3 MiB, $msix MSI-X vectors for virtio0"
else nok "vhost-pci-tap: $txn frames on the tap, '$msix' MSI-X vectors"; fi
r=$(timeout -k 5 "$(slow 30)" "$VESSEL" qmp "$out/q.sock" vm-snapshot "{\"path\":\"$out/snap\"}" 2>&1)
m=$(timeout -k 5 "$(slow 30)" "$VESSEL" qmp "$out/q.sock" migrate "{\"uri\":\"unix:$out/mig.sock\"}" 2>&1)
if [[ $r == *vhost-net* ]] && [ ! -e "$out/snap/manifest.json" ] && [[ $m == *blocked*vhost-net* ]]; then
    ok "vhost-snapshot-refused: vm-snapshot and migrate refused with a line naming vhost-net"
else nok "vhost-snapshot-refused: '$r' / '$m'"; fi
guest_poweroff "$(slow 30)"; rc=$?
san=$(grep -cE "$sanitizer" "$GUEST_LOG")
check "vhost-pci-poweroff: power-off with vhost-net on, vessel exits 0 (got $rc), no sanitizer report ($san)" \
    test $rc -eq 0 -a "$san" = 0

guest_start "$VESSEL" kvm "${base[@]}" --transport mmio --net "tap,ifname=$tap,vhost=on" \
    --append "console=ttyS0 panic=-1 vessel.nonet"
if guest_wait_ready; then
    guest_run "ifconfig eth0 $gaddr netmask 255.255.255.0 up" >/dev/null
    got=$(guest_run "wget -q -O - http://$addr:$port/blob | sha256sum | cut -d' ' -f1" 120)
    f=$(guest_run "$features")
    guest_poweroff "$(slow 30)" >/dev/null
    if [ "$got" = "$hsum" ] && [ "${f:15:1}" = 1 ] && ! grep -qE "vessel moves the packets itself|$sanitizer" "$GUEST_LOG"; then
        ok "vhost-mmio: --transport mmio: 4 MiB fetched through vhost-net, checksum equal, MRG_RXBUF negotiated"
    else nok "vhost-mmio: sum '$got' features '$f' $(grep -E "vhost|$sanitizer" "$GUEST_LOG" | head -2 | tr '\n' ' ')"; fi
else
    nok "vhost-mmio: no shell ($(guest_tail 10 | tr '\n' ' ' | tail -c 400))"
fi
