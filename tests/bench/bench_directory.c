/*
 * Benchmark of the subscriber directory (routing/route_directory.c): 1 000 000 entries in a
 * store on disk, then 200 000 random route_dir_get() lookups beside raw queue_kv_get() of the
 * same keys in the same run. Usage: bench_directory [dir] (default under build/).
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "queue/queue.h"
#include "routing/routing.h"

#define ENTRIES      1000000
#define BATCH        1000 /* KV_PUT operations in flight at once while loading */
#define LOAD_STEP    7919 /* a prime, coprime with ENTRIES: the load order is a permutation */
#define LOOKUPS      200000
#define SLICE        10000 /* lookups per slice; the two kinds alternate who goes first */
#define WARMUP       20000
#define PUTS         2000 /* route_dir_put calls timed on the write path */
#define TARGET_P99   20.0 /* µs */
#define TMPFS_MAGIC_ 0x01021994
#define VAL_MAX      256

/* ------------------------------------------------------------- entries */

/* Entry i: "+8210" and 8 digits. Its accounts: kakao (the same number, priority 0), and for
 * every other entry a linked account at line (a handle, priority 1, failover after 10 min). */
static void entry_key(uint32_t i, char *out, size_t size)
{
	snprintf(out, size, "+8210%08u", (unsigned)i);
}

static size_t put_account(unsigned char *p, const char *peer, const char *addr, unsigned kind,
			  unsigned prio, unsigned failover, uint32_t delay)
{
	size_t n = strlen(peer), m = strlen(addr), k = 0;

	p[k++] = (unsigned char)n;
	memcpy(p + k, peer, n);
	k += n;
	p[k++] = (unsigned char)kind;
	p[k++] = (unsigned char)(m & 0xff);
	p[k++] = (unsigned char)(m >> 8);
	memcpy(p + k, addr, m);
	k += m;
	p[k++] = (unsigned char)prio;
	p[k++] = (unsigned char)failover;
	for (int b = 0; b < 4; b++)
		p[k++] = (unsigned char)(delay >> (8 * b));
	return k;
}

/* The directory's record v1 for entry i (format: routing/route_directory.c). main() checks
 * it byte for byte against what route_dir_put() writes, so a format change fails loudly. */
static size_t entry_value(uint32_t i, unsigned char *out)
{
	char key[32], handle[48];
	size_t n = 2;

	entry_key(i, key, sizeof(key));
	out[0] = 1;
	out[1] = i % 2 ? 2 : 1;
	n += put_account(out + n, "kakao", key, ROUTE_ADDR_E164, 0, 0, 0);
	if (i % 2) {
		snprintf(handle, sizeof(handle), "u%u@line.example", (unsigned)i);
		n += put_account(out + n, "line", handle, ROUTE_ADDR_HANDLE, 1, 1, 600);
	}
	return n;
}

static int entry_accounts(struct routing *r, uint32_t i)
{
	char key[32], handle[48];
	struct route_addr a;
	struct route_account acc = {.peer = "kakao"};
	int rc;

	entry_key(i, key, sizeof(key));
	if ((rc = route_addr_parse(key, strlen(key), NULL, &a)) != 0)
		return rc;
	acc.addr = a;
	if ((rc = route_dir_put(r, "kakao", &a, &acc, NULL)) != 0 || i % 2 == 0)
		return rc;
	snprintf(handle, sizeof(handle), "u%u@line.example", (unsigned)i);
	acc = (struct route_account){.peer = "line", .priority = 1, .failover = true,
				     .failover_delay_s = 600};
	if ((rc = route_addr_parse(handle, strlen(handle), NULL, &acc.addr)) != 0)
		return rc;
	/* outside line's space: put as the admin would (a line's own put waits for approval) */
	return route_dir_put(r, NULL, &a, &acc, NULL);
}

/* ------------------------------------------------------------ loading */

struct batch {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	size_t done;
	struct queue_op op[BATCH];
	char key[BATCH][32];
	unsigned char val[BATCH][VAL_MAX];
};

static void batch_done(struct queue_op *op)
{
	struct batch *b = op->arg;

	pthread_mutex_lock(&b->lock);
	if (++b->done == BATCH)
		pthread_cond_signal(&b->cond);
	pthread_mutex_unlock(&b->lock);
}

/* Submits BATCH puts at a time and waits for all of them; the writer commits them together.
 * Keys go in a scattered order (i * LOAD_STEP mod ENTRIES), as real portability data would,
 * not in key order, which LMDB would pack unrealistically tight. Returns 0 or the first
 * failure. */
static int load(struct queue *q, struct batch *b)
{
	for (uint32_t base = 0; base < ENTRIES; base += BATCH) {
		b->done = 0;
		for (uint32_t j = 0; j < BATCH; j++) {
			uint32_t i = (uint32_t)((uint64_t)(base + j) * LOAD_STEP % ENTRIES);

			entry_key(i, b->key[j], sizeof(b->key[j]));
			b->op[j] = (struct queue_op){.type = QUEUE_OP_KV_PUT, .done = batch_done,
						     .arg = b};
			b->op[j].u.kv = (struct queue_op_kv){
			    .table = "directory", .key = b->key[j], .klen = strlen(b->key[j]),
			    .val = b->val[j], .vlen = entry_value(i, b->val[j])};
			queue_submit(q, &b->op[j]);
		}
		pthread_mutex_lock(&b->lock);
		while (b->done < BATCH)
			pthread_cond_wait(&b->cond, &b->lock);
		pthread_mutex_unlock(&b->lock);
		for (uint32_t j = 0; j < BATCH; j++)
			if (b->op[j].rc != 0)
				return b->op[j].rc;
	}
	return 0;
}

/* ------------------------------------------------------------ lookups */

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 11);
}

/* One timed lookup of entry i, through the directory or raw; its time in ns, or -1. */
static int64_t lookup(struct routing *r, struct queue *q, uint32_t i, int raw)
{
	char key[32];
	struct route_addr a;
	struct route_dir_entry e;
	void *v;
	size_t n;
	int64_t t0, t1;
	int rc;

	entry_key(i, key, sizeof(key));
	if (route_addr_parse(key, strlen(key), NULL, &a) != 0)
		return -1;
	t0 = now_ns();
	if (raw) {
		rc = queue_kv_get(q, "directory", a.text, a.len, &v, &n);
		if (rc == 0)
			free(v);
	} else {
		rc = route_dir_get(r, &a, &e);
		if (rc == 0 && e.n != (i % 2 ? 2u : 1u))
			rc = -1;
	}
	t1 = now_ns();
	return rc == 0 ? t1 - t0 : -1;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

struct figures {
	double p50, p99, max; /* µs */
};

static struct figures summarise(int64_t *ns, size_t n)
{
	qsort(ns, n, sizeof(*ns), cmp_i64);
	return (struct figures){ns[n / 2] / 1e3, ns[n * 99 / 100] / 1e3, ns[n - 1] / 1e3};
}

/* LOOKUPS random lookups of each kind, in slices that alternate which kind goes first over
 * the same keys; after an untimed warm-up. Returns 0, or -1 when a lookup failed. */
static int lookups(struct routing *r, struct queue *q, int64_t *dir_ns, int64_t *raw_ns)
{
	for (size_t i = 0; i < WARMUP; i++)
		if (lookup(r, q, rnd() % ENTRIES, (int)(i % 2)) < 0)
			return -1;
	for (size_t s = 0; s < LOOKUPS; s += SLICE) {
		uint32_t seed[SLICE];

		for (size_t j = 0; j < SLICE; j++)
			seed[j] = rnd() % ENTRIES;
		for (int pass = 0; pass < 2; pass++) {
			int raw = (int)((s / SLICE + (size_t)pass) % 2);
			int64_t *out = raw ? raw_ns : dir_ns;

			for (size_t j = 0; j < SLICE; j++)
				if ((out[s + j] = lookup(r, q, seed[j], raw)) < 0)
					return -1;
		}
	}
	return 0;
}

/* ------------------------------------------------------------- main */

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* The peers that the accounts name. */
static int publish_peers(struct routing *r)
{
	static const char *const names[] = {"kakao", "line"};
	static const char *const kakao_owns[] = {"+8210"}; /* its accounts are active at once */
	struct route_table *t = route_table_new();

	if (!t)
		return -ROUTE_ENOMEM;
	for (size_t i = 0; i < 2; i++) {
		struct route_peer p = {.name = names[i], .kind = ROUTE_PEER_CARRIER,
				       .owns = i == 0 ? kakao_owns : NULL, .n_owns = i == 0};
		int rc = route_table_add_peer(t, &p);
		if (rc != 0) {
			route_table_free(t);
			return rc;
		}
	}
	routing_publish(r, t);
	return 0;
}

/* Writes PUTS entries (beyond the loaded ones) through route_dir_put and checks the first
 * against the bench's own encoder. Prints the mean time per put. Returns 0 or -1. */
static int write_path(struct routing *r, struct queue *q)
{
	unsigned char want[VAL_MAX];
	void *got = NULL;
	size_t n = 0, wn;
	char key[32];
	int64_t t0 = now_ns();

	for (uint32_t i = ENTRIES; i < ENTRIES + PUTS; i++)
		if (entry_accounts(r, i) != 0)
			return -1;
	double us = (double)(now_ns() - t0) / 1e3 / (PUTS * 1.5);
	for (uint32_t i = ENTRIES; i < ENTRIES + 2; i++) {
		entry_key(i, key, sizeof(key));
		wn = entry_value(i, want);
		if (queue_kv_get(q, "directory", key, strlen(key), &got, &n) != 0)
			return -1;
		int same = n == wn && memcmp(got, want, n) == 0;
		free(got);
		if (!same) {
			fprintf(stderr, "bench_directory: the record format changed: update "
					"entry_value()\n");
			return -1;
		}
	}
	printf("route_dir_put (sync none, one commit each): %.1f µs per account\n", us);
	return 0;
}

static int run(const char *dir)
{
	static int64_t dir_ns[LOOKUPS], raw_ns[LOOKUPS];
	struct queue_options opt = {.dir = dir, .map_size = 256ULL << 20,
				    .max_map_size = 2ULL << 30, .sync = QUEUE_SYNC_NONE,
				    .retention_ms = 3600 * 1000, .tables = route_queue_tables,
				    .n_tables = ROUTE_QUEUE_TABLES};
	struct batch *b = calloc(1, sizeof(*b));
	struct queue *q = NULL;
	struct routing *r = NULL;
	struct queue_store_stat st;
	char err[256];
	int rc = -1;

	if (!b || queue_open(&opt, &q, err, sizeof(err)) != 0) {
		fprintf(stderr, "bench_directory: queue_open: %s\n", b ? err : "no memory");
		free(b);
		return -1;
	}
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->cond, NULL);
	if (!(r = routing_new("bench-node", q, NULL)) || publish_peers(r) != 0)
		goto out;
	int64_t t0 = now_ns();
	if ((rc = load(q, b)) != 0) {
		fprintf(stderr, "bench_directory: load: %s\n", queue_strerror(rc));
		goto out;
	}
	double secs = (double)(now_ns() - t0) / 1e9;
	queue_store_stat(q, &st);
	printf("load: %d entries in %.1f s (%.0f/s; %d puts in flight, sync none), "
	       "store %.0f MiB\n",
	       ENTRIES, secs, ENTRIES / secs, BATCH, (double)st.used_bytes / (1 << 20));
	if ((rc = write_path(r, q)) != 0 || (rc = lookups(r, q, dir_ns, raw_ns)) != 0) {
		fprintf(stderr, "bench_directory: a lookup or put failed\n");
		goto out;
	}
	struct figures d = summarise(dir_ns, LOOKUPS), w = summarise(raw_ns, LOOKUPS);
	printf("%d random lookups     p50 µs   p99 µs   max µs\n", LOOKUPS);
	printf("  queue_kv_get (raw) %8.2f %8.2f %8.1f\n", w.p50, w.p99, w.max);
	printf("  route_dir_get      %8.2f %8.2f %8.1f\n", d.p50, d.p99, d.max);
	printf("  ratio              %8.2f %8.2f\n", d.p50 / w.p50, d.p99 / w.p99);
	printf("target p99 < %.0f µs: %s\n", TARGET_P99,
	       d.p99 < TARGET_P99 ? "ok" : "below target");
out:
	routing_free(r);
	queue_close(q);
	pthread_cond_destroy(&b->cond);
	pthread_mutex_destroy(&b->lock);
	free(b);
	return rc;
}

int main(int argc, char **argv)
{
	char dir[PATH_MAX];
	struct stat sb;
	struct statfs fs;
	const char *parent = argc > 1 ? argv[1] : stat("build", &sb) == 0 ? "build" : "/var/tmp";
	int rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	snprintf(dir, sizeof(dir), "%s/bench-directory-XXXXXX", parent);
	if (!mkdtemp(dir)) {
		fprintf(stderr, "bench_directory: mkdtemp %s: %s\n", dir, strerror(errno));
		return 1;
	}
	printf("bench_directory: %d entries, %d lookups, in %s\n", ENTRIES, LOOKUPS, dir);
	if (statfs(dir, &fs) == 0 && fs.f_type == TMPFS_MAGIC_)
		printf("warning: %s is on tmpfs, not a disk\n", dir);
	rc = run(dir);
	nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
	return rc == 0 ? 0 : 1;
}
