#!/bin/bash
# test-timeout: 1720
# The nested tier's live migration of vessel's default x86-64 guest between
# vessel kvm processes (kvm-migrate.sh) in an L1 of its own: see
# kvm-nested.sh (log: BUILD/test-logs/kvm-nested-migrate-l1.log).
# L1's KVM uses shadow paging (kvm_amd npt=0, VESSEL_NESTED_KVM_AMD), as
# for kvm-nested-replicate.sh: with nested paging, TCG's emulated SVM lost
# guests under dirty logging, QEMU's as well as vessel's (docs/kvm.md).
VESSEL_NESTED_KVM_AMD=${VESSEL_NESTED_KVM_AMD-npt=0} \
VESSEL_NESTED_RETRY=${VESSEL_NESTED_RETRY:-1} VESSEL_NESTED_TOTAL=${VESSEL_NESTED_TOTAL:-1700} VESSEL_NESTED_TESTS=${VESSEL_NESTED_MIGRATE_TESTS:-kvm-migrate} \
VESSEL_NESTED_CPUS=${VESSEL_NESTED_CPUS:-2} VESSEL_NESTED_LOG=kvm-nested-migrate-l1.log exec bash "$SRC/tests/integration/kvm-nested.sh"
