/* Test program: copies stdin (the task's argument) to stdout byte for byte, then reports
 * argc and argv[1] on stderr, so a test can check both ways the argument arrives. */
#include <stdio.h>

int main(int argc, char **argv)
{
	char buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, stdin)) > 0)
		fwrite(buf, 1, n, stdout);
	fprintf(stderr, "argc=%d argv1=%s\n", argc, argc > 1 ? argv[1] : "(none)");
	return 0;
}
