/*
 * The operations, each applied inside the writer's one write transaction.
 * Each returns 0, a -QUEUE_E* found before anything was written (it fails
 * only that operation), or an LMDB or errno code: the writer then abandons
 * the transaction and replays the batch without that operation.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue/queue_priv.h"

/* Below this much free map (RESERVE_MIN_BYTES at least, queue_priv.h), inserts
 * are refused so that deletes and finalisations (copy-on-write needs pages too)
 * always have room. */
#define RESERVE_DIV 20 /* 5% */
#define INSERT_OVERHEAD 512

static int put(struct queue *q, MDB_txn *txn, enum queue_db db, const void *k, size_t klen,
	       const void *v, size_t vlen)
{
	MDB_val key = {klen, (void *)k}, val = {vlen, (void *)v};
	return mdb_put(txn, q->dbi[db], &key, &val, 0);
}

/*
 * A put under a new rid. rids grow (queue_rid.c), so the key nearly always
 * sorts last: MDB_APPEND then skips the search and fills pages completely
 * (plain puts split them in half), a third fewer pages per synced commit.
 * Only after the clock stepped back across a restart is it not last:
 * LMDB refuses the append with MDB_KEYEXIST, and a plain put follows.
 */
static int put_new(struct queue *q, MDB_txn *txn, enum queue_db db, const unsigned char rid[16],
		   const void *v, size_t vlen)
{
	MDB_val key = {16, (void *)rid}, val = {vlen, (void *)v};
	int rc = mdb_put(txn, q->dbi[db], &key, &val, MDB_APPEND);
	if (rc == MDB_KEYEXIST)
		rc = mdb_put(txn, q->dbi[db], &key, &val, 0);
	return rc;
}

/* Deletes a key; a missing one is not an error (indexes are repaired as found). */
static int del(struct queue *q, MDB_txn *txn, enum queue_db db, const void *k, size_t klen)
{
	MDB_val key = {klen, (void *)k};
	int rc = mdb_del(txn, q->dbi[db], &key, NULL);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static int put_key(struct queue *q, MDB_txn *txn, enum queue_db db, const struct qkey *k)
{
	return put(q, txn, db, k->b, k->len, "", 0);
}

static int del_key(struct queue *q, MDB_txn *txn, enum queue_db db, const struct qkey *k)
{
	return del(q, txn, db, k->b, k->len);
}

static int load_status(struct queue *q, MDB_txn *txn, const struct queue_rid *rid,
		       struct queue_status *st)
{
	MDB_val k = {16, (void *)rid->b}, v;
	int rc = mdb_get(txn, q->dbi[DB_STATUS], &k, &v);
	if (rc == MDB_NOTFOUND)
		return -QUEUE_ENOTFOUND;
	if (rc != 0)
		return rc;
	if ((rc = q_status_decode(v.mv_data, v.mv_size, rid, st)) == -QUEUE_ECORRUPT)
		q_note_error(q, rc); /* the operator hears of it (queue_store_stat) */
	return rc;
}

static int store_status(struct queue *q, MDB_txn *txn, const struct queue_status *st,
			bool is_new)
{
	unsigned char buf[STATUS_RECORD_MAX];
	size_t n = q_status_encode(st, buf, sizeof(buf));
	return is_new ? put_new(q, txn, DB_STATUS, st->rid.b, buf, n)
		      : put(q, txn, DB_STATUS, st->rid.b, 16, buf, n);
}

/* ---------------------------------------------------------------- counts */

int q_flush_counts(struct queue *q, MDB_txn *txn)
{
	for (size_t i = 0; i < q->n_deltas; i++) {
		struct count_delta *d = &q->deltas[i];
		MDB_val k = {strlen(d->peer), d->peer}, v;
		unsigned char buf[COUNTS_SLOTS * 8];
		uint64_t old[COUNTS_SLOTS] = {0};
		int rc = mdb_get(txn, q->dbi[DB_COUNTS], &k, &v);
		if (rc == 0)
			q_counts_decode(v.mv_data, v.mv_size, old); /* older: fewer slots */
		else if (rc != MDB_NOTFOUND)
			return rc;
		for (int s = 0; s < COUNTS_SLOTS; s++) {
			uint64_t n = old[s];
			n = (d->d[s] < 0 && (uint64_t)-d->d[s] > n) ? 0 : n + (uint64_t)d->d[s];
			for (int b = 0; b < 8; b++)
				buf[s * 8 + b] = (unsigned char)(n >> (8 * b));
		}
		if ((rc = put(q, txn, DB_COUNTS, d->peer, strlen(d->peer), buf, sizeof(buf))) != 0)
			return rc;
	}
	q->n_deltas = 0;
	return 0;
}

static int count(struct queue *q, MDB_txn *txn, const char *peer, enum queue_state s, int d)
{
	size_t i;
	for (i = 0; i < q->n_deltas; i++)
		if (strcmp(q->deltas[i].peer, peer) == 0)
			break;
	if (i == q->n_deltas) {
		if (i == DELTAS_MAX) {
			int rc = q_flush_counts(q, txn);
			if (rc != 0)
				return rc;
			i = 0;
		}
		memset(&q->deltas[i], 0, sizeof(q->deltas[i]));
		strcpy(q->deltas[i].peer, peer);
		q->n_deltas = i + 1;
	}
	q->deltas[i].d[s - 1] += d;
	return 0;
}

static int move_count(struct queue *q, MDB_txn *txn, const char *peer, enum queue_state from,
		      enum queue_state to)
{
	if (from == to)
		return 0;
	int rc = count(q, txn, peer, from, -1);
	return rc ? rc : count(q, txn, peer, to, +1);
}

/* ---------------------------------------------------------------- insert */

bool q_has_room(struct queue *q, size_t len, bool control)
{
	uint64_t room = atomic_load(&q->map_bytes), disk = atomic_load(&q->disk_bytes);
	uint64_t used = atomic_load(&q->used_bytes);
	if (disk < room) /* the file system, not the map, is the limit */
		room = disk;
	uint64_t reserve = room / RESERVE_DIV;
	if (reserve < RESERVE_MIN_BYTES)
		reserve = RESERVE_MIN_BYTES;
	if (control) /* the control plane's small writes may take half of it */
		reserve /= 2;
	return used + len + INSERT_OVERHEAD + reserve <= room;
}

/* The writer's room check for a write into the transaction it builds: counts
 * what the transaction already added, since used_bytes moves only between
 * transactions (a batch may hold megabytes). */
static bool room_in_txn(struct queue *q, size_t len, bool control)
{
	if (!q_has_room(q, q->batch_bytes + len, control))
		return false;
	q->batch_bytes += len + INSERT_OVERHEAD;
	return true;
}

static int apply_insert(struct queue *q, MDB_txn *txn, struct queue_op_insert *in,
			bool allow_insert)
{
	struct queue_status st = {0};
	struct qkey k;
	MDB_val key, v;
	int rc;

	if (!q_name_ok(in->src_peer) || !q_name_ok(in->client_id) || !q_name_ok(in->dst_peer) ||
	    !in->payload || in->len == 0 || in->len > 0xffffffffu ||
	    (in->mode != QUEUE_PUSH && in->mode != QUEUE_PULL) || in->expires_ms <= in->now_ms)
		return -QUEUE_EINVAL;
	q_key_name_name(&k, in->src_peer, in->client_id);
	key = (MDB_val){k.len, k.b};
	rc = mdb_get(txn, q->dbi[DB_IDEM], &key, &v);
	if (rc == 0 && v.mv_size == 16) {
		memcpy(in->rid.b, v.mv_data, 16);
		in->duplicate = true;
		return 0;
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	if (!allow_insert)
		return -QUEUE_EFULL;
	if (!room_in_txn(q, in->len, false))
		return MDB_MAP_FULL; /* the writer grows the map, or retries without inserts */

	queue_rid_new(&st.rid);
	st.state = QUEUE_QUEUED;
	st.mode = in->mode;
	st.created_ms = st.updated_ms = in->now_ms;
	st.expires_ms = in->expires_ms;
	st.due_ms = in->mode == QUEUE_PUSH ? in->due_ms : in->expires_ms;
	st.visible_ms = in->mode == QUEUE_PULL ? in->now_ms : 0;
	strcpy(st.src_peer, in->src_peer);
	strcpy(st.client_id, in->client_id);
	strcpy(st.dst_peer, in->dst_peer);
	in->rid = st.rid;

	if ((rc = put(q, txn, DB_IDEM, k.b, k.len, st.rid.b, 16)) ||
	    (rc = put_new(q, txn, DB_MSG, st.rid.b, in->payload, in->len)) ||
	    (rc = store_status(q, txn, &st, true)))
		return rc;
	q_key_time_rid(&k, st.due_ms, &st.rid);
	if ((rc = put_key(q, txn, DB_SCHED, &k)))
		return rc;
	q_key_name_rid(&k, st.dst_peer, &st.rid);
	if ((rc = put_key(q, txn, DB_BYPEER, &k)))
		return rc;
	if (st.mode == QUEUE_PULL) {
		q_key_name_time_rid(&k, st.dst_peer, st.visible_ms, &st.rid);
		if ((rc = put_key(q, txn, DB_INBOX, &k)))
			return rc;
	}
	return count(q, txn, st.dst_peer, QUEUE_QUEUED, +1);
}

/* ---------------------------------------------------------------- leases */

static int append_msg(struct queue *q, MDB_txn *txn, struct queue_op_lease *l,
		      const struct queue_status *st)
{
	MDB_val k = {16, (void *)st->rid.b}, v;
	int rc = mdb_get(txn, q->dbi[DB_MSG], &k, &v);
	if (rc != 0)
		return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
	if (l->n % 64 == 0) {
		struct queue_msg *m = realloc(l->msgs, (l->n + 64) * sizeof(*m));
		if (!m)
			return ENOMEM;
		l->msgs = m;
	}
	struct queue_msg *m = &l->msgs[l->n];
	m->payload = malloc(v.mv_size);
	if (!m->payload)
		return ENOMEM;
	memcpy(m->payload, v.mv_data, v.mv_size);
	m->len = v.mv_size;
	m->st = *st;
	l->n++;
	return 0;
}

/* The first key at or after `from` in db, if it starts with the first `plen` bytes of from. */
static int first_from(struct queue *q, MDB_txn *txn, enum queue_db db, const struct qkey *from,
		      size_t plen, struct qkey *found)
{
	MDB_cursor *c;
	MDB_val k = {from->len, (void *)from->b}, v;
	int rc = mdb_cursor_open(txn, q->dbi[db], &c);
	if (rc != 0)
		return rc;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	if (rc == 0 && (k.mv_size != from->len || memcmp(k.mv_data, from->b, plen) != 0))
		rc = MDB_NOTFOUND;
	if (rc == 0) {
		memcpy(found->b, k.mv_data, k.mv_size);
		found->len = k.mv_size;
	}
	mdb_cursor_close(c);
	return rc;
}

/*
 * Takes the first entry of a time-ordered index (keys: plen bytes of prefix,
 * then time BE64 and rid) if it is due by now: deletes it and gives its rid.
 * Returns 0, MDB_NOTFOUND when nothing is due, or an LMDB error.
 */
static int pop_due(struct queue *q, MDB_txn *txn, enum queue_db db, const struct qkey *from,
		   size_t plen, int64_t now_ms, struct queue_rid *rid)
{
	struct qkey k;
	int rc = first_from(q, txn, db, from, plen, &k);

	if (rc != 0)
		return rc;
	if ((int64_t)q_get_be64(k.b + plen) > now_ms)
		return MDB_NOTFOUND;
	memcpy(rid->b, k.b + plen + 8, 16);
	return del_key(q, txn, db, &k);
}

/* QUEUE_OP_LEASE: due timers in due order; each moves to now + lease. A held message's
 * timer is its expiry: it comes, held, once it has expired. */
static int apply_lease(struct queue *q, MDB_txn *txn, struct queue_op_lease *l)
{
	struct queue_rid zero = {{0}};
	struct qkey from, k;
	int rc;

	if (l->lease_ms < 1 || l->max == 0)
		return -QUEUE_EINVAL;
	q_key_time_rid(&from, 0, &zero);
	while (l->n < l->max) {
		struct queue_status st;
		struct queue_rid rid;
		if ((rc = pop_due(q, txn, DB_SCHED, &from, 0, l->now_ms, &rid)) != 0)
			return rc == MDB_NOTFOUND ? 0 : rc;
		rc = load_status(q, txn, &rid, &st);
		/* a stale timer, or a corrupt record (left for an operator): the
		 * timer is dropped so that it cannot block the messages behind it */
		if (q_op_error(rc) || (rc == 0 && QUEUE_STATE_FINAL(st.state)))
			continue;
		if (rc != 0)
			return rc;
		if (st.state == QUEUE_HELD && st.expires_ms > l->now_ms) {
			/* a stale timer: a held message waits for its expiry */
			q_key_time_rid(&k, st.expires_ms, &rid);
			if ((rc = put_key(q, txn, DB_SCHED, &k)) != 0)
				return rc;
			continue;
		}
		st.due_ms = l->now_ms + l->lease_ms;
		st.updated_ms = l->now_ms;
		if (st.mode == QUEUE_PUSH && st.state != QUEUE_HELD) {
			if ((rc = move_count(q, txn, st.dst_peer, st.state, QUEUE_DELIVERING)))
				return rc;
			st.state = QUEUE_DELIVERING;
			st.attempts++;
		}
		q_key_time_rid(&k, st.due_ms, &rid);
		if ((rc = put_key(q, txn, DB_SCHED, &k)) || (rc = store_status(q, txn, &st, false)) ||
		    (rc = append_msg(q, txn, l, &st)))
			return rc;
	}
	return 0;
}

/* QUEUE_OP_PULL: visible inbox entries of one peer, oldest first. */
static int apply_pull(struct queue *q, MDB_txn *txn, struct queue_op_lease *l)
{
	struct queue_rid zero = {{0}};
	struct qkey from, k;
	int rc;

	if (!q_name_ok(l->peer) || l->lease_ms < 1 || l->max == 0)
		return -QUEUE_EINVAL;
	q_key_name_time_rid(&from, l->peer, 0, &zero);
	size_t plen = strlen(l->peer) + 1;
	while (l->n < l->max) {
		struct queue_status st;
		struct queue_rid rid;
		if ((rc = pop_due(q, txn, DB_INBOX, &from, plen, l->now_ms, &rid)) != 0)
			return rc == MDB_NOTFOUND ? 0 : rc;
		rc = load_status(q, txn, &rid, &st);
		if (q_op_error(rc) ||
		    (rc == 0 && (QUEUE_STATE_FINAL(st.state) || st.state == QUEUE_HELD)))
			continue; /* a stale entry: dropped */
		if (rc != 0)
			return rc;
		st.visible_ms = l->now_ms + l->lease_ms;
		st.updated_ms = l->now_ms;
		bool expired = st.expires_ms <= l->now_ms; /* its expiry timer will finalise it */
		if (!expired) {
			if ((rc = move_count(q, txn, st.dst_peer, st.state, QUEUE_DELIVERING)))
				return rc;
			st.state = QUEUE_DELIVERING;
			st.attempts++;
		}
		q_key_name_time_rid(&k, st.dst_peer, st.visible_ms, &rid);
		if ((rc = put_key(q, txn, DB_INBOX, &k)) || (rc = store_status(q, txn, &st, false)))
			return rc;
		if (!expired && (rc = append_msg(q, txn, l, &st)))
			return rc;
	}
	return 0;
}

/* ------------------------------------------------- reschedule, finalise */

/* Loads a live message for a change; -QUEUE_ENOTFOUND or -QUEUE_ESTATE otherwise. */
static int load_live(struct queue *q, MDB_txn *txn, const struct queue_op_change *c,
		     struct queue_status *st)
{
	int rc = load_status(q, txn, &c->rid, st);
	if (rc == 0 && QUEUE_STATE_FINAL(st->state))
		return -QUEUE_ESTATE;
	return rc; /* -QUEUE_ECORRUPT fails this op only */
}

static void set_texts(struct queue_status *st, const struct queue_op_change *c)
{
	if (c->error)
		snprintf(st->last_error, sizeof(st->last_error), "%s", c->error);
	if (c->route)
		snprintf(st->route, sizeof(st->route), "%s", c->route);
}

/* Removes a live message's timer, inbox and per-peer entries. */
static int unlink_live(struct queue *q, MDB_txn *txn, const struct queue_status *st)
{
	struct qkey k;
	int rc;

	q_key_time_rid(&k, st->due_ms, &st->rid);
	if ((rc = del_key(q, txn, DB_SCHED, &k)) != 0)
		return rc;
	q_key_name_rid(&k, st->dst_peer, &st->rid);
	if ((rc = del_key(q, txn, DB_BYPEER, &k)) != 0)
		return rc;
	if (st->mode == QUEUE_PULL) {
		q_key_name_time_rid(&k, st->dst_peer, st->visible_ms, &st->rid);
		rc = del_key(q, txn, DB_INBOX, &k);
	}
	return rc;
}

/* Puts a live message's timer, per-peer and (pull, not held) inbox entries. */
static int link_live(struct queue *q, MDB_txn *txn, const struct queue_status *st)
{
	struct qkey k;
	int rc;

	q_key_time_rid(&k, st->due_ms, &st->rid);
	if ((rc = put_key(q, txn, DB_SCHED, &k)) != 0)
		return rc;
	q_key_name_rid(&k, st->dst_peer, &st->rid);
	if ((rc = put_key(q, txn, DB_BYPEER, &k)) != 0)
		return rc;
	if (st->mode == QUEUE_PULL && st->state != QUEUE_HELD) {
		q_key_name_time_rid(&k, st->dst_peer, st->visible_ms, &st->rid);
		rc = put_key(q, txn, DB_INBOX, &k);
	}
	return rc;
}

/*
 * A live message, re-linked in state `to` (QUEUED or HELD): push due at due_ms, pull
 * visible now; a held one has no inbox entry and its timer is its expiry, so that it
 * still expires. c's destination, error and route apply.
 */
static int requeue(struct queue *q, MDB_txn *txn, const struct queue_op_change *c,
		   struct queue_status *st, enum queue_state to, int64_t due_ms)
{
	int rc;

	if ((rc = unlink_live(q, txn, st)) != 0 ||
	    (rc = count(q, txn, st->dst_peer, st->state, -1)) != 0)
		return rc;
	if (c->dst_peer) {
		snprintf(st->dst_peer, sizeof(st->dst_peer), "%s", c->dst_peer);
		st->mode = c->mode;
	}
	st->state = to;
	st->updated_ms = c->now_ms;
	if (c->error && st->first_fail_ms == 0)
		st->first_fail_ms = c->now_ms;
	st->due_ms = st->mode == QUEUE_PUSH && to != QUEUE_HELD ? due_ms : st->expires_ms;
	st->visible_ms = st->mode == QUEUE_PULL && to != QUEUE_HELD ? c->now_ms : 0;
	set_texts(st, c);
	if ((rc = count(q, txn, st->dst_peer, to, +1)) || (rc = store_status(q, txn, st, false)))
		return rc;
	return link_live(q, txn, st);
}

/* RESCHEDULE: back to queued, or still held when an operator held it meanwhile. */
static int apply_reschedule(struct queue *q, MDB_txn *txn, struct queue_op_change *c)
{
	struct queue_status st;
	int rc;

	if (c->dst_peer && (!q_name_ok(c->dst_peer) ||
			    (c->mode != QUEUE_PUSH && c->mode != QUEUE_PULL)))
		return -QUEUE_EINVAL;
	if ((rc = load_live(q, txn, c, &st)) != 0)
		return rc;
	return requeue(q, txn, c, &st, st.state == QUEUE_HELD ? QUEUE_HELD : QUEUE_QUEUED,
		       c->due_ms);
}

/* HOLD (a live message → held) and RELEASE (held → queued, due now). */
static int apply_hold(struct queue *q, MDB_txn *txn, struct queue_op_change *c, bool hold)
{
	struct queue_op_change keep = *c;
	struct queue_status st;
	int rc;

	keep.dst_peer = NULL; /* not theirs to change */
	if ((rc = load_live(q, txn, c, &st)) != 0)
		return rc;
	if (!hold && st.state != QUEUE_HELD)
		return -QUEUE_ESTATE;
	return requeue(q, txn, &keep, &st, hold ? QUEUE_HELD : QUEUE_QUEUED, c->now_ms);
}

static int apply_finalise(struct queue *q, MDB_txn *txn, struct queue_op_change *c)
{
	struct queue_status st;
	struct qkey k;
	int rc;

	if (!QUEUE_STATE_FINAL(c->state) || c->state >= QUEUE_STATE_MAX_)
		return -QUEUE_EINVAL;
	if ((rc = load_live(q, txn, c, &st)) != 0)
		return rc;
	if ((rc = unlink_live(q, txn, &st)) != 0 || (rc = del(q, txn, DB_MSG, st.rid.b, 16)) ||
	    (rc = move_count(q, txn, st.dst_peer, st.state, c->state)))
		return rc;
	st.state = c->state;
	st.updated_ms = c->now_ms;
	st.final_ms = c->now_ms > 0 ? c->now_ms : 1;
	st.due_ms = st.visible_ms = 0;
	set_texts(&st, c);
	if ((rc = store_status(q, txn, &st, false)) != 0)
		return rc;
	q_key_time_rid(&k, st.final_ms + q->opt.retention_ms, &st.rid);
	return put_key(q, txn, DB_FINAL, &k);
}

/* ---------------------------------------------------------------- purge */

/* A final status leaves: its idempotency key (unless reused since) and its count go too. */
static int forget_final(struct queue *q, MDB_txn *txn, const struct queue_status *st)
{
	struct qkey k;
	MDB_val key, v;
	int rc;

	q_key_name_name(&k, st->src_peer, st->client_id);
	key = (MDB_val){k.len, k.b};
	rc = mdb_get(txn, q->dbi[DB_IDEM], &key, &v);
	if (rc == 0 && v.mv_size == 16 && memcmp(v.mv_data, st->rid.b, 16) == 0)
		rc = del_key(q, txn, DB_IDEM, &k);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	return count(q, txn, st->dst_peer, st->state, -1);
}

static int apply_purge(struct queue *q, MDB_txn *txn, struct queue_op_purge *p)
{
	struct queue_rid zero = {{0}};
	struct qkey from;
	int rc;

	q_key_time_rid(&from, 0, &zero);
	while (p->purged < p->max) {
		struct queue_status st;
		struct queue_rid rid;
		if ((rc = pop_due(q, txn, DB_FINAL, &from, 0, p->now_ms, &rid)) != 0)
			return rc == MDB_NOTFOUND ? 0 : rc;
		rc = load_status(q, txn, &rid, &st);
		if (rc != 0 && !q_op_error(rc))
			return rc;
		if (rc == 0 && !QUEUE_STATE_FINAL(st.state))
			continue; /* a stale index entry: the message lives on */
		if (rc == 0 && (rc = forget_final(q, txn, &st)) != 0)
			return rc;
		if (rc != -QUEUE_ENOTFOUND && (rc = del(q, txn, DB_STATUS, rid.b, 16)) != 0)
			return rc;
		p->purged++;
	}
	return 0;
}

/* ---------------------------------------------------------------- tables */

static int apply_kv(struct queue *q, MDB_txn *txn, struct queue_op_kv *kv, bool put_it,
		    bool allow_insert)
{
	MDB_dbi dbi;
	MDB_val k = {kv->klen, (void *)kv->key}, v;
	int rc;

	if (q_table(q, kv->table, &dbi) != 0 || !kv->key || kv->klen == 0 ||
	    kv->klen > QUEUE_KEY_MAX || (put_it && !kv->val && kv->vlen))
		return -QUEUE_EINVAL;
	rc = mdb_get(txn, dbi, &k, &v);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	kv->existed = rc == 0;
	if (!put_it)
		return kv->existed ? mdb_del(txn, dbi, &k, NULL) : 0;
	if (!allow_insert && !kv->control)
		return -QUEUE_EFULL;
	if (!room_in_txn(q, kv->klen + kv->vlen, kv->control))
		return MDB_MAP_FULL;
	v = (MDB_val){kv->vlen, (void *)kv->val};
	return mdb_put(txn, dbi, &k, &v, 0);
}

/* ---------------------------------------------------------------- entry */

void q_reset_results(struct queue_op *op)
{
	switch (op->type) {
	case QUEUE_OP_INSERT:
		memset(&op->u.insert.rid, 0, sizeof(op->u.insert.rid));
		op->u.insert.duplicate = false;
		break;
	case QUEUE_OP_LEASE:
	case QUEUE_OP_PULL:
		queue_msgs_free(op->u.lease.msgs, op->u.lease.n);
		op->u.lease.msgs = NULL;
		op->u.lease.n = 0;
		break;
	case QUEUE_OP_PURGE:
		op->u.purge.purged = 0;
		break;
	case QUEUE_OP_KV_PUT:
	case QUEUE_OP_KV_DEL:
		op->u.kv.existed = false;
		break;
	default:
		break;
	}
	op->rc = 0;
}

int q_apply(struct queue *q, MDB_txn *txn, struct queue_op *op, bool allow_insert)
{
	switch (op->type) {
	case QUEUE_OP_INSERT:
		return apply_insert(q, txn, &op->u.insert, allow_insert);
	case QUEUE_OP_LEASE:
		return apply_lease(q, txn, &op->u.lease);
	case QUEUE_OP_PULL:
		return apply_pull(q, txn, &op->u.lease);
	case QUEUE_OP_RESCHEDULE:
		return apply_reschedule(q, txn, &op->u.change);
	case QUEUE_OP_FINALISE:
		return apply_finalise(q, txn, &op->u.change);
	case QUEUE_OP_PURGE:
		return apply_purge(q, txn, &op->u.purge);
	case QUEUE_OP_KV_PUT:
		return apply_kv(q, txn, &op->u.kv, true, allow_insert);
	case QUEUE_OP_KV_DEL:
		return apply_kv(q, txn, &op->u.kv, false, allow_insert);
	case QUEUE_OP_HOLD:
		return apply_hold(q, txn, &op->u.change, true);
	case QUEUE_OP_RELEASE:
		return apply_hold(q, txn, &op->u.change, false);
	}
	return -QUEUE_EINVAL;
}

void queue_msgs_free(struct queue_msg *msgs, size_t n)
{
	if (!msgs)
		return;
	for (size_t i = 0; i < n; i++)
		free(msgs[i].payload);
	free(msgs);
}
