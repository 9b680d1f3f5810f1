# virtio-net, user mode: the guest fetches a file from a server on host
# 127.0.0.1 (10.0.2.2 in the guest); the host fetches from busybox httpd in
# the guest through hostfwd. Tap: ping between the guest and a network
# namespace the test creates.
. "$(dirname "${BASH_SOURCE[0]}")/virtio-common.inc"
have python3 || { echo "python3 missing" >&2; exit 77; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
hport=$(free_port) fport=$(free_port)
mkdir -p "$WORK/www"
head -c 300000 /dev/urandom > "$WORK/www/blob"
sum=$(sha256sum < "$WORK/www/blob" | cut -d' ' -f1)
python3 -m http.server "$hport" --bind 127.0.0.1 --directory "$WORK/www" >/dev/null 2>&1 &
srv=$!
cleanup_hooks+=("kill $srv 2>/dev/null")

vm_start --net "user,hostfwd=tcp::$fport-:8080,mac=52:54:00:ab:cd:ef"
vm_ready
out=$(guest_run 'cat /sys/class/net/eth0/address')
check "guest NIC has the MAC given" test "$out" = 52:54:00:ab:cd:ef
out=$(guest_run 'ip -4 addr show eth0 2>/dev/null || ifconfig eth0')
check "DHCP gave the guest 10.0.2.15" grep -q '10\.0\.2\.15' <<<"$out"
out=$(guest_run "wget -q -O /tmp/blob http://10.0.2.2:$hport/blob && sha256sum /tmp/blob | cut -d' ' -f1" 120)
check "guest fetches a file from the host over HTTP" test "$out" = "$sum"
guest_run 'mkdir -p /www && dd if=/dev/urandom of=/www/g bs=1k count=200 2>/dev/null && httpd -p 8080 -h /www' >/dev/null
gsum=$(guest_run "sha256sum /www/g | cut -d' ' -f1")
hsum=$(python3 -c "
import sys, urllib.request, hashlib
d = urllib.request.urlopen('http://127.0.0.1:$fport/g', timeout=60).read()
print(hashlib.sha256(d).hexdigest())" 2>/dev/null)
check "host fetches from httpd in the guest via hostfwd" test -n "$hsum" -a "$hsum" = "$gsum"
guest_poweroff 60 >/dev/null

# tap <-> a network namespace
if [ "$(id -u)" != 0 ] || [ ! -c /dev/net/tun ] || ! have ip; then
    skip "tap to a network namespace" "needs root, /dev/net/tun and iproute2"
    exit 0
fi
ns=vslns$$ tap=vsltap$$
ip netns add "$ns" || { skip "tap to a network namespace" "cannot create a netns"; exit 0; }
cleanup_hooks+=("ip netns del $ns 2>/dev/null; ip link del $tap 2>/dev/null")
# tap_guest TAP NET SUBNET: a tap TAP, the guest started on --net NET (its
# own network left down), TAP moved into the namespace as SUBNET.1 and the
# guest's eth0 set to SUBNET.2
tap_guest() {
    ip tuntap add dev "$1" mode tap vnet_hdr 2>/dev/null || ip tuntap add dev "$1" mode tap
    VM_APPEND=vessel.nonet vm_start --net "$2"
    vm_ready
    ip link set "$1" netns "$ns"
    ip -n "$ns" addr add "$3.1/24" dev "$1"
    ip -n "$ns" link set "$1" up
    guest_run "ifconfig eth0 $3.2 netmask 255.255.255.0 up" >/dev/null
}
tap_guest "$tap" "tap,ifname=$tap" 192.168.231
check "guest pings the namespace over tap" guest_run 'ping -c 2 -W 3 192.168.231.1 >/dev/null'
guest_run 'mkdir -p /www && echo tap-ok > /www/t && httpd -p 8080 -h /www' >/dev/null
out=$(ip netns exec "$ns" python3 -c "
import urllib.request
print(urllib.request.urlopen('http://192.168.231.2:8080/t', timeout=30).read().decode().strip())" 2>/dev/null)
check "namespace fetches from the guest over tap" test "$out" = tap-ok

# vhost=on (QEMU's tap option): where /dev/vhost-net is missing, one line
# naming it and vessel moves the packets itself; where it is there (with
# vhost_net loaded), the kernel moves them, also for the emulated RISC-V
# guest (vhost only needs the guest's RAM mapped in vessel). The same ping
# either way.
[ "$VMM" = vessel ] || exit 0
guest_poweroff 60 >/dev/null
tap2=vsltapv$$
cleanup_hooks+=("ip link del $tap2 2>/dev/null")
tap_guest "$tap2" "tap,ifname=$tap2,vhost=on" 192.168.232
check "vhost=on: the guest pings the namespace over tap" guest_run 'ping -c 2 -W 3 192.168.232.1 >/dev/null'
n=$(grep -c 'vhost=on: .*vessel moves the packets itself' "$GUEST_LOG")
if [ -c /dev/vhost-net ]; then
    check "vhost=on with /dev/vhost-net: the kernel moves the packets (no fallback line; got $n)" test "$n" = 0
else
    line=$(grep 'vhost=on:' "$GUEST_LOG" | tr -d '\r')
    check "vhost=on without /dev/vhost-net: one line naming it, vessel's own path ('$line')" \
        test "$n" = 1 -a -n "$(grep -F "/dev/vhost-net: No such file or directory" <<<"$line")"
fi
guest_poweroff 60 >/dev/null
