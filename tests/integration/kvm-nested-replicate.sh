#!/bin/bash
# test-timeout: 1720
# The nested tier's hot-spare replication test (kvm-replicate.sh: the
# default x86-64 Linux guest, SIGKILLs of the primary, failover to the
# standby) in an L1 of its own: see kvm-nested.sh (log:
# BUILD/test-logs/kvm-nested-replicate-l1.log). The kills stop at
# REPL_KILL_SECS (default 550 s after the script starts, VESSEL_SLOW=10, and
# at most L1's time limit less 240 s from then: kvm-replicate.sh) so that
# the last cycle and the end checks fit inside L1's 840 s. A failed run is
# repeated once in a new L1 of up to 840 s more when 300 s of the script's
# 1700 are left (VESSEL_NESTED_RETRY, VESSEL_NESTED_TOTAL, kvm-nested.sh;
# the "test-timeout" line above gives tests/run.sh's limit): a clean-clone
# run had the guest stall for good after its 12th failover, as guests do
# with dirty logging on in this tier, with QEMU as the VMM too
# (docs/kvm.md).
# L1's KVM runs its guests with shadow paging (kvm_amd npt=0,
# VESSEL_NESTED_KVM_AMD): with nested paging, TCG's emulated SVM lost
# guests under dirty logging, each traced loss right after nested page
# faults on pages write-protected for the log (three of four on the
# guest's own page-table walk); with shadow paging TCG walks no nested
# table (docs/kvm.md, "The nested tier").
VESSEL_NESTED_KVM_AMD=${VESSEL_NESTED_KVM_AMD-npt=0} \
VESSEL_NESTED_RETRY=${VESSEL_NESTED_RETRY:-1} VESSEL_NESTED_TOTAL=${VESSEL_NESTED_TOTAL:-1700} VESSEL_NESTED_TESTS=${VESSEL_NESTED_REPLICATE_TESTS:-kvm-replicate} \
VESSEL_NESTED_CPUS=${VESSEL_NESTED_CPUS:-2} VESSEL_NESTED_LOG=kvm-nested-replicate-l1.log exec bash "$SRC/tests/integration/kvm-nested.sh"
