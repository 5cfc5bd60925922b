/*
 * The subscriber directory (portability and linked accounts): address -> accounts, kept in
 * the queue's "directory" table, never in memory. Each carrier manages its own account line;
 * records are versioned and validated in full when read back.
 *
 * Record v1 (key: the normalised address text), integers little-endian:
 *   u8 version (1), u8 n (1..ROUTE_ACCOUNTS_MAX), then n accounts in the order they were
 *   added (a replaced account keeps its place): u8 peer length (1..64), peer name,
 *   u8 address kind, u16 address length, normalised address, u8 priority, u8 failover
 *   (0 or 1), u32 failover delay in seconds.
 * The stored order is the tie rule "ties: the earlier added"; readers get the accounts
 * sorted by priority, stable over it.
 */
#include "routing/routing_priv.h"

#include <stdlib.h>
#include <string.h>

#include "queue/queue.h"

#define RD_TABLE   "directory"
#define RD_VERSION 1
#define RD_ACC_MAX (1 + ROUTE_NAME_MAX + 1 + 2 + (ROUTE_ADDR_MAX - 1) + 1 + 1 + 4)
#define RD_REC_MAX (2 + ROUTE_ACCOUNTS_MAX * RD_ACC_MAX)

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
	    !rt_name_ok(a->peer))
		return false;
	if (!rd_u8(rd, &kind) || !rd_take(rd, b, 2))
		return false;
	a->addr.kind = (enum route_addr_kind)kind;
	a->addr.len = (size_t)b[0] | (size_t)b[1] << 8;
	if (a->addr.len == 0 || a->addr.len >= ROUTE_ADDR_MAX ||
	    !rd_take(rd, a->addr.text, a->addr.len) || !rd_addr_ok(&a->addr))
		return false;
	if (!rd_u8(rd, &prio) || !rd_u8(rd, &fo) || fo > 1 || !rd_take(rd, b, 4))
		return false;
	a->priority = (uint8_t)prio;
	a->failover = fo == 1;
	a->failover_delay_s = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
			      (uint32_t)b[3] << 24;
	return true;
}

/* Decodes a record into e->acc/e->n in stored order. Anything but a well-formed v1 record
 * with 1..ROUTE_ACCOUNTS_MAX accounts of distinct peers: -ROUTE_ESTORE. */
static int rd_decode(const void *val, size_t len, struct route_dir_entry *e)
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
static size_t rd_encode(const struct route_dir_entry *e, unsigned char *buf)
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
		*p++ = a->failover ? 1 : 0;
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
	rc = rd_decode(val, len, e);
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
		op.u.kv.vlen = rd_encode(e, buf);
	}
	rc = queue_exec(r->q, &op);
	return rc == 0 ? 0 : rd_qerr(rc);
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
 * not named by a new account. */
static int rd_peer_exists(struct routing *r, const char *name)
{
	const struct route_table *t = routing_acquire(r);
	bool found = route_table_peer(t, name) != NULL;

	routing_release(t);
	return found ? 0 : -ROUTE_ENOPEER;
}

int route_dir_put(struct routing *r, const char *by_peer, const struct route_addr *addr,
		  const struct route_account *acc)
{
	struct route_dir_entry e;
	size_t i;
	int rc;

	if (!r || !addr || !acc || !rd_addr_ok(addr) || !rd_addr_ok(&acc->addr) ||
	    !rd_peer_ok(acc->peer, sizeof(acc->peer)))
		return -ROUTE_EINVAL;
	if (by_peer && strcmp(by_peer, acc->peer) != 0)
		return -ROUTE_EPERM;
	pthread_mutex_lock(&r->write_lock);
	if ((rc = rd_peer_exists(r, acc->peer)) != 0)
		goto out;
	if (!r->q) {
		rc = -ROUTE_ESTORE;
		goto out;
	}
	rc = rd_load(r, addr, &e);
	if (rc != 0 && rc != -ROUTE_ENOTFOUND)
		goto out;
	for (i = 0; i < e.n && strcmp(e.acc[i].peer, acc->peer) != 0; i++)
		;
	if (i == ROUTE_ACCOUNTS_MAX) {
		rc = -ROUTE_EINVAL;
		goto out;
	}
	e.acc[i] = *acc;
	if (i == e.n)
		e.n++;
	rc = rd_store(r, &e);
out:
	pthread_mutex_unlock(&r->write_lock);
	return rc;
}

int route_dir_del(struct routing *r, const char *by_peer, const struct route_addr *addr,
		  const char *peer)
{
	struct route_dir_entry e;
	size_t i;
	int rc;

	if (!r || !addr || !peer || !rd_addr_ok(addr) || !rd_peer_ok(peer, ROUTE_NAME_MAX + 1))
		return -ROUTE_EINVAL;
	if (by_peer && strcmp(by_peer, peer) != 0)
		return -ROUTE_EPERM;
	pthread_mutex_lock(&r->write_lock);
	if ((rc = rd_load(r, addr, &e)) != 0)
		goto out;
	for (i = 0; i < e.n && strcmp(e.acc[i].peer, peer) != 0; i++)
		;
	if (i == e.n) {
		rc = -ROUTE_ENOTFOUND;
		goto out;
	}
	memmove(&e.acc[i], &e.acc[i + 1], (e.n - i - 1) * sizeof(e.acc[0]));
	e.n--;
	rc = rd_store(r, &e);
out:
	pthread_mutex_unlock(&r->write_lock);
	return rc;
}
