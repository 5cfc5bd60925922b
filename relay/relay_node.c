/*
 * The node: wires the store, routing, the delivery engine and the carrier API
 * together from a config, and applies a reloaded config.
 */
#include <errno.h>
#include <pthread.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/evp.h>

#include "relay/relay_priv.h"

#define STORE_ERROR_LOG_MS 1000 /* at most a store_error line a second */

int64_t relay_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void relay_env_limits_for(const struct relay_config *cfg, const struct route_peer *peer,
			  int64_t now_ms, struct relay_env_limits *out)
{
	uint64_t max = cfg->max_message_size;

	if (peer && peer->max_size && peer->max_size < max)
		max = peer->max_size;
	*out = (struct relay_env_limits){
		.max_body = (size_t)max,
		.default_ttl_s = (uint32_t)cfg->delivery.default_ttl_s,
		.max_ttl_s = (uint32_t)cfg->delivery.max_ttl_s,
		.default_country = cfg->default_country,
		.now_ms = now_ms,
	};
}

/* mkdir -p with mode 0750 for the directories it creates. */
static int make_dirs(const char *path, char *err, size_t errlen)
{
	char buf[PATH_MAX];
	struct stat st;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
		snprintf(err, errlen, "data-dir: path too long");
		return -RELAY_ECONFIG;
	}
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(buf, 0750) != 0 && errno != EEXIST) {
			snprintf(err, errlen, "data-dir: cannot create %.300s: %s", buf,
				 strerror(errno));
			return -RELAY_ECONFIG;
		}
		*p = saved;
		if (saved == '\0')
			break;
	}
	if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "data-dir %.300s: not a directory", path);
		return -RELAY_ECONFIG;
	}
	return 0;
}

/* ------------------------------------------- config peers and routes */

static void peer_from_conf(const struct relay_peer_conf *c, struct route_peer *p)
{
	*p = (struct route_peer){
		.name = c->name,
		.kind = c->kind == RELAY_PEER_RELAY ? ROUTE_PEER_RELAY : ROUTE_PEER_CARRIER,
		.token_sha256 = c->token_sha256,
		.cert_sha256 = c->cert_sha256,
		.endpoints = (const char *const *)c->endpoints,
		.n_endpoints = c->n_endpoints,
		.outbound_token = c->outbound_token,
		.owns = (const char *const *)c->owns,
		.n_owns = c->n_owns,
		.rate = c->rate,
		.burst = c->burst,
		.max_size = c->max_size,
		.max_queue = c->max_queue,
		.suspended = c->suspended,
		.read_only = true,
		.dir_trusted = c->directory_trusted,
		.pins = c->keys,
		.n_pins = c->n_keys,
	};
}

static const enum route_match match_of[] = {
	[RELAY_ROUTE_PREFIX] = ROUTE_MATCH_PREFIX,
	[RELAY_ROUTE_DOMAIN] = ROUTE_MATCH_DOMAIN,
	[RELAY_ROUTE_DEFAULT] = ROUTE_MATCH_DEFAULT,
};

/* Hands the config's peers and routes to routing (which adds the stored ones). */
static int load_routing(struct relay_node *n, const struct relay_config *cfg, char *err,
			size_t errlen)
{
	struct route_peer *peers = calloc(cfg->n_peers + 1, sizeof(*peers));
	struct route_entry *routes = calloc(cfg->n_routes + 1, sizeof(*routes));
	int rc = -ROUTE_ENOMEM;
	char why[320] = "";

	if (peers && routes) {
		for (size_t i = 0; i < cfg->n_peers; i++)
			peer_from_conf(&cfg->peers[i], &peers[i]);
		for (size_t i = 0; i < cfg->n_routes; i++)
			routes[i] = (struct route_entry){.match = match_of[cfg->routes[i].match],
							 .value = cfg->routes[i].value,
							 .peer = cfg->routes[i].peer,
							 .read_only = true};
		rc = routing_load(n->routing, peers, cfg->n_peers, routes, cfg->n_routes, why,
				  sizeof(why));
	}
	free(peers);
	free(routes);
	if (rc != 0) {
		snprintf(err, errlen, "%s: peers and routes: %s", cfg->path,
			 why[0] ? why : route_strerror(rc));
		return -RELAY_ECONFIG;
	}
	return 0;
}

/* ---------------------------------------------------------------- store */

static int open_store(struct relay_node *n, const struct relay_config *cfg,
		      const char *const *extra, size_t n_extra, char *err, size_t errlen)
{
	const char *tables[QUEUE_TABLES_MAX];
	size_t nt = 0;

	if (ROUTE_QUEUE_TABLES + 2 + n_extra > QUEUE_TABLES_MAX) {
		snprintf(err, errlen, "store: too many tables");
		return -RELAY_ECONFIG;
	}
	for (size_t i = 0; i < ROUTE_QUEUE_TABLES; i++)
		tables[nt++] = route_queue_tables[i];
	tables[nt++] = RELAY_TRACE_TABLE;
	tables[nt++] = RELAY_SEAL_TABLE;
	for (size_t i = 0; i < n_extra; i++)
		tables[nt++] = extra[i];
	struct queue_options opt = {
		.dir = cfg->data_dir,
		.map_size = cfg->store.map_size,
		.max_map_size = cfg->store.max_map_size,
		.sync = cfg->store.sync == RELAY_SYNC_NONE ? QUEUE_SYNC_NONE : QUEUE_SYNC_FULL,
		.retention_ms = (int64_t)cfg->store.status_retention_ms,
		.tables = tables,
		.n_tables = nt,
	};
	char qerr[400];
	int rc = queue_open(&opt, &n->q, qerr, sizeof(qerr));

	if (rc != 0) {
		snprintf(err, errlen, "store: %s (%s)", qerr, queue_strerror(rc));
		return -RELAY_ECONFIG;
	}
	return 0;
}

/*
 * Encryption at rest: cfg's key file into cfg->store.keys (with the keys of `old`, the
 * config in force, on a reload), checked against the store's key canaries.
 */
static int load_keys(struct relay_node *n, struct relay_config *cfg,
		     const struct relay_config *old, char *err, size_t errlen)
{
	char why[400];
	int rc;

	if (!cfg->store.key_file && old && old->store.keys) {
		snprintf(err, errlen, "store key-file: removing it needs a restart");
		return -RELAY_ECONFIG;
	}
	if (!cfg->store.key_file && old)
		return 0;
	if (!cfg->store.key_file) {
		rc = relay_seal_check_store(n->q, NULL, why, sizeof(why));
		if (rc)
			goto fail;
		return 0;
	}
	if ((rc = relay_keyring_load(cfg->store.key_file, &cfg->store.keys, why, sizeof(why))))
		goto fail;
	relay_keyring_keep(cfg->store.keys, old ? old->store.keys : NULL);
	if ((rc = relay_seal_check_store(n->q, cfg->store.keys, why, sizeof(why))) != 0)
		goto fail;
	relay_log(RELAY_LOG_INFO, "store_keys", "key_file=%s newest=%s encrypt=%s",
		  relay_log_quote(cfg->store.key_file, why, sizeof(why)),
		  relay_keyring_newest(cfg->store.keys), cfg->store.encrypt ? "yes" : "no");
	return 0;
fail:
	snprintf(err, errlen, "store key-file: %s", why);
	return rc == -RELAY_ENOMEM ? rc : -RELAY_ECONFIG;
}

/* Config peers that pin keys (peers of the admin API may pin more: they are in the table). */
static size_t pinned_peers(const struct relay_config *cfg)
{
	size_t n = 0;

	for (size_t i = 0; i < cfg->n_peers; i++)
		n += cfg->peers[i].n_keys > 0;
	return n;
}

/* Signing: cfg's node key (generated on first start). The peers' pinned keys go with the
 * peers into the route table (peer_from_conf), where verifying looks for them. */
static int load_trust(struct relay_config *cfg, char *err, size_t errlen)
{
	char why[400];
	int rc = relay_trust_open(cfg, &cfg->trust.keys, why, sizeof(why));

	if (rc != 0) {
		snprintf(err, errlen, "trust: %s", why);
		return rc;
	}
	relay_log(RELAY_LOG_INFO, "trust_key", "kid=%s attest=%s config_pinned_peers=%zu",
		  relay_trust_kid(cfg->trust.keys), cfg->trust.attest ? "yes" : "no",
		  pinned_peers(cfg));
	return 0;
}

/*
 * SHA-256 of what only a restart hands a listener: address, port, TLS on or off, and
 * whether it asks for client certificates (client-ca set). Its certificate, key and the
 * client-ca's contents are not in it: a reload hands them over (load_tls).
 */
static void listener_digest(const struct relay_listener_conf *l, unsigned char out[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	char head[320];
	int len = snprintf(head, sizeof(head), "%s|%u|%d|%d|%u|%u", l->address ? l->address : "",
			   (unsigned)l->port, (int)l->plain_http, l->client_ca != NULL,
			   (unsigned)l->max_conns, (unsigned)l->max_conns_per_ip);

	memset(out, 0, 32);
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		return; /* all zero: compares unequal to a real digest, so it warns */
	}
	EVP_DigestUpdate(ctx, head, (size_t)len);
	EVP_DigestFinal_ex(ctx, out, NULL);
	EVP_MD_CTX_free(ctx);
}

/* Logs the listeners whose settings or TLS files changed since the node started; whether
 * any did. */
static bool listeners_changed(const struct relay_node *n, const struct relay_config *next)
{
	const struct relay_listener_conf *l[2] = {&next->carrier, &next->admin};
	static const char *const key[2] = {"carrier-listener", "admin-listener"};
	bool changed = false;

	for (int i = 0; i < 2; i++) {
		unsigned char d[32];
		listener_digest(l[i], d);
		if (memcmp(d, n->listener_digest[i], sizeof(d)) != 0) {
			relay_log(RELAY_LOG_WARN, "config_needs_restart",
				  "key=%s reason=\"address, port, TLS on or off, client-ca on or "
				  "off, or connection limits changed\"", key[i]);
			changed = true;
		}
	}
	return changed;
}

/*
 * The certificates and keys of the running listeners, loaded from next into cred[], by enum
 * relay_listener (NULL where none runs or next has no TLS: a restart turns it on). 0, or
 * -RELAY_ECONFIG (-RELAY_ENOMEM) with the first one's error and none loaded.
 */
static int load_tls(const struct relay_node *n, const struct relay_config *next,
		    struct relay_tls_cred *cred[RELAY_LISTENERS], char *err, size_t errlen)
{
	bool running[RELAY_LISTENERS];

	for (int i = 0; i < RELAY_LISTENERS; i++)
		running[i] = n->http[i] != NULL;
	int rc = relay_tls_load_listeners(next, running, cred, err, errlen);
	return rc == 0 || rc == -RELAY_ENOMEM ? rc : -RELAY_ECONFIG;
}

int relay_node_start(struct relay_config *cfg, const char *const *tables, size_t n_tables,
		     struct relay_node **out, char *err, size_t errlen)
{
	struct relay_node *n = calloc(1, sizeof(*n));
	int rc;

	if (!n) {
		relay_config_free(cfg);
		snprintf(err, errlen, "out of memory");
		return -RELAY_ENOMEM;
	}
	atomic_store(&n->cfg, cfg);
	n->started_ms = relay_now_ms();
	listener_digest(&cfg->carrier, n->listener_digest[0]); /* as both listeners start */
	listener_digest(&cfg->admin, n->listener_digest[1]);
	for (int i = 0; i < RELAY_LISTENERS; i++)
		atomic_init(&n->cert_end_s[i], 0); /* the TLS listeners set theirs as they start */
	snprintf(n->start_node_id, sizeof(n->start_node_id), "%s", cfg->node_id);
	atomic_init(&n->trace_seq, (uint_least32_t)n->started_ms); /* events sort by time first */
	pthread_mutex_init(&n->reload_lock, NULL);
	if (!(n->start_data_dir = strdup(cfg->data_dir))) {
		snprintf(err, errlen, "out of memory");
		rc = -RELAY_ENOMEM;
		goto fail;
	}
	if ((rc = make_dirs(cfg->data_dir, err, errlen)) != 0 ||
	    (rc = open_store(n, cfg, tables, n_tables, err, errlen)) != 0 ||
	    (rc = load_keys(n, cfg, NULL, err, errlen)) != 0 ||
	    (rc = load_trust(cfg, err, errlen)) != 0)
		goto fail;
	n->routing = routing_new(cfg->node_id, n->q, NULL);
	n->limits = relay_limits_new();
	n->inbox = relay_inbox_new();
	n->stats = relay_stats_new();
	if (!n->routing || !n->limits || !n->inbox || !n->stats) {
		snprintf(err, errlen, "out of memory");
		rc = -RELAY_ENOMEM;
		goto fail;
	}
	if ((rc = load_routing(n, cfg, err, errlen)) != 0 ||
	    (rc = relay_delivery_start(n, err, errlen)) != 0)
		goto fail;
	*out = n;
	return 0;
fail:
	relay_node_stop(n);
	return rc;
}

int relay_node_listen(struct relay_node *n, char *err, size_t errlen)
{
	return relay_api_start(n, err, errlen);
}

int relay_node_reload(struct relay_node *n, struct relay_config *next, char *err,
		      size_t errlen)
{
	const struct relay_config *cur = relay_cfg(n);
	struct relay_tls_cred *cred[RELAY_LISTENERS];
	int64_t now = relay_now_ms();
	bool restart;
	int rc;

	relay_node_reclaim(n, now);
	if (n->n_retired == RELAY_RETIRED_MAX) {
		snprintf(err, errlen,
			 "%d reloads in the last %d minutes: wait a few minutes, or restart",
			 RELAY_RETIRED_MAX, RELAY_RETIRED_GRACE_MS / 60000);
		relay_config_free(next);
		return -RELAY_EAGAIN;
	}
	/* compared with the config the node started with: what a restart would change */
	if ((restart = strcmp(n->start_data_dir, next->data_dir) != 0))
		relay_log(RELAY_LOG_WARN, "config_needs_restart", "key=data-dir");
	if (strcmp(n->start_node_id, next->node_id) != 0) {
		relay_log(RELAY_LOG_WARN, "config_needs_restart", "key=node-id");
		restart = true;
	}
	restart |= listeners_changed(n, next);
	if ((rc = load_tls(n, next, cred, err, errlen)) != 0) {
		relay_config_free(next);
		return rc;
	}
	if ((rc = load_keys(n, next, cur, err, errlen)) != 0 ||
	    (rc = load_trust(next, err, errlen)) != 0 ||
	    (rc = load_routing(n, next, err, errlen)) != 0) {
		for (int i = 0; i < RELAY_LISTENERS; i++)
			relay_tls_cred_free(cred[i]);
		relay_config_free(next);
		return rc;
	}
	for (int i = 0; i < RELAY_LISTENERS; i++)
		if (cred[i])
			relay_http_renew(n->http[i], cred[i]);
	n->retired[n->n_retired++] =
		(struct relay_retired){.cfg = atomic_exchange(&n->cfg, next), .since_ms = now};
	atomic_store(&n->restart_needed, restart);
	relay_log_set_level(next->log_level);
	return 0;
}

void relay_node_watch_store(struct relay_node *n, struct relay_store_watch *w, int64_t now)
{
	struct queue_store_stat st;
	char reason[160];

	queue_store_stat(n->q, &st);
	if (st.errors != w->errors && now - w->logged_ms >= STORE_ERROR_LOG_MS) {
		relay_log(RELAY_LOG_ERROR, "store_error",
			  "failed=%llu failed_total=%llu code=%d reason=%s failing=%d",
			  (unsigned long long)(st.errors - w->errors),
			  (unsigned long long)st.errors, st.last_error,
			  relay_log_quote(queue_error_text(st.last_error), reason, sizeof(reason)),
			  (int)st.failing);
		w->errors = st.errors;
		w->logged_ms = now;
		w->failing = st.failing;
	} else if (w->failing && !st.failing) {
		/* after a line that said failing=1: so no more often than those */
		relay_log(RELAY_LOG_INFO, "store_writing", "failed_total=%llu",
			  (unsigned long long)st.errors);
		w->failing = false;
	}
}

void relay_node_reclaim(struct relay_node *n, int64_t now_ms)
{
	size_t kept = 0;

	for (size_t i = 0; i < n->n_retired; i++) {
		if (now_ms - n->retired[i].since_ms >= RELAY_RETIRED_GRACE_MS)
			relay_config_free(n->retired[i].cfg);
		else
			n->retired[kept++] = n->retired[i];
	}
	n->n_retired = kept;
}

int relay_node_reload_file(struct relay_node *n, char *err, size_t errlen)
{
	struct relay_config *next = NULL;
	int rc;

	pthread_mutex_lock(&n->reload_lock);
	rc = relay_config_load(relay_cfg(n)->path, &next, err, errlen);
	if (rc == 0)
		rc = relay_node_reload(n, next, err, errlen);
	pthread_mutex_unlock(&n->reload_lock);
	return rc;
}

struct queue *relay_node_queue(const struct relay_node *n)
{
	return n->q;
}

struct routing *relay_node_routing(const struct relay_node *n)
{
	return n->routing;
}

void relay_node_counters(const struct relay_node *n, struct relay_counters *out)
{
	struct relay_node *m = (struct relay_node *)n;
	*out = (struct relay_counters){
		.accepted = atomic_load(&m->accepted),
		.duplicates = atomic_load(&m->duplicates),
		.delivered = atomic_load(&m->delivered),
		.failed = atomic_load(&m->failed),
		.expired = atomic_load(&m->expired),
		.retried = atomic_load(&m->retried),
		.started_ms = n->started_ms,
	};
}

void relay_node_state(const struct relay_node *n, struct relay_node_state *out)
{
	*out = (struct relay_node_state){
		.carrier_cert_end_s = atomic_load(&((struct relay_node *)n)->cert_end_s[0]),
		.admin_cert_end_s = atomic_load(&((struct relay_node *)n)->cert_end_s[1]),
		.restart_needed = atomic_load(&((struct relay_node *)n)->restart_needed),
	};
}

const char *relay_node_url(const struct relay_node *n)
{
	return n->api ? relay_http_url(n->api) : "";
}

const struct relay_config *relay_node_config(const struct relay_node *n)
{
	return relay_cfg(n);
}

void relay_node_kick(struct relay_node *n, const char *pull_peer)
{
	relay_delivery_kick(n->delivery);
	if (pull_peer)
		relay_inbox_notify(n->inbox, pull_peer);
}

int relay_node_report(struct relay_node *n, const struct relay_envelope *env,
		      const struct queue_status *st, enum relay_report_status status,
		      const char *reason)
{
	atomic_fetch_add(status == RELAY_REPORT_DELIVERED ? &n->delivered
			 : status == RELAY_REPORT_EXPIRED ? &n->expired
							  : &n->failed, 1);
	relay_stats_count(n->stats, st->dst_peer,
			  status == RELAY_REPORT_DELIVERED ? RELAY_STAT_DELIVERED
			  : status == RELAY_REPORT_EXPIRED ? RELAY_STAT_EXPIRED
							   : RELAY_STAT_FAILED);
	return env ? relay_report_queue(n, env, st, status, reason, NULL) : 0;
}

void relay_node_stop(struct relay_node *n)
{
	if (!n)
		return;
	relay_http_stop(n->api);
	relay_delivery_stop(n->delivery);
	queue_close(n->q); /* completes whatever is pending; done() may still kick or resume */
	relay_http_free(n->api);
	relay_delivery_free(n->delivery);
	routing_free(n->routing);
	relay_inbox_free(n->inbox);
	relay_stats_free(n->stats);
	relay_limits_free(n->limits);
	for (size_t i = 0; i < n->n_retired; i++)
		relay_config_free(n->retired[i].cfg);
	pthread_mutex_destroy(&n->reload_lock);
	relay_config_free(atomic_load(&n->cfg));
	free(n->start_data_dir);
	free(n);
}
