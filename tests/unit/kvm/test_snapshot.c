/* kvm/x86 snapshot.c without /dev/kvm: the MSR filter, engine sections
 * written with the snapshot writer and read back through the parser and
 * vkvm_snap_check, and every kind of bad section refused with a line that
 * names it; a snapshot of another machine type refused by --restore. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kvm/x86/kvm.h"
#include "machine/snapshot.h"

static void test_msr_filter(void **state)
{
    (void)state;
    const uint32_t in[] = { 0x174, 0x175, 0x17b, VKVM_MSR_TSC, 0x174, 0x560, 0x571, 0x580, 0x587, 0x572,
                            VKVM_MSR_TSC_DEADLINE, 0xc0000080, 0x4b564d00, 0x3b };
    uint32_t out[32];
    unsigned n = vkvm_msr_filter(in, sizeof(in) / sizeof(in[0]), out, 32);
    const uint32_t want[] = { VKVM_MSR_TSC, 0x174, 0x175, 0x572, 0xc0000080, 0x4b564d00, 0x3b };
    assert_int_equal(n, sizeof(want) / sizeof(want[0]));
    assert_memory_equal(out, want, sizeof(want));
    /* room for 3: the TSC and the first two others */
    assert_int_equal(vkvm_msr_filter(in, sizeof(in) / sizeof(in[0]), out, 3), 3);
    assert_int_equal(out[0], VKVM_MSR_TSC);
    assert_int_equal(out[2], 0x175);
    /* no TSC in the list: none invented */
    const uint32_t in2[] = { 0x174 };
    assert_int_equal(vkvm_msr_filter(in2, 1, out, 32), 1);
    assert_int_equal(out[0], 0x174);
    assert_false(vkvm_msr_saveable(0x17b));
    assert_false(vkvm_msr_saveable(VKVM_MSR_TSC_DEADLINE));
    assert_true(vkvm_msr_saveable(0x4b564d01));
}

/* A state a 2-vCPU board could be in: vCPU 1 waiting for SIPI. */
struct states {
    struct vkvm_vm_state vm;
    struct vkvm_cpu_state cpu[2];
};

static struct states *good_states(void)
{
    struct states *t = calloc(1, sizeof(*t));
    t->vm.ncpus = 2;
    t->vm.flags = VKVM_VM_ACPI;
    t->vm.pic[0].chip_id = KVM_IRQCHIP_PIC_MASTER;
    t->vm.pic[1].chip_id = KVM_IRQCHIP_PIC_SLAVE;
    t->vm.ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
    t->vm.clock = 123456789;
    t->vm.acpi_events = VKVM_ACPI_EVENT_PWRBTN;
    for (unsigned i = 0; i < 2; i++) {
        struct vkvm_cpu_state *c = &t->cpu[i];
        c->cpu = i;
        c->flags = VKVM_CPU_XSAVE | VKVM_CPU_XCRS | VKVM_CPU_DEADLINE;
        c->mp_state = i ? KVM_MP_STATE_INIT_RECEIVED : KVM_MP_STATE_RUNNABLE;
        c->regs.rip = 0xffffffff81000000ULL + i;
        c->sregs.cr0 = 0x80050033;
        c->xcrs.nr_xcrs = 1;
        c->nmsrs = 3;
        c->msrs[0] = (struct kvm_msr_entry){ .index = VKVM_MSR_TSC, .data = 1000000 + i };
        c->msrs[1] = (struct kvm_msr_entry){ .index = 0xc0000080, .data = 0xd01 };
        c->msrs[2] = (struct kvm_msr_entry){ .index = 0x4b564d01, .data = 0x1234 };
        c->xsave[0] = 0x37f;
    }
    return t;
}

struct parsed {
    struct snap *s;
    char err[512];
};

/* Write the states (cpu 1 `cut` bytes short, or with version `ver`) and
 * `extra` as one more section; parse it back. */
static int write_parse(const struct states *t, size_t cut, uint32_t ver, const char *extra, bool no_vm,
                       struct parsed *p)
{
    struct snap_writer *w = snap_writer_new(VKVM_MACHINE_TYPE, "x86_64", 2);
    if (!no_vm)
        snap_add_section(w, "kvm.vm", VKVM_SNAP_VERSION, &t->vm, sizeof(t->vm));
    snap_add_section(w, "kvm.cpu.0", VKVM_SNAP_VERSION, &t->cpu[0], sizeof(t->cpu[0]));
    snap_add_section(w, "kvm.cpu.1", ver, &t->cpu[1], sizeof(t->cpu[1]) - cut);
    if (extra)
        snap_add_section(w, extra, VKVM_SNAP_VERSION, &t->cpu[1], 16);
    snap_add_config_u64(w, "ram_size", 64ULL << 20);
    struct snap_ram r = { .gpa = 0, .size = 64ULL << 20, .file = "ram-0.bin" };
    snap_add_ram(w, &r);
    char *man;
    uint8_t *st;
    size_t mlen, slen;
    snap_writer_finish(w, &man, &mlen, &st, &slen);
    snap_writer_free(w);
    int rc = snap_parse(man, mlen, st, slen, &p->s, p->err, sizeof(p->err));
    free(man);
    free(st);
    return rc;
}

static void test_round_trip(void **state)
{
    (void)state;
    struct states *t = good_states();
    struct parsed p = { 0 };
    assert_int_equal(write_parse(t, 0, VKVM_SNAP_VERSION, NULL, false, &p), 0);
    assert_int_equal(vkvm_snap_check(p.s, 2, VKVM_VM_ACPI, p.err, sizeof(p.err)), 0);
    uint32_t ver;
    size_t len;
    const struct vkvm_cpu_state *c = snap_section(p.s, "kvm.cpu.1", &ver, &len);
    assert_non_null(c);
    assert_int_equal(len, sizeof(*c));
    assert_memory_equal(c, &t->cpu[1], sizeof(*c));
    const struct vkvm_vm_state *v = snap_section(p.s, "kvm.vm", NULL, &len);
    assert_memory_equal(v, &t->vm, sizeof(*v));
    snap_free(p.s);
    free(t);
}

/* Check one bad variant: refused, and the line names `what`. */
static void refused(const struct states *t, size_t cut, uint32_t ver, const char *extra, bool no_vm,
                    unsigned ncpus, uint32_t flags, const char *what)
{
    struct parsed p = { 0 };
    assert_int_equal(write_parse(t, cut, ver, extra, no_vm, &p), 0);
    int r = vkvm_snap_check(p.s, ncpus, flags, p.err, sizeof(p.err));
    if (r != -EINVAL || !strstr(p.err, what))
        fail_msg("want -EINVAL naming '%s'; got %d '%s'", what, r, p.err);
    snap_free(p.s);
}

static void test_bad_sections(void **state)
{
    (void)state;
    struct states *t = good_states();
    refused(t, 8, VKVM_SNAP_VERSION, NULL, false, 2, VKVM_VM_ACPI, "kvm.cpu.1 is version 1, ");
    refused(t, sizeof(t->cpu[1]), VKVM_SNAP_VERSION, NULL, false, 2, VKVM_VM_ACPI, "kvm.cpu.1 is version 1, 0 bytes");
    refused(t, 0, 2, NULL, false, 2, VKVM_VM_ACPI, "kvm.cpu.1 is version 2");
    refused(t, 0, VKVM_SNAP_VERSION, NULL, true, 2, VKVM_VM_ACPI, "no section kvm.vm");
    refused(t, 0, VKVM_SNAP_VERSION, "kvm.lapic", false, 2, VKVM_VM_ACPI, "section kvm.lapic is not one");
    refused(t, 0, VKVM_SNAP_VERSION, "kvm.cpu.2", false, 2, VKVM_VM_ACPI, "section kvm.cpu.2 is not one");
    refused(t, 0, VKVM_SNAP_VERSION, "kvm.cpu.1x", false, 2, VKVM_VM_ACPI, "section kvm.cpu.1x");
    /* a board of another shape */
    refused(t, 0, VKVM_SNAP_VERSION, NULL, false, 2, VKVM_VM_ACPI | VKVM_VM_MMIO, "this machine has 2, ACPI, mmio");
    refused(t, 0, VKVM_SNAP_VERSION, NULL, false, 1, VKVM_VM_ACPI, "kvm.vm: 2 vCPUs");
    /* values no vCPU or VM has */
    static const char *const what[] = {
        "kvm.cpu.1: another vCPU's state", "kvm.cpu.1: an mp_state", "kvm.cpu.1: too many MSRs",
        "kvm.cpu.1: the TSC is not the first", "kvm.cpu.1: an MSR twice", "kvm.cpu.1: an MSR a snapshot does not",
        "kvm.cpu.1: unknown flags", "kvm.cpu.1: too many XCRs", "kvm.vm: interrupt controllers",
        "kvm.vm: interrupt controllers", "kvm.cpu.1: a reserved MSR field",
    };
    for (unsigned k = 0; k < sizeof(what) / sizeof(what[0]); k++) {
        struct states *b = good_states();
        struct vkvm_cpu_state *c = &b->cpu[1];
        switch (k) {
        case 0: c->cpu = 0; break;
        case 1: c->mp_state = 7; break;
        case 2: c->nmsrs = VKVM_SNAP_MAX_MSRS + 1; break;
        case 3: c->msrs[0].index = 0x174; break;
        case 4: c->msrs[2].index = 0xc0000080; break;
        case 5: c->msrs[2].index = VKVM_MSR_TSC_DEADLINE; break;
        case 6: c->flags |= 0x100; break;
        case 7: c->xcrs.nr_xcrs = KVM_MAX_XCRS + 1; break;
        case 8: b->vm.ioapic.chip_id = 0; break;
        case 9: b->vm.acpi_events = 0x80; break;
        case 10: c->msrs[1].reserved = 1; break;
        }
        refused(b, 0, VKVM_SNAP_VERSION, NULL, false, 2, VKVM_VM_ACPI, what[k]);
        free(b);
    }
    free(t);
}

/* `vessel kvm --restore` of vessel run's snapshot: one line, refused. */
static void test_other_machine(void **state)
{
    (void)state;
    struct snap_writer *w = snap_writer_new("riscv64-virt", "riscv64", 1);
    struct snap_ram r = { .gpa = 0x80000000ULL, .size = 64ULL << 20, .file = "ram-0.bin" };
    snap_add_ram(w, &r);
    char *man, err[256];
    uint8_t *st;
    size_t mlen, slen;
    struct snap *s;
    snap_writer_finish(w, &man, &mlen, &st, &slen);
    snap_writer_free(w);
    assert_int_equal(snap_parse(man, mlen, st, slen, &s, err, sizeof(err)), 0);
    struct vkvm_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    assert_int_equal(vkvm_config_from_snapshot(&cfg, s), -EINVAL);
    assert_null(cfg.restore);
    snap_free(s);
    free(man);
    free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_msr_filter),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_bad_sections),
        cmocka_unit_test(test_other_machine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
