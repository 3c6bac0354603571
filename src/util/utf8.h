/* UTF-8 validation, for deciding whether bytes can be shown as text. */
#ifndef WG_UTF8_H
#define WG_UTF8_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Whether the n bytes are valid UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing
 * past U+10FFFF). NUL bytes are valid UTF-8; callers that need C strings check for them. */
bool wg_utf8_valid(const void *s, size_t n);

#endif
