/*
 * relay_config: the tree that relay_config_read.c reads, its values checked and converted into
 * an immutable struct relay_config with "FILE:LINE: reason" errors; relay_config_parse, _load.
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "relay/relay_config_priv.h"

#define FILE_MAX      (16u << 20) /* relay_config_load refuses larger files */
#define ENDPOINTS_MAX 8
#define URL_MAX       2048
#define TOKEN_MAX     1024

/* ----------------------------------------------------- value checks */

static int dup_str(struct pctx *c, const char *s, char **out)
{
	*out = NULL;
	return s && !(*out = strdup(s)) ? rc_nomem(&c->e) : 0;
}

/* A node id or peer name: the envelope's rule for a hop (relay_rules.c). */
static int name_ok(const char *s)
{
	return s && rr_node_id_ok(s, strlen(s));
}

/* A size or duration key within [min, max] (unit strings; NULL: no bound). */
static int want_units(struct pctx *c, cfg_t *sec, const char *key, int dur, const char *min,
                      const char *max, uint64_t *out)
{
	int (*parse)(const char *, uint64_t *) = dur ? relay_parse_duration_ms : relay_parse_size;
	uint64_t lo = 0, hi = UINT64_MAX;

	if (parse(cfg_getstr(sec, key), out) != 0)
		return rcfg_kfail(
		    c, sec, key, 0, "must be %s",
		    dur ? "a duration such as \"500ms\", \"30s\", \"10m\", \"2h\" or \"7d\""
		        : "a size such as \"512\", \"64K\", \"1M\" or \"16G\"");
	if (min)
		assert(parse(min, &lo) == 0); /* the bounds are constants */
	if (max)
		assert(parse(max, &hi) == 0);
	if (*out >= lo && *out <= hi)
		return 0;
	if (min && max)
		return rcfg_kfail(c, sec, key, 0, "must be between %s and %s", min, max);
	return rcfg_kfail(c, sec, key, 0, "must be at %s %s", min ? "least" : "most",
	                  min ? min : max);
}

static int want_int(struct pctx *c, cfg_t *sec, const char *key, long min, long max, long *out)
{
	*out = cfg_getint(sec, key);
	if (*out >= min && *out <= max)
		return 0;
	if (max == LONG_MAX)
		return rcfg_kfail(c, sec, key, 0, "must be at least %ld", min);
	return rcfg_kfail(c, sec, key, 0, "must be between %ld and %ld", min, max);
}

/* One of names[] (NULL-terminated); *out is its index. */
static int want_choice(struct pctx *c, cfg_t *sec, const char *key, const char *const *names,
                       const char *says, int *out)
{
	const char *v = cfg_getstr(sec, key);

	for (*out = 0; v && names[*out]; ++*out)
		if (strcmp(v, names[*out]) == 0)
			return 0;
	return rcfg_kfail(c, sec, key, 0, "must be %s", says);
}

/* A file the daemon will read: it must exist and be readable now. */
static int want_file(struct pctx *c, cfg_t *sec, const char *key, char **out)
{
	const char *p = cfg_getstr(sec, key);
	struct stat st;

	if (!p)
		return 0;
	if (!rc_text_ok(p, PATH_MAX - 1, 1))
		return rcfg_kfail(c, sec, key, 0, "must be a file name");
	if (access(p, R_OK) != 0)
		return rcfg_kfail(c, sec, key, 0, "'%s' cannot be read: %s", p, strerror(errno));
	if (stat(p, &st) == 0 && !S_ISREG(st.st_mode))
		return rcfg_kfail(c, sec, key, 0, "'%s' is not a regular file", p);
	return dup_str(c, p, out);
}

/* 64 hex digits, or 32 colon-separated pairs (as openssl prints them); lower-cased. */
static int want_hex(struct pctx *c, cfg_t *sec, const char *key, char **out)
{
	const char *v = cfg_getstr(sec, key);
	int colons = v && strlen(v) == 95;
	char h[65];
	size_t n = 0;

	for (size_t i = 0; v && v[i] && n <= 64; i++) {
		if (colons && i % 3 == 2)
			n = v[i] == ':' ? n : 65;
		else if (n < 64 && v[i] && strchr(DIGITS "abcdefABCDEF", v[i]))
			h[n++] = (char)(v[i] | 0x20); /* ASCII lower-case */
		else
			n = 65;
	}
	if (v && n != 64)
		return rcfg_kfail(c, sec, key, 0, "must be 64 hex digits (a SHA-256 digest)");
	h[64] = '\0';
	return dup_str(c, v ? h : NULL, out);
}

/* ------------------------------------------------------- conversion */

#define CONF_OFF(f) offsetof(struct relay_config, f)

static const struct unit_key { /* the size and duration keys outside peers */
	const char *sec, *key;
	char kind; /* 'z' size, 'd' duration in ms, 's' duration in whole seconds */
	const char *min, *max;
	size_t off; /* of a uint64_t in struct relay_config */
} unit_keys[] = {
    {NULL, "max-message-size", 'z', "1K", "16M", CONF_OFF(max_message_size)},
    {"store", "map-size", 'z', "1M", NULL, CONF_OFF(store.map_size)},
    {"store", "max-map-size", 'z', "1M", NULL, CONF_OFF(store.max_map_size)},
    {"store", "status-retention", 'd', "1m", "365d", CONF_OFF(store.status_retention_ms)},
    {"admin-listener", "session-idle", 'd', "1m", "7d", CONF_OFF(admin.session_idle_ms)},
    {"delivery", "retry-initial", 'd', "10ms", "1h", CONF_OFF(delivery.retry_initial_ms)},
    {"delivery", "retry-max", 'd', "10ms", "1d", CONF_OFF(delivery.retry_max_ms)},
    {"delivery", "default-ttl", 's', "1s", "30d", CONF_OFF(delivery.default_ttl_s)},
    {"delivery", "max-ttl", 's', "1s", "30d", CONF_OFF(delivery.max_ttl_s)},
    {"delivery", "timeout", 'd', "100ms", "10m", CONF_OFF(delivery.timeout_ms)},
    {"delivery", "inbox-lease", 'd', "1s", "1h", CONF_OFF(delivery.inbox_lease_ms)},
};

/* The top-level keys, then every size and duration of unit_keys. */
static int conv_top(struct pctx *c, cfg_t *root, struct relay_config *cfg)
{
	const char *id = cfg_getstr(root, "node-id"), *dir = cfg_getstr(root, "data-dir");
	const char *cc = cfg_getstr(root, "default-country");

	if (!id)
		return rcfg_kfail(c, root, "node-id", 0, "is required");
	if (!name_ok(id))
		return rcfg_kfail(c, root, "node-id", 0,
		                  "must be 1-64 characters of A-Z a-z 0-9 . _ -");
	if (!dir || !rc_text_ok(dir, PATH_MAX - 1, 1))
		return rcfg_kfail(c, root, "data-dir", 0, "must be a directory name");
	if (cc && route_country_check(cc) != 0)
		return rcfg_kfail(
		    c, root, "default-country", 0,
		    "must be a country calling code: 1-3 digits, not starting with 0");
	if (relay_log_level_parse(cfg_getstr(root, "log-level"), &cfg->log_level) != 0)
		return rcfg_kfail(c, root, "log-level", 0, "must be debug, info, warn or error");
	if (dup_str(c, id, &cfg->node_id) || dup_str(c, dir, &cfg->data_dir) ||
	    dup_str(c, cc, &cfg->default_country))
		return c->e.rc;
	for (size_t i = 0; i < sizeof(unit_keys) / sizeof(unit_keys[0]); i++) {
		const struct unit_key *k = &unit_keys[i];
		cfg_t *sec = k->sec ? cfg_getsec(root, k->sec) : root;
		uint64_t v;

		if (want_units(c, sec, k->key, k->kind != 'z', k->min, k->max, &v))
			return c->e.rc;
		if (k->kind == 's' && v % 1000)
			return rcfg_kfail(c, sec, k->key, 0, "must be whole seconds");
		v = k->kind == 's' ? v / 1000 : v;
		memcpy((char *)cfg + k->off, &v, sizeof(v));
	}
	return 0;
}

static int conv_listener(struct pctx *c, cfg_t *sec, struct relay_listener_conf *l, int carrier)
{
	const char *cert = cfg_getstr(sec, "tls-cert"), *key = cfg_getstr(sec, "tls-key");
	const char *ca = carrier ? cfg_getstr(sec, "client-ca") : NULL;
	unsigned char a[16];
	int loop;
	long port;

	if (rc_addr_parse(cfg_getstr(sec, "address"), a, &loop) != 0)
		return rcfg_kfail(c, sec, "address", 0,
		                  "must be a numeric IPv4 or IPv6 address or \"localhost\"");
	if (want_int(c, sec, "port", 1, 65535, &port))
		return c->e.rc;
	l->port = (uint16_t)port;
	/* one idle client must not hold every connection (libmicrohttpd's default is about
	 * 1000, for the whole listener) */
	long conns, per_ip;
	if (want_int(c, sec, "max-connections", 16, 1000000, &conns) ||
	    want_int(c, sec, "max-connections-per-ip", 0, conns, &per_ip))
		return c->e.rc;
	l->max_conns = (uint32_t)conns;
	l->max_conns_per_ip = (uint32_t)per_ip;
	l->plain_http = carrier ? cfg_getbool(sec, "plain-http") : !cert && !key;
	if (!cert != !key)
		return rcfg_kfail(c, sec, NULL, rcfg_line_of(c, sec, cert ? "tls-cert" : "tls-key"),
		                  "tls-cert and tls-key must be given together");
	if (carrier && l->plain_http && (cert || ca))
		return rcfg_kfail(c, sec, "plain-http", 0,
		                  "= true cannot be combined with tls-cert, tls-key or client-ca");
	if (carrier && !l->plain_http && !cert)
		return rcfg_kfail(c, sec, NULL, 0,
		                  "tls-cert and tls-key are required unless plain-http = true");
	if (l->plain_http && !loop)
		return carrier
		           ? rcfg_kfail(c, sec, "plain-http", 0,
		                        "is allowed on a loopback address only")
		           : rcfg_kfail(c, sec, "address", 0,
		                        "must be a loopback address unless tls-cert and tls-key "
		                        "are set");
	if (want_file(c, sec, "tls-cert", &l->tls_cert) ||
	    want_file(c, sec, "tls-key", &l->tls_key) ||
	    (carrier && want_file(c, sec, "client-ca", &l->client_ca)))
		return c->e.rc;
	return dup_str(c, cfg_getstr(sec, "address"), &l->address);
}

/* The admin listener's first admin: a user name and an optional password hash. */
static int conv_admin_auth(struct pctx *c, cfg_t *sec, struct relay_listener_conf *l)
{
	const char *user = cfg_getstr(sec, "bootstrap-user");
	const char *hash = cfg_getstr(sec, "bootstrap-password-hash");
	unsigned char salt[RELAY_PBKDF2_SALT], h[RELAY_PBKDF2_HASH];
	uint32_t it;

	if (!name_ok(user))
		return rcfg_kfail(c, sec, "bootstrap-user", 0,
		                  "must be 1-64 characters of A-Z a-z 0-9 . _ -");
	if (hash && relay_pbkdf2_parse(hash, &it, salt, h) != 0)
		return rcfg_kfail(c, sec, "bootstrap-password-hash", 0,
		                  "must be \"pbkdf2-sha256$ITERATIONS$SALT$HASH\" as printed by "
		                  "interlinkd --hash-password");
	return dup_str(c, user, &l->bootstrap_user) || dup_str(c, hash, &l->bootstrap_password_hash)
	           ? c->e.rc
	           : 0;
}

/* The line for a check between two keys: k1's when the file gives it, else k2's. */
static int either_line(struct pctx *c, cfg_t *sec, const char *k1, const char *k2)
{
	return rcfg_key_line(c, sec, k1, 0) ? rcfg_key_line(c, sec, k1, 0)
	                                    : rcfg_line_of(c, sec, k2);
}

static int conv_sections(struct pctx *c, cfg_t *root, struct relay_config *cfg)
{
	cfg_t *admin = cfg_getsec(root, "admin-listener"), *store = cfg_getsec(root, "store");
	cfg_t *dl = cfg_getsec(root, "delivery");
	long n;
	int sync;

	if (conv_listener(c, cfg_getsec(root, "carrier-listener"), &cfg->carrier, 1) ||
	    conv_listener(c, admin, &cfg->admin, 0) || conv_admin_auth(c, admin, &cfg->admin))
		return c->e.rc;
	cfg->admin_can_read_bodies = cfg_getbool(root, "admin-can-read-bodies");
	if (rc_listeners_clash(&cfg->carrier, &cfg->admin))
		return rcfg_kfail(c, admin, NULL, rcfg_line_of(c, admin, "port"),
		                  "%s port %u is already used by carrier-listener",
		                  cfg->admin.address, cfg->admin.port);
	if (want_choice(c, store, "sync", (const char *const[]){"full", "none", NULL},
	                "full or none", &sync))
		return c->e.rc;
	cfg->store.sync = sync == 0 ? RELAY_SYNC_FULL : RELAY_SYNC_NONE;
	cfg->store.encrypt = cfg_getbool(store, "encrypt");
	if (want_file(c, store, "key-file", &cfg->store.key_file))
		return c->e.rc;
	if (cfg->store.encrypt && !cfg->store.key_file)
		return rcfg_kfail(c, store, "encrypt", 0, "needs key-file");
	if (cfg->store.max_map_size < cfg->store.map_size)
		return rcfg_kfail(c, store, "max-map-size",
		                  either_line(c, store, "max-map-size", "map-size"),
		                  "must not be smaller than map-size");
	if (cfg->delivery.retry_max_ms < cfg->delivery.retry_initial_ms)
		return rcfg_kfail(c, dl, "retry-max",
		                  either_line(c, dl, "retry-max", "retry-initial"),
		                  "must not be smaller than retry-initial");
	if (cfg->delivery.default_ttl_s > cfg->delivery.max_ttl_s)
		return rcfg_kfail(c, dl, "default-ttl",
		                  either_line(c, dl, "default-ttl", "max-ttl"),
		                  "must not be larger than max-ttl");
	cfg->delivery.retry_factor = cfg_getfloat(dl, "retry-factor");
	if (!(cfg->delivery.retry_factor >= 1.0 && cfg->delivery.retry_factor <= 10.0))
		return rcfg_kfail(c, dl, "retry-factor", 0, "must be between 1.0 and 10.0");
	if (want_int(c, dl, "concurrency", 1, 1024, &n))
		return c->e.rc;
	cfg->delivery.concurrency = (uint32_t)n;
	return 0;
}

static int conv_endpoints(struct pctx *c, cfg_t *sec, struct relay_peer_conf *p)
{
	unsigned n = cfg_size(sec, "endpoints");

	if (n > ENDPOINTS_MAX)
		return rcfg_kfail(c, sec, "endpoints",
		                  rcfg_key_line(c, sec, "endpoints", ENDPOINTS_MAX),
		                  "must list at most %d URLs", ENDPOINTS_MAX);
	if (n && !(p->endpoints = calloc(n, sizeof(char *))))
		return rc_nomem(&c->e);
	for (unsigned i = 0; i < n; i++, p->n_endpoints++) {
		const char *u = cfg_getnstr(sec, "endpoints", i);
		size_t s = strncmp(u, "https://", 8) == 0  ? 8
		           : strncmp(u, "http://", 7) == 0 ? 7
		                                           : 0;

		if (!s || !rc_text_ok(u, URL_MAX, 0) || !u[s] || u[s] == '/')
			return rcfg_kfail(c, sec, NULL, rcfg_key_line(c, sec, "endpoints", i),
			                  "endpoint '%.80s' must be an http:// or https:// URL", u);
		if (dup_str(c, u, &p->endpoints[i]))
			return c->e.rc;
	}
	return 0;
}

/* Each an E.164 prefix or, when it has a letter, a domain; normalised, no repeats. */
static int conv_owns(struct pctx *c, cfg_t *sec, struct relay_peer_conf *p)
{
	unsigned n = cfg_size(sec, "owns");
	char buf[ROUTE_ADDR_DOMAIN_MAX + 3];

	if (n && !(p->owns = calloc(n, sizeof(char *))))
		return rc_nomem(&c->e);
	for (unsigned i = 0; i < n; i++, p->n_owns++) {
		const char *v = cfg_getnstr(sec, "owns", i);
		int line = rcfg_key_line(c, sec, "owns", i),
		    dom = strpbrk(v, "*abcdefghijklmnopqrstuvwxyz"
		                     "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != NULL;
		int rc = dom ? route_domain_parse(v, strlen(v), 0, buf, sizeof(buf))
		             : route_prefix_parse(v, strlen(v), buf, sizeof(buf));

		if (rc)
			return rcfg_kfail(c, sec, "owns:", line, "'%.80s' is not %s: %s", v,
			                  dom ? "a domain" : "an E.164 prefix", route_strerror(rc));
		for (size_t j = 0; j < i; j++)
			if (strcmp(p->owns[j], buf) == 0)
				return rcfg_kfail(c, sec, "owns:", line, "'%s' is listed twice",
				                  buf);
		if (dup_str(c, buf, &p->owns[i]))
			return c->e.rc;
	}
	return 0;
}

/* ------------------------------------------------------------ trust: pins */

/* One element of keys: "BASE64" or "BASE64 until YYYY-MM-DDTHH:MM:SSZ" (relay_pin_parse, which
 * the admin API uses too), its reason placed at the element's line. */
static int conv_pin(struct pctx *c, cfg_t *sec, const char *v, int line, struct route_pin *pin)
{
	char why[256];
	int rc = relay_pin_parse(v, pin, why, sizeof(why));

	if (rc == -RELAY_ENOMEM)
		return rc_nomem(&c->e);
	if (rc != 0)
		return rcfg_kfail(c, sec, "keys:", line, "%s", why);
	return 0;
}

/* Pinned signing keys: each decoded, its kid computed; a key listed twice is refused. */
static int conv_pins(struct pctx *c, cfg_t *sec, struct relay_peer_conf *p)
{
	unsigned n = cfg_size(sec, "keys");

	if (n > ROUTE_PINS_MAX)
		return rcfg_kfail(c, sec, "keys", rcfg_key_line(c, sec, "keys", ROUTE_PINS_MAX),
		                  "lists %u keys; a peer pins at most %d", n, ROUTE_PINS_MAX);
	if (n && !(p->keys = calloc(n, sizeof(*p->keys))))
		return rc_nomem(&c->e);
	for (unsigned i = 0; i < n; i++) {
		int line = rcfg_key_line(c, sec, "keys", i);

		if (conv_pin(c, sec, cfg_getnstr(sec, "keys", i), line, &p->keys[i]))
			return c->e.rc;
		for (unsigned j = 0; j < i; j++)
			if (memcmp(p->keys[j].pub, p->keys[i].pub, sizeof(p->keys[i].pub)) == 0)
				return rcfg_kfail(c, sec, "keys:", line,
				                  "key %s is listed twice (first at line %d)",
				                  p->keys[i].kid, rcfg_key_line(c, sec, "keys", j));
		p->n_keys++;
	}
	return 0;
}

/* The optional trust section; key-file may not exist yet (relay_trust_open creates it). */
static int conv_trust(struct pctx *c, cfg_t *root, struct relay_config *cfg)
{
	cfg_t *sec = cfg_getsec(root, "trust");
	const char *kf = cfg_getstr(sec, "key-file"), *until = cfg_getstr(sec, "key-valid-until");

	cfg->trust.attest = cfg_getbool(sec, "attest");
	if (kf && !rc_text_ok(kf, PATH_MAX - 1, 1))
		return rcfg_kfail(c, sec, "key-file", 0, "must be a file name");
	if (until && tr_parse_utc(until, &cfg->trust.key_valid_until_ms) != 0)
		return rcfg_kfail(c, sec, "key-valid-until", 0,
		                  "must be a UTC time such as \"2027-01-01T00:00:00Z\"");
	return dup_str(c, kf, &cfg->trust.key_file);
}

static int conv_peer(struct pctx *c, cfg_t *sec, const struct relay_config *cfg,
                     struct relay_peer_conf *p)
{
	const char *ms = cfg_getstr(sec, "max-size"), *tok = cfg_getstr(sec, "outbound-token");
	int kind;
	long n;

	p->line = rcfg_sec_line(c, sec);
	if (!name_ok(cfg_title(sec)))
		return rcfg_kfail(c, sec, "name", 0,
		                  "must be 1-64 characters of A-Z a-z 0-9 . _ -");
	if (dup_str(c, cfg_title(sec), &p->name) ||
	    want_choice(c, sec, "kind", (const char *const[]){"carrier", "relay", NULL},
	                "carrier or relay", &kind) ||
	    want_hex(c, sec, "token-sha256", &p->token_sha256) ||
	    want_hex(c, sec, "cert-sha256", &p->cert_sha256))
		return c->e.rc;
	p->kind = kind == 0 ? RELAY_PEER_CARRIER : RELAY_PEER_RELAY;
	if (!p->token_sha256 && !p->cert_sha256)
		return rcfg_kfail(c, sec, NULL, 0, "token-sha256 or cert-sha256 is required");
	if (conv_endpoints(c, sec, p))
		return c->e.rc;
	if (tok && !rc_text_ok(tok, TOKEN_MAX, 0))
		return rcfg_kfail(c, sec, "outbound-token", 0,
		                  "must be 1-%d printable characters without spaces", TOKEN_MAX);
	if (dup_str(c, tok, &p->outbound_token) || conv_owns(c, sec, p))
		return c->e.rc;
	if (p->kind == RELAY_PEER_CARRIER && p->n_owns == 0)
		return rcfg_kfail(c, sec, NULL, 0,
		                  "a carrier needs owns (the prefixes and domains it sends from)");
	if (want_int(c, sec, "rate", 1, 1000000, &n))
		return c->e.rc;
	p->rate = (uint32_t)n;
	p->burst = 2 * p->rate; /* unless given */
	if (rcfg_key_line(c, sec, "burst", 0)) {
		if (want_int(c, sec, "burst", 1, UINT32_MAX, &n))
			return c->e.rc;
		p->burst = (uint32_t)n;
	}
	p->max_size = cfg->max_message_size;
	if (ms && (relay_parse_size(ms, &p->max_size) || !p->max_size ||
	           p->max_size > cfg->max_message_size))
		return rcfg_kfail(c, sec, "max-size", 0,
		                  "must be a size from 1 to max-message-size (%llu bytes)",
		                  (unsigned long long)cfg->max_message_size);
	if (want_int(c, sec, "max-queue", 1, LONG_MAX, &n))
		return c->e.rc;
	p->max_queue = (uint64_t)n;
	p->suspended = cfg_getbool(sec, "suspended");
	p->directory_trusted = cfg_getbool(sec, "directory-trusted");
	return conv_pins(c, sec, p);
}

static int conv_route(struct pctx *c, cfg_t *sec, const struct relay_config *cfg,
                      struct relay_route_conf *r)
{
	const char *pre = cfg_getstr(sec, "prefix"), *dom = cfg_getstr(sec, "domain");
	const char *peer = cfg_getstr(sec, "peer");
	char buf[ROUTE_ADDR_DOMAIN_MAX + 3];
	int rc;

	r->line = rcfg_sec_line(c, sec);
	if ((pre != NULL) + (dom != NULL) + cfg_getbool(sec, "default") != 1)
		return rcfg_kfail(c, sec, NULL, 0,
		                  "needs exactly one of prefix, domain or default = true");
	r->match = pre ? RELAY_ROUTE_PREFIX : dom ? RELAY_ROUTE_DOMAIN : RELAY_ROUTE_DEFAULT;
	if (pre || dom) {
		rc = pre ? route_prefix_parse(pre, strlen(pre), buf, sizeof(buf))
		         : route_domain_parse(dom, strlen(dom), 1, buf, sizeof(buf));
		if (rc)
			return rcfg_kfail(c, sec, pre ? "prefix" : "domain", 0,
			                  "'%.80s' is not %s: %s", pre ? pre : dom,
			                  pre ? "an E.164 prefix" : "a domain", route_strerror(rc));
		if (dup_str(c, buf, &r->value))
			return c->e.rc;
	}
	if (!peer)
		return rcfg_kfail(c, sec, "peer", 0, "is required");
	if (!relay_config_peer(cfg, peer))
		return rcfg_kfail(c, sec, "peer", 0, "'%.80s' is not defined", peer);
	return dup_str(c, peer, &r->peer);
}

/* Each is counted before it is made, so that a half-made one is freed too. */
static int conv_peers_routes(struct pctx *c, cfg_t *root, struct relay_config *cfg)
{
	unsigned np = cfg_size(root, "peer"), nr = cfg_size(root, "route");

	if ((np && !(cfg->peers = calloc(np, sizeof(*cfg->peers)))) ||
	    (nr && !(cfg->routes = calloc(nr, sizeof(*cfg->routes)))))
		return rc_nomem(&c->e);
	for (unsigned i = 0; i < np; i++) {
		cfg->n_peers++;
		if (conv_peer(c, cfg_getnsec(root, "peer", i), cfg, &cfg->peers[i]))
			return c->e.rc;
	}
	for (unsigned i = 0; i < nr; i++) {
		cfg->n_routes++;
		if (conv_route(c, cfg_getnsec(root, "route", i), cfg, &cfg->routes[i]))
			return c->e.rc;
	}
	return rc_routes_unique(&c->e, cfg);
}

/* The tree into cfg; rcfg_parse calls it under its lock, while the tree lives. */
static void convert(struct pctx *c, cfg_t *root, struct relay_config *cfg)
{
	if (!conv_top(c, root, cfg) && !conv_sections(c, root, cfg) && !conv_trust(c, root, cfg))
		conv_peers_routes(c, root, cfg);
}

/* ------------------------------------------------------- public API */

int relay_config_parse(const char *name, const char *text, struct relay_config **out, char *err,
                       size_t errlen)
{
	struct pctx c = {.e = {.name = name ? name : "config", .err = err, .errlen = errlen}};
	struct relay_config *cfg = calloc(1, sizeof(*cfg));
	char *clean = NULL;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	if (!cfg || dup_str(&c, c.e.name, &cfg->path))
		rc_nomem(&c.e);
	else if (!text)
		rc_fail(&c.e, 0, "no configuration text");
	else if ((clean = rc_strip_comments(&c.e, text)) != NULL)
		rcfg_parse(&c, clean, cfg, convert);
	free(clean);
	free(c.keys);
	free(c.secs);
	if (c.e.rc) {
		relay_config_free(cfg);
		return c.e.rc;
	}
	*out = cfg;
	return 0;
}

int relay_config_load(const char *path, struct relay_config **out, char *err, size_t errlen)
{
	struct rc_err e = {.name = path ? path : "config", .err = err, .errlen = errlen};
	FILE *f = path ? fopen(path, "re") : NULL;
	char *text = NULL, *t, *nul;
	size_t len = 0, got = 1;
	int line = 1, rc = 0;

	*out = NULL;
	if (!f)
		return rc_fail(&e, 0, "cannot open: %s", path ? strerror(errno) : "no file name");
	while (!e.rc && got > 0) {
		if (!(t = realloc(text, len + 65536 + 1))) {
			rc_nomem(&e);
			break;
		}
		text = t;
		got = fread(text + len, 1, 65536, f);
		if ((len += got) > FILE_MAX)
			rc_fail(&e, 0, "larger than %u bytes", FILE_MAX);
	}
	if (!e.rc && ferror(f))
		rc_fail(&e, 0, "cannot read: %s", strerror(errno));
	fclose(f);
	if (!e.rc && (nul = memchr(text, '\0', len)) != NULL) {
		for (const char *p = text; p < nul; p++)
			line += *p == '\n';
		rc_fail(&e, line, "the file holds a NUL byte");
	}
	if (!e.rc) {
		text[len] = '\0';
		rc = relay_config_parse(path, text, out, err, errlen);
	}
	free(text);
	return e.rc ? e.rc : rc;
}
