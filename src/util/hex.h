#ifndef WG_HEX_H
#define WG_HEX_H
#include <stddef.h>
#include <stdint.h>

/* Writes 2*n hex digits and a NUL into out (which holds 2*n+1 bytes). */
void wg_hex_encode(const uint8_t *in, size_t n, char *out);
/* The value of one hex digit, or -1. */
int wg_hex_digit(char c);
/* Parses exactly 2*n hex digits; returns 0 or WG_EINVAL. */
int wg_hex_decode(const char *in, uint8_t *out, size_t n);

#endif
