/* emu/riscv/virt: private to the module (board, SBI, CLINT, small devices). */
#ifndef VESSEL_VIRT_INTERNAL_H
#define VESSEL_VIRT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "emu/riscv/gdb.h"
#include "machine/qmp.h"
#include "emu/riscv/riscv.h"
#include "emu/riscv/virt/virt.h"
#include "mem/mem.h"

#include "backend/backend.h"
#include "dev/dev.h"

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
    _Atomic long tid;               /* host thread id, for query-cpus-fast */
    /* HSM, under b->lock */
    int hsm;
    uint64_t start_addr, start_arg;
};

struct virt_board {
    struct guest_mem mem;
    struct bus bus;
    struct rv_machine *m;
    unsigned nharts;
    struct virt_hart hart[VIRT_MAX_HARTS];
    struct virt_plic *plic;
    _Atomic int msip[VIRT_MAX_HARTS];   /* CLINT MSWI bits */
    struct uart8250 *uart;
    struct sifive_gpio *gpio;       /* pin 0: the power button */
    struct chardev *chr;
    struct loop *loop;              /* console I/O thread */
    struct virtio_board *virtio;
    struct gdb_stub *gdb;           /* --gdb, or NULL */
    struct qmp_server *qmp;         /* --qmp, or NULL */
    bool builtin_sbi;
    uint64_t fdt_addr;

    pthread_mutex_t lock;           /* HSM states, stop */
    pthread_cond_t cond;            /* HSM starts, stop */
    _Atomic int stop;               /* enum virt_stop, VIRT_RUNNING while running */
    int exit_status;
    int reboot_type;
};

/* board.c */
/* A board with nharts (no RAM, devices, machine nor harts yet); free with
 * virt_board_free, which frees whatever has been set up since. */
struct virt_board *virt_board_new(unsigned nharts);
void virt_board_free(struct virt_board *b);
/* The PLIC (context 2h/2h+1 to hart h's MEIP/SEIP), CLINT, syscon, RTC and
 * the UART (on b->chr, may be NULL) on b->bus. 0 or -errno. The harts are
 * used only when a device raises an interrupt or reads a timer. */
int virt_board_mmio_init(struct virt_board *b);
void virt_board_stop(struct virt_board *b, enum virt_stop why, int status);
/* Press the power button (gpio-keys KEY_POWER) for 100 ms; any thread.
 * 0, or -ENODEV before the devices exist. */
int virt_board_powerdown(struct virt_board *b);
/* A hart at the start of its run: pc, privilege, a0 = hartid, a1 = arg. */
void virt_hart_boot(struct virt_hart *vh, uint64_t pc, enum rv_priv priv, uint64_t arg);

/* sbi.c: the rv_sys_ops.sbi_call hook */
bool virt_sbi_call(struct rv_hart *h);

/* clint.c, syscon.c, rtc.c: register on the bus. 0 or -errno. */
int virt_clint_init(struct virt_board *b);
int virt_syscon_init(struct virt_board *b);
int virt_rtc_init(struct virt_board *b);

#endif
