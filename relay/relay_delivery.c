/*
 * The delivery engine: one thread that leases due messages from the queue, asks routing where
 * each goes now, pushes it with libcurl's multi interface (keep-alive, a per-peer concurrency
 * bound) and records the outcome — delivered, retried with backoff, moved to a pull inbox,
 * expired or failed — with a delivery report when the sender asked for one. Admitting and
 * starting the pushes (request, headers, easy handles) is relay_push.c's.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay/relay_delivery_priv.h"

#define IDLE_MS        100  /* lease at least this often when nothing wakes the engine */
#define LEASE_EXTRA_MS 5000 /* a lease outlives the delivery timeout by this much */
#define CAP_PER_SLOT   8    /* messages held (flying or waiting) per unit of concurrency */
#define CAP_MIN        64
#define CAP_MAX        4096
#define TEXT_MAX       (QUEUE_TEXT_MAX + 1)

/* A change on its way to the writer: freed by its done(), on the writer thread. */
struct change_op {
	struct queue_op op;
	struct relay_node *node;
	char rid[QUEUE_RID_TEXT + 1];
	char error[TEXT_MAX], route[TEXT_MAX], dst[QUEUE_NAME_MAX + 1];
	char peer[QUEUE_NAME_MAX + 1]; /* its destination when submitted, for the statistics */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Copies src (NULL: "") into dst, cut to fit. */
void dl_copy_text(char *dst, size_t size, const char *src)
{
	size_t n = src ? strnlen(src, size - 1) : 0;

	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

size_t dl_capacity(const struct relay_config *cfg)
{
	size_t cap = (size_t)cfg->delivery.concurrency * CAP_PER_SLOT;

	return cap < CAP_MIN ? CAP_MIN : cap > CAP_MAX ? CAP_MAX : cap;
}

/* ------------------------------------------------------------ queue changes */

/* Writer thread: a committed change in the message's trace: a failed attempt's reschedule
 * (a put back without an error is no event; a final state is read from the status). */
static void trace_change(const struct queue_op *op, const struct change_op *c)
{
	const struct queue_op_change *ch = &op->u.change;

	if (op->type == QUEUE_OP_RESCHEDULE && ch->error)
		relay_trace_add(c->node, &ch->rid,
				&(struct relay_trace_event){.kind = RELAY_TRACE_RESCHEDULED,
							    .at_ms = ch->now_ms,
							    .error = ch->error,
							    .due_ms = ch->due_ms});
}

static void change_done(struct queue_op *op)
{
	struct change_op *c = op->arg;
	struct queue_op_change *ch = &op->u.change;
	struct relay_node *n = c->node;

	if (op->rc == 0)
		trace_change(op, c);
	if (op->rc == 0 && op->type == QUEUE_OP_FINALISE) {
		atomic_fetch_add(ch->state == QUEUE_DELIVERED ? &n->delivered
				 : ch->state == QUEUE_EXPIRED ? &n->expired
							      : &n->failed, 1);
		relay_stats_count(n->stats, c->peer,
				  ch->state == QUEUE_DELIVERED ? RELAY_STAT_DELIVERED
				  : ch->state == QUEUE_EXPIRED ? RELAY_STAT_EXPIRED
							       : RELAY_STAT_FAILED);
	} else if (op->rc == 0) {
		if (ch->error) {
			atomic_fetch_add(&n->retried, 1);
			relay_stats_count(n->stats, c->peer, RELAY_STAT_RETRIED);
		}
		if (ch->dst_peer && ch->mode == QUEUE_PULL)
			relay_inbox_notify(n->inbox, ch->dst_peer);
	} else if (op->rc != -QUEUE_ECLOSED) {
		/* moot when the message became final elsewhere (a pull peer's ack, an admin) or
		 * was purged; otherwise its lease runs out and it is offered again */
		bool moot = op->rc == -QUEUE_ESTATE || op->rc == -QUEUE_ENOTFOUND;

		relay_log(moot ? RELAY_LOG_DEBUG : RELAY_LOG_WARN, "delivery_change_failed",
			  "rid=%s error=\"%s\"", c->rid, queue_strerror(op->rc));
	}
	free(c);
}

/*
 * Hands a message back to the queue: FINALISE to `state`, or RESCHEDULE at due_ms (to the
 * pull inbox of `dst` when not NULL). error and route NULL keep the status's. Asynchronous,
 * so that a slow commit never stalls the transfers.
 */
static void submit_change(struct relay_delivery *d, const struct queue_status *st,
			  enum queue_op_type type, enum queue_state state, int64_t due_ms,
			  const char *error, const char *route, const char *dst)
{
	struct change_op *o = calloc(1, sizeof(*o));

	if (!o) { /* the lease runs out and the message is offered again */
		relay_log(RELAY_LOG_ERROR, "delivery_change_lost", "error=\"out of memory\"");
		return;
	}
	o->node = d->node;
	queue_rid_format(&st->rid, o->rid);
	dl_copy_text(o->error, sizeof(o->error), error);
	dl_copy_text(o->route, sizeof(o->route), route);
	dl_copy_text(o->dst, sizeof(o->dst), dst);
	dl_copy_text(o->peer, sizeof(o->peer), st->dst_peer);
	o->op = (struct queue_op){.type = type, .done = change_done, .arg = o};
	o->op.u.change = (struct queue_op_change){
		.rid = st->rid,
		.now_ms = relay_now_ms(),
		.due_ms = due_ms,
		.state = state,
		.error = error ? o->error : NULL,
		.route = route ? o->route : NULL,
		.dst_peer = dst ? o->dst : NULL,
		.mode = QUEUE_PULL,
	};
	queue_submit(d->node->q, &o->op);
}

/*
 * Makes a message final. The report (when env asked for one) is queued first: it is durable
 * no later than the final status, and a crash between the two only repeats the delivery,
 * whose report insert is then a duplicate ("dlr." + rid) and not stored twice.
 */
static void finish(struct relay_delivery *d, const struct xfer *x, enum queue_state state,
		   const char *error, const char *route, const char *reason, bool report)
{
	const char *via = state == QUEUE_DELIVERED ? x->dec.peer : NULL;

	char q[160];

	if (report && x->env.kind == RELAY_ENV_MESSAGE && x->env.dlr)
		relay_report_queue(d->node, &x->env, &x->st,
				   state == QUEUE_DELIVERED ? RELAY_REPORT_DELIVERED
				   : state == QUEUE_EXPIRED ? RELAY_REPORT_EXPIRED
							    : RELAY_REPORT_FAILED,
				   reason, via);
	if (state != QUEUE_DELIVERED)
		relay_log(RELAY_LOG_INFO, "delivery_final", "rid=%s state=%s attempts=%u error=%s",
			  x->rid, queue_state_name(state), x->st.attempts,
			  relay_log_quote(error ? error : "", q, sizeof(q)));
	submit_change(d, &x->st, QUEUE_OP_FINALISE, state, 0, error, route, NULL);
}

/* Back to queued at due_ms, without counting as a failure (no error text). */
void dl_put_back(struct relay_delivery *d, const struct xfer *x, int64_t due_ms)
{
	if (due_ms > x->st.expires_ms)
		due_ms = x->st.expires_ms;
	submit_change(d, &x->st, QUEUE_OP_RESCHEDULE, 0, due_ms, NULL, NULL, NULL);
}

/* -------------------------------------------------------------- bookkeeping */

/* The peer's entry, created on first use when `create` (peers are few; entries live until
 * free). NULL: none, or no memory. */
struct dpeer *dl_peer_get(struct relay_delivery *d, const char *name, bool create)
{
	struct dpeer *p = d->peers;

	while (p && strcmp(p->name, name) != 0)
		p = p->next;
	if (p || !create || !(p = calloc(1, sizeof(*p))))
		return p;
	dl_copy_text(p->name, sizeof(p->name), name);
	p->next = d->peers;
	d->peers = p;
	return p;
}

void dl_xfer_free(struct relay_delivery *d, struct xfer *x)
{
	if (x->prev)
		x->prev->next = x->next;
	else
		d->all = x->next;
	if (x->next)
		x->next->prev = x->prev;
	if (x->easy) {
		curl_multi_remove_handle(d->multi, x->easy);
		if (d->n_idle < IDLE_EASY) {
			curl_easy_reset(x->easy);
			d->idle[d->n_idle++] = x->easy;
		} else {
			curl_easy_cleanup(x->easy);
		}
	}
	curl_slist_free_all(x->hdrs);
	free(x->json);
	relay_envelope_clear(&x->env);
	free(x);
	d->held--;
}

/* xorshift64*: jitter only, no secrets. */
static double rand01(struct relay_delivery *d)
{
	d->rng ^= d->rng >> 12;
	d->rng ^= d->rng << 25;
	d->rng ^= d->rng >> 27;
	return (double)((d->rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

/*
 * The next attempt after a failed one: retry-initial × factor^(attempts − 1), at most
 * retry-max, ±20 % jitter, at least the peer's Retry-After, and never past the expiry
 * (a message due at its expiry is expired by the lease that takes it).
 */
static int64_t backoff_due(struct relay_delivery *d, const struct xfer *x, int64_t now,
			   int64_t retry_after_ms)
{
	const struct relay_config *cfg = relay_cfg(d->node);
	double delay = (double)cfg->delivery.retry_initial_ms;
	double max = (double)cfg->delivery.retry_max_ms;
	int64_t ms, due;

	for (uint32_t i = 1; i < x->st.attempts && delay < max; i++)
		delay *= cfg->delivery.retry_factor;
	if (!(delay < max)) /* also NaN */
		delay = max;
	delay *= 0.8 + 0.4 * rand01(d);
	ms = (int64_t)delay;
	if (ms < retry_after_ms)
		ms = retry_after_ms;
	due = ms > x->st.expires_ms - now ? x->st.expires_ms : now + ms;
	return due < now ? now : due;
}

/* A linked-account failover (not only a DR endpoint of the first choice): reports say "via". */
static bool linked(const struct xfer *x)
{
	return x->dec.failover &&
	       (x->dec.pull || x->dec.endpoint == 0 || strcmp(x->dec.peer, x->st.dst_peer) != 0);
}

static void route_text(const struct xfer *x, char *buf, size_t size)
{
	if (linked(x))
		snprintf(buf, size, "via %s", x->dec.peer);
	else if (x->dec.pull)
		snprintf(buf, size, "%s/pull", x->dec.peer);
	else
		snprintf(buf, size, "%s/%zu", x->dec.peer, x->dec.endpoint);
}

/* ------------------------------------------------------------------ outcomes */

static void log_attempt(const struct xfer *x, CURLcode res, long status, const char *error,
			const char *result, int64_t now)
{
	char q[CURL_ERROR_SIZE + 8];

	relay_log(res == CURLE_OK && status < 500 ? RELAY_LOG_INFO : RELAY_LOG_WARN,
		  "delivery_attempt",
		  "rid=%s peer=%s endpoint=%zu attempt=%u status=%ld latency_ms=%lld result=%s%s%s",
		  x->rid, x->dec.peer, x->dec.endpoint, x->st.attempts, status,
		  (long long)(now - x->started_ms), result, error ? " error=" : "",
		  error ? relay_log_quote(error, q, sizeof(q)) : "");
}

/* The attempt in the trace, and for a push to a relay that took it, whom it went to and the
 * rid the next node gave it (else the one we sent, its idempotency key there). */
static void trace_attempt(struct relay_delivery *d, struct xfer *x, long status,
			  const char *error, int64_t now)
{
	struct relay_trace_event ev = {.kind = RELAY_TRACE_ATTEMPT, .at_ms = now,
				       .peer = x->dec.peer, .has_endpoint = true,
				       .endpoint = x->dec.endpoint, .status = (int)status,
				       .error = error, .has_latency = true,
				       .latency_ms = now - x->started_ms};
	const char *rid = x->rid;
	json_t *root = NULL;

	relay_trace_add(d->node, &x->st.rid, &ev);
	if (!x->to_relay || error || status < 200 || status >= 300)
		return;
	x->answer[x->answer_len] = '\0';
	if ((root = json_loads(x->answer, 0, NULL))) {
		const char *r = json_string_value(json_object_get(root, "rid"));
		if (r && rr_rid_ok(r, strlen(r)))
			rid = r;
	}
	relay_trace_add(d->node, &x->st.rid,
			&(struct relay_trace_event){.kind = RELAY_TRACE_FORWARDED, .at_ms = now,
						    .peer = x->dec.peer, .downstream_rid = rid});
	json_decref(root);
}

/* What the answer (or its absence) means: delivered, failed for good, or try again later. */
static void outcome(struct relay_delivery *d, struct xfer *x, CURLcode res, long status,
		    int64_t retry_after_ms, int64_t now)
{
	struct routing *r = d->node->routing;
	char route[TEXT_MAX], err[TEXT_MAX], reason[ROUTE_NAME_MAX + 8] = "";

	route_text(x, route, sizeof(route));
	if (res == CURLE_OK && status >= 200 && status < 300) {
		log_attempt(x, res, status, NULL, "delivered", now);
		trace_attempt(d, x, status, NULL, now);
		route_health_report(r, x->dec.peer, x->dec.endpoint, true, now);
		if (linked(x))
			snprintf(reason, sizeof(reason), "via %s", x->dec.peer);
		finish(d, x, QUEUE_DELIVERED, NULL, route, reason, !x->to_relay);
		return;
	}
	if (res == CURLE_OK)
		snprintf(err, sizeof(err), "HTTP %ld", status);
	else
		dl_copy_text(err, sizeof(err), x->errbuf[0] ? x->errbuf : curl_easy_strerror(res));
	trace_attempt(d, x, res == CURLE_OK ? status : 0, res == CURLE_OK ? NULL : err, now);
	if (res == CURLE_OK && status >= 400 && status < 500 && status != 408 && status != 429) {
		log_attempt(x, res, status, err, "failed", now);
		route_health_report(r, x->dec.peer, x->dec.endpoint, true, now); /* it answered */
		finish(d, x, QUEUE_FAILED, err, route, err, true);
		return;
	}
	log_attempt(x, res, status, err, "retry", now);
	route_health_report(r, x->dec.peer, x->dec.endpoint, false, now);
	submit_change(d, &x->st, QUEUE_OP_RESCHEDULE, 0, backoff_due(d, x, now, retry_after_ms),
		      err, route, NULL);
}

/* Finished transfers: their outcome, then room for the peer's waiting messages. */
static void reap(struct relay_delivery *d)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(d->multi, &left))) {
		struct xfer *x;
		char *priv = NULL;
		long status = 0;
		curl_off_t ra = 0;
		int64_t now = relay_now_ms();

		if (m->msg != CURLMSG_DONE)
			continue;
		CURLcode res = m->data.result;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
		x = (struct xfer *)priv;
		curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_getinfo(m->easy_handle, CURLINFO_RETRY_AFTER, &ra);
		curl_off_t us = 0; /* the push's start to its result */
		curl_easy_getinfo(m->easy_handle, CURLINFO_TOTAL_TIME_T, &us);
		relay_stats_latency(d->node->stats, RELAY_HIST_DELIVERY,
				    us > 0 ? (uint64_t)us : 0u);
		struct dpeer *p = x->peer;
		p->inflight--;
		if (x->dec.half_open_probe)
			p->probe_end_ms = 0;
		outcome(d, x, res, status, ra > 0 && ra < INT32_MAX ? (int64_t)ra * 1000 : 0, now);
		dl_xfer_free(d, x); /* m is invalid from here */
		dl_drain(d, p, now);
	}
}

/* ------------------------------------------------------------------- leases */

/* A delivery about to go somewhere other than the first choice: where, and why. */
static void trace_failover(struct relay_delivery *d, const struct xfer *x, int64_t now)
{
	relay_trace_add(d->node, &x->st.rid,
			&(struct relay_trace_event){.kind = RELAY_TRACE_FAILOVER, .at_ms = now,
						    .peer = x->dec.peer,
						    .has_endpoint = !x->dec.pull,
						    .endpoint = x->dec.endpoint,
						    .why = x->dec.why});
}

/* Where a leased message goes now, and the first step of getting it there. */
static void decide(struct relay_delivery *d, struct xfer *x, int64_t now)
{
	struct route_msg m = {.to = &x->env.to,
			      .from = &x->env.from,
			      .hops = (const char(*)[ROUTE_NAME_MAX + 1])x->env.hops,
			      .n_hops = x->env.n_hops,
			      .src_peer = x->st.src_peer,
			      .attempts = x->st.attempts,
			      .first_fail_ms = x->st.first_fail_ms,
			      .now_ms = now,
			      .dry_run = false};
	char route[TEXT_MAX];
	struct dpeer *p;
	int64_t due;

	if (route_decide(d->node->routing, &m, &x->dec) != 0) {
		finish(d, x, QUEUE_FAILED, x->dec.why, NULL, "invalid message", true);
	} else if (x->dec.verdict == ROUTE_REJECT) {
		finish(d, x, QUEUE_FAILED, x->dec.why, NULL, route_strerror(x->dec.reject), true);
	} else if (x->dec.verdict == ROUTE_WAIT) {
		due = x->dec.wait_until_ms;
		/* behind our own probe: its answer comes within the timeout, not the probe lease */
		p = dl_peer_get(d, x->dec.peer[0] ? x->dec.peer : x->st.dst_peer, false);
		if (p && p->probe_end_ms > now && p->probe_end_ms < due)
			due = p->probe_end_ms;
		relay_log(RELAY_LOG_DEBUG, "delivery_wait", "rid=%s in_ms=%lld why=\"%s\"", x->rid,
			  (long long)(due - now), x->dec.why);
		dl_put_back(d, x, due);
	} else if (x->dec.pull) {
		if (x->dec.failover)
			trace_failover(d, x, now);
		route_text(x, route, sizeof(route));
		relay_log(RELAY_LOG_INFO, "delivery_to_inbox", "rid=%s peer=%s route=\"%s\"",
			  x->rid, x->dec.peer, route);
		submit_change(d, &x->st, QUEUE_OP_RESCHEDULE, 0, 0, NULL, route, x->dec.peer);
	} else {
		if (x->dec.failover)
			trace_failover(d, x, now);
		dl_admit(d, x, now);
		return;
	}
	dl_xfer_free(d, x);
}

/* One leased message: expired, undecodable, or on to the decision. */
static void take(struct relay_delivery *d, const struct queue_msg *m, int64_t now,
		 int64_t lease_end)
{
	struct xfer *x = calloc(1, sizeof(*x));
	int rc;

	if (!x) /* its lease runs out and it is offered again */
		return;
	if ((x->next = d->all))
		d->all->prev = x;
	d->all = x;
	d->held++;
	x->st = m->st;
	x->lease_end_ms = lease_end;
	queue_rid_format(&x->st.rid, x->rid);
	if ((rc = relay_record_decode(relay_cfg(d->node)->store.keys, m->payload, m->len,
				      &x->env)) != 0) {
		relay_log(RELAY_LOG_ERROR, "delivery_corrupt_record", "rid=%s err=%s", x->rid,
			  rc == -RELAY_EKEY ? "key" : "record");
		finish(d, x, QUEUE_FAILED, "corrupt record", NULL, NULL, false);
	} else if (x->st.mode == QUEUE_PULL || x->st.state == QUEUE_HELD ||
		   now >= x->st.expires_ms) {
		/* a pull or held message is only leased here when its expiry timer fired */
		finish(d, x, QUEUE_EXPIRED, "ttl expired", NULL, "ttl expired", true);
	} else {
		decide(d, x, now);
		return;
	}
	dl_xfer_free(d, x);
}

/* Writer thread: the lease committed (or failed); the engine picks it up. */
static void lease_done(struct queue_op *op)
{
	struct relay_delivery *d = op->arg;

	atomic_store(&d->lease_back, true);
	curl_multi_wakeup(d->multi);
}

/* Asks for up to `room` due messages, asynchronously: transfers go on while it commits. */
static void lease_ask(struct relay_delivery *d, size_t room, int64_t now)
{
	d->lease = (struct queue_op){.type = QUEUE_OP_LEASE, .done = lease_done, .arg = d};
	d->lease.u.lease.now_ms = now;
	d->lease.u.lease.lease_ms =
		(int64_t)relay_cfg(d->node)->delivery.timeout_ms + LEASE_EXTRA_MS;
	d->lease.u.lease.max = room;
	d->leasing = true;
	queue_submit(d->node->q, &d->lease);
}

/* The leased messages, each on to its next step. */
static void lease_take(struct relay_delivery *d)
{
	struct queue_op_lease *l = &d->lease.u.lease;
	int64_t now = relay_now_ms();

	atomic_store(&d->lease_back, false);
	d->leasing = false;
	if (d->lease.rc != 0) {
		if (d->lease.rc != -QUEUE_ECLOSED)
			relay_log(RELAY_LOG_WARN, "delivery_lease_failed", "error=\"%s\"",
				  queue_strerror(d->lease.rc));
		d->next_lease_ms = now + 1000;
		return;
	}
	for (size_t i = 0; i < l->n; i++)
		take(d, &l->msgs[i], now, l->now_ms + l->lease_ms);
	d->next_lease_ms = l->n == l->max ? now : now + IDLE_MS;
	queue_msgs_free(l->msgs, l->n);
	l->msgs = NULL;
	l->n = 0;
}

/* Abandons everything held: each lease runs out and the message is offered again. */
static void abandon(struct relay_delivery *d)
{
	d->start_head = d->start_tail = NULL; /* each is in d->all too */
	d->n_start = 0;
	while (d->all)
		dl_xfer_free(d, d->all);
	for (struct dpeer *p = d->peers; p; p = p->next) {
		p->wait_head = p->wait_tail = NULL;
		p->n_wait = p->inflight = 0;
	}
}

static void *engine_main(void *arg)
{
	struct relay_delivery *d = arg;

	while (!atomic_load(&d->stop)) {
		size_t cap = dl_capacity(relay_cfg(d->node));
		int64_t now = relay_now_ms(), wait = IDLE_MS, next;
		int running;

		if (d->leasing && atomic_load(&d->lease_back)) {
			lease_take(d);
			dl_flush_starts(d);
		}
		/* one lease at a time, in batches of a quarter of the capacity at least */
		bool room = !d->leasing && d->held + cap / 4 <= cap && now >= d->busy_until_ms;
		if (room && (atomic_exchange(&d->kicked, false) || now >= d->next_lease_ms))
			lease_ask(d, cap - d->held, now);
		curl_multi_perform(d->multi, &running);
		reap(d);
		dl_flush_starts(d);
		now = relay_now_ms();
		relay_trace_sweep(d->node, &d->sweep, now);
		relay_node_watch_store(d->node, &d->store_watch, now);
		if (d->leasing) {
			wait = atomic_load(&d->lease_back) ? 0 : wait;
		} else if (d->held + cap / 4 <= cap) {
			next = atomic_load(&d->kicked) || d->next_lease_ms < d->busy_until_ms
				       ? d->busy_until_ms
				       : d->next_lease_ms;
			if (next - now < wait)
				wait = next > now ? next - now : 0;
		}
		curl_multi_poll(d->multi, NULL, 0, (int)wait, NULL);
	}
	abandon(d);
	return NULL;
}

/* --------------------------------------------------------------------- API */

int relay_delivery_start(struct relay_node *node, char *err, size_t errlen)
{
	struct relay_delivery *d;

	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK) {
		snprintf(err, errlen, "delivery: libcurl: %s", curl_easy_strerror(curl_init_rc));
		return -RELAY_ENOMEM;
	}
	if (!(d = calloc(1, sizeof(*d))) || !(d->multi = curl_multi_init())) {
		free(d);
		snprintf(err, errlen, "delivery: out of memory");
		return -RELAY_ENOMEM;
	}
	d->node = node;
	d->rng = (uint64_t)relay_now_ms() * 0x9E3779B97F4A7C15ULL | 1;
	atomic_init(&d->stop, false);
	atomic_init(&d->lease_back, false);
	atomic_init(&d->kicked, true); /* whatever is due from before a restart */
	node->delivery = d;
	if (pthread_create(&d->thread, NULL, engine_main, d) != 0) {
		snprintf(err, errlen, "delivery: cannot start its thread");
		return -RELAY_ENOMEM; /* relay_node_stop frees d */
	}
	d->running = true;
	return 0;
}

void relay_delivery_kick(struct relay_delivery *d)
{
	if (!d)
		return;
	atomic_store(&d->kicked, true);
	curl_multi_wakeup(d->multi);
}

void relay_delivery_stop(struct relay_delivery *d)
{
	if (!d || !d->running)
		return;
	atomic_store(&d->stop, true);
	curl_multi_wakeup(d->multi);
	pthread_join(d->thread, NULL);
	d->running = false;
}

void relay_delivery_free(struct relay_delivery *d)
{
	if (!d)
		return;
	relay_delivery_stop(d);
	if (d->leasing) /* the store is closed: its done() has run */
		queue_msgs_free(d->lease.u.lease.msgs, d->lease.u.lease.n);
	while (d->peers) {
		struct dpeer *p = d->peers;

		d->peers = p->next;
		free(p);
	}
	while (d->n_idle)
		curl_easy_cleanup(d->idle[--d->n_idle]);
	curl_multi_cleanup(d->multi);
	free(d);
}
