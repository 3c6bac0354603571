/* Test program: allocates (and touches) 1 MiB blocks until malloc fails, then prints how
 * many it got. Under a memory limit, memory.grow fails and malloc returns NULL. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
	unsigned long blocks = 0;
	void **list = NULL;
	for (;;) {
		/* Kept in a list, so the compiler cannot drop the allocations as unused. */
		void **p = malloc(1 << 20);
		if (!p)
			break;
		memset(p, 1, 1 << 20);
		*p = list;
		list = p;
		blocks++;
	}
	printf("allocated %lu MiB\n", blocks);
	return 0;
}
