/* libFuzzer: the live-migration stream reader (mig_receive), what a
 * destination runs on whatever arrives at its --incoming socket: the
 * header, HELLO against a fixed one-region machine, PAGES and ZERO into
 * 1 MiB of RAM, STATE, END, CANCEL. With bit 0 of byte 0 set, every
 * record after the first byte is given a correct CRC (the input is cut
 * into records by their own length fields), so the fuzzer gets past the
 * CRCs into the checks of each record. Nothing may crash, leak or trip a
 * sanitizer; an accepted stream must give a manifest and state back. */
#include <stdlib.h>
#include <string.h>

#include "machine/migstream.h"
#include "machine/snapshot.h"
#include "mem/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct membuf {
    const uint8_t *p;
    size_t len, off;
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

/* The header and every record's CRC made right (records cut by length). */
static void seal(uint8_t *s, size_t len)
{
    if (len < MIG_HEADER_SIZE)
        return;
    put32(s + 12, snap_crc32(0, s, 12));
    size_t off = MIG_HEADER_SIZE;
    while (len - off >= MIG_REC_HEADER + 4) {
        uint64_t l = get64(s + off + 8);
        if (l > len - off - MIG_REC_HEADER - 4)
            break;
        put32(s + off + MIG_REC_HEADER + l, snap_crc32(0, s + off, MIG_REC_HEADER + (size_t)l));
        off += MIG_REC_HEADER + (size_t)l + 4;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool do_seal = data[0] & 1;
    uint8_t *s = malloc(size);
    memcpy(s, data + 1, size - 1);
    if (do_seal)
        seal(s, size - 1);
    struct guest_mem mem;
    mem_init(&mem);
    if (mem_add_ram(&mem, 0x80000000, 1 << 20, 0) == 0) {
        static const struct mig_shape shape = { "riscv64-virt", "riscv64", 1, 1, { 0x80000000 }, { 1 << 20 } };
        struct membuf b = { s, size - 1, 0 };
        struct mig_reader rd;
        struct mig_incoming_stats st = { 0 };
        char *man = NULL, err[512];
        uint8_t *state = NULL;
        size_t mlen, slen;
        bool running;
        mig_reader_init(&rd, mem_rd, &b);
        int r = mig_receive(&rd, -1, &mem, &shape, &man, &mlen, &state, &slen, &running, &st, err, sizeof(err));
        if (r == 0 && (!man || !state))
            abort();
        if (r == 0) {
            struct snap *sn;
            if (snap_parse(man, mlen, state, slen, &sn, err, sizeof(err)) == 0)
                snap_free(sn);
        }
        free(man);
        free(state);
        mig_reader_free(&rd);
    }
    mem_destroy(&mem);
    free(s);
    return 0;
}
