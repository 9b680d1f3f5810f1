/* kvm/x86: the x86-64 KVM virtual machine monitor behind `vessel kvm`.
 * Boot-state construction (boot.c) is pure: it fills guest memory and a
 * struct vkvm_boot_state without touching /dev/kvm, so it is unit-tested
 * anywhere. vm.c turns that state into ioctls and runs the vCPU. */
#ifndef VESSEL_KVM_X86_H
#define VESSEL_KVM_X86_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "dev/virtio/virtio.h"
#include "machine/machine.h"
#include "mem/mem.h"

#include <linux/kvm.h>

/* Fixed guest-physical layout (low memory), as kvmtool/Firecracker use. */
#define VKVM_BOOT_GDT_ADDR      0x500ULL
#define VKVM_PVH_START_INFO     0x6000ULL   /* + memmap at +0x100, modlist at +0x200 */
#define VKVM_BOOT_ZERO_PAGE     0x7000ULL
#define VKVM_BOOT_STACK         0x8ff0ULL
#define VKVM_BOOT_PML4          0x9000ULL
#define VKVM_BOOT_PDPT          0xa000ULL
#define VKVM_BOOT_PD            0xb000ULL   /* 4 pages: 0xb000..0xefff */
#define VKVM_BOOT_CMDLINE       0x20000ULL
#define VKVM_BOOT_CMDLINE_MAX   0x10000ULL
#define VKVM_BOOT_KERNEL        0x100000ULL
#define VKVM_EBDA_START         0x9fc00ULL
#define VKVM_MPTABLE_ADDR       0xf0000ULL  /* BIOS area, reserved in e820 */
#define VKVM_RESET_VECTOR       0xffff0ULL  /* a reset stub: out 0xcf9 (run.c) */
#define VKVM_PCI_HOLE_START     0xc0000000ULL /* low RAM ends at 3 GiB */
#define VKVM_HIGH_RAM_START     0x100000000ULL

#define VKVM_BOOT_CS 0x10   /* __BOOT_CS of the Linux boot protocol */
#define VKVM_BOOT_DS 0x18   /* __BOOT_DS */

/* Debug-exit port of vessel's test guests: a 1-byte write of v ends the VM
 * with exit status v. */
#define VKVM_MAX_VCPUS 64
#define VKVM_DEBUG_EXIT_PORT 0x501
#define VKVM_COM1_PORT 0x3f8

struct vkvm_boot_seg {
    uint64_t base;
    uint32_t limit;
    uint16_t selector;
    uint8_t type, present, dpl, db, s, l, g;
};

struct vkvm_boot_state {
    uint64_t rip, rsp, rsi, rbx, rflags;
    uint64_t cr0, cr3, cr4, efer;
    struct vkvm_boot_seg cs, ds;     /* ds also used for es/fs/gs/ss */
    uint64_t gdt_base;
    uint16_t gdt_limit;
    /* What the loader decided (for tests and logs). */
    uint16_t protocol;
    uint64_t kernel_size;           /* protected-mode part loaded at 1 MiB */
    uint64_t initrd_addr, initrd_size;
    uint32_t e820_entries;
};

/* Parsed setup header of a bzImage. */
struct vkvm_bzimage {
    uint16_t version;
    uint8_t setup_sects, loadflags, relocatable;
    uint16_t xloadflags;
    uint32_t syssize, initrd_addr_max, cmdline_size, init_size;
    uint64_t pref_address;          /* where a non-relocatable kernel decompresses */
    size_t setup_len;               /* (setup_sects+1)*512 */
    size_t payload_len;             /* syssize*16 */
};

/* Validate a bzImage (bounds-checked). 0, -ENOEXEC (not a bzImage or too
 * old for the 64-bit entry), -EINVAL (truncated). `why` gets a reason. */
int vkvm_bzimage_parse(const uint8_t *img, size_t len, struct vkvm_bzimage *bz,
                      const char **why);

/* RAM layout for `ram` bytes: low RAM at 0 up to 3 GiB, the rest at 4 GiB.
 * Adds the regions to `m`. 0 or -errno. */
int vkvm_mem_layout(struct guest_mem *m, uint64_t ram);

/* Load kernel/initrd/cmdline into `m` and build zero page, e820, page
 * tables, GDT and the register state for the 64-bit entry. 0 or -errno;
 * -E2BIG: initrd or cmdline too large; logs one line on failure. */
int vkvm_boot_bzimage(struct guest_mem *m, uint64_t ram,
                     const uint8_t *img, size_t len,
                     const uint8_t *initrd, size_t initrd_len,
                     const char *cmdline, struct vkvm_boot_state *st);

/* --cpu-features "-cx16,-xsave,-avx": features to hide (a bitmap over the
 * table in cpuid.c; dependent features are hidden too, e.g. avx with
 * xsave). 0 or -EINVAL after one log line. */
struct vkvm_cpu_hide {
    uint64_t mask[2];
};
int vkvm_cpu_features_parse(const char *spec, struct vkvm_cpu_hide *h);
/* Complete the CPUID table `c` (room for `cap` entries) for vCPU `cpu` of
 * `ncpus`: hypervisor bit, KVM PV leaves, APIC id and topology, hiding. */
int vkvm_cpuid_complete(struct kvm_cpuid2 *c, unsigned cap, unsigned cpu, unsigned ncpus,
                       const struct vkvm_cpu_hide *hide);

/* Set CPUID.1:ECX.TSC_DEADLINE (bit 24): KVM_GET_SUPPORTED_CPUID leaves it
 * out on host kernels before 6.14 although the in-kernel LAPIC emulates it
 * when KVM_CAP_TSC_DEADLINE_TIMER is there; QEMU adds it the same way. */
void vkvm_cpuid_tsc_deadline(struct kvm_cpuid2 *c);

/* PVH: entry address from the XEN_ELFNOTE_PHYS32_ENTRY note of an ELF64
 * vmlinux (bounds-checked; 0, -ENOEXEC, -EINVAL; `why` gets a reason). */
int vkvm_pvh_entry(const uint8_t *elf, size_t len, uint32_t *entry, const char **why);
/* Load the ELF's PT_LOAD segments, build hvm_start_info (cmdline, initrd
 * module, memmap) and the 32-bit protected-mode entry state (EBX =
 * start_info, paging off). 0 or -errno after one log line. */
int vkvm_boot_pvh(struct guest_mem *m, uint64_t ram, const uint8_t *elf, size_t len,
                 const uint8_t *initrd, size_t initrd_len, const char *cmdline,
                 struct vkvm_boot_state *st);

/* MP table (MPS 1.4) for `ncpus` processors, ISA bus, one IOAPIC (id
 * ncpus) with its 24 pins: ISA irq n -> pin n, edge ("conforms") except the
 * pins in `level_pins` (bit n: pin n), which are level-triggered, active
 * high (the virtio-mmio lines). 0 or -errno. */
int vkvm_mptable_build(struct guest_mem *m, unsigned ncpus, uint32_t level_pins);
size_t vkvm_mptable_size(unsigned ncpus);

/* ---- the VM and its board ----
 * Guest-physical map above RAM: with --transport mmio, virtio-mmio slot i at
 * VKVM_VIRTIO_MMIO_BASE + i * VKVM_VIRTIO_MMIO_STRIDE (in the 3-4 GiB hole),
 * interrupt GSI/IOAPIC pin VKVM_VIRTIO_FIRST_IRQ + i. Ports: COM1 8250 at
 * 0x3f8 (IRQ 4), i8042 0x60/0x64 (reset line only), debug exit 0x501. */
#define VKVM_VIRTIO_MMIO_BASE   0xd0000000ULL
#define VKVM_VIRTIO_MMIO_STRIDE 0x1000ULL
#define VKVM_VIRTIO_FIRST_IRQ   5
#define VKVM_IOAPIC_PINS        24
#define VKVM_COM1_IRQ           4

/* ---- ACPI (acpi.c) ----
 * Tables at VKVM_ACPI_ADDR (BIOS area, reserved in e820, where Linux scans
 * for the RSDP): RSDP, XSDT, FADT (hardware-reduced), MADT, DSDT. vessel's
 * ACPI register block (sleep control/status, reset, GED event selector) is
 * at VKVM_ACPI_REGS_BASE in the 3-4 GiB hole; the GED interrupt is GSI
 * VKVM_ACPI_GED_IRQ (the IOAPIC's last pin, level, active high). */
#define VKVM_ACPI_ADDR          0xe0000ULL
#define VKVM_ACPI_SIZE          0x10000ULL  /* up to the MP table at 0xf0000 */
#define VKVM_ACPI_RSDP_OFF      0x0
#define VKVM_ACPI_XSDT_OFF      0x40
#define VKVM_ACPI_FADT_OFF      0x100
#define VKVM_ACPI_MADT_OFF      0x300
#define VKVM_ACPI_DSDT_OFF      0x1000
#define VKVM_ACPI_REGS_BASE     0xcfe00000ULL
#define VKVM_ACPI_REGS_SIZE     0x10
#define VKVM_ACPI_REG_SLEEP_CTL 0
#define VKVM_ACPI_REG_SLEEP_STS 1
#define VKVM_ACPI_REG_EVENT     4
#define VKVM_ACPI_RESET_PORT    0xcf9       /* reset control (reboot=pci) */
#define VKVM_ACPI_RESET_VALUE   0x06
#define VKVM_ACPI_SLP_TYP_S5    5
#define VKVM_ACPI_EVENT_PWRBTN  1u
#define VKVM_ACPI_EVENT_CPUHP   2u          /* the CPU hotplug controller has news: \_SB.CPUS.CSCN */
#define VKVM_ACPI_EVENT_PCIHP   4u          /* the PCI hotplug controller has news: \_SB.PCI0.PCNT */
#define VKVM_ACPI_GED_IRQ       23
#define VKVM_ACPI_MAX_VIRTIO    32
#define VKVM_VIRTIO_MMIO_SIZE   0x200
#define VKVM_ACPI_MCFG_OFF      0xc00

/* ---- PCI (--transport pci, the default): the host bridge's ECAM (bus 0,
 * in the MCFG and reserved by a PNP0C02 device), the window where vessel
 * places the BARs (the PCI root's _CRS), and 0xcf8/0xcfc. INTx of device
 * i is GSI VKVM_VIRTIO_FIRST_IRQ + i (the _PRT), MSI-X through
 * KVM_SIGNAL_MSI. */
#define VKVM_PCI_ECAM_BASE      0xe0000000ULL
#define VKVM_PCI_MMIO_BASE      0xc0000000ULL
#define VKVM_PCI_MMIO_SIZE      0x0c000000ULL

/* ACPI PCI hotplug (pcihp.c): device numbers 1..VKVM_PCI_HP_SLOTS of bus
 * 0 are described in the DSDT (\_SB.PCI0.Sxx, INTA -> GSI
 * VKVM_VIRTIO_FIRST_IRQ - 1 + n in the _PRT), those without a boot device
 * with an _EJ0; the register block of dev/pci's struct pci_hotplug is at
 * VKVM_PCIHP_BASE. */
#define VKVM_PCI_HP_SLOTS       18
#define VKVM_PCIHP_BASE         (VKVM_ACPI_REGS_BASE + 0x200)

struct vkvm_acpi_config {
    unsigned ncpus;                 /* local APICs in the MADT (--smp maxcpus) */
    /* vCPU i enabled in the MADT when bit i is set (0: all of them); the
     * others are "online capable", for CPU hotplug */
    uint64_t present;
    bool cpu_hotplug;               /* the CPU hotplug controller (CPUS) in the DSDT, GED event 2 */
    /* virtio devices described in the DSDT: virtio-mmio slots (LNRO0005
     * at virtio_base with virtio_irq), or with pci the PCI root (PNP0A08,
     * MCFG) and a _PRT entry per device (device number in virtio_base,
     * INTA -> GSI virtio_irq) */
    bool pci;
    uint32_t pci_hotplug;           /* pci: slots (bit n: device n) taking hot-plugged devices; 0: no PCI hotplug */
    unsigned nvirtio;
    uint64_t virtio_base[VKVM_ACPI_MAX_VIRTIO];
    unsigned virtio_irq[VKVM_ACPI_MAX_VIRTIO];
};
/* Write the tables into `m` (pure: no /dev/kvm). 0, -EINVAL (bad config),
 * -EFAULT (no RAM there), -ENOSPC (DSDT too large). */
int vkvm_acpi_build(struct guest_mem *m, const struct vkvm_acpi_config *c);
/* Sum of `n` bytes (an ACPI table sums to 0). */
uint8_t vkvm_acpi_checksum(const uint8_t *p, size_t n);

/* vessel's ACPI register block (what the guest controls):
 * +0 sleep control (SLP_TYP << 2 | SLP_EN 0x20): S5 powers off
 * +1 sleep status (WAK_STS; writes ignored, reads 0: the guest never wakes)
 * +4 GED event selector: pending events; a read returns and clears them
 *    and lowers the GED line */
struct vkvm_acpi {
    struct machine *mach;
    struct irq_line irq;
    uint32_t events;                /* pending GED events (atomic) */
};
enum vkvm_acpi_action { VKVM_ACPI_NONE, VKVM_ACPI_POWEROFF, VKVM_ACPI_RESET };
uint64_t vkvm_acpi_reg_read(struct vkvm_acpi *acpi, uint64_t off, unsigned size);
/* What a guest write asks for (an unsupported sleep type: one rate-limited
 * log line, nothing else). */
enum vkvm_acpi_action vkvm_acpi_reg_write(struct vkvm_acpi *acpi, uint64_t off, uint64_t val, unsigned size);
/* Port 0xcf9 (reset control): RST_CPU (bit 2) resets. */
enum vkvm_acpi_action vkvm_acpi_rcr_write(uint64_t val);
/* The power button: set the event, raise the GED line. */
int vkvm_acpi_press(struct vkvm_acpi *acpi);
/* Any GED event (VKVM_ACPI_EVENT_*): set it, raise the line. */
void vkvm_acpi_event(struct vkvm_acpi *acpi, uint32_t ev);

/* ---- CPU hotplug (cpuhp.c; --smp N,maxcpus=M) ----
 * vessel's CPU hotplug register block at VKVM_CPUHP_BASE, driven by the
 * DSDT's processor container \_SB.CPUS (QEMU's and Cloud Hypervisor's
 * shape): +0 selector (dword), +4 flags of the selected vCPU (byte):
 * read ENABLED | INSERTING | REMOVING; write INSERTING / REMOVING to
 * clear them (the guest has seen the event), EJECT to remove the vCPU
 * (its _EJ0). Flags are atomic: the QMP thread plugs while vCPUs read. */
#define VKVM_CPUHP_BASE         (VKVM_ACPI_REGS_BASE + 0x100)
#define VKVM_CPUHP_SIZE         8
#define VKVM_CPUHP_SEL          0
#define VKVM_CPUHP_FLAGS        4
#define VKVM_CPUHP_ENABLED      1u
#define VKVM_CPUHP_INSERTING    2u
#define VKVM_CPUHP_REMOVING     4u
#define VKVM_CPUHP_EJECT        8u
struct vkvm_cpuhp {
    unsigned ncpus;                 /* M: vCPUs the guest can have */
    uint32_t sel;
    uint8_t flags[VKVM_MAX_VCPUS];
};
/* vCPUs 0..boot-1 present. */
void vkvm_cpuhp_init(struct vkvm_cpuhp *h, unsigned ncpus, unsigned boot);
uint64_t vkvm_cpuhp_read(struct vkvm_cpuhp *h, uint64_t off, unsigned size);
/* A guest write: the vCPU its EJECT removes (flags cleared), or -1. A bad
 * eject (vCPU 0, one not present): a rate-limited log line, -1. */
int vkvm_cpuhp_write(struct vkvm_cpuhp *h, uint64_t off, uint64_t val, unsigned size);

int vkvm_open_dev(const char *dev);    /* fd, or -errno after one log line */

/* ---- snapshot (snapshot.c, state.c; docs/snapshot.md) ----
 * A vessel kvm snapshot is of machine type VKVM_MACHINE_TYPE. Its engine
 * sections, each VKVM_SNAP_VERSION and of exactly the size below:
 *   kvm.vm       struct vkvm_vm_state: the in-kernel PICs, IOAPIC, PIT,
 *                the kvmclock, the board (ACPI GED events)
 *   kvm.cpu.N    struct vkvm_cpu_state of vCPU N
 * Both are plain copies of KVM's own structs (x86-64, little endian). */
#define VKVM_MACHINE_TYPE       "x86_64-kvm"
#define VKVM_SNAP_VERSION       1
#define VKVM_SNAP_MAX_MSRS      256
#define VKVM_MSR_TSC            0x10u
#define VKVM_MSR_TSC_DEADLINE   0x6e0u
#define VKVM_CPU_XSAVE          1u          /* xsave holds KVM_GET_XSAVE's region */
#define VKVM_CPU_XCRS           2u          /* xcrs holds KVM_GET_XCRS */
#define VKVM_CPU_DEADLINE       4u          /* tsc_deadline holds MSR 0x6e0 */
#define VKVM_VM_ACPI            1u          /* the board had ACPI (not --no-acpi) */
#define VKVM_VM_MMIO            2u          /* --transport mmio */
struct vkvm_cpu_state {
    uint32_t cpu, flags;                    /* VKVM_CPU_* */
    uint32_t mp_state, nmsrs;
    uint64_t tsc_deadline;
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    struct kvm_fpu fpu;
    uint32_t xsave[1024];                   /* struct kvm_xsave's region */
    struct kvm_xcrs xcrs;
    struct kvm_lapic_state lapic;
    struct kvm_vcpu_events events;
    struct kvm_debugregs debugregs;
    struct kvm_msr_entry msrs[VKVM_SNAP_MAX_MSRS];  /* the TSC first */
};
struct vkvm_vm_state {
    uint32_t ncpus, flags;                  /* VKVM_VM_* */
    struct kvm_irqchip pic[2], ioapic;      /* chip ids 0 (master), 1 (slave), 2 */
    struct kvm_pit_state2 pit;
    uint64_t clock;                         /* kvmclock (ns) when the guest stopped */
    uint32_t acpi_events, reserved;
};
/* Which of KVM_GET_MSR_INDEX_LIST's MSRs a snapshot carries, in the order
 * they are set back: duplicates and MSRs a VMM must not or need not save
 * are dropped (MCG_CTL, Intel PT's RTIT range, the TSC deadline, which is
 * set after the LAPIC), the TSC goes first (the TSC deadline and
 * TSC_ADJUST are relative to it). At most `max` written; the count. */
unsigned vkvm_msr_filter(const uint32_t *in, unsigned n, uint32_t *out, unsigned max);
bool vkvm_msr_saveable(uint32_t index);
/* Check the engine sections of snapshot `s` for a board of `ncpus` vCPUs
 * and `flags` (VKVM_VM_*): each present, of this version and size, with
 * values a vCPU or the VM can have; no kvm.* section this vessel does not
 * know. 0, or -EINVAL with one line in err. Pure (tests, the fuzzer). */
struct snap;
int vkvm_snap_check(const struct snap *s, unsigned ncpus, uint32_t flags, char *err, size_t errlen);

/* ---- `vessel kvm` ---- */
struct vkvm_config {
    struct machine_config mc;       /* RAM, vCPUs (ncpus: maxcpus), serial, virtio, -S, --no-reboot, monitor */
    unsigned boot_cpus;             /* --smp N,maxcpus=M: N (0: all of mc.ncpus) */
    const char *kernel, *initrd, *append;
    const char *dev;                /* the KVM device (/dev/kvm) */
    struct vkvm_cpu_hide hide;
    bool no_acpi;                   /* --no-acpi: MP table and command-line devices only */
    bool mmio;                      /* --transport mmio (default pci) */
    struct virtio_mem_opts vmem;    /* --memory-hotplug (vmem.size 0: none); addr chosen by the board */
    const struct snap *restore;     /* --restore: RAM and state from this snapshot after the build */
    bool restore_verify;            /* --restore DIR,verify: check the RAM files' CRC first */
};
/* What `vessel kvm --restore DIR` builds: the configuration the snapshot's
 * manifest records (kernel, initrd, append, RAM, vCPUs, virtio devices,
 * transport, ACPI, hidden CPU features). A snapshot of another machine
 * type (vessel run's riscv64-virt) or a config that lacks a key: one log
 * line, -EINVAL. cfg->restore is set to s. */
int vkvm_config_from_snapshot(struct vkvm_config *cfg, const struct snap *s);
/* Read and check the kernel (bzImage or PVH vmlinux) and initrd, build the
 * VM on a struct machine, boot, run until the guest stops. Returns the
 * process exit status: the guest's (debug-exit port), 0 power-off or quit,
 * 3 reboot with --no-reboot, 128+sig, 1 when KVM or the guest failed,
 * 2 bad input (one log line). */
int vkvm_run(const struct vkvm_config *cfg);
/* --memory-hotplug size=SIZE[,block-size=SIZE][,requested=SIZE][,id=ID]:
 * 0, or -EINVAL after one log line naming the value. */
int vkvm_parse_memory_hotplug(const char *spec, struct virtio_mem_opts *o);
/* Where the device-managed region of a machine with `ram` bytes goes:
 * above RAM and the 4 GiB boundary, aligned to 1 GiB. */
uint64_t vkvm_vmem_base(uint64_t ram);

#endif
