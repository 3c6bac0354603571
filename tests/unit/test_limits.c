/* docs/limits.md lists every limit of util/limits.h with its value, and nothing else: the
 * list in the header is the one place a limit is stated, and the page cannot drift. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/proc.h"
#include "harness/test.h"
#include "util/buf.h"
#include "util/fs.h"
#include "util/limits.h"

/* 1000000 -> "1,000,000"; bytes in whole MiB or KiB are shown so. */
static void human(unsigned long long v, const char *unit, char *out, size_t n)
{
	if (!strcmp(unit, "bytes") && v % (1u << 20) == 0) {
		v >>= 20;
		unit = "MiB";
	} else if (!strcmp(unit, "bytes") && v % 1024 == 0) {
		v >>= 10;
		unit = "KiB";
	}
	char digits[32], grouped[48];
	snprintf(digits, sizeof digits, "%llu", v);
	size_t len = strlen(digits), k = 0;
	for (size_t i = 0; i < len; i++) {
		if (i && (len - i) % 3 == 0)
			grouped[k++] = ',';
		grouped[k++] = digits[i];
	}
	grouped[k] = 0;
	snprintf(out, n, "%s%s%s", grouped, *unit ? " " : "", unit);
}

TEST(limits_are_documented_as_they_are)
{
	char *path = wg_path_join(wg_test_source_root(), "docs/limits.md");
	uint8_t *data = NULL;
	size_t len = 0;
	CHECK_EQ(wg_read_file(path, 1 << 20, &data, &len), 0);
	char *doc = (char *)data;
	int rows = 0;
#define ROW(name, value, unit, what)                                                               \
	do {                                                                                       \
		char v[64], want[160];                                                             \
		human((unsigned long long)(name), unit, v, sizeof v);                              \
		snprintf(want, sizeof want, "| `%s` | %s |", #name, v);                            \
		CHECK_MSG(strstr(doc, want), "docs/limits.md lacks the row %s", want);             \
		rows++;                                                                            \
	} while (0);
	WG_LIMITS(ROW)
#undef ROW
	/* ... and no row for a limit the header does not have. */
	int doc_rows = 0;
	for (const char *p = doc; (p = strstr(p, "\n| `WG_")) != NULL; p++)
		doc_rows++;
	CHECK_EQ(doc_rows, rows);
	free(data);
	free(path);
}
