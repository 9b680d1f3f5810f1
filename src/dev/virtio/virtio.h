/* virtio: virtio 1.x device models shared by every engine.
 *
 * A device model (struct virtio_dev + its ops) knows nothing of its
 * transport; mmio.c adapts it to a struct bus (virtio-mmio version 2), and a
 * pci transport can follow the same way. Devices see guest memory only
 * through mem_translate() and raise interrupts only through the transport
 * (which drives a struct irq_line).
 *
 * Everything a guest writes into a virtqueue is validated in virtq_pop():
 * descriptor loops, chains longer than the queue, addresses outside RAM,
 * lengths that wrap, writable descriptors before readable ones, indirect
 * tables inside indirect tables, avail idx jumping by more than the queue
 * size. A bad ring sets DEVICE_NEEDS_RESET and raises a config-change
 * interrupt; the device then ignores that queue (the others keep working)
 * until the driver resets the device.
 *
 * Threads: the transport is called on a vCPU thread; devices may process
 * queues on their own threads. dev->lock protects the device and queue state
 * (status, features, isr, ring indices).
 */
#ifndef VESSEL_VIRTIO_H
#define VESSEL_VIRTIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "backend/backend.h"
#include "bus/bus.h"
#include "mem/mem.h"
#include "dev/virtio/options.h"
#include "dev/virtio/transport.h"

/* ---- spec constants ---- */
enum {
    VIRTIO_STATUS_ACKNOWLEDGE = 1,
    VIRTIO_STATUS_DRIVER = 2,
    VIRTIO_STATUS_DRIVER_OK = 4,
    VIRTIO_STATUS_FEATURES_OK = 8,
    VIRTIO_STATUS_NEEDS_RESET = 64,
    VIRTIO_STATUS_FAILED = 128,
};

#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX     29
#define VIRTIO_F_VERSION_1     32

#define VIRTQ_DESC_F_NEXT     1
#define VIRTQ_DESC_F_WRITE    2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY     1

#define VIRTIO_ISR_USED   1
#define VIRTIO_ISR_CONFIG 2

enum {
    VIRTIO_ID_NET = 1,
    VIRTIO_ID_BLOCK = 2,
    VIRTIO_ID_CONSOLE = 3,
    VIRTIO_ID_RNG = 4,
    VIRTIO_ID_BALLOON = 5,
    VIRTIO_ID_MEM = 24,
};

#define VIRTQ_MAX_SIZE   256     /* queue size offered (num_max) */
#define VIRTIO_MAX_QUEUES 8
#define VIRTQ_MAX_SEGS   (VIRTQ_MAX_SIZE + 8)

struct virtq_desc { uint64_t addr; uint32_t len; uint16_t flags, next; };
struct virtq_used_elem { uint32_t id, len; };

/* ---- virtqueue ---- */
struct virtq {
    /* driver-programmed configuration (plain data: saved/loaded as is) */
    uint16_t num;              /* queue size, power of two <= VIRTQ_MAX_SIZE */
    bool ready;
    bool broken;               /* the guest wrote a bad ring: ignored until reset */
    uint64_t desc_addr, avail_addr, used_addr;
    /* device-side ring state */
    uint16_t last_avail;       /* next avail entry to consume */
    uint16_t used_idx;         /* next used entry to fill */
    uint16_t signalled_used;   /* used idx at the last interrupt (event idx) */
    bool signalled_valid;
    /* host pointers, recomputed from the addresses when the queue goes ready */
    struct virtq_desc *desc;
    uint16_t *avail;           /* flags, idx, ring[num], used_event */
    uint16_t *used;            /* flags, idx, then struct virtq_used_elem[num], avail_event */
};

/* One popped request: readable (out) then writable (in) segments, pointing
 * straight into guest RAM. */
struct virtq_elem {
    uint16_t head;
    unsigned out_num, in_num;
    uint64_t out_len, in_len;  /* total bytes */
    struct iovec out[VIRTQ_MAX_SEGS];
    struct iovec in[VIRTQ_MAX_SEGS];
    uint64_t in_gpa[VIRTQ_MAX_SEGS];  /* for dirty tracking */
};

struct virtio_dev;

struct virtio_dev_ops {
    /* Queue `q` was notified by the driver (vCPU thread, lock NOT held):
     * process it, or hand it to a worker. */
    void (*notify)(struct virtio_dev *d, unsigned q);
    /* Driver wrote config space bytes [off, off+len) (lock held). Optional. */
    void (*config_write)(struct virtio_dev *d, unsigned off, const void *buf, unsigned len);
    /* Status became DRIVER_OK (lock held). Optional. */
    void (*start)(struct virtio_dev *d);
    /* Device reset by the driver (lock held): stop work, drop state. Must not
     * return while a worker still uses a queue. Optional. */
    void (*reset)(struct virtio_dev *d);
    /* Machine pause / resume (lock held): finish or hold in-flight work,
     * take none until resume. Optional (a device with no work of its own
     * off the vCPU threads needs none). */
    void (*pause)(struct virtio_dev *d);
    void (*resume)(struct virtio_dev *d);
};

/* A transport: how a device signals the driver. */
struct virtio_transport_ops {
    /* isr_bits: VIRTIO_ISR_USED for queue q, VIRTIO_ISR_CONFIG (q -1), or 0
     * to re-drive a level line from d->isr (q -1). Lock held. */
    void (*interrupt)(struct virtio_dev *d, unsigned isr_bits, int q);
    /* The transport has a snapshot state of its own, loaded after the
     * device's (virtio-pci: MSI-X): it calls virtio_dev_kick then, so that
     * the interrupts of the requests the kick completes take the restored
     * route; otherwise virtio_dev_load kicks. */
    bool loads_after_device;
    /* Optional: the eventfd the guest's notification of queue q reaches
     * (an ioeventfd doorbell), taken from vessel's loop (take: the caller,
     * vhost-net, has it read by the kernel) or given back; -1: none. */
    int (*doorbell_fd)(struct virtio_dev *d, unsigned q, bool take);
    /* Optional: eventfd `fd` (-1: none any more) signals queue q's used
     * buffers (vhost-net's call): the transport may have the engine turn
     * it into the queue's interrupt without vessel (an irqfd for its MSI-X
     * vector while that is enabled and unmasked). Whoever signals it still
     * has it read by vessel too, which then finds it empty. Lock held. */
    void (*call_fd)(struct virtio_dev *d, unsigned q, int fd);
};

struct virtio_dev {
    const char *name;                   /* for log lines, e.g. "virtio-blk0" */
    uint32_t device_id, vendor_id;
    uint64_t host_features, guest_features;
    uint32_t status;
    uint32_t config_gen;
    uint32_t isr;
    unsigned nvq;
    struct virtq vq[VIRTIO_MAX_QUEUES];
    uint8_t *config;                    /* device config space (little endian) */
    unsigned config_len;
    struct guest_mem *mem;
    const struct virtio_dev_ops *ops;
    const struct virtio_transport_ops *tops;
    void *transport;                    /* transport state */
    void *opaque;                       /* the device model */
    pthread_mutex_t lock;
    pthread_cond_t cond;                /* for device workers */
    unsigned bad_kinds;                 /* bitmask of guest errors already logged */
};

void virtio_dev_init(struct virtio_dev *d, const char *name, uint32_t device_id,
                     uint64_t features, unsigned nvq, void *config, unsigned config_len,
                     const struct virtio_dev_ops *ops, void *opaque);
void virtio_dev_destroy(struct virtio_dev *d);

/* Transport-facing (lock taken inside). */
void virtio_set_status(struct virtio_dev *d, uint32_t status);
int virtio_queue_enable(struct virtio_dev *d, unsigned q);    /* 0 or -EINVAL */
void virtio_reset(struct virtio_dev *d);

/* Device-facing (call with d->lock held). */
static inline bool virtio_running(const struct virtio_dev *d)
{
    return d->status & VIRTIO_STATUS_DRIVER_OK;
}
static inline bool virtio_has_feature(const struct virtio_dev *d, unsigned bit)
{
    return d->guest_features & (1ULL << bit);
}
/* Pop the next request: 1 = got one in *e, 0 = queue empty (or not usable),
 * -EINVAL = the guest wrote a bad ring (device now NEEDS_RESET). */
int virtq_pop(struct virtio_dev *d, unsigned q, struct virtq_elem *e);
/* Return a request with `len` bytes written to its in segments. */
void virtq_push(struct virtio_dev *d, unsigned q, const struct virtq_elem *e, uint32_t len);
/* Interrupt the driver if it wants to know about new used entries. */
void virtq_notify(struct virtio_dev *d, unsigned q);
/* Interrupt the driver for queue q whatever the ring says (someone else,
 * vhost-net, filled it and decided). */
void virtq_interrupt(struct virtio_dev *d, unsigned q);
/* Whether the queue has requests waiting. */
bool virtq_has_work(struct virtio_dev *d, unsigned q);
/* Guest error of kind `kind` (bit number < 32): log once per kind, set
 * DEVICE_NEEDS_RESET, raise the config interrupt. */
void virtio_needs_reset(struct virtio_dev *d, unsigned kind, const char *what);
void virtio_config_changed(struct virtio_dev *d);

/* Gather/scatter helpers over iovecs. Return bytes copied. */
size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t off, void *buf, size_t len);
size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t off, const void *buf, size_t len);
void virtq_elem_mark_dirty(struct virtio_dev *d, const struct virtq_elem *e, uint64_t len);

/* ---- snapshot: the transport-independent device state as plain data ----
 * Save after the vCPUs and the device's workers are quiescent; load into a
 * device created with the same options, before the vCPUs run. Load checks
 * everything again (ring addresses are re-translated) and returns -EINVAL
 * for state that does not fit this device or this guest memory. */
struct virtq_state {
    uint16_t num, last_avail, used_idx, signalled_used;
    uint8_t ready, signalled_valid, broken;
    uint64_t desc_addr, avail_addr, used_addr;
};
struct virtio_dev_state {
    uint32_t device_id, status, config_gen, isr, nvq;
    uint64_t guest_features;
    struct virtq_state vq[VIRTIO_MAX_QUEUES];
};
void virtio_dev_save(struct virtio_dev *d, struct virtio_dev_state *st);
/* Machine pause: the device finishes its in-flight requests and takes no
 * new work (from the driver or a host backend) until resume. */
void virtio_dev_pause(struct virtio_dev *d);
void virtio_dev_resume(struct virtio_dev *d);
int virtio_dev_load(struct virtio_dev *d, const struct virtio_dev_state *st);
/* After a load: every ready queue with requests the driver made available
 * but the device had not taken gets one notify (the driver will not
 * notify for them again). Lock not held. */
void virtio_dev_kick(struct virtio_dev *d);

/* The virtio-pci transport's own state (transport.h), saved after the
 * device's: the function's config space (BARs, command, MSI-X control),
 * the MSI-X table and PBA, the common configuration's selectors and
 * vectors. load checks it against this function (read-only config bits,
 * queue and vector counts, vectors in range), applies it, drives INTx to
 * the level the state gives and moves the eventfd doorbells to where BAR 0
 * now is. 0 or -EINVAL. */
struct virtio_pci_state {
    uint8_t cfg[PCI_CFG_SIZE];
    uint32_t msix_table[PCI_MSIX_MAX][4];
    uint64_t msix_pba;
    uint32_t nvq, nvec;
    uint32_t dfsel, gfsel;
    uint16_t qsel, config_vec;
    uint16_t queue_vec[VIRTIO_MAX_QUEUES];
    uint32_t reserved;
};
void virtio_pci_save(struct virtio_pci *p, struct virtio_pci_state *st);
int virtio_pci_load(struct virtio_pci *p, const struct virtio_pci_state *st);

/* ---- virtio-blk ---- */
struct virtio_blk;

/* Takes ownership of img. nthreads: worker threads serving requests off the
 * vCPU thread (4 is a good default); 0 = serve synchronously in notify
 * (tests, fuzzing). */
struct virtio_blk *virtio_blk_create(struct blk_image *img, const char *id, unsigned nthreads);
struct virtio_dev *virtio_blk_dev(struct virtio_blk *b);
void virtio_blk_destroy(struct virtio_blk *b);
/* Process queue 0 synchronously on the calling thread (fuzzing, tests). */
void virtio_blk_process(struct virtio_blk *b);

/* ---- virtio-rng ---- */
struct virtio_rng;
struct virtio_rng *virtio_rng_create(void);
struct virtio_dev *virtio_rng_dev(struct virtio_rng *r);
void virtio_rng_destroy(struct virtio_rng *r);

/* ---- virtio-console ----
 * The host side is a tiny callback interface, so any character backend can
 * be plugged in: the device calls `write` with bytes the guest sent; the
 * backend calls virtio_console_input() with bytes for the guest. */
struct virtio_console_port {
    void (*write)(void *opaque, const uint8_t *buf, size_t len);
    /* Optional: the guest posted receive buffers (vCPU thread): input that
     * virtio_console_input did not take can be offered again. */
    void (*rx_ready)(void *opaque);
    void *opaque;
};
struct virtio_console;
struct virtio_console *virtio_console_create(struct virtio_console_port port);
struct virtio_dev *virtio_console_dev(struct virtio_console *c);
/* Feed host input to the guest; returns bytes accepted (the rest has no
 * guest buffer yet: retry after the guest posts more, see `ready`). */
size_t virtio_console_input(struct virtio_console *c, const uint8_t *buf, size_t len);
void virtio_console_destroy(struct virtio_console *c);

/* ---- virtio-net ----
 * The backend runs on an event loop thread; the device hands frames to it
 * through net_backend (backend/backend.h) and gets frames via
 * virtio_net_receive() on that same thread. */
struct virtio_net;

struct loop;
struct virtio_net *virtio_net_create(const uint8_t mac[6], struct net_backend *be, struct loop *loop);
struct virtio_dev *virtio_net_dev(struct virtio_net *n);
/* A frame for the guest (no virtio header). Returns len, or 0 if dropped. */
size_t virtio_net_receive(struct virtio_net *n, const uint8_t *frame, size_t len);
/* Drain the TX queue synchronously (fuzzing, tests; normally the loop does). */
void virtio_net_process_tx(struct virtio_net *n);
/* vhost=on: from the driver's DRIVER_OK on, the kernel's vhost-net at
 * `path` moves the packets between the rings and the tap backend (vessel
 * relays the kernel's used-buffer signals as the transport's interrupts).
 * Before the guest runs. When it cannot (no such device, a backend
 * that is not a tap, no loop): one warning line naming `who` and `path`,
 * and vessel moves the packets itself. */
void virtio_net_vhost(struct virtio_net *n, const char *path, const char *who);
bool virtio_net_vhost_on(struct virtio_net *n);
void virtio_net_destroy(struct virtio_net *n);

/* ---- virtio-balloon ----
 * The host sets a target guest size; the guest inflates (gives pages back,
 * released to the host) or deflates. Options as QEMU's -device
 * virtio-balloon: deflate-on-oom, free-page-reporting (both off by
 * default); the statistics queue and page poisoning are always offered. */
struct virtio_balloon_opts {
    bool deflate_on_oom, free_page_reporting;
    char id[32];                /* QOM name: /machine/peripheral/ID (default balloon0) */
};
/* --balloon[=deflate-on-oom=on,free-page-reporting=on,id=NAME]: 0 or
 * -EINVAL after one log line naming the value. NULL or "": defaults. */
int virtio_parse_balloon(const char *spec, struct virtio_balloon_opts *o);
/* The machine's side: the driver changed `actual` (bytes in the balloon);
 * called on a vCPU thread with the device lock held: queue, do not block. */
struct virtio_balloon_host {
    void (*changed)(void *opaque, uint64_t balloon_bytes);
    void *opaque;
};
/* Guest statistics (virtio tags 0-9); val[] is UINT64_MAX where the guest
 * sent none. last_update: host time(), 0 before the first. */
#define VIRTIO_BALLOON_S_NR 10
struct virtio_balloon_stats {
    uint64_t val[VIRTIO_BALLOON_S_NR];
    unsigned have;              /* bit per tag received */
    int64_t last_update;
};
/* What the device did with what the guest sent (for tests and benches). */
struct virtio_balloon_counters {
    uint64_t inflated, deflated;        /* pages */
    uint64_t refused;                   /* PFNs and ranges skipped as invalid */
    uint64_t reports;                   /* free page reports */
    uint64_t released_bytes;            /* released to the host by inflation */
    uint64_t reported_bytes;            /* released to the host by reporting */
};
struct virtio_balloon;
struct loop;
/* loop: where the stats polling timer runs (NULL: no polling). */
struct virtio_balloon *virtio_balloon_create(const struct virtio_balloon_opts *o, struct loop *loop,
                                             const struct virtio_balloon_host *host);
struct virtio_dev *virtio_balloon_dev(struct virtio_balloon *b);
void virtio_balloon_destroy(struct virtio_balloon *b);
/* QMP balloon: the guest's wanted size in bytes (clamped to RAM). */
int virtio_balloon_set_target(struct virtio_balloon *b, uint64_t guest_bytes);
/* QMP query-balloon "actual": RAM minus what the guest has in the balloon. */
uint64_t virtio_balloon_actual(struct virtio_balloon *b);
void virtio_balloon_get_stats(struct virtio_balloon *b, struct virtio_balloon_stats *st,
                              struct virtio_balloon_counters *cnt);
/* Hand the stats buffer back so the guest refills it (no-op when the
 * device holds none). */
void virtio_balloon_request_stats(struct virtio_balloon *b);
/* guest-stats-polling-interval, seconds (0 = off); any thread (the timer
 * runs on the device's loop). -ENOSYS without a loop. */
int virtio_balloon_set_poll_interval(struct virtio_balloon *b, unsigned seconds);
unsigned virtio_balloon_poll_interval(struct virtio_balloon *b);
const struct virtio_balloon_opts *virtio_balloon_options(const struct virtio_balloon *b);
/* QEMU's name of a stat tag ("stat-free-memory"), NULL past the end. */
const char *virtio_balloon_stat_name(unsigned tag);

/* ---- virtio-mem (mem.c) ----
 * A region of `size` bytes at guest-physical `addr` in blocks of
 * `block_size` (a power of two, >= 4096); the driver plugs blocks up to
 * `requested` bytes and unplugs them when the host asks for less. The
 * host's side: `discard` gives an unplugged range back (its pages read as
 * zero afterwards), `size_changed` tells the plugged size after a change
 * (called without the device lock). */
struct virtio_mem_opts {
    char id[32];
    uint64_t addr, size, block_size, requested;
};
struct virtio_mem_host {
    void (*discard)(void *opaque, uint64_t gpa, uint64_t len);
    void (*size_changed)(void *opaque, uint64_t plugged);
    void *opaque;
};
struct virtio_mem_info {
    struct virtio_mem_opts opts;
    uint64_t plugged;                   /* bytes */
    uint64_t responses[4];              /* ACK, NACK, BUSY, ERROR sent */
};
struct virtio_mem;
/* 0, or -EINVAL with one line in err naming the value. */
int virtio_mem_check_opts(const struct virtio_mem_opts *o, char *err, size_t errlen);
struct virtio_mem *virtio_mem_create(const struct virtio_mem_opts *o, const struct virtio_mem_host *host);
struct virtio_dev *virtio_mem_dev(struct virtio_mem *m);
/* QMP qom-set requested-size: 0, or -EINVAL with one line in err. */
int virtio_mem_set_requested(struct virtio_mem *m, uint64_t bytes, char *err, size_t errlen);
void virtio_mem_info(struct virtio_mem *m, struct virtio_mem_info *out);
/* System reset: every block unplugged and discarded. */
void virtio_mem_reset(struct virtio_mem *m);
void virtio_mem_destroy(struct virtio_mem *m);

/* ---- device kinds: what a command-line option builds ----
 * A new virtio device is one file defining its struct virtio_kind plus one
 * row in the table of board.c. */
struct virtio_host {
    struct loop *loop;                  /* I/O thread for backends (kinds with needs_loop) */
    struct virtio_console_port console; /* the machine's console line */
    struct virtio_balloon_host balloon; /* the machine's balloon events */
    bool defer_disk_locks;              /* the destination of a migration: disks opened unlocked */
    bool defer_net;                     /* a hot standby: network backends made at takeover (net_attach) */
};
struct virtio_block_info {
    const char *id, *file;
    bool readonly, direct;
    uint64_t size;
};
struct virtio_kind {
    const char *option;                 /* "disk" for --disk */
    const char *device;                 /* QEMU's name of the device: "virtio-blk" */
    bool has_value;                     /* --disk SPEC; --rng takes none */
    unsigned max;                       /* per machine */
    bool needs_loop;
    /* Parse a value into *data (owned by the option list, freed with
     * free()). 0 or -EINVAL after one log line. NULL: no value. */
    int (*parse)(const char *val, void **data);
    /* Optional: refuse `data` beside an earlier entry of the same kind
     * (-EINVAL after one log line). */
    int (*check)(const void *data, const void *earlier);
    /* Build the device: its instance (NULL after one log line) and *dev. */
    void *(*create)(const void *data, unsigned index, const struct virtio_host *host, struct virtio_dev **dev);
    void (*destroy)(void *inst);
    /* Optional: host input for the guest (a console); bytes taken. */
    size_t (*input)(void *inst, const uint8_t *buf, size_t len);
    /* Optional: a block device's description (QMP query-block). */
    void (*block_info)(void *inst, const void *data, struct virtio_block_info *bi);
    /* Optional, snapshot: the host backend's own state (user net's
     * libslirp); appended to *buf (xrealloc'd). 0 or -errno. */
    int (*save_var)(void *inst, uint8_t **buf, size_t *len);
    int (*load_var)(void *inst, const uint8_t *buf, size_t len);
    /* Optional: open the backing file again in place (a restore put the
     * disk saved with a snapshot back at its path); device paused. */
    int (*reopen)(void *inst);
    /* Optional: take or drop the backing file's lock (live migration hands
     * a shared disk from the source to the destination). 0 or -errno. */
    int (*lock)(void *inst, bool on);
    /* Optional: a block device's image (replication tracks its writes). */
    struct blk_image *(*image)(void *inst);
    /* Optional, network devices: the backend (NULL before net_attach when
     * deferred), and making it now (a standby taking over). */
    struct net_backend *(*net_backend)(void *inst);
    int (*net_attach)(void *inst);
    /* Optional: why this instance's state cannot be saved (snapshot,
     * migration, replication), or NULL when it can. */
    const char *(*no_state)(void *inst);
};
/* Row i of the kind table (what `vessel features` lists), NULL past the end. */
const struct virtio_kind *virtio_kind_at(unsigned i);
extern const struct virtio_kind virtio_blk_kind, virtio_net_kind, virtio_rng_kind, virtio_console_kind,
    virtio_balloon_kind;

/* ---- the devices of a command line on a bus (machine/ builds them) ----
 * virtio_board_create builds every entry of `o` (in the order of the kind
 * table, then of the command line) with its backend, and maps device i at
 * base + i * stride with interrupt irq_for(opaque, i). */
struct virtio_board;
struct virtio_board *virtio_board_create(const struct virtio_options *o, const struct virtio_host *host,
                                         struct bus *bus, struct guest_mem *mem,
                                         uint64_t base, uint64_t stride,
                                         struct irq_line (*irq_for)(void *opaque, unsigned i), void *opaque);
/* The same devices as modern virtio-pci functions on `pci` (device numbers
 * from 1 in slot order), INTx irq_for(opaque, i), MSI-X through `msi`,
 * and, with `doorbells`, notifications by eventfd served on `loop`. */
struct virtio_pci_layout {
    struct pci_host *pci;
    struct msi_line msi;
    const struct virtio_doorbell_ops *doorbells;    /* NULL: notifications are MMIO exits */
    struct loop *loop;
};
struct virtio_board *virtio_board_create_pci(const struct virtio_options *o, const struct virtio_host *host,
                                             const struct virtio_pci_layout *l, struct guest_mem *mem,
                                             struct irq_line (*irq_for)(void *opaque, unsigned i), void *opaque);
/* After the engine dropped its eventfd assignments (a new VM). */
void virtio_board_doorbells_reassign(struct virtio_board *b);
bool virtio_board_is_pci(const struct virtio_board *b);
unsigned virtio_board_count(const struct virtio_board *b);
/* Slot i: mmio base (pci: its device number) and the index passed to irq_for. */
void virtio_board_slot(const struct virtio_board *b, unsigned i, uint64_t *base, unsigned *irq_index);
struct virtio_dev *virtio_board_dev(struct virtio_board *b, unsigned i);
/* Slot i's virtio-pci transport, or NULL (mmio). */
struct virtio_pci *virtio_board_pci(struct virtio_board *b, unsigned i);
/* Host input to the first device that takes it (a console): bytes taken.
 * has_input: whether there is such a device. */
bool virtio_board_has_input(const struct virtio_board *b);
size_t virtio_board_input(struct virtio_board *b, const uint8_t *buf, size_t len);
/* The block devices, in slot order: count, and description of the i-th. */
unsigned virtio_board_nblock(const struct virtio_board *b);
int virtio_board_block_info(const struct virtio_board *b, unsigned i, struct virtio_block_info *bi);
/* Kernel command line words describing the slots for a guest without a
 * device tree: "virtio_mmio.device=512@0xBASE:IRQ ..." with IRQ = first_irq + i
 * (empty for virtio-pci: the guest enumerates the bus).
 * Returns the length, or -ENOSPC if buf is too small. */
int virtio_board_cmdline(const struct virtio_board *b, unsigned first_irq, char *buf, size_t len);
/* The instance of the first device of the kind named `option` ("balloon"),
 * or NULL. */
void *virtio_board_find(struct virtio_board *b, const char *option);
void virtio_board_destroy(struct virtio_board *b);
/* The option that built slot i ("disk:PATH,..."). */
const char *virtio_board_spec(const struct virtio_board *b, unsigned i);
/* Snapshot: every slot's backend state (save_var of its kind) as records
 * {u32 slot, u32 length, bytes}; load hands each back to its slot and
 * refuses (-EINVAL) records that do not fit the slots. */
int virtio_board_save_var(struct virtio_board *b, uint8_t **buf, size_t *len);
int virtio_board_load_var(struct virtio_board *b, const uint8_t *buf, size_t len);
/* Block device i (as virtio_board_block_info): open its image again in
 * place. 0, -ENOENT, or the kind's -errno. */
int virtio_board_block_reopen(struct virtio_board *b, unsigned i);
/* Block device i's image, or NULL. */
struct blk_image *virtio_board_block_image(struct virtio_board *b, unsigned i);
/* The network backends, in slot order (NULL where not attached yet):
 * how many there are; at most max filled. And the backends' loop. */
unsigned virtio_board_net_backends(struct virtio_board *b, struct net_backend **out, unsigned max);
struct loop *virtio_board_loop(struct virtio_board *b);
/* host.defer_net: make every network backend now (the tap opened, the
 * hostfwd ports bound), on the backends' loop. 0, or -errno (logged). */
int virtio_board_net_attach(struct virtio_board *b);
/* Why the devices' state cannot be saved (the first slot's no_state), or NULL. */
const char *virtio_board_no_state(struct virtio_board *b);
/* Block device i: take or drop its image's lock. 0, -ENOENT, -errno. */
int virtio_board_block_lock(struct virtio_board *b, unsigned i, bool on);

#endif
