/* Fuzz target: the JSON parser (util/json.c). Whatever parses is walked completely and
 * written back with the writer; the text written must parse again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static void write_value(struct wg_json_writer *w, const struct wg_json *v, int depth)
{
	const struct wg_json *item;
	size_t n = 0;
	const char *s;
	uint64_t u;
	int64_t i;
	double d;
	bool b;
	switch (wg_json_type(v)) {
	case WG_JSON_NULL: wg_jw_null(w); break;
	case WG_JSON_BOOL:
		if (wg_json_as_bool(v, &b))
			abort();
		wg_jw_bool(w, b);
		break;
	case WG_JSON_NUMBER:
		if (!wg_json_as_u64(v, &u))
			wg_jw_uint(w, u);
		else if (!wg_json_as_i64(v, &i))
			wg_jw_int(w, i);
		else if (!wg_json_as_double(v, &d))
			wg_jw_double(w, d);
		else
			wg_jw_null(w);
		break;
	case WG_JSON_STRING:
		s = wg_json_as_str(v, &n);
		if (!s)
			abort();
		wg_jw_strn(w, s, n);
		break;
	case WG_JSON_ARRAY:
		wg_jw_array_begin(w);
		WG_JSON_FOREACH(item, k, v)
		write_value(w, item, depth + 1);
		wg_jw_array_end(w);
		break;
	case WG_JSON_OBJECT:
		wg_jw_object_begin(w);
		for (size_t k = 0; k < wg_json_len(v); k++) {
			const char *key = wg_json_key_at(v, k);
			if (!key)
				abort();
			wg_jw_key(w, key);
			write_value(w, wg_json_at(v, k), depth + 1);
		}
		wg_jw_object_end(w);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct wg_json *doc = NULL;
	char err[128];
	/* The writer nests at most WG_JSON_MAX_WRITE_DEPTH levels. */
	struct wg_json_limits limits = {.max_bytes = 1 << 20, .max_depth = WG_JSON_MAX_WRITE_DEPTH};
	if (wg_json_parse((const char *)data, len, &limits, &doc, err, sizeof err) != 0) {
		if (doc || !memchr(err, 0, sizeof err))
			abort();
		return 0;
	}
	(void)wg_json_get(doc, "program");
	struct wg_buf out = {0};
	struct wg_json_writer w;
	wg_jw_init(&w, &out);
	write_value(&w, doc, 0);
	struct wg_json *again = NULL;
	if (wg_json_parse((const char *)out.data, out.len, &limits, &again, err, sizeof err) != 0)
		abort();
	wg_json_free(again);
	wg_json_free(doc);
	wg_buf_free(&out);
	return 0;
}
