/* Snapshot and restore of a whole machine: a walk over the device list
 * plus the engine's own state, RAM as files mapped MAP_PRIVATE on restore,
 * disks recognised by their identity or saved with the snapshot. */
#include "machine/internal.h"
#include "machine/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define DEV_SECTION_VERSION 1
#define RAM_CHUNK (1u << 20)

/* Which pages of [p, p+len) may hold data: all of them, or for anonymous
 * memory only those resident (a page never touched reads as zero and is
 * not faulted in just to find that out). */
static void resident_pages(const uint8_t *p, uint64_t len, bool anon, unsigned char *vec)
{
    if (!anon || mincore((void *)p, len, vec) < 0)
        memset(vec, 1, len / MEM_PAGE_SIZE);
}

/* Write [p, p+len) at off of fd, leaving holes for zero pages; the CRC-32
 * of all of it (zero pages combined in without reading them again). */
static int write_sparse(int fd, const uint8_t *p, uint64_t len, uint64_t off, bool anon, uint32_t *crc)
{
    unsigned char vec[RAM_CHUNK / MEM_PAGE_SIZE];
    static const uint8_t zero[MEM_PAGE_SIZE];
    uint32_t zcrc = snap_crc32(0, zero, MEM_PAGE_SIZE);
    uint64_t run = 0, start = 0;
    resident_pages(p, len, anon, vec);
    for (uint64_t o = 0; o <= len; o += MEM_PAGE_SIZE) {
        bool data = o < len && (vec[o / MEM_PAGE_SIZE] & 1) && !mem_page_is_zero(p + o);
        if (data) {
            if (!run)
                start = o;
            run += MEM_PAGE_SIZE;
            continue;
        }
        if (run) {
            *crc = snap_crc32(*crc, p + start, run);
            if (pwrite(fd, p + start, run, (off_t)(off + start)) != (ssize_t)run)
                return errno ? -errno : -EIO;
            run = 0;
        }
        if (o < len)
            *crc = (uint32_t)crc32_combine(*crc, zcrc, MEM_PAGE_SIZE);
    }
    return 0;
}

static int sync_rename(int fd, const char *tmp, const char *dst)
{
    int r = fdatasync(fd) < 0 ? -errno : 0;
    if (close(fd) < 0 && !r)
        r = -errno;
    if (!r && rename(tmp, dst) < 0)
        r = -errno;
    if (r)
        unlink(tmp);
    return r;
}

static int write_ram(struct machine *m, const char *dir, unsigned i, struct snap_writer *w, char *err,
                     size_t errlen)
{
    const struct mem_region *r = &m->mem.r[i];
    struct snap_ram sr = { .gpa = r->gpa, .size = r->size };
    snprintf(sr.file, sizeof(sr.file), "ram-%u.bin", i);
    char tmp[4200], dst[4200];
    snprintf(dst, sizeof(dst), "%s/%s", dir, sr.file);
    snprintf(tmp, sizeof(tmp), "%s.tmp", dst);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return errf(err, errlen, -errno, "snapshot %s: cannot create %s: %s", dir, tmp, strerror(errno));
    int rc = ftruncate(fd, (off_t)r->size) < 0 ? -errno : 0;
    for (uint64_t off = 0; !rc && off < r->size; off += RAM_CHUNK)
        rc = write_sparse(fd, r->host + off, MIN((uint64_t)RAM_CHUNK, r->size - off), off,
                          !(r->flags & MEM_F_FILE) && r->fd < 0, &sr.crc32);
    if (rc) {
        close(fd);
        unlink(tmp);
    } else {
        rc = sync_rename(fd, tmp, dst);
    }
    if (rc)
        return errf(err, errlen, rc, "snapshot %s: writing %s: %s", dir, sr.file, strerror(-rc));
    snap_add_ram(w, &sr);
    return 0;
}

/* Copy src to dst: a reflink (FICLONE) where the file system shares
 * blocks, else copy_file_range, else read/write. Into dst.tmp, renamed. */
static int copy_file(const char *src, const char *dst, bool *reflinked)
{
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", dst);
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -errno;
    int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0) {
        int e = -errno;
        close(in);
        return e;
    }
    int r = 0;
    *reflinked = ioctl(out, FICLONE, in) == 0;
    if (!*reflinked) {
        struct stat st;
        r = fstat(in, &st) < 0 ? -errno : 0;
        loff_t off_in = 0, off_out = 0;
        while (!r && off_in < st.st_size) {
            ssize_t n = copy_file_range(in, &off_in, out, &off_out, (size_t)(st.st_size - off_in), 0);
            if (n <= 0)
                r = n < 0 ? -errno : -EIO;
        }
        if (r == -EXDEV || r == -ENOSYS || r == -EOPNOTSUPP || r == -EINVAL) {
            uint8_t *buf = xmalloc(RAM_CHUNK);
            r = ftruncate(out, 0) < 0 ? -errno : 0;
            for (off_t o = 0; !r;) {
                ssize_t n = pread(in, buf, RAM_CHUNK, o);
                if (n == 0)
                    break;
                if (n < 0 || write_full(out, buf, (size_t)n) != n)
                    r = -EIO;
                o += n;
            }
            free(buf);
        }
    }
    close(in);
    if (r) {
        close(out);
        unlink(tmp);
        return r;
    }
    return sync_rename(out, tmp, dst);
}

static int save_disks(struct machine *m, const char *dir, bool copy, struct snap_writer *w, int64_t *newest,
                      char *err, size_t errlen)
{
    for (unsigned i = 0; i < machine_nblock(m); i++) {
        struct machine_block_info bi;
        struct snap_disk d = { 0 };
        machine_block_info(m, i, &bi);
        snprintf(d.id, sizeof(d.id), "%s", bi.device);
        snprintf(d.path, sizeof(d.path), "%s", bi.file);
        if (!snap_name_ok(d.id) || strchr(d.id, '/'))
            return errf(err, errlen, -EINVAL, "snapshot %s: disk id '%s' cannot name a file", dir, d.id);
        if (copy) {
            char dst[4200];
            bool reflink;
            snprintf(d.saved, sizeof(d.saved), "disk-%s.img", d.id);
            snprintf(dst, sizeof(dst), "%s/%s", dir, d.saved);
            int r = copy_file(bi.file, dst, &reflink);
            if (r)
                return errf(err, errlen, r, "snapshot %s: saving disk %s (%s): %s", dir, d.id, bi.file, strerror(-r));
            log_info("snapshot: disk %s saved as %s (%s)", d.id, d.saved, reflink ? "reflink" : "copy");
        }
        int r = snap_disk_identity(bi.file, &d);
        if (r)
            return errf(err, errlen, r, "snapshot %s: disk %s (%s): %s", dir, d.id, bi.file, strerror(-r));
        *newest = MAX(*newest, d.mtime_ns);
        snap_add_disk(w, &d);
    }
    return 0;
}

/* A write after the snapshot must give the disk another mtime: wait until
 * the file system's (coarse) clock has passed the newest one recorded. */
static void wait_mtime_passed(int64_t newest)
{
    for (int i = 0; i < 1000; i++) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME_COARSE, &ts);
        if ((int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec > newest)
            return;
        struct timespec d = { 0, 1000000 };
        nanosleep(&d, NULL);
    }
}

static const char *virtio_spec_of(struct machine *m, void *opaque)
{
    for (unsigned i = 0; i < machine_virtio_count(m); i++)
        if (virtio_board_dev(m->virtio, i) == opaque)
            return virtio_board_spec(m->virtio, i);
    return NULL;
}

static int save_devices(struct machine *m, struct snap_writer *w, char *err, size_t errlen)
{
    for (unsigned i = 0; i < m->ndevs; i++) {
        const struct machine_dev *d = &m->devs[i];
        char sec[SNAP_NAME_MAX] = "";
        if (d->ops->save && d->ops->state_size) {
            void *st = xzalloc(d->ops->state_size);
            d->ops->save(d->opaque, st);
            snprintf(sec, sizeof(sec), "dev/%s", d->id);
            snap_add_section(w, sec, DEV_SECTION_VERSION, st, d->ops->state_size);
            free(st);
        }
        if (d->ops->save_var) {
            uint8_t *buf = NULL;
            size_t len = 0;
            char vsec[SNAP_NAME_MAX];
            int r = d->ops->save_var(d->opaque, &buf, &len);
            if (r < 0) {
                free(buf);
                return errf(err, errlen, r, "device %s: cannot save its state: %s", d->id, strerror(-r));
            }
            snprintf(vsec, sizeof(vsec), "dev/%s/var", d->id);
            snap_add_section(w, vsec, DEV_SECTION_VERSION, buf, len);
            free(buf);
        }
        snap_add_device(w, d->id, d->ops->name, sec[0] ? sec : NULL, virtio_spec_of(m, d->opaque));
    }
    return 0;
}

static int write_state(const char *dir, struct snap_writer *w, char *err, size_t errlen)
{
    char *man;
    uint8_t *st;
    size_t mlen, slen;
    snap_writer_finish(w, &man, &mlen, &st, &slen);
    const char *names[2] = { SNAP_STATE, SNAP_MANIFEST };
    const void *data[2] = { st, man };
    size_t lens[2] = { slen, mlen };
    int r = 0;
    for (int i = 0; i < 2 && !r; i++) {
        char tmp[4200], dst[4200];
        snprintf(dst, sizeof(dst), "%s/%s", dir, names[i]);
        snprintf(tmp, sizeof(tmp), "%s.tmp", dst);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || write_full(fd, data[i], lens[i]) != (ssize_t)lens[i]) {
            r = -errno ? -errno : -EIO;
            if (fd >= 0)
                close(fd);
            unlink(tmp);
        } else {
            r = sync_rename(fd, tmp, dst);
        }
        if (r)
            errf(err, errlen, r, "snapshot %s: writing %s: %s", dir, names[i], strerror(-r));
    }
    free(man);
    free(st);
    return r;
}

static void sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* Everything but RAM and disks: the configuration to build the machine
 * again, the engine's sections and every device's. */
int machine_state_save(struct machine *m, struct snap_writer *w, char *err, size_t errlen)
{
    if (machine_hotplug_count(m))
        return errf(err, errlen, -ENOTSUP, "the machine has hot-plugged devices (device_add): snapshots and "
                    "migration do not carry them yet (device_del them first)");
    if (m->memdev)
        return errf(err, errlen, -ENOTSUP, "the machine has a virtio-mem device (--memory-hotplug): snapshots "
                    "and migration do not carry it yet");
    const char *no_state = virtio_board_no_state(m->virtio);
    if (no_state)
        return errf(err, errlen, -ENOTSUP, "%s", no_state);
    snap_add_config_u64(w, "ram_size", m->cfg.ram_size);
    snap_add_config_u64(w, "ncpus", m->cfg.ncpus);
    for (unsigned i = 0; i < m->cfg.virtio.n; i++) {
        char key[32];
        snprintf(key, sizeof(key), "virtio.%u", i);
        snap_add_config(w, key, virtio_opt_spec(&m->cfg.virtio.dev[i]));
    }
    int r = m->eops->save(m->eng, w);
    if (r < 0)
        return errf(err, errlen, r, "the %s engine cannot save its state: %s", m->eops->target, strerror(-r));
    return save_devices(m, w, err, errlen);
}

static int snapshot_paused(struct machine *m, const char *dir, const struct machine_snapshot_opts *o, char *err,
                           size_t errlen)
{
    char man[4200];
    /* the old manifest goes first: a half-written snapshot is never one */
    snprintf(man, sizeof(man), "%s/%s", dir, SNAP_MANIFEST);
    if (unlink(man) < 0 && errno != ENOENT)
        return errf(err, errlen, -errno, "snapshot %s: cannot replace %s: %s", dir, man, strerror(errno));
    struct snap_writer *w = snap_writer_new(m->eops->machine_type, m->eops->target, m->cfg.ncpus);
    int64_t newest = 0;
    char why[512];
    int r = machine_state_save(m, w, why, sizeof(why));
    if (r < 0)
        errf(err, errlen, r, "snapshot %s: %s", dir, why);
    for (unsigned i = 0; !r && i < m->mem.nr; i++)
        r = write_ram(m, dir, i, w, err, errlen);
    if (!r)
        r = save_disks(m, dir, o->disks, w, &newest, err, errlen);
    if (!r)
        r = write_state(dir, w, err, errlen);
    snap_writer_free(w);
    if (!r) {
        sync_dir(dir);
        wait_mtime_passed(newest);
    }
    return r;
}

int machine_snapshot(struct machine *m, const char *dir, const struct machine_snapshot_opts *opts, char *err,
                     size_t errlen)
{
    if (!m->eops || !m->eops->save || !m->eops->machine_type)
        return errf(err, errlen, -ENOTSUP, "this machine cannot be snapshotted yet");
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return errf(err, errlen, -errno, "snapshot %s: cannot create the directory: %s", dir, strerror(errno));
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return errf(err, errlen, -ENOTDIR, "snapshot %s: not a directory", dir);
    enum machine_status was = machine_status(m);
    if (was == MACHINE_SHUTDOWN || was == MACHINE_INTERNAL_ERROR)
        return errf(err, errlen, -ESHUTDOWN, "the machine is shutting down");
    int r = machine_pause(m);
    if (r < 0)
        return errf(err, errlen, r, "cannot pause the machine: %s", strerror(-r));
    uint64_t t0 = time_ns();
    r = snapshot_paused(m, dir, opts, err, errlen);
    if (!r)
        log_debug("snapshot: %s written in %.1f ms", dir, (double)(time_ns() - t0) / 1e6);
    if (was == MACHINE_RUNNING && !opts->paused)
        machine_resume(m);
    return r;
}

/* ---- restore ---- */
static int check_shape(struct machine *m, const struct snap *s, char *err, size_t errlen)
{
    const char *dir = snap_dir(s);
    if (!m->eops || !m->eops->load || !m->eops->machine_type)
        return errf(err, errlen, -ENOTSUP, "this machine cannot restore snapshots yet");
    if (strcmp(snap_type(s), m->eops->machine_type) || strcmp(snap_target(s), m->eops->target))
        return errf(err, errlen, -EINVAL, "snapshot %s: a %s (%s) machine, this one is %s (%s)", dir, snap_type(s),
                    snap_target(s), m->eops->machine_type, m->eops->target);
    if (snap_ncpus(s) != m->cfg.ncpus)
        return errf(err, errlen, -EINVAL, "snapshot %s: %u vCPUs, this machine has %u", dir, snap_ncpus(s),
                    m->cfg.ncpus);
    if (snap_nram(s) != m->mem.nr)
        return errf(err, errlen, -EINVAL, "snapshot %s: %u RAM regions, this machine has %u", dir, snap_nram(s),
                    m->mem.nr);
    for (unsigned i = 0; i < m->mem.nr; i++) {
        const struct snap_ram *r = snap_ram(s, i);
        if (r->gpa != m->mem.r[i].gpa || r->size != m->mem.r[i].size)
            return errf(err, errlen, -EINVAL, "snapshot %s: RAM region %u is %llu MiB at 0x%llx, this machine's is "
                        "%llu MiB at 0x%llx", dir, i, (unsigned long long)(r->size >> 20),
                        (unsigned long long)r->gpa, (unsigned long long)(m->mem.r[i].size >> 20),
                        (unsigned long long)m->mem.r[i].gpa);
    }
    if (snap_ndevs(s) != m->ndevs)
        return errf(err, errlen, -EINVAL, "snapshot %s: %u devices, this machine has %u", dir, snap_ndevs(s),
                    m->ndevs);
    for (unsigned i = 0; i < m->ndevs; i++) {
        const struct snap_dev *sd = snap_dev(s, i);
        const struct machine_dev *d = &m->devs[i];
        uint32_t ver = 0;
        size_t len = 0;
        if (strcmp(sd->id, d->id) || strcmp(sd->kind, d->ops->name))
            return errf(err, errlen, -EINVAL, "snapshot %s: device %u is %s (%s), this machine's is %s (%s)", dir, i,
                        sd->id, sd->kind, d->id, d->ops->name);
        bool want = d->ops->load && d->ops->state_size;
        if (want != (sd->section[0] != 0))
            return errf(err, errlen, -EINVAL, "snapshot %s: device %s: state section %s", dir, d->id,
                        want ? "missing" : "unexpected");
        if (want && (!snap_section(s, sd->section, &ver, &len) || ver != DEV_SECTION_VERSION ||
                     len != d->ops->state_size))
            return errf(err, errlen, -EINVAL, "snapshot %s: section %s: version %u, %zu bytes; this vessel wants "
                        "version %d, %zu bytes", dir, sd->section, ver, len, DEV_SECTION_VERSION,
                        d->ops->state_size);
    }
    return 0;
}

static int check_saved(const struct snap *s, const struct snap_disk *sd, char *err, size_t errlen);
static int put_disk_back(const struct snap *s, const struct snap_disk *sd, char *err, size_t errlen);

/* Each disk is the snapshot's, or has a saved copy to put back (its bit
 * set in *put_back). */
static int check_disks(struct machine *m, const struct snap *s, uint32_t *put_back, char *err, size_t errlen)
{
    const char *dir = snap_dir(s);
    if (snap_ndisks(s) != machine_nblock(m))
        return errf(err, errlen, -EINVAL, "snapshot %s: %u disks, this machine has %u", dir, snap_ndisks(s),
                    machine_nblock(m));
    for (unsigned i = 0; i < machine_nblock(m); i++) {
        const struct snap_disk *sd = snap_disk(s, i);
        struct machine_block_info bi;
        struct snap_disk now = { 0 };
        machine_block_info(m, i, &bi);
        if (strcmp(sd->id, bi.device) || strcmp(sd->path, bi.file))
            return errf(err, errlen, -EINVAL, "snapshot %s: disk %u is %s (%s), this machine's is %s (%s)", dir, i,
                        sd->id, sd->path, bi.device, bi.file);
        int r = snap_disk_identity(bi.file, &now);
        if (r)
            return errf(err, errlen, r, "snapshot %s: disk %s (%s): %s", dir, sd->id, sd->path, strerror(-r));
        if (now.size == sd->size && now.mtime_ns == sd->mtime_ns && now.sample_crc32 == sd->sample_crc32)
            continue;
        if (!sd->saved[0])
            return errf(err, errlen, -ESTALE, "snapshot %s: disk %s (%s) changed since the snapshot (%s differs)",
                        dir, sd->id, sd->path, now.size != sd->size ? "size" : now.mtime_ns != sd->mtime_ns ?
                        "mtime" : "content");
        if ((r = check_saved(s, sd, err, errlen)) < 0)
            return r;
        *put_back |= 1u << i;
    }
    return 0;
}

static int open_ram(const struct snap *s, int *fds, bool verify, char *err, size_t errlen)
{
    const char *dir = snap_dir(s);
    for (unsigned i = 0; i < snap_nram(s); i++) {
        const struct snap_ram *r = snap_ram(s, i);
        char path[4200];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, r->file);
        fds[i] = open(path, O_RDONLY | O_CLOEXEC);
        if (fds[i] < 0)
            return errf(err, errlen, -errno, "snapshot %s: RAM file %s: %s", dir, r->file, strerror(errno));
        if (fstat(fds[i], &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != r->size)
            return errf(err, errlen, -EINVAL, "snapshot %s: RAM file %s is %lld bytes, the manifest says %llu", dir,
                        r->file, (long long)st.st_size, (unsigned long long)r->size);
        if (!verify)
            continue;
        uint8_t *p = mmap(NULL, r->size, PROT_READ, MAP_PRIVATE, fds[i], 0);
        if (p == MAP_FAILED)
            return errf(err, errlen, -errno, "snapshot %s: RAM file %s: %s", dir, r->file, strerror(errno));
        uint32_t crc = snap_crc32(0, p, r->size);
        munmap(p, r->size);
        if (crc != r->crc32)
            return errf(err, errlen, -EINVAL, "snapshot %s: RAM file %s: CRC-32 0x%08x, the manifest says 0x%08x "
                        "(corrupt)", dir, r->file, crc, r->crc32);
    }
    return 0;
}

static int load_devices(struct machine *m, const struct snap *s, char *err, size_t errlen)
{
    for (unsigned i = 0; i < m->ndevs; i++) {
        const struct machine_dev *d = &m->devs[i];
        const struct snap_dev *sd = snap_dev(s, i);
        if (sd->section[0]) {
            int r = d->ops->load(d->opaque, snap_section(s, sd->section, NULL, NULL));
            if (r < 0)
                return errf(err, errlen, r, "snapshot %s: device %s refuses its state (%s)", snap_dir(s), d->id,
                            strerror(-r));
        }
        char vsec[SNAP_NAME_MAX];
        size_t len = 0;
        snprintf(vsec, sizeof(vsec), "dev/%s/var", d->id);
        const uint8_t *v = snap_section(s, vsec, NULL, &len);
        if (v && d->ops->load_var) {
            int r = d->ops->load_var(d->opaque, v, len);
            if (r < 0)
                return errf(err, errlen, r, "snapshot %s: device %s refuses its %s section (%s)", snap_dir(s), d->id,
                            vsec, strerror(-r));
        }
    }
    return 0;
}

int machine_restore(struct machine *m, const struct snap *s, bool paused, bool verify_ram, char *err,
                    size_t errlen)
{
    int fds[MEM_MAX_REGIONS];
    for (unsigned i = 0; i < MEM_MAX_REGIONS; i++)
        fds[i] = -1;
    uint32_t put_back = 0;
    int r = check_shape(m, s, err, errlen);
    if (!r && machine_hotplug_count(m))
        r = errf(err, errlen, -ENOTSUP, "the machine has hot-plugged devices (device_add), which the snapshot "
                 "does not have: device_del them first");
    if (!r && m->eops->check)
        r = m->eops->check(m->eng, s, err, errlen);
    if (!r)
        r = check_disks(m, s, &put_back, err, errlen);
    if (!r)
        r = open_ram(s, fds, verify_ram, err, errlen);
    enum machine_status was = machine_status(m);
    if (!r && (was == MACHINE_SHUTDOWN || was == MACHINE_INTERNAL_ERROR))
        r = errf(err, errlen, -ESHUTDOWN, "the machine is shutting down");
    if (!r && (r = machine_pause(m)) < 0)
        errf(err, errlen, r, "cannot pause the machine: %s", strerror(-r));
    if (r) {
        for (unsigned i = 0; i < MEM_MAX_REGIONS; i++)
            if (fds[i] >= 0)
                close(fds[i]);
        return r;
    }
    /* from here on a failure leaves no consistent machine: it stops */
    uint64_t t0 = time_ns();
    for (unsigned i = 0; !r && i < m->mem.nr; i++) {
        struct mem_region *reg = &m->mem.r[i];
        if (mmap(reg->host, reg->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, fds[i], 0) ==
            MAP_FAILED)
            r = errf(err, errlen, -errno, "snapshot %s: cannot map %s: %s", snap_dir(s), snap_ram(s, i)->file,
                     strerror(errno));
        reg->flags = (reg->flags | MEM_F_FILE) & ~(unsigned)MEM_F_HUGE;   /* a new mapping: no MADV_HUGEPAGE */
    }
    for (unsigned i = 0; i < MEM_MAX_REGIONS; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    for (unsigned i = 0; !r && i < snap_ndisks(s); i++)
        if (put_back & (1u << i)) {
            r = put_disk_back(s, snap_disk(s, i), err, errlen);
            if (!r && (r = virtio_board_block_reopen(m->virtio, i)) < 0)
                errf(err, errlen, r, "snapshot %s: disk %s: cannot open it again: %s", snap_dir(s),
                     snap_disk(s, i)->id, strerror(-r));
        }
    if (!r)
        r = m->eops->load(m->eng, s, err, errlen);
    if (!r)
        r = load_devices(m, s, err, errlen);
    if (r) {
        log_error("%s", err);
        log_error("restore failed half-way: stopping the machine");
        machine_shutdown(m, MACHINE_STOP_ERROR, MACHINE_EXIT_ERROR);
        return r;
    }
    log_debug("restore: %s loaded in %.3f ms", snap_dir(s), (double)(time_ns() - t0) / 1e6);
    if (was == MACHINE_RUNNING && !paused)
        machine_resume(m);
    return 0;
}

/* Migration: the state of a machine whose RAM came over the stream. The
 * disks are shared by path: each must be the very file the source had
 * (its identity), none is put back. */
int machine_state_check(struct machine *m, const struct snap *s, char *err, size_t errlen)
{
    uint32_t put_back = 0;
    int r = check_shape(m, s, err, errlen);
    if (!r)
        r = check_disks(m, s, &put_back, err, errlen);
    if (!r && put_back)
        r = errf(err, errlen, -ESTALE, "a disk is not the one the source has open (a copy?): disks are shared "
                 "by path");
    return r;
}

int machine_state_check_shape(struct machine *m, const struct snap *s, char *err, size_t errlen)
{
    int r = check_shape(m, s, err, errlen);
    if (!r && m->eops->check)
        r = m->eops->check(m->eng, s, err, errlen);
    return r;
}

int machine_state_load(struct machine *m, const struct snap *s, char *err, size_t errlen)
{
    int r = m->eops->load(m->eng, s, err, errlen);
    return r ? r : load_devices(m, s, err, errlen);
}

/* The saved copy of a disk is the one the manifest describes. */
static int check_saved(const struct snap *s, const struct snap_disk *sd, char *err, size_t errlen)
{
    char src[4200];
    struct snap_disk got = { 0 };
    snprintf(src, sizeof(src), "%s/%s", snap_dir(s), sd->saved);
    int r = snap_disk_identity(src, &got);
    if (r)
        return errf(err, errlen, r, "snapshot %s: saved disk %s: %s", snap_dir(s), sd->saved, strerror(-r));
    if (got.size != sd->size || got.sample_crc32 != sd->sample_crc32)
        return errf(err, errlen, -EINVAL, "snapshot %s: saved disk %s does not match the manifest (corrupt)",
                    snap_dir(s), sd->saved);
    return 0;
}

/* Copy the saved disk over its path (written beside, renamed) with the
 * recorded mtime: the file there is then the snapshot's disk. */
static int put_disk_back(const struct snap *s, const struct snap_disk *sd, char *err, size_t errlen)
{
    char src[4200];
    bool reflink;
    snprintf(src, sizeof(src), "%s/%s", snap_dir(s), sd->saved);
    int r = copy_file(src, sd->path, &reflink);
    if (r)
        return errf(err, errlen, r, "snapshot %s: cannot put disk %s back at %s: %s", snap_dir(s), sd->id, sd->path,
                    strerror(-r));
    struct timespec ts[2] = { { 0, UTIME_OMIT }, { sd->mtime_ns / 1000000000LL, sd->mtime_ns % 1000000000LL } };
    if (utimensat(AT_FDCWD, sd->path, ts, 0) < 0)
        return errf(err, errlen, -errno, "snapshot %s: disk %s: %s", snap_dir(s), sd->path, strerror(errno));
    log_info("restore: disk %s put back at %s (%s)", sd->id, sd->path, reflink ? "reflink" : "copy");
    return 0;
}

static int restore_open(const char *arg, bool *verify, struct snap **out)
{
    char dir[PATH_MAX], err[700];
    snprintf(dir, sizeof(dir), "%s", arg);
    size_t n = strlen(dir);
    *verify = n > 7 && !strcmp(dir + n - 7, ",verify");
    if (*verify)
        dir[n - 7] = 0;
    if (snap_load_dir(dir, out, err, sizeof(err)) < 0) {
        log_error("--restore: %s", err);
        return -1;
    }
    return 0;
}

int machine_restore_run(const char *arg, const char *shaping, bool *verify, const struct machine_restore_engine *e,
                        void *cfg)
{
    if (shaping) {
        log_error("--restore: %s comes from the snapshot's manifest and cannot be given with it", shaping);
        return 2;
    }
    struct snap *s;
    if (restore_open(arg, verify, &s) < 0)
        return 2;
    bench_since_exec("snapshot read");
    char err[700];
    int rc = 2;
    if (e->configure(cfg, s) == 0) {
        if (machine_restore_disks(s, err, sizeof(err)) < 0)
            log_error("--restore: %s", err);
        else
            rc = e->run(cfg);
    }
    snap_free(s);
    return rc;
}

int machine_restore_disks(const struct snap *s, char *err, size_t errlen)
{
    for (unsigned i = 0; i < snap_ndisks(s); i++) {
        const struct snap_disk *sd = snap_disk(s, i);
        struct snap_disk now = { 0 };
        if (!sd->saved[0])
            continue;
        if (snap_disk_identity(sd->path, &now) == 0 && now.size == sd->size && now.mtime_ns == sd->mtime_ns &&
            now.sample_crc32 == sd->sample_crc32)
            continue;           /* already the snapshot's */
        int r = check_saved(s, sd, err, errlen);
        if (!r)
            r = put_disk_back(s, sd, err, errlen);
        if (r)
            return r;
    }
    return 0;
}
