/* machine: CPU hotplug, engine-neutral (machine.h, "CPU hotplug"). The
 * engine plugs and unplugs (struct machine_engine_ops cpu_plug,
 * cpu_unplug) and says which vCPUs have no thread (machine_vcpu_set_absent);
 * this file keeps the names device_add gave and checks what QMP asks. */
#include "machine/internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define ERR(...) ((void)snprintf(err, errlen, __VA_ARGS__))

/* With m->lock: whether a device or a CPU already has this id. */
bool machine_id_taken(struct machine *m, const char *id)
{
    for (unsigned i = 0; i < m->ndevs; i++)
        if (m->devs[i].id && !strcmp(m->devs[i].id, id))
            return true;
    for (unsigned i = 0; i < m->cfg.ncpus; i++)
        if (m->vcpu[i].hotplug_id && !strcmp(m->vcpu[i].hotplug_id, id))
            return true;
    struct machine_block_info bi;
    for (unsigned i = 0; machine_block_info(m, i, &bi) == 0; i++)
        if (bi.device && !strcmp(bi.device, id))
            return true;                /* a disk's name, hot-plugged or not (query-block) */
    return machine_hot_id_taken(m, id);
}

int machine_cpu_add(struct machine *m, unsigned cpu, const char *id, char *err, size_t errlen)
{
    if (!m->eops || !m->eops->cpu_plug)
        return ERR("this machine has no CPU hotplug"), -ENOTSUP;
    if (cpu >= m->cfg.ncpus)
        return ERR("core-id %u: this machine has cores 0-%u (--smp maxcpus=%u)", cpu, m->cfg.ncpus - 1,
                   m->cfg.ncpus), -EINVAL;
    if (!id || !*id)
        return ERR("device_add of a CPU needs an 'id' (device_del names it)"), -EINVAL;
    if (replicate_busy(m))
        return ERR("device_add of a CPU: the machine is being replicated (query-replication)"), -EBUSY;
    pthread_mutex_lock(&m->ctl_lock);       /* one plug at a time, none during a pause */
    pthread_mutex_lock(&m->lock);
    int r = m->stopping ? -ESHUTDOWN : machine_id_taken(m, id) ? -EEXIST : 0;
    pthread_mutex_unlock(&m->lock);
    if (r == -EEXIST)
        ERR("Duplicate device ID '%s'", id);
    else if (r)
        ERR("the machine is shutting down");
    if (!r && (r = m->eops->cpu_plug(m->eng, cpu)) < 0) {
        if (r == -EEXIST)
            ERR("CPU core-id %u is already present", cpu);
        else if (r == -EBUSY)
            ERR("CPU core-id %u is still being removed: try again", cpu);
        else if (r == -EOPNOTSUPP)
            ERR("CPU hotplug needs ACPI (vessel kvm without --no-acpi)");
        else
            ERR("CPU core-id %u: %s", cpu, strerror(-r));
    }
    if (r == 0) {
        pthread_mutex_lock(&m->lock);
        free(m->vcpu[cpu].hotplug_id);
        m->vcpu[cpu].hotplug_id = xstrdup(id);
        pthread_mutex_unlock(&m->lock);
    }
    pthread_mutex_unlock(&m->ctl_lock);
    return r;
}

int machine_cpu_del(struct machine *m, const char *id, char *err, size_t errlen)
{
    unsigned cpu = m->cfg.ncpus;
    pthread_mutex_lock(&m->lock);
    for (unsigned i = 0; i < m->cfg.ncpus; i++)
        if (m->vcpu[i].hotplug_id && !strcmp(m->vcpu[i].hotplug_id, id))
            cpu = i;
    pthread_mutex_unlock(&m->lock);
    if (cpu == m->cfg.ncpus)
        return ERR("Device '%s' not found", id), -ENOENT;
    if (!m->eops || !m->eops->cpu_unplug)
        return ERR("this machine has no CPU hotplug"), -ENOTSUP;
    int r = m->eops->cpu_unplug(m->eng, cpu);
    if (r == -ENOENT)
        ERR("CPU '%s' is being removed already", id);
    else if (r < 0)
        ERR("CPU '%s': %s", id, strerror(-r));
    return r == -ENOENT ? -EBUSY : r;
}

void machine_cpu_removed(struct machine *m, unsigned cpu)
{
    if (cpu >= m->cfg.ncpus)
        return;
    pthread_mutex_lock(&m->lock);
    char *id = m->vcpu[cpu].hotplug_id;
    m->vcpu[cpu].hotplug_id = NULL;
    pthread_mutex_unlock(&m->lock);
    char path[64];
    snprintf(path, sizeof(path), "/machine/cpu[%u]", cpu);
    machine_emit(m, MACHINE_EV_DEVICE_DELETED, true, id ? id : path);
    free(id);
}

int machine_cpu_slot(struct machine *m, unsigned cpu, struct machine_cpu_slot *out)
{
    if (!m->eops || !m->eops->cpu_plug)
        return -ENOTSUP;
    if (cpu >= m->cfg.ncpus)
        return -ENOENT;
    pthread_mutex_lock(&m->lock);
    out->present = !m->vcpu[cpu].absent;
    snprintf(out->id, sizeof(out->id), "%s", m->vcpu[cpu].hotplug_id ? m->vcpu[cpu].hotplug_id : "");
    pthread_mutex_unlock(&m->lock);
    return 0;
}
