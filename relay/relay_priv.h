/*
 * relay's private parts: the declarations its files share, named after the file
 * that defines them (rr_: relay_rules.c, rc_: relay_config_values.c). Nothing
 * outside relay/ includes this file.
 */
#ifndef INTERLINK_RELAY_PRIV_H
#define INTERLINK_RELAY_PRIV_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "queue/queue.h"
#include "relay/relay.h"
#include "routing/routing.h"

/* ------------------------------------------------------ id rules (relay_rules.c) */

/*
 * The character-set rules that the envelope, its stored record and the config
 * share. Each says whether s, of len bytes with s[len] == '\0', obeys the rule;
 * an embedded NUL breaks every rule. Each bounds len by the RELAY_* maximum of
 * relay.h, so what it accepts fits the envelope's field.
 */
bool rr_id_ok(const char *s, size_t len);      /* submitter id: [A-Za-z0-9._:-]{1,64} */
bool rr_rid_ok(const char *s, size_t len);     /* relay id: 26 of Crockford base32 */
bool rr_node_id_ok(const char *s, size_t len); /* node id, hop, peer: [A-Za-z0-9._-]{1,64} */
bool rr_type_ok(const char *s, size_t len);    /* media type: 1-127 printable, with a '/' */

/* ---------------------- config values without libconfuse (relay_config_values.c) */

/* Where a config parse reports: its first error, as "NAME:LINE: reason". */
struct rc_err {
	const char *name; /* the file, in messages */
	char *err;        /* the caller's buffer for the message, or NULL */
	size_t errlen;
	int rc;           /* the first error, or 0 */
};

/* Records the first error (no line when line <= 0); returns e->rc. */
int rc_fail(struct rc_err *e, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Records "out of memory" unless an error came first; returns e->rc. */
int rc_nomem(struct rc_err *e);

/*
 * A copy of text with its comments blanked (lines kept), or NULL with the
 * error in e (an unterminated comment, string or section; no memory).
 * The caller frees it.
 */
char *rc_strip_comments(struct rc_err *e, const char *text);

/* Printable ASCII only (no spaces unless allowed), 1..max bytes. */
int rc_text_ok(const char *s, size_t max, int spaces);

/*
 * A numeric IPv4/IPv6 address or "localhost" into a (16 bytes, IPv4 mapped);
 * *loopback is 0, 1, or 2 for "localhost" (which may also be ::1).
 * Returns 0 or -1.
 */
int rc_addr_parse(const char *s, unsigned char a[16], int *loopback);

/* Whether two listeners would bind the same address and port. */
int rc_listeners_clash(const struct relay_listener_conf *x,
		       const struct relay_listener_conf *y);

/* Refuses the later of two routes for the same thing; returns 0 or e->rc. */
int rc_routes_unique(struct rc_err *e, const struct relay_config *cfg);

/* ================================================= the node (relay_node.c) */

struct relay_delivery; /* relay_delivery.c: the push engine */
struct relay_limits;   /* relay_limits.c: per-peer token buckets */
struct relay_inbox;    /* relay_inbox.c: long-poll waiters of pull peers */
struct relay_stats;    /* relay_stats.c: per-peer counters, latency histograms */

#define RELAY_RETIRED_MAX 64

struct relay_node {
	/* The config in force. A reload publishes a new one; the old ones are
	 * retired, not freed, until the node stops (reloads are rare and small),
	 * so a reader's pointer stays valid without locks. */
	_Atomic(struct relay_config *) cfg;
	struct relay_config *retired[RELAY_RETIRED_MAX];
	size_t n_retired;
	struct queue *q;
	struct routing *routing;
	struct relay_limits *limits;
	struct relay_inbox *inbox;
	struct relay_delivery *delivery;
	struct relay_http *api; /* the carrier listener */
	pthread_mutex_t reload_lock; /* one reload at a time (SIGHUP, admin) */
	int64_t started_ms;
	/* counters for logs and metrics */
	atomic_uint_fast64_t accepted, duplicates, delivered, failed, expired, retried;
	struct relay_stats *stats; /* the same per peer, and latencies (for /metrics) */
};

static inline const struct relay_config *relay_cfg(const struct relay_node *n)
{
	return atomic_load(&((struct relay_node *)n)->cfg);
}


/* The limits an envelope from `peer` is parsed with (node limits, lowered by the peer's). */
void relay_env_limits_for(const struct relay_config *cfg, const struct route_peer *peer,
			  int64_t now_ms, struct relay_env_limits *out);

/* ================================================ the carrier API (relay_api.c) */

/* Starts the carrier listener on the HTTP frame; sets node->api. */
int relay_api_start(struct relay_node *node, char *err, size_t errlen);

/* ============================================ authentication (relay_auth.c) */

/*
 * Who is calling: a Bearer token (its SHA-256 compared in constant time with
 * every peer's token-sha256) and/or a TLS client certificate (verified against
 * client-ca; its SHA-256 checked against the peer's cert-sha256 pin). On
 * success sets req->peer and returns 0; else answers the request (401: no or
 * unknown credentials; 403: certificate pin mismatch or a suspended peer) and
 * returns -1.
 */
int relay_authenticate(struct relay_req *req);

/* ============================================================ handlers */

/* relay_submit.c: POST /v1/messages, GET /v1/messages/{rid} */
enum MHD_Result relay_h_submit(struct relay_req *req);
enum MHD_Result relay_h_status(struct relay_req *req);
/* relay_inbox.c: GET /v1/inbox, POST /v1/inbox/ack */
enum MHD_Result relay_h_inbox(struct relay_req *req);
enum MHD_Result relay_h_ack(struct relay_req *req);
/* relay_dirapi.c: PUT and DELETE /v1/directory/{address} */
enum MHD_Result relay_h_dir_put(struct relay_req *req);
enum MHD_Result relay_h_dir_del(struct relay_req *req);

/* ======================================== rate limits (relay_limits.c) */

struct relay_limits *relay_limits_new(void);
void relay_limits_free(struct relay_limits *l);
/* Takes n tokens from peer's bucket (rate/s, burst). Returns 0, or the
 * seconds to wait (≥ 1) before n tokens will be there. Thread-safe. */
unsigned relay_limits_take(struct relay_limits *l, const struct route_peer *peer, unsigned n,
			   int64_t now_ms);

/* =============================================== pull inbox (relay_inbox.c) */

struct relay_inbox *relay_inbox_new(void);
void relay_inbox_free(struct relay_inbox *ib);
/* A message for pull peer `peer` was committed: wake its long-polls. Any thread. */
void relay_inbox_notify(struct relay_inbox *ib, const char *peer);

/* ===================================== delivery and reports (relay_delivery.c,
 * relay_report.c) */

/* Starts the engine thread; sets node->delivery. */
int relay_delivery_start(struct relay_node *node, char *err, size_t errlen);
/* New work may be due now (a message was accepted): wake the engine. Any thread;
 * harmless after stop (until free). NULL is a no-op. */
void relay_delivery_kick(struct relay_delivery *d);
/* Stops the engine: no new queue operations, its in-flight ones completed or
 * abandoned (their leases make the messages due again). The store is closed
 * after this, then relay_delivery_free. NULL is a no-op for both. */
void relay_delivery_stop(struct relay_delivery *d);
void relay_delivery_free(struct relay_delivery *d);

/*
 * Queues the delivery report for a message that became final (when its
 * envelope asked for one, and it is not itself a report): kind "report",
 * ref = the rid the submitter knows, routed like a message to the original
 * sender. `via` names the carrier it went to when that was a failover.
 * Asynchronous: the report is durable once its insert commits. Returns 0 or
 * -RELAY_E* (nothing queued).
 */
int relay_report_queue(struct relay_node *node, const struct relay_envelope *env,
		       const struct queue_status *st, enum relay_report_status status,
		       const char *reason);

/* ============================================ statistics (relay_stats.c) */

/* NULL when out of memory; free(NULL) is a no-op. Recording with a NULL s is a no-op. */
struct relay_stats *relay_stats_new(void);
void relay_stats_free(struct relay_stats *s);
/* One event for `peer` (its first adds an entry). Any thread; lock-free after the first. */
void relay_stats_count(struct relay_stats *s, const char *peer, enum relay_stat what);
/* One latency observation, in microseconds. Any thread; lock-free. */
void relay_stats_latency(struct relay_stats *s, enum relay_hist which, uint64_t us);
/* A monotonic clock in microseconds, for the latencies. */
uint64_t relay_stats_clock_us(void);

#endif
