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
