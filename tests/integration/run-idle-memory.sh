# An idle riscv64 guest gives its translation caches back (emu/riscv/
# cache.c, rv_hart_trim): after the default guest's boot (which decodes
# and translates about 20 MiB of code) and once it idles at its prompt
# (a second busy under a tenth of the time), its hart runs small: the
# decoded-block arena and the translated code hold at most 256 KiB
# together (/proc/PID/smaps; the small arena is 128 KiB, no huge page);
# and the guest runs correctly on code decoded again after the trim and
# in the small arena: a checksum computed before the trim and after it
# agree, and the shell answers.
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
sum2=$(guest_run 'md5sum /bin/busybox' 60)
check "the same checksum on code decoded again after the trim" test "$sum1" = "$sum2"
out=$(guest_run 'echo $((6 * 7))')
check "the shell answers after the trim (got '$out')" test "$out" = 42
