/* The test framework. Each TEST registers itself (no central list to edit); the runner
 * runs every test in its own forked, time-limited process, so a crash or a hang fails one
 * test, not the suite. A test fails through CHECK*, which prints where and why and exits. */
#ifndef WG_TEST_H
#define WG_TEST_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*wg_test_fn)(void);
void wg_test_register(const char *name, wg_test_fn fn, int timeout_s);

#define WG__TEST(name, timeout)                                                                    \
	static void test_##name(void);                                                             \
	__attribute__((constructor)) static void register_##name(void)                             \
	{                                                                                          \
		wg_test_register(#name, test_##name, timeout);                                     \
	}                                                                                          \
	static void test_##name(void)

/* A unit test: 30 s limit. */
#define TEST(name) WG__TEST(name, 30)
/* A test of real processes: a longer limit. */
#define TEST_SLOW(name, seconds) WG__TEST(name, seconds)

void wg_test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			wg_test_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);                      \
	} while (0)
#define CHECK_MSG(cond, ...)                                                                       \
	do {                                                                                       \
		if (!(cond))                                                                       \
			wg_test_fail(__FILE__, __LINE__, __VA_ARGS__);                             \
	} while (0)
#define CHECK_EQ(a, b)                                                                             \
	do {                                                                                       \
		long long a_ = (long long)(a), b_ = (long long)(b);                                \
		if (a_ != b_)                                                                      \
			wg_test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, a_,     \
				     b_);                                                          \
	} while (0)
#define CHECK_STREQ(a, b)                                                                          \
	do {                                                                                       \
		const char *a_ = (a), *b_ = (b);                                                   \
		if (!a_ || !b_ || strcmp(a_, b_))                                                  \
			wg_test_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b,     \
				     a_ ? a_ : "(null)", b_ ? b_ : "(null)");                      \
	} while (0)
#define CHECK_CONTAINS(hay, needle)                                                                \
	do {                                                                                       \
		const char *h_ = (hay), *n_ = (needle);                                            \
		if (!h_ || !strstr(h_, n_))                                                        \
			wg_test_fail(__FILE__, __LINE__, "\"%s\" does not contain \"%s\"",         \
				     h_ ? h_ : "(null)", n_);                                      \
	} while (0)

/* A fresh temporary directory for this test, removed by the runner afterwards. */
const char *wg_test_tmpdir(void);
/* The pid of the runner (the parent of every test's process). */
long wg_test_runner_pid(void);
/* The directory holding the wasmgrid binary under test (the runner's own directory). */
const char *wg_test_bindir(void);

#endif
