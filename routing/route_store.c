/*
 * Peers and routes in the store: versioned binary records in the queue's "peers" and "routes"
 * tables, the start-up load beside the config file's entries, and the run-time changes, each
 * validated by building the next table before anything is written.
 */
#include "routing/routing_priv.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue/queue.h"

const char *const route_queue_tables[] = {"peers", "routes", "directory", "dirpending"};
_Static_assert(sizeof(route_queue_tables) / sizeof(route_queue_tables[0]) == ROUTE_QUEUE_TABLES,
               "ROUTE_QUEUE_TABLES");

#define T_PEERS  "peers"
#define T_ROUTES "routes"
#define REC_V1   1

/*
 * Records, version 1. Integers little-endian; a string is a u16 length and its bytes.
 *   peer (key: its name):
 *     u8 1, u8 kind, u8 flags (PF_*, below), str name, [str token_sha256], [str cert_sha256],
 *     [str outbound_token] (present as flags say), u32 rate, u32 burst, u64 max_size,
 *     u64 max_queue, u8 n_endpoints, n × str, u32 n_owns, n × str,
 *     [u8 n_pins (1-8), n × (32 bytes raw public key, i64 until_ms, 16 bytes kid)] (PF_PINS)
 *   route (key: "p:" prefix, "d:" domain, or "default"):
 *     u8 1, u8 match (enum route_match), str value ("" for the default), str peer
 *   run-time suspension of a config peer (key: "suspended:" name, in "peers"): u8 1
 * A record is read back whole and exactly; anything else is corrupt (-ROUTE_ESTORE), and
 * what it decodes to is validated again by the table, as a config entry is.
 * PF_DIR_TRUSTED (the peer's directory lines outside its owns need no approval) came later
 * within version 1: records written before it have the bit clear and read as not trusted,
 * and a build from before it refuses a record with the bit set as corrupt (unknown flag)
 * instead of reading that peer as untrusted — going back to it needs the bit cleared (the
 * peer saved again without directory_trusted) first.
 * PF_PINS (the peer's pinned signing keys follow the owns) came later still, by the same
 * rules: it is set only when the peer pins keys, so a peer without pins is written exactly as
 * before; a build from before it refuses a record with the bit as corrupt rather than read
 * that peer as pinning nothing (which would stop checking its signatures) — going back needs
 * the pins removed (the peer saved again without keys) first. With the bit, n_pins is 1 to
 * ROUTE_PINS_MAX and the record ends after the last pin.
 */
#define PF_SUSPENDED   1u
#define PF_TOKEN       2u
#define PF_CERT        4u
#define PF_OUTBOUND    8u
#define PF_DIR_TRUSTED 16u
#define PF_PINS        32u
#define PF_ALL         63u
#define PIN_REC_LEN    (32 + 8 + ROUTE_KID_LEN) /* one pin in a record */

/*
 * Suspending a config peer at run time is allowed: it is the operator's emergency brake, and
 * editing the config file and reloading is too slow when a carrier floods the relay. The
 * peer's definition stays read-only; only the flag is kept, apart, under SUSP_KEY + name, and
 * re-applied at load. Lifting it deletes that key. A peer that the config file itself
 * suspends stays suspended: a run-time "unsuspend" of it is -ROUTE_EREADONLY. A key naming a
 * peer that is no longer in the config is ignored (and dropped by the next unsuspend).
 * Peer names cannot hold ':', so these keys never meet a peer's.
 */
#define SUSP_KEY     "suspended:"
#define SUSP_KEY_LEN (sizeof(SUSP_KEY) - 1)
#define ROUTE_KEY_SZ (2 + ROUTE_ADDR_DOMAIN_MAX + 1)

/* ------------------------------------------------------------- encoding */

static void w_bytes(struct rs_wbuf *w, const void *s, size_t n)
{
	if (w->oom)
		return;
	if (w->len + n > w->cap) {
		size_t cap = w->cap ? w->cap : 256;
		unsigned char *p;
		while (cap < w->len + n)
			cap *= 2;
		if (!(p = realloc(w->p, cap))) {
			w->oom = true;
			return;
		}
		w->p = p;
		w->cap = cap;
	}
	memcpy(w->p + w->len, s, n);
	w->len += n;
}

static void w_uint(struct rs_wbuf *w, uint64_t v, size_t bytes)
{
	unsigned char b[8];

	for (size_t i = 0; i < bytes; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	w_bytes(w, b, bytes);
}

static void w_str(struct rs_wbuf *w, const char *s)
{
	size_t n = strlen(s);

	assert(n <= UINT16_MAX); /* the table's limits keep every string far below */
	w_uint(w, n, 2);
	w_bytes(w, s, n);
}

/* p is valid (it comes from a table). 0, -ROUTE_EINVAL or -ROUTE_ENOMEM. */
int rs_peer_encode(const struct route_peer *p, struct rs_wbuf *w)
{
	unsigned flags = (p->suspended ? PF_SUSPENDED : 0) | (p->token_sha256 ? PF_TOKEN : 0) |
	                 (p->cert_sha256 ? PF_CERT : 0) | (p->outbound_token ? PF_OUTBOUND : 0) |
	                 (p->dir_trusted ? PF_DIR_TRUSTED : 0) | (p->n_pins ? PF_PINS : 0);

	if (p->n_owns > UINT32_MAX || p->n_pins > ROUTE_PINS_MAX)
		return -ROUTE_EINVAL;
	w_uint(w, REC_V1, 1);
	w_uint(w, (uint64_t)p->kind, 1);
	w_uint(w, flags, 1);
	w_str(w, p->name);
	if (p->token_sha256)
		w_str(w, p->token_sha256);
	if (p->cert_sha256)
		w_str(w, p->cert_sha256);
	if (p->outbound_token)
		w_str(w, p->outbound_token);
	w_uint(w, p->rate, 4);
	w_uint(w, p->burst, 4);
	w_uint(w, p->max_size, 8);
	w_uint(w, p->max_queue, 8);
	w_uint(w, p->n_endpoints, 1);
	for (size_t i = 0; i < p->n_endpoints; i++)
		w_str(w, p->endpoints[i]);
	w_uint(w, p->n_owns, 4);
	for (size_t i = 0; i < p->n_owns; i++)
		w_str(w, p->owns[i]);
	if (p->n_pins)
		w_uint(w, p->n_pins, 1);
	for (size_t i = 0; i < p->n_pins; i++) {
		const struct route_pin *k = &p->pins[i];

		assert(strlen(k->kid) == ROUTE_KID_LEN); /* the table checked it */
		w_bytes(w, k->pub, sizeof(k->pub));
		w_uint(w, (uint64_t)k->until_ms, 8);
		w_bytes(w, k->kid, ROUTE_KID_LEN);
	}
	return w->oom ? -ROUTE_ENOMEM : 0;
}

int rs_route_encode(const struct route_entry *e, struct rs_wbuf *w)
{
	w_uint(w, REC_V1, 1);
	w_uint(w, (uint64_t)e->match, 1);
	w_str(w, e->value ? e->value : "");
	w_str(w, e->peer);
	return w->oom ? -ROUTE_ENOMEM : 0;
}

/* A route's key: "p:+8210", "d:line.example", "d:*.line.example" or "default". */
static void route_key(enum route_match m, const char *value, char key[ROUTE_KEY_SZ])
{
	if (m == ROUTE_MATCH_DEFAULT || !value)
		strcpy(key, "default");
	else
		snprintf(key, ROUTE_KEY_SZ, "%s%s", m == ROUTE_MATCH_PREFIX ? "p:" : "d:", value);
}

/* ------------------------------------------------------------- decoding */

struct rbuf {
	const unsigned char *p;
	size_t len, off;
	bool bad; /* a read went past the end: every later read gives 0 / NULL */
};

static const unsigned char *r_take(struct rbuf *r, size_t n)
{
	const unsigned char *p;

	if (r->bad || r->len - r->off < n) {
		r->bad = true;
		return NULL;
	}
	p = r->p + r->off;
	r->off += n;
	return p;
}

static uint64_t r_uint(struct rbuf *r, size_t bytes)
{
	const unsigned char *b = r_take(r, bytes);
	uint64_t v = 0;

	for (size_t i = 0; b && i < bytes; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

/* A string copied NUL-terminated to *dst, which advances; NULL (and r->bad) when it does not
 * fit *room or holds a NUL byte. */
static const char *r_str(struct rbuf *r, char **dst, size_t *room)
{
	size_t n = (size_t)r_uint(r, 2);
	const unsigned char *s = r_take(r, n);
	char *out = *dst;

	if (!s || n + 1 > *room || memchr(s, '\0', n)) {
		r->bad = true;
		return NULL;
	}
	memcpy(out, s, n);
	out[n] = '\0';
	*dst += n + 1;
	*room -= n + 1;
	return out;
}

/* PF_PINS's part of a peer record into pr->pins: 0, or -1 (and r->bad) when the count is
 * not 1..ROUTE_PINS_MAX, the pins run past the end or a kid is not 16 lower-case hex digits.
 * The rest (until, keys listed twice) the table checks. */
static int r_pins(struct rbuf *r, struct rs_peer_rec *pr)
{
	size_t n = (size_t)r_uint(r, 1);

	if (r->bad || n == 0 || n > ROUTE_PINS_MAX || r->len - r->off < n * PIN_REC_LEN) {
		r->bad = true;
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		struct route_pin *k = &pr->pins[i];

		memcpy(k->pub, r_take(r, sizeof(k->pub)), sizeof(k->pub));
		k->until_ms = (int64_t)r_uint(r, 8);
		memcpy(k->kid, r_take(r, ROUTE_KID_LEN), ROUTE_KID_LEN);
		k->kid[ROUTE_KID_LEN] = '\0';
		if (strspn(k->kid, "0123456789abcdef") != ROUTE_KID_LEN) {
			r->bad = true;
			return -1;
		}
	}
	pr->p.pins = pr->pins;
	pr->p.n_pins = n;
	return 0;
}

void rs_peer_rec_free(struct rs_peer_rec *pr)
{
	free(pr->strs);
	free(pr->owns);
}

/* 0, -ROUTE_ESTORE (corrupt) or -ROUTE_ENOMEM; rs_peer_rec_free(pr) in every case. */
int rs_peer_decode(const void *key, size_t klen, const void *val, size_t vlen,
                   struct rs_peer_rec *pr)
{
	struct rbuf rb = {val, vlen, 0, false};
	struct route_peer *p = &pr->p;
	size_t room = vlen, n;
	unsigned kind, flags;
	char *dst;

	memset(pr, 0, sizeof(*pr));
	if (!(dst = pr->strs = malloc(vlen ? vlen : 1)))
		return -ROUTE_ENOMEM;
	if (r_uint(&rb, 1) != REC_V1)
		return -ROUTE_ESTORE;
	kind = (unsigned)r_uint(&rb, 1);
	flags = (unsigned)r_uint(&rb, 1);
	if (kind > ROUTE_PEER_RELAY || (flags & ~PF_ALL))
		return -ROUTE_ESTORE;
	p->kind = (enum route_peer_kind)kind;
	p->suspended = flags & PF_SUSPENDED;
	p->dir_trusted = flags & PF_DIR_TRUSTED;
	p->name = r_str(&rb, &dst, &room);
	p->token_sha256 = flags & PF_TOKEN ? r_str(&rb, &dst, &room) : NULL;
	p->cert_sha256 = flags & PF_CERT ? r_str(&rb, &dst, &room) : NULL;
	p->outbound_token = flags & PF_OUTBOUND ? r_str(&rb, &dst, &room) : NULL;
	p->rate = (uint32_t)r_uint(&rb, 4);
	p->burst = (uint32_t)r_uint(&rb, 4);
	p->max_size = r_uint(&rb, 8);
	p->max_queue = r_uint(&rb, 8);
	p->n_endpoints = (size_t)r_uint(&rb, 1);
	if (p->n_endpoints > ROUTE_ENDPOINTS_MAX)
		return -ROUTE_ESTORE;
	for (size_t i = 0; i < p->n_endpoints; i++)
		pr->eps[i] = r_str(&rb, &dst, &room);
	p->endpoints = pr->eps;
	n = (size_t)r_uint(&rb, 4);
	if (rb.bad || n > (vlen - rb.off) / 2) /* each string takes two bytes at least */
		return -ROUTE_ESTORE;
	if (n && !(pr->owns = calloc(n, sizeof(*pr->owns))))
		return -ROUTE_ENOMEM;
	for (size_t i = 0; i < n; i++)
		pr->owns[i] = r_str(&rb, &dst, &room);
	p->owns = pr->owns;
	p->n_owns = n;
	if ((flags & PF_PINS) && r_pins(&rb, pr) != 0)
		return -ROUTE_ESTORE;
	if (rb.bad || rb.off != vlen || strlen(p->name) != klen || memcmp(p->name, key, klen))
		return -ROUTE_ESTORE;
	return 0;
}

/* 0 or -ROUTE_ESTORE; value and peer point into bufs. */
int rs_route_decode(const void *key, size_t klen, const void *val, size_t vlen,
                    struct route_entry *e, char value[ROUTE_ADDR_DOMAIN_MAX + 1],
                    char peer[ROUTE_NAME_MAX + 1])
{
	struct rbuf rb = {val, vlen, 0, false};
	size_t vroom = ROUTE_ADDR_DOMAIN_MAX + 1, proom = ROUTE_NAME_MAX + 1;
	char want[ROUTE_KEY_SZ];
	unsigned m;

	memset(e, 0, sizeof(*e));
	if (r_uint(&rb, 1) != REC_V1)
		return -ROUTE_ESTORE;
	m = (unsigned)r_uint(&rb, 1);
	if (m > ROUTE_MATCH_DEFAULT)
		return -ROUTE_ESTORE;
	e->match = (enum route_match)m;
	e->value = r_str(&rb, &value, &vroom);
	e->peer = r_str(&rb, &peer, &proom);
	if (rb.bad || rb.off != vlen)
		return -ROUTE_ESTORE;
	if (e->match == ROUTE_MATCH_DEFAULT) {
		if (e->value[0] != '\0')
			return -ROUTE_ESTORE;
		e->value = NULL;
	}
	route_key(e->match, e->value, want);
	if (strlen(want) != klen || memcmp(want, key, klen) != 0)
		return -ROUTE_ESTORE;
	return 0;
}

/* ---------------------------------------------------------------- store */

static int store_rc(int qrc)
{
	return qrc == 0 ? 0 : qrc == -QUEUE_EFULL ? -ROUTE_EFULL : -ROUTE_ESTORE;
}

/* Puts (w non-NULL) or deletes a key and waits for the commit; nothing without a store. */
static int kv_write(struct routing *r, const char *table, const char *key, const struct rs_wbuf *w)
{
	struct queue_op op = {.type = w ? QUEUE_OP_KV_PUT : QUEUE_OP_KV_DEL};

	if (!r->q)
		return 0;
	op.u.kv = (struct queue_op_kv){.table = table,
	                               .key = key,
	                               .klen = strlen(key),
	                               .val = w ? w->p : NULL,
	                               .vlen = w ? w->len : 0,
	                               .control = true}; /* peers and routes */
	return store_rc(queue_exec(r->q, &op));
}

/* ------------------------------------------------------------ name sets */

struct name_set {
	char (*v)[ROUTE_NAME_MAX + 1];
	size_t n, cap;
};

static bool names_has(const struct name_set *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i], name) == 0)
			return true;
	return false;
}

static int names_add(struct name_set *s, const char *name, size_t len)
{
	if (len > ROUTE_NAME_MAX)
		return -ROUTE_EINVAL;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		void *p = realloc(s->v, cap * sizeof(*s->v));
		if (!p)
			return -ROUTE_ENOMEM;
		s->v = p;
		s->cap = cap;
	}
	memcpy(s->v[s->n], name, len);
	s->v[s->n++][len] = '\0';
	return 0;
}

/* ----------------------------------------------------------------- load */

struct load {
	struct route_table *t;
	struct name_set overlays; /* config peers suspended at run time */
	struct name_set cfg_susp; /* config peers the config file suspends */
	int rc;                   /* the first error a scan callback met */
	char *err;                /* what it was, for the operator (NULL: not wanted) */
	size_t errlen;
};

/* l->rc for the operator: what in the store (a stored "peer \"x\"") met it. */
static void load_error(struct load *l, const char *what, size_t wlen)
{
	if (l->err)
		snprintf(l->err, l->errlen, "%.*s in the store: %s", (int)(wlen > 80 ? 80 : wlen),
			 what,
			 l->rc == -ROUTE_ESTORE ? "a record this interlinkd does not read (written "
						  "by a newer version, or damaged)"
						: route_strerror(l->rc));
}

/* A route as the config file writes it: prefix "+8210", domain "x.example", default. */
static const char *route_name(const struct route_entry *e, char *buf, size_t size)
{
	static const char *const kinds[] = {"prefix", "domain"};

	if (e->match == ROUTE_MATCH_DEFAULT)
		return "default";
	snprintf(buf, size, "%s \"%s\"", kinds[e->match], e->value ? e->value : "");
	return buf;
}

static int scan_overlay(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct load *l = arg;
	const char *name = (const char *)key + SUSP_KEY_LEN;
	size_t n = klen - SUSP_KEY_LEN;

	l->rc = -ROUTE_ESTORE;
	if (vlen == 1 && *(const unsigned char *)val == REC_V1 && n > 0 && n <= ROUTE_NAME_MAX &&
	    !memchr(name, '\0', n)) {
		l->rc = names_add(&l->overlays, name, n);
		if (l->rc == 0 && !rt_name_ok(l->overlays.v[l->overlays.n - 1]))
			l->rc = -ROUTE_ESTORE;
	}
	if (l->rc != 0)
		load_error(l, key, klen); /* "suspended:NAME" */
	return l->rc != 0;
}

/* A stored record that the table refuses is corrupt; -ROUTE_EEXIST means the config file
 * defines the same peer or route, and the config wins. */
static int stored_rc(int rc)
{
	if (rc == -ROUTE_EEXIST)
		return 0;
	return rc == -ROUTE_EINVAL ? -ROUTE_ESTORE : rc;
}

static int scan_peer(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct load *l = arg;
	struct rs_peer_rec pr;

	if (memchr(key, ':', klen)) /* an overlay: scan_overlay read it */
		return 0;
	l->rc = rs_peer_decode(key, klen, val, vlen, &pr);
	if (l->rc == 0)
		l->rc = stored_rc(route_table_add_peer(l->t, &pr.p));
	if (l->rc != 0) {
		char what[ROUTE_NAME_MAX + 16];
		int shown = (int)(klen > ROUTE_NAME_MAX ? ROUTE_NAME_MAX : klen);
		int n = snprintf(what, sizeof(what), "peer \"%.*s\"", shown, (const char *)key);
		load_error(l, what, (size_t)n);
	}
	rs_peer_rec_free(&pr);
	return l->rc != 0;
}

/* A stored route naming a peer that is gone (a config peer removed from the file) fails the
 * load with -ROUTE_ENOPEER: the node keeps its old config rather than drop the route. */
static int scan_route(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct load *l = arg;
	char value[ROUTE_ADDR_DOMAIN_MAX + 1], peer[ROUTE_NAME_MAX + 1];
	struct route_entry e;

	l->rc = rs_route_decode(key, klen, val, vlen, &e, value, peer);
	if (l->rc == 0)
		l->rc = stored_rc(route_table_add_route(l->t, &e));
	if (l->rc != 0 && l->err) {
		char name[ROUTE_ADDR_DOMAIN_MAX + 16];
		if (l->rc == -ROUTE_ENOPEER)
			snprintf(l->err, l->errlen, "the route %s, added at run time, names peer "
				 "\"%s\", which is no longer defined: define it again, or delete "
				 "the route first (console, interlinkctl)",
				 route_name(&e, name, sizeof(name)), e.peer);
		else
			load_error(l, key, klen); /* "p:+8210", "d:x.example", "default" */
	}
	return l->rc != 0;
}

static int scan(struct routing *r, struct load *l, const char *table, const char *prefix,
                int (*fn)(const void *, size_t, const void *, size_t, void *))
{
	int rc = queue_kv_scan(r->q, table, NULL, 0, prefix, prefix ? strlen(prefix) : 0, fn, l);

	return l->rc ? l->rc : store_rc(rc);
}

static int load_config(struct load *l, const struct route_peer *peers, size_t n_peers)
{
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < n_peers; i++) {
		struct route_peer p = peers[i];
		if (p.suspended && p.name)
			rc = names_add(&l->cfg_susp, p.name, strlen(p.name));
		p.read_only = true;
		p.suspended = p.suspended || (p.name && names_has(&l->overlays, p.name));
		if (rc == 0)
			rc = route_table_add_peer(l->t, &p);
	}
	return rc;
}

/* Without a store, the current table stands in for it: its run-time entries carry over, and
 * a config peer it shows suspended that the config file did not suspend was braked at run
 * time. */
static int memory_overlays(struct routing *r, struct load *l)
{
	const struct route_table *cur = routing_acquire(r);
	const struct name_set cfg = {r->cfg_suspended, r->n_cfg_suspended, r->n_cfg_suspended};
	const struct route_peer *p;
	int rc = 0;

	for (size_t i = 0; rc == 0 && (p = route_table_peer_at(cur, i)); i++)
		if (p->read_only && p->suspended && !names_has(&cfg, p->name))
			rc = names_add(&l->overlays, p->name, strlen(p->name));
	routing_release(cur);
	return rc;
}

static int memory_entries(struct routing *r, struct load *l, bool routes)
{
	const struct route_table *cur = routing_acquire(r);
	const struct route_peer *p;
	const struct route_entry *e;
	int rc = 0;

	for (size_t i = 0; !routes && rc == 0 && (p = route_table_peer_at(cur, i)); i++)
		if (!p->read_only)
			rc = stored_rc(route_table_add_peer(l->t, p));
	for (size_t i = 0; routes && rc == 0 && (e = route_table_route_at(cur, i)); i++)
		if (!e->read_only)
			rc = stored_rc(route_table_add_route(l->t, e));
	routing_release(cur);
	return rc;
}

/* Config entries first (read-only, so they win), then the stored ones. */
static int load_build(struct routing *r, struct load *l, const struct route_peer *peers,
                      size_t n_peers, const struct route_entry *routes, size_t n_routes)
{
	int rc;

	if (!(l->t = route_table_new()))
		return -ROUTE_ENOMEM;
	rc = r->q ? scan(r, l, T_PEERS, SUSP_KEY, scan_overlay) : memory_overlays(r, l);
	if (rc == 0)
		rc = load_config(l, peers, n_peers);
	if (rc == 0)
		rc = r->q ? scan(r, l, T_PEERS, NULL, scan_peer) : memory_entries(r, l, false);
	for (size_t i = 0; rc == 0 && i < n_routes; i++) {
		struct route_entry e = routes[i];
		e.read_only = true;
		rc = route_table_add_route(l->t, &e);
	}
	if (rc == 0)
		rc = r->q ? scan(r, l, T_ROUTES, NULL, scan_route) : memory_entries(r, l, true);
	return rc;
}

int routing_load(struct routing *r, const struct route_peer *peers, size_t n_peers,
                 const struct route_entry *routes, size_t n_routes, char *err, size_t errlen)
{
	struct load l = {.err = errlen ? err : NULL, .errlen = errlen};
	int rc;

	if (l.err)
		l.err[0] = '\0';

	if (!r || (n_peers && !peers) || (n_routes && !routes))
		return -ROUTE_EINVAL;
	pthread_mutex_lock(&r->write_lock);
	rc = load_build(r, &l, peers, n_peers, routes, n_routes);
	if (rc == 0) {
		routing_publish(r, l.t);
		free(r->cfg_suspended);
		r->cfg_suspended = l.cfg_susp.v;
		r->n_cfg_suspended = l.cfg_susp.n;
		l.cfg_susp.v = NULL;
	} else {
		route_table_free(l.t);
	}
	pthread_mutex_unlock(&r->write_lock);
	free(l.overlays.v);
	free(l.cfg_susp.v);
	return rc;
}

/* -------------------------------------------------------------- changes */

enum change_op { CH_PUT_PEER, CH_DEL_PEER, CH_SUSPEND, CH_PUT_ROUTE, CH_DEL_ROUTE };

struct change {
	enum change_op op;
	const char *name;                /* the peer changed (PUT_PEER, DEL_PEER, SUSPEND) */
	const struct route_peer *peer;   /* PUT_PEER: its new definition */
	bool suspended;                  /* SUSPEND */
	const struct route_entry *route; /* PUT_ROUTE: the new route; DEL_ROUTE: match, value */
};

static bool same_route(const struct route_entry *a, const struct route_entry *b)
{
	if (a->match != b->match)
		return false;
	return a->match == ROUTE_MATCH_DEFAULT ||
	       (a->value && b->value && strcmp(a->value, b->value) == 0);
}

static int derive_peers(const struct route_table *old, const struct change *c,
                        struct route_table *t)
{
	const struct route_peer *p;
	struct route_peer np;
	bool hit = false;
	int rc = 0;

	for (size_t i = 0; rc == 0 && (p = route_table_peer_at(old, i)); i++) {
		np = *p;
		if (c->name && strcmp(p->name, c->name) == 0) {
			hit = true;
			if (c->op == CH_DEL_PEER)
				continue;
			if (c->op == CH_PUT_PEER)
				np = *c->peer;
			else
				np.suspended = c->suspended;
			np.read_only = p->read_only && c->op == CH_SUSPEND;
		}
		rc = route_table_add_peer(t, &np);
	}
	if (rc == 0 && c->op == CH_PUT_PEER && !hit) {
		np = *c->peer;
		np.read_only = false;
		rc = route_table_add_peer(t, &np);
	}
	return rc;
}

static int derive_routes(const struct route_table *old, const struct change *c,
                         struct route_table *t)
{
	const struct route_entry *e;
	struct route_entry ne;
	bool hit = false;
	int rc = 0;

	for (size_t i = 0; rc == 0 && (e = route_table_route_at(old, i)); i++) {
		ne = *e;
		if (c->route && same_route(e, c->route)) {
			hit = true;
			if (c->op == CH_DEL_ROUTE)
				continue;
			ne = *c->route;
			ne.read_only = false;
		}
		rc = route_table_add_route(t, &ne);
	}
	if (rc == 0 && c->op == CH_PUT_ROUTE && !hit) {
		ne = *c->route;
		ne.read_only = false;
		rc = route_table_add_route(t, &ne);
	}
	return rc;
}

/* The table that follows old after c, in the same order (a new entry last). Every entry goes
 * through the public add calls, so the result is validated as a fresh table would be. */
static int derive(const struct route_table *old, const struct change *c, struct route_table **out)
{
	struct route_table *t = route_table_new();
	int rc;

	if (!t)
		return -ROUTE_ENOMEM;
	rc = derive_peers(old, c, t);
	if (rc == 0)
		rc = derive_routes(old, c, t);
	if (rc) {
		route_table_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

static bool peer_in_use(const struct route_table *t, const char *name)
{
	const struct route_entry *e;

	for (size_t i = 0; (e = route_table_route_at(t, i)); i++)
		if (strcmp(e->peer, name) == 0)
			return true;
	return false;
}

/* What the current table says about c, before anything is built. */
static int change_check(struct routing *r, const struct route_table *cur, const struct change *c)
{
	const struct name_set cfg = {r->cfg_suspended, r->n_cfg_suspended, r->n_cfg_suspended};
	const struct route_peer *p = c->name ? route_table_peer(cur, c->name) : NULL;
	const struct route_entry *e = NULL;

	if (c->route)
		e = rt_route_find(cur, c->route->match, c->route->value);
	switch (c->op) {
	case CH_PUT_PEER:
		return p && p->read_only ? -ROUTE_EREADONLY : 0;
	case CH_DEL_PEER:
		if (!p)
			return -ROUTE_ENOTFOUND;
		if (p->read_only)
			return -ROUTE_EREADONLY;
		return peer_in_use(cur, p->name) ? -ROUTE_EINUSE : 0;
	case CH_SUSPEND:
		if (!p)
			return -ROUTE_ENOTFOUND;
		return p->read_only && !c->suspended && names_has(&cfg, p->name) ? -ROUTE_EREADONLY
		                                                                 : 0;
	case CH_PUT_ROUTE:
		return e && e->read_only ? -ROUTE_EREADONLY : 0;
	case CH_DEL_ROUTE:
		if (!e)
			return -ROUTE_ENOTFOUND;
		return e->read_only ? -ROUTE_EREADONLY : 0;
	}
	return -ROUTE_EINVAL;
}

/* Writes what c changed, as next holds it. */
static int change_store(struct routing *r, const struct route_table *next, const struct change *c)
{
	const struct route_peer *p = c->name ? route_table_peer(next, c->name) : NULL;
	const struct route_entry *e = NULL;
	char key[ROUTE_KEY_SZ + SUSP_KEY_LEN];
	struct rs_wbuf w = {0};
	int rc = 0;

	if (!r->q)
		return 0;
	if (c->op == CH_DEL_PEER)
		return kv_write(r, T_PEERS, c->name, NULL);
	if (c->op == CH_SUSPEND && p->read_only) {
		snprintf(key, sizeof(key), "%s%s", SUSP_KEY, p->name);
		w_uint(&w, REC_V1, 1);
		rc = w.oom ? -ROUTE_ENOMEM : kv_write(r, T_PEERS, key, p->suspended ? &w : NULL);
	} else if (p) {
		rc = rs_peer_encode(p, &w);
		rc = rc ? rc : kv_write(r, T_PEERS, p->name, &w);
	} else {
		route_key(c->route->match, c->route->value, key);
		e = rt_route_find(next, c->route->match, c->route->value);
		rc = e ? rs_route_encode(e, &w) : 0;
		rc = rc ? rc : kv_write(r, T_ROUTES, key, e ? &w : NULL);
	}
	free(w.p);
	return rc;
}

/* One run-time change: check, build the next table, write the store, publish; one at a time,
 * so the store and the published table never disagree. */
static int change_run(struct routing *r, const struct change *c)
{
	struct route_table *next = NULL;
	const struct route_table *cur;
	int rc;

	pthread_mutex_lock(&r->write_lock);
	cur = routing_acquire(r);
	rc = change_check(r, cur, c);
	if (rc == 0)
		rc = derive(cur, c, &next);
	/* a deleted peer's pending directory lines go with it (approved ones stay, and are
	 * skipped while no peer has the name); first, so that a failure leaves the peer */
	if (rc == 0 && c->op == CH_DEL_PEER)
		rc = rd_drop_pending_of(r, c->name);
	if (rc == 0)
		rc = change_store(r, next, c);
	if (rc == 0)
		routing_publish(r, next);
	else
		route_table_free(next);
	routing_release(cur);
	pthread_mutex_unlock(&r->write_lock);
	return rc;
}

int routing_put_peer(struct routing *r, const struct route_peer *p)
{
	if (!r || !p || !rt_name_ok(p->name))
		return -ROUTE_EINVAL;
	return change_run(r, &(struct change){.op = CH_PUT_PEER, .name = p->name, .peer = p});
}

int routing_del_peer(struct routing *r, const char *name)
{
	if (!r || !rt_name_ok(name))
		return -ROUTE_EINVAL;
	return change_run(r, &(struct change){.op = CH_DEL_PEER, .name = name});
}

int routing_set_suspended(struct routing *r, const char *name, bool suspended)
{
	if (!r || !rt_name_ok(name))
		return -ROUTE_EINVAL;
	return change_run(r,
	                  &(struct change){.op = CH_SUSPEND, .name = name, .suspended = suspended});
}

int routing_put_route(struct routing *r, const struct route_entry *e)
{
	if (!r || !e || (e->match != ROUTE_MATCH_DEFAULT && !e->value))
		return -ROUTE_EINVAL;
	return change_run(r, &(struct change){.op = CH_PUT_ROUTE, .route = e});
}

int routing_del_route(struct routing *r, enum route_match match, const char *value)
{
	struct route_entry e = {.match = match,
	                        .value = match == ROUTE_MATCH_DEFAULT ? NULL : value};

	if (!r || (match != ROUTE_MATCH_DEFAULT && !value))
		return -ROUTE_EINVAL;
	return change_run(r, &(struct change){.op = CH_DEL_ROUTE, .route = &e});
}
