#!/bin/bash
# The nested tier's snapshot and restore of vessel's default x86-64 guest
# (kvm-snapshot.sh) in an L1 of its own: see kvm-nested.sh
# (log: BUILD/test-logs/kvm-nested-snapshot-l1.log).
VESSEL_NESTED_TESTS=${VESSEL_NESTED_SNAPSHOT_TESTS:-kvm-snapshot} \
VESSEL_NESTED_CPUS=${VESSEL_NESTED_CPUS:-2} VESSEL_NESTED_LOG=kvm-nested-snapshot-l1.log exec bash "$SRC/tests/integration/kvm-nested.sh"
