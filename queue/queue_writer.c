/*
 * The writer thread: the one owner of write transactions. It takes every
 * pending operation (up to a bound), applies them in one transaction, commits
 * once (group commit), and only then tells each operation's submitter.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "queue/queue_priv.h"

#define PURGE_EVERY_MS 1000
#define PURGE_BATCH 256

void queue_submit(struct queue *q, struct queue_op *op)
{
	op->next = NULL;
	op->rc = 0;
	if (op->type == QUEUE_OP_LEASE || op->type == QUEUE_OP_PULL) {
		/* earlier results belong to the caller (maybe freed): the writer frees
		 * only what it allocates for this submission */
		op->u.lease.msgs = NULL;
		op->u.lease.n = 0;
	}
	pthread_mutex_lock(&q->lock);
	if (q->closing) {
		pthread_mutex_unlock(&q->lock);
		op->rc = -QUEUE_ECLOSED;
		if (op->done)
			op->done(op);
		return;
	}
	if (q->tail)
		q->tail->next = op;
	else
		q->head = op;
	q->tail = op;
	pthread_cond_signal(&q->wake);
	pthread_mutex_unlock(&q->lock);
}

struct waiter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
};

static void wake_waiter(struct queue_op *op)
{
	struct waiter *w = op->arg;
	pthread_mutex_lock(&w->lock);
	w->done = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

int queue_exec(struct queue *q, struct queue_op *op)
{
	struct waiter w = {.done = false};

	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cond, NULL);
	op->done = wake_waiter;
	op->arg = &w;
	queue_submit(q, op);
	pthread_mutex_lock(&w.lock);
	while (!w.done)
		pthread_cond_wait(&w.cond, &w.lock);
	pthread_mutex_unlock(&w.lock);
	pthread_cond_destroy(&w.cond);
	pthread_mutex_destroy(&w.lock);
	return op->rc;
}

static int begin_write(struct queue *q, MDB_txn **txn)
{
	int rc = mdb_txn_begin(q->env, NULL, 0, txn);
	if (rc == MDB_MAP_RESIZED) { /* another process (a backup tool) grew it */
		pthread_rwlock_wrlock(&q->resize);
		mdb_env_set_mapsize(q->env, 0);
		pthread_rwlock_unlock(&q->resize);
		rc = mdb_txn_begin(q->env, NULL, 0, txn);
	}
	return rc;
}

/*
 * One transaction over ops[0..n). Returns 0 when committed, or the LMDB code
 * that stopped it with *culprit set to the op that caused it (-1: none).
 */
static int try_commit(struct queue *q, struct queue_op **ops, const bool *skip, size_t n,
		      bool allow_insert, long *culprit)
{
	MDB_txn *txn;
	int rc;

	*culprit = -1;
	q->n_deltas = 0;
	q->batch_bytes = 0;
	for (size_t i = 0; i < n; i++)
		if (!skip[i])
			q_reset_results(ops[i]);
	if ((rc = begin_write(q, &txn)) != 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		if (skip[i])
			continue;
		int r = q_apply(q, txn, ops[i], allow_insert);
		if (r != 0 && !q_op_error(r)) {
			*culprit = (long)i;
			mdb_txn_abort(txn);
			return r;
		}
		ops[i]->rc = r;
	}
	if ((rc = q_flush_counts(q, txn)) != 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	return mdb_txn_commit(txn);
}

/* A store error, not a full store: the operator hears of it (queue_store_stat). */
static bool store_error(int rc)
{
	return rc == -QUEUE_EIO || rc == -QUEUE_ECORRUPT;
}

/* Fails one operation with the LMDB or system code that stopped it. */
static void fail_op(struct queue *q, struct queue_op *op, int mdb_rc)
{
	q_reset_results(op);
	op->rc = q_mdb_error(mdb_rc);
	if (store_error(op->rc))
		q_note_error(q, mdb_rc);
}

/*
 * A commit the file system refused, maybe for want of room: ENOSPC, a quota, the
 * file size limit, or EIO, which LMDB reports for a short write (a disk that
 * filled in the middle of one).
 */
static bool disk_refused(int rc)
{
	return rc == ENOSPC || rc == EDQUOT || rc == EFBIG || rc == EIO;
}

/*
 * Applies a batch, retrying when the store fills (grow the map, then refuse
 * inserts) or when one operation hits an error (fail it, keep the others).
 * A full disk looks like a full map once the room is measured again (disk_room
 * in queue_env.c): inserts are refused, deletes and finalisations go on. Every
 * retry removes a cause, so the loop ends.
 */
static void run_batch(struct queue *q, struct queue_op **ops, bool *skip, size_t n)
{
	bool allow_insert = true, measured = false;
	long culprit;
	int rc;

	memset(skip, 0, n * sizeof(*skip));
	if (atomic_load(&q->used_bytes) > atomic_load(&q->map_bytes) / 4 * 3)
		q_grow(q); /* ahead of need; a no-op at max-map-size */
	for (;;) {
		rc = try_commit(q, ops, skip, n, allow_insert, &culprit);
		if (rc == 0)
			break;
		bool map_full = rc == MDB_MAP_FULL || rc == MDB_TXN_FULL;
		if ((map_full || disk_refused(rc)) && !measured) {
			/* the disk may have more room, or less, than when last measured */
			uint64_t before = atomic_load(&q->disk_bytes);
			measured = true;
			q_update_used(q, true);
			if (!map_full || atomic_load(&q->disk_bytes) > before)
				continue;
		}
		if (map_full) {
			/* a bigger map helps only while the disk has more room than the map */
			bool map_limits = atomic_load(&q->map_bytes) < atomic_load(&q->disk_bytes);
			if (map_limits && q_grow(q) == 0)
				continue;
			if (allow_insert) {
				allow_insert = false;
				continue;
			}
		} else if (disk_refused(rc) && rc != EIO && allow_insert) {
			allow_insert = false; /* the room measured is gone already */
			continue;
		}
		if (culprit < 0)
			break;
		skip[culprit] = true;
		fail_op(q, ops[culprit], rc);
	}
	if (rc == 0) {
		atomic_fetch_add(&q->commits, 1);
		atomic_fetch_add(&q->ops, n);
	} else {
		for (size_t i = 0; i < n; i++)
			if (!skip[i])
				fail_op(q, ops[i], rc);
	}
	uint64_t txnid = q->last_txnid;
	q_update_used(q, false);
	if (rc != 0 && store_error(q_mdb_error(rc)))
		atomic_store(&q->failing, true);
	else if (rc == 0 && q->last_txnid != txnid)
		atomic_store(&q->failing, false); /* written (an empty commit writes nothing) */
	for (size_t i = 0; i < n; i++) {
		if (ops[i]->type == QUEUE_OP_INSERT && ops[i]->rc == -QUEUE_EFULL)
			atomic_store(&q->refused_len, ops[i]->u.insert.len);
		else if (ops[i]->type == QUEUE_OP_INSERT && ops[i]->rc == 0)
			atomic_store(&q->refused_len, 0);
	}
	for (size_t i = 0; i < n; i++)
		if (ops[i]->done)
			ops[i]->done(ops[i]);
}

/* Takes pending operations, bounded by count and payload bytes. */
static size_t take_batch(struct queue *q, struct queue_op **ops)
{
	size_t n = 0, bytes = 0;

	while (q->head && n < q->opt.batch_max_ops) {
		struct queue_op *op = q->head;
		size_t len = op->type == QUEUE_OP_INSERT   ? op->u.insert.len
			     : op->type == QUEUE_OP_KV_PUT ? op->u.kv.vlen
							   : 0;
		if (n > 0 && bytes + len > q->opt.batch_max_bytes)
			break;
		bytes += len;
		q->head = op->next;
		ops[n++] = op;
	}
	if (!q->head)
		q->tail = NULL;
	return n;
}

static void wait_deadline(struct queue *q, int64_t until_ms)
{
	struct timespec ts = {.tv_sec = until_ms / 1000, .tv_nsec = (until_ms % 1000) * 1000000};
	pthread_cond_timedwait(&q->wake, &q->lock, &ts);
}

/* Retention: final statuses past their time go, a small transaction at a time. */
static void purge_step(struct queue *q, struct queue_op **ops, bool *skip)
{
	struct queue_op op = {.type = QUEUE_OP_PURGE};

	op.u.purge.now_ms = q_now_ms();
	op.u.purge.max = PURGE_BATCH;
	ops[0] = &op;
	run_batch(q, ops, skip, 1);
	q->next_purge_ms =
		op.u.purge.purged == PURGE_BATCH ? 0 : op.u.purge.now_ms + PURGE_EVERY_MS;
}

void *q_writer_main(void *arg)
{
	struct queue *q = arg;
	struct queue_op **ops = calloc(q->opt.batch_max_ops, sizeof(*ops));
	bool *skip = calloc(q->opt.batch_max_ops, sizeof(*skip));

	if (!ops || !skip)
		abort(); /* at start-up, with a few KiB: nothing sensible to do */
	q->next_purge_ms = q_now_ms() + PURGE_EVERY_MS;
	for (;;) {
		pthread_mutex_lock(&q->lock);
		while (!q->head && !q->closing && q_now_ms() < q->next_purge_ms)
			wait_deadline(q, q->next_purge_ms);
		size_t n = take_batch(q, ops);
		bool closing = q->closing;
		pthread_mutex_unlock(&q->lock);
		if (closing && n == 0)
			break;
		if (n > 0)
			run_batch(q, ops, skip, n);
		if (!closing && q_now_ms() >= q->next_purge_ms)
			purge_step(q, ops, skip);
	}
	free(ops);
	free(skip);
	return NULL;
}
