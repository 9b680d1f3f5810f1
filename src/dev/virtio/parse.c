/* Option strings for --disk and --net, shared by `vessel run` and `vessel kvm`. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/base.h"
#include "dev/virtio/virtio.h"

/* Split "a,b,c" in place; returns the next token or NULL. */
static char *next_tok(char **s)
{
    if (!*s)
        return NULL;
    char *t = *s, *c = strchr(t, ',');
    if (c) {
        *c = 0;
        *s = c + 1;
    } else {
        *s = NULL;
    }
    return t;
}

int virtio_parse_disk(const char *spec, struct disk_opts *out)
{
    memset(out, 0, sizeof(*out));
    cleanup_free char *buf = xstrdup(spec);
    char *s = buf, *t = next_tok(&s);
    if (!t || !*t) {
        log_error("--disk '%s': missing image path", spec);
        return -EINVAL;
    }
    if (strncmp(t, "path=", 5) == 0)
        t += 5;
    if (!*t) {
        log_error("--disk '%s': missing image path", spec);
        return -EINVAL;
    }
    if (strlen(t) >= sizeof(out->path)) {
        log_error("--disk '%s': path too long", spec);
        return -EINVAL;
    }
    strcpy(out->path, t);
    while ((t = next_tok(&s))) {
        if (strcmp(t, "readonly") == 0 || strcmp(t, "ro") == 0 || strcmp(t, "readonly=on") == 0) {
            out->readonly = true;
        } else if (strncmp(t, "cache=", 6) == 0) {
            if (strcmp(t + 6, "none") == 0)
                out->direct = true;
            else if (strcmp(t + 6, "writeback") == 0)
                out->direct = false;
            else {
                log_error("--disk '%s': unknown cache mode '%s' (use none or writeback)", spec, t + 6);
                return -EINVAL;
            }
        } else if (strncmp(t, "id=", 3) == 0) {
            if (strlen(t + 3) > 20 || !t[3]) {
                log_error("--disk '%s': id '%s' must be 1 to 20 characters", spec, t + 3);
                return -EINVAL;
            }
            strcpy(out->id, t + 3);
        } else {
            log_error("--disk '%s': unknown option '%s'", spec, t);
            return -EINVAL;
        }
    }
    return 0;
}

int virtio_parse_mac(const char *s, uint8_t mac[6])
{
    unsigned v[6];
    char end;
    if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &end) != 6 ||
        strlen(s) != 17)
        return -EINVAL;
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)v[i];
    if (mac[0] & 1)   /* multicast bit */
        return -EINVAL;
    return 0;
}

static int parse_port(const char *s, uint16_t *port)
{
    uint64_t v;
    if (parse_u64(s, &v) < 0 || v == 0 || v > 65535)
        return -EINVAL;
    *port = (uint16_t)v;
    return 0;
}

/* hostfwd=tcp::HOSTPORT-:GUESTPORT (also tcp:127.0.0.1:H-:G, udp::H-:G) */
static int parse_fwd(const char *v, struct net_hostfwd *f)
{
    char proto[4] = "", haddr[64] = "", hport[8] = "", gport[8] = "";
    const char *p = v;
    const char *c = strchr(p, ':');
    if (!c || c - p > 3)
        return -EINVAL;
    memcpy(proto, p, c - p);
    p = c + 1;
    c = strchr(p, ':');
    if (!c || (size_t)(c - p) >= sizeof(haddr))
        return -EINVAL;
    memcpy(haddr, p, c - p);
    p = c + 1;
    c = strchr(p, '-');
    if (!c || (size_t)(c - p) >= sizeof(hport))
        return -EINVAL;
    memcpy(hport, p, c - p);
    p = c + 1;
    if (*p++ != ':')          /* guest address is always the DHCP one */
        return -EINVAL;
    if (strlen(p) >= sizeof(gport))
        return -EINVAL;
    strcpy(gport, p);
    if (strcmp(proto, "tcp") == 0)
        f->udp = false;
    else if (strcmp(proto, "udp") == 0)
        f->udp = true;
    else
        return -EINVAL;
    if (haddr[0] && strcmp(haddr, "127.0.0.1") != 0 && strcmp(haddr, "localhost") != 0)
        return -EINVAL;   /* only loopback on the host */
    if (parse_port(hport, &f->host_port) < 0 || parse_port(gport, &f->guest_port) < 0)
        return -EINVAL;
    return 0;
}

int virtio_parse_net(const char *spec, struct net_opts *out)
{
    memset(out, 0, sizeof(*out));
    cleanup_free char *buf = xstrdup(spec);
    char *s = buf, *t = next_tok(&s);
    if (!t || (strcmp(t, "user") && strcmp(t, "tap"))) {
        log_error("--net '%s': unknown kind '%s' (use user or tap)", spec, t ? t : "");
        return -EINVAL;
    }
    out->kind = strcmp(t, "user") == 0 ? NET_USER : NET_TAP;
    while ((t = next_tok(&s))) {
        if (strncmp(t, "mac=", 4) == 0) {
            if (virtio_parse_mac(t + 4, out->mac) < 0) {
                log_error("--net '%s': bad MAC address '%s' (want xx:xx:xx:xx:xx:xx, unicast)", spec, t + 4);
                return -EINVAL;
            }
            out->mac_set = true;
        } else if (strncmp(t, "hostfwd=", 8) == 0 && out->kind == NET_USER) {
            if (out->nfwd >= NET_MAX_FWD) {
                log_error("--net '%s': more than %d hostfwd rules", spec, NET_MAX_FWD);
                return -EINVAL;
            }
            if (parse_fwd(t + 8, &out->fwd[out->nfwd]) < 0) {
                log_error("--net '%s': bad hostfwd '%s' (want tcp::HOSTPORT-:GUESTPORT)", spec, t + 8);
                return -EINVAL;
            }
            out->nfwd++;
        } else if (((strncmp(t, "restrict=", 9) == 0 || strncmp(t, "host-loopback=", 14) == 0) &&
                    out->kind == NET_USER) || (strncmp(t, "vhost=", 6) == 0 && out->kind == NET_TAP)) {
            const char *v = strchr(t, '=') + 1;
            bool on = !strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "true");
            if (!on && strcmp(v, "off") && strcmp(v, "no") && strcmp(v, "false")) {
                log_error("--net '%s': %.*s wants on or off, not '%s'", spec, (int)(v - 1 - t), t, v);
                return -EINVAL;
            }
            if (t[0] == 'r')
                out->restrict_net = on;
            else if (t[0] == 'v')
                out->vhost = on;
            else
                out->no_host_loopback = !on;
        } else if (strncmp(t, "vhostdev=", 9) == 0 && out->kind == NET_TAP) {
            if (!t[9] || strlen(t + 9) >= sizeof(out->vhostdev)) {
                log_error("--net '%s': bad vhostdev '%s' (a path of at most %zu bytes)", spec, t + 9,
                          sizeof(out->vhostdev) - 1);
                return -EINVAL;
            }
            strcpy(out->vhostdev, t + 9);
        } else if (strncmp(t, "ifname=", 7) == 0 && out->kind == NET_TAP) {
            size_t l = strlen(t + 7);
            if (l == 0 || l >= sizeof(out->ifname) || strchr(t + 7, '/')) {
                log_error("--net '%s': bad interface name '%s'", spec, t + 7);
                return -EINVAL;
            }
            strcpy(out->ifname, t + 7);
        } else {
            log_error("--net '%s': unknown option '%s'", spec, t);
            return -EINVAL;
        }
    }
    if (out->kind == NET_TAP && !out->ifname[0]) {
        log_error("--net '%s': tap needs ifname=NAME", spec);
        return -EINVAL;
    }
    if (out->vhostdev[0] && !out->vhost) {
        log_error("--net '%s': vhostdev= without vhost=on", spec);
        return -EINVAL;
    }
    if (!out->mac_set) {   /* a locally administered default */
        static const uint8_t def[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
        memcpy(out->mac, def, 6);
    }
    return 0;
}
