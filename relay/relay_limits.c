/*
 * Per-peer rate limits: a token bucket per peer (rate tokens a second, up to
 * burst), taken by the carrier API before a submission is parsed further.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay/relay_priv.h"

struct bucket {
	char peer[ROUTE_NAME_MAX + 1];
	double tokens;
	int64_t at_ms;
	struct bucket *next;
};

#define BUCKET_SLOTS 256

struct relay_limits {
	pthread_mutex_t lock; /* guards every bucket */
	struct bucket *slot[BUCKET_SLOTS];
};

struct relay_limits *relay_limits_new(void)
{
	struct relay_limits *l = calloc(1, sizeof(*l));
	if (l)
		pthread_mutex_init(&l->lock, NULL);
	return l;
}

void relay_limits_free(struct relay_limits *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < BUCKET_SLOTS; i++) {
		for (struct bucket *b = l->slot[i], *next; b; b = next) {
			next = b->next;
			free(b);
		}
	}
	pthread_mutex_destroy(&l->lock);
	free(l);
}

static unsigned slot_of(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % BUCKET_SLOTS;
}

/* The peer's bucket, created full; NULL when out of memory. Under l->lock. */
static struct bucket *bucket_of(struct relay_limits *l, const struct route_peer *p,
				int64_t now_ms)
{
	unsigned i = slot_of(p->name);
	for (struct bucket *b = l->slot[i]; b; b = b->next)
		if (strcmp(b->peer, p->name) == 0)
			return b;
	struct bucket *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	snprintf(b->peer, sizeof(b->peer), "%s", p->name);
	b->tokens = p->burst;
	b->at_ms = now_ms;
	b->next = l->slot[i];
	l->slot[i] = b;
	return b;
}

unsigned relay_limits_take(struct relay_limits *l, const struct route_peer *peer, unsigned n,
			   int64_t now_ms)
{
	double rate = peer->rate ? peer->rate : 1, burst = peer->burst ? peer->burst : rate;
	unsigned wait = 0;

	pthread_mutex_lock(&l->lock);
	struct bucket *b = bucket_of(l, peer, now_ms);
	if (b) {
		if (now_ms > b->at_ms)
			b->tokens += (double)(now_ms - b->at_ms) * rate / 1000.0;
		b->at_ms = now_ms > b->at_ms ? now_ms : b->at_ms;
		if (b->tokens > burst)
			b->tokens = burst;
		if (b->tokens >= n) {
			b->tokens -= n;
		} else {
			double missing = (double)n - b->tokens;
			wait = (unsigned)(missing / rate) + 1; /* whole seconds, rounded up */
		}
	}
	pthread_mutex_unlock(&l->lock);
	return wait;
}
