/* SBI console input (tests/integration/run-sbi.sh): reads one line with
 * the legacy console_getchar (EID 0x02) and one with DBCN console_read,
 * echoes both, then, the input being at its end, checks that getchar
 * gives -1 and console_read 0 bytes, and powers off (SRST; reason "system
 * failure" when a check failed). */
#include <stdint.h>

#define EXT_SRST 0x53525354
#define EXT_DBCN 0x4442434E

struct ret { long err; long val; };

static struct ret sbi(long eid, long fid, long a0, long a1, long a2)
{
    register long r0 __asm__("a0") = a0, r1 __asm__("a1") = a1, r2 __asm__("a2") = a2;
    register long r6 __asm__("a6") = fid, r7 __asm__("a7") = eid;
    __asm__ volatile("ecall" : "+r"(r0), "+r"(r1) : "r"(r2), "r"(r6), "r"(r7) : "memory");
    return (struct ret){ r0, r1 };
}

static long getchar_legacy(void)
{
    register long r0 __asm__("a0") = 0, r7 __asm__("a7") = 2;
    __asm__ volatile("ecall" : "+r"(r0) : "r"(r7) : "memory", "a1");
    return r0;
}

static unsigned long slen(const char *s) { unsigned long n = 0; while (s[n]) n++; return n; }
static void puts_(const char *s) { sbi(EXT_DBCN, 0, (long)slen(s), (long)s, 0); }
static void putnum(long v)
{
    char b[24];
    int i = 23;
    unsigned long u = v < 0 ? -(unsigned long)v : (unsigned long)v;
    b[i] = 0;
    do { b[--i] = (char)('0' + u % 10); u /= 10; } while (u);
    if (v < 0)
        b[--i] = '-';
    puts_(b + i);
}

static char line[128];

void main(void)
{
    unsigned n = 0;
    long c;
    /* legacy getchar: -1 until a byte is there */
    while (n < sizeof(line) - 1) {
        while ((c = getchar_legacy()) == -1)
            ;
        if (c == '\n')
            break;
        line[n++] = (char)c;
    }
    line[n] = 0;
    puts_("legacy getchar line: ");
    puts_(line);
    puts_("\n");

    /* DBCN console_read: 0 bytes until some are there */
    n = 0;
    for (;;) {
        struct ret r = sbi(EXT_DBCN, 1, 1, (long)&line[n], 0);
        if (r.err) {
            puts_("console_read error ");
            putnum(r.err);
            puts_("\n");
            sbi(EXT_SRST, 0, 0, 1, 0);
        }
        if (r.val == 1 && line[n] == '\n')
            break;
        n += (unsigned)r.val;
        if (n >= sizeof(line) - 1)
            break;
    }
    line[n] = 0;
    puts_("console_read line: ");
    puts_(line);
    puts_("\n");

    /* the input has ended: nothing more, many times over */
    long bad = 0;
    char b[8];
    for (unsigned k = 0; k < 1000; k++) {
        if (getchar_legacy() != -1)
            bad++;
        struct ret r = sbi(EXT_DBCN, 1, sizeof(b), (long)b, 0);
        if (r.err || r.val != 0)
            bad++;
    }
    puts_("empty reads that returned something: ");
    putnum(bad);
    puts_("\n");
    sbi(EXT_SRST, 0, 0, bad ? 1 : 0, 0);
    for (;;)
        ;
}

void secondary(void) { for (;;) __asm__ volatile("wfi"); }
void resumed(void) { for (;;) __asm__ volatile("wfi"); }
void unexpected_trap(uint64_t cause, uint64_t epc, uint64_t tval)
{
    puts_("unexpected trap, cause ");
    putnum((long)cause);
    puts_(" epc ");
    putnum((long)epc);
    puts_(" tval ");
    putnum((long)tval);
    puts_("\n");
    sbi(EXT_SRST, 0, 0, 1, 0);
}
