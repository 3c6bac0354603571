#include "cli/options.h"

#include <stdarg.h>
#include <stdio.h>

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

int wg_write_port_file(const char *path, int port)
{
	char text[16];
	int n = snprintf(text, sizeof text, "%d\n", port);
	return wg_write_file_atomic(path, text, (size_t)n, 0644);
}
