/*
 * Unit tests for the message trace's stored record: round trips with and without the
 * optional fields, texts cut and cleaned, and the decoder's refusals of damaged records;
 * and the sweep of purged messages' events (relay_trace_sweep) on a real store.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "relay/relay_priv.h"
#include "tests/unit/unit_tmpdir.h"

static void test_round_trip(void **state)
{
	(void)state;
	const struct relay_trace_event ev = {
		.kind = RELAY_TRACE_ATTEMPT, .at_ms = 1764146615123LL, .peer = "kakao",
		.error = "Connection refused", .has_endpoint = true, .endpoint = 2,
		.status = 503, .has_latency = true, .latency_ms = 17,
		.due_ms = 1764146617000LL, .downstream_rid = "01JDQ3ZMB2R6T0W3K8Y5N1C7QD",
		.why = "DR endpoint"};
	unsigned char buf[RELAY_TRACE_RECORD_MAX];
	struct relay_trace_record r;
	size_t n = relay_trace_encode(&ev, buf);

	assert_int_equal(relay_trace_decode(buf, n, &r), 0);
	assert_int_equal(r.kind, RELAY_TRACE_ATTEMPT);
	assert_true(r.at_ms == ev.at_ms && r.due_ms == ev.due_ms && r.latency_ms == 17);
	assert_true(r.has_endpoint && r.has_latency);
	assert_int_equal(r.endpoint, 2);
	assert_int_equal(r.status, 503);
	assert_string_equal(r.peer, "kakao");
	assert_string_equal(r.error, "Connection refused");
	assert_string_equal(r.downstream_rid, ev.downstream_rid);
	assert_string_equal(r.why, "DR endpoint");
	assert_string_equal(relay_trace_kind_name(r.kind), "attempt");
}

static void test_minimal_and_cleaned(void **state)
{
	(void)state;
	char long_text[400];
	unsigned char buf[RELAY_TRACE_RECORD_MAX];
	struct relay_trace_record r;

	memset(long_text, 'x', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = '\0';
	long_text[3] = '\n';
	struct relay_trace_event ev = {.kind = RELAY_TRACE_FAILED, .at_ms = 5, .error = long_text};
	size_t n = relay_trace_encode(&ev, buf);

	assert_true(n <= RELAY_TRACE_RECORD_MAX);
	assert_int_equal(relay_trace_decode(buf, n, &r), 0);
	assert_false(r.has_endpoint || r.has_latency);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.peer, "");
	assert_int_equal(strlen(r.error), RELAY_TRACE_TEXT_MAX);
	assert_int_equal(r.error[3], '?');
	assert_string_equal(relay_trace_kind_name(RELAY_TRACE_KIND_MAX_), "unknown");
}

static void test_damaged_records_refused(void **state)
{
	(void)state;
	const struct relay_trace_event ev = {.kind = RELAY_TRACE_ACCEPTED, .at_ms = 1,
					     .peer = "origin"};
	unsigned char buf[RELAY_TRACE_RECORD_MAX], bad[RELAY_TRACE_RECORD_MAX];
	struct relay_trace_record r;
	size_t n = relay_trace_encode(&ev, buf);

	for (size_t len = 0; len < n; len++) /* every truncation */
		assert_int_not_equal(relay_trace_decode(buf, len, &r), 0);
	memcpy(bad, buf, n);
	bad[n] = 0; /* a trailing byte */
	assert_int_not_equal(relay_trace_decode(bad, n + 1, &r), 0);
	const size_t at[] = {0, 1, 1, 10, 27, 28};
	const unsigned char val[] = {2, 0, RELAY_TRACE_KIND_MAX_, 4, 200, 0x01};
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		memcpy(bad, buf, n);
		bad[at[i]] = val[i];
		assert_int_not_equal(relay_trace_decode(bad, n, &r), 0);
	}
}

/* ---------------------------------------------------------------- sweep
 * relay_trace_sweep on a real store in a mkdtemp directory. Trace keys are written with
 * KV_PUT (rids made at a chosen time where the test needs one); statuses are real: an
 * insert (its rid at the real clock), then finalise and purge. The sweep's deletes are
 * asynchronous: barrier() waits until the writer has applied them. */

#define SWEEP_STEP     4096             /* relay_trace.c: SWEEP_KEYS */
#define MINUTE         60000LL          /* relay_trace.c: SWEEP_EVERY_MS */
#define HOUR           (3600LL * 1000)
#define DAY            (24 * HOUR)
#define STATUS_KEEP    HOUR             /* the node's status retention */

struct sweep_fx {
	char dir[64];
	struct queue *q;
	struct relay_config cfg;
	struct relay_node node;
	int64_t real_now;                /* when the fixture was made */
};

static int sweep_setup(void **state)
{
	static const char *const tables[] = {RELAY_TRACE_TABLE};
	struct sweep_fx *f = calloc(1, sizeof(*f));
	char err[256];

	assert_non_null(f);
	assert_non_null(ut_mkdtemp(f->dir, sizeof(f->dir), "test_trace"));
	const struct queue_options opt = {.dir = f->dir, .map_size = 16u << 20,
					  .max_map_size = 64u << 20, .sync = QUEUE_SYNC_NONE,
					  .retention_ms = 1000, .tables = tables, .n_tables = 1};
	if (queue_open(&opt, &f->q, err, sizeof(err)) != 0)
		fail_msg("queue_open: %s", err);
	f->cfg.store.status_retention_ms = STATUS_KEEP;
	atomic_store(&f->node.cfg, &f->cfg);
	f->node.q = f->q;
	f->real_now = relay_now_ms();
	*state = f;
	return 0;
}

static int sweep_teardown(void **state)
{
	struct sweep_fx *f = *state;

	queue_close(f->q);
	ut_rm_dir(f->dir);
	free(f);
	return 0;
}

/* A rid of time ms (the rest from tag), as queue_rid_new would make at that time. */
static struct queue_rid rid_at(int64_t ms, unsigned tag)
{
	struct queue_rid r;

	memset(r.b, 0, sizeof(r.b));
	for (int i = 5; i >= 0; i--, ms >>= 8)
		r.b[i] = (unsigned char)ms;
	r.b[14] = (unsigned char)(tag >> 8);
	r.b[15] = (unsigned char)tag;
	return r;
}

static void trace_key(const struct queue_rid *rid, uint32_t seq, unsigned char key[20])
{
	memcpy(key, rid->b, 16);
	for (int i = 3; i >= 0; i--, seq >>= 8)
		key[16 + i] = (unsigned char)seq;
}

static void put_raw(struct queue *q, const void *key, size_t klen)
{
	const struct relay_trace_event ev = {.kind = RELAY_TRACE_ACCEPTED, .at_ms = 1,
					     .peer = "origin"};
	unsigned char val[RELAY_TRACE_RECORD_MAX];
	struct queue_op op = {.type = QUEUE_OP_KV_PUT,
			      .u.kv = {.table = RELAY_TRACE_TABLE, .key = key, .klen = klen,
				       .val = val}};

	op.u.kv.vlen = relay_trace_encode(&ev, val);
	assert_int_equal(queue_exec(q, &op), 0);
}

static void put_event(struct queue *q, const struct queue_rid *rid, uint32_t seq)
{
	unsigned char key[20];

	trace_key(rid, seq, key);
	put_raw(q, key, sizeof(key));
}

static bool has_key(struct queue *q, const void *key, size_t klen)
{
	void *val = NULL;
	size_t vlen;
	int rc = queue_kv_get(q, RELAY_TRACE_TABLE, key, klen, &val, &vlen);

	free(val);
	assert_true(rc == 0 || rc == -QUEUE_ENOTFOUND);
	return rc == 0;
}

static bool has_event(struct queue *q, const struct queue_rid *rid, uint32_t seq)
{
	unsigned char key[20];

	trace_key(rid, seq, key);
	return has_key(q, key, sizeof(key));
}

static int count_one(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	(void)key;
	(void)klen;
	(void)val;
	(void)vlen;
	++*(size_t *)arg;
	return 0;
}

static size_t count_keys(struct queue *q)
{
	size_t n = 0;

	assert_int_equal(queue_kv_scan(q, RELAY_TRACE_TABLE, NULL, 0, NULL, 0, count_one, &n), 0);
	return n;
}

/* Waits until the writer applied what the sweep submitted (the writer keeps their order). */
static void barrier(struct queue *q)
{
	static const unsigned char key[1] = {0xff};
	struct queue_op op = {.type = QUEUE_OP_KV_DEL,
			      .u.kv = {.table = RELAY_TRACE_TABLE, .key = key, .klen = 1}};

	assert_int_equal(queue_exec(q, &op), 0);
}

static void sweep(struct sweep_fx *f, struct relay_trace_sweep *sw, int64_t now)
{
	relay_trace_sweep(&f->node, sw, now);
	barrier(f->q);
}

/* A stored message (its rid at the real clock), live unless purged. */
static struct queue_rid add_message(struct queue *q, const char *id, bool purged)
{
	int64_t now = relay_now_ms();
	struct queue_op op = {.type = QUEUE_OP_INSERT,
			      .u.insert = {.now_ms = now, .src_peer = "origin", .client_id = id,
					   .dst_peer = "kakao", .mode = QUEUE_PUSH, .due_ms = now,
					   .expires_ms = now + DAY, .payload = "x", .len = 1}};
	struct queue_status st;

	assert_int_equal(queue_exec(q, &op), 0);
	struct queue_rid rid = op.u.insert.rid;
	if (purged) {
		op = (struct queue_op){.type = QUEUE_OP_FINALISE,
				       .u.change = {.rid = rid, .now_ms = now,
						    .state = QUEUE_DELIVERED}};
		assert_int_equal(queue_exec(q, &op), 0);
		op = (struct queue_op){.type = QUEUE_OP_PURGE,
				       .u.purge = {.now_ms = now + DAY, .max = 100}};
		assert_int_equal(queue_exec(q, &op), 0);
		assert_int_equal(queue_status_get(q, &rid, &st), -QUEUE_ENOTFOUND);
	} else {
		assert_int_equal(queue_status_get(q, &rid, &st), 0);
	}
	return rid;
}

/* Purged messages lose their events, stored ones keep them, young rids are not looked at
 * (the boundary: a rid exactly the retention old is young). */
static void test_sweep_purged_kept_young(void **state)
{
	struct sweep_fx *f = *state;
	struct relay_trace_sweep sw = {0};
	const int64_t now = f->real_now + DAY; /* every real-clock rid is old by then */
	const struct queue_rid purged = add_message(f->q, "gone", true);
	const struct queue_rid live = add_message(f->q, "live", false);
	const struct queue_rid old = rid_at(now - STATUS_KEEP - 1, 1); /* no status: deleted */
	const struct queue_rid edge = rid_at(now - STATUS_KEEP, 2);     /* no status, young */
	const struct queue_rid young = rid_at(now - 1, 3);             /* no status, young */

	for (uint32_t seq = 0; seq < 3; seq++) {
		put_event(f->q, &purged, seq);
		put_event(f->q, &live, 10 + seq);
	}
	put_event(f->q, &old, 7);
	put_event(f->q, &edge, 8);
	put_event(f->q, &young, 9);
	assert_int_equal(count_keys(f->q), 9);

	sweep(f, &sw, now);
	for (uint32_t seq = 0; seq < 3; seq++) {
		assert_false(has_event(f->q, &purged, seq));
		assert_true(has_event(f->q, &live, 10 + seq));
	}
	assert_false(has_event(f->q, &old, 7));
	assert_true(has_event(f->q, &edge, 8));
	assert_true(has_event(f->q, &young, 9));
	assert_int_equal(count_keys(f->q), 5);
	assert_int_equal(sw.flen, 0);                /* the pass is over */
	assert_true(sw.next_ms == now + MINUTE);     /* the next one in a minute */
}

/* A pass runs at most once a minute: until next_ms a call does nothing. */
static void test_sweep_once_a_minute(void **state)
{
	struct sweep_fx *f = *state;
	struct relay_trace_sweep sw = {0};
	const int64_t now = f->real_now + DAY;
	const struct queue_rid a = rid_at(now - DAY, 1), b = rid_at(now - DAY, 2);

	put_event(f->q, &a, 1);
	sweep(f, &sw, now);
	assert_false(has_event(f->q, &a, 1));
	assert_true(sw.next_ms == now + MINUTE);

	put_event(f->q, &b, 2); /* purged too, but the pass just ran */
	sweep(f, &sw, now + MINUTE - 1);
	assert_true(has_event(f->q, &b, 2));
	assert_true(sw.next_ms == now + MINUTE);
	sweep(f, &sw, now + MINUTE);
	assert_false(has_event(f->q, &b, 2));
	assert_true(sw.next_ms == now + 2 * MINUTE);
}

/* At most 4096 keys a step; the next step, a second later, goes on from just after the
 * last key seen (not from the oldest), until the pass is over. A key of another length
 * (the oldest here) is neither deleted nor counted among the 4096. */
static void test_sweep_bounded_and_resumed(void **state)
{
	struct sweep_fx *f = *state;
	struct relay_trace_sweep sw = {0};
	const int64_t now = f->real_now + DAY;
	const size_t extra = 10;
	const struct queue_rid live = add_message(f->q, "live", false);
	const unsigned char odd[16] = {0}; /* sorts before every trace key */
	unsigned char last[20];

	for (size_t i = 0; i < SWEEP_STEP + extra; i++) { /* two events per rid, oldest first */
		struct queue_rid r = rid_at(now - 2 * DAY + (int64_t)(i / 2), (unsigned)(i / 2));
		put_event(f->q, &r, (uint32_t)(i % 2));
		if (i == SWEEP_STEP - 1)
			trace_key(&r, (uint32_t)(i % 2), last);
	}
	put_event(f->q, &live, 1);
	put_raw(f->q, odd, sizeof(odd));
	assert_int_equal(count_keys(f->q), SWEEP_STEP + extra + 2);

	sweep(f, &sw, now); /* step 1: the oldest 4096 */
	assert_int_equal(count_keys(f->q), extra + 2); /* the rest, live's and odd */
	assert_false(has_key(f->q, last, sizeof(last)));
	assert_int_equal(sw.flen, 21);
	assert_memory_equal(sw.from, last, 20);
	assert_int_equal(sw.from[20], 0);
	assert_true(sw.next_ms == now + 1000);

	/* Behind the cursor: a step that started over from the oldest would delete it. */
	const struct queue_rid behind = rid_at(now - 3 * DAY, 1);
	put_event(f->q, &behind, 1);
	sweep(f, &sw, now + 999); /* not yet */
	assert_int_equal(count_keys(f->q), extra + 3);

	sweep(f, &sw, now + 1000); /* step 2: the rest, and the pass is over */
	assert_int_equal(count_keys(f->q), 3);
	assert_true(has_event(f->q, &behind, 1));
	assert_true(has_event(f->q, &live, 1));
	assert_int_equal(sw.flen, 0);
	assert_true(sw.next_ms == now + 1000 + MINUTE);

	sweep(f, &sw, now + 1000 + MINUTE); /* the next pass starts from the oldest */
	assert_false(has_event(f->q, &behind, 1));
	assert_true(has_event(f->q, &live, 1));
	assert_int_equal(count_keys(f->q), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_minimal_and_cleaned),
		cmocka_unit_test(test_damaged_records_refused),
		cmocka_unit_test_setup_teardown(test_sweep_purged_kept_young, sweep_setup,
						sweep_teardown),
		cmocka_unit_test_setup_teardown(test_sweep_once_a_minute, sweep_setup,
						sweep_teardown),
		cmocka_unit_test_setup_teardown(test_sweep_bounded_and_resumed, sweep_setup,
						sweep_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
