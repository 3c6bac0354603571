/* Test program: keeps the CPU busy for ARG milliseconds of wall-clock time, then prints
 * "slept ARG". Long enough tasks let tests kill processes in the middle of a job. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv)
{
	long ms = argc > 1 ? atol(argv[1]) : 0;
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 < ms);
	printf("slept %ld\n", ms);
	return 0;
}
