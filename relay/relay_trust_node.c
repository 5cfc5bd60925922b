/*
 * Trust at the node: what relay_trust.c's keys and signatures are used for when an
 * envelope comes in (relay_trust_check_in: a relay peer's chain and reports, against the
 * keys pinned for it) and when it goes out (relay_trust_sign_out: this node's link and
 * report signatures, one batch signature for all that leaves together).
 */
#include "relay/relay_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------- at the node: coming in */

static int check_message(struct relay_trust *t, const struct route_table *rt,
			 const struct route_peer *peer, const struct relay_envelope *env, char *why,
			 size_t whylen)
{
	char stmt[RELAY_STATEMENT_MAX], sub[256];

	if (env->n_att == 0 || !env->att) {
		tr_why(why, whylen, "no attestation (peer %s pins keys)", peer->name);
		return -RELAY_ETRUST;
	}
	for (size_t i = 0; i < env->n_att; i++) {
		const struct relay_att *a = &env->att[i];
		bool last = i + 1 == env->n_att;
		size_t len;
		int rc;

		if (!last && !relay_trust_knows(rt, a->sig.kid))
			continue; /* vouched for by the links after it */
		if (last && env->n_hops > 0 && strcmp(a->sig.node, env->hops[env->n_hops - 1])) {
			tr_why(why, whylen, "att[%zu]: signed by %s, but the last hop is %s", i,
				a->sig.node, env->hops[env->n_hops - 1]);
			return -RELAY_ETRUST;
		}
		len = relay_att_statement(env, i, a, stmt, sizeof(stmt));
		if (len == 0) {
			tr_why(why, whylen, "att[%zu]: the link cannot be stated", i);
			return -RELAY_ETRUST;
		}
		rc = relay_trust_verify(t, rt, stmt, len, &a->sig, last ? peer->name : NULL, sub,
					sizeof(sub));
		if (rc != 0) {
			tr_why(why, whylen, "att[%zu]: %s", i, sub);
			return rc;
		}
	}
	return 0;
}

static int check_report(struct relay_trust *t, const struct route_table *rt,
			const struct route_peer *peer, const struct relay_envelope *env, char *why,
			size_t whylen)
{
	char stmt[RELAY_STATEMENT_MAX], sub[256];
	size_t len;
	int rc;

	if (!env->has_rsig) {
		tr_why(why, whylen, "report not signed (peer %s pins keys)", peer->name);
		return -RELAY_ETRUST;
	}
	if (!relay_trust_knows(rt, env->rsig.kid))
		return 0;
	len = relay_report_statement(env, env->rsig.node, stmt, sizeof(stmt));
	if (len == 0) {
		tr_why(why, whylen, "sig: the report cannot be stated");
		return -RELAY_ETRUST;
	}
	rc = relay_trust_verify(t, rt, stmt, len, &env->rsig, NULL, sub, sizeof(sub));
	if (rc != 0)
		tr_why(why, whylen, "sig: %s", sub);
	return rc;
}

int relay_trust_check_in(struct relay_trust *t, const struct route_table *rt,
			 const struct route_peer *peer, const struct relay_envelope *env, char *why,
			 size_t whylen)
{
	if (why && whylen)
		why[0] = '\0';
	if (!peer || peer->n_pins == 0 || !peer->pins)
		return 0;
	if (!t) {
		tr_why(why, whylen, "signing keys not loaded (peer %s pins keys)", peer->name);
		return -RELAY_ETRUST;
	}
	if (env->kind == RELAY_ENV_REPORT)
		return check_report(t, rt, peer, env, why, whylen);
	return check_message(t, rt, peer, env, why, whylen);
}

/* ------------------------------------------------- at the node: going out */

/* Whether o's address differs from the envelope's (a linked account). */
static bool to_changed(const struct relay_outgoing *o)
{
	return o->to && strcmp(o->to->text, o->env->to.text) != 0;
}

/*
 * A copy of env's chain with room for one more link; when `to` changed, the earlier links
 * that signed env's address say so in their `to`. NULL when out of memory.
 */
static struct relay_att *chain_copy(const struct relay_outgoing *o)
{
	const struct relay_envelope *env = o->env;
	struct relay_att *a = malloc((env->n_att + 1) * sizeof(*a));

	if (!a)
		return NULL;
	if (env->n_att)
		memcpy(a, env->att, env->n_att * sizeof(*a));
	for (size_t j = 0; to_changed(o) && j < env->n_att; j++)
		if (!a[j].to[0])
			snprintf(a[j].to, sizeof(a[j].to), "%s", env->to.text);
	return a;
}

/* This node's link for o into o->link and its statement into buf; 0 when none. */
static size_t link_statement(const struct relay_config *cfg, struct relay_outgoing *o, char *buf,
			     size_t size)
{
	const struct relay_envelope *env = o->env;
	struct relay_envelope view;
	struct relay_att *link = &o->link;
	size_t len;

	memset(link, 0, sizeof(*link));
	if (!o->rid || strlen(o->rid) > RELAY_RID_LEN || !o->src_peer ||
	    strlen(o->src_peer) > RELAY_NODE_ID_MAX || strlen(cfg->node_id) > RELAY_NODE_ID_MAX)
		return 0;
	snprintf(link->rid, sizeof(link->rid), "%s", o->rid);
	snprintf(link->peer, sizeof(link->peer), "%s", o->src_peer);
	link->level = env->level;
	snprintf(link->sig.node, sizeof(link->sig.node), "%s", cfg->node_id);
	if (!to_changed(o))
		return relay_att_statement(env, env->n_att, link, buf, size);
	view = *env; /* as the envelope will be sent */
	view.to = *o->to;
	view.att = chain_copy(o);
	if (!view.att)
		return SIZE_MAX;
	len = relay_att_statement(&view, env->n_att, link, buf, size);
	free(view.att);
	return len;
}

/* What o[i] gets signed: its statement into buf; 0 when nothing, SIZE_MAX on no memory. */
static size_t out_statement(const struct relay_config *cfg, struct relay_outgoing *o, char *buf,
			    size_t size)
{
	const struct relay_envelope *env = o->env;
	size_t len;

	if (env->kind == RELAY_ENV_MESSAGE && env->level != RELAY_LEVEL_NONE &&
	    env->n_att < RELAY_ATT_MAX) {
		len = link_statement(cfg, o, buf, size);
		o->add_link = len != 0 && len != SIZE_MAX;
		return len;
	}
	if (env->kind == RELAY_ENV_REPORT && !env->has_rsig && o->src_peer &&
	    strcmp(o->src_peer, cfg->node_id) == 0) {
		len = relay_report_statement(env, cfg->node_id, buf, size);
		o->add_rsig = len != 0;
		return len;
	}
	return 0;
}

int relay_trust_sign_out(const struct relay_config *cfg, struct relay_outgoing *o, size_t n,
			 int64_t now_ms)
{
	const struct relay_trust *t = cfg->trust.keys;
	const char **stmts = NULL;
	size_t *lens = NULL, *who = NULL, m = 0;
	struct relay_sig *sigs = NULL;
	char *text = NULL;
	int rc = -RELAY_ENOMEM;

	for (size_t i = 0; i < n; i++)
		o[i].add_link = o[i].add_rsig = false;
	if (!cfg->trust.attest || !t || n == 0)
		return 0;
	text = malloc(n * RELAY_STATEMENT_MAX);
	stmts = calloc(n, sizeof(*stmts));
	lens = calloc(n, sizeof(*lens));
	who = calloc(n, sizeof(*who));
	sigs = calloc(n, sizeof(*sigs));
	if (!text || !stmts || !lens || !who || !sigs)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		char *buf = text + m * RELAY_STATEMENT_MAX;
		size_t len = out_statement(cfg, &o[i], buf, RELAY_STATEMENT_MAX);

		if (len == SIZE_MAX)
			goto fail;
		if (len == 0)
			continue;
		stmts[m] = buf;
		lens[m] = len;
		who[m++] = i;
	}
	/* one signature per batch; a batch holds at most RELAY_BATCH_MAX statements */
	for (size_t at = 0; at < m; at += RELAY_BATCH_MAX) {
		size_t k = m - at < RELAY_BATCH_MAX ? m - at : RELAY_BATCH_MAX;

		rc = relay_trust_sign(t, cfg->node_id, stmts + at, lens + at, k, now_ms, sigs + at);
		if (rc != 0)
			goto fail;
	}
	for (size_t j = 0; j < m; j++) {
		struct relay_outgoing *x = &o[who[j]];

		if (x->add_link)
			x->link.sig = sigs[j];
		else
			x->rsig = sigs[j];
	}
	rc = 0;
fail:
	if (rc != 0)
		for (size_t i = 0; i < n; i++)
			o[i].add_link = o[i].add_rsig = false;
	free(text);
	free(stmts);
	free(lens);
	free(who);
	free(sigs);
	return rc;
}

int relay_outgoing_apply(const struct relay_outgoing *o, struct relay_envelope *sent,
			 struct relay_att **scratch)
{
	*scratch = NULL;
	/* a changed address needs the earlier links' own even when this node adds none */
	if (o->add_link || (to_changed(o) && o->env->n_att > 0)) {
		struct relay_att *a = chain_copy(o);

		if (!a)
			return -RELAY_ENOMEM;
		sent->n_att = o->env->n_att;
		if (o->add_link)
			a[sent->n_att++] = o->link;
		sent->att = a;
		*scratch = a;
	}
	if (o->add_rsig) {
		sent->has_rsig = true;
		sent->rsig = o->rsig;
	}
	return 0;
}

