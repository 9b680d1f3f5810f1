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
    bool restrict_net;         /* user: restrict=on, the guest reaches nothing outside (QEMU's word) */
    bool no_host_loopback;     /* user: host-loopback=off, 10.0.2.2 does not reach the host's 127.0.0.1 */
    bool vhost;                /* tap: vhost=on, the kernel's vhost-net moves the packets */
    char vhostdev[108];        /* tap: vhostdev=PATH (default /dev/vhost-net), as QEMU's */
};
int virtio_parse_net(const char *spec, struct net_opts *out);
int virtio_parse_mac(const char *s, uint8_t mac[6]);

/* ---- the devices a command line asks for ----
 * One entry per --disk/--net/--rng/--console (or any other kind in the
 * table of dev/virtio/board.c), parsed by its kind at once; the machine
 * builds them into its virtio slots (machine/machine.h). */
#define VIRTIO_OPT_MAX 16
struct virtio_kind;
struct virtio_opt {
    const struct virtio_kind *kind;
    unsigned index;             /* among the entries of its kind (vda, vdb, ...) */
    void *data;                 /* what the kind parsed (owned), or NULL */
    char *spec;                 /* the option as given: "disk:PATH,..." or "rng" (owned) */
};
struct virtio_options {
    unsigned n;
    struct virtio_opt dev[VIRTIO_OPT_MAX];
};
/* `name` is the option without dashes ("disk", "net", "rng", "console"; a
 * kind without a value takes val NULL). 1 = consumed, 0 = not a virtio
 * option, -EINVAL = bad value or too many (one log_error line printed). */
int virtio_options_add(struct virtio_options *o, const char *name, const char *val);
/* Entries of the kind named `option` ("disk"). */
unsigned virtio_options_count(const struct virtio_options *o, const char *option);
void virtio_options_free(struct virtio_options *o);
/* The option as given, "NAME:VALUE" or "NAME" (a snapshot's manifest
 * records it; virtio_options_add_spec parses it back). */
const char *virtio_opt_spec(const struct virtio_opt *opt);
int virtio_options_add_spec(struct virtio_options *o, const char *spec);

#endif
