/*
 * Benchmark of queue/'s group commit, synced: 1 KiB inserts beside raw LMDB, measured in turns
 * of short slices on the same disk so that load changes hit all alike. A and B (1 and 64 puts
 * per synced commit) are the targets; A' and B' do in raw LMDB exactly the writes of an insert
 * (queue_ops.c apply_insert), so that queue / A' is the queue's own overhead over its schema.
 * Usage: bench_queue [dir] (default under build/).
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>

#include "queue/queue.h"

#define PAYLOAD       1024
#define ROUNDS        8
#define SLICE_SECONDS 0.25 /* each scenario runs ROUNDS slices: 2 s, 16 s in all */
#define RAW_MAP_SIZE  (1ULL << 30)
#define TMPFS_MAGIC_  0x01021994
#define TARGET        0.80
#define FAST_FSYNC_US 1000.0 /* a slice of A below this: fast-fsync phase, where the
				     schema's cost shows; above it, fsync hides it */
#define IN_FLIGHT     64
#define SRC_PEER      "bench-src"
#define DST_PEER      "bench-dst"
#define HOUR_MS       (3600 * 1000LL)

static unsigned char payload[PAYLOAD];

/* What a scenario did, summed over its slices. */
struct result {
	uint64_t records;
	double seconds;
	uint64_t commits, ops;
	double slice_commit[ROUNDS]; /* seconds per commit, slice by slice */
	unsigned slices;
};

static double rate(const struct result *r)
{
	return r->seconds > 0 ? (double)r->records / r->seconds : 0;
}

static double per_commit(const struct result *r)
{
	return r->commits ? (double)r->ops / (double)r->commits : 0;
}

static void add_slice(struct result *res, uint64_t records, double seconds, uint64_t commits,
		      uint64_t ops)
{
	if (res->slices < ROUNDS)
		res->slice_commit[res->slices++] = commits ? seconds / (double)commits : 0;
	res->records += records;
	res->seconds += seconds;
	res->commits += commits;
	res->ops += ops;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* A fresh directory under base for one scenario. */
static int fresh_dir(const char *base, const char *name, char *out, size_t size)
{
	snprintf(out, size, "%s/%s-XXXXXX", base, name);
	if (!mkdtemp(out)) {
		fprintf(stderr, "bench_queue: mkdtemp %s: %s\n", out, strerror(errno));
		return -1;
	}
	return 0;
}

static void remove_dir(const char *dir)
{
	nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* ------------------------------------------------------------- raw LMDB */

/* The queue's database names (queue_env.c). A and B open only "msg"; A' and B' open them
 * all, as the queue does, and write the ones an insert writes. */
enum raw_db {
	R_MSG, R_STATUS, R_SCHED, R_BYPEER, R_IDEM, R_COUNTS, /* written by an insert */
	R_META, R_INBOX, R_FINAL,
	R_DBS
};
static const char *const raw_names[R_DBS] = {
	[R_MSG] = "msg",       [R_STATUS] = "status", [R_SCHED] = "sched",
	[R_BYPEER] = "bypeer", [R_IDEM] = "idem",     [R_COUNTS] = "counts",
	[R_META] = "meta",     [R_INBOX] = "inbox",   [R_FINAL] = "final",
};

struct raw {
	char dir[PATH_MAX];
	MDB_env *env;
	MDB_dbi dbi[R_DBS];
	uint64_t seq; /* client ids, as producer 0 numbers them */
};

/* A fresh environment with the first ndbs of raw_names; 0 or -1 (said on stderr). */
static int raw_open(const char *base, size_t ndbs, struct raw *r)
{
	char path[PATH_MAX + 16];
	MDB_txn *txn;
	int rc;

	if (fresh_dir(base, "raw", r->dir, sizeof(r->dir)) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/store.mdb", r->dir);
	/* the queue's flags, without MDB_NOSYNC: every commit is synced */
	if ((rc = mdb_env_create(&r->env)) || (rc = mdb_env_set_maxdbs(r->env, R_DBS)) ||
	    (rc = mdb_env_set_mapsize(r->env, RAW_MAP_SIZE)) ||
	    (rc = mdb_env_open(r->env, path, MDB_NOSUBDIR | MDB_NOTLS | MDB_NORDAHEAD, 0640)) ||
	    (rc = mdb_txn_begin(r->env, NULL, 0, &txn)))
		goto fail;
	for (size_t i = 0; i < ndbs && rc == 0; i++)
		rc = mdb_dbi_open(txn, raw_names[i], MDB_CREATE, &r->dbi[i]);
	if (rc != 0) {
		mdb_txn_abort(txn);
		goto fail;
	}
	if ((rc = mdb_txn_commit(txn)) == 0)
		return 0;
fail:
	fprintf(stderr, "bench_queue: raw LMDB: %s\n", mdb_strerror(rc));
	mdb_env_close(r->env);
	remove_dir(r->dir);
	return -1;
}

static int put_flags(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen, const void *v,
		     size_t vlen, unsigned flags)
{
	MDB_val key = {klen, (void *)k}, val = {vlen, (void *)v};
	return mdb_put(txn, dbi, &key, &val, flags);
}

static int put(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen, const void *v, size_t vlen)
{
	return put_flags(txn, dbi, k, klen, v, vlen, 0);
}

/* name NUL tail, as queue_record.c builds its name keys; returns the length. */
static size_t name_key(unsigned char *out, const char *name, const void *tail, size_t tlen)
{
	size_t n = strlen(name);
	memcpy(out, name, n + 1);
	memcpy(out + n + 1, tail, tlen);
	return n + 1 + tlen;
}

/* A: a 1 KiB value under a rid key, time-ordered like the queue's message keys. */
static int plain_put(struct raw *r, MDB_txn *txn, int64_t now_ms)
{
	struct queue_rid rid;

	(void)now_ms;
	queue_rid_new(&rid);
	return put(txn, r->dbi[R_MSG], rid.b, sizeof(rid.b), payload, PAYLOAD);
}

/* A': what apply_insert writes for one push message: idem get + put, msg and status (appended:
 * rids grow), sched, bypeer; the status value has the size of a v1 record (queue_record.c) with these names. */
static int schema_insert(struct raw *r, MDB_txn *txn, int64_t now_ms)
{
	unsigned char idem[2 * QUEUE_NAME_MAX + 2], bypeer[QUEUE_NAME_MAX + 17], sched[24];
	char cid[QUEUE_NAME_MAX + 1];
	struct queue_rid rid;
	size_t slen, klen;
	MDB_val k, v;
	int rc;

	snprintf(cid, sizeof(cid), "p0-%llu", (unsigned long long)r->seq++);
	klen = name_key(idem, SRC_PEER, cid, strlen(cid));
	k = (MDB_val){klen, idem};
	if ((rc = mdb_get(txn, r->dbi[R_IDEM], &k, &v)) != MDB_NOTFOUND)
		return rc ? rc : MDB_KEYEXIST;
	queue_rid_new(&rid);
	slen = 7 + 7 * 8 + 5 + strlen(SRC_PEER) + strlen(cid) + strlen(DST_PEER);
	for (int i = 0; i < 8; i++)
		sched[i] = (unsigned char)((uint64_t)(now_ms + HOUR_MS) >> (56 - 8 * i));
	memcpy(sched + 8, rid.b, 16);
	if ((rc = put(txn, r->dbi[R_IDEM], idem, klen, rid.b, 16)) ||
	    (rc = put_flags(txn, r->dbi[R_MSG], rid.b, 16, payload, PAYLOAD, MDB_APPEND)) ||
	    (rc = put_flags(txn, r->dbi[R_STATUS], rid.b, 16, payload, slen, MDB_APPEND)) ||
	    (rc = put(txn, r->dbi[R_SCHED], sched, sizeof(sched), "", 0)))
		return rc;
	klen = name_key(bypeer, DST_PEER, rid.b, 16);
	return put(txn, r->dbi[R_BYPEER], bypeer, klen, "", 0);
}

/* A': the per-commit flush of the destination's counts (q_flush_counts): get, add, put. */
static int schema_counts(struct raw *r, MDB_txn *txn, int n)
{
	unsigned char buf[(QUEUE_STATE_MAX_ - 1) * 8] = {0};
	MDB_val k = {strlen(DST_PEER), DST_PEER}, v;
	int rc = mdb_get(txn, r->dbi[R_COUNTS], &k, &v);
	uint64_t queued = 0;

	if (rc == 0 && v.mv_size == sizeof(buf))
		memcpy(buf, v.mv_data, sizeof(buf));
	else if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	for (int b = 7; b >= 0; b--)
		queued = (queued << 8) | buf[b];
	queued += (uint64_t)n;
	for (int b = 0; b < 8; b++)
		buf[b] = (unsigned char)(queued >> (8 * b));
	return put(txn, r->dbi[R_COUNTS], DST_PEER, strlen(DST_PEER), buf, sizeof(buf));
}

/* n records per synced commit for `seconds`, plain puts (A, B) or the queue's schema (A', B'),
 * into a fresh environment. Adds to *res; returns 0 or -1. */
static int raw_lmdb(const char *base, int n, bool schema, double seconds, struct result *res)
{
	int (*one)(struct raw *, MDB_txn *, int64_t) = schema ? schema_insert : plain_put;
	struct raw r = {.seq = 0};
	uint64_t commits = 0;
	double t0, t = 0;
	MDB_txn *txn;
	int rc = 0;

	if (raw_open(base, schema ? R_DBS : 1, &r) != 0)
		return -1;
	t0 = now_s();
	do {
		int64_t now_ms = (int64_t)time(NULL) * 1000;
		if ((rc = mdb_txn_begin(r.env, NULL, 0, &txn)))
			break;
		for (int i = 0; i < n && rc == 0; i++)
			rc = one(&r, txn, now_ms);
		if (rc == 0 && schema)
			rc = schema_counts(&r, txn, n);
		if (rc != 0) {
			mdb_txn_abort(txn);
			break;
		}
		if ((rc = mdb_txn_commit(txn)))
			break;
		commits++;
		t = now_s() - t0;
	} while (t < seconds);
	mdb_env_close(r.env);
	remove_dir(r.dir);
	if (rc != 0) {
		fprintf(stderr, "bench_queue: raw LMDB: %s\n", mdb_strerror(rc));
		return -1;
	}
	add_slice(res, commits * (uint64_t)n, t, commits, commits * (uint64_t)n);
	return 0;
}

/* ------------------------------------------------------------- queue */

/* A push insert of the shared payload; cid (QUEUE_NAME_MAX + 1 bytes) is lent until done(). */
static void fill_insert(struct queue_op *op, char *cid, unsigned id, uint64_t seq,
			void (*done)(struct queue_op *), void *arg)
{
	int64_t t = (int64_t)time(NULL) * 1000;

	snprintf(cid, QUEUE_NAME_MAX + 1, "p%u-%llu", id, (unsigned long long)seq);
	*op = (struct queue_op){.type = QUEUE_OP_INSERT, .done = done, .arg = arg};
	op->u.insert = (struct queue_op_insert){
		.now_ms = t,
		.src_peer = SRC_PEER,
		.client_id = cid,
		.dst_peer = DST_PEER,
		.mode = QUEUE_PUSH,
		.due_ms = t + HOUR_MS,
		.expires_ms = t + 24 * HOUR_MS,
		.payload = payload,
		.len = PAYLOAD,
	};
}

/* Blocking producers: one thread each, one queue_exec at a time. */
struct producer {
	struct queue *q;
	unsigned id;
	atomic_bool *stop;
	uint64_t inserted;
	int rc; /* the first failure, or 0 */
	pthread_t thread;
};

static void *producer_main(void *arg)
{
	struct producer *p = arg;
	char client_id[QUEUE_NAME_MAX + 1];
	struct queue_op op;

	while (!atomic_load_explicit(p->stop, memory_order_relaxed)) {
		fill_insert(&op, client_id, p->id, p->inserted, NULL, NULL);
		int rc = queue_exec(p->q, &op);
		if (rc != 0) {
			p->rc = rc;
			break;
		}
		p->inserted++;
	}
	return NULL;
}

static int drive_threads(struct queue *q, unsigned n, double seconds, uint64_t *records)
{
	struct producer *ps = calloc(n, sizeof(*ps));
	atomic_bool stop = false;
	double t0 = now_s();
	int rc = 0;

	if (!ps)
		return -QUEUE_ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		ps[i] = (struct producer){.q = q, .id = i, .stop = &stop};
		if (pthread_create(&ps[i].thread, NULL, producer_main, &ps[i]) != 0) {
			fprintf(stderr, "bench_queue: pthread_create failed\n");
			abort();
		}
	}
	while (now_s() - t0 < seconds)
		usleep(10000);
	atomic_store(&stop, true);
	for (unsigned i = 0; i < n; i++) {
		pthread_join(ps[i].thread, NULL);
		*records += ps[i].inserted;
		if (ps[i].rc && !rc)
			rc = ps[i].rc;
	}
	free(ps);
	return rc;
}

/* One thread keeping n inserts in flight, as the relay does: each suspended HTTP request is
 * resumed from done() (on the writer thread), and its thread answers it and takes the next. */
struct resume {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct flight *ready; /* completed, not yet seen by the thread */
};

struct flight {
	struct queue_op op;
	char client_id[QUEUE_NAME_MAX + 1];
	struct resume *home;
	struct flight *next;
};

static void flight_done(struct queue_op *op)
{
	struct flight *f = op->arg;
	struct resume *h = f->home;

	pthread_mutex_lock(&h->lock);
	f->next = h->ready;
	h->ready = f;
	if (!f->next)
		pthread_cond_signal(&h->cond);
	pthread_mutex_unlock(&h->lock);
}

static void flight_submit(struct queue *q, struct flight *f, uint64_t seq)
{
	fill_insert(&f->op, f->client_id, 0, seq, flight_done, f);
	queue_submit(q, &f->op);
}

static int drive_async(struct queue *q, unsigned n, double seconds, uint64_t *records)
{
	struct resume h = {.ready = NULL};
	struct flight *fs = calloc(n, sizeof(*fs));
	unsigned in_flight = 0;
	uint64_t seq = 0;
	double t0 = now_s();
	int rc = 0;

	if (!fs)
		return -QUEUE_ENOMEM;
	pthread_mutex_init(&h.lock, NULL);
	pthread_cond_init(&h.cond, NULL);
	for (; in_flight < n; in_flight++) {
		fs[in_flight].home = &h;
		flight_submit(q, &fs[in_flight], seq++);
	}
	while (in_flight > 0) {
		pthread_mutex_lock(&h.lock);
		while (!h.ready)
			pthread_cond_wait(&h.cond, &h.lock);
		struct flight *f = h.ready, *next;
		h.ready = NULL;
		pthread_mutex_unlock(&h.lock);
		bool more = now_s() - t0 < seconds;
		for (; f; f = next) {
			next = f->next; /* before f goes back to the writer */
			in_flight--;
			if (f->op.rc == 0)
				(*records)++;
			else if (rc == 0)
				rc = f->op.rc;
			if (more && rc == 0) {
				flight_submit(q, f, seq++);
				in_flight++;
			}
		}
	}
	pthread_cond_destroy(&h.cond);
	pthread_mutex_destroy(&h.lock);
	free(fs);
	return rc;
}

/* n blocking producers, or one thread with n in flight (async), inserting for `seconds` into
 * a fresh store. Adds to *res; returns 0 or -1. */
static int run_queue(const char *base, unsigned n, bool async, double seconds, struct result *res)
{
	char dir[PATH_MAX], err[256];
	struct queue_options opt = {
		.map_size = 256ULL << 20,
		.max_map_size = 4ULL << 30,
		.sync = QUEUE_SYNC_FULL,
		.retention_ms = 3600 * 1000,
	};
	struct queue_store_stat s0, s1;
	struct queue *q;
	uint64_t records = 0;
	int rc;

	if (fresh_dir(base, "queue", dir, sizeof(dir)) != 0)
		return -1;
	opt.dir = dir;
	if (queue_open(&opt, &q, err, sizeof(err)) != 0) {
		fprintf(stderr, "bench_queue: queue_open: %s\n", err);
		remove_dir(dir);
		return -1;
	}
	queue_store_stat(q, &s0);
	double t0 = now_s();
	rc = (async ? drive_async : drive_threads)(q, n, seconds, &records);
	double t = now_s() - t0;
	queue_store_stat(q, &s1);
	queue_close(q);
	remove_dir(dir);
	if (rc != 0) {
		fprintf(stderr, "bench_queue: insert: %s\n", queue_strerror(rc));
		return -1;
	}
	add_slice(res, records, t, s1.commits - s0.commits, s1.ops - s0.ops);
	return 0;
}

/* ------------------------------------------------------------- report */

enum scenario {
	RAW_1,       /* A */
	RAW_64,      /* B */
	SCHEMA_1,    /* A' */
	SCHEMA_64,   /* B' */
	QUEUE_1,
	QUEUE_8,
	QUEUE_64,
	QUEUE_ASYNC, /* 64 in flight from one thread */
	SCENARIOS
};

/* Each queue scenario between its baselines; run forward, then backward, and again. */
static const enum scenario order[] = {RAW_1,    SCHEMA_1,    QUEUE_1,   QUEUE_8,
				      QUEUE_64, QUEUE_ASYNC, SCHEMA_64, RAW_64};
#define ORDER_N (sizeof(order) / sizeof(order[0]))

static int run_scenario(const char *base, enum scenario sc, struct result *res)
{
	switch (sc) {
	case RAW_1:
		return raw_lmdb(base, 1, false, SLICE_SECONDS, res);
	case RAW_64:
		return raw_lmdb(base, 64, false, SLICE_SECONDS, res);
	case SCHEMA_1:
		return raw_lmdb(base, 1, true, SLICE_SECONDS, res);
	case SCHEMA_64:
		return raw_lmdb(base, 64, true, SLICE_SECONDS, res);
	case QUEUE_1:
		return run_queue(base, 1, false, SLICE_SECONDS, res);
	case QUEUE_8:
		return run_queue(base, 8, false, SLICE_SECONDS, res);
	case QUEUE_64:
		return run_queue(base, 64, false, SLICE_SECONDS, res);
	default:
		return run_queue(base, IN_FLIGHT, true, SLICE_SECONDS, res);
	}
}

/* Which fsync phase the disk was in, judged by A's commits, slice by slice. */
static void print_fsync_note(const struct result *a)
{
	double mean = a->commits ? a->seconds / (double)a->commits * 1e6 : 0, lo = 0, hi = 0;
	const char *phase = "mixed phases";
	unsigned slow = 0;

	for (unsigned i = 0; i < a->slices; i++) {
		double us = a->slice_commit[i] * 1e6;
		lo = i == 0 || us < lo ? us : lo;
		hi = us > hi ? us : hi;
		slow += us >= FAST_FSYNC_US;
	}
	if (slow == 0)
		phase = "fast-fsync phase";
	else if (slow == a->slices)
		phase = "slow-fsync phase";
	printf("\nnote: A took %.0f µs per synced commit (slices %.0f-%.0f µs, %u of %u ≥ %g ms): "
	       "%s\n",
	       mean, lo, hi, slow, a->slices, FAST_FSYNC_US / 1000, phase);
}

static void print_row(const char *name, const struct result *r, const char *target,
		      const char *schema)
{
	if (!*target)
		printf("%-29s %9.0f %10.1f\n", name, rate(r), per_commit(r));
	else if (!*schema)
		printf("%-29s %9.0f %10.1f  %s\n", name, rate(r), per_commit(r), target);
	else
		printf("%-29s %9.0f %10.1f  %-26s %s\n", name, rate(r), per_commit(r), target,
		       schema);
}

/* "x.xx x <base>", and whether that meets the target when `judge`. */
static const char *vs(char *out, size_t size, double x, double base, const char *name,
		      bool judge)
{
	double ratio = base > 0 ? x / base : 0;
	snprintf(out, size, "%.2f x %s%s", ratio, name,
		 !judge ? "" : ratio >= TARGET ? "  ok" : "  below target");
	return out;
}

static void print_table(const struct result *r)
{
	double a = rate(&r[RAW_1]), b = rate(&r[RAW_64]);
	double a2 = rate(&r[SCHEMA_1]), b2 = rate(&r[SCHEMA_64]);
	double q8 = rate(&r[QUEUE_8]);
	char t[40], s[40], t8[40], s8[40];

	print_fsync_note(&r[RAW_1]);
	printf("%-29s %9s %10s  vs A/B, target %.2f        vs A'/B' (overhead)\n", "scenario",
	       "records/s", "ops/commit", TARGET);
	print_row("A:  raw LMDB, 1 put/commit", &r[RAW_1], "", "");
	print_row("B:  raw LMDB, 64 puts/commit", &r[RAW_64], "", "");
	print_row("A': schema, 1 msg/commit", &r[SCHEMA_1], vs(t, sizeof(t), a2, a, "A", false),
		  "");
	print_row("B': schema, 64 msgs/commit", &r[SCHEMA_64],
		  vs(t, sizeof(t), b2, b, "B", false), "");
	print_row("queue, 1 producer", &r[QUEUE_1],
		  vs(t, sizeof(t), rate(&r[QUEUE_1]), a, "A", true),
		  vs(s, sizeof(s), rate(&r[QUEUE_1]), a2, "A'", false));
	snprintf(t8, sizeof(t8), "%.2f x A, %.2f x B", q8 / a, q8 / b);
	snprintf(s8, sizeof(s8), "%.2f x A', %.2f x B'", q8 / a2, q8 / b2);
	print_row("queue, 8 producers", &r[QUEUE_8], t8, s8);
	print_row("queue, 64 producers", &r[QUEUE_64],
		  vs(t, sizeof(t), rate(&r[QUEUE_64]), b, "B", true),
		  vs(s, sizeof(s), rate(&r[QUEUE_64]), b2, "B'", false));
	print_row("queue, 64 in flight, 1 thread", &r[QUEUE_ASYNC],
		  vs(t, sizeof(t), rate(&r[QUEUE_ASYNC]), b, "B", true),
		  vs(s, sizeof(s), rate(&r[QUEUE_ASYNC]), b2, "B'", false));
}

int main(int argc, char **argv)
{
	char base[PATH_MAX];
	struct stat sb;
	struct statfs fs;
	struct result res[SCENARIOS] = {{0}};
	const char *parent = argc > 1 ? argv[1] : stat("build", &sb) == 0 ? "build" : "/var/tmp";
	int rc = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (size_t i = 0; i < PAYLOAD; i++)
		payload[i] = (unsigned char)(i * 131 + 7);
	if (fresh_dir(parent, "bench-queue", base, sizeof(base)) != 0)
		return 1;
	printf("bench_queue: sync full, %d-byte records, in %s\n", PAYLOAD, base);
	if (statfs(base, &fs) == 0 && fs.f_type == TMPFS_MAGIC_)
		printf("warning: %s is on tmpfs: fsync costs nothing there, the figures mean "
		       "little\n",
		       base);
	for (size_t i = 0; i < ROUNDS * ORDER_N && rc == 0; i++) {
		size_t j = i % ORDER_N;
		enum scenario sc = order[(i / ORDER_N) % 2 ? ORDER_N - 1 - j : j];
		rc = run_scenario(base, sc, &res[sc]);
	}
	rmdir(base);
	if (rc != 0)
		return 1;
	print_table(res);
	return 0;
}
