/* Test program: prints 64 bytes from random_get (through getentropy) in hex, in two calls
 * so that the generator's stream continues across calls. */
#include <stdio.h>
#include <unistd.h>

int main(void)
{
	unsigned char a[24], b[40];
	if (getentropy(a, sizeof a) || getentropy(b, sizeof b))
		return 1;
	for (size_t i = 0; i < sizeof a; i++)
		printf("%02x", a[i]);
	for (size_t i = 0; i < sizeof b; i++)
		printf("%02x", b[i]);
	printf("\n");
	return 0;
}
