# vessel exec: riscv64 Linux programs compared with qemu-riscv64 (stdout and
# exit status), and bad inputs that must fail with one clear line.
. "$SRC/tests/lib.sh"
G=$SRC/tests/guests/user
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# build NAME FLAGS...: cross-compile tests/guests/user/NAME.c, cached by hash
build() {
    local name=$1; shift
    local key out
    key=$( (cat "$G/$name.c"; echo "$*"; riscv64-linux-gnu-gcc --version | head -1) | sha256sum | cut -c1-16)
    out=$VESSEL_CACHE/user-guests/$name-$key
    if [ ! -x "$out" ]; then
        mkdir -p "$VESSEL_CACHE/user-guests"
        riscv64-linux-gnu-gcc -O2 "$@" -o "$out.tmp" "$G/$name.c" -lpthread 2>"$T/cc.log" || { cat "$T/cc.log" >&2; return 1; }
        mv "$out.tmp" "$out"
    fi
    echo "$out"
}

# bad inputs: these need no cross compiler
printf 'not an elf\n' > "$T/text"
head -c 40 /bin/true > "$T/trunc"
expect_fail "missing program" "exec: $T/missing: No such file or directory" "$VESSEL" exec "$T/missing"
expect_fail "non-ELF file" "is not an ELF file" "$VESSEL" exec "$T/text"
expect_fail "x86-64 ELF named as such" "/bin/true: is an x86-64 ELF, not riscv64" "$VESSEL" exec /bin/true
expect_fail "truncated ELF" "trunc: is truncated" "$VESSEL" exec "$T/trunc"
expect_fail "directory" "is a directory" "$VESSEL" exec /tmp
expect_fail "no program" "no program given" "$VESSEL" exec
expect_fail "unknown option" "unknown option '--frob'" "$VESSEL" exec --frob x
expect_fail "bad -s" "-s 'lots'" "$VESSEL" exec -s lots /bin/true
expect_fail "bad -E" "-E 'NOEQUALS'" "$VESSEL" exec -E NOEQUALS /bin/true
expect_fail "bad -L" "-L $T/nodir: not a directory" "$VESSEL" exec -L "$T/nodir" /bin/true
check "exec --help lists the options" bash -c '"$VESSEL" exec --help | grep -q -- "-L SYSROOT" && "$VESSEL" exec --help | grep -q -- "--strace"'

if ! have riscv64-linux-gnu-gcc; then
    skip "guest programs" "riscv64-linux-gnu-gcc not installed"
    exit 0
fi
hello=$(build hello -static) || { nok "cross-compile hello"; exit 0; }

# hostile ELFs made from a real one
python3 - "$hello" "$T" <<'PY'
import struct, sys
src, d = sys.argv[1], sys.argv[2]
b = bytearray(open(src, 'rb').read())
phoff = struct.unpack_from('<Q', b, 32)[0]
def save(name, data): open(f'{d}/{name}', 'wb').write(data)
x = bytearray(b); struct.pack_into('<H', x, 56, 60000); save('phnum', x)          # e_phnum huge
x = bytearray(b); struct.pack_into('<Q', x, 32, 1 << 62); save('phoff', x)        # phoff past EOF
x = bytearray(b)                                                                 # first PT_LOAD: memsz huge
for i in range(struct.unpack_from('<H', b, 56)[0]):
    o = phoff + 56 * i
    if struct.unpack_from('<I', x, o)[0] == 1:
        struct.pack_into('<Q', x, o + 40, (1 << 64) - 4096); break
save('memsz', x)
x = bytearray(b)
for i in range(struct.unpack_from('<H', b, 56)[0]):
    o = phoff + 56 * i
    if struct.unpack_from('<I', x, o)[0] == 1:
        struct.pack_into('<Q', x, o + 16, 1 << 45); break                        # vaddr outside
save('vaddr', x)
x = bytearray(b)                        # a PT_LOAD of no memory but 64 file bytes, far outside
for i in range(struct.unpack_from('<H', b, 56)[0]):
    o = phoff + 56 * i
    if struct.unpack_from('<I', x, o)[0] != 1:
        struct.pack_into('<IIQQQQQQ', x, o, 1, 4, 0, 1 << 45, 0, 64, 0, 0); break
save('emptyload', x)
save('cut', b[:len(b) // 2])
PY
expect_fail "ELF with a huge phnum" "phnum: .*program header" "$VESSEL" exec "$T/phnum"
expect_fail "ELF with phoff past EOF" "phoff: is truncated" "$VESSEL" exec "$T/phoff"
expect_fail "ELF with an overflowing memsz" "memsz: has segment" "$VESSEL" exec "$T/memsz"
expect_fail "ELF with a segment outside the address space" "vaddr: has segment .* outside" "$VESSEL" exec "$T/vaddr"
# the loader copied file bytes of a memsz-0 segment (skipped by the checks)
# to the host address guest space + p_vaddr: a write outside the guest space
expect_fail "ELF with a memory-less PT_LOAD that has file bytes" "emptyload: has segment .* file size > memory size" "$VESSEL" exec "$T/emptyload"
expect_fail "ELF cut in half" "cut: is truncated" "$VESSEL" exec "$T/cut"

if ! have qemu-riscv64; then
    skip "guest programs against qemu-riscv64" "qemu-riscv64 not installed"
    exit 0
fi

# same NAME -- ARGS: stdout and status of vessel exec and qemu-riscv64 agree
same() {
    local name=$1 bin=$2; shift 3
    local qo vo qs vs
    qo=$(cd "$T" && qemu-riscv64 "$bin" "$@" 2>"$T/q.err"); qs=$?
    vo=$(cd "$T" && "$VESSEL" exec "$bin" "$@" 2>"$T/v.err"); vs=$?
    if [ "$qo" == "$vo" ] && [ $qs -eq $vs ]; then
        ok "$name: same output and status ($vs) as qemu-riscv64"
    else
        nok "$name: qemu status $qs, vessel $vs; diff: $(diff <(echo "$qo") <(echo "$vo") | head -8 | tr '\n' '|') stderr: $(head -c 300 "$T/v.err")"
    fi
}

same "static hello" "$hello" --
args=$(build args -static)
same "args and exit status" "$args" -- one "two words" ""
check "-E, -U and -0" bash -c '"$VESSEL" exec -E VESSEL_TEST_VAR=yes -U GONE -0 zero '"$args"' a 2>&1 | tr "\n" " " | grep -q "argv\[0\]=zero argv\[1\]=a VESSEL_TEST_VAR=yes GONE=(unset)"'
fileio=$(build fileio -static)
mkdir -p "$T/q" "$T/v"
qo=$(qemu-riscv64 "$fileio" "$T/q" 2>&1); qs=$?
vo=$("$VESSEL" exec "$fileio" "$T/v" 2>&1); vs=$?
if [ "$qo" == "$vo" ] && [ $qs -eq $vs ]; then ok "file I/O same as qemu-riscv64"; else nok "file I/O: $(diff <(echo "$qo") <(echo "$vo") | head -10 | tr '\n' '|')"; fi
# calls real programs make (xz's posix_fadvise printed a warning) that
# exec once answered with ENOSYS
sm=$(build sysmisc -static)
mkdir -p "$T/sm"
same "fadvise64, readahead, sync_file_range, syncfs, timerfd, inotify, sched_*; / is the host's" "$sm" -- "$T/sm"
check "those calls: no unsupported-syscall warning ($(head -c 200 "$T/v.err"))" bash -c '! grep -q "unsupported syscall" "$1"' _ "$T/v.err"
mm=$(build mmap -static)
same "mmap/mremap/mprotect/brk" "$mm" --
mm2=$(build manymaps -static)
same "20000 small mmaps with holes" "$mm2" --
th=$(build threads -static)
iters=100000; [ -n "${VESSEL_ASAN:-}" ] && iters=2000
same "threads: atomics and mutex contention" "$th" -- $iters
churn=$(build thread_churn -static)
same "threads: 400 created and joined" "$churn" --
sg=$(build signals -static)
same "fault handlers, sigreturn, altstack" "$sg" --
# faults in translated code (direct access to the guest space), code
# rewritten by stores beside it and by read()
jm=$(build jitmem -static)
same "faults from translated loads/stores, code rewritten by stores and read()" "$jm" --
jd=$("$VESSEL" exec "$jm" 2>&1); jt=$(VESSEL_JIT_DIRECT=0 "$VESSEL" exec "$jm" 2>&1)
if [ "$jd" == "$jt" ] && grep -q "^read 8 bytes over the code: sum 77700" <<<"$jd"; then
    ok "jitmem: the TLB path (VESSEL_JIT_DIRECT=0) gives the same output"
else
    nok "jitmem: direct and TLB paths differ: $(diff <(echo "$jd") <(echo "$jt") | head -6 | tr '\n' '|')"
fi
nw=$("$VESSEL" exec "$jm" wild | grep -c 'wild.*sig=11 code=1 addr=access+0$')
if [ "$nw" -eq 18 ]; then
    ok "jitmem: accesses outside the address space fault with si_addr = the address (18 of 18)"
else
    nok "jitmem: $nw of 18 wild accesses reported si_addr = the address"
fi
"$VESSEL" exec "$sg" uncaught >/dev/null 2>"$T/err"; vs=$?
qemu-riscv64 "$sg" uncaught >/dev/null 2>/dev/null; qs=$?
if [ $vs -eq $qs ] && [ $vs -eq 139 ] && grep -q "vessel: uncaught target signal 11 (Segmentation fault)" "$T/err"; then
    ok "uncaught SIGSEGV: status 139 and the qemu-style line"
else
    nok "uncaught SIGSEGV: vessel $vs qemu $qs: $(cat "$T/err")"
fi
so=$(build sockets -static)
same "sockets: sendmsg/recvmsg with SCM_RIGHTS, TCP loopback, poll, epoll" "$so" --
rs=$(build restart -static)
same "blocking read: SA_RESTART restarts, otherwise EINTR" "$rs" --
sw=$(build sigwait -static)
same "sigwaitinfo and sigtimedwait" "$sw" --
ra=$(build raise -static)
for s in 15 6; do
    "$VESSEL" exec "$ra" $s 2>"$T/err"; vs=$?
    qemu-riscv64 "$ra" $s 2>/dev/null; qs=$?
    if [ $vs -eq $qs ] && [ $vs -eq $((128 + s)) ]; then
        ok "raise($s) with the default action: status $vs as qemu-riscv64"
    else
        nok "raise($s): vessel $vs qemu $qs: $(cat "$T/err")"
    fi
done 2>/dev/null
ex=$(build execer -static)
out=$("$VESSEL" exec "$ex" "$args" 2>&1); vs=$?
if grep -q "argv\[0\]=child-argv0" <<<"$out" && grep -q "argv\[3\]=z" <<<"$out" && \
   grep -q "child exited=1 status=42" <<<"$out" && grep -q "argv\[0\]=second" <<<"$out" && [ $vs -eq 7 ]; then
    ok "fork + execve of another riscv64 program"
else
    nok "execve: status $vs: $(head -c 400 <<<"$out")"
fi
check "--strace prints write(...) = N" bash -c '"$VESSEL" exec --strace '"$hello"' 2>&1 >/dev/null | grep -qE "^[0-9]+ write\(1,.*\) = 19$"'
if [ -e /usr/riscv64-linux-gnu/lib/ld-linux-riscv64-lp64d.so.1 ]; then
    dyn=$(build hello)
    qo=$(qemu-riscv64 -L /usr/riscv64-linux-gnu "$dyn"); qs=$?
    vo=$("$VESSEL" exec -L /usr/riscv64-linux-gnu "$dyn" 2>&1); vs=$?
    if [ "$qo" == "$vo" ] && [ $qs -eq $vs ]; then ok "dynamic hello with -L"; else nok "dynamic hello: $vo"; fi
    expect_fail "VESSEL_LD_PREFIX is the default sysroot" "needs the dynamic loader" env VESSEL_LD_PREFIX="$T" "$VESSEL" exec "$dyn"
    expect_fail "dynamic program with a sysroot lacking ld.so" "needs the dynamic loader /lib/ld-linux-riscv64-lp64d.so.1" "$VESSEL" exec -L "$T" "$dyn"
else
    skip "dynamic hello with -L" "no /usr/riscv64-linux-gnu sysroot"
fi
