/* libFuzzer: the x86-64 engine's snapshot sections as a snapshot file
 * hands them over. Byte 0: bits 0-1 the vCPU count (1-4), bit 2 the board
 * flags' mmio, bit 3 ACPI, bits 4-7 how many bytes the last section is cut
 * short; the rest fills kvm.vm and kvm.cpu.N in turn (zeros where it ends),
 * is written with the snapshot writer, parsed back and checked
 * (vkvm_snap_check). Nothing may crash or leak; a state it accepts must
 * hold what load relies on (TSC first, MSR count in range, mp_state an
 * x86 one, the vCPU's own index). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "kvm/x86/kvm.h"
#include "machine/snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t fill(void *dst, size_t len, const uint8_t **data, size_t *size)
{
    size_t n = len < *size ? len : *size;
    memset(dst, 0, len);
    memcpy(dst, *data, n);
    *data += n;
    *size -= n;
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned ncpus = (data[0] & 3) + 1, cut = data[0] >> 4;
    uint32_t flags = (data[0] & 4 ? VKVM_VM_MMIO : 0) | (data[0] & 8 ? VKVM_VM_ACPI : 0);
    data++;
    size--;
    struct snap_writer *w = snap_writer_new(VKVM_MACHINE_TYPE, "x86_64", ncpus);
    struct vkvm_vm_state *v = xmalloc(sizeof(*v));
    struct vkvm_cpu_state *c = xmalloc(sizeof(*c));
    fill(v, sizeof(*v), &data, &size);
    snap_add_section(w, "kvm.vm", VKVM_SNAP_VERSION, v, sizeof(*v));
    for (unsigned i = 0; i < ncpus; i++) {
        char name[32];
        snprintf(name, sizeof(name), "kvm.cpu.%u", i);
        fill(c, sizeof(*c), &data, &size);
        snap_add_section(w, name, VKVM_SNAP_VERSION, c, sizeof(*c) - (i == ncpus - 1 ? cut : 0));
    }
    struct snap_ram r = { .gpa = 0, .size = 1 << 20, .file = "ram-0.bin" };
    snap_add_ram(w, &r);
    char *man, err[512];
    uint8_t *st;
    size_t ml, sl;
    snap_writer_finish(w, &man, &ml, &st, &sl);
    snap_writer_free(w);
    struct snap *s;
    if (snap_parse(man, ml, st, sl, &s, err, sizeof(err)))
        abort();                            /* the writer's own output */
    if (vkvm_snap_check(s, ncpus, flags, err, sizeof(err)) == 0) {
        for (unsigned i = 0; i < ncpus; i++) {
            char name[32];
            size_t len;
            snprintf(name, sizeof(name), "kvm.cpu.%u", i);
            const struct vkvm_cpu_state *k = snap_section(s, name, NULL, &len);
            if (!k || len != sizeof(*k) || k->cpu != i || k->nmsrs > VKVM_SNAP_MAX_MSRS ||
                k->mp_state > KVM_MP_STATE_SIPI_RECEIVED || (k->nmsrs && k->msrs[0].index != VKVM_MSR_TSC))
                abort();
        }
    } else if (!err[0]) {
        abort();                            /* a refusal names its reason */
    }
    snap_free(s);
    free(man);
    free(st);
    free(v);
    free(c);
    return 0;
}
