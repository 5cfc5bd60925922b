/*
 * Unit tests for the hot-path JSON writer (relay_json_write.c): escaping, numbers, nesting,
 * failure, and relay_envelope_to_json compared byte for byte with the jansson-built text it
 * replaced, on generated envelopes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "relay/relay_priv.h"

#define DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY)

/* ------------------------------------------------------------ helpers */

/* jansson's text for v (taken). */
static char *dump(json_t *v)
{
	char *t;

	assert_non_null(v);
	t = json_dumps(v, DUMP_FLAGS);
	json_decref(v);
	assert_non_null(t);
	return t;
}

/* s as a lone string value, written by rw_str, compared with jansson's. */
static void check_str(const char *s, size_t len)
{
	struct rw w;
	char *mine, *theirs = dump(json_stringn(s, len));
	size_t n = 0;

	rw_init(&w);
	rw_str(&w, s, len);
	mine = rw_finish(&w, &n);
	assert_non_null(mine);
	assert_string_equal(mine, theirs);
	assert_int_equal(n, strlen(theirs));
	free(mine);
	free(theirs);
}

/* ------------------------------------------------------------ the writer */

/* Every single byte below 0x80, alone and between others; NUL included. */
static void test_escape_ascii(void **state)
{
	(void)state;
	for (int c = 0; c < 0x80; c++) {
		char one[1] = {(char)c}, mid[5] = {'a', (char)c, 'b', (char)c, 'z'};

		check_str(one, 1);
		check_str(mid, sizeof mid);
	}
	check_str("", 0);
	check_str("\x7f/\\\"", 4);
}

/* Every two-byte sequence, each three- and four-byte lead with valid continuations. */
static void test_escape_utf8(void **state)
{
	static const char *const samples[] = {
		"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xef\xbf\xbf", "\xe0\xa0\x80",
		"\xed\x9f\xbf", "\xf4\x8f\xbf\xbf", "\xf0\x90\x80\x80", "h\xc3\xa9\x01\"\xe2\x82\xac",
	};

	(void)state;
	for (int a = 0xc2; a <= 0xdf; a++)
		for (int b = 0x80; b <= 0xbf; b++) {
			char s[2] = {(char)a, (char)b};
			check_str(s, 2);
		}
	for (int a = 0xe1; a <= 0xef; a++) {
		char s[3] = {(char)a, (char)0x80, (char)0xbf};
		if (a != 0xed)
			check_str(s, 3);
	}
	for (int a = 0xf1; a <= 0xf3; a++) {
		char s[4] = {(char)a, (char)0x80, (char)0xbf, (char)0x90};
		check_str(s, 4);
	}
	for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++)
		check_str(samples[i], strlen(samples[i]));
}

/* A long string of every ASCII byte and some characters: growth past the first buffer. */
static void test_escape_long(void **state)
{
	size_t n = 0, cap = 100000;
	char *s = malloc(cap);

	(void)state;
	assert_non_null(s);
	while (n + 140 < cap) {
		for (int c = 0; c < 0x80; c++)
			s[n++] = (char)c;
		memcpy(s + n, "\xe2\x82\xac\xf0\x9f\x98\x80", 7);
		n += 7;
	}
	check_str(s, n);
	free(s);
}

static void test_int(void **state)
{
	static const int64_t v[] = {INT64_MIN, INT64_MIN + 1, -1000000007, -1, 0, 1, 9, 10,
				    4294967296LL, INT64_MAX};

	(void)state;
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		struct rw w;
		char *mine, *theirs = dump(json_integer(v[i]));

		rw_init(&w);
		rw_int(&w, v[i]);
		mine = rw_finish(&w, NULL);
		assert_string_equal(mine, theirs);
		free(mine);
		free(theirs);
	}
}

/* Commas: between members and elements, never after a key, none in empty containers. */
static void test_nesting(void **state)
{
	static const char want[] = "{\"a\":[1,{\"b\":[]},[],\"x\",true,[[false]]],\"c\":{},"
				   "\"d\\n\":false,\"e\":{\"f\":{\"g\":-1}}}";
	json_t *o = json_loads(want, 0, NULL);
	struct rw w;
	char *mine, *theirs;
	size_t n;

	(void)state;
	theirs = dump(o);
	assert_string_equal(theirs, want);
	rw_init(&w);
	rw_obj(&w);
	rw_key(&w, "a");
	rw_arr(&w);
	rw_int(&w, 1);
	rw_obj(&w);
	rw_key(&w, "b");
	rw_arr(&w);
	rw_end(&w, ']');
	rw_end(&w, '}');
	rw_arr(&w);
	rw_end(&w, ']');
	rw_str(&w, "x", 1);
	rw_bool(&w, true);
	rw_arr(&w);
	rw_arr(&w);
	rw_bool(&w, false);
	rw_end(&w, ']');
	rw_end(&w, ']');
	rw_end(&w, ']');
	rw_key(&w, "c");
	rw_obj(&w);
	rw_end(&w, '}');
	rw_key(&w, "d\n");
	rw_bool(&w, false);
	rw_key(&w, "e");
	rw_obj(&w);
	rw_key(&w, "f");
	rw_obj(&w);
	rw_key(&w, "g");
	rw_int(&w, -1);
	rw_end(&w, '}');
	rw_end(&w, '}');
	rw_end(&w, '}');
	mine = rw_finish(&w, &n);
	assert_string_equal(mine, want);
	assert_int_equal(n, strlen(want));
	free(mine);
	free(theirs);
	/* nothing written: an empty text, not NULL */
	rw_init(&w);
	mine = rw_finish(&w, &n);
	assert_non_null(mine);
	assert_string_equal(mine, "");
	assert_int_equal(n, 0);
	free(mine);
}

/* Deep nesting: 63 levels are written, the 64th fails the writer. */
static void test_depth(void **state)
{
	struct rw w;
	char *t;

	(void)state;
	rw_init(&w);
	for (int i = 0; i < 63; i++)
		rw_arr(&w);
	for (int i = 0; i < 63; i++)
		rw_end(&w, ']');
	t = rw_finish(&w, NULL);
	assert_non_null(t);
	assert_int_equal(strlen(t), 126);
	free(t);
	rw_init(&w);
	for (int i = 0; i < 64; i++)
		rw_arr(&w);
	for (int i = 0; i < 64; i++)
		rw_end(&w, ']');
	assert_null(rw_finish(&w, NULL));
}

static void test_raw(void **state)
{
	struct rw w;
	char *t;

	(void)state;
	rw_init(&w);
	rw_obj(&w);
	rw_key(&w, "a");
	rw_arr(&w);
	rw_raw(&w, "null", 4);
	rw_raw(&w, "{\"x\":[1,2]}", 11);
	rw_int(&w, 3);
	rw_end(&w, ']');
	rw_key(&w, "b");
	rw_raw(&w, "\"s\"", 3);
	rw_key(&w, "c");
	rw_raw(&w, "1.5", 3);
	rw_end(&w, '}');
	t = rw_finish(&w, NULL);
	assert_string_equal(t, "{\"a\":[null,{\"x\":[1,2]},3],\"b\":\"s\",\"c\":1.5}");
	free(t);
}

/* A failed allocation (a size no buffer can have), an unbalanced end, an unclosed object,
 * a close that is neither '}' nor ']' (a '}' closing an array is not detected: struct rw
 * has no room for container types):
 * every later call is a no-op and rw_finish gives NULL, leaking nothing (ASan). */
static void test_failure(void **state)
{
	struct rw w;

	(void)state;
	rw_init(&w);
	rw_obj(&w);
	rw_key(&w, "a");
	rw_raw(&w, "x", SIZE_MAX - 8); /* fails before reading a byte */
	assert_true(w.failed);
	assert_null(w.buf);
	rw_str(&w, "y", 1);
	rw_int(&w, 1);
	rw_key(&w, "b");
	rw_end(&w, '}');
	assert_null(w.buf);
	assert_null(rw_finish(&w, NULL));
	rw_init(&w);
	rw_raw(&w, "x", SIZE_MAX / 2 + 2); /* the doubling would overflow */
	assert_null(rw_finish(&w, NULL));
	rw_init(&w);
	rw_obj(&w);
	rw_end(&w, '}');
	rw_end(&w, '}');
	assert_null(rw_finish(&w, NULL));
	rw_init(&w);
	rw_obj(&w);
	rw_key(&w, "a");
	rw_int(&w, 1);
	assert_null(rw_finish(&w, NULL));
	rw_init(&w);
	rw_arr(&w);
	rw_end(&w, ')');
	assert_null(rw_finish(&w, NULL));
}

/* ------------------------------------- relay_envelope_to_json, differential */

/* The jansson code relay_envelope_out.c held before the writer (commit 307eaee), verbatim
 * but for its two names: the reference. */

/* Sets o[k] = v (taking v); remembers a failure (NULL v included) in *bad_. */
static void put(json_t *o, const char *k, json_t *v, int *bad_)
{
	if (json_object_set_new_nocheck(o, k, v) < 0)
		*bad_ = 1;
}

static json_t *content_json(const struct relay_envelope *env)
{
	const char *p = env->body ? (const char *)env->body : "";
	size_t n;
	char *b64;
	json_t *v;

	if (env->is_text)
		return json_stringn(p, env->body_len);
	if (env->body_len > (SIZE_MAX - 1) / 4 * 3 - 3 ||
	    !(b64 = malloc(RR_B64_LEN(env->body_len) + 1)))
		return NULL;
	n = rr_b64_encode((const unsigned char *)p, env->body_len, b64);
	v = json_stringn_nocheck(b64, n);
	free(b64);
	return v;
}

static json_t *hops_json(const struct relay_envelope *env)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < env->n_hops && i < RELAY_ENV_HOPS_MAX; i++) {
		if (json_array_append_new(a, json_string(env->hops[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static void put_report(json_t *o, const struct relay_envelope *env, int *bad_)
{
	bool known = env->status >= RELAY_REPORT_DELIVERED && env->status <= RELAY_REPORT_FAILED;

	put(o, "ref", json_string(env->ref), bad_);
	put(o, "status", known ? json_string(relay_report_status_name(env->status)) : NULL, bad_);
	if (env->reason[0])
		put(o, "reason", json_string(env->reason), bad_);
	put(o, "at", json_integer(env->at_ms), bad_);
}

static json_t *hex_json(const char *pfx, const unsigned char *b, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char buf[2 + 2 * RELAY_HASH_LEN + 1];
	size_t k = strlen(pfx);

	if (k + 2 * n >= sizeof buf)
		return NULL;
	memcpy(buf, pfx, k);
	for (size_t i = 0; i < n; i++) {
		buf[k++] = hex[b[i] >> 4];
		buf[k++] = hex[b[i] & 15];
	}
	return json_stringn_nocheck(buf, k);
}

/* node, kid, at, proof, sig of a link or a report's sig, appended to o in that order. */
static void put_sig(json_t *o, const struct relay_sig *sig, bool with_node, int *bad_)
{
	json_t *proof = json_array();
	char b64[RR_B64_LEN(RELAY_SIG_LEN) + 1];
	size_t n;

	if (with_node)
		put(o, "node", json_string(sig->node), bad_);
	put(o, "kid", json_string(sig->kid), bad_);
	put(o, "at", json_integer(sig->at_ms), bad_);
	for (size_t i = 0; proof && i < sig->n_proof && i < RELAY_PROOF_MAX; i++)
		if (json_array_append_new(proof, hex_json(sig->proof[i].left ? "l:" : "r:",
							   sig->proof[i].hash, RELAY_HASH_LEN)) < 0)
			*bad_ = 1;
	put(o, "proof", proof, bad_);
	n = rr_b64_encode(sig->sig, RELAY_SIG_LEN, b64);
	put(o, "sig", json_stringn_nocheck(b64, n), bad_);
}

static json_t *att_json(const struct relay_envelope *env)
{
	json_t *a = json_array();
	int failed = !a;

	for (size_t i = 0; !failed && i < env->n_att && i < RELAY_ATT_MAX; i++) {
		const struct relay_att *l = &env->att[i];
		json_t *o = json_object();
		const char *level = relay_att_level_name(l->level);

		if (!o || json_array_append_new(a, o) < 0) {
			failed = 1;
			break;
		}
		put(o, "node", json_string(l->sig.node), &failed);
		put(o, "rid", json_string(l->rid), &failed);
		put(o, "peer", json_string(l->peer), &failed);
		put(o, "level", level[0] ? json_string(level) : NULL, &failed);
		if (l->to[0])
			put(o, "to", json_string(l->to), &failed);
		put_sig(o, &l->sig, false, &failed);
	}
	if (failed) {
		json_decref(a);
		return NULL;
	}
	return a;
}

static json_t *rsig_json(const struct relay_sig *sig)
{
	json_t *o = json_object();
	int failed = !o;

	if (o)
		put_sig(o, sig, true, &failed);
	if (failed) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static char *ref_to_json(const struct relay_envelope *env, size_t *len)
{
	bool report = env->kind == RELAY_ENV_REPORT;
	json_t *o = json_object();
	char *text = NULL;
	int failed = !o;

	if (failed)
		return NULL;
	put(o, "v", json_integer(1), &failed);
	put(o, "id", json_string(env->id), &failed);
	if (env->rid[0])
		put(o, "rid", json_string(env->rid), &failed);
	if (report)
		put(o, "kind", json_string("report"), &failed);
	put(o, "from", json_string(env->from.text), &failed);
	put(o, "to", json_string(env->to.text), &failed);
	put(o, "ts", json_integer(env->ts_ms), &failed);
	put(o, "ttl", json_integer(env->ttl_s), &failed);
	put(o, "type", json_string(env->type), &failed);
	if (!report)
		put(o, env->is_text ? "text" : "body", content_json(env), &failed);
	put(o, "dlr", json_boolean(env->dlr), &failed);
	put(o, "prio", json_integer(env->prio), &failed);
	put(o, "hops", hops_json(env), &failed);
	if (report)
		put_report(o, env, &failed);
	if (!report && env->n_att)
		put(o, "att", att_json(env), &failed);
	if (report && env->via[0])
		put(o, "via", json_string(env->via), &failed);
	if (report && env->has_rsig)
		put(o, "sig", rsig_json(&env->rsig), &failed);
	if (!failed)
		text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (text && len)
		*len = strlen(text);
	return text;
}

static char *ref_error_json(const struct relay_env_error *err)
{
	json_t *o = json_object();
	char *text = NULL;
	int failed = !o;

	if (failed)
		return NULL;
	put(o, "error", json_string(err->code ? err->code : "bad_json"), &failed);
	if (err->field[0])
		put(o, "field", json_string(err->field), &failed);
	put(o, "reason", json_string(err->reason), &failed);
	if (!failed)
		text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return text;
}

/* ------------------------------------------------------------ generator */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16) % n;
}

/* Valid UTF-8 without NUL of at most max - 1 bytes (0 when empty_ok), NUL-terminated:
 * controls, quotes, backslashes, slashes, DEL and characters of 2 to 4 bytes. */
static void gen_text(char *buf, size_t max, bool empty_ok)
{
	static const char *const pieces[] = {
		"a", "Z", "0", "-", ".", " ", "/", "\"", "\\", "\x01", "\x1f", "\n", "\t", "\b",
		"\f", "\r", "\x7f", "\x0b", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
		"\xed\x9f\xbf", "~", "{", "}", ":", ",",
	};
	size_t want = empty_ok ? rnd((uint32_t)max) : 1 + rnd((uint32_t)max - 1), n = 0;

	while (n < want) {
		const char *p = pieces[rnd(sizeof pieces / sizeof pieces[0])];
		size_t k = strlen(p);
		if (n + k > max - 1)
			break;
		memcpy(buf + n, p, k);
		n += k;
	}
	if (n == 0 && !empty_ok)
		buf[n++] = 'x';
	buf[n] = '\0';
}

static int64_t gen_i64(void)
{
	switch (rnd(5)) {
	case 0: return INT64_MIN;
	case 1: return INT64_MAX;
	case 2: return -(int64_t)rnd(1000);
	default: return (int64_t)((uint64_t)rnd(UINT32_MAX) << 20 | rnd(1 << 20));
	}
}

static void gen_sig(struct relay_sig *s, bool node)
{
	if (node)
		gen_text(s->node, sizeof s->node, false);
	gen_text(s->kid, sizeof s->kid, false);
	s->at_ms = gen_i64();
	s->n_proof = (uint8_t)rnd(RELAY_PROOF_MAX + 1);
	for (size_t i = 0; i < RELAY_PROOF_MAX; i++) {
		s->proof[i].left = rnd(2);
		for (size_t k = 0; k < RELAY_HASH_LEN; k++)
			s->proof[i].hash[k] = (unsigned char)rnd(256);
	}
	for (size_t k = 0; k < RELAY_SIG_LEN; k++)
		s->sig[k] = (unsigned char)rnd(256);
}

/* An envelope with every optional field present or not; body and att are malloc'd. */
static void gen_env(struct relay_envelope *e)
{
	bool report = rnd(3) == 0;

	memset(e, 0, sizeof *e);
	e->kind = report ? RELAY_ENV_REPORT : RELAY_ENV_MESSAGE;
	gen_text(e->id, sizeof e->id, false);
	if (rnd(2))
		gen_text(e->rid, sizeof e->rid, false);
	gen_text(e->from.text, 40, false);
	gen_text(e->to.text, sizeof e->to.text, false);
	e->ts_ms = gen_i64();
	e->ttl_s = rnd(3) ? rnd(604801) : UINT32_MAX;
	gen_text(e->type, sizeof e->type, true);
	e->dlr = rnd(2);
	e->prio = (uint8_t)rnd(256);
	e->n_hops = rnd(RELAY_ENV_HOPS_MAX + 1);
	for (size_t i = 0; i < e->n_hops; i++)
		gen_text(e->hops[i], sizeof e->hops[i], rnd(8) == 0);
	if (report) {
		gen_text(e->ref, sizeof e->ref, false);
		e->status = (enum relay_report_status)(1 + rnd(3));
		if (rnd(2))
			gen_text(e->reason, sizeof e->reason, false);
		e->at_ms = gen_i64();
		if (rnd(2))
			gen_text(e->via, sizeof e->via, false);
		e->has_rsig = rnd(2);
		if (e->has_rsig)
			gen_sig(&e->rsig, true);
		return;
	}
	e->is_text = rnd(2);
	e->body_len = rnd(5) == 0 ? 3000 + rnd(5000) : rnd(200);
	e->body = malloc(e->body_len + 1);
	assert_non_null(e->body);
	if (e->is_text) {
		gen_text((char *)e->body, e->body_len + 1, true);
		e->body_len = strlen((char *)e->body);
	} else {
		for (size_t i = 0; i < e->body_len; i++)
			e->body[i] = (unsigned char)rnd(256);
	}
	e->n_att = rnd(3) ? 0 : 1 + rnd(3);
	if (e->n_att) {
		e->att = calloc(e->n_att, sizeof *e->att);
		assert_non_null(e->att);
	}
	for (size_t i = 0; i < e->n_att; i++) {
		struct relay_att *l = &e->att[i];
		gen_text(l->rid, sizeof l->rid, false);
		gen_text(l->peer, sizeof l->peer, false);
		l->level = (enum relay_att_level)(1 + rnd(3));
		if (rnd(2))
			gen_text(l->to, sizeof l->to, false);
		gen_sig(&l->sig, true);
	}
	e->level = (enum relay_att_level)rnd(4); /* never on the wire */
}

static void check_env(const struct relay_envelope *e)
{
	size_t n1 = 0, n2 = 0;
	char *mine = relay_envelope_to_json(e, &n1), *theirs = ref_to_json(e, &n2);

	assert_non_null(theirs);
	assert_non_null(mine);
	assert_string_equal(mine, theirs);
	assert_int_equal(n1, n2);
	free(mine);
	free(theirs);
}

static void test_envelope_differential(void **state)
{
	(void)state;
	for (int i = 0; i < 600; i++) {
		struct relay_envelope e;

		gen_env(&e);
		check_env(&e);
		relay_envelope_clear(&e);
	}
}

/* Refusals as before: a report status or an att level without a name gives NULL. */
static void test_envelope_refusals(void **state)
{
	struct relay_envelope e;

	(void)state;
	do {
		gen_env(&e);
		if (e.kind != RELAY_ENV_REPORT)
			relay_envelope_clear(&e);
	} while (e.kind != RELAY_ENV_REPORT);
	e.status = (enum relay_report_status)0;
	assert_null(ref_to_json(&e, NULL));
	assert_null(relay_envelope_to_json(&e, NULL));
	relay_envelope_clear(&e);
	do {
		gen_env(&e);
		if (e.n_att == 0)
			relay_envelope_clear(&e);
	} while (e.n_att == 0);
	e.att[e.n_att - 1].level = RELAY_LEVEL_NONE;
	assert_null(ref_to_json(&e, NULL));
	assert_null(relay_envelope_to_json(&e, NULL));
	relay_envelope_clear(&e);
}

/* A body empty or NULL, of each length modulo 3, and a big one (base64 off the stack). */
static void test_envelope_bodies(void **state)
{
	static const size_t lens[] = {0, 1, 2, 3, 4, 5, 3069, 3070, 3071, 3072, 3073, 100000};
	struct relay_envelope e;

	(void)state;
	do {
		gen_env(&e);
		if (e.kind != RELAY_ENV_MESSAGE)
			relay_envelope_clear(&e);
	} while (e.kind != RELAY_ENV_MESSAGE);
	free(e.body);
	e.body = NULL;
	e.body_len = 0;
	for (int t = 0; t < 2; t++) {
		e.is_text = t;
		check_env(&e);
	}
	for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		free(e.body);
		e.body = malloc(lens[i] + 1);
		assert_non_null(e.body);
		e.body_len = lens[i];
		for (size_t k = 0; k < lens[i]; k++)
			e.body[k] = (unsigned char)(k % 3 ? 'a' + k % 26 : k % 256);
		e.is_text = false;
		check_env(&e);
		for (size_t k = 0; k < lens[i]; k++)
			e.body[k] = (unsigned char)(1 + k % 127);
		e.is_text = true;
		check_env(&e);
	}
	relay_envelope_clear(&e);
}

static void test_error_json(void **state)
{
	(void)state;
	for (int i = 0; i < 300; i++) {
		struct relay_env_error err = {0};
		static const char *const codes[] = {NULL, "bad_json", "bad_field", "too_large"};
		char *mine, *theirs;

		err.code = codes[rnd(4)];
		if (rnd(2))
			gen_text(err.field, sizeof err.field, false);
		gen_text(err.reason, sizeof err.reason, true);
		mine = relay_env_error_json(&err);
		theirs = ref_error_json(&err);
		assert_non_null(mine);
		assert_string_equal(mine, theirs);
		free(mine);
		free(theirs);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_ascii),
		cmocka_unit_test(test_escape_utf8),
		cmocka_unit_test(test_escape_long),
		cmocka_unit_test(test_int),
		cmocka_unit_test(test_nesting),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_raw),
		cmocka_unit_test(test_failure),
		cmocka_unit_test(test_envelope_differential),
		cmocka_unit_test(test_envelope_refusals),
		cmocka_unit_test(test_envelope_bodies),
		cmocka_unit_test(test_error_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
