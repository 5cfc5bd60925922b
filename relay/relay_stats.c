/*
 * Per-peer counters and latency histograms for /metrics: what the node accepted, delivered,
 * failed, expired and retried, per peer, and how long accepting and pushing took.
 * Recording is lock-free (atomics); only the first event of a new peer name takes the mutex.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "relay/relay_priv.h"

#define HASH_SIZE 64 /* buckets of the peer table: peers are few */

const double relay_stats_bounds[RELAY_STATS_BUCKETS] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

/* The same bounds in microseconds, for recording without floating point. */
static const uint64_t bounds_us[RELAY_STATS_BUCKETS] = {
	1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000,
};

/* One peer's counters. Entries are only added (published with a release store) and freed
 * with the table, so a reader walks a chain without the lock. */
struct pentry {
	struct pentry *next; /* immutable once published */
	char name[RELAY_NODE_ID_MAX + 1];
	atomic_uint_fast64_t n[RELAY_STAT_MAX_];
};

struct hist {
	atomic_uint_fast64_t bucket[RELAY_STATS_BUCKETS + 1]; /* not cumulative; last: +Inf */
	atomic_uint_fast64_t sum_us;
};

struct relay_stats {
	_Atomic(struct pentry *) head[HASH_SIZE];
	pthread_mutex_t lock; /* serialises adding entries */
	atomic_size_t n_peers;
	struct hist hist[RELAY_HIST_MAX_];
};

uint64_t relay_stats_clock_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

struct relay_stats *relay_stats_new(void)
{
	struct relay_stats *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	if (pthread_mutex_init(&s->lock, NULL) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

void relay_stats_free(struct relay_stats *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < HASH_SIZE; i++) {
		struct pentry *e = atomic_load(&s->head[i]);
		while (e) {
			struct pentry *next = e->next;
			free(e);
			e = next;
		}
	}
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* FNV-1a */
static size_t hash(const char *name)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h % HASH_SIZE;
}

static struct pentry *find(struct pentry *e, const char *name)
{
	while (e && strcmp(e->name, name) != 0)
		e = e->next;
	return e;
}

/* The peer's entry, added on first use; NULL when the name is too long, the table holds
 * RELAY_STATS_PEERS_MAX peers already, or memory ran out (the event goes uncounted). */
static struct pentry *entry(struct relay_stats *s, const char *name)
{
	size_t h = hash(name);
	struct pentry *e = find(atomic_load_explicit(&s->head[h], memory_order_acquire), name);

	if (e || strlen(name) > RELAY_NODE_ID_MAX)
		return e;
	pthread_mutex_lock(&s->lock);
	e = find(atomic_load_explicit(&s->head[h], memory_order_acquire), name);
	if (!e && atomic_load(&s->n_peers) < RELAY_STATS_PEERS_MAX && (e = calloc(1, sizeof(*e)))) {
		strcpy(e->name, name);
		e->next = atomic_load_explicit(&s->head[h], memory_order_relaxed);
		atomic_store_explicit(&s->head[h], e, memory_order_release);
		atomic_fetch_add(&s->n_peers, 1);
	}
	pthread_mutex_unlock(&s->lock);
	return e;
}

void relay_stats_count(struct relay_stats *s, const char *peer, enum relay_stat what)
{
	struct pentry *e;

	if (!s || !peer || what >= RELAY_STAT_MAX_ || !(e = entry(s, peer)))
		return;
	atomic_fetch_add_explicit(&e->n[what], 1, memory_order_relaxed);
}

void relay_stats_latency(struct relay_stats *s, enum relay_hist which, uint64_t us)
{
	size_t i = 0;

	if (!s || which >= RELAY_HIST_MAX_)
		return;
	while (i < RELAY_STATS_BUCKETS && us > bounds_us[i])
		i++;
	atomic_fetch_add_explicit(&s->hist[which].bucket[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->hist[which].sum_us, us, memory_order_relaxed);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct relay_peer_stats *)a)->peer,
		      ((const struct relay_peer_stats *)b)->peer);
}

/* Copies the histogram; its count is the sum of its buckets, so that it is consistent. */
static void hist_copy(struct hist *h, struct relay_histogram *out)
{
	uint64_t total = 0;

	for (size_t i = 0; i <= RELAY_STATS_BUCKETS; i++) {
		uint64_t v = atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
		total += v;
		out->cumulative[i] = total;
	}
	out->count = total;
	out->sum_us = atomic_load_explicit(&h->sum_us, memory_order_relaxed);
}

int relay_node_stats(const struct relay_node *n, struct relay_stats_snapshot *out)
{
	struct relay_stats *s = n->stats;
	size_t cap, k = 0;

	memset(out, 0, sizeof(*out));
	if (!s)
		return 0;
	cap = atomic_load(&s->n_peers);
	if (cap && !(out->peers = calloc(cap, sizeof(*out->peers))))
		return -RELAY_ENOMEM;
	for (size_t i = 0; i < HASH_SIZE; i++) {
		struct pentry *e = atomic_load_explicit(&s->head[i], memory_order_acquire);
		for (; e && k < cap; e = e->next, k++) {
			memcpy(out->peers[k].peer, e->name, sizeof(e->name));
			for (size_t j = 0; j < RELAY_STAT_MAX_; j++)
				out->peers[k].n[j] = atomic_load_explicit(&e->n[j],
									  memory_order_relaxed);
		}
	}
	out->n_peers = k;
	if (k > 1)
		qsort(out->peers, k, sizeof(*out->peers), by_name);
	for (size_t i = 0; i < RELAY_HIST_MAX_; i++)
		hist_copy(&s->hist[i], &out->hist[i]);
	return 0;
}

void relay_stats_snapshot_clear(struct relay_stats_snapshot *snap)
{
	if (!snap)
		return;
	free(snap->peers);
	memset(snap, 0, sizeof(*snap));
}
