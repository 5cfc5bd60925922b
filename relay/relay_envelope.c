/*
 * Envelope v1 on the wire: strict JSON parsing and validation (one object or a batch of
 * them). Serialisation back to compact JSON and the error object a carrier gets back are
 * relay_envelope_out.c's.
 * A message's attestation chain ("att") and a report's "via" and "sig" are parsed and
 * written here too; their statements and signatures are relay_trust.c's.
 * The binary record kept in the queue is relay_record.c's.
 */
#include "relay/relay_priv.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TS_AHEAD_MS  86400000LL /* a submission time may be at most a day ahead */
#define PRIO_MAX     3
#define PRIO_DEFAULT 1

/* ------------------------------------------------------------------ errors */

/*
 * Copies src into dst (always NUL-terminated), replacing control and non-ASCII bytes
 * by '?': error texts quote input (keys), are cut to fit, and
 * go back to the carrier as JSON strings, which must stay valid UTF-8.
 */
static void copy_text(char *dst, size_t size, const char *src)
{
	size_t i = 0;

	for (; src[i] && i + 1 < size; i++)
		dst[i] = (src[i] >= 0x20 && src[i] <= 0x7e) ? src[i] : '?';
	dst[i] = '\0';
}

/* Fills err (the code follows from rc) and returns rc. */
static int fail(struct relay_env_error *err, int rc, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(struct relay_env_error *err, int rc, const char *field, const char *fmt, ...)
{
	char buf[sizeof err->reason];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	/* -RELAY_ENOMEM gets "bad_json" only to keep code one of the three; callers go by rc. */
	err->code = rc == -RELAY_EFIELD ? "bad_field" : rc == -RELAY_ETOOBIG ? "too_large"
									  : "bad_json";
	copy_text(err->field, sizeof err->field, field);
	copy_text(err->reason, sizeof err->reason, buf);
	return rc;
}

/* ------------------------------------------------------------ field table */

struct pctx {
	const struct relay_env_limits *lim;
	struct relay_envelope *env;
	struct relay_env_error *err;
};

enum {
	F_REQ = 1,         /* required in every envelope */
	F_REQ_REPORT = 2,  /* required in a report */
	F_REPORT_ONLY = 4, /* refused in a message */
	F_EARLY = 8,       /* v and kind: read before the others */
	F_MSG_ONLY = 16,   /* refused in a report */
};

struct field {
	const char *name;
	enum rj_type type; /* RJ_TRUE stands for a boolean */
	unsigned flags;
	int (*set)(struct pctx *c, const struct field *f, const struct rj_val *v);
	size_t off;        /* where the value goes in struct relay_envelope */
	size_t max;        /* set_token: the room there, in bytes before the NUL */
	bool (*ok)(const char *s, size_t len); /* set_token: relay_rules.c's, or NULL */
	const char *rule;  /* the reason given when the value breaks the field's rule */
};

#define AT(c, f, T) ((T *)(void *)((char *)(c)->env + (f)->off))

static int bad(struct pctx *c, const struct field *f, const char *reason)
{
	return fail(c->err, -RELAY_EFIELD, f->name, "%s", reason);
}

/* A string field's text; apply() has checked the type and the absence of NUL. */
static const char *str(const struct rj_val *v, size_t *len)
{
	return rj_str(v, len);
}

/* id, rid, ref, reason: bounded strings copied as they are. */
static int set_token(struct pctx *c, const struct field *f, const struct rj_val *v)
{
	size_t len;
	const char *s = str(v, &len);

	if (len > f->max || (f->ok && !f->ok(s, len)))
		return bad(c, f, f->rule);
	memcpy(AT(c, f, char), s, len + 1);
	return 0;
}

static int set_v(struct pctx *c, const struct field *f, const struct rj_val *v)
{
	return rj_int(v) == 1 ? 0 : bad(c, f, f->rule);
}

static int set_kind(struct pctx *c, const struct field *f, const struct rj_val *v)
{
	const char *s = rj_str(v, NULL);

	if (strcmp(s, "message") == 0)
		c->env->kind = RELAY_ENV_MESSAGE;
	else if (strcmp(s, "report") == 0)
		c->env->kind = RELAY_ENV_REPORT;
	else
		return bad(c, f, f->rule);
	return 0;
}

/* from, to: the reason is routing's own text ("national number without ..."). */
static int set_addr(struct pctx *c, const struct field *f, const struct rj_val *v)
{
	size_t len;
	const char *s = str(v, &len);
	int rc = route_addr_parse(s, len, c->lim->default_country, AT(c, f, struct route_addr));

	return rc ? bad(c, f, route_strerror(rc)) : 0;
}

static int set_ts(struct pctx *c, const struct field *f, const struct rj_val *v)
{
	int64_t x = rj_int(v);
	int64_t now = c->lim->now_ms;

	if (x < 0)
		return bad(c, f, f->rule);
	if (now <= INT64_MAX - TS_AHEAD_MS && x > now + TS_AHEAD_MS)
		return bad(c, f, "is in the future (more than a day ahead of this node's clock)");
	c->env->ts_ms = x;
	return 0;
}

static int set_ttl(struct pctx *c, const struct field *f, const struct rj_val *v)
{
	int64_t x = rj_int(v);

	if (x < 1 || x > (int64_t)c->lim->max_ttl_s)
		return fail(c->err, -RELAY_EFIELD, f->name, "must be 1 to %u seconds",
			    (unsigned)c->lim->max_ttl_s);
	c->env->ttl_s = (uint32_t)x;
	return 0;
}

static int set_type(struct pctx *c, const struct field *f, const struct rj_val *v)
{
	size_t len;
	const char *s = str(v, &len);

	if (!rr_type_ok(s, len))
		return bad(c, f, f->rule);
	memcpy(c->env->type, s, len + 1);
	return 0;
}

static int too_large(struct pctx *c, const struct field *f)
{
	return fail(c->err, -RELAY_ETOOBIG, f->name, "is larger than the limit of %zu bytes",
		    c->lim->max_body);
}

static int no_memory(struct pctx *c)
{
	return fail(c->err, -RELAY_ENOMEM, "", "out of memory");
}

static int set_text(struct pctx *c, const struct field *f, const struct rj_val *v)
{
	size_t len;
	const char *s = str(v, &len);

	if (len > c->lim->max_body)
		return too_large(c, f);
	c->env->body = malloc(len + 1);
	if (!c->env->body)
		return no_memory(c);
	memcpy(c->env->body, s, len + 1);
	c->env->body_len = len;
	c->env->is_text = true;
	return 0;
}

/* The size is known from the length alone, so an oversized body is refused unallocated. */
static int set_body(struct pctx *c, const struct field *f, const struct rj_val *v)
{
	size_t len, n;
	const char *s = str(v, &len);

	if (rr_b64_decoded_len(s, len, &n) != 0)
		return bad(c, f, f->rule);
	if (n > c->lim->max_body)
		return too_large(c, f);
	c->env->body = malloc(n + 1);
	if (!c->env->body)
		return no_memory(c);
	if (rr_b64_decode(s, len, c->env->body, n, &n) != 0)
		return bad(c, f, f->rule);
	c->env->body[n] = '\0';
	c->env->body_len = n;
	return 0;
}

static int set_dlr(struct pctx *c, const struct field *f, const struct rj_val *v)
{
	(void)f;
	c->env->dlr = rj_type(v) == RJ_TRUE;
	return 0;
}

static int set_prio(struct pctx *c, const struct field *f, const struct rj_val *v)
{
	int64_t x = rj_int(v);

	if (x < 0 || x > PRIO_MAX)
		return bad(c, f, f->rule);
	c->env->prio = (uint8_t)x;
	return 0;
}

static int set_hops(struct pctx *c, const struct field *f, const struct rj_val *v)
{
	size_t i = 0;

	if (rj_size(v) > RELAY_ENV_HOPS_MAX)
		return fail(c->err, -RELAY_EFIELD, f->name, "must hold at most %d node ids",
			    RELAY_ENV_HOPS_MAX);
	for (const struct rj_val *h = rj_first(v); h; h = rj_next(h), i++) {
		size_t len;
		const char *s = rj_str(h, &len);

		if (!s || !rr_node_id_ok(s, len))
			return fail(c->err, -RELAY_EFIELD, f->name, "element %zu %s", i, f->rule);
		memcpy(c->env->hops[i], s, len + 1);
	}
	c->env->n_hops = rj_size(v);
	return 0;
}

static const char *const status_names[] = {
	[RELAY_REPORT_DELIVERED] = "delivered",
	[RELAY_REPORT_EXPIRED] = "expired",
	[RELAY_REPORT_FAILED] = "failed",
};

const char *relay_report_status_name(enum relay_report_status status)
{
	return status >= RELAY_REPORT_DELIVERED && status <= RELAY_REPORT_FAILED
		       ? status_names[status]
		       : NULL;
}

static int set_status(struct pctx *c, const struct field *f, const struct rj_val *v)
{
	for (int i = RELAY_REPORT_DELIVERED; i <= RELAY_REPORT_FAILED; i++) {
		if (strcmp(rj_str(v, NULL), status_names[i]) == 0) {
			c->env->status = (enum relay_report_status)i;
			return 0;
		}
	}
	return bad(c, f, f->rule);
}

static int set_at(struct pctx *c, const struct field *f, const struct rj_val *v)
{
	int64_t x = rj_int(v);

	if (x < 0)
		return bad(c, f, f->rule);
	c->env->at_ms = x;
	return 0;
}

/* ------------------------------------------------ att, via and sig (trust) */

#define RID_RULE "must be 26 upper-case Crockford base32 characters"

static const char *const level_names[] = {
	[RELAY_LEVEL_NONE] = "",
	[RELAY_LEVEL_OWNED] = "owned",
	[RELAY_LEVEL_DIRECTORY] = "directory",
	[RELAY_LEVEL_RELAYED] = "relayed",
};

const char *relay_att_level_name(enum relay_att_level level)
{
	return level > RELAY_LEVEL_NONE && level <= RELAY_LEVEL_RELAYED ? level_names[level] : "";
}

enum relay_att_level relay_att_level_parse(const char *s)
{
	for (int i = RELAY_LEVEL_OWNED; s && i <= RELAY_LEVEL_RELAYED; i++)
		if (strcmp(s, level_names[i]) == 0)
			return (enum relay_att_level)i;
	return RELAY_LEVEL_NONE;
}

static const char *const type_reasons[] = {
	[RJ_OBJECT] = "must be an object",
	[RJ_STRING] = "must be a string",
	[RJ_INTEGER] = "must be an integer",
	[RJ_TRUE] = "must be true or false",
	[RJ_ARRAY] = "must be an array",
};

/* Whether object member v's key is name (a key holding NUL is no name's). */
static bool key_is(const struct rj_val *v, const char *name)
{
	size_t len;
	const char *key = rj_key(v, &len);

	return strlen(name) == len && memcmp(key, name, len) == 0;
}

/* Member v's key for an error's field (NUL shown as '?', copy_text does the rest). */
static const char *key_text(const struct rj_val *v, char *buf, size_t size)
{
	size_t len, i;
	const char *key = rj_key(v, &len);

	for (i = 0; i < len && i + 1 < size; i++)
		buf[i] = key[i] ? key[i] : '?';
	buf[i] = '\0';
	return buf;
}

#define SIG_B64_LEN 88 /* std base64 of RELAY_SIG_LEN bytes, padded */
#define PROOF_TEXT  (2 + 2 * RELAY_HASH_LEN) /* "l:" or "r:", then the hash in hex */

static const char *const link_members[] = {
	"node", "rid", "peer", "level", "to", "kid", "at", "proof", "sig", NULL};
static const char *const rsig_members[] = {"node", "kid", "at", "proof", "sig", NULL};

/* Where a link or a report's sig is read: errors name `field` and start with `pfx`. */
struct lctx {
	struct pctx *c;
	const char *field; /* "att" or "sig" */
	char pfx[32];      /* "att[3]" or "sig" */
	const struct rj_val *obj;
	int rc;            /* the first error */
};

static int lbad(struct lctx *l, const char *member, const char *reason)
{
	if (!l->rc)
		l->rc = fail(l->c->err, -RELAY_EFIELD, l->field, "%s.%s: %s", l->pfx, member,
			     reason);
	return l->rc;
}

/* The member of type t, NULL when absent (an error when required) or after an error. */
static const struct rj_val *member(struct lctx *l, const char *name, enum rj_type t,
				   bool required)
{
	const struct rj_val *v;
	const char *s;
	size_t len;

	if (l->rc)
		return NULL;
	if (!(v = rj_get(l->obj, name))) {
		if (required)
			lbad(l, name, "is required");
		return NULL;
	}
	if (rj_type(v) != t) {
		lbad(l, name, type_reasons[t]);
		return NULL;
	}
	if (t == RJ_STRING && (s = rj_str(v, &len)) && memchr(s, '\0', len)) {
		lbad(l, name, "must not contain NUL");
		return NULL;
	}
	return v;
}

/* Strict, as the envelope: a member not in names[] is refused. */
static int members_known(struct lctx *l, const char *const *names)
{
	for (const struct rj_val *v = rj_first(l->obj); v; v = rj_next(v)) {
		char key[sizeof l->c->err->reason];
		size_t i = 0;

		while (names[i] && !key_is(v, names[i]))
			i++;
		if (!names[i])
			return lbad(l, key_text(v, key, sizeof key), "unknown member");
	}
	return 0;
}

/* n lower-case hex digits, decoded into out when out is not NULL. */
static bool hex_lower(const char *s, size_t len, size_t n, unsigned char *out)
{
	static const char hex[] = "0123456789abcdef";

	if (len != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		const char *p = s[i] ? memchr(hex, s[i], 16) : NULL;

		if (!p)
			return false;
		if (out && i % 2 == 0)
			out[i / 2] = (unsigned char)((p - hex) << 4);
		else if (out)
			out[i / 2] |= (unsigned char)(p - hex);
	}
	return true;
}

/* A node id or peer name member into dst (room for RELAY_NODE_ID_MAX + 1). */
static void get_name(struct lctx *l, const char *name, const char *what, char *dst)
{
	const struct rj_val *v = member(l, name, RJ_STRING, true);
	char reason[64];
	size_t len;
	const char *s = rj_str(v, &len);

	if (!v)
		return;
	if (!rr_node_id_ok(s, len)) {
		snprintf(reason, sizeof reason, "must be a %s ([A-Za-z0-9._-]{1,64})", what);
		lbad(l, name, reason);
		return;
	}
	memcpy(dst, s, len + 1);
}

static void get_proof(struct lctx *l, struct relay_sig *sig)
{
	const struct rj_val *v = member(l, "proof", RJ_ARRAY, true), *step;
	size_t i = 0;

	if (!v)
		return;
	if (rj_size(v) > RELAY_PROOF_MAX) {
		lbad(l, "proof", "must hold at most 16 steps");
		return;
	}
	for (step = rj_first(v); step; step = rj_next(step), i++) {
		size_t len = 0;
		const char *s = rj_str(step, &len);
		char m[32];

		if (!s || len != PROOF_TEXT || (s[0] != 'l' && s[0] != 'r') || s[1] != ':' ||
		    !hex_lower(s + 2, len - 2, 2 * RELAY_HASH_LEN, sig->proof[i].hash)) {
			snprintf(m, sizeof m, "proof[%zu]", i);
			lbad(l, m, "must be \"l:\" or \"r:\" then 64 lower-case hex digits");
			return;
		}
		sig->proof[i].left = s[0] == 'l';
	}
	sig->n_proof = (uint8_t)rj_size(v);
}

/* The members a link and a report's sig share: node, kid, at, proof, sig. */
static void get_sig(struct lctx *l, struct relay_sig *sig)
{
	const struct rj_val *v;
	size_t len, n;
	const char *s;

	get_name(l, "node", "node id", sig->node);
	if ((v = member(l, "kid", RJ_STRING, true))) {
		s = str(v, &len);
		if (!hex_lower(s, len, RELAY_KID_LEN, NULL))
			lbad(l, "kid", "must be 16 lower-case hex digits");
		else
			memcpy(sig->kid, s, RELAY_KID_LEN + 1);
	}
	if ((v = member(l, "at", RJ_INTEGER, true))) {
		if (rj_int(v) < 0)
			lbad(l, "at", "must be >= 0 (ms since the epoch)");
		sig->at_ms = rj_int(v);
	}
	get_proof(l, sig);
	if ((v = member(l, "sig", RJ_STRING, true))) {
		s = str(v, &len);
		if (len != SIG_B64_LEN || rr_b64_decode(s, len, sig->sig, RELAY_SIG_LEN, &n) != 0 ||
		    n != RELAY_SIG_LEN)
			lbad(l, "sig", "not base64 of 64 bytes");
	}
}

/* "to" of a link: an address already in its normal form (the statement signs it). */
static void get_link_to(struct lctx *l, struct relay_att *a)
{
	const struct rj_val *v = member(l, "to", RJ_STRING, false);
	struct route_addr addr;
	size_t len;
	const char *s;
	int rc;

	if (!v)
		return;
	s = str(v, &len);
	rc = route_addr_parse(s, len, NULL, &addr);
	if (rc)
		lbad(l, "to", route_strerror(rc));
	else if (addr.len != len || memcmp(addr.text, s, len) != 0)
		lbad(l, "to", "must be an address in normal form");
	else
		memcpy(a->to, addr.text, len + 1);
}

static int get_link(struct lctx *l, struct relay_att *a)
{
	const struct rj_val *v;
	const char *s;
	size_t len;

	if (members_known(l, link_members))
		return l->rc;
	get_name(l, "node", "node id", a->sig.node);
	if ((v = member(l, "rid", RJ_STRING, true))) {
		s = str(v, &len);
		if (!rr_rid_ok(s, len))
			lbad(l, "rid", RID_RULE);
		else
			memcpy(a->rid, s, RELAY_RID_LEN + 1);
	}
	get_name(l, "peer", "peer name", a->peer);
	if ((v = member(l, "level", RJ_STRING, true)) &&
	    (a->level = relay_att_level_parse(rj_str(v, NULL))) == RELAY_LEVEL_NONE)
		lbad(l, "level", "must be \"owned\", \"directory\" or \"relayed\"");
	get_link_to(l, a);
	get_sig(l, &a->sig);
	return l->rc;
}

/* att: 1..RELAY_ATT_MAX links, oldest first, into a new env->att (freed by clear). */
static int set_att(struct pctx *c, const struct field *f, const struct rj_val *v)
{
	size_t n = rj_size(v), i = 0;

	if (n < 1 || n > RELAY_ATT_MAX)
		return fail(c->err, -RELAY_EFIELD, f->name, "must hold 1 to %d links",
			    RELAY_ATT_MAX);
	if (!(c->env->att = calloc(n, sizeof *c->env->att)))
		return no_memory(c);
	c->env->n_att = n;
	for (const struct rj_val *o = rj_first(v); o; o = rj_next(o), i++) {
		struct lctx l = {c, f->name, "", o, 0};

		snprintf(l.pfx, sizeof l.pfx, "att[%zu]", i);
		if (rj_type(o) != RJ_OBJECT)
			return fail(c->err, -RELAY_EFIELD, f->name, "%s: must be an object", l.pfx);
		if (get_link(&l, &c->env->att[i]))
			return l.rc;
	}
	return 0;
}

/* A report's sig: the reporting node's signature (relay_trust.c checks it). */
static int set_rsig(struct pctx *c, const struct field *f, const struct rj_val *v)
{
	struct lctx l = {c, f->name, "sig", v, 0};

	if (!members_known(&l, rsig_members))
		get_sig(&l, &c->env->rsig);
	c->env->has_rsig = l.rc == 0;
	return l.rc;
}

#define OFF(m)   offsetof(struct relay_envelope, m)
#define STR      RJ_STRING
#define INT      RJ_INTEGER
#define R_ONLY   (F_REQ_REPORT | F_REPORT_ONLY)

/* Every field v1 knows, in the order checked and written. */
static const struct field fields[] = {
	{"v", INT, F_REQ | F_EARLY, set_v, 0, 0, NULL, "unsupported version (this is v1)"},
	{"id", STR, F_REQ, set_token, OFF(id), RELAY_ENV_ID_MAX, rr_id_ok,
	 "must be 1-64 characters of A-Z a-z 0-9 . _ : -"},
	{"rid", STR, 0, set_token, OFF(rid), RELAY_RID_LEN, rr_rid_ok, RID_RULE},
	{"kind", STR, F_EARLY, set_kind, 0, 0, NULL, "must be \"message\" or \"report\""},
	{"from", STR, F_REQ, set_addr, OFF(from), 0, NULL, NULL},
	{"to", STR, F_REQ, set_addr, OFF(to), 0, NULL, NULL},
	{"ts", INT, 0, set_ts, 0, 0, NULL, "must be >= 0 (ms since the epoch)"},
	{"ttl", INT, 0, set_ttl, 0, 0, NULL, NULL},
	{"type", STR, 0, set_type, 0, 0, NULL,
	 "must be a media type: 1-127 printable ASCII characters with a '/'"},
	{"text", STR, 0, set_text, 0, 0, NULL, NULL},
	{"body", STR, 0, set_body, 0, 0, NULL, "must be standard base64 with padding"},
	{"dlr", RJ_TRUE, 0, set_dlr, 0, 0, NULL, NULL},
	{"prio", INT, 0, set_prio, 0, 0, NULL, "must be 0 (bulk) to 3 (urgent)"},
	{"hops", RJ_ARRAY, 0, set_hops, 0, 0, NULL, "is not a node id ([A-Za-z0-9._-]{1,64})"},
	{"ref", STR, R_ONLY, set_token, OFF(ref), RELAY_RID_LEN, rr_rid_ok, RID_RULE},
	{"status", STR, R_ONLY, set_status, 0, 0, NULL,
	 "must be \"delivered\", \"expired\" or \"failed\""},
	{"reason", STR, F_REPORT_ONLY, set_token, OFF(reason), RELAY_ENV_REASON_MAX, NULL,
	 "must be at most 255 bytes"},
	{"at", INT, R_ONLY, set_at, 0, 0, NULL, "must be >= 0 (ms since the epoch)"},
	{"att", RJ_ARRAY, F_MSG_ONLY, set_att, 0, 0, NULL, NULL},
	{"via", STR, F_REPORT_ONLY, set_token, OFF(via), RELAY_NODE_ID_MAX, rr_node_id_ok,
	 "must be a peer name ([A-Za-z0-9._-]{1,64})"},
	{"sig", RJ_OBJECT, F_REPORT_ONLY, set_rsig, 0, 0, NULL, NULL},
};

#define N_FIELDS (sizeof fields / sizeof fields[0])


/* Checks presence, kind, JSON type and NUL bytes generically, then the field's own rule. */
static int apply(struct pctx *c, const struct rj_val *obj, const struct field *f)
{
	const struct rj_val *v = rj_get(obj, f->name);
	const char *s;
	size_t len;
	bool report = c->env->kind == RELAY_ENV_REPORT;

	if (!v) {
		if ((f->flags & F_REQ) || (report && (f->flags & F_REQ_REPORT)))
			return bad(c, f, "is required");
		return 0;
	}
	if ((f->flags & F_REPORT_ONLY) && !report)
		return bad(c, f, "only in a report");
	if ((f->flags & F_MSG_ONLY) && report)
		return bad(c, f, "only in a message");
	if (rj_type(v) != f->type && !(f->type == RJ_TRUE && rj_type(v) == RJ_FALSE))
		return bad(c, f, type_reasons[f->type]);
	if (f->type == RJ_STRING && (s = rj_str(v, &len)) && memchr(s, '\0', len))
		return bad(c, f, "must not contain NUL");
	return f->set(c, f, v);
}

static const struct field *field_named(const char *name)
{
	for (size_t i = 0; i < N_FIELDS; i++)
		if (strcmp(fields[i].name, name) == 0)
			return &fields[i];
	return NULL;
}

/* Strict: a typo ("txt") must not silently drop what the sender meant. */
static int check_unknown(struct pctx *c, const struct rj_val *obj)
{
	for (const struct rj_val *v = rj_first(obj); v; v = rj_next(v)) {
		char key[sizeof c->err->field];
		size_t i = 0;

		while (i < N_FIELDS && !key_is(v, fields[i].name))
			i++;
		if (i == N_FIELDS)
			return fail(c->err, -RELAY_EFIELD, key_text(v, key, sizeof key),
				    "unknown field");
	}
	return 0;
}

/* A message has exactly one of text and body; a report has neither. */
static int check_body(struct pctx *c, const struct rj_val *obj)
{
	bool text = rj_get(obj, "text") != NULL;
	bool body = rj_get(obj, "body") != NULL;

	if (c->env->kind == RELAY_ENV_REPORT) {
		if (text || body)
			return fail(c->err, -RELAY_EFIELD, text ? "text" : "body",
				    "a report has no body");
		return 0;
	}
	if (!text && !body)
		return fail(c->err, -RELAY_EFIELD, "text", "text or body is required");
	if (text && body)
		return fail(c->err, -RELAY_EFIELD, "body", "text and body are exclusive");
	return 0;
}

static void set_defaults(struct relay_envelope *env, const struct relay_env_limits *lim)
{
	memset(env, 0, sizeof *env);
	env->kind = RELAY_ENV_MESSAGE;
	env->ts_ms = lim->now_ms;
	env->ttl_s = lim->default_ttl_s;
	memcpy(env->type, RELAY_ENV_DEFAULT_TYPE, sizeof RELAY_ENV_DEFAULT_TYPE);
	env->prio = PRIO_DEFAULT;
}

/*
 * Validates one JSON object into out; shared by both entry points so that a batch is
 * parsed once. v comes first (another version's fields are not "unknown"), then unknown
 * keys, then kind (it decides which fields belong), then every field in table order.
 */
static int parse_object(const struct rj_val *obj, const struct relay_env_limits *lim,
			struct relay_envelope *out, struct relay_env_error *err)
{
	struct pctx c = {lim, out, err};
	int rc;

	set_defaults(out, lim);
	memset(err, 0, sizeof *err);
	rc = apply(&c, obj, field_named("v"));
	if (!rc)
		rc = check_unknown(&c, obj);
	if (!rc)
		rc = apply(&c, obj, field_named("kind"));
	if (!rc)
		rc = check_body(&c, obj);
	for (size_t i = 0; !rc && i < N_FIELDS; i++)
		if (!(fields[i].flags & F_EARLY))
			rc = apply(&c, obj, &fields[i]);
	if (rc)
		relay_envelope_clear(out);
	return rc;
}

/* The text as one JSON value into *d (rj_free it), or an error: -RELAY_EJSON, -RELAY_ENOMEM. */
static int load(const char *json, size_t len, struct rj_doc **d, struct relay_env_error *err)
{
	char why[sizeof err->reason];
	bool nomem;

	memset(err, 0, sizeof *err);
	*d = json ? rj_parse(json, len, why, sizeof why, &nomem) : NULL;
	if (*d)
		return 0;
	if (!json)
		return fail(err, -RELAY_EJSON, "", "no input");
	if (nomem)
		return fail(err, -RELAY_ENOMEM, "", "out of memory");
	return fail(err, -RELAY_EJSON, "", "%s", why); /* rj_parse never quotes the text */
}

int relay_envelope_parse(const char *json, size_t len, const struct relay_env_limits *lim,
			 struct relay_envelope *out, struct relay_env_error *err)
{
	struct rj_doc *d;
	int rc;

	memset(out, 0, sizeof *out);
	if ((rc = load(json, len, &d, err)))
		return rc;
	if (rj_type(rj_root(d)) == RJ_OBJECT)
		rc = parse_object(rj_root(d), lim, out, err);
	else
		rc = fail(err, -RELAY_EJSON, "", "must be a JSON object");
	rj_free(d);
	return rc;
}

/* One array element into its item; the item's rc says how it went. */
static void parse_item(const struct rj_val *v, const struct relay_env_limits *lim,
		       struct relay_env_item *it)
{
	if (rj_type(v) == RJ_OBJECT) {
		it->rc = parse_object(v, lim, &it->env, &it->err);
		return;
	}
	memset(&it->env, 0, sizeof it->env);
	it->rc = fail(&it->err, -RELAY_EFIELD, "", "must be an object");
}

/* How many envelopes root holds: an object is one, an array 1..RELAY_ENV_BATCH_MAX. */
static int batch_count(const struct rj_val *root, size_t *count, struct relay_env_error *err)
{
	*count = 1;
	if (rj_type(root) == RJ_OBJECT)
		return 0;
	if (rj_type(root) != RJ_ARRAY)
		return fail(err, -RELAY_EJSON, "", "must be a JSON object or an array of them");
	*count = rj_size(root);
	if (*count == 0)
		return fail(err, -RELAY_EJSON, "", "an empty array holds no envelope");
	if (*count > RELAY_ENV_BATCH_MAX)
		return fail(err, -RELAY_EJSON, "", "a batch holds at most %d envelopes, not %zu",
			    RELAY_ENV_BATCH_MAX, *count);
	return 0;
}

int relay_envelope_parse_batch(const char *json, size_t len, const struct relay_env_limits *lim,
			       struct relay_env_item **items, size_t *n, bool *is_array,
			       struct relay_env_error *err)
{
	const struct rj_val *root, *v;
	struct rj_doc *d;
	size_t count;
	int rc;

	*items = NULL;
	*n = 0;
	*is_array = false;
	if ((rc = load(json, len, &d, err)))
		return rc;
	root = rj_root(d);
	if ((rc = batch_count(root, &count, err))) {
		rj_free(d);
		return rc;
	}
	*items = calloc(count, sizeof **items);
	v = rj_type(root) == RJ_ARRAY ? rj_first(root) : root;
	for (size_t i = 0; *items && i < count; i++, v = rj_next(v)) {
		parse_item(v, lim, *items + i);
		if ((*items)[i].rc == -RELAY_ENOMEM) {
			relay_env_items_free(*items, i + 1);
			*items = NULL;
		}
	}
	*is_array = *items && rj_type(root) == RJ_ARRAY;
	rj_free(d);
	if (!*items)
		return fail(err, -RELAY_ENOMEM, "", "out of memory");
	*n = count;
	return 0;
}

void relay_env_items_free(struct relay_env_item *items, size_t n)
{
	if (!items)
		return;
	for (size_t i = 0; i < n; i++)
		relay_envelope_clear(&items[i].env);
	free(items);
}

void relay_envelope_clear(struct relay_envelope *env)
{
	if (!env)
		return;
	free(env->body);
	free(env->att);
	memset(env, 0, sizeof *env);
}
