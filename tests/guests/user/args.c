/* argv, environment, auxv, exit status */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/utsname.h>
int main(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        printf("argv[%d]=%s\n", i, argv[i]);
    const char *v = getenv("VESSEL_TEST_VAR");
    printf("VESSEL_TEST_VAR=%s\n", v ? v : "(unset)");
    printf("GONE=%s\n", getenv("GONE") ? getenv("GONE") : "(unset)");
    printf("pagesz=%lu hwcap_imafdc=%d\n", getauxval(AT_PAGESZ),
           (getauxval(AT_HWCAP) & 0x112d) == 0x112d);
    const unsigned char *r = (const void *)getauxval(AT_RANDOM);
    printf("at_random=%s\n", r ? "present" : "missing");
    struct utsname u;
    uname(&u);
    printf("machine=%s\n", u.machine);
    return argc > 3 ? 42 : 7;
}
