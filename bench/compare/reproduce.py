#!/usr/bin/env python3
"""bench/compare/reproduce.py: does a new run reproduce docs/compare.md?

    reproduce.py DOC RUNDIR

Reads the figures table in DOC (between its results markers, as mkdoc.py
wrote it) and RUNDIR/table.txt (a later bench/compare/run.sh of the same
form), and for every cell measured in both says whether the new median lies
within the spread the document prints beside that cell (its median +- half
its min-max range), and, where the document prints the range of the
rounds' ratios to native beside a cell's ratio (the full form), whether
the new ratio lies within its ratio +- half that range (drift shared by
native and the cell between two runs cancels in a ratio; drift of one of
them alone does not). A cell "not measurable here" in one and measured in the
other counts as not reproduced. Exit 0 when every median and every ratio
reproduces, 1 if not.
"""
import re
import sys

ROW = re.compile(r"^  (?P<name>\S.*?)\s{2,}(?P<med>[0-9.]+) (?P<unit>\S+)\s*"
                 r"\[(?P<lo>[0-9.]+)-(?P<hi>[0-9.]+), n=(?P<n>\d+), \+-(?P<sp>\d+)%\]"
                 r"(?:\s+(?P<x>[0-9.]+)x(?: \[(?P<xlo>[0-9.]+)-(?P<xhi>[0-9.]+)\])?)?")
NMROW = re.compile(r"^  (?P<name>\S.*?)\s{2,}not measurable here: (?P<why>.*)$")
HEAD = re.compile(r"^(?P<title>\S.*) \((?P<unit>[^,]+), (?:lower|higher) is better\)$")


def parse(text):
    """{(workload title, cell name): (median, lo, hi) or None}, form line"""
    cells, title, form = {}, None, None
    for line in text.splitlines():
        if line.startswith("vessel bench/compare, "):
            form = line.split(":")[0]
        m = HEAD.match(line)
        if m:
            title = m.group("title")
            continue
        m = ROW.match(line)
        if m and title:
            x = tuple(float(m.group(k)) for k in ("x", "xlo", "xhi")) if m.group("xlo") else \
                (float(m.group("x")),) if m.group("x") else None
            cells[(title, m.group("name"))] = (float(m.group("med")), float(m.group("lo")), float(m.group("hi")), x)
            continue
        m = NMROW.match(line)
        if m and title:
            cells[(title, m.group("name"))] = None
    return cells, form


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: reproduce.py DOC RUNDIR")
    doc = open(sys.argv[1]).read()
    m = re.search(r"<!-- results:begin -->\n```\n(.*?)\n```", doc, re.S)
    if not m:
        sys.exit("reproduce: no figures table between the results markers in %s" % sys.argv[1])
    old, old_form = parse(m.group(1))
    try:
        new, new_form = parse(open(sys.argv[2] + "/table.txt").read())
    except OSError as e:
        sys.exit("reproduce: %s (a bench/compare/run.sh output folder?)" % e)
    if not old or not new:
        sys.exit("reproduce: no figures parsed from %s" % (sys.argv[1] if not old else sys.argv[2] + "/table.txt"))
    if old_form != new_form:
        print("# note: the document is the %s, the run the %s" % (old_form, new_form))
    good = bad = xgood = xbad = 0
    for key in old:
        o, n = old[key], new.get(key, "missing")
        title, name = key
        if o is None and n is None:
            continue
        if o is None or n is None or n == "missing":
            bad += 1
            print("not reproduced  %-40s %-45s document %s, run %s" % (name, title[:45],
                  "not measurable" if o is None else "%g" % o[0],
                  "missing" if n == "missing" else "not measurable" if n is None else "%g" % n[0]))
            continue
        half = (o[2] - o[1]) / 2
        ok = abs(n[0] - o[0]) <= half
        good += ok
        bad += not ok
        line = "%-15s %-40s %-45s document %g +- %g, run %g" % ("reproduced" if ok else "not reproduced",
                                                             name, title[:45], o[0], half, n[0])
        if o[3] and len(o[3]) == 3:
            xhalf = (o[3][2] - o[3][1]) / 2
            xok = bool(n[3]) and abs(n[3][0] - o[3][0]) <= xhalf + 0.005   # the table's two decimals
            xgood += xok
            xbad += not xok
            line += "; ratio %s: document %.2fx +- %.2f, run %s" % (
                "reproduced" if xok else "not reproduced", o[3][0], xhalf, "%.2fx" % n[3][0] if n[3] else "none")
        print(line)
    print("%d of %d cells' medians reproduced within the document's spread" % (good, good + bad))
    if xgood + xbad:
        print("%d of %d ratios to native reproduced within the spread of the document's rounds' ratios"
              % (xgood, xgood + xbad))
    sys.exit(0 if bad == 0 and xbad == 0 else 1)


if __name__ == "__main__":
    main()
