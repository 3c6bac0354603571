/* The clocks, in milliseconds. */
#ifndef WG_UTIL_TIME_H
#define WG_UTIL_TIME_H
#include <stdint.h>

/* Wall-clock time: Unix milliseconds (what is stored and sent). */
uint64_t wg_unix_ms(void);
/* A monotonic clock, for measuring intervals (it never goes back). */
uint64_t wg_mono_ms(void);

#endif
