# Page sharing on vessel run: a kernel Image and an initrd nobody may write
# (chmod a-w) are mapped privately from their files, not copied, so two
# guests booted from them share the kernel's pages (smaps Shared_Clean);
# writable files are copied as before; guest RAM is offered to KSM
# (MADV_MERGEABLE: "mg" in smaps VmFlags) unless --mem-merge=off.
. "$SRC/tests/lib.sh"
. "$SRC/tests/guestlib.sh"
d=$(mktemp -d "${TMPDIR:-/tmp}/vessel-share.XXXXXX")
pids=()
cleanup() {
    guest_kill
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    chmod -R u+w "$d" 2>/dev/null; rm -rf "$d"
}
trap cleanup EXIT
GUEST_TIMEOUT=${GUEST_TIMEOUT:-180}

line=$(bash "$SRC/guest/build.sh" --print riscv64 2>/dev/null) || { echo "riscv64 guest not built (make guest)" >&2; exit 77; }
KERNEL= INITRD=
eval "$line"
mkdir -p "$d/ro" "$d/rw"
cp "$KERNEL" "$d/ro/Image"; cp "$INITRD" "$d/ro/initrd"
cp "$KERNEL" "$d/rw/Image"; cp "$INITRD" "$d/rw/initrd"
chmod a-w "$d/ro/Image" "$d/ro/initrd"

# start_paused NAME ARGS...: vessel run -S with a QMP socket, in the
# background; returns once the machine is built (its socket exists)
start_paused() {
    local name=$1; shift
    "$VESSEL" run -S --qmp "unix:$d/$name.sock,server,wait=off" --serial null "$@" </dev/null >"$d/$name.log" 2>&1 &
    pids+=($!)
    for ((i = 0; i < 600; i++)); do [ -S "$d/$name.sock" ] && return 0; kill -0 $! 2>/dev/null || break; sleep 0.05; done
    return 1
}
maps_has() { grep -q " $2\$" "/proc/$1/maps"; }
# "mg" in the VmFlags of a mapping of PID (guest RAM is the only memory
# vessel offers to KSM; the mapped Image and initrd split it in several)
ram_merge() { grep -qE '^VmFlags:.* mg( |$)' "/proc/$1/smaps"; }

start_paused ro --kernel "$d/ro/Image" --initrd "$d/ro/initrd" -m 128M || nok "vessel starts paused with read-only files"
p=${pids[-1]}
check "a read-only Image is mapped from its file" maps_has "$p" "$d/ro/Image"
check "a read-only initrd is mapped from its file" maps_has "$p" "$d/ro/initrd"
check "guest RAM is offered to KSM by default (VmFlags mg)" ram_merge "$p"
"$VESSEL" qmp "$d/ro.sock" quit >/dev/null

start_paused rw --kernel "$d/rw/Image" --initrd "$d/rw/initrd" -m 128M --mem-merge=off || nok "vessel starts paused with writable files"
p=${pids[-1]}
if maps_has "$p" "$d/rw/Image"; then nok "a writable Image is copied, not mapped"; else ok "a writable Image is copied, not mapped"; fi
if maps_has "$p" "$d/rw/initrd"; then nok "a writable initrd is copied, not mapped"; else ok "a writable initrd is copied, not mapped"; fi
if ram_merge "$p"; then nok "--mem-merge=off: guest RAM not offered to KSM"
else ok "--mem-merge=off: guest RAM not offered to KSM"; fi
"$VESSEL" qmp "$d/rw.sock" quit >/dev/null

# two guests from the same read-only files share the kernel's pages
guest_start "$VESSEL" run --kernel "$d/ro/Image" --initrd "$d/ro/initrd" -m 128M
if ! guest_wait_ready; then
    nok "a guest boots from the mapped Image and initrd"; guest_tail 30 | sed 's/^/# /'; exit 1
fi
ok "a guest boots from the mapped Image and initrd ($(guest_elapsed) s)"
"$VESSEL" run --kernel "$d/ro/Image" --initrd "$d/ro/initrd" -m 128M --serial "file:$d/b.console" </dev/null >"$d/b.log" 2>&1 &
pids+=($!)
for ((i = 0; i < 3600; i++)); do grep -q 'vessel-guest: ready' "$d/b.console" 2>/dev/null && break; sleep 0.05; done
check "a second guest boots from the same files" grep -q 'vessel-guest: ready' "$d/b.console"
# the file's pages mapped by both (Shared_*: clean, or dirty while the copy
# above is not written back yet); the guest's own writes are Anonymous
shared=$(awk -v f="$d/ro/Image" '/^[0-9a-f]+-[0-9a-f]+ / { in_ = ($NF == f) }
    in_ && ($1 == "Shared_Clean:" || $1 == "Shared_Dirty:") { s += $2 } END { print s + 0 }' "/proc/$GUEST_PID/smaps")
echo "# Image pages shared between the two guests: $shared kB"
check "the two guests share the kernel's pages ($shared kB, want >= 1024)" test "$shared" -ge 1024
check "the first guest still answers" test "$(guest_run 'echo alive')" = alive
