/*
 * The route table: an immutable snapshot of peers and routes, looked up with a few hash probes
 * and shared by readers under a reference count (RCU-style); and the module handle that holds
 * the current snapshot. Built once, then published; never changed after that.
 */
#include "routing/routing_priv.h"

#include <assert.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define E164_DIGITS_MAX 15
#define RT_URL_MAX      2048 /* endpoints */
#define RT_TOKEN_MAX    1024 /* outbound token */
#define RT_HEX_LEN      64   /* SHA-256 in hex */
#define RT_CHUNK        (64 * 1024)

/* ---------------------------------------------------------------- arena
 * Every string and array of a table lives in its arena and goes with it in one sweep: a table
 * is built once and never edited, so nothing is freed one by one. */

struct rt_chunk {
	struct rt_chunk *next;
	size_t used, size;
	alignas(max_align_t) unsigned char data[];
};

static void *arena_alloc(struct rt_chunk **arena, size_t n, size_t align)
{
	struct rt_chunk *c = *arena;
	size_t at = c ? (c->used + align - 1) & ~(align - 1) : 0;

	if (!c || at + n > c->size) {
		size_t size = n > RT_CHUNK ? n : RT_CHUNK;
		c = malloc(sizeof(*c) + size);
		if (!c)
			return NULL;
		c->size = size;
		c->next = *arena;
		*arena = c;
		at = 0;
	}
	c->used = at + n;
	return c->data + at;
}

static char *arena_strdup(struct rt_chunk **arena, const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = arena_alloc(arena, n, 1);

	if (d)
		memcpy(d, s, n);
	return d;
}

/* ----------------------------------------------------------------- hash
 * Open addressing, linear probing, capacity a power of two, at most 3/4 full. A slot keeps
 * the key's hash (a mismatch costs no string compare) and the index of its peer or route.
 * FNV-1a is computed byte by byte, so the hashes of all prefixes of a number come from one
 * pass; a final mix spreads the low bits that pick the slot. */

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME  0x100000001b3ULL

struct rt_slot {
	const char *key; /* NULL: empty; else NUL-terminated, in the table's arena */
	uint32_t hash;
	uint32_t idx;
};

struct rt_hash {
	struct rt_slot *slot;
	size_t cap, n; /* cap: 0 or a power of two */
};

static inline uint64_t fnv_step(uint64_t h, unsigned char c)
{
	return (h ^ c) * FNV_PRIME;
}

static inline uint32_t fnv_final(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (uint32_t)h;
}

static uint32_t hash_bytes(const char *s, size_t n)
{
	uint64_t h = FNV_OFFSET;

	for (size_t i = 0; i < n; i++)
		h = fnv_step(h, (unsigned char)s[i]);
	return fnv_final(h);
}

/* The slot whose key is exactly the n bytes at key (not NUL-terminated), or NULL. */
static const struct rt_slot *hash_find(const struct rt_hash *h, const char *key, size_t n,
                                       uint32_t hv)
{
	size_t mask = h->cap - 1;

	if (h->cap == 0)
		return NULL;
	for (size_t i = hv & mask;; i = (i + 1) & mask) {
		const struct rt_slot *s = &h->slot[i];
		if (!s->key)
			return NULL;
		if (s->hash == hv && strncmp(s->key, key, n) == 0 && s->key[n] == '\0')
			return s;
	}
}

static void hash_insert(struct rt_hash *h, const char *key, uint32_t hv, uint32_t idx)
{
	size_t mask = h->cap - 1, i = hv & mask;

	while (h->slot[i].key)
		i = (i + 1) & mask;
	h->slot[i] = (struct rt_slot){key, hv, idx};
	h->n++;
}

/* Makes room for one more key; 0 or -ROUTE_ENOMEM. */
static int hash_reserve(struct rt_hash *h)
{
	struct rt_hash g;

	if ((h->n + 1) * 4 <= h->cap * 3)
		return 0;
	g.cap = h->cap ? h->cap * 2 : 16;
	g.n = 0;
	g.slot = calloc(g.cap, sizeof(*g.slot));
	if (!g.slot)
		return -ROUTE_ENOMEM;
	for (size_t i = 0; i < h->cap; i++)
		if (h->slot[i].key)
			hash_insert(&g, h->slot[i].key, h->slot[i].hash, h->slot[i].idx);
	free(h->slot);
	*h = g;
	return 0;
}

static const struct rt_slot *hash_get(const struct rt_hash *h, const char *key)
{
	size_t n = strlen(key);
	return hash_find(h, key, n, hash_bytes(key, n));
}

/* ---------------------------------------------------------------- table */

struct route_table {
	atomic_size_t refs;       /* once published: the module's reference plus readers' */
	struct rt_chunk *arena;   /* every string and array below the top-level ones */
	struct route_peer *peers; /* in the order added */
	size_t n_peers, cap_peers;
	struct route_entry *routes; /* in the order added */
	size_t n_routes, cap_routes;
	struct rt_hash peer_names; /* name → peers[] */
	struct rt_hash prefixes;   /* "+8210" → routes[] */
	struct rt_hash domains;    /* "line.example" → routes[] */
	struct rt_hash wildcards;  /* "line.example" for "*.line.example" → routes[] */
	uint32_t prefix_lens;      /* bit n set: a prefix route of n digits exists */
	bool has_default;
	size_t default_idx;
};

struct route_table *route_table_new(void)
{
	struct route_table *t = calloc(1, sizeof(*t));

	if (t)
		atomic_init(&t->refs, 0);
	return t;
}

void route_table_free(struct route_table *t)
{
	struct rt_chunk *c, *next;

	if (!t)
		return;
	for (c = t->arena; c; c = next) {
		next = c->next;
		free(c);
	}
	free(t->peers);
	free(t->routes);
	free(t->peer_names.slot);
	free(t->prefixes.slot);
	free(t->domains.slot);
	free(t->wildcards.slot);
	free(t);
}

/* An array of `size`-byte elements with room for one more than n: arr itself, or arr moved
 * (*cap updated); NULL when out of memory (arr is untouched then). Indexes stay < 2^32. */
static void *grow(void *arr, size_t *cap, size_t n, size_t size)
{
	size_t ncap;

	if (n < *cap)
		return arr;
	ncap = *cap ? *cap * 2 : 16;
	if (ncap > UINT32_MAX || ncap > SIZE_MAX / size || !(arr = realloc(arr, ncap * size)))
		return NULL;
	*cap = ncap;
	return arr;
}

/* ----------------------------------------------------------- validation */

bool rt_name_ok(const char *s)
{
	size_t n = 0;

	if (!s)
		return false;
	for (; s[n]; n++) {
		unsigned char c = (unsigned char)s[n];
		if (n >= ROUTE_NAME_MAX)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return n > 0;
}

static bool hex64_ok(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (n >= RT_HEX_LEN || !strchr("0123456789abcdef", s[n]))
			return false;
	return n == RT_HEX_LEN;
}

/* 1..max bytes of visible ASCII (no space, no control byte): safe in an HTTP request line
 * or header, so an endpoint or token can never smuggle a header. */
static bool visible_ok(const char *s, size_t max)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (n >= max || (unsigned char)s[n] <= ' ' || (unsigned char)s[n] >= 0x7f)
			return false;
	return n > 0;
}

static bool url_ok(const char *s)
{
	size_t skip;

	if (!s || !visible_ok(s, RT_URL_MAX))
		return false;
	if (strncmp(s, "http://", 7) == 0)
		skip = 7;
	else if (strncmp(s, "https://", 8) == 0)
		skip = 8;
	else
		return false;
	return s[skip] != '\0' && s[skip] != '/'; /* a host follows */
}

/* A normalised prefix ("+8210") or domain ("line.example", "*.line.example"): parsing it
 * again must give the same text, so that one value has exactly one spelling. A domain whose
 * last label is all digits is refused (no top-level domain is, RFC 3696 2): it is an IP
 * address or, far likelier, a prefix that lost its "+" ("8210", "0082"). */
static bool value_ok(enum route_match m, const char *v)
{
	char buf[ROUTE_ADDR_DOMAIN_MAX + 1];
	const char *last;
	size_t n;

	if (!v)
		return false;
	n = strlen(v);
	if (m == ROUTE_MATCH_PREFIX)
		return route_prefix_parse(v, n, buf, sizeof(buf)) == 0 && strcmp(buf, v) == 0;
	if (route_domain_parse(v, n, 1, buf, sizeof(buf)) != 0 || strcmp(buf, v) != 0)
		return false;
	last = strrchr(v, '.');
	last = last ? last + 1 : v;
	return strspn(last, "0123456789") < strlen(last);
}

/* At most ROUTE_PINS_MAX pins, each with a kid of 16 lower-case hex digits and an until that
 * is 0 or a time; no key twice (one key, one pin: two would leave its until ambiguous). The
 * kid is not recomputed here (routing has no SHA-256): whoever makes a pin computes it. */
static bool pins_ok(const struct route_pin *pins, size_t n)
{
	if (n > ROUTE_PINS_MAX || (n && !pins))
		return false;
	for (size_t i = 0; i < n; i++) {
		const struct route_pin *k = &pins[i];

		if (strnlen(k->kid, sizeof(k->kid)) != ROUTE_KID_LEN ||
		    strspn(k->kid, "0123456789abcdef") != ROUTE_KID_LEN || k->until_ms < 0)
			return false;
		for (size_t j = 0; j < i; j++)
			if (memcmp(pins[j].pub, k->pub, sizeof(k->pub)) == 0)
				return false;
	}
	return true;
}

static bool peer_ok(const struct route_peer *p)
{
	if (!rt_name_ok(p->name))
		return false;
	if (p->kind != ROUTE_PEER_CARRIER && p->kind != ROUTE_PEER_RELAY)
		return false;
	if ((p->token_sha256 && !hex64_ok(p->token_sha256)) ||
	    (p->cert_sha256 && !hex64_ok(p->cert_sha256)))
		return false;
	if (p->outbound_token && !visible_ok(p->outbound_token, RT_TOKEN_MAX))
		return false;
	if (p->n_endpoints > ROUTE_ENDPOINTS_MAX || (p->n_endpoints && !p->endpoints))
		return false;
	for (size_t i = 0; i < p->n_endpoints; i++)
		if (!url_ok(p->endpoints[i]))
			return false;
	if (p->n_owns && !p->owns)
		return false;
	for (size_t i = 0; i < p->n_owns; i++) {
		const char *o = p->owns[i];
		if (!o || !value_ok(o[0] == '+' ? ROUTE_MATCH_PREFIX : ROUTE_MATCH_DOMAIN, o))
			return false;
	}
	return pins_ok(p->pins, p->n_pins);
}

/* ---------------------------------------------------------------- peers */

/* A copy of n strings in the arena, and the array that points at them; NULL when n is 0. */
static const char *const *copy_strv(struct rt_chunk **arena, const char *const *v, size_t n,
                                    int *rc)
{
	const char **out;

	if (n == 0)
		return NULL;
	out = arena_alloc(arena, n * sizeof(*out), alignof(const char *));
	for (size_t i = 0; out && i < n; i++)
		if (!(out[i] = arena_strdup(arena, v[i])))
			out = NULL;
	if (!out)
		*rc = -ROUTE_ENOMEM;
	return out;
}

/* A copy of n pins in the arena; NULL when n is 0. */
static const struct route_pin *copy_pins(struct rt_chunk **arena, const struct route_pin *v,
                                         size_t n, int *rc)
{
	struct route_pin *out;

	if (n == 0)
		return NULL;
	out = arena_alloc(arena, n * sizeof(*out), alignof(struct route_pin));
	if (out)
		memcpy(out, v, n * sizeof(*out));
	else
		*rc = -ROUTE_ENOMEM;
	return out;
}

static const char *copy_opt(struct rt_chunk **arena, const char *s, int *rc)
{
	char *d;

	if (!s)
		return NULL;
	if (!(d = arena_strdup(arena, s)))
		*rc = -ROUTE_ENOMEM;
	return d;
}

int route_table_add_peer(struct route_table *t, const struct route_peer *p)
{
	struct route_peer c, *peers;
	int rc = 0;

	assert(t != NULL);
	if (!p || !peer_ok(p))
		return -ROUTE_EINVAL;
	if (hash_get(&t->peer_names, p->name))
		return -ROUTE_EEXIST;
	if (!(peers = grow(t->peers, &t->cap_peers, t->n_peers, sizeof(*peers))))
		return -ROUTE_ENOMEM;
	t->peers = peers;
	if (hash_reserve(&t->peer_names))
		return -ROUTE_ENOMEM;
	c = *p;
	c.name = copy_opt(&t->arena, p->name, &rc);
	c.token_sha256 = copy_opt(&t->arena, p->token_sha256, &rc);
	c.cert_sha256 = copy_opt(&t->arena, p->cert_sha256, &rc);
	c.outbound_token = copy_opt(&t->arena, p->outbound_token, &rc);
	c.endpoints = copy_strv(&t->arena, p->endpoints, p->n_endpoints, &rc);
	c.owns = copy_strv(&t->arena, p->owns, p->n_owns, &rc);
	c.pins = copy_pins(&t->arena, p->pins, p->n_pins, &rc);
	if (rc)
		return rc; /* what was copied stays in the arena until the table goes */
	t->peers[t->n_peers] = c;
	hash_insert(&t->peer_names, c.name, hash_bytes(c.name, strlen(c.name)),
	            (uint32_t)t->n_peers);
	t->n_peers++;
	return 0;
}

const struct route_peer *route_table_peer(const struct route_table *t, const char *name)
{
	const struct rt_slot *s;

	if (!t || !name)
		return NULL;
	s = hash_get(&t->peer_names, name);
	return s ? &t->peers[s->idx] : NULL;
}

const struct route_peer *route_table_peer_at(const struct route_table *t, size_t i)
{
	return t && i < t->n_peers ? &t->peers[i] : NULL;
}

/* --------------------------------------------------------------- routes
 *
 * Ties: two routes with the same prefix (or the same domain, or two defaults) are refused
 * when added (-ROUTE_EEXIST), so a table never holds two candidates of equal length and a
 * lookup never has to break a tie: its answer is always the single longest match. */

/* The hash a route's value goes into; NULL for the default route. */
static struct rt_hash *route_hash(struct route_table *t, enum route_match m, const char *v,
                                  const char **key)
{
	*key = v;
	if (m == ROUTE_MATCH_PREFIX)
		return &t->prefixes;
	if (m != ROUTE_MATCH_DOMAIN)
		return NULL;
	if (v[0] == '*' && v[1] == '.') { /* "*." and a domain: match anything under it */
		*key = v + 2;
		return &t->wildcards;
	}
	return &t->domains;
}

const struct route_entry *rt_route_find(const struct route_table *t, enum route_match m,
                                        const char *value)
{
	const struct rt_hash *h;
	const struct rt_slot *s;
	const char *key;

	if (!t)
		return NULL;
	if (m == ROUTE_MATCH_DEFAULT)
		return t->has_default ? &t->routes[t->default_idx] : NULL;
	if ((m != ROUTE_MATCH_PREFIX && m != ROUTE_MATCH_DOMAIN) || !value)
		return NULL;
	h = route_hash((struct route_table *)t, m, value, &key);
	s = hash_get(h, key);
	return s ? &t->routes[s->idx] : NULL;
}

static bool route_ok(const struct route_entry *r)
{
	if (!r || !rt_name_ok(r->peer))
		return false;
	switch (r->match) {
	case ROUTE_MATCH_DEFAULT:
		return r->value == NULL;
	case ROUTE_MATCH_PREFIX:
	case ROUTE_MATCH_DOMAIN:
		return value_ok(r->match, r->value);
	}
	return false; /* not a match kind at all */
}

int route_table_add_route(struct route_table *t, const struct route_entry *r)
{
	const struct route_peer *p;
	struct route_entry c, *routes;
	struct rt_hash *h;
	const char *key;

	assert(t != NULL);
	if (!route_ok(r))
		return -ROUTE_EINVAL;
	if (!(p = route_table_peer(t, r->peer)))
		return -ROUTE_ENOPEER;
	if (rt_route_find(t, r->match, r->value))
		return -ROUTE_EEXIST;
	if (!(routes = grow(t->routes, &t->cap_routes, t->n_routes, sizeof(*routes))))
		return -ROUTE_ENOMEM;
	t->routes = routes;
	c = *r;
	c.peer = p->name; /* the table's own copy */
	h = r->match == ROUTE_MATCH_DEFAULT ? NULL : route_hash(t, r->match, r->value, &key);
	if (h) {
		if (!(c.value = arena_strdup(&t->arena, r->value)) || hash_reserve(h))
			return -ROUTE_ENOMEM;
		key = c.value + (key - r->value);
		hash_insert(h, key, hash_bytes(key, strlen(key)), (uint32_t)t->n_routes);
		if (r->match == ROUTE_MATCH_PREFIX)
			t->prefix_lens |= 1u << (strlen(key) - 1);
	} else {
		t->has_default = true;
		t->default_idx = t->n_routes;
	}
	t->routes[t->n_routes++] = c;
	return 0;
}

const struct route_entry *route_table_route_at(const struct route_table *t, size_t i)
{
	return t && i < t->n_routes ? &t->routes[i] : NULL;
}

/* --------------------------------------------------------------- lookup */

/* The longest prefix route of "+<digits>": one FNV pass gives the hash of every prefix,
 * then only the lengths that some route has are probed, longest first. */
static const struct route_entry *lookup_prefix(const struct route_table *t, const char *text,
                                               size_t len)
{
	uint64_t h[E164_DIGITS_MAX + 1], st = FNV_OFFSET;
	size_t nd = len - 1;
	uint32_t lens;
	int top;

	if (len < 2 || nd > E164_DIGITS_MAX || text[0] != '+')
		return NULL;
	lens = t->prefix_lens & ((2u << nd) - 1);
	if (!lens)
		return NULL;
	top = 31 - __builtin_clz(lens);
	st = fnv_step(st, '+');
	for (int i = 1; i <= top; i++)
		h[i] = st = fnv_step(st, (unsigned char)text[i]);
	while (lens) {
		int n = 31 - __builtin_clz(lens);
		const struct rt_slot *s =
		    hash_find(&t->prefixes, text, (size_t)n + 1, fnv_final(h[n]));
		if (s)
			return &t->routes[s->idx];
		lens &= ~(1u << n);
	}
	return NULL;
}

/* "a.b.c": exact "a.b.c", then "*.b.c", then "*.c" (a wildcard never matches its own base). */
static const struct route_entry *lookup_domain(const struct route_table *t, const char *d, size_t n)
{
	const struct rt_slot *s = hash_find(&t->domains, d, n, hash_bytes(d, n));

	for (size_t i = 0; !s && i < n; i++) {
		if (d[i] != '.')
			continue;
		s = hash_find(&t->wildcards, d + i + 1, n - i - 1,
		              hash_bytes(d + i + 1, n - i - 1));
	}
	return s ? &t->routes[s->idx] : NULL;
}

int route_table_lookup(const struct route_table *t, const struct route_addr *to,
                       const struct route_entry **out)
{
	const struct route_entry *e = NULL;
	const char *at;

	assert(t != NULL && to != NULL && out != NULL);
	if (to->kind == ROUTE_ADDR_E164) {
		e = lookup_prefix(t, to->text, to->len);
	} else if (to->kind == ROUTE_ADDR_HANDLE && (at = memchr(to->text, '@', to->len))) {
		at++;
		e = lookup_domain(t, at, to->len - (size_t)(at - to->text));
	}
	if (!e && t->has_default)
		e = &t->routes[t->default_idx];
	if (!e)
		return -ROUTE_ENOROUTE;
	*out = e;
	return 0;
}

/* ------------------------------------------------------------ the module
 *
 * Readers and the writer meet at r->current. A reader locks r->lock only to read the pointer
 * and take a reference; it then uses the table without any lock, as long as it likes. The
 * writer builds a whole new table off to the side, swaps the pointer under the same lock and
 * drops the module's reference to the old one; the last reader to release it frees it.
 * Chosen over a read-write lock because a reader never waits for a writer that rebuilds
 * 100 000 routes, and a writer never waits for a slow reader: both hold the mutex only for a
 * pointer copy and an atomic increment. */

struct routing *routing_new(const char *node_id, struct queue *q, const struct route_breaker *b)
{
	struct routing *r;

	if (!rt_name_ok(node_id) || !(r = calloc(1, sizeof(*r))))
		return NULL;
	strcpy(r->node_id, node_id);
	r->q = q;
	if (pthread_mutex_init(&r->lock, NULL) != 0)
		goto fail_lock;
	if (pthread_mutex_init(&r->write_lock, NULL) != 0)
		goto fail_write_lock;
	if (!(r->current = route_table_new()))
		goto fail;
	atomic_store(&r->current->refs, 1);
	if (!(r->health = rh_new(b)))
		goto fail;
	return r;
fail:
	route_table_free(r->current);
	pthread_mutex_destroy(&r->write_lock);
fail_write_lock:
	pthread_mutex_destroy(&r->lock);
fail_lock:
	free(r);
	return NULL;
}

void routing_free(struct routing *r)
{
	if (!r)
		return;
	rh_free(r->health);
	routing_release(r->current);
	free(r->cfg_suspended);
	pthread_mutex_destroy(&r->write_lock);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

void routing_publish(struct routing *r, struct route_table *t)
{
	struct route_table *old;

	assert(r != NULL && t != NULL);
	atomic_store_explicit(&t->refs, 1, memory_order_relaxed); /* the mutex publishes it */
	pthread_mutex_lock(&r->lock);
	old = r->current;
	r->current = t;
	pthread_mutex_unlock(&r->lock);
	routing_release(old);
}

const struct route_table *routing_acquire(struct routing *r)
{
	struct route_table *t;

	assert(r != NULL);
	pthread_mutex_lock(&r->lock);
	t = r->current;
	atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
	pthread_mutex_unlock(&r->lock);
	return t;
}

void routing_release(const struct route_table *ct)
{
	/* Tables are allocated writable; only readers see them as const. */
	struct route_table *t = (struct route_table *)ct;

	if (!t)
		return;
	if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1)
		route_table_free(t);
}
