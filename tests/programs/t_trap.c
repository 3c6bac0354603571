/* Test program: triggers the trap its argument names: "oob" (load far outside linear
 * memory), "div" (integer division by zero), "unreachable" (abort), "recurse" (unbounded
 * recursion, so the call stack is exhausted). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile int zero;

/* Not a tail call, nor one the compiler can turn into a loop with an accumulator, and
 * its frame lives in wasm locals, so only the native stack grows. */
__attribute__((noinline)) static uint64_t recurse(uint64_t n)
{
	if (n == UINT64_MAX - zero)
		return 0;
	uint64_t r = recurse(n + 1);
	return r ^ (r >> 3) ^ n;
}

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "";
	if (!strcmp(what, "oob")) {
		volatile uint8_t *p = (volatile uint8_t *)(uintptr_t)0xfffffff0u;
		printf("%d\n", *p);
	} else if (!strcmp(what, "div")) {
		printf("%d\n", 7 / zero);
	} else if (!strcmp(what, "unreachable")) {
		__builtin_trap();
	} else if (!strcmp(what, "recurse")) {
		printf("%llu\n", (unsigned long long)recurse((uint64_t)zero));
	}
	printf("no trap for '%s'\n", what);
	return 0;
}
