/* A Prometheus histogram of durations, in memory: fixed buckets from 1 ms to an hour, counts
 * and sum kept in whole milliseconds (exact; no floating point), written out in the
 * Prometheus text format with cumulative `_bucket{le="..."}` lines, `_sum` and `_count` in
 * seconds. A plain value: copy it, zero it with `= {0}`; nothing to free. */
#ifndef WG_UTIL_HISTOGRAM_H
#define WG_UTIL_HISTOGRAM_H
#include <stdint.h>

#include "util/buf.h"

/* Upper bounds of the buckets in ms: 1, 5, 10, 25, 50, 100, 250, 500 ms, 1, 2.5, 5, 10, 30 s,
 * 1, 2, 5, 10, 30, 60 min; above the last, only +Inf. */
#define WG_HISTOGRAM_BUCKETS 19

struct wg_histogram {
	uint64_t counts[WG_HISTOGRAM_BUCKETS + 1]; /* per bucket, not cumulative; last: +Inf */
	uint64_t count;
	uint64_t sum_ms;
};

/* The bucket bounds, ms (WG_HISTOGRAM_BUCKETS of them, ascending). */
extern const uint64_t wg_histogram_bounds_ms[WG_HISTOGRAM_BUCKETS];

void wg_histogram_observe_ms(struct wg_histogram *h, uint64_t ms);
/* Appends `# HELP NAME HELP`, `# TYPE NAME histogram` and the series NAME_bucket{le=...}
 * (cumulative, ending with +Inf, which equals NAME_count), NAME_sum and NAME_count. `name`
 * should end in `_seconds`; `help` must be one line. */
void wg_histogram_write(const struct wg_histogram *h, const char *name, const char *help,
			struct wg_buf *out);

#endif
