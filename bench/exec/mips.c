/* A loop of exactly 8 integer instructions per iteration (7 ALU + a
 * taken branch), run N times: bench/exec divides 8*N by the run time to get
 * guest MIPS. Usage: mips N */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100000000;
    uint64_t a = 1, b = 2, c = 3;
    __asm__ volatile("1:\n\t"
                     "add %1, %1, %2\n\t"
                     "xor %2, %2, %1\n\t"
                     "slli %3, %1, 3\n\t"
                     "sub %1, %1, %3\n\t"
                     "or %2, %2, %3\n\t"
                     "srli %3, %2, 5\n\t"
                     "addi %0, %0, -1\n\t"
                     "bnez %0, 1b"
                     : "+r"(n), "+r"(a), "+r"(b), "+r"(c));
    printf("%llu\n", (unsigned long long)(a ^ b ^ c));
    return 0;
}
