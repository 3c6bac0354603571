/* Every message of the schema through encode/decode, and malformed input. */
#include <sodium.h>

#include "harness/test.h"
#include "node/frame.h"
#include "util/buf.h"

/* Packs f, decodes it, packs the result again: both encodings must be identical, and the
 * frame kind must match its body. */
static void round_trip(wg_frame *f)
{
	struct wg_buf a = {0}, b = {0};
	wg_frame_pack(f, &a);
	wg_frame *g;
	uint64_t id;
	const char *why = NULL;
	enum wg_frame_kind k = wg_frame_decode(a.data, a.len, &g, &id, &why);
	CHECK_MSG(k != WG_FRAME_BAD, "%s: %s", wg_body_name(f->body_case), why);
	CHECK_EQ(k, wg_body_is_request(f->body_case) ? WG_FRAME_REQUEST : WG_FRAME_ANSWER);
	CHECK_EQ(id, f->id);
	CHECK_EQ(g->body_case, f->body_case);
	wg_frame_pack(g, &b);
	CHECK_EQ(a.len, b.len);
	CHECK(memcmp(a.data, b.data, a.len) == 0);
	wg_frame_free(g);
	wg_buf_free(&a);
	wg_buf_free(&b);
}

TEST(frame_every_message_round_trips)
{
	wg_frame f = WASMGRID__FRAME__INIT;
	f.id = 42;

	Wasmgrid__NodeTypeRequest ntr = WASMGRID__NODE_TYPE_REQUEST__INIT;
	ntr.node_type = WASMGRID__NODE_TYPE__WORKER;
	f.body_case = WASMGRID__FRAME__BODY_NODE_TYPE_REQUEST, f.node_type_request = &ntr;
	round_trip(&f);
	Wasmgrid__NodeTypeAnswer nta = WASMGRID__NODE_TYPE_ANSWER__INIT;
	nta.node_type = WASMGRID__NODE_TYPE__MANAGER;
	f.body_case = WASMGRID__FRAME__BODY_NODE_TYPE_ANSWER, f.node_type_answer = &nta;
	round_trip(&f);
	Wasmgrid__Ack ack = WASMGRID__ACK__INIT;
	f.body_case = WASMGRID__FRAME__BODY_ACK, f.ack = &ack;
	round_trip(&f);
	Wasmgrid__NotMine nm = WASMGRID__NOT_MINE__INIT;
	f.body_case = WASMGRID__FRAME__BODY_NOT_MINE, f.not_mine = &nm;
	round_trip(&f);
	Wasmgrid__Refused rf = WASMGRID__REFUSED__INIT;
	rf.reason = "unknown message";
	f.body_case = WASMGRID__FRAME__BODY_REFUSED, f.refused = &rf;
	round_trip(&f);

	Wasmgrid__ProgramKind kinds[] = {WASMGRID__PROGRAM_KIND__WASI_PREVIEW1};
	Wasmgrid__ManagerRequest mr = WASMGRID__MANAGER_REQUEST__INIT;
	mr.cores = 8, mr.memory = 16ull << 30, mr.slots = 8, mr.version = "0.1";
	mr.n_program_kinds = 1, mr.program_kinds = kinds;
	f.body_case = WASMGRID__FRAME__BODY_MANAGER_REQUEST, f.manager_request = &mr;
	round_trip(&f);
	Wasmgrid__ManagerAnswer ma = WASMGRID__MANAGER_ANSWER__INIT;
	ma.accepted = 1;
	f.body_case = WASMGRID__FRAME__BODY_MANAGER_ANSWER, f.manager_answer = &ma;
	round_trip(&f);
	Wasmgrid__ManagerBye bye = WASMGRID__MANAGER_BYE__INIT;
	f.body_case = WASMGRID__FRAME__BODY_MANAGER_BYE, f.manager_bye = &bye;
	round_trip(&f);
	Wasmgrid__ManagerPing ping = WASMGRID__MANAGER_PING__INIT;
	f.body_case = WASMGRID__FRAME__BODY_MANAGER_PING, f.manager_ping = &ping;
	round_trip(&f);
	Wasmgrid__ManagerPong pong = WASMGRID__MANAGER_PONG__INIT;
	f.body_case = WASMGRID__FRAME__BODY_MANAGER_PONG, f.manager_pong = &pong;
	round_trip(&f);

	uint8_t arg[300];
	for (size_t i = 0; i < sizeof arg; i++)
		arg[i] = (uint8_t)i;
	char *addrs[] = {"file:///tmp/x.wasm", "https://example.invalid/x.wasm"};
	Wasmgrid__Limits lim = WASMGRID__LIMITS__INIT;
	lim.memory_bytes = 256 << 20, lim.result_bytes = 1 << 20;
	Wasmgrid__TaskSpec ts = WASMGRID__TASK_SPEC__INIT;
	ts.task_id = 7, ts.n_program_addresses = 2, ts.program_addresses = addrs;
	ts.program_hash = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
	ts.program_kind = WASMGRID__PROGRAM_KIND__WASI_PREVIEW1;
	ts.argument.data = arg, ts.argument.len = sizeof arg;
	ts.timeout_ms = 60000, ts.limits = &lim, ts.random_seed = 99;
	Wasmgrid__TaskSpec *tsp[] = {&ts, &ts};
	Wasmgrid__TasksExecute te = WASMGRID__TASKS_EXECUTE__INIT;
	te.n_tasks = 2, te.tasks = tsp;
	f.body_case = WASMGRID__FRAME__BODY_TASKS_EXECUTE, f.tasks_execute = &te;
	round_trip(&f);

	Wasmgrid__RefusedTask rt = WASMGRID__REFUSED_TASK__INIT;
	rt.task_id = 7, rt.reason = WASMGRID__REFUSE_REASON__NO_FREE_SLOT, rt.detail = "full";
	Wasmgrid__RefusedTask *rtp[] = {&rt};
	Wasmgrid__TasksRefused tr = WASMGRID__TASKS_REFUSED__INIT;
	tr.n_tasks = 1, tr.tasks = rtp;
	f.body_case = WASMGRID__FRAME__BODY_TASKS_REFUSED, f.tasks_refused = &tr;
	round_trip(&f);

	uint64_t ids[] = {1, 2, 3, UINT64_MAX};
	Wasmgrid__TasksPing tp = WASMGRID__TASKS_PING__INIT;
	tp.n_task_ids = 4, tp.task_ids = ids;
	f.body_case = WASMGRID__FRAME__BODY_TASKS_PING, f.tasks_ping = &tp;
	round_trip(&f);

	Wasmgrid__TaskStatus st[5];
	Wasmgrid__TaskStatus *stp[5];
	for (int i = 0; i < 5; i++) {
		wasmgrid__task_status__init(&st[i]);
		st[i].task_id = (uint64_t)i;
		st[i].state = (Wasmgrid__TaskState)i;
		stp[i] = &st[i];
	}
	st[2].started_at_ms = 1700000000000ull;
	st[3].error = WASMGRID__ERROR_KIND__RUNNING_ERROR, st[3].error_detail = "trap";
	st[4].result.data = arg, st[4].result.len = 10;
	Wasmgrid__TasksPong tpo = WASMGRID__TASKS_PONG__INIT;
	tpo.n_tasks = 5, tpo.tasks = stp;
	f.body_case = WASMGRID__FRAME__BODY_TASKS_PONG, f.tasks_pong = &tpo;
	round_trip(&f);

	Wasmgrid__TasksAbort ta = WASMGRID__TASKS_ABORT__INIT;
	ta.n_task_ids = 2, ta.task_ids = ids;
	f.body_case = WASMGRID__FRAME__BODY_TASKS_ABORT, f.tasks_abort = &ta;
	round_trip(&f);
	Wasmgrid__TaskStarted tst = WASMGRID__TASK_STARTED__INIT;
	tst.task_id = 5, tst.datetime = 1700000000123ull;
	f.body_case = WASMGRID__FRAME__BODY_TASK_STARTED, f.task_started = &tst;
	round_trip(&f);
	Wasmgrid__TaskError terr = WASMGRID__TASK_ERROR__INIT;
	terr.task_id = 5, terr.error = WASMGRID__ERROR_KIND__TIMED_OUT, terr.detail = "60 s";
	terr.stderr_tail.data = arg, terr.stderr_tail.len = 50;
	f.body_case = WASMGRID__FRAME__BODY_TASK_ERROR, f.task_error = &terr;
	round_trip(&f);
	Wasmgrid__TaskCompleted tc = WASMGRID__TASK_COMPLETED__INIT;
	tc.task_id = 5, tc.result.data = arg, tc.result.len = sizeof arg;
	f.body_case = WASMGRID__FRAME__BODY_TASK_COMPLETED, f.task_completed = &tc;
	round_trip(&f);
	Wasmgrid__ProgramFetch pf = WASMGRID__PROGRAM_FETCH__INIT;
	pf.hash = ts.program_hash, pf.offset = 65536, pf.max_length = 65536;
	f.body_case = WASMGRID__FRAME__BODY_PROGRAM_FETCH, f.program_fetch = &pf;
	round_trip(&f);
	Wasmgrid__ProgramChunk pc = WASMGRID__PROGRAM_CHUNK__INIT;
	pc.total_size = 1000000, pc.data.data = arg, pc.data.len = sizeof arg;
	f.body_case = WASMGRID__FRAME__BODY_PROGRAM_CHUNK, f.program_chunk = &pc;
	round_trip(&f);
}

static void pack_ping(uint64_t id, struct wg_buf *out)
{
	wg_frame f = WASMGRID__FRAME__INIT;
	Wasmgrid__TasksPing tp = WASMGRID__TASKS_PING__INIT;
	uint64_t ids[] = {1, 2, 300000};
	tp.n_task_ids = 3, tp.task_ids = ids;
	f.id = id, f.body_case = WASMGRID__FRAME__BODY_TASKS_PING, f.tasks_ping = &tp;
	wg_frame_pack(&f, out);
}

TEST(frame_truncated_at_every_length_is_rejected_or_decoded_safely)
{
	struct wg_buf b = {0};
	pack_ping(77, &b);
	for (size_t n = 0; n < b.len; n++) {
		wg_frame *g;
		uint64_t id;
		const char *why;
		enum wg_frame_kind k = wg_frame_decode(b.data, n, &g, &id, &why);
		/* A cut frame never decodes into a full request, and the id, when salvaged,
		 * is the real one. */
		CHECK_MSG(k == WG_FRAME_BAD, "truncated to %zu bytes decoded as %d", n, k);
		CHECK(id == 0 || id == 77);
	}
	wg_buf_free(&b);
}

TEST(frame_garbage_is_rejected_without_crash)
{
	uint8_t junk[512];
	randombytes_buf_deterministic(junk, sizeof junk, (const uint8_t[32]){1});
	for (size_t n = 1; n <= sizeof junk; n += 7) {
		wg_frame *g;
		uint64_t id;
		const char *why;
		enum wg_frame_kind k = wg_frame_decode(junk, n, &g, &id, &why);
		if (k != WG_FRAME_BAD)
			wg_frame_free(g);
	}
	const uint8_t huge_len[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2};
	wg_frame *g;
	uint64_t id;
	const char *why;
	CHECK_EQ(wg_frame_decode(huge_len, sizeof huge_len, &g, &id, &why), WG_FRAME_BAD);
}

TEST(frame_unknown_body_is_refused_with_its_id)
{
	/* id = 5, then field 999 (length-delimited, 2 bytes): a message from a newer peer. */
	const uint8_t bytes[] = {0x08, 0x05, 0xba, 0x3e, 0x02, 0x01, 0x02};
	wg_frame *g;
	uint64_t id;
	const char *why = NULL;
	CHECK_EQ(wg_frame_decode(bytes, sizeof bytes, &g, &id, &why), WG_FRAME_BAD);
	CHECK_EQ(id, 5);
	CHECK_STREQ(why, "frame has no body");
}

TEST(frame_unknown_fields_beside_a_known_body_are_ignored)
{
	struct wg_buf b = {0};
	pack_ping(9, &b);
	const uint8_t extra[] = {0xba, 0x3e, 0x02, 0x01, 0x02};
	wg_buf_append(&b, extra, sizeof extra);
	wg_frame *g;
	uint64_t id;
	const char *why;
	CHECK_EQ(wg_frame_decode(b.data, b.len, &g, &id, &why), WG_FRAME_REQUEST);
	CHECK_EQ(g->tasks_ping->n_task_ids, 3);
	CHECK_EQ(g->tasks_ping->task_ids[2], 300000);
	wg_frame_free(g);
	wg_buf_free(&b);
}

TEST(frame_undecodable_body_salvages_request_id)
{
	/* id = 12, then a TasksPing body whose length runs past the end. */
	const uint8_t bytes[] = {0x08, 0x0c, 0x82, 0x02, 0x10, 0x01};
	wg_frame *g;
	uint64_t id;
	const char *why;
	CHECK_EQ(wg_frame_decode(bytes, sizeof bytes, &g, &id, &why), WG_FRAME_BAD);
	CHECK_EQ(id, 12);
}

TEST(frame_request_without_id_is_refused)
{
	struct wg_buf b = {0};
	pack_ping(0, &b);
	wg_frame *g;
	uint64_t id;
	const char *why;
	CHECK_EQ(wg_frame_decode(b.data, b.len, &g, &id, &why), WG_FRAME_BAD);
	CHECK_STREQ(why, "request without a request number");
	wg_buf_free(&b);
}
