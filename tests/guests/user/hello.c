#include <stdio.h>
int main(void) { printf("hello from riscv64\n"); return 0; }
