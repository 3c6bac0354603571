#include "util/json.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/utf8.h"

/* ---- Writer ---- */

void wg_jw_init(struct wg_json_writer *w, struct wg_buf *out)
{
	memset(w, 0, sizeof *w);
	w->out = out;
}

/* Writes the separator a new value needs at the current position. */
static void jw_before_value(struct wg_json_writer *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (w->has_item[w->depth])
		wg_buf_append(w->out, ",", 1);
	w->has_item[w->depth] = true;
}

static void jw_open(struct wg_json_writer *w, char c)
{
	jw_before_value(w);
	if (w->depth >= WG_JSON_MAX_WRITE_DEPTH)
		abort();
	wg_buf_append(w->out, &c, 1);
	w->depth++;
	w->has_item[w->depth] = false;
}

static void jw_close(struct wg_json_writer *w, char c)
{
	if (w->depth <= 0)
		abort();
	w->depth--;
	wg_buf_append(w->out, &c, 1);
}

void wg_jw_object_begin(struct wg_json_writer *w)
{
	jw_open(w, '{');
}

void wg_jw_object_end(struct wg_json_writer *w)
{
	jw_close(w, '}');
}

void wg_jw_array_begin(struct wg_json_writer *w)
{
	jw_open(w, '[');
}

void wg_jw_array_end(struct wg_json_writer *w)
{
	jw_close(w, ']');
}

void wg_jw_key(struct wg_json_writer *w, const char *key)
{
	jw_before_value(w);
	wg_json_escape(w->out, key, strlen(key));
	wg_buf_append(w->out, ":", 1);
	w->after_key = true;
}

void wg_json_escape(struct wg_buf *out, const void *s, size_t n)
{
	const uint8_t *p = s;
	wg_buf_reserve(out, n + 2);
	wg_buf_append(out, "\"", 1);
	size_t i = 0;
	while (i < n) {
		uint8_t c = p[i];
		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			/* Copy the longest plain ASCII run at once. */
			size_t j = i + 1;
			while (j < n && p[j] >= 0x20 && p[j] < 0x80 && p[j] != '"' && p[j] != '\\')
				j++;
			wg_buf_append(out, p + i, j - i);
			i = j;
			continue;
		}
		switch (c) {
		case '"':
			wg_buf_append(out, "\\\"", 2);
			i++;
			continue;
		case '\\':
			wg_buf_append(out, "\\\\", 2);
			i++;
			continue;
		case '\n':
			wg_buf_append(out, "\\n", 2);
			i++;
			continue;
		case '\r':
			wg_buf_append(out, "\\r", 2);
			i++;
			continue;
		case '\t':
			wg_buf_append(out, "\\t", 2);
			i++;
			continue;
		case '\b':
			wg_buf_append(out, "\\b", 2);
			i++;
			continue;
		case '\f':
			wg_buf_append(out, "\\f", 2);
			i++;
			continue;
		default: break;
		}
		if (c < 0x20) {
			wg_buf_appendf(out, "\\u%04x", c);
			i++;
			continue;
		}
		size_t len = wg_utf8_seq_len(p + i, n - i);
		if (len == 0) {
			wg_buf_append(out, "\\ufffd", 6);
			i++;
		} else {
			wg_buf_append(out, p + i, len);
			i += len;
		}
	}
	wg_buf_append(out, "\"", 1);
}

void wg_jw_strn(struct wg_json_writer *w, const void *s, size_t n)
{
	jw_before_value(w);
	wg_json_escape(w->out, s, n);
}

void wg_jw_str(struct wg_json_writer *w, const char *s)
{
	if (!s)
		wg_jw_null(w);
	else
		wg_jw_strn(w, s, strlen(s));
}

void wg_jw_int(struct wg_json_writer *w, int64_t v)
{
	jw_before_value(w);
	wg_buf_appendf(w->out, "%" PRId64, v);
}

void wg_jw_uint(struct wg_json_writer *w, uint64_t v)
{
	jw_before_value(w);
	wg_buf_appendf(w->out, "%" PRIu64, v);
}

void wg_jw_double(struct wg_json_writer *w, double v)
{
	if (!isfinite(v)) {
		wg_jw_null(w);
		return;
	}
	jw_before_value(w);
	/* %.17g round-trips every double; it never produces a form JSON rejects except that
	 * it may lack a fraction, which is still a valid JSON number. */
	wg_buf_appendf(w->out, "%.17g", v);
}

void wg_jw_bool(struct wg_json_writer *w, bool v)
{
	jw_before_value(w);
	wg_buf_append_str(w->out, v ? "true" : "false");
}

void wg_jw_null(struct wg_json_writer *w)
{
	jw_before_value(w);
	wg_buf_append_str(w->out, "null");
}

void wg_jw_base64(struct wg_json_writer *w, const void *data, size_t n)
{
	char *s = wg_base64_encode(data, n);
	wg_jw_str(w, s);
	free(s);
}

void wg_jw_raw(struct wg_json_writer *w, const char *json, size_t len)
{
	jw_before_value(w);
	wg_buf_append(w->out, json, len);
}

void wg_jw_kv_str(struct wg_json_writer *w, const char *key, const char *s)
{
	wg_jw_key(w, key);
	wg_jw_str(w, s);
}

void wg_jw_kv_int(struct wg_json_writer *w, const char *key, int64_t v)
{
	wg_jw_key(w, key);
	wg_jw_int(w, v);
}

void wg_jw_kv_uint(struct wg_json_writer *w, const char *key, uint64_t v)
{
	wg_jw_key(w, key);
	wg_jw_uint(w, v);
}

void wg_jw_kv_double(struct wg_json_writer *w, const char *key, double v)
{
	wg_jw_key(w, key);
	wg_jw_double(w, v);
}

void wg_jw_kv_bool(struct wg_json_writer *w, const char *key, bool v)
{
	wg_jw_key(w, key);
	wg_jw_bool(w, v);
}

void wg_jw_kv_null(struct wg_json_writer *w, const char *key)
{
	wg_jw_key(w, key);
	wg_jw_null(w);
}

/* ---- Parser ---- */

/* A node is kept small (32 bytes), and a string's bytes follow its node in the same
 * allocation, because a document may hold millions of values. */
struct wg_json {
	enum wg_json_type type;
	bool boolean;
	/* Numbers: when the literal is an integer that fits, `is_int` is set and
	 * `magnitude`/`negative` hold it exactly (doubles lose precision past 2^53). */
	bool is_int, negative;
	union {
		struct {
			double number;
			uint64_t magnitude;
		} num;
		/* NUL-terminated, `len` bytes (may contain NUL), right after the node. */
		struct {
			char *str;
			size_t len;
		} str;
		/* `count` items; for objects `keys[i]` (owned) names `items[i]`. */
		struct {
			struct wg_json **items;
			char **keys;
			size_t count;
		} box;
	} u;
};

struct json_parser {
	const uint8_t *p, *start, *end;
	int depth, max_depth;
	size_t values, max_values; /* max_values 0: no limit */
	struct wg_buf scratch;	   /* the string being decoded */
	char *err;
	size_t err_len;
	int rc;
};

static int jp_fail_rc(struct json_parser *jp, int rc, const char *why)
{
	if (jp->rc == 0) {
		jp->rc = rc;
		if (jp->err && jp->err_len)
			snprintf(jp->err, jp->err_len, "%s at byte %zu", why,
				 (size_t)(jp->p - jp->start));
	}
	return rc;
}

static int jp_fail(struct json_parser *jp, const char *why)
{
	return jp_fail_rc(jp, WG_EPROTO, why);
}

static void jp_skip_ws(struct json_parser *jp)
{
	while (jp->p < jp->end &&
	       (*jp->p == ' ' || *jp->p == '\t' || *jp->p == '\n' || *jp->p == '\r'))
		jp->p++;
}

static int jp_literal(struct json_parser *jp, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(jp->end - jp->p) < n || memcmp(jp->p, word, n))
		return jp_fail(jp, "invalid literal");
	jp->p += n;
	return 0;
}

static int hex4(const uint8_t *p, uint32_t *out)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++) {
		uint8_t c = p[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (uint32_t)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static void put_utf8(struct wg_buf *b, uint32_t cp)
{
	uint8_t u[4];
	size_t n;
	if (cp < 0x80) {
		u[0] = (uint8_t)cp, n = 1;
	} else if (cp < 0x800) {
		u[0] = (uint8_t)(0xc0 | (cp >> 6)), u[1] = (uint8_t)(0x80 | (cp & 0x3f)), n = 2;
	} else if (cp < 0x10000) {
		u[0] = (uint8_t)(0xe0 | (cp >> 12)), u[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (uint8_t)(0x80 | (cp & 0x3f)), n = 3;
	} else {
		u[0] = (uint8_t)(0xf0 | (cp >> 18)), u[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f)), u[3] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 4;
	}
	wg_buf_append(b, u, n);
}

/* Decodes the string whose opening quote is at jp->p into jp->scratch (NUL-terminated). */
static int jp_string(struct json_parser *jp)
{
	struct wg_buf *bp = &jp->scratch;
	bp->len = 0;
	jp->p++;
	for (;;) {
		if (jp->p >= jp->end)
			goto bad_end;
		uint8_t c = *jp->p;
		if (c == '"') {
			jp->p++;
			break;
		}
		if (c < 0x20) {
			jp_fail(jp, "control character in string");
			goto fail;
		}
		if (c != '\\') {
			size_t n = wg_utf8_seq_len(jp->p, (size_t)(jp->end - jp->p));
			if (n == 0) {
				if (jp->end - jp->p < 4 && (c & 0xc0) == 0xc0)
					goto bad_end;
				jp_fail(jp, "invalid UTF-8");
				goto fail;
			}
			wg_buf_append(bp, jp->p, n);
			jp->p += n;
			continue;
		}
		if (jp->end - jp->p < 2)
			goto bad_end;
		c = jp->p[1];
		jp->p += 2;
		const char *simple = strchr("\"\\/bfnrt", c);
		if (simple && c) {
			static const char repl[] = "\"\\/\b\f\n\r\t";
			wg_buf_append(bp, &repl[simple - "\"\\/bfnrt"], 1);
			continue;
		}
		if (c != 'u') {
			jp_fail(jp, "invalid escape");
			goto fail;
		}
		uint32_t cp, lo;
		if (jp->end - jp->p < 4)
			goto bad_end;
		if (hex4(jp->p, &cp)) {
			jp_fail(jp, "invalid \\u escape");
			goto fail;
		}
		jp->p += 4;
		if (cp >= 0xdc00 && cp <= 0xdfff) {
			jp_fail(jp, "lone low surrogate");
			goto fail;
		}
		if (cp >= 0xd800 && cp <= 0xdbff) {
			if (jp->end - jp->p < 6)
				goto bad_end;
			if (jp->p[0] != '\\' || jp->p[1] != 'u' || hex4(jp->p + 2, &lo) ||
			    lo < 0xdc00 || lo > 0xdfff) {
				jp_fail(jp, "unpaired surrogate");
				goto fail;
			}
			jp->p += 6;
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		}
		put_utf8(bp, cp);
	}
	wg_buf_cstr(bp);
	return 0;
bad_end:
	jp_fail(jp, "unterminated string");
fail:
	return WG_EPROTO;
}

static int jp_number(struct json_parser *jp, struct wg_json *v)
{
	const uint8_t *s = jp->p;
	bool negative = false, is_int = true;
	uint64_t mag = 0;
	bool overflow = false;
	if (jp->p < jp->end && *jp->p == '-') {
		negative = true;
		jp->p++;
	}
	if (jp->p >= jp->end || *jp->p < '0' || *jp->p > '9')
		return jp_fail(jp, "invalid number");
	if (*jp->p == '0') {
		jp->p++;
	} else {
		while (jp->p < jp->end && *jp->p >= '0' && *jp->p <= '9') {
			unsigned d = (unsigned)(*jp->p - '0');
			if (mag > (UINT64_MAX - d) / 10)
				overflow = true;
			mag = mag * 10 + d;
			jp->p++;
		}
	}
	if (jp->p < jp->end && *jp->p == '.') {
		is_int = false;
		jp->p++;
		if (jp->p >= jp->end || *jp->p < '0' || *jp->p > '9')
			return jp_fail(jp, "invalid number");
		while (jp->p < jp->end && *jp->p >= '0' && *jp->p <= '9')
			jp->p++;
	}
	if (jp->p < jp->end && (*jp->p == 'e' || *jp->p == 'E')) {
		is_int = false;
		jp->p++;
		if (jp->p < jp->end && (*jp->p == '+' || *jp->p == '-'))
			jp->p++;
		if (jp->p >= jp->end || *jp->p < '0' || *jp->p > '9')
			return jp_fail(jp, "invalid number");
		while (jp->p < jp->end && *jp->p >= '0' && *jp->p <= '9')
			jp->p++;
	}
	/* strtod needs a terminated copy; numbers are short, and a bound keeps it so. */
	size_t n = (size_t)(jp->p - s);
	if (n > 400)
		return jp_fail(jp, "number too long");
	char tmp[401];
	memcpy(tmp, s, n);
	tmp[n] = 0;
	v->type = WG_JSON_NUMBER;
	v->u.num.number = strtod(tmp, NULL);
	v->is_int = is_int && !overflow;
	v->negative = negative;
	v->u.num.magnitude = mag;
	return 0;
}

static int jp_value(struct json_parser *jp, struct wg_json **out);

static int jp_container(struct json_parser *jp, struct wg_json *v, bool object)
{
	size_t cap = 0;
	unsigned char close = object ? '}' : ']';
	if (++jp->depth > jp->max_depth)
		return jp_fail(jp, "nesting too deep");
	jp->p++;
	jp_skip_ws(jp);
	if (jp->p < jp->end && *jp->p == close) {
		jp->p++;
		jp->depth--;
		return 0;
	}
	for (;;) {
		char *key = NULL;
		size_t key_len;
		if (object) {
			jp_skip_ws(jp);
			if (jp->p >= jp->end || *jp->p != '"')
				return jp_fail(jp, "expected a key");
			if (jp_string(jp))
				return WG_EPROTO;
			key_len = jp->scratch.len;
			key = wg_malloc(key_len + 1);
			memcpy(key, jp->scratch.data, key_len + 1);
			jp_skip_ws(jp);
			if (jp->p >= jp->end || *jp->p != ':') {
				free(key);
				return jp_fail(jp, "expected ':'");
			}
			jp->p++;
		}
		struct wg_json *item = NULL;
		int rc = jp_value(jp, &item);
		if (rc) {
			wg_json_free(item);
			free(key);
			return rc;
		}
		if (v->u.box.count == cap) {
			cap = cap ? cap * 2 : 4;
			v->u.box.items = wg_realloc(v->u.box.items, cap * sizeof(struct wg_json *));
			if (object)
				v->u.box.keys = wg_realloc(v->u.box.keys, cap * sizeof(char *));
		}
		v->u.box.items[v->u.box.count] = item;
		if (object)
			v->u.box.keys[v->u.box.count] = key;
		v->u.box.count++;
		jp_skip_ws(jp);
		if (jp->p >= jp->end)
			return jp_fail(jp, "unterminated container");
		if (*jp->p == ',') {
			jp->p++;
			continue;
		}
		if (*jp->p == close) {
			jp->p++;
			break;
		}
		return jp_fail(jp, object ? "expected ',' or '}'" : "expected ',' or ']'");
	}
	jp->depth--;
	return 0;
}

/* Parses one value; on failure *out may hold a partial tree the caller frees. */
static int jp_value(struct json_parser *jp, struct wg_json **out)
{
	jp_skip_ws(jp);
	if (jp->p >= jp->end)
		return jp_fail(jp, "unexpected end of input");
	/* Counted before anything is built, so a hostile document stops here. */
	if (jp->max_values && ++jp->values > jp->max_values) {
		char why[64];
		snprintf(why, sizeof why, "more than %zu values", jp->max_values);
		return jp_fail_rc(jp, WG_ETOOBIG, why);
	}
	if (*jp->p == '"') {
		if (jp_string(jp))
			return WG_EPROTO;
		size_t len = jp->scratch.len;
		struct wg_json *s = wg_malloc(sizeof *s + len + 1);
		memset(s, 0, sizeof *s);
		s->type = WG_JSON_STRING;
		s->u.str.str = (char *)(s + 1);
		s->u.str.len = len;
		memcpy(s->u.str.str, jp->scratch.data, len + 1);
		*out = s;
		return 0;
	}
	struct wg_json *v = wg_calloc(1, sizeof *v);
	*out = v;
	switch (*jp->p) {
	case '{': v->type = WG_JSON_OBJECT; return jp_container(jp, v, true);
	case '[': v->type = WG_JSON_ARRAY; return jp_container(jp, v, false);
	case 't':
		v->type = WG_JSON_BOOL;
		v->boolean = true;
		return jp_literal(jp, "true");
	case 'f': v->type = WG_JSON_BOOL; return jp_literal(jp, "false");
	case 'n': return jp_literal(jp, "null");
	default: return jp_number(jp, v);
	}
}

int wg_json_parse(const char *text, size_t len, const struct wg_json_limits *limits,
		  struct wg_json **out, char *err, size_t err_len)
{
	size_t max_bytes = limits && limits->max_bytes ? limits->max_bytes : 16u << 20;
	struct json_parser jp = {
	    .p = (const uint8_t *)text,
	    .start = (const uint8_t *)text,
	    .end = (const uint8_t *)text + len,
	    .max_depth = limits && limits->max_depth > 0 ? limits->max_depth : 64,
	    .max_values = limits ? limits->max_values : 0,
	    .err = err,
	    .err_len = err_len,
	};
	struct wg_json *v = NULL;
	*out = NULL;
	if (err && err_len)
		err[0] = 0;
	if (len > max_bytes) {
		if (err && err_len)
			snprintf(err, err_len, "document over %zu bytes", max_bytes);
		return WG_ETOOBIG;
	}
	int rc = jp_value(&jp, &v);
	if (rc == 0) {
		jp_skip_ws(&jp);
		if (jp.p != jp.end)
			rc = jp_fail(&jp, "trailing characters");
	}
	wg_buf_free(&jp.scratch);
	if (rc) {
		wg_json_free(v);
		return rc;
	}
	*out = v;
	return 0;
}

void wg_json_free(struct wg_json *v)
{
	if (!v)
		return;
	if (v->type == WG_JSON_ARRAY || v->type == WG_JSON_OBJECT) {
		for (size_t i = 0; i < v->u.box.count; i++) {
			wg_json_free(v->u.box.items[i]);
			if (v->u.box.keys)
				free(v->u.box.keys[i]);
		}
		free(v->u.box.items);
		free(v->u.box.keys);
	}
	free(v);
}

enum wg_json_type wg_json_type(const struct wg_json *v)
{
	return v ? v->type : WG_JSON_NULL;
}

const struct wg_json *wg_json_get(const struct wg_json *v, const char *key)
{
	if (!v || v->type != WG_JSON_OBJECT)
		return NULL;
	for (size_t i = v->u.box.count; i-- > 0;)
		if (!strcmp(v->u.box.keys[i], key))
			return v->u.box.items[i];
	return NULL;
}

size_t wg_json_len(const struct wg_json *v)
{
	if (!v || (v->type != WG_JSON_ARRAY && v->type != WG_JSON_OBJECT))
		return 0;
	return v->u.box.count;
}

const struct wg_json *wg_json_at(const struct wg_json *v, size_t i)
{
	return i < wg_json_len(v) ? v->u.box.items[i] : NULL;
}

const char *wg_json_key_at(const struct wg_json *v, size_t i)
{
	if (!v || v->type != WG_JSON_OBJECT || i >= v->u.box.count)
		return NULL;
	return v->u.box.keys[i];
}

const char *wg_json_as_str(const struct wg_json *v, size_t *len)
{
	if (!v || v->type != WG_JSON_STRING)
		return NULL;
	if (len)
		*len = v->u.str.len;
	return v->u.str.str;
}

int wg_json_as_u64(const struct wg_json *v, uint64_t *out)
{
	if (!v || v->type != WG_JSON_NUMBER || !v->is_int || (v->negative && v->u.num.magnitude))
		return WG_EINVAL;
	*out = v->u.num.magnitude;
	return 0;
}

int wg_json_as_i64(const struct wg_json *v, int64_t *out)
{
	if (!v || v->type != WG_JSON_NUMBER || !v->is_int)
		return WG_EINVAL;
	uint64_t mag = v->u.num.magnitude;
	if (v->negative) {
		if (mag > (uint64_t)INT64_MAX + 1)
			return WG_EINVAL;
		*out = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
	} else {
		if (mag > (uint64_t)INT64_MAX)
			return WG_EINVAL;
		*out = (int64_t)mag;
	}
	return 0;
}

int wg_json_as_double(const struct wg_json *v, double *out)
{
	if (!v || v->type != WG_JSON_NUMBER || !isfinite(v->u.num.number))
		return WG_EINVAL;
	*out = v->u.num.number;
	return 0;
}

int wg_json_as_bool(const struct wg_json *v, bool *out)
{
	if (!v || v->type != WG_JSON_BOOL)
		return WG_EINVAL;
	*out = v->boolean;
	return 0;
}

bool wg_json_is_null(const struct wg_json *v)
{
	return v && v->type == WG_JSON_NULL;
}

/* ---- Base64 ---- */

char *wg_base64_encode(const void *data, size_t n)
{
	size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
	char *s = wg_malloc(cap);
	sodium_bin2base64(s, cap, data, n, sodium_base64_VARIANT_ORIGINAL);
	return s;
}

int wg_base64_decode(const char *s, size_t len, uint8_t **out, size_t *out_len)
{
	if (len % 4)
		return WG_EINVAL;
	size_t cap = len / 4 * 3;
	uint8_t *bin = wg_malloc(cap + 1);
	size_t n = 0;
	const char *end = NULL;
	if (sodium_base642bin(bin, cap, s, len, NULL, &n, &end, sodium_base64_VARIANT_ORIGINAL) !=
		0 ||
	    end != s + len) {
		free(bin);
		return WG_EINVAL;
	}
	bin[n] = 0;
	*out = bin;
	*out_len = n;
	return 0;
}
