#!/bin/bash
# The nested tier's Linux guests (kvm-linux: Debian's cloud kernel;
# kvm-guest-linux: vessel's default x86-64 guest) in an L1 of their own:
# see kvm-nested.sh, which this runs with its own list and log
# (BUILD/test-logs/kvm-nested-linux-l1.log). Snapshot and restore of the
# default guest run in kvm-nested-snapshot.sh, a third L1, so that each
# script keeps well inside the runner's per-script time on a loaded host.
VESSEL_NESTED_TESTS=${VESSEL_NESTED_LINUX_TESTS:-kvm-linux kvm-guest-linux} \
VESSEL_NESTED_CPUS=${VESSEL_NESTED_CPUS:-2} VESSEL_NESTED_LOG=kvm-nested-linux-l1.log exec bash "$SRC/tests/integration/kvm-nested.sh"
