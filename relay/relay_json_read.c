/*
 * The strict JSON reader of the carrier API (relay_priv.h, "JSON on the hot paths"): one
 * pass over the text, all values in one growing array, all strings unescaped into one
 * buffer allocated with the document (a string never grows when unescaped).
 */
#include "relay/relay_priv.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Objects with more members than this are checked for duplicate keys by sorting. */
#define LINEAR_KEYS 32
#define TEXT_MAX    (UINT32_MAX - 2u) /* positions and sizes are kept in 32 bits */

enum { F_MEMBER = 1, F_LAST = 2 };

struct rj_val {
	uint8_t type;     /* enum rj_type */
	uint8_t flags;    /* F_MEMBER: key is set; F_LAST: no value follows in the container */
	uint32_t skip;    /* this value and its subtree, in values: the next sibling's distance */
	uint32_t n;       /* a container's elements, a string's length */
	uint32_t klen;    /* an object member's key: length */
	uint32_t kpos;    /* and where it starts in the text (for the duplicate's error) */
	const char *key;  /* in the string buffer, NUL-terminated */
	union {
		int64_t i;
		double d;
		const char *s; /* in the string buffer, NUL-terminated */
	} u;
};

struct rj_doc {
	struct rj_val *v; /* v[0] is the root */
	size_t n, cap;
	char *s;          /* the string buffer: len + 1 bytes, after this struct */
	size_t slen;
};

/* The parser's state; the first error ends the parse. */
struct rp {
	const unsigned char *start, *p, *end;
	struct rj_doc *d;
	char *err;
	size_t errlen;
	bool nomem;
	unsigned depth;
};

/* ------------------------------------------------------------------ errors */

static int perr(struct rp *P, const unsigned char *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Writes "<what> (line L, column C)": C counts bytes from 1; at the end of the text it is
 * the last line's length (0 for an empty text), as jansson counts. Returns -1. */
static int perr(struct rp *P, const unsigned char *at, const char *fmt, ...)
{
	const unsigned char *line0 = P->start;
	size_t line = 1, col;
	va_list ap;
	int n;

	for (const unsigned char *q = P->start; q < at; q++)
		if (*q == '\n')
			line++, line0 = q + 1;
	col = (size_t)(at - line0) + (at < P->end ? 1 : 0);
	if (!P->errlen)
		return -1;
	va_start(ap, fmt);
	n = vsnprintf(P->err, P->errlen, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < P->errlen)
		snprintf(P->err + n, P->errlen - (size_t)n, " (line %zu, column %zu)", line, col);
	return -1;
}

static int pnomem(struct rp *P)
{
	P->nomem = true;
	if (P->errlen)
		snprintf(P->err, P->errlen, "out of memory");
	return -1;
}

/* ------------------------------------------------------------------ values */

/* A new value's index, or -1 when out of memory. */
static long new_val(struct rp *P, enum rj_type t)
{
	struct rj_doc *d = P->d;
	struct rj_val *v;

	if (d->n == d->cap) {
		size_t cap = d->cap * 2;

		if (!(v = realloc(d->v, cap * sizeof *v)))
			return pnomem(P);
		d->v = v, d->cap = cap;
	}
	v = &d->v[d->n];
	memset(v, 0, sizeof *v);
	v->type = (uint8_t)t;
	v->skip = 1;
	return (long)d->n++;
}

static void skip_ws(struct rp *P)
{
	while (P->p < P->end && (*P->p == ' ' || *P->p == '\n' || *P->p == '\r' || *P->p == '\t'))
		P->p++;
}

/* The length of the valid UTF-8 character at p (not ASCII), or 0 (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF). */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	size_t n;

	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
	else
		return 0;
	if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

/* Four hex digits at p (the caller checked there are four bytes), or -1. */
static long hex4(const unsigned char *p)
{
	long x = 0;

	for (int i = 0; i < 4; i++) {
		int c = p[i];

		if (c >= '0' && c <= '9')
			c -= '0';
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			c = (c | 0x20) - 'a' + 10;
		else
			return -1;
		x = x << 4 | c;
	}
	return x;
}

static char *put_utf8(char *o, unsigned long cp)
{
	if (cp < 0x80) {
		*o++ = (char)cp;
	} else if (cp < 0x800) {
		*o++ = (char)(0xc0 | cp >> 6);
		*o++ = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		*o++ = (char)(0xe0 | cp >> 12);
		*o++ = (char)(0x80 | (cp >> 6 & 0x3f));
		*o++ = (char)(0x80 | (cp & 0x3f));
	} else {
		*o++ = (char)(0xf0 | cp >> 18);
		*o++ = (char)(0x80 | (cp >> 12 & 0x3f));
		*o++ = (char)(0x80 | (cp >> 6 & 0x3f));
		*o++ = (char)(0x80 | (cp & 0x3f));
	}
	return o;
}

/* A \u escape (P->p at the 'u') into o: a code point, or a surrogate pair. */
static int unicode_escape(struct rp *P, char **o)
{
	const unsigned char *at = P->p - 1;
	long cp, lo;

	if (P->end - P->p < 5 || (cp = hex4(P->p + 1)) < 0)
		return perr(P, at, "invalid \\u escape");
	P->p += 5;
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return perr(P, at, "lone low surrogate in a \\u escape");
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (P->end - P->p < 6 || P->p[0] != '\\' || P->p[1] != 'u' ||
		    (lo = hex4(P->p + 2)) < 0xdc00 || lo > 0xdfff)
			return perr(P, at, "lone high surrogate in a \\u escape");
		P->p += 6;
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	*o = put_utf8(*o, (unsigned long)cp);
	return 0;
}

/* A string (P->p at its '"') unescaped into the buffer: *s, *len. */
static int string(struct rp *P, const char **s, uint32_t *len)
{
	static const char esc_in[] = "\"\\/bfnrt", esc_out[] = "\"\\/\b\f\n\r\t";
	char *o = P->d->s + P->d->slen, *o0 = o;
	const char *e;

	P->p++;
	for (;;) {
		const unsigned char *run = P->p;
		size_t n;

		while (P->p < P->end && *P->p >= 0x20 && *P->p < 0x80 && *P->p != '"' &&
		       *P->p != '\\')
			P->p++;
		memcpy(o, run, (size_t)(P->p - run));
		o += P->p - run;
		if (P->p == P->end)
			return perr(P, P->end, "premature end of input");
		if (*P->p == '"')
			break;
		if (*P->p < 0x20)
			return perr(P, P->p, "control character \\x%02x in a string", *P->p);
		if (*P->p >= 0x80) {
			if (!(n = utf8_len(P->p, P->end)))
				return perr(P, P->p, "invalid UTF-8 byte \\x%02x", *P->p);
			memcpy(o, P->p, n);
			o += n, P->p += n;
			continue;
		}
		if (++P->p == P->end) /* a backslash */
			return perr(P, P->end, "premature end of input");
		if (*P->p == 'u') {
			if (unicode_escape(P, &o))
				return -1;
		} else if (*P->p && (e = strchr(esc_in, *P->p))) {
			*o++ = esc_out[e - esc_in];
			P->p++;
		} else {
			return perr(P, P->p - 1, "invalid escape");
		}
	}
	P->p++;
	*o = '\0';
	*s = o0;
	*len = (uint32_t)(o - o0);
	P->d->slen += (size_t)(o - o0) + 1;
	return 0;
}

static bool digit(struct rp *P)
{
	return P->p < P->end && *P->p >= '0' && *P->p <= '9';
}

/* A number: exact in int64 when it has no fraction or exponent and fits, else a double. */
static int number(struct rp *P, struct rj_val *v)
{
	const unsigned char *s = P->p;
	bool neg = *P->p == '-', integer = true;
	uint64_t m = 0, lim;
	char buf[64], *copy = buf;
	size_t n;

	if (neg)
		P->p++;
	if (!digit(P))
		return perr(P, P->p, "digit expected");
	if (*P->p == '0') {
		P->p++;
		if (digit(P))
			return perr(P, P->p, "leading zeros are not allowed");
	}
	while (digit(P))
		P->p++;
	if (P->p < P->end && *P->p == '.') {
		integer = false;
		P->p++;
		if (!digit(P))
			return perr(P, P->p, "digit expected after '.'");
		while (digit(P))
			P->p++;
	}
	if (P->p < P->end && (*P->p == 'e' || *P->p == 'E')) {
		integer = false;
		P->p++;
		if (P->p < P->end && (*P->p == '+' || *P->p == '-'))
			P->p++;
		if (!digit(P))
			return perr(P, P->p, "digit expected in the exponent");
		while (digit(P))
			P->p++;
	}
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (const unsigned char *q = s + neg; integer && q < P->p; q++) {
		unsigned dgt = *q - '0';

		if (m > (lim - dgt) / 10)
			integer = false; /* beyond int64: a real */
		else
			m = m * 10 + dgt;
	}
	if (integer) {
		v->type = RJ_INTEGER;
		v->u.i = neg ? (int64_t)(0 - m) : (int64_t)m;
		return 0;
	}
	n = (size_t)(P->p - s);
	if (n >= sizeof buf && !(copy = malloc(n + 1)))
		return pnomem(P);
	memcpy(copy, s, n);
	copy[n] = '\0';
	v->type = RJ_REAL;
	v->u.d = strtod(copy, NULL); /* ±HUGE_VAL beyond double's range, 0 below it */
	if (copy != buf)
		free(copy);
	return 0;
}

static int value(struct rp *P);

static int array(struct rp *P, long a)
{
	uint32_t count = 0;
	long last = -1;

	P->p++;
	skip_ws(P);
	if (P->p < P->end && *P->p == ']') {
		P->p++;
		return 0;
	}
	for (;;) {
		last = (long)P->d->n;
		if (value(P))
			return -1;
		count++;
		skip_ws(P);
		if (P->p < P->end && *P->p == ',') {
			P->p++;
			continue;
		}
		if (P->p < P->end && *P->p == ']')
			break;
		return perr(P, P->p, "']' or ',' expected");
	}
	P->p++;
	P->d->v[last].flags |= F_LAST;
	P->d->v[a].n = count;
	return 0;
}

struct key_ref {
	const char *k;
	uint32_t len, idx;
};

static int key_cmp(const void *x, const void *y)
{
	const struct key_ref *a = x, *b = y;
	int c = memcmp(a->k, b->k, a->len < b->len ? a->len : b->len);

	if (c)
		return c;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* Duplicates among the n members of the big object at o (its first LINEAR_KEYS were checked
 * as they came): sorted by key, then by place; the error names the earliest key that
 * repeats one before it, as a linear check would. */
static int big_object_dups(struct rp *P, long o, uint32_t n)
{
	struct rj_val *v = P->d->v;
	struct key_ref *r = malloc(n * sizeof *r);
	uint32_t m = 0, dup = 0;

	if (!r)
		return pnomem(P);
	for (uint32_t i = (uint32_t)o + 1; m < n; i += v[i].skip)
		r[m++] = (struct key_ref){v[i].key, v[i].klen, i};
	qsort(r, n, sizeof *r, key_cmp);
	for (uint32_t i = 1; i < n; i++)
		if (r[i].len == r[i - 1].len && memcmp(r[i].k, r[i - 1].k, r[i].len) == 0 &&
		    (!dup || r[i].idx < dup))
			dup = r[i].idx;
	free(r);
	return dup ? perr(P, P->start + v[dup].kpos, "duplicate object key") : 0;
}

static int object(struct rp *P, long o)
{
	uint32_t count = 0, first[LINEAR_KEYS];
	long last = -1;

	P->p++;
	skip_ws(P);
	if (P->p < P->end && *P->p == '}') {
		P->p++;
		return 0;
	}
	for (;;) {
		const unsigned char *kat = P->p;
		const char *key;
		uint32_t klen;
		struct rj_val *v;

		if (P->p == P->end || *P->p != '"')
			return perr(P, P->p, count ? "string expected" : "string or '}' expected");
		if (string(P, &key, &klen))
			return -1;
		skip_ws(P);
		if (P->p == P->end || *P->p != ':')
			return perr(P, P->p, "':' expected");
		P->p++;
		last = (long)P->d->n;
		if (value(P))
			return -1;
		v = &P->d->v[last];
		v->flags |= F_MEMBER;
		v->key = key, v->klen = klen, v->kpos = (uint32_t)(kat - P->start);
		for (uint32_t i = 0; count < LINEAR_KEYS && i < count; i++) {
			const struct rj_val *w = &P->d->v[first[i]];

			if (w->klen == klen && memcmp(w->key, key, klen) == 0)
				return perr(P, kat, "duplicate object key");
		}
		if (count < LINEAR_KEYS)
			first[count] = (uint32_t)last;
		count++;
		skip_ws(P);
		if (P->p < P->end && *P->p == ',') {
			P->p++;
			skip_ws(P);
			continue;
		}
		if (P->p < P->end && *P->p == '}')
			break;
		return perr(P, P->p, "'}' or ',' expected");
	}
	P->p++;
	P->d->v[last].flags |= F_LAST;
	P->d->v[o].n = count;
	return count > LINEAR_KEYS ? big_object_dups(P, o, count) : 0;
}

static int literal(struct rp *P, struct rj_val *v, const char *word, enum rj_type t)
{
	size_t n = strlen(word);

	if ((size_t)(P->end - P->p) < n || memcmp(P->p, word, n) != 0)
		return perr(P, P->p, "invalid literal");
	P->p += n;
	v->type = (uint8_t)t;
	return 0;
}

/* One value at P->p (after whitespace), its subtree appended to the document. */
static int value(struct rp *P)
{
	long i;
	int rc;

	skip_ws(P);
	if (P->p == P->end)
		return perr(P, P->p, "value expected");
	if ((i = new_val(P, RJ_NULL)) < 0)
		return -1;
	switch (*P->p) {
	case '{':
	case '[':
		if (++P->depth > RJ_DEPTH_MAX)
			return perr(P, P->p, "nested deeper than %d", RJ_DEPTH_MAX);
		P->d->v[i].type = *P->p == '{' ? RJ_OBJECT : RJ_ARRAY;
		rc = *P->p == '{' ? object(P, i) : array(P, i);
		P->depth--;
		P->d->v[i].skip = (uint32_t)(P->d->n - (size_t)i);
		return rc;
	case '"':
		P->d->v[i].type = RJ_STRING;
		return string(P, &P->d->v[i].u.s, &P->d->v[i].n);
	case 't':
		return literal(P, &P->d->v[i], "true", RJ_TRUE);
	case 'f':
		return literal(P, &P->d->v[i], "false", RJ_FALSE);
	case 'n':
		return literal(P, &P->d->v[i], "null", RJ_NULL);
	default:
		if (*P->p == '-' || (*P->p >= '0' && *P->p <= '9'))
			return number(P, &P->d->v[i]);
		return perr(P, P->p, "value expected");
	}
}

/* ------------------------------------------------------------------ the API */

struct rj_doc *rj_parse(const char *text, size_t len, char *err, size_t errlen, bool *nomem)
{
	struct rp P = {0};
	struct rj_doc *d;

	*nomem = false;
	if (errlen)
		err[0] = '\0';
	if (!text)
		text = "", len = 0;
	P.start = P.p = (const unsigned char *)text;
	P.end = P.start + len;
	P.err = err, P.errlen = errlen;
	if (len > TEXT_MAX) {
		perr(&P, P.start, "a JSON text of more than 4 GiB");
		return NULL;
	}
	if (!(d = malloc(sizeof *d + len + 1))) {
		*nomem = true;
		return NULL;
	}
	d->s = (char *)(d + 1);
	d->slen = 0;
	d->n = 0;
	d->cap = len / 8 + 8 < 1024 ? len / 8 + 8 : 1024;
	if (!(d->v = malloc(d->cap * sizeof *d->v))) {
		free(d);
		*nomem = true;
		return NULL;
	}
	P.d = d;
	if (value(&P) == 0) {
		skip_ws(&P);
		if (P.p == P.end) {
			d->v[0].flags |= F_LAST;
			return d;
		}
		perr(&P, P.p, "end of file expected");
	}
	*nomem = P.nomem;
	rj_free(d);
	return NULL;
}

void rj_free(struct rj_doc *d)
{
	if (!d)
		return;
	free(d->v);
	free(d);
}

const struct rj_val *rj_root(const struct rj_doc *d)
{
	return d ? &d->v[0] : NULL;
}

/* RJ_NULL for no value (NULL), as every accessor answers "nothing" for NULL. */
enum rj_type rj_type(const struct rj_val *v)
{
	return v ? (enum rj_type)v->type : RJ_NULL;
}

const char *rj_str(const struct rj_val *v, size_t *len)
{
	if (!v || v->type != RJ_STRING)
		return NULL;
	if (len)
		*len = v->n;
	return v->u.s;
}

int64_t rj_int(const struct rj_val *v)
{
	return v && v->type == RJ_INTEGER ? v->u.i : 0;
}

size_t rj_size(const struct rj_val *v)
{
	return v && (v->type == RJ_ARRAY || v->type == RJ_OBJECT) ? v->n : 0;
}

const struct rj_val *rj_first(const struct rj_val *v)
{
	return rj_size(v) ? v + 1 : NULL;
}

const struct rj_val *rj_next(const struct rj_val *v)
{
	return v && !(v->flags & F_LAST) ? v + v->skip : NULL;
}

const char *rj_key(const struct rj_val *v, size_t *len)
{
	if (!v || !(v->flags & F_MEMBER))
		return NULL;
	if (len)
		*len = v->klen;
	return v->key;
}

const struct rj_val *rj_get(const struct rj_val *obj, const char *key)
{
	size_t n = strlen(key);

	if (rj_type(obj) != RJ_OBJECT)
		return NULL;
	for (const struct rj_val *m = rj_first(obj); m; m = rj_next(m))
		if (m->klen == n && memcmp(m->key, key, n) == 0)
			return m;
	return NULL;
}
