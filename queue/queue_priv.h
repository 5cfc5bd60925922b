/*
 * queue's private parts: the handle, the named databases, the key and record
 * layouts. Nothing outside queue/ includes this file.
 */
#ifndef INTERLINK_QUEUE_PRIV_H
#define INTERLINK_QUEUE_PRIV_H

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>

#include "queue/queue.h"

/* Named databases; keys are big-endian where they sort by time. */
enum queue_db {
	DB_META,   /* "schema" → u32 version */
	DB_MSG,    /* rid → payload */
	DB_STATUS, /* rid → status record (queue_record.c) */
	DB_SCHED,  /* due BE64 + rid → "" : the timer of every live message */
	DB_INBOX,  /* peer NUL visible BE64 + rid → "" : live pull messages */
	DB_BYPEER, /* dst peer NUL rid → "" : live messages per destination, oldest first */
	DB_IDEM,   /* src peer NUL client id → rid */
	DB_FINAL,  /* purge-at BE64 + rid → "" : final statuses, by end of retention */
	DB_COUNTS, /* peer → COUNTS_SLOTS × u64 LE, indexed by state − 1 (stores written
		      before QUEUE_HELD have 5 slots: read as held 0) */
	DB_COUNT_
};

/* The least free map kept back from inserts (queue_ops.c); q_update_used counts
 * the free list before the high-water mark can come that close to the end. */
#define RESERVE_MIN_BYTES (2u << 20)

#define KEY_MAX (QUEUE_NAME_MAX + 1 + QUEUE_NAME_MAX + 8 + 16)
/* The longest status record v1 (queue_record.c): 63 fixed bytes, three names, two texts (514). */
#define STATUS_RECORD_MAX (7 + 7 * 8 + 3 * (1 + QUEUE_NAME_MAX) + 2 * (1 + QUEUE_TEXT_MAX))
#define COUNTS_SLOTS (QUEUE_STATE_MAX_ - 1)
#define COUNTS_SLOTS_MIN 5 /* the size before QUEUE_HELD */

/* A key built in a caller's buffer. */
struct qkey {
	unsigned char b[KEY_MAX];
	size_t len;
};

/* Per-batch count changes, applied to DB_COUNTS once per transaction. */
struct count_delta {
	char peer[QUEUE_NAME_MAX + 1];
	int64_t d[COUNTS_SLOTS];
};
#define DELTAS_MAX 64

struct queue {
	MDB_env *env;
	MDB_dbi dbi[DB_COUNT_];
	MDB_dbi table_dbi[QUEUE_TABLES_MAX];
	char table_names[QUEUE_TABLES_MAX][33];
	size_t n_tables;
	struct queue_options opt;
	char path[4096];

	/* the writer's inbox of operations: guarded by lock */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct queue_op *head, *tail;
	bool closing;
	pthread_t writer;
	bool writer_started;

	/* readers hold it shared around a read snapshot; the writer takes it
	 * exclusively to grow the map, which needs no transaction active */
	pthread_rwlock_t resize;

	/* writer thread only */
	struct count_delta deltas[DELTAS_MAX];
	size_t n_deltas;
	int64_t next_purge_ms;
	uint64_t batch_bytes; /* what the transaction being built adds, for q_has_room */
	int64_t disk_measured_ms; /* when disk_bytes was last measured */
	uint64_t last_txnid;      /* the last committed transaction's id, as of q_update_used */

	/* figures for queue_store_stat, written by the writer */
	atomic_uint_fast64_t used_bytes, map_bytes, commits, ops;
	/* what the file may grow to: its size plus the file system's free space, at most
	 * the process's file size limit (q_update_used) */
	atomic_uint_fast64_t disk_bytes;
	atomic_uint_fast64_t refused_len; /* size of the last insert refused as full, or 0 */
	/* write errors that are not a full store (a failing disk, a damaged file) */
	atomic_uint_fast64_t errors; /* operations failed by one */
	atomic_int last_error;       /* the last one's errno or LMDB code */
	atomic_bool failing;         /* the last batch ended in one: nothing was written */
	uint64_t page_size;
};

/* queue_env.c */
int64_t q_now_ms(void);
int q_mdb_error(int mdb_rc);
/* Counts a store error for the operator (queue_store_stat): code is an errno, an LMDB
 * code, or -QUEUE_ECORRUPT for a record that failed validation. */
void q_note_error(struct queue *q, int code);
int q_grow(struct queue *q);
void q_update_used(struct queue *q, bool measure_disk);
int q_read_begin(struct queue *q, MDB_txn **txn);
void q_read_end(struct queue *q, MDB_txn *txn);
int q_table(struct queue *q, const char *name, MDB_dbi *out);

/* queue_record.c */
void q_be64(unsigned char *p, uint64_t v);
uint64_t q_get_be64(const unsigned char *p);
size_t q_status_encode(const struct queue_status *st, unsigned char *buf, size_t size);
int q_status_decode(const void *buf, size_t len, const struct queue_rid *rid,
		    struct queue_status *st);
void q_key_time_rid(struct qkey *k, int64_t t, const struct queue_rid *rid);
void q_key_name_time_rid(struct qkey *k, const char *name, int64_t t, const struct queue_rid *rid);
void q_key_name_rid(struct qkey *k, const char *name, const struct queue_rid *rid);
void q_key_name_name(struct qkey *k, const char *a, const char *b);
bool q_name_ok(const char *s);
/* Counts from a DB_COUNTS value of COUNTS_SLOTS_MIN..COUNTS_SLOTS slots into
 * n[0..COUNTS_SLOTS) (missing slots 0). Returns 0, or -1 for another size (n all 0). */
int q_counts_decode(const void *buf, size_t len, uint64_t n[COUNTS_SLOTS]);

/* queue_ops.c: applies one operation inside the writer's transaction.
 * Returns 0, a -QUEUE_E* for the op alone (q_op_error), or any other code —
 * an MDB_* code (negative, far below -QUEUE_EMAX_) or an errno (positive) —
 * when the whole transaction must be abandoned (MDB_MAP_FULL, I/O errors). */
static inline bool q_op_error(int rc)
{
	return rc < 0 && rc > -QUEUE_EMAX_;
}
int q_apply(struct queue *q, MDB_txn *txn, struct queue_op *op, bool allow_insert);
int q_flush_counts(struct queue *q, MDB_txn *txn);
/* Whether an insert of len bytes fits now, keeping the reserve for deletes (half of it
 * for a control-plane write, struct queue_op_kv). */
bool q_has_room(struct queue *q, size_t len, bool control);
void q_reset_results(struct queue_op *op);

#endif
