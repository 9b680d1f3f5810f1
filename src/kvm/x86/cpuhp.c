/* ACPI CPU hotplug for `vessel kvm --smp N,maxcpus=M`: the register block
 * the guest's AML drives, and that AML (a processor container `CPUS` in
 * the DSDT with one ACPI0007 device per possible vCPU). The shape is the
 * one QEMU's and Cloud Hypervisor's CPU hotplug controllers share: a
 * selector, per-CPU status bits, a scan method the generic event device
 * calls, _STA/_MAT/_EJ0 per CPU. The registers, at VKVM_CPUHP_BASE:
 *   +0 selector (dword): the vCPU the flags below are about
 *   +4 flags (byte): read ENABLED (present), INSERTING (a plug the guest
 *      has not seen yet), REMOVING (an unplug request it has not seen);
 *      write 1 to INSERTING or REMOVING: seen (cleared); write EJECT: the
 *      guest's _EJ0, the vCPU goes away (never vCPU 0, the boot CPU).
 * A selector past M reads flags 0 and ignores writes. */
#include "kvm/x86/internal.h"
#include "kvm/x86/aml.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

void vkvm_cpuhp_init(struct vkvm_cpuhp *h, unsigned ncpus, unsigned boot)
{
    memset(h, 0, sizeof(*h));
    h->ncpus = ncpus > VKVM_MAX_VCPUS ? VKVM_MAX_VCPUS : ncpus;
    for (unsigned i = 0; i < boot && i < h->ncpus; i++)
        h->flags[i] = VKVM_CPUHP_ENABLED;
}

uint64_t vkvm_cpuhp_read(struct vkvm_cpuhp *h, uint64_t off, unsigned size)
{
    uint32_t sel = __atomic_load_n(&h->sel, __ATOMIC_ACQUIRE);
    if (off < 4) {
        uint64_t v = (uint64_t)sel >> (8 * off);
        return size >= 8 ? v : v & ((1ULL << (8 * size)) - 1);
    }
    if (off == VKVM_CPUHP_FLAGS && sel < h->ncpus)
        return __atomic_load_n(&h->flags[sel], __ATOMIC_ACQUIRE) & 0x7;
    return 0;
}

int vkvm_cpuhp_write(struct vkvm_cpuhp *h, uint64_t off, uint64_t val, unsigned size)
{
    if (off < 4) {
        /* any width at any byte of the selector (ByteAcc fields split it) */
        uint32_t sel = __atomic_load_n(&h->sel, __ATOMIC_ACQUIRE);
        for (unsigned i = 0; i < size && off + i < 4; i++) {
            unsigned sh = 8 * (unsigned)(off + i);
            sel = (sel & ~(0xffu << sh)) | (uint32_t)((val >> (8 * i)) & 0xff) << sh;
        }
        __atomic_store_n(&h->sel, sel, __ATOMIC_RELEASE);
        return -1;
    }
    uint32_t sel = __atomic_load_n(&h->sel, __ATOMIC_ACQUIRE);
    if (off != VKVM_CPUHP_FLAGS || sel >= h->ncpus)
        return -1;
    uint8_t clear = (uint8_t)(val & (VKVM_CPUHP_INSERTING | VKVM_CPUHP_REMOVING));
    if (clear)
        __atomic_fetch_and(&h->flags[sel], (uint8_t)~clear, __ATOMIC_ACQ_REL);
    if (!(val & VKVM_CPUHP_EJECT))
        return -1;
    if (sel == 0) {
        log_guest("CPU hotplug: eject of vCPU 0 (the boot CPU) refused");
        return -1;
    }
    uint8_t was = __atomic_fetch_and(&h->flags[sel], (uint8_t)0, __ATOMIC_ACQ_REL);
    if (!(was & VKVM_CPUHP_ENABLED)) {
        log_guest("CPU hotplug: eject of vCPU %u, which is not present", sel);
        return -1;
    }
    return (int)sel;
}

/* ---- the AML ---- */
static void cpu_name(char out[5], unsigned i)
{
    snprintf(out, 5, "C%03X", i & 0xfff);
}

/* Method(CSTA, 1) { Acquire; CSEL = Arg0; Local0 = 0; If (CPEN == 1) { Local0 = 0xF }; Release; Return (Local0) }
 * Method(CEJ0, 1) { Acquire; CSEL = Arg0; CEJ0 = 1; Release } */
static void cpuhp_methods(struct aml *a)
{
    aml_method(a, "CSTA", 1, true);
    aml_acquire(a, "CPLK");
    aml_byte(a, AML_STORE); aml_byte(a, AML_ARG0); aml_name(a, "CSEL");
    aml_byte(a, AML_STORE); aml_int(a, 0); aml_byte(a, AML_LOCAL0);
    aml_begin(a, OP_IF, 1);
    aml_byte(a, AML_LEQUAL); aml_name(a, "CPEN"); aml_int(a, 1);
    aml_byte(a, AML_STORE); aml_int(a, 0x0f); aml_byte(a, AML_LOCAL0);
    aml_end(a);
    aml_release(a, "CPLK");
    aml_byte(a, AML_RETURN); aml_byte(a, AML_LOCAL0);
    aml_end(a);

    aml_method(a, "CEJ0", 1, true);
    aml_acquire(a, "CPLK");
    aml_byte(a, AML_STORE); aml_byte(a, AML_ARG0); aml_name(a, "CSEL");
    aml_byte(a, AML_STORE); aml_int(a, 1); aml_name(a, "CEJF");
    aml_release(a, "CPLK");
    aml_end(a);
}

/* Method(CTFY, 2) { If (Arg0 == i) { Notify(Cxxx, Arg1) } ... }
 * Method(CSCN, 0) { Acquire; Local0 = 0; While (Local0 < M) { CSEL = Local0;
 *   If (CINS == 1) { CTFY(Local0, 1); CINS = 1 }   (device check)
 *   If (CRMV == 1) { CTFY(Local0, 3); CRMV = 1 }   (eject request)
 *   Local0++ }; Release } */
static void cpuhp_scan(struct aml *a, unsigned ncpus)
{
    aml_method(a, "CTFY", 2, false);
    for (unsigned i = 0; i < ncpus; i++) {
        char n[5];
        cpu_name(n, i);
        aml_begin(a, OP_IF, 1);
        aml_byte(a, AML_LEQUAL); aml_byte(a, AML_ARG0); aml_int(a, i);
        aml_byte(a, AML_NOTIFY); aml_name(a, n); aml_byte(a, AML_ARG0 + 1);
        aml_end(a);
    }
    aml_end(a);

    aml_method(a, "CSCN", 0, true);
    aml_acquire(a, "CPLK");
    aml_byte(a, AML_STORE); aml_int(a, 0); aml_byte(a, AML_LOCAL0);
    aml_begin(a, OP_WHILE, 1);
    aml_byte(a, AML_LLESS); aml_byte(a, AML_LOCAL0); aml_int(a, ncpus);
    aml_byte(a, AML_STORE); aml_byte(a, AML_LOCAL0); aml_name(a, "CSEL");
    static const struct { const char *flag; unsigned type; } ev[] = { { "CINS", 1 }, { "CRMV", 3 } };
    for (unsigned k = 0; k < 2; k++) {
        aml_begin(a, OP_IF, 1);
        aml_byte(a, AML_LEQUAL); aml_name(a, ev[k].flag); aml_int(a, 1);
        aml_name(a, "CTFY"); aml_byte(a, AML_LOCAL0); aml_int(a, ev[k].type);
        aml_byte(a, AML_STORE); aml_int(a, 1); aml_name(a, ev[k].flag);
        aml_end(a);
    }
    aml_byte(a, AML_INCREMENT); aml_byte(a, AML_LOCAL0);
    aml_end(a);
    aml_release(a, "CPLK");
    aml_end(a);
}

/* Device(Cxxx) { _HID "ACPI0007"; _UID i; _STA: CSTA(i); _MAT: its MADT
 * Local APIC entry, enabled; _EJ0: CEJ0(i) (not on vCPU 0) } */
static void cpuhp_cpu(struct aml *a, unsigned i)
{
    char n[5];
    cpu_name(n, i);
    aml_begin(a, OP_DEVICE, 2);
    aml_name(a, n);
    aml_name_string(a, "_HID", "ACPI0007");
    aml_name_int(a, "_UID", i);
    aml_method(a, "_STA", 0, false);
    aml_byte(a, AML_RETURN); aml_name(a, "CSTA"); aml_int(a, i);
    aml_end(a);
    aml_byte(a, AML_NAME_OP);
    aml_name(a, "_MAT");
    aml_begin(a, OP_BUFFER, 1);
    aml_int(a, 8);
    aml_bytes(a, (const uint8_t[]){ 0, 8, (uint8_t)i, (uint8_t)i, 1, 0, 0, 0 }, 8);
    aml_end(a);
    if (i) {
        aml_method(a, "_EJ0", 1, false);
        aml_name(a, "CEJ0"); aml_int(a, i);
        aml_end(a);
    }
    aml_end(a);
}

void vkvm_cpuhp_aml(struct aml *a, unsigned ncpus)
{
    aml_begin(a, OP_DEVICE, 2);
    aml_name(a, "CPUS");
    aml_name_string(a, "_HID", "ACPI0010");
    aml_byte(a, AML_NAME_OP);
    aml_name(a, "_CID");
    aml_eisaid(a, "PNP0A05");
    aml_mutex(a, "CPLK");
    aml_opregion(a, "CPRG", VKVM_CPUHP_BASE, VKVM_CPUHP_SIZE);
    aml_begin(a, OP_FIELD, 2);      /* Field(CPRG, DWordAcc, NoLock, Preserve) { CSEL, 32 } */
    aml_name(a, "CPRG");
    aml_byte(a, AML_FIELD_DWORD);
    aml_seg(a, "CSEL", 4);
    aml_byte(a, 32);
    aml_end(a);
    aml_begin(a, OP_FIELD, 2);      /* Field(CPRG, ByteAcc, NoLock, WriteAsZeros) { Offset(4), CPEN, 1, ... } */
    aml_name(a, "CPRG");
    aml_byte(a, AML_FIELD_BYTE | AML_FIELD_WRITE_ZEROS);
    aml_byte(a, 0x00);
    aml_byte(a, 32);
    static const char *const bits[] = { "CPEN", "CINS", "CRMV", "CEJF" };
    for (unsigned k = 0; k < 4; k++) {
        aml_seg(a, bits[k], 4);
        aml_byte(a, 1);
    }
    aml_end(a);
    cpuhp_methods(a);
    cpuhp_scan(a, ncpus);
    for (unsigned i = 0; i < ncpus; i++)
        cpuhp_cpu(a, i);
    aml_end(a);
}

/* ---- the engine's side ---- */
void vkvm_cpuhp_reset(struct vkvm_cpuhp *h)
{
    for (unsigned i = 0; i < h->ncpus; i++)
        __atomic_and_fetch(&h->flags[i], (uint8_t)VKVM_CPUHP_ENABLED, __ATOMIC_ACQ_REL);
    __atomic_store_n(&h->sel, 0, __ATOMIC_RELEASE);
}

/* Its local APIC written back as it is: KVM builds its map of APIC ids
 * (what an IPI's destination is looked up in) when a LAPIC changes, and a
 * vCPU created while the others run is not in the map its own creation
 * made (it was not online yet): the guest's INIT/SIPI to it went nowhere
 * ("do_boot_cpu failed(-1) to wakeup CPU#1" in Linux). KVM_SET_LAPIC
 * makes KVM build the map again, as QEMU's reset of a new vCPU does. */
static int lapic_refresh(int fd)
{
    struct kvm_lapic_state l;
    if (ioctl(fd, KVM_GET_LAPIC, &l) < 0 || ioctl(fd, KVM_SET_LAPIC, &l) < 0) {
        int e = errno;
        log_error("vCPU plug: KVM_GET/SET_LAPIC: %s", strerror(e));
        return -e;
    }
    return 0;
}

/* QMP device_add: the KVM vCPU (made on first plug; taken back waiting for
 * INIT/SIPI after an unplug), its thread if the vCPUs run, then the
 * device-check event. */
int vkvm_cpu_plug(void *eng, unsigned cpu)
{
    struct vkvm_vm *vm = eng;
    if (!vm->acpi)
        return -EOPNOTSUPP;
    if (cpu >= vm->ncpus)
        return -EINVAL;
    int r = 0;
    pthread_mutex_lock(&vm->cpu_lock);
    if (vm->present[cpu]) {
        r = -EEXIST;
    } else if (vm->th_live[cpu] && !__atomic_load_n(&vm->th_done[cpu], __ATOMIC_ACQUIRE)) {
        r = -EBUSY;                 /* its thread is still on its way out */
    } else {
        if (vm->th_live[cpu]) {
            pthread_join(vm->th[cpu], NULL);
            vm->th_live[cpu] = false;
        }
        if (vm->vcpu_fd[cpu] < 0) {
            r = vkvm_vcpu_create(vm, cpu);
        } else {
            struct kvm_mp_state mp = { KVM_MP_STATE_UNINITIALIZED };
            if (ioctl(vm->vcpu_fd[cpu], KVM_SET_MP_STATE, &mp) < 0)
                r = -errno;
        }
        if (r == 0)
            r = lapic_refresh(vm->vcpu_fd[cpu]);
        if (r == 0) {
            __atomic_store_n(&vm->present[cpu], true, __ATOMIC_RELEASE);
            if (!vm->threads_on)
                machine_vcpu_set_absent(vm->mach, cpu, false);  /* its thread comes with the others' */
            else if ((r = vkvm_vcpu_thread_start(vm, cpu)) < 0)
                __atomic_store_n(&vm->present[cpu], false, __ATOMIC_RELEASE);
        }
        if (r == 0)
            __atomic_store_n(&vm->cpuhp.flags[cpu], VKVM_CPUHP_ENABLED | VKVM_CPUHP_INSERTING, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&vm->cpu_lock);
    if (r == 0) {
        log_info("vCPU %u plugged", cpu);
        vkvm_acpi_event(&vm->acpi_regs, VKVM_ACPI_EVENT_CPUHP);
    }
    return r;
}

/* QMP device_del: ask the guest (an eject request); it offlines the CPU
 * and ejects it, or ignores the request. */
int vkvm_cpu_unplug(void *eng, unsigned cpu)
{
    struct vkvm_vm *vm = eng;
    if (!vm->acpi)
        return -EOPNOTSUPP;
    if (cpu == 0)
        return -EPERM;
    int r = 0;
    pthread_mutex_lock(&vm->cpu_lock);
    if (cpu >= vm->ncpus || !vm->present[cpu])
        r = -ENOENT;
    else
        __atomic_fetch_or(&vm->cpuhp.flags[cpu], (uint8_t)VKVM_CPUHP_REMOVING, __ATOMIC_ACQ_REL);
    pthread_mutex_unlock(&vm->cpu_lock);
    if (r == 0)
        vkvm_acpi_event(&vm->acpi_regs, VKVM_ACPI_EVENT_CPUHP);
    return r;
}

const char *vkvm_cpu_state_name(void *eng, unsigned cpu)
{
    struct vkvm_vm *vm = eng;
    if (cpu >= vm->ncpus || !__atomic_load_n(&vm->present[cpu], __ATOMIC_ACQUIRE))
        return "absent";
    uint8_t f = __atomic_load_n(&vm->cpuhp.flags[cpu], __ATOMIC_ACQUIRE);
    return f & VKVM_CPUHP_REMOVING ? "unplug-requested" : f & VKVM_CPUHP_INSERTING ? "plugged" : "present";
}

/* The guest's _EJ0: the vCPU's thread leaves (kicked out of KVM_RUN, it
 * sees present clear); the machine forgets its id (DEVICE_DELETED). */
static void eject(struct vkvm_vm *vm, unsigned cpu)
{
    pthread_mutex_lock(&vm->cpu_lock);
    bool was = vm->present[cpu];
    __atomic_store_n(&vm->present[cpu], false, __ATOMIC_RELEASE);
    if (vm->th_live[cpu])
        pthread_kill(vm->th[cpu], VKVM_KICK_SIGNAL);
    pthread_mutex_unlock(&vm->cpu_lock);
    if (was) {
        log_info("guest: vCPU %u ejected", cpu);
        machine_cpu_removed(vm->mach, cpu);
    }
}

static uint64_t regs_read(void *opaque, uint64_t off, unsigned size)
{
    struct vkvm_vm *vm = opaque;
    return vkvm_cpuhp_read(&vm->cpuhp, off, size);
}

static void regs_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct vkvm_vm *vm = opaque;
    int cpu = vkvm_cpuhp_write(&vm->cpuhp, off, val, size);
    if (cpu > 0)
        eject(vm, (unsigned)cpu);
}
static const struct bus_ops cpuhp_ops = { regs_read, regs_write };

int vkvm_cpuhp_attach(struct vkvm_vm *vm)
{
    if (bus_register(vm->mmio, VKVM_CPUHP_BASE, VKVM_CPUHP_SIZE, &cpuhp_ops, vm, "cpu hotplug") < 0)
        return -EEXIST;
    return 0;
}
