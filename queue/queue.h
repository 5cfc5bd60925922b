/*
 * queue: the durable store behind "store and forward" — one LMDB environment,
 * one writer thread that commits many requests together (group commit), the
 * due-time schedule, the pull inbox, idempotency and status retention.
 * A library: it never logs, never exits, and knows nothing of HTTP or of the
 * envelope format (a message is an opaque payload plus the metadata below).
 * Functions return 0 or a negative QUEUE_E* code.
 */
#ifndef INTERLINK_QUEUE_H
#define INTERLINK_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum queue_error {
	QUEUE_EFULL = 1,  /* the store is full: an insert was refused (the API answers 507) */
	QUEUE_ENOTFOUND,  /* no such message (never existed, or already final / purged) */
	QUEUE_ESTATE,     /* the message is final (or, for a release, not held): not changed */
	QUEUE_ESCHEMA,    /* the data directory holds another schema version */
	QUEUE_ECORRUPT,   /* a stored record failed validation */
	QUEUE_EINVAL,     /* a caller passed an invalid argument */
	QUEUE_ENOMEM,     /* out of memory */
	QUEUE_ECLOSED,    /* the queue is closing: the operation was not done */
	QUEUE_EIO,        /* LMDB or the file system failed (a full disk is QUEUE_EFULL) */
	QUEUE_EMAX_
};

/* A static text for a QUEUE_E* code (positive or negated). */
const char *queue_strerror(int code);

/* ------------------------------------------------------------------ rid */

#define QUEUE_RID_TEXT 26 /* Crockford base32 characters */

/* A relay id: 48 bits of ms since the epoch, then 80 bits that increase
 * within a millisecond from a random start. Byte order sorts by time. */
struct queue_rid {
	unsigned char b[16];
};

/* A new rid, unique and increasing within this process. Thread-safe. */
void queue_rid_new(struct queue_rid *out);

/* Writes 26 characters and a NUL into out. */
void queue_rid_format(const struct queue_rid *rid, char out[QUEUE_RID_TEXT + 1]);

/* Parses 26 Crockford base32 characters (case-insensitive; I and L read as 1,
 * O as 0). Returns 0 or -QUEUE_EINVAL. */
int queue_rid_parse(const char *text, size_t len, struct queue_rid *out);

/* The rid's time part, ms since the epoch. */
int64_t queue_rid_time_ms(const struct queue_rid *rid);

/* -------------------------------------------------------------- opening */

enum queue_sync { QUEUE_SYNC_FULL, QUEUE_SYNC_NONE };

struct queue_options {
	const char *dir;         /* existing directory; the store is dir/store.mdb */
	uint64_t map_size;       /* initial map size, bytes */
	uint64_t max_map_size;   /* the map grows up to this when it fills */
	enum queue_sync sync;    /* FULL: nothing acknowledged is lost on power loss */
	int64_t retention_ms;    /* how long final status and idempotency keys are kept */
	size_t batch_max_ops;    /* 0: default 1024 operations per transaction */
	size_t batch_max_bytes;  /* 0: default 8 MiB of payload per transaction */
	const char *const *tables; /* names of key-value tables for other modules (see
				      "tables" below); at most QUEUE_TABLES_MAX */
	size_t n_tables;
};

#define QUEUE_SCHEMA_VERSION 1

struct queue;

/*
 * Opens (creating when empty) the store and starts the writer thread.
 * Refuses a store of another schema version (-QUEUE_ESCHEMA) and clears stale
 * reader slots left by dead processes. Returns 0 and *out, or -QUEUE_E*; the
 * reason is in `err` (NUL-terminated) when err is non-NULL.
 */
int queue_open(const struct queue_options *opt, struct queue **out, char *err, size_t errlen);

/* Finishes every operation already submitted, stops the writer, closes the
 * store. Operations submitted after close began complete with -QUEUE_ECLOSED.
 * NULL is a no-op. */
void queue_close(struct queue *q);

/* ------------------------------------------------------------- messages */

enum queue_state {
	QUEUE_QUEUED = 1, /* waiting for its due time (push) or to be pulled */
	QUEUE_DELIVERING, /* leased to a delivery or a pulling peer */
	QUEUE_DELIVERED,  /* final */
	QUEUE_EXPIRED,    /* final: ttl ran out */
	QUEUE_FAILED,     /* final: permanent failure */
	QUEUE_HELD,       /* held by an operator: neither delivered nor pulled until released,
			     but it still expires (after the final states: stored numbers stay) */
	QUEUE_STATE_MAX_
};
#define QUEUE_STATE_FINAL(s) \
	((s) == QUEUE_DELIVERED || (s) == QUEUE_EXPIRED || (s) == QUEUE_FAILED)

/* Name of a state ("queued", "delivering", ...), or "unknown". */
const char *queue_state_name(enum queue_state s);

enum queue_mode {
	QUEUE_PUSH = 1, /* the relay delivers it to the peer's endpoint */
	QUEUE_PULL,     /* the peer fetches it from its inbox */
};

#define QUEUE_NAME_MAX 64  /* peer names and client ids */
#define QUEUE_TEXT_MAX 127 /* last error and route */

/* Everything the store knows about a message but its payload. Plain data. */
struct queue_status {
	struct queue_rid rid;
	enum queue_state state;
	enum queue_mode mode;
	uint32_t attempts;      /* deliveries or pulls leased so far */
	int64_t created_ms;     /* when it was accepted */
	int64_t updated_ms;     /* last change */
	int64_t due_ms;         /* its timer: next attempt or lease end (push), expiry (pull) */
	int64_t visible_ms;     /* pull: when it may be pulled (again); 0 for push */
	int64_t expires_ms;     /* when its ttl runs out */
	int64_t final_ms;       /* when it became final, else 0 */
	int64_t first_fail_ms;  /* when an attempt first failed (a reschedule with an error), else 0 */
	char src_peer[QUEUE_NAME_MAX + 1]; /* who submitted it */
	char client_id[QUEUE_NAME_MAX + 1]; /* the submitter's id (idempotency key) */
	char dst_peer[QUEUE_NAME_MAX + 1];  /* where it goes now */
	char last_error[QUEUE_TEXT_MAX + 1];
	char route[QUEUE_TEXT_MAX + 1];     /* how it was (or is being) delivered */
};

/* A leased message: its status and a copy of its payload (owned by the lease). */
struct queue_msg {
	struct queue_status st;
	unsigned char *payload;
	size_t len;
};

/* ----------------------------------------------------------- operations
 *
 * Every change goes through the writer thread as a struct queue_op that the
 * caller owns (embed it in a request; no allocation per operation). The
 * writer applies many operations in one transaction and calls each op's
 * done() only after that transaction committed — or failed, with op->rc set.
 * done() runs on the writer thread: it must be short and must not call
 * queue_exec() (queue_submit() is fine).
 */
enum queue_op_type {
	QUEUE_OP_INSERT,     /* store a new message */
	QUEUE_OP_LEASE,      /* take due messages: push attempts, and expiry timers of
				a pull or held message (returned once now ≥ its expiry,
				state untouched, for the caller to expire it) */
	QUEUE_OP_PULL,       /* take messages from one peer's inbox (never held ones) */
	QUEUE_OP_RESCHEDULE, /* back to queued, due at a new time (after a failed attempt) */
	QUEUE_OP_FINALISE,   /* delivered / expired / failed: payload dropped, status kept */
	QUEUE_OP_PURGE,      /* drop final statuses older than the retention */
	QUEUE_OP_KV_PUT,     /* write a key in a table */
	QUEUE_OP_KV_DEL,     /* delete a key from a table */
	QUEUE_OP_HOLD,       /* a live message → held: out of the schedule and the inbox, its
				timer at its expiry; holding a held one changes nothing */
	QUEUE_OP_RELEASE,    /* held → queued, due now (push) or back in the inbox (pull) */
};

struct queue_op_insert {
	int64_t now_ms;         /* acceptance time */
	const char *src_peer;   /* required; ≤ QUEUE_NAME_MAX */
	const char *client_id;  /* required; ≤ QUEUE_NAME_MAX; (src_peer, client_id) is unique */
	const char *dst_peer;   /* required */
	enum queue_mode mode;
	int64_t due_ms;         /* first attempt (push); ignored for pull */
	int64_t expires_ms;     /* > now */
	const void *payload;    /* borrowed until done() */
	size_t len;             /* ≥ 1 */
	/* results */
	struct queue_rid rid;   /* the new rid, or the first one's for a duplicate */
	bool duplicate;         /* (src_peer, client_id) was already stored: nothing written */
};

struct queue_op_lease {
	int64_t now_ms;
	int64_t lease_ms;       /* offered again after this unless rescheduled or final */
	size_t max;             /* at most this many messages */
	const char *peer;       /* QUEUE_OP_PULL only: whose inbox */
	/* results: msgs is transferred to the caller (queue_msgs_free) */
	struct queue_msg *msgs;
	size_t n;
};

/* RESCHEDULE, FINALISE, HOLD and RELEASE. A RESCHEDULE of a held message (its delivery
 * was in flight when it was held) records error, route and destination but leaves it
 * held. HOLD and RELEASE use rid, now_ms, and error and route when not NULL. */
struct queue_op_change {
	struct queue_rid rid;
	int64_t now_ms;
	int64_t due_ms;          /* RESCHEDULE: next attempt */
	enum queue_state state;  /* FINALISE: DELIVERED, EXPIRED or FAILED */
	const char *error;       /* last error text, or NULL to keep it */
	const char *route;       /* route text, or NULL to keep it */
	const char *dst_peer;    /* RESCHEDULE: a new destination (failover), or NULL */
	enum queue_mode mode;    /* with dst_peer: its mode */
};

struct queue_op_purge {
	int64_t now_ms;
	size_t max;              /* at most this many statuses in this operation */
	size_t purged;           /* result */
};

struct queue_op_kv {
	const char *table;       /* one of queue_options.tables */
	const void *key;         /* borrowed until done(); 1..QUEUE_KEY_MAX bytes */
	size_t klen;
	const void *val;         /* KV_PUT: borrowed until done() */
	size_t vlen;
	bool control;            /* KV_PUT: a small write of the control plane (peers, routes,
				    admins): it may use half the room kept for deletes, so that
				    an operator can still act on a full store */
	bool existed;            /* result: the key was there before */
};

struct queue_op {
	enum queue_op_type type;
	void (*done)(struct queue_op *op); /* may be NULL */
	void *arg;                         /* the caller's */
	int rc;                            /* result: 0 or -QUEUE_E* */
	union {
		struct queue_op_insert insert;
		struct queue_op_lease lease;
		struct queue_op_change change;
		struct queue_op_purge purge;
		struct queue_op_kv kv;
	} u;
	struct queue_op *next; /* the queue's own link; do not touch */
};

/*
 * Hands op to the writer and returns at once; op->done(op) follows after the
 * commit. Insert refuses with -QUEUE_EFULL when the store cannot hold it even
 * after growing; every other operation still succeeds when the store is full.
 * Reschedule, finalise, hold and release of an unknown rid give -QUEUE_ENOTFOUND, of a
 * final message -QUEUE_ESTATE; so does release of a message that is not held.
 */
void queue_submit(struct queue *q, struct queue_op *op);

/* queue_submit, then waits for the commit; returns op->rc. For threads that
 * may block (delivery engine, tests, tools); never call it from done(). */
int queue_exec(struct queue *q, struct queue_op *op);

/* Frees leased messages; NULL is a no-op. */
void queue_msgs_free(struct queue_msg *msgs, size_t n);

/* ---------------------------------------------------------------- reads
 * Reads use a short read snapshot of their own and never wait for the writer. */

/* Status of a live or retained message. Returns 0, -QUEUE_ENOTFOUND, -QUEUE_ECORRUPT. */
int queue_status_get(struct queue *q, const struct queue_rid *rid, struct queue_status *out);

/* A copy of a live message's payload (*out is malloc'd; the caller frees it).
 * Returns 0, -QUEUE_ENOTFOUND (unknown or final), -QUEUE_ENOMEM. */
int queue_payload_get(struct queue *q, const struct queue_rid *rid, unsigned char **out,
		      size_t *len);

/*
 * What an insert's admission needs, from one read snapshot: whether (src_peer,
 * client_id) is stored (then *duplicate, and *rid: what an insert of that id would
 * answer as a duplicate), and if not and live is not NULL, how many live messages
 * (queued, delivering, held) dst_peer has. Returns 0, -QUEUE_EINVAL,
 * -QUEUE_ECORRUPT, or a store error.
 */
int queue_admit_get(struct queue *q, const char *src_peer, const char *client_id,
		    const char *dst_peer, struct queue_rid *rid, bool *duplicate, uint64_t *live);

/* Per destination peer: how many messages are in each state (final states
 * count those still retained; live ones are queued, delivering and held) and when
 * its oldest live message was accepted. */
struct queue_peer_counts {
	uint64_t state[QUEUE_STATE_MAX_]; /* indexed by enum queue_state */
	int64_t oldest_live_ms;           /* 0 when it has none */
};

/* Counts for one peer; all zero for a peer with no messages. O(1) + one lookup. */
int queue_peer_counts(struct queue *q, const char *peer, struct queue_peer_counts *out);

/* Calls fn for every peer that has or had messages; stops when fn returns non-zero. */
int queue_each_peer(struct queue *q,
		    int (*fn)(const char *peer, const struct queue_peer_counts *c, void *arg),
		    void *arg);

/* ----------------------------------------------------------------- list */

/* Which messages queue_list gives; a zero filter gives every stored one. */
struct queue_list_filter {
	const char *dst_peer;      /* NULL: any destination */
	unsigned states;           /* QUEUE_LIST_STATE(s) bits; 0: any state */
	int64_t created_before_ms; /* 0: any; else only those accepted before this time */
};
#define QUEUE_LIST_STATE(s) (1u << (s))
#define QUEUE_LIST_SCAN_MAX 10000 /* records examined per call at most */

/* Where a listing stopped. */
struct queue_list_page {
	bool more;              /* false: nothing more matches past the last one given */
	struct queue_rid next;  /* when more: pass it as `after` to go on */
	size_t scanned;         /* records examined by this call */
};

/*
 * Calls fn for up to `limit` messages (live or retained final ones) that match f, oldest
 * first (by rid, i.e. by acceptance), those after the rid `after` (exclusive; NULL: from
 * the first), all from one read snapshot. A destination filter whose states are all live
 * (queued, delivering, held) walks that peer's index; any other listing walks every
 * status. At most QUEUE_LIST_SCAN_MAX records are examined per call: a call may stop
 * with fewer than `limit` (even none) and page->more set, its page->next being the last
 * record examined, so that the next call starts past everything this one skipped. Also
 * stops, with more set and next its rid, when fn returns non-zero. st is borrowed for the
 * call; fn must not call other queue functions. page may be NULL.
 * Returns 0, -QUEUE_EINVAL (limit 0, a bad peer name), -QUEUE_EIO.
 */
int queue_list(struct queue *q, const struct queue_list_filter *f, const struct queue_rid *after,
	       size_t limit, int (*fn)(const struct queue_status *st, void *arg), void *arg,
	       struct queue_list_page *page);

struct queue_store_stat {
	uint64_t used_bytes;   /* pages in use (excluding free pages) × page size */
	uint64_t map_bytes;    /* current map size */
	uint64_t max_bytes;    /* what it may grow to: max_map_size, or less when the disk has
				* less room (the file's size plus the file system's free space,
				* at most RLIMIT_FSIZE) */
	uint64_t commits;      /* write transactions committed since open */
	uint64_t ops;          /* operations applied since open */
	bool full;             /* the last insert refused for space still would not fit */
	/* Store errors since open: writes failed for a reason other than room (-QUEUE_EIO,
	 * -QUEUE_ECORRUPT: a failing disk, a damaged file), and records the writer met that
	 * failed validation (the operation on one fails; a lease drops its timer): */
	uint64_t errors;       /* operations failed, and records met, each time */
	int last_error;        /* the last one's errno, LMDB code or -QUEUE_ECORRUPT (named by
				* queue_error_text); 0: none */
	bool failing;          /* the last write transaction failed with one; cleared by the
				* next that commits a change */
};

/* Store size and writer figures; cheap (no transaction). */
void queue_store_stat(struct queue *q, struct queue_store_stat *out);

/* A static text for queue_store_stat's last_error ("Input/output error", "MDB_PANIC: ...",
 * "stored record is corrupt"). */
const char *queue_error_text(int code);

/* ---------------------------------------------------------------- tables
 * Named key-value tables in the same store, for other modules' data (routing's
 * peers, routes and directory; admin's users). Keys sort bytewise. Writes are
 * operations (QUEUE_OP_KV_PUT / KV_DEL) and commit with everything else; a put
 * is refused with -QUEUE_EFULL when the store is full (a `control` one only when
 * half the room kept for deletes is gone too), a delete never is.
 * Unknown table names give -QUEUE_EINVAL. */

#define QUEUE_TABLES_MAX 12
#define QUEUE_KEY_MAX 511 /* LMDB's default key size limit */

/* A copy of one value (*val malloc'd, the caller frees it).
 * Returns 0, -QUEUE_ENOTFOUND, -QUEUE_EINVAL, -QUEUE_ENOMEM. */
int queue_kv_get(struct queue *q, const char *table, const void *key, size_t klen, void **val,
		 size_t *vlen);

/*
 * Calls fn for each key ≥ from (NULL: the first) that starts with prefix
 * (plen 0: any), in key order, from one read snapshot, until fn returns
 * non-zero. key and val are borrowed for the call only. Returns 0 or -QUEUE_E*.
 */
int queue_kv_scan(struct queue *q, const char *table, const void *from, size_t flen,
		  const void *prefix, size_t plen,
		  int (*fn)(const void *key, size_t klen, const void *val, size_t vlen, void *arg),
		  void *arg);

#endif
