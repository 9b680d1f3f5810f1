#!/bin/bash
# virtio-mem on vessel kvm (--memory-hotplug) with vessel's default x86-64
# guest (CONFIG_VIRTIO_MEM, hot-added memory online by itself; booted with
# memhp_default_state=online_movable, so that what it plugs can all be
# unplugged again, as QEMU's documentation advises): QMP qom-set
# of requested-size grows the running guest (its MemTotal follows, qom-get
# size and query-memory-devices report the plugged size), the guest fills
# the new memory (vessel's mapping of the region becomes resident), frees
# it, and requested-size 0 shrinks it back: MemTotal as at boot, the
# region's resident size back near zero (smaps), no virtio_mem complaint in
# dmesg. Bad --memory-hotplug values: one line each. Needs /dev/kvm: the
# nested tier runs it inside its L1 (kvm-nested-hotplug.sh).
. "$SRC/tests/lib.sh"
. "$SRC/tests/guestlib.sh"
dev=${VESSEL_KVM_DEV:-/dev/kvm}
names="vmem-boot vmem-grow vmem-resident vmem-shrink vmem-dmesg"
skip_all() { local n; for n in $names; do skip "$n" "$1"; done; exit 0; }
out=$(mktemp -d)
trap 'guest_kill; rm -rf "$out"' EXIT
e1=$("$VESSEL" kvm --kernel /nonexistent --memory-hotplug size=100M 2>&1)
e2=$("$VESSEL" kvm --kernel /nonexistent --memory-hotplug size=512M,block-size=3000 2>&1)
e3=$("$VESSEL" kvm --kernel /nonexistent --memory-hotplug block-size=2M 2>&1)
e4=$("$VESSEL" kvm --kernel /nonexistent --memory-hotplug size=512M,colour=red 2>&1)
if [[ $e1 == *"size 104857600 must be a multiple of 128 MiB"* ]] && [[ $e2 == *"block-size 3000: a power of two"* ]] &&
   [[ $e3 == *"size= is required"* ]] && [[ $e4 == *"'colour=red' is not size="* ]]; then
    ok "vmem-options: bad --memory-hotplug values, one line each"
else nok "vmem-options ($e1 | $e2 | $e3 | $e4)"; fi
x86_linux_guest || skip_all "$X86_LINUX_MISSING"
{ [ -r "$dev" ] && [ -w "$dev" ]; } || skip_all "$dev missing or not accessible (the nested tier runs this test inside its L1)"
why=$(kvm_soft_why); [ -z "$why" ] || skip_all "$why"
GUEST_TIMEOUT=$(slow 60)
sock=$out/q.sock
q() { timeout -k 5 "$(slow 30)" "$VESSEL" qmp "$sock" "$@" 2>&1; }
memtotal() { guest_run "sed -n 's/MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo"; }
# the resident KiB of vessel's mapping of the 512 MiB region: the largest
# resident mapping of at least that size (the kernel may have merged the
# region's and guest RAM's anonymous mappings into one)
region_rss() { awk '/^Size:/ { sz = $2 } /^Rss:/ && sz >= 524288 && $2 >= m { m = $2 } END { print m + 0 }' "/proc/$GUEST_PID/smaps"; }
guest_start "$VESSEL" kvm --kernel "$KERNEL" --initrd "$INITRD" -m 256M --memory-hotplug size=512M,id=vmem0 \
    --qmp "unix:$sock" --append "console=ttyS0 panic=-1 memhp_default_state=online_movable"
if ! guest_wait_ready; then
    nok "vmem-boot: no shell ($(guest_tail 10 2>&1 | tr '\n' ' ' | tail -c 500))"; exit 0
fi
m0=$(memtotal)
qd=$(q query-memory-devices)
if [[ $qd == *'"type":"virtio-mem"'*'"id":"vmem0"'*'"size":0,"max-size":536870912,"block-size":2097152'* ]] &&
   guest_run 'ls /sys/bus/virtio/drivers/virtio_mem | grep -q virtio' >/dev/null; then
    ok "vmem-boot: the guest bound virtio_mem; MemTotal $m0 kB; query-memory-devices: nothing plugged"
else nok "vmem-boot ($qd; $(guest_run 'dmesg | grep -i virtio_mem | tail -3'))"; fi
set1=$(q qom-set '{"path":"/machine/peripheral/vmem0","property":"requested-size","value":402653184}')
grown() { local m; m=$(memtotal); [ -n "$m" ] && [ "$m" -ge $((m0 + 393216)) ]; }
t0=$SECONDS; i=0
while ! grown && [ $i -lt 100 ]; do sleep 0.5; i=$((i + 1)); done
m1=$(memtotal) sz1=$(q qom-get '{"path":"vmem0","property":"size"}')
if [ "$set1" = '{}' ] && [ "${m1:-0}" -ge $((m0 + 393216)) ] && [ "$sz1" = 402653184 ]; then
    ok "vmem-grow: requested-size 384 MiB: MemTotal $m0 -> $m1 kB in $((SECONDS - t0)) s, qom-get size $sz1"
else nok "vmem-grow ($set1; MemTotal $m0 -> $m1; size $sz1; $(guest_run 'dmesg | grep -i virtio_mem | tail -3' | tr '\n' ' '))"; fi
r0=$(region_rss)
# bounded by the guest's timeout, not a fixed time: in a loaded nested
# tier the 330 MiB took over 120 s once (each first touch of a page is an
# exit to L1's KVM, itself emulated)
t0=$SECONDS
guest_run 'mkdir -p /mnt/t && mount -t tmpfs -o size=400m t /mnt/t && dd if=/dev/zero of=/mnt/t/f bs=1M count=330 2>/dev/null; ls -l /mnt/t/f' >/dev/null
rd=$?; td=$((SECONDS - t0))
r1=$(region_rss)
guest_run 'rm -f /mnt/t/f; umount /mnt/t; sync; echo 3 > /proc/sys/vm/drop_caches' >/dev/null
if [ "$r1" -gt $((r0 + 65536)) ]; then
    ok "vmem-resident: the guest's 330 MiB in tmpfs (written in $td s) made the region resident (${r0:-?} -> $r1 KiB)"
else nok "vmem-resident (${r0:-?} -> ${r1:-?} KiB; the write's status $rd after $td s)"; fi
set0=$(q qom-set '{"path":"/machine/peripheral/vmem0","property":"requested-size","value":0}')
shrunk() { local s; s=$(q qom-get '{"path":"vmem0","property":"size"}'); [ "$s" = 0 ]; }
t0=$SECONDS; i=0
while ! shrunk && [ $i -lt 200 ]; do sleep 0.5; i=$((i + 1)); done
m2=$(memtotal) r2=$(region_rss)
if [ "$set0" = '{}' ] && shrunk && [ "${m2:-0}" = "$m0" ] && [ "$r2" -lt $((r1 - 131072)) ]; then
    ok "vmem-shrink: requested-size 0: size 0 in $((SECONDS - t0)) s, MemTotal back to $m2 kB, the region's resident size $r1 -> $r2 KiB"
else nok "vmem-shrink ($set0; size $(q qom-get '{"path":"vmem0","property":"size"}'); MemTotal $m2 (boot $m0); rss ${r2:-?}; $(guest_run 'dmesg | grep -i virtio_mem | tail -3' | tr '\n' ' '))"; fi
dm=$(guest_run "dmesg | grep -E 'virtio_mem.*([Ff]ail|[Ee]rror|[Ww]arn)|BUG:|Call Trace' | head -3")
if [ -z "$dm" ]; then ok "vmem-dmesg: no virtio_mem failure, BUG or call trace in the guest's dmesg"
else nok "vmem-dmesg: $dm"; fi
guest_kill
