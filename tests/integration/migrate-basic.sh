# Live migration between two `vessel run` processes on bare-metal guests:
# tests/guests/riscv-sbi/counter.S (a counter in memory and on the UART)
# and dirty.S (rewrites a 4 MiB buffer as fast as it can, checking that it
# still holds the last step's number: a lost page prints "bad").
# Over unix and tcp the count goes on at the destination with the next
# number (none repeated, none lost) and the source exits 0; a migration
# that cannot converge (max-bandwidth far below the dirty rate) stays
# active until migrate_cancel, which leaves the source running and makes
# the destination exit non-zero with one line; with auto-converge the same
# guest is throttled and converges; a killed destination, a destination of
# another size or with another disk leave the source running with status
# failed; bad streams and bad QMP arguments are clear errors.
. "$SRC/tests/lib.sh"
have riscv64-linux-gnu-gcc || { echo "riscv64-linux-gnu-gcc missing" >&2; exit 77; }
have python3 || { echo "python3 missing" >&2; exit 77; }
d=$(mktemp -d "${TMPDIR:-/tmp}/vessel-mig.XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$d"; }
trap cleanup EXIT
wait_for() { local i; for ((i = 0; i < $(slow 1200); i++)); do "$@" && return 0; sleep 0.05; done; return 1; }
gone() { ! kill -0 "$1" 2>/dev/null; }

build() {
    riscv64-linux-gnu-gcc -nostdlib -static -Wl,--build-id=none -T "$SRC/tests/guests/riscv-sbi/tohost.ld" \
        -Wl,--no-warn-rwx-segments "$@"
}
build -DDELAY=300000 -o "$d/counter.elf" "$SRC/tests/guests/riscv-sbi/counter.S" || { nok "build counter.S"; exit 0; }
build -o "$d/dirty.elf" "$SRC/tests/guests/riscv-sbi/dirty.S" || { nok "build dirty.S"; exit 0; }
truncate -s 1M "$d/disk.img"
mig() { python3 "$SRC/tests/qmp-migrate.py" "$(slow 120)" "$@"; }
counts() { tr -d '\r' < "$1" | grep -aoE 'c [0-9a-f]{8}$' | while read -r _ h; do echo $((16#$h)); done; }
last() { counts "$1" | tail -1; }
first() { counts "$1" | head -1; }
reached() { [ "$(last "$1")" -ge "$2" ] 2>/dev/null; }
# consecutive FILE: every count in FILE is the one before plus one
consecutive() { counts "$1" | awk 'NR > 1 && $1 != p + 1 { bad = 1 } { p = $1; n++ } END { exit !(n > 0 && !bad) }'; }

# start NAME GUEST ARGS...: a vessel in the background, its pid in pid_NAME
start() {
    local name=$1 guest=$2; shift 2
    "$VESSEL" run --kernel "$d/$guest.elf" -m 32M --disk "$d/disk.img" --serial "file:$d/$name.out" \
        --qmp "unix:$d/$name.sock" "$@" </dev/null >/dev/null 2>"$d/$name.err" &
    pids+=($!)
    eval "pid_$name=$!"
}
# handover SRC DST: SRC's console then DST's is one run of counts, none
# repeated, none lost (a line cut at the pause ends SRC's console and
# starts DST's), and DST went on past SRC
handover() {
    cat "$d/$1.out" "$d/$2.out" > "$d/$1-$2.all"
    consecutive "$d/$1-$2.all" && [ "$(last "$d/$2.out")" -gt "$(last "$d/$1.out")" ]
}

# ---- unix, the counter ----
start s1 counter
start d1 counter --incoming "unix:$d/m1"
wait_for reached "$d/s1.out" 3 || { nok "the counter runs"; sed 's/^/# /' "$d/s1.err"; exit 1; }
st=$("$VESSEL" qmp "$d/d1.sock" query-status)
check "the destination waits, its harts not started ($st)" grep -q '"prelaunch"' <<<"$st"
check "query-migrate before any migration: {}" test "$("$VESSEL" qmp "$d/s1.sock" query-migrate)" = "{}"
out=$(mig "$d/s1.sock" migrate "unix:$d/m1" status completed)
check "unix: completed, MIGRATION events setup active device completed ($(tail -1 <<<"$out"))" \
    grep -q '^events: setup active device completed$' <<<"$out"
wait_for gone "$pid_s1"; wait "$pid_s1"; rc=$?
check "the source exits 0 once the destination runs (status $rc)" test $rc -eq 0
check "the source says so: $(grep -o 'completed in.*' "$d/s1.err" | head -c 200)" grep -q 'migrate: completed' "$d/s1.err"
n=$(last "$d/s1.out")
wait_for reached "$d/d1.out" $((n + 3)) 
check "the destination goes on at $((n + 1)) after the source's $n (first $(first "$d/d1.out"))" handover s1 d1
check "every count at the destination follows the one before" consecutive "$d/d1.out"
st=$("$VESSEL" qmp "$d/d1.sock" query-status)
check "the destination runs ($st)" grep -q '"running"' <<<"$st"
"$VESSEL" qmp "$d/d1.sock" quit >/dev/null; wait "$pid_d1"

# ---- tcp, a guest dirtying memory fast ----
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start s2 dirty
start d2 dirty --incoming "tcp:127.0.0.1:$port"
wait_for reached "$d/s2.out" 20 || { nok "the dirtying guest runs"; exit 1; }
out=$(mig "$d/s2.sock" migrate "tcp:127.0.0.1:$port" status completed)
check "tcp: completed ($(tail -1 <<<"$out"))" grep -q '^events: .*completed$' <<<"$out"
wait_for gone "$pid_s2"; wait "$pid_s2"; rc=$?
check "the source exits 0 (status $rc)" test $rc -eq 0
n=$(last "$d/s2.out")
wait_for reached "$d/d2.out" $((n + 5))
check "tcp: the dirtying guest goes on at $((n + 1)) (first $(first "$d/d2.out"))" handover s2 d2
check "its 4 MiB buffer came over whole (no 'bad' line)" bash -c "! grep -qx bad '$d/d2.out'"
"$VESSEL" qmp "$d/d2.sock" quit >/dev/null; wait "$pid_d2"

# ---- file: (QEMU's file migration): the source stays paused, --incoming file: goes on ----
start s7 counter
wait_for reached "$d/s7.out" 3 || { nok "the counter runs (file:)"; exit 1; }
out=$(mig "$d/s7.sock" migrate "file:$d/m7.mig" status completed)
check "file: completed ($(tail -1 <<<"$out"))" grep -q '^events: setup active device completed$' <<<"$out"
st=$("$VESSEL" qmp "$d/s7.sock" query-status)
check "file: the source stays paused ($st) and says so: $(grep -o 'completed in.*' "$d/s7.err" | head -c 120)" \
    bash -c "grep -q '\"paused\"' <<<'$st' && ! grep -q 'exiting' '$d/s7.err'"
n=$(last "$d/s7.out")
cp "$d/s7.out" "$d/s7a.out"
"$VESSEL" qmp "$d/s7.sock" cont >/dev/null
check "file: cont resumes the source (past $n)" wait_for reached "$d/s7.out" $((n + 2))
"$VESSEL" qmp "$d/s7.sock" quit >/dev/null; wait "$pid_s7"
start d7 counter --incoming "file:$d/m7.mig" -S
migq() { "$VESSEL" qmp "$d/$1.sock" query-migrate 2>/dev/null | grep -q "\"status\":\"$2\""; }
wait_for migq d7 completed
st=$("$VESSEL" qmp "$d/d7.sock" query-status)
check "file: with -S the destination reads the file and stays stopped until cont ($st, $(wc -c <"$d/d7.out") bytes out)" \
    bash -c "grep -q '\"prelaunch\"' <<<'$st' && [ ! -s '$d/d7.out' ]"
"$VESSEL" qmp "$d/d7.sock" cont >/dev/null
wait_for reached "$d/d7.out" $((n + 3))
check "file: --incoming file: goes on at $((n + 1)) after the file's $n (first $(first "$d/d7.out"))" handover s7a d7
"$VESSEL" qmp "$d/d7.sock" quit >/dev/null; wait "$pid_d7"
sz=$(stat -c %s "$d/m7.mig")
head -c $((sz / 2)) "$d/m7.mig" >"$d/m7t.mig"
timeout -k 10 "$(slow 60)" "$VESSEL" run --kernel "$d/counter.elf" -m 32M --disk "$d/disk.img" --serial "file:$d/t7.out" \
    --incoming "file:$d/m7t.mig" </dev/null >/dev/null 2>"$d/t7.err"; rc=$?
check "file: a cut file: exit $rc, one line ($(head -1 "$d/t7.err" | head -c 160); the board's 'stopped on an error' aside), the guest never runs" \
    bash -c "[ $rc -eq 1 ] && [ \$(grep -v 'stopped on an error' '$d/t7.err' | grep -c .) -eq 1 ] && grep -q 'ended early' '$d/t7.err' && [ ! -s '$d/t7.out' ]"
expect_fail "file: a missing file" "--incoming file:$d/none.mig: No such file" \
    "$VESSEL" run --kernel "$d/counter.elf" -m 32M --disk "$d/disk.img" --serial null --incoming "file:$d/none.mig"

# ---- no convergence, migrate_cancel; then auto-converge ----
start s3 dirty
start d3 dirty --incoming "unix:$d/m3"
wait_for reached "$d/s3.out" 5
t0=$(date +%s.%N); n0=$(last "$d/s3.out")
wait_for reached "$d/s3.out" $((n0 + 40)); t1=$(date +%s.%N); n1=$(last "$d/s3.out")
rate=$(python3 -c "print(int(($n1 - $n0) * 4 / ($t1 - $t0)))")
if [ "$rate" -ge 64 ]; then ok "the guest dirties $rate MiB/s (at least 64)"
else skip "the guest dirties at least 64 MiB/s" "this host runs it at $rate MiB/s"; fi
out=$(mig "$d/s3.sock" set '{"max-bandwidth": 4194304}' migrate "unix:$d/m3" passes 4 query cancel status cancelled)
check "at 4 MiB/s it does not converge: active after 4 passes ($(grep -o '"status": "[a-z]*"' <<<"$out" | head -1))" \
    grep -q '^query: {"status": "active"' <<<"$out"
check "migrate_cancel: cancelling, cancelled ($(tail -1 <<<"$out"))" grep -q 'cancelling cancelled$' <<<"$out"
wait_for gone "$pid_d3"; wait "$pid_d3"; rc=$?
check "the destination exits non-zero ($rc) with one line: $(grep -v warning "$d/d3.err" | head -1)" \
    bash -c "[ $rc -ne 0 ] && grep -q 'cancelled by the source' '$d/d3.err'"
n=$(last "$d/s3.out")
wait_for reached "$d/s3.out" $((n + 5))
st=$("$VESSEL" qmp "$d/s3.sock" query-status)
check "the source goes on ($st, count $n then $(last "$d/s3.out"))" \
    bash -c "grep -q running <<<'$st' && [ $(last "$d/s3.out") -gt $n ] && ! grep -qx bad '$d/s3.out'"
start d3b dirty --incoming "unix:$d/m3b"
out=$(mig "$d/s3.sock" auto-converge set '{"cpu-throttle-initial": 50, "cpu-throttle-increment": 25}' \
      migrate "unix:$d/m3b" throttled status completed)
check "auto-converge: the vCPUs are throttled ($(grep -o '"cpu-throttle-percentage": [0-9]*' <<<"$out" | head -1))" \
    grep -q '^throttled: yes' <<<"$out"
check "auto-converge: it converges ($(tail -1 <<<"$out"))" grep -q '^status completed: yes' <<<"$out"
wait_for gone "$pid_s3"; wait "$pid_s3"
n=$(last "$d/s3.out")
wait_for reached "$d/d3b.out" $((n + 5))
check "after auto-converge the guest goes on at $((n + 1)) (first $(first "$d/d3b.out")), buffer whole" \
    bash -c "$(declare -f handover consecutive counts last); d='$d'; handover s3 d3b && ! grep -qx bad '$d/d3b.out'"
"$VESSEL" qmp "$d/d3b.sock" quit >/dev/null; wait "$pid_d3b"

# ---- a destination that dies, one of another size, one with another disk ----
start s4 counter
start d4 counter --incoming "unix:$d/m4"
wait_for reached "$d/s4.out" 3
out=$(mig "$d/s4.sock" set '{"max-bandwidth": 100000, "downtime-limit": 0}' migrate "unix:$d/m4" passes 2)
kill -9 "$pid_d4"; wait "$pid_d4" 2>/dev/null
out=$(mig "$d/s4.sock" status failed query)
check "a killed destination: status failed ($(grep -o '"error-desc": "[^"]*"' <<<"$out" | head -1))" \
    grep -q '^query: {"status": "failed".*"error-desc"' <<<"$out"
n=$(last "$d/s4.out")
check "the source runs on after it (count $n, then more)" wait_for reached "$d/s4.out" $((n + 3))
"$VESSEL" qmp "$d/s4.sock" migrate-set-parameters '{"max-bandwidth": 0, "downtime-limit": 300}' >/dev/null
( umask 000; exec "$VESSEL" run --kernel "$d/counter.elf" -m 64M --disk "$d/disk.img" --serial "file:$d/d5.out" \
    --incoming "unix:$d/m5" </dev/null >/dev/null 2>"$d/d5.err" ) & pid_d5=$!; pids+=($pid_d5)
wait_for test -S "$d/m5"
mode=$(stat -c %a "$d/m5")
check "the --incoming socket is mode 0600 under umask 000 (got $mode): no other user can send it a machine" test "$mode" = 600
out=$(mig "$d/s4.sock" migrate "unix:$d/m5" status failed query)
wait "$pid_d5"; rc=$?
check "a destination with -m 64M exits $rc: $(head -1 "$d/d5.err")" \
    bash -c "[ $rc -ne 0 ] && grep -q 'RAM region 0 is 32 MiB.*this machine.s 64 MiB' '$d/d5.err'"
check "and the source reports the destination's reason: $(grep -o '"error-desc": "[^"]*"' <<<"$out" | head -1 | head -c 200)" \
    grep -q '^query: {"status": "failed".*"error-desc": "the destination failed: .*RAM region 0' <<<"$out"
cp "$d/disk.img" "$d/other.img"
"$VESSEL" run --kernel "$d/counter.elf" -m 32M --disk "$d/other.img" --serial "file:$d/d6.out" \
    --incoming "unix:$d/m6" </dev/null >/dev/null 2>"$d/d6.err" & pid_d6=$!; pids+=($pid_d6)
wait_for test -S "$d/m6"
out=$(mig "$d/s4.sock" migrate "unix:$d/m6" status failed query)
wait "$pid_d6"; rc=$?
check "a destination with another disk exits $rc: $(grep -v 'stopped on' "$d/d6.err" | head -1 | head -c 200)" \
    bash -c "[ $rc -ne 0 ] && grep -q 'disk 0 is vda' '$d/d6.err'"
check "the source resumes and reports the destination's error ($(grep -o '"error-desc": "[^"]*"' <<<"$out" | head -c 120))" \
    grep -q '"error-desc": "the destination failed: .*disk' <<<"$out"
check "the guest never ran at those destinations" bash -c "[ ! -s '$d/d5.out' ] && [ ! -s '$d/d6.out' ]"
n=$(last "$d/s4.out")
check "the source runs on after both (count $n, then more)" wait_for reached "$d/s4.out" $((n + 3))

# ---- QMP errors ----
q() { "$VESSEL" qmp "$d/s4.sock" "$@"; }
expect_fail "migrate to a bad URI" "expected unix:PATH, tcp:HOST:PORT or file:PATH" q migrate '{"uri":"exec:cat"}'
expect_fail "migrate to a file in a missing directory" "migrate file:$d/nodir/f: No such file" q migrate "{\"uri\":\"file:$d/nodir/f\"}"
expect_fail "migrate to a socket nobody listens on" "migrate unix:$d/none: No such file" q migrate "{\"uri\":\"unix:$d/none\"}"
expect_fail "migrate with blk" "block migration is not offered" q migrate "{\"uri\":\"unix:$d/m1\",\"blk\":true}"
expect_fail "cpu-throttle-initial 0" "cpu-throttle-initial' expects a value from 1 to 99" \
    q migrate-set-parameters '{"cpu-throttle-initial":0}'
expect_fail "an unknown parameter" "Parameter 'x-bogus' is unexpected" q migrate-set-parameters '{"x-bogus":1}'
expect_fail "an unknown capability" "Capability 'xbzrle' is not offered" \
    q migrate-set-capabilities '{"capabilities":[{"capability":"xbzrle","state":true}]}'
p=$(q query-migrate-parameters)
check "query-migrate-parameters: $p" grep -q '"downtime-limit":300,"max-bandwidth":0,"cpu-throttle-initial":20,"cpu-throttle-increment":10' <<<"$p"
"$VESSEL" qmp "$d/s4.sock" quit >/dev/null; wait "$pid_s4"

# ---- bad streams at the destination ----
bad_stream() {  # NAME PYTHON-EXPR-OF-BYTES PATTERN
    local name=$1 expr=$2 pat=$3
    rm -f "$d/bs.out"
    "$VESSEL" run --kernel "$d/counter.elf" -m 32M --serial "file:$d/bs.out" --incoming "unix:$d/bs" \
        </dev/null >/dev/null 2>"$d/bs.err" & local p=$!; pids+=($p)
    wait_for test -S "$d/bs"
    python3 - "$d/bs" <<PY
import socket, struct, sys, zlib
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
hdr = b"VSLMIGR\n" + struct.pack("<I", 1); hdr += struct.pack("<I", zlib.crc32(hdr))
s.sendall($expr); s.close()
PY
    wait "$p"; local rc=$?
    check "$name: exit $rc, $(head -1 "$d/bs.err" | head -c 160)" \
        bash -c "[ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q '$pat' '$d/bs.err' && [ ! -s '$d/bs.out' ]"
}
bad_stream "garbage" 'b"hello, world...."' "not a vessel migration stream"
bad_stream "a header alone" 'hdr' "the stream ended early"
bad_stream "version 2" 'b"VSLMIGR\n" + struct.pack("<I", 2) + struct.pack("<I", zlib.crc32(b"VSLMIGR\n" + struct.pack("<I", 2)))' "version 2, this vessel reads version 1"
bad_stream "a record with a bad CRC" 'hdr + struct.pack("<IIQ", 1, 0, 2) + b"{}" + b"\0\0\0\0"' "CRC-32"
bad_stream "an unknown record" 'hdr + struct.pack("<IIQ", 99, 0, 0)' "unknown record type 99"
