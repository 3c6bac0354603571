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
	char hint[80];
	snprintf(hint, sizeof hint, " (try 'wasmgrid help %s')", cmd);
	tell(cmd, fmt, ap, hint);
	va_end(ap);
	return 2;
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

/* Where a value came from: a later source replaces a list's values instead of adding. */
enum origin { FROM_NOWHERE, FROM_DEFAULT, FROM_CONFIG, FROM_ARGV };

/* Where the parse is: the options struct and where each option's value came from. */
struct parse {
	const struct wg_command *c;
	char *options;
	unsigned char *origin; /* per option, an enum origin */
	size_t list_cap;       /* every list can hold this many values */
};

static const struct wg_opt *find_opt(const struct wg_command *c, const char *name, size_t len)
{
	for (const struct wg_opt *o = c->opts; o && o->name; o++)
		if (strlen(o->name) == len && !strncmp(o->name, name, len))
			return o;
	return NULL;
}

int wg_opt_uint(const char *cmd, const struct wg_opt *o, const char *value, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(value, &end, 10);
	if (errno || end == value || *end || value[0] == '-' || v < o->min || v > o->max) {
		wg_usage_error(cmd, "--%s must be a whole number from %llu to %llu, not '%s'",
			       o->name, (unsigned long long)o->min, (unsigned long long)o->max,
			       value);
		return -1;
	}
	*out = v;
	return 0;
}

/* Stores one value of o (NULL for a flag given bare). */
static int set_opt(struct parse *p, const struct wg_opt *o, const char *value, enum origin from)
{
	const char *cmd = p->c->name;
	void *at = p->options + o->offset;
	size_t index = (size_t)(o - p->c->opts);
	uint64_t n;
	switch (o->type) {
	case WG_OPT_FLAG:
		if (!value || !strcmp(value, "true") || !strcmp(value, "yes")) {
			*(bool *)at = true;
		} else if (!strcmp(value, "false") || !strcmp(value, "no")) {
			*(bool *)at = false;
		} else {
			wg_usage_error(cmd, "--%s takes no value (in a config file: true or false)",
				       o->name);
			return -1;
		}
		return 0;
	case WG_OPT_STR: *(const char **)at = value; return 0;
	case WG_OPT_LIST: {
		struct wg_opt_list *l = at;
		if (p->origin[index] < from)
			l->n = 0; /* the config file replaces defaults, the command line both */
		p->origin[index] = (unsigned char)from;
		if (!l->v)
			l->v = wg_calloc(p->list_cap, sizeof *l->v);
		if (l->n == p->list_cap) {
			wg_usage_error(cmd, "--%s given too often", o->name);
			return -1;
		}
		l->v[l->n++] = value;
		return 0;
	}
	case WG_OPT_U32:
		if (wg_opt_uint(cmd, o, value, &n))
			return -1;
		*(uint32_t *)at = (uint32_t)n;
		return 0;
	case WG_OPT_U64:
		if (wg_opt_uint(cmd, o, value, &n))
			return -1;
		*(uint64_t *)at = n;
		return 0;
	case WG_OPT_FN: return o->parse(cmd, o, value, at);
	}
	return -1;
}

static int apply_defaults(struct parse *p)
{
	for (const struct wg_opt *o = p->c->opts; o && o->name; o++)
		if (o->dflt && set_opt(p, o, o->dflt, FROM_DEFAULT))
			return -1;
	return 0;
}

/* "name value" or "name = value" lines; '#' starts a comment. The text is kept by the
 * caller: values point into it. */
static int apply_config(struct parse *p, const char *path, char *text)
{
	const char *cmd = p->c->name;
	int line_no = 0;
	for (char *line = text; line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		line_no++;
		char *hash = strchr(line, '#');
		if (hash)
			*hash = 0;
		char *s = line;
		while (*s == ' ' || *s == '\t')
			s++;
		char *end = s + strlen(s);
		while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
			*--end = 0;
		line = nl ? nl + 1 : NULL;
		if (!*s)
			continue;
		size_t name_len = strcspn(s, " \t=");
		char *value = s + name_len;
		while (*value == ' ' || *value == '\t')
			value++;
		if (*value == '=') {
			value++;
			while (*value == ' ' || *value == '\t')
				value++;
		}
		const struct wg_opt *o = find_opt(p->c, s, name_len);
		if (!o || !strncmp(s, "config", name_len)) {
			wg_usage_error(cmd, "%s:%d: unknown option '%.*s'", path, line_no,
				       (int)name_len, s);
			return -1;
		}
		if (o->type != WG_OPT_FLAG && !*value) {
			wg_usage_error(cmd, "%s:%d: %.*s needs a value", path, line_no,
				       (int)name_len, s);
			return -1;
		}
		if (set_opt(p, o, *value ? value : NULL, FROM_CONFIG)) {
			fprintf(stderr, "wasmgrid %s: (in %s, line %d)\n", cmd, path, line_no);
			return -1;
		}
	}
	return 0;
}

/* Parses argv into p->options and the operands. Returns 0, 1 for --help, or -1 (a usage
 * error, reported). */
static int parse_argv(struct parse *p, int argc, char **argv, char **operands, size_t *n_operands)
{
	const struct wg_command *c = p->c;
	*n_operands = 0;
	bool options_end = false;
	for (int i = 1; i < argc; i++) {
		char *a = argv[i];
		if (!a)
			break;
		if (!options_end && (!strcmp(a, "--help") || !strcmp(a, "-h")))
			return 1;
		if (!options_end && !strcmp(a, "--")) {
			options_end = true;
			continue;
		}
		if (options_end || a[0] != '-' || a[1] != '-') {
			if (*n_operands == c->max_operands) {
				wg_usage_error(c->name, "unexpected argument '%s'", a);
				return -1;
			}
			operands[(*n_operands)++] = a;
			continue;
		}
		const char *name = a + 2, *eq = strchr(name, '=');
		size_t len = eq ? (size_t)(eq - name) : strlen(name);
		if (c->config && len == 6 && !strncmp(name, "config", 6)) {
			i += !eq; /* read before everything else */
			continue;
		}
		const struct wg_opt *o = find_opt(c, name, len);
		if (!o) {
			wg_usage_error(c->name, "unknown option '%s'", a);
			return -1;
		}
		const char *value = NULL;
		if (o->type == WG_OPT_FLAG) {
			if (eq) {
				wg_usage_error(c->name, "--%s takes no value", o->name);
				return -1;
			}
		} else if (eq) {
			value = eq + 1;
		} else if (i + 1 < argc) {
			value = argv[++i];
		} else {
			wg_usage_error(c->name, "--%s needs a value", o->name);
			return -1;
		}
		if (set_opt(p, o, value, FROM_ARGV))
			return -1;
	}
	if (*n_operands < c->min_operands) {
		wg_usage_error(c->name, "%s", c->missing ? c->missing : "missing arguments");
		return -1;
	}
	return 0;
}

/* The --config FILE of the command line (the last one), or NULL; -1 in *bad for a missing
 * value. */
static const char *config_path(const struct wg_command *c, int argc, char **argv, int *bad)
{
	const char *path = NULL;
	*bad = 0;
	for (int i = 1; c->config && i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strncmp(argv[i], "--config=", 9)) {
			path = argv[i] + 9;
		} else if (!strcmp(argv[i], "--config")) {
			if (i + 1 >= argc) {
				wg_usage_error(c->name, "--config needs a value");
				*bad = 1;
				return NULL;
			}
			path = argv[++i];
		}
	}
	return path;
}

static void free_lists(const struct wg_command *c, char *options)
{
	for (const struct wg_opt *o = c->opts; o && o->name; o++)
		if (o->type == WG_OPT_LIST)
			free(((struct wg_opt_list *)(options + o->offset))->v);
}

int wg_command_main(const struct wg_command *c, int argc, char **argv)
{
	size_t n_opts = 0;
	for (const struct wg_opt *o = c->opts; o && o->name; o++)
		n_opts++;
	struct parse p = {
	    .c = c,
	    .options = wg_calloc(1, c->options_size ? c->options_size : 1),
	    .origin = wg_calloc(n_opts + 1, 1),
	    .list_cap = (size_t)argc + 256,
	};
	char **operands = wg_calloc((size_t)argc + 1, sizeof *operands);
	uint8_t *config_text = NULL;
	size_t n_operands = 0;
	int status = 2, bad;
	const char *config = config_path(c, argc, argv, &bad);
	if (bad || apply_defaults(&p))
		goto out;
	if (config) {
		size_t len;
		int rc = wg_read_file(config, 1 << 20, &config_text, &len);
		if (rc) {
			wg_usage_error(c->name, "cannot read --config %s: %s", config,
				       wg_strerror(rc));
			goto out;
		}
		config_text = wg_realloc(config_text, len + 1);
		config_text[len] = 0;
		if (apply_config(&p, config, (char *)config_text))
			goto out;
	}
	int rc = parse_argv(&p, argc, argv, operands, &n_operands);
	if (rc == 1) {
		wg_command_help(stdout, c);
		status = 0;
	} else if (rc == 0) {
		status = c->run(p.options, operands, n_operands);
	}
out:
	free_lists(c, p.options);
	free(p.options);
	free(p.origin);
	free(operands);
	free(config_text);
	return status;
}

/* ---- help and manual ---- */

/* Help texts name limits as in util/limits.h ("WG_DEFAULT_COMPILE_CPU_S"); people read
 * their values ("60 s"), taken from that one list. A new string. */
static char *expand_limits(const char *text)
{
	static const struct {
		const char *name;
		unsigned long long value;
		const char *unit;
	} limits[] = {
#define WG__LIMIT_ROW(name, value, unit, what) {#name, (unsigned long long)(value), unit},
	    WG_LIMITS(WG__LIMIT_ROW)
#undef WG__LIMIT_ROW
	};
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	if (!f)
		return wg_strdup(text);
	for (const char *p = text; *p;) {
		size_t n =
		    strncmp(p, "WG_", 3) ? 0 : strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789");
		size_t i = 0;
		for (; n && i < sizeof limits / sizeof limits[0]; i++)
			if (strlen(limits[i].name) == n && !strncmp(p, limits[i].name, n))
				break;
		if (n && i < sizeof limits / sizeof limits[0]) {
			fprintf(f, "%llu%s%s", limits[i].value, *limits[i].unit ? " " : "",
				limits[i].unit);
			p += n;
		} else {
			fputc(*p++, f);
		}
	}
	fclose(f);
	return out;
}

/* Writes text at column `indent`, wrapped before `width` at spaces. */
static void wrap(FILE *out, const char *text, int col, int indent, int width)
{
	while (*text) {
		size_t word = strcspn(text, " ");
		if (col > indent && col + 1 + (int)word > width) {
			fprintf(out, "\n%*s", indent, "");
			col = indent;
		} else if (col > indent) {
			fputc(' ', out);
			col++;
		}
		fprintf(out, "%.*s", (int)word, text);
		col += (int)word;
		text += word;
		while (*text == ' ')
			text++;
	}
}

static void synopsis_option(FILE *out, const struct wg_opt *o)
{
	if (o->arg)
		fprintf(out, " [--%s %s]%s", o->name, o->arg, o->type == WG_OPT_LIST ? "..." : "");
	else
		fprintf(out, " [--%s]", o->name);
}

void wg_command_synopsis(FILE *out, const struct wg_command *c)
{
	fprintf(out, "%s", c->name);
	if (c->operands)
		fprintf(out, " %s", c->operands);
	for (const struct wg_opt *o = c->opts; o && o->name; o++)
		synopsis_option(out, o);
	if (c->config)
		fprintf(out, " [--config FILE]");
}

static void option_line(char *buf, size_t size, const struct wg_opt *o)
{
	if (o->arg)
		snprintf(buf, size, "--%s %s", o->name, o->arg);
	else
		snprintf(buf, size, "--%s", o->name);
}

void wg_command_help(FILE *out, const struct wg_command *c)
{
	char *syn = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&syn, &len);
	if (!m)
		return;
	wg_command_synopsis(m, c);
	fclose(m);
	/* The synopsis wrapped between options, each "[--x V]" kept whole. */
	fprintf(out, "usage: wasmgrid");
	int col = 15;
	for (char *p = syn; *p;) {
		size_t n = 0;
		for (int depth = 0; p[n] && (depth > 0 || p[n] != ' '); n++)
			depth += (p[n] == '[') - (p[n] == ']');
		if (col + 1 + (int)n > 90) {
			fprintf(out, "\n%*s", 16, "");
			col = 16;
		} else {
			fputc(' ', out);
			col++;
		}
		fprintf(out, "%.*s", (int)n, p);
		col += (int)n;
		p += n;
		while (*p == ' ')
			p++;
	}
	free(syn);
	fprintf(out, "\n\n%s\n", c->summary);
	if (c->opts && c->opts->name)
		fprintf(out, "\noptions:\n");
	for (const struct wg_opt *o = c->opts; o && o->name; o++) {
		char left[80], *text;
		option_line(left, sizeof left, o);
		char *help = expand_limits(o->help);
		if (o->dflt)
			text = wg_asprintf("%s (default: %s)%s", help, o->dflt,
					   o->type == WG_OPT_LIST ? "; repeatable" : "");
		else
			text =
			    wg_asprintf("%s%s", help, o->type == WG_OPT_LIST ? "; repeatable" : "");
		fprintf(out, "  %-26s", left);
		if (strlen(left) > 26)
			fprintf(out, "\n%*s", 28, "");
		fputc(' ', out);
		wrap(out, text, 29, 29, 92);
		fputc('\n', out);
		free(help);
		free(text);
	}
	if (c->config)
		fprintf(out, "  %-26s %s\n", "--config FILE",
			"options from FILE, one per line: NAME VALUE (the command line wins)");
	if (c->api)
		fprintf(out, "  %-26s %s\n", "--token-file F",
			"the API's token (also WASMGRID_TOKEN_FILE, WASMGRID_TOKEN)");
	fprintf(out, "  %-26s %s\n", "--help", "this text");
}

/* Text for roff: a leading '.' or "'" escaped, and backslashes and dashes. */
static void roff(FILE *out, const char *text)
{
	int bol = 1;
	for (const char *p = text; *p; p++) {
		if (bol && (*p == '.' || *p == '\''))
			fputs("\\&", out);
		if (*p == '\\')
			fputs("\\e", out);
		else if (*p == '-')
			fputs("\\-", out);
		else
			fputc(*p, out);
		bol = *p == '\n';
	}
}

void wg_command_man(FILE *out, const struct wg_command *c)
{
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	if (!m)
		return;
	fprintf(m, "wasmgrid ");
	wg_command_synopsis(m, c);
	fclose(m);
	fputs(".SS ", out);
	roff(out, c->name);
	fputs("\n.B ", out);
	roff(out, text);
	free(text);
	fputs("\n.PP\n", out);
	roff(out, c->summary);
	fputc('\n', out);
	for (const struct wg_opt *o = c->opts; o && o->name; o++) {
		char left[80];
		option_line(left, sizeof left, o);
		fputs(".TP\n.B ", out);
		roff(out, left);
		fputc('\n', out);
		char *help = expand_limits(o->help);
		roff(out, help);
		free(help);
		if (o->dflt) {
			fputs(" (default: ", out);
			roff(out, o->dflt);
			fputc(')', out);
		}
		fputs(o->type == WG_OPT_LIST ? "; repeatable.\n" : ".\n", out);
	}
	if (c->config)
		fputs(".TP\n.B \\-\\-config FILE\noptions from FILE, one per line: NAME VALUE "
		      "(the command line wins).\n",
		      out);
	if (c->api)
		fputs(".TP\n.B \\-\\-token\\-file F\nthe API's token (also WASMGRID_TOKEN_FILE, "
		      "WASMGRID_TOKEN).\n",
		      out);
}

/* ---- value checkers ---- */

int wg_opt_seconds(const char *cmd, const struct wg_opt *o, const char *value, void *out)
{
	char *end = NULL;
	double s = strtod(value, &end);
	if (end == value || *end || !(s > 0) || s > WG_MAX_TIMEOUT_MS / 1000.0) {
		wg_usage_error(cmd, "--%s takes seconds, above 0 and at most %u, not '%s'", o->name,
			       WG_MAX_TIMEOUT_MS / 1000, value);
		return -1;
	}
	*(double *)out = s;
	return 0;
}

int wg_opt_tier(const char *cmd, const struct wg_opt *o, const char *value, void *out)
{
	int t = wg_engine_tiers_parse(value);
	if (t < 0) {
		wg_usage_error(cmd, "--%s is auto, quick or optimised, not '%s'", o->name, value);
		return -1;
	}
	*(int *)out = t;
	return 0;
}
