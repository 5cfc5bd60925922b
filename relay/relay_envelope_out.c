/*
 * Envelope v1 on the wire, outwards: an envelope as compact JSON (as pushed to a peer or
 * pulled from an inbox) and the error object a carrier gets back. Parsing is
 * relay_envelope.c's.
 */
#include "relay/relay_priv.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --------------------------------------------------------------- writing */

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

char *relay_envelope_to_json(const struct relay_envelope *env, size_t *len)
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

char *relay_env_error_json(const struct relay_env_error *err)
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
