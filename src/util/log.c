#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static enum wg_log_level min_level = WG_LOG_INFO;
static const char *role = "wasmgrid";

void wg_log_set_level(enum wg_log_level level)
{
	min_level = level;
}

void wg_log_set_role(const char *r)
{
	role = r;
}

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void wg_log(enum wg_log_level level, const char *peer, const char *fmt, ...)
{
	static int env_checked;
	if (!env_checked) {
		env_checked = 1;
		const char *e = getenv("WASMGRID_LOG");
		if (e && !strcmp(e, "debug"))
			min_level = WG_LOG_DEBUG;
	}
	if (level < min_level)
		return;
	char line[2048];
	struct timeval tv;
	gettimeofday(&tv, NULL);
	struct tm tm;
	gmtime_r(&tv.tv_sec, &tm);
	int n =
	    snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %-5s %s[%d]",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		     (int)(tv.tv_usec / 1000), level_names[level], role, (int)getpid());
	if (peer && n < (int)sizeof line)
		n += snprintf(line + n, sizeof line - (size_t)n, " [%.8s]", peer);
	if (n < (int)sizeof line - 1) {
		line[n++] = ' ';
		va_list ap;
		va_start(ap, fmt);
		int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
		va_end(ap);
		n = m < 0 ? n : n + m;
	}
	if (n > (int)sizeof line - 2)
		n = (int)sizeof line - 2;
	/* One event, one line: fold any newline that came from a peer's text. */
	for (int i = 0; i < n; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	line[n++] = '\n';
	(void)!write(2, line, (size_t)n);
}
