/*
 * routing's private parts: the module handle and the seams between its
 * files. Nothing outside routing/ includes this file.
 */
#ifndef INTERLINK_ROUTING_PRIV_H
#define INTERLINK_ROUTING_PRIV_H

#include <pthread.h>

#include "routing/routing.h"

/*
 * route_health.c: breaker state per (peer name, endpoint index), behind its own lock.
 * Keyed by name and index, not by table: a peer whose endpoint list changes at run time
 * keeps each index's state (a changed list resets nothing; an index's state follows
 * whatever URL now sits there), and so does a peer re-created under the same name. A
 * breaker closes again on its own, through a probe, so stale state heals itself.
 */
struct route_health;
struct route_health *rh_new(const struct route_breaker *b); /* b may be NULL; NULL: no memory */
void rh_free(struct route_health *h);

/* How long a half-open endpoint's probe is awaited: if its result is never reported (the
 * delivery was dropped, the process lost track of it), another probe may go after this.
 * Longer than the delivery timeout, so that normally only one probe is in flight. */
#define RH_PROBE_LEASE_MS (60 * 1000)

/*
 * Takes a pass through the breaker of (peer, endpoint) for one delivery at now_ms: the
 * decision calls it for each endpoint in order and delivers through the first that passes.
 *   closed:                  true, *probe = false;
 *   open (period not over):  false, *retry_ms = the end of the open period;
 *   half-open, probe free:   true, *probe = true: this delivery is the probe, and every
 *                            other caller gets false until route_health_report() gives
 *                            its result (or RH_PROBE_LEASE_MS pass);
 *   half-open, probe taken:  false, *retry_ms = the end of the probe's lease.
 * A pass is taken, not peeked: a caller that only wants to look (the admin route tester)
 * uses route_health_state() instead. A peer or endpoint that no breaker tracks (no failure
 * yet, a name over ROUTE_NAME_MAX, endpoint >= ROUTE_ENDPOINTS_MAX) passes. probe and
 * retry_ms may be NULL; *retry_ms is 0 when the call returns true. Thread-safe.
 */
bool rh_try_pass(struct route_health *h, const char *peer, size_t endpoint, int64_t now_ms,
		 bool *probe, int64_t *retry_ms);

struct routing {
	char node_id[ROUTE_NAME_MAX + 1];
	struct queue *q;            /* borrowed; NULL: nothing persisted, no directory */
	pthread_mutex_t lock;       /* guards `current` (the pointer and taking a reference) */
	struct route_table *current;
	pthread_mutex_t write_lock; /* one run-time change at a time: store, then publish */
	struct route_health *health;
	/* route_store.c, under write_lock: config peers that the config file itself suspends
	 * (a run-time "unsuspend" cannot lift that; see routing_set_suspended) */
	char (*cfg_suspended)[ROUTE_NAME_MAX + 1];
	size_t n_cfg_suspended;
};

/* route_table.c */
bool rt_name_ok(const char *s); /* [A-Za-z0-9._-]{1,64} */
/* The route with exactly this match and value (NULL for the default), borrowed from t; or NULL. */
const struct route_entry *rt_route_find(const struct route_table *t, enum route_match m,
					const char *value);

/* route_decide.c: whether one of p's owned prefixes or domains covers a (the rule that
 * route_may_send trusts as ROUTE_TRUST_OWNED, and route_dir_put approves on). */
bool rdc_peer_owns(const struct route_peer *p, const struct route_addr *a);

/* route_directory.c, with write_lock held: drops the pending accounts of `peer` (being
 * deleted) from their directory entries, and their "dirpending" keys. Approved lines stay.
 * Returns 0, -ROUTE_ESTORE, -ROUTE_ENOMEM. */
int rd_drop_pending_of(struct routing *r, const char *peer);

/* route_store.c: the stored peer and route records (non-static for tests/fuzz/fuzz_peer_record.c). */
struct rs_wbuf {
	unsigned char *p;
	size_t len, cap;
	bool oom;
};
/* A decoded peer; its strings live in strs and owns (rs_peer_rec_free). */
struct rs_peer_rec {
	struct route_peer p;
	const char *eps[ROUTE_ENDPOINTS_MAX];
	const char **owns;
	struct route_pin pins[ROUTE_PINS_MAX];
	char *strs;
};
void rs_peer_rec_free(struct rs_peer_rec *pr);
int rs_peer_encode(const struct route_peer *p, struct rs_wbuf *w);
int rs_route_encode(const struct route_entry *e, struct rs_wbuf *w);
int rs_peer_decode(const void *key, size_t klen, const void *val, size_t vlen,
                   struct rs_peer_rec *pr);
int rs_route_decode(const void *key, size_t klen, const void *val, size_t vlen,
                    struct route_entry *e, char value[ROUTE_ADDR_DOMAIN_MAX + 1],
                    char peer[ROUTE_NAME_MAX + 1]);

/* route_directory.c: the directory record (non-static for tests/fuzz/fuzz_directory.c). */
#define RD_ACC_MAX (1 + ROUTE_NAME_MAX + 1 + 2 + (ROUTE_ADDR_MAX - 1) + 1 + 1 + 4)
#define RD_REC_MAX (2 + ROUTE_ACCOUNTS_MAX * RD_ACC_MAX)
int rd_record_decode(const void *val, size_t len, struct route_dir_entry *e);
size_t rd_record_encode(const struct route_dir_entry *e, unsigned char *buf);

#endif
