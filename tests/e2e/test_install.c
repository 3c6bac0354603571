/* make install into a DESTDIR: every file where it belongs, and the installed binary and
 * Python client work from there. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/proc.h"
#include "harness/test.h"
#include "util/fs.h"
#include "util/version.h"

static void check_file(const char *dest, const char *rel)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s%s", dest, rel);
	CHECK_MSG(access(path, R_OK) == 0, "make install did not install %s", rel);
}

TEST_SLOW(install_puts_the_binary_manual_units_python_client_and_docs_in_place, 120)
{
	const char *root = wg_test_source_root();
	CHECK_MSG(root, "the source tree was not found above %s", wg_test_bindir());
	const char *dest = wg_test_path("dest");
	char destdir[PATH_MAX + 16], build[PATH_MAX + 16];
	snprintf(destdir, sizeof destdir, "DESTDIR=%s", dest);
	snprintf(build, sizeof build, "BUILD=%s", wg_test_bindir());
	const char *argv[] = {"make",		"-s",	 "-C",		root,
			      "install",	destdir, "PREFIX=/usr", build,
			      "PYTHON=python3", NULL};
	struct wg_buf out = {0}, err = {0};
	CHECK_MSG(wg_test_run_program(&out, &err, argv) == 0, "make install: %s",
		  wg_buf_cstr(&err));

	check_file(dest, "/usr/bin/wasmgrid");
	check_file(dest, "/usr/share/man/man1/wasmgrid.1");
	check_file(dest, "/usr/share/doc/wasmgrid/README.md");
	check_file(dest, "/usr/share/doc/wasmgrid/LICENSE");
	check_file(dest, "/usr/share/doc/wasmgrid/api.md");

	/* The installed binary runs, and its manual page is the one made from its usage. */
	char bin[PATH_MAX + 32], man[PATH_MAX + 64];
	snprintf(bin, sizeof bin, "%s/usr/bin/wasmgrid", dest);
	const char *version[] = {bin, "--version", NULL};
	out.len = 0;
	CHECK_EQ(wg_test_run_program(&out, &err, version), 0);
	CHECK_STREQ(wg_buf_cstr(&out), "wasmgrid " WG_VERSION "\n");
	snprintf(man, sizeof man, "%s/usr/share/man/man1/wasmgrid.1", dest);
	uint8_t *page = NULL;
	size_t len = 0;
	CHECK_EQ(wg_read_file(man, 1 << 20, &page, &len), 0);
	CHECK_CONTAINS((char *)page, ".TH WASMGRID 1");
	CHECK_CONTAINS((char *)page, "wasmgrid submit");
	CHECK_CONTAINS((char *)page, "api\\-token\\-file");
	free(page);

	/* Every systemd unit and default file of dist/ is installed. */
	char pattern[PATH_MAX + 32];
	snprintf(pattern, sizeof pattern,
		 "cd %s/dist 2>/dev/null && ls *.service default/* 2>/dev/null", root);
	const char *list[] = {"sh", "-c", pattern, NULL};
	out.len = 0;
	wg_test_run_program(&out, NULL, list);
	char *names = strdup(wg_buf_cstr(&out)), *save = NULL;
	for (char *n = strtok_r(names, "\n", &save); n; n = strtok_r(NULL, "\n", &save)) {
		char rel[PATH_MAX];
		if (!strncmp(n, "default/", 8))
			snprintf(rel, sizeof rel, "/etc/default/%s", n + 8);
		else
			snprintf(rel, sizeof rel, "/usr/lib/systemd/system/%s", n);
		check_file(dest, rel);
	}
	free(names);
	/* The two services: their binary is the installed one, their option files are valid
	 * config files of the daemons (read before --help answers), and systemd accepts them
	 * (verified with the binary at its staged place and the staged manual page). */
	static const char *const roles[] = {"manager", "worker"};
	for (size_t i = 0; i < 2; i++) {
		char unit[PATH_MAX + 64], conf[PATH_MAX + 64], exec[64];
		snprintf(unit, sizeof unit, "%s/usr/lib/systemd/system/wasmgrid-%s.service", dest,
			 roles[i]);
		snprintf(conf, sizeof conf, "%s/etc/default/wasmgrid-%s", dest, roles[i]);
		snprintf(exec, sizeof exec, "ExecStart=/usr/bin/wasmgrid %s --config", roles[i]);
		uint8_t *text = NULL;
		CHECK_EQ(wg_read_file(unit, 1 << 16, &text, &len), 0);
		CHECK_CONTAINS((char *)text, exec);
		CHECK_CONTAINS((char *)text, "StateDirectory=");
		CHECK_CONTAINS((char *)text, "DynamicUser=yes");
		free(text);
		const char *check[] = {bin, roles[i], "--config", conf, "--help", NULL};
		CHECK_EQ(wg_test_run_program(NULL, &err, check), 0);
		char verify[3 * PATH_MAX + 256];
		snprintf(verify, sizeof verify,
			 "d=$(mktemp -d) && sed 's|/usr/bin/wasmgrid|%s|' %s > "
			 "$d/wasmgrid-%s.service && "
			 "MANPATH=%s/usr/share/man systemd-analyze verify $d/wasmgrid-%s.service; "
			 "rc=$?; rm -rf $d; exit $rc",
			 bin, unit, roles[i], dest, roles[i]);
		const char *sh[] = {"sh", "-c", verify, NULL};
		err.len = 0;
		CHECK_MSG(wg_test_run_program(NULL, &err, sh) == 0, "systemd-analyze: %s",
			  wg_buf_cstr(&err));
	}

	/* The Python client is importable from where it was installed. */
	char find[PATH_MAX + 64];
	snprintf(find, sizeof find, "find %s -path '*/wasmgrid/__init__.py' | head -1", dest);
	const char *locate[] = {"sh", "-c", find, NULL};
	out.len = 0;
	CHECK_EQ(wg_test_run_program(&out, NULL, locate), 0);
	char *init = strdup(wg_buf_cstr(&out));
	CHECK_MSG(init[0], "the Python client was not installed");
	*strrchr(init, '/') = 0; /* .../wasmgrid */
	*strrchr(init, '/') = 0; /* the site directory */
	setenv("PYTHONPATH", init, 1);
	const char *py[] = {"python3", "-c", "import wasmgrid; print(wasmgrid.__file__)", NULL};
	out.len = 0;
	CHECK_EQ(wg_test_run_program(&out, &err, py), 0);
	CHECK_CONTAINS(wg_buf_cstr(&out), dest);
	free(init);
	wg_buf_free(&out);
	wg_buf_free(&err);
}
