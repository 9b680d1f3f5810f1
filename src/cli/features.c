/* vessel features: what this binary supports, for people and for tools
 * (docs/compare.md's features table is generated from --json).
 *
 * The virtio devices come from the kind table of dev/virtio, the QMP
 * commands and events from the monitor's own command table, the OCI
 * features from what `vessel ctr features` prints. The engines and their
 * board devices are described here, one row per command. */
#include "cli/cli.h"
#include "base/base.h"
#include "config.h"
#include "ctr/ctr.h"
#include "dev/virtio/virtio.h"
#include "machine/qmp.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

struct engine_row {
    const char *command, *kind, *target, *like;
    const char *const *devices;     /* the board's own devices, besides virtio */
    const char *const *transports;  /* how virtio devices attach */
};

static const char *const riscv_user_devs[] = { NULL };
static const char *const riscv_virt_devs[] = { "ns16550a (8250 UART)", "plic", "aclint (clint)", "goldfish-rtc",
                                               "sifive-gpio (power button)", "syscon (power-off, reboot)",
                                               "sbi (built-in: base, time, ipi, rfence, hsm, srst, dbcn)",
                                               NULL };
static const char *const x86_kvm_devs[] = { "8250 UART (COM1)", "in-kernel irqchip (PIC, IOAPIC, LAPIC)",
                                            "in-kernel PIT", "ACPI (DSDT, MADT, MCFG, GED power button)",
                                            "MP table", "PCI host bridge (ECAM)", NULL };
static const char *const no_transport[] = { NULL };
static const char *const mmio_only[] = { "virtio-mmio", NULL };
static const char *const pci_mmio[] = { "virtio-pci (modern, MSI-X)", "virtio-mmio", NULL };
static const char *const no_devs[] = { NULL };

static const struct engine_row engines[] = {
    { "exec", "hardware emulation, user mode", "riscv64 (RV64GC)", "qemu-riscv64", riscv_user_devs, no_transport },
    { "run", "hardware emulation, whole system", "riscv64 (RV64GC, -M virt)", "qemu-system-riscv64 -M virt",
      riscv_virt_devs, mmio_only },
    { "kvm", "full virtualization, hardware assisted (/dev/kvm)", "x86_64", "kvmtool, Firecracker", x86_kvm_devs,
      pci_mmio },
    { "ctr", "OS-level (OCI runtime-spec 1.x containers)", "host", "runc, crun", no_devs, no_transport },
};

static json_object *str_array(const char *const *v)
{
    json_object *a = json_object_new_array();
    for (; *v; v++)
        json_object_array_add(a, json_object_new_string(*v));
    return a;
}

/* Whether /dev/kvm answers here: NULL, or why not. */
static const char *kvm_here(void)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? "no /dev/kvm" : "/dev/kvm cannot be opened read-write";
    int v = ioctl(fd, KVM_GET_API_VERSION, 0);
    close(fd);
    return v == KVM_API_VERSION ? NULL : "/dev/kvm has an unknown API version";
}

static json_object *features_doc(void)
{
    json_object *doc = json_object_new_object();
    json_object_object_add(doc, "version", json_object_new_string(VESSEL_VERSION));
    json_object *eng = json_object_new_array();
    const char *kvm_why = kvm_here();
    for (size_t i = 0; i < ARRAY_SIZE(engines); i++) {
        const struct engine_row *e = &engines[i];
        json_object *o = json_object_new_object();
        json_object_object_add(o, "command", json_object_new_string(e->command));
        json_object_object_add(o, "kind", json_object_new_string(e->kind));
        json_object_object_add(o, "target", json_object_new_string(e->target));
        json_object_object_add(o, "like", json_object_new_string(e->like));
        json_object_object_add(o, "boardDevices", str_array(e->devices));
        json_object_object_add(o, "virtioTransports", str_array(e->transports));
        if (!strcmp(e->command, "kvm"))
            json_object_object_add(o, "usableHere", json_object_new_string(kvm_why ? kvm_why : "yes"));
        json_object_array_add(eng, o);
    }
    json_object_object_add(doc, "engines", eng);

    json_object *virtio = json_object_new_array();
    const struct virtio_kind *k;
    for (unsigned i = 0; (k = virtio_kind_at(i)); i++) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "device", json_object_new_string(k->device));
        json_object_object_add(o, "option", json_object_new_string(k->option));
        json_object_object_add(o, "max", json_object_new_int((int)k->max));
        json_object_array_add(virtio, o);
    }
    json_object_object_add(doc, "virtioDevices", virtio);
    static const char *const net_backends[] = { "user (libslirp)", "tap", NULL };
    json_object_object_add(doc, "netBackends", str_array(net_backends));

    json_object *qmp = json_object_new_object(), *cmds = json_object_new_array(), *evs = json_object_new_array();
    const char *name;
    for (unsigned i = 0; (name = qmp_monitor_command(i)); i++)
        json_object_array_add(cmds, json_object_new_string(name));
    for (unsigned i = 0; (name = qmp_event_name(i)); i++)
        json_object_array_add(evs, json_object_new_string(name));
    json_object_object_add(qmp, "commands", cmds);
    json_object_object_add(qmp, "events", evs);
    json_object_object_add(doc, "qmp", qmp);

    json_object *oci = json_tokener_parse(ctr_features_json());
    json_object_object_add(doc, "oci", oci ? oci : json_object_new_null());
    return doc;
}

static void print_list(const char *title, json_object *a, const char *key)
{
    printf("%s:", title);
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        json_object *v = json_object_array_get_idx(a, i), *m = NULL;
        if (key && json_object_object_get_ex(v, key, &m))
            v = m;
        printf("%s %s", i ? "," : "", json_object_get_string(v));
    }
    printf("\n");
}

static void print_text(json_object *doc)
{
    json_object *eng, *v, *qmp, *oci, *lin, *x;
    json_object_object_get_ex(doc, "engines", &eng);
    printf("vessel %s\nengines:\n", json_object_get_string(json_object_object_get(doc, "version")));
    for (size_t i = 0; i < json_object_array_length(eng); i++) {
        json_object *e = json_object_array_get_idx(eng, i);
        printf("  vessel %-5s %s, %s (like %s)", json_object_get_string(json_object_object_get(e, "command")),
               json_object_get_string(json_object_object_get(e, "kind")),
               json_object_get_string(json_object_object_get(e, "target")),
               json_object_get_string(json_object_object_get(e, "like")));
        if (json_object_object_get_ex(e, "usableHere", &x))
            printf("; usable here: %s", json_object_get_string(x));
        printf("\n");
    }
    json_object_object_get_ex(doc, "virtioDevices", &v);
    print_list("virtio devices", v, "device");
    print_list("net backends", json_object_object_get(doc, "netBackends"), NULL);
    json_object_object_get_ex(doc, "qmp", &qmp);
    print_list("QMP commands", json_object_object_get(qmp, "commands"), NULL);
    print_list("QMP events", json_object_object_get(qmp, "events"), NULL);
    json_object_object_get_ex(doc, "oci", &oci);
    if (json_object_object_get_ex(oci, "linux", &lin)) {
        print_list("OCI namespaces", json_object_object_get(lin, "namespaces"), NULL);
        print_list("OCI hooks", json_object_object_get(oci, "hooks"), NULL);
        printf("OCI: cgroup %s; seccomp %s; 'vessel ctr features' has the whole document\n",
               json_object_to_json_string_ext(json_object_object_get(lin, "cgroup"), JSON_C_TO_STRING_PLAIN),
               json_object_get_boolean(json_object_object_get(json_object_object_get(lin, "seccomp"), "enabled"))
                   ? "enabled" : "disabled");
    }
}

int cmd_features(int argc, char **argv)
{
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: vessel features [--json]\n"
                   "What this binary supports: engines, devices, QMP commands and events,\n"
                   "OCI runtime features (as 'vessel ctr features').\n");
            return 0;
        } else {
            log_error("features: unknown option '%s' (usage: vessel features [--json])", argv[i]);
            return 2;
        }
    }
    json_object *doc = features_doc();
    if (json)
        printf("%s\n", json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                               JSON_C_TO_STRING_NOSLASHESCAPE));
    else
        print_text(doc);
    json_object_put(doc);
    return 0;
}
