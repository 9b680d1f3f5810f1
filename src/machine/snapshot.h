/* machine/snapshot: the snapshot format (a directory), independent of the
 * machine so that tests and the fuzzer drive it alone.
 *
 *   DIR/manifest.json   what the snapshot is: format and version, the vessel
 *                       version, machine type, target and vCPUs, the RAM
 *                       layout, the configuration to rebuild the machine,
 *                       the devices with their config, the disks with their
 *                       identity, and every state section with its version,
 *                       offset, length and CRC-32 (docs/snapshot.md)
 *   DIR/state.bin       a 32-byte header (magic "VSLSNAP\n", u32 format
 *                       version, u32 CRC-32 of manifest.json, u64 payload
 *                       length, u32 0, u32 CRC-32 of the 28 bytes before;
 *                       little endian), then the sections, each 8-byte
 *                       aligned (zero padding between them)
 *   DIR/ram-N.bin       guest RAM region N, raw and sparse, mapped
 *                       MAP_PRIVATE on restore
 *   DIR/disk-ID.img     a disk saved with the snapshot (optional)
 *
 * Reading checks everything before anything is used: JSON types, names,
 * the header, the manifest's CRC, every section's bounds and CRC, the
 * payload length; an error is one line naming what is wrong. */
#ifndef VESSEL_SNAPSHOT_H
#define VESSEL_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNAP_FORMAT "vessel-snapshot"
#define SNAP_VERSION 1
#define SNAP_MANIFEST "manifest.json"
#define SNAP_STATE "state.bin"
#define SNAP_MAGIC "VSLSNAP\n"
#define SNAP_HEADER_SIZE 32
#define SNAP_MAX_SECTIONS 512
#define SNAP_MAX_RAM 8
#define SNAP_MAX_DEVS 128
#define SNAP_MAX_DISKS 16
#define SNAP_NAME_MAX 80            /* section, file and id names, with the NUL */
#define SNAP_MAX_MANIFEST (4u << 20)
#define SNAP_MAX_STATE (256u << 20)

struct snap_ram {
    uint64_t gpa, size;
    char file[SNAP_NAME_MAX];       /* in the snapshot directory */
    uint32_t crc32;                 /* of the whole file (checked on request) */
};
struct snap_dev {
    char id[SNAP_NAME_MAX], kind[SNAP_NAME_MAX];
    char section[SNAP_NAME_MAX];    /* "" when the device has no state */
    /* what built it ("disk=PATH,..."), or "": the manifest's own string,
     * as long as the snap lives (a pointer, not a 4 KiB buffer per
     * device: a restore zeroed and so touched 4 pages more for 4 devices) */
    const char *config;
};
#define SNAP_MAX_CONFIG 4200            /* bytes of a device's config, with the NUL */
/* How a disk is recognised: size, mtime (ns) and a CRC-32 of samples of its
 * content (the first and last 64 KiB and 16 blocks of 4 KiB spread over
 * it). `saved` names its copy in the directory, or is "". */
struct snap_disk {
    char id[SNAP_NAME_MAX];
    char path[4096];
    uint64_t size;
    int64_t mtime_ns;
    uint32_t sample_crc32;
    char saved[SNAP_NAME_MAX];
};

uint32_t snap_crc32(uint32_t crc, const void *buf, size_t len);
/* A plain file or section name: [A-Za-z0-9._/-], not empty, no "..", no
 * leading '/', shorter than SNAP_NAME_MAX. */
bool snap_name_ok(const char *s);
/* Identity of the disk image at path: 0, or -errno. */
int snap_disk_identity(const char *path, struct snap_disk *d);

/* ---- writing ---- */
struct snap_writer;
struct snap_writer *snap_writer_new(const char *type, const char *target, unsigned ncpus);
void snap_writer_free(struct snap_writer *w);
/* A section of state: copied, its CRC computed. Names are unique. */
void snap_add_section(struct snap_writer *w, const char *name, uint32_t version, const void *data, size_t len);
void snap_add_config(struct snap_writer *w, const char *key, const char *val);
void snap_add_config_u64(struct snap_writer *w, const char *key, uint64_t val);
void snap_add_device(struct snap_writer *w, const char *id, const char *kind, const char *section,
                     const char *config);
void snap_add_ram(struct snap_writer *w, const struct snap_ram *r);
void snap_add_disk(struct snap_writer *w, const struct snap_disk *d);
/* The manifest text and state.bin bytes (malloc'd, the caller frees). */
void snap_writer_finish(struct snap_writer *w, char **manifest, size_t *mlen, uint8_t **state, size_t *slen);

/* ---- reading ---- */
struct snap;
/* Parse and check a manifest and its state.bin. 0, or -EINVAL with the
 * reason in err. */
int snap_parse(const char *manifest, size_t mlen, const uint8_t *state, size_t slen, struct snap **out,
               char *err, size_t errlen);
/* Read DIR's manifest and state and parse them; err starts with
 * "snapshot DIR: ". 0, or -errno. */
int snap_load_dir(const char *dir, struct snap **out, char *err, size_t errlen);
void snap_free(struct snap *s);

const char *snap_dir(const struct snap *s);         /* "" after snap_parse */
/* What error lines name the snapshot by (snap_load_dir: its directory). */
void snap_set_dir(struct snap *s, const char *dir);
const char *snap_vessel_version(const struct snap *s);
const char *snap_type(const struct snap *s);
const char *snap_target(const struct snap *s);
unsigned snap_ncpus(const struct snap *s);
/* Section `name`: its bytes (checked), version and length; NULL if absent. */
const void *snap_section(const struct snap *s, const char *name, uint32_t *version, size_t *len);
/* Section `name` of exactly `size` bytes at `version`, or NULL with one
 * line in err naming what is missing or what differs. */
const void *snap_section_exact(const struct snap *s, const char *name, uint32_t version, size_t size, char *err,
                               size_t errlen);
unsigned snap_nsections(const struct snap *s);
const char *snap_section_name(const struct snap *s, unsigned i);
/* Configuration: a string (NULL if absent or not a string), a number. */
const char *snap_config(const struct snap *s, const char *key);
bool snap_config_u64(const struct snap *s, const char *key, uint64_t *val);
unsigned snap_nram(const struct snap *s);
const struct snap_ram *snap_ram(const struct snap *s, unsigned i);
unsigned snap_ndevs(const struct snap *s);
const struct snap_dev *snap_dev(const struct snap *s, unsigned i);
unsigned snap_ndisks(const struct snap *s);
const struct snap_disk *snap_disk(const struct snap *s, unsigned i);

#endif
