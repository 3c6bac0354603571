#include "util/alloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *oom(size_t n)
{
	fprintf(stderr, "wasmgrid: out of memory allocating %zu bytes\n", n);
	abort();
}

void *wg_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	return p ? p : oom(n);
}

void *wg_calloc(size_t count, size_t size)
{
	void *p = calloc(count ? count : 1, size ? size : 1);
	return p ? p : oom(count * size);
}

void *wg_realloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	return q ? q : oom(n);
}

char *wg_strdup(const char *s)
{
	return wg_memdup(s, strlen(s) + 1);
}

char *wg_strndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *d = wg_malloc(len + 1);
	memcpy(d, s, len);
	d[len] = 0;
	return d;
}

void *wg_memdup(const void *p, size_t n)
{
	void *d = wg_malloc(n);
	if (n)
		memcpy(d, p, n);
	return d;
}

char *wg_asprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	char *s = wg_malloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}
