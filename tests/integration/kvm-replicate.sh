#!/bin/bash
# Hot-spare replication on vessel kvm (docs/replication.md, "vessel kvm"):
# the default x86-64 Linux guest appends numbered, checksummed records to
# its disk (record i in sector i: "%08d md5", O_DIRECT, fsync'ed) and after
# each one sends "ack i md5" over one TCP connection, through a persistent
# tap, to a client beside the VMs (busybox nc). The primary replicates to a
# standby (`vessel kvm --standby`, its own disk file); the test SIGKILLs the
# primary at a random moment REPL_KILLS times (default 20) or until
# REPL_KILL_SECS (default $(slow 55) s after the start) has passed,
# whichever comes first (the nested tier's L1 runs under TCG: the number
# done is printed, and a SKIP line says how many did not fit). After each
# kill: the standby took over, every record the client had seen
# acknowledged is on its disk, the client's one connection goes on; a
# fresh standby with an empty disk then protects the new primary
# (vm-replicate: re-protection). At the end the client has every record
# once, in order, with right checksums, on a connection that never broke,
# and the last standby's disk has every one of them too (output commit).
# Every VM of the kills runs with VESSEL_TEST_REPL_VERIFY (kvm-repl-verify:
# the standby's RAM hashed against the primary's at every 20th epoch).
# Also: what cannot be replicated is refused with one line (vhost-net, CPU
# hotplug, --standby with --incoming); the bare ticker guest's console across
# a SIGKILL (kvm-repl-bare) and at the two moments of its output commit,
# forced with VESSEL_TEST_REPL_KILL (kvm-repl-window).
# Runs where /dev/kvm works and in the nested tier (kvm-nested-replicate.sh).
# Only bash, busybox, iproute2 and vessel: what L1 has (no python).
. "$SRC/tests/lib.sh"
. "$SRC/tests/guestlib.sh"
dev=${VESSEL_KVM_DEV:-/dev/kvm}
names="kvm-repl-refused kvm-repl-bare kvm-repl-window kvm-repl-boot kvm-repl-acks kvm-repl-event kvm-repl-kills kvm-repl-verify kvm-repl-end"
skip_all() { local n; for n in $names; do skip "$n" "$1"; done; exit 0; }
x86_linux_guest || skip_all "$X86_LINUX_MISSING"
{ [ -r "$dev" ] && [ -w "$dev" ]; } || skip_all "$dev missing or not accessible (the nested tier runs this test inside its L1)"
[ "$(id -u)" = 0 ] && [ -c /dev/net/tun ] || skip_all "needs root and /dev/net/tun (a persistent tap)"
{ ip tuntap help 2>&1 || true; } | grep tuntap >/dev/null || skip_all "iproute2's ip (with tuntap) missing"
have nc || have busybox || skip_all "nc missing (the client; busybox has it)"
KILLS=${REPL_KILLS:-20}
KILL_SECS=${REPL_KILL_SECS:-$(slow 55)}
# in the nested tier's L1 (VESSEL_NESTED_LIMIT: L1 is stopped that many
# seconds after it started, /proc/uptime): the kills end 240 s before, so
# that the last cycle and the end checks fit (a second L1 may have less)
if [ -n "${VESSEL_NESTED_LIMIT:-}" ]; then
    cap=$(( VESSEL_NESTED_LIMIT - $(cut -d. -f1 /proc/uptime) - 240 ))
    [ "$cap" -lt "$KILL_SECS" ] && KILL_SECS=$cap
fi
TMO=$(slow 5000)        # a starved host must not look like a dead primary (a killed one is seen at once)
d=$(mktemp -d "${TMPDIR:-/tmp}/vessel-kvmrepl.XXXXXX")
mkdir "$d/verify"
# no nc on the host: busybox's, on PATH for this script (and ip netns exec)
if ! have nc; then mkdir "$d/bin" && ln -s "$(command -v busybox)" "$d/bin/nc" && PATH=$d/bin:$PATH; fi
tap=vkrt$$ net=10.232.$(( $$ % 200 ))
ns=
pids=()
cleanup() {
    local p end=$(( $(date +%s) + 20 ))
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    # not a bare wait: a process the kernel cannot end (a vCPU stuck in
    # L1's KVM) would hold the script to the runner's limit, and with it
    # the nested tier's second L1
    for p in "${pids[@]}"; do
        while ! exited "$p" && [ "$(date +%s)" -lt "$end" ]; do sleep 0.1; done
        exited "$p" || echo "# cleanup: pid $p ($(tr '\0' ' ' </proc/$p/cmdline 2>/dev/null | head -c 80)) did not end: $(cat /proc/$p/wchan 2>/dev/null) $(head -n 3 /proc/$p/stack 2>/dev/null | tr '\n' ' ')"
    done
    kvm_trace off 2>/dev/null
    if [ -n "$ns" ]; then ip netns del "$ns" 2>/dev/null; else ip link del "$tap" 2>/dev/null; fi
    [ -n "${KEEP:-}" ] || rm -rf "$d"
}
trap cleanup EXIT
# a network namespace where the host has them (L1's initramfs may not:
# then the tap lives in L1's own namespace, which is the test's alone)
# (NS, not a function: a background function would be a subshell, and
# kill -9 of its pid would leave vessel running; ip netns exec execs)
NS=()
if ip netns add "vkrep$$" 2>/dev/null; then ns=vkrep$$ NS=(ip netns exec "$ns"); fi
inns() { "${NS[@]}" "$@"; }
inns ip tuntap add dev "$tap" mode tap vnet_hdr 2>/dev/null || inns ip tuntap add dev "$tap" mode tap ||
    skip_all "cannot create a persistent tap device"
inns ip addr add "$net.1/24" dev "$tap" && inns ip link set "$tap" up && inns ip link set lo up ||
    skip_all "cannot configure $tap"
# REPL_TRANSPORT=mmio: the virtio devices on virtio-mmio (IOAPIC lines) instead of PCI (MSI-X, irqfd)
opts=(--kernel "$KERNEL" --initrd "$INITRD" -m 128M --append "console=ttyS0 panic=-1 vessel.nonet"
      --transport "${REPL_TRANSPORT:-pci}")

waitfor() {     # waitfor SECS CMD...: poll CMD until it succeeds
    local end=$(( $(date +%s) + $1 )); shift
    while ! "$@"; do [ "$(date +%s)" -ge "$end" ] && return 1; sleep 0.05; done
}
exited() { ! kill -0 "$1" 2>/dev/null || [ "$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null)" = Z ]; }
qmp() { timeout -k 5 "$(slow 30)" "$VESSEL" qmp "$d/$1.qmp" "${@:2}" 2>/dev/null; }
field() { grep -o "\"$2\": *[^,}]*" <<<"$1" | head -1 | sed 's/^[^:]*: *//; s/"//g'; }
repl() { qmp "$1" query-replication; }
epoch_past() { local e; e=$(field "$(repl "$1")" last-ack); [ "${e:--1}" -ge "$2" ] 2>/dev/null; }

# ---- refusals: one line, non-zero exit, before any guest runs ----
truncate -s 4M "$d/r.img"
refused() {     # NAME PATTERN ARGS...: vessel kvm ARGS exits non-zero with one line matching PATTERN
    local name=$1 pat=$2 rc; shift 2
    timeout -k 5 "$(slow 6)" "$VESSEL" kvm "${opts[@]}" --disk "$d/r.img" --serial null "$@" </dev/null >"$d/ref.out" 2>&1
    rc=$?
    check "kvm-repl-refused: $name: exit $rc, $(grep -c . "$d/ref.out") line: $(head -1 "$d/ref.out" | head -c 200)" \
        eval '[ $rc -ne 0 ] && [ $rc -ne 124 ] && [ "$(grep -c . "$d/ref.out")" -eq 1 ] && grep -q "$pat" "$d/ref.out"'
}
refused "--standby with --incoming" "standby: --incoming cannot" --standby "unix:$d/x.sock" --incoming "unix:$d/y.sock"
refused "--replicate with -S" "replicate: -S cannot" --replicate "unix:$d/x.sock" -S
refused "--standby with CPU hotplug" "replication is blocked: CPU hotplug" --smp 1,maxcpus=2 --standby "unix:$d/x.sock"
if [ -c /dev/vhost-net ]; then
    refused "--standby with vhost-net" "replication is blocked: .*vhost" --net "tap,ifname=$tap,vhost=on" --standby "unix:$d/x.sock"
else
    skip "kvm-repl-refused: --standby with vhost-net" "no /dev/vhost-net"
fi

# ---- the bare guest (tests/guests/x86/ticker.asm): one failover, the console ----
# It prints "t N" (hex) forever from a counter in its RAM. The primary's
# console has only what acknowledged epochs printed, the standby goes on
# from the last one: the two consoles end to end are t 1, t 2, ... with
# none repeated, none missing, no line broken.
ticks() { tr -d '\r' <"$1" | grep -cE '^t [0-9a-f]{8}$'; }
ticks_past() { [ "$(ticks "$1")" -ge "$2" ]; }
bare() {
    local tb ta n bad m
    x86_guest ticker "$d/ticker.bz" || { skip "kvm-repl-bare" "the x86 test guests are not built ($(x86_guests_missing))"; return; }
    "$VESSEL" kvm --kernel "$d/ticker.bz" -m 32M --qmp "unix:$d/tb.qmp" --standby "unix:$d/tb.sock,timeout=$TMO" </dev/null >"$d/tb.out" 2>"$d/tb.err" &
    tb=$!; pids+=($tb)
    waitfor "$(slow 3)" test -S "$d/tb.sock" || { nok "kvm-repl-bare: the standby listens ($(cat "$d/tb.err"))"; return; }
    "$VESSEL" kvm --kernel "$d/ticker.bz" -m 32M --replicate "unix:$d/tb.sock" </dev/null >"$d/ta.out" 2>"$d/ta.err" &
    ta=$!; pids+=($ta)
    if ! waitfor "$(slow 6)" ticks_past "$d/ta.out" 5 || ! waitfor "$(slow 6)" epoch_past tb 3; then
        nok "kvm-repl-bare: the primary ticks while replicating ($(ticks "$d/ta.out") ticks; $(tail -2 "$d/ta.err" | tr '\n' ' '); standby: $(tail -3 "$d/tb.err" | tr '\n' ' ') $(repl tb))"; return
    fi
    q=$(repl tb)
    reap "$ta" 10 KILL
    n=$(ticks "$d/ta.out")
    if ! waitfor "$(slow 3)" grep -aq 'replication: failover' "$d/tb.err" || ! waitfor "$(slow 6)" ticks_past "$d/tb.out" 5; then
        nok "kvm-repl-bare: the standby takes over and ticks on ($(tail -2 "$d/tb.err" | tr '\n' ' '); $(ticks "$d/tb.out") ticks)"; return
    fi
    reap "$tb" 10 TERM        # (a last line cut by the kill has no newline: read skips it)
    bad=$(cat "$d/ta.out" "$d/tb.out" | tr -d '\r' | { m=0; while IFS= read -r l; do
        [[ $l =~ ^t\ ([0-9a-f]{8})$ ]] || { echo "line '$l' after t $m"; break; }
        [ $((16#${BASH_REMATCH[1]})) -eq $((m + 1)) ] || { echo "t $((16#${BASH_REMATCH[1]})) after t $m"; break; }
        m=$((m + 1)); done; })
    check "kvm-repl-bare: SIGKILL of the primary after $n ticks let out (the standby at epoch $(field "$q" last-ack), $(field "$q" epoch-bytes) bytes per epoch): it goes on, and the two consoles end to end count 1..$(( $(ticks "$d/ta.out") + $(ticks "$d/tb.out") )) once each (failover $(grep -ao '[0-9.]* ms after the stream stopped' "$d/tb.err"); $(grep -ao 'console: [0-9]* bytes of that epoch written here ([^)]*)' "$d/tb.err"))${bad:+: $bad}" \
        test -z "$bad"
}
bare

# ---- the console's output commit at its two moments, forced ----
# VESSEL_TEST_REPL_KILL=WHERE:8: the primary SIGKILLs itself after the
# standby acknowledged the first epoch >= 8 that has console bytes, before
# it wrote them (before-release: without the standby writing them they
# were lost: the consoles end to end skip them) or after it wrote them but
# before RELEASED (after-write: the window docs/replication.md states:
# the standby writes them again, exactly those bytes once more).
once() { tr -d '\r' | { local m=0 l; while IFS= read -r l; do
    [[ $l =~ ^t\ ([0-9a-f]{8})$ ]] || { echo "line '$l' after t $m"; break; }
    [ $((16#${BASH_REMATCH[1]})) -eq $((m + 1)) ] || { echo "t $((16#${BASH_REMATCH[1]})) after t $m"; break; }
    m=$((m + 1)); done; }; }
window() {
    local where=$1 s=$d/w-$1 tb ta rc n bad
    [ -f "$d/ticker.bz" ] || { skip "kvm-repl-window: $where" "the x86 test guests are not built"; return; }
    "$VESSEL" kvm --kernel "$d/ticker.bz" -m 32M --standby "unix:$s.sock,timeout=$TMO" </dev/null >"$s.b.out" 2>"$s.b.err" &
    tb=$!; pids+=($tb)
    waitfor "$(slow 3)" test -S "$s.sock" || { nok "kvm-repl-window: $where: the standby listens ($(cat "$s.b.err"))"; return; }
    VESSEL_TEST_REPL_KILL=$where:8 "$VESSEL" kvm --kernel "$d/ticker.bz" -m 32M --replicate "unix:$s.sock" </dev/null >"$s.a.out" 2>"$s.a.err" &
    ta=$!; pids+=($ta)
    if ! waitfor "$(slow 10)" grep -aq 'replication: failover' "$s.b.err" || ! waitfor "$(slow 6)" ticks_past "$s.b.out" 5; then
        nok "kvm-repl-window: $where: the primary kills itself and the standby takes over ($(tail -2 "$s.a.err" | tr '\n' ' '); $(tail -2 "$s.b.err" | tr '\n' ' '))"
        kill -9 "$ta" "$tb" 2>/dev/null; return
    fi
    reap "$ta" 10; rc=$?      # it killed itself (137)
    reap "$tb" 10 TERM
    n=$(grep -ao 'console: [0-9]* bytes' "$s.b.err" | grep -o '[0-9]*')
    bad=$(repl_window_bad "$where" "$s" "${n:-0}")
    check "kvm-repl-window: $where: $(grep -ao 'killed [a-z]* writing epoch [0-9]*.s [0-9]* console bytes' "$s.a.err") (exit $rc); the standby: $(grep -ao 'goes on from epoch [0-9]*' "$s.b.err"), console: $n bytes written there; the consoles end to end count 1..$(ticks "$s.all")$([ "$where" = after-write ] && echo " once each once the $n bytes written twice are taken out" || echo " once each")${bad:+: $bad}" \
        eval '[ "$rc" = 137 ] && [ "${n:-0}" -gt 0 ] && [ -z "$bad" ]'
}
window before-release
window after-write

# ---- the client: one connection; its stdin a fifo held open (no EOF) ----
mkfifo "$d/cin"
exec {cfd}<>"$d/cin"
"${NS[@]}" nc -l -p 7100 <"$d/cin" >"$d/client.log" 2>"$d/client.err" &
client=$!; pids+=($client)

# start_vm NAME ARGS...: vessel kvm, console and log on NAME.log, input from NAME.in
start_vm() {
    local n=$1 fd; shift
    mkfifo "$d/$n.in"
    VESSEL_TEST_REPL_VERIFY=$d/verify "${NS[@]}" "$VESSEL" kvm "${opts[@]}" --net "tap,ifname=$tap" --qmp "unix:$d/$n.qmp" "$@" <"$d/$n.in" >"$d/$n.log" 2>&1 &
    pids+=($!)
    eval "pid_$n=$!"
    exec {fd}>"$d/$n.in"
    eval "in_$n=$fd"
}
acked() { grep -aE '^ack [0-9]+ [0-9a-f]{8}$' "$d/client.log" | tail -1 | cut -d' ' -f2; }
acked_past() { local a; a=$(acked); [ "${a:-0}" -gt "$1" ]; }
# on_disk IMG N: sectors 1..N of IMG hold the records the client saw (1..N)
on_disk() {
    local want got
    want=$(grep -aE '^ack [0-9]+ [0-9a-f]{8}$' "$d/client.log" | awk -v n="$2" '$2 <= n { printf "%08d %s\n", $2, $3 }')
    got=$(dd if="$1" bs=512 skip=1 count="$2" 2>/dev/null | tr -s '\0' '\n' | grep -aE '^[0-9]{8} [0-9a-f]{8}$')
    [ "$(grep -c . <<<"$want")" -eq "$2" ] || { echo "the client has $(grep -c . <<<"$want") of records 1..$2"; return 1; }
    [ "$got" = "$want" ] && return 0
    echo "$want" >"$d/want"; echo "$got" >"$d/got"
    echo "disk differs: $(diff "$d/want" "$d/got" | head -3 | tr '\n' ' ')"; return 1
}

# why NAME: the lines of NAME's console and log that say the guest died
# or was reset (a panic's first lines and stack, vessel's own lines)
why() {
    grep -a -E 'vessel:|Kernel panic|BUG:|Oops|general protection|RIP:|Call Trace|^\[ *[0-9.]+\]  [a-z_]+\+0x|Linux version' "$d/$1.log" |
        tail -n 30 |
        tr -d '\r' | tr '\n' '|' | head -c 2500
}
# rebooted NAME: the guest booted on NAME, a standby that took over (it
# never boots one itself)
rebooted() { grep -aq 'Linux version' "$d/$1.log"; }
# reboot_why NAME: the first line of NAME's log that says why its guest
# reset or died (vessel's line for the reset, the panic), and how many
# times the guest booted on NAME besides p0's first boot
reboot_why() {
    local n; n=$(grep -ac 'Linux version' "$d/$1.log"); [ "$1" = p0 ] && n=$((n - 1))
    echo "on $1: $(grep -a -m1 -E 'vessel: ([a-z]+: )?guest: (reset|shutdown|system event)|Kernel panic|BUG:|Oops' "$d/$1.log" | tr -d '\r' | head -c 200) ($n boots)"
}
# last_exceptions: where the trace stopped (at the first shutdown exit):
# that vCPU thread's last 3 events (the shutdown's RIP, the pending
# exception in intr_info and its error code), else the last 3 exceptions
# L1's KVM injected
last_exceptions() {
    [ "${VESSEL_NESTED_L1:-}" = 1 ] && [ -r "$KVM_TRACE_DIR/trace" ] || { echo "no trace"; return; }
    local tid
    tid=$(kvm_trace_lines | awk '$3 == "kvm_exit:" && / reason shutdown / { t = $1 } END { print t }')
    if [ -n "$tid" ]; then
        kvm_trace_lines | awk -v t="$tid" '$1 == t' | tail -n 3 | sed 's/ info1 0x0*\([0-9a-f]\)/ info1 0x\1/' | tr -s ' ' | tr '\n' '|'
    else
        kvm_trace_lines | grep -a 'kvm_inj_exception' | tail -n 3 | sed 's/kvm_inj_exception: //' | tr -s ' ' | tr '\n' '|'
    fi
}
why=$(kvm_soft_why); [ -z "$why" ] || { skip_from kvm-repl-boot "$why" $names; exit 0; }
gen=0
truncate -s 4M "$d/disk0.img" "$d/disk1.img"
start_vm s1 --disk "$d/disk1.img" --serial stdio --standby "unix:$d/rep1.sock,timeout=$TMO"
waitfor "$(slow 3)" test -S "$d/rep1.sock" || { nok "kvm-repl-boot: the standby listens ($(tail -3 "$d/s1.log" | tr '\n' ' '))"; exit 0; }
st=$(qmp s1 query-status)
start_vm p0 --disk "$d/disk0.img" --replicate "unix:$d/rep1.sock"
# (a loaded host and the cuts slow the nested boot: 60 s of guest time to init at load 17)
if ! waitfor "$(slow 24)" grep -aq '^vessel-guest: ready' "$d/p0.log"; then
    nok "kvm-repl-boot: the primary boots while replicating ($(tail -c 600 "$d/p0.log" | tr -d '\r' | tr '\n' '|'); primary: $(repl p0 | head -c 400); standby: $(repl s1 | head -c 300); $(why p0))"; exit 0
fi
check "kvm-repl-boot: the default x86-64 guest boots while replicating (standby waited in $(field "$st" status); standby: $(repl s1 | head -c 300))" \
    eval 'grep -q prelaunch <<<"$st" && epoch_past s1 0'
cmd="ifconfig eth0 $net.2 netmask 255.255.255.0 up; i=0; while true; do i=\$((i+1)); s=\$(echo \"r=\$i\" | md5sum | cut -c1-8); printf \"%08d %s\\n\" \$i \$s | dd of=/dev/vda bs=512 seek=\$i conv=notrunc,fsync oflag=direct 2>/dev/null || break; echo \"ack \$i \$s\"; done | nc $net.1 7100 &"
printf '%s\n' "$cmd" >&"$in_p0"
if ! waitfor "$(slow 18)" acked_past 20; then
    nok "kvm-repl-acks: the client gets acknowledgements ($(acked); $(tail -c 300 "$d/p0.log" | tr -d '\r' | tr '\n' '|'); client: $(tail -c 200 "$d/client.err"); the primary's console and log: $(why p0))"; exit 0
fi
ok "kvm-repl-acks: the guest's records reach the client over the tap ($(acked) so far; primary: $(repl p0 | head -c 400))"

# the event watcher on the first standby (kill 1). A QMP socket serves one
# client at a time (as QEMU's): s1 is not asked anything more until it
# has taken over. The reply to query-status comes first: then it listens.
"$VESSEL" qmp --wait-event REPLICATION_FAILOVER "$d/s1.qmp" query-status >"$d/event.out" 2>&1 &
watcher=$!; pids+=($watcher)
waitfor "$(slow 3)" grep -q prelaunch "$d/event.out" || nok "kvm-repl-event: a QMP client waits on the standby ($(cat "$d/event.out"))"

# diag NAME: what a stuck VM shows (its console and log lines, run state, replication, the tap's counters)
diag() {
    echo "# $1: $(tail -c 1200 "$d/$1.log" | tr -d '\r' | tr '\n' '|')"
    echo "# $1 died? $(why "$1")"
    echo "# $1 after the takeover: $(sed -n '/replication: failover/,/Linux version/p' "$d/$1.log" | head -c 1500 | tr -d '\r' | tr '\n' '|')"
    echo "# $1: $(qmp "$1" query-status) $(repl "$1")"
    echo "# tap: $(inns ip -s link show "$tap" | tr -s ' \n' ' ')"
    # the guest's own view, through its console (the workload runs in the background)
    # (its TCP socket: send queue, timer and retransmissions; the local
    # timer's count two seconds apart: a guest whose timer died is idle)
    local fd; eval "fd=\$in_$1"
    printf '%s\n' 'echo @@d; grep -i -e virtio -e LOC /proc/interrupts; cat /proc/net/tcp; grep Tcp: /proc/net/snmp; ps -o pid,stat,wchan,args; cat /proc/loadavg /proc/uptime; sleep 2; grep LOC /proc/interrupts; echo @@e' >&"$fd"
    waitfor "$(slow 6)" grep -aq '^@@e' "$d/$1.log"
    echo "# $1 guest: $(sed -n '/^@@d/,/^@@e/p' "$d/$1.log" | tr -d '\r' | tr -s ' ' | tr '\n' '|' | tail -c 3000)"
}

# L1's KVM tracepoints (kvm_trace, tests/guestlib.sh) for the kills:
# now and then a guest triple-faults there (SVM resets the vCPU before
# vessel sees it: only the trace says where it was; the trace stops at
# the first shutdown exit)
kvm_trace on
primary=p0 standby=s1
fails=0 done=0 fo=()
for ((k = 1; k <= KILLS; k++)); do
    if [ "$SECONDS" -ge "$KILL_SECS" ]; then echo "# time budget: ${SECONDS}s of $KILL_SECS: no more kills"; break; fi
    sleep "0.$(( RANDOM % 750 + 50 ))"      # a random moment: in an epoch's cut, its sending or between
    a=$(acked); a=${a:-0}
    t0=$(date +%s.%N)
    eval "kill -9 \$pid_$primary; wait \$pid_$primary" 2>/dev/null
    if ! waitfor "$(slow 3)" grep -aq 'replication: failover' "$d/$standby.log"; then
        nok "kvm-repl-kills: kill $k: the standby takes over ($(tail -3 "$d/$standby.log" | tr '\n' '|'))"; diag "$standby"; fails=$((fails + 1)); break
    fi
    if [ "$k" = 1 ]; then
        waitfor "$(slow 3)" exited "$watcher"
        check "kvm-repl-event: kill 1: the standby emits REPLICATION_FAILOVER with the epoch it goes on from ($(tail -1 "$d/event.out"))" \
            grep -qE '"event":"REPLICATION_FAILOVER".*"epoch":[0-9]+' "$d/event.out"
        q=$(repl "$standby")
        check "kvm-repl-event: query-replication on the new primary: role primary, status failed-over ($q)" \
            eval 'grep -q "\"role\":\"primary\"" <<<"$q" && grep -q "\"status\":\"failed-over\"" <<<"$q"'
    fi
    ms=$(grep -aoE '[0-9.]+ ms after the stream stopped' "$d/$standby.log" | tail -1 | cut -d' ' -f1)
    fo+=("$ms")
    if ! why=$(on_disk "$d/disk$((gen + 1)).img" "$a"); then
        nok "kvm-repl-kills: kill $k: records 1..$a acknowledged before the kill are on the new primary's disk ($why)"; fails=$((fails + 1))
    fi
    gen=$((gen + 1)); nxt=s$((gen + 1))
    truncate -s 4M "$d/disk$((gen + 1)).img"
    start_vm "$nxt" --disk "$d/disk$((gen + 1)).img" --serial stdio --standby "unix:$d/rep$((gen + 1)).sock,timeout=$TMO"
    waitfor "$(slow 3)" test -S "$d/rep$((gen + 1)).sock" || { nok "kvm-repl-kills: kill $k: a new standby listens"; fails=$((fails + 1)); break; }
    out=$(qmp "$standby" vm-replicate "{\"uri\": \"unix:$d/rep$((gen + 1)).sock\"}")
    if ! waitfor "$(slow 6)" acked_past $((a + 1)); then
        nok "kvm-repl-kills: kill $k: the client's connection goes on after the failover (stuck at $(acked); client $(exited $client && echo exited || echo alive)$(rebooted "$standby" && echo "; the guest booted again: $(reboot_why "$standby"); killed $(reboot_why "$primary"); L1's KVM trace: $(last_exceptions)"))"
        diag "$standby"; echo "# $primary (killed): $(why "$primary")"
        rebooted "$standby" && echo "# L1's KVM trace, to the first shutdown exit: $(kvm_trace dump all 0 | tail -c 3000)"
        fails=$((fails + 1)); break
    fi
    t1=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    if ! waitfor "$(slow 6)" epoch_past "$nxt" 2; then
        nok "kvm-repl-kills: kill $k: the new primary replicates to a new standby ($out; $(repl "$standby"))"; fails=$((fails + 1)); break
    fi
    t2=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    done=$k
    echo "# kill $k: $a acknowledged at the kill, failover ${ms} ms after the stream stopped ($(grep -ao 'goes on from epoch [0-9]*' "$d/$standby.log" | tail -n 1)), now $(acked); acks again at +$t1 s, new standby protecting at +$t2 s"
    primary=$standby standby=$nxt
done
check "kvm-repl-kills: $done SIGKILLs of the primary (of $KILLS asked): each time the standby took over with every acknowledged record on its disk, the client's connection went on, and a new standby protected it" \
    test "$fails" -eq 0 -a "$done" -ge 1
if [ "$fails" -eq 0 ] && [ "$done" -lt "$KILLS" ]; then
    skip "kvm-repl-kills: $((KILLS - done)) more kills" "the time budget (REPL_KILL_SECS=$KILL_SECS s from the start) was used up after $done"
fi
sorted=$(printf '%s\n' "${fo[@]}" | grep . | sort -n)
[ -n "$sorted" ] && echo "# failover, vessel's own (stream stopped to vCPUs running), ms: min $(head -1 <<<"$sorted"), median $(sed -n "$(( ($(grep -c . <<<"$sorted") + 1) / 2 ))p" <<<"$sorted"), max $(tail -1 <<<"$sorted") over ${#fo[@]}; primary now: $(repl "$primary" | head -c 400)"

# the RAM check (VESSEL_TEST_REPL_VERIFY, machine/replverify.h): at every
# 20th epoch's cut the primary hashed each page, the standby compared
# once it had applied that epoch. A guest lost after a takeover with
# every check equal was not lost to a page the replication missed.
vr=$(repl_verify_result "$d/verify"); vok=$?
check "kvm-repl-verify: the standby's RAM was the primary's at every checked cut, over every primary and standby ($vr)" test "$vok" -eq 0
# ---- the end: the client's stream, the primary's and the standby's disks ----
# the client's log goes on growing (the workload still runs): every check
# below reads one copy of it, cut to its last whole line
cp "$d/client.log" "$d/client.end"
[ -z "$(tail -c 1 "$d/client.end")" ] || sed -i '$d' "$d/client.end"
calive=$(exited "$client" && echo no || echo yes)
last=$(grep -aE '^ack [0-9]+ [0-9a-f]{8}$' "$d/client.end" | tail -1 | cut -d' ' -f2); last=${last:-0}
bad=$(grep -aE '^ack ' "$d/client.end" | awk '$2 != p + 1 { print "after " p " came " $2; exit } { p = $2 }')
check "kvm-repl-end: the client saw records 1..$last once each, in order ($bad)" test -z "$bad" -a "$last" -gt 20
# the checksums: every record up to 3000, else every k-th so that 3000 are checked (L1: a fork each)
step=$(( last > 3000 ? (last + 2999) / 3000 : 1 ))
badsum=$(grep -aE '^ack ' "$d/client.end" | while read -r _ i s; do
    [ $((i % step)) -eq 0 ] || [ "$i" -eq "$last" ] || continue
    [ "$(echo "r=$i" | md5sum | cut -c1-8)" = "$s" ] || { echo "$i"; break; }; done)
check "kvm-repl-end: the records' checksums are right (every ${step}th of $last checked) $badsum" test -z "$badsum"
# what broke, when it did: the client gone (and its stderr), or lines that are not acks
notack=$(grep -anv '^ack ' "$d/client.end" | head -3 | tr -d '\r' | tr '\n' '|')
cwhy=$([ "$calive" = yes ] || echo "the client exited: $(tail -c 200 "$d/client.err" | tr '\n' ' ')"; echo "$notack")
check "kvm-repl-end: on one TCP connection that never broke (the client, one nc -l, still runs) $cwhy" \
    test "$calive" = yes -a -z "$notack"
why=$(on_disk "$d/disk$gen.img" "$last")
check "kvm-repl-end: the primary's disk has every record the client saw (1..$last) $why" test -z "$why"
# output commit: an ack left the primary only once the standby had the epoch
# that wrote its record, so the standby's disk has every one too
last2=$(acked)
why=$(on_disk "$d/disk$((gen + 1)).img" "${last2:-0}")
check "kvm-repl-end: the standby's disk has every record the client saw (1..$last2) $why" test -z "$why"
