# virtio-balloon with the default riscv64 guest (vessel run --balloon, QMP):
#  1. balloon/query-balloon: the guest's free memory shrinks when the balloon
#     inflates and grows back when it deflates; vessel's RSS follows the
#     inflation (the pages the guest gave back leave the host process), and
#     grows again only when the guest uses the memory; BALLOON_CHANGE events
#     come; the guest's statistics (qom-get guest-stats) agree with its
#     /proc/meminfo.
#  2. free-page-reporting=on: memory the guest filled and freed leaves
#     vessel's RSS without any balloon command.
#  3. deflate-on-oom=on: a guest squeezed by the balloon that then needs
#     more memory than it has left gets pages back from the balloon instead
#     of OOM-killing.
# Every wait is for a condition, with a generous deadline (the emulator,
# maybe under ASan, on a loaded host); the seconds each took are printed.
. "$SRC/tests/lib.sh"
. "$SRC/tests/guestlib.sh"
d=$(mktemp -d "${TMPDIR:-/tmp}/vessel-balloon.XXXXXX")
cleanup() { guest_kill; rm -rf "$d"; }
trap cleanup EXIT
GUEST_TIMEOUT=${GUEST_TIMEOUT:-180}
DEADLINE=${BALLOON_DEADLINE:-180}

line=$(bash "$SRC/guest/build.sh" --print riscv64 2>/dev/null) || { echo "riscv64 guest not built (make guest)" >&2; exit 77; }
KERNEL= INITRD=
eval "$line"
if ! grep -q '^CONFIG_VIRTIO_BALLOON=y' "$(dirname "$KERNEL")/kernel.config" 2>/dev/null; then
    echo "this default guest's kernel has no virtio-balloon (built before it; make guest)" >&2
    exit 77
fi
sock=$d/qmp.sock
MiB=$((1024 * 1024))
q() { "$VESSEL" qmp "$sock" "$@"; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$GUEST_PID/status"; }
# ram_rss_kib: the resident KiB of the guest's RAM mapping alone (the mapping
# whose size is the guest's RAM): what the balloon moves. The whole RSS also
# holds vessel's heap, which under ASan grows by tens of MiB with its
# quarantine of freed blocks whatever the guest does.
ram_rss_kib() {
    awk -v sz=$((ram * 1024)) '/^[0-9a-f]+-[0-9a-f]+ / { m = 0 } /^Size:/ { m = ($2 == sz) }
        m && /^Rss:/ { r += $2; n++ } END { if (n != 1) exit 1; print r }' "/proc/$GUEST_PID/smaps"
}
meminfo_kib() { guest_run "awk '/^$1:/ { print \$2 }' /proc/meminfo" | grep -E '^[0-9]+$' | tail -1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
# wait_rss below|above KIB: until vessel's RSS is below/above KIB, at most
# DEADLINE seconds; prints the seconds it took
wait_rss() {
    local t0 r; t0=$(now)
    while :; do
        r=$(rss_kib) || return 1
        if [ "$1" = below ] && [ "$r" -le "$2" ]; then break; fi
        if [ "$1" = above ] && [ "$r" -ge "$2" ]; then break; fi
        [ "$(awk -v a="$t0" -v b="$(now)" -v d="$DEADLINE" 'BEGIN { print (b - a > d) }')" = 1 ] && return 1
        sleep 0.2
    done
    since "$t0"
}
# boot RAM_MIB [BALLOON_OPTIONS] (the guest's tmpfs holds half its RAM)
boot() {
    ram=$1; shift
    guest_start "$VESSEL" run -m "${ram}M" --balloon${1:+=$1} --qmp "unix:$sock,server,wait=off"
    if ! guest_wait_ready; then
        nok "the default guest boots with -m ${ram}M --balloon${1:+=$1}"; guest_tail 30 | sed 's/^/# /'; exit 1
    fi
    ok "the default guest boots with -m ${ram}M --balloon${1:+=$1} ($(guest_elapsed) s)"
}
# fill MIB: the guest writes MIB MiB into its tmpfs (so the host backs them)
fill() { guest_run "dd if=/dev/zero of=/tmp/fill bs=1M count=$1 2>/dev/null && wc -c < /tmp/fill" 300; }

# ---- 1. inflate and deflate ----
boot 384
check "the guest found the device (virtio_balloon bound)" \
    guest_run 'ls /sys/bus/virtio/drivers/virtio_balloon | grep -q virtio'
check "query-balloon: the whole RAM at first" test "$(q query-balloon)" = "{\"actual\":$((384 * MiB))}"
check "the guest fills 160 MiB" test "$(fill 160)" = "$((160 * MiB))"
guest_run 'rm /tmp/fill' >/dev/null
rss0=$(rss_kib); free0=$(meminfo_kib MemFree)
echo "# before: vessel RSS $((rss0 / 1024)) MiB, guest MemFree $((free0 / 1024)) MiB"
out=$(python3 "$SRC/tests/qmp-balloon.py" "$sock" $((80 * MiB)) "$DEADLINE"); rc=$?
echo "# balloon 80 MiB: $out"
check "balloon 80M: query-balloon reaches 80 MiB" test $rc -eq 0
read -r _ _ _ nev _ last _ secs <<<"$out"
check "BALLOON_CHANGE events came ($nev), the last one says 80 MiB ($last)" \
    test "${nev:-0}" -ge 1 -a "${last:-0}" = $((80 * MiB))
free1=$(meminfo_kib MemFree)
check "the guest's free memory shrank by the balloon ($((free0 / 1024)) -> $((free1 / 1024)) MiB, want >= 150 MiB less)" \
    test $((free0 - free1)) -ge $((150 * 1024))
if t=$(wait_rss below $((rss0 - 100 * 1024))); then
    ok "vessel's RSS follows the inflation: $((rss0 / 1024)) -> $(($(rss_kib) / 1024)) MiB (>= 100 MiB less) ${t} s after the guest reached the target (inflation took $secs s)"
else
    nok "vessel's RSS follows the inflation: $((rss0 / 1024)) -> $(($(rss_kib) / 1024)) MiB within $DEADLINE s"
fi
rss1=$(rss_kib) ram1=$(ram_rss_kib)
out=$(python3 "$SRC/tests/qmp-balloon.py" "$sock" $((384 * MiB)) "$DEADLINE"); rc=$?
echo "# balloon 384 MiB: $out"
check "balloon 384M: query-balloon back to 384 MiB" test $rc -eq 0
free2=$(meminfo_kib MemFree)
check "the guest's free memory grew back ($((free1 / 1024)) -> $((free2 / 1024)) MiB, want >= 150 MiB more)" \
    test $((free2 - free1)) -ge $((150 * 1024))
ram2=$(ram_rss_kib)
check "deflating costs the host nothing until the guest uses it (guest RAM resident $((ram1 / 1024)) -> $((${ram2:-0} / 1024)) MiB; whole RSS $((rss1 / 1024)) -> $(($(rss_kib) / 1024)) MiB)" \
    test -n "$ram1" -a -n "$ram2" -a "${ram2:-0}" -le $((${ram1:-0} + 16 * 1024))
fill 180 >/dev/null
if t=$(wait_rss above $((rss1 + 90 * 1024))); then
    ok "the guest uses the memory again: RSS $((rss1 / 1024)) -> $(($(rss_kib) / 1024)) MiB"
else
    nok "the guest uses the memory again: RSS $((rss1 / 1024)) -> $(($(rss_kib) / 1024)) MiB, want +90 MiB"
fi
# statistics: polled every second; the guest's figures against its meminfo
q qom-set '{"path":"/machine/peripheral/balloon0","property":"guest-stats-polling-interval","value":1}' >/dev/null
check "qom-get guest-stats-polling-interval: 1" \
    test "$(q qom-get '{"path":"balloon0","property":"guest-stats-polling-interval"}')" = 1
# (the stats are the guest's last report: one sent before the deflation
# above had finished still has the smaller total; wait for one that
# agrees with MemTotal now, up to the deadline, and report the last seen)
stats= stat_total= total=
end=$((SECONDS + DEADLINE))
while [ "$SECONDS" -lt "$end" ]; do
    if stats=$(q qom-get '{"path":"/machine/peripheral/balloon0","property":"guest-stats"}' 2>/dev/null); then
        total=$(meminfo_kib MemTotal)
        stat_total=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["stats"]["stat-total-memory"])' "$stats" 2>/dev/null)
        [ "${stat_total:-0}" = $((${total:-0} * 1024)) ] && break
    fi
    sleep 0.2
done
echo "# guest-stats: $stats"
check "guest-stats: stat-total-memory ($stat_total) is the guest's MemTotal ($total KiB)" \
    test "${stat_total:-0}" = $((total * 1024))
stat_free=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["stats"]["stat-free-memory"])' "$stats" 2>/dev/null)
check "guest-stats: stat-free-memory ($stat_free) lies between 1 MiB and MemTotal" \
    test "${stat_free:-0}" -gt "$MiB" -a "${stat_free:-0}" -lt $((total * 1024))
guest_poweroff 120 >/dev/null

# ---- 2. free page reporting ----
boot 384 "free-page-reporting=on"
rss_a=$(rss_kib)
check "the guest fills 160 MiB" test "$(fill 160)" = "$((160 * MiB))"
rss_b=$(rss_kib)
echo "# RSS after boot $((rss_a / 1024)) MiB, after the fill $((rss_b / 1024)) MiB"
guest_run 'rm /tmp/fill' >/dev/null
if t=$(wait_rss below $((rss_b - 100 * 1024))); then
    ok "free page reporting: what the guest freed leaves vessel's RSS ($((rss_b / 1024)) -> $(($(rss_kib) / 1024)) MiB in $t s)"
else
    nok "free page reporting: RSS $((rss_b / 1024)) -> $(($(rss_kib) / 1024)) MiB, want 100 MiB less within $DEADLINE s"
fi
check "free page reporting: the balloon itself stayed empty" test "$(q query-balloon)" = "{\"actual\":$((384 * MiB))}"
guest_poweroff 120 >/dev/null

# ---- 3. deflate on OOM ----
boot 256 "deflate-on-oom=on"
out=$(python3 "$SRC/tests/qmp-balloon.py" "$sock" $((64 * MiB)) "$DEADLINE"); rc=$?
echo "# balloon 64 MiB: $out"
check "balloon 64M: reached" test $rc -eq 0
echo "# guest MemFree with the balloon at 64 MiB: $(meminfo_kib MemFree) KiB"
# 120 MiB into tmpfs: more than the guest has left; no swap
n=$(fill 120)
check "deflate-on-oom: the guest wrote 120 MiB under pressure ($n bytes)" test "$n" = "$((120 * MiB))"
kills=$(guest_run 'dmesg | grep -c "Out of memory: Killed"' | tail -1)
check "deflate-on-oom: no process was OOM-killed ($kills)" test "$kills" = 0
actual=$(q query-balloon | grep -oE '[0-9]+')
check "deflate-on-oom: the balloon gave memory back (actual $((actual / MiB)) MiB, want >= 100)" \
    test "$actual" -ge $((100 * MiB))
check "the shell still answers" test "$(guest_run 'echo alive')" = alive
guest_poweroff 120 >/dev/null
