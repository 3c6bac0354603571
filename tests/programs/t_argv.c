/* Test program: prints argc, argv[0] and argv[1]. */
#include <stdio.h>

int main(int argc, char **argv)
{
	printf("argc=%d argv0=%s argv1=%s\n", argc, argv[0], argc > 1 ? argv[1] : "(none)");
	return 0;
}
