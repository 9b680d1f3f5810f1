# vessel exec: the user-mode run loop end to end on a freestanding RV64
# program (tests/guests/user/rv64i_run.c, raw syscalls, no libc): ELF load
# (ET_EXEC and static-pie), the initial stack, a fault delivered to a guest
# handler and rt_sigreturn, a clone()d thread joined through
# CLONE_CHILD_CLEARTID + futex, fork + wait4 + execve of a host program, a
# host signal delivered during rt_sigsuspend, an uncaught fault, --strace.
# Each case checks the exact output and status, and the same as
# qemu-riscv64 where that is installed.
. "$SRC/tests/lib.sh"
have riscv64-linux-gnu-gcc || { echo "riscv64-linux-gnu-gcc not installed" >&2; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
src=$SRC/tests/guests/user/rv64i_run.c
flags="-march=rv64ia -mabi=lp64 -nostdlib -O1 -fno-stack-protector"
# shellcheck disable=SC2086
riscv64-linux-gnu-gcc $flags -static -o "$T/run" "$src" || { nok "cross-compile rv64i_run (ET_EXEC)"; exit 1; }
# shellcheck disable=SC2086
riscv64-linux-gnu-gcc $flags -static-pie -fPIE -Wl,--no-dynamic-linker -o "$T/run-pie" "$src" ||
    { nok "cross-compile rv64i_run (static-pie)"; exit 1; }

# expect NAME STATUS OUTPUT BIN ARGS...: stdout and exit status of vessel
# exec, and of qemu-riscv64 when installed
expect() {
    local name=$1 want_st=$2 want=$3 bin=$4; shift 4
    local out st
    out=$(cd "$T" && "$VESSEL" exec "$bin" "$@" 2>"$T/err"); st=$?
    if [ "$out" == "$want" ] && [ $st -eq "$want_st" ]; then
        ok "$name: status $st and the expected output"
    else
        nok "$name: status $st (want $want_st), output '$(tr '\n' '|' <<<"$out")', stderr: $(head -c 300 "$T/err")"
    fi
    if have qemu-riscv64; then
        out=$(cd "$T" && qemu-riscv64 "$bin" "$@" 2>/dev/null); st=$?
        if [ "$out" == "$want" ] && [ $st -eq "$want_st" ]; then
            ok "$name: qemu-riscv64 agrees"
        else
            nok "$name: qemu-riscv64 gives status $st, output '$(tr '\n' '|' <<<"$out")'"
        fi
    fi
}

hello_out=$'hello\nhandler si_addr ok\nresumed\nthread\njoined'
expect "fault handler, sigreturn, clone + futex join" 5 "$hello_out" "$T/run" hello
expect "static-pie: the same" 5 "$hello_out" "$T/run-pie" hello
expect "fork, wait4, execve of a host program" 0 $'fork\nchild\nwaited 3\nfrom host' "$T/run" fork

# an uncaught SIGSEGV: the qemu-style line, then death by the same signal
out=$("$VESSEL" exec "$T/run" die 2>"$T/err"); st=$?
if [ $st -eq 139 ] && [ "$out" == "die" ] &&
   grep -q "^vessel: uncaught target signal 11 (Segmentation fault) - core dumped$" "$T/err"; then
    ok "uncaught fault: status 139 and the qemu-style line"
else
    nok "uncaught fault: status $st, output '$out', stderr: $(head -c 300 "$T/err")"
fi

# a host SIGUSR1 once the program has said "ready" (it then waits in
# rt_sigsuspend, or is about to: both must work)
"$VESSEL" exec "$T/run" wait >"$T/wait.out" 2>"$T/wait.err" &
pid=$!
for _ in $(seq 1 1000); do
    grep -q ready "$T/wait.out" 2>/dev/null && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.01
done
kill -USR1 $pid 2>/dev/null
wait $pid; st=$?
if [ $st -eq 6 ] && [ "$(cat "$T/wait.out")" == $'wait\nready\nusr1' ]; then
    ok "host signal delivered to the guest handler during rt_sigsuspend"
else
    nok "host signal: status $st, output '$(tr '\n' '|' <"$T/wait.out")', stderr: $(head -c 300 "$T/wait.err")"
fi

# --strace: the write of "hi", the sigaction, clone with its flags and a
# real stack, rt_sigreturn, exit_group
"$VESSEL" exec --strace "$T/run" hi >/dev/null 2>"$T/strace"; st=$?
missing=""
for pat in ' write\(1,0x[0-9a-f]+,2\) = 2$' ' rt_sigaction\(11,0x[0-9a-f]+,NULL,8\) = 0$' \
           ' clone\(0x350f00,0x[0-9a-f]+,' ' rt_sigreturn\(\)$' ' exit_group\(5\)$'; do
    grep -qE -- "^[0-9]+$pat" "$T/strace" || missing="$missing [$pat]"
done
grep -q "clone(0x350f00,NULL" "$T/strace" && missing="$missing [clone with a NULL stack]"
if [ $st -eq 5 ] && [ -z "$missing" ]; then
    ok "--strace lines for write, rt_sigaction, clone, rt_sigreturn, exit_group"
else
    nok "--strace: status $st, missing$missing: $(head -c 600 "$T/strace" | tr '\n' '|' | tr -cd '[:print:]')"
fi
