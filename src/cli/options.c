#include "cli/options.h"

#include <stdarg.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/fs.h"

int wg_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "wasmgrid %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (try 'wasmgrid help')\n");
	return 2;
}

const char *wg_listen_error(int rc)
{
	if (rc == WG_EINVAL)
		return "not a HOST:PORT address (an IPv4 address, [IPv6] or a name; port 0-65535)";
	if (rc == WG_EIO)
		return "cannot bind it (is another process listening there, or is it not an "
		       "address of this machine?)";
	return wg_strerror(rc);
}

int wg_write_port_file(const char *path, int port)
{
	char text[16];
	int n = snprintf(text, sizeof text, "%d\n", port);
	return wg_write_file_atomic(path, text, (size_t)n, 0644);
}

int wg_opt_value(const char *cmd, int argc, char **argv, int *i, const char *name,
		 const char **value)
{
	const char *arg = argv[*i];
	size_t n = strlen(name);
	if (strncmp(arg, name, n) != 0)
		return 0;
	if (arg[n] == '=') {
		*value = arg + n + 1;
		return 1;
	}
	if (arg[n] != 0)
		return 0;
	if (*i + 1 >= argc) {
		wg_usage_error(cmd, "%s needs a value", name);
		return -1;
	}
	*value = argv[++*i];
	return 1;
}

int wg_opt_uint(const char *cmd, const char *name, const char *value, uint64_t min, uint64_t max,
		uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(value, &end, 10);
	if (errno || end == value || *end || value[0] == '-' || v < min || v > max) {
		wg_usage_error(cmd, "%s must be a whole number from %llu to %llu, not '%s'", name,
			       (unsigned long long)min, (unsigned long long)max, value);
		return -1;
	}
	*out = v;
	return 0;
}
