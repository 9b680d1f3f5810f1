/* MSIs through irqfds: each distinct (address, data) a device sends gets a
 * GSI with an MSI route (KVM_SET_GSI_ROUTING, which also keeps the
 * in-kernel irqchip's default routes for GSIs 0-23) and an eventfd bound to
 * it (KVM_IRQFD); sending is then one write() to that eventfd from any
 * thread. What cannot be routed (a full table, an old KVM) goes through
 * KVM_SIGNAL_MSI. A new VM (reset) drops the routes; they are made again
 * on the next send. */
#include "kvm/x86/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define FIRST_MSI_GSI VKVM_IOAPIC_PINS

void vkvm_msi_init(struct vkvm_msi_routes *t, int vm_fd, bool irqfd)
{
    memset(t, 0, sizeof(*t));
    pthread_mutex_init(&t->lock, NULL);
    t->vm_fd = vm_fd;
    t->off = !irqfd;
    for (unsigned i = 0; i < VKVM_MSI_ROUTES; i++)
        t->r[i].fd = -1;
}

static void drop_routes(struct vkvm_msi_routes *t)
{
    for (unsigned i = 0; i < t->n; i++) {
        close(t->r[i].fd);
        t->r[i].fd = -1;
    }
    t->n = 0;
}

void vkvm_msi_new_vm(struct vkvm_msi_routes *t, int vm_fd)
{
    pthread_mutex_lock(&t->lock);
    drop_routes(t);           /* the eventfds were bound to the old VM */
    t->vm_fd = vm_fd;
    pthread_mutex_unlock(&t->lock);
}

void vkvm_msi_destroy(struct vkvm_msi_routes *t)
{
    drop_routes(t);
    pthread_mutex_destroy(&t->lock);
}

/* The irqchip's default routes (GSI n -> IOAPIC pin n, and the 8259s for
 * n < 16) plus one MSI route per entry of t. 0 or -errno. */
static int set_routing(struct vkvm_msi_routes *t, unsigned n)
{
    unsigned max = 16 * 2 + (VKVM_IOAPIC_PINS - 16) + n;
    struct kvm_irq_routing *rt = calloc(1, sizeof(*rt) + max * sizeof(struct kvm_irq_routing_entry));
    if (!rt)
        return -ENOMEM;
    unsigned k = 0;
    for (unsigned gsi = 0; gsi < VKVM_IOAPIC_PINS; gsi++) {
        if (gsi < 16)
            rt->entries[k++] = (struct kvm_irq_routing_entry){ .gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP,
                .u.irqchip = { .irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE, .pin = gsi % 8 } };
        rt->entries[k++] = (struct kvm_irq_routing_entry){ .gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP,
            .u.irqchip = { .irqchip = KVM_IRQCHIP_IOAPIC, .pin = gsi } };
    }
    for (unsigned i = 0; i < n; i++)
        rt->entries[k++] = (struct kvm_irq_routing_entry){ .gsi = FIRST_MSI_GSI + i, .type = KVM_IRQ_ROUTING_MSI,
            .u.msi = { .address_lo = (uint32_t)t->r[i].addr, .address_hi = (uint32_t)(t->r[i].addr >> 32),
                       .data = t->r[i].data } };
    rt->nr = k;
    int r = ioctl(t->vm_fd, KVM_SET_GSI_ROUTING, rt) < 0 ? -errno : 0;
    free(rt);
    return r;
}

/* The eventfd for (addr, data), made on first use; -1: use KVM_SIGNAL_MSI. */
static int route_fd(struct vkvm_msi_routes *t, uint64_t addr, uint32_t data)
{
    for (unsigned i = 0; i < t->n; i++)
        if (t->r[i].addr == addr && t->r[i].data == data)
            return t->r[i].fd;
    if (t->off || t->n == VKVM_MSI_ROUTES)
        return -1;
    unsigned i = t->n;
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0)
        return -1;
    t->r[i].addr = addr;
    t->r[i].data = data;
    int r = set_routing(t, i + 1);
    struct kvm_irqfd irqfd = { .fd = (uint32_t)fd, .gsi = FIRST_MSI_GSI + i };
    if (r == 0 && ioctl(t->vm_fd, KVM_IRQFD, &irqfd) < 0)
        r = -errno;
    if (r < 0) {
        log_warn("MSI through an irqfd: %s; KVM_SIGNAL_MSI from now on", strerror(-r));
        close(fd);
        t->off = true;
        set_routing(t, i);      /* the routes that worked stay */
        return -1;
    }
    t->r[i].fd = fd;
    t->n++;
    return fd;
}

/* Someone else's eventfd (vhost-net's call) on the GSI of (addr, data):
 * KVM then injects the MSI on the signal, nothing passes through vessel. */
int vkvm_msi_bind(void *opaque, uint64_t addr, uint32_t data, int fd, bool on)
{
    struct vkvm_msi_routes *t = opaque;
    pthread_mutex_lock(&t->lock);
    if (on)
        route_fd(t, addr, data);            /* makes the route if there is none */
    int gsi = -1;
    for (unsigned i = 0; i < t->n; i++)
        if (t->r[i].addr == addr && t->r[i].data == data)
            gsi = FIRST_MSI_GSI + (int)i;
    int r = -ENOSPC;
    if (gsi >= 0) {
        struct kvm_irqfd irqfd = { .fd = (uint32_t)fd, .gsi = (uint32_t)gsi,
                                   .flags = on ? 0 : KVM_IRQFD_FLAG_DEASSIGN };
        r = ioctl(t->vm_fd, KVM_IRQFD, &irqfd) < 0 ? -errno : 0;
    } else if (!on) {
        r = 0;                              /* a new VM since: nothing bound there */
    }
    pthread_mutex_unlock(&t->lock);
    return r;
}

void vkvm_msi_send(void *opaque, uint64_t addr, uint32_t data)
{
    struct vkvm_msi_routes *t = opaque;
    pthread_mutex_lock(&t->lock);
    int fd = route_fd(t, addr, data);
    int vm_fd = t->vm_fd;
    if (fd >= 0) {
        uint64_t one = 1;
        if (write(fd, &one, sizeof(one)) != sizeof(one))
            log_once(LOG_WARN, "irqfd write: %s", strerror(errno));
    }
    pthread_mutex_unlock(&t->lock);
    if (fd < 0) {
        struct kvm_msi msi = { .address_lo = (uint32_t)addr, .address_hi = (uint32_t)(addr >> 32), .data = data };
        if (ioctl(vm_fd, KVM_SIGNAL_MSI, &msi) < 0)
            log_once(LOG_WARN, "KVM_SIGNAL_MSI: %s", strerror(errno));
    }
}
