/*
 * Delivery reports: when a message that asked for one (dlr) becomes final, a report envelope
 * is built, routed back to its sender like any message, and queued durably; the delivery
 * engine (or the sender's inbox) then carries it as it carries messages.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay/relay_priv.h"

#define MS_PER_S 1000

/* An insert on its way to the writer; freed by its done(). */
struct report_op {
	struct queue_op op;
	struct relay_node *node;
	unsigned char *payload;
	char client_id[QUEUE_NAME_MAX + 1];
	char dst[QUEUE_NAME_MAX + 1];
	char ref[RELAY_RID_LEN + 1];
	enum queue_mode mode;
};

static void copy_text(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src ? src : "");
}

/* The writer committed (or refused) the report: wake whoever carries it, and free. */
static void report_done(struct queue_op *op)
{
	struct report_op *r = op->arg;
	char rid[QUEUE_RID_TEXT + 1];

	if (op->rc != 0) {
		relay_log(RELAY_LOG_WARN, "report_lost", "ref=%s peer=%s error=\"%s\"", r->ref,
			  r->dst, queue_strerror(op->rc));
	} else if (!op->u.insert.duplicate) {
		queue_rid_format(&op->u.insert.rid, rid);
		relay_log(RELAY_LOG_DEBUG, "report_queued", "rid=%s ref=%s peer=%s mode=%s", rid,
			  r->ref, r->dst, r->mode == QUEUE_PULL ? "pull" : "push");
		if (r->mode == QUEUE_PULL)
			relay_inbox_notify(r->node->inbox, r->dst);
		else
			relay_delivery_kick(r->node->delivery);
	}
	free(r->payload);
	free(r);
}

/* The report for env (a message) as its own envelope. */
static void build(struct relay_envelope *rep, const struct relay_config *cfg,
		  const struct relay_envelope *env, const char *rid,
		  enum relay_report_status status, const char *reason, int64_t now)
{
	uint64_t ttl = cfg->delivery.default_ttl_s;

	memset(rep, 0, sizeof(*rep));
	rep->kind = RELAY_ENV_REPORT;
	snprintf(rep->id, sizeof(rep->id), "dlr.%s", rid);
	rep->from = env->to;
	rep->to = env->from;
	rep->ts_ms = now;
	rep->ttl_s = ttl > UINT32_MAX ? UINT32_MAX : (ttl ? (uint32_t)ttl : 1);
	copy_text(rep->type, sizeof(rep->type), RELAY_ENV_DEFAULT_TYPE);
	rep->prio = env->prio;
	/* the rid the submitter knows: an upstream relay's, else ours */
	copy_text(rep->ref, sizeof(rep->ref), env->rid[0] ? env->rid : rid);
	rep->status = status;
	copy_text(rep->reason, sizeof(rep->reason), reason);
	rep->at_ms = now;
}

/*
 * Where the report goes: the decision's peer and mode (a WAIT names the peer waited for; the
 * route table's peer for the address stands in should it not). The engine decides again at
 * each attempt. Returns 0, or -RELAY_EFIELD when the sender cannot be reached (no route,
 * loop, suspended).
 */
static int destination(struct relay_node *node, const struct relay_envelope *rep, int64_t now,
		       struct report_op *r, char *why, size_t whylen)
{
	struct route_msg m = {.to = &rep->to,
			      .from = &rep->from,
			      .src_peer = relay_cfg(node)->node_id,
			      .now_ms = now,
			      .dry_run = true};
	struct route_decision d;
	const struct route_table *t;
	const struct route_entry *re;
	const struct route_peer *p;
	int rc = route_decide(node->routing, &m, &d);

	copy_text(why, whylen, d.why);
	if (rc != 0 || d.verdict == ROUTE_REJECT)
		return -RELAY_EFIELD;
	if (d.peer[0]) { /* deliver, or wait for that (push) peer */
		copy_text(r->dst, sizeof(r->dst), d.peer);
		r->mode = d.verdict == ROUTE_DELIVER && d.pull ? QUEUE_PULL : QUEUE_PUSH;
		return 0;
	}
	rc = -RELAY_EFIELD;
	t = routing_acquire(node->routing);
	if (route_table_lookup(t, &rep->to, &re) == 0 && (p = route_table_peer(t, re->peer))) {
		copy_text(r->dst, sizeof(r->dst), p->name);
		r->mode = p->n_endpoints ? QUEUE_PUSH : QUEUE_PULL;
		rc = 0;
	}
	routing_release(t);
	return rc;
}

int relay_report_queue(struct relay_node *node, const struct relay_envelope *env,
		       const struct queue_status *st, enum relay_report_status status,
		       const char *reason, const char *via)
{
	const struct relay_config *cfg = relay_cfg(node);
	int64_t now = relay_now_ms();
	struct relay_envelope rep;
	struct report_op *r;
	char rid[QUEUE_RID_TEXT + 1], why[sizeof(((struct route_decision *)0)->why)], q[200];
	size_t len;
	int rc;

	if (!env->dlr || env->kind != RELAY_ENV_MESSAGE)
		return 0;
	if (status < RELAY_REPORT_DELIVERED || status > RELAY_REPORT_FAILED)
		return -RELAY_EFIELD;
	/* a message moved to a linked account's inbox says so in its route ("via line"): its
	 * report, made when that carrier acknowledges it, says so too */
	if (status == RELAY_REPORT_DELIVERED && (!reason || !reason[0]) &&
	    strncmp(st->route, "via ", 4) == 0)
		reason = st->route;
	queue_rid_format(&st->rid, rid);
	build(&rep, cfg, env, rid, status, reason, now);
	if (status == RELAY_REPORT_DELIVERED)
		copy_text(rep.via, sizeof(rep.via), via);
	if (!(r = calloc(1, sizeof(*r))))
		return -RELAY_ENOMEM;
	r->node = node;
	copy_text(r->ref, sizeof(r->ref), rep.ref);
	if ((rc = destination(node, &rep, now, r, why, sizeof(why))) != 0) {
		relay_log(RELAY_LOG_WARN, "report_dropped", "rid=%s status=%s why=%s", rid,
			  relay_report_status_name(status), relay_log_quote(why, q, sizeof(q)));
		free(r);
		return rc;
	}
	if ((rc = relay_envelope_encode(&rep, &r->payload, &len)) != 0) {
		free(r);
		return rc;
	}
	copy_text(r->client_id, sizeof(r->client_id), rep.id);
	r->op = (struct queue_op){
		.type = QUEUE_OP_INSERT,
		.done = report_done,
		.arg = r,
		.u.insert = {.now_ms = now,
			     .src_peer = cfg->node_id,
			     .client_id = r->client_id,
			     .dst_peer = r->dst,
			     .mode = r->mode,
			     .due_ms = now,
			     .expires_ms = now + (int64_t)rep.ttl_s * MS_PER_S,
			     .payload = r->payload,
			     .len = len},
	};
	relay_log(RELAY_LOG_INFO, "report", "rid=%s ref=%s status=%s peer=%s reason=%s", rid,
		  rep.ref, relay_report_status_name(status), r->dst,
		  relay_log_quote(rep.reason, q, sizeof(q)));
	queue_submit(node->q, &r->op);
	return 0;
}
