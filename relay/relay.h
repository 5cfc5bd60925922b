/*
 * relay: the interlinkd daemon's own parts — logging, the configuration, the
 * envelope v1 codec and the carrier-facing HTTP API. admin/ may use this
 * header; routing/ and queue/ never include it.
 * Functions return 0 or a negative RELAY_E* code unless they say otherwise.
 */
#ifndef INTERLINK_RELAY_H
#define INTERLINK_RELAY_H

#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "routing/routing.h"

#define INTERLINK_VERSION "0.1.0"

enum relay_error {
	RELAY_ECONFIG = 1, /* the configuration is invalid (see the message) */
	RELAY_ENOMEM,      /* out of memory */
	RELAY_EJSON,       /* the input is not JSON, or not an object/array */
	RELAY_EFIELD,      /* an envelope field is missing or invalid */
	RELAY_ETOOBIG,     /* the body is larger than the allowed size */
	RELAY_ERECORD,     /* a stored binary record is corrupt or of another version */
	RELAY_ELISTEN,     /* a listener could not be started */
	RELAY_EKEY,        /* a sealed record's key is missing or does not open it */
	RELAY_ETRUST,      /* an attestation or report signature does not verify (see why) */
	RELAY_EAGAIN,      /* not now: too many of it lately; retry later (see the message) */
	RELAY_EMAX_
};

/* A static text for a RELAY_E* code (positive or negated). */
const char *relay_strerror(int code);

/* Milliseconds since the epoch (CLOCK_REALTIME). */
int64_t relay_now_ms(void);

/* ---------------------------------------------------------------- logging */

enum relay_log_level { RELAY_LOG_DEBUG, RELAY_LOG_INFO, RELAY_LOG_WARN, RELAY_LOG_ERROR };

/* Sets the lowest level written (default info). Thread-safe. */
void relay_log_set_level(enum relay_log_level level);

/* Parses "debug", "info", "warn", "error". Returns 0 or -RELAY_ECONFIG. */
int relay_log_level_parse(const char *name, enum relay_log_level *out);

/*
 * Writes one line to stderr with a single write(2):
 *   ts=2026-11-26T08:43:35.123Z level=info msg=<msg> <key=value ...>
 * `msg` is one word (snake_case event name). `kv` is a printf format for the
 * key=value pairs, or NULL. A value that may hold spaces, quotes or control
 * characters must be passed through relay_log_quote(). Never log a message body
 * or a secret. Lines longer than 2 KiB are cut and end in "...".
 */
void relay_log(enum relay_log_level level, const char *msg, const char *kv, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Writes `s` into buf as a log value: as it is when it is a plain token,
 * else in double quotes with \" \\ and \xNN escapes. Returns buf (always
 * NUL-terminated; cut to fit).
 */
const char *relay_log_quote(const char *s, char *buf, size_t size);

/*
 * Tells the service manager about the daemon's state (sd_notify(3)'s protocol,
 * no libsystemd): sends `state`, newline-separated "KEY=value" lines such as
 * "READY=1\nSTATUS=serving", as one datagram to $NOTIFY_SOCKET (a path, or an
 * abstract socket when it starts with '@'). Returns 0 (also when
 * NOTIFY_SOCKET is unset or empty: nobody listens), or -errno: -EINVAL (state
 * NULL), -EAFNOSUPPORT (another address kind), -ENAMETOOLONG, or what socket(2)
 * and sendto(2) returned. Thread-safe; it blocks at most for one sendto(2).
 */
int relay_notify(const char *state);

/* ---------------------------------------------------------- configuration */

enum relay_sync { RELAY_SYNC_FULL, RELAY_SYNC_NONE };
enum relay_peer_kind { RELAY_PEER_CARRIER, RELAY_PEER_RELAY };

#define RELAY_NODE_ID_MAX 64 /* node ids and peer names: [A-Za-z0-9._-]{1,64} */

/* A key id: the first 16 hex digits of SHA-256(raw public key); pins are routing's
 * struct route_pin, whether the config file (peer { keys = {…} }) or the admin API set them. */
#define RELAY_KID_LEN ROUTE_KID_LEN

struct relay_peer_conf {
	char *name;
	enum relay_peer_kind kind;
	char *token_sha256;   /* 64 lower-case hex digits, or NULL */
	char *cert_sha256;    /* 64 lower-case hex digits, or NULL */
	char **endpoints;     /* http(s) URLs in priority order; none = pull */
	size_t n_endpoints;
	char *outbound_token; /* secret: never logged; NULL when none */
	char **owns;          /* normalised E.164 prefixes ("+8210") or domains */
	size_t n_owns;
	uint32_t rate;        /* messages per second */
	uint32_t burst;
	uint64_t max_size;    /* bytes */
	uint64_t max_queue;   /* messages */
	bool suspended;       /* no traffic to or from it (an operator's brake) */
	bool directory_trusted; /* its directory lines outside its owns need no approval */
	struct route_pin *keys; /* pinned signing keys (relay peers), or NULL; <= ROUTE_PINS_MAX */
	size_t n_keys;
	int line;             /* where the section starts in the file */
};

enum relay_route_match { RELAY_ROUTE_PREFIX, RELAY_ROUTE_DOMAIN, RELAY_ROUTE_DEFAULT };

struct relay_route_conf {
	enum relay_route_match match;
	char *value; /* normalised prefix ("+8210"), domain ("line.example" or
			"*.line.example"), or NULL for the default route */
	char *peer;  /* names a peer section of the same file */
	int line;
};

/* The two listeners, as relay_http_ops name them. */
enum relay_listener { RELAY_LISTENER_CARRIER, RELAY_LISTENER_ADMIN, RELAY_LISTENERS };

struct relay_listener_conf {
	char *address;   /* numeric IPv4/IPv6 address or "localhost" */
	uint16_t port;
	char *tls_cert;  /* PEM file paths, or NULL */
	char *tls_key;
	char *client_ca; /* carrier listener only: verify client certificates */
	bool plain_http; /* true: no TLS (only allowed on a loopback address) */
	uint32_t max_conns;        /* open connections at most */
	uint32_t max_conns_per_ip; /* from one client address at most; 0: no such limit */
	/* admin listener only: */
	char *bootstrap_user;          /* the first admin's name (default "admin") */
	char *bootstrap_password_hash; /* "pbkdf2-sha256$ITER$SALT$HASH", or NULL */
	uint64_t session_idle_ms;      /* idle expiry of a console session */
};

struct relay_keyring; /* encryption at rest: the store's keys (relay_seal.c); opaque */
struct relay_trust;   /* signing: this node's key, and verified batches (relay_trust.c) */

/* The whole configuration: immutable once loaded; reload builds a new one. */
struct relay_config {
	char *path; /* the file it was read from */
	char *node_id;
	char *data_dir;
	char *default_country; /* digits, or NULL */
	enum relay_log_level log_level;
	uint64_t max_message_size; /* bytes of text/body accepted; peers may lower it */
	struct relay_listener_conf carrier;
	struct relay_listener_conf admin;
	bool admin_can_read_bodies; /* the admin API may show message bodies */
	struct {
		uint64_t map_size, max_map_size; /* bytes */
		enum relay_sync sync;
		uint64_t status_retention_ms;
		bool encrypt;           /* seal message bodies (needs key_file) */
		char *key_file;         /* the key file's path, or NULL */
		struct relay_keyring *keys; /* loaded by the node from key_file, or NULL */
	} store;
	struct {
		bool attest;            /* sign attestations and reports (default true) */
		char *key_file;         /* the node's Ed25519 key (PEM); NULL: <data-dir>/node-ed25519.pem */
		int64_t key_valid_until_ms; /* published with the key; 0: none */
		struct relay_trust *keys;   /* loaded by the node (relay_trust_open), or NULL */
	} trust;
	struct {
		uint64_t retry_initial_ms, retry_max_ms;
		double retry_factor;
		uint64_t default_ttl_s, max_ttl_s;
		uint64_t timeout_ms;
		uint32_t concurrency;
		uint64_t inbox_lease_ms;
	} delivery;
	struct relay_peer_conf *peers;
	size_t n_peers;
	struct relay_route_conf *routes;
	size_t n_routes;
};

/*
 * Reads and validates the file at `path`. On success *out is a new config
 * (the caller owns it: relay_config_free). On failure returns -RELAY_ECONFIG
 * (or -RELAY_ENOMEM) and writes "FILE:LINE: reason" (or "FILE: reason" when
 * no line applies) into err, which always ends NUL-terminated.
 */
int relay_config_load(const char *path, struct relay_config **out, char *err, size_t errlen);

/* Same, from text in memory; `name` stands for the file in messages. */
int relay_config_parse(const char *name, const char *text, struct relay_config **out,
		       char *err, size_t errlen);

/* Frees a config; NULL is a no-op. */
void relay_config_free(struct relay_config *cfg);

#define RELAY_PBKDF2_SALT 16
#define RELAY_PBKDF2_HASH 32

/*
 * Parses an admin password hash "pbkdf2-sha256$<iterations>$<salt>$<hash>"
 * (standard base64 with padding; a 16-byte salt, a 32-byte hash; iterations
 * 100000..100000000). Returns 0, or -RELAY_ECONFIG on any other text.
 */
int relay_pbkdf2_parse(const char *s, uint32_t *iterations, unsigned char salt[RELAY_PBKDF2_SALT],
		       unsigned char hash[RELAY_PBKDF2_HASH]);

/* Finds a peer by name; borrowed (valid while cfg lives), or NULL. */
const struct relay_peer_conf *relay_config_peer(const struct relay_config *cfg,
						const char *name);

/*
 * "1500ms", "30s", "10m", "2h", "7d" (a bare number is seconds) → ms.
 * "64K", "1M", "16G" (a bare number is bytes; K = 1024) → bytes.
 * Return 0, or -RELAY_ECONFIG on a malformed value or overflow.
 */
int relay_parse_duration_ms(const char *s, uint64_t *out_ms);
int relay_parse_size(const char *s, uint64_t *out_bytes);

/* ---------------------------------------------------------- envelope v1 */

#define RELAY_ENV_ID_MAX 64    /* submitter id: [A-Za-z0-9._:-]{1,64} */
#define RELAY_RID_LEN 26       /* relay id: Crockford base32 */
#define RELAY_ENV_TYPE_MAX 127 /* media type */
#define RELAY_ENV_REASON_MAX 255
#define RELAY_ENV_HOPS_MAX 16  /* the codec's bound; routing rejects sooner */
#define RELAY_ENV_BATCH_MAX 1000
#define RELAY_ENV_DEFAULT_TYPE "text/plain; charset=utf-8"

enum relay_env_kind { RELAY_ENV_MESSAGE, RELAY_ENV_REPORT };
enum relay_report_status { RELAY_REPORT_DELIVERED = 1, RELAY_REPORT_EXPIRED, RELAY_REPORT_FAILED };

/* ------------------------------------------------ signatures (docs/trust.md) */

#define RELAY_HASH_LEN  32 /* SHA-256 */
#define RELAY_SIG_LEN   64 /* Ed25519 */
#define RELAY_PROOF_MAX 16 /* a signed batch holds at most 2^16 statements */
#define RELAY_ATT_MAX   RELAY_ENV_HOPS_MAX /* links in an attestation chain */

/* How strongly the submitting peer was bound to `from` where a link was made. */
enum relay_att_level {
	RELAY_LEVEL_NONE = 0,  /* no link (in a record: this node adds none) */
	RELAY_LEVEL_OWNED,     /* "owned": from is in the peer's owned prefixes or domains */
	RELAY_LEVEL_DIRECTORY, /* "directory": a directory entry names the peer for from */
	RELAY_LEVEL_RELAYED,   /* "relayed": the peer is a relay vouching for its sender */
};

/*
 * A node's signature over one statement, made for a batch of statements at once: the
 * statement's leaf hash, walked up `proof` (each step a sibling hash, left or right of
 * the running hash) to the batch's root, and the node's Ed25519 signature over the root
 * statement (node, kid, at, root). A batch of one has an empty proof.
 */
struct relay_sig {
	char node[RELAY_NODE_ID_MAX + 1]; /* the signing node's id */
	char kid[RELAY_KID_LEN + 1];      /* its key */
	int64_t at_ms;                    /* when the batch was signed */
	uint8_t n_proof;
	struct relay_proof_step {
		bool left;                          /* the sibling is on the left */
		unsigned char hash[RELAY_HASH_LEN];
	} proof[RELAY_PROOF_MAX];
	unsigned char sig[RELAY_SIG_LEN];
};

/* One link of a sender attestation: what sig.node vouched for when it accepted the
 * message (its statement: docs/trust.md). */
struct relay_att {
	char rid[RELAY_RID_LEN + 1];      /* the message's rid at that node */
	char peer[RELAY_NODE_ID_MAX + 1]; /* the peer that submitted it there */
	enum relay_att_level level;
	char to[ROUTE_ADDR_MAX];          /* the address that node sent it to when a later node
					     changed `to` (a linked-account failover); "" when it
					     is the envelope's */
	struct relay_sig sig;
};

/* "delivered", "expired", "failed"; NULL out of range. */
const char *relay_report_status_name(enum relay_report_status status);

/* "owned", "directory", "relayed" ("" for NONE); parse gives NONE for anything else. */
const char *relay_att_level_name(enum relay_att_level level);
enum relay_att_level relay_att_level_parse(const char *s);

/* A parsed envelope. Plain data but for `body` and `att`, which it owns (relay_envelope_clear). */
struct relay_envelope {
	enum relay_env_kind kind;
	char id[RELAY_ENV_ID_MAX + 1];
	char rid[RELAY_RID_LEN + 1]; /* "" unless a relay set it */
	struct route_addr from, to;
	int64_t ts_ms;               /* always set after parsing (now when absent) */
	uint32_t ttl_s;              /* always set after parsing (default when absent) */
	char type[RELAY_ENV_TYPE_MAX + 1];
	bool is_text;                /* true: `text` (UTF-8); false: `body` (bytes) */
	unsigned char *body;         /* text bytes or decoded body bytes; NULL for reports */
	size_t body_len;
	bool dlr;
	uint8_t prio;                /* 0 bulk .. 3 urgent; default 1 */
	char hops[RELAY_ENV_HOPS_MAX][RELAY_NODE_ID_MAX + 1];
	size_t n_hops;
	/* kind == RELAY_ENV_REPORT only: */
	char ref[RELAY_RID_LEN + 1]; /* rid of the message reported on */
	enum relay_report_status status;
	char reason[RELAY_ENV_REASON_MAX + 1];
	int64_t at_ms;
	char via[RELAY_NODE_ID_MAX + 1]; /* the peer it was delivered to ("" unless delivered) */
	bool has_rsig;                   /* rsig is set: the reporting node signed it */
	struct relay_sig rsig;
	/* trust (docs/trust.md), messages only: */
	struct relay_att *att;           /* the attestation chain, oldest first: "att" on the
					    wire; malloc'd, NULL when n_att is 0 */
	size_t n_att;                    /* <= RELAY_ATT_MAX */
	enum relay_att_level level;      /* stored records only (not on the wire): the link this
					    node adds when the message leaves it; NONE: none */
};

/* What the node allows; filled from the config (and the peer) by the caller. */
struct relay_env_limits {
	size_t max_body;             /* bytes of text or decoded body */
	uint32_t default_ttl_s, max_ttl_s;
	const char *default_country; /* for national numbers, or NULL */
	int64_t now_ms;              /* "now", for a missing ts and the future bound */
};

/* Why an input was refused: becomes {"error":code,"field":field,"reason":reason}. */
struct relay_env_error {
	const char *code;  /* "bad_json", "bad_field" or "too_large" (static) */
	char field[32];    /* "" when no single field is at fault */
	char reason[160];
};

/* One element of a submission. */
struct relay_env_item {
	int rc; /* 0, -RELAY_EFIELD or -RELAY_ETOOBIG */
	struct relay_envelope env;   /* valid when rc == 0 */
	struct relay_env_error err;  /* set when rc != 0 */
};

/*
 * Parses one envelope object from JSON text. Unknown fields are rejected.
 * Returns 0, -RELAY_EJSON (not JSON / not an object), -RELAY_EFIELD,
 * -RELAY_ETOOBIG or -RELAY_ENOMEM; on error `err` says why and `out` holds
 * nothing to free. On success the caller owns out->body and out->att
 * (relay_envelope_clear).
 */
int relay_envelope_parse(const char *json, size_t len, const struct relay_env_limits *lim,
			 struct relay_envelope *out, struct relay_env_error *err);

/*
 * Parses a submission: one envelope object or an array of 1..RELAY_ENV_BATCH_MAX.
 * Each element is validated on its own: *items (transferred: relay_env_items_free)
 * holds *n results in input order; *is_array tells which form was sent.
 * Returns 0 when the text was an object or a well-sized array (even if items
 * failed), -RELAY_EJSON (err says why: not JSON, empty or oversized array,
 * neither object nor array) or -RELAY_ENOMEM.
 */
int relay_envelope_parse_batch(const char *json, size_t len, const struct relay_env_limits *lim,
			       struct relay_env_item **items, size_t *n, bool *is_array,
			       struct relay_env_error *err);
void relay_env_items_free(struct relay_env_item *items, size_t n);

/*
 * Serialises to compact JSON (the wire form, as pushed to a peer). Returns a
 * malloc'd NUL-terminated string (the caller frees it) and its length in *len
 * (may be NULL), or NULL when out of memory.
 */
char *relay_envelope_to_json(const struct relay_envelope *env, size_t *len);

/* An error as a JSON object text; malloc'd, the caller frees; NULL on no memory. */
char *relay_env_error_json(const struct relay_env_error *err);

/*
 * The compact binary record stored in the queue: a version byte (1), then
 * fixed-width little-endian fields and length-prefixed strings.
 * encode: *out is malloc'd (the caller frees it). Returns 0 or -RELAY_ENOMEM.
 * decode: validates every length and field; returns 0 or -RELAY_ERECORD (or
 * -RELAY_ENOMEM); the caller owns out->body and out->att (relay_envelope_clear).
 */
int relay_envelope_encode(const struct relay_envelope *env, unsigned char **out, size_t *len);
int relay_envelope_decode(const void *buf, size_t len, struct relay_envelope *out);

/*
 * The same with encryption at rest (relay_seal.c's key ring; NULL: none). encode seals a
 * message's body under the newest key (record version 2, see relay_record.c), or writes
 * version 1 when keys is NULL or for a report. decode reads both versions; a sealed record
 * whose key keys lacks, or that fails authentication, gives -RELAY_EKEY.
 */
#define RELAY_SEAL_KEY_LEN   32
#define RELAY_SEAL_NONCE_LEN 12
#define RELAY_SEAL_TAG_LEN   16
#define RELAY_SEAL_ID_MAX    32
int relay_record_encode(const struct relay_keyring *keys, const struct relay_envelope *env,
			unsigned char **out, size_t *len);
int relay_record_decode(const struct relay_keyring *keys, const void *buf, size_t len,
			struct relay_envelope *out);

/*
 * Reads a key file: "ID:BASE64" lines (32-byte keys; blank and '#' lines skipped), the last
 * the newest. Refuses a file that is not regular, is group-writable or other-readable
 * (mode wider than 0640), holds no key, a bad line or a repeated id. Returns 0 and *out
 * (the caller frees it), or -RELAY_ECONFIG / -RELAY_ENOMEM with "FILE[:LINE]: reason".
 */
int relay_keyring_load(const char *path, struct relay_keyring **out, char *err, size_t errlen);
/* Adds old's keys whose ids k lacks, as older than k's (reload keeps retired keys). */
void relay_keyring_keep(struct relay_keyring *k, const struct relay_keyring *old);
/* Wipes and frees k; NULL is a no-op. */
void relay_keyring_free(struct relay_keyring *k);
/* The newest key's id (borrowed), or NULL for NULL. */
const char *relay_keyring_newest(const struct relay_keyring *k);


/* Frees what an envelope owns and zeroes it; NULL is a no-op. */
void relay_envelope_clear(struct relay_envelope *env);

/* ------------------------------------------------------ trust (relay_trust.c)
 *
 * Statements are LF-terminated "key=value" lines, byte for byte as docs/trust.md gives
 * them; a leaf hash is SHA-256(0x00 || statement), an inner node SHA-256(0x01 || left ||
 * right) (RFC 6962), and a signature covers the root statement
 *   "interlink-batch/1\nnode=<id>\nkid=<kid>\nat=<ms>\nroot=<64 hex>\n".
 */

#define RELAY_STATEMENT_MAX 1200 /* every statement fits in this many bytes */

/*
 * The statement of link i of env's chain, whose link is `link` (env->att[i], or the
 * link this node is about to add when i == env->n_att): "interlink-att/1", node, rid,
 * from, to (link->to when set, else env's), ts, body (sha256:<hex> of the body bytes),
 * peer, level, prev (the leaf hash of link i-1's statement in hex, "-" for the first). Returns its length, or 0 when
 * buf is too small or a field cannot be written (i > n_att, level NONE).
 */
size_t relay_att_statement(const struct relay_envelope *env, size_t i,
			   const struct relay_att *link, char *buf, size_t size);
/* A report's statement: "interlink-report/1", node (rsig.node or `node`), ref, status,
 * at, via ("-" when empty). Returns its length, or 0. */
size_t relay_report_statement(const struct relay_envelope *rep, const char *node, char *buf,
			      size_t size);
/* SHA-256(0x00 || stmt). */
void relay_leaf_hash(const char *stmt, size_t len, unsigned char out[RELAY_HASH_LEN]);

/*
 * Loads the node's signing key: cfg->trust.key_file, or <data-dir>/node-ed25519.pem,
 * created (0600, PKCS#8 PEM) on first start when it does not exist. Refuses a key file
 * that is not an Ed25519 private key, or is readable by group or others, and a
 * key-valid-until in the past. (The peers' pinned keys are not held here: verifying takes
 * them from the route table the caller holds.)
 * Returns 0 and *out, or -RELAY_ECONFIG / -RELAY_ENOMEM with "FILE: reason" in err.
 */
int relay_trust_open(const struct relay_config *cfg, struct relay_trust **out, char *err,
		     size_t errlen);
void relay_trust_free(struct relay_trust *t);
/* The node's key id and raw public key (borrowed). */
const char *relay_trust_kid(const struct relay_trust *t);
const unsigned char *relay_trust_public(const struct relay_trust *t);

/*
 * Signs n statements as one batch (n >= 1, at most 1 << RELAY_PROOF_MAX): sigs[i] gets
 * node (cfg's node id), kid, at = now_ms, the proof of statement i and the signature over
 * the batch's root. One Ed25519 signature whatever n is. Returns 0 or -RELAY_ENOMEM.
 */
int relay_trust_sign(const struct relay_trust *t, const char *node_id, const char *const *stmts,
		     const size_t *lens, size_t n, int64_t now_ms, struct relay_sig *sigs);

/*
 * Verifies sig over stmt with a pinned key: sig->kid must be pinned for a peer of rt (the
 * route table the caller holds; for `peer` only when it is not NULL), sig->at_ms not after
 * that pin's until, and the proof and signature must hold. A (root, signature) pair that
 * verified once is remembered (a batch is checked once, not once per message), but only
 * after the pin is found in rt: a pin removed since is refused all the same. Thread-safe.
 * Returns 0, or -RELAY_ETRUST with why ("unknown key id 0123…", "key 0123… expired at …",
 * "key 0123… is not pinned for peer x", "signature does not verify", …), or -RELAY_ENOMEM.
 */
int relay_trust_verify(struct relay_trust *t, const struct route_table *rt, const char *stmt,
		       size_t len, const struct relay_sig *sig, const char *peer, char *why,
		       size_t whylen);
/* Whether kid is pinned for some peer of rt. */
bool relay_trust_knows(const struct route_table *rt, const char *kid);

/*
 * One pin as the config file and the admin API write it: "BASE64" (the standard base64 of a
 * raw 32-byte Ed25519 public key) or "BASE64 until YYYY-MM-DDTHH:MM:SSZ" (UTC), blanks or
 * tabs between. Fills *out (kid computed from the key). Returns 0, or -RELAY_ECONFIG with a
 * reason naming the text in why ("'xyz' is not standard base64", "'…' is 4 bytes, not a
 * 32-byte Ed25519 public key", "'…' after until is not a UTC time YYYY-MM-DDTHH:MM:SSZ",
 * "'…' must be \"BASE64\" or \"BASE64 until YYYY-MM-DDTHH:MM:SSZ\""), or -RELAY_ENOMEM.
 */
int relay_pin_parse(const char *text, struct route_pin *out, char *why, size_t whylen);

/* Whether each TLS listener's tls-cert and tls-key are a PEM certificate chain and its
 * key (interlinkd -t): 0, or -RELAY_ELISTEN with the listener and file named in err. */
int relay_config_check_tls(const struct relay_config *cfg, char *err, size_t errlen);

/* ---------------------------------------------------------- HTTP listeners
 *
 * The frame both listeners (carrier API, admin API) run on (relay_http.c):
 * libmicrohttpd with epoll and a thread pool, a route table, request bodies,
 * an authentication hook, suspended requests with a watchdog. Handlers run in
 * MHD's threads; they answer at once (relay_reply*) or suspend the request
 * (relay_req_suspend) and are called again, in phase REQ_RESUMED, after
 * relay_req_resume() or when the watchdog fires at the deadline (then
 * timed_out is set). Asynchronous completions hold a reference
 * (relay_req_hold) so the request outlives its connection if it must.
 */

struct relay_http; /* a listener */
struct relay_http_route;

enum relay_req_phase { REQ_NEW, REQ_BODY, REQ_SUSPENDED, REQ_RESUMED, REQ_ANSWERED };

struct relay_req {
	struct relay_node *node;
	struct relay_http *http;                 /* the listener it came in on */
	void *ctx;                               /* the listener's context */
	struct MHD_Connection *conn;
	const struct relay_http_route *route;
	const char *method;
	char arg[ROUTE_ADDR_INPUT_MAX + 1];     /* the path after the route's prefix, decoded */
	const struct route_table *table;         /* held for an authenticated request */
	const struct route_peer *peer;           /* carrier API: the authenticated peer */
	void *principal;                         /* admin API: the session (its ops free it) */
	char *body;                              /* the request body, NUL-terminated */
	size_t len, cap, limit;
	bool too_large;
	enum relay_req_phase phase;
	bool timed_out;                          /* the watchdog resumed it */
	int64_t deadline_ms;
	atomic_int refs;
	atomic_bool resume_taken;                /* one resume per suspension */
	struct relay_req *wd_prev, *wd_next;     /* the watchdog's list, under its lock */
	void *state;                             /* the handler's, freed with state_free */
	void (*state_free)(void *state);
};

typedef enum MHD_Result (*relay_handler)(struct relay_req *req);

struct relay_http_route {
	const char *method;
	const char *path;  /* exact path, or a prefix ending in '/' when has_arg */
	bool has_arg;      /* the rest of the path is req->arg */
	bool auth;         /* the listener's authenticate hook must accept it */
	size_t body_max;   /* 0: no body allowed; else the largest body taken (413 past it);
			      a body must be application/json (415) unless body_any */
	relay_handler handler;
	bool body_any;     /* any content type (a login form, say) */
};

struct relay_http_ops {
	const char *name;                          /* in logs: "carrier", "admin" */
	enum relay_listener listener;              /* whose config section it listens on */
	int (*authenticate)(struct relay_req *req); /* 0, or -1 after answering */
	void (*req_free)(struct relay_req *req);   /* frees what authenticate attached */
};

/*
 * Starts the listener ops->listener names, as the node's config has it, with the
 * routes (borrowed: static tables) and hooks; ctx is given to handlers as req->ctx.
 * A TLS listener serves a certificate renewed in place from the next reload on
 * (relay_node_reload). Returns 0 and *out, or -RELAY_ELISTEN (or -RELAY_ENOMEM) with
 * the reason in err.
 */
int relay_http_start(struct relay_node *node, const struct relay_http_route *routes,
		     size_t n_routes, const struct relay_http_ops *ops, void *ctx,
		     struct relay_http **out, char *err, size_t errlen);
/* The base URL, e.g. "https://127.0.0.1:8443"; borrowed. */
const char *relay_http_url(const struct relay_http *h);
/* Stops listening and answers suspended requests; the memory stays until
 * relay_http_free, called after the store closed (late done() callbacks may
 * still look at a request's listener). NULL is a no-op for both. */
void relay_http_stop(struct relay_http *h);
void relay_http_free(struct relay_http *h);

struct relay_header {
	const char *name, *value;
};

/* Answers with a JSON body (copied). Returns what MHD wants back from the handler. */
enum MHD_Result relay_reply(struct relay_req *req, unsigned status, const char *json);
/* The same with a Retry-After header (seconds). */
enum MHD_Result relay_reply_json_retry(struct relay_req *req, unsigned status, const char *json,
				       unsigned retry_after_s);
/* {"error":code,"field":field,"reason":reason} (field omitted when NULL). */
enum MHD_Result relay_reply_error(struct relay_req *req, unsigned status, const char *code,
				  const char *field, const char *reason);
/* The same with a Retry-After header (seconds, at least 1). */
enum MHD_Result relay_reply_retry(struct relay_req *req, unsigned status, const char *code,
				  const char *reason, unsigned retry_after_s);
/* Any body and content type, with extra headers (all copied). */
enum MHD_Result relay_reply_body(struct relay_req *req, unsigned status, const char *content_type,
				 const void *body, size_t len, const struct relay_header *headers,
				 size_t n_headers);

/* Suspends the request until relay_req_resume() or deadline_ms (the watchdog).
 * Call before starting the asynchronous work that will resume it. */
void relay_req_suspend(struct relay_req *req, int64_t deadline_ms);
/* Resumes a suspended request; from any thread; only the first call counts. */
void relay_req_resume(struct relay_req *req);
/* A reference for an asynchronous completion; release it when done with req. */
void relay_req_hold(struct relay_req *req);
void relay_req_release(struct relay_req *req);
/* A query argument (?max=10) or a request header, or NULL; borrowed for the request. */
const char *relay_req_query(struct relay_req *req, const char *key);
const char *relay_req_header(struct relay_req *req, const char *name);

/* ---------------------------------- directory lines as JSON (relay_dirapi.c)
 * The carrier API and the admin API take and show an account line alike. */

#define RELAY_DIR_DELAY_MAX_S     604800u /* failover_delay: at most 7 days */
#define RELAY_DIR_DELAY_DEFAULT_S 600u

struct json_t;
/*
 * One member of an account line's JSON body into acc: "account" (an address, normalised
 * with default_country), "priority" (0-255), "failover" (boolean) or "failover_delay"
 * (0-RELAY_DIR_DELAY_MAX_S seconds). Returns 0; 1 when key is none of them (acc
 * untouched); -1 with *why (a static text) when its value is wrong.
 */
int relay_dir_account_field(const char *key, struct json_t *v, const char *default_country,
			    struct route_account *acc, const char **why);
/* {"address","accounts":[{"peer","account","priority","failover","failover_delay",
 * "pending"}…]}, accounts in the entry's order; NULL when out of memory. */
struct json_t *relay_dir_entry_json(const struct route_dir_entry *e);

/* ---------------------------------------------------------------- the node */

struct relay_node; /* the running relay: store, routing, delivery and the carrier API */

/*
 * Starts a node on cfg (transferred: the node owns and frees it): opens the
 * store under cfg->data_dir (with routing's tables and `tables`, other
 * modules' key-value tables such as admin's), loads peers and routes (the
 * config's, then the stored ones) and starts the delivery engine. Carriers are
 * let in by relay_node_listen, once whatever else must be written at start (the
 * first admin) is: their messages could fill the store before. Returns 0 and
 * *out, or -RELAY_E* with the reason in err.
 */
int relay_node_start(struct relay_config *cfg, const char *const *tables, size_t n_tables,
		     struct relay_node **out, char *err, size_t errlen);

/* Opens the carrier API. Returns 0, or -RELAY_ELISTEN (-RELAY_ENOMEM) with the reason
 * in err. */
int relay_node_listen(struct relay_node *n, char *err, size_t errlen);

/*
 * Applies a new config (transferred, also on failure): log level, limits,
 * peers and routes, and the TLS listeners' certificates, keys and client-ca
 * (re-read, even at the same paths: new handshakes get them, open connections go
 * on). Changes of a listener's address, port, TLS on or off, or client-ca set or
 * removed, and of data-dir and node-id need a restart and are logged as such. Returns 0, -RELAY_ECONFIG with
 * err when the peers, routes, certificates or keys cannot be applied (the old
 * config stays, all of it), or -RELAY_EAGAIN after 64 reloads within 10 minutes
 * (the old config stays).
 */
int relay_node_reload(struct relay_node *n, struct relay_config *next, char *err,
		      size_t errlen); /* one at a time: relay_node_reload_file serialises */

/* Re-reads the config file in force and applies it (relay_node_reload); for
 * SIGHUP and the admin API. Serialised: one reload at a time. At most 64 reloads
 * within 10 minutes: a config replaced is freed only that long after. */
int relay_node_reload_file(struct relay_node *n, char *err, size_t errlen);

/* The carrier API's base URL, e.g. "https://127.0.0.1:8443"; borrowed. */
const char *relay_node_url(const struct relay_node *n);

/* The node's store and routing, for the admin module (borrowed, valid until stop). */
struct queue *relay_node_queue(const struct relay_node *n);
struct routing *relay_node_routing(const struct relay_node *n);

/* Counters since start (monotonic). */
struct relay_counters {
	uint64_t accepted, duplicates, delivered, failed, expired, retried;
	int64_t started_ms;
};
void relay_node_counters(const struct relay_node *n, struct relay_counters *out);

/* For /metrics: when each listener's certificate ends (seconds since the epoch; 0: plain
 * HTTP, or not readable as a PEM certificate), and whether the last reload held a change
 * that only a restart applies (a listener, its TLS files' contents, data-dir, node-id). */
struct relay_node_state {
	int64_t carrier_cert_end_s, admin_cert_end_s;
	bool restart_needed;
};
void relay_node_state(const struct relay_node *n, struct relay_node_state *out);

/* Per-peer counters and latency histograms since start (relay_stats.c), for /metrics.
 * accepted counts under the submitting peer, when its insert committed (not duplicates);
 * delivered, failed, expired (final) and retried (an attempt failed, another follows) under
 * the destination peer the message is queued for, when that change committed. */
enum relay_stat {
	RELAY_STAT_ACCEPTED,
	RELAY_STAT_DELIVERED,
	RELAY_STAT_FAILED,
	RELAY_STAT_EXPIRED,
	RELAY_STAT_RETRIED,
	RELAY_STAT_MAX_
};
/* accept: a submission's start to the commit of each envelope it stored (the answer
 * follows at once); delivery: a push's start to its result (answer, error or timeout). */
enum relay_hist { RELAY_HIST_ACCEPT, RELAY_HIST_DELIVERY, RELAY_HIST_MAX_ };

#define RELAY_STATS_BUCKETS 13    /* upper bounds, seconds: relay_stats_bounds */
#define RELAY_STATS_PEERS_MAX 4096 /* peer names counted; later new names go uncounted */
extern const double relay_stats_bounds[RELAY_STATS_BUCKETS]; /* .001 .0025 … 5 10 */

struct relay_peer_stats {
	char peer[RELAY_NODE_ID_MAX + 1];
	uint64_t n[RELAY_STAT_MAX_]; /* indexed by enum relay_stat */
};
struct relay_histogram {
	uint64_t cumulative[RELAY_STATS_BUCKETS + 1]; /* ≤ each bound; the last is +Inf */
	uint64_t count;                                /* = cumulative[RELAY_STATS_BUCKETS] */
	uint64_t sum_us;                               /* microseconds */
};
struct relay_stats_snapshot {
	struct relay_peer_stats *peers; /* sorted by name; owned (relay_stats_snapshot_clear) */
	size_t n_peers;
	struct relay_histogram hist[RELAY_HIST_MAX_]; /* indexed by enum relay_hist */
};

/* A copy of the per-peer counters (peers with an event so far) and histograms. Each value
 * is read atomically, the set is not (they move while it is taken). Returns 0 or
 * -RELAY_ENOMEM (out zeroed). The caller frees it with relay_stats_snapshot_clear. */
int relay_node_stats(const struct relay_node *n, struct relay_stats_snapshot *out);
/* Frees what a snapshot owns and zeroes it; NULL is a no-op. */
void relay_stats_snapshot_clear(struct relay_stats_snapshot *snap);

/* The config in force, borrowed for the call at hand: after a reload replaces it, it stays
 * valid for RELAY_RETIRED_GRACE_MS (10 minutes), then it is freed. Keep no pointer into it. */
const struct relay_config *relay_node_config(const struct relay_node *n);

/* For the admin's queue actions: a message became due now (a retry, a release). Wakes
 * the delivery engine and, when pull_peer is not NULL, that pull peer's long-polls.
 * Any thread. */
void relay_node_kick(struct relay_node *n, const char *pull_peer);

struct queue_status;
/* For the admin's purge, once it committed: counts the message an operator made final (the
 * counters and /metrics, under st->dst_peer) and queues its report when env (its stored
 * envelope, decoded; NULL when it could not be read) asked for one — as the delivery engine
 * does. st is its status. Returns 0 (also when no report was asked for) or -RELAY_E*
 * (no report queued). */
int relay_node_report(struct relay_node *n, const struct relay_envelope *env,
		      const struct queue_status *st, enum relay_report_status status,
		      const char *reason);

/* Stops the API (open requests are answered or dropped), then the engine,
 * then closes the store. NULL is a no-op. */
void relay_node_stop(struct relay_node *n);

#endif
