#include "harness/pg.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <libpq-fe.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness/proc.h"
#include "harness/test.h"
#include "util/alloc.h"

#define RUN_DIR_FMT "/tmp/wgpg.%ld"
#define DB_NAME "wasmgrid"

struct wg_test_pg {
	char dir[PATH_MAX]; /* holds data/, the socket and server.log */
	char ip[64];	    /* TCP address, or "": the socket only */
	int port;
	bool running;
};

static const char *bindir(void)
{
	static char dir[PATH_MAX];
	if (dir[0])
		return dir;
	glob_t g;
	if (glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) != 0)
		return NULL;
	/* The highest version (glob sorts). */
	snprintf(dir, sizeof dir, "%s", g.gl_pathv[g.gl_pathc - 1]);
	globfree(&g);
	*strrchr(dir, '/') = 0;
	return dir;
}

bool wg_test_pg_available(void)
{
	return bindir() != NULL;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* The server's user: postgres when we are root (it refuses to run as root), else us. */
static bool server_user(uid_t *uid, gid_t *gid)
{
	if (geteuid() != 0) {
		*uid = geteuid();
		*gid = getegid();
		return true;
	}
	struct passwd *pw = getpwnam("postgres");
	if (!pw)
		return false;
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return true;
}

static void own_dir(const char *dir)
{
	uid_t uid;
	gid_t gid;
	CHECK_MSG(mkdir(dir, 0700) == 0 || errno == EEXIST, "mkdir %s: %s", dir, strerror(errno));
	CHECK_MSG(server_user(&uid, &gid), "no postgres user (is the postgresql package in?)");
	CHECK_MSG(chown(dir, uid, gid) == 0, "chown %s: %s", dir, strerror(errno));
}

/* Runs a PostgreSQL program as the server's user, its output appended to DIR/server.log;
 * its exit status. */
static int run_server_program(const char *dir, const char *const *argv)
{
	char log[PATH_MAX];
	snprintf(log, sizeof log, "%s/server.log", dir);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		uid_t uid;
		gid_t gid;
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		if (fd >= 0 && geteuid() == 0 && server_user(&uid, &gid))
			(void)fchown(fd, uid, gid);
		if (geteuid() == 0 &&
		    (!server_user(&uid, &gid) || setgroups(0, NULL) || setgid(gid) || setuid(uid)))
			_exit(126);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static char *server_log(const char *dir)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/server.log", dir);
	FILE *f = fopen(path, "r");
	if (!f)
		return wg_strdup("(no server.log)");
	char buf[2048];
	/* The end: where the reason is. */
	if (fseek(f, -(long)(sizeof buf - 1), SEEK_END) != 0)
		rewind(f);
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	return wg_strdup(buf);
}

static void pg_ctl(const char *dir, const char *action, bool must)
{
	char prog[PATH_MAX], data[PATH_MAX], opts[PATH_MAX + 128];
	snprintf(prog, sizeof prog, "%s/pg_ctl", bindir());
	snprintf(data, sizeof data, "%s/data", dir);
	snprintf(opts, sizeof opts,
		 "-k %s -c fsync=off -c full_page_writes=off"
		 " -c max_connections=200 -c shared_buffers=32MB",
		 dir);
	const char *start[] = {prog, "-D", data, "-w", "-t", "30", "-o", opts, "start", NULL};
	const char *stop[] = {prog, "-D", data, "-w", "-t", "30", "-m", action, "stop", NULL};
	int rc = run_server_program(dir, strcmp(action, "start") ? stop : start);
	if (must && rc != 0) {
		char *log = server_log(dir);
		CHECK_MSG(0, "pg_ctl %s in %s failed (%d):\n%s", action, dir, rc, log);
	}
}

/* Runs SQL on the database `db` of the server with its socket in `dir` (port 0: the
 * default); fails the test on error. */
static void exec_sql(const char *dir, int port, const char *db, const char *sql)
{
	char uri[PATH_MAX + 64];
	snprintf(uri, sizeof uri, "postgresql://postgres@/%s?host=%s&port=%d", db, dir,
		 port ? port : 5432);
	PGconn *c = PQconnectdb(uri);
	CHECK_MSG(PQstatus(c) == CONNECTION_OK, "connect %s: %s", uri, PQerrorMessage(c));
	PGresult *r = PQexec(c, sql);
	CHECK_MSG(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
		  "%s: %s", sql, PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
}

/* Appends `text` to DIR/data/NAME (a configuration file). */
static void append_conf(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/data/%s", dir, name);
	FILE *f = fopen(path, "a");
	CHECK_MSG(f && fputs(text, f) >= 0 && fclose(f) == 0, "cannot write %s", path);
}

/* initdb into DIR/data, start, and create the database; on TCP at IP:PORT too when IP is
 * not NULL (any client of 10.77.0.0/16, the multi-host bed's hosts, trusted). */
static void create_server(const char *dir, const char *ip, int port)
{
	CHECK_MSG(bindir(), "PostgreSQL is not installed (tools/deps.sh installs postgresql)");
	own_dir(dir);
	char prog[PATH_MAX], data[PATH_MAX];
	snprintf(prog, sizeof prog, "%s/initdb", bindir());
	snprintf(data, sizeof data, "%s/data", dir);
	const char *argv[] = {prog,
			      "-D",
			      data,
			      "-A",
			      "trust",
			      "-U",
			      "postgres",
			      "-E",
			      "UTF8",
			      "--no-sync",
			      "--no-instructions",
			      NULL};
	int rc = run_server_program(dir, argv);
	if (rc != 0) {
		char *log = server_log(dir);
		CHECK_MSG(0, "initdb in %s failed (%d):\n%s", dir, rc, log);
	}
	char conf[256];
	if (ip) {
		snprintf(conf, sizeof conf, "listen_addresses = '%s'\nport = %d\n", ip, port);
		append_conf(dir, "pg_hba.conf", "host all all 10.77.0.0/16 trust\n");
	} else {
		snprintf(conf, sizeof conf, "listen_addresses = ''\n");
	}
	append_conf(dir, "postgresql.conf", conf);
	pg_ctl(dir, "start", true);
	exec_sql(dir, port, "postgres", "CREATE DATABASE " DB_NAME);
}

static bool server_up(const char *dir)
{
	char uri[PATH_MAX + 64];
	snprintf(uri, sizeof uri, "postgresql://postgres@/%s?host=%s", DB_NAME, dir);
	return PQping(uri) == PQPING_OK;
}

static void remove_tree(const char *dir)
{
	const char *argv[] = {"rm", "-rf", dir, NULL};
	(void)wg_test_run_program(NULL, NULL, argv);
}

/* Servers of runners that died: stopped and removed. */
static void sweep_dead_runs(void)
{
	glob_t g;
	if (glob("/tmp/wgpg.*", 0, NULL, &g) != 0)
		return;
	for (size_t i = 0; i < g.gl_pathc; i++) {
		long pid = strtol(g.gl_pathv[i] + strlen("/tmp/wgpg."), NULL, 10);
		if (pid <= 0 || (kill((pid_t)pid, 0) == 0 || errno != ESRCH))
			continue;
		pg_ctl(g.gl_pathv[i], "immediate", false);
		remove_tree(g.gl_pathv[i]);
	}
	globfree(&g);
}

char *wg_test_pg_store(void)
{
	char dir[64];
	snprintf(dir, sizeof dir, RUN_DIR_FMT, (long)wg_test_runner_pid());
	if (!server_up(dir)) {
		sweep_dead_runs();
		remove_tree(dir);
		create_server(dir, NULL, 0);
	}
	static unsigned n;
	char schema[64], sql[128];
	snprintf(schema, sizeof schema, "t%ld_%u", (long)getpid(), n++);
	snprintf(sql, sizeof sql, "CREATE SCHEMA %s", schema);
	exec_sql(dir, 0, DB_NAME, sql);
	return wg_asprintf("postgresql://postgres@/%s?host=%s&options=-csearch_path%%3D%s", DB_NAME,
			   dir, schema);
}

struct wg_test_pg *wg_test_pg_own(const char *name)
{
	struct wg_test_pg *pg = wg_calloc(1, sizeof *pg);
	/* Not in the test's directory: a socket's path must fit in 107 bytes. */
	snprintf(pg->dir, sizeof pg->dir, RUN_DIR_FMT ".%ld.%s", wg_test_runner_pid(),
		 (long)getpid(), name);
	create_server(pg->dir, NULL, 0);
	pg->running = true;
	return pg;
}

struct wg_test_pg *wg_test_pg_own_tcp(const char *name, const char *ip)
{
	struct wg_test_pg *pg = wg_calloc(1, sizeof *pg);
	snprintf(pg->dir, sizeof pg->dir, RUN_DIR_FMT ".%ld.%s", wg_test_runner_pid(),
		 (long)getpid(), name);
	snprintf(pg->ip, sizeof pg->ip, "%s", ip);
	pg->port = 20000 + (int)(getpid() % 20000);
	create_server(pg->dir, pg->ip, pg->port);
	pg->running = true;
	return pg;
}

char *wg_test_pg_uri(struct wg_test_pg *pg)
{
	if (pg->ip[0])
		return wg_asprintf("postgresql://postgres@%s:%d/%s", pg->ip, pg->port, DB_NAME);
	return wg_asprintf("postgresql://postgres@/%s?host=%s", DB_NAME, pg->dir);
}

void wg_test_pg_stop(struct wg_test_pg *pg)
{
	pg_ctl(pg->dir, "fast", true);
	pg->running = false;
}

void wg_test_pg_start(struct wg_test_pg *pg)
{
	pg_ctl(pg->dir, "start", true);
	pg->running = true;
}

void wg_test_pg_free(struct wg_test_pg *pg)
{
	if (!pg)
		return;
	if (pg->running)
		pg_ctl(pg->dir, "immediate", false);
	free(pg);
}

/* The postmaster of DIR/data, from its pid file; 0 when none. */
static pid_t postmaster_of(const char *dir)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/data/postmaster.pid", dir);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	long pid = 0;
	if (fscanf(f, "%ld", &pid) != 1)
		pid = 0;
	fclose(f);
	return (pid_t)pid;
}

void wg_test_pg_after_test(void)
{
	char pattern[64];
	snprintf(pattern, sizeof pattern, RUN_DIR_FMT ".*", (long)getpid());
	glob_t g;
	if (glob(pattern, 0, NULL, &g) != 0)
		return;
	for (size_t i = 0; i < g.gl_pathc; i++) {
		pid_t pid = postmaster_of(g.gl_pathv[i]);
		if (pid > 0 && kill(pid, SIGQUIT) == 0) {
			for (int t = 0; t < 100 && kill(pid, 0) == 0; t++)
				sleep_ms(50);
			kill(pid, SIGKILL);
		}
		remove_tree(g.gl_pathv[i]);
	}
	globfree(&g);
}

void wg_test_pg_end_of_run(void)
{
	char dir[64];
	snprintf(dir, sizeof dir, RUN_DIR_FMT, (long)getpid());
	struct stat st;
	if (stat(dir, &st) != 0)
		return;
	if (postmaster_of(dir) > 0)
		pg_ctl(dir, "immediate", false);
	remove_tree(dir);
}
