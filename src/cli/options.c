#include "cli/options.h"

#include <stdarg.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/limits.h"

__attribute__((format(printf, 2, 0))) static void tell(const char *cmd, const char *fmt, va_list ap,
						       const char *after)
{
	fprintf(stderr, "wasmgrid %s: ", cmd);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "%s\n", after);
}

int wg_cli_fail(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tell(cmd, fmt, ap, "");
	va_end(ap);
	return 1;
}

int wg_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tell(cmd, fmt, ap, " (try 'wasmgrid help')");
	va_end(ap);
	return 2;
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

int wg_opt_compile(const char *cmd, int argc, char **argv, int *i, struct wg_cli_compile *c)
{
	const char *v;
	uint64_t n;
	int r;
	if ((r = wg_opt_value(cmd, argc, argv, i, "--compile-cpu", &v))) {
		if (r < 0 || wg_opt_uint(cmd, "--compile-cpu", v, 1, WG_MAX_COMPILE_CPU_S, &n))
			return -1;
		c->cpu_s = (uint32_t)n;
	} else if ((r = wg_opt_value(cmd, argc, argv, i, "--compile-memory", &v))) {
		if (r < 0 || wg_opt_uint(cmd, "--compile-memory", v, WG_MIN_COMPILE_MEMORY_MIB,
					 WG_MAX_COMPILE_MEMORY_MIB, &n))
			return -1;
		c->memory_mib = (uint32_t)n;
	} else if ((r = wg_opt_value(cmd, argc, argv, i, "--tier", &v))) {
		if (r < 0)
			return -1;
		c->tiers = wg_engine_tiers_parse(v);
		if (c->tiers < 0) {
			wg_usage_error(cmd, "--tier is auto, quick or optimised, not '%s'", v);
			return -1;
		}
	} else {
		return 0;
	}
	return 1;
}

char *wg_cli_cache_dir(void)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	/* The XDG rule: a relative XDG_CACHE_HOME is to be ignored. */
	if (xdg && xdg[0] == '/')
		return wg_path_join(xdg, "wasmgrid");
	if (home && home[0] == '/')
		return wg_path_join(home, ".cache/wasmgrid");
	return wg_strdup(WG_DEFAULT_DATA_DIR);
}
