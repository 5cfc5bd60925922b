/*
 * relay_config_values: the config's values checked without libconfuse (units, text,
 * addresses, the comment pre-pass, route uniqueness), and freeing and looking up a config.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay/relay_priv.h"

/* ------------------------------------------------------------ units */

struct unit {
	const char *name;
	uint64_t mul;
};

static const struct unit dur_units[] = {{"ms", 1},      {"", 1000},      {"s", 1000}, {"m", 60000},
                                        {"h", 3600000}, {"d", 86400000}, {NULL, 0}};
static const struct unit size_units[] = {{"", 1},         {"K", 1u << 10}, {"k", 1u << 10},
                                         {"M", 1u << 20}, {"m", 1u << 20}, {"G", 1u << 30},
                                         {"g", 1u << 30}, {NULL, 0}};

/* Decimal digits, then exactly one unit name of the table. */
static int parse_units(const char *s, const struct unit *u, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;

	for (; s && s[i] >= '0' && s[i] <= '9'; i++) {
		if (v > (UINT64_MAX - (unsigned)(s[i] - '0')) / 10)
			return -RELAY_ECONFIG;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	for (; i > 0 && u->name; u++) {
		if (strcmp(s + i, u->name) != 0)
			continue;
		if (v > UINT64_MAX / u->mul)
			return -RELAY_ECONFIG;
		*out = v * u->mul;
		return 0;
	}
	return -RELAY_ECONFIG;
}

int relay_parse_duration_ms(const char *s, uint64_t *out_ms)
{
	return parse_units(s, dur_units, out_ms);
}

int relay_parse_size(const char *s, uint64_t *out_bytes)
{
	return parse_units(s, size_units, out_bytes);
}

/* ----------------------------------------------------------- errors */

/* Records the first error as "NAME:LINE: reason" (no line when line <= 0). */
int rc_fail(struct rc_err *e, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (e->rc)
		return e->rc;
	e->rc = -RELAY_ECONFIG;
	if (!e->err || e->errlen == 0)
		return e->rc;
	n = line > 0 ? snprintf(e->err, e->errlen, "%s:%d: ", e->name, line)
	             : snprintf(e->err, e->errlen, "%s: ", e->name);
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < e->errlen)
		vsnprintf(e->err + n, e->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	for (char *p = e->err; *p; p++) /* one line, whatever the file held */
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return e->rc;
}

int rc_nomem(struct rc_err *e)
{
	if (!e->rc && e->err && e->errlen)
		snprintf(e->err, e->errlen, "%s: out of memory", e->name);
	e->rc = e->rc ? e->rc : -RELAY_ENOMEM;
	return e->rc;
}

/* ------------------------------------------------------ the pre-pass */

/*
 * libconfuse 3.3 miscounts lines after comments (a "# ..." line counts as
 * three), so comments are blanked before it reads the text: '#' outside
 * quotes, and "//" or "/ *" where a token may start; newlines stay. It also
 * takes a section or a "string" left open at the end of the file as closed:
 * both are checked here.
 */
char *rc_strip_comments(struct rc_err *e, const char *text)
{
	char *t = strdup(text), *p, *end, quote = 0;
	int line = 1, depth = 0, open_line = 0, quote_line = 0;

	for (p = t; p && *p; p++) {
		int start = p == t || strchr(" \t\r\n{}()=+,\"'", p[-1]);

		line += *p == '\n';
		if (quote) {
			if (*p == quote)
				quote = 0;
			else if (*p == '\\' && (quote == '"' || p[1] == '\\' || p[1] == '\''))
				line += *++p == '\n'; /* escaped: skip it */
			if (!*p)
				break;
		} else if (*p == '"' || *p == '\'') {
			quote = *p;
			quote_line = line;
		} else if (*p == '{' || *p == '}') {
			open_line = depth == 0 ? line : open_line;
			depth += *p == '{' ? 1 : depth > 0 ? -1 : 0;
		} else if (*p == '#' || (start && p[0] == '/' && p[1] == '/')) {
			for (; *p && *p != '\n'; p++)
				*p = ' ';
			p--;
		} else if (start && p[0] == '/' && p[1] == '*') {
			if (!(end = strstr(p + 2, "*/"))) {
				rc_fail(e, line, "unterminated /* comment");
				break;
			}
			for (end += 2; p < end; p++) {
				line += *p == '\n';
				*p = *p == '\n' ? '\n' : ' ';
			}
			p--;
		}
	}
	if (!t)
		rc_nomem(e);
	else if (quote)
		rc_fail(e, quote_line, "unterminated string");
	else if (depth > 0)
		rc_fail(e, open_line, "'{' is never closed");
	if (e->rc)
		free(t);
	return e->rc ? NULL : t;
}

/* ----------------------------------------------------- value checks */

/* Printable ASCII only (no spaces unless allowed), 1..max bytes. */
int rc_text_ok(const char *s, size_t max, int spaces)
{
	size_t n = 0;

	for (; s[n]; n++)
		if ((unsigned char)s[n] < (spaces ? 0x20 : 0x21) || (unsigned char)s[n] > 0x7e)
			return 0;
	return n >= 1 && n <= max;
}

/* A numeric IPv4/IPv6 address or "localhost"; 16 bytes (IPv4 mapped) into a. */
int rc_addr_parse(const char *s, unsigned char a[16], int *loopback)
{
	static const unsigned char mapped[12] = {[10] = 0xff, [11] = 0xff}, lo6[16] = {[15] = 1};

	memcpy(a, mapped, sizeof(mapped));
	if (s && strcmp(s, "localhost") == 0) {
		memcpy(a + 12, (const unsigned char[]){127, 0, 0, 1}, 4);
		*loopback = 2; /* may also be ::1 */
		return 0;
	}
	if (!s || (inet_pton(AF_INET, s, a + 12) != 1 && inet_pton(AF_INET6, s, a) != 1))
		return -1;
	*loopback = !memcmp(a, lo6, 16) || (!memcmp(a, mapped, 12) && a[12] == 127);
	return 0;
}

/* On one port, a wildcard address overlaps any other, "localhost" any loopback. */
int rc_listeners_clash(const struct relay_listener_conf *x, const struct relay_listener_conf *y)
{
	static const unsigned char any6[16], any4[16] = {[10] = 0xff, [11] = 0xff};
	unsigned char a[16], b[16];
	int la, lb;

	if (x->port != y->port || rc_addr_parse(x->address, a, &la) ||
	    rc_addr_parse(y->address, b, &lb))
		return 0;
	return !memcmp(a, b, 16) || !memcmp(a, any4, 16) || !memcmp(a, any6, 16) ||
	       !memcmp(b, any4, 16) || !memcmp(b, any6, 16) || (la && lb && (la == 2 || lb == 2));
}

/* ------------------------------------------------------------ routes */

static int route_cmp(const void *a, const void *b)
{
	const struct relay_route_conf *x = *(const struct relay_route_conf *const *)a;
	const struct relay_route_conf *y = *(const struct relay_route_conf *const *)b;
	int r = (x->match > y->match) - (x->match < y->match);

	r = r ? r : strcmp(x->value ? x->value : "", y->value ? y->value : "");
	return r ? r : (x->line > y->line) - (x->line < y->line);
}

/* Two routes for the same thing: the later one in the file is refused. */
int rc_routes_unique(struct rc_err *e, const struct relay_config *cfg)
{
	const struct relay_route_conf **v, *first = NULL, *dup = NULL;
	size_t n = cfg->n_routes;

	if (n < 2)
		return 0;
	if (!(v = calloc(n, sizeof(*v))))
		return rc_nomem(e);
	for (size_t i = 0; i < n; i++)
		v[i] = &cfg->routes[i];
	qsort(v, n, sizeof(*v), route_cmp);
	for (size_t i = 1; i < n; i++)
		if (v[i]->match == v[i - 1]->match && (!dup || v[i]->line < dup->line) &&
		    !strcmp(v[i]->value ? v[i]->value : "",
		            v[i - 1]->value ? v[i - 1]->value : "")) {
			first = v[i - 1];
			dup = v[i];
		}
	free(v);
	if (dup && dup->match == RELAY_ROUTE_DEFAULT)
		return rc_fail(e, dup->line,
		               "route: only one default route is allowed (first at line %d)",
		               first->line);
	if (dup)
		return rc_fail(e, dup->line, "route: %s '%s' is routed twice (first at line %d)",
		               dup->match == RELAY_ROUTE_PREFIX ? "prefix" : "domain", dup->value,
		               first->line);
	return 0;
}

/* ------------------------------------------------ admin password hash */

int relay_pbkdf2_parse(const char *s, uint32_t *iterations,
		       unsigned char salt[RELAY_PBKDF2_SALT], unsigned char hash[RELAY_PBKDF2_HASH])
{
	static const char pfx[] = "pbkdf2-sha256$";
	const char *p, *d1, *d2;
	uint64_t it = 0;
	size_t n;

	if (!s || strncmp(s, pfx, sizeof(pfx) - 1) != 0)
		return -RELAY_ECONFIG;
	p = s + sizeof(pfx) - 1;
	for (d1 = p; *d1 >= '0' && *d1 <= '9' && d1 - p < 10; d1++)
		it = it * 10 + (uint64_t)(*d1 - '0');
	if (d1 == p || *d1 != '$' || it < 100000 || it > 100000000)
		return -RELAY_ECONFIG;
	if (!(d2 = strchr(d1 + 1, '$')) ||
	    rr_b64_decode(d1 + 1, (size_t)(d2 - d1 - 1), salt, RELAY_PBKDF2_SALT, &n) != 0 ||
	    n != RELAY_PBKDF2_SALT ||
	    rr_b64_decode(d2 + 1, strlen(d2 + 1), hash, RELAY_PBKDF2_HASH, &n) != 0 ||
	    n != RELAY_PBKDF2_HASH)
		return -RELAY_ECONFIG;
	*iterations = (uint32_t)it;
	return 0;
}

/* ----------------------------------------------- freeing, looking up */

static void listener_free(struct relay_listener_conf *l)
{
	free(l->address);
	free(l->tls_cert);
	free(l->tls_key);
	free(l->client_ca);
	free(l->bootstrap_user);
	free(l->bootstrap_password_hash);
}

void relay_config_free(struct relay_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n_peers; i++) {
		struct relay_peer_conf *p = &cfg->peers[i];

		for (size_t j = 0; j < p->n_endpoints; j++)
			free(p->endpoints[j]);
		for (size_t j = 0; j < p->n_owns; j++)
			free(p->owns[j]);
		free(p->endpoints);
		free(p->owns);
		free(p->name);
		free(p->token_sha256);
		free(p->cert_sha256);
		free(p->outbound_token);
		free(p->keys);
	}
	for (size_t i = 0; i < cfg->n_routes; i++) {
		free(cfg->routes[i].value);
		free(cfg->routes[i].peer);
	}
	listener_free(&cfg->carrier);
	listener_free(&cfg->admin);
	free(cfg->store.key_file);
	relay_keyring_free(cfg->store.keys);
	free(cfg->trust.key_file);
	relay_trust_free(cfg->trust.keys);
	free(cfg->peers);
	free(cfg->routes);
	free(cfg->path);
	free(cfg->node_id);
	free(cfg->data_dir);
	free(cfg->default_country);
	free(cfg);
}

const struct relay_peer_conf *relay_config_peer(const struct relay_config *cfg, const char *name)
{
	for (size_t i = 0; cfg && name && i < cfg->n_peers; i++)
		if (cfg->peers[i].name && strcmp(cfg->peers[i].name, name) == 0)
			return &cfg->peers[i];
	return NULL;
}
