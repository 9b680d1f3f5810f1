/* emu/riscv/virt: private to the module (board, SBI, CLINT, small devices). */
#ifndef VESSEL_VIRT_INTERNAL_H
#define VESSEL_VIRT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "emu/riscv/gdb.h"
#include "emu/riscv/riscv.h"
#include "emu/riscv/virt/virt.h"
#include "mem/mem.h"

#include "backend/backend.h"
#include "dev/dev.h"
#include "machine/machine.h"

/* HSM states (SBI spec) */
enum {
    HSM_STARTED = 0, HSM_STOPPED = 1, HSM_START_PENDING = 2, HSM_STOP_PENDING = 3,
    HSM_SUSPENDED = 4,
};

struct virt_board;

struct virt_hart {
    struct virt_board *b;
    struct rv_hart *h;
    unsigned id;
    pthread_t thread;
    bool thread_started;
    /* HSM, under b->lock */
    int hsm;
    uint64_t start_addr, start_arg;
};

struct virt_board {
    struct machine *mach;           /* memory, bus, console, devices, run state */
    struct guest_mem *mem;          /* machine_mem(mach) */
    struct bus *bus;                /* machine_mmio(mach) */
    struct rv_machine *m;
    unsigned nharts;
    struct virt_hart hart[VIRT_MAX_HARTS];
    struct virt_plic *plic;
    _Atomic int msip[VIRT_MAX_HARTS];   /* CLINT MSWI bits */
    _Atomic bool ram_settled;       /* mem_huge_settle done: a hart went mostly idle */
    struct chardev *chr;            /* machine_serial(mach): HTIF and SBI console output */
    struct gdb_stub *gdb;           /* --gdb, or NULL */
    const struct virt_config *cfg;  /* for a reset: the images are loaded again */
    bool builtin_sbi;
    uint64_t fdt_addr;
    uint64_t tohost;                /* HTIF address of a bare-metal program, 0 if none */
    char *bootargs;                 /* the kernel command line given to the FDT (owned) */

    pthread_mutex_t lock;           /* HSM states */
    pthread_cond_t cond;            /* HSM starts, kicks */
};

/* board.c */
/* A board with mc->ncpus harts on a new machine (no RAM, devices, core
 * nor harts yet); NULL after one log line. Free with virt_board_free,
 * which frees whatever has been set up since. */
struct virt_board *virt_board_new(const struct machine_config *mc);
void virt_board_free(struct virt_board *b);
/* The PLIC (context 2h/2h+1 to hart h's MEIP/SEIP), CLINT, syscon, RTC and
 * the UART on b->bus, each registered as a device of b->mach. 0 or -errno.
 * The harts are used only when a device raises an interrupt or reads a
 * timer. */
int virt_board_mmio_init(struct virt_board *b);
/* A hart at the start of its run: pc, privilege, a0 = hartid, a1 = arg. */
void virt_hart_boot(struct virt_hart *vh, uint64_t pc, enum rv_priv priv, uint64_t arg);

/* boot.c: load the images (kernel or bare-metal program, firmware,
 * initrd) and write the device tree; again on every reset. */
struct virt_boot_plan {
    uint64_t entry;
    enum rv_priv priv;
    bool all_harts;        /* every hart starts at entry (firmware, bare metal) */
    uint64_t tohost;
    uint64_t kernel_end;
};
int virt_board_load(struct virt_board *b, const struct virt_config *cfg, struct virt_boot_plan *bp);

/* sbi.c: the rv_sys_ops.sbi_call hook */
bool virt_sbi_call(struct rv_hart *h);

/* snapshot.c: the engine's snapshot ops (machine_engine_ops save/load),
 * and the board section read before the harts exist (--restore). */
struct snap;
struct snap_writer;
int virt_engine_save(void *eng, struct snap_writer *w);
int virt_engine_load(void *eng, const struct snap *s, char *err, size_t errlen);
int virt_snapshot_board(const struct snap *s, unsigned nharts, bool sv48, uint64_t *fdt_addr, uint64_t *tohost,
                        bool *builtin_sbi, char *err, size_t errlen);

/* clint.c, syscon.c: register on the bus. 0 or -errno. */
int virt_clint_init(struct virt_board *b);
int virt_syscon_init(struct virt_board *b);

#endif
