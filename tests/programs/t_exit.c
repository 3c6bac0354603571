/* Test program: writes a line to stderr and exits with the status given as its argument. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	int status = argc > 1 ? atoi(argv[1]) : 0;
	printf("partial output\n");
	fprintf(stderr, "exiting with status %d\n", status);
	exit(status);
}
