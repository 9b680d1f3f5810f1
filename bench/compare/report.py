#!/usr/bin/env python3
"""bench/compare/report.py: the comparison's table, JSON and SVG chart.

    report.py OUTDIR

Reads OUTDIR/raw.tsv (bench/compare/run.sh: one line per run,
"CELL<TAB>WORKLOAD<TAB>VALUE<TAB>UNIT<TAB>ROUND", or VALUE "NA" and the
reason in the UNIT field; ROUND may be absent: 1) and OUTDIR/meta.json;
writes OUTDIR/results.json, table.txt and chart.svg. Each cell is the
median of its runs with their min-max; its ratio to native is how many
times slower than native it is (median against median; below 1: faster).
With several rounds, each round also gives a ratio (the cell's median in
that round against native's in the same round) and the table prints their
min-max beside the ratio: drift the host shows in native and the cell
alike cancels in it (on the 2-CPU host of docs/compare.md the drift was not
alike, and the ratios reproduced no better than the medians). A cell with
no run is "not measurable here" with the reason run.sh recorded.
"""
import html
import json
import math
import statistics
import sys

WORKLOADS = {
    "int": ("CPU integer (per 2M iterations)", "ms", "lower"),
    "fp": ("CPU floating point (per 3000 n-body steps)", "ms", "lower"),
    "mem": ("memory bandwidth (memcpy 16 MiB)", "MB/s", "higher"),
    "syscall": ("system call (getppid)", "us", "lower"),
    "proc": ("process creation (fork+exit+wait)", "us", "lower"),
    "file": ("file write+fsync+read", "MB/s", "higher"),
    "tcp": ("TCP over loopback", "MB/s", "higher"),
    "startup": ("start-up to first output line", "ms", "lower"),
}
CELLS = {
    "native": ("native", "native"),
    "vessel-ctr": ("vessel ctr", "containers"),
    "runc": ("runc", "containers"),
    "vessel-kvm": ("vessel kvm", "hardware-assisted (KVM)"),
    "qemu-kvm": ("qemu-system-x86_64 -enable-kvm", "hardware-assisted (KVM)"),
    "vessel-exec": ("vessel exec", "emulation, user mode"),
    "qemu-riscv64": ("qemu-riscv64", "emulation, user mode"),
    "vessel-run": ("vessel run", "emulation, whole system"),
    "qemu-system-riscv64": ("qemu-system-riscv64", "emulation, whole system"),
}
COLORS = {
    "native": "#444444", "vessel-ctr": "#1b9e77", "runc": "#8fd3bd", "vessel-kvm": "#d95f02",
    "qemu-kvm": "#f4b183", "vessel-exec": "#7570b3", "qemu-riscv64": "#bcb9e0",
    "vessel-run": "#e7298a", "qemu-system-riscv64": "#f2a7cb",
}
NM = "not measurable here"


def load(outdir):
    meta = json.load(open(outdir + "/meta.json"))
    runs, rounds, why = {}, {}, {}
    for n, line in enumerate(open(outdir + "/raw.tsv"), 1):
        f = line.rstrip("\n").split("\t")
        if len(f) not in (4, 5) or f[0] not in CELLS or f[1] not in WORKLOADS or \
                (len(f) == 5 and not f[4].isdigit()):
            sys.exit("report: raw.tsv line %d is malformed: %r" % (n, line))
        if f[2] == "NA":
            why.setdefault((f[0], f[1]), f[3] or "no reason recorded")
        else:
            runs.setdefault((f[0], f[1]), []).append(float(f[2]))
            rounds.setdefault((f[0], f[1]), []).append(int(f[4]) if len(f) == 5 else 1)
    return meta, runs, rounds, why


def round_ratios(vals, rnds, nat, nat_rnds, better):
    """Per round in which both the cell and native ran: the cell's median
    in it against native's median in it (times slower than native)."""
    out = []
    for r in sorted(set(rnds) & set(nat_rnds)):
        c = statistics.median([v for v, k in zip(vals, rnds) if k == r])
        n = statistics.median([v for v, k in zip(nat, nat_rnds) if k == r])
        if c > 0 and n > 0:
            out.append(c / n if better == "lower" else n / c)
    return out


def cell_result(vals, better, native):
    med = statistics.median(vals)
    r = {"median": med, "min": min(vals), "max": max(vals), "runs": vals,
         "spread_pct": (max(vals) - min(vals)) / 2 / med * 100 if med else 0.0}
    if native and med > 0:
        r["x_native"] = med / native if better == "lower" else native / med
    return r


def build(meta, runs, rounds, why):
    nested = "nested" if meta.get("kvm_nested") else None
    res = {}
    for w, (_, unit, better) in WORKLOADS.items():
        nat = runs.get(("native", w))
        native = statistics.median(nat) if nat else None
        for c in CELLS:
            vals = runs.get((c, w))
            if vals:
                r = cell_result(vals, better, native)
                r["unit"] = unit
                if nat and c != "native":
                    xr = round_ratios(vals, rounds[(c, w)], nat, rounds[("native", w)], better)
                    if len(xr) >= 2:
                        r["x_native_rounds"] = xr
                if nested and c in ("vessel-kvm", "qemu-kvm"):
                    r["label"] = "nested"
                if (c, w) in why:   # measured in some rounds, not in others
                    r["also_not_measured"] = why[(c, w)]
            else:
                r = {"not_measurable": why.get((c, w), "no run of this cell was recorded")}
            res.setdefault(c, {})[w] = r
    return {"meta": meta,
            "workloads": [{"id": w, "title": t, "unit": u, "better": b} for w, (t, u, b) in WORKLOADS.items()],
            "cells": [{"id": c, "label": l, "kind": k} for c, (l, k) in CELLS.items()],
            "results": res}


def fmt(v):
    if v >= 100:
        return "%.0f" % v
    if v >= 1:
        return "%.2f" % v
    return "%.4f" % v


def fmtx(v):
    return "%.2f" % v if v < 10 else "%.1f" % v if v < 100 else "%.0f" % v


def table(doc):
    m = doc["meta"]
    rounds = m.get("rounds", 1)
    per = ("%d rounds of %d run%s per cell (start-up: 3x that; VMs: %d boot%s per round)"
           % (rounds, m["reps"], "s" if m["reps"] > 1 else "", m["boots"], "s" if m["boots"] > 1 else "")) if rounds > 1 else \
        "%d runs per cell (start-up: 3x that; VMs: %d boots)" % (m["reps"], m["boots"])
    if m.get("pooled"):
        k, rr = len(m["pooled"]), m.get("rounds_per_run", 1)
        per = ("%d runs of the command pooled (bench/compare/pool.py), each %d rounds of %d run%s per cell "
               "(start-up: 3x that; VMs: %d boot%s per round): min-max = the run-to-run spread"
               % (k, rr, m["reps"], "s" if m["reps"] > 1 else "", m["boots"], "s" if m["boots"] > 1 else ""))
    out = ["vessel bench/compare, %s form: SIZE %d, %s, %s" % (m["mode"], m["size"], per, m["date"]),
           "host: %d CPUs, kernel %s, load average %s at start, %s at end; KVM: %s; %s"
           % (m["cpus"], m["kernel"], m["loadavg_start"], m["loadavg_end"], m["kvm"], m["vessel"]),
           ("KVM cells: nested tier (L1 under QEMU TCG with emulated AMD SVM): SIZE %s, %s run%s, %s boot%s%s; "
            "not hardware figures" % (m.get("nested_size"), m.get("nested_reps"), "s" if m.get("nested_reps") != 1 else "",
                                      m.get("nested_boots"), "s" if m.get("nested_boots") != 1 else "",
                                      " per L1 boot, one L1 boot per round" if rounds > 1 else ""))
           if m.get("kvm_nested") else "KVM cells: %s" % ("direct on /dev/kvm: %s" % m.get("kvm_kind", "?") if m["kvm"] == "usable" else "not nested"),
           ] + (["runs pooled: %s" % "; ".join("%s, %s s, load %s to %s" % (p.get("date"), p.get("seconds"),
                                                                            p.get("loadavg_start"), p.get("loadavg_end"))
                                              for p in m["pooled"])] if m.get("pooled") else []) + [

           "cell: median [min-max of the runs, n runs, spread = half the range in %% of the median];"
           " x native = times slower than native (median/median; below 1: faster)%s"
           % (" [min-max of the rounds' ratios: each round's median against native's in that round]"
              if rounds > 1 else ""), ""]
    for w in doc["workloads"]:
        out.append("%s (%s, %s is better)" % (w["title"], w["unit"], w["better"]))
        for c in doc["cells"]:
            r = doc["results"][c["id"]][w["id"]]
            name = c["label"] + (" (nested)" if r.get("label") == "nested" else "")
            if "not_measurable" in r:
                out.append("  %-40s %s: %s" % (name, NM, r["not_measurable"]))
                continue
            x = "%8.2fx" % r["x_native"] if "x_native" in r else "%9s" % "n/a"
            if "x_native_rounds" in r:
                x += " [%s-%s]" % (fmtx(min(r["x_native_rounds"])), fmtx(max(r["x_native_rounds"])))
            out.append("  %-40s %10s %-4s [%s-%s, n=%d, +-%.0f%%] %s" % (
                name, fmt(r["median"]), w["unit"], fmt(r["min"]), fmt(r["max"]), len(r["runs"]),
                r["spread_pct"], x))
            if "also_not_measured" in r:
                out.append("  %-40s (not measured in every round: %s)" % ("", r["also_not_measured"][:200]))
        out.append("")
    return "\n".join(out)


def svg(doc):
    """Grouped bars, one group per workload, one bar per cell: times slower
    than native on a log scale, drawn from 1x (up: slower, down: faster)."""
    cells = [c["id"] for c in doc["cells"]]
    xs = [r["x_native"] for c in doc["results"].values() for r in c.values() if "x_native" in r]
    lo = min([1.0] + xs)
    hi = max([1.0] + xs)
    e0, e1 = math.floor(math.log10(lo)), max(1, math.ceil(math.log10(hi)))
    if e0 == e1:
        e0 -= 1
    W, H, left, top, plot_h = 1100, 560, 70, 50, 380
    bw, gap = 9, 18
    group_w = len(cells) * bw + gap

    def y(v):
        return top + plot_h - (math.log10(v) - e0) / (e1 - e0) * plot_h

    s = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
         'font-family="sans-serif" font-size="11">' % (W, H, W, H),
         '<rect width="100%" height="100%" fill="white"/>',
         '<text x="%d" y="22" font-size="15">vessel bench/compare: times slower than native '
         '(log scale; %s form, load %s)</text>' % (left, doc["meta"]["mode"], html.escape(doc["meta"]["loadavg_start"]))]
    for e in range(e0, e1 + 1):
        yy = y(10 ** e)
        s.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s"/>'
                 % (left, left + len(doc["workloads"]) * group_w, yy, yy, "#000" if e == 0 else "#ddd"))
        s.append('<text x="%d" y="%.1f" text-anchor="end">%sx</text>' % (left - 6, yy + 4, "%g" % 10 ** e))
    y1 = y(1.0)
    for gi, w in enumerate(doc["workloads"]):
        gx = left + gi * group_w + gap / 2
        for ci, c in enumerate(cells):
            r = doc["results"][c][w["id"]]
            x = gx + ci * bw
            if "x_native" in r:
                v = r["x_native"]
                yv = y(max(v, 10 ** e0))
                tip = "%s, %s: %.3g %s, %.2fx native" % (c, w["id"], r["median"], w["unit"], v)
                s.append('<rect x="%.1f" y="%.1f" width="%d" height="%.1f" fill="%s"><title>%s</title></rect>'
                         % (x, min(yv, y1), bw - 1, max(abs(yv - y1), 1), COLORS[c], html.escape(tip)))
            else:
                why = r.get("not_measurable", "no native cell in this run to compare with")
                tip = "%s, %s: %s: %s" % (c, w["id"], NM, why)
                s.append('<text x="%.1f" y="%.1f" text-anchor="middle" fill="#999">'
                         '&#215;<title>%s</title></text>' % (x + bw / 2, y1 - 3, html.escape(tip)))
        s.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>'
                 % (gx + len(cells) * bw / 2, top + plot_h + 18, html.escape(w["id"])))
    ly = top + plot_h + 40
    for i, c in enumerate(doc["cells"]):
        lx = left + (i % 5) * 200
        yy = ly + (i // 5) * 18
        s.append('<rect x="%d" y="%d" width="10" height="10" fill="%s"/>' % (lx, yy, COLORS[c["id"]]))
        s.append('<text x="%d" y="%d">%s</text>' % (lx + 14, yy + 9, html.escape(c["label"])))
    s.append('<text x="%d" y="%d" fill="#666">&#215; = not measurable here (hover for the reason); '
             'bars start at 1x: up is slower than native, down is faster</text>' % (left, ly + 48))
    s.append("</svg>")
    return "\n".join(s) + "\n"


def main():
    outdir = sys.argv[1]
    meta, runs, rounds, why = load(outdir)
    doc = build(meta, runs, rounds, why)
    json.dump(doc, open(outdir + "/results.json", "w"), indent=1)
    open(outdir + "/table.txt", "w").write(table(doc))
    open(outdir + "/chart.svg", "w").write(svg(doc))


if __name__ == "__main__":
    main()
