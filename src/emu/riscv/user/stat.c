/* Host struct stat -> riscv64 struct stat (asm-generic layout, 128 bytes). */
#include "emu/riscv/user/user.h"

#include <string.h>
#include <sys/stat.h>

static void put64(uint8_t *o, uint64_t v) { memcpy(o, &v, 8); }
static void put32(uint8_t *o, uint32_t v) { memcpy(o, &v, 4); }

void user_stat_to_guest(const struct stat *st, uint8_t out[USER_STAT_SIZE])
{
    memset(out, 0, USER_STAT_SIZE);
    put64(out + 0, st->st_dev);
    put64(out + 8, st->st_ino);
    put32(out + 16, st->st_mode);
    put32(out + 20, (uint32_t)st->st_nlink);
    put32(out + 24, st->st_uid);
    put32(out + 28, st->st_gid);
    put64(out + 32, st->st_rdev);
    /* 40: __pad1 */
    put64(out + 48, (uint64_t)st->st_size);
    put32(out + 56, (uint32_t)st->st_blksize);
    /* 60: __pad2 */
    put64(out + 64, (uint64_t)st->st_blocks);
    put64(out + 72, (uint64_t)st->st_atim.tv_sec);
    put64(out + 80, (uint64_t)st->st_atim.tv_nsec);
    put64(out + 88, (uint64_t)st->st_mtim.tv_sec);
    put64(out + 96, (uint64_t)st->st_mtim.tv_nsec);
    put64(out + 104, (uint64_t)st->st_ctim.tv_sec);
    put64(out + 112, (uint64_t)st->st_ctim.tv_nsec);
}
