/* Test program: writes 100 KiB of numbered lines to stderr, then fails, so that only the
 * tail of stderr travels with the error. */
#include <stdio.h>

int main(void)
{
	for (int i = 0; i < 10000; i++)
		fprintf(stderr, "line %06d\n", i);
	return 1;
}
