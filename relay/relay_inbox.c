/*
 * Pull delivery: GET /v1/inbox long-polls a peer's inbox (QUEUE_OP_PULL, the request suspended
 * while the writer works or while it waits for relay_inbox_notify); POST /v1/inbox/ack
 * finalises what the peer took as delivered and queues the delivery reports.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "relay/relay_priv.h"

#define INBOX_MAX_DEFAULT 100
#define INBOX_MAX_LIMIT 1000
#define INBOX_WAIT_MAX_S 60
#define ACK_MAX 1000
#define STORE_MARGIN_MS 10000 /* the writer's time for one operation before the watchdog answers */
#define RECHECK_MAX_MS 5000   /* a waiter pulls again this often: a lease that ran out is not
				 notified (min with the lease itself) */
#define ACK_DEADLINE_MS 30000

/* One peer's long-polls. Entries live as long as the inbox (one per pull peer that polled). */
struct ib_peer {
	struct ib_peer *next;
	uint64_t gen; /* bumped by every notify: a poll compares it across its pull */
	struct ib_poll *waiters;
	char name[QUEUE_NAME_MAX + 1];
};

struct relay_inbox {
	pthread_mutex_t lock; /* the peers, their generations and waiter lists */
	struct ib_peer *peers;
};

enum poll_step { POLL_PULLING, POLL_WAITING };

/* A GET /v1/inbox in progress (req->state). */
struct ib_poll {
	struct relay_inbox *ib;
	struct relay_req *req;
	struct ib_peer *peer;
	struct queue_op op;
	atomic_bool op_done;       /* op's results may be read */
	enum poll_step step;
	uint64_t gen;              /* peer->gen when the last pull was submitted */
	bool listed;               /* in peer->waiters (under ib->lock) */
	struct ib_poll *prev, *next;
	int64_t wait_until_ms;
	int64_t recheck_ms;
	size_t max;
	char name[QUEUE_NAME_MAX + 1];
};

struct relay_inbox *relay_inbox_new(void)
{
	struct relay_inbox *ib = calloc(1, sizeof(*ib));

	if (ib)
		pthread_mutex_init(&ib->lock, NULL);
	return ib;
}

void relay_inbox_free(struct relay_inbox *ib)
{
	if (!ib)
		return;
	for (struct ib_peer *p = ib->peers, *next; p; p = next) {
		next = p->next;
		free(p);
	}
	pthread_mutex_destroy(&ib->lock);
	free(ib);
}

/* The entry of a peer, or NULL; with `add`, made when missing (NULL only without memory).
 * Under ib->lock. */
static struct ib_peer *peer_find(struct relay_inbox *ib, const char *name, bool add)
{
	struct ib_peer *p;

	for (p = ib->peers; p; p = p->next)
		if (strcmp(p->name, name) == 0)
			return p;
	if (!add || strlen(name) > QUEUE_NAME_MAX || !(p = calloc(1, sizeof(*p))))
		return NULL;
	strcpy(p->name, name);
	p->next = ib->peers;
	ib->peers = p;
	return p;
}

/* Takes p off its peer's waiter list. Under ib->lock. */
static void unlist(struct ib_poll *p)
{
	if (!p->listed)
		return;
	if (p->prev)
		p->prev->next = p->next;
	else
		p->peer->waiters = p->next;
	if (p->next)
		p->next->prev = p->prev;
	p->prev = p->next = NULL;
	p->listed = false;
}

void relay_inbox_notify(struct relay_inbox *ib, const char *peer)
{
	struct ib_peer *p;

	if (!ib || !peer)
		return;
	pthread_mutex_lock(&ib->lock);
	p = peer_find(ib, peer, false);
	if (p) {
		p->gen++;
		/* resuming under the lock: a waiter's request is freed only after poll_free
		 * took it off the list, which needs the lock */
		while (p->waiters) {
			struct relay_req *req = p->waiters->req;
			unlist(p->waiters);
			relay_req_resume(req);
		}
	}
	pthread_mutex_unlock(&ib->lock);
}

/* ---------------------------------------------------------- GET /v1/inbox */

static void poll_free(void *state)
{
	struct ib_poll *p = state;

	pthread_mutex_lock(&p->ib->lock);
	unlist(p);
	pthread_mutex_unlock(&p->ib->lock);
	queue_msgs_free(p->op.u.lease.msgs, p->op.u.lease.n);
	free(p);
}

/* Writer thread: the pull committed. */
static void poll_done(struct queue_op *op)
{
	struct relay_req *req = op->arg;
	struct ib_poll *p = req->state;

	for (size_t i = 0; op->rc == 0 && i < op->u.lease.n; i++)
		relay_trace_add(req->node, &op->u.lease.msgs[i].st.rid,
				&(struct relay_trace_event){.kind = RELAY_TRACE_PULLED,
							    .at_ms = op->u.lease.now_ms,
							    .peer = p->name});
	atomic_store(&p->op_done, true);
	relay_req_resume(req);
	relay_req_release(req);
}

/* Suspends the request and submits a pull; poll_done resumes it. */
static enum MHD_Result poll_pull(struct relay_req *req, struct ib_poll *p)
{
	const struct relay_config *cfg = relay_cfg(req->node);
	int64_t now = relay_now_ms();

	pthread_mutex_lock(&p->ib->lock);
	p->gen = p->peer->gen;
	pthread_mutex_unlock(&p->ib->lock);
	queue_msgs_free(p->op.u.lease.msgs, p->op.u.lease.n);
	p->op = (struct queue_op){.type = QUEUE_OP_PULL, .done = poll_done, .arg = req};
	p->op.u.lease = (struct queue_op_lease){.now_ms = now,
						.lease_ms = (int64_t)cfg->delivery.inbox_lease_ms,
						.max = p->max,
						.peer = p->name};
	atomic_store(&p->op_done, false);
	p->step = POLL_PULLING;
	relay_req_suspend(req, (now > p->wait_until_ms ? now : p->wait_until_ms) + STORE_MARGIN_MS);
	relay_req_hold(req);
	queue_submit(req->node->q, &p->op);
	return MHD_YES;
}

/* Nothing came: waits for a notify, the next recheck or the end of the wait. */
static enum MHD_Result poll_wait(struct relay_req *req, struct ib_poll *p)
{
	int64_t until = relay_now_ms() + p->recheck_ms;

	if (until > p->wait_until_ms)
		until = p->wait_until_ms;
	pthread_mutex_lock(&p->ib->lock);
	if (p->peer->gen != p->gen) { /* a message committed since that pull began */
		pthread_mutex_unlock(&p->ib->lock);
		return poll_pull(req, p);
	}
	p->step = POLL_WAITING;
	p->prev = NULL;
	p->next = p->peer->waiters;
	if (p->next)
		p->next->prev = p;
	p->peer->waiters = p;
	p->listed = true;
	relay_req_suspend(req, until); /* under the lock: a notify finds it suspended */
	pthread_mutex_unlock(&p->ib->lock);
	return MHD_YES;
}

static enum MHD_Result reply_nomem(struct relay_req *req)
{
	return relay_reply_retry(req, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "out of memory",
				 1);
}

static enum MHD_Result reply_store_error(struct relay_req *req, int rc)
{
	char q[160];

	relay_log(RELAY_LOG_WARN, "inbox_store_error", "peer=%s reason=%s", req->peer->name,
		  relay_log_quote(queue_strerror(rc), q, sizeof(q)));
	if (rc == -QUEUE_ECLOSED)
		return relay_reply_retry(req, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
					 "the node is shutting down", 1);
	return relay_reply_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "store_error", NULL,
				 queue_strerror(rc));
}

/* One leased message as stored, with our rid and this node in hops as a push would carry
 * them. -1 (logged) for a record that does not decode. */
static int msg_load(const struct relay_config *cfg, const struct queue_msg *m,
		    struct relay_envelope *env)
{
	bool here = false;

	if (relay_record_decode(cfg->store.keys, m->payload, m->len, env) != 0) {
		char rid[QUEUE_RID_TEXT + 1];
		queue_rid_format(&m->st.rid, rid);
		relay_log(RELAY_LOG_ERROR, "inbox_bad_record", "rid=%s peer=%s", rid,
			  m->st.dst_peer);
		return -1;
	}
	queue_rid_format(&m->st.rid, env->rid);
	for (size_t i = 0; i < env->n_hops; i++)
		here = here || strcmp(env->hops[i], cfg->node_id) == 0;
	if (!here && env->n_hops < RELAY_ENV_HOPS_MAX)
		snprintf(env->hops[env->n_hops++], sizeof(env->hops[0]), "%s", cfg->node_id);
	return 0;
}

/* The envelope as the peer receives it, with this node's signatures (o). */
static char *msg_json(struct relay_envelope *env, const struct relay_outgoing *o)
{
	struct relay_envelope out = *env; /* shallow: body and att stay env's */
	struct relay_att *scratch = NULL;
	char *json;

	if (relay_outgoing_apply(o, &out, &scratch) != 0)
		return NULL;
	json = relay_envelope_to_json(&out, NULL);
	free(scratch);
	return json;
}

/* The leased messages, signed together (one signature for the lot). */
static enum MHD_Result reply_messages(struct relay_req *req, struct ib_poll *p)
{
	const struct relay_config *cfg = relay_cfg(req->node);
	const struct queue_op_lease *l = &p->op.u.lease;
	struct relay_envelope *envs = calloc(l->n, sizeof(*envs));
	struct relay_outgoing *o = calloc(l->n, sizeof(*o));
	char *buf = NULL;
	size_t len, n = 0, k = 0;
	FILE *f = NULL;
	bool ok = envs && o;

	for (size_t i = 0; ok && i < l->n; i++) {
		if (msg_load(cfg, &l->msgs[i], &envs[k]) != 0)
			continue; /* offered again after the lease, until it expires */
		o[k] = (struct relay_outgoing){.env = &envs[k], .rid = envs[k].rid,
					       .src_peer = l->msgs[i].st.src_peer};
		k++;
	}
	ok = ok && relay_trust_sign_out(cfg, o, k, relay_now_ms()) == 0;
	ok = ok && (f = open_memstream(&buf, &len)) && fputs("{\"messages\":[", f) >= 0;
	for (size_t i = 0; ok && i < k; i++) {
		char *json = msg_json(&envs[i], &o[i]);
		ok = json && fprintf(f, "%s%s", n++ ? "," : "", json) >= 0;
		free(json);
	}
	ok = ok && fputs("]}", f) >= 0;
	if (f && fclose(f) != 0)
		ok = false;
	for (size_t i = 0; envs && i < k; i++)
		relay_envelope_clear(&envs[i]);
	free(envs);
	free(o);
	if (!ok) {
		free(buf);
		return reply_nomem(req);
	}
	relay_log(RELAY_LOG_DEBUG, "inbox_pulled", "peer=%s n=%zu", p->name, n);
	enum MHD_Result ret = relay_reply(req, MHD_HTTP_OK, buf);
	free(buf);
	return ret;
}

static enum MHD_Result poll_resumed(struct relay_req *req, struct ib_poll *p)
{
	if (p->step == POLL_WAITING) { /* a notify, a recheck, or the end of the wait */
		pthread_mutex_lock(&p->ib->lock);
		unlist(p);
		pthread_mutex_unlock(&p->ib->lock);
		return poll_pull(req, p);
	}
	/* the watchdog while the writer still had the pull: answer, never suspend again */
	if (!atomic_load(&p->op_done))
		return relay_reply_retry(req, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
					 "the store is busy; try again", 1);
	if (p->op.rc != 0)
		return reply_store_error(req, p->op.rc);
	if (p->op.u.lease.n > 0)
		return reply_messages(req, p);
	if (req->timed_out || relay_now_ms() >= p->wait_until_ms)
		return relay_reply(req, MHD_HTTP_OK, "{\"messages\":[]}");
	return poll_wait(req, p);
}

/* A query argument of digits in lo..hi, or def when absent. */
static bool query_uint(struct relay_req *req, const char *key, unsigned lo, unsigned hi,
		       unsigned def, unsigned *out)
{
	const char *s = relay_req_query(req, key);
	unsigned long v = 0;

	*out = def;
	if (!s)
		return true;
	if (!*s || strlen(s) > 7)
		return false;
	for (const char *c = s; *c; c++) {
		if (*c < '0' || *c > '9')
			return false;
		v = v * 10 + (unsigned long)(*c - '0');
	}
	*out = (unsigned)v;
	return v >= lo && v <= hi;
}

static enum MHD_Result poll_begin(struct relay_req *req)
{
	const struct relay_config *cfg = relay_cfg(req->node);
	struct ib_poll *p;
	unsigned max, wait;

	if (!query_uint(req, "max", 1, INBOX_MAX_LIMIT, INBOX_MAX_DEFAULT, &max))
		return relay_reply_error(req, MHD_HTTP_BAD_REQUEST, "bad_field", "max",
					 "must be an integer 1 to 1000");
	if (!query_uint(req, "wait", 0, INBOX_WAIT_MAX_S, 0, &wait))
		return relay_reply_error(req, MHD_HTTP_BAD_REQUEST, "bad_field", "wait",
					 "must be an integer 0 to 60 (seconds)");
	if (!(p = calloc(1, sizeof(*p))))
		return reply_nomem(req);
	p->ib = req->node->inbox;
	p->req = req;
	p->max = max;
	snprintf(p->name, sizeof(p->name), "%s", req->peer->name);
	p->wait_until_ms = relay_now_ms() + (int64_t)wait * 1000;
	p->recheck_ms = (int64_t)cfg->delivery.inbox_lease_ms < RECHECK_MAX_MS
				? (int64_t)cfg->delivery.inbox_lease_ms
				: RECHECK_MAX_MS;
	req->state = p;
	req->state_free = poll_free;
	pthread_mutex_lock(&p->ib->lock);
	p->peer = peer_find(p->ib, p->name, true);
	pthread_mutex_unlock(&p->ib->lock);
	if (!p->peer)
		return reply_nomem(req);
	return poll_pull(req, p);
}

enum MHD_Result relay_h_inbox(struct relay_req *req)
{
	if (req->phase == REQ_RESUMED)
		return poll_resumed(req, req->state);
	return poll_begin(req);
}

/* ----------------------------------------------------- POST /v1/inbox/ack */

struct ack_item {
	const char *text;       /* the rid as sent (borrowed from ack->root) */
	struct queue_rid rid;
	size_t dup_of;          /* index of the same rid earlier in the list, or SIZE_MAX */
	const char *result;     /* "acked", "not_found", "not_leased"; NULL while its op runs */
	struct relay_envelope *env; /* without its body, when a report is due; else NULL */
	bool via;               /* it reached this inbox by a linked-account failover */
	struct queue_op op;
};

struct ack {
	json_t *root;
	char route[QUEUE_TEXT_MAX + 1]; /* "pulled by <peer>" */
	atomic_size_t pending; /* finalise operations not yet done */
	size_t n;
	struct ack_item items[];
};

static void ack_free(void *state)
{
	struct ack *a = state;

	for (size_t i = 0; i < a->n; i++)
		free(a->items[i].env);
	json_decref(a->root);
	free(a);
}

/* Writer thread: one finalise committed (or failed); the last one resumes the request. */
static void ack_done(struct queue_op *op)
{
	struct relay_req *req = op->arg;
	struct ack *a = req->state;

	if (op->rc == 0) {
		struct relay_trace_event ev = {.kind = RELAY_TRACE_ACKED,
					       .at_ms = op->u.change.now_ms,
					       .peer = req->peer->name};
		relay_trace_add(req->node, &op->u.change.rid, &ev); /* delivered: the status */
		atomic_fetch_add(&req->node->delivered, 1);
		relay_stats_count(req->node->stats, req->peer->name, RELAY_STAT_DELIVERED);
	}
	if (atomic_fetch_sub(&a->pending, 1) == 1)
		relay_req_resume(req);
	relay_req_release(req);
}

/* What an ack of a message in state st by `peer` gives: a result, or NULL when it can be
 * finalised. Others' messages are "not found", as if they did not exist. */
static const char *ack_check(struct queue *q, struct ack_item *it, const char *peer)
{
	struct queue_status st;

	if (queue_status_get(q, &it->rid, &st) != 0 || strcmp(st.dst_peer, peer) != 0)
		return "not_found";
	/* a failover's route ("via line") stays: the delivery report tells it */
	it->via = strncmp(st.route, "via ", 4) == 0;
	if (st.mode != QUEUE_PULL)
		return "not_leased";
	if (st.state == QUEUE_DELIVERED) /* only an ack finalises a pull message so: a repeat */
		return "acked";
	return st.state == QUEUE_DELIVERING ? NULL : "not_leased";
}

/* Whether root is {"rids":[1..1000 elements]}; else answers 400 naming the fault. */
static bool ack_shape(struct relay_req *req, json_t *root, enum MHD_Result *ret)
{
	json_t *rids = json_object_get(root, "rids"), *v;
	size_t n = json_array_size(rids);
	const char *key;
	char name[32];

	if (!json_is_object(root)) {
		*ret = relay_reply_error(req, MHD_HTTP_BAD_REQUEST, "bad_json", NULL,
					 "the body must be a JSON object");
		return false;
	}
	json_object_foreach(root, key, v) {
		if (strcmp(key, "rids") == 0)
			continue;
		size_t i = 0; /* named printable: non-ASCII and control characters as '?' */
		for (; key[i] && i + 1 < sizeof(name); i++)
			name[i] = key[i] > 0x20 && key[i] < 0x7f ? key[i] : '?';
		name[i] = '\0';
		*ret = relay_reply_error(req, MHD_HTTP_BAD_REQUEST, "bad_field", name,
					 "unknown field");
		return false;
	}
	if (!json_is_array(rids) || n == 0 || n > ACK_MAX) {
		*ret = relay_reply_error(req, MHD_HTTP_BAD_REQUEST, "bad_field", "rids",
					 rids ? "must be an array of 1 to 1000 rids" : "is required");
		return false;
	}
	return true;
}

/* Parses {"rids":[...]} into a new struct ack; NULL after answering 400 (or 503). */
static struct ack *ack_parse(struct relay_req *req, enum MHD_Result *ret)
{
	json_error_t jerr;
	json_t *root = json_loadb(req->body, req->len, JSON_REJECT_DUPLICATES, &jerr);
	json_t *rids = json_object_get(root, "rids");
	char reason[256]; /* jansson's text is up to 159 bytes */
	struct ack *a;
	size_t n = json_array_size(rids);

	if (!root) {
		snprintf(reason, sizeof(reason), "%s (line %d, column %d)", jerr.text, jerr.line,
			 jerr.column);
		*ret = relay_reply_error(req, MHD_HTTP_BAD_REQUEST, "bad_json", NULL, reason);
		return NULL;
	}
	if (!ack_shape(req, root, ret) || !(a = calloc(1, sizeof(*a) + n * sizeof(a->items[0])))) {
		if (req->phase != REQ_ANSWERED)
			*ret = reply_nomem(req);
		json_decref(root);
		return NULL;
	}
	a->root = root;
	a->n = n;
	for (size_t i = 0; i < n; i++) {
		struct ack_item *it = &a->items[i];
		json_t *v = json_array_get(rids, i);
		it->text = json_string_value(v);
		it->dup_of = SIZE_MAX;
		if (!it->text || queue_rid_parse(it->text, json_string_length(v), &it->rid) != 0) {
			snprintf(reason, sizeof(reason),
				 "element %zu is not a rid (26 Crockford base32 characters)", i);
			ack_free(a);
			*ret = relay_reply_error(req, MHD_HTTP_BAD_REQUEST, "bad_field", "rids",
						 reason);
			return NULL;
		}
		for (size_t j = 0; j < i && it->dup_of == SIZE_MAX; j++)
			if (memcmp(a->items[j].rid.b, it->rid.b, 16) == 0)
				it->dup_of = j;
	}
	return a;
}

/* Keeps the envelope of a leased message when it asked for a report (its body dropped: the
 * report needs none). Returns 0 or the queue's error (-QUEUE_ENOTFOUND: finalised meanwhile). */
static int ack_load(struct queue *q, const struct relay_keyring *keys, struct ack_item *it)
{
	struct relay_envelope env;
	unsigned char *payload;
	size_t len;
	int rc = queue_payload_get(q, &it->rid, &payload, &len);

	if (rc != 0)
		return rc;
	rc = relay_record_decode(keys, payload, len, &env);
	free(payload);
	if (rc != 0) { /* acknowledged all the same; only its report is lost */
		char rid[QUEUE_RID_TEXT + 1];
		queue_rid_format(&it->rid, rid);
		relay_log(RELAY_LOG_ERROR, "ack_bad_record", "rid=%s", rid);
		return 0;
	}
	if (env.dlr && env.kind == RELAY_ENV_MESSAGE && (it->env = malloc(sizeof(env)))) {
		*it->env = env;
		it->env->body = NULL;
		it->env->body_len = 0;
	}
	relay_envelope_clear(&env);
	return 0;
}

/* Queues the delivery report of a message the peer acknowledged. */
static void ack_report(struct relay_node *node, const struct ack_item *it)
{
	struct queue_status st;
	char rid[QUEUE_RID_TEXT + 1], q[160];
	int rc;

	if (!it->env)
		return;
	queue_rid_format(&it->rid, rid);
	if ((rc = queue_status_get(node->q, &it->rid, &st)) != 0)
		relay_log(RELAY_LOG_ERROR, "ack_report_failed", "rid=%s reason=%s", rid,
			  relay_log_quote(queue_strerror(rc), q, sizeof(q)));
	else if ((rc = relay_report_queue(node, it->env, &st, RELAY_REPORT_DELIVERED, NULL,
						 st.dst_peer)))
		relay_log(RELAY_LOG_WARN, "ack_report_failed", "rid=%s reason=%s", rid,
			  relay_log_quote(relay_strerror(rc), q, sizeof(q)));
}

static enum MHD_Result ack_answer(struct relay_req *req, struct ack *a)
{
	json_t *root = json_object(), *results = json_array();
	char *text = NULL;

	for (size_t i = 0; root && results && i < a->n; i++) {
		const struct ack_item *it = &a->items[i];
		const char *res = it->dup_of == SIZE_MAX ? it->result : a->items[it->dup_of].result;
		json_array_append_new(results, json_pack("{ssss}", "rid", it->text, "status", res));
	}
	if (root && results && json_object_set(root, "results", results) == 0)
		text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(results);
	json_decref(root);
	if (!text)
		return reply_nomem(req);
	enum MHD_Result ret = relay_reply(req, MHD_HTTP_OK, text);
	free(text);
	return ret;
}

/* All finalisations are done (or the watchdog fired): results, reports, the answer. */
static enum MHD_Result ack_resumed(struct relay_req *req, struct ack *a)
{
	int failed = 0;

	if (atomic_load(&a->pending) != 0) {
		relay_log(RELAY_LOG_WARN, "ack_timeout", "peer=%s pending=%zu", req->peer->name,
			  (size_t)atomic_load(&a->pending));
		return relay_reply_retry(req, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
					 "the store is busy; acknowledge again", 1);
	}
	for (size_t i = 0; i < a->n; i++) {
		struct ack_item *it = &a->items[i];
		if (it->result || it->dup_of != SIZE_MAX)
			continue;
		if (it->op.rc == 0) {
			it->result = "acked";
			ack_report(req->node, it);
		} else if (it->op.rc == -QUEUE_ENOTFOUND || it->op.rc == -QUEUE_ESTATE) {
			/* finalised meanwhile (expired, or acknowledged by a concurrent request) */
			const char *r = ack_check(req->node->q, it, req->peer->name);
			it->result = r ? r : "not_leased";
		} else {
			failed = it->op.rc;
		}
	}
	if (failed)
		return reply_store_error(req, failed);
	return ack_answer(req, a);
}

/* Checks each rid; finalises the leased ones asynchronously, or answers at once. */
static enum MHD_Result ack_begin(struct relay_req *req)
{
	enum MHD_Result ret = MHD_YES;
	struct ack *a = ack_parse(req, &ret);
	const char *peer = req->peer->name;
	size_t todo = 0;
	int64_t now = relay_now_ms();

	if (!a)
		return ret;
	req->state = a;
	req->state_free = ack_free;
	for (size_t i = 0; i < a->n; i++) {
		struct ack_item *it = &a->items[i];
		if (it->dup_of != SIZE_MAX)
			continue;
		it->result = ack_check(req->node->q, it, peer);
		if (it->result)
			continue;
		int rc = ack_load(req->node->q, relay_cfg(req->node)->store.keys, it);
		if (rc != 0) {
			it->result = rc == -QUEUE_ENOTFOUND ? "not_leased" : NULL;
			if (!it->result)
				return reply_store_error(req, rc);
			continue;
		}
		todo++;
	}
	if (todo == 0)
		return ack_answer(req, a);
	atomic_store(&a->pending, todo);
	snprintf(a->route, sizeof(a->route), "pulled by %s", peer);
	relay_req_suspend(req, now + ACK_DEADLINE_MS);
	relay_req_hold(req); /* for this loop: the last done() may come before it ends */
	for (size_t i = 0; i < a->n; i++) {
		struct ack_item *it = &a->items[i];
		if (it->dup_of != SIZE_MAX || it->result)
			continue;
		it->op = (struct queue_op){.type = QUEUE_OP_FINALISE, .done = ack_done, .arg = req};
		it->op.u.change = (struct queue_op_change){.rid = it->rid, .now_ms = now,
							   .state = QUEUE_DELIVERED};
		it->op.u.change.route = it->via ? NULL : a->route;
		relay_req_hold(req);
		queue_submit(req->node->q, &it->op);
	}
	relay_req_release(req);
	return MHD_YES;
}

enum MHD_Result relay_h_ack(struct relay_req *req)
{
	if (req->phase == REQ_RESUMED)
		return ack_resumed(req, req->state);
	return ack_begin(req);
}
