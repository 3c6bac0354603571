/* The body of POST /v1/jobs (manager/job_body.c), parsed without a manager. The e2e tests
 * (test_api_jobs.c) check the same rules through a real manager's API. */
#include <string.h>

#include "harness/test.h"
#include "manager/job_body.h"

#define HASH                                                                                       \
	"AB"                                                                                       \
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"

static int parse(const char *body, struct wg_job_body *jb, char *err, size_t n)
{
	return wg__job_body_parse(body, strlen(body), jb, err, n);
}

TEST(job_body_unknown_fields_are_refused_with_the_field_named)
{
	struct wg_job_body jb;
	char err[256];
	CHECK_EQ(parse("{\"program\":\"" HASH "\",\"arguments\":[\"1\"],\"timeot_ms\":5}", &jb, err,
		       sizeof err),
		 -1);
	CHECK_STREQ(err, "unknown field 'timeot_ms': did you mean 'timeout_ms'?");
	wg__job_body_free(&jb);
	CHECK_EQ(parse("{\"program\":\"" HASH "\",\"arguments\":[\"1\"],\"colour\":\"red\"}", &jb,
		       err, sizeof err),
		 -1);
	CHECK_CONTAINS(err, "unknown field 'colour' (docs/api.md");
	wg__job_body_free(&jb);
}

TEST(job_body_a_valid_submission_is_read_whole)
{
	struct wg_job_body jb;
	char err[256] = "";
	CHECK_EQ(parse("{\"program\":\"" HASH "\",\"arguments\":[\"1\",\"two\",\"\"],"
		       "\"timeout_ms\":5000,\"memory_mib\":64,\"result_limit\":100,"
		       "\"priority\":-3,\"max_failures\":0,\"redundancy\":3,\"quorum\":2,"
		       "\"name\":\"sweep 1\"}",
		       &jb, err, sizeof err),
		 0);
	CHECK_STREQ(jb.hash, "ab0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd");
	CHECK(jb.address == NULL);
	CHECK_EQ(jb.n_args, 3);
	CHECK_EQ(jb.args[1].len, 3);
	CHECK(!memcmp(jb.args[1].data, "two", 3));
	CHECK_EQ(jb.opts.timeout_ms, 5000);
	CHECK_EQ(jb.opts.memory_bytes, 64u << 20);
	CHECK_EQ(jb.opts.priority, -3);
	CHECK_EQ(jb.opts.redundancy, 3);
	CHECK_EQ(jb.opts.quorum, 2);
	CHECK_STREQ(jb.opts.name, "sweep 1");
	wg__job_body_free(&jb);
	/* A name is a line of text, not too long. */
	CHECK_EQ(parse("{\"program\":\"" HASH "\",\"arguments\":[],\"name\":\"a\\tb\"}", &jb, err,
		       sizeof err),
		 -1);
	CHECK_CONTAINS(err, "'name' must be a string of at most 128 bytes");
	wg__job_body_free(&jb);
	/* base64 arguments are decoded; an address needs its hash. */
	CHECK_EQ(parse("{\"address\":\"https://example.org/p.wasm\",\"hash\":\"" HASH "\","
		       "\"arguments_base64\":[\"AP8=\"]}",
		       &jb, err, sizeof err),
		 0);
	CHECK_STREQ(jb.address, "https://example.org/p.wasm");
	CHECK_EQ(jb.args[0].len, 2);
	CHECK_EQ(jb.args[0].data[1], 0xff);
	wg__job_body_free(&jb);
	CHECK_EQ(parse("{\"address\":\"https://example.org/p.wasm\",\"arguments\":[]}", &jb, err,
		       sizeof err),
		 -1);
	CHECK_CONTAINS(err, "'hash' is required");
	wg__job_body_free(&jb);
	CHECK_EQ(parse("{\"program\":\"" HASH "\",\"arguments\":[\"1\"],\"redundancy\":2,"
		       "\"quorum\":3}",
		       &jb, err, sizeof err),
		 -1);
	CHECK_CONTAINS(err, "'quorum' must be an integer from 0 to 2");
	wg__job_body_free(&jb);
}
