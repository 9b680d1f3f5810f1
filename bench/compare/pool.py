#!/usr/bin/env python3
"""bench/compare/pool.py: several runs of the comparison as one.

    pool.py OUTDIR RUNDIR RUNDIR...

Each RUNDIR is the output folder of one bench/compare/run.sh of the same
form (mode, sizes, runs per cell). OUTDIR gets their runs together in one
raw.tsv (every round keeps its own number: round r of the k-th folder is
k * R + r, R the rounds per folder, so each round's ratio to native is
still taken within one round) and a meta.json that names every run (date,
load average, seconds); report.py OUTDIR then prints each cell's median
over all of them with the min-max over all of them. That range is the
run-to-run spread: the drift of the host between two runs of the command
is in it, which the range of one run's rounds does not show (on the 2-CPU
host of docs/compare.md one run's median missed another's range in 7 of
72 cells). Runs of different forms are refused with one line.
"""
import json
import os
import sys

SAME = ("mode", "size", "reps", "boots", "rounds", "cpus", "kernel", "kvm_nested", "nested_reps", "nested_boots",
        "nested_size", "vessel", "cells")


def main():
    if len(sys.argv) < 4:
        sys.exit("usage: pool.py OUTDIR RUNDIR RUNDIR...")
    out, dirs = sys.argv[1], sys.argv[2:]
    metas = []
    for d in dirs:
        try:
            metas.append(json.load(open(os.path.join(d, "meta.json"))))
        except (OSError, ValueError) as e:
            sys.exit("pool: %s: no readable meta.json (%s)" % (d, e))
    for d, m in zip(dirs[1:], metas[1:]):
        for k in SAME:
            if m.get(k) != metas[0].get(k):
                sys.exit("pool: %s is not of the same form as %s: %s %r, not %r"
                         % (d, dirs[0], k, m.get(k), metas[0].get(k)))
    per = int(metas[0].get("rounds", 1))
    lines = []
    for k, d in enumerate(dirs):
        try:
            raw = open(os.path.join(d, "raw.tsv")).read().splitlines()
        except OSError as e:
            sys.exit("pool: %s: no readable raw.tsv (%s)" % (d, e))
        for n, line in enumerate(raw, 1):
            f = line.split("\t")
            if len(f) == 4:
                f.append("1")
            if len(f) != 5 or not f[4].isdigit() or not 1 <= int(f[4]) <= per:
                sys.exit("pool: %s/raw.tsv line %d is malformed: %r" % (d, n, line))
            f[4] = str(k * per + int(f[4]))
            lines.append("\t".join(f))
    meta = dict(metas[0])
    meta["rounds"] = per * len(dirs)
    meta["seconds"] = sum(int(m.get("seconds", 0)) for m in metas)
    meta["loadavg_start"] = metas[0].get("loadavg_start", "?")
    meta["loadavg_end"] = metas[-1].get("loadavg_end", "?")
    meta["date"] = "%s to %s" % (metas[0].get("date", "?"), metas[-1].get("date", "?"))
    meta["pooled"] = [{"dir": os.path.basename(os.path.normpath(d)), "date": m.get("date"),
                       "seconds": m.get("seconds"), "loadavg_start": m.get("loadavg_start"),
                       "loadavg_end": m.get("loadavg_end")} for d, m in zip(dirs, metas)]
    meta["rounds_per_run"] = per
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "raw.tsv"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print("pool: %d runs, %d rounds, %d measurements into %s" % (len(dirs), meta["rounds"], len(lines), out))


if __name__ == "__main__":
    main()
