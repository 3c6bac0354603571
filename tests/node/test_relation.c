/* One test per rule of PROTOCOL.md's relationship tables, driving the state machine of
 * node/relation.c directly. Names: rule_<message>_<the rule>. */
#include "harness/test.h"
#include "node/relation.h"

struct fixture {
	struct wg_authz *open;
	struct wg_rel worker, manager;
	struct wg_rel_peer m_on_w; /* the manager as the worker sees it */
	struct wg_rel_peer w_on_m; /* the worker as the manager sees it */
};

static void setup(struct fixture *f)
{
	static const uint8_t mid[32] = {1}, wid[32] = {2};
	f->open = wg_authz_open();
	wg_rel_init(&f->worker, WG_NODE_WORKER, f->open);
	wg_rel_init(&f->manager, WG_NODE_MANAGER, f->open);
	wg_rel_peer_init(&f->m_on_w, mid);
	wg_rel_peer_init(&f->w_on_m, wid);
	/* NodeTypeRequest from the worker, NodeTypeAnswer from the manager. */
	wg_rel_note_type(&f->manager, &f->w_on_m, WG_NODE_WORKER);
	wg_rel_note_type(&f->worker, &f->m_on_w, WG_NODE_MANAGER);
}

static void attach(struct fixture *f)
{
	static const struct wg_specs specs = {.cores = 2, .memory = 1 << 30, .slots = 2};
	CHECK(wg_rel_may_request(&f->worker, &f->m_on_w));
	wg_rel_request_sent(&f->worker, &f->m_on_w);
	bool accepted = wg_rel_answer_manager_request(&f->manager, &f->w_on_m, &specs);
	CHECK(accepted);
	CHECK_EQ(wg_rel_on_manager_answer(&f->worker, &f->m_on_w, accepted), WG_REL_ATTACHED);
}

static void teardown(struct fixture *f)
{
	wg_authz_free(f->open);
}

/* NodeTypeRequest / NodeTypeAnswer */

TEST(rule_node_type_request_records_the_senders_type)
{
	struct fixture f;
	setup(&f);
	CHECK_EQ(f.w_on_m.known_type, WG_NODE_WORKER);
	CHECK_EQ(f.m_on_w.known_type, WG_NODE_MANAGER);
	teardown(&f);
}

TEST(rule_node_type_change_ends_relationship_as_if_bye)
{
	struct fixture f;
	setup(&f);
	attach(&f);
	CHECK(wg_rel_note_type(&f.manager, &f.w_on_m, WG_NODE_MANAGER));
	CHECK(!f.w_on_m.partner);
	CHECK_EQ(f.manager.n_workers, 0);
	CHECK(wg_rel_note_type(&f.worker, &f.m_on_w, WG_NODE_WORKER));
	CHECK(f.worker.manager == NULL);
	/* The same type again is no change. */
	CHECK(!wg_rel_note_type(&f.worker, &f.m_on_w, WG_NODE_WORKER));
	teardown(&f);
}

/* NotMine */

TEST(rule_not_mine_answers_relationship_messages_from_non_partners)
{
	struct fixture f;
	setup(&f);
	CHECK(!wg_rel_on_ping(&f.manager, &f.w_on_m));
	CHECK(!wg_rel_from_my_manager(&f.worker, &f.m_on_w));
	CHECK(!wg_rel_from_my_worker(&f.manager, &f.w_on_m));
	teardown(&f);
}

TEST(rule_not_mine_received_stops_the_relationship)
{
	struct fixture f;
	setup(&f);
	attach(&f);
	CHECK(wg_rel_on_not_mine(&f.worker, &f.m_on_w));
	CHECK(f.worker.manager == NULL);
	CHECK(!wg_rel_from_my_manager(&f.worker, &f.m_on_w));
	CHECK(wg_rel_on_not_mine(&f.manager, &f.w_on_m));
	CHECK(!wg_rel_from_my_worker(&f.manager, &f.w_on_m));
	teardown(&f);
}

/* ManagerRequest */

TEST(rule_manager_request_only_a_worker_sends_it)
{
	struct fixture f;
	setup(&f);
	struct wg_rel_peer other_manager;
	static const uint8_t id[32] = {3};
	wg_rel_peer_init(&other_manager, id);
	wg_rel_note_type(&f.manager, &other_manager, WG_NODE_MANAGER);
	CHECK(!wg_rel_may_request(&f.manager, &other_manager));
	teardown(&f);
}

TEST(rule_manager_request_only_to_a_peer_not_known_as_worker)
{
	struct fixture f;
	setup(&f);
	struct wg_rel_peer w2;
	static const uint8_t id[32] = {4};
	wg_rel_peer_init(&w2, id);
	wg_rel_note_type(&f.worker, &w2, WG_NODE_WORKER);
	CHECK(!wg_rel_may_request(&f.worker, &w2));
	teardown(&f);
}

TEST(rule_manager_request_only_to_an_authorised_manager)
{
	struct fixture f;
	setup(&f);
	struct wg_authz *only_other = wg_authz_empty();
	static const uint8_t other[32] = {9};
	wg_authz_add(only_other, other);
	f.worker.authz = only_other;
	CHECK(!wg_rel_may_request(&f.worker, &f.m_on_w));
	wg_authz_add(only_other, f.m_on_w.id);
	CHECK(wg_rel_may_request(&f.worker, &f.m_on_w));
	wg_authz_free(only_other);
	teardown(&f);
}

TEST(rule_manager_request_not_sent_while_having_a_manager)
{
	struct fixture f;
	setup(&f);
	attach(&f);
	struct wg_rel_peer m2;
	static const uint8_t id[32] = {5};
	wg_rel_peer_init(&m2, id);
	wg_rel_note_type(&f.worker, &m2, WG_NODE_MANAGER);
	CHECK(!wg_rel_may_request(&f.worker, &m2));
	/* After ManagerBye to the current one, it may. */
	CHECK(wg_rel_end(&f.worker, &f.m_on_w));
	CHECK(wg_rel_may_request(&f.worker, &m2));
	teardown(&f);
}

TEST(rule_manager_request_not_sent_twice_while_one_is_pending)
{
	struct fixture f;
	setup(&f);
	wg_rel_request_sent(&f.worker, &f.m_on_w);
	CHECK(!wg_rel_may_request(&f.worker, &f.m_on_w));
	CHECK_EQ(wg_rel_on_manager_answer(&f.worker, &f.m_on_w, false), WG_REL_REJECTED);
	CHECK(wg_rel_may_request(&f.worker, &f.m_on_w));
	teardown(&f);
}

/* ManagerAnswer */

TEST(rule_manager_answer_true_makes_a_the_manager_of_b)
{
	struct fixture f;
	setup(&f);
	attach(&f);
	CHECK(f.worker.manager == &f.m_on_w);
	CHECK(f.w_on_m.partner);
	CHECK_EQ(f.w_on_m.specs.cores, 2);
	CHECK(wg_rel_from_my_manager(&f.worker, &f.m_on_w));
	CHECK(wg_rel_from_my_worker(&f.manager, &f.w_on_m));
	CHECK_EQ(f.manager.n_workers, 1);
	teardown(&f);
}

TEST(rule_manager_answer_ignored_when_already_in_relationship)
{
	struct fixture f;
	setup(&f);
	attach(&f);
	CHECK_EQ(wg_rel_on_manager_answer(&f.worker, &f.m_on_w, false), WG_REL_CHECK_PING);
	CHECK(f.worker.manager == &f.m_on_w);
	CHECK_EQ(wg_rel_on_manager_answer(&f.worker, &f.m_on_w, true), WG_REL_CHECK_PING);
	teardown(&f);
}

TEST(rule_manager_answer_false_is_not_final)
{
	struct fixture f;
	setup(&f);
	static const struct wg_specs specs = {.cores = 1};
	f.manager.max_workers = 1;
	struct wg_rel_peer other;
	static const uint8_t id[32] = {6};
	wg_rel_peer_init(&other, id);
	wg_rel_note_type(&f.manager, &other, WG_NODE_WORKER);
	CHECK(wg_rel_answer_manager_request(&f.manager, &other, &specs));
	CHECK(!wg_rel_answer_manager_request(&f.manager, &f.w_on_m, &specs));
	/* The manager frees a place: the same worker may now be accepted. */
	CHECK(wg_rel_on_bye(&f.manager, &other));
	CHECK(wg_rel_answer_manager_request(&f.manager, &f.w_on_m, &specs));
	teardown(&f);
}

TEST(rule_manager_answer_a_manager_decides)
{
	struct fixture f;
	setup(&f);
	static const struct wg_specs specs = {.cores = 1};
	struct wg_authz *none = wg_authz_empty();
	f.manager.authz = none;
	CHECK(!wg_rel_answer_manager_request(&f.manager, &f.w_on_m, &specs));
	f.manager.authz = f.open;
	CHECK(wg_rel_answer_manager_request(&f.manager, &f.w_on_m, &specs));
	wg_authz_free(none);
	teardown(&f);
}

TEST(rule_manager_answer_a_worker_sends_false)
{
	struct fixture f;
	setup(&f);
	static const struct wg_specs specs = {.cores = 1};
	struct wg_rel_peer w2;
	static const uint8_t id[32] = {7};
	wg_rel_peer_init(&w2, id);
	wg_rel_note_type(&f.worker, &w2, WG_NODE_WORKER);
	CHECK(!wg_rel_answer_manager_request(&f.worker, &w2, &specs));
	CHECK(!w2.partner);
	teardown(&f);
}

TEST(rule_manager_answer_false_when_requester_not_known_as_worker)
{
	struct fixture f;
	setup(&f);
	static const struct wg_specs specs = {.cores = 1};
	struct wg_rel_peer stranger;
	static const uint8_t id[32] = {8};
	wg_rel_peer_init(&stranger, id);
	CHECK(!wg_rel_answer_manager_request(&f.manager, &stranger, &specs));
	wg_rel_note_type(&f.manager, &stranger, WG_NODE_MANAGER);
	CHECK(!wg_rel_answer_manager_request(&f.manager, &stranger, &specs));
	teardown(&f);
}

TEST(rule_manager_answer_accepted_but_worker_has_another_manager_sends_bye)
{
	struct fixture f;
	setup(&f);
	attach(&f);
	struct wg_rel_peer m2;
	static const uint8_t id[32] = {10};
	wg_rel_peer_init(&m2, id);
	wg_rel_note_type(&f.worker, &m2, WG_NODE_MANAGER);
	CHECK_EQ(wg_rel_on_manager_answer(&f.worker, &m2, true), WG_REL_SEND_BYE);
	CHECK(f.worker.manager == &f.m_on_w);
	CHECK(!m2.partner);
	teardown(&f);
}

TEST(rule_manager_answer_accepted_but_b_is_a_manager_sends_bye)
{
	struct fixture f;
	setup(&f);
	struct wg_rel_peer m2;
	static const uint8_t id[32] = {11};
	wg_rel_peer_init(&m2, id);
	wg_rel_note_type(&f.manager, &m2, WG_NODE_MANAGER);
	CHECK_EQ(wg_rel_on_manager_answer(&f.manager, &m2, true), WG_REL_SEND_BYE);
	CHECK(!m2.partner);
	teardown(&f);
}

TEST(rule_manager_answer_accepted_but_a_not_allowed_sends_bye)
{
	struct fixture f;
	setup(&f);
	struct wg_authz *none = wg_authz_empty();
	f.worker.authz = none;
	CHECK_EQ(wg_rel_on_manager_answer(&f.worker, &f.m_on_w, true), WG_REL_SEND_BYE);
	CHECK(f.worker.manager == NULL);
	wg_authz_free(none);
	teardown(&f);
}

TEST(rule_manager_answer_accepted_but_a_unknown_or_worker_sends_bye)
{
	struct fixture f;
	setup(&f);
	struct wg_rel_peer unknown;
	static const uint8_t id[32] = {12};
	wg_rel_peer_init(&unknown, id);
	CHECK_EQ(wg_rel_on_manager_answer(&f.worker, &unknown, true), WG_REL_SEND_BYE);
	wg_rel_note_type(&f.worker, &unknown, WG_NODE_WORKER);
	CHECK_EQ(wg_rel_on_manager_answer(&f.worker, &unknown, true), WG_REL_SEND_BYE);
	CHECK(f.worker.manager == NULL);
	teardown(&f);
}

/* ManagerBye */

TEST(rule_manager_bye_from_non_partner_does_nothing)
{
	struct fixture f;
	setup(&f);
	CHECK(!wg_rel_on_bye(&f.manager, &f.w_on_m));
	CHECK(!wg_rel_on_bye(&f.worker, &f.m_on_w));
	CHECK_EQ(f.manager.n_workers, 0);
	teardown(&f);
}

TEST(rule_manager_bye_from_partner_stops_relationship_messages)
{
	struct fixture f;
	setup(&f);
	attach(&f);
	CHECK(wg_rel_on_bye(&f.manager, &f.w_on_m));
	CHECK(!wg_rel_from_my_worker(&f.manager, &f.w_on_m));
	CHECK(!wg_rel_on_ping(&f.manager, &f.w_on_m));
	CHECK(wg_rel_end(&f.worker, &f.m_on_w)); /* the sender's side */
	CHECK(!wg_rel_from_my_manager(&f.worker, &f.m_on_w));
	teardown(&f);
}

/* ManagerPing */

TEST(rule_manager_ping_between_partners_gets_pong)
{
	struct fixture f;
	setup(&f);
	attach(&f);
	CHECK(wg_rel_on_ping(&f.manager, &f.w_on_m));
	CHECK(wg_rel_on_ping(&f.worker, &f.m_on_w));
	teardown(&f);
}

TEST(rule_manager_ping_after_relationship_ended_gets_not_mine)
{
	struct fixture f;
	setup(&f);
	attach(&f);
	wg_rel_end(&f.manager, &f.w_on_m);
	CHECK(!wg_rel_on_ping(&f.manager, &f.w_on_m));
	/* The pinging worker then drops its side on NotMine. */
	CHECK(wg_rel_on_not_mine(&f.worker, &f.m_on_w));
	CHECK(f.worker.manager == NULL);
	teardown(&f);
}

/* Task messages: who may send them */

TEST(rule_tasks_execute_ping_abort_need_sender_to_be_my_manager)
{
	struct fixture f;
	setup(&f);
	CHECK(!wg_rel_from_my_manager(&f.worker, &f.m_on_w));
	attach(&f);
	CHECK(wg_rel_from_my_manager(&f.worker, &f.m_on_w));
	/* A manager never takes manager-to-worker messages. */
	CHECK(!wg_rel_from_my_manager(&f.manager, &f.w_on_m));
	teardown(&f);
}

TEST(rule_task_started_error_completed_need_sender_to_be_my_worker)
{
	struct fixture f;
	setup(&f);
	CHECK(!wg_rel_from_my_worker(&f.manager, &f.w_on_m));
	attach(&f);
	CHECK(wg_rel_from_my_worker(&f.manager, &f.w_on_m));
	CHECK(!wg_rel_from_my_worker(&f.worker, &f.m_on_w));
	teardown(&f);
}
