# The top-level command line: help, version, unknown commands.
. "$SRC/tests/lib.sh"
check "vessel --help exits 0" "$VESSEL" --help
check "--help lists every command" bash -c '"$VESSEL" --help | grep -q exec && "$VESSEL" --help | grep -q ctr && "$VESSEL" --help | grep -q kvm'
check "vessel --version" bash -c '"$VESSEL" --version | grep -qE "^vessel [0-9]+\.[0-9]+"'
expect_fail "unknown command gives one clear line" "unknown command 'frobnicate'" "$VESSEL" frobnicate
expect_fail "no command prints usage" "Usage" "$VESSEL"
