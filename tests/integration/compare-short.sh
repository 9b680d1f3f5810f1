#!/usr/bin/env bash
# bench/compare's short form on its smallest sizes: the table, the JSON and
# the SVG are well formed, every cell is a measurement or "not measurable
# here: <reason>", the medians are those of the recorded runs; report.py
# refuses a malformed run file; `vessel features --json` lists the QMP
# commands a running machine answers to query-commands.
# Environment: COMPARE_TEST_SIZE (default 1), COMPARE_TEST_REPS (default 2),
# COMPARE_TEST_BOOTS (default 1), COMPARE_TEST_CELLS (default: all cells;
# under ASan too: the emulators are slower there but size 1 stays short).
. "$SRC/tests/lib.sh"
have python3 || { echo "python3 missing" >&2; exit 77; }
out=$(mktemp -d "${TMPDIR:-/tmp}/vessel-compare-test.XXXXXX")
trap 'rm -rf "$out"' EXIT

# ---- the features document ----
if f=$("$VESSEL" features --json) && python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert [e["command"] for e in d["engines"]] == ["exec", "run", "kvm", "ctr"], d["engines"]
assert {"virtio-blk", "virtio-net"} <= {v["device"] for v in d["virtioDevices"]}
assert "query-commands" in d["qmp"]["commands"] and "STOP" in d["qmp"]["events"]
assert "namespaces" in d["oci"]["linux"]' "$f"; then
    ok "vessel features --json: engines, virtio devices, QMP, OCI"
else
    nok "vessel features --json is not the expected document"
fi
expect_fail "vessel features: an unknown option is refused, naming it" "'--nope'" "$VESSEL" features --nope
if python3 -c 'import json,sys; a=json.loads(sys.argv[1])["oci"]; b=json.loads(sys.argv[2]); sys.exit(a != b)' "$f" "$("$VESSEL" ctr features)"; then
    ok "features --json: the oci part is what 'vessel ctr features' reports"
else
    nok "features --json: the oci part differs from 'vessel ctr features'"
fi
# the QMP commands: what a machine's monitor answers to query-commands
if line=$(bash "$SRC/guest/build.sh" --print riscv64 2>/dev/null); then
    KERNEL= INITRD=
    eval "$line"
    sock=$out/qmp.sock
    "$VESSEL" run -S --kernel "$KERNEL" -m 64M --qmp "unix:$sock,server,wait=off" </dev/null >"$out/vm.log" 2>&1 &
    vm=$!
    for _ in $(seq 200); do [ -S "$sock" ] && break; kill -0 $vm 2>/dev/null || break; sleep 0.05; done
    if qc=$("$VESSEL" qmp "$sock" query-commands 2>&1) &&
        python3 -c 'import json,sys; q=[c["name"] for c in json.loads(sys.argv[1])]; f=json.loads(sys.argv[2])["qmp"]["commands"]
sys.exit(0 if sorted(q) == sorted(f) else "query-commands %s, features %s" % (q, f))' "$qc" "$f"; then
        ok "features --json: QMP commands = a running machine's query-commands"
    else
        nok "features --json: QMP commands differ from query-commands ($qc)"
    fi
    "$VESSEL" qmp "$sock" quit >/dev/null 2>&1
    for _ in $(seq 100); do kill -0 $vm 2>/dev/null || break; sleep 0.05; done
    kill -9 $vm 2>/dev/null; wait $vm 2>/dev/null
else
    skip "features --json: QMP commands = query-commands" "the riscv64 default guest is not built (make guest)"
fi

# ---- the short form, smallest sizes ----
t0=$SECONDS
COMPARE_SIZE=${COMPARE_TEST_SIZE:-1} COMPARE_REPS=${COMPARE_TEST_REPS:-2} COMPARE_BOOTS=${COMPARE_TEST_BOOTS:-1} \
    COMPARE_CELLS=${COMPARE_TEST_CELLS:-} \
    bash "$SRC/bench/compare/run.sh" --short "$out/r" >"$out/stdout" 2>"$out/stderr"
rc=$?
if [ $rc -eq 0 ]; then ok "bench/compare --short ran ($((SECONDS - t0)) s)"
else nok "bench/compare --short exited $rc: $(tail -n 3 "$out/stderr" | tr '\n' ' ')"; fi
grep -q '^compare: \[[0-9]*m[0-9]*s\] native: ' "$out/stderr" && ok "a progress line while running" ||
    nok "no progress line on stderr"

# every cell of the JSON: a number with its runs, or not measurable + reason
if python3 - "$out/r" <<'PY'
import json, statistics, sys
d = json.load(open(sys.argv[1] + "/results.json"))
ws = [w["id"] for w in d["workloads"]]
cs = [c["id"] for c in d["cells"]]
assert ws == ["int", "fp", "mem", "syscall", "proc", "file", "tcp", "startup"], ws
assert len(cs) == 9, cs
raw = {}
for l in open(sys.argv[1] + "/raw.tsv"):
    c, w, v = l.rstrip("\n").split("\t")[:3]
    if v != "NA":
        raw.setdefault((c, w), []).append(float(v))
measured = 0
for c in cs:
    for w in ws:
        r = d["results"][c][w]
        if "not_measurable" in r:
            assert isinstance(r["not_measurable"], str) and r["not_measurable"].strip(), (c, w, r)
            assert "median" not in r, (c, w)
            continue
        assert isinstance(r["median"], float) and r["median"] > 0, (c, w, r)
        assert r["min"] <= r["median"] <= r["max"], (c, w, r)
        assert r["runs"] == raw[(c, w)] and abs(statistics.median(r["runs"]) - r["median"]) < 1e-9, (c, w)
        assert "x_native" in r, (c, w)
        measured += 1
for w in ws:
    assert "median" in d["results"]["native"][w], ("native must be measured", w)
    assert abs(d["results"]["native"][w]["x_native"] - 1) < 1e-9
print("# %d cells measured" % measured)
PY
then ok "results.json: every cell a measurement with its runs, or not measurable with a reason"
else nok "results.json malformed"; fi

# the text table: per workload a header, then exactly one line per cell
if python3 - "$out/r" <<'PY'
import json, re, sys
d = json.load(open(sys.argv[1] + "/results.json"))
lines = open(sys.argv[1] + "/table.txt").read().split("\n")
labels = [c["label"] for c in d["cells"]]
num = re.compile(r"^  (.+?)\s+([0-9.]+) (s|ms|us|MB/s)\s+\[([0-9.]+)-([0-9.]+), n=(\d+), \+-\d+%\]\s+([0-9.]+)x( \[[0-9.]+-[0-9.]+\])?$")
nm = re.compile(r"^  (.+?)\s+not measurable here: (\S.*)$")
i = next(k for k, l in enumerate(lines) if l.startswith(d["workloads"][0]["title"]))
for w in d["workloads"]:
    assert lines[i].startswith(w["title"] + " ("), lines[i]
    for lab in labels:
        i += 1
        m = num.match(lines[i]) or nm.match(lines[i])
        assert m and m.group(1).replace(" (nested)", "") == lab, lines[i]
    i += 2
assert re.search(r"load average [0-9.]+ [0-9.]+ [0-9.]+ at start", "\n".join(lines[:3]))
PY
then ok "table.txt: one line per cell, a number with its spread or 'not measurable here: reason'"
else nok "table.txt malformed"; fi

# the SVG: XML with an <svg> root, one bar per measured cell, one mark per other
if python3 - "$out/r" <<'PY'
import json, sys, xml.etree.ElementTree as ET
d = json.load(open(sys.argv[1] + "/results.json"))
root = ET.parse(sys.argv[1] + "/chart.svg").getroot()
ns = "{http://www.w3.org/2000/svg}"
assert root.tag == ns + "svg", root.tag
bars = [r for r in root.iter(ns + "rect") if r.find(ns + "title") is not None]
marks = [t for t in root.iter(ns + "text") if t.find(ns + "title") is not None]
cells = [r for c in d["results"].values() for r in c.values()]
assert len(bars) == sum("x_native" in r for r in cells), len(bars)
assert len(marks) == sum("not_measurable" in r for r in cells), len(marks)
assert all("not measurable here: " in m.find(ns + "title").text for m in marks)
PY
then ok "chart.svg: well-formed SVG, a bar per measurement, a marked reason per other cell"
else nok "chart.svg malformed"; fi

# report.py refuses what it cannot read, and never leaves a cell blank
mkdir -p "$out/bad"
cp "$out/r/meta.json" "$out/bad/"
# refused RAW WHAT: report.py refuses a run file whose line 2 is bad, naming it
refused() {
    printf "$1" >"$out/bad/raw.tsv"
    if python3 "$SRC/bench/compare/report.py" "$out/bad" 2>"$out/bad.err"; then
        nok "report.py accepted $2"
    else
        grep -q "line 2 is malformed" "$out/bad.err" && ok "report.py refuses $2, naming the line" ||
            nok "report.py: unexpected error: $(cat "$out/bad.err")"
    fi
}
refused 'native\tint\t0.5\ts\nnative\tbogus\t1\ts\n' "an unknown workload"
refused 'native\tint\t0.5\ts\t1\nnative\tint\t0.5\ts\tsecond\n' "a round that is not a number"
printf 'native\tint\t0.5\ts\n' >"$out/bad/raw.tsv"
if python3 "$SRC/bench/compare/report.py" "$out/bad" &&
    grep -q '^  runc .*not measurable here: no run of this cell was recorded' "$out/bad/table.txt"; then
    ok "a cell with no recorded run is 'not measurable here' with that reason"
else
    nok "a cell with no recorded run was not reported as such"
fi

# rounds: each round's ratio to native, and reproduce.py on a host that
# drifted. Two made-up runs of two rounds (not measurements: the input of
# report.py and reproduce.py under test): in A the host is 10% slower in
# round 2, native and vessel exec alike; B is A 20% slower throughout.
mkdir -p "$out/ra" "$out/rb"
python3 - "$out/r/meta.json" "$out/ra" "$out/rb" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m.update(mode="full", rounds=2, reps=2)
for d, k in ((sys.argv[2], 1.0), (sys.argv[3], 1.2)):
    json.dump(m, open(d + "/meta.json", "w"))
    with open(d + "/raw.tsv", "w") as f:
        for r, slow in ((1, 1.0), (2, 1.1)):
            for c, base in (("native", 4.0), ("vessel-exec", 8.0)):
                for j in (0.98, 1.02):
                    f.write("%s\tint\t%.4f\tms\t%d\n" % (c, base * slow * j * k, r))
PY
python3 "$SRC/bench/compare/report.py" "$out/ra" && python3 "$SRC/bench/compare/report.py" "$out/rb"
xl=$(grep -a -m1 '^  vessel exec ' "$out/ra/table.txt")
if [[ $xl == *" 2.00x [2.00-2.00]" ]] && python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))["results"]["vessel-exec"]["int"]
assert [round(x, 6) for x in r["x_native_rounds"]] == [2.0, 2.0], r' "$out/ra/results.json"; then
    ok "report.py: each round's ratio to native, their range beside the ratio ($xl)"
else
    nok "report.py: the rounds' ratios ($xl)"
fi
printf '# doc\n<!-- results:begin -->\n```\n%s\n```\n' "$(cat "$out/ra/table.txt")" >"$out/doc.md"
rep=$(python3 "$SRC/bench/compare/reproduce.py" "$out/doc.md" "$out/rb"); rrc=$?
rep2=$(python3 "$SRC/bench/compare/reproduce.py" "$out/doc.md" "$out/ra"); rrc2=$?
if [ $rrc -eq 1 ] && [[ $rep == *"0 of 2 cells' medians reproduced"* ]] && [[ $rep == *"1 of 1 ratios to native reproduced"* ]] &&
    [ $rrc2 -eq 0 ] && [[ $rep2 == *"2 of 2 cells' medians reproduced"* ]]; then
    ok "reproduce.py: a host 20% slower misses every median and keeps the ratio; the same run reproduces (exit $rrc, $rrc2)"
else
    nok "reproduce.py: exit $rrc/$rrc2: $(echo "$rep" | tail -n 2 | tr '\n' ' ') / $(echo "$rep2" | tail -n 2 | tr '\n' ' ')"
fi


# pool.py: A and B as one document (the run-to-run spread): four rounds,
# each still its own (A's 1-2, B's 3-4), the median and min-max over both,
# the header naming both runs; then B reproduces against it, and a run of
# another form is refused with one line
pool=$(python3 "$SRC/bench/compare/pool.py" "$out/rab" "$out/ra" "$out/rb" 2>&1) &&
    python3 "$SRC/bench/compare/report.py" "$out/rab"
pl=$(grep -a -m1 '^  vessel exec ' "$out/rab/table.txt")
rounds=$(cut -f5 "$out/rab/raw.tsv" | sort -u | tr '\n' ' ')
printf '# doc\n<!-- results:begin -->\n```\n%s\n```\n' "$(cat "$out/rab/table.txt")" >"$out/docab.md"
rep3=$(python3 "$SRC/bench/compare/reproduce.py" "$out/docab.md" "$out/rb"); rrc3=$?
if [ "$rounds" = "1 2 3 4 " ] && [[ $pl == *"[7.84-10.77, n=8, "* ]] &&
    grep -q '2 runs of the command pooled' "$out/rab/table.txt" && grep -q '^runs pooled: ' "$out/rab/table.txt" &&
    [ $rrc3 -eq 0 ] && [[ $rep3 == *"2 of 2 cells' medians reproduced"* ]]; then
    ok "pool.py: two runs as one, rounds kept apart ($rounds), min-max over both ($pl); B reproduces against it"
else
    nok "pool.py: $pool; rounds $rounds; $pl; reproduce exit $rrc3: $(echo "$rep3" | tail -n 2 | tr '\n' ' ')"
fi
mkdir -p "$out/rc"; cp "$out/rb/raw.tsv" "$out/rc/"
python3 -c 'import json, sys; m = json.load(open(sys.argv[1])); m["size"] = 99; json.dump(m, open(sys.argv[2], "w"))' \
    "$out/rb/meta.json" "$out/rc/meta.json"
err=$(python3 "$SRC/bench/compare/pool.py" "$out/rx" "$out/ra" "$out/rc" 2>&1); prc=$?
if [ $prc -ne 0 ] && [ "$(echo "$err" | wc -l)" -eq 1 ] && [[ $err == *"not of the same form"*"size 99"* ]]; then
    ok "pool.py refuses runs of different forms, one line ($err)"
else
    nok "pool.py on runs of different forms: exit $prc: $err"
fi
