#include "node/authz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/hex.h"

struct wg_authz {
	int open;
	uint8_t (*ids)[32];
	size_t n, cap;
};

struct wg_authz *wg_authz_open(void)
{
	struct wg_authz *a = wg_calloc(1, sizeof *a);
	a->open = 1;
	return a;
}

struct wg_authz *wg_authz_empty(void)
{
	return wg_calloc(1, sizeof(struct wg_authz));
}

void wg_authz_add(struct wg_authz *a, const uint8_t id[32])
{
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 8;
		a->ids = wg_realloc(a->ids, a->cap * sizeof a->ids[0]);
	}
	memcpy(a->ids[a->n++], id, 32);
}

int wg_authz_is_open(const struct wg_authz *a)
{
	return a->open;
}

int wg_authz_allows(const struct wg_authz *a, const uint8_t id[32])
{
	if (a->open)
		return 1;
	for (size_t i = 0; i < a->n; i++)
		if (!memcmp(a->ids[i], id, 32))
			return 1;
	return 0;
}

void wg_authz_free(struct wg_authz *a)
{
	if (!a)
		return;
	free(a->ids);
	free(a);
}

int wg_authz_load(const char *spec, struct wg_authz **out, char *why, size_t why_len)
{
	if (!strcmp(spec, "open")) {
		*out = wg_authz_open();
		return 0;
	}
	uint8_t *data = NULL;
	size_t len = 0;
	int rc = wg_read_file(spec, (size_t)16 << 20, &data, &len);
	if (rc) {
		snprintf(why, why_len, "cannot read %s: %s", spec, wg_strerror(rc));
		return rc;
	}
	struct wg_authz *a = wg_authz_empty();
	int lineno = 0;
	char *save = NULL;
	for (char *line = strtok_r((char *)data, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		char *hash = strchr(line, '#');
		if (hash)
			*hash = 0;
		char *start = line + strspn(line, " \t\r");
		char *end = start + strcspn(start, " \t\r");
		*end = 0;
		if (!*start)
			continue;
		uint8_t id[32];
		if (wg_hex_decode(start, id, 32) != 0) {
			snprintf(why, why_len, "%s:%d: not a node id (64 hex digits): %.70s", spec,
				 lineno, start);
			rc = WG_EINVAL;
			goto out;
		}
		wg_authz_add(a, id);
	}
	*out = a;
	a = NULL;
out:
	wg_authz_free(a);
	free(data);
	return rc;
}
