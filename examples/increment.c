/* Reads its argument as a decimal integer and prints it plus one. The job-engine
 * throughput benchmark uses it as the smallest possible task. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: increment N\n");
		return 2;
	}
	char *end;
	long long n = strtoll(argv[1], &end, 10);
	if (end == argv[1]) {
		fprintf(stderr, "increment: not a number: %s\n", argv[1]);
		return 2;
	}
	printf("%lld\n", n + 1);
	return 0;
}
