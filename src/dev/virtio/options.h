/* virtio options: what `--disk`, `--net`, `--rng` and `--console` ask for,
 * parsed and checked before anything is built (shared by `vessel run` and
 * `vessel kvm`; the machine builds the devices from it). */
#ifndef VESSEL_VIRTIO_OPTIONS_H
#define VESSEL_VIRTIO_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"

/* ---- option parsing (shared by `vessel run` and `vessel kvm`) ----
 * Each returns 0, or -EINVAL after ONE log_error line naming the bad value. */
struct disk_opts {
    char path[4096];
    char id[21];        /* VIRTIO_BLK_ID_BYTES, NUL-terminated */
    bool readonly;
    bool direct;        /* cache=none */
};
int virtio_parse_disk(const char *spec, struct disk_opts *out);

#define NET_MAX_FWD 16

struct net_opts {
    enum { NET_USER, NET_TAP } kind;
    char ifname[16];
    uint8_t mac[6];
    bool mac_set;
    unsigned nfwd;
    struct net_hostfwd fwd[NET_MAX_FWD];
};
int virtio_parse_net(const char *spec, struct net_opts *out);
int virtio_parse_mac(const char *s, uint8_t mac[6]);

/* ---- the devices a command line asks for ----
 * Collected with virtio_options_add; the machine (machine/machine.h) builds
 * them into its virtio slots. */
#define VIRTIO_OPT_MAX_DISKS 8
#define VIRTIO_OPT_MAX_NETS 4
struct virtio_options {
    unsigned ndisks, nnets;
    struct disk_opts disk[VIRTIO_OPT_MAX_DISKS];
    struct net_opts net[VIRTIO_OPT_MAX_NETS];
    bool rng;
    bool console;       /* a virtio-console (hvc0) on the machine's serial chardev */
};
/* `name` is the option without dashes: "disk", "net", "rng", "console"
 * (rng and console take no value: val NULL). 1 = consumed, 0 = not a virtio
 * option, -EINVAL = bad value (one log_error line printed). */
int virtio_options_add(struct virtio_options *o, const char *name, const char *val);

#endif
