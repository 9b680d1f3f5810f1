# An idle riscv64 guest gives its translation caches back (emu/riscv/
# cache.c, rv_hart_trim): after the default guest's boot (which decodes
# and translates about 20 MiB of code) and once it idles at its prompt
# (a second busy under a tenth of the time), its hart runs small: the
# decoded-block arena and the translated code hold at most 256 KiB
# together (/proc/PID/smaps; the small arena is 128 KiB, no huge page);
# and the guest runs correctly on code decoded again after the trim and
# in the small arena: a checksum computed before the trim and after it
# agree, and the shell answers. Guest RAM (mem_huge_settle): once idle,
# the huge pages the guest's boot left mostly empty are split and their
# zero-filled pages leave the process: at most 1 MiB of zero-filled pages
# resident in guest RAM (4.3 MiB with main before it), with the huge pages
# the guest filled kept (when the host gave any).
. "$SRC/tests/lib.sh"
. "$SRC/tests/guestlib.sh"
trap guest_kill EXIT
GUEST_TIMEOUT=${GUEST_TIMEOUT:-180}
line=$(bash "$SRC/guest/build.sh" --print riscv64 2>/dev/null) || { echo "riscv64 guest not built (make guest)" >&2; exit 77; }
KERNEL= INITRD=
eval "$line"

# caches_kb: resident KiB of the block arena (16 MiB, a mapping of its
# own as it alone is madvised for huge pages; its 32 KiB of page lists
# follow it) and the translated-code arena (anonymous, executable)
caches_kb() {
    awk '/^[0-9a-f]+-[0-9a-f]+ / { named = NF >= 6; perm = $2 }
         /^Size:/ { c = !named && ($2 == 16 * 1024 || $2 == 16 * 1024 + 32 || perm ~ /x/) }
         /^Rss:/ { if (c) s += $2 } END { print s + 0 }' "/proc/$GUEST_PID/smaps"
}

# ram_kb: "RSS ZERO HUGE" of the guest RAM mapping (anonymous, 128 MiB):
# resident KiB, KiB of them zero-filled (resident minus the pages that hold
# data: a page mapped to the host's shared zero page is not resident),
# AnonHugePages KiB
ram_kb() {
    python3 - "$GUEST_PID" <<'EOF'
import re, struct, sys
pid = sys.argv[1]; ram = None; cur = None; f = {}
for l in open(f"/proc/{pid}/smaps"):
    m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) (\S+ ){4}\s*(\S*)", l)
    if m:
        cur = (int(m[1], 16), int(m[2], 16)) if not m[4] else None
        if ram is None and cur and cur[1] - cur[0] == 128 << 20:
            ram = cur
        continue
    kv = re.match(r"^(\w+):\s+(\d+) kB", l)
    if kv and ram and cur == ram:
        f[kv[1]] = int(kv[2])
data = 0
with open(f"/proc/{pid}/pagemap", "rb") as pm, open(f"/proc/{pid}/mem", "rb") as mem:
    for a in range(ram[0], ram[1], 2 << 20):
        pm.seek((a >> 12) * 8)
        for i, e in enumerate(struct.unpack("512Q", pm.read(4096))):
            if e >> 63:
                mem.seek(a + i * 4096)
                data += mem.read(4096).count(0) != 4096
print(f["Rss"], max(0, f["Rss"] - data * 4), f["AnonHugePages"])
EOF
}

guest_start "$VESSEL" run -m 128M --kernel "$KERNEL" --initrd "$INITRD"
if ! guest_wait_ready; then nok "the default guest boots"; guest_tail 20 | sed 's/^/# /'; exit 1; fi
sum1=$(guest_run 'md5sum /bin/busybox' 60)
check "a checksum in the guest before the trim" test -n "$sum1"
# the guest now idles at its prompt: wait (up to 60 s) for the trim
small=
for ((i = 0; i < $(slow 600); i++)); do
    kb=$(caches_kb)
    [ "$kb" -le 256 ] && { small=$kb; break; }
    sleep 0.1
done
check "idle: block arena and translated code resident 256 KiB at most (last seen ${kb} KiB)" test -n "$small"
# a huge page split maps its zero-filled pages to the shared zero page
# from Linux 6.12 on; before, the split frees nothing (KSM merges them later)
IFS=. read -r kmaj kmin _ <<<"$(uname -r)"
if [ "$kmaj" -lt 6 ] || { [ "$kmaj" -eq 6 ] && [ "${kmin%%[!0-9]*}" -lt 12 ]; }; then
    read -r rss zero huge < <(ram_kb)
    skip "idle: zero-filled pages resident in guest RAM 1 MiB at most (${zero} of ${rss} KiB now)" \
        "Linux $(uname -r) keeps the zero pages of a split huge page (6.12 maps them to the zero page)"
else
    settled=
    for ((i = 0; i < $(slow 100); i++)); do
        read -r rss zero huge < <(ram_kb)
        [ "$zero" -le 1024 ] && { settled=1; break; }
        sleep 0.1
    done
    check "idle: zero-filled pages resident in guest RAM 1 MiB at most (last seen ${zero} of ${rss} KiB, ${huge} KiB in huge pages)" test -n "$settled"
fi
if grep -q '\[never\]' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null; then
    skip "idle: the huge pages the guest filled are kept" "THP off on this host"
else
    check "idle: the huge pages the guest filled are kept (${huge} KiB)" test "$huge" -gt 0
fi
sum2=$(guest_run 'md5sum /bin/busybox' 60)
check "the same checksum on code decoded again after the trim" test "$sum1" = "$sum2"
out=$(guest_run 'echo $((6 * 7))')
check "the shell answers after the trim (got '$out')" test "$out" = 42
