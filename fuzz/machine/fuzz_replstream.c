/* libFuzzer: the hot-spare replication stream reader, what a standby
 * (`vessel run --standby`) runs on whatever reaches its socket after the
 * HELLO: the first copy (repl_read_copy: RAM into 1 MiB, disk writes into
 * a 256 KiB disk) then epochs (repl_read_epoch, staged, then applied as a
 * standby does: RAM, disk writes, state parsed as a snapshot, the
 * epoch's CONSOLE bytes kept and a RELEASED between epochs noted, and at
 * the end what a takeover would write to the console). With bit 0
 * of byte 0 set, every record after the first byte is given a correct CRC
 * (records cut by their own length fields) so the fuzzer gets past the
 * CRCs. A disk write outside the disk, a crash, a leak or a sanitizer
 * report is a failure. */
#include <stdlib.h>
#include <string.h>

#include "machine/replstream.h"
#include "machine/snapshot.h"
#include "mem/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DISK_SIZE (256u << 10)

struct membuf {
    const uint8_t *p;
    size_t len, off;
};

struct fdisk {
    uint8_t *b;
};

static ssize_t mem_rd(void *opaque, void *buf, size_t len)
{
    struct membuf *b = opaque;
    size_t n = len < b->len - b->off ? len : b->len - b->off;
    memcpy(buf, b->p + b->off, n);
    b->off += n;
    return (ssize_t)n;
}

static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static uint64_t get64(const uint8_t *p) { uint64_t v = 0; for (int i = 7; i >= 0; i--) v = v << 8 | p[i]; return v; }

static void seal(uint8_t *s, size_t len)
{
    size_t off = 0;
    while (len - off >= MIG_REC_HEADER + 4) {
        uint64_t l = get64(s + off + 8);
        if (l > len - off - MIG_REC_HEADER - 4)
            break;
        put32(s + off + MIG_REC_HEADER + l, snap_crc32(0, s + off, MIG_REC_HEADER + (size_t)l));
        off += MIG_REC_HEADER + (size_t)l + 4;
    }
}

static int disk_write(void *opaque, unsigned d, uint64_t off, const uint8_t *data, uint64_t len)
{
    struct fdisk *fd = opaque;
    if (d != 0 || off > DISK_SIZE || len > DISK_SIZE - off)
        abort();        /* the reader let a write outside the disk through */
    if (data)
        memcpy(fd->b + off, data, len);
    else
        memset(fd->b + off, 0, len);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t *s = malloc(size);
    memcpy(s, data + 1, size - 1);
    if (data[0] & 1)
        seal(s, size - 1);
    struct guest_mem mem;
    mem_init(&mem);
    struct fdisk disk = { calloc(1, DISK_SIZE) };
    if (mem_add_ram(&mem, 0x80000000, 1 << 20, 0) == 0) {
        const struct repl_geom g = { 1, { 1 << 20 }, 1, { DISK_SIZE } };
        struct membuf b = { s, size - 1, 0 };
        struct mig_reader rd;
        struct repl_stage st;
        struct repl_console con;
        char err[512];
        mig_reader_init(&rd, mem_rd, &b);
        repl_stage_init(&st);
        repl_console_init(&con);
        int r = repl_read_copy(&rd, &g, &mem, disk_write, &disk, &st, err, sizeof(err));
        for (uint64_t e = 0; r == 0 && e < 64; e++) {
            r = repl_read_epoch(&rd, &g, e, &st, err, sizeof(err));
            repl_console_note(&con, &st);
            if (r != 0)
                break;
            repl_console_applied(&con, &st);
            if (con.len != st.con_bytes)
                abort();        /* the kept bytes are not the epoch's CONSOLE bytes */
            repl_stage_apply_ram(&st, &mem);
            if (repl_stage_each_disk(&st, disk_write, &disk) != 0)
                abort();
            const char *man;
            const uint8_t *state;
            size_t ml, sl;
            bool running;
            repl_stage_state(&st, &man, &ml, &state, &sl, &running);
            struct snap *sn;
            if (snap_parse(man, ml, state, sl, &sn, err, sizeof(err)) == 0)
                snap_free(sn);
        }
        const uint8_t *held;
        size_t n = repl_console_pending(&con, &held);
        if (n && (!con.have || con.released || n != con.len))
            abort();
        volatile uint8_t sink = n ? held[0] ^ held[n - 1] : 0;   /* the bytes are readable */
        (void)sink;
        repl_console_free(&con);
        repl_stage_free(&st);
        mig_reader_free(&rd);
    }
    free(disk.b);
    mem_destroy(&mem);
    free(s);
    return 0;
}
