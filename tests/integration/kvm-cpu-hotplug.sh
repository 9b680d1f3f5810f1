#!/bin/bash
# ACPI CPU hotplug on vessel kvm (--smp 1,maxcpus=2) with Debian's cloud
# kernel: QMP device_add of a host-x86_64-cpu, the guest sees the CPU
# appear (Notify through the GED, the processor container's _STA/_MAT),
# brings it online (/sys/devices/system/cpu/cpu1/online, /proc/cpuinfo);
# query-cpus-fast lists its thread; device_del asks for it back, Linux
# offlines and ejects it (_EJ0), DEVICE_DELETED follows, the vCPU thread
# leaves; stop/cont do not wait for it; the same core plugged again comes
# back (the parked KVM vCPU) and goes again; no ACPI error or warning in
# dmesg. First,
# with -S: QMP argument errors, and a vCPU plugged before the start that
# gets its thread at cont. Needs /dev/kvm: the nested tier runs
# it inside its L1 (kvm-nested-hotplug.sh).
. "$SRC/tests/lib.sh"
dev=${VESSEL_KVM_DEV:-/dev/kvm}
names="cpu-hotplug-errors cpu-hotplug-prelaunch cpu-hotplug-boot cpu-hotplug-query cpu-hotplug-add cpu-hotplug-online cpu-hotplug-del cpu-hotplug-pause cpu-hotplug-replug cpu-hotplug-del-again cpu-hotplug-acpi"
skip_all() { local n; for n in $names; do skip "$n" "$1"; done; exit 0; }
kver=
for k in /boot/vmlinuz-*; do
    v=${k#/boot/vmlinuz-}
    [ -r "$k" ] && [ -d "/lib/modules/$v" ] && kver=$v
done
[ -n "$kver" ] || skip_all "no readable /boot/vmlinuz-V (package linux-image-cloud-amd64)"
bb=$(command -v busybox || true)
[ -n "$bb" ] || skip_all "busybox missing (package busybox-static)"
{ [ -r "$dev" ] && [ -w "$dev" ]; } || skip_all "$dev missing or not accessible (the nested tier runs this test inside its L1)"

out=$(mktemp -d); pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$out"' EXIT
st=$out/stage
mkdir -p "$st"/{bin,proc,sys,dev}
cp "$bb" "$st/bin/busybox"
for a in sh mount cat grep sed dmesg sleep poweroff ls echo tr head wc; do ln -s busybox "$st/bin/$a"; done
# The guest's side: it only reacts to what the host plugs and unplugs,
# each wait bounded (nested TCG is slow: 0.2 s steps, up to 10 minutes).
cat >"$st/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
exec </dev/console >/dev/console 2>&1
c=/sys/devices/system/cpu
ncpu() { grep -c ^processor /proc/cpuinfo; }
until_() { i=0; while [ $i -lt 3000 ]; do eval "$1" && return 0; sleep 0.2; i=$((i + 1)); done; return 1; }
echo "L2 ready cpuinfo=$(ncpu) possible=$(cat $c/possible) present=$(cat $c/present) online=$(cat $c/online)"
for round in 1 2; do
    if until_ '[ -e $c/cpu1/online ]'; then
        echo "L2 round $round: cpu1 present=$(cat $c/present)"
        if echo 1 >$c/cpu1/online && until_ '[ "$(ncpu)" = 2 ]'; then
            echo "L2 round $round: cpu1 online=$(cat $c/cpu1/online) cpuinfo=$(ncpu) online=$(cat $c/online)"
        else echo "L2 round $round: cpu1 online failed: $(dmesg | tail -n 2 | tr '\n' ' ')"; fi
    else echo "L2 round $round: cpu1 never appeared"; fi
    if until_ '[ ! -e $c/cpu1 ]'; then echo "L2 round $round: cpu1 gone cpuinfo=$(ncpu) present=$(cat $c/present)"
    else echo "L2 round $round: cpu1 still there: online=$(cat $c/cpu1/online)"; fi
done
dmesg | grep -iE 'ACPI (BIOS )?(Error|Warning)|ACPI: .*(fail|error)|processor.*(fail|error)' | sed 's/^/L2 acpi-problem: /'
dmesg | grep -iE 'smpboot|CPU1|ACPI: .*processor' | tail -n 8 | sed 's/^/L2 dmesg: /'
echo "L2 powering off"
poweroff -f
INIT
chmod 755 "$st/init"
(cd "$st" && find . | cpio -o -H newc 2>/dev/null) >"$out/initrd.cpio"
[ -s "$out/initrd.cpio" ] || { nok "cpu-hotplug: build the initramfs"; exit 0; }

sock=$out/qmp.sock
q() { timeout -k 5 "$(slow 30)" "$VESSEL" qmp "$sock" "$@" 2>&1; }
# wait_for COND...: poll until it holds, bounded by slow 60 seconds of wall time (a count of
# polls is no bound in L1, where each poll takes many times its 0.05 s)
wait_for() { local end=$((SECONDS + $(slow 60))); while [ $SECONDS -lt $end ]; do "$@" && return 0; kill -0 $pid 2>/dev/null || return 1; sleep 0.05; done; return 1; }
seen() { grep -aq "$1" "$out/vm.out"; }
why() { echo "$(grep -a '^L2' "$out/vm.out" | tr '\n' ' ' | head -c 600) | vessel: $(tail -c 400 "$out/vm.err" | tr '\n' ' ') | console tail: $(tail -c 1500 "$out/vm.out" | tr -d '\r' | tr '\n' ' ')"; }
# wait_guest PATTERN: a step the guest takes after the host's command (bounded by slow 20)
wait_guest() { local end=$((SECONDS + $(slow 20))); while [ $SECONDS -lt $end ]; do seen "$1" && return 0; kill -0 $pid 2>/dev/null || return 1; sleep 0.05; done; return 1; }
ncpus_qmp() { q query-cpus-fast | grep -o '"cpu-index"' | wc -l; }

esock=$out/qmp-e.sock
qe() { timeout -k 5 "$(slow 30)" "$VESSEL" qmp "$esock" "$@" 2>&1; }
# QMP argument errors: one line naming the value, nothing plugged
"$VESSEL" kvm --kernel "/boot/vmlinuz-$kver" --initrd "$out/initrd.cpio" -m 256M -S \
    --smp 1,maxcpus=2 --qmp "unix:$esock" --append "console=ttyS0" >"$out/s.out" 2>"$out/s.err" </dev/null &
pid=$!
wait_for test -S "$esock"
e1=$(qe device_add '{"driver":"host-x86_64-cpu","id":"c9","core-id":9}')
e2=$(qe device_add '{"driver":"host-x86_64-cpu","id":"c0","core-id":0}')
e3=$(qe device_add '{"driver":"host-x86_64-cpu","core-id":1}')
e4=$(qe device_del '{"id":"nosuch"}')
# plugged before the vCPUs start (-S): its thread starts with the others'
e5=$(qe device_add '{"driver":"host-x86_64-cpu","id":"early","core-id":1}')
qe cont >/dev/null
threads() { [ "$(qe query-cpus-fast | grep -o '"thread-id":[1-9][0-9]*,"props"' | wc -l)" = 2 ]; }
wait_for threads; t5=$(qe query-cpus-fast | grep -o '"thread-id":[0-9]*,"props"' | tr '\n' ' ')
st5=$(qe stop; qe query-status; qe cont)
qe quit >/dev/null; wait $pid; pid=
if [[ $e1 == *"core-id 9: this machine has cores 0-1"* ]] && [[ $e2 == *"core-id 0 is already present"* ]] &&
   [[ $e3 == *"Parameter 'id' is missing"* ]] && [[ $e4 == *"DeviceNotFound"*"'nosuch'"* ]]; then
    ok "cpu-hotplug-errors: a core past maxcpus, a present core, no id, an unknown id: one line each"
else nok "cpu-hotplug-errors ($e1 | $e2 | $e3 | $e4 | $(tail -c 300 "$out/s.err" | tr '\n' ' '))"; fi
if [ "$e5" = '{}' ] && [[ $t5 == *'"thread-id":'[1-9]*' '*'"thread-id":'[1-9]* ]] && [[ $st5 == '{}'*'"status":"paused"'*'{}' ]]; then
    ok "cpu-hotplug-prelaunch: a vCPU plugged while -S holds the machine gets its thread at cont; stop parks both"
else nok "cpu-hotplug-prelaunch ($e5 | $t5 | $st5 | $(tail -c 300 "$out/s.err" | tr '\n' ' '))"; fi

why=$(kvm_soft_why); [ -z "$why" ] || { skip_from cpu-hotplug-boot "$why" $names; exit 0; }
timeout -k 10 "$(slow 50)" "$VESSEL" kvm --kernel "/boot/vmlinuz-$kver" --initrd "$out/initrd.cpio" -m 256M \
    --smp 1,maxcpus=2 --qmp "unix:$sock" --append "console=ttyS0 panic=-1" >"$out/vm.out" 2>"$out/vm.err" </dev/null &
pid=$!
if wait_for seen '^L2 ready'; then ok "cpu-hotplug-boot: --smp 1,maxcpus=2 boots ($(grep -a '^L2 ready' "$out/vm.out" | tr -d '\r' | cut -c4-))"
else nok "cpu-hotplug-boot ($(why))"; exit 0; fi
hp=$(q query-hotpluggable-cpus)
if [[ $hp == *'"core-id":0'*'"qom-path":"/machine/cpu[0]"'* ]] && [[ $hp == *'"core-id":1,"thread-id":0}}'* ]] &&
   [ "$(ncpus_qmp)" = 1 ] && grep -aq 'possible=0-1 present=0 ' "$out/vm.out"; then
    ok "cpu-hotplug-query: the guest sees 2 possible CPUs, 1 present; query-hotpluggable-cpus lists core 1 free, query-cpus-fast one vCPU"
else nok "cpu-hotplug-query ($hp; $(q query-cpus-fast); $(why))"; fi

add=$(q device_add '{"driver":"host-x86_64-cpu","id":"cpu1","core-id":1}')
echo "# device_add: $add; $(q query-cpus-fast)"
if [ "$add" = '{}' ] && wait_guest '^L2 round 1: cpu1 present=0-1'; then
    ok "cpu-hotplug-add: device_add {} and the guest's ACPI brought cpu1 in (present=0-1)"
else nok "cpu-hotplug-add ($add; $(why))"; fi
if wait_guest '^L2 round 1: cpu1 online' && seen '^L2 round 1: cpu1 online=1 cpuinfo=2'; then
    cf=$(q query-cpus-fast)
    tid=$(echo "$cf" | grep -o '"cpu-index":1,"qom-path":"/machine/peripheral/cpu1","thread-id":[0-9]*' | grep -o '[0-9]*$')
    if [ -n "$tid" ] && [ -d "/proc/$pid/task/$tid" ] && [[ $cf == *'"x-state":"present"'* ]]; then
        ok "cpu-hotplug-online: the guest onlined cpu1 (/proc/cpuinfo: 2); query-cpus-fast: cpu1 is thread $tid of vessel"
    else nok "cpu-hotplug-online: query-cpus-fast ($cf)"; fi
else nok "cpu-hotplug-online ($(why))"; fi

del=$(q device_del '{"id":"cpu1"}')
gone() { [ "$(ncpus_qmp)" = 1 ] && [ ! -d "/proc/$pid/task/$tid" ]; }
if [ "$del" = '{}' ] && wait_guest '^L2 round 1: cpu1 gone cpuinfo=1' && wait_for gone &&
   [[ $(q query-hotpluggable-cpus) != *'"core-id":1,"thread-id":0},"qom-path"'* ]]; then
    ok "cpu-hotplug-del: device_del {}: the guest offlined and ejected cpu1, its vCPU thread left, QMP lists one vCPU"
else nok "cpu-hotplug-del ($del; $(q query-cpus-fast); $(why))"; fi
# pause with a vCPU absent: the machine does not wait for a thread that is not there
sc=$(q stop; q query-status; q cont; q query-status)
if [[ $sc == '{}'*'"status":"paused"'*'{}'*'"status":"running"'* ]]; then
    ok "cpu-hotplug-pause: stop and cont with the unplugged vCPU absent"
else nok "cpu-hotplug-pause ($sc)"; fi

add2=$(q device_add '{"driver":"x86_64-cpu","id":"cpu1b","core-id":1}')
if [ "$add2" = '{}' ] && wait_guest '^L2 round 2: cpu1 online' && seen '^L2 round 2: cpu1 online=1 cpuinfo=2' &&
   [ "$(ncpus_qmp)" = 2 ]; then
    ok "cpu-hotplug-replug: the same core plugged again (its parked KVM vCPU) comes online in the guest"
else nok "cpu-hotplug-replug ($add2; $(why))"; fi
# and given back again: then the guest powers off
del2=$(q device_del '{"id":"cpu1b"}')
if [ "$del2" = '{}' ] && wait_guest '^L2 round 2: cpu1 gone cpuinfo=1'; then
    ok "cpu-hotplug-del-again: device_del of the re-plugged vCPU: the guest ejects it again"
else nok "cpu-hotplug-del-again ($del2; $(why))"; fi

wait $pid; rc=$?; pid=
if [ $rc -eq 0 ] && seen '^L2 powering off' && ! seen '^L2 acpi-problem'; then
    ok "cpu-hotplug-acpi: no ACPI error or warning in the guest's dmesg; powered off, exit 0"
else nok "cpu-hotplug-acpi (rc $rc; $(grep -a 'L2 acpi-problem' "$out/vm.out" | head -5 | tr '\n' ' ') $(why))"; fi
# a sanitizer build (the nested tier with an ASan vessel) reports here
if grep -aqE 'Sanitizer|runtime error:' "$out/vm.err" "$out/s.err"; then
    nok "cpu-hotplug-sanitizer: $(grep -ahE -m3 'Sanitizer|runtime error:' "$out/vm.err" "$out/s.err" | tr '\n' ' ')"
fi
