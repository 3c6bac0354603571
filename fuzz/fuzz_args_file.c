/* Fuzz target: `--args-file` parsing (util/lines.c, as cli/cmd_jobs.c uses it). The lines
 * must cover the input exactly: each line is what lies between two newlines, less a final
 * '\r', with no newline inside and a NUL after it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/lines.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

struct check {
	const uint8_t *orig;
	size_t at, len, lines;
};

static void on_line(char *line, size_t n, void *user)
{
	struct check *c = user;
	if (line[n] != 0 || memchr(line, '\n', n) || memcmp(line, c->orig + c->at, n))
		abort();
	size_t next = c->at + n;
	if (next < c->len && c->orig[next] == '\r')
		next++;
	if (next < c->len && c->orig[next] != '\n')
		abort();
	c->at = next + 1;
	c->lines++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char *buf = malloc(len + 1);
	if (!buf)
		abort();
	memcpy(buf, data, len);
	buf[len] = 0;
	struct check c = {data, 0, len, 0};
	size_t n = wg_split_lines(buf, len, on_line, &c);
	if (n != c.lines || (len > 0 && c.at < len))
		abort();
	free(buf);
	return 0;
}
