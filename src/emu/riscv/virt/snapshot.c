/* The virt board's own state in a snapshot: every hart (registers, CSRs,
 * pending interrupts, timer compares), the HSM states, the CLINT's MSWI
 * bits, the PLIC and the guest clock, as versioned sections; and the
 * configuration `vessel run --restore` builds the machine from. The syscon
 * has no state; UART, RTC, GPIO and virtio are devices of the machine. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "emu/riscv/virt/internal.h"
#include "machine/snapshot.h"

#define SEC_VERSION 1

struct virt_board_state {
    uint32_t nharts, builtin_sbi, sv48, reserved;
    uint64_t fdt_addr, tohost, clock_ns;
    uint32_t msip[VIRT_MAX_HARTS];
    struct {
        uint32_t hsm, reserved;
        uint64_t start_addr, start_arg;
    } hart[VIRT_MAX_HARTS];
};

static void add_path(struct snap_writer *w, const char *key, const char *path)
{
    char abs[PATH_MAX];
    if (path)
        snap_add_config(w, key, realpath(path, abs) ? abs : path);
}

int virt_engine_save(void *eng, struct snap_writer *w)
{
    struct virt_board *b = eng;
    const struct virt_config *cfg = b->cfg;
    add_path(w, "kernel", cfg->kernel);
    add_path(w, "initrd", cfg->initrd);
    add_path(w, "bios", cfg->bios);
    snap_add_config(w, "append", cfg->append);
    snap_add_config_u64(w, "sv39", cfg->sv39_only);

    struct virt_board_state *st = xzalloc(sizeof(*st));
    st->nharts = b->nharts;
    st->builtin_sbi = b->builtin_sbi;
    st->sv48 = !cfg->sv39_only;
    st->fdt_addr = b->fdt_addr;
    st->tohost = b->tohost;
    st->clock_ns = rv_machine_clock_ns(b->m);
    pthread_mutex_lock(&b->lock);
    for (unsigned i = 0; i < b->nharts; i++) {
        st->msip[i] = (uint32_t)atomic_load(&b->msip[i]);
        st->hart[i].hsm = (uint32_t)b->hart[i].hsm;
        st->hart[i].start_addr = b->hart[i].start_addr;
        st->hart[i].start_arg = b->hart[i].start_arg;
    }
    pthread_mutex_unlock(&b->lock);
    snap_add_section(w, "riscv.board", SEC_VERSION, st, sizeof(*st));
    free(st);

    struct rv_hart_state hs;
    for (unsigned i = 0; i < b->nharts; i++) {
        char name[32];
        snprintf(name, sizeof(name), "riscv.hart.%u", i);
        rv_hart_save(b->hart[i].h, &hs);
        snap_add_section(w, name, SEC_VERSION, &hs, sizeof(hs));
    }
    struct virt_plic_state *ps = xzalloc(sizeof(*ps));
    virt_plic_save(b->plic, ps);
    snap_add_section(w, "riscv.plic", SEC_VERSION, ps, sizeof(*ps));
    free(ps);
    return 0;
}

static const void *section(const struct snap *s, const char *name, size_t size, char *err, size_t errlen)
{
    return snap_section_exact(s, name, SEC_VERSION, size, err, errlen);
}

/* The board section, checked against this board (also before the harts
 * exist: `vessel run --restore` reads fdt_addr, tohost and the SBI mode). */
int virt_snapshot_board(const struct snap *s, unsigned nharts, bool sv48, uint64_t *fdt_addr, uint64_t *tohost,
                        bool *builtin_sbi, char *err, size_t errlen)
{
    const struct virt_board_state *st = section(s, "riscv.board", sizeof(*st), err, errlen);
    if (!st)
        return -EINVAL;
    if (st->nharts != nharts || st->sv48 != sv48 || st->builtin_sbi > 1) {
        snprintf(err, errlen, "snapshot %s: riscv.board: %u harts, sv48 %u; this board has %u, sv48 %u",
                 snap_dir(s), st->nharts, st->sv48, nharts, sv48);
        return -EINVAL;
    }
    for (unsigned i = 0; i < VIRT_MAX_HARTS; i++)
        if (st->msip[i] > 1 || st->hart[i].hsm > HSM_SUSPENDED || (i >= nharts && (st->msip[i] || st->hart[i].hsm))) {
            snprintf(err, errlen, "snapshot %s: riscv.board: hart %u: impossible MSWI or HSM state", snap_dir(s), i);
            return -EINVAL;
        }
    *fdt_addr = st->fdt_addr;
    *tohost = st->tohost;
    *builtin_sbi = st->builtin_sbi;
    return 0;
}

int virt_engine_load(void *eng, const struct snap *s, char *err, size_t errlen)
{
    struct virt_board *b = eng;
    uint64_t fdt, tohost;
    bool sbi;
    int r = virt_snapshot_board(s, b->nharts, !b->cfg->sv39_only, &fdt, &tohost, &sbi, err, errlen);
    if (r)
        return r;
    if (fdt != b->fdt_addr || tohost != b->tohost || sbi != b->builtin_sbi) {
        snprintf(err, errlen, "snapshot %s: riscv.board: the device tree, tohost or SBI of another boot "
                 "configuration", snap_dir(s));
        return -EINVAL;
    }
    const struct virt_board_state *st = section(s, "riscv.board", sizeof(*st), err, errlen);
    const struct virt_plic_state *ps = section(s, "riscv.plic", sizeof(*ps), err, errlen);
    const struct rv_hart_state *hs[VIRT_MAX_HARTS];
    for (unsigned i = 0; i < b->nharts; i++) {
        char name[32];
        snprintf(name, sizeof(name), "riscv.hart.%u", i);
        if (!(hs[i] = section(s, name, sizeof(struct rv_hart_state), err, errlen)))
            return -EINVAL;
    }
    if (!st || !ps)
        return -EINVAL;
    /* checked; now applied (a refusal from here on stops the machine) */
    for (unsigned i = 0; i < b->nharts; i++)
        if (rv_hart_load(b->hart[i].h, hs[i]) < 0) {
            snprintf(err, errlen, "snapshot %s: riscv.hart.%u: a state no hart can be in", snap_dir(s), i);
            return -EINVAL;
        }
    if (virt_plic_load(b->plic, ps) < 0) {
        snprintf(err, errlen, "snapshot %s: riscv.plic: impossible PLIC state", snap_dir(s));
        return -EINVAL;
    }
    pthread_mutex_lock(&b->lock);
    for (unsigned i = 0; i < b->nharts; i++) {
        atomic_store(&b->msip[i], (int)st->msip[i]);
        b->hart[i].hsm = (int)st->hart[i].hsm;
        b->hart[i].start_addr = st->hart[i].start_addr;
        b->hart[i].start_arg = st->hart[i].start_arg;
    }
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
    rv_machine_clock_set_ns(b->m, st->clock_ns);
    rv_invalidate_code(b->m, 0, UINT64_MAX);
    return 0;
}

int virt_config_from_snapshot(struct virt_config *cfg, const struct snap *s)
{
    uint64_t ram, ncpus, sv39;
    if (strcmp(snap_type(s), "riscv64-virt")) {
        log_error("--restore %s: a snapshot of a %s machine, not of vessel run's riscv64-virt", snap_dir(s),
                  snap_type(s));
        return -EINVAL;
    }
    if (!snap_config_u64(s, "ram_size", &ram) || !snap_config_u64(s, "ncpus", &ncpus) ||
        !snap_config_u64(s, "sv39", &sv39) || ncpus < 1 || ncpus > VIRT_MAX_HARTS || ram < VIRT_MIN_RAM ||
        ram % MEM_PAGE_SIZE || sv39 > 1) {
        log_error("--restore %s: the manifest's config lacks ram_size, ncpus or sv39, or holds impossible values",
                  snap_dir(s));
        return -EINVAL;
    }
    cfg->mc.ram_size = ram;
    cfg->mc.ncpus = (unsigned)ncpus;
    cfg->sv39_only = sv39;
    cfg->kernel = snap_config(s, "kernel");
    cfg->initrd = snap_config(s, "initrd");
    cfg->bios = snap_config(s, "bios");
    cfg->append = snap_config(s, "append");
    for (unsigned i = 0;; i++) {
        char key[32];
        snprintf(key, sizeof(key), "virtio.%u", i);
        const char *spec = snap_config(s, key);
        if (!spec)
            break;
        if (virtio_options_add_spec(&cfg->mc.virtio, spec) < 0)
            return -EINVAL;
    }
    cfg->restore = s;
    return 0;
}
