/*
 * relay's private parts: the declarations its files share, named after the file
 * that defines them (rr_: relay_rules.c, rc_: relay_config_values.c, tr_: relay_trust.c). Nothing
 * outside relay/ includes this file.
 */
#ifndef INTERLINK_RELAY_PRIV_H
#define INTERLINK_RELAY_PRIV_H

#include <gnutls/abstract.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "queue/queue.h"
#include "relay/relay.h"
#include "routing/routing.h"

/* --------------------------------------------- id rules, base64 (relay_rules.c) */

/*
 * The character-set rules that the envelope, its stored record and the config
 * share. Each says whether s, of len bytes with s[len] == '\0', obeys the rule;
 * an embedded NUL breaks every rule. Each bounds len by the RELAY_* maximum of
 * relay.h, so what it accepts fits the envelope's field.
 */
bool rr_id_ok(const char *s, size_t len);      /* submitter id: [A-Za-z0-9._:-]{1,64} */
bool rr_rid_ok(const char *s, size_t len);     /* relay id: 26 of Crockford base32 */
bool rr_seal_id_ok(const char *s, size_t len); /* store key id: [A-Za-z0-9._-]{1,32} */
bool rr_node_id_ok(const char *s, size_t len); /* node id, hop, peer: [A-Za-z0-9._-]{1,64} */
bool rr_type_ok(const char *s, size_t len);    /* media type: 1-127 printable, with a '/' */

/*
 * Standard base64 (RFC 4648 section 4), the one codec of the envelope's body and
 * signatures, pinned and published Ed25519 keys, the store's keys and PBKDF2 salts and
 * hashes. Accepted text is strict and canonical, exactly what rr_b64_encode writes:
 * - a multiple of 4 characters (0 included), of A-Z a-z 0-9 + / only, then at most
 *   two '=' of padding, the last characters; nothing else, so no whitespace, no line
 *   breaks, no URL alphabet (- _), no '=' inside, no third '=', no embedded NUL;
 * - canonical: the bits of the last digit beyond the last byte are 0 ("QR==" is
 *   refused, "QQ==" is the one text of "A").
 * s is len bytes (need not be NUL-terminated). Length rules (non-empty, exact sizes)
 * are the caller's: it checks len, or the decoded length *n.
 */

/* Characters that n bytes encode to, padding included, the NUL not. */
#define RR_B64_LEN(n) (((n) + 2) / 3 * 4)

/*
 * The decoded length of len characters of base64 into *n, from len and the trailing
 * '=' alone (no other character is read): 0, or -EINVAL when len is not a multiple of 4.
 * For sizing a buffer before rr_b64_decode, which checks the rest.
 */
int rr_b64_decoded_len(const char *s, size_t len, size_t *n);

/*
 * Decodes s as above into out, which holds cap bytes; the decoded length into *n.
 * Returns 0; -EINVAL when s is not strict canonical base64 (*n unchanged, out may hold
 * part of the bytes); -ERANGE when it is but decodes to more than cap bytes (*n says how
 * many; out is not written). The characters are all checked before -ERANGE is returned.
 */
int rr_b64_decode(const char *s, size_t len, unsigned char *out, size_t cap, size_t *n);

/*
 * Encodes n bytes of in as padded standard base64 into out, which holds
 * RR_B64_LEN(n) + 1 bytes, NUL-terminated; returns RR_B64_LEN(n), the length written.
 */
size_t rr_b64_encode(const unsigned char *in, size_t n, char *out);

/* ------------------------- JSON on the hot paths (relay_json_read.c, relay_json_write.c)
 *
 * The carrier API's envelopes are read and written without jansson, whose value-per-malloc
 * DOM was a quarter of the relay's CPU under load: a strict reader into one allocation
 * (rj_), and an appending writer (rw_). jansson stays for the admin API and small answers.
 */

enum rj_type { RJ_NULL, RJ_FALSE, RJ_TRUE, RJ_INTEGER, RJ_REAL, RJ_STRING, RJ_ARRAY, RJ_OBJECT };

struct rj_doc; /* a parsed document: all its values in one allocation */
struct rj_val; /* a value of a document; borrowed, valid until rj_free */

#define RJ_DEPTH_MAX 64 /* arrays and objects nested deeper are refused */

/*
 * Parses len bytes of text (need not be NUL-terminated) as one JSON value (RFC 8259,
 * strictly: no comments, no trailing commas, no leading zeros, no NaN; only whitespace
 * around it; valid UTF-8 in strings, escapes included, surrogates paired; a key twice in
 * one object is an error). A number without fraction or exponent in int64 range is an
 * RJ_INTEGER, one out of it an RJ_REAL (its value as a double). Strings may hold
 * "\u0000": their length says where they end. Returns the document, or NULL with *nomem
 * set when out of memory, else with why in err (always NUL-terminated, never quoting the
 * input beyond the byte at fault as \xNN): "<what> (line L, column C)", e.g.
 * "'}' or ',' expected (line 1, column 17)", "duplicate object key (line 1, column 30)".
 */
struct rj_doc *rj_parse(const char *text, size_t len, char *err, size_t errlen, bool *nomem);
void rj_free(struct rj_doc *d);
const struct rj_val *rj_root(const struct rj_doc *d);

enum rj_type rj_type(const struct rj_val *v);
/* A string's bytes (NUL-terminated, unescaped) and its length; NULL for other types. */
const char *rj_str(const struct rj_val *v, size_t *len);
/* An RJ_INTEGER's value (0 for other types). */
int64_t rj_int(const struct rj_val *v);
/* An array's elements or an object's members, in document order. */
size_t rj_size(const struct rj_val *v);
/* The first element / member value of an array or object (NULL when empty or another
 * type), and the value after v in its container (NULL at the end). */
const struct rj_val *rj_first(const struct rj_val *v);
const struct rj_val *rj_next(const struct rj_val *v);
/* The key of an object member's value v (NULL when v is not a member value). */
const char *rj_key(const struct rj_val *v, size_t *len);
/* An object's member by key (a linear search: envelopes have a dozen), or NULL. */
const struct rj_val *rj_get(const struct rj_val *obj, const char *key);

/* A JSON text being written: append-only, growing; a failed allocation makes every later
 * call a no-op and rw_finish return NULL. Commas between values are the writer's. */
struct rw {
	char *buf;
	size_t len, cap;
	bool failed;
	unsigned depth;
	uint64_t more; /* bit d: the container at depth d already holds a value */
};

void rw_init(struct rw *w);
void rw_obj(struct rw *w);   /* { */
void rw_arr(struct rw *w);   /* [ */
void rw_end(struct rw *w, char close); /* '}' or ']' */
void rw_key(struct rw *w, const char *key); /* "key": (key escaped like a string) */
/* A string of len bytes, escaped as jansson's compact output is (", \, \b \f \n \r \t,
 * other controls as \u00XX; bytes from 0x7f up as they are: the text is UTF-8). */
void rw_str(struct rw *w, const char *s, size_t len);
void rw_int(struct rw *w, int64_t v);
void rw_bool(struct rw *w, bool v);
void rw_raw(struct rw *w, const char *json, size_t len); /* a value already JSON */
/* The text (malloc'd, NUL-terminated, *len its length when len is not NULL; the caller
 * frees it), or NULL when an allocation failed (w's memory is freed either way). */
char *rw_finish(struct rw *w, size_t *len);

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
#define RELAY_RETIRED_GRACE_MS (10 * 60 * 1000)

/* A config a reload replaced, and when. */
struct relay_retired {
	struct relay_config *cfg;
	int64_t since_ms;
};

struct relay_node {
	/* The config in force. A reload publishes a new one; the old one is retired
	 * and freed RELAY_RETIRED_GRACE_MS later, so a reader's pointer stays valid
	 * without locks. The rule for readers (relay_cfg, relay_node_config): borrow
	 * the config for one call — a handler, one step of the delivery engine, one
	 * done() — and keep no pointer into it across calls; what must live longer
	 * is copied (the route table, the listeners' TLS files, the queue's path). */
	_Atomic(struct relay_config *) cfg;
	struct relay_retired retired[RELAY_RETIRED_MAX];
	size_t n_retired;
	/* what the listeners were started with (relay_node.c listener_digest), by enum
	 * relay_listener; the ends of the certificates they serve; whether the last reload
	 * held what only a restart applies */
	unsigned char listener_digest[RELAY_LISTENERS][32];
	atomic_int_least64_t cert_end_s[RELAY_LISTENERS];
	atomic_bool restart_needed;
	char start_node_id[RELAY_NODE_ID_MAX + 1];
	char *start_data_dir;
	struct queue *q;
	struct routing *routing;
	struct relay_limits *limits;
	struct relay_inbox *inbox;
	struct relay_delivery *delivery;
	struct relay_http *api; /* the carrier listener */
	/* one reload at a time (SIGHUP, admin); guards http, the running listeners by enum
	 * relay_listener, which a reload hands renewed certificates */
	pthread_mutex_t reload_lock;
	struct relay_http *http[RELAY_LISTENERS];
	int64_t started_ms;
	/* counters for logs and metrics */
	atomic_uint_fast64_t accepted, duplicates, delivered, failed, expired, retried;
	struct relay_stats *stats; /* the same per peer, and latencies (for /metrics) */
	atomic_uint_least32_t trace_seq; /* relay_trace.c: the next event's sequence */
	atomic_bool store_full; /* the last submission that met the store found it full */
};

/* Frees the retired configs replaced at least RELAY_RETIRED_GRACE_MS before now_ms; the
 * others stay, oldest first. Called by a reload, under its lock. */
void relay_node_reclaim(struct relay_node *n, int64_t now_ms);

/* What has been logged of the store's write errors (its watcher's own). */
struct relay_store_watch {
	uint64_t errors;   /* the count last logged */
	bool failing;      /* the last line said failing=1, and no store_writing followed */
	int64_t logged_ms;
};
/* Logs the store's new write errors (a failing disk), at most a line a second with their
 * count, and its recovery after such a line. The delivery engine calls it at every step. */
void relay_node_watch_store(struct relay_node *n, struct relay_store_watch *w, int64_t now);


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

/* ================================== a TLS listener's certificate (relay_tls.c) */

/* Reads a whole PEM file (at most 1 MiB) into a NUL-terminated string; NULL with
 * the reason (naming the file) in err. */
char *relay_read_pem(const char *path, char *err, size_t errlen);

/* A certificate chain and its key, loaded from a listener's tls-cert and tls-key, and the
 * CAs of its client-ca. */
struct relay_tls_cred;
/* Loads and checks them (PEM, at most 16 certificates, the key the first's), and the
 * listener's client-ca when it has one; 0, or -RELAY_ELISTEN (-RELAY_ENOMEM) with the
 * reason, naming the file, in err. */
int relay_tls_cred_load(const struct relay_listener_conf *l, struct relay_tls_cred **out,
			char *err, size_t errlen);
void relay_tls_cred_free(struct relay_tls_cred *c);
int64_t relay_tls_cred_end(const struct relay_tls_cred *c); /* s since the epoch, or 0 */
/* Loads those of cfg's listeners that want names (by enum relay_listener) and have TLS
 * into out[] (NULL for the others); 0, or the first one's error, naming the listener and
 * file, with none loaded. */
int relay_tls_load_listeners(const struct relay_config *cfg, const bool want[RELAY_LISTENERS],
			     struct relay_tls_cred *out[RELAY_LISTENERS], char *err, size_t errlen);

/*
 * Serving: a TLS listener takes a slot for c (owned from then on) and gives *cb to
 * libmicrohttpd (MHD_OPTION_HTTPS_CERT_CALLBACK); at most 4 TLS listeners a process.
 * relay_tls_renew hands new handshakes c (owned) from now on and says whether it
 * differs from the one served (an identical one is freed); the replaced one stays until
 * relay_tls_release, called once the listener stopped.
 */
int relay_tls_listen(struct relay_tls_cred *c, int *slot,
		     gnutls_certificate_retrieve_function2 **cb, char *err, size_t errlen);
bool relay_tls_renew(int slot, struct relay_tls_cred *c);
void relay_tls_release(int slot);
/* Whether the client certificate chain of session s verifies against the client-ca the
 * slot serves now (false without one). */
bool relay_tls_verify(int slot, gnutls_session_t s);
/* relay_http.c: the same for the listener a request came in on (false on plain HTTP). */
bool relay_http_verify_client(const struct relay_http *api, gnutls_session_t s);
/* relay_http.c: the listener serves c (owned) to new handshakes, if it is a TLS one and c
 * differs from what it serves (logged, and its end published); whether it changed. */
bool relay_http_renew(struct relay_http *api, struct relay_tls_cred *c);

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
 * sender. `reason` says "via <peer>" when that was a linked-account failover; `via`
 * names the peer a delivered message went to (the signed report's "via"; NULL: none).
 * Asynchronous: the report is durable once its insert commits. Returns 0 or
 * -RELAY_E* (nothing queued).
 */
int relay_report_queue(struct relay_node *node, const struct relay_envelope *env,
		       const struct queue_status *st, enum relay_report_status status,
		       const char *reason, const char *via);

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

/* ================================================ message trace (relay_trace.c) */

#define RELAY_TRACE_TABLE "trace" /* key: rid, then a u32 sequence (big-endian) */
#define RELAY_TRACE_TEXT_MAX 160  /* each text of an event is cut to this */
#define RELAY_TRACE_RECORD_MAX (27 + 4 * (1 + RELAY_TRACE_TEXT_MAX))

enum relay_trace_kind {
	RELAY_TRACE_ACCEPTED = 1,
	RELAY_TRACE_ATTEMPT,
	RELAY_TRACE_RESCHEDULED,
	RELAY_TRACE_FAILOVER,
	RELAY_TRACE_FORWARDED,
	RELAY_TRACE_PULLED,
	RELAY_TRACE_ACKED,
	RELAY_TRACE_DELIVERED,
	RELAY_TRACE_EXPIRED,
	RELAY_TRACE_FAILED,
	RELAY_TRACE_KIND_MAX_
};

/* One event as a writer gives it; zero fields (NULL texts) are left out. */
struct relay_trace_event {
	enum relay_trace_kind kind;
	int64_t at_ms;            /* 0: now */
	const char *peer, *error, *downstream_rid, *why;
	bool has_endpoint, has_latency;
	size_t endpoint;
	int status;               /* HTTP status of an attempt; 0: none */
	int64_t latency_ms;
	int64_t due_ms;           /* rescheduled: the next attempt; 0: none */
};

/* One event as read back: its texts copied. */
struct relay_trace_record {
	enum relay_trace_kind kind;
	int64_t at_ms;
	bool has_endpoint, has_latency;
	size_t endpoint;
	int status;
	int64_t latency_ms, due_ms;
	char peer[RELAY_TRACE_TEXT_MAX + 1], error[RELAY_TRACE_TEXT_MAX + 1];
	char downstream_rid[RELAY_TRACE_TEXT_MAX + 1], why[RELAY_TRACE_TEXT_MAX + 1];
};

/* Records ev for rid: asynchronous, best effort (out of memory or a failed write loses the
 * event, logged at debug level, and nothing else). Any thread, also a queue done(). */
void relay_trace_add(struct relay_node *n, const struct queue_rid *rid,
		     const struct relay_trace_event *ev);

/* The stored record of ev (version 1); returns its length. Texts are cut to
 * RELAY_TRACE_TEXT_MAX, bytes other than printable ASCII stored as '?'. */
size_t relay_trace_encode(const struct relay_trace_event *ev,
			  unsigned char out[RELAY_TRACE_RECORD_MAX]);
/* Validates and decodes a stored record. Returns 0 or -RELAY_EFIELD. */
int relay_trace_decode(const void *val, size_t len, struct relay_trace_record *out);
/* "accepted", "attempt", ...; "unknown" out of range. */
const char *relay_trace_kind_name(enum relay_trace_kind k);

/* Where the delivery engine's sweep of purged messages' events stands (its own). */
struct relay_trace_sweep {
	unsigned char from[21];
	size_t flen;      /* 0: the next pass starts at the oldest */
	int64_t next_ms;
};
/* Deletes the events of messages whose status was purged: at most 4096 keys a step, a
 * pass a minute; only rids older than the status retention are looked at. */
void relay_trace_sweep(struct relay_node *n, struct relay_trace_sweep *sw, int64_t now);

/* GET /v1/messages/{rid}/trace (reached through relay_h_status): text, len is the rid. */
enum MHD_Result relay_h_trace(struct relay_req *req, const char *text, size_t len);

/* ======================================= trust at the node (relay_trust_node.c) */

#define RELAY_BATCH_MAX ((size_t)1 << RELAY_PROOF_MAX) /* statements one signature covers */

/* Writes a reason into why (NUL-terminated; nothing when why is NULL or whylen 0). */
void tr_why(char *why, size_t whylen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* "YYYY-MM-DDTHH:MM:SSZ" (UTC, a real date, no leap second) → ms since the epoch, > 0.
 * Returns 0 or -1. (relay_trust.c: pins' until; the config's key-valid-until.) */
int tr_parse_utc(const char *s, int64_t *out_ms);
/* OpenSSL's SHA-256, fetched once: EVP_sha256() is looked up again at every use
 * (OpenSSL 3), a visible share of a request's time. */
const struct evp_md_st *tr_sha256(void);

/*
 * An envelope submitted by relay peer `peer` (from rt, the route table the caller holds:
 * config and admin-API peers alike; NULL: not checked), checked before it is accepted, with
 * the keys pinned in rt. A peer with pinned keys: a message must
 * carry a chain whose last link is signed with one of that peer's keys and names the last
 * hop; every link signed with a key pinned here is verified (one with an unknown key is
 * vouched for by the links after it); a report must be signed, and its signature is
 * verified when its key is pinned here. A peer without pinned keys: nothing is checked.
 * Returns 0, or -RELAY_ETRUST with why ("att[1]: unknown key id …"), or -RELAY_ENOMEM.
 */
int relay_trust_check_in(struct relay_trust *t, const struct route_table *rt,
			 const struct route_peer *peer, const struct relay_envelope *env, char *why,
			 size_t whylen);

/* An envelope about to leave this node (a push, or a pull from the inbox). */
struct relay_outgoing {
	const struct relay_envelope *env; /* as stored (decoded) */
	const char *rid;                  /* its rid here */
	const char *src_peer;             /* the peer that submitted it here */
	const struct route_addr *to;      /* the address it is sent to, when routing changed
					     it (a linked account); NULL: env->to */
	bool add_link;                    /* out: link is this node's link for env */
	struct relay_att link;
	bool add_rsig;                    /* out: rsig is this node's signature of the report */
	struct relay_sig rsig;
};

/*
 * Signs what leaves together, with one signature (relay_trust_sign): the link this node
 * adds to each message stored with a level (rid and peer from o[i]), and the signature of
 * each report this node made (src_peer is the node's id, no rsig yet). Nothing when
 * cfg->trust.attest is off or cfg->trust.keys is NULL. Returns 0 or -RELAY_ENOMEM (nothing
 * signed; the caller puts the messages back and tries again later).
 */
int relay_trust_sign_out(const struct relay_config *cfg, struct relay_outgoing *o, size_t n,
			 int64_t now_ms);

/*
 * `sent` (a shallow copy of o->env the caller is about to serialise, its `to` already the
 * address sent to) gets o's link appended to its chain and o's report signature; when
 * o->to changed the address, the earlier links keep the one they signed (their `to`).
 * The new chain is a new array in *scratch (the caller frees it after use; NULL when no
 * link was added). Returns 0 or -RELAY_ENOMEM.
 */
int relay_outgoing_apply(const struct relay_outgoing *o, struct relay_envelope *sent,
			 struct relay_att **scratch);

/* GET /v1/keys: the node's public key(s), no authentication. */
enum MHD_Result relay_h_keys(struct relay_req *req);

/* ===================================== encryption at rest (relay_seal.c) */

#define RELAY_SEAL_TABLE "seal" /* the queue table of the key canaries */

/* A fresh random nonce. Returns 0 or -RELAY_ENOMEM (no randomness). */
int relay_seal_nonce(unsigned char nonce[RELAY_SEAL_NONCE_LEN]);
/* AES-256-GCM of pt (n bytes) into ct (n bytes) and tag, under k's newest key.
 * Returns 0, -RELAY_EKEY (no key) or -RELAY_ENOMEM. */
int relay_seal(const struct relay_keyring *k, const unsigned char nonce[RELAY_SEAL_NONCE_LEN],
	       const unsigned char *aad, size_t aadlen, const unsigned char *pt, size_t n,
	       unsigned char *ct, unsigned char tag[RELAY_SEAL_TAG_LEN]);
/* The reverse under key `id`: -RELAY_EKEY when k lacks it or authentication fails. */
int relay_unseal(const struct relay_keyring *k, const char *id,
		 const unsigned char nonce[RELAY_SEAL_NONCE_LEN], const unsigned char *aad,
		 size_t aadlen, const unsigned char *ct, size_t n, unsigned char *pt,
		 const unsigned char tag[RELAY_SEAL_TAG_LEN]);

/*
 * At start: every key canary in the store (table RELAY_SEAL_TABLE, one per key id that
 * ever sealed) whose id k holds must open under k's key, and when canaries exist at least
 * one id must be known; else -RELAY_EKEY with the reason. Then records the canary of k's
 * newest key when missing. With k NULL, a store that has canaries gives -RELAY_EKEY (its
 * sealed records could not be read). Returns 0, -RELAY_EKEY, -RELAY_ECONFIG.
 */
int relay_seal_check_store(struct queue *q, const struct relay_keyring *k, char *err,
			   size_t errlen);

#endif
