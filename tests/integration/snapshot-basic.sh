# Snapshot and restore on a bare-metal counter (tests/guests/riscv-sbi/
# counter.S: each step stores the count in memory and prints it on the
# UART): QMP vm-snapshot paused, kill -9, `vessel run --restore`: the count
# goes on with the next number (none repeated, none skipped); vm-restore
# into the running process goes back to it; vm-snapshot of a running guest
# lets it run on; the manifest's shape; QMP argument errors; and bad
# snapshots (every section truncated or with a flipped bit, a flipped bit
# in the manifest, another format or vessel version, a missing or short
# RAM file, a corrupt RAM file with ,verify, a changed disk, a missing
# state file, machine-shaping flags) each refused with one clear line and
# a non-zero exit, the guest never running; a bad vm-restore leaves the
# running guest alone.
. "$SRC/tests/lib.sh"
have riscv64-linux-gnu-gcc || { echo "riscv64-linux-gnu-gcc missing" >&2; exit 77; }
have python3 || { echo "python3 missing" >&2; exit 77; }
d=$(mktemp -d "${TMPDIR:-/tmp}/vessel-snap.XXXXXX"); pid=
mnt=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; [ -n "$mnt" ] && umount "$mnt"; rm -rf "$d"' EXIT
wait_for() { local i; for ((i = 0; i < $(slow 1200); i++)); do "$@" && return 0; sleep 0.05; done; return 1; }

riscv64-linux-gnu-gcc -nostdlib -static -Wl,--build-id=none -T "$SRC/tests/guests/riscv-sbi/tohost.ld" \
    -Wl,--no-warn-rwx-segments -DDELAY=300000 -o "$d/counter.elf" "$SRC/tests/guests/riscv-sbi/counter.S" ||
    { nok "build counter.S"; exit 0; }
truncate -s 1M "$d/disk.img"
sock=$d/q.sock
q() { "$VESSEL" qmp "$sock" "$@"; }
# counts FILE: the counts printed, in decimal, one a line. Not anchored at
# the line's start: a vm-restore into a running process can stop the guest
# in the middle of a line, and the restored guest's next line then follows
# that partial one on the same line of output.
counts() { tr -d '\r' < "$1" | grep -aoE 'c [0-9a-f]{8}$' | while read -r _ h; do echo $((16#$h)); done; }
last() { counts "$1" | tail -1; }
reached() { [ "$(last "$1")" -ge "$2" ] 2>/dev/null; }
# consecutive FILE FROM: the counts in FILE from the first FROM on go up by one
consecutive() { counts "$1" | awk -v f="$2" 'go || $1 == f { if (go && $1 != p + 1) bad = 1; go = 1; p = $1 } END { exit !(go && !bad) }'; }

"$VESSEL" run --kernel "$d/counter.elf" -m 32M --disk "$d/disk.img" --qmp "unix:$sock" >"$d/out1" 2>"$d/err1" &
pid=$!
wait_for reached "$d/out1" 5 || { nok "the counter runs"; sed 's/^/# /' "$d/err1"; exit 1; }
out=$(q vm-snapshot "{\"path\":\"$d/s1\",\"paused\":true}" 2>&1)
check "vm-snapshot paused: {} ($out)" test "$out" = "{}"
st=$(q query-status)
check "vm-snapshot paused: the machine stays paused ($st)" grep -q '"status":"paused"' <<<"$st"
n=$(last "$d/out1")
kill -9 $pid; wait $pid 2>/dev/null; pid=
check "the snapshot directory has manifest.json, state.bin and ram-0.bin" \
    test -s "$d/s1/manifest.json" -a -s "$d/s1/state.bin" -a -f "$d/s1/ram-0.bin"
check "ram-0.bin is sparse (32 MiB guest, $(du -k "$d/s1/ram-0.bin" | cut -f1) KiB on disk)" \
    test "$(du -k "$d/s1/ram-0.bin" | cut -f1)" -lt 4096
shape=$(python3 - "$d/s1/manifest.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
secs = {s["name"]: s for s in m["sections"]}
ok = (m["format"] == "vessel-snapshot" and m["version"] == 1 and m["machine"]["type"] == "riscv64-virt"
      and m["machine"]["ncpus"] == 1 and m["ram"][0]["gpa"] == 0x80000000 and m["ram"][0]["size"] == 32 << 20
      and {"riscv.board", "riscv.hart.0", "riscv.plic", "dev/serial0", "dev/rtc", "dev/gpio0"} <= set(secs)
      and all(isinstance(s["crc32"], int) and s["length"] > 0 for s in m["sections"] if s["name"] != "dev/virtio-backends/var")
      and m["disks"][0]["id"] == "vda" and m["disks"][0]["size"] == 1 << 20
      and any(dv["kind"] == "virtio-mmio" and dv["config"].startswith("disk:") for dv in m["devices"]))
print("ok" if ok else json.dumps(m)[:400])
PY
)
check "the manifest: format, version, machine, RAM, sections with CRCs, devices, disks ($shape)" test "$shape" = ok

# The pause can fall in the middle of a line (the count is stored before it
# is printed): out1 then ends with the start of line n+1 and the restored
# guest prints the rest of it. part1 is that start (empty when the pause
# fell between lines), rest1 the part the restored guest must print.
line() { printf 'c %08x' "$1"; }
tail1=$(tail -c 64 "$d/out1" | tr -d '\r'; echo x); tail1=${tail1%x}; part1=${tail1##*$'\n'}
full1=$(line $((n + 1))); rest1=${full1#"$part1"}
# restore in a new process: the count goes on with n+1
"$VESSEL" run --restore "$d/s1" --qmp "unix:$sock" >"$d/out2" 2>"$d/err2" &
pid=$!
if wait_for reached "$d/out2" $((n + 3)); then ok "vessel run --restore: the counter runs again"
else nok "vessel run --restore: the counter runs again"; sed 's/^/# /' "$d/err2"; fi
first=$(tr -d '\r' < "$d/out2" | head -1)
check "vessel run --restore: the first line completes count $((n + 1)), the one after the snapshot's $n ('$part1' + '$first')" \
    test "$part1$first" = "$full1"
cat "$d/out1" "$d/out2" > "$d/out12"
check "vessel run --restore: the counts before and after go up by one" consecutive "$d/out12" "$(counts "$d/out1" | head -1)"

# vm-snapshot while running: the guest runs on
m=$(last "$d/out2")
out=$(q vm-snapshot "{\"path\":\"$d/s2\"}" 2>&1)
check "vm-snapshot of a running guest: {} ($out)" test "$out" = "{}"
st=$(q query-status)
check "vm-snapshot of a running guest: it is running again ($st)" grep -q '"status":"running"' <<<"$st"
wait_for reached "$d/out2" $((m + 3)); check "vm-snapshot of a running guest: the count goes on" reached "$d/out2" $((m + 3))

# vm-restore into this process: back to s1, so the guest prints rest1 (after
# whatever part of a line the running guest had printed) and then n+2 again
out=$(q vm-restore "{\"path\":\"$d/s1\"}" 2>&1)
check "vm-restore into the running process: {} ($out)" test "$out" = "{}"
again() { [ "$(tr -d '\r' < "$d/out2" | grep -cx "$(line $((n + 2)))")" -ge 2 ]; }
wait_for again
check "vm-restore: the count starts again in the same process: the rest of count $((n + 1)) ('$rest1'), then $((n + 2))" \
    bash -c "tr -d '\r' < '$d/out2' | awk -v l='$(line $((n + 2)))' -v r='$rest1' '\$0 == l && ++seen == 2 { ok = substr(p, length(p) - length(r) + 1) == r } { p = \$0 } END { exit !ok }'"
check "vm-restore: and goes up by one from there" \
    bash -c "$(declare -f counts); counts '$d/out2' | awk -v f=$((n + 2)) '\$1 == f { seen++; p = \$1; next } seen == 2 && \$1 != p + 1 { bad = 1 } { p = \$1 } END { exit !(seen == 2 && !bad) }'"

# QMP argument errors
expect_qmp() { local name=$1 pat=$2 out; shift 2; out=$(q "$@" 2>&1); if grep -qE -- "$pat" <<<"$out"; then ok "$name"; else nok "$name ($out)"; fi; }
expect_qmp "vm-snapshot without path" "Parameter 'path' is missing" vm-snapshot '{}'
expect_qmp "vm-snapshot with a non-boolean paused" "Invalid parameter type for 'paused'" vm-snapshot '{"path":"/tmp/x","paused":"yes"}'
expect_qmp "vm-snapshot with an unknown argument" "Parameter 'bogus' is unexpected" vm-snapshot '{"path":"/tmp/x","bogus":1}'
expect_qmp "vm-snapshot into a file that is not a directory" "not a directory|Not a directory|File exists" vm-snapshot "{\"path\":\"$d/disk.img\"}"
expect_qmp "vm-restore of a directory with no snapshot" "cannot read manifest.json" vm-restore "{\"path\":\"$d\"}"
m=$(last "$d/out2")
wait_for reached "$d/out2" $((m + 2))
check "a refused vm-restore leaves the running guest alone" reached "$d/out2" $((m + 2))
q quit >/dev/null; wait $pid; pid=

# disks saved with the snapshot: on a loop-mounted xfs (reflink) where this
# host allows it, else beside the others (a copy); vm-restore puts the
# saved disk back in place and the device uses it
fs=$d how=copy why=
if ! have mkfs.xfs; then why="mkfs.xfs not installed (xfsprogs)"
elif [ "$(id -u)" != 0 ]; then why="not root: no loop mount"
elif ! grep -qw xfs /proc/filesystems; then why="the kernel has no xfs"
elif truncate -s 300M "$d/xfs.img" && mkfs.xfs -q "$d/xfs.img" 2>"$d/mkfs.err" && mkdir -p "$d/mnt" &&
     mount -o loop "$d/xfs.img" "$d/mnt" 2>"$d/mount.err"; then mnt=$d/mnt fs=$d/mnt how=reflink
else why="loop-mounting xfs failed: $(head -c 120 "$d/mount.err" "$d/mkfs.err" 2>/dev/null | tr '\n' ' ')"; fi
truncate -s 4M "$fs/disk2.img"; printf 'before' | dd of="$fs/disk2.img" conv=notrunc 2>/dev/null
"$VESSEL" run --kernel "$d/counter.elf" -m 32M --disk "$fs/disk2.img" --qmp "unix:$sock" >"$d/out3" 2>"$d/err3" &
pid=$!
wait_for reached "$d/out3" 3
out=$(q vm-snapshot "{\"path\":\"$fs/s3\",\"disks\":true}" 2>&1)
check "vm-snapshot with disks: {} ($out)" test "$out" = "{}"
check "vm-snapshot with disks: saved as disk-vda.img by $how" grep -q "disk vda saved as disk-vda.img ($how)" "$d/err3"
[ -z "$why" ] || skip "vm-snapshot with disks: a reflink on a loop-mounted xfs" "$why"
printf 'after!' | dd of="$fs/disk2.img" conv=notrunc 2>/dev/null
out=$(q vm-restore "{\"path\":\"$fs/s3\"}" 2>&1)
check "vm-restore of a snapshot with disks into the running process: {} ($out)" test "$out" = "{}"
check "vm-restore: the changed disk was put back from the snapshot ($how)" \
    grep -q "disk vda put back at $fs/disk2.img ($how)" "$d/err3"
check "vm-restore: the disk holds the snapshot's content again" cmp -s "$fs/disk2.img" "$fs/s3/disk-vda.img"
m=$(last "$d/out3"); wait_for reached "$d/out3" $((m + 2))
check "vm-restore with disks: the guest runs on" reached "$d/out3" $((m + 2))
q quit >/dev/null; wait $pid; pid=

# bad snapshots: one line, a non-zero exit (not a signal), the guest never runs
bad() {   # bad NAME PATTERN DIR [ARGS...]: vessel run --restore DIR must refuse
    local name=$1 pat=$2 dir=$3 rc; shift 3
    timeout 60 "$VESSEL" run --restore "$dir" "$@" >"$d/bad.out" 2>"$d/bad.err" </dev/null; rc=$?
    if [ $rc -ne 0 ] && [ $rc -lt 124 ] && [ "$(wc -l < "$d/bad.err")" -eq 1 ] && grep -qE -- "$pat" "$d/bad.err" &&
        ! grep -aq '^c ' "$d/bad.out"; then
        ok "$name: refused ($(head -c 160 "$d/bad.err"))"
    else
        nok "$name (status $rc, stderr: $(head -c 300 "$d/bad.err"), guest output: $(head -c 40 "$d/bad.out"))"
    fi
}
fresh() { rm -rf "$d/b"; cp -a "$d/s1" "$d/b"; }
sections=$(python3 -c 'import json,sys; [print(s["name"], s["offset"], s["length"]) for s in json.load(open(sys.argv[1]))["sections"]]' "$d/s1/manifest.json")
while read -r name off len; do
    [ "$len" -gt 0 ] || continue
    fresh; truncate -s $((32 + off + len / 2)) "$d/b/state.bin"
    bad "state.bin truncated in section $name" "truncated|payload" "$d/b"
    fresh; python3 -c 'import sys; f=open(sys.argv[1],"r+b"); f.seek(int(sys.argv[2])); b=f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([b[0]^4]))' \
        "$d/b/state.bin" $((32 + off + len / 2))
    bad "a flipped bit in section $name" "section $name: CRC-32" "$d/b"
done <<<"$sections"
fresh; sed -i 's/"ncpus":1/"ncpus":2/' "$d/b/manifest.json"
bad "a changed manifest" "manifest.json: CRC-32 does not match" "$d/b"
# edit the manifest and seal it again: what only the version check catches
reseal() { python3 - "$1" <<'PY'
import struct, sys, zlib
d = sys.argv[1]
man = open(d + "/manifest.json", "rb").read()
st = bytearray(open(d + "/state.bin", "rb").read())
st[12:16] = struct.pack("<I", zlib.crc32(man))
st[28:32] = struct.pack("<I", zlib.crc32(bytes(st[:28])))
open(d + "/state.bin", "wb").write(st)
PY
}
fresh; sed -i 's/"version":1,/"version":2,/' "$d/b/manifest.json"; reseal "$d/b"
bad "format version 2" "format version 2, this vessel reads version 1" "$d/b"
fresh; sed -i 's/"vessel":"[^"]*"/"vessel":"0.0.9"/' "$d/b/manifest.json"; reseal "$d/b"
bad "another vessel version" "written by vessel 0.0.9" "$d/b"
# a snapshot of this engine given to the other one: one line, before /dev/kvm is opened
timeout 60 "$VESSEL" kvm --restore "$d/s1" >"$d/bad.out" 2>"$d/bad.err" </dev/null; rc=$?
check "vessel kvm --restore of a riscv64-virt snapshot: status 2, one line ($(head -c 160 "$d/bad.err"))" \
    eval '[ $rc -eq 2 ] && [ "$(wc -l < "$d/bad.err")" -eq 1 ] && grep -q "a snapshot of a riscv64-virt machine, not of vessel kvm.s x86_64-kvm" "$d/bad.err"'
fresh; sed -i 's/"type":"riscv64-virt"/"type":"x86_64-kvm"/' "$d/b/manifest.json"; reseal "$d/b"
bad "vessel run --restore of an x86_64-kvm snapshot" "a snapshot of a x86_64-kvm machine, not of vessel run.s riscv64-virt" "$d/b"
fresh; rm "$d/b/ram-0.bin"
bad "a missing RAM file" "RAM file ram-0.bin: No such file" "$d/b"
fresh; truncate -s 1M "$d/b/ram-0.bin"
bad "a short RAM file" "RAM file ram-0.bin is 1048576 bytes" "$d/b"
fresh; printf 'X' | dd of="$d/b/ram-0.bin" bs=1 seek=4096 conv=notrunc 2>/dev/null
bad "a corrupt RAM file with ,verify" "ram-0.bin: CRC-32 .*corrupt" "$d/b,verify"
fresh; rm "$d/b/state.bin"
bad "a missing state.bin" "cannot read state.bin" "$d/b"
bad "-m with --restore" "-m comes from the snapshot" "$d/s1" -m 64M
cp "$d/disk.img" "$d/disk.orig"; printf 'Z' | dd of="$d/disk.img" bs=1 seek=100 conv=notrunc 2>/dev/null
bad "a disk changed since the snapshot" "disk vda .* changed since the snapshot" "$d/s1"
