/*
 * interlinkctl: the admin API from a shell — node status, peers, routes, the route tester,
 * the queue and the directory — as aligned tables for people or the API's JSON for scripts.
 * A client only (libcurl, jansson): nothing of the daemon's library. The manual is in
 * interlinkctl_help.c, requests and tables in interlinkctl_io.c.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "admin/interlinkctl.h"
#include "relay/relay.h" /* INTERLINK_VERSION */

#define CELL_MAX 512
#define N(a) (sizeof(a) / sizeof((a)[0]))
#define ESC_MAX (3 * CTL_ARG_MAX + 1)

/* ---------------------------------------------------------------- status */

/* "ends 2027-02-25 (90 d)" from an RFC 3339 UTC time, "plain HTTP" for null. */
static void cert_end_text(json_t *end, char *out, size_t size)
{
	const char *s = json_string_value(end);
	struct tm tm = {0};

	if (!s) {
		snprintf(out, size, "plain HTTP");
		return;
	}
	if (!strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm)) {
		snprintf(out, size, "ends %s", s);
		return;
	}
	long long days = ((long long)timegm(&tm) - (long long)time(NULL)) / 86400;
	snprintf(out, size, "ends %.10s (%lld d)", s, days);
}

static void status_text(json_t *o)
{
	static const struct ctl_col peer_cols[] = {
		{"PEER", "name"},	       {"KIND", "kind"},
		{"QUEUED", "queued"},	       {"DELIVERING", "delivering"},
		{"OLDEST(s)", "oldest_age_s"}, {"DOWN", "down"},
		{"SUSPENDED", "suspended"},    {"READ-ONLY", "read_only"},
	};
	static const struct ctl_col counters[] = {
		{"accepted", "accepted"}, {"duplicates", "duplicates"}, {"delivered", "delivered"},
		{"failed", "failed"},	  {"expired", "expired"},	{"retried", "retried"},
	};
	static const struct ctl_col rates[] = {
		{"accepted/s", "accepted_per_s"}, {"delivered/s", "delivered_per_s"},
	};
	static const char *const sizes[] = {"used", "map", "max"};
	json_t *store = json_object_get(o, "store");
	long long up = (long long)json_integer_value(json_object_get(o, "uptime_s"));
	char size[3][32];

	printf("%-14s %s\n", "node", json_string_value(json_object_get(o, "node")));
	printf("%-14s %s\n", "version", json_string_value(json_object_get(o, "version")));
	printf("%-14s %lldd %02lld:%02lld:%02lld\n", "uptime", up / 86400, up / 3600 % 24,
	       up / 60 % 60, up % 60);
	ctl_fields(json_object_get(o, "counters"), counters, N(counters));
	ctl_fields(json_object_get(o, "rates"), rates, N(rates));
	for (size_t i = 0; i < 3; i++)
		ctl_bytes((uint64_t)json_integer_value(json_object_get(store, sizes[i])), size[i],
			  sizeof(size[i]));
	printf("%-14s %s used, map %s, max %s%s\n", "store", size[0], size[1], size[2],
	       json_is_true(json_object_get(store, "full")) ? " (FULL)" : "");
	json_int_t errors = json_integer_value(json_object_get(store, "errors"));
	const char *last = json_string_value(json_object_get(store, "last_error"));
	if (errors)
		printf("%-14s %lld operations failed, last: %s%s\n", "store errors",
		       (long long)errors, last ? last : "?",
		       json_is_true(json_object_get(store, "failing"))
			       ? " (FAILING: writes fail now, see the log)"
			       : "");
	json_t *certs = json_object_get(o, "certificates");
	char end[2][64];
	cert_end_text(json_object_get(certs, "carrier"), end[0], sizeof(end[0]));
	cert_end_text(json_object_get(certs, "admin"), end[1], sizeof(end[1]));
	printf("%-14s carrier %s, admin %s\n", "certificates", end[0], end[1]);
	printf("%-14s %s\n\n", "restart",
	       json_is_true(json_object_get(o, "restart_needed"))
		       ? "NEEDED: a reload held what only a restart applies (see the log)"
		       : "not needed");
	ctl_table(ctl_rows_of(o, "peers"), peer_cols, N(peer_cols));
}

static int cmd_status(const struct ctl *c)
{
	struct ctl_resp r;
	int rc;

	if (c->n_args != 1)
		return ctl_usage_error("status takes no operands");
	if ((rc = ctl_request(c, "GET", "/api/status", NULL, &r)) != CTL_EXIT_OK)
		return rc;
	if (!c->json)
		status_text(r.json);
	ctl_resp_free(&r);
	return CTL_EXIT_OK;
}

/* GET path, then a table of its list (under `key` when the body is an object). */
static int list(const struct ctl *c, const char *path, const char *key,
		const struct ctl_col *cols, size_t ncol)
{
	struct ctl_resp r;
	int rc = ctl_request(c, "GET", path, NULL, &r);
	const char *next;

	if (rc != CTL_EXIT_OK)
		return rc;
	if (!c->json) {
		ctl_table(ctl_rows_of(r.json, key), cols, ncol);
		if ((next = json_string_value(json_object_get(r.json, "next"))))
			printf("(more: --after %s)\n", next);
	}
	ctl_resp_free(&r);
	return CTL_EXIT_OK;
}

/* A string list as JSON, or NULL when there is none. */
static json_t *strings(const char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

/* An integer option into the body; false (after a message) when it is not one. */
static bool put_int(json_t *o, const char *key, const char *opt, const char *text)
{
	char *end;
	long long v;

	if (!text)
		return true;
	v = strtoll(text, &end, 10);
	if (!*text || *end || v < 0) {
		ctl_usage_error("--%s wants a whole number, not '%s'", opt, text);
		return false;
	}
	json_object_set_new(o, key, json_integer(v));
	return true;
}

/* ----------------------------------------------------------------- peers */

static int peers_add(const struct ctl *c)
{
	json_t *o = json_pack("{ss}", "name", c->args[2]);
	const char *tok;
	struct ctl_resp r;
	int rc;

	if (c->kind)
		json_object_set_new(o, "kind", json_string(c->kind));
	if (c->n_endpoints)
		json_object_set_new(o, "endpoints", strings(c->endpoints, c->n_endpoints));
	if (c->n_owns)
		json_object_set_new(o, "owns", strings(c->owns, c->n_owns));
	if (c->outbound)
		json_object_set_new(o, "outbound_token", json_string(c->outbound));
	if (c->cert)
		json_object_set_new(o, "cert_sha256", json_string(c->cert));
	if (c->n_keys)
		json_object_set_new(o, "keys", strings(c->keys, c->n_keys));
	if (c->dir_trusted)
		json_object_set_new(o, "directory_trusted", json_true());
	if (!put_int(o, "rate", "rate", c->rate) || !put_int(o, "burst", "burst", c->burst) ||
	    !put_int(o, "max_size", "max-size", c->max_size) ||
	    !put_int(o, "max_queue", "max-queue", c->max_queue)) {
		json_decref(o);
		return CTL_EXIT_USAGE;
	}
	rc = ctl_request(c, "POST", "/api/peers", o, &r);
	json_decref(o);
	if (rc != CTL_EXIT_OK)
		return rc;
	if (!c->json) {
		printf("peer %s added\n", c->args[2]);
		if ((tok = json_string_value(json_object_get(r.json, "token"))))
			printf("inbound token (shown once; give it to the peer): %s\n", tok);
	}
	ctl_resp_free(&r);
	return CTL_EXIT_OK;
}

static int cmd_peers(const struct ctl *c)
{
	static const struct ctl_col cols[] = {
		{"NAME", "name"},	{"KIND", "kind"},	  {"ENDPOINTS", "endpoints"},
		{"OWNS", "owns"},	{"RATE", "rate"},	  {"SUSPENDED", "suspended"},
		{"READ-ONLY", "read_only"},
	};
	const char *sub = c->n_args > 1 ? c->args[1] : "";
	char path[CTL_PATH_MAX], name[ESC_MAX];

	if (strcmp(sub, "list") == 0 && c->n_args == 2)
		return list(c, "/api/peers", "peers", cols, N(cols));
	if (c->n_args != 3 || strcmp(sub, "list") == 0)
		return ctl_usage_error("peers list | peers add|rm|suspend|resume NAME");
	if (strcmp(sub, "add") == 0)
		return peers_add(c);
	ctl_escape(c->args[2], name, sizeof(name));
	if (strcmp(sub, "rm") == 0) {
		snprintf(path, sizeof(path), "/api/peers/%s", name);
		return ctl_simple(c, "DELETE", path, NULL, "peer %s removed\n", c->args[2]);
	}
	if (strcmp(sub, "suspend") != 0 && strcmp(sub, "resume") != 0)
		return ctl_usage_error("peers: unknown subcommand '%s'", sub);
	snprintf(path, sizeof(path), "/api/peers/%s/%s", name, sub);
	return ctl_simple(c, "POST", path, NULL,
			  sub[0] == 's' ? "peer %s suspended\n" : "peer %s resumed\n", c->args[2]);
}

/* ------------------------------------------------------ routes, route-test */

/* "p:+8210", "d:example.com", "default" from what a person types. */
static void route_key(const char *what, char *key, size_t size)
{
	if (strncmp(what, "p:", 2) == 0 || strncmp(what, "d:", 2) == 0 ||
	    strcmp(what, "default") == 0)
		snprintf(key, size, "%s", what);
	else if (what[0] == '+' || (what[0] >= '0' && what[0] <= '9'))
		snprintf(key, size, "p:%s", what);
	else
		snprintf(key, size, "d:%s", what);
}

static int cmd_routes(const struct ctl *c)
{
	static const struct ctl_col cols[] = {
		{"KEY", "key"}, {"MATCH", "match"}, {"VALUE", "value"}, {"PEER", "peer"},
		{"READ-ONLY", "read_only"},
	};
	const char *sub = c->n_args > 1 ? c->args[1] : "";
	char key[CTL_ARG_MAX + 3], path[CTL_PATH_MAX], k[3 * sizeof(key)];
	json_t *o;
	int rc;

	if (strcmp(sub, "list") == 0 && c->n_args == 2)
		return list(c, "/api/routes", "routes", cols, N(cols));
	if (strcmp(sub, "add") == 0 && c->n_args == 4) {
		route_key(c->args[2], key, sizeof(key));
		if (strcmp(key, "default") == 0)
			o = json_pack("{sbss}", "default", 1, "peer", c->args[3]);
		else
			o = json_pack("{ssss}", key[0] == 'p' ? "prefix" : "domain", key + 2,
				      "peer", c->args[3]);
		rc = ctl_simple(c, "POST", "/api/routes", o, "route %s added\n", key);
		json_decref(o);
		return rc;
	}
	if (strcmp(sub, "rm") == 0 && c->n_args == 3) {
		route_key(c->args[2], key, sizeof(key));
		ctl_escape(key, k, sizeof(k));
		snprintf(path, sizeof(path), "/api/routes/%s", k);
		return ctl_simple(c, "DELETE", path, NULL, "route %s removed\n", key);
	}
	return ctl_usage_error("routes list | routes add PREFIX|DOMAIN|default PEER | "
			       "routes rm KEY");
}

static int cmd_route_test(const struct ctl *c)
{
	static const struct ctl_col out[] = {
		{"to", "to"},		  {"verdict", "verdict"},     {"peer", "peer"},
		{"endpoint", "endpoint"}, {"deliver to", "deliver_to"}, {"pull", "pull"},
		{"failover", "failover"}, {"wait until", "wait_until"}, {"reject", "reject"},
		{"why", "why"},		  {"route", "route"},	      {"directory", "directory"},
	};
	char path[CTL_PATH_MAX], to[ESC_MAX], from[ESC_MAX] = "";
	struct ctl_resp r;
	int rc;

	if (c->n_args != 2)
		return ctl_usage_error("route-test ADDRESS [--from ADDRESS]");
	ctl_escape(c->args[1], to, sizeof(to));
	if (c->from)
		ctl_escape(c->from, from, sizeof(from));
	snprintf(path, sizeof(path), "/api/route-test?to=%s%s%s", to, c->from ? "&from=" : "",
		 from);
	if ((rc = ctl_request(c, "GET", path, NULL, &r)) != CTL_EXIT_OK)
		return rc;
	if (!c->json)
		ctl_fields(r.json, out, N(out));
	ctl_resp_free(&r);
	return CTL_EXIT_OK;
}

/* ----------------------------------------------------------------- queue */

/* Asks on the terminal; false unless the answer starts with y. */
static bool confirm(const char *rid)
{
	FILE *tty = fopen("/dev/tty", "r+");
	char line[32] = "";

	if (!tty)
		return false;
	fprintf(tty, "purge message %s? It is dropped for good. [y/N] ", rid);
	fflush(tty);
	if (!fgets(line, sizeof(line), tty))
		line[0] = '\0';
	fclose(tty);
	return line[0] == 'y' || line[0] == 'Y';
}

static int queue_list(const struct ctl *c)
{
	static const struct ctl_col cols[] = {
		{"RID", "rid"},
		{"STATE", "state"},
		{"FROM PEER", "src|src_peer"},
		{"TO PEER", "peer|dst_peer"},
		{"ATTEMPTS", "attempts"},
		{"CREATED", "@created"},
		{"DUE", "@due"},
		{"EXPIRES", "@expires"},
		{"LAST ERROR", "last_error"},
	};
	const char *keys[] = {"peer", "state", "limit", "after"};
	const char *vals[] = {c->peer, c->state, c->limit, c->after};
	char path[CTL_PATH_MAX * 2] = "/api/messages", v[ESC_MAX];
	size_t len = strlen(path);

	if (c->n_args != 2)
		return ctl_usage_error("queue list takes no operands (filters are options)");
	for (size_t i = 0; i < N(keys); i++) {
		if (!vals[i])
			continue;
		ctl_escape(vals[i], v, sizeof(v));
		len += (size_t)snprintf(path + len, sizeof(path) - len, "%c%s=%s",
					strchr(path, '?') ? '&' : '?', keys[i], v);
	}
	return list(c, path, "messages", cols, N(cols));
}

static int queue_show(const struct ctl *c, const char *path)
{
	static const struct ctl_col show[] = {
		{"rid", "rid"},		 {"state", "state"},	     {"id", "id"},
		{"from peer", "src"},	 {"to peer", "peer"},	     {"from", "from"},
		{"to", "to"},		 {"type", "type"},	     {"size", "size"},
		{"dlr", "dlr"},		 {"prio", "prio"},	     {"hops", "hops"},
		{"attempts", "attempts"}, {"created", "@created"},    {"updated", "@updated"},
		{"due", "@due"},		 {"expires", "@expires"},     {"route", "route"},
		{"last error", "last_error"}, {"record error", "record_error"},
		{"text", "text"},	 {"body (base64)", "body"},
	};
	struct ctl_resp r;
	json_t *m;
	int rc;

	if ((rc = ctl_request(c, "GET", path, NULL, &r)) != CTL_EXIT_OK)
		return rc;
	if (!c->json) {
		m = json_object_get(r.json, "message");
		ctl_fields(m ? m : r.json, show, N(show));
	}
	ctl_resp_free(&r);
	return CTL_EXIT_OK;
}

static int cmd_queue(const struct ctl *c)
{
	const char *sub = c->n_args > 1 ? c->args[1] : "";
	char path[CTL_PATH_MAX], rid[ESC_MAX];
	struct ctl_resp r;
	json_t *o;
	int rc;

	if (strcmp(sub, "list") == 0)
		return queue_list(c);
	if (c->n_args != 3)
		return ctl_usage_error("queue list [options] | queue show|retry|hold|release|purge "
				       "RID");
	ctl_escape(c->args[2], rid, sizeof(rid));
	if (strcmp(sub, "show") == 0) {
		snprintf(path, sizeof(path), "/api/messages/%s", rid);
		return queue_show(c, path);
	}
	if (strcmp(sub, "retry") && strcmp(sub, "hold") && strcmp(sub, "release") &&
	    strcmp(sub, "purge"))
		return ctl_usage_error("queue: unknown subcommand '%s'", sub);
	snprintf(path, sizeof(path), "/api/messages/%s/%s", rid, sub);
	if (strcmp(sub, "purge") == 0 && !c->yes) {
		if (!isatty(STDIN_FILENO))
			return ctl_usage_error("queue purge: give --yes (no terminal to ask on)");
		if (!confirm(c->args[2])) {
			fprintf(stderr, "interlinkctl: not purged\n");
			return CTL_EXIT_API;
		}
	}
	o = strcmp(sub, "purge") == 0 ? json_pack("{sb}", "confirm", 1) : NULL;
	rc = ctl_request(c, "POST", path, o, &r);
	json_decref(o);
	if (rc != CTL_EXIT_OK)
		return rc;
	const char *state = json_string_value(json_object_get(r.json, "state"));
	if (!c->json)
		printf("message %s: %s done; state %s\n", c->args[2], sub, state ? state : "-");
	ctl_resp_free(&r);
	return CTL_EXIT_OK;
}

/* ------------------------------------------------------------- directory */

static void directory_text(json_t *o)
{
	static const struct ctl_col cols[] = {
		{"PEER", "peer"},	  {"ACCOUNT", "account"},
		{"PRIORITY", "priority"}, {"FAILOVER", "failover"},
		{"DELAY(s)", "failover_delay"}, {"PENDING", "pending"},
	};
	char buf[CELL_MAX];

	ctl_cell(json_object_get(o, "address"), buf, sizeof(buf));
	printf("%-14s %s\n\n", "address", buf);
	ctl_table(ctl_rows_of(o, "accounts"), cols, N(cols));
}

/* directory pending: the carriers' lines outside their own space that wait for approval. */
static int directory_pending(const struct ctl *c)
{
	static const struct ctl_col cols[] = {{"ADDRESS", "address"}, {"PEER", "peer"}};
	struct ctl_resp r;
	int rc = ctl_request(c, "GET", "/api/directory-pending?limit=1000", NULL, &r);

	if (rc != CTL_EXIT_OK)
		return rc;
	if (!c->json) {
		ctl_table(ctl_rows_of(r.json, "pending"), cols, N(cols));
		if (json_is_object(json_object_get(r.json, "next")))
			printf("(more: the first 1000 shown)\n");
	}
	ctl_resp_free(&r);
	return CTL_EXIT_OK;
}

static int cmd_directory(const struct ctl *c)
{
	const char *sub = c->n_args > 1 ? c->args[1] : "";
	char path[CTL_PATH_MAX], addr[ESC_MAX], peer[ESC_MAX];
	struct ctl_resp r;
	json_t *o;
	int rc;

	if (strcmp(sub, "pending") == 0 && c->n_args == 2)
		return directory_pending(c);
	if (c->n_args < 3 || c->n_args > 4 || (strcmp(sub, "get") == 0) != (c->n_args == 3))
		return ctl_usage_error("directory get ADDRESS | directory set|rm|approve ADDRESS "
				       "PEER | directory pending");
	ctl_escape(c->args[2], addr, sizeof(addr));
	if (strcmp(sub, "approve") == 0) {
		snprintf(path, sizeof(path), "/api/directory/%s/approve", addr);
		o = json_pack("{ss}", "peer", c->args[3]);
		rc = ctl_request(c, "POST", path, o, &r);
		json_decref(o);
		if (rc != CTL_EXIT_OK)
			return rc;
		if (!c->json)
			printf("directory: %s's account for %s approved\n", c->args[3], c->args[2]);
		ctl_resp_free(&r);
		return CTL_EXIT_OK;
	}
	snprintf(path, sizeof(path), "/api/directory/%s", addr);
	if (strcmp(sub, "rm") == 0) {
		ctl_escape(c->args[3], peer, sizeof(peer));
		snprintf(path, sizeof(path), "/api/directory/%s?peer=%s", addr, peer);
		return ctl_simple(c, "DELETE", path, NULL, "directory: account removed from %s\n",
				  c->args[2]);
	}
	if (strcmp(sub, "get") != 0 && strcmp(sub, "set") != 0)
		return ctl_usage_error("directory: unknown subcommand '%s'", sub);
	if (strcmp(sub, "get") == 0) {
		rc = ctl_request(c, "GET", path, NULL, &r);
	} else {
		o = json_pack("{ss}", "peer", c->args[3]);
		if (c->account)
			json_object_set_new(o, "account", json_string(c->account));
		if (c->failover)
			json_object_set_new(o, "failover", json_true());
		if (!put_int(o, "priority", "priority", c->priority) ||
		    !put_int(o, "failover_delay", "failover-delay", c->delay)) {
			json_decref(o);
			return CTL_EXIT_USAGE;
		}
		rc = ctl_request(c, "PUT", path, o, &r);
		json_decref(o);
	}
	if (rc != CTL_EXIT_OK)
		return rc;
	if (!c->json)
		directory_text(r.json);
	ctl_resp_free(&r);
	return CTL_EXIT_OK;
}

/* ------------------------------------------------------------------ keys */

/* Whether kid is the first 16 hex digits of SHA-256 over the raw key in b64. */
static bool kid_matches(const char *kid, const char *b64)
{
	unsigned char raw[64], md[SHA256_DIGEST_LENGTH];
	char hex[2 * SHA256_DIGEST_LENGTH + 1];
	size_t len = strlen(b64);

	if (len != 44 || EVP_DecodeBlock(raw, (const unsigned char *)b64, 44) != 33)
		return false; /* 32 bytes and one pad character */
	SHA256(raw, 32, md);
	for (size_t i = 0; i < sizeof(md); i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return kid && strlen(kid) == 16 && memcmp(kid, hex, 16) == 0;
}

/* keys URL: another node's published keys (GET URL/v1/keys, no token), each key id checked
 * against its key, and the `keys = {…}` line that pins them in that peer's section. */
static int cmd_keys(const struct ctl *c)
{
	struct ctl peer = *c;
	struct ctl_resp r;
	json_t *keys, *k;
	size_t i;
	int rc;

	if (c->n_args != 2)
		return ctl_usage_error("keys takes the node's carrier API URL (interlinkctl help keys)");
	peer.url = c->args[1];
	peer.token = NULL;
	if ((rc = ctl_request(&peer, "GET", "/v1/keys", NULL, &r)) != CTL_EXIT_OK)
		return rc;
	keys = json_object_get(r.json, "keys");
	if (!json_is_array(keys) || json_array_size(keys) == 0) {
		fprintf(stderr, "interlinkctl: %s/v1/keys: no keys in the answer\n", peer.url);
		ctl_resp_free(&r);
		return CTL_EXIT_API;
	}
	json_array_foreach(keys, i, k) {
		const char *kid = json_string_value(json_object_get(k, "kid"));
		const char *pub = json_string_value(json_object_get(k, "public_key"));
		if (!pub || !kid_matches(kid, pub)) {
			fprintf(stderr, "interlinkctl: %s/v1/keys: key %zu: its kid is not the "
					"SHA-256 of its public key: not pinning it\n", peer.url, i);
			ctl_resp_free(&r);
			return CTL_EXIT_API;
		}
	}
	if (!c->json) {
		static const struct ctl_col cols[] = {
			{"KID", "kid"}, {"ALG", "alg"}, {"VALID UNTIL", "@valid_until"},
			{"PUBLIC KEY", "public_key"}};
		char node[CTL_ARG_MAX + 1];
		ctl_cell(json_object_get(r.json, "node"), node, sizeof(node));
		printf("node %s (check the key ids with its operator before pinning)\n", node);
		ctl_table(keys, cols, N(cols));
		printf("\n  keys = {");
		json_array_foreach(keys, i, k) {
			json_t *until = json_object_get(k, "valid_until");
			time_t t = json_is_integer(until) ? (time_t)(json_integer_value(until) / 1000)
							  : 0;
			struct tm tm;
			char when[32] = "";
			if (t > 0 && gmtime_r(&t, &tm))
				strftime(when, sizeof(when), " until %Y-%m-%dT%H:%M:%SZ", &tm);
			printf("%s\"%s%s\"", i ? ", " : " ",
			       json_string_value(json_object_get(k, "public_key")), when);
		}
		printf(" }\n");
	}
	ctl_resp_free(&r);
	return CTL_EXIT_OK;
}

/* ---------------------------------------------------------- command line */

/* Long options; the letter of a command option is its bit in ctl.seen. */
static const struct option longopts[] = {
	{"url", required_argument, NULL, 'U'},	    {"token", required_argument, NULL, 'T'},
	{"json", no_argument, NULL, 'j'},	    {"yes", no_argument, NULL, 'y'},
	{"cacert", required_argument, NULL, 'C'},   {"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},	    {"kind", required_argument, NULL, 'k'},
	{"endpoint", required_argument, NULL, 'e'}, {"owns", required_argument, NULL, 'o'},
	{"outbound-token", required_argument, NULL, 'O'},
	{"cert-sha256", required_argument, NULL, 'c'},
	{"rate", required_argument, NULL, 'r'},	    {"burst", required_argument, NULL, 'b'},
	{"max-size", required_argument, NULL, 's'}, {"max-queue", required_argument, NULL, 'q'},
	{"peer", required_argument, NULL, 'p'},	    {"state", required_argument, NULL, 't'},
	{"limit", required_argument, NULL, 'l'},    {"after", required_argument, NULL, 'a'},
	{"from", required_argument, NULL, 'f'},	    {"account", required_argument, NULL, 'A'},
	{"priority", required_argument, NULL, 'P'}, {"failover", no_argument, NULL, 'F'},
	{"failover-delay", required_argument, NULL, 'D'},
	{"key", required_argument, NULL, 'K'},	    {"directory-trusted", no_argument, NULL, 'd'},
	{NULL, 0, NULL, 0},
};

static unsigned long long bit(int letter)
{
	return 1ULL << (letter >= 'a' ? letter - 'a' : 26 + letter - 'A');
}

static bool add_list(const char **v, size_t *n, const char *s)
{
	if (*n == CTL_LIST_MAX)
		return false;
	v[(*n)++] = s;
	return true;
}

/* One option into c; CTL_EXIT_OK, or CTL_EXIT_USAGE after a message. -1: print the help. */
static int take_option(struct ctl *c, int opt)
{
	c->seen |= strchr("UTjyCh", opt) ? 0 : bit(opt);
	switch (opt) {
	case 'U': c->url = optarg; break;
	case 'T': c->token = optarg; break;
	case 'j': c->json = true; break;
	case 'y': c->yes = true; break;
	case 'C': c->cacert = optarg; break;
	case 'h': return -1;
	case 'k': c->kind = optarg; break;
	case 'e':
		if (!add_list(c->endpoints, &c->n_endpoints, optarg))
			return ctl_usage_error("at most %d --endpoint", CTL_LIST_MAX);
		break;
	case 'o':
		if (!add_list(c->owns, &c->n_owns, optarg))
			return ctl_usage_error("at most %d --owns", CTL_LIST_MAX);
		break;
	case 'K':
		if (!add_list(c->keys, &c->n_keys, optarg))
			return ctl_usage_error("at most %d --key", CTL_LIST_MAX);
		break;
	case 'd': c->dir_trusted = true; break;
	case 'O': c->outbound = optarg; break;
	case 'c': c->cert = optarg; break;
	case 'r': c->rate = optarg; break;
	case 'b': c->burst = optarg; break;
	case 's': c->max_size = optarg; break;
	case 'q': c->max_queue = optarg; break;
	case 'p': c->peer = optarg; break;
	case 't': c->state = optarg; break;
	case 'l': c->limit = optarg; break;
	case 'a': c->after = optarg; break;
	case 'f': c->from = optarg; break;
	case 'A': c->account = optarg; break;
	case 'P': c->priority = optarg; break;
	case 'F': c->failover = true; break;
	case 'D': c->delay = optarg; break;
	default: return CTL_EXIT_USAGE; /* getopt said why */
	}
	return CTL_EXIT_OK;
}

struct command {
	const char *name;
	int (*run)(const struct ctl *c);
	const char *sub;     /* the subcommand that takes options ("" any, NULL none) */
	const char *options; /* the letters of the options it takes */
	bool public;         /* asks another node's public API: no token */
};

static const struct command commands[] = {
	{"status", cmd_status, NULL, "", false},
	{"peers", cmd_peers, "add", "keoOcrbsqKd", false},
	{"routes", cmd_routes, NULL, "", false},
	{"route-test", cmd_route_test, "", "f", false},
	{"queue", cmd_queue, "list", "ptla", false},
	{"directory", cmd_directory, "set", "APFD", false},
	{"keys", cmd_keys, NULL, "", true},
};

/* Whether every command option given belongs to the command (and its subcommand). */
static bool options_fit(const struct ctl *c, const struct command *cmd)
{
	unsigned long long allowed = 0;

	for (const char *p = cmd->options; *p; p++)
		allowed |= bit(*p);
	if (cmd->sub && cmd->sub[0] && (c->n_args < 2 || strcmp(c->args[1], cmd->sub) != 0))
		allowed = 0;
	return (c->seen & ~allowed) == 0;
}

static int run(struct ctl *c)
{
	const char *name = c->args[0];

	for (int i = 0; i < c->n_args; i++)
		if (strlen(c->args[i]) > CTL_ARG_MAX)
			return ctl_usage_error("an operand is longer than %d bytes", CTL_ARG_MAX);
	if (strcmp(name, "help") == 0) {
		if (c->n_args > 2)
			return ctl_usage_error("help takes one command name at most");
		return ctl_help(c->n_args > 1 ? c->args[1] : NULL, stdout) == 0 ? CTL_EXIT_OK
									       : CTL_EXIT_USAGE;
	}
	for (size_t i = 0; i < N(commands); i++) {
		if (strcmp(name, commands[i].name) != 0)
			continue;
		if (!options_fit(c, &commands[i]))
			return ctl_usage_error("an option given does not apply to '%s%s%s' (see "
					       "interlinkctl help %s)",
					       name, c->n_args > 1 ? " " : "",
					       c->n_args > 1 ? c->args[1] : "", name);
		if (!commands[i].public && (!c->token || !*c->token))
			return ctl_usage_error("no API token: give --token or set "
					       "INTERLINK_ADMIN_TOKEN");
		return commands[i].run(c);
	}
	return ctl_usage_error("unknown command '%s'", name);
}

int main(int argc, char **argv)
{
	struct ctl c = {.url = getenv("INTERLINK_ADMIN_URL"),
			.token = getenv("INTERLINK_ADMIN_TOKEN"),
			.cacert = getenv("INTERLINK_ADMIN_CACERT")};
	int opt, rc;

	if (!c.url || !*c.url)
		c.url = CTL_DEFAULT_URL;
	while ((opt = getopt_long(argc, argv, ":hjy", longopts, NULL)) != -1) {
		if (opt == 'V') {
			printf("interlinkctl %s\n", INTERLINK_VERSION);
			return CTL_EXIT_OK;
		}
		if (opt == ':' || opt == '?')
			return ctl_usage_error("%s: %s", argv[optind - 1],
					       opt == ':' ? "needs a value" : "unknown option");
		if (optarg && strlen(optarg) > CTL_ARG_MAX)
			return ctl_usage_error("%s: longer than %d bytes", argv[optind - 1],
					       CTL_ARG_MAX);
		if ((rc = take_option(&c, opt)) == -1)
			return ctl_help(NULL, stdout), CTL_EXIT_OK;
		if (rc != CTL_EXIT_OK)
			return rc;
	}
	c.args = argv + optind;
	c.n_args = argc - optind;
	if (c.n_args == 0) {
		ctl_help(NULL, stderr);
		return CTL_EXIT_USAGE;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fputs("interlinkctl: libcurl failed to start\n", stderr);
		return CTL_EXIT_API;
	}
	rc = run(&c);
	curl_global_cleanup();
	return rc;
}
