/*
 * Unit tests for queue/ (queue.h): rids, opening, every operation and its edges, reads,
 * counts, a full and a growing map, closing, many producer threads. Each test has a fresh
 * store in a mkdtemp directory and explicit times around T0 (year 2096): the writer's
 * background purge uses the real clock, so it never reaches what a test finalises.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <errno.h>

#include <cmocka.h>
#include <lmdb.h> /* only to damage a store as another version or a bad disk would */

#include "queue/queue.h"
#include "tests/unit/unit_tmpdir.h"

#define T0             4000000000000LL /* ms, year 2096: beyond the real clock */
#define DAY            (86400LL * 1000)
#define LONG_RETENTION (36500LL * DAY) /* nothing is purged unless a test means it */
#define MIB            (1024ull * 1024)
#define N_OF(a)        (sizeof(a) / sizeof((a)[0]))
#define ANY            (-1) /* expect_st: not checked */

struct fx {
	char dir[64];
	struct queue_options opt;
	struct queue *q;
};

/* ------------------------------------------------------------ fixture */

static void fx_open(struct fx *f)
{
	char err[256];
	int rc = queue_open(&f->opt, &f->q, err, sizeof(err));
	if (rc != 0)
		fail_msg("queue_open: %d %s", rc, err);
}

/* Closes and opens again, with the options as the test left them. */
static void fx_reopen(struct fx *f)
{
	queue_close(f->q);
	f->q = NULL;
	fx_open(f);
}

static void fx_close(struct fx *f)
{
	queue_close(f->q);
	f->q = NULL;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	assert_non_null(ut_mkdtemp(f->dir, sizeof(f->dir), "test_queue"));
	static const char *const tables[] = {"peers", "directory"};
	f->opt = (struct queue_options){.dir = f->dir, .map_size = 16 * MIB,
					.max_map_size = 64 * MIB, .sync = QUEUE_SYNC_NONE,
					.retention_ms = LONG_RETENTION, .tables = tables,
					.n_tables = N_OF(tables)};
	fx_open(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	queue_close(f->q);
	ut_rm_dir(f->dir);
	free(f);
	return 0;
}

/* ---------------------------------------------------------- operations */

/* A push insert expiring a day after now; its payload is the id when p is NULL. */
static struct queue_op ins_op(const char *src, const char *id, const char *dst, int64_t now,
			      int64_t due, const void *p, size_t len)
{
	return (struct queue_op){.type = QUEUE_OP_INSERT,
				 .u.insert = {.now_ms = now, .src_peer = src, .client_id = id,
					      .dst_peer = dst, .mode = QUEUE_PUSH, .due_ms = due,
					      .expires_ms = now + DAY, .payload = p ? p : id,
					      .len = p ? len : strlen(id)}};
}

static int add_full(struct queue *q, const char *src, const char *id, const char *dst,
		    enum queue_mode mode, int64_t now, int64_t expires, const void *payload,
		    size_t len, struct queue_rid *rid, bool *dup)
{
	struct queue_op op = ins_op(src, id, dst, now, now, payload, len);
	op.u.insert.mode = mode;
	op.u.insert.expires_ms = expires;
	op.u.insert.payload = payload;
	int rc = queue_exec(q, &op);
	if (rid)
		*rid = op.u.insert.rid;
	if (dup)
		*dup = op.u.insert.duplicate;
	return rc;
}

/* A new message from "src" whose payload is its id; expires a day after now. */
static struct queue_rid add(struct queue *q, const char *id, const char *dst,
			    enum queue_mode mode, int64_t now, int64_t due)
{
	struct queue_op op = ins_op("src", id, dst, now, due, NULL, 0);
	op.u.insert.mode = mode;
	assert_int_equal(queue_exec(q, &op), 0);
	assert_false(op.u.insert.duplicate);
	return op.u.insert.rid;
}

/* LEASE (peer NULL) or PULL; the caller frees op->u.lease.msgs. */
static int take(struct queue *q, struct queue_op *op, const char *peer, int64_t now,
		int64_t lease_ms, size_t max)
{
	*op = (struct queue_op){.type = peer ? QUEUE_OP_PULL : QUEUE_OP_LEASE,
				.u.lease = {.now_ms = now, .lease_ms = lease_ms, .max = max,
					    .peer = peer}};
	return queue_exec(q, op);
}

/* Takes, and checks that exactly the rids want[0..n) came, in that order. */
static void take_expect(struct queue *q, const char *peer, int64_t now, int64_t lease_ms,
			size_t max, const struct queue_rid *want, size_t n)
{
	struct queue_op op;
	assert_int_equal(take(q, &op, peer, now, lease_ms, max), 0);
	assert_int_equal(op.u.lease.n, n);
	for (size_t i = 0; i < n; i++)
		assert_memory_equal(op.u.lease.msgs[i].st.rid.b, want[i].b, 16);
	queue_msgs_free(op.u.lease.msgs, op.u.lease.n);
}

static int change(struct queue *q, enum queue_op_type type, struct queue_rid rid, int64_t now,
		  int64_t due, enum queue_state state, const char *error, const char *route)
{
	struct queue_op op = {.type = type,
			      .u.change = {.rid = rid, .now_ms = now, .due_ms = due,
					   .state = state, .error = error, .route = route}};
	return queue_exec(q, &op);
}

/* The longest status there is: every name and text at its maximum. Its record once took two
 * bytes more than the writer's buffer (a stack overflow the ASan run of this test catches). */
static void test_longest_status(void **state)
{
	struct fx *f = *state;
	char src[QUEUE_NAME_MAX + 1], id[QUEUE_NAME_MAX + 1], dst[QUEUE_NAME_MAX + 1];
	char error[QUEUE_TEXT_MAX + 1], route[QUEUE_TEXT_MAX + 1];
	struct queue_status st;
	struct queue_rid rid;

	memset(src, 's', QUEUE_NAME_MAX);
	memset(id, 'i', QUEUE_NAME_MAX);
	memset(dst, 'd', QUEUE_NAME_MAX);
	memset(error, 'e', QUEUE_TEXT_MAX);
	memset(route, 'r', QUEUE_TEXT_MAX);
	src[QUEUE_NAME_MAX] = id[QUEUE_NAME_MAX] = dst[QUEUE_NAME_MAX] = '\0';
	error[QUEUE_TEXT_MAX] = route[QUEUE_TEXT_MAX] = '\0';
	assert_int_equal(add_full(f->q, src, id, dst, QUEUE_PUSH, T0, T0 + DAY, "x", 1, &rid, NULL),
			 0);
	assert_int_equal(change(f->q, QUEUE_OP_FINALISE, rid, T0 + 1, 0, QUEUE_FAILED, error, route),
			 0);
	assert_int_equal(queue_status_get(f->q, &rid, &st), 0);
	assert_string_equal(st.src_peer, src);
	assert_string_equal(st.client_id, id);
	assert_string_equal(st.dst_peer, dst);
	assert_string_equal(st.last_error, error);
	assert_string_equal(st.route, route);
	assert_int_equal(st.state, QUEUE_FAILED);
}

static int resched(struct queue *q, struct queue_rid rid, int64_t now, int64_t due)
{
	return change(q, QUEUE_OP_RESCHEDULE, rid, now, due, 0, NULL, NULL);
}

static int finalise(struct queue *q, struct queue_rid rid, int64_t now, enum queue_state s)
{
	return change(q, QUEUE_OP_FINALISE, rid, now, 0, s, NULL, NULL);
}

static size_t purge(struct queue *q, int64_t now, size_t max)
{
	struct queue_op op = {.type = QUEUE_OP_PURGE, .u.purge = {.now_ms = now, .max = max}};
	assert_int_equal(queue_exec(q, &op), 0);
	return op.u.purge.purged;
}

/* ------------------------------------------------------------- reads */

static struct queue_status status(struct queue *q, struct queue_rid rid)
{
	struct queue_status st;
	assert_int_equal(queue_status_get(q, &rid, &st), 0);
	return st;
}

static void expect_st(struct queue *q, struct queue_rid rid, enum queue_state s, int attempts,
		      int64_t due)
{
	struct queue_status st = status(q, rid);
	assert_int_equal(st.state, s);
	if (attempts != ANY)
		assert_int_equal(st.attempts, attempts);
	if (due != ANY)
		assert_int_equal(st.due_ms, due);
}

static bool gone(struct queue *q, struct queue_rid rid)
{
	struct queue_status st;
	return queue_status_get(q, &rid, &st) == -QUEUE_ENOTFOUND;
}

static struct queue_peer_counts counts(struct queue *q, const char *peer)
{
	struct queue_peer_counts c;
	assert_int_equal(queue_peer_counts(q, peer, &c), 0);
	return c;
}

static void assert_counts(struct queue *q, const char *peer, uint64_t queued, uint64_t delivering,
			  uint64_t delivered, uint64_t expired, uint64_t failed)
{
	const uint64_t want[QUEUE_STATE_MAX_] = {0,         queued,  delivering,
						 delivered, expired, failed};
	struct queue_peer_counts c = counts(q, peer);
	for (int s = QUEUE_QUEUED; s < QUEUE_STATE_MAX_; s++)
		if (c.state[s] != want[s])
			fail_msg("%s: %s %llu, expected %llu", peer, queue_state_name(s),
				 (unsigned long long)c.state[s], (unsigned long long)want[s]);
}

/* ------------------------------------------------------------- threads */

/* Counts completions of queue_submit: done() runs on the writer thread. */
struct waitgroup {
	pthread_mutex_t m;
	pthread_cond_t c;
	int n;
};
#define WAITGROUP_INIT {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0}

static void wg_done(struct queue_op *op)
{
	struct waitgroup *w = op->arg;
	pthread_mutex_lock(&w->m);
	w->n++;
	pthread_cond_broadcast(&w->c);
	pthread_mutex_unlock(&w->m);
}

static void wg_wait(struct waitgroup *w, int n)
{
	pthread_mutex_lock(&w->m);
	while (w->n < n)
		pthread_cond_wait(&w->c, &w->m);
	pthread_mutex_unlock(&w->m);
}

/* A gate holds the writer inside a done() so that everything submitted meanwhile is
 * taken as one batch (one transaction) when it opens. */
struct gate {
	pthread_mutex_t m;
	pthread_cond_t c;
	bool entered, open;
	struct queue_op op;
};

static void gate_done(struct queue_op *op)
{
	struct gate *g = op->arg;
	pthread_mutex_lock(&g->m);
	g->entered = true;
	pthread_cond_broadcast(&g->c);
	while (!g->open)
		pthread_cond_wait(&g->c, &g->m);
	pthread_mutex_unlock(&g->m);
}

static void gate_hold(struct queue *q, struct gate *g)
{
	*g = (struct gate){.m = PTHREAD_MUTEX_INITIALIZER, .c = PTHREAD_COND_INITIALIZER};
	g->op = (struct queue_op){.type = QUEUE_OP_PURGE, .done = gate_done, .arg = g,
				  .u.purge = {.now_ms = 0, .max = 1}};
	queue_submit(q, &g->op);
	pthread_mutex_lock(&g->m);
	while (!g->entered)
		pthread_cond_wait(&g->c, &g->m);
	pthread_mutex_unlock(&g->m);
}

static void gate_release(struct gate *g)
{
	pthread_mutex_lock(&g->m);
	g->open = true;
	pthread_cond_broadcast(&g->c);
	pthread_mutex_unlock(&g->m);
}

/* Submits ops[0..n) with wg counting, and waits for all of them. */
static void submit_all(struct queue *q, struct queue_op *ops, int n, struct gate *g)
{
	struct waitgroup wg = WAITGROUP_INIT;
	if (g)
		gate_hold(q, g);
	for (int i = 0; i < n; i++) {
		ops[i].done = wg_done;
		ops[i].arg = &wg;
		queue_submit(q, &ops[i]);
	}
	if (g)
		gate_release(g);
	wg_wait(&wg, n);
}

/* Writes one value into a named database of a closed store, as another program could. */
static void raw_put(const char *dir, const char *db, const void *k, size_t klen, const void *v,
		    size_t vlen)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	char path[128];
	MDB_val key = {klen, (void *)k}, val = {vlen, (void *)v};

	snprintf(path, sizeof(path), "%s/store.mdb", dir);
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
	assert_int_equal(mdb_env_open(env, path, MDB_NOSUBDIR, 0640), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, db, 0, &dbi), 0);
	assert_int_equal(mdb_put(txn, dbi, &key, &val, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

/* ---------------------------------------------------------------- rids */

static void test_rid_new_and_time(void **state)
{
	(void)state;
	struct queue_rid prev, cur, t = {{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0xff}};
	int64_t before = (int64_t)time(NULL) * 1000;

	queue_rid_new(&prev);
	for (int i = 0; i < 100000; i++) {
		queue_rid_new(&cur);
		if (memcmp(prev.b, cur.b, 16) >= 0)
			fail_msg("rid %d is not above the one before", i);
		prev = cur;
	}
	assert_true(queue_rid_time_ms(&cur) >= before);
	assert_true(queue_rid_time_ms(&cur) <= ((int64_t)time(NULL) + 1) * 1000);
	assert_int_equal(queue_rid_time_ms(&t), 0x010203040506LL);
}

static void test_rid_text(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		size_t len; /* 0: strlen */
		int rc;
		const char *same; /* parses to the same rid, and is what format writes */
	} cases[] = {
		{"00000000000000000000000000", 0, 0, NULL},
		{"7ZZZZZZZZZZZZZZZZZZZZZZZZZ", 0, 0, NULL}, /* the largest: 130 bits, 2 spare */
		{"01arz3ndektsv4rrffq69g5fav", 0, 0, "01ARZ3NDEKTSV4RRFFQ69G5FAV"},
		{"OIiLl11111111111111111111o", 0, 0, "01111111111111111111111110"},
		{"8ZZZZZZZZZZZZZZZZZZZZZZZZZ", 0, -QUEUE_EINVAL, NULL},
		{"Z0000000000000000000000000", 0, -QUEUE_EINVAL, NULL},
		{"", 0, -QUEUE_EINVAL, NULL},
		{"01ARZ3NDEKTSV4RRFFQ69G5FA", 0, -QUEUE_EINVAL, NULL},
		{"01ARZ3NDEKTSV4RRFFQ69G5FAVX", 0, -QUEUE_EINVAL, NULL},
		{"01ARZ3NDEKTSV4RRFFQ69G5FAU", 0, -QUEUE_EINVAL, NULL}, /* U: not Crockford */
		{"01ARZ3NDEKTSV4RRFFQ69G5FA!", 0, -QUEUE_EINVAL, NULL},
		{"01ARZ3NDEKTSV4RRFFQ69G5FA ", 0, -QUEUE_EINVAL, NULL},
		{"01ARZ3NDEKTSV4RRFF-69G5FAV", 0, -QUEUE_EINVAL, NULL},
		{"01ARZ3NDEKTSV4\0RFFQ69G5FAV", 26, -QUEUE_EINVAL, NULL},
		{"01ARZ3NDEKTSV4RRFFQ69G5FA\xc3", 0, -QUEUE_EINVAL, NULL},
	};
	struct queue_rid rid, other;
	char text[QUEUE_RID_TEXT + 1];

	for (size_t i = 0; i < N_OF(cases); i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].text);
		if (queue_rid_parse(cases[i].text, len, &rid) != cases[i].rc)
			fail_msg("case %zu (%s): expected %d", i, cases[i].text, cases[i].rc);
		if (cases[i].rc != 0)
			continue;
		const char *want = cases[i].same ? cases[i].same : cases[i].text;
		assert_int_equal(queue_rid_parse(want, strlen(want), &other), 0);
		assert_memory_equal(rid.b, other.b, 16);
		queue_rid_format(&rid, text);
		assert_string_equal(text, want);
	}
	assert_int_equal(queue_rid_parse(NULL, 26, &rid), -QUEUE_EINVAL);
	for (int i = 0; i < 2000; i++) { /* round trips of random and of new rids */
		for (int j = 0; j < 16; j++)
			rid.b[j] = (unsigned char)rand();
		if (i % 2)
			queue_rid_new(&rid);
		queue_rid_format(&rid, text);
		assert_int_equal(strlen(text), QUEUE_RID_TEXT);
		assert_int_equal(queue_rid_parse(text, QUEUE_RID_TEXT, &other), 0);
		assert_memory_equal(rid.b, other.b, 16);
	}
}

static void test_strerror_state_name(void **state)
{
	(void)state;
	static const char *const names[] = {NULL,      "queued", "delivering", "delivered",
					    "expired", "failed", "held"};

	for (int i = 1; i < QUEUE_EMAX_; i++) {
		const char *s = queue_strerror(-i);
		assert_true(s && s[0] != '\0');
		assert_string_equal(s, queue_strerror(i));
		assert_string_not_equal(s, queue_strerror(QUEUE_EMAX_)); /* not "unknown" */
		for (int j = 0; j < i; j++)
			assert_string_not_equal(s, queue_strerror(-j));
	}
	for (int s = QUEUE_QUEUED; s < QUEUE_STATE_MAX_; s++)
		assert_string_equal(queue_state_name((enum queue_state)s), names[s]);
	assert_string_equal(queue_state_name(0), "unknown");
	assert_string_equal(queue_state_name(QUEUE_STATE_MAX_), "unknown");
	queue_close(NULL); /* no-ops */
	queue_msgs_free(NULL, 0);
}

/* -------------------------------------------------------------- opening */

static void test_open_invalid(void **state)
{
	struct fx *f = *state;
	struct queue *q = NULL;
	char err[128];
	struct queue_options bad[5];

	for (size_t i = 0; i < N_OF(bad); i++)
		bad[i] = f->opt;
	bad[0].dir = NULL;
	bad[1].map_size = 0;
	bad[2].max_map_size = f->opt.map_size - 1;
	bad[3].max_map_size = 0;
	bad[4].dir = "/nonexistent/interlink-test"; /* not invalid: fails to open */
	assert_int_equal(queue_open(NULL, &q, err, sizeof(err)), -QUEUE_EINVAL);
	assert_int_equal(queue_open(&bad[0], &q, NULL, 0), -QUEUE_EINVAL); /* err optional */
	for (size_t i = 0; i < N_OF(bad); i++) {
		err[0] = '\0';
		assert_int_equal(queue_open(&bad[i], &q, err, sizeof(err)),
				 i < 4 ? -QUEUE_EINVAL : -QUEUE_EIO);
		assert_true(err[0] != '\0');
	}
	assert_non_null(strstr(err, "/nonexistent/interlink-test"));
	assert_null(q);
}

static void test_open_reopen_keeps(void **state)
{
	struct fx *f = *state;
	unsigned char bin[300], *p;
	struct queue_rid a, b, c, r;
	struct queue_status before[3], after;
	struct queue_peer_counts c1, c2, d1, d2;
	size_t len;
	bool dup;

	for (size_t i = 0; i < sizeof(bin); i++)
		bin[i] = (unsigned char)(i * 7); /* NULs included */
	assert_int_equal(add_full(f->q, "src", "a", "p1", QUEUE_PUSH, T0, T0 + DAY, bin,
				  sizeof(bin), &a, &dup), 0);
	b = add(f->q, "b", "p2", QUEUE_PULL, T0, 0);
	c = add(f->q, "c", "p1", QUEUE_PUSH, T0, T0 + 5);
	take_expect(f->q, NULL, T0, 1000, 1, &a, 1);
	assert_int_equal(change(f->q, QUEUE_OP_FINALISE, c, T0 + 1, 0, QUEUE_FAILED, "rejected",
				"route-x"), 0);
	before[0] = status(f->q, a), before[1] = status(f->q, b), before[2] = status(f->q, c);
	c1 = counts(f->q, "p1"), c2 = counts(f->q, "p2");

	fx_reopen(f);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(queue_status_get(f->q, &before[i].rid, &after), 0);
		assert_memory_equal(&after, &before[i], sizeof(after)); /* zeroed, then filled */
	}
	expect_st(f->q, a, QUEUE_DELIVERING, 1, T0 + 1000);
	assert_int_equal(queue_payload_get(f->q, &a, &p, &len), 0);
	assert_int_equal(len, sizeof(bin));
	assert_memory_equal(p, bin, sizeof(bin));
	free(p);
	assert_int_equal(queue_payload_get(f->q, &c, &p, &len), -QUEUE_ENOTFOUND);
	d1 = counts(f->q, "p1"), d2 = counts(f->q, "p2");
	assert_memory_equal(&c1, &d1, sizeof(c1));
	assert_memory_equal(&c2, &d2, sizeof(c2));
	assert_counts(f->q, "p1", 0, 1, 0, 0, 1);
	/* idempotency keys and the lease survive too */
	assert_int_equal(add_full(f->q, "src", "a", "p1", QUEUE_PUSH, T0, T0 + DAY, "x", 1, &r,
				  &dup), 0);
	assert_true(dup);
	assert_memory_equal(r.b, a.b, 16);
	take_expect(f->q, NULL, T0 + 999, 1000, 10, NULL, 0);
}

static void test_schema_mismatch(void **state)
{
	struct fx *f = *state;
	struct queue *q = NULL;
	char err[512];
	uint32_t v2 = 2;

	fx_close(f);
	raw_put(f->dir, "meta", "schema", 6, &v2, sizeof(v2));
	assert_int_equal(queue_open(&f->opt, &q, err, sizeof(err)), -QUEUE_ESCHEMA);
	assert_null(q);
	assert_non_null(strstr(err, "schema version 2"));
	assert_non_null(strstr(err, f->dir));
	raw_put(f->dir, "meta", "schema", 6, "x", 1); /* unreadable version */
	assert_int_equal(queue_open(&f->opt, &q, err, sizeof(err)), -QUEUE_ESCHEMA);
	assert_non_null(strstr(err, "schema"));
	/* not a store at all */
	char path[128], junk[16384];
	snprintf(path, sizeof(path), "%s/store.mdb", f->dir);
	memset(junk, 'x', sizeof(junk));
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fwrite(junk, 1, sizeof(junk), fp), sizeof(junk));
	fclose(fp);
	int rc = queue_open(&f->opt, &q, err, sizeof(err));
	assert_true(rc == -QUEUE_ECORRUPT || rc == -QUEUE_EIO);
	assert_non_null(strstr(err, path));
}

static void test_sync_full(void **state)
{
	struct fx *f = *state;
	f->opt.sync = QUEUE_SYNC_FULL;
	fx_reopen(f);
	struct queue_rid a = add(f->q, "a", "p", QUEUE_PUSH, T0, T0);
	assert_int_equal(finalise(f->q, add(f->q, "b", "p", QUEUE_PUSH, T0, T0), T0,
				  QUEUE_DELIVERED), 0);
	fx_reopen(f);
	expect_st(f->q, a, QUEUE_QUEUED, 0, T0);
	assert_counts(f->q, "p", 1, 0, 1, 0, 0);
}

/* --------------------------------------------------------------- insert */

#define N64 "0123456789012345678901234567890123456789012345678901234567890123"
#define N65 N64 "4"

static void test_insert_invalid(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *src, *id, *dst;
		int mode;
		int64_t expires;
		const char *payload;
		size_t len;
	} cases[] = {
		{NULL, "id", "dst", QUEUE_PUSH, T0 + 1, "x", 1},
		{"", "id", "dst", QUEUE_PUSH, T0 + 1, "x", 1},
		{N65, "id", "dst", QUEUE_PUSH, T0 + 1, "x", 1},
		{"src", NULL, "dst", QUEUE_PUSH, T0 + 1, "x", 1},
		{"src", "", "dst", QUEUE_PUSH, T0 + 1, "x", 1},
		{"src", N65, "dst", QUEUE_PUSH, T0 + 1, "x", 1},
		{"src", "has space", "dst", QUEUE_PUSH, T0 + 1, "x", 1},
		{"src", "id", NULL, QUEUE_PUSH, T0 + 1, "x", 1},
		{"src", "id", "", QUEUE_PUSH, T0 + 1, "x", 1},
		{"src", "id", N65, QUEUE_PUSH, T0 + 1, "x", 1},
		{"src", "id", "dst\n", QUEUE_PUSH, T0 + 1, "x", 1},
		{"src", "id", "dst", QUEUE_PUSH, T0 + 1, "x", 0}, /* empty payload */
		{"src", "id", "dst", QUEUE_PUSH, T0 + 1, NULL, 1},
		{"src", "id", "dst", QUEUE_PUSH, T0, "x", 1}, /* expires == now */
		{"src", "id", "dst", QUEUE_PULL, T0 - 1, "x", 1},
		{"src", "id", "dst", 0, T0 + 1, "x", 1}, /* bad modes */
		{"src", "id", "dst", 3, T0 + 1, "x", 1},
	};
	struct queue_rid rid;
	bool dup;

	for (size_t i = 0; i < N_OF(cases); i++) {
		int rc = add_full(f->q, cases[i].src, cases[i].id, cases[i].dst,
				  (enum queue_mode)cases[i].mode, T0, cases[i].expires,
				  cases[i].payload, cases[i].len, &rid, &dup);
		if (rc != -QUEUE_EINVAL || dup)
			fail_msg("case %zu: rc %d", i, rc);
	}
	assert_int_equal(add_full(f->q, N64, N64, N64, QUEUE_PUSH, T0, T0 + 1, "x", 1, &rid, &dup),
			 0); /* 64 is the longest name */
	assert_counts(f->q, N64, 1, 0, 0, 0, 0);
	assert_counts(f->q, "dst", 0, 0, 0, 0, 0);
	assert_int_equal(queue_peer_counts(f->q, N65, &(struct queue_peer_counts){0}),
			 -QUEUE_EINVAL);
	struct queue_op op = {.type = (enum queue_op_type)99};
	assert_int_equal(queue_exec(f->q, &op), -QUEUE_EINVAL);
}

/* New rids are appended to the message and status trees; a store that already holds a later
 * rid (the clock stepped back across a restart) still takes inserts, by plain puts. */
static void test_insert_behind_later_rid(void **state)
{
	struct fx *f = *state;
	static const unsigned char later[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
						0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	struct queue_rid a = add(f->q, "a", "p", QUEUE_PUSH, T0, T0), b, c, r;
	struct queue_status before = status(f->q, a), after;
	unsigned char *p;
	size_t len;

	fx_close(f);
	raw_put(f->dir, "msg", later, 16, "later", 5);
	raw_put(f->dir, "status", later, 16, "\x01garbage", 8);
	fx_open(f);
	b = add(f->q, "b", "p", QUEUE_PUSH, T0, T0 + 1);
	c = add(f->q, "c", "p", QUEUE_PUSH, T0, T0 + 2);
	assert_true(memcmp(b.b, later, 16) < 0 && memcmp(c.b, later, 16) < 0);
	expect_st(f->q, b, QUEUE_QUEUED, 0, T0 + 1);
	expect_st(f->q, c, QUEUE_QUEUED, 0, T0 + 2);
	assert_int_equal(queue_payload_get(f->q, &c, &p, &len), 0);
	assert_int_equal(len, 1);
	assert_memory_equal(p, "c", 1);
	free(p);
	memcpy(r.b, later, 16);
	assert_int_equal(queue_payload_get(f->q, &r, &p, &len), 0); /* nothing overwritten */
	assert_memory_equal(p, "later", 5);
	free(p);
	assert_int_equal(queue_status_get(f->q, &a, &after), 0);
	assert_memory_equal(&after, &before, sizeof(after));
	take_expect(f->q, NULL, T0 + 2, 1000, 10, (struct queue_rid[]){a, b, c}, 3);
}

static void test_duplicate(void **state)
{
	struct fx *f = *state;
	struct queue_rid a = add(f->q, "id1", "p", QUEUE_PUSH, T0, T0), r;
	bool dup;

	assert_int_equal(add_full(f->q, "src", "id1", "other", QUEUE_PULL, T0 + 5, T0 + DAY,
				  "different", 9, &r, &dup), 0);
	assert_true(dup);
	assert_memory_equal(r.b, a.b, 16);
	assert_string_equal(status(f->q, a).dst_peer, "p"); /* nothing written */
	assert_counts(f->q, "p", 1, 0, 0, 0, 0);
	assert_counts(f->q, "other", 0, 0, 0, 0, 0);
	/* the same id from another peer is another message */
	assert_int_equal(add_full(f->q, "src2", "id1", "p", QUEUE_PUSH, T0, T0 + DAY, "y", 1, &r,
				  &dup), 0);
	assert_false(dup);
	assert_memory_not_equal(r.b, a.b, 16);
	/* still a duplicate once final (until purged) */
	assert_int_equal(finalise(f->q, a, T0 + 1, QUEUE_DELIVERED), 0);
	assert_int_equal(add_full(f->q, "src", "id1", "p", QUEUE_PUSH, T0, T0 + DAY, "z", 1, &r,
				  &dup), 0);
	assert_true(dup);
	assert_memory_equal(r.b, a.b, 16);
}

/* queue_admit_get: a stored id's rid, else the destination's live count. */
static void test_admit_get(void **state)
{
	struct fx *f = *state;
	struct queue_rid a = add(f->q, "id1", "p", QUEUE_PUSH, T0, T0), b, r;
	uint64_t live = 99;
	bool dup = true;

	add(f->q, "id2", "p", QUEUE_PULL, T0, T0);
	b = add(f->q, "id3", "p", QUEUE_PUSH, T0, T0);
	assert_int_equal(finalise(f->q, b, T0 + 1, QUEUE_DELIVERED), 0); /* not live */
	assert_int_equal(queue_admit_get(f->q, "src", "id1", "p", &r, &dup, &live), 0);
	assert_true(dup);
	assert_memory_equal(r.b, a.b, 16);
	assert_int_equal(live, 0); /* not read for a duplicate */
	assert_int_equal(queue_admit_get(f->q, "src", "new", "p", &r, &dup, &live), 0);
	assert_false(dup);
	assert_int_equal(live, 2);
	assert_int_equal(queue_admit_get(f->q, "src2", "id1", "none", &r, &dup, &live), 0);
	assert_false(dup);
	assert_int_equal(live, 0);
	assert_int_equal(queue_admit_get(f->q, "src", "new", NULL, &r, &dup, NULL), 0);
	assert_false(dup);
	assert_int_equal(queue_admit_get(f->q, "", "id1", "p", &r, &dup, &live), -QUEUE_EINVAL);
	assert_int_equal(queue_admit_get(f->q, "src", "id1", "", &r, &dup, &live), -QUEUE_EINVAL);
}

static void test_duplicate_in_one_batch(void **state)
{
	struct fx *f = *state;
	struct queue_op ops[3];
	struct gate g;

	for (int i = 0; i < 3; i++)
		ops[i] = ins_op(i == 2 ? "src2" : "src", "same", "p", T0, T0, NULL, 0);
	submit_all(f->q, ops, 3, &g);
	for (int i = 0; i < 3; i++)
		assert_int_equal(ops[i].rc, 0);
	assert_false(ops[0].u.insert.duplicate);
	assert_true(ops[1].u.insert.duplicate);
	assert_false(ops[2].u.insert.duplicate);
	assert_memory_equal(ops[0].u.insert.rid.b, ops[1].u.insert.rid.b, 16);
	assert_memory_not_equal(ops[0].u.insert.rid.b, ops[2].u.insert.rid.b, 16);
	assert_counts(f->q, "p", 2, 0, 0, 0, 0);
}

/* ---------------------------------------------------------------- lease */

static void test_lease_due_order_and_max(void **state)
{
	struct fx *f = *state;
	struct queue_rid a = add(f->q, "a", "p", QUEUE_PUSH, T0, T0 + 30);
	struct queue_rid b = add(f->q, "b", "p", QUEUE_PUSH, T0, T0 + 10);
	struct queue_rid c = add(f->q, "c", "p", QUEUE_PUSH, T0, T0 + 20);
	struct queue_rid d = add(f->q, "d", "p", QUEUE_PUSH, T0, T0 + 100);
	struct queue_op op;

	take_expect(f->q, NULL, T0 + 9, 1000, 10, NULL, 0); /* nothing due yet */
	assert_int_equal(take(f->q, &op, NULL, T0 + 50, 1000, 2), 0);
	assert_int_equal(op.u.lease.n, 2); /* max respected, due order */
	assert_memory_equal(op.u.lease.msgs[0].st.rid.b, b.b, 16);
	assert_memory_equal(op.u.lease.msgs[1].st.rid.b, c.b, 16);
	struct queue_msg *m = &op.u.lease.msgs[0];
	assert_true(m->len == 1 && m->payload[0] == 'b');
	assert_int_equal(m->st.state, QUEUE_DELIVERING);
	assert_int_equal(m->st.attempts, 1);
	assert_int_equal(m->st.due_ms, T0 + 1050);
	queue_msgs_free(op.u.lease.msgs, op.u.lease.n);
	expect_st(f->q, b, QUEUE_DELIVERING, 1, T0 + 1050);
	assert_int_equal(status(f->q, b).updated_ms, T0 + 50);
	take_expect(f->q, NULL, T0 + 50, 1000, 10, &a, 1);
	take_expect(f->q, NULL, T0 + 99, 1000, 10, NULL, 0);
	take_expect(f->q, NULL, T0 + 100, 1000, 10, &d, 1);
	assert_counts(f->q, "p", 0, 4, 0, 0, 0);
	/* a lease ends: offered again, one more attempt */
	take_expect(f->q, NULL, T0 + 1049, 100, 10, NULL, 0);
	struct queue_rid abc[] = {a, b, c}; /* all due at T0+1050: rid order */
	take_expect(f->q, NULL, T0 + 1050, 100, 10, abc, 3);
	expect_st(f->q, b, QUEUE_DELIVERING, 2, T0 + 1150);
	assert_counts(f->q, "p", 0, 4, 0, 0, 0);
}

static void test_lease_many(void **state)
{
	struct fx *f = *state;
	struct queue_rid rids[150];
	char id[16];
	struct queue_op op;

	for (int i = 149; i >= 0; i--) { /* inserted in reverse: due order wins */
		snprintf(id, sizeof(id), "m%d", i);
		rids[i] = add(f->q, id, "p", QUEUE_PUSH, T0, T0 + i);
	}
	assert_int_equal(take(f->q, &op, NULL, T0 + 1000, 100, 1000), 0);
	assert_int_equal(op.u.lease.n, 150);
	for (int i = 0; i < 150; i++) {
		snprintf(id, sizeof(id), "m%d", i);
		assert_memory_equal(op.u.lease.msgs[i].st.rid.b, rids[i].b, 16);
		assert_int_equal(op.u.lease.msgs[i].len, strlen(id));
		assert_memory_equal(op.u.lease.msgs[i].payload, id, strlen(id));
	}
	queue_msgs_free(op.u.lease.msgs, op.u.lease.n);
}

static void test_lease_invalid(void **state)
{
	struct fx *f = *state;
	static const struct {
		bool pull;
		const char *peer;
		int64_t lease_ms;
		size_t max;
	} cases[] = {
		{false, NULL, 0, 1}, {false, NULL, -5, 1}, {false, NULL, 100, 0},
		{true, NULL, 100, 1}, {true, "", 100, 1},  {true, "a b", 100, 1},
		{true, "p", 0, 1},    {true, "p", 100, 0},
	};
	add(f->q, "a", "p", QUEUE_PULL, T0, 0);
	for (size_t i = 0; i < N_OF(cases); i++) {
		struct queue_op op = {.type = cases[i].pull ? QUEUE_OP_PULL : QUEUE_OP_LEASE,
				      .u.lease = {.now_ms = T0 + 2 * DAY, .peer = cases[i].peer,
						  .lease_ms = cases[i].lease_ms,
						  .max = cases[i].max}};
		if (queue_exec(f->q, &op) != -QUEUE_EINVAL || op.u.lease.n || op.u.lease.msgs)
			fail_msg("case %zu: rc %d", i, op.rc);
	}
}

/* An op is the caller's to reuse (embedded in a request): after queue_msgs_free of its
 * results, submitting it again must not free them a second time. */
static void test_lease_op_reuse(void **state)
{
	struct fx *f = *state;
	struct queue_rid a = add(f->q, "a", "p", QUEUE_PUSH, T0, T0);
	struct queue_op op = {.type = QUEUE_OP_LEASE,
			      .u.lease = {.now_ms = T0, .lease_ms = 10, .max = 5}};

	for (int round = 0; round < 3; round++) {
		op.u.lease.now_ms = T0 + 10 * round;
		assert_int_equal(queue_exec(f->q, &op), 0);
		assert_int_equal(op.u.lease.n, 1);
		assert_memory_equal(op.u.lease.msgs[0].st.rid.b, a.b, 16);
		queue_msgs_free(op.u.lease.msgs, op.u.lease.n); /* the fields keep their values */
	}
	expect_st(f->q, a, QUEUE_DELIVERING, 3, T0 + 30);
}

/* ----------------------------------------------------- reschedule, finalise */

static void test_reschedule_order(void **state)
{
	struct fx *f = *state;
	struct queue_rid a = add(f->q, "a", "p", QUEUE_PUSH, T0, T0);
	struct queue_rid b = add(f->q, "b", "p", QUEUE_PUSH, T0, T0 + 5);
	struct queue_rid ab[] = {a, b}, ba[] = {b, a};

	take_expect(f->q, NULL, T0 + 10, 1000, 10, ab, 2);
	assert_int_equal(change(f->q, QUEUE_OP_RESCHEDULE, a, T0 + 20, T0 + 100, 0, "timeout",
				"https://x"), 0);
	assert_int_equal(resched(f->q, b, T0 + 20, T0 + 50), 0);
	struct queue_status st = status(f->q, a);
	expect_st(f->q, a, QUEUE_QUEUED, 1, T0 + 100);
	assert_int_equal(st.updated_ms, T0 + 20);
	assert_string_equal(st.last_error, "timeout");
	assert_string_equal(st.route, "https://x");
	assert_int_equal(st.first_fail_ms, T0 + 20);        /* the first failed attempt */
	assert_int_equal(status(f->q, b).first_fail_ms, 0); /* no error given: none recorded */
	assert_counts(f->q, "p", 2, 0, 0, 0, 0);
	take_expect(f->q, NULL, T0 + 49, 1000, 10, NULL, 0);
	take_expect(f->q, NULL, T0 + 200, 1000, 10, ba, 2);
	/* NULL texts keep the old ones; a queued message may be rescheduled too */
	assert_int_equal(resched(f->q, a, T0 + 300, T0 + 400), 0);
	assert_int_equal(resched(f->q, a, T0 + 301, T0 + 401), 0);
	assert_string_equal(status(f->q, a).last_error, "timeout");
	assert_int_equal(status(f->q, a).first_fail_ms, T0 + 20); /* kept from the first */
	take_expect(f->q, NULL, T0 + 400, 1000, 10, NULL, 0); /* the old timer is gone */
	take_expect(f->q, NULL, T0 + 401, 1000, 10, &a, 1);
}

static void test_reschedule_failover(void **state)
{
	struct fx *f = *state;
	struct queue_rid a = add(f->q, "a", "p1", QUEUE_PUSH, T0, T0);
	struct queue_op op = {.type = QUEUE_OP_RESCHEDULE,
			      .u.change = {.rid = a, .now_ms = T0 + 10, .dst_peer = "p2",
					   .mode = QUEUE_PULL, .route = "failover"}};

	take_expect(f->q, NULL, T0, 1000, 10, &a, 1);
	assert_counts(f->q, "p1", 0, 1, 0, 0, 0);
	assert_int_equal(queue_exec(f->q, &op), 0); /* push to p1 → pull from p2 */
	assert_counts(f->q, "p1", 0, 0, 0, 0, 0);
	assert_counts(f->q, "p2", 1, 0, 0, 0, 0);
	assert_int_equal(counts(f->q, "p1").oldest_live_ms, 0);
	assert_int_equal(counts(f->q, "p2").oldest_live_ms, queue_rid_time_ms(&a));
	struct queue_status st = status(f->q, a);
	assert_string_equal(st.dst_peer, "p2");
	assert_int_equal(st.mode, QUEUE_PULL);
	assert_int_equal(st.visible_ms, T0 + 10);
	assert_int_equal(st.due_ms, st.expires_ms);
	assert_string_equal(st.route, "failover");
	take_expect(f->q, "p1", T0 + 20, 100, 10, NULL, 0);
	take_expect(f->q, NULL, T0 + 2000, 100, 10, NULL, 0); /* the push timer is gone */
	take_expect(f->q, "p2", T0 + 20, 100, 10, &a, 1);
	assert_counts(f->q, "p2", 0, 1, 0, 0, 0);
	/* and back to push to p1: out of the inbox, on the schedule */
	op.u.change = (struct queue_op_change){.rid = a, .now_ms = T0 + 30, .due_ms = T0 + 40,
					       .dst_peer = "p1", .mode = QUEUE_PUSH};
	assert_int_equal(queue_exec(f->q, &op), 0);
	assert_counts(f->q, "p2", 0, 0, 0, 0, 0);
	assert_counts(f->q, "p1", 1, 0, 0, 0, 0);
	take_expect(f->q, "p2", T0 + DAY / 2, 100, 10, NULL, 0);
	take_expect(f->q, "p1", T0 + DAY / 2, 100, 10, NULL, 0);
	take_expect(f->q, NULL, T0 + 40, 100, 10, &a, 1);
	expect_st(f->q, a, QUEUE_DELIVERING, 3, T0 + 140);
}

static void test_finalise_states(void **state)
{
	struct fx *f = *state;
	static const struct {
		enum queue_state st;
		enum queue_mode mode;
		const char *error, *route;
	} cases[] = {
		{QUEUE_DELIVERED, QUEUE_PUSH, NULL, "https://in.example/v1"},
		{QUEUE_EXPIRED, QUEUE_PULL, "ttl", NULL},
		{QUEUE_FAILED, QUEUE_PUSH, "rejected: 400", "https://in.example/v2"},
	};
	char id[8], longtext[300];
	unsigned char *p = NULL;
	size_t len;

	for (size_t i = 0; i < N_OF(cases); i++) {
		snprintf(id, sizeof(id), "m%zu", i);
		struct queue_rid r = add(f->q, id, "p", cases[i].mode, T0, T0);
		assert_int_equal(change(f->q, QUEUE_OP_RESCHEDULE, r, T0, T0, 0, "old error",
					"old route"), 0);
		assert_int_equal(change(f->q, QUEUE_OP_FINALISE, r, T0 + 7, 0, cases[i].st,
					cases[i].error, cases[i].route), 0);
		struct queue_status st = status(f->q, r);
		expect_st(f->q, r, cases[i].st, 0, 0);
		assert_true(st.final_ms == T0 + 7 && st.updated_ms == T0 + 7 && st.visible_ms == 0);
		assert_string_equal(st.last_error, cases[i].error ? cases[i].error : "old error");
		assert_string_equal(st.route, cases[i].route ? cases[i].route : "old route");
		assert_int_equal(queue_payload_get(f->q, &r, &p, &len), -QUEUE_ENOTFOUND);
		assert_int_equal(finalise(f->q, r, T0 + 8, QUEUE_DELIVERED), -QUEUE_ESTATE);
		assert_int_equal(resched(f->q, r, T0 + 8, T0 + 9), -QUEUE_ESTATE);
	}
	assert_counts(f->q, "p", 0, 0, 1, 1, 1);
	assert_int_equal(counts(f->q, "p").oldest_live_ms, 0);
	take_expect(f->q, NULL, T0 + 2 * DAY, 100, 10, NULL, 0);
	take_expect(f->q, "p", T0 + 2 * DAY, 100, 10, NULL, 0);
	/* texts are cut to QUEUE_TEXT_MAX */
	memset(longtext, 'e', sizeof(longtext) - 1);
	longtext[sizeof(longtext) - 1] = '\0';
	struct queue_rid r = add(f->q, "long", "p", QUEUE_PUSH, T0, T0);
	assert_int_equal(change(f->q, QUEUE_OP_FINALISE, r, T0, 0, QUEUE_FAILED, longtext,
				longtext), 0);
	assert_int_equal(strlen(status(f->q, r).last_error), QUEUE_TEXT_MAX);
	assert_int_equal(strlen(status(f->q, r).route), QUEUE_TEXT_MAX);
}

static void test_change_errors(void **state)
{
	struct fx *f = *state;
	struct queue_rid unknown, a = add(f->q, "a", "p", QUEUE_PUSH, T0, T0);
	static const int not_final[] = {0, QUEUE_QUEUED, QUEUE_DELIVERING, QUEUE_HELD,
					QUEUE_STATE_MAX_, 200};
	unsigned char *p;
	size_t len;

	queue_rid_new(&unknown);
	assert_int_equal(finalise(f->q, unknown, T0, QUEUE_DELIVERED), -QUEUE_ENOTFOUND);
	assert_int_equal(resched(f->q, unknown, T0, T0), -QUEUE_ENOTFOUND);
	assert_true(gone(f->q, unknown));
	assert_int_equal(queue_payload_get(f->q, &unknown, &p, &len), -QUEUE_ENOTFOUND);
	for (size_t i = 0; i < N_OF(not_final); i++)
		assert_int_equal(finalise(f->q, a, T0, (enum queue_state)not_final[i]),
				 -QUEUE_EINVAL);
	struct queue_op op = {.type = QUEUE_OP_RESCHEDULE,
			      .u.change = {.rid = a, .now_ms = T0, .dst_peer = "bad peer",
					   .mode = QUEUE_PUSH}};
	assert_int_equal(queue_exec(f->q, &op), -QUEUE_EINVAL);
	op.u.change.dst_peer = "good";
	op.u.change.mode = 0;
	assert_int_equal(queue_exec(f->q, &op), -QUEUE_EINVAL);
	expect_st(f->q, a, QUEUE_QUEUED, 0, T0); /* untouched */
	assert_string_equal(status(f->q, a).dst_peer, "p");
	assert_counts(f->q, "p", 1, 0, 0, 0, 0);
	assert_counts(f->q, "good", 0, 0, 0, 0, 0);
}

/* ----------------------------------------------------------------- pull */

static void test_pull_inbox(void **state)
{
	struct fx *f = *state;
	struct queue_rid a = add(f->q, "a", "p", QUEUE_PULL, T0, 0);
	struct queue_rid b = add(f->q, "b", "p", QUEUE_PULL, T0 + 1, 0);
	struct queue_rid c = add(f->q, "c", "p", QUEUE_PULL, T0 + 2, 0);
	struct queue_rid x = add(f->q, "x", "other", QUEUE_PULL, T0, 0);
	struct queue_rid y = add(f->q, "y", "pp", QUEUE_PULL, T0, 0); /* "p" is its prefix */
	add(f->q, "z", "p", QUEUE_PUSH, T0, T0 + DAY / 2);
	struct queue_rid ba[] = {b, a}, abc[] = {a, b, c}, bc[] = {b, c};

	take_expect(f->q, "p", T0, 100, 10, &a, 1);        /* b is visible from T0+1 */
	assert_int_equal(resched(f->q, a, T0 + 2, 0), 0); /* a pull message: visible again */
	assert_int_equal(status(f->q, a).visible_ms, T0 + 2);
	take_expect(f->q, "p", T0 + 10, 100, 2, ba, 2); /* by visible time, then rid */
	take_expect(f->q, "p", T0 + 10, 100, 10, &c, 1);
	expect_st(f->q, a, QUEUE_DELIVERING, 2, ANY);
	assert_int_equal(status(f->q, a).visible_ms, T0 + 110);
	assert_counts(f->q, "p", 1, 3, 0, 0, 0);
	take_expect(f->q, "p", T0 + 109, 100, 10, NULL, 0); /* leased: hidden */
	take_expect(f->q, "p", T0 + 110, 100, 10, abc, 3);  /* lease over: offered again */
	expect_st(f->q, c, QUEUE_DELIVERING, 2, ANY);
	take_expect(f->q, "other", T0 + 110, 100, 10, &x, 1);
	take_expect(f->q, "pp", T0 + 110, 100, 10, &y, 1);
	take_expect(f->q, NULL, T0 + 110, 100, 10, NULL, 0); /* not before they expire */
	assert_int_equal(finalise(f->q, a, T0 + 120, QUEUE_DELIVERED), 0);
	take_expect(f->q, "p", T0 + 1000, 100, 10, bc, 2);
	assert_counts(f->q, "p", 1, 2, 1, 0, 0);
}

static void test_pull_expired(void **state)
{
	struct fx *f = *state;
	struct queue_rid a, b;
	struct queue_op op;

	assert_int_equal(add_full(f->q, "src", "a", "p", QUEUE_PULL, T0, T0 + 100, "a", 1, &a,
				  NULL), 0);
	assert_int_equal(add_full(f->q, "src", "b", "p", QUEUE_PULL, T0, T0 + 100, "b", 1, &b,
				  NULL), 0);
	struct queue_rid ab[] = {a, b};
	expect_st(f->q, a, QUEUE_QUEUED, 0, T0 + 100); /* its timer is its expiry */
	take_expect(f->q, NULL, T0 + 99, 1000, 10, NULL, 0);
	take_expect(f->q, "p", T0 + 50, 1000, 1, &a, 1);
	take_expect(f->q, "p", T0 + 100, 1000, 10, NULL, 0); /* b expired: not offered */
	expect_st(f->q, b, QUEUE_QUEUED, 0, T0 + 100);
	/* the expiry timers hand both to LEASE, states untouched, for finalising */
	assert_int_equal(take(f->q, &op, NULL, T0 + 100, 1000, 10), 0);
	assert_int_equal(op.u.lease.n, 2);
	for (int i = 0; i < 2; i++) {
		struct queue_msg *m = &op.u.lease.msgs[i];
		assert_memory_equal(m->st.rid.b, ab[i].b, 16);
		assert_int_equal(m->st.mode, QUEUE_PULL);
		assert_int_equal(m->st.state, i == 0 ? QUEUE_DELIVERING : QUEUE_QUEUED);
		assert_int_equal(m->st.attempts, i == 0 ? 1 : 0);
		assert_true(m->len == 1 && m->payload[0] == "ab"[i]);
	}
	queue_msgs_free(op.u.lease.msgs, op.u.lease.n);
	take_expect(f->q, NULL, T0 + 101, 1000, 10, NULL, 0);
	assert_counts(f->q, "p", 1, 1, 0, 0, 0);
	assert_int_equal(finalise(f->q, a, T0 + 101, QUEUE_EXPIRED), 0);
	assert_int_equal(finalise(f->q, b, T0 + 101, QUEUE_EXPIRED), 0);
	assert_counts(f->q, "p", 0, 0, 0, 2, 0);
	take_expect(f->q, "p", T0 + DAY, 1000, 10, NULL, 0);
	take_expect(f->q, NULL, T0 + DAY, 1000, 10, NULL, 0);
}

/* ---------------------------------------------------------------- purge */

static void test_purge(void **state)
{
	struct fx *f = *state;
	f->opt.retention_ms = 1000;
	fx_reopen(f);
	struct queue_rid a = add(f->q, "a", "p", QUEUE_PUSH, T0, T0);
	struct queue_rid b = add(f->q, "b", "p", QUEUE_PUSH, T0, T0);
	struct queue_rid c = add(f->q, "c", "p", QUEUE_PULL, T0, T0);
	struct queue_rid live = add(f->q, "live", "p", QUEUE_PUSH, T0, T0), r;
	bool dup;

	assert_int_equal(finalise(f->q, a, T0, QUEUE_DELIVERED), 0);
	assert_int_equal(finalise(f->q, b, T0 + 500, QUEUE_FAILED), 0);
	assert_int_equal(finalise(f->q, c, T0 + 2000, QUEUE_EXPIRED), 0);
	assert_counts(f->q, "p", 1, 0, 1, 1, 1);
	assert_int_equal(purge(f->q, T0 + 999, 100), 0);
	assert_int_equal(purge(f->q, T0 + 1000, 100), 1);
	assert_true(gone(f->q, a));
	assert_int_equal(finalise(f->q, a, T0, QUEUE_DELIVERED), -QUEUE_ENOTFOUND);
	assert_counts(f->q, "p", 1, 0, 0, 1, 1);
	assert_int_equal(purge(f->q, T0 + 1500, 100), 1);
	assert_int_equal(purge(f->q, T0 + 2999, 100), 0);
	assert_counts(f->q, "p", 1, 0, 0, 1, 0);
	assert_true(gone(f->q, b));
	expect_st(f->q, c, QUEUE_EXPIRED, ANY, ANY);
	/* a's idempotency key went with its status; c's is still kept */
	assert_int_equal(add_full(f->q, "src", "a", "p", QUEUE_PUSH, T0 + 3000, T0 + DAY, "a", 1,
				  &r, &dup), 0);
	assert_false(dup);
	assert_memory_not_equal(r.b, a.b, 16);
	assert_int_equal(add_full(f->q, "src", "c", "p", QUEUE_PUSH, T0 + 3000, T0 + DAY, "c", 1,
				  &r, &dup), 0);
	assert_true(dup);
	assert_memory_equal(r.b, c.b, 16);
	assert_int_equal(purge(f->q, T0 + 3000, 100), 1);
	assert_counts(f->q, "p", 2, 0, 0, 0, 0);
	assert_int_equal(purge(f->q, T0 + 10 * DAY, 100), 0); /* live ones never go */
	expect_st(f->q, live, QUEUE_QUEUED, 0, T0);
	/* max bounds one operation */
	char id[8];
	for (int i = 0; i < 5; i++) {
		snprintf(id, sizeof(id), "m%d", i);
		assert_int_equal(finalise(f->q, add(f->q, id, "q", QUEUE_PUSH, T0, T0), T0 + i,
					  QUEUE_DELIVERED), 0);
	}
	assert_int_equal(purge(f->q, T0 + 2000, 0), 0);
	assert_int_equal(purge(f->q, T0 + 2000, 2), 2);
	assert_counts(f->q, "q", 0, 0, 3, 0, 0);
	assert_int_equal(purge(f->q, T0 + 2000, 2), 2);
	assert_int_equal(purge(f->q, T0 + 2000, 2), 1);
	assert_int_equal(purge(f->q, T0 + 2000, 2), 0);
	assert_counts(f->q, "q", 0, 0, 0, 0, 0);
}

/* The writer's own purge, on the real clock: a status final long ago goes within ~1 s. */
static void test_background_purge(void **state)
{
	struct fx *f = *state;
	int64_t past = (int64_t)time(NULL) * 1000 - 60000;
	f->opt.retention_ms = 1000;
	fx_reopen(f);
	struct queue_rid old = add(f->q, "old", "p", QUEUE_PUSH, past, past);
	struct queue_rid kept = add(f->q, "kept", "p", QUEUE_PUSH, T0, T0);

	assert_int_equal(finalise(f->q, old, past, QUEUE_DELIVERED), 0);
	assert_int_equal(finalise(f->q, kept, T0, QUEUE_DELIVERED), 0);
	for (int i = 0; i < 100 && !gone(f->q, old); i++)
		usleep(50 * 1000);
	assert_true(gone(f->q, old));
	expect_st(f->q, kept, QUEUE_DELIVERED, ANY, ANY);
	assert_counts(f->q, "p", 0, 0, 1, 0, 0);
}

/* --------------------------------------------------------------- counts */

struct visit {
	int n, stop_after;
	char names[4][QUEUE_NAME_MAX + 1];
	struct queue_peer_counts c[4];
};

static int visit_peer(const char *peer, const struct queue_peer_counts *c, void *arg)
{
	struct visit *v = arg;
	if (v->n < 4) {
		strcpy(v->names[v->n], peer);
		v->c[v->n] = *c;
	}
	return ++v->n == v->stop_after;
}

static void test_counts_each_peer(void **state)
{
	struct fx *f = *state;
	struct queue_rid a = add(f->q, "a", "p1", QUEUE_PUSH, T0, T0);
	struct queue_rid b = add(f->q, "b", "p1", QUEUE_PUSH, T0, T0);
	static const char *const names[] = {"p1", "p2", "p3"};
	struct visit v = {.stop_after = -1};

	add(f->q, "c", "p2", QUEUE_PULL, T0, 0);
	assert_int_equal(finalise(f->q, add(f->q, "d", "p3", QUEUE_PUSH, T0, T0), T0,
				  QUEUE_FAILED), 0);
	assert_counts(f->q, "p1", 2, 0, 0, 0, 0);
	assert_counts(f->q, "p2", 1, 0, 0, 0, 0);
	assert_counts(f->q, "p3", 0, 0, 0, 0, 1);
	assert_counts(f->q, "nobody", 0, 0, 0, 0, 0);
	assert_int_equal(counts(f->q, "nobody").oldest_live_ms, 0);
	assert_int_equal(counts(f->q, "p3").oldest_live_ms, 0);
	/* oldest_live_ms is the acceptance time carried by the oldest live rid */
	assert_int_equal(counts(f->q, "p1").oldest_live_ms, queue_rid_time_ms(&a));
	assert_int_equal(finalise(f->q, a, T0, QUEUE_DELIVERED), 0);
	assert_int_equal(counts(f->q, "p1").oldest_live_ms, queue_rid_time_ms(&b));
	assert_int_equal(queue_peer_counts(f->q, "a b", &(struct queue_peer_counts){0}),
			 -QUEUE_EINVAL);

	assert_int_equal(queue_each_peer(f->q, visit_peer, &v), 0);
	assert_int_equal(v.n, 3);
	for (int i = 0; i < 3; i++) {
		struct queue_peer_counts c = counts(f->q, names[i]);
		assert_string_equal(v.names[i], names[i]);
		assert_memory_equal(&v.c[i], &c, sizeof(c));
	}
	v = (struct visit){.stop_after = 2};
	assert_int_equal(queue_each_peer(f->q, visit_peer, &v), 0);
	assert_int_equal(v.n, 2);
}

/* More peers in one transaction than the writer keeps count deltas for (64). */
static void test_counts_many_peers_one_batch(void **state)
{
	struct fx *f = *state;
	enum { N = 150 };
	static struct queue_op ops[N];
	static char names[N][16];
	struct visit v = {.stop_after = -1};
	struct gate g;

	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "peer%03d", i);
		ops[i] = ins_op("src", names[i], names[i], T0, T0, NULL, 0);
	}
	submit_all(f->q, ops, N, &g);
	for (int i = 0; i < N; i++) {
		assert_int_equal(ops[i].rc, 0);
		assert_counts(f->q, names[i], 1, 0, 0, 0, 0);
	}
	assert_int_equal(queue_each_peer(f->q, visit_peer, &v), 0);
	assert_int_equal(v.n, N);
}

/* ------------------------------------------------------------ full store */

static int add_kib(struct queue *q, int i, struct queue_rid *rid)
{
	static unsigned char kib[1024];
	char id[16];
	snprintf(id, sizeof(id), "k%d", i);
	memset(kib, i, sizeof(kib));
	return add_full(q, "src", id, "p", QUEUE_PUSH, T0, T0 + DAY, kib, sizeof(kib), rid, NULL);
}

/* A put of a 200-byte value into table, of the control plane or not. */
static int kv_put200(struct queue *q, const char *table, const char *key, bool control)
{
	static const char val[200];
	struct queue_op op = {.type = QUEUE_OP_KV_PUT,
			      .u.kv = {.table = table, .key = key, .klen = strlen(key),
				       .val = val, .vlen = sizeof(val), .control = control}};
	return queue_exec(q, &op);
}

/* Fills a map that may not grow, frees its oldest half, and checks inserts come back. */
static void fill_free_refill(struct fx *f, uint64_t map)
{
	enum { MAX = 20000 };
	struct queue_rid *rids = calloc(MAX, sizeof(*rids)), r;
	struct queue_store_stat ss;
	unsigned char *p;
	size_t len;
	int n = 0, rc = 0;
	bool dup = false;

	f->opt.map_size = f->opt.max_map_size = map;
	f->opt.retention_ms = 1000;
	fx_reopen(f);
	while (n < MAX && (rc = add_kib(f->q, n, &rids[n])) == 0)
		n++;
	assert_int_equal(rc, -QUEUE_EFULL);
	assert_true(n > 100);
	queue_store_stat(f->q, &ss);
	assert_int_equal(ss.map_bytes, map);
	assert_true(ss.used_bytes <= ss.map_bytes);
	assert_true(ss.full); /* what the health endpoint tells load balancers */
	/* the control plane (peers, routes, admins) may still write, within half the
	 * reserve; other tables may not */
	assert_int_equal(kv_put200(f->q, "directory", "+4930", false), -QUEUE_EFULL);
	assert_int_equal(kv_put200(f->q, "peers", "p1", false), -QUEUE_EFULL);
	assert_int_equal(kv_put200(f->q, "peers", "p1", true), 0);
	int k = 0;
	char key[16];
	do
		snprintf(key, sizeof(key), "c%d", k);
	while (k++ < 100000 && kv_put200(f->q, "peers", key, true) == 0);
	assert_true(k > 20 && k < 100000); /* it ends, at half the reserve */
	assert_int_equal(add_kib(f->q, MAX + MAX, &r), -QUEUE_EFULL);
	for (int i = 0; i < k; i++) { /* deletes always go; the rest as before */
		struct queue_op op = {.type = QUEUE_OP_KV_DEL};
		snprintf(key, sizeof(key), "c%d", i);
		op.u.kv = (struct queue_op_kv){.table = "peers", .key = key, .klen = strlen(key)};
		assert_int_equal(queue_exec(f->q, &op), 0);
	}
	/* duplicates are still answered, and all but inserts still works */
	assert_int_equal(add_full(f->q, "src", "k0", "p", QUEUE_PUSH, T0, T0 + DAY, "x", 1, &r,
				  &dup), 0);
	assert_true(dup);
	take_expect(f->q, NULL, T0, 1000, 1, &rids[0], 1);
	assert_int_equal(resched(f->q, rids[0], T0, T0), 0);
	for (int i = 0; i < n / 2; i++) /* the oldest half: whole pages come free */
		assert_int_equal(finalise(f->q, rids[i], T0, QUEUE_DELIVERED), 0);
	assert_int_equal(purge(f->q, T0 + 1000, (size_t)n), (size_t)n / 2);
	queue_store_stat(f->q, &ss);
	assert_false(ss.full); /* the refused insert would fit now */
	for (int i = 0; i < n / 4; i++) { /* half of what was freed */
		rc = add_kib(f->q, MAX + i, &r);
		queue_store_stat(f->q, &ss);
		if (rc != 0)
			fail_msg("map %llu: insert %d of %d after freeing half: rc %d, used %llu",
				 (unsigned long long)map, i, n / 4, rc,
				 (unsigned long long)ss.used_bytes);
	}
	uint64_t live = (uint64_t)(n - n / 2 + n / 4);
	assert_counts(f->q, "p", live, 0, 0, 0, 0);
	fx_reopen(f); /* and the store is sound */
	assert_counts(f->q, "p", live, 0, 0, 0, 0);
	assert_int_equal(queue_payload_get(f->q, &rids[n - 1], &p, &len), 0);
	assert_true(len == 1024 && p[0] == (unsigned char)(n - 1));
	free(p);
	free(rids);
}

static void test_store_full(void **state)
{
	static const uint64_t maps[] = {3 * MIB, 4 * MIB, 6 * MIB, 12 * MIB};
	struct fx *f = *state;

	for (size_t i = 0; i < N_OF(maps); i++) {
		fx_close(f);
		ut_rm_dir(f->dir);
		assert_int_equal(mkdir(f->dir, 0700), 0);
		fill_free_refill(f, maps[i]);
	}
	/* one message bigger than the whole map */
	size_t len = 13 * MIB;
	unsigned char *big = calloc(1, len);
	struct queue_rid r;
	assert_int_equal(add_full(f->q, "src", "big", "p", QUEUE_PUSH, T0, T0 + DAY, big, len, &r,
				  NULL), -QUEUE_EFULL);
	free(big);
}

/* ------------------------------------------------------------ full disk */

/* For the child process below, where cmocka's asserts would jump into the parent's runner. */
#define CHECK(c)                                                                         \
	do {                                                                             \
		if (!(c)) {                                                              \
			fprintf(stderr, "disk_full_child:%d: %s\n", __LINE__, #c);       \
			return 1;                                                        \
		}                                                                        \
	} while (0)

static off_t store_size(const struct fx *f)
{
	char path[128];
	struct stat sb;
	snprintf(path, sizeof(path), "%s/store.mdb", f->dir);
	return stat(path, &sb) == 0 ? sb.st_size : -1;
}

static int limit_file_size(uint64_t bytes)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_FSIZE, &rl) != 0)
		return -1;
	rl.rlim_cur = bytes;
	return setrlimit(RLIMIT_FSIZE, &rl);
}

/*
 * A file size limit stands for a full disk or a quota (the process's own, hence a child). It
 * comes after the writer last measured the room, so the commit holding the big insert fails;
 * the writer measures again, refuses the insert as a full store and keeps the rest.
 */
static int disk_full_child(struct fx *f)
{
	static unsigned char big[512 * 1024];
	struct queue_rid rids[200], r;
	struct queue_store_stat ss;
	char err[256];

	signal(SIGXFSZ, SIG_IGN); /* a write past the limit fails with EFBIG instead */
	CHECK(queue_open(&f->opt, &f->q, err, sizeof(err)) == 0);
	for (int i = 0; i < 200; i++)
		CHECK(add_kib(f->q, i, &rids[i]) == 0);
	uint64_t limit = (uint64_t)store_size(f) + 64 * 1024;
	CHECK(limit_file_size(limit) == 0);
	CHECK(add_full(f->q, "src", "big", "p", QUEUE_PUSH, T0, T0 + DAY, big, sizeof(big), &r,
		       NULL) == -QUEUE_EFULL);
	queue_store_stat(f->q, &ss);
	CHECK(ss.full);                /* the health check says so */
	CHECK(ss.max_bytes == limit);  /* and the status shows the room there is */
	CHECK(add_kib(f->q, 1000, &r) == -QUEUE_EFULL); /* measured now: refused up front */
	for (int i = 0; i < 100; i++) /* finalisations and deletes go on */
		CHECK(finalise(f->q, rids[i], T0, QUEUE_DELIVERED) == 0);
	struct queue_op op = {.type = QUEUE_OP_PURGE,
			      .u.purge = {.now_ms = T0 + 1000, .max = 1000}};
	CHECK(queue_exec(f->q, &op) == 0 && op.u.purge.purged == 100);
	CHECK(store_size(f) <= (off_t)limit);
	/* the disk has room again: the next insert measures it and goes in */
	CHECK(limit_file_size(limit + 16 * MIB) == 0);
	CHECK(add_kib(f->q, 2000, &r) == 0);
	queue_store_stat(f->q, &ss);
	CHECK(!ss.full && ss.max_bytes > limit);
	queue_close(f->q);
	return 0;
}

static void test_disk_full(void **state)
{
	struct fx *f = *state;
	struct queue_rid r;
	bool dup = true;
	int ws;

	fx_close(f);
	f->opt.map_size = 4 * MIB; /* the map is not the limit */
	f->opt.max_map_size = 64 * MIB;
	f->opt.retention_ms = 1000;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(disk_full_child(f));
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	assert_true(WIFEXITED(ws));
	assert_int_equal(WEXITSTATUS(ws), 0);
	fx_open(f); /* the store is sound and holds what was acknowledged, nothing else */
	assert_counts(f->q, "p", 101, 0, 0, 0, 0);
	assert_int_equal(add_full(f->q, "src", "big", "p", QUEUE_PUSH, T0, T0 + DAY, "x", 1, &r,
				  &dup), 0);
	assert_false(dup); /* the refused insert left no trace */
}

/* A failing disk: while sync_fails is set, fdatasync(2) reports EIO. Defined in the
 * program, it takes the C library's place for LMDB too. */
static atomic_bool sync_fails;

int fdatasync(int fd)
{
	if (atomic_load(&sync_fails)) {
		errno = EIO;
		return -1;
	}
	return (int)syscall(SYS_fdatasync, fd);
}

/* Operations that a failing disk stops get -QUEUE_EIO, are counted and named, and the
 * store says it is failing until a commit goes through; nothing half-written stays. */
static void test_disk_error(void **state)
{
	struct fx *f = *state;
	struct queue_store_stat ss;
	struct queue_rid r;
	bool dup = true;

	f->opt.sync = QUEUE_SYNC_FULL;
	fx_reopen(f);
	struct queue_rid a = add(f->q, "a", "p", QUEUE_PUSH, T0, T0);
	queue_store_stat(f->q, &ss);
	assert_true(ss.errors == 0 && ss.last_error == 0 && !ss.failing);
	assert_string_equal(queue_error_text(0), "none");

	atomic_store(&sync_fails, true);
	assert_int_equal(add_full(f->q, "src", "b", "p", QUEUE_PUSH, T0, T0 + DAY, "x", 1, &r,
				  NULL), -QUEUE_EIO);
	assert_int_equal(finalise(f->q, a, T0, QUEUE_DELIVERED), -QUEUE_EIO);
	take_expect(f->q, NULL, T0 - 1, 1000, 8, NULL, 0); /* commits nothing: still failing */
	assert_int_equal(purge(f->q, T0, 8), 0);
	queue_store_stat(f->q, &ss);
	atomic_store(&sync_fails, false);
	assert_int_equal(ss.errors, 2);
	assert_int_equal(ss.last_error, EIO);
	assert_string_equal(queue_error_text(ss.last_error), strerror(EIO));
	assert_true(ss.failing);
	assert_false(ss.full);

	expect_st(f->q, a, QUEUE_QUEUED, 0, T0); /* the failed finalisation changed nothing */
	assert_int_equal(add_full(f->q, "src", "b", "p", QUEUE_PUSH, T0, T0 + DAY, "x", 1, &r,
				  &dup), 0);
	assert_false(dup); /* the failed insert left no trace */
	queue_store_stat(f->q, &ss);
	assert_int_equal(ss.errors, 2);
	assert_int_equal(ss.last_error, EIO); /* the last error is kept, for the operator */
	assert_false(ss.failing);
	fx_reopen(f);
	assert_counts(f->q, "p", 2, 0, 0, 0, 0);
	expect_st(f->q, a, QUEUE_QUEUED, 0, T0);
}

static void test_map_growth(void **state)
{
	struct fx *f = *state;
	struct queue_store_stat ss;
	struct queue_rid r;

	f->opt.map_size = 4 * MIB;
	f->opt.max_map_size = 64 * MIB;
	fx_reopen(f);
	for (int i = 0; i < 8000; i++) /* ~10 MiB with overhead */
		assert_int_equal(add_kib(f->q, i, &r), 0);
	queue_store_stat(f->q, &ss);
	assert_true(ss.map_bytes > 4 * MIB && ss.map_bytes <= 64 * MIB);
	assert_int_equal(ss.max_bytes, 64 * MIB);
	assert_true(ss.used_bytes >= 8000 * 1024ull);
	assert_true(ss.used_bytes <= ss.map_bytes);
	fx_reopen(f);
	assert_counts(f->q, "p", 8000, 0, 0, 0, 0);
}

/* ---------------------------------------------------------------- close */

static void test_close_with_pending(void **state)
{
	struct fx *f = *state;
	enum { N = 2000 };
	static struct queue_op ops[N];
	static char ids[N][8];
	struct waitgroup wg = WAITGROUP_INIT;

	for (int i = 0; i < N; i++) {
		snprintf(ids[i], sizeof(ids[i]), "c%d", i);
		ops[i] = ins_op("src", ids[i], "p", T0, T0, NULL, 0);
		ops[i].done = wg_done;
		ops[i].arg = &wg;
		queue_submit(f->q, &ops[i]);
	}
	fx_close(f);
	assert_int_equal(wg.n, N); /* every done() ran before close returned */
	for (int i = 0; i < N; i++)
		assert_int_equal(ops[i].rc, 0);
	fx_open(f);
	assert_counts(f->q, "p", N, 0, 0, 0, 0);
}

/* From inside a done() on the writer, probes are submitted until one is refused: those
 * in before close began still complete; the refused one gets ECLOSED at once. */
enum { PROBES = 5000 };
struct closer {
	struct queue *q;
	atomic_bool closing_soon;
	struct queue_op probes[PROBES];
	int refused_at;
};

static void closer_done(struct queue_op *op)
{
	struct closer *c = op->arg;
	while (!atomic_load(&c->closing_soon))
		usleep(100);
	c->refused_at = -1;
	for (int i = 0; i < PROBES && c->refused_at < 0; i++) {
		c->probes[i] = (struct queue_op){.type = QUEUE_OP_PURGE, .rc = 1,
						 .u.purge = {.now_ms = 0, .max = 1}};
		queue_submit(c->q, &c->probes[i]);
		if (c->probes[i].rc == -QUEUE_ECLOSED)
			c->refused_at = i;
		else
			usleep(1000);
	}
}

static void test_submit_after_close(void **state)
{
	struct fx *f = *state;
	static struct closer c;
	struct queue_op first = {.type = QUEUE_OP_PURGE, .done = closer_done, .arg = &c,
				 .u.purge = {.now_ms = 0, .max = 1}};

	c.q = f->q;
	atomic_store(&c.closing_soon, false);
	queue_submit(f->q, &first);
	atomic_store(&c.closing_soon, true);
	fx_close(f);
	assert_true(c.refused_at >= 0);
	for (int i = 0; i < c.refused_at; i++)
		assert_int_equal(c.probes[i].rc, 0);
}

/* -------------------------------------------------------------- threads */

enum { THREADS = 8, PER_THREAD = 500 };
struct producer {
	struct queue *q;
	struct waitgroup *wg;
	char src[8];
	char ids[PER_THREAD][8];
	struct queue_op ops[PER_THREAD];
};

static void *produce(void *arg)
{
	struct producer *p = arg;
	for (int i = 0; i < PER_THREAD; i++) {
		snprintf(p->ids[i], sizeof(p->ids[i]), "%d", i);
		p->ops[i] = ins_op(p->src, p->ids[i], "p", T0, T0 + i, NULL, 0);
		p->ops[i].done = wg_done;
		p->ops[i].arg = p->wg;
		queue_submit(p->q, &p->ops[i]);
	}
	return NULL;
}

static int rid_cmp(const void *a, const void *b)
{
	return memcmp(a, b, 16);
}

static void test_threads_group_commit(void **state)
{
	struct fx *f = *state;
	struct producer *p = calloc(THREADS, sizeof(*p));
	struct queue_rid *rids = calloc(THREADS * PER_THREAD, sizeof(*rids));
	struct waitgroup wg = WAITGROUP_INIT;
	struct queue_store_stat s0, s1;
	pthread_t th[THREADS];

	queue_store_stat(f->q, &s0);
	for (int t = 0; t < THREADS; t++) {
		p[t].q = f->q, p[t].wg = &wg;
		snprintf(p[t].src, sizeof(p[t].src), "t%d", t);
		assert_int_equal(pthread_create(&th[t], NULL, produce, &p[t]), 0);
	}
	for (int t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	wg_wait(&wg, THREADS * PER_THREAD);
	queue_store_stat(f->q, &s1);
	for (int t = 0; t < THREADS; t++)
		for (int i = 0; i < PER_THREAD; i++) {
			assert_int_equal(p[t].ops[i].rc, 0);
			assert_false(p[t].ops[i].u.insert.duplicate);
			rids[t * PER_THREAD + i] = p[t].ops[i].u.insert.rid;
		}
	qsort(rids, THREADS * PER_THREAD, sizeof(*rids), rid_cmp);
	for (int i = 1; i < THREADS * PER_THREAD; i++)
		assert_memory_not_equal(rids[i - 1].b, rids[i].b, 16);
	assert_true(s1.ops - s0.ops >= THREADS * PER_THREAD);
	assert_true(s1.commits - s0.commits < s1.ops - s0.ops);
	print_message("%d inserts from %d threads in %llu commits\n", THREADS * PER_THREAD,
		      THREADS, (unsigned long long)(s1.commits - s0.commits));
	assert_counts(f->q, "p", THREADS * PER_THREAD, 0, 0, 0, 0);
	free(rids);
	free(p);
}

/* ------------------------------------------------------------ corruption */

static void test_corrupt_status(void **state)
{
	struct fx *f = *state;
	struct queue_rid a = add(f->q, "a", "p", QUEUE_PUSH, T0, T0 + 10);
	struct queue_status st;
	struct queue_op op;
	unsigned char *p;
	size_t len;

	struct queue_rid b = add(f->q, "b", "p", QUEUE_PUSH, T0, T0 + 15);
	fx_close(f);
	raw_put(f->dir, "status", a.b, 16, "\x01garbage", 8);
	fx_open(f);
	assert_int_equal(queue_status_get(f->q, &a, &st), -QUEUE_ECORRUPT);
	assert_int_equal(queue_payload_get(f->q, &a, &p, &len), 0);
	free(p);
	/* the corrupt record's timer is dropped; the healthy message behind it is leased */
	assert_int_equal(take(f->q, &op, NULL, T0 + 20, 100, 10), 0);
	assert_int_equal(op.u.lease.n, 1);
	assert_memory_equal(op.u.lease.msgs[0].st.rid.b, b.b, 16);
	queue_msgs_free(op.u.lease.msgs, op.u.lease.n);
	/* a change to the corrupt one fails alone, and the writer goes on */
	assert_int_equal(finalise(f->q, a, T0, QUEUE_FAILED), -QUEUE_ECORRUPT);
	struct queue_rid c = add(f->q, "c", "p", QUEUE_PUSH, T0, T0);
	expect_st(f->q, c, QUEUE_QUEUED, 0, T0);
	/* the writer met it twice (the lease, the change): the operator is told, and the
	 * store is not failing */
	struct queue_store_stat ss;
	queue_store_stat(f->q, &ss);
	assert_int_equal(ss.errors, 2);
	assert_int_equal(ss.last_error, -QUEUE_ECORRUPT);
	assert_string_equal(queue_error_text(ss.last_error), "stored record is corrupt");
	assert_false(ss.failing);
}

/* --------------------------------------------------------------- tables */

static int kv(struct queue *q, enum queue_op_type type, const char *table, const char *key,
	      const char *val, bool *existed)
{
	struct queue_op op = {.type = type,
			      .u.kv = {.table = table, .key = key, .klen = strlen(key),
				       .val = val, .vlen = val ? strlen(val) : 0}};
	int rc = queue_exec(q, &op);
	if (existed)
		*existed = op.u.kv.existed;
	return rc;
}

static void expect_kv(struct queue *q, const char *table, const char *key, const char *want)
{
	void *v = NULL;
	size_t n = 0;
	int rc = queue_kv_get(q, table, key, strlen(key), &v, &n);
	if (!want) {
		assert_int_equal(rc, -QUEUE_ENOTFOUND);
		return;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(v, want, n);
	free(v);
}

struct scan_acc {
	char keys[256];
	size_t stop_after;
	size_t seen;
};

static int scan_fn(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct scan_acc *a = arg;
	(void)val;
	(void)vlen;
	strncat(a->keys, key, klen);
	strcat(a->keys, ",");
	return ++a->seen == a->stop_after;
}

static void expect_scan(struct queue *q, const char *from, const char *prefix, size_t stop,
			const char *want)
{
	struct scan_acc a = {.stop_after = stop};
	assert_int_equal(queue_kv_scan(q, "directory", from, from ? strlen(from) : 0, prefix,
				       prefix ? strlen(prefix) : 0, scan_fn, &a),
			 0);
	assert_string_equal(a.keys, want);
}

static void test_kv_tables(void **state)
{
	struct fx *f = *state;
	bool existed = true;
	void *v;
	size_t n;

	assert_int_equal(kv(f->q, QUEUE_OP_KV_PUT, "peers", "kakao", "v1", &existed), 0);
	assert_false(existed);
	expect_kv(f->q, "peers", "kakao", "v1");
	assert_int_equal(kv(f->q, QUEUE_OP_KV_PUT, "peers", "kakao", "v2", &existed), 0);
	assert_true(existed);
	expect_kv(f->q, "peers", "kakao", "v2");
	expect_kv(f->q, "directory", "kakao", NULL); /* tables are apart */
	assert_int_equal(kv(f->q, QUEUE_OP_KV_PUT, "peers", "empty", "", NULL), 0);
	expect_kv(f->q, "peers", "empty", "");
	/* unknown table, empty key */
	assert_int_equal(kv(f->q, QUEUE_OP_KV_PUT, "nope", "k", "v", NULL), -QUEUE_EINVAL);
	assert_int_equal(kv(f->q, QUEUE_OP_KV_PUT, "peers", "", "v", NULL), -QUEUE_EINVAL);
	assert_int_equal(queue_kv_get(f->q, "nope", "k", 1, &v, &n), -QUEUE_EINVAL);
	/* delete: existed tells whether anything went */
	assert_int_equal(kv(f->q, QUEUE_OP_KV_DEL, "peers", "kakao", NULL, &existed), 0);
	assert_true(existed);
	assert_int_equal(kv(f->q, QUEUE_OP_KV_DEL, "peers", "kakao", NULL, &existed), 0);
	assert_false(existed);
	expect_kv(f->q, "peers", "kakao", NULL);
	/* scans: key order, prefix, a starting key, early stop */
	const char *keys[] = {"+8210", "+82101", "+8211", "+83", "a@x"};
	for (size_t i = 0; i < N_OF(keys); i++)
		assert_int_equal(kv(f->q, QUEUE_OP_KV_PUT, "directory", keys[i], "x", NULL), 0);
	expect_scan(f->q, NULL, NULL, 0, "+8210,+82101,+8211,+83,a@x,");
	expect_scan(f->q, NULL, "+821", 0, "+8210,+82101,+8211,");
	expect_scan(f->q, "+82101", "+821", 0, "+82101,+8211,");
	expect_scan(f->q, "+8211~", "+821", 0, "");
	expect_scan(f->q, NULL, NULL, 2, "+8210,+82101,");
	/* they live in the store: a reopen keeps them */
	fx_reopen(f);
	expect_kv(f->q, "peers", "empty", "");
	expect_scan(f->q, NULL, "a", 0, "a@x,");
}

#include "queue_admin_tests.inc"

/* ----------------------------------------------------------------- main */

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_longest_status, setup, teardown),
		cmocka_unit_test(test_rid_new_and_time),
		cmocka_unit_test(test_rid_text),
		cmocka_unit_test(test_strerror_state_name),
		T(test_open_invalid),
		T(test_open_reopen_keeps),
		T(test_schema_mismatch),
		T(test_sync_full),
		T(test_insert_invalid),
		T(test_insert_behind_later_rid),
		T(test_duplicate),
		T(test_admit_get),
		T(test_duplicate_in_one_batch),
		T(test_lease_due_order_and_max),
		T(test_lease_many),
		T(test_lease_invalid),
		T(test_lease_op_reuse),
		T(test_reschedule_order),
		T(test_reschedule_failover),
		T(test_finalise_states),
		T(test_change_errors),
		T(test_pull_inbox),
		T(test_pull_expired),
		T(test_purge),
		T(test_background_purge),
		T(test_counts_each_peer),
		T(test_counts_many_peers_one_batch),
		T(test_store_full),
		T(test_disk_full),
		T(test_disk_error),
		T(test_map_growth),
		T(test_close_with_pending),
		T(test_submit_after_close),
		T(test_threads_group_commit),
		T(test_corrupt_status),
		T(test_kv_tables),
		QUEUE_ADMIN_TESTS,
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
