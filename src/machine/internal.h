/* machine: private to the module. */
#ifndef VESSEL_MACHINE_INTERNAL_H
#define VESSEL_MACHINE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "backend/backend.h"
#include "base/base.h"
#include "dev/dev.h"
#include "dev/virtio/virtio.h"
#include "machine/machine.h"

#define MACHINE_MAX_VCPUS 256

/* m->req bits: what every vCPU must honour at its next machine_vcpu_enter */
enum { MACHINE_REQ_PAUSE = 1, MACHINE_REQ_EXIT = 2 };

struct machine_dev {
    char *id;
    const struct machine_dev_ops *ops;
    void *opaque;
};

struct machine {
    struct machine_config cfg;
    struct guest_mem mem;
    struct bus mmio, pio;
    struct loop *loop;              /* the I/O thread: chardev, monitor */
    struct chardev *serial;
    struct uart8250 *uart;
    struct virtio_board *virtio;
    unsigned virtio_first_irq;
    struct machine_dev *devs;
    unsigned ndevs, capdevs;
    const struct machine_engine_ops *eops;
    void *eng;
    int (*power_press)(void *opaque);
    void *power_opaque;
    void (*event_cb)(void *opaque, const struct machine_event_info *e);
    void *event_opaque;

    pthread_mutex_t ctl_lock;       /* one control operation at a time */
    pthread_mutex_t lock;           /* everything below */
    pthread_cond_t cond;            /* vCPUs parking, pause waiting for them */
    atomic_uint req;                /* MACHINE_REQ_* */
    enum machine_status status;
    bool stopping;
    enum machine_stop stop_why;
    int exit_status;
    bool reset_pending, reset_guest, start_pending;
    const char *reset_reason;
    unsigned nparked;               /* vCPUs parked or idle */
    bool vcpus_started, monitor_started;
    struct {
        atomic_int tid;
        bool parked, idle;
    } vcpu[MACHINE_MAX_VCPUS];

    int wake_fd;                    /* eventfd: a request for the main thread */
    int sig_fd;                     /* signalfd: SIGINT, SIGTERM, SIGHUP */
    sigset_t old_mask;
};

/* machine.c: an event with a value (BALLOON_CHANGE) */
void machine_emit_value(struct machine *m, enum machine_event ev, uint64_t value);

/* build.c */
void machine_devices_reset(struct machine *m);

#endif
