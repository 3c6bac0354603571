/* Test program: keeps the CPU busy for ARG milliseconds, then prints when it started and
 * when it ended ("START END", Unix milliseconds), so a test can see which tasks ran at the
 * same time without timing anything itself. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
	long ms = argc > 1 ? atol(argv[1]) : 0;
	long long start = now_ms();
	while (now_ms() - start < ms)
		;
	printf("%lld %lld\n", start, now_ms());
	return 0;
}
