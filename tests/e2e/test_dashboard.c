/* The dashboard in a real browser: Debian's chromium, headless, against a real manager with
 * a real worker and a real job. The page's own JavaScript fetches the API and builds the
 * tables; the test reads the DOM chromium dumps after letting the page run. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "e2e/cluster.h"
#include "harness/proc.h"
#include "harness/test.h"

static bool job_half_done(void *arg)
{
	const char *api = arg;
	return e2e_job_count(api, "1", "completed") >= 5;
}

TEST_SLOW(dashboard_in_chromium_shows_workers_jobs_progress_and_a_jobs_tasks, 180)
{
	struct e2e_manager m;
	e2e_manager_start(&m, "manager", 0, NULL);
	char addr[64], url[128];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", m.port);
	pid_t w = e2e_worker_start("w1", addr, "--slots", "1", NULL);
	CHECK_MSG(e2e_wait_workers(m.api_port, "attached", 1, 20000), "worker did not attach");
	char *worker_id = wg_test_node_id(e2e_data("w1"));

	/* A job that is still running while the page looks at it, and one that failed. */
	const char *slow[40];
	for (int i = 0; i < 40; i++)
		slow[i] = "300";
	char *job = e2e_submit(m.api, e2e_program("t_slow"), e2e_args_file("slow", slow, 40), NULL);
	CHECK_STREQ(job, "1");
	CHECK(wg_test_wait_for(job_half_done, m.api, 60000));

	snprintf(url, sizeof url, "http://%s/", m.api);
	char *dom = e2e_dump_dom(url, "3000");
	CHECK_CONTAINS(dom, "class=\"status\">live"); /* the API answered the page */
	char row[128];
	snprintf(row, sizeof row, "data-worker=\"%s\"", worker_id);
	CHECK_CONTAINS(dom, row);
	CHECK_CONTAINS(dom, "<span class=\"state attached\">attached</span>");
	CHECK_CONTAINS(dom, "data-job=\"1\"");
	CHECK_CONTAINS(dom, "<span class=\"state running\">running</span>");
	CHECK_CONTAINS(dom, "/40 done");
	CHECK_CONTAINS(dom, "<polyline"); /* the charts have data */
	free(dom);

	/* A job's own page lists its tasks with their results. */
	snprintf(url, sizeof url, "http://%s/#/jobs/1", m.api);
	dom = e2e_dump_dom(url, "3000");
	CHECK_CONTAINS(dom, "job 1 · running");
	CHECK_CONTAINS(dom, "data-task=\"0\"");
	CHECK_CONTAINS(dom, "slept 300");
	free(dom);

	/* The page's files come from the binary, with their types; others are 404. */
	struct wg_buf body = {0};
	CHECK_EQ(wg_test_http_get(m.api_port, "/ui/dashboard.js", &body), 200);
	CHECK_CONTAINS(wg_buf_cstr(&body), "getJSON('/v1/workers')");
	wg_buf_free(&body);
	CHECK_EQ(wg_test_http_get(m.api_port, "/ui/nothing.js", &body), 404);
	wg_buf_free(&body);

	free(job);
	free(worker_id);
	wg_test_stop(w, SIGTERM, 10000);
	wg_test_stop(m.pid, SIGTERM, 10000);
}
