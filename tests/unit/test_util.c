#include <stdlib.h>
#include <string.h>

#include "harness/test.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/hex.h"
#include "util/lines.h"

TEST(util_strerror_covers_every_code)
{
	CHECK_STREQ(wg_strerror(WG_OK), "ok");
	CHECK_STREQ(wg_strerror(WG_ETIMEOUT), "timed out");
	CHECK_STREQ(wg_err_name(WG_EAUTH), "WG_EAUTH");
	CHECK_STREQ(wg_strerror(-9999), "unknown error");
}

TEST(util_hex_round_trip_and_rejects_bad_digits)
{
	uint8_t in[4] = {0x00, 0xab, 0x10, 0xff}, out[4];
	char hex[9];
	wg_hex_encode(in, 4, hex);
	CHECK_STREQ(hex, "00ab10ff");
	CHECK_EQ(wg_hex_decode(hex, out, 4), 0);
	CHECK(memcmp(in, out, 4) == 0);
	CHECK_EQ(wg_hex_decode("00ab10fg", out, 4), WG_EINVAL);
	CHECK_EQ(wg_hex_decode("00ab", out, 4), WG_EINVAL);
}

TEST(util_buf_appends_and_consumes)
{
	struct wg_buf b = {0};
	for (int i = 0; i < 1000; i++)
		wg_buf_appendf(&b, "%d,", i);
	CHECK(strncmp(wg_buf_cstr(&b), "0,1,2,", 6) == 0);
	wg_buf_consume(&b, 2);
	CHECK(strncmp(wg_buf_cstr(&b), "1,2,", 4) == 0);
	wg_buf_free(&b);
}

TEST(util_read_file_refuses_over_limit)
{
	char *path = wg_path_join(wg_test_tmpdir(), "f");
	CHECK_EQ(wg_write_file_atomic(path, "hello", 5, 0600), 0);
	uint8_t *data;
	size_t len;
	CHECK_EQ(wg_read_file(path, 5, &data, &len), 0);
	CHECK_EQ(len, 5);
	CHECK_STREQ((char *)data, "hello");
	free(data);
	CHECK_EQ(wg_read_file(path, 4, &data, &len), WG_ETOOBIG);
	CHECK_EQ(wg_read_file("/nonexistent/x", 4, &data, &len), WG_ENOTFOUND);
	free(path);
}

static void collect_line(char *line, size_t len, void *user)
{
	struct wg_buf *b = user;
	wg_buf_appendf(b, "[%.*s]", (int)len, line);
}

TEST(util_split_lines_accepts_crlf_and_a_last_line_without_newline)
{
	char text[] = "a\r\n\nb c\rd\nlast";
	struct wg_buf out = {0};
	CHECK_EQ(wg_split_lines(text, sizeof text - 1, collect_line, &out), 4);
	CHECK_STREQ(wg_buf_cstr(&out), "[a][][b c\rd][last]");
	wg_buf_free(&out);
	char ends[] = "x\n";
	CHECK_EQ(wg_split_lines(ends, sizeof ends - 1, collect_line, &out), 1);
	CHECK_EQ(wg_split_lines(ends, 0, collect_line, &out), 0);
	wg_buf_free(&out);
}
