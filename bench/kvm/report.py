#!/usr/bin/env python3
"""bench/kvm's summary of bench/kvm/linux.sh's result lines
("kvmb<TAB>WHO<TAB>METRIC<TAB>VALUE<TAB>UNIT", VALUE "NA" with the reason
in UNIT): medians with their spread, vessel/QEMU ratios, and the bars of
issues 15 and 11.

usage: report.py RESULTS WHERE LOAD0 LOAD1 SECONDS BOOTS REPS BLK_MIB NET_MIB
"""
import statistics
import sys

BOOT_PEERS = ["vessel", "qemu-microvm", "qemu-q35"]
IO_CONFIGS = [
    ("vessel-mmio", "vessel kvm --transport mmio"),
    ("vessel-pci", "vessel kvm, pci + ioeventfd/irqfd (always on: no switch)"),
    ("qemu-microvm-mmio", "qemu -M microvm, virtio-mmio"),
    ("qemu-q35-pci", "qemu -M q35, virtio-pci, ioeventfd=off"),
    ("qemu-q35-pci-ioeventfd", "qemu -M q35, virtio-pci + ioeventfd/irqfd"),
]
TAP_CONFIGS = [
    ("vessel-pci-tap", "vessel kvm, pci, tap (vessel moves the packets)"),
    ("vessel-pci-vhost", "vessel kvm, pci, tap + vhost-net (ioeventfd kick, irqfd call)"),
    ("vessel-mmio-vhost", "vessel kvm --transport mmio, tap + vhost-net"),
    ("qemu-q35-pci-tap", "qemu -M q35, virtio-pci, tap, vhost=off"),
    ("qemu-q35-pci-vhost", "qemu -M q35, virtio-pci, tap, vhost=on"),
]


def main():
    path, where, load0, load1, secs, boots, reps, blk, net = sys.argv[1:10]
    vals, na, text = {}, {}, {}
    with open(path) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) < 5 or p[0] != "kvmb":
                continue
            who, metric, v, unit = p[1], p[2], p[3], p[4]
            if v == "NA":
                na.setdefault((who, metric), unit)
                continue
            try:
                vals.setdefault((who, metric), []).append(float(v))
            except ValueError:
                text[(who, metric)] = v
    nested = where == "nested"
    print(f"bench/kvm Linux part ({where}{': NESTED figures, NOT hardware figures' if nested else ''}): "
          f"vessel's default x86-64 guest, -m 256M, 1 vCPU; host load {load0} -> {load1}, {secs} s")
    if nested:
        print("  (an L1 Linux under qemu-system-x86_64 -accel tcg -cpu qemu64,+svm,+npt runs vessel kvm and "
              "qemu-system-x86_64 -enable-kvm on its emulated AMD SVM: every figure is two levels of "
              "virtualization on an emulated CPU; only the ratios mean something, and they are noisy)")
    for (who, metric), why in sorted(na.items()):
        print(f"  not measured: {who} {metric}: {why}")

    def med(who, metric):
        v = vals.get((who, metric))
        return statistics.median(v) if v else None

    def spread(who, metric, fmt, n=True):
        v = vals.get((who, metric))
        if not v:
            return "-"
        if len(v) == 1:
            return fmt.format(v[0]) + (" (n=1)" if n else "")
        return f"{fmt.format(statistics.median(v))} ({fmt.format(min(v))}-{fmt.format(max(v))}" + \
            (f", n={len(v)})" if n else ")")

    print(f"boot to init's ready line, {boots} boots each, interleaved; median (min-max):")
    for who in BOOT_PEERS:
        if (who, "boot") not in vals:
            continue
        rss, pss = med(who, "vmm_rss_outside_ram"), med(who, "vmm_pss_outside_ram")
        print(f"  {who:13s} boot {spread(who, 'boot', '{:.0f}')} ms; VMM memory outside guest RAM: "
              f"RSS {rss / 1024:.2f} MiB, PSS {pss / 1024:.2f} MiB (guest RAM resident "
              f"{med(who, 'guest_ram_resident') / 1024:.1f} MiB); power-off to exit "
              f"{spread(who, 'poweroff', '{:.1f}')} ms")
        if (who, "poweroff_last_line") in text:
            print(f"  {'':13s} {text[(who, 'poweroff_last_line')]}")
    v, m, q = med("vessel", "boot"), med("qemu-microvm", "boot"), med("qemu-q35", "boot")
    if v and m:
        print(f"ratio vessel/qemu boot: {v / m:.2f} against microvm" + (f", {v / q:.2f} against q35" if q else ""))
        vr, mr = med("vessel", "vmm_rss_outside_ram"), med("qemu-microvm", "vmm_rss_outside_ram")
        print(f"ratio vessel/qemu-microvm VMM memory outside guest RAM: {vr / mr:.2f}")
        print(f"bars (issue 15): boot {v / m:.2f}x qemu microvm <= 0.5x: {'met' if v / m <= 0.5 else 'NOT met'}; "
              f"VMM memory outside guest RAM {vr / 1024:.2f} MiB <= 3 MiB: {'met' if vr <= 3072 else 'NOT met'}")
    po = med("vessel", "poweroff")
    if po is not None:
        peers = ", ".join(f"{w} {med(w, 'poweroff'):.1f} ms" for w in BOOT_PEERS[1:] if med(w, "poweroff") is not None)
        print(f"bar (issue 11): vessel power-off to exit {po:.1f} ms <= 20 ms: {'met' if po <= 20 else 'NOT met'}"
              + (f" (median; {peers})" if peers else ""))

    if any(k[1] in ("blk_read", "blk_write", "net_rx") for k in list(vals) + list(na)):
        print(f"virtio throughput, MB/s, median of {reps} (min-max): blk = {blk} MiB sequential, 1 MiB O_DIRECT "
              f"requests; net = {net} MiB fetched from the host over HTTP through slirp (libslirp on both)")
        print(f"  {'configuration':58s} {'blk read':>18s} {'blk write':>18s} {'net rx':>18s}")
        for who, label in IO_CONFIGS:
            cells = [spread(who, m, "{:.1f}", False) for m in ("blk_read", "blk_write", "net_rx")]
            if all(c == "-" for c in cells):
                continue
            print(f"  {label:58s} " + " ".join(f"{c:>18s}" for c in cells))
        for a, b in (("vessel-mmio", "qemu-microvm-mmio"), ("vessel-pci", "qemu-q35-pci-ioeventfd")):
            r = [(med(a, m), med(b, m)) for m in ("blk_read", "blk_write", "net_rx")]
            if all(x and y for x, y in r):
                print(f"  ratio {a}/{b}: " + " / ".join(f"{x / y:.2f}" for x, y in r) + " (blk read / write / net)")
        print("  vessel has no switch to turn ioeventfd/irqfd off on pci: no 'pci without ioeventfd' row for vessel")
    if any(k[1] == "tap_rx" for k in list(vals) + list(na)):
        print(f"network through a tap, MB/s, median of {reps} (min-max): {net} MiB fetched over HTTP from a "
              f"server on the tap's host side (busybox httpd -> busybox wget)")
        for who, label in TAP_CONFIGS:
            c = spread(who, "tap_rx", "{:.1f}", False)
            if c != "-":
                print(f"  {label:66s} {c:>18s}")
        for a, b in (("vessel-pci-vhost", "vessel-pci-tap"), ("vessel-pci-vhost", "qemu-q35-pci-vhost")):
            x, y = med(a, "tap_rx"), med(b, "tap_rx")
            if x and y:
                print(f"  ratio {a}/{b}: {x / y:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
