/*
 * The admin JSON API's node side: status with rates, routes, the subscriber directory as an
 * admin edits it, the route tester and config reload; and the JSON helpers admin_peers.c
 * shares. Writes need the admin role; routing's error codes become HTTP answers here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "admin/admin_priv.h"

#define FULL_RETRY_S        30
#define PENDING_PAGE        100  /* directory lines awaiting approval, per page */
#define PENDING_PAGE_MAX    1000

/* ------------------------------------------------------------- helpers */

enum MHD_Result admin_reply_json(struct relay_req *req, unsigned status, json_t *root)
{
	char *text = root ? json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	enum MHD_Result ret;

	json_decref(root);
	if (!text)
		return relay_reply_retry(req, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
		                         "out of memory", 1);
	ret = relay_reply(req, status, text);
	free(text);
	return ret;
}

enum MHD_Result admin_reply_route_error(struct relay_req *req, int rc, const char *field)
{
	const char *why = route_strerror(rc);
	char q[600];

	switch (-rc) {
	case ROUTE_EEXIST:
		return relay_reply_error(req, MHD_HTTP_CONFLICT, "exists", field, why);
	case ROUTE_ENOTFOUND:
		return relay_reply_error(req, MHD_HTTP_NOT_FOUND, "not_found", field, why);
	case ROUTE_ENOPEER:
		return relay_reply_error(req, MHD_HTTP_BAD_REQUEST, "bad_field", "peer", why);
	case ROUTE_EINUSE:
		return relay_reply_error(req, MHD_HTTP_CONFLICT, "in_use", field, why);
	case ROUTE_EREADONLY:
		return relay_reply_error(req, MHD_HTTP_CONFLICT, "read_only", field,
		                         "defined in the config file: change it there and reload");
	case ROUTE_EFULL:
		return relay_reply_retry(req, MHD_HTTP_INSUFFICIENT_STORAGE, "store_full",
		                         "the store is full; retry later", FULL_RETRY_S);
	case ROUTE_ENOMEM:
		return relay_reply_retry(req, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
		                         "out of memory", 1);
	case ROUTE_ESTORE:
		relay_log(RELAY_LOG_ERROR, "admin_store_error", "method=%s arg=%s", req->method,
		          relay_log_quote(req->arg, q, sizeof(q)));
		return relay_reply_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "store_error", NULL,
		                         why);
	default: /* EINVAL and the address codes */
		return relay_reply_error(req, MHD_HTTP_BAD_REQUEST, "bad_field", field, why);
	}
}

static bool allowed_key(const char *key, const char *const *allowed)
{
	for (; *allowed; allowed++)
		if (strcmp(key, *allowed) == 0)
			return true;
	return false;
}

/* Names every unknown key: field is the first, the reason lists them all. */
static bool unknown_keys(struct relay_req *req, json_t *root, const char *const *allowed,
                         enum MHD_Result *ret)
{
	char field[33] = "", reason[256] = "unknown field";
	size_t len = strlen(reason), n = 0;
	const char *key;
	json_t *v;

	json_object_foreach(root, key, v) {
		if (allowed_key(key, allowed))
			continue;
		if (n++ == 0)
			snprintf(field, sizeof(field), "%s", key);
		else if (n == 2)
			len += (size_t)snprintf(reason + len, sizeof(reason) - len, "s: %s", field);
		if (n >= 2 && len < sizeof(reason))
			len += (size_t)snprintf(reason + len, sizeof(reason) - len, ", %.40s", key);
	}
	if (n == 0)
		return false;
	*ret = relay_reply_error(req, MHD_HTTP_BAD_REQUEST, "bad_field", field, reason);
	return true;
}

json_t *admin_body_object(struct relay_req *req, const char *const *allowed, enum MHD_Result *ret)
{
	json_error_t jerr;
	json_t *root;

	if (req->len == 0) {
		if (!(root = json_object()))
			*ret = relay_reply_retry(req, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
			                         "out of memory", 1);
		return root;
	}
	root = json_loadb(req->body, req->len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(root)) {
		char reason[256];
		if (root)
			snprintf(reason, sizeof(reason), "the body must be a JSON object");
		else
			snprintf(reason, sizeof(reason), "%s (line %d, column %d)", jerr.text,
			         jerr.line, jerr.column);
		json_decref(root);
		*ret = relay_reply_error(req, MHD_HTTP_BAD_REQUEST, "bad_json", NULL, reason);
		return NULL;
	}
	if (unknown_keys(req, root, allowed, ret)) {
		json_decref(root);
		return NULL;
	}
	return root;
}

void admin_route_key(const struct route_entry *e, char key[ADMIN_ROUTE_KEY_SZ])
{
	if (e->match == ROUTE_MATCH_DEFAULT || !e->value)
		snprintf(key, ADMIN_ROUTE_KEY_SZ, "default");
	else
		snprintf(key, ADMIN_ROUTE_KEY_SZ, "%s%s",
		         e->match == ROUTE_MATCH_PREFIX ? "p:" : "d:", e->value);
}

json_t *admin_time_json(int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char buf[32];

	if (ms <= 0 || !gmtime_r(&t, &tm) || !strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm))
		return json_null();
	return json_string(buf);
}

static const char *const match_names[] = {"prefix", "domain", "default"};

static json_t *route_json(const struct route_entry *e)
{
	char key[ADMIN_ROUTE_KEY_SZ];

	admin_route_key(e, key);
	return json_pack("{ss ss ss? ss sb}", "key", key, "match", match_names[e->match], "value",
	                 e->value, "peer", e->peer, "read_only", (int)e->read_only);
}

/* An address from text; on failure answers 400 naming `field`. */
static bool parse_addr(struct relay_req *req, const char *text, const char *field,
                       struct route_addr *out, enum MHD_Result *ret)
{
	const struct relay_config *cfg = relay_node_config(req->node);
	int rc;

	if (!text || !*text) {
		*ret = relay_reply_error(req, MHD_HTTP_BAD_REQUEST, "bad_field", field, "required");
		return false;
	}
	rc = route_addr_parse(text, strlen(text), cfg->default_country, out);
	if (rc == 0)
		return true;
	*ret = relay_reply_error(req, MHD_HTTP_BAD_REQUEST, "bad_field", field, route_strerror(rc));
	return false;
}

/* One line in the log for every change an admin makes. */
static void audit(struct relay_req *req, const char *action, const char *object)
{
	const struct admin_principal *p = admin_who(req);
	char u[96], o[600];

	relay_log(RELAY_LOG_INFO, "admin_change", "user=%s action=%s object=%s",
	          relay_log_quote(p ? p->user : "?", u, sizeof(u)), action,
	          relay_log_quote(object, o, sizeof(o)));
}

/* -------------------------------------------------------------- status */

/* Picks the base sample for the rates and records a new one (see struct admin_rates). */
static void rates_base(struct admin_rates *r, const struct relay_counters *c, int64_t now,
                       int64_t *at, uint64_t *acc, uint64_t *dlv)
{
	int free_ = 0;
	unsigned i, k, newest;

	*at = c->started_ms;
	*acc = *dlv = 0;
	if (!atomic_compare_exchange_strong(&r->busy, &free_, 1))
		return;
	for (i = 0; i < r->n; i++) { /* the oldest within the window, at least 1 s old */
		k = (r->head + i) % ADMIN_RATES_SAMPLES;
		if (now - r->s[k].at_ms <= ADMIN_RATES_WINDOW_MS && now - r->s[k].at_ms >= 1000)
			break;
	}
	if (i == r->n && r->n > 0) /* else the newest, if it is old enough: since the last call */
		k = (r->head + r->n - 1) % ADMIN_RATES_SAMPLES;
	if (r->n > 0 && now - r->s[k].at_ms >= 1000) {
		*at = r->s[k].at_ms;
		*acc = r->s[k].accepted;
		*dlv = r->s[k].delivered;
	}
	newest = (r->head + r->n - 1) % ADMIN_RATES_SAMPLES;
	if (r->n == 0 || now - r->s[newest].at_ms >= 1000) {
		if (r->n == ADMIN_RATES_SAMPLES)
			r->head = (r->head + 1) % ADMIN_RATES_SAMPLES;
		else
			r->n++;
		k = (r->head + r->n - 1) % ADMIN_RATES_SAMPLES;
		r->s[k].at_ms = now;
		r->s[k].accepted = c->accepted;
		r->s[k].delivered = c->delivered;
	}
	atomic_store(&r->busy, 0);
}

static double per_s(uint64_t now_v, uint64_t base_v, int64_t dt_ms)
{
	if (dt_ms <= 0 || now_v < base_v)
		return 0.0;
	return (double)(now_v - base_v) * 1000.0 / (double)dt_ms;
}

static json_t *rates_json(struct admin *a, const struct relay_counters *c, int64_t now)
{
	int64_t at;
	uint64_t acc, dlv;

	rates_base(&a->rates, c, now, &at, &acc, &dlv);
	return json_pack("{sfsfsI}", "accepted_per_s", per_s(c->accepted, acc, now - at),
	                 "delivered_per_s", per_s(c->delivered, dlv, now - at), "window_s",
	                 (json_int_t)((now - at) / 1000));
}

static const char *const ep_states[] = {"closed", "open", "half-open"};

static json_t *status_peer(struct routing *rt, struct queue *q, const struct route_peer *p,
                           int64_t now)
{
	struct queue_peer_counts c;
	json_t *eps = json_array();
	int64_t since, retry;
	int64_t age;

	if (queue_peer_counts(q, p->name, &c) != 0)
		memset(&c, 0, sizeof(c));
	age = c.oldest_live_ms > 0 && now > c.oldest_live_ms ? (now - c.oldest_live_ms) / 1000 : 0;
	for (size_t i = 0; eps && i < p->n_endpoints; i++) {
		enum route_ep_state st = route_health_state(rt, p->name, i, now);
		json_array_append_new(
		    eps, json_pack("{ssss}", "url", p->endpoints[i], "state", ep_states[st]));
	}
	return json_pack("{sssssIsIsIsosbsbsb}", "name", p->name, "kind",
	                 p->kind == ROUTE_PEER_RELAY ? "relay" : "carrier", "queued",
	                 (json_int_t)c.state[QUEUE_QUEUED], "delivering",
	                 (json_int_t)c.state[QUEUE_DELIVERING], "oldest_age_s", (json_int_t)age,
	                 "endpoints", eps, "down",
	                 (int)(p->n_endpoints > 0 && route_peer_down(rt, p, now, &since, &retry)),
	                 "suspended", (int)p->suspended, "read_only", (int)p->read_only);
}

static json_t *store_json(struct queue *q)
{
	struct queue_store_stat s;

	queue_store_stat(q, &s);
	return json_pack("{sIsIsIsbsIss?sb}", "used", (json_int_t)s.used_bytes, "map",
	                 (json_int_t)s.map_bytes, "max", (json_int_t)s.max_bytes, "full",
	                 (int)s.full, "errors", (json_int_t)s.errors, "last_error",
	                 s.last_error ? queue_error_text(s.last_error) : NULL, "failing",
	                 (int)s.failing);
}

enum MHD_Result admin_h_status(struct relay_req *req)
{
	struct admin *a = req->ctx;
	struct routing *rt = relay_node_routing(req->node);
	struct queue *q = relay_node_queue(req->node);
	const struct route_table *t = routing_acquire(rt);
	const struct route_peer *p;
	struct relay_counters c;
	struct relay_node_state ns;
	int64_t now = relay_now_ms();
	json_t *peers = json_array(), *root;

	relay_node_counters(req->node, &c);
	relay_node_state(req->node, &ns);
	for (size_t i = 0; peers && (p = route_table_peer_at(t, i)); i++)
		json_array_append_new(peers, status_peer(rt, q, p, now));
	routing_release(t);
	root = json_pack("{ss ss sI so s{sI sI sI sI sI sI} so so so sb s{so so}}", "node",
	                 relay_node_config(req->node)->node_id, "version", INTERLINK_VERSION,
	                 "uptime_s", (json_int_t)((now - c.started_ms) / 1000), "started",
	                 admin_time_json(c.started_ms), "counters", "accepted", (json_int_t)c.accepted,
	                 "duplicates", (json_int_t)c.duplicates, "delivered",
	                 (json_int_t)c.delivered, "failed", (json_int_t)c.failed, "expired",
	                 (json_int_t)c.expired, "retried", (json_int_t)c.retried, "rates",
	                 rates_json(a, &c, now), "store", store_json(q), "peers", peers,
	                 "restart_needed", (int)ns.restart_needed, "certificates", "carrier",
	                 admin_time_json(ns.carrier_cert_end_s * 1000), "admin",
	                 admin_time_json(ns.admin_cert_end_s * 1000));
	return admin_reply_json(req, MHD_HTTP_OK, root);
}

/* -------------------------------------------------------------- routes */

static enum MHD_Result routes_list(struct relay_req *req)
{
	const struct route_table *t = routing_acquire(relay_node_routing(req->node));
	const struct route_entry *e;
	json_t *arr = json_array();

	for (size_t i = 0; arr && (e = route_table_route_at(t, i)); i++)
		json_array_append_new(arr, route_json(e));
	routing_release(t);
	return admin_reply_json(req, MHD_HTTP_OK, arr);
}

/* The route a POST body describes: exactly one of prefix, domain, default:true; and peer. */
static bool route_from_body(struct relay_req *req, json_t *root, struct route_entry *e,
                            char value[ROUTE_ADDR_DOMAIN_MAX + 1], enum MHD_Result *ret)
{
	json_t *pre = json_object_get(root, "prefix"), *dom = json_object_get(root, "domain");
	json_t *def = json_object_get(root, "default"), *peer = json_object_get(root, "peer");
	const char *field = pre ? "prefix" : dom ? "domain" : "default";
	json_t *v = pre ? pre : dom;
	int rc = 0;

	if ((pre != NULL) + (dom != NULL) + (def != NULL) != 1 || (def && !json_is_true(def))) {
		*ret = relay_reply_error(req, MHD_HTTP_BAD_REQUEST, "bad_field", field,
		                         "give exactly one of prefix, domain or \"default\": true");
		return false;
	}
	if (!json_is_string(peer)) {
		*ret = relay_reply_error(req, MHD_HTTP_BAD_REQUEST, "bad_field", "peer",
		                         "required: the name of a peer");
		return false;
	}
	*e = (struct route_entry){.match = pre   ? ROUTE_MATCH_PREFIX
	                                   : dom ? ROUTE_MATCH_DOMAIN
	                                         : ROUTE_MATCH_DEFAULT,
	                          .peer = json_string_value(peer)};
	if (v && !json_is_string(v))
		rc = -ROUTE_EINVAL;
	else if (pre)
		rc = route_prefix_parse(json_string_value(v), json_string_length(v), value,
		                        ROUTE_ADDR_DOMAIN_MAX + 1);
	else if (dom)
		rc = route_domain_parse(json_string_value(v), json_string_length(v), 1, value,
		                        ROUTE_ADDR_DOMAIN_MAX + 1);
	if (rc != 0) {
		*ret = relay_reply_error(req, MHD_HTTP_BAD_REQUEST, "bad_field", field,
		                         v && !json_is_string(v) ? "must be a string"
		                                                 : route_strerror(rc));
		return false;
	}
	e->value = v ? value : NULL;
	return true;
}

/* The route with e's match and value in the current table: 0, EEXIST or EREADONLY. */
static int route_exists(struct routing *rt, const struct route_entry *e)
{
	const struct route_table *t = routing_acquire(rt);
	const struct route_entry *x;
	int rc = 0;

	for (size_t i = 0; rc == 0 && (x = route_table_route_at(t, i)); i++)
		if (x->match == e->match &&
		    (e->match == ROUTE_MATCH_DEFAULT || strcmp(x->value, e->value) == 0))
			rc = x->read_only ? -ROUTE_EREADONLY : -ROUTE_EEXIST;
	routing_release(t);
	return rc;
}

static const char *field_of(const struct route_entry *e)
{
	return e->match == ROUTE_MATCH_PREFIX   ? "prefix"
	       : e->match == ROUTE_MATCH_DOMAIN ? "domain"
	                                        : "default";
}

static enum MHD_Result routes_add(struct relay_req *req)
{
	static const char *const allowed[] = {"prefix", "domain", "default", "peer", NULL};
	struct routing *rt = relay_node_routing(req->node);
	char value[ROUTE_ADDR_DOMAIN_MAX + 1], key[ADMIN_ROUTE_KEY_SZ];
	enum MHD_Result ret = MHD_YES;
	struct route_entry e;
	json_t *root;
	int rc;

	if (!(root = admin_body_object(req, allowed, &ret)))
		return ret;
	if (!route_from_body(req, root, &e, value, &ret)) {
		json_decref(root);
		return ret;
	}
	admin_route_key(&e, key);
	rc = route_exists(rt, &e);
	if (rc == 0)
		rc = routing_put_route(rt, &e);
	if (rc == -ROUTE_EINVAL) {
		ret = relay_reply_error(req, MHD_HTTP_BAD_REQUEST, "bad_field", field_of(&e),
		                        "not a valid route (a domain's last label may not be all "
		                        "digits)");
	} else if (rc != 0) {
		ret = admin_reply_route_error(req, rc, field_of(&e));
	} else {
		audit(req, "route_add", key);
		ret = admin_reply_json(req, MHD_HTTP_CREATED, route_json(&e));
	}
	json_decref(root);
	return ret;
}

enum MHD_Result admin_h_routes(struct relay_req *req)
{
	if (strcmp(req->method, "GET") == 0)
		return routes_list(req);
	if (!admin_may_write(req))
		return MHD_YES;
	return routes_add(req);
}

enum MHD_Result admin_h_route(struct relay_req *req)
{
	struct routing *rt = relay_node_routing(req->node);
	char value[ROUTE_ADDR_DOMAIN_MAX + 1];
	enum route_match m = ROUTE_MATCH_DEFAULT;
	const char *k = req->arg;
	int rc = 0;

	if (!admin_may_write(req))
		return MHD_YES;
	if (strncmp(k, "p:", 2) == 0) {
		m = ROUTE_MATCH_PREFIX;
		rc = route_prefix_parse(k + 2, strlen(k + 2), value, sizeof(value));
	} else if (strncmp(k, "d:", 2) == 0) {
		m = ROUTE_MATCH_DOMAIN;
		rc = route_domain_parse(k + 2, strlen(k + 2), 1, value, sizeof(value));
	} else if (strcmp(k, "default") != 0) {
		return relay_reply_error(req, MHD_HTTP_BAD_REQUEST, "bad_field", "key",
		                         "a route key is p:PREFIX, d:DOMAIN or default");
	}
	if (rc != 0)
		return relay_reply_error(req, MHD_HTTP_BAD_REQUEST, "bad_field", "key",
		                         route_strerror(rc));
	rc = routing_del_route(rt, m, m == ROUTE_MATCH_DEFAULT ? NULL : value);
	if (rc != 0)
		return admin_reply_route_error(req, rc, "key");
	audit(req, "route_del", k);
	return relay_reply(req, MHD_HTTP_NO_CONTENT, "");
}

/* ----------------------------------------------------------- directory */

/* The PUT body into acc (defaults: the same address, priority 0, no failover, 600 s):
 * "peer" (required), then the carrier API's account fields (relay_dir_account_field). */
static bool account_from_body(struct relay_req *req, json_t *root, struct route_account *acc,
                              enum MHD_Result *ret)
{
	static const char *const fields[] = {"account", "priority", "failover", "failover_delay"};
	const char *country = relay_node_config(req->node)->default_country;
	json_t *peer = json_object_get(root, "peer"), *v;
	const char *bad = NULL, *why = NULL;

	if (!json_is_string(peer) || json_string_length(peer) > ROUTE_NAME_MAX)
		bad = "peer", why = "required: the name of the peer that holds the account";
	else
		snprintf(acc->peer, sizeof(acc->peer), "%s", json_string_value(peer));
	for (size_t i = 0; !bad && i < sizeof(fields) / sizeof(fields[0]); i++)
		if ((v = json_object_get(root, fields[i])) &&
		    relay_dir_account_field(fields[i], v, country, acc, &why) != 0)
			bad = fields[i];
	if (bad)
		*ret = relay_reply_error(req, MHD_HTTP_BAD_REQUEST, "bad_field", bad, why);
	return bad == NULL;
}

static enum MHD_Result dir_put(struct relay_req *req, const struct route_addr *addr)
{
	static const char *const allowed[] = {"peer",     "account",        "priority",
	                                      "failover", "failover_delay", NULL};
	struct routing *rt = relay_node_routing(req->node);
	struct route_account acc = {.addr = *addr, .failover_delay_s = RELAY_DIR_DELAY_DEFAULT_S};
	enum MHD_Result ret = MHD_YES;
	struct route_dir_entry e;
	json_t *root;
	int rc;

	if (!(root = admin_body_object(req, allowed, &ret)))
		return ret;
	if (!account_from_body(req, root, &acc, &ret)) {
		json_decref(root);
		return ret;
	}
	json_decref(root);
	rc = route_dir_put(rt, NULL, addr, &acc, NULL);
	if (rc == 0)
		rc = route_dir_get(rt, addr, &e);
	if (rc == -ROUTE_EINVAL)
		return relay_reply_error(req, MHD_HTTP_BAD_REQUEST, "bad_field", "peer",
		                         "the entry already holds the most accounts it can (8)");
	if (rc != 0)
		return admin_reply_route_error(req, rc, "address");
	audit(req, "directory_put", addr->text);
	return admin_reply_json(req, MHD_HTTP_OK, relay_dir_entry_json(&e));
}

/* POST /api/directory/{address}/approve {"peer":NAME}: a carrier's line that waits. */
static enum MHD_Result dir_approve(struct relay_req *req, const struct route_addr *addr)
{
	static const char *const allowed[] = {"peer", NULL};
	struct routing *rt = relay_node_routing(req->node);
	enum MHD_Result ret = MHD_YES;
	struct route_dir_entry e;
	char peer[ROUTE_NAME_MAX + 1];
	json_t *root, *v;
	int rc;

	if (!(root = admin_body_object(req, allowed, &ret)))
		return ret;
	v = json_object_get(root, "peer");
	if (!json_is_string(v) || json_string_length(v) > ROUTE_NAME_MAX) {
		json_decref(root);
		return relay_reply_error(req, MHD_HTTP_BAD_REQUEST, "bad_field", "peer",
		                         "required: the peer whose account to approve");
	}
	snprintf(peer, sizeof(peer), "%s", json_string_value(v));
	json_decref(root);
	rc = route_dir_approve(rt, addr, peer);
	if (rc == 0)
		rc = route_dir_get(rt, addr, &e);
	if (rc != 0)
		return admin_reply_route_error(req, rc, "address");
	audit(req, "directory_approve", addr->text);
	return admin_reply_json(req, MHD_HTTP_OK, relay_dir_entry_json(&e));
}

enum MHD_Result admin_h_directory(struct relay_req *req)
{
	struct routing *rt = relay_node_routing(req->node);
	enum MHD_Result ret = MHD_YES;
	struct route_dir_entry e;
	struct route_addr addr;
	const char *peer;
	char *slash = strchr(req->arg, '/');
	int rc;

	if (strcmp(req->method, "GET") != 0 && !admin_may_write(req))
		return MHD_YES;
	if (strcmp(req->method, "POST") == 0) {
		if (!slash || strcmp(slash, "/approve") != 0)
			return relay_reply_error(req, MHD_HTTP_NOT_FOUND, "not_found", NULL,
			                         "POST /api/directory/{address}/approve");
		*slash = '\0';
		if (!parse_addr(req, req->arg, "address", &addr, &ret))
			return ret;
		return dir_approve(req, &addr);
	}
	if (!parse_addr(req, req->arg, "address", &addr, &ret))
		return ret;
	if (strcmp(req->method, "PUT") == 0)
		return dir_put(req, &addr);
	if (strcmp(req->method, "GET") == 0) {
		rc = route_dir_get(rt, &addr, &e);
		if (rc != 0)
			return admin_reply_route_error(req, rc, "address");
		return admin_reply_json(req, MHD_HTTP_OK, relay_dir_entry_json(&e));
	}
	peer = relay_req_query(req, "peer");
	if (!peer || !*peer)
		return relay_reply_error(req, MHD_HTTP_BAD_REQUEST, "bad_field", "peer",
		                         "required: ?peer=NAME, whose account to remove");
	rc = route_dir_del(rt, NULL, &addr, peer);
	if (rc != 0)
		return admin_reply_route_error(req, rc, "address");
	audit(req, "directory_del", addr.text);
	return relay_reply(req, MHD_HTTP_NO_CONTENT, "");
}

/* GET /api/directory-pending?limit=N&after_address=A&after_peer=P: the carriers' lines
 * that wait for approval, in (address, peer) order, a page at a time. */
struct pending_page {
	json_t *rows;
	char last_addr[ROUTE_ADDR_MAX], last_peer[ROUTE_NAME_MAX + 1];
	size_t n;
};

static int pending_row(const char *addr, const char *peer, void *arg)
{
	struct pending_page *pg = arg;

	if (json_array_append_new(pg->rows, json_pack("{ssss}", "address", addr, "peer", peer)))
		return -1;
	snprintf(pg->last_addr, sizeof(pg->last_addr), "%s", addr);
	snprintf(pg->last_peer, sizeof(pg->last_peer), "%s", peer);
	pg->n++;
	return 0;
}

enum MHD_Result admin_h_directory_pending(struct relay_req *req)
{
	const char *lim = relay_req_query(req, "limit");
	const char *aa = relay_req_query(req, "after_address");
	const char *ap = relay_req_query(req, "after_peer");
	struct pending_page pg = {.rows = json_array()};
	unsigned long limit = PENDING_PAGE;
	char *end = NULL;
	int rc;

	if (lim) {
		limit = strtoul(lim, &end, 10);
		if (!*lim || *end || limit < 1 || limit > PENDING_PAGE_MAX) {
			json_decref(pg.rows);
			return relay_reply_error(req, MHD_HTTP_BAD_REQUEST, "bad_field", "limit",
			                         "must be an integer 1 to 1000");
		}
	}
	if (!aa != !ap) {
		json_decref(pg.rows);
		return relay_reply_error(req, MHD_HTTP_BAD_REQUEST, "bad_field", "after_peer",
		                         "after_address and after_peer go together");
	}
	rc = pg.rows ? route_dir_pending(relay_node_routing(req->node), aa, ap, limit,
	                                 pending_row, &pg)
	             : -ROUTE_ENOMEM;
	if (rc != 0) {
		json_decref(pg.rows);
		return admin_reply_route_error(req, rc, "after_address");
	}
	json_t *next = pg.n == limit ? json_pack("{ssss}", "after_address", pg.last_addr,
	                                         "after_peer", pg.last_peer)
	                             : json_null();
	return admin_reply_json(req, MHD_HTTP_OK,
	                        json_pack("{soso}", "pending", pg.rows, "next", next));
}

/* ---------------------------------------------------------- route tester */

static const char *reject_name(int rc)
{
	switch (-rc) {
	case ROUTE_ENOROUTE:
		return "no route";
	case ROUTE_ELOOP:
		return "loop";
	case ROUTE_EHOPS:
		return "too many hops";
	case ROUTE_ESUSPENDED:
		return "suspended";
	default:
		return route_strerror(rc);
	}
}

/* What the tables hold for `to`: its directory entry and its route (or nulls). */
static void test_context(struct routing *rt, const struct route_table *t,
                         const struct route_addr *to, json_t **dir, json_t **route)
{
	const struct route_entry *re;
	struct route_dir_entry e;

	*dir = route_dir_get(rt, to, &e) == 0 ? relay_dir_entry_json(&e) : json_null();
	*route = route_table_lookup(t, to, &re) == 0
	             ? json_pack("{ss ss? ss}", "match", match_names[re->match], "value", re->value,
	                         "peer", re->peer)
	             : json_null();
}

static json_t *decision_json(struct routing *rt, const struct route_addr *to,
                             const struct route_decision *d)
{
	static const char *const verdicts[] = {"deliver", "wait", "reject"};
	const struct route_table *t = routing_acquire(rt);
	const struct route_peer *p = d->peer[0] ? route_table_peer(t, d->peer) : NULL;
	const char *ep = NULL;
	json_t *dir, *route, *root;

	if (p && d->verdict == ROUTE_DELIVER && !d->pull && d->endpoint < p->n_endpoints)
		ep = p->endpoints[d->endpoint];
	test_context(rt, t, to, &dir, &route);
	root = json_pack("{ss ss ss? ss? sb sb so ss? ss so so}", "to", to->text, "verdict",
	                 verdicts[d->verdict], "peer", d->verdict == ROUTE_REJECT ? NULL : d->peer,
	                 "endpoint", ep, "pull", (int)d->pull, "failover", (int)d->failover,
	                 "wait_until",
	                 d->verdict == ROUTE_WAIT ? admin_time_json(d->wait_until_ms) : json_null(),
	                 "reject", d->verdict == ROUTE_REJECT ? reject_name(d->reject) : NULL,
	                 "why", d->why, "directory", dir, "route", route);
	if (root && d->verdict != ROUTE_REJECT && d->to[0])
		json_object_set_new(root, "deliver_to", json_string(d->to));
	routing_release(t);
	return root;
}

enum MHD_Result admin_h_route_test(struct relay_req *req)
{
	struct routing *rt = relay_node_routing(req->node);
	const char *from_text = relay_req_query(req, "from");
	enum MHD_Result ret = MHD_YES;
	struct route_addr to, from;
	struct route_decision d;
	struct route_msg m = {.to = &to, .now_ms = relay_now_ms(), .dry_run = true};
	int rc;

	if (!parse_addr(req, relay_req_query(req, "to"), "to", &to, &ret))
		return ret;
	if (from_text && *from_text) {
		if (!parse_addr(req, from_text, "from", &from, &ret))
			return ret;
		m.from = &from;
	}
	rc = route_decide(rt, &m, &d);
	if (rc != 0)
		return admin_reply_route_error(req, rc, "to");
	return admin_reply_json(req, MHD_HTTP_OK, decision_json(rt, &to, &d));
}

/* --------------------------------------------------------------- reload */

#define RELOAD_RETRY_S 60 /* Retry-After when reloads come too fast (relay_node_reload) */

enum MHD_Result admin_h_reload(struct relay_req *req)
{
	char err[512] = "";
	int rc;

	if (!admin_may_write(req))
		return MHD_YES;
	rc = relay_node_reload_file(req->node, err, sizeof(err));
	if (rc != 0 && rc != -RELAY_EAGAIN) { /* as a SIGHUP's is (relay_main.c) */
		const struct admin_principal *p = admin_who(req);
		char q[700], u[96];

		relay_log(RELAY_LOG_ERROR, "config_reload_failed", "reason=%s kept=old user=%s",
		          relay_log_quote(err[0] ? err : relay_strerror(rc), q, sizeof(q)),
		          relay_log_quote(p ? p->user : "?", u, sizeof(u)));
	}
	if (rc == -RELAY_ECONFIG)
		return relay_reply_error(req, MHD_HTTP_BAD_REQUEST, "config", NULL, err);
	if (rc == -RELAY_EAGAIN)
		return relay_reply_retry(req, MHD_HTTP_SERVICE_UNAVAILABLE, "reload_busy", err,
		                         RELOAD_RETRY_S);
	if (rc != 0)
		return relay_reply_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "reload_failed", NULL,
		                         err[0] ? err : relay_strerror(rc));
	audit(req, "reload", relay_node_config(req->node)->path);
	return relay_reply(req, MHD_HTTP_OK, "{\"reloaded\":true}");
}
