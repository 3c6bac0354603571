#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness/test.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/json.h"

static struct wg_json *parse_ok(const char *text)
{
	struct wg_json *doc = NULL;
	char err[128];
	int rc = wg_json_parse(text, strlen(text), NULL, &doc, err, sizeof err);
	CHECK_MSG(rc == 0, "parse of %s failed: %s", text, err);
	return doc;
}

TEST(json_writer_output_round_trips_through_parser)
{
	struct wg_buf out = {0};
	struct wg_json_writer w;
	wg_jw_init(&w, &out);
	wg_jw_object_begin(&w);
	wg_jw_kv_str(&w, "id", "ab12");
	wg_jw_kv_uint(&w, "big", UINT64_MAX);
	wg_jw_kv_int(&w, "neg", INT64_MIN);
	wg_jw_kv_double(&w, "pi", 3.25);
	wg_jw_kv_double(&w, "inf", INFINITY);
	wg_jw_kv_bool(&w, "yes", true);
	wg_jw_kv_null(&w, "none");
	wg_jw_key(&w, "list");
	wg_jw_array_begin(&w);
	wg_jw_uint(&w, 1);
	wg_jw_array_begin(&w);
	wg_jw_array_end(&w);
	wg_jw_object_begin(&w);
	wg_jw_object_end(&w);
	wg_jw_str(&w, NULL);
	wg_jw_raw(&w, "{\"r\":2}", 7);
	wg_jw_array_end(&w);
	wg_jw_key(&w, "bin");
	wg_jw_base64(&w, "\x00\xff\x10", 3);
	wg_jw_object_end(&w);
	CHECK_STREQ(
	    wg_buf_cstr(&out),
	    "{\"id\":\"ab12\",\"big\":18446744073709551615,\"neg\":-9223372036854775808,"
	    "\"pi\":3.25,\"inf\":null,\"yes\":true,\"none\":null,\"list\":[1,[],{},null,{\"r\":2}],"
	    "\"bin\":\"AP8Q\"}");

	struct wg_json *doc = parse_ok(wg_buf_cstr(&out));
	uint64_t u;
	int64_t i;
	double d;
	bool b;
	CHECK_STREQ(wg_json_as_str(wg_json_get(doc, "id"), NULL), "ab12");
	CHECK_EQ(wg_json_as_u64(wg_json_get(doc, "big"), &u), 0);
	CHECK(u == UINT64_MAX);
	CHECK_EQ(wg_json_as_i64(wg_json_get(doc, "neg"), &i), 0);
	CHECK(i == INT64_MIN);
	CHECK_EQ(wg_json_as_i64(wg_json_get(doc, "big"), &i), WG_EINVAL);
	CHECK_EQ(wg_json_as_u64(wg_json_get(doc, "neg"), &u), WG_EINVAL);
	CHECK_EQ(wg_json_as_u64(wg_json_get(doc, "pi"), &u), WG_EINVAL);
	CHECK_EQ(wg_json_as_double(wg_json_get(doc, "pi"), &d), 0);
	CHECK(d == 3.25);
	CHECK(wg_json_is_null(wg_json_get(doc, "inf")));
	CHECK_EQ(wg_json_as_bool(wg_json_get(doc, "yes"), &b), 0);
	CHECK(b);
	CHECK(wg_json_get(doc, "missing") == NULL);
	CHECK(wg_json_as_str(wg_json_get(doc, "big"), NULL) == NULL);
	const struct wg_json *list = wg_json_get(doc, "list"), *item;
	CHECK_EQ(wg_json_len(list), 5);
	size_t seen = 0;
	WG_JSON_FOREACH(item, k, list)
	seen += k + 1;
	CHECK_EQ(seen, 1 + 2 + 3 + 4 + 5);
	CHECK_EQ(wg_json_type(wg_json_at(list, 1)), WG_JSON_ARRAY);
	CHECK_EQ(wg_json_type(wg_json_at(list, 2)), WG_JSON_OBJECT);
	CHECK(wg_json_at(list, 5) == NULL);
	CHECK_STREQ(wg_json_key_at(doc, 0), "id");
	size_t blen;
	const char *bin = wg_json_as_str(wg_json_get(doc, "bin"), &blen);
	uint8_t *raw;
	size_t rawlen;
	CHECK_EQ(wg_base64_decode(bin, blen, &raw, &rawlen), 0);
	CHECK_EQ(rawlen, 3);
	CHECK(memcmp(raw, "\x00\xff\x10", 3) == 0);
	free(raw);
	wg_json_free(doc);
	wg_buf_free(&out);
}

TEST(json_escapes_control_chars_and_replaces_invalid_utf8)
{
	struct wg_buf out = {0};
	/* quote, backslash, newline, tab, 0x01, NUL, valid é, invalid 0xff, truncated 0xc3,
	 * an encoded surrogate (invalid) and an overlong '/' (invalid). */
	const char in[] = "\"\\\n\t\x01"
			  "\0"
			  "\xc3\xa9\xff\xc3"
			  "\xed\xa0\x80"
			  "\xc0\xaf";
	wg_json_escape(&out, in, sizeof in - 1);
	CHECK_STREQ(wg_buf_cstr(&out), "\"\\\"\\\\\\n\\t\\u0001\\u0000\xc3\xa9\\ufffd\\ufffd"
				       "\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\"");
	/* The result is valid JSON and decodes to the valid parts. */
	struct wg_json *doc = parse_ok(wg_buf_cstr(&out));
	size_t len;
	const char *s = wg_json_as_str(doc, &len);
	CHECK(s != NULL);
	CHECK_EQ(len, 5 + 1 + 2 + 7 * 3);
	CHECK(memcmp(s, "\"\\\n\t\x01\0\xc3\xa9\xef\xbf\xbd", 11) == 0);
	wg_json_free(doc);
	wg_buf_free(&out);
}

TEST(json_parser_decodes_escapes_and_surrogate_pairs)
{
	struct wg_json *doc = parse_ok(" [\"a\\u00e9\\ud83d\\ude00\\/\\b\", -0.5e1, 0, true] ");
	CHECK_STREQ(wg_json_as_str(wg_json_at(doc, 0), NULL), "a\xc3\xa9\xf0\x9f\x98\x80/\b");
	double d;
	CHECK_EQ(wg_json_as_double(wg_json_at(doc, 1), &d), 0);
	CHECK(d == -5.0);
	wg_json_free(doc);
}

TEST(json_parser_rejects_every_truncation_of_a_valid_document)
{
	const char *doc = "{\"a\": [1, -2.5e3, true, false, null, \"x\\u00e9\\n\"], "
			  "\"b\": {\"c\": {}}, \"d\": \"\xc3\xa9\"}";
	size_t n = strlen(doc);
	struct wg_json *v = NULL;
	CHECK_EQ(wg_json_parse(doc, n, NULL, &v, NULL, 0), 0);
	wg_json_free(v);
	for (size_t i = 0; i < n; i++) {
		char err[128];
		v = NULL;
		int rc = wg_json_parse(doc, i, NULL, &v, err, sizeof err);
		CHECK_MSG(rc == WG_EPROTO, "prefix of %zu bytes was accepted", i);
		CHECK(v == NULL);
		CHECK(err[0] != 0);
	}
}

TEST(json_parser_rejects_malformed_input)
{
	const char *bad[] = {
	    "",
	    " ",
	    "[1,]",
	    "{\"a\":1,}",
	    "{a:1}",
	    "[01]",
	    "[1.]",
	    "[.5]",
	    "[1e]",
	    "+1",
	    "[\"\\x\"]",
	    "[\"\\ud800\"]",
	    "[\"\\udc00\"]",
	    "[\"tab\there\"]",
	    "\"\xff\"",
	    "[1] [2]",
	    "nul",
	    "tru",
	    "[NaN]",
	    "{\"a\" 1}",
	    "[\"\\u12\"]",
	    "\"\xed\xa0\x80\"",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct wg_json *v = NULL;
		int rc = wg_json_parse(bad[i], strlen(bad[i]), NULL, &v, NULL, 0);
		CHECK_MSG(rc == WG_EPROTO, "accepted malformed input #%zu: %s", i, bad[i]);
	}
}

TEST(json_parser_enforces_depth_and_size_limits)
{
	struct wg_buf deep = {0};
	for (int i = 0; i < 10; i++)
		wg_buf_append_str(&deep, "[");
	for (int i = 0; i < 10; i++)
		wg_buf_append_str(&deep, "]");
	struct wg_json_limits lim = {.max_depth = 10};
	struct wg_json *v = NULL;
	CHECK_EQ(wg_json_parse((char *)deep.data, deep.len, &lim, &v, NULL, 0), 0);
	wg_json_free(v);
	lim.max_depth = 9;
	char err[128];
	CHECK_EQ(wg_json_parse((char *)deep.data, deep.len, &lim, &v, err, sizeof err), WG_EPROTO);
	CHECK_CONTAINS(err, "deep");
	/* The default limit holds against a hostile document far deeper than the stack. */
	wg_buf_free(&deep);
	for (int i = 0; i < 100000; i++)
		wg_buf_append_str(&deep, "[");
	CHECK_EQ(wg_json_parse((char *)deep.data, deep.len, NULL, &v, NULL, 0), WG_EPROTO);
	lim = (struct wg_json_limits){.max_bytes = 1000};
	CHECK_EQ(wg_json_parse((char *)deep.data, deep.len, &lim, &v, NULL, 0), WG_ETOOBIG);
	wg_buf_free(&deep);
}

TEST(json_parser_enforces_a_value_count_limit_while_parsing)
{
	/* Four values: the array and its three elements; members count by their values. */
	const char *arr = "[1, \"two\", []]", *obj = "{\"a\": 1, \"b\": [], \"c\": {}}";
	struct wg_json_limits lim = {.max_values = 4};
	struct wg_json *v = NULL;
	char err[128];
	CHECK_EQ(wg_json_parse(arr, strlen(arr), &lim, &v, err, sizeof err), 0);
	CHECK_EQ(wg_json_len(v), 3);
	wg_json_free(v);
	CHECK_EQ(wg_json_parse(obj, strlen(obj), &lim, &v, err, sizeof err), 0);
	wg_json_free(v);
	lim.max_values = 3;
	CHECK_EQ(wg_json_parse(arr, strlen(arr), &lim, &v, err, sizeof err), WG_ETOOBIG);
	CHECK(v == NULL);
	CHECK_CONTAINS(err, "more than 3 values");
	CHECK_EQ(wg_json_parse(obj, strlen(obj), &lim, &v, err, sizeof err), WG_ETOOBIG);
	/* It stops where the limit is passed, not at the end of the document. */
	struct wg_buf big = {0};
	wg_buf_append_str(&big, "[");
	for (int i = 0; i < 100000; i++)
		wg_buf_append_str(&big, "\"\",");
	wg_buf_append_str(&big, "\"\"]");
	lim.max_values = 1000;
	CHECK_EQ(wg_json_parse((char *)big.data, big.len, &lim, &v, err, sizeof err), WG_ETOOBIG);
	CHECK_CONTAINS(err, "more than 1000 values at byte 2998");
	/* 0 is no limit; strings keep their bytes (NUL included) in the compact tree. */
	lim.max_values = 0;
	CHECK_EQ(wg_json_parse((char *)big.data, big.len, &lim, &v, err, sizeof err), 0);
	CHECK_EQ(wg_json_len(v), 100001);
	wg_json_free(v);
	const char *nul = "[\"a\\u0000b\", \"\", \"\\u00e9t\\u00e9\"]";
	CHECK_EQ(wg_json_parse(nul, strlen(nul), NULL, &v, err, sizeof err), 0);
	size_t len = 0;
	CHECK(memcmp(wg_json_as_str(wg_json_at(v, 0), &len), "a\0b", 4) == 0);
	CHECK_EQ(len, 3);
	CHECK_STREQ(wg_json_as_str(wg_json_at(v, 1), &len), "");
	CHECK_EQ(len, 0);
	CHECK_STREQ(wg_json_as_str(wg_json_at(v, 2), NULL), "\xc3\xa9t\xc3\xa9");
	wg_json_free(v);
	wg_buf_free(&big);
}

TEST(json_base64_round_trips_and_rejects_garbage)
{
	uint8_t data[256];
	for (int i = 0; i < 256; i++)
		data[i] = (uint8_t)i;
	for (size_t n = 0; n < 6; n++) {
		char *s = wg_base64_encode(data + 250, n);
		uint8_t *back;
		size_t len;
		CHECK_EQ(wg_base64_decode(s, strlen(s), &back, &len), 0);
		CHECK_EQ(len, n);
		CHECK(n == 0 || memcmp(back, data + 250, n) == 0);
		free(back);
		free(s);
	}
	uint8_t *out;
	size_t len;
	CHECK_EQ(wg_base64_decode("AP8", 3, &out, &len), WG_EINVAL);
	CHECK_EQ(wg_base64_decode("A*8Q", 4, &out, &len), WG_EINVAL);
	CHECK_EQ(wg_base64_decode("AP8Q\n", 5, &out, &len), WG_EINVAL);
}
