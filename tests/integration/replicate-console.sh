# The console's exactly-once failover on `vessel run` (docs/replication.md,
# "console output commit"), with the bare-metal counter guest
# (tests/guests/riscv-sbi/counter.S: "c N" (hex) on the UART, --serial file:).
# A primary replicates to a standby (`--standby`); the primary's console
# has only what acknowledged epochs printed, a standby taking over writes
# the last applied epoch's bytes unless RELEASED came for it.
# - rv-repl-console-window before-release: VESSEL_TEST_REPL_KILL makes the
#   primary SIGKILL itself after the standby acknowledged the first epoch
#   >= 8 with console bytes, before writing them: the standby must write
#   them, the two consoles end to end count 1, 2, ... once each.
# - rv-repl-console-window after-write: the primary dies after writing
#   them, before RELEASED (the window the doc states): the standby's first
#   N bytes are exactly the primary's last N, nothing else repeats or is lost.
# - rv-repl-console-kill: a plain SIGKILL of the primary at a random
#   moment, REPL_CONSOLE_KILLS times (default 3): once each, none lost.
# - rv-repl-console: no sanitizer report in any vessel's stderr (build-asan).
. "$SRC/tests/lib.sh"
have riscv64-linux-gnu-gcc || { echo "riscv64-linux-gnu-gcc missing" >&2; exit 77; }
KILLS=${REPL_CONSOLE_KILLS:-3}
TMO=$(slow 5000)        # a starved host must not look like a dead primary (a killed one is seen at once)
d=$(mktemp -d "${TMPDIR:-/tmp}/vessel-rvcon.XXXXXX")
pids=()
cleanup() { local p; for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; wait 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$d"; }
trap cleanup EXIT
waitfor() {     # waitfor SECS CMD...: poll CMD until it succeeds
    local end=$(( $(date +%s) + $1 )); shift
    while ! "$@"; do [ "$(date +%s)" -ge "$end" ] && return 1; sleep 0.05; done
}
riscv64-linux-gnu-gcc -nostdlib -static -Wl,--build-id=none -T "$SRC/tests/guests/riscv-sbi/tohost.ld" \
    -Wl,--no-warn-rwx-segments -DDELAY=${REPL_CONSOLE_DELAY:-100000} -o "$d/counter.elf" \
    "$SRC/tests/guests/riscv-sbi/counter.S" || { nok "rv-repl-console: build counter.S"; exit 0; }
ticks() { tr -d '\r' 2>/dev/null <"$1" | grep -cE '^c [0-9a-f]{8}$'; }
ticks_past() { [ "$(ticks "$1")" -ge "$2" ]; }
# once: stdin is "c 1", "c 2", ... each once, whole lines (a last line cut by a kill has no newline: read skips it)
once() { tr -d '\r' | { local m=0 l; while IFS= read -r l; do
    [[ $l =~ ^c\ ([0-9a-f]{8})$ ]] || { echo "line '$l' after c $m"; break; }
    [ $((16#${BASH_REMATCH[1]})) -eq $((m + 1)) ] || { echo "c $((16#${BASH_REMATCH[1]})) after c $m"; break; }
    m=$((m + 1)); done; }; }
# pair S [ENV...]: a standby on S.sock and a primary replicating to it (ENV
# for the primary's vessel); pids in tb, ta; 1 with perr set if the standby does not listen
pair() {
    local s=$1; shift
    "$VESSEL" run --kernel "$d/counter.elf" -m 32M --serial "file:$s.b.out" --standby "unix:$s.sock,timeout=$TMO" \
        </dev/null >/dev/null 2>"$s.b.err" &
    tb=$!; pids+=("$tb")
    waitfor "$(slow 3)" test -S "$s.sock" || { perr="the standby does not listen ($(tail -2 "$s.b.err" | tr '\n' ' '))"; return 1; }
    env "$@" "$VESSEL" run --kernel "$d/counter.elf" -m 32M --serial "file:$s.a.out" --replicate "unix:$s.sock" \
        </dev/null >/dev/null 2>"$s.a.err" &
    ta=$!; pids+=("$ta")
}
taken_over() {  # S: the standby took over and ticks on
    waitfor "$(slow 10)" grep -aq 'replication: failover' "$1.b.err" && waitfor "$(slow 6)" ticks_past "$1.b.out" 5
}
conbytes() { grep -ao 'console: [0-9]* bytes' "$1.b.err" | grep -o '[0-9]*'; }

window() {
    local where=$1 s=$d/w-$1 rc n bad
    pair "$s" "VESSEL_TEST_REPL_KILL=$where:8" || { nok "rv-repl-console-window: $where: $perr"; return; }
    if ! taken_over "$s" 2>/dev/null; then     # (the primary killing itself is reaped in there: no "Killed" line)
        nok "rv-repl-console-window: $where: the primary kills itself and the standby takes over ($(tail -2 "$s.a.err" | tr '\n' ' '); $(tail -2 "$s.b.err" | tr '\n' ' '))"
        kill -9 "$ta" "$tb" 2>/dev/null; return
    fi
    wait "$ta" 2>/dev/null; rc=$?
    kill "$tb"; wait "$tb" 2>/dev/null
    n=$(conbytes "$s")
    bad=$(repl_window_bad "$where" "$s" "${n:-0}")
    check "rv-repl-console-window: $where: $(grep -ao 'killed [a-z]* writing epoch [0-9]*.s [0-9]* console bytes' "$s.a.err") (exit $rc); the standby: $(grep -ao 'goes on from epoch [0-9]*' "$s.b.err"), console: $n bytes written there; the consoles end to end count 1..$(ticks "$s.all")$([ "$where" = after-write ] && echo " once each once the $n bytes written twice are taken out" || echo " once each")${bad:+: $bad}" \
        eval '[ "$rc" = 137 ] && [ "${n:-0}" -gt 0 ] && [ -z "$bad" ]'
}
window before-release
window after-write

kill_once() {
    local k=$1 s=$d/k$1 n bad
    pair "$s" || { nok "rv-repl-console-kill $k: $perr"; return; }
    if ! waitfor "$(slow 6)" ticks_past "$s.a.out" 5; then
        nok "rv-repl-console-kill $k: the primary ticks while replicating ($(ticks "$s.a.out") ticks; $(tail -2 "$s.a.err" | tr '\n' ' '))"; kill -9 "$ta" "$tb" 2>/dev/null; return
    fi
    sleep "0.$(( RANDOM % 500 + 100 ))"       # a random moment: in an epoch's cut, its sending or between
    kill -9 "$ta"; wait "$ta" 2>/dev/null
    n=$(ticks "$s.a.out")
    if ! taken_over "$s"; then
        nok "rv-repl-console-kill $k: the standby takes over and ticks on ($(tail -2 "$s.b.err" | tr '\n' ' '); $(ticks "$s.b.out") ticks)"; return
    fi
    kill "$tb"; wait "$tb" 2>/dev/null
    bad=$(cat "$s.a.out" "$s.b.out" | once)
    check "rv-repl-console-kill $k: SIGKILL of the primary after $n ticks let out: the standby goes on ($(grep -ao 'goes on from epoch [0-9]*' "$s.b.err"), $(conbytes "$s") console bytes written there) and the two consoles end to end count 1..$(( $(ticks "$s.a.out") + $(ticks "$s.b.out") )) once each${bad:+: $bad}" \
        test -z "$bad"
}
for ((k = 1; k <= KILLS; k++)); do kill_once "$k"; done
# under ASan+UBSan (build-asan) a report lands in a vessel's stderr, not in the consoles
rep=$(grep -l -e 'Sanitizer' -e 'runtime error' "$d"/*.err 2>/dev/null | xargs -r -n1 basename | tr '\n' ' ')
check "rv-repl-console: no sanitizer report in the primaries' and standbys' stderr${rep:+: $rep}" test -z "$rep"
