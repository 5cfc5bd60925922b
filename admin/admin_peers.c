/*
 * The admin API's peers: list, show, add (with a new inbound token shown once), replace,
 * remove, suspend and resume. Only the token's SHA-256 is stored; listings never show a
 * secret, and show hashes only as a prefix. A relay peer's pinned signing keys are set here
 * as in the config file ("BASE64 [until TIME]") and shown whole: public keys are no secret.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "admin/admin_priv.h"

#define HASH_PREFIX   12    /* hex digits of a hash shown in listings */
#define HEX_LEN       64    /* SHA-256 in hex */
#define TOKEN_PREFIX  "pt_" /* inbound tokens made here: pt_ and 64 hex digits */
#define TOKEN_LEN     (sizeof(TOKEN_PREFIX) - 1 + 2 * ADMIN_TOKEN_BYTES)
#define URL_MAX       2048 /* routing's limits for endpoints and outbound tokens */
#define OUT_TOKEN_MAX 1024
#define OWNS_MAX      4096
#define PIN_FORM      "\"BASE64\" or \"BASE64 until YYYY-MM-DDTHH:MM:SSZ\""
#define KEY_B64_LEN   44 /* a 32-byte key in standard base64 */

static const char *const peer_fields[] = {
    "name",     "kind",      "endpoints",   "owns",         "outbound_token",    "rate", "burst",
    "max_size", "max_queue", "cert_sha256", "rotate_token", "directory_trusted", "keys", NULL};

/* A peer as a POST or PUT body gives it; strings borrowed from the JSON or held here. */
struct peer_in {
	struct route_peer p;
	const char *eps[ROUTE_ENDPOINTS_MAX];
	const char **owns;
	char (*owns_buf)[ROUTE_ADDR_DOMAIN_MAX + 1];
	char cert[HEX_LEN + 1];
	char token_hash[HEX_LEN + 1];
	char out_token[OUT_TOKEN_MAX + 1]; /* a kept outbound token (secret: cleansed) */
	bool keep_out, keep_cert;          /* left out of a PUT: the old ones stay */
	struct route_pin pins[ROUTE_PINS_MAX];
	bool rotate;
	const char *bad, *why; /* the first field at fault */
	char why_buf[400];     /* a why made for the input (keys[i]: …) */
};

static void peer_in_free(struct peer_in *in)
{
	free(in->owns);
	free(in->owns_buf);
	OPENSSL_cleanse(in->out_token, sizeof(in->out_token));
}

static json_t *prefix_json(const char *hash)
{
	char buf[HASH_PREFIX + 1];

	if (!hash)
		return json_null();
	snprintf(buf, sizeof(buf), "%s", hash);
	return json_string(buf);
}

static json_t *strv_json(const char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

/* [{"kid", "key", "until"}] of the keys pinned for the peer (config or API alike): the key in
 * standard base64, as GET /v1/keys and the config write it. */
static json_t *keys_json(const struct route_peer *p)
{
	unsigned char b64[KEY_B64_LEN + 1];
	json_t *a = json_array();

	for (size_t i = 0; a && i < p->n_pins; i++) {
		const struct route_pin *k = &p->pins[i];

		EVP_EncodeBlock(b64, k->pub, sizeof(k->pub));
		json_array_append_new(a, json_pack("{ss ss so}", "kid", k->kid, "key",
		                                   (const char *)b64, "until",
		                                   admin_time_json(k->until_ms)));
	}
	return a;
}

json_t *admin_peer_json(const struct route_peer *p)
{
	return json_pack(
	    "{ss ss so so sb so so sb sI sI sI sI sb sb sb so}", "name", p->name, "kind",
	    p->kind == ROUTE_PEER_RELAY ? "relay" : "carrier", "endpoints",
	    strv_json(p->endpoints, p->n_endpoints), "owns", strv_json(p->owns, p->n_owns), "pull",
	    (int)(p->n_endpoints == 0), "token_sha256", prefix_json(p->token_sha256), "cert_sha256",
	    prefix_json(p->cert_sha256), "outbound_token", (int)!!p->outbound_token, "rate",
	    (json_int_t)p->rate, "burst", (json_int_t)p->burst, "max_size", (json_int_t)p->max_size,
	    "max_queue", (json_int_t)p->max_queue, "suspended", (int)p->suspended, "read_only",
	    (int)p->read_only, "directory_trusted", (int)p->dir_trusted, "keys", keys_json(p));
}

/* {"peer":…} of the named peer as the table now holds it, with the token when given. */
static json_t *peer_reply(struct relay_req *req, const char *name, const char *token)
{
	const struct route_table *t = routing_acquire(relay_node_routing(req->node));
	const struct route_peer *p = route_table_peer(t, name);
	json_t *root = p ? json_pack("{so}", "peer", admin_peer_json(p)) : NULL;

	routing_release(t);
	if (root && token)
		json_object_set_new(root, "token", json_string(token));
	return root;
}

/* ---------------------------------------------------------------- input */

static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= ROUTE_NAME_MAX &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/* 1..max bytes of visible ASCII: what routing accepts in an HTTP line. */
static bool visible_ok(const char *s, size_t max)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (n >= max || (unsigned char)s[n] <= ' ' || (unsigned char)s[n] >= 0x7f)
			return false;
	return n > 0;
}

static bool url_ok(const char *s)
{
	size_t skip = strncmp(s, "http://", 7) == 0 ? 7 : strncmp(s, "https://", 8) == 0 ? 8 : 0;

	return skip && visible_ok(s, URL_MAX) && s[skip] != '\0' && s[skip] != '/';
}

static bool fail(struct peer_in *in, const char *field, const char *why)
{
	if (!in->bad) {
		in->bad = field;
		in->why = why;
	}
	return false;
}

static bool get_endpoints(struct peer_in *in, json_t *v)
{
	size_t i;
	json_t *e;

	if (!v)
		return true;
	if (!json_is_array(v) || json_array_size(v) > ROUTE_ENDPOINTS_MAX)
		return fail(in, "endpoints", "must be a list of at most 8 http(s) URLs");
	json_array_foreach(v, i, e) {
		if (!json_is_string(e) || !url_ok(json_string_value(e)))
			return fail(in, "endpoints", "each must be an http:// or https:// URL");
		in->eps[i] = json_string_value(e);
	}
	in->p.endpoints = in->eps;
	in->p.n_endpoints = json_array_size(v);
	return true;
}

/* Prefixes ("+8210", "00 82 10") and domains ("line.example", "*.line.example"), normalised. */
static bool get_owns(struct peer_in *in, json_t *v)
{
	size_t i, n = json_array_size(v);
	json_t *e;

	if (!v)
		return true;
	if (!json_is_array(v) || n > OWNS_MAX)
		return fail(in, "owns", "must be a list of E.164 prefixes and domains");
	if (n && (!(in->owns = calloc(n, sizeof(*in->owns))) ||
	          !(in->owns_buf = calloc(n, sizeof(*in->owns_buf)))))
		return fail(in, NULL, "out of memory");
	json_array_foreach(v, i, e) {
		const char *s = json_string_value(e);
		size_t len = json_string_length(e);
		bool num = s && (s[0] == '+' || (s[0] >= '0' && s[0] <= '9'));
		char *o = in->owns_buf[i];
		int rc = !s    ? -ROUTE_EINVAL
		         : num ? route_prefix_parse(s, len, o, ROUTE_ADDR_DOMAIN_MAX + 1)
		               : route_domain_parse(s, len, 1, o, ROUTE_ADDR_DOMAIN_MAX + 1);
		if (rc != 0)
			return fail(in, "owns", "each must be an E.164 prefix (+8210) or a domain");
		in->owns[i] = in->owns_buf[i];
	}
	in->p.owns = in->owns;
	in->p.n_owns = n;
	return true;
}

/* Pinned signing keys: at most ROUTE_PINS_MAX of the config's text form (relay_pin_parse),
 * no key twice; the reason names the element. Absent or null: none. */
static bool get_keys(struct peer_in *in, json_t *v)
{
	char sub[300];
	size_t i;
	json_t *e;

	if (!v || json_is_null(v))
		return true;
	if (!json_is_array(v) || json_array_size(v) > ROUTE_PINS_MAX)
		return fail(in, "keys", "must be a list of at most 8 pinned keys, each " PIN_FORM);
	json_array_foreach(v, i, e) {
		struct route_pin *k = &in->pins[i];
		const char *text = json_string_value(e);
		int rc = -RELAY_ECONFIG;

		if (!text || strlen(text) != json_string_length(e))
			snprintf(sub, sizeof(sub), "must be a string: %s", PIN_FORM);
		else
			rc = relay_pin_parse(text, k, sub, sizeof(sub));
		if (rc == -RELAY_ENOMEM)
			return fail(in, NULL, "out of memory");
		if (rc != 0) {
			snprintf(in->why_buf, sizeof(in->why_buf), "keys[%zu]: %s", i, sub);
			return fail(in, "keys", in->why_buf);
		}
		for (size_t j = 0; j < i; j++)
			if (memcmp(in->pins[j].pub, k->pub, sizeof(k->pub)) == 0) {
				snprintf(in->why_buf, sizeof(in->why_buf),
				         "keys[%zu]: key %s is listed twice (first at keys[%zu])",
				         i, k->kid, j);
				return fail(in, "keys", in->why_buf);
			}
	}
	in->p.pins = in->pins;
	in->p.n_pins = json_array_size(v);
	return true;
}

static bool get_uint(struct peer_in *in, json_t *root, const char *key, json_int_t lo,
                     json_int_t hi, uint64_t *out, const char *why)
{
	json_t *v = json_object_get(root, key);

	if (!v)
		return true;
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return fail(in, key, why);
	*out = (uint64_t)json_integer_value(v);
	return true;
}

/* 64 hex digits, or 32 colon-separated pairs, lower-cased into in->cert. */
static bool get_cert(struct peer_in *in, json_t *v)
{
	const char *s = json_string_value(v);
	size_t n = 0;

	in->keep_cert = !v;
	if (!v || json_is_null(v))
		return true;
	for (; s && *s && n < HEX_LEN; s++) {
		if (*s == ':' && n % 2 == 0 && n > 0)
			continue;
		if (!strchr("0123456789abcdefABCDEF", *s))
			break;
		in->cert[n++] = (char)(*s | 0x20);
	}
	if (!s || *s || n != HEX_LEN)
		return fail(in, "cert_sha256", "must be a SHA-256 fingerprint (64 hex digits)");
	in->cert[n] = '\0';
	in->p.cert_sha256 = in->cert;
	return true;
}

static bool get_scalars(struct peer_in *in, json_t *root, uint64_t max_size)
{
	json_t *kind = json_object_get(root, "kind");
	json_t *out = json_object_get(root, "outbound_token");
	json_t *rot = json_object_get(root, "rotate_token");
	json_t *trusted = json_object_get(root, "directory_trusted");
	uint64_t rate = 1000, burst = 0, msize = max_size, mq = 1000000;

	if (kind && !(json_is_string(kind) && (strcmp(json_string_value(kind), "carrier") == 0 ||
	                                       strcmp(json_string_value(kind), "relay") == 0)))
		return fail(in, "kind", "must be carrier or relay");
	in->p.kind = kind && strcmp(json_string_value(kind), "relay") == 0 ? ROUTE_PEER_RELAY
	                                                                   : ROUTE_PEER_CARRIER;
	if (out && !json_is_null(out) &&
	    !(json_is_string(out) && visible_ok(json_string_value(out), OUT_TOKEN_MAX)))
		return fail(in, "outbound_token", "must be 1-1024 printable characters, no spaces");
	in->p.outbound_token = json_string_value(out);
	in->keep_out = !out;
	if (rot && !json_is_boolean(rot))
		return fail(in, "rotate_token", "must be true or false");
	in->rotate = json_is_true(rot);
	if (trusted && !json_is_boolean(trusted))
		return fail(in, "directory_trusted", "must be true or false");
	in->p.dir_trusted = json_is_true(trusted);
	if (!get_uint(in, root, "rate", 1, 1000000, &rate, "must be an integer 1 to 1000000") ||
	    !get_uint(in, root, "burst", 1, UINT32_MAX, &burst, "must be an integer >= 1") ||
	    !get_uint(in, root, "max_size", 1, (json_int_t)max_size, &msize,
	              "must be 1 to the node's max-message-size (bytes)") ||
	    !get_uint(in, root, "max_queue", 1, INT64_MAX, &mq, "must be an integer >= 1"))
		return false;
	in->p.rate = (uint32_t)rate;
	in->p.burst = burst ? (uint32_t)burst : 2 * (uint32_t)rate;
	in->p.max_size = msize;
	in->p.max_queue = mq;
	return true;
}

/* Fills in from root; `name` is the path's (PUT) or NULL (POST: the body's is required). */
static bool peer_from_body(struct relay_req *req, json_t *root, const char *name,
                           struct peer_in *in)
{
	json_t *jn = json_object_get(root, "name");
	const char *n = json_string_value(jn);

	memset(in, 0, sizeof(*in));
	if (!name && !(n && name_ok(n)))
		return fail(in, "name", "required: 1-64 characters of A-Z a-z 0-9 . _ -");
	if (name && jn && !(n && strcmp(n, name) == 0))
		return fail(in, "name", "does not match the path (a peer cannot be renamed)");
	if (!name && json_object_get(root, "rotate_token"))
		return fail(in, "rotate_token", "unknown field");
	in->p.name = name ? name : n;
	if (!get_scalars(in, root, relay_node_config(req->node)->max_message_size) ||
	    !get_endpoints(in, json_object_get(root, "endpoints")) ||
	    !get_owns(in, json_object_get(root, "owns")) ||
	    !get_cert(in, json_object_get(root, "cert_sha256")) ||
	    !get_keys(in, json_object_get(root, "keys")))
		return false;
	if (in->p.kind == ROUTE_PEER_CARRIER && in->p.n_owns == 0)
		return fail(in, "owns",
		            "a carrier needs owns (the prefixes and domains it sends "
		            "from)");
	return true;
}

/* A new inbound token into tok, its SHA-256 (hex) into hash. 0, or -1 (no randomness). */
static int new_token(char tok[TOKEN_LEN + 1], char hash[HEX_LEN + 1])
{
	unsigned char raw[ADMIN_TOKEN_BYTES], md[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	char *w = tok + sizeof(TOKEN_PREFIX) - 1;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -1;
	memcpy(tok, TOKEN_PREFIX, sizeof(TOKEN_PREFIX) - 1);
	for (size_t i = 0; i < sizeof(raw); i++)
		w += sprintf(w, "%02x", raw[i]);
	OPENSSL_cleanse(raw, sizeof(raw));
	if (EVP_Digest(tok, TOKEN_LEN, md, &n, EVP_sha256(), NULL) != 1 || n * 2 != HEX_LEN)
		return -1;
	for (unsigned i = 0; i < n; i++)
		sprintf(hash + 2 * i, "%02x", md[i]);
	return 0;
}

static void audit(struct relay_req *req, const char *action, const char *name)
{
	const struct admin_principal *p = admin_who(req);
	char u[96];

	relay_log(RELAY_LOG_INFO, "admin_change", "user=%s action=%s object=%s",
	          relay_log_quote(p ? p->user : "?", u, sizeof(u)), action, name);
}

/* ---------------------------------------------------------------- peers */

static enum MHD_Result peers_list(struct relay_req *req)
{
	const struct route_table *t = routing_acquire(relay_node_routing(req->node));
	const struct route_peer *p;
	json_t *arr = json_array();

	for (size_t i = 0; arr && (p = route_table_peer_at(t, i)); i++)
		json_array_append_new(arr, admin_peer_json(p));
	routing_release(t);
	return admin_reply_json(req, MHD_HTTP_OK, arr);
}

/* 0, or the peer's state as an error: -ROUTE_ENOTFOUND, -ROUTE_EEXIST, -ROUTE_EREADONLY. When
 * it exists (a PUT), what no answer shows back stays as it was: the inbound token's hash, the
 * suspension, and the outbound token and certificate pin when in leaves them out. */
static int peer_lookup(struct routing *rt, const char *name, bool want, struct peer_in *in)
{
	const struct route_table *t = routing_acquire(rt);
	const struct route_peer *p = route_table_peer(t, name);
	int rc = 0;

	if (!p)
		rc = want ? -ROUTE_ENOTFOUND : 0;
	else if (p->read_only)
		rc = -ROUTE_EREADONLY;
	else if (!want)
		rc = -ROUTE_EEXIST;
	if (p && rc == 0) {
		snprintf(in->token_hash, sizeof(in->token_hash), "%s",
		         p->token_sha256 ? p->token_sha256 : "");
		in->p.suspended = p->suspended;
		if (in->keep_out && p->outbound_token) {
			snprintf(in->out_token, sizeof(in->out_token), "%s", p->outbound_token);
			in->p.outbound_token = in->out_token;
		}
		if (in->keep_cert && p->cert_sha256) {
			snprintf(in->cert, sizeof(in->cert), "%s", p->cert_sha256);
			in->p.cert_sha256 = in->cert;
		}
	}
	routing_release(t);
	return rc;
}

/* POST /api/peers (path_name NULL) and PUT /api/peers/{name}. */
static enum MHD_Result peer_write(struct relay_req *req, const char *path_name)
{
	struct routing *rt = relay_node_routing(req->node);
	enum MHD_Result ret = MHD_YES;
	char tok[TOKEN_LEN + 1] = "";
	struct peer_in in;
	json_t *root;
	int rc;

	if (!(root = admin_body_object(req, peer_fields, &ret)))
		return ret;
	if (!peer_from_body(req, root, path_name, &in)) {
		ret = in.bad ? relay_reply_error(req, MHD_HTTP_BAD_REQUEST, "bad_field", in.bad,
		                                 in.why)
		             : relay_reply_retry(req, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
		                                 "out of memory", 1);
		goto out;
	}
	rc = peer_lookup(rt, in.p.name, path_name != NULL, &in);
	if (rc == 0 && (!path_name || in.rotate) && new_token(tok, in.token_hash) != 0) {
		ret = relay_reply_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "unavailable", NULL,
		                        "no randomness for a token");
		goto out;
	}
	in.p.token_sha256 = in.token_hash[0] ? in.token_hash : NULL;
	if (rc == 0)
		rc = routing_put_peer(rt, &in.p);
	if (rc != 0) {
		ret = admin_reply_route_error(req, rc, "name");
		goto out;
	}
	audit(req, path_name ? "peer_replace" : "peer_add", in.p.name);
	ret = admin_reply_json(req, path_name ? MHD_HTTP_OK : MHD_HTTP_CREATED,
	                       peer_reply(req, in.p.name, tok[0] ? tok : NULL));
out:
	OPENSSL_cleanse(tok, sizeof(tok));
	peer_in_free(&in);
	json_decref(root);
	return ret;
}

enum MHD_Result admin_h_peers(struct relay_req *req)
{
	if (strcmp(req->method, "GET") == 0)
		return peers_list(req);
	if (!admin_may_write(req))
		return MHD_YES;
	return peer_write(req, NULL);
}

/* 409 in_use, naming the routes that still name the peer. */
static enum MHD_Result reply_in_use(struct relay_req *req, const char *name)
{
	const struct route_table *t = routing_acquire(relay_node_routing(req->node));
	const struct route_entry *e;
	char key[ADMIN_ROUTE_KEY_SZ], reason[512];
	size_t len = (size_t)snprintf(reason, sizeof(reason), "routes still name this peer:");
	json_t *keys = json_array();

	for (size_t i = 0; (e = route_table_route_at(t, i)); i++) {
		if (strcmp(e->peer, name) != 0)
			continue;
		admin_route_key(e, key);
		json_array_append_new(keys, json_string(key));
		if (len < sizeof(reason))
			len += (size_t)snprintf(reason + len, sizeof(reason) - len, " %s", key);
	}
	routing_release(t);
	return admin_reply_json(req, MHD_HTTP_CONFLICT,
	                        json_pack("{ss ss ss so}", "error", "in_use", "field", "name",
	                                  "reason", reason, "routes", keys));
}

static enum MHD_Result peer_action(struct relay_req *req, char *name, const char *action)
{
	static const char *const none[] = {NULL};
	struct routing *rt = relay_node_routing(req->node);
	enum MHD_Result ret = MHD_YES;
	bool suspend = strcmp(action, "suspend") == 0;
	json_t *root;
	int rc;

	if (!suspend && strcmp(action, "resume") != 0)
		return relay_reply_error(req, MHD_HTTP_NOT_FOUND, "not_found", NULL,
		                         "POST /api/peers/{name}/suspend or .../resume");
	if (!(root = admin_body_object(req, none, &ret)))
		return ret;
	json_decref(root);
	rc = name_ok(name) ? routing_set_suspended(rt, name, suspend) : -ROUTE_ENOTFOUND;
	if (rc == -ROUTE_EREADONLY)
		return relay_reply_error(req, MHD_HTTP_CONFLICT, "read_only", "name",
		                         "the config file suspends this peer: change it there");
	if (rc != 0)
		return admin_reply_route_error(req, rc, "name");
	audit(req, suspend ? "peer_suspend" : "peer_resume", name);
	return admin_reply_json(req, MHD_HTTP_OK, peer_reply(req, name, NULL));
}

enum MHD_Result admin_h_peer(struct relay_req *req)
{
	struct routing *rt = relay_node_routing(req->node);
	char *slash = strchr(req->arg, '/');
	int rc;

	if (strcmp(req->method, "POST") == 0) {
		if (!admin_may_write(req))
			return MHD_YES;
		if (!slash)
			return relay_reply_error(req, MHD_HTTP_METHOD_NOT_ALLOWED,
			                         "method_not_allowed", NULL,
			                         "create peers with POST /api/peers");
		*slash = '\0';
		return peer_action(req, req->arg, slash + 1);
	}
	if (slash || !name_ok(req->arg))
		return relay_reply_error(req, MHD_HTTP_NOT_FOUND, "not_found", NULL,
		                         "no such peer");
	if (strcmp(req->method, "GET") == 0) {
		const struct route_table *t = routing_acquire(rt);
		const struct route_peer *p = route_table_peer(t, req->arg);
		json_t *root = p ? admin_peer_json(p) : NULL;
		routing_release(t);
		if (!p)
			return relay_reply_error(req, MHD_HTTP_NOT_FOUND, "not_found", NULL,
			                         "no such peer");
		return admin_reply_json(req, MHD_HTTP_OK, root);
	}
	if (!admin_may_write(req))
		return MHD_YES;
	if (strcmp(req->method, "PUT") == 0)
		return peer_write(req, req->arg);
	rc = routing_del_peer(rt, req->arg);
	if (rc == -ROUTE_EINUSE)
		return reply_in_use(req, req->arg);
	if (rc != 0)
		return admin_reply_route_error(req, rc, "name");
	audit(req, "peer_delete", req->arg);
	return relay_reply(req, MHD_HTTP_NO_CONTENT, "");
}
