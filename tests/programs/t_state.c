/* Test program: increments a global (in the module's data) and prints it. Every task
 * runs in a fresh instance, so every run prints 1, however many ran before it in the
 * same runner. It also prints whether the heap it finds is clean. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int counter;
static char *leftover;

int main(void)
{
	counter++;
	/* A fresh memory: the heap has never held this marker. */
	char *p = malloc(64);
	int dirty = p && !strcmp(p, "previous task");
	if (p)
		strcpy(p, "previous task");
	leftover = p;
	printf("%d %s\n", counter, dirty ? "dirty" : "clean");
	return 0;
}
