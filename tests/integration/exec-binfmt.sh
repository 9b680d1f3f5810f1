# vessel binfmt install/status/remove (needs root; restores what it changed).
. "$SRC/tests/lib.sh"
expect_fail "binfmt without an action" "Usage" "$VESSEL" binfmt
expect_fail "binfmt with a bad action" "unknown action 'frob'" "$VESSEL" binfmt frob
if [ "$(id -u)" != 0 ]; then
    skip "binfmt install/status/remove" "needs root"
    exit 0
fi
D=/proc/sys/fs/binfmt_misc
mounted_before=0; [ -e $D/register ] && mounted_before=1
if [ -e $D/vessel-riscv64 ]; then
    skip "binfmt install/status/remove" "a vessel-riscv64 entry is already registered (not touching it)"
    exit 0
fi
bindir=$(dirname "$(readlink -f "$VESSEL")")
link_before=0; [ -L "$bindir/vessel-riscv64" ] && link_before=1
cleanup() {
    [ -e $D/vessel-riscv64 ] && echo -1 > $D/vessel-riscv64
    [ $link_before = 0 ] && rm -f "$bindir/vessel-riscv64"
    [ $mounted_before = 0 ] && umount $D 2>/dev/null
}
trap cleanup EXIT
if ! out=$("$VESSEL" binfmt install 2>&1); then
    if grep -qE "mounting it failed|Permission denied|Operation not permitted|Read-only" <<<"$out"; then
        skip "binfmt install/status/remove" "not permitted here: $out"
        exit 0
    fi
    nok "binfmt install: $out"
    exit 0
fi
ok "binfmt install"
check "the entry matches EM_RISCV ELF64 with flag F" bash -c \
    "grep -q 'magic 7f454c460201010000000000000000000200f300' $D/vessel-riscv64 && grep -q 'flags: F' $D/vessel-riscv64 && grep -q 'interpreter $bindir/vessel-riscv64' $D/vessel-riscv64"
check "binfmt status says registered" bash -c '"$VESSEL" binfmt status | grep -q "vessel-riscv64 is registered"'
check "vessel-riscv64 symlink points at vessel" test "$(readlink -f "$bindir/vessel-riscv64")" = "$(readlink -f "$VESSEL")"
hello=$(ls "$VESSEL_CACHE"/user-guests/hello-* 2>/dev/null | head -1)
if [ -n "$hello" ] && "$VESSEL" exec "$hello" >/dev/null 2>&1; then
    check "a riscv64 program runs directly" bash -c "'$hello' | grep -q 'hello from riscv64'"
else
    skip "a riscv64 program runs directly" "no runnable hello (exec-basic builds it; needs the CPU core)"
fi
check "binfmt remove" bash -c '"$VESSEL" binfmt remove >/dev/null'
check "status after remove says not registered" bash -c '! "$VESSEL" binfmt status >/dev/null && "$VESSEL" binfmt status | grep -q "not registered"'
