/* QMP device_add / device_del / query-hotpluggable-cpus: the argument
 * checks and reply shapes (QEMU's), apart from the protocol in qmp.c. */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "machine/internal.h"
#include "machine/qmp.h"

#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), -1)

void qmp_cpu_qom_path(char *buf, size_t len, unsigned index, const char *id)
{
    if (id)
        snprintf(buf, len, "/machine/peripheral/%s", id);
    else
        snprintf(buf, len, "/machine/cpu[%u]", index);
}

/* A topology property: absent (-1), or a non-negative integer. */
static int topo_arg(json_object *args, const char *key, int64_t *out, char *err, size_t errlen)
{
    json_object *v = json_object_object_get(args, key);
    *out = -1;
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_int))
        return ERR("Invalid parameter type for '%s', expected: integer", key);
    errno = 0;
    int64_t n = json_object_get_int64(v);
    if (errno || n < 0 || n > 0xffff)
        return ERR("Parameter '%s' is out of range: %lld", key, (long long)n);
    *out = n;
    return 0;
}

static int id_arg(json_object *args, const char *driver, const char **out, char *err, size_t errlen)
{
    json_object *id = json_object_object_get(args, "id");
    if (!id)
        return ERR("Parameter 'id' is missing: device_del names the %s by it", driver);
    if (!json_object_is_type(id, json_type_string))
        return ERR("Invalid parameter type for 'id', expected: string");
    const char *s = json_object_get_string(id);
    size_t n = strlen(s);
    if (!n || n > 48 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')) ||
        strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._") != n)
        return ERR("Parameter 'id' expects an identifier (a letter, then letters, digits, '-', '.', '_'; "
                   "at most 48): '%.64s'", s);
    *out = s;
    return 0;
}

int qmp_device_cpu_parse(json_object *args, const char *target, struct qmp_cpu_add *out, char *err, size_t errlen)
{
    json_object *drv = args ? json_object_object_get(args, "driver") : NULL;
    if (!drv)
        return ERR("Parameter 'driver' is missing");
    if (!json_object_is_type(drv, json_type_string))
        return ERR("Invalid parameter type for 'driver', expected: string");
    const char *d = json_object_get_string(drv);
    char cpu[64], host[64];
    snprintf(cpu, sizeof(cpu), "%s-cpu", target ? target : "");
    snprintf(host, sizeof(host), "host-%s-cpu", target ? target : "");
    if (strcmp(d, cpu) && strcmp(d, host))
        return ERR("device_add of '%.64s': vessel hot-plugs CPUs ('%s' or '%s'), 'virtio-blk-pci' and "
                   "'virtio-net-pci'", d, cpu, host);
    const char *s;
    if (id_arg(args, "CPU", &s, err, errlen))
        return -1;
    static const char *const cpu_keys[] = { "driver", "id", "core-id", "socket-id", "thread-id", "die-id", NULL };
    json_object_object_foreach(args, key, val) {
        (void)val;
        for (const char *const *k = cpu_keys; ; k++) {
            if (!*k)
                return ERR("Parameter '%.64s' is unexpected", key);
            if (!strcmp(*k, key))
                break;
        }
    }
    int64_t core, socket, thread, die;
    if (topo_arg(args, "core-id", &core, err, errlen) || topo_arg(args, "socket-id", &socket, err, errlen) ||
        topo_arg(args, "thread-id", &thread, err, errlen) || topo_arg(args, "die-id", &die, err, errlen))
        return -1;
    if (core < 0)
        return ERR("Parameter 'core-id' is missing (query-hotpluggable-cpus lists the free ones)");
    if (socket > 0 || thread > 0 || die > 0)
        return ERR("socket-id %lld, die-id %lld, thread-id %lld: this machine has one socket, die and thread "
                   "(give 0 or leave them out)", (long long)socket, (long long)die, (long long)thread);
    out->id = s;
    out->core = (unsigned)core;
    return 0;
}

json_object *qmp_hotpluggable_cpus_json(const struct qmp_hotcpu *c, unsigned n, const char *target)
{
    char type[64];
    snprintf(type, sizeof(type), "host-%s-cpu", target ? target : "");
    json_object *a = json_object_new_array();
    for (unsigned i = 0; i < n; i++) {
        json_object *e = json_object_new_object(), *props = json_object_new_object();
        json_object_object_add(e, "type", json_object_new_string(type));
        json_object_object_add(e, "vcpus-count", json_object_new_int64(1));
        json_object_object_add(props, "socket-id", json_object_new_int64(0));
        json_object_object_add(props, "core-id", json_object_new_int64(c[i].index));
        json_object_object_add(props, "thread-id", json_object_new_int64(0));
        json_object_object_add(e, "props", props);
        if (c[i].present) {
            char path[96];
            qmp_cpu_qom_path(path, sizeof(path), c[i].index, c[i].id);
            json_object_object_add(e, "qom-path", json_object_new_string(path));
        }
        json_object_array_add(a, e);
    }
    return a;
}

static bool key_in(const char *const *keys, const char *k)
{
    for (; *keys; keys++)
        if (!strcmp(*keys, k))
            return true;
    return false;
}

/* ---- virtio-blk-pci, virtio-net-pci ---- */
/* An optional string argument: absent (NULL, 0), a string (0), or -1. */
static int opt_str(json_object *args, const char *key, const char **out, char *err, size_t errlen)
{
    json_object *v = json_object_object_get(args, key);
    *out = NULL;
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_string))
        return ERR("Invalid parameter type for '%s', expected: string", key);
    *out = json_object_get_string(v);
    return 0;
}

/* QEMU's PCI address property: "N", "0xN", "N.0", "0xN.0" (device number
 * in hex, function 0); also a JSON integer. */
static int addr_arg(json_object *args, unsigned *slot, char *err, size_t errlen)
{
    json_object *v = json_object_object_get(args, "addr");
    *slot = 0;
    if (!v)
        return 0;
    if (json_object_is_type(v, json_type_int)) {
        int64_t n = json_object_get_int64(v);
        if (n < 1 || n > 31)
            return ERR("Parameter 'addr' expects a PCI device number 0x1-0x1f: %lld", (long long)n);
        *slot = (unsigned)n;
        return 0;
    }
    if (!json_object_is_type(v, json_type_string))
        return ERR("Invalid parameter type for 'addr', expected: string");
    const char *s = json_object_get_string(v);
    char *end = NULL;
    errno = 0;
    unsigned long n = strtoul(s, &end, 16);
    if (end && !strcmp(end, ".0"))
        end += 2;
    if (errno || end == s || !end || *end || n < 1 || n > 31 || *s == '-' || *s == '+' || *s == ' ')
        return ERR("Parameter 'addr' expects a PCI device number 0x1-0x1f (\"0x5\", \"05.0\"): '%.64s'", s);
    *slot = (unsigned)n;
    return 0;
}

static int disk_args(json_object *args, struct disk_opts *o, char *err, size_t errlen)
{
    const char *file, *cache, *serial, *drive;
    if (opt_str(args, "drive", &drive, err, errlen) || opt_str(args, "file", &file, err, errlen) ||
        opt_str(args, "cache", &cache, err, errlen) || opt_str(args, "serial", &serial, err, errlen))
        return -1;
    if (drive && !file)
        return ERR("Parameter 'drive' ('%.64s'): vessel has no blockdev-add; give the image itself as 'file'",
                   drive);
    if (!file || !*file)
        return ERR("Parameter 'file' is missing: the disk image (what --disk takes)");
    if (strlen(file) >= sizeof(o->path))
        return ERR("Parameter 'file' is too long (%zu bytes)", strlen(file));
    snprintf(o->path, sizeof(o->path), "%s", file);
    json_object *ro = json_object_object_get(args, "read-only");
    if (ro && !json_object_is_type(ro, json_type_boolean))
        return ERR("Invalid parameter type for 'read-only', expected: boolean");
    o->readonly = ro && json_object_get_boolean(ro);
    if (cache && strcmp(cache, "none") && strcmp(cache, "writeback"))
        return ERR("Parameter 'cache' expects 'none' or 'writeback': '%.64s'", cache);
    o->direct = cache && !strcmp(cache, "none");
    if (serial && (!*serial || strlen(serial) > 20))
        return ERR("Parameter 'serial' expects 1 to 20 characters: '%.64s'", serial);
    if (serial)
        snprintf(o->id, sizeof(o->id), "%s", serial);
    return 0;
}

/* --net's value plus mac= when 'mac' is given (checked here: no comma can
 * slip into the value) */
static int net_args(json_object *args, struct qmp_pci_add *out, char *err, size_t errlen)
{
    const char *net, *mac, *netdev;
    if (opt_str(args, "net", &net, err, errlen) || opt_str(args, "mac", &mac, err, errlen) ||
        opt_str(args, "netdev", &netdev, err, errlen))
        return -1;
    if (netdev && !net)
        return ERR("Parameter 'netdev' ('%.64s'): vessel has no netdev_add; give the backend as 'net' "
                   "(what --net takes: \"user\", \"tap,ifname=tap0\")", netdev);
    if (!net)
        net = "user";
    if (strncmp(net, "user", 4) && strncmp(net, "tap", 3))
        return ERR("Parameter 'net' expects what --net takes (user[,hostfwd=...] or tap,ifname=NAME): '%.64s'",
                   net);
    uint8_t m[6];
    if (mac && virtio_parse_mac(mac, m) < 0)
        return ERR("Parameter 'mac' expects a unicast MAC address (52:54:00:12:34:56): '%.64s'", mac);
    if (strlen(net) > sizeof(out->net) - 32)
        return ERR("Parameter 'net' is too long (%zu bytes)", strlen(net));
    snprintf(out->net, sizeof(out->net), "%s%s%s", net, mac ? ",mac=" : "", mac ? mac : "");
    return 0;
}

int qmp_device_pci_parse(json_object *args, struct qmp_pci_add *out, char *err, size_t errlen)
{
    json_object *drv = args ? json_object_object_get(args, "driver") : NULL;
    if (!drv || !json_object_is_type(drv, json_type_string))
        return 1;
    const char *d = json_object_get_string(drv);
    memset(out, 0, sizeof(*out));
    if (!strcmp(d, "virtio-blk-pci") || !strcmp(d, "virtio-blk"))
        out->dev.option = "disk", out->dev.driver = "virtio-blk-pci";
    else if (!strcmp(d, "virtio-net-pci") || !strcmp(d, "virtio-net"))
        out->dev.option = "net", out->dev.driver = "virtio-net-pci";
    else
        return 1;
    static const char *const blk_keys[] = { "driver", "id", "addr", "bus", "file", "read-only", "cache", "serial",
                                            "drive", NULL };
    static const char *const net_keys[] = { "driver", "id", "addr", "bus", "net", "mac", "netdev", NULL };
    bool blk = !strcmp(out->dev.option, "disk");
    json_object_object_foreach(args, key, val) {
        (void)val;
        if (!key_in(blk ? blk_keys : net_keys, key))
            return ERR("Property '%s.%.64s' not found", out->dev.driver, key);
    }
    const char *bus;
    if (id_arg(args, out->dev.driver, &out->dev.id, err, errlen) || addr_arg(args, &out->dev.slot, err, errlen) ||
        opt_str(args, "bus", &bus, err, errlen))
        return -1;
    if (bus && strcmp(bus, "pci.0") && strcmp(bus, "pcie.0"))
        return ERR("Bus '%.64s' not found (vessel kvm has one PCI bus, 'pci.0')", bus);
    if (blk ? disk_args(args, &out->dev.disk, err, errlen) : net_args(args, out, err, errlen))
        return -1;
    out->dev.net = out->net;
    return 0;
}

/* query-pci's PciDeviceInfo (QEMU's shape) for one function */
static json_object *pci_device_json(unsigned slot, const struct machine_pci_info *in)
{
    const uint8_t *c = in->s.cfg;
    json_object *d = json_object_new_object(), *ci = json_object_new_object(), *id = json_object_new_object();
    json_object *regs = json_object_new_array();
    json_object_object_add(d, "bus", json_object_new_int(0));
    json_object_object_add(d, "slot", json_object_new_int((int)slot));
    json_object_object_add(d, "function", json_object_new_int(0));
    json_object_object_add(ci, "class", json_object_new_int(c[0x0b] << 8 | c[0x0a]));
    json_object_object_add(d, "class_info", ci);
    json_object_object_add(id, "device", json_object_new_int(c[2] | c[3] << 8));
    json_object_object_add(id, "vendor", json_object_new_int(c[0] | c[1] << 8));
    json_object_object_add(id, "subsystem", json_object_new_int(c[0x2e] | c[0x2f] << 8));
    json_object_object_add(id, "subsystem-vendor", json_object_new_int(c[0x2c] | c[0x2d] << 8));
    json_object_object_add(d, "id", id);
    if (c[PCI_INTERRUPT_PIN])
        json_object_object_add(d, "irq", json_object_new_int(c[PCI_INTERRUPT_LINE]));
    json_object_object_add(d, "irq_pin", json_object_new_int(c[PCI_INTERRUPT_PIN]));
    json_object_object_add(d, "qdev_id", json_object_new_string(in->id));
    for (unsigned b = 0; b < PCI_NUM_BARS; b++) {
        if (!in->s.bar_size[b])
            continue;
        json_object *r = json_object_new_object();
        json_object_object_add(r, "bar", json_object_new_int((int)b));
        json_object_object_add(r, "type", json_object_new_string("memory"));
        json_object_object_add(r, "address", json_object_new_int64((int64_t)in->s.bar_addr[b]));
        json_object_object_add(r, "size", json_object_new_int64((int64_t)in->s.bar_size[b]));
        json_object_object_add(r, "prefetch", json_object_new_boolean(false));
        json_object_object_add(r, "mem_type_64", json_object_new_boolean(true));
        json_object_array_add(regs, r);
    }
    json_object_object_add(d, "regions", regs);
    return d;
}

json_object *qmp_pci_json(const struct machine_pci_info *in, const unsigned *slots, unsigned n)
{
    json_object *bus = json_object_new_object(), *devs = json_object_new_array(), *a = json_object_new_array();
    for (unsigned i = 0; i < n; i++)
        json_object_array_add(devs, pci_device_json(slots[i], &in[i]));
    json_object_object_add(bus, "bus", json_object_new_int(0));
    json_object_object_add(bus, "devices", devs);
    json_object_array_add(a, bus);
    return a;
}
