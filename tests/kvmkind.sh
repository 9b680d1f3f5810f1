# What backs /dev/kvm on this host (source this file; no side effects).
#
#   kvm_kind       (from the modules in ${VESSEL_SYS_MODULE:-/sys/module}) one line: "hardware-assisted (kvm_intel: VT-x)",
#                  "hardware-assisted (kvm_amd: AMD-V)", "software (kvm_pvm:
#                  ...)" or "unknown (no kvm_intel, kvm_amd or kvm_pvm module
#                  in /sys/module)"
#   kvm_soft_why   empty when /dev/kvm runs an unmodified guest kernel at
#                  hardware speed (or when the backend is unknown: the tests
#                  then run); else why a Linux guest cannot boot in a test's
#                  time here. VESSEL_KVM_SOFT=run empties it (run anyway,
#                  with VESSEL_SLOW to stretch the timeouts).
#
# kvm_pvm (PVM, "pagetable-based virtual machine") is a KVM backend without
# VT-x/AMD-V: a PVM-enabled guest kernel runs natively in ring 3, an
# unmodified one (every guest vessel boots) has its kernel code emulated by
# KVM's instruction emulator. Measured on such a host (Dec 2026): a
# dec/jnz loop in a freestanding guest ran about 1-2 million instructions/s
# under both vessel kvm and qemu-system-x86_64 -enable-kvm; Debian's 6.1
# cloud kernel needed 169 s to reach its first emulation failure
# (cmpxchg16b), the default x86-64 guest printed nothing in 300 s.
kvm_kind() {
    local m=${VESSEL_SYS_MODULE:-/sys/module}
    if [ -d "$m/kvm_intel" ]; then echo "hardware-assisted (kvm_intel: VT-x)"
    elif [ -d "$m/kvm_amd" ]; then echo "hardware-assisted (kvm_amd: AMD-V)"
    elif [ -d "$m/kvm_pvm" ]; then
        echo "software (kvm_pvm: no VT-x/AMD-V, an unmodified guest kernel's code is emulated)"
    else echo "unknown (no kvm_intel, kvm_amd or kvm_pvm module in $m)"; fi
}
kvm_soft_why() {
    [ "${VESSEL_KVM_SOFT:-}" = run ] && return 0
    case $(kvm_kind) in
    software*) echo "/dev/kvm here is $(kvm_kind) at about 1-2 million instructions/s: a Linux guest does not boot in a test's time (VESSEL_KVM_SOFT=run VESSEL_SLOW=N runs it anyway)" ;;
    esac
}
