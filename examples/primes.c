/* Counts the primes in a range by trial division: "primes LOW HIGH" prints the count of
 * primes p with LOW <= p < HIGH. Deliberately CPU-bound (integer division in a loop), which
 * makes it a fair benchmark of generated code. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int is_prime(uint64_t n)
{
	if (n < 2)
		return 0;
	if (n < 4)
		return 1;
	if (n % 2 == 0 || n % 3 == 0)
		return 0;
	for (uint64_t d = 5; d * d <= n; d += 6)
		if (n % d == 0 || n % (d + 2) == 0)
			return 0;
	return 1;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: primes \"LOW HIGH\"\n");
		return 2;
	}
	unsigned long long low, high;
	if (sscanf(argv[1], "%llu %llu", &low, &high) != 2 || low > high) {
		fprintf(stderr, "primes: expected \"LOW HIGH\", got \"%s\"\n", argv[1]);
		return 2;
	}
	uint64_t count = 0;
	for (uint64_t n = low; n < high; n++)
		count += (uint64_t)is_prime(n);
	printf("%llu\n", (unsigned long long)count);
	return 0;
}
