/*
 * The LMDB environment: open (schema check, stale readers), close, growing
 * the map, the size figures, and every read (short snapshots, never waiting
 * for the writer).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>

#include "queue/queue_priv.h"

#define MAX_READERS 512
#define MAX_DBS (DB_COUNT_ + QUEUE_TABLES_MAX)

static const char *const db_names[DB_COUNT_] = {
	[DB_META] = "meta",     [DB_MSG] = "msg",     [DB_STATUS] = "status",
	[DB_SCHED] = "sched",   [DB_INBOX] = "inbox", [DB_BYPEER] = "bypeer",
	[DB_IDEM] = "idem",     [DB_FINAL] = "final", [DB_COUNTS] = "counts",
};

static const char *const error_texts[QUEUE_EMAX_] = {
	[QUEUE_EFULL] = "store full",
	[QUEUE_ENOTFOUND] = "no such message",
	[QUEUE_ESTATE] = "message is final",
	[QUEUE_ESCHEMA] = "store schema version not supported",
	[QUEUE_ECORRUPT] = "stored record is corrupt",
	[QUEUE_EINVAL] = "invalid argument",
	[QUEUE_ENOMEM] = "out of memory",
	[QUEUE_ECLOSED] = "queue is closing",
	[QUEUE_EIO] = "store I/O error",
};

const char *queue_strerror(int code)
{
	if (code < 0)
		code = -code;
	if (code == 0)
		return "success";
	return code < QUEUE_EMAX_ && error_texts[code] ? error_texts[code] : "unknown error";
}

const char *queue_state_name(enum queue_state s)
{
	static const char *const names[QUEUE_STATE_MAX_] = {
		[QUEUE_QUEUED] = "queued",       [QUEUE_DELIVERING] = "delivering",
		[QUEUE_DELIVERED] = "delivered", [QUEUE_EXPIRED] = "expired",
		[QUEUE_FAILED] = "failed",       [QUEUE_HELD] = "held",
	};
	return (int)s > 0 && s < QUEUE_STATE_MAX_ ? names[s] : "unknown";
}

int64_t q_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int q_mdb_error(int mdb_rc)
{
	switch (mdb_rc) {
	case 0:
		return 0;
	case MDB_NOTFOUND:
		return -QUEUE_ENOTFOUND;
	case MDB_MAP_FULL:
	case MDB_TXN_FULL:
		return -QUEUE_EFULL;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
		return -QUEUE_ECORRUPT;
	case MDB_VERSION_MISMATCH:
		return -QUEUE_ESCHEMA;
	case ENOMEM:
		return -QUEUE_ENOMEM;
	default:
		return -QUEUE_EIO;
	}
}

void q_note_error(struct queue *q, int code)
{
	atomic_fetch_add(&q->errors, 1);
	atomic_store(&q->last_error, code);
}

/* Pages on the free list, counted in a read snapshot (mdb_stat -f does the same). */
static uint64_t free_pages(MDB_txn *txn)
{
	MDB_cursor *c;
	MDB_val k, v;
	uint64_t n = 0;

	if (mdb_cursor_open(txn, 0 /* FREE_DBI */, &c) != 0)
		return 0;
	for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		size_t first;
		memcpy(&first, v.mv_data, sizeof(first)); /* an MDB_IDL: count, then pages */
		n += first;
	}
	mdb_cursor_close(c);
	return n;
}

/* The disk's room is measured at most this often (and whenever a commit fails for it);
 * between two measures, a disk filled by someone else fails a commit, which measures. */
#define DISK_MEASURE_MS 100

/*
 * What the store's file can grow to: its size now plus what the file system has
 * free for an unprivileged user (f_bavail), at most RLIMIT_FSIZE. A full disk,
 * a quota or a file size limit then refuses inserts as a full map does, before
 * a commit fails, and keeps the same reserve for deletes. UINT64_MAX: unknown.
 */
static uint64_t disk_room(struct queue *q, uint64_t high_water)
{
	uint64_t room = UINT64_MAX, size = high_water;
	mdb_filehandle_t fd;
	struct statvfs fs;
	struct stat sb;
	struct rlimit rl;

	if (mdb_env_get_fd(q->env, &fd) == 0 && fstatvfs(fd, &fs) == 0) {
		if (fstat(fd, &sb) == 0 && (uint64_t)sb.st_size > size)
			size = (uint64_t)sb.st_size; /* pages of a failed commit stay allocated */
		room = size + (uint64_t)fs.f_bavail * fs.f_frsize;
	}
	if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    (uint64_t)rl.rlim_cur < room)
		room = (uint64_t)rl.rlim_cur;
	return room;
}

/* Used bytes: the high-water mark of pages, less the free list once that
 * matters, since walking the free list costs a little: past half the room
 * (the map, or the disk when that is smaller), or sooner in a small one, where
 * inserts stop RESERVE_MIN_BYTES before its end (without the free list, a small
 * store that filled once would refuse inserts for ever, however much was
 * deleted). */
void q_update_used(struct queue *q, bool measure_disk)
{
	MDB_envinfo info;
	MDB_txn *txn;
	int64_t now = q_now_ms();

	mdb_env_info(q->env, &info);
	uint64_t used = (uint64_t)info.me_last_pgno + 1, map = info.me_mapsize;
	uint64_t disk = atomic_load(&q->disk_bytes);
	int64_t since = now - q->disk_measured_ms; /* < 0: the clock stepped back */
	if (measure_disk || since >= DISK_MEASURE_MS || since < 0) {
		disk = disk_room(q, used * q->page_size);
		q->disk_measured_ms = now;
	}
	uint64_t room = map < disk ? map : disk;
	uint64_t from = room / 2, margin = 2 * (uint64_t)RESERVE_MIN_BYTES;
	if (room - from < margin)
		from = room > margin ? room - margin : 0;
	if (used * q->page_size > from && q_read_begin(q, &txn) == 0) {
		uint64_t freed = free_pages(txn);
		q_read_end(q, txn);
		used = used > freed ? used - freed : 0;
	}
	atomic_store(&q->used_bytes, used * q->page_size);
	atomic_store(&q->map_bytes, (uint64_t)info.me_mapsize);
	atomic_store(&q->disk_bytes, disk);
	q->last_txnid = info.me_last_txnid;
}

/* Doubles the map (at most to max_map_size). Writer thread only, between
 * transactions; readers are held off by the resize lock meanwhile. */
int q_grow(struct queue *q)
{
	uint64_t cur = atomic_load(&q->map_bytes), next = cur * 2;

	if (next > q->opt.max_map_size)
		next = q->opt.max_map_size;
	if (next <= cur)
		return -QUEUE_EFULL;
	pthread_rwlock_wrlock(&q->resize);
	int rc = mdb_env_set_mapsize(q->env, (size_t)next);
	pthread_rwlock_unlock(&q->resize);
	if (rc != 0)
		return q_mdb_error(rc);
	atomic_store(&q->map_bytes, next);
	return 0;
}

int q_read_begin(struct queue *q, MDB_txn **txn)
{
	pthread_rwlock_rdlock(&q->resize);
	int rc = mdb_txn_begin(q->env, NULL, MDB_RDONLY, txn);
	if (rc == MDB_MAP_RESIZED) { /* another process grew it */
		mdb_env_set_mapsize(q->env, 0);
		rc = mdb_txn_begin(q->env, NULL, MDB_RDONLY, txn);
	}
	if (rc != 0) {
		pthread_rwlock_unlock(&q->resize);
		return q_mdb_error(rc);
	}
	return 0;
}

void q_read_end(struct queue *q, MDB_txn *txn)
{
	mdb_txn_abort(txn);
	pthread_rwlock_unlock(&q->resize);
}

/* Creates the named databases and checks (or writes) the schema version. */
static int open_dbs(struct queue *q, char *err, size_t errlen)
{
	MDB_txn *txn;
	MDB_val k = {6, "schema"}, v;
	uint32_t version = QUEUE_SCHEMA_VERSION;
	int rc = mdb_txn_begin(q->env, NULL, 0, &txn);

	for (int i = 0; rc == 0 && i < DB_COUNT_; i++)
		rc = mdb_dbi_open(txn, db_names[i], MDB_CREATE, &q->dbi[i]);
	for (size_t i = 0; rc == 0 && i < q->n_tables; i++) {
		char name[40];
		snprintf(name, sizeof(name), "t:%s", q->table_names[i]); /* apart from ours */
		rc = mdb_dbi_open(txn, name, MDB_CREATE, &q->table_dbi[i]);
	}
	if (rc == 0) {
		rc = mdb_get(txn, q->dbi[DB_META], &k, &v);
		if (rc == MDB_NOTFOUND) {
			v = (MDB_val){sizeof(version), &version};
			rc = mdb_put(txn, q->dbi[DB_META], &k, &v, 0);
		} else if (rc == 0) {
			if (v.mv_size == sizeof(version))
				memcpy(&version, v.mv_data, sizeof(version));
			if (v.mv_size != sizeof(version) || version != QUEUE_SCHEMA_VERSION) {
				snprintf(err, errlen,
					 "%s: store schema version %u, this interlinkd reads "
					 "version %u",
					 q->path, v.mv_size == sizeof(version) ? version : 0,
					 QUEUE_SCHEMA_VERSION);
				mdb_txn_abort(txn);
				return -QUEUE_ESCHEMA;
			}
		}
	}
	if (rc == 0)
		rc = mdb_txn_commit(txn);
	else
		mdb_txn_abort(txn);
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", q->path, mdb_strerror(rc));
		return q_mdb_error(rc);
	}
	return 0;
}

void *q_writer_main(void *arg); /* queue_writer.c */

int queue_open(const struct queue_options *opt, struct queue **out, char *err, size_t errlen)
{
	char scratch[8];
	struct queue *q;
	MDB_stat st;
	int rc, dead = 0;

	if (!err) {
		err = scratch;
		errlen = sizeof(scratch);
	}
	err[0] = '\0';
	if (!opt || !opt->dir || opt->map_size == 0 || opt->max_map_size < opt->map_size ||
	    opt->n_tables > QUEUE_TABLES_MAX) {
		snprintf(err, errlen, "invalid queue options");
		return -QUEUE_EINVAL;
	}
	for (size_t i = 0; i < opt->n_tables; i++) {
		size_t n = opt->tables[i] ? strlen(opt->tables[i]) : 0;
		if (n == 0 || n > 32) {
			snprintf(err, errlen, "invalid table name");
			return -QUEUE_EINVAL;
		}
	}
	q = calloc(1, sizeof(*q));
	if (!q)
		return -QUEUE_ENOMEM;
	q->opt = *opt;
	q->opt.dir = NULL; /* not kept: the caller's strings */
	q->opt.tables = NULL;
	q->n_tables = opt->n_tables;
	for (size_t i = 0; i < opt->n_tables; i++)
		snprintf(q->table_names[i], sizeof(q->table_names[i]), "%s", opt->tables[i]);
	if (!q->opt.batch_max_ops)
		q->opt.batch_max_ops = 1024;
	if (!q->opt.batch_max_bytes)
		q->opt.batch_max_bytes = 8u << 20;
	snprintf(q->path, sizeof(q->path), "%s/store.mdb", opt->dir);
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->wake, NULL);
	pthread_rwlock_init(&q->resize, NULL);

	unsigned flags = MDB_NOSUBDIR | MDB_NOTLS | MDB_NORDAHEAD;
	if (opt->sync == QUEUE_SYNC_NONE)
		flags |= MDB_NOSYNC;
	rc = mdb_env_create(&q->env);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(q->env, MAX_DBS);
	if (rc == 0)
		rc = mdb_env_set_maxreaders(q->env, MAX_READERS);
	if (rc == 0)
		rc = mdb_env_set_mapsize(q->env, (size_t)opt->map_size);
	if (rc == 0)
		rc = mdb_env_open(q->env, q->path, flags, 0640);
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", q->path, mdb_strerror(rc));
		rc = q_mdb_error(rc);
		goto fail;
	}
	mdb_reader_check(q->env, &dead);
	if ((rc = open_dbs(q, err, errlen)) != 0)
		goto fail;
	mdb_env_stat(q->env, &st);
	q->page_size = st.ms_psize;
	q_update_used(q, true);
	if (pthread_create(&q->writer, NULL, q_writer_main, q) != 0) {
		snprintf(err, errlen, "cannot start the writer thread");
		rc = -QUEUE_ENOMEM;
		goto fail;
	}
	q->writer_started = true;
	*out = q;
	return 0;
fail:
	queue_close(q);
	return rc;
}

void queue_close(struct queue *q)
{
	if (!q)
		return;
	if (q->writer_started) {
		pthread_mutex_lock(&q->lock);
		q->closing = true;
		pthread_cond_signal(&q->wake);
		pthread_mutex_unlock(&q->lock);
		pthread_join(q->writer, NULL);
	}
	if (q->env)
		mdb_env_close(q->env);
	pthread_rwlock_destroy(&q->resize);
	pthread_cond_destroy(&q->wake);
	pthread_mutex_destroy(&q->lock);
	free(q);
}

/* ---------------------------------------------------------------- reads */

int queue_status_get(struct queue *q, const struct queue_rid *rid, struct queue_status *out)
{
	MDB_txn *txn;
	MDB_val k = {16, (void *)rid->b}, v;
	int rc = q_read_begin(q, &txn);

	if (rc != 0)
		return rc;
	rc = mdb_get(txn, q->dbi[DB_STATUS], &k, &v);
	rc = rc ? q_mdb_error(rc) : q_status_decode(v.mv_data, v.mv_size, rid, out);
	q_read_end(q, txn);
	return rc;
}

int queue_payload_get(struct queue *q, const struct queue_rid *rid, unsigned char **out,
		      size_t *len)
{
	MDB_txn *txn;
	MDB_val k = {16, (void *)rid->b}, v;
	int rc = q_read_begin(q, &txn);

	if (rc != 0)
		return rc;
	rc = mdb_get(txn, q->dbi[DB_MSG], &k, &v);
	if (rc == 0) {
		*out = malloc(v.mv_size ? v.mv_size : 1);
		if (*out) {
			memcpy(*out, v.mv_data, v.mv_size);
			*len = v.mv_size;
		}
		rc = *out ? 0 : -QUEUE_ENOMEM;
	} else {
		rc = q_mdb_error(rc);
	}
	q_read_end(q, txn);
	return rc;
}

static void decode_counts(const MDB_val *v, struct queue_peer_counts *out)
{
	uint64_t n[COUNTS_SLOTS];

	q_counts_decode(v->mv_data, v->mv_size, n); /* another size: all 0 */
	for (int s = 0; s < COUNTS_SLOTS; s++)
		out->state[s + 1] = n[s];
}

int queue_admit_get(struct queue *q, const char *src_peer, const char *client_id,
		    const char *dst_peer, struct queue_rid *rid, bool *duplicate, uint64_t *live)
{
	struct queue_peer_counts c = {0};
	struct qkey k;
	MDB_txn *txn;
	MDB_val v;
	int rc;

	*duplicate = false;
	if (live)
		*live = 0;
	if (!q_name_ok(src_peer) || !q_name_ok(client_id) || (live && !q_name_ok(dst_peer)))
		return -QUEUE_EINVAL;
	q_key_name_name(&k, src_peer, client_id);
	MDB_val key = {k.len, k.b};
	if ((rc = q_read_begin(q, &txn)) != 0)
		return rc;
	rc = mdb_get(txn, q->dbi[DB_IDEM], &key, &v);
	if (rc == 0 && v.mv_size == 16) {
		memcpy(rid->b, v.mv_data, 16);
		*duplicate = true;
	} else if (rc == 0) {
		rc = -QUEUE_ECORRUPT;
	} else if (rc == MDB_NOTFOUND) {
		rc = 0;
		MDB_val dk = {live ? strlen(dst_peer) : 0, (void *)dst_peer};
		if (live && mdb_get(txn, q->dbi[DB_COUNTS], &dk, &v) == 0) {
			decode_counts(&v, &c);
			*live = c.state[QUEUE_QUEUED] + c.state[QUEUE_DELIVERING] +
				c.state[QUEUE_HELD];
		}
	} else {
		rc = q_mdb_error(rc);
	}
	q_read_end(q, txn);
	return rc;
}

/* The oldest live message for peer: the first bypeer key under "peer\0". */
static int64_t oldest_live(struct queue *q, MDB_txn *txn, const char *peer)
{
	struct qkey k;
	struct queue_rid zero = {{0}};
	MDB_cursor *c;
	int64_t t = 0;

	q_key_name_rid(&k, peer, &zero);
	MDB_val key = {k.len, k.b}, v;
	if (mdb_cursor_open(txn, q->dbi[DB_BYPEER], &c) != 0)
		return 0;
	if (mdb_cursor_get(c, &key, &v, MDB_SET_RANGE) == 0 && key.mv_size == k.len &&
	    memcmp(key.mv_data, k.b, k.len - 16) == 0) {
		struct queue_rid rid;
		memcpy(rid.b, (unsigned char *)key.mv_data + k.len - 16, 16);
		t = queue_rid_time_ms(&rid);
	}
	mdb_cursor_close(c);
	return t;
}

int queue_peer_counts(struct queue *q, const char *peer, struct queue_peer_counts *out)
{
	MDB_txn *txn;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!q_name_ok(peer))
		return -QUEUE_EINVAL;
	if ((rc = q_read_begin(q, &txn)) != 0)
		return rc;
	MDB_val k = {strlen(peer), (void *)peer}, v;
	if (mdb_get(txn, q->dbi[DB_COUNTS], &k, &v) == 0)
		decode_counts(&v, out);
	out->oldest_live_ms = oldest_live(q, txn, peer);
	q_read_end(q, txn);
	return 0;
}

int queue_each_peer(struct queue *q,
		    int (*fn)(const char *peer, const struct queue_peer_counts *c, void *arg),
		    void *arg)
{
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	if ((rc = q_read_begin(q, &txn)) != 0)
		return rc;
	if ((rc = mdb_cursor_open(txn, q->dbi[DB_COUNTS], &c)) != 0) {
		q_read_end(q, txn);
		return q_mdb_error(rc);
	}
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		char peer[QUEUE_NAME_MAX + 1];
		struct queue_peer_counts counts = {0};
		if (k.mv_size == 0 || k.mv_size > QUEUE_NAME_MAX)
			continue;
		memcpy(peer, k.mv_data, k.mv_size);
		peer[k.mv_size] = '\0';
		decode_counts(&v, &counts);
		counts.oldest_live_ms = oldest_live(q, txn, peer);
		if (fn(peer, &counts, arg) != 0)
			break;
	}
	mdb_cursor_close(c);
	q_read_end(q, txn);
	return 0;
}

void queue_store_stat(struct queue *q, struct queue_store_stat *out)
{
	out->used_bytes = atomic_load(&q->used_bytes);
	out->map_bytes = atomic_load(&q->map_bytes);
	out->max_bytes = q->opt.max_map_size;
	uint64_t disk = atomic_load(&q->disk_bytes);
	if (disk < out->max_bytes)
		out->max_bytes = disk;
	out->commits = atomic_load(&q->commits);
	out->ops = atomic_load(&q->ops);
	/* full while the last insert refused for space still would not fit, and the map
	 * cannot grow, or growing it would not help */
	uint64_t refused = atomic_load(&q->refused_len);
	out->full = refused && out->map_bytes >= out->max_bytes && !q_has_room(q, refused, false);
	out->errors = atomic_load(&q->errors);
	out->last_error = atomic_load(&q->last_error);
	out->failing = atomic_load(&q->failing);
}

const char *queue_error_text(int code)
{
	if (code == 0)
		return "none";
	return code < 0 && code > -QUEUE_EMAX_ ? queue_strerror(code) : mdb_strerror(code);
}

/* --------------------------------------------------------------- tables */

int q_table(struct queue *q, const char *name, MDB_dbi *out)
{
	for (size_t i = 0; name && i < q->n_tables; i++) {
		if (strcmp(q->table_names[i], name) == 0) {
			*out = q->table_dbi[i];
			return 0;
		}
	}
	return -QUEUE_EINVAL;
}

int queue_kv_get(struct queue *q, const char *table, const void *key, size_t klen, void **val,
		 size_t *vlen)
{
	MDB_dbi dbi;
	MDB_txn *txn;
	MDB_val k = {klen, (void *)key}, v;
	int rc;

	if (q_table(q, table, &dbi) != 0 || klen == 0 || klen > QUEUE_KEY_MAX)
		return -QUEUE_EINVAL;
	if ((rc = q_read_begin(q, &txn)) != 0)
		return rc;
	rc = mdb_get(txn, dbi, &k, &v);
	if (rc == 0) {
		*val = malloc(v.mv_size ? v.mv_size : 1);
		if (*val) {
			memcpy(*val, v.mv_data, v.mv_size);
			*vlen = v.mv_size;
		}
		rc = *val ? 0 : -QUEUE_ENOMEM;
	} else {
		rc = q_mdb_error(rc);
	}
	q_read_end(q, txn);
	return rc;
}

int queue_kv_scan(struct queue *q, const char *table, const void *from, size_t flen,
		  const void *prefix, size_t plen,
		  int (*fn)(const void *key, size_t klen, const void *val, size_t vlen, void *arg),
		  void *arg)
{
	MDB_dbi dbi;
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k = {flen, (void *)from}, v;
	int rc;

	if (q_table(q, table, &dbi) != 0 || flen > QUEUE_KEY_MAX || (flen && !from))
		return -QUEUE_EINVAL;
	if (flen == 0 && plen > 0) { /* start where the prefix starts */
		k = (MDB_val){plen, (void *)prefix};
	}
	if ((rc = q_read_begin(q, &txn)) != 0)
		return rc;
	if ((rc = mdb_cursor_open(txn, dbi, &c)) != 0) {
		q_read_end(q, txn);
		return q_mdb_error(rc);
	}
	rc = mdb_cursor_get(c, &k, &v, k.mv_size ? MDB_SET_RANGE : MDB_FIRST);
	for (; rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (plen && (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0))
			break;
		if (fn(k.mv_data, k.mv_size, v.mv_data, v.mv_size, arg) != 0)
			break;
	}
	mdb_cursor_close(c);
	q_read_end(q, txn);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : q_mdb_error(rc);
}

/* ----------------------------------------------------------------- list */

/* One listing: its filter, where it is, and what it gave. */
struct lister {
	struct queue *q;
	MDB_txn *txn;
	const struct queue_list_filter *f;
	size_t limit, given, scanned;
	int (*fn)(const struct queue_status *st, void *arg);
	void *arg;
	struct queue_list_page page;
};

#define LIVE_STATES                                                                       \
	(QUEUE_LIST_STATE(QUEUE_QUEUED) | QUEUE_LIST_STATE(QUEUE_DELIVERING) |             \
	 QUEUE_LIST_STATE(QUEUE_HELD))

static bool list_match(const struct lister *l, const struct queue_status *st)
{
	const struct queue_list_filter *f = l->f;

	return (!f->states || (f->states & QUEUE_LIST_STATE(st->state))) &&
	       (!f->created_before_ms || st->created_ms < f->created_before_ms) &&
	       (!f->dst_peer || strcmp(st->dst_peer, f->dst_peer) == 0);
}

/* One record examined (an undecodable one is skipped). Returns 1 to stop, else 0. */
static int list_one(struct lister *l, const struct queue_rid *rid, const MDB_val *v)
{
	struct queue_status st;

	if (l->scanned == QUEUE_LIST_SCAN_MAX) { /* budget spent: go on from the last one */
		l->page.more = true;
		return 1;
	}
	l->scanned++;
	if (q_status_decode(v->mv_data, v->mv_size, rid, &st) != 0 || !list_match(l, &st)) {
		l->page.next = *rid;
		return 0;
	}
	if (l->given == l->limit) { /* one more matches: it starts the next page */
		l->page.more = true;
		return 1;
	}
	l->given++;
	l->page.next = *rid;
	if (l->fn(&st, l->arg) != 0) {
		l->page.more = true;
		return 1;
	}
	return 0;
}

/* Walks DB_STATUS (every stored message) from after `after`. */
static int list_statuses(struct lister *l, const struct queue_rid *after)
{
	MDB_cursor *c;
	MDB_val k = {16, (void *)(after ? after->b : NULL)}, v;
	int rc = mdb_cursor_open(l->txn, l->q->dbi[DB_STATUS], &c);

	if (rc != 0)
		return q_mdb_error(rc);
	rc = mdb_cursor_get(c, &k, &v, after ? MDB_SET_RANGE : MDB_FIRST);
	if (rc == 0 && after && k.mv_size == 16 && memcmp(k.mv_data, after->b, 16) == 0)
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	for (; rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		struct queue_rid rid;
		if (k.mv_size != 16)
			continue;
		memcpy(rid.b, k.mv_data, 16);
		if (list_one(l, &rid, &v))
			break;
	}
	mdb_cursor_close(c);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : q_mdb_error(rc);
}

/* Walks the peer's DB_BYPEER keys ("peer\0" rid: its live messages, oldest first). */
static int list_peer(struct lister *l, const struct queue_rid *after)
{
	struct queue_rid zero = {{0}};
	struct qkey from;
	MDB_cursor *c;
	size_t plen = strlen(l->f->dst_peer) + 1;
	int rc;

	q_key_name_rid(&from, l->f->dst_peer, after ? after : &zero);
	MDB_val k = {from.len, from.b}, v;
	if ((rc = mdb_cursor_open(l->txn, l->q->dbi[DB_BYPEER], &c)) != 0)
		return q_mdb_error(rc);
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	if (rc == 0 && after && k.mv_size == from.len && memcmp(k.mv_data, from.b, from.len) == 0)
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	for (; rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		struct queue_rid rid;
		MDB_val sk = {16, NULL}, sv;
		if (k.mv_size != from.len || memcmp(k.mv_data, from.b, plen) != 0)
			break; /* past the peer's keys */
		memcpy(rid.b, (unsigned char *)k.mv_data + plen, 16);
		sk.mv_data = rid.b;
		if (mdb_get(l->txn, l->q->dbi[DB_STATUS], &sk, &sv) != 0)
			sv = (MDB_val){0, ""}; /* a stale index entry: skipped as undecodable */
		if (list_one(l, &rid, &sv))
			break;
	}
	mdb_cursor_close(c);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : q_mdb_error(rc);
}

int queue_list(struct queue *q, const struct queue_list_filter *f, const struct queue_rid *after,
	       size_t limit, int (*fn)(const struct queue_status *st, void *arg), void *arg,
	       struct queue_list_page *page)
{
	static const struct queue_list_filter any = {0};
	struct lister l = {.q = q, .f = f ? f : &any, .limit = limit, .fn = fn, .arg = arg};
	int rc;

	if (page)
		memset(page, 0, sizeof(*page));
	if (limit == 0 || !fn || (l.f->dst_peer && !q_name_ok(l.f->dst_peer)))
		return -QUEUE_EINVAL;
	if ((rc = q_read_begin(q, &l.txn)) != 0)
		return rc;
	if (l.f->dst_peer && l.f->states && (l.f->states & ~LIVE_STATES) == 0)
		rc = list_peer(&l, after);
	else
		rc = list_statuses(&l, after);
	q_read_end(q, l.txn);
	l.page.scanned = l.scanned;
	if (!l.page.more)
		memset(&l.page.next, 0, sizeof(l.page.next));
	if (page)
		*page = l.page;
	return rc;
}
