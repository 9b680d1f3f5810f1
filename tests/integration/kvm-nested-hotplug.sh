#!/bin/bash
# The nested tier's CPU hotplug test (kvm-cpu-hotplug.sh: QMP device_add /
# device_del of a vCPU in a running Debian kernel) in an L1 of its own: see
# kvm-nested.sh (log: BUILD/test-logs/kvm-nested-hotplug-l1.log).
VESSEL_NESTED_TESTS=${VESSEL_NESTED_HOTPLUG_TESTS:-kvm-cpu-hotplug kvm-cpuhp-hostile kvm-pci-hotplug kvm-virtio-mem} \
VESSEL_NESTED_CPUS=${VESSEL_NESTED_CPUS:-2} VESSEL_NESTED_LOG=kvm-nested-hotplug-l1.log exec bash "$SRC/tests/integration/kvm-nested.sh"
