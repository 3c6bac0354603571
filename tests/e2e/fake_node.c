#include "e2e/fake_node.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "e2e/cluster.h"
#include "harness/test.h"
#include "net/link.h"
#include "util/alloc.h"
#include "util/fs.h"
#include "util/hex.h"

#define CALL_TIMEOUT_MS 15000

/* ---- requests from the daemon ---- */

static struct fake_msg *record(struct fake_node *f, uint64_t id, wg_body_case kind)
{
	if (f->n_msgs == f->cap_msgs) {
		f->cap_msgs = f->cap_msgs ? 2 * f->cap_msgs : 16;
		f->msgs = wg_realloc(f->msgs, f->cap_msgs * sizeof *f->msgs);
	}
	/* Each message is allocated on its own so that pointers to it stay valid. */
	struct fake_msg *m = wg_calloc(1, sizeof *m);
	f->msgs[f->n_msgs++] = m;
	m->kind = kind;
	m->rpc_id = id;
	m->connection = f->opened;
	return m;
}

static void answer_body(struct wg_rpc *rpc, uint64_t id, wg_body_case kind, void *body)
{
	wg_frame fr = WASMGRID__FRAME__INIT;
	fr.body_case = kind;
	/* Every body of the oneof sits at the same place in the frame. */
	fr.ack = body;
	wg_rpc_answer(rpc, id, &fr);
}

static void on_request(struct wg_rpc *rpc, uint64_t id, const wg_frame *req, void *user)
{
	struct fake_node *f = user;
	struct fake_msg *m = record(f, id, req->body_case);
	switch (req->body_case) {
	case WASMGRID__FRAME__BODY_NODE_TYPE_REQUEST: {
		Wasmgrid__NodeTypeAnswer a = WASMGRID__NODE_TYPE_ANSWER__INIT;
		a.node_type = (Wasmgrid__NodeType)f->type;
		answer_body(rpc, id, WASMGRID__FRAME__BODY_NODE_TYPE_ANSWER, &a);
		break;
	}
	case WASMGRID__FRAME__BODY_MANAGER_REQUEST: {
		Wasmgrid__ManagerAnswer a = WASMGRID__MANAGER_ANSWER__INIT;
		a.accepted = f->type == WG_NODE_MANAGER;
		answer_body(rpc, id, WASMGRID__FRAME__BODY_MANAGER_ANSWER, &a);
		if (a.accepted && rpc == f->rpc)
			f->attached = true;
		break;
	}
	case WASMGRID__FRAME__BODY_MANAGER_PING: {
		Wasmgrid__ManagerPong p = WASMGRID__MANAGER_PONG__INIT;
		answer_body(rpc, id, WASMGRID__FRAME__BODY_MANAGER_PONG, &p);
		break;
	}
	case WASMGRID__FRAME__BODY_MANAGER_BYE:
		if (rpc == f->rpc)
			f->attached = false;
		wg_rpc_answer_ack(rpc, id);
		break;
	case WASMGRID__FRAME__BODY_TASK_STARTED:
		m->task_id = req->task_started->task_id;
		m->datetime = req->task_started->datetime;
		wg_rpc_answer_ack(rpc, id);
		m->answered = true;
		break;
	case WASMGRID__FRAME__BODY_TASK_ERROR:
		m->task_id = req->task_error->task_id;
		m->error = req->task_error->error;
		m->detail = wg_strdup(req->task_error->detail ? req->task_error->detail : "");
		wg_buf_append(&m->stderr_tail, req->task_error->stderr_tail.data,
			      req->task_error->stderr_tail.len);
		goto report;
	case WASMGRID__FRAME__BODY_TASK_COMPLETED:
		m->task_id = req->task_completed->task_id;
		wg_buf_append(&m->result, req->task_completed->result.data,
			      req->task_completed->result.len);
		goto report;
	case WASMGRID__FRAME__BODY_TASKS_EXECUTE:
		m->n_tasks = req->tasks_execute->n_tasks;
		m->first_task = m->n_tasks ? req->tasks_execute->tasks[0]->task_id : 0;
		for (size_t i = 0; i < m->n_tasks && i < 64; i++)
			m->ids[i] = req->tasks_execute->tasks[i]->task_id;
		wg_rpc_answer_ack(rpc, id);
		m->answered = true;
		break;
	case WASMGRID__FRAME__BODY_TASKS_ABORT:
		m->n_tasks = req->tasks_abort->n_task_ids;
		m->first_task = m->n_tasks ? req->tasks_abort->task_ids[0] : 0;
		memcpy(m->ids, req->tasks_abort->task_ids,
		       (m->n_tasks < 64 ? m->n_tasks : 64) * sizeof m->ids[0]);
		wg_rpc_answer_ack(rpc, id);
		m->answered = true;
		break;
	case WASMGRID__FRAME__BODY_TASKS_PING: {
		/* The fake keeps no tasks: it knows none of them (a worker that lost them), unless
		 * told to say they are running. */
		size_t n = req->tasks_ping->n_task_ids;
		Wasmgrid__TaskStatus *st = calloc(n ? n : 1, sizeof *st);
		Wasmgrid__TaskStatus **stp = calloc(n ? n : 1, sizeof *stp);
		for (size_t i = 0; i < n; i++) {
			wasmgrid__task_status__init(&st[i]);
			st[i].task_id = req->tasks_ping->task_ids[i];
			st[i].state = WASMGRID__TASK_STATE__TASK_STATE_UNKNOWN;
			if (f->pong_started) {
				st[i].state = WASMGRID__TASK_STATE__STARTED;
				st[i].started_at_ms = (uint64_t)time(NULL) * 1000;
			}
			stp[i] = &st[i];
		}
		m->n_tasks = n;
		m->first_task = n ? req->tasks_ping->task_ids[0] : 0;
		memcpy(m->ids, req->tasks_ping->task_ids, (n < 64 ? n : 64) * sizeof m->ids[0]);
		Wasmgrid__TasksPong pong = WASMGRID__TASKS_PONG__INIT;
		pong.n_tasks = n;
		pong.tasks = stp;
		wg_frame fr = WASMGRID__FRAME__INIT;
		fr.body_case = WASMGRID__FRAME__BODY_TASKS_PONG;
		fr.tasks_pong = &pong;
		wg_rpc_answer(rpc, id, &fr);
		m->answered = true;
		free(st);
		free(stp);
		break;
	}
	default:
		wg_rpc_answer_refused(rpc, id, "the test does not answer this");
		m->answered = true;
		break;
	}
	return;
report:
	if (!f->hold_final_reports) {
		wg_rpc_answer_ack(rpc, id);
		m->answered = true;
	}
}

static int on_open(struct wg_rpc *rpc, void *user)
{
	struct fake_node *f = user;
	f->rpc = rpc;
	f->attached = false;
	f->opened++;
	return 0;
}

static void on_close(struct wg_rpc *rpc, int status, void *user)
{
	struct fake_node *f = user;
	(void)status;
	if (rpc == f->rpc) {
		f->rpc = NULL;
		f->attached = false;
	}
	f->closed++;
}

static const struct wg_rpc_handlers handlers = {
    .on_open = on_open,
    .on_request = on_request,
    .on_close = on_close,
};

/* ---- life cycle ---- */

void fake_init(struct fake_node *f, enum wg_node_type type)
{
	memset(f, 0, sizeof *f);
	CHECK_EQ(uv_loop_init(&f->loop), 0);
	wg_identity_generate(&f->id);
	f->type = type;
	uv_timer_init(&f->loop, &f->poll);
}

static bool connection_gone(struct fake_node *f, void *arg)
{
	(void)arg;
	return f->rpc == NULL;
}

void fake_free(struct fake_node *f)
{
	if (f->listener)
		wg_listener_close(f->listener);
	f->listener = NULL;
	if (f->rpc)
		wg_rpc_close(f->rpc);
	fake_run_until(f, connection_gone, NULL, 5000);
	uv_close((uv_handle_t *)&f->poll, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	CHECK_EQ(uv_loop_close(&f->loop), 0);
	for (size_t i = 0; i < f->n_msgs; i++) {
		free(f->msgs[i]->detail);
		wg_buf_free(&f->msgs[i]->result);
		wg_buf_free(&f->msgs[i]->stderr_tail);
		free(f->msgs[i]);
	}
	free(f->msgs);
}

static void on_accept(struct wg_listener *l, struct wg_link *link, const struct wg_link_cbs **cbs,
		      void **user, void *listener_user)
{
	struct fake_node *f = listener_user;
	(void)l;
	wg_rpc_accept(&f->loop, link, &handlers, f, cbs, user);
}

void fake_listen(struct fake_node *f)
{
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", f->port);
	CHECK_EQ(
	    wg_listener_start(&f->loop, addr, &f->id, NULL, on_accept, f, &f->listener, &f->port),
	    0);
	CHECK(f->port > 0);
}

struct opened_wait {
	int before;
};

static bool opened_after(struct fake_node *f, void *arg)
{
	return f->opened > ((struct opened_wait *)arg)->before && f->rpc;
}

bool fake_wait_opened(struct fake_node *f, int opened_before, int timeout_ms)
{
	struct opened_wait w = {opened_before};
	return fake_run_until(f, opened_after, &w, timeout_ms);
}

void fake_connect(struct fake_node *f, int port)
{
	char addr[64];
	struct wg_rpc *rpc;
	int before = f->opened;
	snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
	CHECK_EQ(wg_rpc_connect(&f->loop, addr, &f->id, NULL, &handlers, f, &rpc), 0);
	CHECK_MSG(fake_wait_opened(f, before, 10000), "the connection to %s never opened", addr);
}

void fake_hang_up(struct fake_node *f)
{
	if (f->rpc)
		wg_rpc_close(f->rpc);
	CHECK_MSG(fake_run_until(f, connection_gone, NULL, 5000), "the connection did not close");
}

static void poll_tick(uv_timer_t *t)
{
	(void)t;
}

bool fake_run_until(struct fake_node *f, bool (*cond)(struct fake_node *f, void *arg), void *arg,
		    int timeout_ms)
{
	uv_update_time(&f->loop);
	uint64_t end = uv_now(&f->loop) + (uint64_t)timeout_ms;
	while (!cond(f, arg)) {
		if (uv_now(&f->loop) >= end)
			return false;
		/* The poll timer bounds each turn of the loop, so cond is checked often even
		 * when nothing arrives. */
		uv_timer_start(&f->poll, poll_tick, 20, 0);
		uv_run(&f->loop, UV_RUN_ONCE);
		uv_update_time(&f->loop);
	}
	uv_timer_stop(&f->poll);
	return true;
}

static bool is_attached(struct fake_node *f, void *arg)
{
	(void)arg;
	return f->attached;
}

bool fake_wait_attached(struct fake_node *f, int timeout_ms)
{
	return fake_run_until(f, is_attached, NULL, timeout_ms);
}

/* ---- our requests ---- */

static void copy_result(char *out, size_t cap, const ProtobufCBinaryData *d)
{
	size_t n = d->len < cap - 1 ? d->len : cap - 1;
	if (n)
		memcpy(out, d->data, n);
	out[n] = 0;
}

static void on_answer(struct wg_rpc *rpc, int status, const wg_frame *ans, void *cb_user)
{
	struct fake_answer *a = cb_user;
	(void)rpc;
	a->done = true;
	a->status = status;
	if (status)
		return;
	a->kind = ans->body_case;
	if (ans->body_case == WASMGRID__FRAME__BODY_MANAGER_ANSWER) {
		a->accepted = ans->manager_answer->accepted;
	} else if (ans->body_case == WASMGRID__FRAME__BODY_TASKS_REFUSED) {
		const Wasmgrid__TasksRefused *r = ans->tasks_refused;
		for (size_t i = 0; i < r->n_tasks && a->n < 16; i++, a->n++) {
			a->entries[a->n].task_id = r->tasks[i]->task_id;
			a->entries[a->n].code = r->tasks[i]->reason;
		}
	} else if (ans->body_case == WASMGRID__FRAME__BODY_TASKS_PONG) {
		const Wasmgrid__TasksPong *p = ans->tasks_pong;
		for (size_t i = 0; i < p->n_tasks && a->n < 16; i++, a->n++) {
			struct fake_entry *e = &a->entries[a->n];
			e->task_id = p->tasks[i]->task_id;
			e->code = p->tasks[i]->state;
			e->started_at_ms = p->tasks[i]->started_at_ms;
			e->error = p->tasks[i]->error;
			copy_result(e->result, sizeof e->result, &p->tasks[i]->result);
		}
	}
}

static bool answered(struct fake_node *f, void *arg)
{
	(void)f;
	return ((struct fake_answer *)arg)->done;
}

void fake_call(struct fake_node *f, wg_frame *req, struct fake_answer *a, int timeout_ms)
{
	memset(a, 0, sizeof *a);
	CHECK_MSG(f->rpc, "no connection to send %s on", wg_body_name(req->body_case));
	CHECK_EQ(wg_rpc_request(f->rpc, req, (uint32_t)timeout_ms, on_answer, a), 0);
	/* The rpc layer's own deadline ends the wait at the latest. */
	CHECK_MSG(fake_run_until(f, answered, a, timeout_ms + 1000), "%s got no answer",
		  wg_body_name(req->body_case));
}

struct find_args {
	wg_body_case kind;
	uint64_t task_id;
	size_t from;
	struct fake_msg *found;
};

struct fake_msg *fake_find(struct fake_node *f, wg_body_case kind, uint64_t task_id, size_t from)
{
	for (size_t i = from; i < f->n_msgs; i++)
		if (f->msgs[i]->kind == kind && (!task_id || f->msgs[i]->task_id == task_id))
			return f->msgs[i];
	return NULL;
}

static bool found_msg(struct fake_node *f, void *arg)
{
	struct find_args *fa = arg;
	fa->found = fake_find(f, fa->kind, fa->task_id, fa->from);
	return fa->found != NULL;
}

struct fake_msg *fake_wait_msg(struct fake_node *f, wg_body_case kind, uint64_t task_id,
			       size_t from, int timeout_ms)
{
	struct find_args fa = {kind, task_id, from, NULL};
	fake_run_until(f, found_msg, &fa, timeout_ms);
	return fa.found;
}

void fake_ack(struct fake_node *f, struct fake_msg *m)
{
	CHECK(f->rpc);
	CHECK(!m->answered);
	CHECK_EQ(wg_rpc_answer_ack(f->rpc, m->rpc_id), 0);
	m->answered = true;
}

/* ---- tasks ---- */

const char *fake_program_path(const char *program)
{
	return program[0] == '/' ? program : e2e_program(program);
}

void fake_program_hash(const char *program, char out[65])
{
	uint8_t *data = NULL, h[32];
	size_t len = 0;
	CHECK_MSG(wg_read_file(fake_program_path(program), 64u << 20, &data, &len) == 0,
		  "cannot read %s (build the examples first)", fake_program_path(program));
	crypto_generichash(h, sizeof h, data, len, NULL, 0);
	wg_hex_encode(h, sizeof h, out);
	free(data);
}

void fake_execute(struct fake_node *f, const struct fake_task *tasks, size_t n,
		  struct fake_answer *a)
{
	Wasmgrid__TaskSpec *specs = wg_calloc(n, sizeof *specs);
	Wasmgrid__TaskSpec **specp = wg_calloc(n, sizeof *specp);
	Wasmgrid__Limits *limits = wg_calloc(n, sizeof *limits);
	char **addresses = wg_calloc(n, sizeof *addresses);
	char(*hashes)[65] = wg_calloc(n, sizeof *hashes);
	for (size_t i = 0; i < n; i++) {
		const struct fake_task *t = &tasks[i];
		Wasmgrid__TaskSpec *s = &specs[i];
		wasmgrid__task_spec__init(s);
		wasmgrid__limits__init(&limits[i]);
		limits[i].memory_bytes = t->memory_bytes;
		limits[i].result_bytes = 1u << 20;
		addresses[i] = wg_asprintf("file://%s", fake_program_path(t->program));
		if (t->hash)
			snprintf(hashes[i], sizeof hashes[i], "%s", t->hash);
		else
			fake_program_hash(t->program, hashes[i]);
		s->task_id = t->id;
		s->n_program_addresses = 1;
		s->program_addresses = &addresses[i];
		s->program_hash = hashes[i];
		s->program_kind = t->unknown_kind ? WASMGRID__PROGRAM_KIND__PROGRAM_KIND_UNKNOWN
						  : WASMGRID__PROGRAM_KIND__WASI_PREVIEW1;
		s->argument.data = (uint8_t *)t->argument;
		s->argument.len = t->argument ? strlen(t->argument) : 0;
		s->timeout_ms = t->timeout_ms ? t->timeout_ms : 60000;
		s->limits = &limits[i];
		s->random_seed = t->id;
		specp[i] = s;
	}
	Wasmgrid__TasksExecute te = WASMGRID__TASKS_EXECUTE__INIT;
	te.n_tasks = n;
	te.tasks = specp;
	wg_frame fr = WASMGRID__FRAME__INIT;
	fr.body_case = WASMGRID__FRAME__BODY_TASKS_EXECUTE;
	fr.tasks_execute = &te;
	fake_call(f, &fr, a, CALL_TIMEOUT_MS);
	for (size_t i = 0; i < n; i++)
		free(addresses[i]);
	free(addresses);
	free(hashes);
	free(limits);
	free(specp);
	free(specs);
}

void fake_ping(struct fake_node *f, const uint64_t *ids, size_t n, struct fake_answer *a)
{
	Wasmgrid__TasksPing p = WASMGRID__TASKS_PING__INIT;
	p.n_task_ids = n;
	p.task_ids = (uint64_t *)ids;
	wg_frame fr = WASMGRID__FRAME__INIT;
	fr.body_case = WASMGRID__FRAME__BODY_TASKS_PING;
	fr.tasks_ping = &p;
	fake_call(f, &fr, a, CALL_TIMEOUT_MS);
}

void fake_abort(struct fake_node *f, const uint64_t *ids, size_t n, struct fake_answer *a)
{
	Wasmgrid__TasksAbort ab = WASMGRID__TASKS_ABORT__INIT;
	ab.n_task_ids = n;
	ab.task_ids = (uint64_t *)ids;
	wg_frame fr = WASMGRID__FRAME__INIT;
	fr.body_case = WASMGRID__FRAME__BODY_TASKS_ABORT;
	fr.tasks_abort = &ab;
	fake_call(f, &fr, a, CALL_TIMEOUT_MS);
}

const struct fake_entry *fake_entry_of(const struct fake_answer *a, uint64_t task_id)
{
	for (size_t i = 0; i < a->n; i++)
		if (a->entries[i].task_id == task_id)
			return &a->entries[i];
	return NULL;
}

/* ---- reports ---- */

void fake_send_started(struct fake_node *f, uint64_t task_id, struct fake_answer *a)
{
	Wasmgrid__TaskStarted s = WASMGRID__TASK_STARTED__INIT;
	s.task_id = task_id;
	s.datetime = (uint64_t)time(NULL) * 1000;
	wg_frame fr = WASMGRID__FRAME__INIT;
	fr.body_case = WASMGRID__FRAME__BODY_TASK_STARTED;
	fr.task_started = &s;
	fake_call(f, &fr, a, CALL_TIMEOUT_MS);
}

void fake_send_error(struct fake_node *f, uint64_t task_id, int kind, struct fake_answer *a)
{
	Wasmgrid__TaskError e = WASMGRID__TASK_ERROR__INIT;
	e.task_id = task_id;
	e.error = (Wasmgrid__ErrorKind)kind;
	e.detail = "reported by the test";
	wg_frame fr = WASMGRID__FRAME__INIT;
	fr.body_case = WASMGRID__FRAME__BODY_TASK_ERROR;
	fr.task_error = &e;
	fake_call(f, &fr, a, CALL_TIMEOUT_MS);
}

void fake_send_completed(struct fake_node *f, uint64_t task_id, const char *result,
			 struct fake_answer *a)
{
	Wasmgrid__TaskCompleted c = WASMGRID__TASK_COMPLETED__INIT;
	c.task_id = task_id;
	c.result.data = (uint8_t *)result;
	c.result.len = strlen(result);
	wg_frame fr = WASMGRID__FRAME__INIT;
	fr.body_case = WASMGRID__FRAME__BODY_TASK_COMPLETED;
	fr.task_completed = &c;
	fake_call(f, &fr, a, CALL_TIMEOUT_MS);
}

bool fake_attach_to_manager(struct fake_node *f)
{
	struct fake_answer a;
	Wasmgrid__NodeTypeRequest nt = WASMGRID__NODE_TYPE_REQUEST__INIT;
	nt.node_type = (Wasmgrid__NodeType)f->type;
	wg_frame fr = WASMGRID__FRAME__INIT;
	fr.body_case = WASMGRID__FRAME__BODY_NODE_TYPE_REQUEST;
	fr.node_type_request = &nt;
	fake_call(f, &fr, &a, CALL_TIMEOUT_MS);
	CHECK_EQ(a.kind, WASMGRID__FRAME__BODY_NODE_TYPE_ANSWER);
	Wasmgrid__ProgramKind kinds[] = {WASMGRID__PROGRAM_KIND__WASI_PREVIEW1};
	Wasmgrid__ManagerRequest mr = WASMGRID__MANAGER_REQUEST__INIT;
	mr.cores = 1;
	mr.memory = 1u << 30;
	mr.slots = 1;
	mr.n_program_kinds = 1;
	mr.program_kinds = kinds;
	mr.version = "test";
	wg_frame fr2 = WASMGRID__FRAME__INIT;
	fr2.body_case = WASMGRID__FRAME__BODY_MANAGER_REQUEST;
	fr2.manager_request = &mr;
	fake_call(f, &fr2, &a, CALL_TIMEOUT_MS);
	CHECK_EQ(a.kind, WASMGRID__FRAME__BODY_MANAGER_ANSWER);
	return a.accepted;
}

void fake_send_bye(struct fake_node *f, struct fake_answer *a)
{
	Wasmgrid__ManagerBye bye = WASMGRID__MANAGER_BYE__INIT;
	wg_frame fr = WASMGRID__FRAME__INIT;
	fr.body_case = WASMGRID__FRAME__BODY_MANAGER_BYE;
	fr.manager_bye = &bye;
	fake_call(f, &fr, a, CALL_TIMEOUT_MS);
}

void fake_send_node_type(struct fake_node *f, enum wg_node_type type, struct fake_answer *a)
{
	Wasmgrid__NodeTypeRequest nt = WASMGRID__NODE_TYPE_REQUEST__INIT;
	nt.node_type = (Wasmgrid__NodeType)type;
	wg_frame fr = WASMGRID__FRAME__INIT;
	fr.body_case = WASMGRID__FRAME__BODY_NODE_TYPE_REQUEST;
	fr.node_type_request = &nt;
	fake_call(f, &fr, a, CALL_TIMEOUT_MS);
}

void fake_send_ping(struct fake_node *f, struct fake_answer *a)
{
	Wasmgrid__ManagerPing ping = WASMGRID__MANAGER_PING__INIT;
	wg_frame fr = WASMGRID__FRAME__INIT;
	fr.body_case = WASMGRID__FRAME__BODY_MANAGER_PING;
	fr.manager_ping = &ping;
	fake_call(f, &fr, a, CALL_TIMEOUT_MS);
}

bool fake_mentions(struct fake_node *f, wg_body_case kind, uint64_t task_id, size_t from)
{
	for (size_t i = from; i < f->n_msgs; i++) {
		const struct fake_msg *m = f->msgs[i];
		if (m->kind != kind)
			continue;
		for (size_t k = 0; k < m->n_tasks && k < 64; k++)
			if (m->ids[k] == task_id)
				return true;
	}
	return false;
}
