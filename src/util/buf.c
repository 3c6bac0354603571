#include "util/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"

void wg_buf_reserve(struct wg_buf *b, size_t extra)
{
	if (b->len + extra + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < b->len + extra + 1)
		cap *= 2;
	b->data = wg_realloc(b->data, cap);
	b->cap = cap;
}

void wg_buf_append(struct wg_buf *b, const void *p, size_t n)
{
	wg_buf_reserve(b, n);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
}

void wg_buf_append_str(struct wg_buf *b, const char *s)
{
	wg_buf_append(b, s, strlen(s));
}

void wg_buf_vappendf(struct wg_buf *b, const char *fmt, va_list ap)
{
	va_list again;
	va_copy(again, ap);
	int n = vsnprintf(NULL, 0, fmt, ap);
	if (n >= 0) {
		wg_buf_reserve(b, (size_t)n);
		vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, again);
		b->len += (size_t)n;
	}
	va_end(again);
}

void wg_buf_appendf(struct wg_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	wg_buf_vappendf(b, fmt, ap);
	va_end(ap);
}

void wg_buf_consume(struct wg_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

char *wg_buf_cstr(struct wg_buf *b)
{
	wg_buf_reserve(b, 0);
	b->data[b->len] = 0;
	return (char *)b->data;
}

void wg_buf_free(struct wg_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}
