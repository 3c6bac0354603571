#include "util/lines.h"

#include <string.h>

size_t wg_split_lines(char *buf, size_t len, wg_line_cb cb, void *user)
{
	char *p = buf, *end = buf + len;
	size_t count = 0;
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *stop = nl ? nl : end;
		size_t n = (size_t)(stop - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		p[n] = 0;
		cb(p, n, user);
		count++;
		p = nl ? nl + 1 : end;
	}
	return count;
}
