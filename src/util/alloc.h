/* The allocation policy, decided once: running out of memory in a daemon that holds other
 * people's work is not something we can recover from piecemeal, so these wrappers log and
 * abort. Sizes that come from the network are checked against limits *before* allocation,
 * so an attacker cannot reach this path with a large length field. */
#ifndef WG_ALLOC_H
#define WG_ALLOC_H
#include <stddef.h>

void *wg_malloc(size_t n);
void *wg_calloc(size_t count, size_t size);
void *wg_realloc(void *p, size_t n);
char *wg_strdup(const char *s);
char *wg_strndup(const char *s, size_t n);
void *wg_memdup(const void *p, size_t n);
/* printf into a new string. */
char *wg_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
