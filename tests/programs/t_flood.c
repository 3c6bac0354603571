/* Test program: writes to stdout forever. */
#include <stdio.h>
#include <string.h>

int main(void)
{
	char line[4096];
	memset(line, 'x', sizeof line);
	for (;;)
		fwrite(line, 1, sizeof line, stdout);
}
