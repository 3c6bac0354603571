/* util/histogram: buckets by upper bound (inclusive), cumulative output, exact seconds. */
#include <string.h>

#include "harness/test.h"
#include "util/buf.h"
#include "util/histogram.h"

TEST(metrics_histogram_counts_into_buckets_and_writes_prometheus_text)
{
	struct wg_histogram h = {0};
	wg_histogram_observe_ms(&h, 0);
	wg_histogram_observe_ms(&h, 1);	      /* le="0.001": the bound is inclusive */
	wg_histogram_observe_ms(&h, 2);	      /* le="0.005" */
	wg_histogram_observe_ms(&h, 2500);    /* le="2.5" */
	wg_histogram_observe_ms(&h, 7200000); /* two hours: only +Inf */
	CHECK_EQ(h.count, 5);
	CHECK_EQ(h.counts[0], 2);
	CHECK_EQ(h.counts[1], 1);
	CHECK_EQ(h.counts[WG_HISTOGRAM_BUCKETS], 1);
	struct wg_buf out = {0};
	wg_histogram_write(&h, "x_seconds", "What x took.", &out);
	const char *s = wg_buf_cstr(&out);
	CHECK(strncmp(s, "# HELP x_seconds What x took.\n# TYPE x_seconds histogram\n", 57) == 0);
	CHECK_CONTAINS(s, "\nx_seconds_bucket{le=\"0.001\"} 2\n");
	CHECK_CONTAINS(s, "\nx_seconds_bucket{le=\"0.005\"} 3\n");
	CHECK_CONTAINS(s, "\nx_seconds_bucket{le=\"0.025\"} 3\n");
	CHECK_CONTAINS(s, "\nx_seconds_bucket{le=\"1\"} 3\n");
	CHECK_CONTAINS(s, "\nx_seconds_bucket{le=\"2.5\"} 4\n");
	CHECK_CONTAINS(s, "\nx_seconds_bucket{le=\"3600\"} 4\n");
	CHECK_CONTAINS(s, "\nx_seconds_bucket{le=\"+Inf\"} 5\n");
	CHECK_CONTAINS(s, "\nx_seconds_sum 7202.503\n");
	CHECK_CONTAINS(s, "\nx_seconds_count 5\n");
	/* One line per bucket and +Inf, and _sum and _count after them. */
	size_t buckets = 0;
	for (const char *p = s; (p = strstr(p, "_bucket{")) != NULL; p++)
		buckets++;
	CHECK_EQ(buckets, WG_HISTOGRAM_BUCKETS + 1);
	CHECK(strstr(s, "+Inf") < strstr(s, "_sum") && strstr(s, "_sum") < strstr(s, "_count"));
	wg_buf_free(&out);
}

TEST(metrics_histogram_empty_writes_zeroes)
{
	struct wg_histogram h = {0};
	struct wg_buf out = {0};
	wg_histogram_write(&h, "y_seconds", "Y.", &out);
	const char *s = wg_buf_cstr(&out);
	CHECK_CONTAINS(s, "\ny_seconds_bucket{le=\"+Inf\"} 0\n");
	CHECK_CONTAINS(s, "\ny_seconds_sum 0\n");
	CHECK_CONTAINS(s, "\ny_seconds_count 0\n");
	wg_buf_free(&out);
}
