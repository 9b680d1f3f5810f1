#!/bin/bash
# tests/kvmkind.sh: what backs /dev/kvm, from the modules loaded (a fake
# /sys/module here): kvm_intel and kvm_amd are hardware-assisted and the
# Linux-booting kvm tests run; kvm_pvm (software: an unmodified guest
# kernel's code emulated) makes them skip with the reason, unless
# VESSEL_KVM_SOFT=run; no known module: unknown, and they run.
. "$SRC/tests/lib.sh"
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
kind_of() { mkdir -p "$out/$1"; for m in "${@:2}"; do mkdir -p "$out/$1/$m"; done
            VESSEL_SYS_MODULE=$out/$1 kvm_kind; }
soft_of() { VESSEL_SYS_MODULE=$out/$1 VESSEL_KVM_SOFT=${2:-} kvm_soft_why; }
k=$(kind_of intel kvm kvm_intel)
check "kvm-kind-intel: kvm_intel is hardware-assisted ($k), the tests run" \
    test "$k" = "hardware-assisted (kvm_intel: VT-x)" -a -z "$(soft_of intel)"
k=$(kind_of amd kvm kvm_amd)
check "kvm-kind-amd: kvm_amd is hardware-assisted ($k), the tests run" \
    test "$k" = "hardware-assisted (kvm_amd: AMD-V)" -a -z "$(soft_of amd)"
k=$(kind_of pvm kvm kvm_pvm) w=$(soft_of pvm)
check "kvm-kind-pvm: kvm_pvm is software ($k); the tests skip naming it ($w)" \
    eval '[[ $k == software*kvm_pvm* ]] && [[ $w == *kvm_pvm*"does not boot"* ]]'
check "kvm-kind-pvm-run: VESSEL_KVM_SOFT=run runs them anyway" test -z "$(soft_of pvm run)"
k=$(kind_of none kvm)
check "kvm-kind-unknown: no backend module is unknown ($k), the tests run" \
    eval '[[ $k == unknown* ]] && [ -z "$(soft_of none)" ]'
