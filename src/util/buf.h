/* A growable byte buffer. The buffer owns `data`; wg_buf_free releases it. */
#ifndef WG_BUF_H
#define WG_BUF_H
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct wg_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
};

void wg_buf_reserve(struct wg_buf *b, size_t extra);
void wg_buf_append(struct wg_buf *b, const void *p, size_t n);
void wg_buf_appendf(struct wg_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void wg_buf_vappendf(struct wg_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
void wg_buf_append_str(struct wg_buf *b, const char *s);
/* Drop the first n bytes. */
void wg_buf_consume(struct wg_buf *b, size_t n);
/* Make data NUL-terminated (not counted in len) and return it as a string. */
char *wg_buf_cstr(struct wg_buf *b);
void wg_buf_free(struct wg_buf *b);

#endif
