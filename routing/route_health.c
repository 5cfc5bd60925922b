/*
 * Endpoint health: one circuit breaker per (peer name, endpoint index), fed by delivery
 * results and read by the decision. State lives in a small hash of peer names behind one
 * mutex, held only for the few stores and loads of an update or a read.
 */
#include "routing/routing_priv.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define RH_FAILURES_DEFAULT 3
#define RH_OPEN_DEFAULT_MS  (5 * 1000)
#define RH_MAX_DEFAULT_MS   (5 * 60 * 1000)
#define RH_BUCKETS_MIN      16

/*
 * One endpoint's breaker. Closed while !open. Open while now < until; half-open from
 * `until` on (computed when read, so that no timer is needed). opened_at is when the
 * endpoint went from closed to open — the start of its outage — and is kept through failed
 * probes, so that "down since" does not move while the outage goes on.
 */
struct rh_ep {
	bool open;
	uint32_t fails;      /* consecutive failures while closed */
	int64_t opened_at;   /* closed -> open */
	int64_t until;       /* end of the current open period */
	int64_t period;      /* length of the current open period */
	int64_t probe_until; /* half-open: a probe is in flight until then (its lease) */
};

struct rh_peer {
	struct rh_peer *next;
	char name[ROUTE_NAME_MAX + 1];
	struct rh_ep ep[ROUTE_ENDPOINTS_MAX];
};

struct route_health {
	pthread_mutex_t lock; /* guards everything below */
	uint32_t failures;
	int64_t open_ms, open_max_ms;
	struct rh_peer **bucket; /* chained hash of peers that have ever failed */
	size_t n_buckets;        /* a power of two */
	size_t n_peers;
};

/* What an endpoint is at `now`, beyond enum route_ep_state: whether a pass is available. */
enum rh_view { RH_CLOSED, RH_OPEN, RH_HALF_FREE, RH_HALF_PROBING };

struct route_health *rh_new(const struct route_breaker *b)
{
	struct route_health *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->failures = b && b->failures ? b->failures : RH_FAILURES_DEFAULT;
	h->open_ms = b && b->open_ms > 0 ? b->open_ms : RH_OPEN_DEFAULT_MS;
	h->open_max_ms = b && b->open_max_ms > 0 ? b->open_max_ms : RH_MAX_DEFAULT_MS;
	if (h->open_max_ms < h->open_ms)
		h->open_max_ms = h->open_ms;
	h->n_buckets = RH_BUCKETS_MIN;
	h->bucket = calloc(h->n_buckets, sizeof(*h->bucket));
	if (!h->bucket || pthread_mutex_init(&h->lock, NULL) != 0) {
		free(h->bucket);
		free(h);
		return NULL;
	}
	return h;
}

void rh_free(struct route_health *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->n_buckets; i++) {
		struct rh_peer *p = h->bucket[i], *next;

		for (; p; p = next) {
			next = p->next;
			free(p);
		}
	}
	free(h->bucket);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

/* FNV-1a: peer names are short and few; the hash only has to spread them. */
static size_t rh_hash(const char *s)
{
	uint64_t x = 1469598103934665603ULL;

	for (; *s; s++)
		x = (x ^ (unsigned char)*s) * 1099511628211ULL;
	return (size_t)(x ^ (x >> 32));
}

/* Whether (peer, ep) can have a breaker: a valid-length name and an index below the max. */
static bool rh_key_ok(const char *peer, size_t ep)
{
	return peer && ep < ROUTE_ENDPOINTS_MAX &&
	       strnlen(peer, ROUTE_NAME_MAX + 1) <= ROUTE_NAME_MAX;
}

/* Under the lock. */
static struct rh_peer *rh_find(const struct route_health *h, const char *peer)
{
	struct rh_peer *p = h->bucket[rh_hash(peer) & (h->n_buckets - 1)];

	while (p && strcmp(p->name, peer) != 0)
		p = p->next;
	return p;
}

/* Under the lock: doubles the buckets when the peers outnumber them. Failure to grow is
 * harmless (longer chains). */
static void rh_grow(struct route_health *h)
{
	size_t n = h->n_buckets * 2;
	struct rh_peer **b;

	if (h->n_peers < h->n_buckets || !(b = calloc(n, sizeof(*b))))
		return;
	for (size_t i = 0; i < h->n_buckets; i++) {
		struct rh_peer *p = h->bucket[i], *next;

		for (; p; p = next) {
			size_t j = rh_hash(p->name) & (n - 1);

			next = p->next;
			p->next = b[j];
			b[j] = p;
		}
	}
	free(h->bucket);
	h->bucket = b;
	h->n_buckets = n;
}

/* Under the lock: the peer's state, created (all closed) on its first failure. Allocating
 * under the lock happens once per peer name in the life of the process. NULL: no memory. */
static struct rh_peer *rh_get(struct route_health *h, const char *peer)
{
	struct rh_peer *p = rh_find(h, peer);
	size_t i;

	if (p || !(p = calloc(1, sizeof(*p))))
		return p;
	strcpy(p->name, peer);
	i = rh_hash(peer) & (h->n_buckets - 1);
	p->next = h->bucket[i];
	h->bucket[i] = p;
	h->n_peers++;
	rh_grow(h);
	return p;
}

static int64_t rh_add(int64_t t, int64_t d)
{
	return t > INT64_MAX - d ? INT64_MAX : t + d;
}

static enum rh_view rh_view(const struct rh_ep *e, int64_t now)
{
	if (!e || !e->open)
		return RH_CLOSED;
	if (now < e->until)
		return RH_OPEN;
	return now < e->probe_until ? RH_HALF_PROBING : RH_HALF_FREE;
}

/* (Re)opens an endpoint for `period` from now. */
static void rh_open(struct rh_ep *e, int64_t now, int64_t period)
{
	e->open = true;
	e->period = period;
	e->until = rh_add(now, period);
	e->probe_until = 0;
}

static void rh_close(struct rh_ep *e)
{
	memset(e, 0, sizeof(*e));
}

static void rh_failed(const struct route_health *h, struct rh_ep *e, int64_t now)
{
	switch (rh_view(e, now)) {
	case RH_CLOSED:
		if (++e->fails >= h->failures) {
			e->opened_at = now;
			rh_open(e, now, h->open_ms);
		}
		break;
	case RH_OPEN:
		break;
	case RH_HALF_FREE:
	case RH_HALF_PROBING:
		rh_open(e, now, e->period > h->open_max_ms / 2 ? h->open_max_ms : e->period * 2);
		break;
	}
}

/*
 * A success closes the breaker from any state (the endpoint answered; a late success of a
 * delivery started before it opened counts too). A failure counts while closed and opens it
 * at `failures`; while open it changes nothing; while half-open it is taken as the probe's
 * failure (a late failure of an older delivery is evidence enough) and opens the breaker
 * again for twice the last period, at most open_max_ms.
 */
void route_health_report(struct routing *r, const char *peer, size_t endpoint, bool ok,
			 int64_t now_ms)
{
	struct route_health *h = r ? r->health : NULL;
	struct rh_peer *p;

	if (!h || !rh_key_ok(peer, endpoint))
		return;
	pthread_mutex_lock(&h->lock);
	p = ok ? rh_find(h, peer) : rh_get(h, peer);
	if (p) {
		struct rh_ep *e = &p->ep[endpoint];

		if (ok)
			rh_close(e);
		else
			rh_failed(h, e, now_ms);
	}
	pthread_mutex_unlock(&h->lock);
}

enum route_ep_state route_health_state(struct routing *r, const char *peer, size_t endpoint,
				       int64_t now_ms)
{
	struct route_health *h = r ? r->health : NULL;
	enum rh_view v = RH_CLOSED;

	if (!h || !rh_key_ok(peer, endpoint))
		return ROUTE_EP_CLOSED;
	pthread_mutex_lock(&h->lock);
	const struct rh_peer *p = rh_find(h, peer);
	if (p)
		v = rh_view(&p->ep[endpoint], now_ms);
	pthread_mutex_unlock(&h->lock);
	return v == RH_CLOSED ? ROUTE_EP_CLOSED : v == RH_OPEN ? ROUTE_EP_OPEN : ROUTE_EP_HALF_OPEN;
}

bool rh_try_pass(struct route_health *h, const char *peer, size_t endpoint, int64_t now_ms,
		 bool *probe, int64_t *retry_ms)
{
	bool pass = true, is_probe = false;
	int64_t retry = 0;

	if (h && rh_key_ok(peer, endpoint)) {
		pthread_mutex_lock(&h->lock);
		struct rh_peer *p = rh_find(h, peer);
		struct rh_ep *e = p ? &p->ep[endpoint] : NULL;
		switch (rh_view(e, now_ms)) {
		case RH_CLOSED:
			break;
		case RH_OPEN:
			pass = false;
			retry = e->until;
			break;
		case RH_HALF_PROBING:
			pass = false;
			retry = e->probe_until;
			break;
		case RH_HALF_FREE:
			is_probe = true;
			e->probe_until = rh_add(now_ms, RH_PROBE_LEASE_MS);
			break;
		}
		pthread_mutex_unlock(&h->lock);
	}
	if (probe)
		*probe = is_probe;
	if (retry_ms)
		*retry_ms = retry;
	return pass;
}

/*
 * Down: every endpoint is open, or half-open with its probe already in flight. A half-open
 * endpoint whose probe is free is not down (the next delivery may go). since: the latest
 * of the endpoints' opening times, i.e. when the last of them failed; retry: the earliest
 * time a pass may be free again (an open period's end, or an in-flight probe's lease end —
 * a report may free it sooner).
 */
bool route_peer_down(struct routing *r, const struct route_peer *p, int64_t now_ms,
		     int64_t *since_ms, int64_t *retry_ms)
{
	struct route_health *h = r ? r->health : NULL;
	size_t n = p ? p->n_endpoints : 0;
	int64_t since = INT64_MIN, retry = INT64_MAX;
	bool down = n > 0 && h && rh_key_ok(p->name, 0);

	if (n > ROUTE_ENDPOINTS_MAX)
		n = ROUTE_ENDPOINTS_MAX;
	if (down) {
		pthread_mutex_lock(&h->lock);
		const struct rh_peer *hp = rh_find(h, p->name);
		for (size_t i = 0; i < n; i++) {
			const struct rh_ep *e = hp ? &hp->ep[i] : NULL;
			enum rh_view v = rh_view(e, now_ms);

			down = v == RH_OPEN || v == RH_HALF_PROBING;
			if (!down)
				break;
			if (e->opened_at > since)
				since = e->opened_at;
			int64_t t = v == RH_OPEN ? e->until : e->probe_until;
			if (t < retry)
				retry = t;
		}
		pthread_mutex_unlock(&h->lock);
	}
	if (since_ms)
		*since_ms = down ? since : 0;
	if (retry_ms)
		*retry_ms = down ? retry : 0;
	return down;
}
