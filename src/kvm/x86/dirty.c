/* The x86-64 engine's dirty logging, for live migration (the machine's
 * dirty_log_start/sync/stop, machine/machine.h): KVM_MEM_LOG_DIRTY_PAGES
 * on every RAM slot while a migration runs, KVM_GET_DIRTY_LOG to read
 * what the vCPUs (and KVM itself: kvmclock, steal time, PV EOI) wrote.
 * Where the kernel has KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 the read does
 * not re-protect the pages; vessel then clears (and re-protects) exactly
 * the pages it read with KVM_CLEAR_DIRTY_LOG, as QEMU does. What devices
 * and the VMM write is logged by mem/ itself; the machine merges both. */
#include "kvm/x86/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

/* Slot i is RAM region i (guest_mem order), with the log flag while
 * logging. 0 or -errno (logged). */
int vkvm_slots_set(struct vkvm_vm *vm)
{
    if (vm->dirty.on && vm->dirty.manual) {
        /* per VM: a new VM (reset, vm-restore) asks again */
        struct kvm_enable_cap cap = { .cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
                                      .args = { KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE } };
        if (ioctl(vm->fd, KVM_ENABLE_CAP, &cap) < 0) {
            log_warn("KVM_ENABLE_CAP(MANUAL_DIRTY_LOG_PROTECT2): %s: KVM_GET_DIRTY_LOG clears the log itself",
                     strerror(errno));
            vm->dirty.manual = false;
        }
    }
    for (unsigned i = 0; i < vm->m->nr; i++) {
        struct kvm_userspace_memory_region reg = {
            .slot = i, .flags = vm->dirty.on ? KVM_MEM_LOG_DIRTY_PAGES : 0,
            .guest_phys_addr = vm->m->r[i].gpa, .memory_size = vm->m->r[i].size,
            .userspace_addr = (uintptr_t)vm->m->r[i].host,
        };
        if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &reg) < 0) {
            int e = errno;
            log_error("KVM_SET_USER_MEMORY_REGION (slot %u%s): %s", i, vm->dirty.on ? ", dirty logging" : "",
                      strerror(e));
            return -e;
        }
    }
    return 0;
}

int vkvm_dirty_log_start(void *eng)
{
    struct vkvm_vm *vm = eng;
    for (unsigned i = 0; i < vm->m->nr; i++)
        if (!vm->dirty.buf[i])
            vm->dirty.buf[i] = xzalloc(mem_bitmap_words(vm->m->r[i].size) * sizeof(uint64_t));
    /* the supported options: PROTECT_ENABLE alone is taken. INITIALLY_SET
     * (QEMU's choice: no write protection of all RAM at the start) would
     * report every page at the first sync, i.e. a second full pass unless
     * the log is cleared chunk by chunk before each is sent (QEMU's
     * clear_bmap); the first pass here sends all of RAM anyway. */
    int caps = ioctl(vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);
    vm->dirty.manual = caps > 0 && (caps & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE);
    vm->dirty.on = true;
    int r = vkvm_slots_set(vm);
    if (r) {
        vm->dirty.on = false;
        vkvm_slots_set(vm);
        return r;
    }
    log_debug("kvm: dirty logging on (%s)", vm->dirty.manual ? "manual protect" : "KVM_GET_DIRTY_LOG clears");
    return 0;
}

/* A finished exit's completion (a string read from a port into RAM) may
 * write guest memory: in the stop-and-copy's last sync (the machine
 * paused) it is done first, so that the write is in this log and not
 * after it. While the guest runs it is left to the vCPU's next KVM_RUN
 * (entering from this thread costs an RCU grace period twice) and its
 * write lands in the next sync. */
static void settle_if_paused(struct vkvm_vm *vm)
{
    if (machine_status(vm->mach) != MACHINE_PAUSED)
        return;
    for (unsigned i = 0; i < vm->ncpus; i++)
        if (vm->vcpu_fd[i] >= 0)
            vkvm_vcpu_settle(vm, i);
}

uint64_t vkvm_dirty_log_sync(void *eng, unsigned region, uint64_t *bitmap)
{
    struct vkvm_vm *vm = eng;
    if (!vm->dirty.on || region >= vm->m->nr || !vm->dirty.buf[region])
        return 0;
    if (region == 0)
        settle_if_paused(vm);
    uint64_t *buf = vm->dirty.buf[region], words = mem_bitmap_words(vm->m->r[region].size);
    uint64_t npages = vm->m->r[region].size >> MEM_PAGE_SHIFT;
    memset(buf, 0, words * sizeof(uint64_t));
    struct kvm_dirty_log log = { .slot = region, .dirty_bitmap = buf };
    if (ioctl(vm->fd, KVM_GET_DIRTY_LOG, &log) < 0) {
        /* cannot happen with the slot in place; send it all rather than miss a page */
        log_error("KVM_GET_DIRTY_LOG (slot %u): %s: the whole region is sent again", region, strerror(errno));
        for (uint64_t p = 0; p < npages; p++)
            buf[p / 64] |= 1ULL << (p % 64);
    } else if (vm->dirty.manual) {
        struct kvm_clear_dirty_log clr = { .slot = region, .first_page = 0, .num_pages = (uint32_t)npages,
                                           .dirty_bitmap = buf };
        if (ioctl(vm->fd, KVM_CLEAR_DIRTY_LOG, &clr) < 0)
            log_error("KVM_CLEAR_DIRTY_LOG (slot %u): %s: pages stay in the log", region, strerror(errno));
    }
    uint64_t n = 0;
    for (uint64_t w = 0; w < words; w++) {
        n += (uint64_t)__builtin_popcountll(buf[w] & ~bitmap[w]);
        bitmap[w] |= buf[w];
    }
    return n;
}

void vkvm_dirty_log_stop(void *eng)
{
    struct vkvm_vm *vm = eng;
    if (!vm->dirty.on)
        return;
    vm->dirty.on = false;
    vkvm_slots_set(vm);
}

void vkvm_dirty_free(struct vkvm_vm *vm)
{
    for (unsigned i = 0; i < MEM_MAX_REGIONS; i++) {
        free(vm->dirty.buf[i]);
        vm->dirty.buf[i] = NULL;
    }
}
