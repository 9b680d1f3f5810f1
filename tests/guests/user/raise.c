/* die of the signal given as argv[1] (default action) */
#include <signal.h>
#include <stdlib.h>
int main(int argc, char **argv) { raise(argc > 1 ? atoi(argv[1]) : 15); return 0; }
