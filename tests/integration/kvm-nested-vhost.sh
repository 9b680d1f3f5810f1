#!/bin/bash
# vhost-net (kvm-vhost.sh: --net tap,vhost=on with vessel's default x86-64
# guest and the vhost-hostile test guest) in an L1 of its own, which loads
# vhost_net, vhost, vhost_iotlb, tap and tun besides KVM: see kvm-nested.sh
# (log: BUILD/test-logs/kvm-nested-vhost-l1.log).
VESSEL_NESTED_TESTS=${VESSEL_NESTED_VHOST_TESTS:-kvm-vhost} \
VESSEL_NESTED_CPUS=${VESSEL_NESTED_CPUS:-2} VESSEL_NESTED_LOG=kvm-nested-vhost-l1.log exec bash "$SRC/tests/integration/kvm-nested.sh"
