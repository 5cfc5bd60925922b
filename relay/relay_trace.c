/*
 * The message trace: what happened to a message on this node (accepted, each attempt,
 * reschedules, failovers, forwarding, pulls and acks, its final state), kept in the queue
 * table "trace" until its status is purged, and shown to its submitter at
 * GET /v1/messages/{rid}/trace. Writes are asynchronous and best effort: a lost event
 * never fails or delays a delivery.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "relay/relay_priv.h"

#define TRACE_VERSION   1
#define KEY_LEN         20    /* rid, then a u32 sequence, big-endian */
#define HEAD_LEN        27    /* the fixed part of a record, before its four texts */
#define SWEEP_EVERY_MS  60000 /* a full pass over the old entries at most this often */
#define SWEEP_AGAIN_MS  1000  /* ...in steps of SWEEP_KEYS keys */
#define SWEEP_KEYS      4096
#define ANSWER_MAX      1000  /* events shown at most */

static const char *const kind_names[RELAY_TRACE_KIND_MAX_] = {
	[RELAY_TRACE_ACCEPTED] = "accepted",   [RELAY_TRACE_ATTEMPT] = "attempt",
	[RELAY_TRACE_RESCHEDULED] = "rescheduled", [RELAY_TRACE_FAILOVER] = "failover",
	[RELAY_TRACE_FORWARDED] = "forwarded", [RELAY_TRACE_PULLED] = "pulled",
	[RELAY_TRACE_ACKED] = "acked",         [RELAY_TRACE_DELIVERED] = "delivered",
	[RELAY_TRACE_EXPIRED] = "expired",     [RELAY_TRACE_FAILED] = "failed",
};

static void put_be(unsigned char *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static uint64_t get_be(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* One text: a length byte, then printable ASCII (anything else stored as '?'). */
static size_t put_text(unsigned char *p, const char *s)
{
	size_t n = s ? strnlen(s, RELAY_TRACE_TEXT_MAX) : 0;

	p[0] = (unsigned char)n;
	for (size_t i = 0; i < n; i++)
		p[1 + i] = s[i] >= 0x20 && s[i] < 0x7f ? (unsigned char)s[i] : '?';
	return 1 + n;
}

size_t relay_trace_encode(const struct relay_trace_event *ev,
			  unsigned char out[RELAY_TRACE_RECORD_MAX])
{
	size_t n = HEAD_LEN;
	int64_t lat = ev->latency_ms;

	out[0] = TRACE_VERSION;
	out[1] = (unsigned char)ev->kind;
	put_be(out + 2, (uint64_t)ev->at_ms, 8);
	out[10] = (unsigned char)((ev->has_endpoint ? 1 : 0) | (ev->has_latency ? 2 : 0));
	put_be(out + 11, ev->endpoint > 0xffff ? 0xffff : ev->endpoint, 2);
	put_be(out + 13, ev->status > 0 && ev->status < 1000 ? (uint64_t)ev->status : 0, 2);
	put_be(out + 15, lat < 0 ? 0 : lat > UINT32_MAX ? UINT32_MAX : (uint64_t)lat, 4);
	put_be(out + 19, (uint64_t)ev->due_ms, 8);
	n += put_text(out + n, ev->peer);
	n += put_text(out + n, ev->error);
	n += put_text(out + n, ev->downstream_rid);
	n += put_text(out + n, ev->why);
	return n;
}

/* A text from the record into out (NUL-terminated); -1 if it overruns or is not printable. */
static int get_text(const unsigned char *p, size_t len, size_t *off, char *out)
{
	size_t n;

	if (*off >= len || (n = p[*off]) > RELAY_TRACE_TEXT_MAX || len - *off - 1 < n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = p[*off + 1 + i];
		if (c < 0x20 || c >= 0x7f)
			return -1;
		out[i] = (char)c;
	}
	out[n] = '\0';
	*off += 1 + n;
	return 0;
}

int relay_trace_decode(const void *val, size_t len, struct relay_trace_record *out)
{
	const unsigned char *p = val;
	size_t off = HEAD_LEN;

	if (len < HEAD_LEN || len > RELAY_TRACE_RECORD_MAX || p[0] != TRACE_VERSION ||
	    p[1] == 0 || p[1] >= RELAY_TRACE_KIND_MAX_ || (p[10] & ~3u) != 0)
		return -RELAY_EFIELD;
	*out = (struct relay_trace_record){
		.kind = p[1],
		.at_ms = (int64_t)get_be(p + 2, 8),
		.has_endpoint = p[10] & 1,
		.has_latency = (p[10] & 2) != 0,
		.endpoint = (size_t)get_be(p + 11, 2),
		.status = (int)get_be(p + 13, 2),
		.latency_ms = (int64_t)get_be(p + 15, 4),
		.due_ms = (int64_t)get_be(p + 19, 8),
	};
	if (get_text(p, len, &off, out->peer) || get_text(p, len, &off, out->error) ||
	    get_text(p, len, &off, out->downstream_rid) || get_text(p, len, &off, out->why) ||
	    off != len || out->status >= 1000)
		return -RELAY_EFIELD;
	return 0;
}

const char *relay_trace_kind_name(enum relay_trace_kind k)
{
	return k > 0 && k < RELAY_TRACE_KIND_MAX_ ? kind_names[k] : "unknown";
}

/* ------------------------------------------------------------------ writes */

/* A put or a delete on its way to the writer: freed by its done(). */
struct trace_op {
	struct queue_op op;
	unsigned char key[KEY_LEN];
	unsigned char val[RELAY_TRACE_RECORD_MAX];
};

static void trace_op_done(struct queue_op *op)
{
	if (op->rc != 0 && op->rc != -QUEUE_ECLOSED)
		relay_log(RELAY_LOG_DEBUG, "trace_write_failed", "error=\"%s\"",
			  queue_strerror(op->rc));
	free(op->arg);
}

void relay_trace_add(struct relay_node *n, const struct queue_rid *rid,
		     const struct relay_trace_event *ev)
{
	struct trace_op *t = malloc(sizeof(*t));
	struct relay_trace_event e = *ev;

	if (!t)
		return; /* best effort */
	if (!e.at_ms)
		e.at_ms = relay_now_ms();
	memcpy(t->key, rid->b, 16);
	put_be(t->key + 16, atomic_fetch_add(&n->trace_seq, 1), 4);
	t->op = (struct queue_op){.type = QUEUE_OP_KV_PUT, .done = trace_op_done, .arg = t};
	t->op.u.kv = (struct queue_op_kv){.table = RELAY_TRACE_TABLE, .key = t->key,
					  .klen = KEY_LEN, .val = t->val};
	t->op.u.kv.vlen = relay_trace_encode(&e, t->val);
	queue_submit(n->q, &t->op);
}

/* ------------------------------------------------------------------ sweep */

struct sweep_scan {
	int64_t young_ms;             /* rids from this time on may still have a status */
	unsigned char (*keys)[KEY_LEN];
	size_t n;
	bool young;                   /* stopped at a rid too young to be purged */
};

static int sweep_key(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct sweep_scan *s = arg;
	struct queue_rid rid;

	(void)val;
	(void)vlen;
	if (klen != KEY_LEN) /* not ours: skipped, never deleted */
		return 0;
	memcpy(rid.b, key, 16);
	if (queue_rid_time_ms(&rid) >= s->young_ms) {
		s->young = true;
		return 1;
	}
	memcpy(s->keys[s->n++], key, KEY_LEN);
	return s->n == SWEEP_KEYS;
}

void relay_trace_sweep(struct relay_node *n, struct relay_trace_sweep *sw, int64_t now)
{
	struct sweep_scan s = {
		.young_ms = now - (int64_t)relay_cfg(n)->store.status_retention_ms,
	};
	struct queue_rid rid;
	bool gone = false;
	int rc;

	if (now < sw->next_ms)
		return;
	sw->next_ms = now + SWEEP_EVERY_MS;
	if (!(s.keys = malloc(SWEEP_KEYS * sizeof(*s.keys))))
		return;
	rc = queue_kv_scan(n->q, RELAY_TRACE_TABLE, sw->flen ? sw->from : NULL, sw->flen, NULL, 0,
			   sweep_key, &s);
	if (rc != 0 || s.young || s.n < SWEEP_KEYS) {
		sw->flen = 0; /* a pass is over: the next one starts from the oldest */
	} else {
		memcpy(sw->from, s.keys[s.n - 1], KEY_LEN);
		sw->from[KEY_LEN] = 0; /* just after the last key seen */
		sw->flen = KEY_LEN + 1;
		sw->next_ms = now + SWEEP_AGAIN_MS;
	}
	for (size_t i = 0; i < s.n; i++) {
		if (i == 0 || memcmp(s.keys[i], rid.b, 16) != 0) {
			struct queue_status st;
			memcpy(rid.b, s.keys[i], 16);
			gone = queue_status_get(n->q, &rid, &st) == -QUEUE_ENOTFOUND;
		}
		struct trace_op *t = gone ? malloc(sizeof(*t)) : NULL;
		if (!t)
			continue;
		memcpy(t->key, s.keys[i], KEY_LEN);
		t->op = (struct queue_op){.type = QUEUE_OP_KV_DEL, .done = trace_op_done, .arg = t};
		t->op.u.kv = (struct queue_op_kv){.table = RELAY_TRACE_TABLE, .key = t->key,
						  .klen = KEY_LEN};
		queue_submit(n->q, &t->op);
	}
	free(s.keys);
}

/* ------------------------------------------------------------------ answer */

struct shown {
	struct relay_trace_record r;
	uint32_t seq;
	int rank; /* within a millisecond: 0 accepted, 1 stored events (by seq), 2 final */
};

struct collect {
	struct shown *ev;
	size_t n, cap;
	bool nomem;
};

static int collect_one(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct collect *c = arg;

	if (klen != KEY_LEN)
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 16;
		struct shown *ev = cap <= ANSWER_MAX ? realloc(c->ev, cap * sizeof(*ev)) : NULL;
		if (cap > ANSWER_MAX)
			return 1;
		if (!ev) {
			c->nomem = true;
			return 1;
		}
		c->ev = ev;
		c->cap = cap;
	}
	if (relay_trace_decode(val, vlen, &c->ev[c->n].r) != 0)
		return 0; /* a damaged event is left out, not the trace */
	c->ev[c->n].rank = 1;
	c->ev[c->n++].seq = (uint32_t)get_be((const unsigned char *)key + 16, 4);
	return 0;
}

/*
 * The first and last events are read from the status rather than stored (a write less per
 * submission and per final state; the status holds their time, peer and error, and
 * outlives the trace): "accepted", first of its millisecond, and once the message is final
 * "delivered", "expired" or "failed", last of its millisecond.
 */
static void add_from_status(struct collect *c, const struct queue_status *st)
{
	struct relay_trace_record *r;

	if (!(c->ev = calloc(16, sizeof(*c->ev)))) {
		c->nomem = true;
		return;
	}
	c->cap = 16;
	r = &c->ev[c->n].r;
	r->kind = RELAY_TRACE_ACCEPTED;
	r->at_ms = st->created_ms;
	snprintf(r->peer, sizeof(r->peer), "%s", st->src_peer);
	c->ev[c->n++].rank = 0;
	if (st->state != QUEUE_DELIVERED && st->state != QUEUE_EXPIRED &&
	    st->state != QUEUE_FAILED)
		return;
	r = &c->ev[c->n].r;
	r->kind = st->state == QUEUE_DELIVERED ? RELAY_TRACE_DELIVERED
		  : st->state == QUEUE_EXPIRED ? RELAY_TRACE_EXPIRED
					       : RELAY_TRACE_FAILED;
	r->at_ms = st->final_ms ? st->final_ms : st->updated_ms;
	/* a linked account's carrier took it: its route says "via <peer>" */
	snprintf(r->peer, sizeof(r->peer), "%s",
		 strncmp(st->route, "via ", 4) == 0 ? st->route + 4 : st->dst_peer);
	if (st->state != QUEUE_DELIVERED)
		snprintf(r->error, sizeof(r->error), "%.*s", RELAY_TRACE_TEXT_MAX, st->last_error);
	c->ev[c->n++].rank = 2;
}

/* By time; within one millisecond, accepted first, final last, the others in the order
 * they were written. */
static int by_time(const void *a, const void *b)
{
	const struct shown *x = a, *y = b;

	if (x->r.at_ms != y->r.at_ms)
		return x->r.at_ms < y->r.at_ms ? -1 : 1;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	return (int32_t)(x->seq - y->seq) < 0 ? -1 : (int32_t)(x->seq - y->seq) > 0;
}

static json_t *event_json(const struct relay_trace_record *r)
{
	json_t *o = json_pack("{sIss}", "at", (json_int_t)r->at_ms, "event",
			      relay_trace_kind_name(r->kind));

	if (!o)
		return NULL;
	if (r->peer[0])
		json_object_set_new(o, "peer", json_string(r->peer));
	if (r->has_endpoint)
		json_object_set_new(o, "endpoint", json_integer((json_int_t)r->endpoint));
	if (r->status)
		json_object_set_new(o, "status", json_integer(r->status));
	if (r->error[0])
		json_object_set_new(o, "error", json_string(r->error));
	if (r->has_latency)
		json_object_set_new(o, "latency_ms", json_integer(r->latency_ms));
	if (r->downstream_rid[0])
		json_object_set_new(o, "downstream_rid", json_string(r->downstream_rid));
	if (r->due_ms)
		json_object_set_new(o, "due", json_integer(r->due_ms));
	if (r->why[0])
		json_object_set_new(o, "why", json_string(r->why));
	return o;
}

enum MHD_Result relay_h_trace(struct relay_req *req, const char *text, size_t len)
{
	struct queue_rid rid;
	struct queue_status st;
	struct collect c = {0};
	char rtext[QUEUE_RID_TEXT + 1], *body;
	json_t *o, *events;
	int rc;

	if (queue_rid_parse(text, len, &rid) != 0)
		return relay_reply_error(req, MHD_HTTP_NOT_FOUND, "not_found", NULL,
					 "not a message id (26 Crockford base32 characters)");
	rc = queue_status_get(req->node->q, &rid, &st);
	if (rc == -QUEUE_ENOTFOUND || (rc == 0 && strcmp(st.src_peer, req->peer->name) != 0))
		return relay_reply_error(req, MHD_HTTP_NOT_FOUND, "not_found", NULL,
					 "no such message");
	if (rc == 0)
		add_from_status(&c, &st);
	if (rc == 0 && !c.nomem)
		rc = queue_kv_scan(req->node->q, RELAY_TRACE_TABLE, rid.b, 16, rid.b, 16,
				   collect_one, &c);
	if (rc == 0 && c.nomem)
		rc = -QUEUE_ENOMEM;
	if (rc != 0) {
		free(c.ev);
		return relay_reply_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "store_error", NULL,
					 queue_strerror(rc));
	}
	if (c.n > 1) /* c.ev is NULL when there are none: not for qsort */
		qsort(c.ev, c.n, sizeof(*c.ev), by_time);
	queue_rid_format(&rid, rtext);
	events = json_array();
	for (size_t i = 0; events && i < c.n; i++)
		if (json_array_append_new(events, event_json(&c.ev[i].r)) != 0) {
			json_decref(events);
			events = NULL;
		}
	free(c.ev);
	o = events ? json_pack("{ssso}", "rid", rtext, "events", events) : NULL;
	body = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(o);
	if (!body)
		return relay_reply_retry(req, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
					 "out of memory", 1);
	enum MHD_Result ret = relay_reply(req, MHD_HTTP_OK, body);
	free(body);
	return ret;
}
