#include "util/histogram.h"

#include <inttypes.h>

const uint64_t wg_histogram_bounds_ms[WG_HISTOGRAM_BUCKETS] = {
    1,	  5,	 10,	25,    50,     100,    250,    500,	1000,	 2500,
    5000, 10000, 30000, 60000, 120000, 300000, 600000, 1800000, 3600000,
};

void wg_histogram_observe_ms(struct wg_histogram *h, uint64_t ms)
{
	size_t i = 0;
	while (i < WG_HISTOGRAM_BUCKETS && ms > wg_histogram_bounds_ms[i])
		i++;
	h->counts[i]++;
	h->count++;
	h->sum_ms += ms;
}

/* Milliseconds as seconds in decimal, exactly: 2500 -> "2.5", 1 -> "0.001", 60000 -> "60". */
static void append_seconds(struct wg_buf *out, uint64_t ms)
{
	uint64_t frac = ms % 1000;
	if (!frac) {
		wg_buf_appendf(out, "%" PRIu64, ms / 1000);
		return;
	}
	int digits = 3;
	while (frac % 10 == 0) {
		frac /= 10;
		digits--;
	}
	wg_buf_appendf(out, "%" PRIu64 ".%0*" PRIu64, ms / 1000, digits, frac);
}

void wg_histogram_write(const struct wg_histogram *h, const char *name, const char *help,
			struct wg_buf *out)
{
	wg_buf_appendf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	uint64_t cumulative = 0;
	for (size_t i = 0; i < WG_HISTOGRAM_BUCKETS; i++) {
		cumulative += h->counts[i];
		wg_buf_appendf(out, "%s_bucket{le=\"", name);
		append_seconds(out, wg_histogram_bounds_ms[i]);
		wg_buf_appendf(out, "\"} %" PRIu64 "\n", cumulative);
	}
	cumulative += h->counts[WG_HISTOGRAM_BUCKETS];
	wg_buf_appendf(out, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n%s_sum ", name, cumulative, name);
	append_seconds(out, h->sum_ms);
	wg_buf_appendf(out, "\n%s_count %" PRIu64 "\n", name, h->count);
}
