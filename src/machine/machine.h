/* machine: what every VM has, whichever engine runs its CPUs.
 *
 * One struct machine per VM owns guest memory, the MMIO and port buses, the
 * I/O thread (event loop), the serial chardev and its 8250, the virtio
 * devices the command line asked for (their slot layout), the list of every
 * device (one ops table each), the run state (running / paused / reset /
 * shutdown), the signal and exit-status policy and the events a monitor
 * sees. An engine (emu/riscv/virt, kvm/x86) supplies only the vCPUs, the
 * interrupt wiring and the boot (loading images, CPU reset), through
 * struct machine_engine_ops.
 *
 * ===== QMP ENGINEER'S ENTRY POINT =====
 * The "control" section below is what the QMP socket drives: pause, resume,
 * reset, powerdown, quit, the status / vCPU / block queries and the event
 * callback. A monitor attaches through machine_config.monitor (started on
 * the machine's I/O loop before the vCPUs run, stopped before the machine
 * is freed). Every control call is made from a thread that is not a vCPU
 * (the I/O loop thread is fine). Which parts work today is said on each
 * declaration; one returning -ENOSYS says so.
 *
 * Threads: the main thread runs machine_run() and is the only one that
 * starts, joins and resets vCPUs; vCPU threads call machine_vcpu_enter()
 * before every entry into guest code and never block in a control call.
 */
#ifndef VESSEL_MACHINE_H
#define VESSEL_MACHINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus/bus.h"
#include "dev/pci/pci.h"
#include "dev/virtio/options.h"
#include "mem/mem.h"

struct machine;
struct loop;
struct chardev;
struct snap;
struct snap_writer;

/* ---- checks shared by `vessel run` and `vessel kvm` ----
 * Each logs one line naming the bad value and returns -EINVAL. */
#define MACHINE_MIN_RAM (16ULL << 20)
int machine_parse_mem(const char *arg, uint64_t *out);            /* -m: >= 16M, page multiple, <= host RAM */
/* --smp: 1..max; `what` names the unit in the message ("hart", "vCPU") */
int machine_parse_smp(const char *arg, unsigned max, const char *what, unsigned *out);
/* --smp [cpus=]N[,maxcpus=M]: N online at boot, M in all (N <= M <= max;
 * maxcpus=M alone: N = M, as QEMU). total NULL: maxcpus above N refused. */
int machine_parse_smp_max(const char *arg, unsigned max, const char *what, unsigned *boot, unsigned *total);
uint64_t machine_host_mem_bytes(void);                             /* 0 if unknown */
/* --mem-merge[=on|off] (QEMU's mem-merge): NULL or "on" -> false, "off" -> true */
int machine_parse_mem_merge(const char *arg, bool *off);

/* ---- devices ----
 * Every device of a machine is registered once with one ops table. The
 * machine walks the list on reset (in registration order), on snapshot
 * (save/load: the device's guest-visible state as a plain struct of
 * state_size bytes, saved with the vCPUs parked) and on free (destroy, in
 * reverse order, after the vCPUs and the I/O thread have stopped). Every
 * member but name is optional. */
struct machine_dev_ops {
    const char *name;                               /* kind: "uart8250", "virtio-blk", ... */
    void (*reset)(void *opaque);                    /* system reset: power-on state */
    size_t state_size;
    void (*save)(void *opaque, void *state);
    int (*load)(void *opaque, const void *state);  /* 0 or -EINVAL (checked like guest input) */
    void (*destroy)(void *opaque);
    /* Pause: finish in-flight requests and take no new work from host
     * backends until resume (the vCPUs are parked when it is called). */
    void (*pause)(void *opaque);
    void (*resume)(void *opaque);
    /* Optional: state of variable size (a host backend's, e.g. libslirp's),
     * saved after `save` as its own section: append to *buf (xrealloc'd,
     * *len updated); load gets the same bytes back. 0 or -errno. */
    int (*save_var)(void *opaque, uint8_t **buf, size_t *len);
    int (*load_var)(void *opaque, const uint8_t *buf, size_t len);
};
/* `id` names the instance ("vda", "serial0", "rtc"); copied. 0 or -ENOMEM. */
int machine_dev_add(struct machine *m, const char *id, const struct machine_dev_ops *ops, void *opaque);
unsigned machine_dev_count(const struct machine *m);
/* Device i (registration order): its id, ops and opaque. -ENOENT past the end. */
int machine_dev_at(const struct machine *m, unsigned i, const char **id,
                   const struct machine_dev_ops **ops, void **opaque);

/* ---- the engine ---- */
struct machine_cpu_info {
    unsigned cpu_index;
    int thread_id;              /* host thread id (gettid), 0 if not started */
    const char *arch;           /* QMP CpuInfoArch: "riscv", "x86" */
    const char *target;         /* "riscv64", "x86_64" */
    uint64_t pc;                /* last known pc / rip (at the last park; 0 if unknown) */
    bool halted;                /* waiting for an interrupt or stopped (HSM / wait-for-SIPI) */
    const char *state;          /* the engine's name of its run state ("started", "stopped" ...), or NULL */
};
struct machine_engine_ops {
    const char *arch, *target;
    /* Create (first time) and start one host thread per vCPU. Each thread
     * calls machine_vcpu_enter() before every entry into guest code and
     * returns when it says false. 0 or -errno. */
    int (*start)(void *eng);
    /* Any thread: make every vCPU leave guest code (and any wait for an
     * interrupt) soon and call machine_vcpu_enter(). Must not be lost if
     * it races with a vCPU entering the guest. */
    void (*kick)(void *eng);
    /* Join the vCPU threads (they have been told to return). */
    void (*join)(void *eng);
    /* vCPU threads joined, devices reset: reset every vCPU to its power-on
     * state and load the kernel, initrd and device tree again. 0 or -errno. */
    int (*reset)(void *eng);
    /* The guest's clock stops while paused and goes on from where it
     * stopped (RISC-V time CSR and timers; kvmclock). Called with every
     * vCPU parked. */
    void (*clock_stop)(void *eng);
    void (*clock_start)(void *eng);
    /* Optional: fill pc and halted of vCPU `cpu` (called with it parked). */
    void (*cpu_state)(void *eng, unsigned cpu, struct machine_cpu_info *ci);
    /* Snapshot (docs/snapshot.md). A snapshot restores only into an engine
     * of the same machine_type ("riscv64-virt"). save: every vCPU, the
     * interrupt controllers, timers and whatever else the engine keeps,
     * as versioned sections (snap_add_section), plus the configuration
     * keys the engine needs to be built again (snap_add_config: kernel,
     * firmware ...); called with the machine paused. load: check every
     * section first (a missing or unknown one, a wrong length or version:
     * -EINVAL and one line in err), then apply; called with the machine
     * paused or not started, after RAM is in place and before the devices
     * load. NULL save: the machine cannot be snapshotted (-ENOTSUP). */
    const char *machine_type;
    int (*save)(void *eng, struct snap_writer *w);
    int (*load)(void *eng, const struct snap *s, char *err, size_t errlen);
    /* Optional: load's checks alone, made before the machine is paused or
     * anything changes (a bad section then leaves a running guest be). */
    int (*check)(void *eng, const struct snap *s, char *err, size_t errlen);
    /* Optional, any time: the vCPU's run state as the engine names it
     * (RISC-V: its SBI HSM state, "started", "stopped", "suspended" ...). */
    const char *(*cpu_state_name)(void *eng, unsigned cpu);
    /* Dirty logging, for live migration (machine/migrate.c; docs/snapshot.md,
     * "Migration"). Engine-neutral: the machine keeps one bitmap per RAM
     * region (guest_mem order; bit k = the 4 KiB page at region gpa + k *
     * 4096) and fills it from two sources: what the engine's vCPUs wrote
     * (these ops), and what devices and the VMM wrote through the shared
     * memory helpers (mem_write, mem_discard, mem_map_file, virtq_push:
     * logged by mem/ itself while mem_dirty_enable is on).
     * - dirty_log_start: from its return on, every vCPU write to RAM is
     *   logged. Called with every vCPU parked. RISC-V: mem_dirty_enable
     *   plus every hart's TLB flushed (while logging, a store's slow path
     *   marks its page before it fills the write TLB entry; each sync
     *   drops the write entries again, so the first store to a page after
     *   a sync marks it). KVM: KVM_MEM_LOG_DIRTY_PAGES on each memslot.
     * - dirty_log_sync(region, bitmap): OR the pages of that region written
     *   since the last sync (or start) into bitmap, clear the engine's own
     *   log, return how many bits it set that were clear. Called with every
     *   vCPU parked (no store half done); every write after it returns is
     *   in the next sync. RISC-V: rv_dirty_log_sync. KVM:
     *   KVM_GET_DIRTY_LOG on the region's slot.
     * - dirty_log_stop: logging off (vCPUs parked).
     * All three NULL: the machine cannot be migrated (refused with a line).
     * A device that writes guest memory behind these (vhost: the kernel
     * writes the rings) must log its writes into the same bitmap
     * (VHOST_SET_LOG_BASE) or call machine_add_migration_blocker. */
    int (*dirty_log_start)(void *eng);
    uint64_t (*dirty_log_sync)(void *eng, unsigned region, uint64_t *bitmap);
    void (*dirty_log_stop)(void *eng);
    /* Optional, CPU hotplug (vCPUs 0..ncpus-1 are the possible ones; the
     * engine says which have no thread with machine_vcpu_set_absent):
     * cpu_plug makes vCPU `cpu` present and tells the guest (0, -EEXIST
     * present, -EBUSY still leaving, -EOPNOTSUPP the board cannot,
     * -errno); cpu_unplug asks the guest to give it back (0, -ENOENT not
     * present, -EPERM never this one); the guest's answer comes later
     * through machine_cpu_removed. Any thread but a vCPU's. */
    int (*cpu_plug)(void *eng, unsigned cpu);
    int (*cpu_unplug)(void *eng, unsigned cpu);
    /* Optional, PCI hotplug (the device is on the bus already): tell the
     * guest slot `slot` has a new device (plug), or ask it to give the
     * one there back (!plug). 0, -EINVAL (not a hot-pluggable slot),
     * -EBUSY, -ENOENT (nothing plugged there), -EOPNOTSUPP. The guest's
     * eject comes through machine_pci_ejected. */
    int (*pci_hotplug)(void *eng, unsigned slot, bool plug);
};

/* ---- configuration ---- */
struct machine_monitor {
    /* Called once on the main thread after the devices exist, before the
     * vCPUs start (the I/O loop is running): attach sockets to
     * machine_loop(m). 0 or -errno (the machine then does not run). */
    int (*start)(struct machine *m, void *opaque);
    /* Called once before the machine is freed (vCPUs joined, loop running). */
    void (*stop)(void *opaque);
    void *opaque;
};
struct machine_config {
    uint64_t ram_size;
    unsigned ncpus;
    const char *serial;         /* chardev spec of the first UART: stdio (default), unix:PATH, file:PATH, null */
    struct virtio_options virtio;   /* copied; the caller frees it (virtio_options_free) after machine_free */
    bool start_paused;          /* -S without --gdb: every vCPU stopped until machine_resume */
    bool no_reboot;             /* --no-reboot: a guest reboot ends the run with MACHINE_EXIT_REBOOT */
    bool mem_merge_off;         /* --mem-merge=off: guest RAM not offered to KSM (default: offered, as QEMU) */
    const char *incoming;       /* --incoming URI: wait there for a migration stream, then run it (NULL: boot) */
    /* hot-spare replication (docs/replication.md) */
    const char *replicate;      /* --replicate URI: once running, replicate to the standby there */
    uint64_t replicate_period_ms;   /* its epoch (0: 25 ms) */
    const char *standby;        /* --standby URI: a standby that takes over when the primary's stream stops */
    uint64_t standby_timeout_ms;    /* no epoch for this long is a failure (0: 1000 ms) */
    struct machine_monitor monitor;   /* all NULL: none */
};

/* What the command line put into a config that the machine does not own:
 * the parsed virtio options and a --qmp monitor. After machine_free. */
void machine_config_release(struct machine_config *cfg);

/* Exit statuses of `vessel run` / `vessel kvm` */
#define MACHINE_EXIT_BADARG 2   /* bad options or input files */
#define MACHINE_EXIT_REBOOT 3   /* --no-reboot and the guest asked for a reboot */
#define MACHINE_EXIT_ERROR  4   /* the machine stopped on an error */

/* ---- building ----
 * machine_new: memory (no regions yet), buses, the I/O loop and the serial
 * chardev (Ctrl-A x quits through machine_quit). NULL after one log line. */
struct machine *machine_new(const struct machine_config *cfg);
void machine_set_engine(struct machine *m, const struct machine_engine_ops *ops, void *eng);
struct guest_mem *machine_mem(struct machine *m);
struct bus *machine_mmio(struct machine *m);
struct bus *machine_pio(struct machine *m);
struct loop *machine_loop(struct machine *m);
struct chardev *machine_serial(struct machine *m);
const struct machine_config *machine_config(const struct machine *m);

/* The 8250 on the serial chardev at `base` of `bus`, registered as device
 * "serial0". 0 or -errno (logged). */
int machine_add_uart(struct machine *m, struct bus *bus, uint64_t base, unsigned reg_shift,
                     struct irq_line irq);

/* The virtio slots of a board: slot i at base + i * stride on `bus`,
 * interrupt irq_for(opaque, i); at most `nslots`. machine_add_virtio
 * builds every virtio device of cfg->virtio into the slots (one log line
 * naming the count when there are more devices than slots), registers
 * each as a device, and gives a virtio-console the serial chardev's input
 * (output goes to the same chardev), the same on every engine. */
struct pci_host;
struct virtio_doorbell_ops;
struct machine_virtio_layout {
    struct bus *bus;
    uint64_t base, stride;
    /* pci set: the devices are virtio-pci functions on it instead (INTx
     * irq_for(opaque, i), MSI-X through msi); bus, base, stride unused */
    struct pci_host *pci;
    struct msi_line msi;
    /* pci only, optional: notifications by eventfd (KVM_IOEVENTFD), served
     * on the machine's I/O loop instead of the vCPU thread */
    const struct virtio_doorbell_ops *doorbells;
    unsigned nslots;            /* pci: device numbers 1..nslots (slot i is device i + 1) */
    unsigned first_irq;         /* what the guest is told for slot 0 (cmdline / FDT) */
    struct irq_line (*irq_for)(void *opaque, unsigned slot);
    void *opaque;
};
int machine_add_virtio(struct machine *m, const struct machine_virtio_layout *l);
unsigned machine_virtio_count(const struct machine *m);
/* Whether the virtio devices are on PCI (machine_virtio_layout.pci). */
bool machine_virtio_is_pci(const struct machine *m);
/* The engine dropped its doorbell assignments (a new VM): assign again. */
void machine_virtio_doorbells_reassign(struct machine *m);
/* Slot i: mmio base (pci: its device number on bus 0) and the IRQ the
 * guest is told (first_irq + i; pci: INTx). */
void machine_virtio_slot(const struct machine *m, unsigned i, uint64_t *base, unsigned *irq);
/* "virtio_mmio.device=512@0xBASE:IRQ ..." for guests without a device
 * tree (empty for pci). Length, or -ENOSPC. */
int machine_virtio_cmdline(const struct machine *m, char *buf, size_t len);

/* A device that can ask the guest to power down (the RISC-V board's GPIO
 * power button, ACPI's power button on x86) registers here; one per
 * machine. `press` runs on the caller's thread of machine_powerdown. */
void machine_set_power_button(struct machine *m, int (*press)(void *opaque), void *opaque);

/* Run: start the I/O loop and the monitor, the vCPUs (unless
 * start_paused), then serve stop, reset and signals (SIGINT, SIGTERM,
 * SIGHUP: orderly stop, exit 128+sig) until the machine shuts down.
 * Returns the exit status (see machine_shutdown). The calling thread must
 * be the one that created the machine. */
int machine_run(struct machine *m);
/* Stops the monitor, the vCPUs (if still running) and the I/O loop, then
 * destroys the devices in reverse order, the chardev, buses and memory. */
void machine_free(struct machine *m);

/* ---- stop: guest and host requests (any thread, vCPU threads included) ---- */
enum machine_stop {
    MACHINE_STOP_POWEROFF,      /* guest power-off: exit 0 */
    MACHINE_STOP_REBOOT,        /* guest reboot: reset in place, or exit 3 with no_reboot */
    MACHINE_STOP_QUIT,          /* Ctrl-A x, QMP quit, gdb kill: exit 0 */
    MACHINE_STOP_SIGNAL,        /* SIGINT/SIGTERM/SIGHUP: exit 128+sig */
    MACHINE_STOP_FAIL,          /* guest reported failure (syscon, SBI SRST): exit `status` */
    MACHINE_STOP_EXIT,          /* bare-metal / test guest exit code: exit `status` */
    MACHINE_STOP_ERROR,         /* vessel cannot go on (a vCPU died): exit `status`, 4 if 0 */
};
/* The first request wins (a reboot request is consumed by the reset).
 * Returns at once; the main thread stops the vCPUs. */
void machine_shutdown(struct machine *m, enum machine_stop why, int status);
/* Why the run ended (valid after machine_run returned). */
enum machine_stop machine_stop_reason(const struct machine *m);
/* The exit status the run ends with (valid once stopping). */
int machine_exit_status(const struct machine *m);

/* ---- the vCPU side ---- */
/* Before every entry into guest code: fast (one atomic load) while nothing
 * is asked; parks the thread while the machine is paused; false when the
 * thread must return (shutdown or reset). */
bool machine_vcpu_enter(struct machine *m, unsigned cpu);
/* Around a wait that runs no guest code and is not woken by kick (a RISC-V
 * hart stopped by HSM, an x86 AP before SIPI): the vCPU counts as parked
 * meanwhile. idle_end does not park: the next machine_vcpu_enter does. */
void machine_vcpu_idle_begin(struct machine *m, unsigned cpu);
void machine_vcpu_idle_end(struct machine *m, unsigned cpu);
/* PCI hotplug: the guest ejected the device in PCI slot `slot` (its
 * _EJ0): it is taken off the bus at once and freed on the machine's I/O
 * thread, which then emits DEVICE_DELETED. Any thread (a vCPU's). */
void machine_pci_ejected(struct machine *m, unsigned slot);
/* CPU hotplug: vCPU `cpu` has no thread (not plugged, or its thread
 * returned after an unplug): it counts as parked, and query-cpus-fast
 * leaves it out. false: a thread is about to run it. Any thread. */
void machine_vcpu_set_absent(struct machine *m, unsigned cpu, bool absent);
/* The guest gave vCPU `cpu` back (its eject): the id device_add gave it is
 * free again and DEVICE_DELETED is emitted. Any thread. */
void machine_cpu_removed(struct machine *m, unsigned cpu);
/* Whether the vCPU thread must return at the next chance (cheap). */
bool machine_vcpu_should_exit(const struct machine *m);

/* ===== control: what the QMP socket drives (QMP engineer) ===== */
enum machine_status {
    MACHINE_PRELAUNCH,          /* -S: not started yet (QMP "prelaunch") */
    MACHINE_RUNNING,            /* "running" */
    MACHINE_PAUSED,             /* "paused": every vCPU parked, devices quiet, clock stopped */
    MACHINE_SHUTDOWN,           /* "shutdown": stopping or stopped */
    MACHINE_INTERNAL_ERROR,     /* "internal-error" */
};
enum machine_status machine_status(struct machine *m);
const char *machine_status_name(enum machine_status s);   /* QMP RunState strings */

/* Events, as QMP names them. SHUTDOWN carries guest (true when the guest
 * asked) and reason (QMP ShutdownCause: "guest-shutdown", "guest-reset",
 * "host-qmp-quit", "host-qmp-system-reset", "host-signal", "host-error",
 * "guest-panic"); RESET the same. The callback runs on the thread where
 * the change happens (a vCPU thread, the main thread, or the caller of a
 * control function): it must not call control functions itself and must
 * not block for long; queue the event to the loop. */
enum machine_event { MACHINE_EV_STOP, MACHINE_EV_RESUME, MACHINE_EV_SHUTDOWN, MACHINE_EV_POWERDOWN,
                     MACHINE_EV_RESET, MACHINE_EV_BALLOON_CHANGE, MACHINE_EV_MIGRATION,
                     MACHINE_EV_REPLICATION_FAILOVER, MACHINE_EV_DEVICE_DELETED };
struct machine_event_info {
    enum machine_event event;
    const char *name;           /* "STOP", "RESUME", "SHUTDOWN", "POWERDOWN", "RESET", "BALLOON_CHANGE", "MIGRATION",
                                 * "REPLICATION_FAILOVER", "DEVICE_DELETED" */
    bool guest;
    const char *reason;         /* SHUTDOWN and RESET; MIGRATION: the new status; DEVICE_DELETED: the id;
                                 * NULL otherwise */
    uint64_t value;             /* BALLOON_CHANGE: the guest's memory (RAM minus balloon), bytes;
                                   REPLICATION_FAILOVER: the epoch the guest goes on from */
};
void machine_set_event_cb(struct machine *m, void (*cb)(void *opaque, const struct machine_event_info *e),
                          void *opaque);

/* Park every vCPU at an instruction boundary (RISC-V: between blocks;
 * KVM: out of KVM_RUN), let devices finish in-flight requests, stop the
 * guest clock; returns once all that is true (emits STOP). Already paused
 * or prelaunch: 0, no event. -ESHUTDOWN once the machine is stopping. */
int machine_pause(struct machine *m);
/* Clock on, vCPUs go on (emits RESUME); from prelaunch it starts them.
 * Running: 0, no event. -ESHUTDOWN once stopping. */
int machine_resume(struct machine *m);
/* System reset, as a guest reboot: every device and vCPU reset, kernel,
 * initrd and device tree loaded again; the run state is kept (a paused
 * machine stays paused). Asynchronous: returns at once, RESET follows. */
int machine_reset(struct machine *m);
/* Ask the guest to power down (press the power button): POWERDOWN is
 * emitted; the guest's own power-off then ends the run. -ENOSYS when the
 * engine has no power button yet (machine_set_power_button not called). */
int machine_powerdown(struct machine *m);
/* End the run now (SHUTDOWN, reason host-qmp-quit; exit status 0). */
void machine_quit(struct machine *m);

/* CPU hotplug (QMP device_add / device_del of a CPU, query-hotpluggable-cpus):
 * machine_cpu_add plugs vCPU `cpu` under the name `id` (unique among the
 * machine's devices and CPUs); machine_cpu_del asks the guest to give
 * back the vCPU device_add named `id` (-ENOENT: no CPU of that name, so
 * the caller may look among other devices). 0, or -errno with one line
 * in err naming the value. machine_cpu_slot: vCPU `cpu`'s state and id
 * (NULL: present since boot, or absent); -ENOENT past the possible ones,
 * -ENOTSUP when the engine has no CPU hotplug. */
int machine_cpu_add(struct machine *m, unsigned cpu, const char *id, char *err, size_t errlen);
int machine_cpu_del(struct machine *m, const char *id, char *err, size_t errlen);
struct machine_cpu_slot {
    bool present;
    char id[64];                /* "": none */
};
int machine_cpu_slot(struct machine *m, unsigned cpu, struct machine_cpu_slot *out);

/* PCI hotplug of virtio devices (QMP device_add / device_del of
 * virtio-blk-pci and virtio-net-pci; docs/qmp.md). machine_device_add
 * builds the device in a free slot (or `slot`) of the PCI host bridge and
 * has the engine tell the guest; machine_device_del asks the guest to
 * give the device back (DEVICE_DELETED once it has ejected it). 0, or
 * -errno with one line in err naming the value; machine_device_del
 * returns -ENOENT without a line when no hot-plugged device has that id. */
struct machine_pci_device {
    const char *driver;         /* QEMU's name, for messages: "virtio-blk-pci" */
    const char *option;         /* the virtio kind: "disk" or "net" (--disk, --net) */
    const char *id;
    unsigned slot;              /* PCI device number, 0: the first free one */
    struct disk_opts disk;      /* disk */
    const char *net;            /* net: what --net takes ("user,hostfwd=...") */
};
int machine_device_add(struct machine *m, const struct machine_pci_device *d, char *err, size_t errlen);
int machine_device_del(struct machine *m, const char *id, char *err, size_t errlen);
/* Hot-plugged devices now (snapshots and migration refuse them). */
unsigned machine_hotplug_count(struct machine *m);
/* QMP query-pci: the function in `slot` of bus 0 and the id device_add
 * gave it ("" otherwise). 0, -ENOENT (empty slot), -ENODEV (no PCI). */
struct machine_pci_info {
    struct pci_slot_info s;
    char id[64];
};
int machine_pci_info(struct machine *m, unsigned slot, struct machine_pci_info *out);

/* The machine's virtio-mem device (vessel kvm --memory-hotplug), for QMP
 * qom-get/qom-set and query-memory-devices; one per machine. */
struct virtio_mem;
int machine_set_memdev(struct machine *m, struct virtio_mem *d);
struct virtio_mem *machine_memdev(struct machine *m);

unsigned machine_ncpus(const struct machine *m);
/* vCPU i: 0, -ENOENT past the end, -ENODEV when absent (CPU hotplug).
 * pc/halted are fresh while paused. */
int machine_cpu_info(struct machine *m, unsigned i, struct machine_cpu_info *ci);
struct machine_block_info {
    const char *device;         /* the disk's id: --disk ...,id=NAME, else vda, vdb, ... */
    const char *file;           /* the image path */
    bool readonly;
    bool direct;                /* cache=none */
    uint64_t size;              /* bytes */
};
/* The balloon (--balloon): QMP balloon sets the guest's wanted size in
 * bytes (clamped to RAM); query-balloon reads RAM minus the balloon.
 * -ENODEV without a balloon device. machine_balloon gives the device
 * (dev/virtio/virtio.h) for its statistics, or NULL. */
int machine_balloon_set(struct machine *m, uint64_t bytes);
int machine_balloon_query(struct machine *m, uint64_t *actual);
struct virtio_balloon *machine_balloon(struct machine *m);

unsigned machine_nblock(const struct machine *m);
int machine_block_info(const struct machine *m, unsigned i, struct machine_block_info *bi);

/* ---- snapshot and restore (machine/snapshot.h has the format) ----
 * machine_snapshot pauses a running machine (vCPUs parked, in-flight
 * device requests finished, clock stopped), writes DIR (created if
 * absent; files written under temporary names and renamed), and lets the
 * guest run on unless opts.paused or it was paused before. opts.disks
 * saves a copy of every disk (a reflink where the file system has one).
 * 0, or -errno with one line in err. From a thread that is not a vCPU. */
struct machine_snapshot_opts {
    bool paused;                /* stay paused afterwards */
    bool disks;                 /* save the disks with it */
};
int machine_snapshot(struct machine *m, const char *dir, const struct machine_snapshot_opts *opts, char *err,
                     size_t errlen);
/* Restore snapshot s into m, built with the same configuration: checks
 * the machine type, vCPUs, RAM layout, device list, disks (identity, see
 * snapshot.h) and RAM files before anything changes, pauses a running
 * machine, maps RAM MAP_PRIVATE from the files, loads the engine and the
 * devices, then runs on unless `paused` or it was paused before (a
 * machine not started yet stays so). A failure once loading has begun
 * stops the machine (exit status 4): a guest never runs on half a state.
 * verify_ram: check each RAM file's CRC-32 first (reads all of it).
 * 0, or -errno with one line in err. */
int machine_restore(struct machine *m, const struct snap *s, bool paused, bool verify_ram, char *err,
                    size_t errlen);
/* ---- live migration (machine/migrate.c, migstream.h; docs/snapshot.md) ----
 * machine_migrate starts sending this machine to uri ("unix:PATH",
 * "tcp:HOST:PORT", where a `vessel run --incoming URI` with the same
 * machine options listens) on a thread of its own and returns: RAM is sent
 * while the guest runs, then the pages dirtied meanwhile, pass after pass,
 * until what is left fits downtime_limit at the bandwidth measured; then
 * the machine pauses, the rest and the device and CPU state (a snapshot's
 * sections) follow, and once the destination says its guest runs the
 * migration is completed and this machine shuts down (exit status 0). A
 * failure or migrate_cancel before that resumes the guest here. Status
 * changes are MIGRATION events. 0, or -errno with one line in err (a bad
 * URI, a connection refused, one already running, a blocker). */
enum machine_mig_status { MIG_NONE, MIG_SETUP, MIG_ACTIVE, MIG_DEVICE, MIG_COMPLETED, MIG_FAILED,
                          MIG_CANCELLING, MIG_CANCELLED };
const char *machine_mig_status_name(enum machine_mig_status s);    /* QEMU's MigrationStatus names */
struct machine_mig_params {
    uint64_t downtime_limit_ms;     /* default 300 (QEMU's) */
    uint64_t max_bandwidth;         /* bytes/s; default 0: unlimited (QEMU: 128 MiB/s) */
    unsigned throttle_initial;      /* auto-converge: first throttle, percent (default 20) */
    unsigned throttle_increment;    /* each further step (default 10); at most 99 in all */
    bool auto_converge;             /* QEMU's capability of that name (default off) */
};
struct machine_mig_info {
    enum machine_mig_status status;
    uint64_t total, transferred, remaining;     /* RAM bytes: all, sent (stream bytes), dirty now */
    uint64_t duplicate, normal, normal_bytes;   /* zero pages, pages sent with data, their bytes */
    uint64_t dirty_rate;                        /* pages dirtied per second in the last pass */
    uint64_t iterations;                        /* dirty-sync-count */
    double mbps;                                /* bandwidth of the last pass, Mbit/s */
    int64_t expected_downtime_ms, downtime_ms, setup_time_ms, total_time_ms;
    unsigned throttle_pct;                      /* auto-converge's vCPU throttle now */
    char error[512];                            /* failed: why */
};
int machine_migrate(struct machine *m, const char *uri, char *err, size_t errlen);
/* Cancel a migration in progress: the guest runs on here, the destination
 * is told (and exits non-zero). -ENOENT when none is running. */
int machine_migrate_cancel(struct machine *m);
void machine_migrate_info(struct machine *m, struct machine_mig_info *out);
void machine_migrate_get_params(struct machine *m, struct machine_mig_params *out);
/* Takes effect at once, also for a migration in progress. */
void machine_migrate_set_params(struct machine *m, const struct machine_mig_params *p);
/* Something that writes guest memory where dirty logging cannot see it
 * (vhost without a log): migration is refused with this reason (copied;
 * at most 8). 0 or -ENOSPC. */
int machine_add_migration_blocker(struct machine *m, const char *reason);

/* ---- hot-spare replication (machine/replicate.c, replica.c; docs/replication.md) ----
 * machine_replicate connects to a standby (`vessel run --standby URI` with
 * the same machine options and its own disk copies) and, on a thread of its
 * own, every period_ms (0: 25) parks the vCPUs, quiesces the devices, takes
 * the RAM pages and disk blocks written since the last epoch and the
 * device and CPU state, lets the guest run on and sends them as one epoch
 * (machine/replstream.h). Console output and network frames the guest
 * produces are held until the standby acknowledges the epoch that produced
 * them (output commit). If the standby fails, the hold ends and the guest
 * runs on unprotected (status "failed"). 0, or -errno with one line in err. */
enum machine_repl_role { REPL_ROLE_NONE, REPL_ROLE_PRIMARY, REPL_ROLE_STANDBY };
struct machine_repl_info {
    enum machine_repl_role role;
    char status[16];            /* "none", "setup", "active", "failed", "stopped", "failed-over" */
    uint64_t period_ms;
    uint64_t epoch;             /* primary: the last epoch sent; standby: the last one applied */
    uint64_t last_ack;          /* the last epoch acknowledged (primary: by the standby; standby: by itself) */
    bool acked;                 /* last_ack is valid */
    uint64_t lag_ms;            /* primary: the last acked epoch's cut to its ack (how long output waits);
                                   standby: since the last epoch came */
    uint64_t pages, zero_pages, disk_bytes, bytes;   /* the last epoch: RAM pages, zero pages, disk, stream bytes */
    uint64_t pause_us;          /* primary: how long the last epoch paused the guest */
    uint64_t total_bytes, epochs;
    uint64_t setup_ms;          /* primary: from the start to epoch 0 acknowledged (the first copy) */
    uint64_t timeout_ms;        /* standby: no data for this long is a dead primary */
    uint64_t max_gap_ms;        /* standby: the longest wait for data from the primary so far (the
                                   timeout's margin: how close a live primary came to it) */
    char uri[128];
    char error[256];
};
int machine_replicate(struct machine *m, const char *uri, uint64_t period_ms, char *err, size_t errlen);
/* `--replicate URI[,period=MS]` / `--standby URI[,timeout=MS]`: cuts
 * ",KEY=MS" off arg (in place) into *ms (1..60000) and checks the URI.
 * 0, or -EINVAL after one line naming the value. */
int machine_parse_repl_arg(const char *opt, char *arg, const char *key, uint64_t *ms);
/* What the options alone rule out for --replicate / --standby (vhost=on):
 * 0, or -ENOTSUP with one line in err. */
int machine_replicate_check_config(const struct machine_config *mc, char *err, size_t errlen);
void machine_replicate_info(struct machine *m, struct machine_repl_info *out);

/* Before the machine is built (`--restore`): put the disks saved with the
 * snapshot back at their paths (reflink or copy, renamed into place).
 * 0, or -errno with one line in err. */
int machine_restore_disks(const struct snap *s, char *err, size_t errlen);

/* `--restore DIR[,verify]` on either engine: refuses it beside an option
 * that shapes the machine (shaping: that option as typed, or NULL), loads
 * DIR's snapshot, sets *verify, lets the engine take its manifest
 * (configure: 0 or -1 after one line), puts the saved disks back and runs
 * the engine. run's exit status, or 2 after one line. */
struct machine_restore_engine {
    int (*configure)(void *cfg, const struct snap *s);
    int (*run)(void *cfg);
};
int machine_restore_run(const char *arg, const char *shaping, bool *verify, const struct machine_restore_engine *e,
                        void *cfg);

#endif
