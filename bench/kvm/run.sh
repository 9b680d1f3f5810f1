#!/bin/bash
# bench/kvm: process start -> first serial byte of the `hello` test guest,
# and the VMM's resident memory outside guest RAM, for vessel kvm and
# qemu-system-x86_64 -M microvm on the same image in the same run.
set -u
src=$(cd "$(dirname "$0")/../.." && pwd)
VESSEL=${VESSEL:-$src/build/vessel}
dev=${VESSEL_KVM_DEV:-/dev/kvm}
[ -r "$dev" ] && [ -w "$dev" ] || { echo "skip: $dev not usable"; exit 0; }
command -v nasm >/dev/null || { echo "skip: nasm missing"; exit 0; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
(cd "$src/tests/guests/x86" && nasm -f bin -o "$tmp/hello.bz" hello.asm &&
    nasm -f bin -DIDLE -o "$tmp/idle.bz" hello.asm) || exit 1
qemu=$(command -v qemu-system-x86_64 || true)
exec python3 - "$VESSEL" "$tmp" "${qemu:-}" "${BENCH_RUNS:-15}" <<'PY'
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
