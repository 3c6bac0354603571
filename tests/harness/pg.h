/* PostgreSQL servers for the tests, from Debian's postgresql package (tools/deps.sh installs
 * it): initdb into a directory, the server started with pg_ctl on a Unix socket only (no TCP
 * port), trust authentication, fsync off (the data is thrown away; commits still wait for
 * the server's WAL write, so a killed client loses nothing it was told was committed).
 * PostgreSQL refuses to run as root: as root, the servers run as the package's postgres
 * user. A server runs in a session of its own (pg_ctl's doing), so the runner stops it.
 *
 * Two kinds:
 * - the run's server, shared: started by the first test that asks for a store, in
 *   /tmp/wgpg.RUNNERPID, stopped when the runner ends (and, if a runner died, by the next
 *   one). Each store on it is a schema of its own in one database.
 * - a test's own server, for tests that stop and start it, in /tmp/wgpg.RUNNERPID.PID.NAME
 *   (a socket's path must be short); the runner stops and removes it after the test. */
#ifndef WG_TEST_PG_H
#define WG_TEST_PG_H
#include <stdbool.h>

/* Whether PostgreSQL's server programs are installed. */
bool wg_test_pg_available(void);

/* The URI of a new, empty store on the run's server (a new string). Fails the test when
 * PostgreSQL is missing or does not start. */
char *wg_test_pg_store(void);

/* A test's own server named NAME (created and started; fails the test when it cannot). */
struct wg_test_pg;
struct wg_test_pg *wg_test_pg_own(const char *name);
/* The same listening on TCP at `ip` too (a port of its own), where clients of 10.77.0.0/16
 * (the multi-host bed's hosts, harness/netns.h) are trusted. */
struct wg_test_pg *wg_test_pg_own_tcp(const char *name, const char *ip);
/* The URI of its database `wasmgrid` (a new string): over TCP when it listens there. */
char *wg_test_pg_uri(struct wg_test_pg *pg);
/* Stops it (fast: sessions are ended, the server shuts down cleanly) and starts it again;
 * each fails the test when it cannot. */
void wg_test_pg_stop(struct wg_test_pg *pg);
void wg_test_pg_start(struct wg_test_pg *pg);
/* Stops it if running and frees it. */
void wg_test_pg_free(struct wg_test_pg *pg);

/* For the runner: after each test, stops and removes the test's own servers; at the end,
 * stops the run's server. */
void wg_test_pg_after_test(void);
void wg_test_pg_end_of_run(void);

#endif
