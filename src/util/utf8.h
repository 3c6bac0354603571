/* UTF-8 validation, for deciding whether bytes can be shown as text. */
#ifndef WG_UTF8_H
#define WG_UTF8_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Whether the n bytes are valid UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing
 * past U+10FFFF). NUL bytes are valid UTF-8; callers that need C strings check for them. */
bool wg_utf8_valid(const void *s, size_t n);
/* The length of the valid UTF-8 sequence at p (n > 0 bytes available), or 0 when there is
 * none: a stray continuation byte, a truncated sequence, an overlong form, a surrogate or a
 * code point past U+10FFFF. The one decoder of the project: wg_utf8_valid, the JSON parser
 * and writer, and the WASI layer's argv check use it. */
size_t wg_utf8_seq_len(const uint8_t *p, size_t n);

#endif
