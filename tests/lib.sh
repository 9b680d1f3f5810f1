# Shared helpers for integration scripts (source it). TAP output.
n_=0
ok()   { n_=$((n_ + 1)); echo "ok $n_ - $*"; }
nok()  { n_=$((n_ + 1)); echo "not ok $n_ - $*"; }
skip() { n_=$((n_ + 1)); echo "ok $n_ - $1 # SKIP ${2:-}"; }
# check NAME CMD...: pass when CMD exits 0
check() { local name=$1; shift; if "$@"; then ok "$name"; else nok "$name"; fi; }
# expect_fail NAME PATTERN CMD...: CMD must exit non-zero, print one line
# matching PATTERN on stderr, and not die of a signal (status > 128).
expect_fail() {
    local name=$1 pat=$2; shift 2
    local err rc
    err=$("$@" 2>&1 >/dev/null); rc=$?
    if [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -qE -- "$pat" <<<"$err"; then
        ok "$name"
    else
        nok "$name (status $rc, stderr: $(head -c 300 <<<"$err"))"
    fi
}
# have PROG: PROG is on PATH and executable (bash's command -v alone also
# returns a file it cannot run)
have() { local p; p=$(command -v "$1" 2>/dev/null) && [ -x "$p" ]; }

# Under ASan, clone() onto our own stack makes the sanitizer print a warning
# about the unknown stack (google/sanitizers#189); drop exactly those lines.
asan_filter() { grep -v -e '^==[0-9]*==WARNING: ASan is ignoring requested __asan_handle_no_return' \
    -e '^False positive error reports may follow' -e '^For details see https://github.com/google/sanitizers/issues/189'; }

# x86_guest NAME DEST: put the freestanding x86 test guest NAME
# (tests/guests/x86/NAME.asm; "idle" is hello.asm built with -DIDLE) at DEST:
# the copy meson assembled into $BUILD/tests/guests/x86, else nasm now.
# Fails when neither exists (x86_guests_missing says why).
x86_guest() {
    local name=$1 dest=$2 asm=$1 def=
    if [ -f "$BUILD/tests/guests/x86/$name.bz" ]; then cp "$BUILD/tests/guests/x86/$name.bz" "$dest"; return; fi
    [ "$name" = idle ] && asm=hello def=-DIDLE
    have nasm && (cd "$SRC/tests/guests/x86" && nasm -f bin $def -o "$dest" "$asm.asm")
}
# x86_guests_missing: prints why the x86 test guests cannot be had (empty: they can)
x86_guests_missing() {
    [ -f "$BUILD/tests/guests/x86/boot64.bz" ] || have nasm || echo "nasm not installed"
}
# slow SECS: a safety-net timeout of SECS scaled by VESSEL_SLOW (default 1;
# the nested tier, where every guest runs under two levels of virtualization
# on an emulated CPU, sets it). Tests wait for conditions; this only bounds a hang.
slow() { echo $(( $1 * ${VESSEL_SLOW:-1} )); }
# reap PID SECS [SIG]: wait for a child of this shell to end, at most SECS
# (scaled by slow), after sending it SIG if given; one still running then is
# SIGKILLed and reaped, the return is 124 (as timeout's) and a line says so.
# Else the child's own exit status. A bare `wait` on a process that did not
# end hangs the test until the runner's limit, saying nothing.
reap() {
    local pid=$1 end=$(( $(date +%s) + $(slow "$2") ))
    [ -z "${3:-}" ] || kill "-$3" "$pid" 2>/dev/null
    while kill -0 "$pid" 2>/dev/null &&
          [ "$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$pid/status" 2>/dev/null)" != Z ]; do
        [ "$(date +%s)" -ge "$end" ] && { echo "# reap: process $pid still ran after $(slow "$2") s: SIGKILLed"; kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; return 124; }
        sleep 0.05
    done
    wait "$pid" 2>/dev/null
}
# skip_from FIRST REASON NAME...: skip NAME... from FIRST on (the rest of a
# script's list when one of its steps cannot run here)
skip_from() { local first=$1 why=$2 n on=; shift 2; for n in "$@"; do [ "$n" = "$first" ] && on=1; [ -n "$on" ] && skip "$n" "$why"; done; }
# kvm_kind, kvm_soft_why: what backs /dev/kvm (tests/kvmkind.sh)
. "$SRC/tests/kvmkind.sh"

# repl_window_bad WHERE S N: the consoles S.a.out (the primary's) and
# S.b.out (the standby's) of a primary that killed itself at WHERE
# (VESSEL_TEST_REPL_KILL) joined end to end into S.all; for after-write
# the standby's first N bytes (written again) must be the primary's last N
# and are taken out. Prints what is wrong (the caller's `once` checks the
# count in S.all), nothing when all is right.
repl_window_bad() {
    local where=$1 s=$2 n=${3:-0} bad
    if [ "$where" = before-release ]; then
        cat "$s.a.out" "$s.b.out" >"$s.all"
    else
        { cat "$s.a.out"; tail -c +$((n + 1)) "$s.b.out"; } >"$s.all"
    fi
    bad=$(once <"$s.all")
    [ "$where" = before-release ] || [ "$(tail -c "$n" "$s.a.out" | od -An -tx1)" = "$(head -c "$n" "$s.b.out" | od -An -tx1)" ] ||
        bad="the standby's first $n bytes are not the primary's last $n${bad:+; $bad}"
    echo "$bad"
}

# repl_verify_result DIR: what VESSEL_TEST_REPL_VERIFY=DIR's checks said
# (DIR/verify.log, machine/replverify.h: a line per checked epoch) as
# "N checks, every 20th epoch; differing: M[: the first lines]"; status 0
# when there was at least one check and no page differed in any
repl_verify_result() {
    local n m first
    n=$(grep -c . "$1/verify.log" 2>/dev/null); m=$(grep -vc ': 0 of ' "$1/verify.log" 2>/dev/null)
    first=$(grep -v ': 0 of ' "$1/verify.log" 2>/dev/null | head -n 3 | tr '\n' '|')
    echo "${n:-0} checks, every 20th epoch; differing: ${m:-0}${first:+: $first}"
    [ "${n:-0}" -ge 1 ] && [ "${m:-0}" -eq 0 ]
}
