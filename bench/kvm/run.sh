#!/bin/bash
# bench/kvm: vessel kvm beside qemu-system-x86_64 in the same run.
#
#   bash bench/kvm/run.sh [--short|--full]      (make bench: --short)
#
# 1. Where /dev/kvm works on this host: process start -> first serial byte
#    of the `hello` test guest, and VMM memory outside guest RAM, vessel kvm
#    against -M microvm (tests/guests/x86/hello.asm).
# 2. Linux (bench/kvm/linux.sh, each boot timed by bench/kvm/vmbench.c):
#    vessel's default x86-64 guest (one bzImage and initramfs for all, -m
#    256M, one vCPU) under vessel kvm, qemu -M microvm and qemu -M q35:
#    boot to init's ready line, VMM memory outside guest RAM (VmRSS minus
#    the guest RAM mapping's resident size; the same with Pss), power-off
#    (the guest's last console byte to the VMM process's exit), BOOTS boots
#    each, interleaved; then virtio-blk (1 MiB O_DIRECT sequential read and
#    write) and virtio-net (an HTTP fetch from the host through slirp) per
#    transport: vessel mmio and pci (ioeventfd + irqfd), QEMU microvm
#    (mmio) and q35 (pci without and with ioeventfd). Where this host has no
#    usable /dev/kvm, part 2 runs inside the nested tier (an L1 Linux under
#    QEMU TCG with emulated SVM, bench/lib/nested.sh): those figures are
#    two levels of virtualization on an emulated CPU, NOT hardware figures;
#    compare the ratios, which are still noisy.
# --short: 3 boots each, 1 run of each transfer, 16 MiB disk, 8 MiB fetch;
# --full: 7 boots, 3 runs, 64 MiB, 32 MiB. Environment: KVMBENCH_BOOTS,
# KVMBENCH_REPS, KVMBENCH_BLK_MIB, KVMBENCH_NET_MIB override them;
# KVMBENCH_WHAT ("boot io tap" by default) picks the parts of 2 (none:
# part 1 only); a /dev/kvm that is software (kvm_pvm, tests/kvmkind.sh:
# an unmodified guest kernel's code emulated) runs part 1 but sends part 2
# to the nested tier, as no /dev/kvm would; the figures name the backend;
# KVMBENCH_NESTED_TIMEOUT (s, default 2400) bounds the L1 run;
# KVMBENCH_OUT keeps the raw results there; KVMB_PEERS and
# KVMB_SHOW_STDERR go to bench/kvm/linux.sh. VESSEL, SRC, VESSEL_CACHE as
# for every bench.
set -u
src=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
export SRC=$src
VESSEL=${VESSEL:-$src/build/vessel}
export VESSEL_CACHE=${VESSEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vessel}
mode=short
case ${1:-} in --short) ;; --full) mode=full ;; "") ;;
*) echo "usage: bench/kvm/run.sh [--short|--full]" >&2; exit 2 ;; esac
if [ $mode = short ]; then boots=3 reps=1 blk=16 net=8; else boots=7 reps=3 blk=64 net=32; fi
boots=${KVMBENCH_BOOTS:-$boots} reps=${KVMBENCH_REPS:-$reps} blk=${KVMBENCH_BLK_MIB:-$blk} net=${KVMBENCH_NET_MIB:-$net}
for v in boots reps blk net; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "bench/kvm: '${!v}' ($v) is not a positive integer" >&2; exit 2; }
done
what=${KVMBENCH_WHAT:-boot io tap}
dev=${VESSEL_KVM_DEV:-/dev/kvm}
tmp=$(mktemp -d); nested_pid=
trap '[ -n "$nested_pid" ] && kill "$nested_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
progress() { echo "bench/kvm: $*" >&2; }
direct=0
[ -r "$dev" ] && [ -w "$dev" ] && direct=1
. "$src/tests/kvmkind.sh"
kind=$(kvm_kind) soft=$(kvm_soft_why)

# ---- 1. the freestanding guest, directly on /dev/kvm ----
freestanding() {
command -v nasm >/dev/null || { echo "freestanding: skip: nasm missing"; return 0; }
(cd "$src/tests/guests/x86" && nasm -f bin -o "$tmp/hello.bz" hello.asm &&
    nasm -f bin -DIDLE -o "$tmp/idle.bz" hello.asm) || return 1
qemu=$(command -v qemu-system-x86_64 || true)
python3 - "$VESSEL" "$tmp" "${qemu:-}" "${BENCH_RUNS:-15}" <<'PY'
import os, statistics, subprocess, sys, time
vessel, tmp, qemu, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
MEM = "16M"
def cmd(who, img):
    if who == "vessel":
        return [vessel, "kvm", "--kernel", img, "-m", MEM]
    return [qemu, "-enable-kvm", "-M", "microvm", "-cpu", "host,-arch-capabilities",
            "-m", MEM, "-kernel", img, "-nographic", "-nodefaults", "-serial", "stdio",
            "-device", "isa-debug-exit,iobase=0x501,iosize=1"]
def first_byte(c):
    t0 = time.monotonic()
    p = subprocess.Popen(c, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    b = p.stdout.read(1)
    t1 = time.monotonic()
    p.stdout.read(); p.wait()
    if b != b"H":
        raise SystemExit(f"{c[0]}: expected 'H', got {b!r}")
    return (t1 - t0) * 1000
def rss(c):
    p = subprocess.Popen(c, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    if p.stdout.read(1) != b"H":
        raise SystemExit(f"{c[0]}: idle guest did not print")
    time.sleep(0.3)
    vm = guest = 0
    with open(f"/proc/{p.pid}/status") as f:
        for l in f:
            if l.startswith("VmRSS:"): vm = int(l.split()[1])
    # guest RAM: the anonymous mapping(s) of exactly -m bytes
    size = int(MEM[:-1]) * 1024
    cur = None
    with open(f"/proc/{p.pid}/smaps") as f:
        for l in f:
            parts = l.split()
            if parts and parts[0].startswith("Size:"): cur = int(parts[1])
            if parts and parts[0] == "Rss:" and cur == size: guest += int(parts[1])
    p.kill(); p.wait()
    return vm, guest
peers = ["vessel"] + (["qemu"] if qemu else [])
res = {}
for who in peers:
    t = [first_byte(cmd(who, f"{tmp}/hello.bz")) for _ in range(runs)]
    vm, guest = rss(cmd(who, f"{tmp}/idle.bz"))
    res[who] = (statistics.median(t), min(t), vm, guest)
    print(f"{who:7s} start->first serial byte: median {res[who][0]:.1f} ms (min {res[who][1]:.1f}, {runs} runs); "
          f"VmRSS {vm/1024:.1f} MiB, guest RAM resident {guest/1024:.2f} MiB, VMM overhead {(vm-guest)/1024:.2f} MiB")
if "qemu" in res:
    v, q = res["vessel"], res["qemu"]
    print(f"ratio vessel/qemu: start-up {v[0]/q[0]:.2f}x, VMM overhead {(v[2]-v[3])/max(1,q[2]-q[3]):.2f}x")
    print(f"bars: start-up <= qemu: {'met' if v[0] <= q[0] else 'NOT met'}; "
          f"overhead <= 8 MiB: {'met' if (v[2]-v[3]) <= 8192 else 'NOT met'}")
else:
    print("qemu-system-x86_64 not installed: no peer figure")
PY
}

# ---- 2. Linux, directly or in the nested tier ----
# vmbench: static (it runs in L1, which has no C library of its own),
# built once per source hash
vmbench_build() {
    local d=$VESSEL_CACHE/bench-kvm/$(sha256sum "$src/bench/kvm/vmbench.c" | cut -c1-16)
    mkdir -p "$d"
    if [ ! -x "$d/vmbench" ]; then
        gcc -static -O2 -Wall -Wextra -Werror -o "$d/vmbench.tmp" "$src/bench/kvm/vmbench.c" >&2 &&
            mv "$d/vmbench.tmp" "$d/vmbench" || return 1
    fi
    echo "$d/vmbench"
}

linux_direct() {
    local line KERNEL= INITRD=
    line=$(bash "$src/guest/build.sh" --print x86_64 2>/dev/null) || { why="the default x86-64 guest is not built (make guest)"; return 1; }
    eval "$line"
    VMBENCH=$vmb KERNEL=$KERNEL INITRD=$INITRD BOOTS=$boots REPS=$reps BLK_MIB=$blk NET_MIB=$net KVMB_WHAT=$what \
        KVMB_PEERS="${KVMB_PEERS:-}" VESSEL=$VESSEL bash "$src/bench/kvm/linux.sh" >"$tmp/results" ||
        { why="bench/kvm/linux.sh failed"; return 1; }
}

linux_nested() {
    . "$src/bench/lib/nested.sh"
    local r base d=$tmp/overlay
    r=$(nested_check) || { why=$r; return 1; }
    progress "nested: building the L1 initramfs (tests/nested/build-l1.sh)"
    base=$(bash "$src/tests/nested/build-l1.sh" "$(dirname "$VESSEL")" "$(nested_kver)" kvm-guests 2>"$tmp/l1.err") ||
        { why="tests/nested/build-l1.sh failed: $(tail -n 1 "$tmp/l1.err")"; return 1; }
    mkdir -p "$d/nested/kvmbench" "$d/nested/src/tests/integration"
    echo kvm-bench >"$d/nested/tests"
    cp "$vmb" "$src/bench/kvm/linux.sh" "$d/nested/kvmbench/"
    # the one inner "test": l1-init runs it with bash and frames its lines
    cat >"$d/nested/src/tests/integration/kvm-bench.sh" <<EOF
#!/bin/bash
[ -c /dev/kvm ] || { printf 'kvmb\tall\tboot\tNA\tL1 has no /dev/kvm (kvm-amd did not load)\n'; exit 0; }
export VMBENCH=/nested/kvmbench/vmbench KERNEL=\$SRC/guest-images/x86_64/bzImage \\
    INITRD=\$SRC/guest-images/x86_64/initramfs.cpio.gz BOOTS=$boots REPS=$reps BLK_MIB=$blk NET_MIB=$net \\
    KVMB_WHAT="$what" KVMB_PEERS="${KVMB_PEERS:-}" KVMB_SHOW_STDERR="${KVMB_SHOW_STDERR:-}"
exec bash /nested/kvmbench/linux.sh
EOF
    r=$(nested_add_qemu "$d") || { why=$r; return 1; }
    nested_run_l1 "$tmp" "$base" "$d" "${KVMBENCH_NESTED_TIMEOUT:-2400}" 1280 \
        's/^@@nested kvm-bench: kvmbench: /nested L1: /p'
    local rc=$?
    [ -n "${BUILD:-}" ] && mkdir -p "$BUILD/test-logs" && cp "$tmp/l1.txt" "$BUILD/test-logs/bench-kvm-nested-l1.log"
    [ $rc = 0 ] || { why=$nested_why; return 1; }
    sed -n 's/^@@nested kvm-bench: \(kvmb\t\)/\1/p' "$tmp/l1.txt" >"$tmp/results"
    grep -q "^@@nested end kvm-bench " "$tmp/l1.txt" ||
        echo "L1 ended (qemu status $nested_qrc after $nested_secs s) before the bench finished" >"$tmp/incomplete"
    return 0
}

load0=$(cut -d' ' -f1-3 /proc/loadavg)
rc=0
if [ $direct = 1 ]; then
    echo "--- freestanding test guest, directly on $dev: $kind"
    freestanding || rc=1
else
    echo "--- freestanding test guest: skip: $dev not usable here"
fi
[ -x "$VESSEL" ] || { echo "bench/kvm: no vessel binary at $VESSEL" >&2; exit 1; }
if ! vmb=$(vmbench_build); then
    echo "bench/kvm: Linux part: skip: gcc -static could not build bench/kvm/vmbench.c"; exit $rc
fi
[ "$what" = none ] && { echo "bench/kvm: Linux part: skip: KVMBENCH_WHAT=none"; exit $rc; }
t0=$SECONDS
why=
[ $direct = 1 ] && [ -n "$soft" ] && { echo "bench/kvm: Linux part: not direct: $soft"; direct=0; }
if [ $direct = 1 ]; then where="direct on $kind"; linux_direct || { echo "bench/kvm: Linux part: skip: $why"; exit $rc; }
else where=nested; linux_nested || { echo "bench/kvm: Linux part: skip: $why"; exit $rc; }; fi
load1=$(cut -d' ' -f1-3 /proc/loadavg)
[ -n "${KVMBENCH_OUT:-}" ] && mkdir -p "$KVMBENCH_OUT" && cp "$tmp/results" "$KVMBENCH_OUT/results.tsv"
[ -s "$tmp/incomplete" ] && echo "bench/kvm: $(cat "$tmp/incomplete")"
python3 "$src/bench/kvm/report.py" "$tmp/results" "$where" "$load0" "$load1" "$((SECONDS - t0))" \
    "$boots" "$reps" "$blk" "$net" || rc=1
exit $rc
