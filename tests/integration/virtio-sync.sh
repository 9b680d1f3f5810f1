# "Nothing lost": the guest copies a pattern onto a disk and syncs; the test
# SIGKILLs the VMM as soon as the guest says the sync is done, then checks
# every byte on the host.
. "$(dirname "${BASH_SOURCE[0]}")/virtio-common.inc"
mb=16; [ -n "${VESSEL_ASAN:-}" ] && mb=4
src=$WORK/src.img dst=$WORK/dst.img
head -c ${mb}M /dev/urandom > "$src"
truncate -s ${mb}M "$dst"
vm_start --disk "$dst" --disk "$src,readonly"
vm_ready
guest_send "dd if=/dev/vdb of=/dev/vda bs=64k 2>/dev/null && sync && echo sync-\"\"done"
if guest_wait_for '^sync-done' 300; then
    kill -9 "$GUEST_PID"
    wait "$GUEST_PID" 2>/dev/null
    GUEST_PID=
    ok "guest wrote and synced ${mb} MiB"
    check "every byte is on the disk after SIGKILL" cmp -s "$src" "$dst"
else
    nok "guest wrote and synced ${mb} MiB"
fi
