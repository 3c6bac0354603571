/* JSON: a writer that appends to a struct wg_buf, and a small bounded parser that builds a
 * tree (DOM) for request bodies and CLI output.
 *
 * Writer: the writer inserts commas and colons itself, so code reads like the document:
 *
 *     struct wg_buf out = {0};
 *     struct wg_json_writer w;
 *     wg_jw_init(&w, &out);
 *     wg_jw_object_begin(&w);
 *     wg_jw_kv_str(&w, "id", "ab12");
 *     wg_jw_key(&w, "tasks");
 *     wg_jw_array_begin(&w);
 *     wg_jw_uint(&w, 7);
 *     wg_jw_array_end(&w);
 *     wg_jw_object_end(&w);             // out holds {"id":"ab12","tasks":[7]}
 *
 * Strings are escaped for any bytes: control characters become \n, \t or \u00XX, and bytes
 * that are not valid UTF-8 become U+FFFD, so the output is always valid JSON even for
 * hostile input. Doubles that are not finite are written as null. Nesting beyond
 * WG_JSON_MAX_WRITE_DEPTH is a programming error (abort).
 *
 * Parser: wg_json_parse() accepts exactly RFC 8259 (one value, surrounding white space,
 * UTF-8 only) within limits on input size and nesting depth, checked before any large
 * allocation. The tree owns all its memory; wg_json_free() releases it. Accessors accept
 * NULL and a value of the wrong type and then report absence, so lookups chain safely:
 * wg_json_as_str(wg_json_get(wg_json_get(doc, "job"), "id"), NULL). */
#ifndef WG_JSON_H
#define WG_JSON_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define WG_JSON_MAX_WRITE_DEPTH 64

struct wg_json_writer {
	struct wg_buf *out; /* not owned */
	int depth;
	/* Per nesting level: has a value already been written (so the next needs a comma)? */
	bool has_item[WG_JSON_MAX_WRITE_DEPTH + 1];
	/* A key was just written: the next value follows a colon, not a comma. */
	bool after_key;
};

/* Starts writing one JSON value at the end of `out` (not cleared, not owned). */
void wg_jw_init(struct wg_json_writer *w, struct wg_buf *out);
void wg_jw_object_begin(struct wg_json_writer *w);
void wg_jw_object_end(struct wg_json_writer *w);
void wg_jw_array_begin(struct wg_json_writer *w);
void wg_jw_array_end(struct wg_json_writer *w);
/* An object key; the next call writes its value. */
void wg_jw_key(struct wg_json_writer *w, const char *key);
/* A string value; NULL writes null. */
void wg_jw_str(struct wg_json_writer *w, const char *s);
/* A string value of n bytes, which may hold NUL or invalid UTF-8. */
void wg_jw_strn(struct wg_json_writer *w, const void *s, size_t n);
void wg_jw_int(struct wg_json_writer *w, int64_t v);
void wg_jw_uint(struct wg_json_writer *w, uint64_t v);
void wg_jw_double(struct wg_json_writer *w, double v);
void wg_jw_bool(struct wg_json_writer *w, bool v);
void wg_jw_null(struct wg_json_writer *w);
/* Bytes as a base64 string (standard alphabet, padded). */
void wg_jw_base64(struct wg_json_writer *w, const void *data, size_t n);

/* A value that is already JSON text (trusted: the caller vouches it is one valid value),
 * such as a document stored earlier. */
void wg_jw_raw(struct wg_json_writer *w, const char *json, size_t len);

/* Key and value in one call, for the common case inside objects. */
void wg_jw_kv_str(struct wg_json_writer *w, const char *key, const char *s);
void wg_jw_kv_int(struct wg_json_writer *w, const char *key, int64_t v);
void wg_jw_kv_uint(struct wg_json_writer *w, const char *key, uint64_t v);
void wg_jw_kv_double(struct wg_json_writer *w, const char *key, double v);
void wg_jw_kv_bool(struct wg_json_writer *w, const char *key, bool v);
void wg_jw_kv_null(struct wg_json_writer *w, const char *key);

/* Appends `s` (n bytes) to out as a quoted, escaped JSON string. */
void wg_json_escape(struct wg_buf *out, const void *s, size_t n);

/* ---- Parser ---- */

enum wg_json_type {
	WG_JSON_NULL,
	WG_JSON_BOOL,
	WG_JSON_NUMBER,
	WG_JSON_STRING,
	WG_JSON_ARRAY,
	WG_JSON_OBJECT,
};

struct wg_json;

struct wg_json_limits {
	size_t max_bytes; /* 0: 16 MiB. Longer input is refused with WG_ETOOBIG. */
	int max_depth;	  /* 0: 64 nested arrays/objects. Deeper input is WG_EPROTO. */
	/* 0: no limit. Values in the whole document (every array element, member value and
	 * the root count one); the parse stops with WG_ETOOBIG at the first value past it,
	 * before building more. A tree costs ~50 bytes per small value. */
	size_t max_values;
};

/* Parses `len` bytes of `text` (need not be NUL-terminated). On success *out receives a new
 * tree owned by the caller. Returns 0, WG_ETOOBIG (over max_bytes or max_values) or
 * WG_EPROTO (malformed or too deep); then, if `err` is not NULL, a short reason with the
 * byte offset is written into it (err_len bytes at most: "more than 1000 values at byte
 * 2998"). `limits` may be NULL for the defaults. */
int wg_json_parse(const char *text, size_t len, const struct wg_json_limits *limits,
		  struct wg_json **out, char *err, size_t err_len);
void wg_json_free(struct wg_json *v);

/* The type of v; WG_JSON_NULL for a NULL pointer. */
enum wg_json_type wg_json_type(const struct wg_json *v);
/* The member `key` of an object, or NULL (absent, or v is not an object). With duplicate
 * keys the last one wins. */
const struct wg_json *wg_json_get(const struct wg_json *v, const char *key);
/* The number of elements of an array or members of an object; 0 for anything else. */
size_t wg_json_len(const struct wg_json *v);
/* Element i of an array, or value of member i of an object; NULL when out of range. */
const struct wg_json *wg_json_at(const struct wg_json *v, size_t i);
/* Key of member i of an object; NULL when out of range or not an object. */
const char *wg_json_key_at(const struct wg_json *v, size_t i);

/* The string (NUL-terminated; it may also hold NUL, so *len, if not NULL, gets the length),
 * or NULL when v is not a string. Valid as long as the tree. */
const char *wg_json_as_str(const struct wg_json *v, size_t *len);
/* Integers: 0, or WG_EINVAL when v is not a number, has a fraction or exponent, or is out of
 * range for the type. */
int wg_json_as_u64(const struct wg_json *v, uint64_t *out);
int wg_json_as_i64(const struct wg_json *v, int64_t *out);
int wg_json_as_double(const struct wg_json *v, double *out);
int wg_json_as_bool(const struct wg_json *v, bool *out);
bool wg_json_is_null(const struct wg_json *v);

/* Iterates over the elements of an array (or member values of an object). */
#define WG_JSON_FOREACH(item, i, arr)                                                              \
	for (size_t i = 0; ((item) = wg_json_at((arr), i)) != NULL; i++)

/* ---- Base64 (standard alphabet, with padding) ---- */

/* A new NUL-terminated string, freed by the caller. */
char *wg_base64_encode(const void *data, size_t n);
/* Decodes into a new buffer (*out, freed by the caller, NUL-terminated beyond *out_len).
 * Returns 0 or WG_EINVAL for anything but canonical padded base64. */
int wg_base64_decode(const char *s, size_t len, uint8_t **out, size_t *out_len);

#endif
