/*
 * routing: addresses, and (in later parts) the route table, the subscriber
 * directory and the delivery decision. A library: it never logs, never exits,
 * and knows nothing of HTTP. Every function returns 0 or a negative ROUTE_E* code.
 */
#ifndef INTERLINK_ROUTING_H
#define INTERLINK_ROUTING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct queue; /* queue/queue.h: where peers, routes and the directory are kept */

/* Error codes, returned negated (-ROUTE_EEMPTY). route_strerror() names each. */
enum route_error {
	ROUTE_EEMPTY = 1,   /* address is empty (after removing separators) */
	ROUTE_ETOOLONG,     /* more than 15 digits, or the handle/part is too long */
	ROUTE_ETOOSHORT,    /* no digits after the international prefix */
	ROUTE_EBADCHAR,     /* a character that has no place in an address */
	ROUTE_ENONASCII,    /* a byte >= 0x80 */
	ROUTE_ECOUNTRY,     /* country code starts with 0 (e.g. "+0...", "000...") */
	ROUTE_ENATIONAL,    /* national number (trunk 0) and no default-country set */
	ROUTE_ENOPREFIX,    /* digits with neither "+", "00" nor a trunk "0" */
	ROUTE_ELOCAL,       /* handle local part is not [a-z0-9._-]{1,64} */
	ROUTE_EDOMAIN,      /* handle domain is not a valid DNS name of <= 253 bytes */
	ROUTE_ECC,          /* default-country is not 1-3 digits starting 1-9 */
	ROUTE_EINVAL,       /* an invalid argument (a bad peer or route definition) */
	ROUTE_ENOMEM,       /* out of memory */
	ROUTE_EEXIST,       /* a peer or route of that name/value already exists */
	ROUTE_ENOTFOUND,    /* no such peer, route or directory entry */
	ROUTE_ENOPEER,      /* a route or account names a peer that does not exist */
	ROUTE_EINUSE,       /* a peer still named by a route */
	ROUTE_EREADONLY,    /* defined in the config file: not changed at run time */
	ROUTE_EPERM,        /* a carrier changing a directory account of another carrier */
	ROUTE_ESTORE,       /* the store failed (I/O, corrupt record) */
	ROUTE_EFULL,        /* the store is full */
	ROUTE_ENOROUTE,     /* decision: no directory entry, route or default route */
	ROUTE_ELOOP,        /* decision: this node is in hops */
	ROUTE_EHOPS,        /* decision: more than ROUTE_HOPS_MAX hops */
	ROUTE_ESUSPENDED,   /* decision: the destination peer is suspended */
	ROUTE_ESPOOF,       /* anti-spoofing: the peer may not send from that address */
	ROUTE_EMAX_
};

enum route_addr_kind {
	ROUTE_ADDR_E164 = 1,   /* "+" and 1-15 digits, first digit 1-9 */
	ROUTE_ADDR_HANDLE = 2, /* "local@domain", lower-case */
};

#define ROUTE_ADDR_LOCAL_MAX 64
#define ROUTE_ADDR_DOMAIN_MAX 253
/* Longest normalised form: local + "@" + domain, plus the NUL. */
#define ROUTE_ADDR_MAX (ROUTE_ADDR_LOCAL_MAX + 1 + ROUTE_ADDR_DOMAIN_MAX + 1)
/* Longest input accepted before normalisation (separators, "tel:"). */
#define ROUTE_ADDR_INPUT_MAX 512

/* A normalised address: data, compare with strcmp(a.text, b.text). */
struct route_addr {
	enum route_addr_kind kind;
	size_t len;                 /* strlen(text) */
	char text[ROUTE_ADDR_MAX];  /* normalised form, NUL-terminated */
};

/*
 * Parses and normalises one address of `len` bytes (it need not be NUL-terminated).
 * E.164: separators " -.()" are removed, a "tel:" prefix is accepted, a leading
 * "00" becomes "+", and a leading trunk "0" is replaced by "+" default_country
 * when default_country (digits, e.g. "82") is non-NULL, else rejected.
 * Handles are lower-cased. On error *out is unspecified.
 * Returns 0, or -ROUTE_E* naming why the input is not an address.
 */
int route_addr_parse(const char *in, size_t len, const char *default_country,
		     struct route_addr *out);

/*
 * A route or ownership prefix: "+" and 1-15 digits, first digit 1-9 (separators
 * " -.()" removed, "00" accepted for "+"). Writes the normalised prefix into
 * out (at least 17 bytes). Returns 0 or -ROUTE_E*.
 */
int route_prefix_parse(const char *in, size_t len, char *out, size_t outsz);

/*
 * A carrier domain: a DNS name of at most 253 bytes, labels [a-z0-9-]{1,63}
 * not starting or ending with "-", lower-cased into out (at least 254 bytes).
 * With allow_wildcard, a leading "*." is kept ("*.line.example" matches any
 * subdomain). Returns 0 or -ROUTE_EDOMAIN / -ROUTE_ENONASCII / -ROUTE_ETOOLONG.
 */
int route_domain_parse(const char *in, size_t len, int allow_wildcard, char *out, size_t outsz);

/* Checks a default-country value: 1-3 digits, the first 1-9. Returns 0 or -ROUTE_ECC. */
int route_country_check(const char *cc);

/* A static, human-readable reason for a ROUTE_E* code (positive or negated). */
const char *route_strerror(int code);

/* ================================================================= peers */

#define ROUTE_NAME_MAX 64      /* peer names and node ids: [A-Za-z0-9._-]{1,64} */
#define ROUTE_ENDPOINTS_MAX 8
#define ROUTE_HOPS_MAX 8       /* more hops than this: rejected */

enum route_peer_kind { ROUTE_PEER_CARRIER, ROUTE_PEER_RELAY };

/* A relay peer's Ed25519 public signing key, pinned: the node verifies the attestations and
 * signed reports that peer sends with it (docs/trust.md). Plain data. */
#define ROUTE_PINS_MAX 8
#define ROUTE_KID_LEN 16 /* a key id: the first 16 lower-case hex digits of SHA-256(pub) */
struct route_pin {
	char kid[ROUTE_KID_LEN + 1]; /* NUL-terminated */
	unsigned char pub[32];       /* the raw public key */
	int64_t until_ms;            /* signatures made after this are refused; 0: no end */
};

/* A peer: a carrier or another relay. Plain data; strings are owned by whoever
 * built it (a table owns its copies). */
struct route_peer {
	const char *name;
	enum route_peer_kind kind;
	const char *token_sha256;   /* 64 lower-case hex, or NULL */
	const char *cert_sha256;    /* 64 lower-case hex, or NULL */
	const char *const *endpoints; /* push URLs in priority order; none: it pulls */
	size_t n_endpoints;
	const char *outbound_token; /* secret: never logged; or NULL */
	const char *const *owns;    /* normalised E.164 prefixes ("+8210") and domains */
	size_t n_owns;
	uint32_t rate, burst;       /* messages per second, and burst */
	uint64_t max_size;          /* bytes */
	uint64_t max_queue;         /* messages */
	bool suspended;             /* an admin stopped traffic to and from it */
	bool read_only;             /* from the config file */
	bool dir_trusted;           /* its directory accounts outside its owns are approved
				       at once (config: directory-trusted, e.g. a number
				       portability clearing house); else they wait */
	const struct route_pin *pins; /* its pinned signing keys (relay peers), in order */
	size_t n_pins;                /* at most ROUTE_PINS_MAX */
};

/* ================================================================ routes */

enum route_match { ROUTE_MATCH_PREFIX, ROUTE_MATCH_DOMAIN, ROUTE_MATCH_DEFAULT };

struct route_entry {
	enum route_match match;
	const char *value; /* normalised prefix "+8210", domain "line.example" or
			      "*.line.example"; NULL for the default route */
	const char *peer;
	bool read_only;    /* from the config file */
};

/* =========================================================== the table
 *
 * A table is an immutable snapshot of every peer and route. It is built,
 * then published; readers take a reference to the current one, use it
 * without locks, and release it. Publishing a new table never disturbs a
 * reader of the old one (reference counting, RCU-style).
 */
struct route_table;

/* A new, empty table to fill; NULL when out of memory. */
struct route_table *route_table_new(void);

/* Adds a copy of a peer (its strings, endpoints, owns and pins). Returns 0, -ROUTE_EEXIST,
 * -ROUTE_EINVAL (name, endpoints, owns or hashes malformed; more than ROUTE_PINS_MAX pins, a
 * pin whose kid is not 16 lower-case hex digits or whose until_ms is negative, or the same
 * key pinned twice), -ROUTE_ENOMEM. Only before publishing. */
int route_table_add_peer(struct route_table *t, const struct route_peer *p);

/* Adds a copy of a route. Returns 0, -ROUTE_EEXIST (the same prefix or domain,
 * or a second default), -ROUTE_ENOPEER, -ROUTE_EINVAL, -ROUTE_ENOMEM. */
int route_table_add_route(struct route_table *t, const struct route_entry *r);

/* Frees a table that was never published; NULL is a no-op. */
void route_table_free(struct route_table *t);

/* A peer by name, borrowed from the table (valid while it is held), or NULL. */
const struct route_peer *route_table_peer(const struct route_table *t, const char *name);

/* Peers and routes by index, in the order added, for listings; NULL past the end. */
const struct route_peer *route_table_peer_at(const struct route_table *t, size_t i);
const struct route_entry *route_table_route_at(const struct route_table *t, size_t i);

/*
 * The route for an address: for a number, the longest matching prefix; for a
 * handle, its exact domain, else the longest matching "*.suffix"; else the
 * default route. Borrowed from the table. Returns 0 or -ROUTE_ENOROUTE.
 * O(number of distinct prefix lengths) hash probes: no scan of the table.
 */
int route_table_lookup(const struct route_table *t, const struct route_addr *to,
		       const struct route_entry **out);

/* ======================================================== the module
 *
 * struct routing holds the current table, the endpoint health and the
 * directory. Peers, routes and directory entries are kept in the queue's
 * store (tables "peers", "routes", "directory"); peers and routes are also
 * held in memory in the current table.
 */
struct routing;

/* The queue tables routing needs: pass them in queue_options.tables. */
extern const char *const route_queue_tables[];
#define ROUTE_QUEUE_TABLES 4

/* Circuit breaker settings (zeros: the defaults in brackets). */
struct route_breaker {
	uint32_t failures;   /* consecutive failures that open an endpoint [3] */
	int64_t open_ms;     /* first open period [5 s]; doubles on each failed probe */
	int64_t open_max_ms; /* the longest open period [5 min] */
};

/*
 * A new module for node `node_id`. q (borrowed, may be NULL in tests: then
 * nothing is persisted and the directory is empty) must outlive it. Starts
 * with an empty table. Returns NULL when out of memory or node_id is invalid.
 */
struct routing *routing_new(const char *node_id, struct queue *q, const struct route_breaker *b);
void routing_free(struct routing *r);

/*
 * Builds the table from the store's peers and routes plus the config file's
 * (given here; they win over stored ones of the same name and are read-only),
 * and publishes it. Returns 0 or -ROUTE_E* (the first bad entry; nothing is
 * published then). On failure err (errlen 0: none) names a stored entry that
 * caused it, and what to do (a run-time route whose config peer is gone); it is
 * "" when the code says all there is.
 */
int routing_load(struct routing *r, const struct route_peer *peers, size_t n_peers,
		 const struct route_entry *routes, size_t n_routes, char *err, size_t errlen);

/* Publishes t (transferred to r). The old table goes when its last reader releases it. */
void routing_publish(struct routing *r, struct route_table *t);

/* The current table with a reference; never NULL. Release it soon: a held
 * table keeps its memory alive. */
const struct route_table *routing_acquire(struct routing *r);
void routing_release(const struct route_table *t);

/*
 * Run-time changes (admin): each writes the store (waiting for the commit),
 * then publishes a new table. Config-file entries give -ROUTE_EREADONLY.
 * put_peer adds or replaces; del_peer gives -ROUTE_EINUSE while a route names
 * the peer. Also -ROUTE_EINVAL, -ROUTE_ENOTFOUND, -ROUTE_EFULL, -ROUTE_ESTORE.
 */
int routing_put_peer(struct routing *r, const struct route_peer *p);
int routing_del_peer(struct routing *r, const char *name);
int routing_set_suspended(struct routing *r, const char *name, bool suspended);
int routing_put_route(struct routing *r, const struct route_entry *e);
int routing_del_route(struct routing *r, enum route_match match, const char *value);

/* ====================================================== the directory
 *
 * Number portability and linked accounts: an address maps to the accounts
 * its subscriber has, at one or more carriers. Each carrier manages its own
 * account line in an entry; the entry lives in the store (millions of them),
 * not in memory.
 */
#define ROUTE_ACCOUNTS_MAX 8

struct route_account {
	char peer[ROUTE_NAME_MAX + 1]; /* the carrier that holds the account */
	struct route_addr addr;        /* the subscriber's address there (often the same) */
	uint8_t priority;              /* lower is preferred; ties: the earlier added */
	bool failover;                 /* the subscriber consents to receive here when the
					  carriers before this one are down */
	uint32_t failover_delay_s;     /* ...for at least this long */
	bool pending;                  /* declared by its carrier for an address outside that
					  carrier's owned prefixes and domains: kept and shown,
					  but not used — no delivery to it, no trust as a sender
					  (route_may_send) — until an admin approves it */
};

struct route_dir_entry {
	struct route_addr addr;
	struct route_account acc[ROUTE_ACCOUNTS_MAX]; /* in preference order */
	size_t n;
};

/* The entry for an address. Returns 0, -ROUTE_ENOTFOUND, -ROUTE_ESTORE. */
int route_dir_get(struct routing *r, const struct route_addr *addr, struct route_dir_entry *out);

/*
 * Adds or replaces the account of acc->peer in addr's entry. by_peer is the
 * carrier asking (it must equal acc->peer: else -ROUTE_EPERM), or NULL for an
 * admin. The peer must exist (-ROUTE_ENOPEER). More than ROUTE_ACCOUNTS_MAX
 * accounts: -ROUTE_EINVAL. Also -ROUTE_EFULL, -ROUTE_ESTORE.
 * acc->pending is not taken from the caller: an admin's account is approved; a
 * carrier's is pending when addr is outside its owned prefixes and domains, unless
 * that account was approved before (a carrier updating its approved line keeps the
 * approval). *pending (when not NULL) says what was stored.
 */
int route_dir_put(struct routing *r, const char *by_peer, const struct route_addr *addr,
		  const struct route_account *acc, bool *pending);

/* An admin approves peer's pending account in addr's entry: it takes part in routing and
 * anti-spoofing from then on. Approving an approved account is a no-op. Returns 0,
 * -ROUTE_ENOTFOUND (no such entry or account), -ROUTE_EINVAL, -ROUTE_ESTORE, -ROUTE_EFULL. */
int route_dir_approve(struct routing *r, const struct route_addr *addr, const char *peer);

/*
 * The accounts awaiting approval, in (address, peer) order, from after the pair
 * (after_addr, after_peer) (both NULL: from the start): fn(addr, peer, arg) for each until
 * it returns non-zero or `limit` were given. Kept in the queue table "dirpending"
 * (ROUTE_QUEUE_TABLES counts it), so listing never walks the directory. Returns 0 or
 * -ROUTE_ESTORE / -ROUTE_EINVAL.
 */
int route_dir_pending(struct routing *r, const char *after_addr, const char *after_peer,
		      size_t limit, int (*fn)(const char *addr, const char *peer, void *arg),
		      void *arg);

/* Removes peer's account from addr's entry (the entry goes with its last
 * account). by_peer as above. Returns 0, -ROUTE_ENOTFOUND, -ROUTE_EPERM, ... */
int route_dir_del(struct routing *r, const char *by_peer, const struct route_addr *addr,
		  const char *peer);

/* ======================================================== endpoint health
 *
 * A circuit breaker per (peer, endpoint), fed by delivery results. Closed:
 * used. After `failures` consecutive failures: open, skipped for open_ms
 * (doubling after each failed probe, up to open_max_ms). Then half-open: one
 * probe delivery may go; success closes it, failure opens it again. A peer is
 * down when every endpoint is open. Thread-safe; times are passed in so that
 * tests drive a fake clock.
 */
enum route_ep_state { ROUTE_EP_CLOSED, ROUTE_EP_OPEN, ROUTE_EP_HALF_OPEN };

void route_health_report(struct routing *r, const char *peer, size_t endpoint, bool ok,
			 int64_t now_ms);
enum route_ep_state route_health_state(struct routing *r, const char *peer, size_t endpoint,
				       int64_t now_ms);

/* Whether every endpoint of p is open; *since_ms: since when (the latest of the
 * endpoints' opening times), *retry_ms: when the first of them half-opens. */
bool route_peer_down(struct routing *r, const struct route_peer *p, int64_t now_ms,
		     int64_t *since_ms, int64_t *retry_ms);

/* ========================================================== the decision */

struct route_msg {
	const struct route_addr *to, *from;
	const char (*hops)[ROUTE_NAME_MAX + 1]; /* node ids already traversed */
	size_t n_hops;
	const char *src_peer;  /* who submitted it */
	uint32_t attempts;     /* delivery attempts so far */
	int64_t first_fail_ms; /* when an attempt first failed, or 0 */
	int64_t now_ms;
	bool dry_run;          /* only look: take no breaker pass (at submission, in the
				  route tester); a delivery about to be made passes false */
};

enum route_verdict { ROUTE_DELIVER, ROUTE_WAIT, ROUTE_REJECT };

struct route_decision {
	enum route_verdict verdict;
	/* ROUTE_DELIVER (and ROUTE_WAIT: the peer waited for, and its `to`): */
	char peer[ROUTE_NAME_MAX + 1];
	bool pull;                    /* the peer has no endpoints: it pulls from its inbox */
	size_t endpoint;              /* index into the peer's endpoints (push) */
	bool half_open_probe;         /* this delivery is the breaker's probe */
	char to[ROUTE_ADDR_MAX];      /* the address to deliver to (a linked account's) */
	bool failover;                /* not the first choice: endpoint DR or linked account */
	/* ROUTE_WAIT: */
	int64_t wait_until_ms;
	/* ROUTE_REJECT: -ROUTE_ENOROUTE, -ROUTE_ELOOP, -ROUTE_EHOPS, -ROUTE_ESUSPENDED */
	int reject;
	/* always: a short explanation for logs, reports and the route tester,
	 * e.g. "directory: +821012345678 -> line (linked account; kakao down 11m)" */
	char why[160];
};

/*
 * Where a message goes now. Order: a loop or too many hops rejects; then the
 * directory entry of `to` (its accounts in preference order; with consent, an
 * account after the first is used once the carriers before it have been down
 * for its failover delay, counted from the message's first failed attempt);
 * else the longest prefix or domain route; else the default route; else
 * reject. For the chosen peer, the first endpoint whose breaker lets it
 * through (DR endpoints are a failover); all open: wait until the first
 * half-opens. Returns 0 (the decision is in *out) or -ROUTE_EINVAL.
 */
int route_decide(struct routing *r, const struct route_msg *m, struct route_decision *out);

/* ========================================================= anti-spoofing */

enum route_trust {
	ROUTE_TRUST_OWNED = 1, /* the address matches the peer's owned prefixes or domains */
	ROUTE_TRUST_DIRECTORY, /* a directory entry names the peer for the address */
	ROUTE_TRUST_RELAYED,   /* the peer is a relay: it vouches for its own senders */
};

/* May `peer` send from `from`? Returns 0 with *level set, -ROUTE_ESPOOF,
 * -ROUTE_ENOPEER or -ROUTE_ESUSPENDED. */
int route_may_send(struct routing *r, const char *peer, const struct route_addr *from,
		   enum route_trust *level);

#endif
