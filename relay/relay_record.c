/*
 * The envelope as the queue stores it: a compact, versioned binary record, and a decoder
 * that trusts nothing it reads back (a corrupt or foreign record is refused, never read
 * past its end), as OpenSMTPD validates its envelopes.
 *
 * Layout, version 1. Integers are little-endian; "str" is a u16 length then that many
 * bytes (no NUL); offsets after the fixed head depend on the lengths before them.
 *
 *   off  size     field
 *   0    1        version = 1
 *   1    1        kind: 0 message, 1 report
 *   2    1        flags: bit 0 is_text, bit 1 dlr, bit 2 sealed (version 2), bit 3 trust,
 *                 bits 4-7 zero (is_text is 0 in a report)
 *   3    1        prio: 0..3
 *   4    8        ts_ms: int64, >= 0
 *   12   4        ttl_s: uint32, >= 1
 *   16   1        n_hops: 0..16
 *   17   str      id: 1..64 bytes of [A-Za-z0-9._:-]
 *   ..   str      rid: 0 bytes (none) or 26 of Crockford base32 (0-9 A-Z but I L O U)
 *   ..   1 + str  from: address kind (1 E.164, 2 handle), then the normalised text
 *                 (1..318 bytes) that route_addr_parse gives back unchanged
 *   ..   1 + str  to: the same
 *   ..   str      type: 1..127 bytes of printable ASCII holding a '/'
 *   ..   str * n  hops: n_hops node ids, 1..64 bytes of [A-Za-z0-9._-] each
 *   then, when flags bit 3 (trust) is set, in a message:
 *   ..   1        level: 0..3, the link this node adds when it sends the message on
 *   ..   1        n_att: 0..16, then n_att links, oldest first:
 *   ..   str        rid: 0 or 26 bytes of Crockford base32
 *   ..   str        peer: 1..64 bytes of [A-Za-z0-9._-]
 *   ..   1          level: 1 owned, 2 directory, 3 relayed
 *   ..   str        to: 0 bytes (the envelope's), or a normalised address as for from
 *   ..   sig        the link's signature (below)
 *   or in a report:
 *   ..   str      via: 0..64 bytes of [A-Za-z0-9._-]
 *   ..   1        has_rsig: 0 or 1, then a sig when 1
 *   where a sig is:
 *   ..   str        node: 1..64 bytes of [A-Za-z0-9._-]
 *   ..   str        kid: 16 lower-case hex digits
 *   ..   8          at_ms: int64, >= 0
 *   ..   1          n_proof: 0..16, then n_proof steps of 1 side (0 right, 1 left) + 32 hash
 *   ..   64         the Ed25519 signature
 *   The section is written only when it holds something (a message: level or a link; a
 *   report: via or has_rsig), so that records without trust data stay as they were;
 *   then, in a message:
 *   ..   4 + n    body: uint32 length n, then n bytes (valid UTF-8 without NUL if is_text)
 *   or, in a report:
 *   ..   str      ref: 26 bytes of Crockford base32
 *   ..   1        status: 1 delivered, 2 expired, 3 failed
 *   ..   str      reason: 0..255 bytes of valid UTF-8 without NUL
 *   ..   8        at_ms: int64, >= 0
 *   and nothing after it.
 *
 * Version 2 is a message whose body is sealed (encryption at rest, relay_seal.c): the same
 * up to the hops (and the trust section, if any), with flags bit 2 (sealed) set, then
 * instead of the body:
 *   ..   str      key id: 1..32 bytes of [A-Za-z0-9._-], the key that sealed it
 *   ..   12       nonce: random, one per record
 *   ..   4 + n    ciphertext: uint32 length n, then n bytes (AES-256-GCM of the body)
 *   ..   16       tag
 *   and nothing after it. The associated data is every byte before the ciphertext (the
 * head, ids, addresses, type, hops, trust section, key id, nonce and length): the body is
 * bound to its envelope, not to the rid, which the queue assigns after the record is
 * encoded; the record is never rewritten after that (a retry, failover or admin move
 * changes only the queue's status), so nothing is ever sealed twice. Reports are never sealed (they hold no body).
 */
#include "relay/relay_priv.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define RECORD_VERSION 1
#define RECORD_SEALED  2 /* the version of a record with a sealed body */
#define HEAD_SIZE      17
#define FLAG_TEXT      0x01
#define FLAG_DLR       0x02
#define FLAG_SEALED    0x04
#define FLAG_TRUST     0x08
#define SIG_FIXED      (8 + 1 + RELAY_SIG_LEN) /* at_ms, n_proof, the signature */
#define STEP_SIZE      (1 + RELAY_HASH_LEN)
#define SEAL_EXTRA     (RELAY_SEAL_NONCE_LEN + RELAY_SEAL_TAG_LEN)
#define PRIO_MAX       3

/* ---------------------------------------------------------------- encoding */

static void put_le(unsigned char **p, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		*(*p)++ = (unsigned char)(v >> (8 * i));
}

static void put_bytes(unsigned char **p, const void *s, size_t n)
{
	if (n)
		memcpy(*p, s, n);
	*p += n;
}

/* A NUL-terminated array member as str; strnlen keeps an unterminated one inside it. */
static void put_str(unsigned char **p, const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	put_le(p, n, 2);
	put_bytes(p, s, n);
}

static size_t str_size(const char *s, size_t cap)
{
	return 2 + strnlen(s, cap);
}

#define PUT_STR(p, member) put_str((p), (member), sizeof(member))
#define STR_SIZE(member)   str_size((member), sizeof(member))

/* Whether env has a trust section to write. */
static bool has_trust(const struct relay_envelope *env)
{
	if (env->kind == RELAY_ENV_REPORT)
		return env->via[0] || env->has_rsig;
	return env->level != RELAY_LEVEL_NONE || env->n_att > 0;
}

static size_t sig_size(const struct relay_sig *s)
{
	return STR_SIZE(s->node) + STR_SIZE(s->kid) + SIG_FIXED + s->n_proof * STEP_SIZE;
}

static size_t trust_size(const struct relay_envelope *env)
{
	size_t n;

	if (!has_trust(env))
		return 0;
	if (env->kind == RELAY_ENV_REPORT)
		return STR_SIZE(env->via) + 1 + (env->has_rsig ? sig_size(&env->rsig) : 0);
	n = 2;
	for (size_t i = 0; i < env->n_att; i++) {
		const struct relay_att *a = &env->att[i];

		n += STR_SIZE(a->rid) + STR_SIZE(a->peer) + 1 + STR_SIZE(a->to) + sig_size(&a->sig);
	}
	return n;
}

static void put_sig(unsigned char **p, const struct relay_sig *s)
{
	PUT_STR(p, s->node);
	PUT_STR(p, s->kid);
	put_le(p, (uint64_t)s->at_ms, 8);
	put_le(p, s->n_proof, 1);
	for (size_t i = 0; i < s->n_proof; i++) {
		put_le(p, s->proof[i].left, 1);
		put_bytes(p, s->proof[i].hash, RELAY_HASH_LEN);
	}
	put_bytes(p, s->sig, RELAY_SIG_LEN);
}

static void put_trust(unsigned char **p, const struct relay_envelope *env)
{
	if (env->kind == RELAY_ENV_REPORT) {
		PUT_STR(p, env->via);
		put_le(p, env->has_rsig, 1);
		if (env->has_rsig)
			put_sig(p, &env->rsig);
		return;
	}
	put_le(p, (uint64_t)env->level, 1);
	put_le(p, env->n_att, 1);
	for (size_t i = 0; i < env->n_att; i++) {
		const struct relay_att *a = &env->att[i];

		PUT_STR(p, a->rid);
		PUT_STR(p, a->peer);
		put_le(p, (uint64_t)a->level, 1);
		PUT_STR(p, a->to);
		put_sig(p, &a->sig);
	}
}

static size_t record_size(const struct relay_envelope *env)
{
	size_t n = HEAD_SIZE + STR_SIZE(env->id) + STR_SIZE(env->rid) + 1 +
		   STR_SIZE(env->from.text) + 1 + STR_SIZE(env->to.text) + STR_SIZE(env->type);

	for (size_t i = 0; i < env->n_hops; i++)
		n += STR_SIZE(env->hops[i]);
	n += trust_size(env);
	if (env->kind == RELAY_ENV_REPORT)
		return n + STR_SIZE(env->ref) + 1 + STR_SIZE(env->reason) + 8;
	return n + 4 + env->body_len;
}

int relay_envelope_encode(const struct relay_envelope *env, unsigned char **out, size_t *len)
{
	return relay_record_encode(NULL, env, out, len);
}

/* The sealed tail of a version-2 record; p points past the hops. */
static int put_sealed(const struct relay_keyring *keys, const struct relay_envelope *env,
		      unsigned char *buf, unsigned char *p)
{
	const char *id = relay_keyring_newest(keys);
	unsigned char *nonce;
	int rc;

	put_str(&p, id, RELAY_SEAL_ID_MAX + 1);
	nonce = p;
	if ((rc = relay_seal_nonce(nonce)) != 0)
		return rc;
	p += RELAY_SEAL_NONCE_LEN;
	put_le(&p, env->body_len, 4);
	return relay_seal(keys, nonce, buf, (size_t)(p - buf), (const unsigned char *)env->body,
			  env->body_len, p, p + env->body_len);
}

int relay_record_encode(const struct relay_keyring *keys, const struct relay_envelope *env,
			unsigned char **out, size_t *len)
{
	bool report = env->kind == RELAY_ENV_REPORT;
	bool sealed = keys && !report;
	unsigned flags = (env->is_text && !report ? FLAG_TEXT : 0) | (env->dlr ? FLAG_DLR : 0) |
			 (sealed ? FLAG_SEALED : 0) | (has_trust(env) ? FLAG_TRUST : 0);
	unsigned char *buf, *p;
	size_t size;
	int rc;

	/* What the parser and the decoder produce never breaks these. */
	assert(env->n_hops <= RELAY_ENV_HOPS_MAX);
	assert(report || env->body_len <= UINT32_MAX);
	assert(report || env->body || env->body_len == 0);
	assert(report || (env->n_att <= RELAY_ATT_MAX && (env->att || env->n_att == 0) &&
			  env->level <= RELAY_LEVEL_RELAYED));
	for (size_t i = 0; !report && i < env->n_att; i++)
		assert(env->att[i].sig.n_proof <= RELAY_PROOF_MAX);
	assert(!report || !env->has_rsig || env->rsig.n_proof <= RELAY_PROOF_MAX);
	size = record_size(env);
	if (sealed) { /* the key id as a str, the nonce and the tag */
		assert(relay_keyring_newest(keys));
		size += 2 + strlen(relay_keyring_newest(keys)) + SEAL_EXTRA;
	}
	buf = malloc(size);
	if (!buf)
		return -RELAY_ENOMEM;
	p = buf;
	put_le(&p, sealed ? RECORD_SEALED : RECORD_VERSION, 1);
	put_le(&p, report ? 1 : 0, 1);
	put_le(&p, flags, 1);
	put_le(&p, env->prio, 1);
	put_le(&p, (uint64_t)env->ts_ms, 8);
	put_le(&p, env->ttl_s, 4);
	put_le(&p, env->n_hops, 1);
	PUT_STR(&p, env->id);
	PUT_STR(&p, env->rid);
	put_le(&p, (uint64_t)env->from.kind, 1);
	PUT_STR(&p, env->from.text);
	put_le(&p, (uint64_t)env->to.kind, 1);
	PUT_STR(&p, env->to.text);
	PUT_STR(&p, env->type);
	for (size_t i = 0; i < env->n_hops; i++)
		PUT_STR(&p, env->hops[i]);
	if (flags & FLAG_TRUST)
		put_trust(&p, env);
	if (sealed) {
		if ((rc = put_sealed(keys, env, buf, p)) != 0) {
			free(buf);
			return rc;
		}
		p = buf + size;
	} else if (report) {
		PUT_STR(&p, env->ref);
		put_le(&p, (uint64_t)env->status, 1);
		PUT_STR(&p, env->reason);
		put_le(&p, (uint64_t)env->at_ms, 8);
	} else {
		put_le(&p, env->body_len, 4);
		put_bytes(&p, env->body, env->body_len);
	}
	assert((size_t)(p - buf) == size);
	*out = buf;
	*len = size;
	return 0;
}

/* ---------------------------------------------------------------- decoding */

/* A cursor over the record; once `bad` is set every read yields zero and nothing more. */
struct rd {
	const unsigned char *p;
	size_t left;
	bool bad;
};

static uint64_t get_le(struct rd *r, size_t n)
{
	uint64_t v = 0;

	if (r->bad || r->left < n) {
		r->bad = true;
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)r->p[i] << (8 * i);
	r->p += n;
	r->left -= n;
	return v;
}

/* An int64 that must be >= 0. */
static int64_t get_ms(struct rd *r)
{
	uint64_t v = get_le(r, 8);

	if (v > INT64_MAX)
		r->bad = true;
	return r->bad ? 0 : (int64_t)v;
}

/* A str of min..max bytes into dst (room for max + 1), NUL-terminated; its length. */
static size_t get_str(struct rd *r, char *dst, size_t min, size_t max)
{
	size_t n = (size_t)get_le(r, 2);

	dst[0] = '\0';
	if (r->bad || n < min || n > max || n > r->left) {
		r->bad = true;
		return 0;
	}
	memcpy(dst, r->p, n);
	dst[n] = '\0';
	r->p += n;
	r->left -= n;
	return n;
}

/* A str of at most max bytes that obeys `ok`, one of relay_rules.c's rules. */
static void get_token(struct rd *r, char *dst, size_t max, bool (*ok)(const char *, size_t))
{
	size_t n = get_str(r, dst, 0, max);

	if (!r->bad && !ok(dst, n))
		r->bad = true;
}

/* The rid is optional: none, or a whole one. */
static bool rid_or_none(const char *s, size_t len)
{
	return len == 0 || rr_rid_ok(s, len);
}

/* Length of the UTF-8 sequence a lead byte starts, or 0 for a byte that cannot lead. */
static size_t utf8_lead(unsigned char c)
{
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return 2;
	if (c >= 0xe0 && c <= 0xef)
		return 3;
	if (c >= 0xf0 && c <= 0xf4)
		return 4;
	return 0;
}

/*
 * Valid UTF-8 without NUL, overlong forms or surrogates: what jansson accepts as a JSON
 * string, so that relay_envelope_to_json cannot fail on a record read back.
 */
static bool utf8_ok(const unsigned char *s, size_t len)
{
	for (size_t i = 0, n; i < len; i += n) {
		uint32_t cp = s[i];

		n = utf8_lead(s[i]);
		if (s[i] == 0 || n == 0 || n > len - i)
			return false;
		if (n > 1)
			cp &= 0x7f >> n; /* the lead byte's payload bits */
		for (size_t k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
			return false;
	}
	return true;
}

/* An address is stored normalised: parsing it again must give it back unchanged. */
static bool addr_normal(const char *text, size_t n, struct route_addr *a)
{
	return route_addr_parse(text, n, NULL, a) == 0 && a->len == n &&
	       memcmp(a->text, text, n + 1) == 0;
}

static void get_addr(struct rd *r, struct route_addr *a)
{
	char text[ROUTE_ADDR_MAX];
	uint64_t kind = get_le(r, 1);
	size_t n = get_str(r, text, 1, ROUTE_ADDR_MAX - 1);

	if (r->bad)
		return;
	if (!addr_normal(text, n, a) || (uint64_t)a->kind != kind)
		r->bad = true;
}

/* ------------------------------------------------------ the trust section */

static void get_bytes(struct rd *r, void *dst, size_t n)
{
	if (r->bad || r->left < n) {
		r->bad = true;
		return;
	}
	memcpy(dst, r->p, n);
	r->p += n;
	r->left -= n;
}

static bool kid_ok(const char *s, size_t len)
{
	if (len != RELAY_KID_LEN)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool name_or_none(const char *s, size_t len)
{
	return len == 0 || rr_node_id_ok(s, len);
}

static void get_sig(struct rd *r, struct relay_sig *s)
{
	uint64_t n, side;

	get_token(r, s->node, RELAY_NODE_ID_MAX, rr_node_id_ok);
	get_token(r, s->kid, RELAY_KID_LEN, kid_ok);
	s->at_ms = get_ms(r);
	n = get_le(r, 1);
	if (n > RELAY_PROOF_MAX)
		r->bad = true;
	for (size_t i = 0; !r->bad && i < n; i++) {
		side = get_le(r, 1);
		if (side > 1)
			r->bad = true;
		s->proof[i].left = side == 1;
		get_bytes(r, s->proof[i].hash, RELAY_HASH_LEN);
	}
	s->n_proof = r->bad ? 0 : (uint8_t)n;
	get_bytes(r, s->sig, RELAY_SIG_LEN);
}

static void get_link(struct rd *r, struct relay_att *a)
{
	struct route_addr addr;
	uint64_t level;
	size_t n;

	get_token(r, a->rid, RELAY_RID_LEN, rid_or_none);
	get_token(r, a->peer, RELAY_NODE_ID_MAX, rr_node_id_ok);
	level = get_le(r, 1);
	if (level < RELAY_LEVEL_OWNED || level > RELAY_LEVEL_RELAYED)
		r->bad = true;
	a->level = r->bad ? RELAY_LEVEL_NONE : (enum relay_att_level)level;
	n = get_str(r, a->to, 0, ROUTE_ADDR_MAX - 1);
	if (!r->bad && n && !addr_normal(a->to, n, &addr))
		r->bad = true;
	get_sig(r, &a->sig);
}

/* The trust section; a new env->att when it holds links. Written only when not empty. */
static int get_trust(struct rd *r, struct relay_envelope *env)
{
	uint64_t level, n, has;

	if (env->kind == RELAY_ENV_REPORT) {
		get_token(r, env->via, RELAY_NODE_ID_MAX, name_or_none);
		has = get_le(r, 1);
		if (has > 1 || (has == 0 && !env->via[0]))
			r->bad = true;
		env->has_rsig = !r->bad && has == 1;
		if (env->has_rsig)
			get_sig(r, &env->rsig);
		return 0;
	}
	level = get_le(r, 1);
	n = get_le(r, 1);
	if (level > RELAY_LEVEL_RELAYED || n > RELAY_ATT_MAX || (level == 0 && n == 0))
		r->bad = true;
	if (r->bad)
		return 0;
	env->level = (enum relay_att_level)level;
	if (n && !(env->att = calloc((size_t)n, sizeof *env->att)))
		return -RELAY_ENOMEM;
	env->n_att = (size_t)n;
	for (size_t i = 0; !r->bad && i < env->n_att; i++)
		get_link(r, &env->att[i]);
	return 0;
}

/* The fixed head and every field both kinds share; whether the body is sealed, and in
 * *trust whether a trust section follows. */
static bool get_common(struct rd *r, struct relay_envelope *env, bool *trust)
{
	uint64_t version, kind, flags, prio, n_hops;
	bool sealed;

	version = get_le(r, 1);
	if (version != RECORD_VERSION && version != RECORD_SEALED)
		r->bad = true;
	kind = get_le(r, 1);
	flags = get_le(r, 1);
	prio = get_le(r, 1);
	env->ts_ms = get_ms(r);
	env->ttl_s = (uint32_t)get_le(r, 4);
	n_hops = get_le(r, 1);
	sealed = flags & FLAG_SEALED;
	*trust = flags & FLAG_TRUST;
	if (kind > 1 || flags & ~(uint64_t)(FLAG_TEXT | FLAG_DLR | FLAG_SEALED | FLAG_TRUST) ||
	    prio > PRIO_MAX || env->ttl_s == 0 || n_hops > RELAY_ENV_HOPS_MAX ||
	    (kind == 1 && (flags & FLAG_TEXT)) || sealed != (version == RECORD_SEALED) ||
	    (sealed && kind != 0))
		r->bad = true;
	if (r->bad)
		return false;
	env->kind = kind ? RELAY_ENV_REPORT : RELAY_ENV_MESSAGE;
	env->is_text = flags & FLAG_TEXT;
	env->dlr = flags & FLAG_DLR;
	env->prio = (uint8_t)prio;
	env->n_hops = (size_t)n_hops;
	get_token(r, env->id, RELAY_ENV_ID_MAX, rr_id_ok);
	get_token(r, env->rid, RELAY_RID_LEN, rid_or_none);
	get_addr(r, &env->from);
	get_addr(r, &env->to);
	get_token(r, env->type, RELAY_ENV_TYPE_MAX, rr_type_ok);
	for (size_t i = 0; i < env->n_hops; i++)
		get_token(r, env->hops[i], RELAY_NODE_ID_MAX, rr_node_id_ok);
	return sealed;
}

static void get_report(struct rd *r, struct relay_envelope *env)
{
	uint64_t status;
	size_t n;

	get_token(r, env->ref, RELAY_RID_LEN, rr_rid_ok);
	status = get_le(r, 1);
	if (status < RELAY_REPORT_DELIVERED || status > RELAY_REPORT_FAILED)
		r->bad = true;
	env->status = r->bad ? 0 : (enum relay_report_status)status;
	n = get_str(r, env->reason, 0, RELAY_ENV_REASON_MAX);
	if (!utf8_ok((const unsigned char *)env->reason, n))
		r->bad = true;
	env->at_ms = get_ms(r);
}

/* A sealed body (version 2): opened under its key into a new env->body, then checked. */
static int get_sealed(struct rd *r, const struct relay_keyring *keys, const unsigned char *start,
		      struct relay_envelope *env)
{
	char id[RELAY_SEAL_ID_MAX + 1];
	const unsigned char *nonce;
	size_t n;
	int rc;

	get_token(r, id, RELAY_SEAL_ID_MAX, rr_seal_id_ok);
	nonce = r->p;
	if (!r->bad && r->left < RELAY_SEAL_NONCE_LEN)
		r->bad = true;
	if (r->bad)
		return -RELAY_ERECORD;
	r->p += RELAY_SEAL_NONCE_LEN;
	r->left -= RELAY_SEAL_NONCE_LEN;
	n = (size_t)get_le(r, 4);
	if (r->bad || r->left < RELAY_SEAL_TAG_LEN || n != r->left - RELAY_SEAL_TAG_LEN)
		return -RELAY_ERECORD;
	if (!(env->body = malloc(n + 1)))
		return -RELAY_ENOMEM;
	rc = relay_unseal(keys, id, nonce, start, (size_t)(r->p - start), r->p, n,
			  (unsigned char *)env->body, r->p + n);
	if (rc != 0)
		return rc == -RELAY_ENOMEM ? rc : -RELAY_EKEY;
	env->body[n] = '\0';
	env->body_len = n;
	r->p += n + RELAY_SEAL_TAG_LEN;
	r->left = 0;
	if (env->is_text && !utf8_ok((const unsigned char *)env->body, n))
		return -RELAY_ERECORD;
	return 0;
}

/* The body: its length is checked against what is left before anything is allocated. */
static int get_body(struct rd *r, struct relay_envelope *env)
{
	size_t n = (size_t)get_le(r, 4);

	if (r->bad || n > r->left || (env->is_text && !utf8_ok(r->p, n)))
		return -RELAY_ERECORD;
	env->body = malloc(n + 1);
	if (!env->body)
		return -RELAY_ENOMEM;
	if (n)
		memcpy(env->body, r->p, n);
	env->body[n] = '\0';
	env->body_len = n;
	r->p += n;
	r->left -= n;
	return 0;
}

int relay_envelope_decode(const void *buf, size_t len, struct relay_envelope *out)
{
	return relay_record_decode(NULL, buf, len, out);
}

int relay_record_decode(const struct relay_keyring *keys, const void *buf, size_t len,
			struct relay_envelope *out)
{
	struct rd r = {buf, len, false};
	bool sealed, trust = false;
	int rc = 0;

	memset(out, 0, sizeof *out);
	if (!buf)
		return -RELAY_ERECORD;
	sealed = get_common(&r, out, &trust);
	if (trust && !r.bad)
		rc = get_trust(&r, out);
	if (!rc && out->kind == RELAY_ENV_REPORT)
		get_report(&r, out);
	else if (!rc && !r.bad)
		rc = sealed ? get_sealed(&r, keys, buf, out) : get_body(&r, out);
	if (!rc && (r.bad || r.left != 0))
		rc = -RELAY_ERECORD;
	if (rc)
		relay_envelope_clear(out);
	return rc;
}
