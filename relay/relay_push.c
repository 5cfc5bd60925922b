/*
 * The delivery engine's pushes: a decided message admitted under its peer's concurrency bound
 * and fair share, then its request (body, headers, easy handle) built and started with the
 * others of the engine's turn under one signature. Leases and outcomes: relay_delivery.c.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay/relay_delivery_priv.h"

#define START_MARGIN_MS 1000 /* a waiting message starts only with this much lease to spare */
#define BUSY_MS         50   /* a message its peer has no room for comes back after this */
#define PROBE_SLACK_MS  250  /* our breaker probe's answer is expected by timeout + this */

/* Keeps the start of a relay peer's answer (its rid, for the trace); drops the rest. */
static size_t keep_answer(char *ptr, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n, room = ANSWER_KEEP - x->answer_len;

	if (x->to_relay && room) {
		memcpy(x->answer + x->answer_len, ptr, len < room ? len : room);
		x->answer_len += len < room ? len : room;
	}
	return len;
}

/* What leaves for x: its rid and submitter here, and the decided address when routing
 * changed it (a linked account), kept in *to. */
static int outgoing(struct xfer *x, struct relay_outgoing *o, struct route_addr *to)
{
	*o = (struct relay_outgoing){.env = &x->env, .rid = x->rid, .src_peer = x->st.src_peer};
	if (strcmp(x->dec.to, x->env.to.text) == 0)
		return 0;
	if (route_addr_parse(x->dec.to, strlen(x->dec.to), NULL, to) != 0)
		return -RELAY_EFIELD;
	o->to = to;
	return 0;
}

/* The envelope as this push sends it: our rid (the first node's to a relay, x->to_relay),
 * this node in hops, the decided address, and this node's signatures (o, signed by
 * dl_flush_starts). */
static int request_body(struct relay_delivery *d, struct xfer *x, const struct relay_outgoing *o)
{
	const char *node_id = relay_cfg(d->node)->node_id;
	struct relay_envelope out = x->env; /* shallow: body and att stay x->env's */
	struct relay_att *scratch = NULL;
	int rc;

	/* to a relay, the first node's rid goes on (the next node's idempotency key, and the
	 * ref of the report that comes back however long the chain); to a carrier, ours */
	if (!x->env.rid[0] || !x->to_relay)
		dl_copy_text(out.rid, sizeof(out.rid), x->rid);
	if (out.n_hops >= RELAY_ENV_HOPS_MAX)
		return -RELAY_EFIELD; /* routing refuses far fewer hops than this */
	dl_copy_text(out.hops[out.n_hops++], sizeof(out.hops[0]), node_id);
	if (o->to)
		out.to = *o->to;
	if ((rc = relay_outgoing_apply(o, &out, &scratch)) != 0)
		return rc;
	x->json = relay_envelope_to_json(&out, NULL);
	free(scratch);
	return x->json ? 0 : -RELAY_ENOMEM;
}

/* One header line, head and value ("Expect:" and "" remove a header curl would add). */
static int add_header(struct xfer *x, const char *head, const char *value)
{
	char line[1100]; /* an outbound token is at most 1024 bytes */
	struct curl_slist *l;

	snprintf(line, sizeof(line), "%s%s", head, value);
	if (!(l = curl_slist_append(x->hdrs, line)))
		return -RELAY_ENOMEM;
	x->hdrs = l;
	return 0;
}

/* The easy handle for x's push: URL and outbound token from the current table, and the
 * body (request_body) as it goes to that peer. */
static int make_easy(struct relay_delivery *d, struct xfer *x, const struct relay_outgoing *o)
{
	const struct relay_config *cfg = relay_cfg(d->node);
	const struct route_table *t = routing_acquire(d->node->routing);
	const struct route_peer *p = route_table_peer(t, x->dec.peer);
	int rc = -RELAY_EFIELD;
	CURL *e;

	if (!p || x->dec.endpoint >= p->n_endpoints)
		goto out;
	if (!(e = x->easy = d->n_idle ? d->idle[--d->n_idle] : curl_easy_init()))
		goto out;
	x->to_relay = p->kind == ROUTE_PEER_RELAY;
	if ((rc = request_body(d, x, o)) != 0)
		goto out;
	rc = -RELAY_ENOMEM;
	if (add_header(x, "Content-Type: ", "application/json") ||
	    add_header(x, "Idempotency-Key: ",
		       x->to_relay && x->env.rid[0] ? x->env.rid : x->rid) ||
	    add_header(x, "Expect:", "") ||
	    (p->outbound_token && add_header(x, "Authorization: Bearer ", p->outbound_token)) ||
	    curl_easy_setopt(e, CURLOPT_URL, p->endpoints[x->dec.endpoint]) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK)
		goto out;
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->json);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(x->json));
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->hdrs);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "interlinkd/" INTERLINK_VERSION);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)cfg->delivery.timeout_ms);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, keep_answer);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, (void *)x);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)x);
	rc = 0;
out:
	routing_release(t);
	return rc;
}

/* x's push takes a slot of its peer now and starts with the others admitted in this turn
 * of the engine (dl_flush_starts), which are signed together. */
static void start(struct relay_delivery *d, struct xfer *x, int64_t now)
{
	x->started_ms = now;
	x->peer->inflight++;
	if (x->dec.half_open_probe)
		x->peer->probe_end_ms = now + (int64_t)relay_cfg(d->node)->delivery.timeout_ms +
					PROBE_SLACK_MS;
	if (d->start_tail)
		d->start_tail->snext = x;
	else
		d->start_head = x;
	d->start_tail = x;
	d->n_start++;
}

/* A push that could not start: its slot freed, back to the queue a little later. */
static void not_started(struct relay_delivery *d, struct xfer *x, int rc, int64_t now)
{
	relay_log(RELAY_LOG_WARN, "delivery_not_started", "rid=%s peer=%s error=\"%s\"", x->rid,
		  x->dec.peer,
		  rc == -RELAY_EFIELD ? "peer or endpoint changed" : relay_strerror(rc));
	x->peer->inflight--;
	if (x->dec.half_open_probe)
		x->peer->probe_end_ms = 0;
	dl_put_back(d, x, now + BUSY_MS);
	dl_xfer_free(d, x);
}

/* Starts the pushes admitted since the last call: one signature for all of them (the
 * links and reports this node signs, relay_trust_sign_out), then each transfer. */
void dl_flush_starts(struct relay_delivery *d)
{
	size_t n = d->n_start, k = 0;
	struct xfer *x = d->start_head, *next, **xs;
	struct relay_outgoing *o;
	struct route_addr *to;
	int64_t now = relay_now_ms();
	int rc;

	if (!n)
		return;
	d->start_head = d->start_tail = NULL;
	d->n_start = 0;
	xs = malloc(n * sizeof(*xs));
	o = malloc(n * sizeof(*o));
	to = malloc(n * sizeof(*to));
	rc = xs && o && to ? 0 : -RELAY_ENOMEM;
	for (; x; x = next) {
		int r = rc;

		next = x->snext;
		x->snext = NULL;
		if (r == 0 && (r = outgoing(x, &o[k], &to[k])) == 0)
			xs[k++] = x;
		else
			not_started(d, x, r, now);
	}
	if (k && (rc = relay_trust_sign_out(relay_cfg(d->node), o, k, now)) != 0)
		relay_log(RELAY_LOG_WARN, "delivery_sign_failed", "n=%zu error=\"%s\"", k,
			  relay_strerror(rc));
	for (size_t i = 0; i < k; i++) {
		int r = rc;

		x = xs[i];
		if (r == 0)
			r = make_easy(d, x, &o[i]);
		if (r == 0 && curl_multi_add_handle(d->multi, x->easy) != CURLM_OK)
			r = -RELAY_ENOMEM;
		if (r != 0)
			not_started(d, x, r, now);
	}
	free(xs);
	free(o);
	free(to);
}

/* Starts the peer's waiting messages while it has room. */
void dl_drain(struct relay_delivery *d, struct dpeer *p, int64_t now)
{
	const struct relay_config *cfg = relay_cfg(d->node);
	int64_t need = (int64_t)cfg->delivery.timeout_ms + START_MARGIN_MS;

	while (p->wait_head && p->inflight < cfg->delivery.concurrency) {
		struct xfer *x = p->wait_head;

		if (!(p->wait_head = x->wnext))
			p->wait_tail = NULL;
		p->n_wait--;
		if (now + need > x->lease_end_ms) { /* too late for its lease: back to the queue */
			dl_put_back(d, x, now);
			dl_xfer_free(d, x);
			continue;
		}
		start(d, x, now);
	}
}

/*
 * Whether p may hold one more message: its fair share of the engine's capacity among the
 * peers that hold some (at least two rounds of its concurrency), so that a slow peer's
 * backlog cannot take every slot from the others.
 */
static bool fair_share(const struct relay_delivery *d, const struct dpeer *p, uint32_t conc)
{
	size_t active = 1, share;

	for (const struct dpeer *o = d->peers; o; o = o->next)
		active += o != p && o->inflight + o->n_wait > 0;
	share = dl_capacity(relay_cfg(d->node)) / active;
	return p->inflight + p->n_wait < (share > 2 * (size_t)conc ? share : 2 * (size_t)conc);
}

/* A push to p: now when p has room, else after the ones already waiting. Past its share it
 * goes back to the queue, and leasing pauses a moment so that it is not taken up again at once. */
void dl_admit(struct relay_delivery *d, struct xfer *x, int64_t now)
{
	uint32_t conc = relay_cfg(d->node)->delivery.concurrency;
	struct dpeer *p = dl_peer_get(d, x->dec.peer, true);

	if (!p || (p->inflight >= conc && !fair_share(d, p, conc))) {
		dl_put_back(d, x, now + BUSY_MS);
		dl_xfer_free(d, x);
		d->busy_until_ms = now + BUSY_MS;
		return;
	}
	x->peer = p;
	if (p->inflight < conc) {
		start(d, x, now);
		return;
	}
	if (p->wait_tail)
		p->wait_tail->wnext = x;
	else
		p->wait_head = x;
	p->wait_tail = x;
	p->n_wait++;
}
