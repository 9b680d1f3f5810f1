/* machine/replstream: the epochs of hot-spare replication, made of the
 * live-migration stream's records (machine/migstream.h: the same header,
 * HELLO, PAGES, ZERO and STATE, so there is one serialisation), and
 * independent of the machine so that tests and the fuzzer drive it alone
 * (docs/replication.md).
 *
 *   stream := header(REPL_VERSION) HELLO copy PASS epoch (RELEASED? epoch)*  (primary to standby)
 *   copy   := (PAGES | ZERO | DISK | DISK_ZERO)*
 *   epoch  := (PAGES | ZERO | DISK | DISK_ZERO | CONSOLE)* STATE EPOCH
 *
 * The copy is all of RAM and every disk, read while the guest runs (with
 * dirty tracking on); the standby writes it in at once (there is no state
 * to take over yet: a stream that stops before epoch 0 is whole leaves the
 * standby nothing to run). Epoch 0 then holds what was written meanwhile,
 * each later epoch the RAM pages and disk blocks written since the one
 * before, and every epoch the whole device and CPU state. EPOCH closes an epoch: its number and how many
 * records and payload bytes came before it in that epoch. The standby
 * stages an epoch (each record checked against the machine's RAM regions
 * and disk sizes as it comes, besides its CRC), applies it only once its
 * EPOCH has come and matches (an epoch cut short is dropped whole, never
 * half applied), and answers EPOCH_ACK with the epoch's number once RAM,
 * disks (fdatasync'ed) and state are in. CANCEL instead of an epoch: the
 * primary stopped in an orderly way (quit, power-off, it gave up on the
 * standby): no takeover. TAKEOVER from the standby: no epoch came within
 * its timeout and it takes over; a primary still alive must stop.
 *
 * Console output commit: CONSOLE records carry the console bytes the
 * primary held for the epoch (from the previous epoch's mark to this
 * one's; u64 offset in the console's held stream, then the bytes; the
 * offsets follow on without a gap). Once it has written epoch N's bytes
 * (after EPOCH_ACK N) the primary sends RELEASED N, before epoch N+1.
 * The standby keeps the last applied epoch's bytes (struct repl_console)
 * and, taking over, writes them itself unless RELEASED came for that
 * epoch: the bytes of the epoch the standby goes on from are written
 * once, unless the primary dies between its write and RELEASED. */
#ifndef VESSEL_REPLSTREAM_H
#define VESSEL_REPLSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "machine/migstream.h"
#include "mem/mem.h"

#define REPL_MAX_DISKS 8
/* The header's version: 2 = CONSOLE and RELEASED (1 was the migration
 * stream's, which replication used before them). */
#define REPL_VERSION 2

/* What the records of an epoch are checked against. A RAM region of size
 * 0 takes no page (a read-only one). */
struct repl_geom {
    unsigned nram;
    uint64_t ram_size[MEM_MAX_REGIONS];
    unsigned ndisks;
    uint64_t disk_size[REPL_MAX_DISKS];
};

/* One epoch as received, not applied yet. */
struct repl_stage {
    uint8_t *buf;               /* the records: u32 type, u32 arg, u64 length, payload (8-byte aligned) */
    size_t len, cap;
    uint64_t nrec, bytes;       /* records and payload bytes before EPOCH */
    size_t state_off;           /* STATE's record in buf, or SIZE_MAX */
    uint64_t epoch;
    uint64_t pages, zero_pages, disk_bytes;
    uint64_t con_off, con_bytes;        /* CONSOLE: the first byte's offset, how many */
    bool released;                      /* RELEASED for epoch - 1 came before this epoch's records */
};
void repl_stage_init(struct repl_stage *st);
void repl_stage_free(struct repl_stage *st);

/* The copy up to PASS, applied at once: RAM into mem (pages checked),
 * disks through disk_write (as repl_stage_each_disk); counts into st. */
typedef int (*repl_disk_write_fn)(void *opaque, unsigned disk, uint64_t off, const uint8_t *data, uint64_t len);
int repl_read_copy(struct mig_reader *rd, const struct repl_geom *g, struct guest_mem *mem,
                   repl_disk_write_fn disk_write, void *opaque, struct repl_stage *st, char *err, size_t errlen);

/* Read one whole epoch, numbered `want`, into st (emptied first). 0 once
 * its EPOCH has come and matches; -ECANCELED for CANCEL (the reason in
 * err); else -errno and one line in err (the stream ended, timed out, or a
 * record is bad: its CRC, type, order, length, region, page, disk or
 * offset). */
int repl_read_epoch(struct mig_reader *rd, const struct repl_geom *g, uint64_t want, struct repl_stage *st,
                    char *err, size_t errlen);
/* A read epoch's RAM into mem (regions as in the geometry it was read with). */
void repl_stage_apply_ram(const struct repl_stage *st, struct guest_mem *mem);
/* Each staged disk write in order: cb(opaque, disk, offset, data or NULL
 * for zeroes, length); the first error it returns ends the walk. */
int repl_stage_each_disk(const struct repl_stage *st,
                         int (*cb)(void *opaque, unsigned disk, uint64_t off, const uint8_t *data, uint64_t len),
                         void *opaque);
/* The read epoch's STATE (pointing into st). */
void repl_stage_state(const struct repl_stage *st, const char **manifest, size_t *mlen, const uint8_t **state,
                      size_t *slen, bool *running);

/* The console bytes of an epoch: cb(opaque, bytes, length) per CONSOLE
 * record, in order. */
void repl_stage_each_console(const struct repl_stage *st, void (*cb)(void *opaque, const uint8_t *p, size_t len),
                             void *opaque);

/* The standby's console output commit: the console bytes of the last
 * applied epoch, and whether the primary said it let them out. */
struct repl_console {
    bool have;                  /* an epoch was applied */
    bool released;              /* RELEASED came for it */
    uint64_t epoch;
    uint8_t *buf;
    size_t len, cap;
};
void repl_console_init(struct repl_console *c);
void repl_console_free(struct repl_console *c);
/* After repl_read_epoch, whatever it returned: a RELEASED it read
 * (for the epoch before the one it read) marks the applied epoch's bytes
 * as let out. */
void repl_console_note(struct repl_console *c, const struct repl_stage *st);
/* st applied: its console bytes are now the ones kept (not released). */
void repl_console_applied(struct repl_console *c, const struct repl_stage *st);
/* At a takeover: the bytes the standby must write to its console before
 * the guest runs on (the last applied epoch's, unless RELEASED came for
 * it); their length, 0 for none. */
size_t repl_console_pending(const struct repl_console *c, const uint8_t **bytes);

/* ---- writing (blocking; bytes written or -errno) ---- */
ssize_t repl_write_disk(int fd, unsigned disk, uint64_t off, const uint8_t *data, size_t len);
ssize_t repl_write_disk_zero(int fd, unsigned disk, uint64_t off, uint64_t len);
ssize_t repl_write_epoch(int fd, uint64_t epoch, uint64_t nrec, uint64_t bytes);
ssize_t repl_write_ack(int fd, uint64_t epoch);
/* CONSOLE: len bytes (at most MIG_CONSOLE_MAX) at console offset off. */
ssize_t repl_write_console(int fd, uint64_t off, const uint8_t *data, size_t len);
ssize_t repl_write_released(int fd, uint64_t epoch);
/* The standby's answer: 0 with *epoch for EPOCH_ACK; -EIO with its reason
 * for FAILED; -EOWNERDEAD for TAKEOVER (the reason in err); -errno + err
 * otherwise. */
int repl_read_ack(struct mig_reader *rd, uint64_t *epoch, char *err, size_t errlen);

#endif
