# virtio-net, user mode with the options that cut the guest off:
# restrict=on (QEMU's word: the guest reaches nothing outside; hostfwd into
# the guest still works) and host-loopback=off (libslirp's
# disable_host_loopback: 10.0.2.2 no longer reaches the host's 127.0.0.1).
# Each is checked against a server on the host's 127.0.0.1 that an
# unrestricted guest reaches (virtio-net.sh). Also: --serial unix: makes its
# socket 0600 whatever the umask.
. "$(dirname "${BASH_SOURCE[0]}")/virtio-common.inc"
have python3 || { echo "python3 missing" >&2; exit 77; }
[ "$VMM" = vessel ] || { echo "vessel-only options" >&2; exit 77; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
hport=$(free_port) fport=$(free_port)
mkdir -p "$WORK/www"; echo host-file > "$WORK/www/f"
python3 -m http.server "$hport" --bind 127.0.0.1 --directory "$WORK/www" >/dev/null 2>&1 &
srv=$!
cleanup_hooks+=("kill $srv 2>/dev/null")

# the guest tries the host's server; prints "reached" or "blocked"
probe='wget -q -T 5 -O - http://10.0.2.2:'$hport'/f 2>/dev/null | grep -q host-file && echo reached || echo blocked'

vm_start --net "user,restrict=on,hostfwd=tcp::$fport-:8080"
vm_ready
out=$(guest_run "$probe" 60)
check "restrict=on: the guest cannot reach the host's 127.0.0.1 through 10.0.2.2" test "$out" = blocked
guest_run 'mkdir -p /www && echo guest-file > /www/g && httpd -p 8080 -h /www' >/dev/null
got=$(python3 - "$fport" <<'PY'
import sys, time, urllib.request
for _ in range(100):
    try:
        print(urllib.request.urlopen("http://127.0.0.1:%s/g" % sys.argv[1], timeout=5).read().decode().strip()); break
    except Exception:
        time.sleep(0.1)
PY
)
check "restrict=on: hostfwd into the guest still works" test "$got" = guest-file
guest_poweroff 60 >/dev/null

vm_start --net "user,host-loopback=off"
vm_ready
out=$(guest_run "ip -4 addr show eth0 2>/dev/null || ifconfig eth0" 60)
check "host-loopback=off: the guest still gets its address by DHCP" grep -q '10\.0\.2\.15' <<<"$out"
out=$(guest_run "$probe" 60)
check "host-loopback=off: 10.0.2.2 does not reach the host's 127.0.0.1" test "$out" = blocked
guest_poweroff 60 >/dev/null

vm_start --net "user"
vm_ready
out=$(guest_run "$probe" 60)
check "the same probe without the options reaches the host (the checks above can fail)" test "$out" = reached
guest_poweroff 60 >/dev/null

# --serial unix: 0600 even under umask 0
sock=$WORK/serial.sock
(umask 0; exec "$VESSEL" run --kernel "$KERNEL" --initrd "$INITRD" --serial "unix:$sock" </dev/null >/dev/null 2>&1) &
vpid=$!
for i in $(seq 200); do [ -S "$sock" ] && break; sleep 0.05; done
mode=$(stat -c %a "$sock" 2>/dev/null)
kill "$vpid" 2>/dev/null; wait "$vpid" 2>/dev/null
check "--serial unix: the socket is 0600 under umask 0 (got ${mode:-none})" test "$mode" = 600
