#!/usr/bin/env bash
# vessel test runner. Runs every cmocka unit test and every integration
# script, reads their TAP output, and ends with "N passed, N failed, N skipped".
#
#   tests/run.sh BUILD_DIR [FILTER]
#
# Integration scripts (tests/integration/*.sh) print TAP lines:
#   ok - name            a pass
#   not ok - name        a failure
#   ok - name # SKIP why a skip (never counted as passed)
# A script that exits non-zero without reporting a failure counts as one failure;
# exit 77 with no output means the whole script is skipped (reason on stderr).
# Environment given to scripts: VESSEL (the binary), BUILD, SRC, VESSEL_CACHE.
set -u
build=$(cd "${1:-build}" && pwd)
filter=${2:-}
src=$(cd "$(dirname "$0")/.." && pwd)
logdir=$build/test-logs
mkdir -p "$logdir"
export VESSEL=$build/vessel BUILD=$build SRC=$src
export VESSEL_CACHE=${VESSEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vessel}
export CMOCKA_MESSAGE_OUTPUT=TAP
timeout_s=${TEST_TIMEOUT:-900}

# A version manager's python3 (pyenv's shim) is a shell script that runs on
# every call: 0.1 s on a quiet host, 4 s on one at load 60 (measured), and the
# container tests call python3 hundreds of times. Resolve the interpreter
# once and put it first on PATH for every script.
if py=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) && [ -x "$py" ]; then
    mkdir -p "$build/test-bin" && ln -sfn "$py" "$build/test-bin/python3" &&
        export PATH=$build/test-bin:$PATH
fi

pass=0 fail=0 skip=0
failed_names=()

# Parse TAP on stdin, print a line per result, update the counters.
tally() {
    local name=$1 log=$2 rc=$3 nf_before=$fail
    local line
    while IFS= read -r line; do
        case "$line" in
            "not ok"*"# SKIP"*|"not ok"*"# skip"*)   # cmocka's skip()
                skip=$((skip + 1)); echo "SKIP $name: ${line#not ok }" ;;
            "not ok"*)
                if [[ $line == *"# TODO"* ]]; then continue; fi
                fail=$((fail + 1)); failed_names+=("$name: ${line#not ok }")
                echo "FAIL $name: ${line#not ok }" ;;
            "ok"*"# SKIP"*|"ok"*"# skip"*)
                skip=$((skip + 1)); echo "SKIP $name: ${line#ok }" ;;
            "ok"*)
                pass=$((pass + 1)) ;;
        esac
    done < <(grep -aE '^(not )?ok\b' "$log")
    if [ "$rc" -eq 77 ] && ! grep -aqE '^(not )?ok\b' "$log"; then
        skip=$((skip + 1))
        echo "SKIP $name: $(tail -n 1 "$log")"
    elif [ "$rc" -ne 0 ] && [ "$fail" -eq "$nf_before" ]; then
        fail=$((fail + 1)); failed_names+=("$name: exited $rc")
        echo "FAIL $name: exited with status $rc (log: $log)"
    fi
}

# A script may ask for more than TEST_TIMEOUT with a line
# "# test-timeout: SECONDS" in its first 40 lines (the nested tier's
# retried scripts: a second L1 of up to 840 s after the first).
script_timeout() {
    local t
    t=$(head -n 40 "$1" 2>/dev/null | sed -n 's/^# test-timeout: *\([0-9][0-9]*\).*/\1/p' | head -n 1)
    [ -n "$t" ] && [ "$t" -gt "$timeout_s" ] && echo "$t" || echo "$timeout_s"
}

run_one() {
    local name=$1; shift
    [ -n "$filter" ] && [[ $name != *$filter* ]] && return
    local log=$logdir/${name//\//_}.log
    local t0=$SECONDS tmo=$timeout_s
    [ "$1" = bash ] && tmo=$(script_timeout "$2")
    timeout --kill-after=10 "$tmo" "$@" > "$log" 2>&1 </dev/null
    local rc=$?
    [ $rc -eq 124 ] && echo "not ok - timed out after ${tmo}s" >> "$log"
    local p0=$pass f0=$fail s0=$skip
    tally "$name" "$log" "$rc"
    printf '%-40s %4d passed %3d failed %3d skipped  (%ds)\n' "$name" \
        $((pass - p0)) $((fail - f0)) $((skip - s0)) $((SECONDS - t0))
}

echo "== unit tests ($build)"
while IFS= read -r exe; do
    run_one "unit/$(basename "$(dirname "$exe")")/$(basename "$exe")" "$exe"
done < <(find "$build/tests/unit" -type f -name 'test_*' -perm -u+x 2>/dev/null | sort)

echo "== integration tests"
for t in "$src"/tests/integration/*.sh; do
    [ -e "$t" ] || continue
    run_one "integration/$(basename "$t" .sh)" bash "$t"
done

if [ ${#failed_names[@]} -gt 0 ]; then
    echo "== failures"
    printf '  %s\n' "${failed_names[@]}"
fi
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
