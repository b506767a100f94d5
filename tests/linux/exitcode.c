#include <stdlib.h>
#include <stdio.h>
static void bye(void) { printf("atexit ran\n"); }
int main(int argc, char **argv) { atexit(bye); printf("exiting\n"); exit(42); }
