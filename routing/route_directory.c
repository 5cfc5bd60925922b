/*
 * The subscriber directory (portability and linked accounts): address -> accounts, kept in
 * the queue's "directory" table, never in memory. Each carrier manages its own account line;
 * a line for an address outside the carrier's own space waits for an admin's approval.
 * Records are versioned and validated in full when read back.
 *
 * Record v1 (key: the normalised address text), integers little-endian:
 *   u8 version (1), u8 n (1..ROUTE_ACCOUNTS_MAX), then n accounts in the order they were
 *   added (a replaced account keeps its place): u8 peer length (1..64), peer name,
 *   u8 address kind, u16 address length, normalised address, u8 priority, u8 flags
 *   (bit 0: failover, bit 1: pending; other bits set: corrupt), u32 failover delay in
 *   seconds. The flags byte was "u8 failover (0 or 1)" before pending existed, so those
 *   records read as approved, unchanged.
 * The stored order is the tie rule "ties: the earlier added"; readers get the accounts
 * sorted by priority, stable over it.
 *
 * Pending accounts are also listed in the "dirpending" table (key: the address text, a NUL
 * byte, the peer name; empty value), for route_dir_pending. A change writes the key before
 * the record makes an account pending, and deletes it after the record stops doing so: the
 * store commits them separately, so a failure between the two can leave a listed pair that
 * is no longer pending (never a pending account that is not listed); route_dir_approve of
 * such a pair removes it.
 */
#include "routing/routing_priv.h"

#include <stdlib.h>
#include <string.h>

#include "queue/queue.h"

#define RD_TABLE   "directory"
#define RD_PTABLE  "dirpending"
#define RD_VERSION 1
#define RD_F_FAILOVER 1u
#define RD_F_PENDING  2u
#define RD_PKEY_MAX   ((ROUTE_ADDR_MAX - 1) + 1 + ROUTE_NAME_MAX)
#define RD_CHUNK      64 /* pending pairs read per snapshot while listing */

/* A well-formed address: its text is what route_addr_parse makes of it. */
static bool rd_addr_ok(const struct route_addr *a)
{
	struct route_addr n;

	if (a->len == 0 || a->len >= ROUTE_ADDR_MAX || a->text[a->len] != '\0' ||
	    strlen(a->text) != a->len)
		return false;
	return route_addr_parse(a->text, a->len, NULL, &n) == 0 && n.kind == a->kind &&
	       n.len == a->len && memcmp(n.text, a->text, a->len) == 0;
}

/* A peer name of at most `size` - 1 bytes (a short string or a full array) that is valid. */
static bool rd_peer_ok(const char *peer, size_t size)
{
	return strnlen(peer, size) < size && rt_name_ok(peer);
}

_Static_assert(RD_PKEY_MAX <= QUEUE_KEY_MAX, "dirpending key");

static int rd_qerr(int rc)
{
	if (rc == -QUEUE_EFULL)
		return -ROUTE_EFULL;
	return rc == -QUEUE_ENOMEM ? -ROUTE_ENOMEM : -ROUTE_ESTORE;
}

/* ------------------------------------------------------------- the record */

struct rd_reader {
	const unsigned char *p;
	size_t left;
};

static bool rd_take(struct rd_reader *rd, void *out, size_t n)
{
	if (rd->left < n)
		return false;
	memcpy(out, rd->p, n);
	rd->p += n;
	rd->left -= n;
	return true;
}

static bool rd_u8(struct rd_reader *rd, unsigned *v)
{
	unsigned char b;

	if (!rd_take(rd, &b, 1))
		return false;
	*v = b;
	return true;
}

static bool rd_account(struct rd_reader *rd, struct route_account *a)
{
	unsigned char b[4];
	unsigned n, kind, prio, fo;

	memset(a, 0, sizeof(*a));
	if (!rd_u8(rd, &n) || n == 0 || n > ROUTE_NAME_MAX || !rd_take(rd, a->peer, n) ||
	    memchr(a->peer, '\0', n) || !rt_name_ok(a->peer))
		return false;
	if (!rd_u8(rd, &kind) || !rd_take(rd, b, 2))
		return false;
	a->addr.kind = (enum route_addr_kind)kind;
	a->addr.len = (size_t)b[0] | (size_t)b[1] << 8;
	if (a->addr.len == 0 || a->addr.len >= ROUTE_ADDR_MAX ||
	    !rd_take(rd, a->addr.text, a->addr.len) || !rd_addr_ok(&a->addr))
		return false;
	if (!rd_u8(rd, &prio) || !rd_u8(rd, &fo) || (fo & ~(RD_F_FAILOVER | RD_F_PENDING)) ||
	    !rd_take(rd, b, 4))
		return false;
	a->priority = (uint8_t)prio;
	a->failover = (fo & RD_F_FAILOVER) != 0;
	a->pending = (fo & RD_F_PENDING) != 0;
	a->failover_delay_s = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
			      (uint32_t)b[3] << 24;
	return true;
}

/* Decodes a record into e->acc/e->n in stored order. Anything but a well-formed v1 record
 * with 1..ROUTE_ACCOUNTS_MAX accounts of distinct peers: -ROUTE_ESTORE. */
int rd_record_decode(const void *val, size_t len, struct route_dir_entry *e)
{
	struct rd_reader rd = {val, len};
	unsigned v, n;

	if (!rd_u8(&rd, &v) || v != RD_VERSION || !rd_u8(&rd, &n) || n == 0 ||
	    n > ROUTE_ACCOUNTS_MAX)
		return -ROUTE_ESTORE;
	for (e->n = 0; e->n < n; e->n++) {
		if (!rd_account(&rd, &e->acc[e->n]))
			return -ROUTE_ESTORE;
		for (size_t i = 0; i < e->n; i++)
			if (strcmp(e->acc[i].peer, e->acc[e->n].peer) == 0)
				return -ROUTE_ESTORE;
	}
	return rd.left == 0 ? 0 : -ROUTE_ESTORE;
}

/* Encodes e (accounts already validated) into buf of RD_REC_MAX bytes; returns the length. */
size_t rd_record_encode(const struct route_dir_entry *e, unsigned char *buf)
{
	unsigned char *p = buf;

	*p++ = RD_VERSION;
	*p++ = (unsigned char)e->n;
	for (size_t i = 0; i < e->n; i++) {
		const struct route_account *a = &e->acc[i];
		size_t n = strlen(a->peer);
		uint32_t d = a->failover_delay_s;

		*p++ = (unsigned char)n;
		memcpy(p, a->peer, n);
		p += n;
		*p++ = (unsigned char)a->addr.kind;
		*p++ = (unsigned char)(a->addr.len & 0xff);
		*p++ = (unsigned char)(a->addr.len >> 8);
		memcpy(p, a->addr.text, a->addr.len);
		p += a->addr.len;
		*p++ = a->priority;
		*p++ = (unsigned char)((a->failover ? RD_F_FAILOVER : 0) |
				       (a->pending ? RD_F_PENDING : 0));
		for (int k = 0; k < 4; k++)
			*p++ = (unsigned char)(d >> (8 * k));
	}
	return (size_t)(p - buf);
}

/* ---------------------------------------------------------- store access */

/* The stored entry of addr, accounts in stored order. 0, -ROUTE_ENOTFOUND (also with no
 * store), -ROUTE_ESTORE, -ROUTE_ENOMEM. */
static int rd_load(struct routing *r, const struct route_addr *addr, struct route_dir_entry *e)
{
	void *val = NULL;
	size_t len = 0;
	int rc;

	e->n = 0;
	e->addr = *addr;
	if (!r->q)
		return -ROUTE_ENOTFOUND;
	rc = queue_kv_get(r->q, RD_TABLE, addr->text, addr->len, &val, &len);
	if (rc == -QUEUE_ENOTFOUND)
		return -ROUTE_ENOTFOUND;
	if (rc != 0)
		return rd_qerr(rc);
	rc = rd_record_decode(val, len, e);
	free(val);
	return rc;
}

/* Writes e (or deletes its key when it has no account left), waiting for the commit. */
static int rd_store(struct routing *r, const struct route_dir_entry *e)
{
	unsigned char buf[RD_REC_MAX];
	struct queue_op op = {.type = e->n ? QUEUE_OP_KV_PUT : QUEUE_OP_KV_DEL};
	int rc;

	op.u.kv.table = RD_TABLE;
	op.u.kv.key = e->addr.text;
	op.u.kv.klen = e->addr.len;
	if (e->n) {
		op.u.kv.val = buf;
		op.u.kv.vlen = rd_record_encode(e, buf);
	}
	rc = queue_exec(r->q, &op);
	return rc == 0 ? 0 : rd_qerr(rc);
}

/* The "dirpending" key of (addr, peer) into buf of RD_PKEY_MAX bytes; returns its length. */
static size_t rd_pkey(const char *addr, size_t alen, const char *peer, char *buf)
{
	size_t pn = strlen(peer);

	memcpy(buf, addr, alen);
	buf[alen] = '\0';
	memcpy(buf + alen + 1, peer, pn);
	return alen + 1 + pn;
}

/* Lists (on) or unlists (peer, addr) in "dirpending", waiting for the commit. *existed (may
 * be NULL): the key was there before. */
static int rd_mark(struct routing *r, const struct route_addr *addr, const char *peer, bool on,
		   bool *existed)
{
	char key[RD_PKEY_MAX];
	struct queue_op op = {.type = on ? QUEUE_OP_KV_PUT : QUEUE_OP_KV_DEL};
	int rc;

	op.u.kv.table = RD_PTABLE;
	op.u.kv.key = key;
	op.u.kv.klen = rd_pkey(addr->text, addr->len, peer, key);
	op.u.kv.val = on ? "" : NULL;
	op.u.kv.vlen = 0;
	rc = queue_exec(r->q, &op);
	if (existed)
		*existed = rc == 0 && op.u.kv.existed;
	return rc == 0 ? 0 : rd_qerr(rc);
}

/*
 * Writes e after peer's account changed from pending `was` to pending `now` (was: false for
 * a new account, now: false for a removed one), keeping "dirpending" in step: the key goes
 * in first and comes out last (see the top of the file). unlist: delete the key even when
 * the account was not pending (an admin's write heals a stale key).
 */
static int rd_commit(struct routing *r, const struct route_dir_entry *e, const char *peer,
		     bool was, bool now, bool unlist)
{
	bool existed = true;
	int rc;

	if (now && !was && (rc = rd_mark(r, &e->addr, peer, true, &existed)) != 0)
		return rc;
	if ((rc = rd_store(r, e)) != 0) {
		if (now && !was && !existed) /* best effort: a delete is never refused as full */
			(void)rd_mark(r, &e->addr, peer, false, NULL);
		return rc;
	}
	if (!now && (was || unlist))
		rc = rd_mark(r, &e->addr, peer, false, NULL);
	return rc;
}

/* ------------------------------------------------------------ public API */

int route_dir_get(struct routing *r, const struct route_addr *addr, struct route_dir_entry *out)
{
	int rc;

	if (!r || !addr || !out || !rd_addr_ok(addr))
		return -ROUTE_EINVAL;
	if ((rc = rd_load(r, addr, out)) != 0) {
		out->n = 0;
		return rc;
	}
	/* insertion sort by priority: stable, so ties keep the earlier added first */
	for (size_t i = 1; i < out->n; i++) {
		struct route_account a = out->acc[i];
		size_t j = i;

		for (; j > 0 && out->acc[j - 1].priority > a.priority; j--)
			out->acc[j] = out->acc[j - 1];
		out->acc[j] = a;
	}
	return 0;
}

/* Under write_lock, so that a peer deleted meanwhile (routing_del_peer holds it too) is
 * not named by a new account. *owned: addr (when not NULL) is in the peer's own space, or
 * the peer's lines need no approval (dir_trusted). */
static int rd_peer_check(struct routing *r, const char *name, const struct route_addr *addr,
			 bool *owned)
{
	const struct route_table *t = routing_acquire(r);
	const struct route_peer *p = route_table_peer(t, name);

	*owned = p && addr && (p->dir_trusted || rdc_peer_owns(p, addr));
	routing_release(t);
	return p ? 0 : -ROUTE_ENOPEER;
}

/* The index of peer's account in e (e->n when it has none). */
static size_t rd_find(const struct route_dir_entry *e, const char *peer)
{
	size_t i;

	for (i = 0; i < e->n && strcmp(e->acc[i].peer, peer) != 0; i++)
		;
	return i;
}

int route_dir_put(struct routing *r, const char *by_peer, const struct route_addr *addr,
		  const struct route_account *acc, bool *pending)
{
	struct route_dir_entry e;
	bool owned, was;
	size_t i;
	int rc;

	if (!r || !addr || !acc || !rd_addr_ok(addr) || !rd_addr_ok(&acc->addr) ||
	    !rd_peer_ok(acc->peer, sizeof(acc->peer)))
		return -ROUTE_EINVAL;
	if (by_peer && strcmp(by_peer, acc->peer) != 0)
		return -ROUTE_EPERM;
	pthread_mutex_lock(&r->write_lock);
	if ((rc = rd_peer_check(r, acc->peer, by_peer ? addr : NULL, &owned)) != 0)
		goto out;
	if (!r->q) {
		rc = -ROUTE_ESTORE;
		goto out;
	}
	rc = rd_load(r, addr, &e);
	if (rc != 0 && rc != -ROUTE_ENOTFOUND)
		goto out;
	i = rd_find(&e, acc->peer);
	if (i == ROUTE_ACCOUNTS_MAX) {
		rc = -ROUTE_EINVAL;
		goto out;
	}
	was = i < e.n && e.acc[i].pending;
	e.acc[i] = *acc;
	/* an admin's line is approved; a carrier's outside its own space waits for approval,
	 * unless that line was approved already (updating it keeps the approval) */
	e.acc[i].pending = by_peer && !owned && (i == e.n || was);
	if (i == e.n)
		e.n++;
	rc = rd_commit(r, &e, acc->peer, was, e.acc[i].pending, by_peer == NULL);
	if (rc == 0 && pending)
		*pending = e.acc[i].pending;
out:
	pthread_mutex_unlock(&r->write_lock);
	return rc;
}

int route_dir_approve(struct routing *r, const struct route_addr *addr, const char *peer)
{
	struct route_dir_entry e;
	size_t i = 0;
	int rc, rc2;

	if (!r || !addr || !peer || !rd_addr_ok(addr) || !rd_peer_ok(peer, ROUTE_NAME_MAX + 1))
		return -ROUTE_EINVAL;
	pthread_mutex_lock(&r->write_lock);
	if ((rc = rd_load(r, addr, &e)) != 0 && rc != -ROUTE_ENOTFOUND)
		goto out;
	if (rc == 0 && (i = rd_find(&e, peer)) < e.n && e.acc[i].pending) {
		e.acc[i].pending = false;
		rc = rd_commit(r, &e, peer, true, false, true);
		goto out;
	}
	if (rc == 0 && i == e.n)
		rc = -ROUTE_ENOTFOUND;
	/* approved already, or no such account: nothing to change, but a pair still listed
	 * after a failed write (see the top of the file) goes now */
	if (r->q && (rc2 = rd_mark(r, addr, peer, false, NULL)) != 0 && rc == 0)
		rc = rc2;
out:
	pthread_mutex_unlock(&r->write_lock);
	return rc;
}

int route_dir_del(struct routing *r, const char *by_peer, const struct route_addr *addr,
		  const char *peer)
{
	struct route_dir_entry e;
	size_t i;
	bool was;
	int rc;

	if (!r || !addr || !peer || !rd_addr_ok(addr) || !rd_peer_ok(peer, ROUTE_NAME_MAX + 1))
		return -ROUTE_EINVAL;
	if (by_peer && strcmp(by_peer, peer) != 0)
		return -ROUTE_EPERM;
	pthread_mutex_lock(&r->write_lock);
	if ((rc = rd_load(r, addr, &e)) != 0)
		goto out;
	if ((i = rd_find(&e, peer)) == e.n) {
		rc = -ROUTE_ENOTFOUND;
		goto out;
	}
	was = e.acc[i].pending;
	memmove(&e.acc[i], &e.acc[i + 1], (e.n - i - 1) * sizeof(e.acc[0]));
	e.n--;
	rc = rd_commit(r, &e, peer, was, false, false);
out:
	pthread_mutex_unlock(&r->write_lock);
	return rc;
}

/* ------------------------------------------------------- pending listing */

struct rd_pair {
	char addr[ROUTE_ADDR_MAX];
	char peer[ROUTE_NAME_MAX + 1];
};

/* One read snapshot's worth of "dirpending" keys, after `from` (exclusive). */
struct rd_page {
	const char *from; /* NULL: from the first key */
	size_t flen;
	const char *peer; /* only this peer's pairs (NULL: all) */
	struct rd_pair *v;
	size_t n, max;
	bool bad;         /* a malformed key */
};

/* Splits a "dirpending" key; false when it is not "address NUL peer" with a valid peer. */
static bool rd_pkey_split(const unsigned char *k, size_t klen, struct rd_pair *out)
{
	const unsigned char *nul = memchr(k, '\0', klen);
	size_t alen, plen;

	if (!nul)
		return false;
	alen = (size_t)(nul - k);
	plen = klen - alen - 1;
	if (alen == 0 || alen >= ROUTE_ADDR_MAX || plen == 0 || plen > ROUTE_NAME_MAX ||
	    memchr(nul + 1, '\0', plen))
		return false;
	memcpy(out->addr, k, alen);
	out->addr[alen] = '\0';
	memcpy(out->peer, nul + 1, plen);
	out->peer[plen] = '\0';
	return rt_name_ok(out->peer);
}

static int rd_page_fn(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct rd_page *pg = arg;

	(void)val;
	(void)vlen;
	if (pg->from && klen == pg->flen && memcmp(key, pg->from, klen) == 0)
		return 0;
	if (!rd_pkey_split(key, klen, &pg->v[pg->n])) {
		pg->bad = true;
		return 1;
	}
	if (pg->peer && strcmp(pg->v[pg->n].peer, pg->peer) != 0)
		return 0;
	return ++pg->n == pg->max;
}

/* Reads the next page into pg->v (at most pg->max pairs); pg->from is moved past it by the
 * caller. 0, -ROUTE_ESTORE. */
static int rd_page_read(struct routing *r, struct rd_page *pg)
{
	int rc;

	pg->n = 0;
	rc = queue_kv_scan(r->q, RD_PTABLE, pg->from, pg->from ? pg->flen : 0, NULL, 0,
			   rd_page_fn, pg);
	if (rc != 0)
		return -ROUTE_ESTORE;
	return pg->bad ? -ROUTE_ESTORE : 0;
}

int route_dir_pending(struct routing *r, const char *after_addr, const char *after_peer,
		      size_t limit, int (*fn)(const char *addr, const char *peer, void *arg),
		      void *arg)
{
	struct rd_pair v[RD_CHUNK];
	char from[RD_PKEY_MAX];
	struct rd_page pg = {.v = v};
	size_t given = 0, alen;
	int rc;

	if (!r || !fn || limit == 0 || !after_addr != !after_peer)
		return -ROUTE_EINVAL;
	if (after_addr) {
		alen = strnlen(after_addr, ROUTE_ADDR_MAX);
		if (alen == 0 || alen == ROUTE_ADDR_MAX ||
		    !rd_peer_ok(after_peer, ROUTE_NAME_MAX + 1))
			return -ROUTE_EINVAL;
		pg.from = from;
		pg.flen = rd_pkey(after_addr, alen, after_peer, from);
	}
	if (!r->q)
		return 0;
	/* a page per snapshot, fn outside it: fn may call routing (route_dir_get) */
	for (;;) {
		pg.max = limit - given < RD_CHUNK ? limit - given : RD_CHUNK;
		if ((rc = rd_page_read(r, &pg)) != 0)
			return rc;
		for (size_t i = 0; i < pg.n; i++) {
			given++;
			if (fn(v[i].addr, v[i].peer, arg) != 0)
				return 0;
		}
		if (pg.n < pg.max || given == limit)
			return 0;
		pg.from = from;
		pg.flen = rd_pkey(v[pg.n - 1].addr, strlen(v[pg.n - 1].addr), v[pg.n - 1].peer,
				  from);
	}
}

int rd_drop_pending_of(struct routing *r, const char *peer)
{
	struct rd_pair v[RD_CHUNK];
	char from[RD_PKEY_MAX];
	struct rd_page pg = {.v = v, .peer = peer, .max = RD_CHUNK};
	struct route_dir_entry e;
	struct route_addr a;
	size_t i;
	int rc;

	if (!r->q)
		return 0;
	/* each pass drops what it read, so the next scan from the last key sees the rest */
	do {
		if ((rc = rd_page_read(r, &pg)) != 0)
			return rc;
		for (size_t k = 0; k < pg.n; k++) {
			if (route_addr_parse(v[k].addr, strlen(v[k].addr), NULL, &a) != 0 ||
			    !rd_addr_ok(&a) || strcmp(a.text, v[k].addr) != 0)
				return -ROUTE_ESTORE;
			rc = rd_load(r, &a, &e);
			if (rc != 0 && rc != -ROUTE_ENOTFOUND)
				return rc;
			if (rc == 0 && (i = rd_find(&e, peer)) < e.n && e.acc[i].pending) {
				memmove(&e.acc[i], &e.acc[i + 1], (e.n - i - 1) * sizeof(e.acc[0]));
				e.n--;
				rc = rd_commit(r, &e, peer, true, false, true);
			} else {
				rc = rd_mark(r, &a, peer, false, NULL); /* stale: just unlist */
			}
			if (rc != 0)
				return rc;
		}
		if (pg.n > 0) {
			pg.from = from;
			pg.flen = rd_pkey(v[pg.n - 1].addr, strlen(v[pg.n - 1].addr), peer, from);
		}
	} while (pg.n == pg.max);
	return 0;
}
