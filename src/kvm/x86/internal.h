/* kvm/x86: private to the module (the VM engine and its board). */
#ifndef VESSEL_KVM_X86_INTERNAL_H
#define VESSEL_KVM_X86_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>

#include "backend/backend.h"
#include "base/base.h"
#include "bus/bus.h"
#include "dev/dev.h"
#include "dev/pci/pci.h"
#include "dev/virtio/transport.h"
#include "kvm/x86/kvm.h"
#include "machine/machine.h"

/* Sent to a vCPU thread to get it out of KVM_RUN (blocked in every other
 * thread). */
#define VKVM_KICK_SIGNAL SIGUSR1

/* acpi.c: attach vessel's ACPI register block (struct vkvm_acpi, kvm.h)
 * to the MMIO bus, the reset control port 0xcf9 and the machine's power
 * button. */
int vkvm_acpi_attach(struct vkvm_acpi *acpi, struct machine *mach, struct bus *mmio, struct bus *pio,
                     struct irq_line irq);

/* cpuhp.c: the DSDT's processor container \_SB.CPUS for `ncpus` vCPUs
 * (the hotplug controller's AML). */
struct aml;
void vkvm_cpuhp_aml(struct aml *a, unsigned ncpus);
/* pcihp.c: inside \_SB.PCI0, the PCI hotplug controller's AML: its
 * register block, the scan method PCNT the GED calls, and Device(Sxx)
 * for slots 1..VKVM_PCI_HP_SLOTS (_ADR, _SUN; _EJ0 for those in `slots`). */
void vkvm_pcihp_aml(struct aml *a, uint32_t slots);

/* irqfd.c: MSIs (PCI MSI-X) into the in-kernel LAPICs through irqfds with
 * MSI routes, made on first use of each (address, data); KVM_SIGNAL_MSI
 * when the table is full or irqfds are off. Thread-safe. */
#define VKVM_MSI_ROUTES 64
struct vkvm_msi_routes {
    pthread_mutex_t lock;
    int vm_fd;
    bool off;                       /* KVM_SIGNAL_MSI only */
    unsigned n;
    struct { uint64_t addr; uint32_t data; int fd; } r[VKVM_MSI_ROUTES];
};
void vkvm_msi_init(struct vkvm_msi_routes *t, int vm_fd, bool irqfd);
/* A new VM fd (reset): the routes are made again on their next use. */
void vkvm_msi_new_vm(struct vkvm_msi_routes *t, int vm_fd);
void vkvm_msi_send(void *opaque, uint64_t addr, uint32_t data);    /* opaque: the routes */
/* msi_line.bind: KVM_IRQFD of `fd` on the GSI routed to (addr, data). */
int vkvm_msi_bind(void *opaque, uint64_t addr, uint32_t data, int fd, bool on);
void vkvm_msi_destroy(struct vkvm_msi_routes *t);

struct vkvm_vm;
struct vkvm_vcpu_arg {
    struct vkvm_vm *vm;
    unsigned cpu;
};

struct vkvm_vm {
    int kvm_fd, fd;
    struct machine *mach;
    struct guest_mem *m;            /* machine_mem(mach) */
    struct bus *pio, *mmio;         /* the machine's buses */
    const struct vkvm_config *cfg;
    struct vkvm_cpu_hide hide;
    unsigned ncpus;
    long run_sz;
    int vcpu_fd[VKVM_MAX_VCPUS];
    struct kvm_run *run[VKVM_MAX_VCPUS];
    pthread_t th[VKVM_MAX_VCPUS];
    struct vkvm_vcpu_arg arg[VKVM_MAX_VCPUS];
    /* CPU hotplug (cpuhp.c): cpu_lock guards th_live, threads_on and the
     * changes of present; vCPU threads read present atomically */
    unsigned boot_cpus;             /* --smp N (ncpus is maxcpus M) */
    pthread_mutex_t cpu_lock;
    bool present[VKVM_MAX_VCPUS];   /* plugged: the guest's _STA says so */
    bool th_live[VKVM_MAX_VCPUS];   /* a thread, not joined yet */
    bool th_done[VKVM_MAX_VCPUS];   /* ... which has returned (atomic) */
    bool threads_on;                /* between the engine's start and join */
    struct vkvm_cpuhp cpuhp;
    /* vCPU i's last exit (port or MMIO) completes only in its next KVM_RUN
     * (written by its thread, read with it parked: state.c) */
    bool io_pending[VKVM_MAX_VCPUS];
    struct kvm_clock_data clock;    /* kvmclock at pause */
    bool clock_saved;
    /* what is loaded at start and on every reset: the images are in
     * memory only while they are loaded (run.c), img/ird point there */
    struct vkvm_images *images;
    const uint8_t *img, *ird;
    size_t img_len, ird_len;
    bool pvh;
    char *cmdline;
    struct vkvm_boot_state st;
    uint32_t level_pins;            /* IOAPIC pins wired level-triggered (virtio) */
    bool acpi;                      /* ACPI tables and registers (not --no-acpi) */
    struct pci_host *pci;           /* --transport pci: the host bridge (a machine device) */
    struct virtio_doorbell_ops doorbells;   /* KVM_IOEVENTFD for the virtio-pci notifications */
    struct vkvm_msi_routes msi;     /* MSI-X delivery (irqfd.c) */
    bool msi_ready;
    struct vkvm_acpi acpi_regs;
    /* ACPI PCI hotplug (pcihp.c): with ACPI and virtio-pci */
    bool pcihp_on;
    struct pci_hotplug pcihp;
    /* --memory-hotplug (vmem.c) */
    struct virtio_mem *vmem;
    struct virtio_pci *vmem_pci;
    /* snapshot (state.c) */
    struct { bool xsave, xcrs; int xsave2; } caps;  /* KVM_CAP_XSAVE, _XCRS, _XSAVE2 (bytes) */
    uint32_t *msr_list;             /* the MSRs a snapshot carries (vkvm_msr_filter), made on first use */
    unsigned nmsr_list;
    struct kvm_run **retired;       /* vCPU mappings of VMs replaced by vkvm_vm_renew */
    unsigned nretired;
    /* dirty logging for live migration (dirty.c): on while a migration
     * runs (a new VM gets its slots logged too); manual: the VM has
     * KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 on; buf: KVM_GET_DIRTY_LOG's bitmap
     * of each slot */
    struct { bool on, manual; uint64_t *buf[MEM_MAX_REGIONS]; } dirty;
};

/* vm.c: vCPU `cpu` of the VM (CPUID, MSRs; vCPU 0 at the boot state,
 * the others waiting for INIT/SIPI), and its thread (cpu_lock held).
 * 0 or -errno (logged). */
int vkvm_vcpu_create(struct vkvm_vm *vm, unsigned cpu);
int vkvm_vcpu_thread_start(struct vkvm_vm *vm, unsigned cpu);

/* cpuhp.c, the engine's side of CPU hotplug (struct machine_engine_ops):
 * plug a vCPU (its KVM vCPU made or taken back, its thread started, the
 * guest told through the GED), ask the guest to give one back, the
 * hotplug state as query-cpus-fast's x-state; the MMIO registers. */
int vkvm_cpu_plug(void *eng, unsigned cpu);
int vkvm_cpu_unplug(void *eng, unsigned cpu);
const char *vkvm_cpu_state_name(void *eng, unsigned cpu);
int vkvm_cpuhp_attach(struct vkvm_vm *vm);
/* A reset: pending insert/remove events dropped, plugged vCPUs stay. */
void vkvm_cpuhp_reset(struct vkvm_cpuhp *h);

/* pcihp.c, the engine's side of PCI hotplug: the register block on the
 * MMIO bus for the slots in `slots`, and struct machine_engine_ops's
 * pci_hotplug (tell the guest through the GED). */
int vkvm_pcihp_attach(struct vkvm_vm *vm, uint32_t slots);
/* vmem.c: the virtio-mem device of --memory-hotplug in a free PCI slot
 * (its region is in guest memory already: run.c). 0 or -errno (logged). */
int vkvm_vmem_attach(struct vkvm_vm *vm, struct msi_line msi, struct irq_line (*irq_for)(void *, unsigned));
int vkvm_pci_hotplug(void *eng, unsigned slot, bool plug);

/* vm.c: the VM fd (irqchip, PIT, RAM slots) for the machine's memory. NULL
 * after one log line. */
struct vkvm_vm *vkvm_vm_create(int kvm_fd, struct machine *mach, const struct vkvm_config *cfg);
/* Load the images (not for --restore: the snapshot's RAM replaces them),
 * create the vCPUs and hand the VM to the machine as its engine. 0 or
 * -errno (logged). */
int vkvm_vm_start(struct vkvm_vm *vm);
void vkvm_vm_destroy(struct vkvm_vm *vm);
/* A new VM for a vm-restore into a running process (vCPU threads parked). */
int vkvm_vm_renew(struct vkvm_vm *vm);

/* run.c: kernel, initrd, command line, MP table into RAM; fills vm->st. */
int vkvm_vm_load(struct vkvm_vm *vm);

/* dirty.c: the engine's dirty logging ops (struct machine_engine_ops);
 * vkvm_slots_set makes the RAM slots of vm->fd (slot i = region i), with
 * the log flag while logging is on. 0 or -errno (logged). */
int vkvm_slots_set(struct vkvm_vm *vm);
int vkvm_dirty_log_start(void *eng);
uint64_t vkvm_dirty_log_sync(void *eng, unsigned region, uint64_t *bitmap);
void vkvm_dirty_log_stop(void *eng);
void vkvm_dirty_free(struct vkvm_vm *vm);

/* state.c: vCPU `cpu` (parked) finishes its last port or MMIO exit now,
 * if one is pending: entered once with immediate_exit, no guest code. */
void vkvm_vcpu_settle(struct vkvm_vm *vm, unsigned cpu);
/* state.c: the engine's snapshot ops (struct machine_engine_ops). */
int vkvm_engine_save(void *eng, struct snap_writer *w);
int vkvm_engine_check(void *eng, const struct snap *s, char *err, size_t errlen);
int vkvm_engine_load(void *eng, const struct snap *s, char *err, size_t errlen);
/* VKVM_VM_ACPI / VKVM_VM_MMIO of this board */
static inline uint32_t vkvm_board_flags(const struct vkvm_vm *vm)
{
    return (vm->acpi ? VKVM_VM_ACPI : 0) | (vm->cfg->mmio ? VKVM_VM_MMIO : 0);
}

#endif
