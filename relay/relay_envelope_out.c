/*
 * Envelope v1 on the wire, outwards: an envelope as compact JSON (as pushed to a peer or
 * pulled from an inbox) and the error object a carrier gets back. Parsing is
 * relay_envelope.c's.
 */
#include "relay/relay_priv.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define B64_STACK 4096 /* base64 of bodies up to 3 KiB is encoded on the stack */

/* --------------------------------------------------------------- writing */

/* "k":"s" */
static void put_s(struct rw *w, const char *k, const char *s)
{
	rw_key(w, k);
	rw_str(w, s, strlen(s));
}

/* "k":v */
static void put_i(struct rw *w, const char *k, int64_t v)
{
	rw_key(w, k);
	rw_int(w, v);
}

/* The body: its text, or its bytes in base64. */
static bool put_content(struct rw *w, const struct relay_envelope *env)
{
	const char *p = env->body ? (const char *)env->body : "";
	char stack[B64_STACK], *b64 = stack;
	size_t n;

	if (env->is_text) {
		rw_key(w, "text");
		rw_str(w, p, env->body_len);
		return true;
	}
	if (env->body_len > (SIZE_MAX - 1) / 4 * 3 - 3)
		return false;
	if (RR_B64_LEN(env->body_len) + 1 > sizeof stack &&
	    !(b64 = malloc(RR_B64_LEN(env->body_len) + 1)))
		return false;
	n = rr_b64_encode((const unsigned char *)p, env->body_len, b64);
	rw_key(w, "body");
	rw_str(w, b64, n);
	if (b64 != stack)
		free(b64);
	return true;
}

static void put_hops(struct rw *w, const struct relay_envelope *env)
{
	rw_key(w, "hops");
	rw_arr(w);
	for (size_t i = 0; i < env->n_hops && i < RELAY_ENV_HOPS_MAX; i++)
		rw_str(w, env->hops[i], strlen(env->hops[i]));
	rw_end(w, ']');
}

/* ref, status, reason, at; false for a status without a name. */
static bool put_report(struct rw *w, const struct relay_envelope *env)
{
	bool known = env->status >= RELAY_REPORT_DELIVERED && env->status <= RELAY_REPORT_FAILED;

	put_s(w, "ref", env->ref);
	if (!known)
		return false;
	put_s(w, "status", relay_report_status_name(env->status));
	if (env->reason[0])
		put_s(w, "reason", env->reason);
	put_i(w, "at", env->at_ms);
	return true;
}

/* A proof step: "l:" or "r:", then the hash in lower-case hex. */
static void put_step(struct rw *w, const struct relay_proof_step *st)
{
	static const char hex[] = "0123456789abcdef";
	char buf[2 + 2 * RELAY_HASH_LEN];
	size_t k = 0;

	buf[k++] = st->left ? 'l' : 'r';
	buf[k++] = ':';
	for (size_t i = 0; i < RELAY_HASH_LEN; i++) {
		buf[k++] = hex[st->hash[i] >> 4];
		buf[k++] = hex[st->hash[i] & 15];
	}
	rw_str(w, buf, k);
}

/* node, kid, at, proof, sig of a link or a report's sig, appended to the object in that
 * order. */
static void put_sig(struct rw *w, const struct relay_sig *sig, bool with_node)
{
	char b64[RR_B64_LEN(RELAY_SIG_LEN) + 1];
	size_t n;

	if (with_node)
		put_s(w, "node", sig->node);
	put_s(w, "kid", sig->kid);
	put_i(w, "at", sig->at_ms);
	rw_key(w, "proof");
	rw_arr(w);
	for (size_t i = 0; i < sig->n_proof && i < RELAY_PROOF_MAX; i++)
		put_step(w, &sig->proof[i]);
	rw_end(w, ']');
	n = rr_b64_encode(sig->sig, RELAY_SIG_LEN, b64);
	rw_key(w, "sig");
	rw_str(w, b64, n);
}

/* The attestation chain; false for a link whose level has no name. */
static bool put_att(struct rw *w, const struct relay_envelope *env)
{
	rw_key(w, "att");
	rw_arr(w);
	for (size_t i = 0; i < env->n_att && i < RELAY_ATT_MAX; i++) {
		const struct relay_att *l = &env->att[i];
		const char *level = relay_att_level_name(l->level);

		if (!level[0])
			return false;
		rw_obj(w);
		put_s(w, "node", l->sig.node);
		put_s(w, "rid", l->rid);
		put_s(w, "peer", l->peer);
		put_s(w, "level", level);
		if (l->to[0])
			put_s(w, "to", l->to);
		put_sig(w, &l->sig, false);
		rw_end(w, '}');
	}
	rw_end(w, ']');
	return true;
}

/* The members in the order jansson's version wrote them (tests/unit/test_json_write.c
 * compares the two). */
char *relay_envelope_to_json(const struct relay_envelope *env, size_t *len)
{
	bool report = env->kind == RELAY_ENV_REPORT;
	struct rw w;
	bool ok = true;

	rw_init(&w);
	rw_obj(&w);
	put_i(&w, "v", 1);
	put_s(&w, "id", env->id);
	if (env->rid[0])
		put_s(&w, "rid", env->rid);
	if (report)
		put_s(&w, "kind", "report");
	put_s(&w, "from", env->from.text);
	put_s(&w, "to", env->to.text);
	put_i(&w, "ts", env->ts_ms);
	put_i(&w, "ttl", env->ttl_s);
	put_s(&w, "type", env->type);
	if (!report)
		ok = put_content(&w, env);
	rw_key(&w, "dlr");
	rw_bool(&w, env->dlr);
	put_i(&w, "prio", env->prio);
	put_hops(&w, env);
	if (ok && report)
		ok = put_report(&w, env);
	if (ok && !report && env->n_att)
		ok = put_att(&w, env);
	if (ok && report && env->via[0])
		put_s(&w, "via", env->via);
	if (ok && report && env->has_rsig) {
		rw_key(&w, "sig");
		rw_obj(&w);
		put_sig(&w, &env->rsig, true);
		rw_end(&w, '}');
	}
	if (!ok) {
		free(rw_finish(&w, NULL));
		return NULL;
	}
	rw_end(&w, '}');
	return rw_finish(&w, len);
}

char *relay_env_error_json(const struct relay_env_error *err)
{
	struct rw w;

	rw_init(&w);
	rw_obj(&w);
	put_s(&w, "error", err->code ? err->code : "bad_json");
	if (err->field[0])
		put_s(&w, "field", err->field);
	put_s(&w, "reason", err->reason);
	rw_end(&w, '}');
	return rw_finish(&w, NULL);
}
