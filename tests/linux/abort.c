#include <stdlib.h>
#include <stdio.h>
int main(void) { printf("before abort\n"); fflush(stdout); abort(); }
