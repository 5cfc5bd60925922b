/*
 * GET /metrics: the node's figures in the Prometheus text exposition format 0.0.4 — build
 * info, per-peer message counters, queue depth and age, latency histograms, store size,
 * uptime. No session: scrapers have none; the admin listener is loopback unless configured.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin_priv.h"

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* The page being written; on no memory it stops growing and says so in oom. */
struct text {
	char *p;
	size_t len, cap;
	bool oom;
};

static bool grow(struct text *t, size_t need)
{
	size_t cap = t->cap ? t->cap : 4096;
	char *p;

	if (t->oom)
		return false;
	while (cap < t->len + need + 1)
		cap *= 2;
	if (cap == t->cap)
		return true;
	if (!(p = realloc(t->p, cap))) {
		t->oom = true;
		return false;
	}
	t->p = p;
	t->cap = cap;
	return true;
}

__attribute__((format(printf, 2, 3))) static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !grow(t, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
}

/* A label value as the exposition format wants it: \\, \" and \n escaped. */
static void put_value(struct text *t, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\')
			put(t, "\\\\");
		else if (*v == '"')
			put(t, "\\\"");
		else if (*v == '\n')
			put(t, "\\n");
		else
			put(t, "%c", *v);
	}
}

/* A sample `name{label="value"} number`; label NULL: no labels. */
static void sample(struct text *t, const char *name, const char *label, const char *value,
		   const char *num)
{
	put(t, "%s", name);
	if (label) {
		put(t, "{%s=\"", label);
		put_value(t, value);
		put(t, "\"}");
	}
	put(t, " %s\n", num);
}

static void family(struct text *t, const char *name, const char *type, const char *help)
{
	put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void u64(char *buf, size_t size, uint64_t v)
{
	snprintf(buf, size, "%llu", (unsigned long long)v);
}

/* A family with one sample and no labels. */
static void single(struct text *t, const char *name, const char *type, const char *help,
		   uint64_t v)
{
	char num[32];

	family(t, name, type, help);
	u64(num, sizeof(num), v);
	sample(t, name, NULL, NULL, num);
}

/* ---------------------------------------------------------------- counters */

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct relay_peer_stats *)a)->peer,
		      ((const struct relay_peer_stats *)b)->peer);
}

/*
 * The snapshot's peers, and with zero counts every peer of the route table that has had no
 * event yet (a counter should exist before its first increment). Sorted; NULL on no memory.
 */
static struct relay_peer_stats *all_peers(struct admin *a, const struct relay_stats_snapshot *s,
					  size_t *n)
{
	const struct route_table *tb = routing_acquire(relay_node_routing(a->node));
	const struct route_peer *p;
	size_t extra = 0, k = s->n_peers;
	struct relay_peer_stats *all;

	while (route_table_peer_at(tb, extra))
		extra++;
	all = calloc(s->n_peers + extra + 1, sizeof(*all));
	if (all) {
		if (s->n_peers)
			memcpy(all, s->peers, s->n_peers * sizeof(*all));
		for (size_t i = 0; (p = route_table_peer_at(tb, i)); i++) {
			struct relay_peer_stats key;
			memset(&key, 0, sizeof(key));
			snprintf(key.peer, sizeof(key.peer), "%s", p->name);
			if (!s->n_peers ||
			    !bsearch(&key, s->peers, s->n_peers, sizeof(key), by_name))
				all[k++] = key;
		}
		qsort(all, k, sizeof(*all), by_name);
		*n = k;
	}
	routing_release(tb);
	return all;
}

static const struct {
	const char *name, *help;
} counter_names[RELAY_STAT_MAX_] = {
	[RELAY_STAT_ACCEPTED] = {"interlink_accepted_total",
				 "Messages and reports accepted from the peer (stored; duplicates "
				 "not counted)."},
	[RELAY_STAT_DELIVERED] = {"interlink_delivered_total",
				  "Messages pushed to the peer and answered 2xx, by the "
				  "destination peer."},
	[RELAY_STAT_FAILED] = {"interlink_failed_total",
			       "Messages that failed for good, by the destination peer."},
	[RELAY_STAT_EXPIRED] = {"interlink_expired_total",
				"Messages whose ttl ran out before delivery, by the destination "
				"peer."},
	[RELAY_STAT_RETRIED] = {"interlink_retried_total",
				"Delivery attempts that failed and were rescheduled, by the "
				"destination peer."},
};

static void counters(struct text *t, const struct relay_peer_stats *peers, size_t n)
{
	char num[32];

	for (size_t c = 0; c < RELAY_STAT_MAX_; c++) {
		family(t, counter_names[c].name, "counter", counter_names[c].help);
		for (size_t i = 0; i < n; i++) {
			u64(num, sizeof(num), peers[i].n[c]);
			sample(t, counter_names[c].name, "peer", peers[i].peer, num);
		}
	}
}

/* ------------------------------------------------------------------- queue */

struct qwalk {
	struct text *t;
	bool age; /* this pass writes the oldest age, else the depth */
	int64_t now_ms;
};

static int queue_line(const char *peer, const struct queue_peer_counts *c, void *arg)
{
	static const enum queue_state live[] = {QUEUE_QUEUED, QUEUE_DELIVERING, QUEUE_HELD};
	struct qwalk *w = arg;
	char num[32];

	if (w->age) {
		int64_t age = c->oldest_live_ms ? w->now_ms - c->oldest_live_ms : 0;
		snprintf(num, sizeof(num), "%.3f", age > 0 ? (double)age / 1000.0 : 0.0);
		sample(w->t, "interlink_queue_oldest_age_seconds", "peer", peer, num);
		return w->t->oom;
	}
	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++) {
		put(w->t, "interlink_queue_depth{peer=\"");
		put_value(w->t, peer);
		put(w->t, "\",state=\"%s\"} %llu\n", queue_state_name(live[i]),
		    (unsigned long long)c->state[live[i]]);
	}
	return w->t->oom;
}

static void queue_figures(struct text *t, struct queue *q)
{
	struct qwalk w = {.t = t, .now_ms = relay_now_ms()};

	family(t, "interlink_queue_depth", "gauge",
	       "Live messages for the destination peer, by state (queued, delivering, held).");
	queue_each_peer(q, queue_line, &w);
	family(t, "interlink_queue_oldest_age_seconds", "gauge",
	       "Age of the destination peer's oldest live message (0 when it has none).");
	w.age = true;
	queue_each_peer(q, queue_line, &w);
}

/* -------------------------------------------------------------- histograms */

static void histogram(struct text *t, const char *name, const char *help,
		      const struct relay_histogram *h)
{
	put(t, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (size_t i = 0; i < RELAY_STATS_BUCKETS; i++)
		put(t, "%s_bucket{le=\"%g\"} %llu\n", name, relay_stats_bounds[i],
		    (unsigned long long)h->cumulative[i]);
	put(t, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)h->count);
	put(t, "%s_sum %.6f\n", name, (double)h->sum_us / 1e6);
	put(t, "%s_count %llu\n", name, (unsigned long long)h->count);
}

/* ------------------------------------------------------------------- page */

/* What needs a restart: the listeners' certificate ends (TLS listeners only) and whether the
 * last reload held a change only a restart applies. */
static void restart_figures(struct text *t, struct admin *a)
{
	struct relay_node_state st;
	char num[32];

	relay_node_state(a->node, &st);
	if (st.carrier_cert_end_s || st.admin_cert_end_s)
		family(t, "interlink_tls_cert_expiry_timestamp_seconds", "gauge",
		       "When the certificate a listener serves ends (seconds since the epoch).");
	if (st.carrier_cert_end_s) {
		snprintf(num, sizeof(num), "%lld", (long long)st.carrier_cert_end_s);
		sample(t, "interlink_tls_cert_expiry_timestamp_seconds", "listener", "carrier", num);
	}
	if (st.admin_cert_end_s) {
		snprintf(num, sizeof(num), "%lld", (long long)st.admin_cert_end_s);
		sample(t, "interlink_tls_cert_expiry_timestamp_seconds", "listener", "admin", num);
	}
	single(t, "interlink_restart_needed", "gauge",
	       "1 when the last reload held what only a restart applies: a listener's address, "
	       "port, TLS on or off, client-ca set or removed, connection limits; data-dir, "
	       "node-id.",
	       st.restart_needed);
}

static void node_figures(struct text *t, struct admin *a)
{
	struct queue_store_stat st;
	struct relay_counters c;
	char num[32];

	queue_store_stat(relay_node_queue(a->node), &st);
	single(t, "interlink_store_used_bytes", "gauge", "Bytes of the store's pages in use.",
	       st.used_bytes);
	single(t, "interlink_store_map_bytes", "gauge", "The store's current map size in bytes.",
	       st.map_bytes);
	single(t, "interlink_store_max_bytes", "gauge",
	       "The size the store may grow to in bytes (the map's limit, or the disk's).",
	       st.max_bytes);
	single(t, "interlink_store_full", "gauge",
	       "1 while the store is full and submissions get 507, else 0.", st.full);
	single(t, "interlink_store_errors_total", "counter",
	       "Store errors: operations a write error failed, not for room (a failing disk), "
	       "and corrupt records met.",
	       st.errors);
	single(t, "interlink_store_failing", "gauge",
	       "1 while the store's last write failed with such an error, else 0.", st.failing);
	single(t, "interlink_store_commits_total", "counter",
	       "Write transactions the store committed (group commits).", st.commits);
	single(t, "interlink_store_operations_total", "counter",
	       "Operations (inserts, leases, changes, key-value writes) those commits held.",
	       st.ops);
	relay_node_counters(a->node, &c);
	family(t, "interlink_uptime_seconds", "gauge", "Seconds since the node started.");
	snprintf(num, sizeof(num), "%.3f", (double)(relay_now_ms() - c.started_ms) / 1000.0);
	sample(t, "interlink_uptime_seconds", NULL, NULL, num);
	restart_figures(t, a);
}

/* Writes the whole page into t (t->oom tells whether it is complete). */
static void render(struct admin *a, struct text *t)
{
	struct relay_stats_snapshot s;
	struct relay_peer_stats *peers = NULL;
	size_t n = 0;

	family(t, "interlink_build_info", "gauge", "The running interlinkd's version (always 1).");
	sample(t, "interlink_build_info", "version", INTERLINK_VERSION, "1");
	if (relay_node_stats(a->node, &s) != 0 || !(peers = all_peers(a, &s, &n))) {
		relay_stats_snapshot_clear(&s);
		t->oom = true;
		return;
	}
	counters(t, peers, n);
	free(peers);
	queue_figures(t, relay_node_queue(a->node));
	histogram(t, "interlink_accept_latency_seconds",
		  "From a submission's start to the commit of each envelope it stored.",
		  &s.hist[RELAY_HIST_ACCEPT]);
	histogram(t, "interlink_delivery_latency_seconds",
		  "From a push's start to its result (answer, error or timeout).",
		  &s.hist[RELAY_HIST_DELIVERY]);
	relay_stats_snapshot_clear(&s);
	node_figures(t, a);
}

enum MHD_Result admin_h_metrics(struct relay_req *req)
{
	struct text t = {0};
	enum MHD_Result ret;

	render(req->ctx, &t);
	if (t.oom) {
		free(t.p);
		return relay_reply_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", NULL,
					 "out of memory");
	}
	ret = relay_reply_body(req, MHD_HTTP_OK, CONTENT_TYPE, t.p, t.len, NULL, 0);
	free(t.p);
	return ret;
}
