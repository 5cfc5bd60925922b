/*
 * The submission API: POST /v1/messages takes one envelope or a batch and answers only
 * after the group commit that holds it returned; GET /v1/messages/{rid} shows a message's
 * status to the peer that submitted it.
 */
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "relay/relay_priv.h"

#define COMMIT_DEADLINE_MS 30000 /* a suspended submission is answered 503 after this */
#define RETRY_FULL_S 30          /* Retry-After: the store is full */
#define RETRY_BUSY_S 10          /* Retry-After: the destination's queue is at max-queue */
#define RETRY_SUSPENDED_S 60     /* Retry-After: the destination peer is suspended */
#define RETRY_AGAIN_S 1          /* Retry-After: commit timeout, shutdown, no memory */

/* One element of a submission: why it was refused, or the insert that stores it. */
struct slot {
	unsigned code;          /* HTTP status of this element; 0 while its insert is pending */
	const char *error;      /* static error code when refused */
	char field[32];         /* "" when no single field is at fault */
	char reason[160];
	unsigned retry_after;   /* seconds, with 503 and 507 */
	bool insert;            /* op was (or will be) submitted */
	struct queue_op op;
	unsigned char *payload; /* the stored record; borrowed by op until done() */
	char client_id[QUEUE_NAME_MAX + 1];
	char dst[QUEUE_NAME_MAX + 1];
};

/* A submission's state (req->state): lives until the request's last reference goes. */
struct submit {
	struct relay_node *node;
	struct relay_req *req;
	char peer[QUEUE_NAME_MAX + 1];
	bool is_array;
	size_t n, n_inserts;
	atomic_size_t pending; /* inserts whose done() has not run yet */
	int64_t start_ms;
	uint64_t start_us;     /* relay_stats_clock_us(): the accept latency's start */
	struct slot slots[];   /* n */
};

/* Live messages per destination while a batch is checked (backpressure). */
struct dst_count {
	const char *dst;
	uint64_t live;
};

/* What checking an element needs. */
struct check {
	struct submit *s;
	const struct route_peer *peer;
	const struct route_table *table;
	int64_t now;
	struct dst_count *dc; /* distinct destinations seen so far */
	size_t n_dc;
};

static void state_free(void *p)
{
	struct submit *s = p;

	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->slots[i].payload);
	free(s);
}

__attribute__((format(printf, 5, 6))) static bool refuse(struct slot *sl, unsigned code,
							  const char *error, const char *field,
							  const char *fmt, ...)
{
	va_list ap;

	sl->code = code;
	sl->error = error;
	snprintf(sl->field, sizeof(sl->field), "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(sl->reason, sizeof(sl->reason), fmt, ap);
	va_end(ap);
	return false;
}

/* ------------------------------------------------------- checking an element */

/* Anti-spoofing: from must belong to the submitting peer (a relay vouches for its own).
 * *level: how it is bound to from, for this node's attestation link. */
static bool check_from(struct check *c, struct slot *sl, const struct relay_envelope *env,
		       enum relay_att_level *level)
{
	enum route_trust trust;
	int rc = route_may_send(c->s->node->routing, c->peer->name, &env->from, &trust);

	if (rc == 0) {
		*level = trust == ROUTE_TRUST_OWNED       ? RELAY_LEVEL_OWNED
			 : trust == ROUTE_TRUST_DIRECTORY ? RELAY_LEVEL_DIRECTORY
							  : RELAY_LEVEL_RELAYED;
		return true;
	}
	if (rc == -ROUTE_ESPOOF)
		return refuse(sl, MHD_HTTP_FORBIDDEN, "spoofed_from", "from",
			      "this peer may not send from that address");
	if (rc == -ROUTE_ESUSPENDED) /* since it authenticated (a reload) */
		return refuse(sl, MHD_HTTP_FORBIDDEN, "forbidden", NULL, "peer suspended");
	return refuse(sl, MHD_HTTP_FORBIDDEN, "forbidden", NULL, "%s", route_strerror(rc));
}

/* Signatures: only a relay sends an attestation chain or a signed report, and one whose
 * keys are pinned here must send valid ones (relay_trust_check_in). */
static bool check_trust(struct check *c, struct slot *sl, const struct relay_envelope *env)
{
	const struct relay_config *cfg = relay_cfg(c->s->node);
	const char *field = env->kind == RELAY_ENV_REPORT ? "sig" : "att";
	char why[sizeof(sl->reason)];
	int rc;

	if (c->peer->kind != ROUTE_PEER_RELAY) {
		if (env->n_att || env->has_rsig)
			return refuse(sl, MHD_HTTP_FORBIDDEN, "bad_attestation", field,
				      "only a relay peer may send %s", field);
		return true;
	}
	rc = relay_trust_check_in(cfg->trust.keys, c->table, c->peer, env, why, sizeof(why));
	if (rc == -RELAY_ETRUST)
		return refuse(sl, MHD_HTTP_FORBIDDEN, "bad_attestation", field, "%s", why);
	if (rc != 0) {
		sl->retry_after = RETRY_AGAIN_S;
		return refuse(sl, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", NULL,
			      "out of memory");
	}
	return true;
}

/* Routing, as a dry run: where it goes (sl->dst), push or pull, and when it is due. */
static bool check_route(struct check *c, struct slot *sl, const struct relay_envelope *env,
			enum queue_mode *mode, int64_t *due)
{
	struct route_msg m = {.to = &env->to, .from = &env->from, .hops = env->hops,
			      .n_hops = env->n_hops, .src_peer = c->peer->name,
			      .now_ms = c->now, .dry_run = true};
	struct route_decision d;

	if (route_decide(c->s->node->routing, &m, &d) != 0)
		return refuse(sl, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", NULL,
			      "routing failed");
	if (d.verdict == ROUTE_REJECT) {
		if (d.reject == -ROUTE_ENOROUTE)
			return refuse(sl, MHD_HTTP_NOT_FOUND, "no_route", "to", "%s", d.why);
		if (d.reject == -ROUTE_ESUSPENDED) {
			sl->retry_after = RETRY_SUSPENDED_S;
			return refuse(sl, MHD_HTTP_SERVICE_UNAVAILABLE, "destination_suspended",
				      NULL, "%s", d.why);
		}
		return refuse(sl, MHD_HTTP_BAD_REQUEST, "bad_field", "hops", "%s", d.why);
	}
	/* DELIVER or WAIT: both name the peer (a WAIT waits for it) */
	*mode = d.verdict == ROUTE_DELIVER && d.pull ? QUEUE_PULL : QUEUE_PUSH;
	*due = d.verdict == ROUTE_WAIT ? d.wait_until_ms : c->now;
	snprintf(sl->dst, sizeof(sl->dst), "%s", d.peer);
	return true;
}

/* Backpressure: the destination's live messages (with this batch's) below its max-queue. */
static bool check_busy(struct check *c, struct slot *sl)
{
	const struct route_peer *p = route_table_peer(c->table, sl->dst);
	struct dst_count *d = NULL;
	struct queue_rid first;
	uint64_t live = 0;
	bool dup;

	for (size_t i = 0; i < c->n_dc && !d; i++)
		if (strcmp(c->dc[i].dst, sl->dst) == 0)
			d = &c->dc[i];
	/* a repeated id is answered with its first rid, however busy the destination; the
	 * destination's live count is read once a request (this batch's own are added) */
	if (queue_admit_get(c->s->node->q, c->s->peer, sl->client_id, sl->dst, &first, &dup,
			    d ? NULL : &live) == 0 &&
	    dup)
		return true;
	if (!d) {
		d = &c->dc[c->n_dc++];
		d->dst = sl->dst;
		d->live = live;
	}
	if (p && p->max_queue && d->live >= p->max_queue) {
		sl->retry_after = RETRY_BUSY_S;
		return refuse(sl, MHD_HTTP_SERVICE_UNAVAILABLE, "destination_busy", NULL,
			      "the destination's queue is full (max-queue %llu)",
			      (unsigned long long)p->max_queue);
	}
	d->live++;
	return true;
}

static void insert_done(struct queue_op *op);

/* Encodes the record and prepares its insert. */
static bool prepare(struct check *c, struct slot *sl, struct relay_envelope *env,
		    enum queue_mode mode, int64_t due, int64_t expires)
{
	const struct relay_config *cfg = relay_cfg(c->s->node);
	size_t len = 0;

	/* encryption at rest: the body is sealed before it reaches the queue */
	if (relay_record_encode(cfg->store.encrypt ? cfg->store.keys : NULL, env, &sl->payload,
				&len) != 0) {
		sl->retry_after = RETRY_AGAIN_S;
		return refuse(sl, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", NULL,
			      "out of memory");
	}
	sl->insert = true;
	sl->op = (struct queue_op){.type = QUEUE_OP_INSERT, .done = insert_done, .arg = c->s};
	sl->op.u.insert = (struct queue_op_insert){
		.now_ms = c->now, .src_peer = c->s->peer, .client_id = sl->client_id,
		.dst_peer = sl->dst, .mode = mode, .due_ms = due, .expires_ms = expires,
		.payload = sl->payload, .len = len};
	return true;
}

/* One element: parse result, anti-spoofing, expiry, route, backpressure, then the insert. */
static void check_item(struct check *c, struct slot *sl, struct relay_env_item *it)
{
	struct relay_envelope *env = &it->env;
	enum relay_att_level level = RELAY_LEVEL_NONE;
	enum queue_mode mode;
	int64_t due, expires;

	if (it->rc != 0) {
		refuse(sl, it->rc == -RELAY_ETOOBIG ? MHD_HTTP_CONTENT_TOO_LARGE : MHD_HTTP_BAD_REQUEST,
		       it->err.code ? it->err.code : "bad_field", it->err.field, "%s", it->err.reason);
		return;
	}
	if (!check_from(c, sl, env, &level) || !check_trust(c, sl, env))
		return;
	/* the link this node adds when the message leaves it (relay_trust_sign_out) */
	env->level = env->kind == RELAY_ENV_MESSAGE && relay_cfg(c->s->node)->trust.attest
			     ? level
			     : RELAY_LEVEL_NONE;
	expires = env->ts_ms + (int64_t)env->ttl_s * 1000;
	if (expires <= c->now) {
		refuse(sl, MHD_HTTP_BAD_REQUEST, "bad_field", "ttl",
		       "already expired (ts + ttl is in the past)");
		return;
	}
	/* a relay's rid is the upstream's, kept for its reports; a carrier's is ignored */
	if (c->peer->kind != ROUTE_PEER_RELAY)
		env->rid[0] = '\0';
	snprintf(sl->client_id, sizeof(sl->client_id), "%s", env->rid[0] ? env->rid : env->id);
	if (check_route(c, sl, env, &mode, &due) && check_busy(c, sl))
		prepare(c, sl, env, mode, due, expires);
}

/* ---------------------------------------------------------- commit and answer */

/* Writer thread: record, and once the request's last insert is done, wake what waits. */
static void insert_done(struct queue_op *op)
{
	struct submit *s = op->arg;
	struct relay_req *req = s->req;
	struct relay_node *node = s->node;
	bool push = false;
	const char *pulled = NULL;

	if (op->rc == 0)
		atomic_fetch_add(op->u.insert.duplicate ? &node->duplicates : &node->accepted, 1);
	if (op->rc == 0 && !op->u.insert.duplicate) {
		relay_stats_count(node->stats, s->peer, RELAY_STAT_ACCEPTED);
		relay_stats_latency(node->stats, RELAY_HIST_ACCEPT,
				    relay_stats_clock_us() - s->start_us);
	}
	if (atomic_fetch_sub(&s->pending, 1) == 1) {
		for (size_t i = 0; i < s->n; i++) {
			const struct queue_op *o = &s->slots[i].op;
			if (!s->slots[i].insert || o->rc != 0 || o->u.insert.duplicate)
				continue;
			if (o->u.insert.mode == QUEUE_PUSH) {
				push = true;
			} else if (!pulled || strcmp(pulled, o->u.insert.dst_peer) != 0) {
				pulled = o->u.insert.dst_peer;
				relay_inbox_notify(node->inbox, pulled);
			}
		}
		if (push)
			relay_delivery_kick(node->delivery);
		relay_req_resume(req);
	}
	relay_req_release(req);
}

/* An element's final code from its insert's result. */
static void settle(struct slot *sl)
{
	if (!sl->insert)
		return;
	if (sl->op.rc == 0) {
		sl->code = sl->op.u.insert.duplicate ? MHD_HTTP_OK : MHD_HTTP_ACCEPTED;
	} else if (sl->op.rc == -QUEUE_EFULL) {
		sl->retry_after = RETRY_FULL_S;
		refuse(sl, MHD_HTTP_INSUFFICIENT_STORAGE, "store_full", NULL,
		       "the store is full; retry later");
	} else if (sl->op.rc == -QUEUE_ECLOSED) {
		sl->retry_after = RETRY_AGAIN_S;
		refuse(sl, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", NULL,
		       "the node is shutting down");
	} else {
		refuse(sl, MHD_HTTP_INTERNAL_SERVER_ERROR, "store_error", NULL, "%s",
		       queue_strerror(sl->op.rc));
	}
}

/* An element's answer, as members of the open object: {"rid","status"} or
 * {"error","field"?,"reason","retry_after"?}. */
static void slot_json(struct rw *w, const struct slot *sl)
{
	char rid[QUEUE_RID_TEXT + 1];
	const char *v;

	if (sl->code == MHD_HTTP_ACCEPTED || sl->code == MHD_HTTP_OK) {
		queue_rid_format(&sl->op.u.insert.rid, rid);
		rw_key(w, "rid");
		rw_str(w, rid, strlen(rid));
		v = sl->code == MHD_HTTP_OK ? "duplicate" : "queued";
		rw_key(w, "status");
		rw_str(w, v, strlen(v));
		return;
	}
	v = sl->error ? sl->error : "internal";
	rw_key(w, "error");
	rw_str(w, v, strlen(v));
	if (sl->field[0]) {
		rw_key(w, "field");
		rw_str(w, sl->field, strlen(sl->field));
	}
	rw_key(w, "reason");
	rw_str(w, sl->reason, strlen(sl->reason));
	if (sl->retry_after) {
		rw_key(w, "retry_after");
		rw_int(w, sl->retry_after);
	}
}

/* Answers with text (taken; NULL: out of memory). */
static enum MHD_Result reply_text(struct relay_req *req, unsigned code, char *text)
{
	enum MHD_Result ret;

	if (!text)
		return relay_reply_retry(req, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
					 "out of memory", RETRY_AGAIN_S);
	ret = relay_reply(req, code, text);
	free(text);
	return ret;
}

/* Answers with o (taken; NULL: out of memory). */
static enum MHD_Result reply_json(struct relay_req *req, unsigned code, json_t *o)
{
	char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

	json_decref(o);
	return reply_text(req, code, text);
}

static enum MHD_Result answer_single(struct relay_req *req, const struct slot *sl)
{
	struct rw w;

	if (sl->retry_after)
		return relay_reply_retry(req, sl->code, sl->error, sl->reason, sl->retry_after);
	rw_init(&w);
	rw_obj(&w);
	slot_json(&w, sl);
	rw_end(&w, '}');
	return reply_text(req, sl->code, rw_finish(&w, NULL));
}

/* A batch: 200 and one result per element, in order, each with the code it would have
 * got alone. */
static enum MHD_Result answer_batch(struct relay_req *req, const struct submit *s)
{
	struct rw w;

	rw_init(&w);
	rw_obj(&w);
	rw_key(&w, "results");
	rw_arr(&w);
	for (size_t i = 0; i < s->n; i++) {
		rw_obj(&w);
		rw_key(&w, "index");
		rw_int(&w, (int64_t)i);
		rw_key(&w, "code");
		rw_int(&w, s->slots[i].code);
		slot_json(&w, &s->slots[i]);
		rw_end(&w, '}');
	}
	rw_end(&w, ']');
	rw_end(&w, '}');
	return reply_text(req, MHD_HTTP_OK, rw_finish(&w, NULL));
}

/* One log line per submission: who, how many, what came of them; never a body. */
static void log_submit(const struct submit *s, unsigned status)
{
	size_t queued = 0, dup = 0;
	unsigned first = 0;

	for (size_t i = 0; i < s->n; i++) {
		queued += s->slots[i].code == MHD_HTTP_ACCEPTED;
		dup += s->slots[i].code == MHD_HTTP_OK;
		if (!first && s->slots[i].code >= 300)
			first = s->slots[i].code;
	}
	relay_log(queued ? RELAY_LOG_INFO : RELAY_LOG_WARN, "submit",
		  "peer=%s n=%zu status=%u queued=%zu duplicate=%zu refused=%zu first_refusal=%u "
		  "ms=%lld",
		  s->peer, s->n, status, queued, dup, s->n - queued - dup, first,
		  (long long)(relay_now_ms() - s->start_ms));
}

/*
 * Logs the store's turns between full and accepting, once each: every submission refused
 * for a full store says so in its own line, but the operator needs the turn and the why
 * (limit=disk: the file system's free space, not max-map-size, is what ran out).
 */
static void note_store(struct relay_node *node, bool full)
{
	struct queue_store_stat st;

	/* a load first: every submission passes here, and a read shares the cache line */
	if (atomic_load(&node->store_full) == full ||
	    atomic_exchange(&node->store_full, full) == full)
		return;
	queue_store_stat(node->q, &st);
	relay_log(full ? RELAY_LOG_ERROR : RELAY_LOG_INFO, full ? "store_full" : "store_accepting",
		  "used=%llu max=%llu limit=%s", (unsigned long long)st.used_bytes,
		  (unsigned long long)st.max_bytes,
		  st.max_bytes < relay_cfg(node)->store.max_map_size ? "disk" : "max-map-size");
}

/* Every element is settled: answer. A batch whose every element failed for a full store
 * is answered 507 as a whole (nothing was stored; the whole batch may be retried). */
static enum MHD_Result answer(struct relay_req *req, struct submit *s)
{
	bool all_full = true, any_full = false, any_stored = false;

	for (size_t i = 0; i < s->n; i++) {
		settle(&s->slots[i]);
		all_full = all_full && s->slots[i].code == MHD_HTTP_INSUFFICIENT_STORAGE;
		any_full = any_full || s->slots[i].code == MHD_HTTP_INSUFFICIENT_STORAGE;
		any_stored = any_stored || s->slots[i].code == MHD_HTTP_ACCEPTED;
	}
	if (any_full || any_stored)
		note_store(req->node, any_full);
	if (!s->is_array || all_full) {
		log_submit(s, s->slots[0].code);
		return answer_single(req, &s->slots[0]);
	}
	log_submit(s, MHD_HTTP_OK);
	return answer_batch(req, s);
}

/* ---------------------------------------------------------------- handlers */

/* Resumed: every insert is done, or the watchdog gave up waiting. */
static enum MHD_Result resumed(struct relay_req *req)
{
	struct submit *s = req->state;

	if (req->timed_out) {
		relay_log(RELAY_LOG_WARN, "submit_timeout", "peer=%s n=%zu", s->peer, s->n);
		return relay_reply_retry(req, MHD_HTTP_SERVICE_UNAVAILABLE, "commit_timeout",
					 "not confirmed in time; retry with the same id "
					 "(a stored message answers as a duplicate)",
					 RETRY_AGAIN_S);
	}
	return answer(req, s);
}

/* Answers a refused batch: too many envelopes for the peer's bucket, or over its rate. */
static bool over_rate(struct relay_req *req, size_t n, int64_t now)
{
	const struct route_peer *peer = req->peer;
	unsigned wait, burst = peer->burst ? peer->burst : peer->rate ? peer->rate : 1;

	if (n > burst) { /* could never pass: refused, not delayed */
		relay_reply_error(req, MHD_HTTP_CONTENT_TOO_LARGE, "batch_too_large", NULL,
				  "a batch may hold at most this peer's burst of envelopes");
		return true;
	}
	wait = relay_limits_take(req->node->limits, peer, (unsigned)n, now);
	if (wait == 0)
		return false;
	relay_log(RELAY_LOG_DEBUG, "rate_limited", "peer=%s n=%zu retry_after=%u", peer->name, n,
		  wait);
	relay_reply_retry(req, MHD_HTTP_TOO_MANY_REQUESTS, "rate_limited", "over this peer's rate",
			  wait);
	return true;
}

/* Parses, rate-limits and allocates the state; NULL when the request was answered.
 * *items (and *n of them) are the caller's to free when the state is returned. */
static struct submit *begin_submit(struct relay_req *req, int64_t now,
				   struct relay_env_item **items, size_t *n)
{
	struct relay_env_limits lim;
	struct relay_env_error err;
	struct submit *s = NULL;
	bool is_array;

	relay_env_limits_for(relay_cfg(req->node), req->peer, now, &lim);
	int rc = relay_envelope_parse_batch(req->body, req->len, &lim, items, n, &is_array, &err);
	if (rc != 0) {
		char *text = relay_env_error_json(&err);
		if (rc == -RELAY_EJSON && text)
			relay_reply(req, MHD_HTTP_BAD_REQUEST, text);
		else
			relay_reply_retry(req, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
					  "out of memory", RETRY_AGAIN_S);
		free(text);
		return NULL;
	}
	if (over_rate(req, *n, now))
		goto fail;
	s = calloc(1, sizeof(*s) + *n * sizeof(s->slots[0]));
	if (!s) {
		relay_reply_retry(req, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
				  "out of memory", RETRY_AGAIN_S);
		goto fail;
	}
	*s = (struct submit){.node = req->node, .req = req, .is_array = is_array, .n = *n,
			     .start_ms = now, .start_us = relay_stats_clock_us()};
	snprintf(s->peer, sizeof(s->peer), "%s", req->peer->name);
	req->state = s;
	req->state_free = state_free;
	return s;
fail:
	relay_env_items_free(*items, *n);
	*items = NULL;
	return NULL;
}

/* Checks every element; returns how many inserts are ready. */
static size_t check_all(struct relay_req *req, struct submit *s, struct relay_env_item *items,
			int64_t now)
{
	struct check c = {.s = s, .peer = req->peer, .table = req->table, .now = now,
			  .dc = calloc(s->n, sizeof(struct dst_count))};
	size_t k = 0;

	for (size_t i = 0; i < s->n; i++) {
		if (!c.dc) {
			s->slots[i].retry_after = RETRY_AGAIN_S;
			refuse(&s->slots[i], MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", NULL,
			       "out of memory");
			continue;
		}
		check_item(&c, &s->slots[i], &items[i]);
		k += s->slots[i].insert;
	}
	free(c.dc);
	return k;
}

enum MHD_Result relay_h_submit(struct relay_req *req)
{
	struct relay_env_item *items = NULL;
	struct submit *s;
	size_t n = 0;
	int64_t now;

	if (req->phase == REQ_RESUMED)
		return resumed(req);
	now = relay_now_ms();
	s = begin_submit(req, now, &items, &n);
	if (!s)
		return MHD_YES; /* answered */
	s->n_inserts = check_all(req, s, items, now);
	relay_env_items_free(items, n);
	if (s->n_inserts == 0)
		return answer(req, s);
	/* Suspend first: the first done() may resume before the last insert is submitted.
	 * One reference per insert, and one for this loop (done() may release the others). */
	atomic_store(&s->pending, s->n_inserts);
	relay_req_suspend(req, now + COMMIT_DEADLINE_MS);
	for (size_t i = 0; i <= s->n_inserts; i++)
		relay_req_hold(req);
	for (size_t i = 0; i < n; i++)
		if (s->slots[i].insert)
			queue_submit(req->node->q, &s->slots[i].op);
	relay_req_release(req);
	return MHD_YES;
}

/* GET /v1/messages/{rid}: to its submitter only; anyone else gets the same 404.
 * GET /v1/messages/{rid}/trace arrives here too (its route takes the rest of the path). */
enum MHD_Result relay_h_status(struct relay_req *req)
{
	struct queue_rid rid;
	struct queue_status st;
	char text[QUEUE_RID_TEXT + 1];
	json_t *o;
	const char *trace = strchr(req->arg, '/');
	int rc;

	if (trace && strcmp(trace, "/trace") == 0)
		return relay_h_trace(req, req->arg, (size_t)(trace - req->arg));
	if (queue_rid_parse(req->arg, strlen(req->arg), &rid) != 0)
		return relay_reply_error(req, MHD_HTTP_NOT_FOUND, "not_found", NULL,
					 "not a message id (26 Crockford base32 characters)");
	rc = queue_status_get(req->node->q, &rid, &st);
	if (rc == -QUEUE_ENOTFOUND || (rc == 0 && strcmp(st.src_peer, req->peer->name) != 0))
		return relay_reply_error(req, MHD_HTTP_NOT_FOUND, "not_found", NULL,
					 "no such message");
	if (rc != 0)
		return relay_reply_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "store_error", NULL,
					 queue_strerror(rc));
	queue_rid_format(&st.rid, text);
	o = json_pack("{sssssssIsIsIsI}", "rid", text, "id", st.client_id, "state",
		      queue_state_name(st.state), "attempts", (json_int_t)st.attempts, "created",
		      (json_int_t)st.created_ms, "updated", (json_int_t)st.updated_ms, "expires",
		      (json_int_t)st.expires_ms);
	if (o) {
		json_object_set_new(o, "final", st.final_ms ? json_integer(st.final_ms) : json_null());
		json_object_set_new(o, "last_error",
				    st.last_error[0] ? json_string(st.last_error) : json_null());
		json_object_set_new(o, "route", st.route[0] ? json_string(st.route) : json_null());
	}
	return reply_json(req, MHD_HTTP_OK, o);
}
