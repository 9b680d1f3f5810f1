/* machine/migstream: the live-migration stream, independent of the machine
 * so that tests and the fuzzer drive it alone (docs/snapshot.md,
 * "Migration").
 *
 *   stream   := header record* ; header: magic "VSLMIGR\n", u32 version,
 *               u32 CRC-32 of the 12 bytes before (16 bytes)
 *   record   := u32 type, u32 arg, u64 length, payload[length],
 *               u32 CRC-32 of the 16-byte record header and the payload
 *
 * Little endian. Source to destination: HELLO (JSON: vessel version,
 * machine type, target, vCPUs, RAM layout), then PAGES / ZERO records (RAM,
 * first all of it, then the pages dirtied since each pass; PASS after each
 * pass), then STATE (the machine's device and CPU state: exactly a
 * snapshot's manifest.json and state.bin, machine/snapshot.h, so there is
 * one serialisation), then END. CANCEL (a reason) instead of the rest when
 * the source gives up. Destination to source: PASS_ACK after each pass it
 * has applied (the source waits for the last one before it pauses the
 * guest, so no backlog counts as downtime), RUNNING once the guest runs
 * there, or FAILED (a reason).
 *
 * Reading checks everything before it is used: the header, every record's
 * type, length (against the type's bound), CRC, region and page numbers;
 * an error is one line naming what is wrong. */
#ifndef VESSEL_MIGSTREAM_H
#define VESSEL_MIGSTREAM_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mem/mem.h"

#define MIG_MAGIC "VSLMIGR\n"
#define MIG_VERSION 1
#define MIG_HEADER_SIZE 16
#define MIG_REC_HEADER 16
#define MIG_PAGES_MAX 256                   /* pages in one PAGES record */
#define MIG_MAX_HELLO (64u << 10)
#define MIG_MAX_STATE (64u << 20)
#define MIG_MAX_REASON 1024
#define MIG_DISK_MAX (1u << 20)              /* data bytes in one DISK record */
#define MIG_CONSOLE_MAX (1u << 20)           /* console bytes in one CONSOLE record */

enum mig_rec_type {
    MIG_REC_HELLO = 1,      /* payload: JSON */
    MIG_REC_PAGES = 2,      /* arg: region; payload: u64 page index[n], then n * 4096 bytes */
    MIG_REC_ZERO = 3,       /* arg: region; payload: u64 first page, u64 count: all zero */
    MIG_REC_PASS = 4,       /* arg: the pass that ended (1 = the first, all of RAM) */
    MIG_REC_STATE = 5,      /* arg: 1 = the source was running; payload: u64 mlen, u64 slen, manifest, state */
    MIG_REC_END = 6,
    MIG_REC_CANCEL = 7,     /* payload: the reason */
    /* hot-spare replication (machine/replstream.h) */
    MIG_REC_DISK = 8,       /* arg: disk; payload: u64 byte offset, then the data (512-byte multiple) */
    MIG_REC_DISK_ZERO = 9,  /* arg: disk; payload: u64 byte offset, u64 length: zeroes */
    MIG_REC_EPOCH = 10,     /* payload: u64 epoch, u64 records, u64 payload bytes of the epoch before it */
    MIG_REC_CONSOLE = 11,   /* in an epoch: payload: u64 console stream offset, then the console bytes held
                             * for the epoch (at most MIG_CONSOLE_MAX per record) */
    MIG_REC_RELEASED = 12,  /* between epochs: payload: u64 the epoch whose console bytes the primary let out */
    MIG_REC_EPOCH_ACK = 19, /* standby: payload: u64 the epoch it has applied (RAM, disks synced, state) */
    MIG_REC_TAKEOVER = 20,  /* standby: payload: why it takes over (no epoch within its timeout) */
    MIG_REC_RUNNING = 16,   /* destination: the guest runs */
    MIG_REC_FAILED = 17,    /* destination: payload: the reason */
    MIG_REC_PASS_ACK = 18,  /* destination: arg: the pass it has applied in full */
};

/* The machine a stream is for (HELLO), what the destination compares. */
struct mig_shape {
    const char *type, *target;      /* "riscv64-virt", "riscv64" */
    unsigned ncpus;
    unsigned nram;
    uint64_t gpa[MEM_MAX_REGIONS], size[MEM_MAX_REGIONS];
};

/* ---- writing (to a file descriptor; blocking) ----
 * Each returns the bytes written (header and CRC included), or -errno. */
ssize_t mig_write_header(int fd);
/* The header of another stream made of these records, with its own
 * version (the replication stream: machine/replstream.h, REPL_VERSION). */
ssize_t mig_write_header_version(int fd, uint32_t version);
ssize_t mig_write_record(int fd, uint32_t type, uint32_t arg, const void *payload, size_t len);
/* The same with the payload in parts (at most 6). */
struct iovec;
ssize_t mig_write_recordv(int fd, uint32_t type, uint32_t arg, const struct iovec *parts, int nparts);
/* HELLO for this shape. */
ssize_t mig_write_hello(int fd, const struct mig_shape *sh);
/* PAGES: n (1..MIG_PAGES_MAX) pages of region `region`, index[i] their page
 * numbers, data their contents (n * 4096 bytes, a stable copy). */
ssize_t mig_write_pages(int fd, unsigned region, const uint64_t *index, unsigned n, const uint8_t *data);
ssize_t mig_write_zero(int fd, unsigned region, uint64_t first, uint64_t count);
/* STATE: a snapshot's manifest and state.bin (snap_writer_finish). */
ssize_t mig_write_state(int fd, bool running, const char *manifest, size_t mlen, const uint8_t *state,
                        size_t slen);

/* ---- reading ---- */
struct mig_reader {
    /* read up to len bytes: > 0, 0 at the end, -errno */
    ssize_t (*read)(void *opaque, void *buf, size_t len);
    void *opaque;
    uint8_t *buf;                   /* the last record's payload (owned) */
    size_t cap;
    uint64_t bytes;                 /* read so far */
};
struct mig_record {
    uint32_t type, arg;
    const uint8_t *payload;         /* in the reader's buffer until the next read */
    size_t len;
};
void mig_reader_init(struct mig_reader *rd, ssize_t (*read)(void *opaque, void *buf, size_t len), void *opaque);
void mig_reader_free(struct mig_reader *rd);
int mig_read_header(struct mig_reader *rd, char *err, size_t errlen);
/* The same for a stream of `version`; `what` ("replication") names it in err. */
int mig_read_header_version(struct mig_reader *rd, uint32_t version, const char *what, char *err, size_t errlen);
/* The next record, its CRC and length checked. 0, or -errno with err. */
int mig_read_record(struct mig_reader *rd, struct mig_record *rec, char *err, size_t errlen);

/* HELLO against the destination's own shape: 0, or -EINVAL with err
 * naming the difference. */
int mig_check_hello(const struct mig_record *rec, const struct mig_shape *mine, char *err, size_t errlen);
/* PAGES / ZERO into mem (region and page numbers checked; a zero page
 * already zero is not written). Returns the pages applied or -EINVAL. */
int64_t mig_apply_pages(struct guest_mem *mem, const struct mig_record *rec, char *err, size_t errlen);
int64_t mig_apply_zero(struct guest_mem *mem, const struct mig_record *rec, char *err, size_t errlen);
/* STATE: split into manifest and state bytes (pointing into the record). */
int mig_state_parts(const struct mig_record *rec, const char **manifest, size_t *mlen, const uint8_t **state,
                    size_t *slen, char *err, size_t errlen);

/* The whole incoming side over rd: header, HELLO (checked against mine),
 * RAM into mem, until STATE and END; *manifest and *state (malloc copies)
 * are the state to load, *running whether the source was running. A
 * CANCEL from the source, a stream that ends early, any bad record:
 * -errno with one line in err; nothing of the state is then given. */
struct mig_incoming_stats {
    uint64_t pages, zero_pages, passes;
};
/* ack_fd >= 0: PASS_ACK is written there after each PASS. */
int mig_receive(struct mig_reader *rd, int ack_fd, struct guest_mem *mem, const struct mig_shape *mine, char **manifest,
                size_t *mlen, uint8_t **state, size_t *slen, bool *running, struct mig_incoming_stats *st,
                char *err, size_t errlen);

/* "unix:PATH" or "tcp:HOST:PORT" (HOST may be [v6]); 0 or -EINVAL with err. */
struct mig_uri {
    bool tcp;
    bool file;                      /* file:PATH (mig_uri_parse_migrate only) */
    char path[PATH_MAX];            /* unix (at most 107 bytes), file */
    char host[256], port[16];       /* tcp */
};
int mig_uri_parse(const char *uri, struct mig_uri *out, char *err, size_t errlen);
/* Live migration's URIs: those, or "file:PATH" (QEMU's file migration: a
 * stream with no way back, written to or read from a file). */
int mig_uri_parse_migrate(const char *uri, struct mig_uri *out, char *err, size_t errlen);
/* Connect (source) / listen (destination): an fd, or -errno with err.
 * file: the file created (truncated) for writing / opened for reading. */
int mig_uri_connect(const struct mig_uri *u, char *err, size_t errlen);
int mig_uri_listen(const struct mig_uri *u, char *err, size_t errlen);
/* Wait for a connection on listen_fd, or for wake_fd to become readable
 * (the machine stopping): the accepted fd (CLOEXEC), or -1. */
int mig_accept(int listen_fd, int wake_fd);

#endif
