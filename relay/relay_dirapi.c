/*
 * The carriers' side of the subscriber directory: PUT and DELETE /v1/directory/{address} add,
 * replace or remove the caller's own account in an address's entry. The account's peer is
 * always the caller, so a carrier can never write another carrier's line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "relay/relay_priv.h"

#define DIR_FULL_RETRY_S 30

/* A routing error as the carrier sees it. */
static enum MHD_Result reply_route_error(struct relay_req *req, int rc)
{
	char q[160];

	switch (-rc) {
	case ROUTE_EPERM:
		return relay_reply_error(req, MHD_HTTP_FORBIDDEN, "forbidden", NULL,
					 "a carrier manages only its own accounts");
	case ROUTE_ENOPEER:
		return relay_reply_error(req, MHD_HTTP_FORBIDDEN, "forbidden", NULL,
					 "the calling peer no longer exists");
	case ROUTE_EINVAL:
		return relay_reply_error(req, MHD_HTTP_BAD_REQUEST, "bad_field", NULL,
					 "the entry already holds the most accounts it can (8)");
	case ROUTE_ENOTFOUND:
		return relay_reply_error(req, MHD_HTTP_NOT_FOUND, "not_found", NULL,
					 "you have no account at this address");
	case ROUTE_EFULL:
		return relay_reply_retry(req, MHD_HTTP_INSUFFICIENT_STORAGE, "store_full",
					 "the store is full; retry later", DIR_FULL_RETRY_S);
	case ROUTE_ENOMEM:
		return relay_reply_retry(req, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
					 "out of memory", 1);
	default:
		relay_log(RELAY_LOG_ERROR, "directory_store_error", "peer=%s reason=%s",
			  req->peer->name, relay_log_quote(route_strerror(rc), q, sizeof(q)));
		return relay_reply_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "store_error", NULL,
					 route_strerror(rc));
	}
}

/* Parses an address (of the path or the body); on failure answers 400 naming `field`. */
static bool parse_addr(struct relay_req *req, const char *text, size_t len, const char *field,
		       struct route_addr *out, enum MHD_Result *ret)
{
	int rc = route_addr_parse(text, len, relay_cfg(req->node)->default_country, out);

	if (rc == 0)
		return true;
	*ret = relay_reply_error(req, MHD_HTTP_BAD_REQUEST, "bad_field", field,
				 route_strerror(rc));
	return false;
}

/* A JSON integer in lo..hi. */
static bool int_in(json_t *v, json_int_t lo, json_int_t hi, uint32_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return false;
	*out = (uint32_t)json_integer_value(v);
	return true;
}

int relay_dir_account_field(const char *key, json_t *v, const char *default_country,
			    struct route_account *acc, const char **why)
{
	uint32_t n;
	int rc;

	if (strcmp(key, "account") == 0) {
		if (!json_is_string(v)) {
			*why = "must be an address (a string)";
			return -1;
		}
		rc = route_addr_parse(json_string_value(v), json_string_length(v),
				      default_country, &acc->addr);
		*why = rc ? route_strerror(rc) : NULL;
	} else if (strcmp(key, "priority") == 0) {
		*why = int_in(v, 0, 255, &n) ? NULL
					     : "must be an integer 0 to 255 (lower is preferred)";
		if (!*why)
			acc->priority = (uint8_t)n;
	} else if (strcmp(key, "failover") == 0) {
		*why = json_is_boolean(v) ? NULL : "must be true or false";
		if (!*why)
			acc->failover = json_is_true(v);
	} else if (strcmp(key, "failover_delay") == 0) {
		*why = int_in(v, 0, RELAY_DIR_DELAY_MAX_S, &n)
			       ? NULL
			       : "must be an integer 0 to 604800 (seconds)";
		if (!*why)
			acc->failover_delay_s = n;
	} else {
		return 1;
	}
	return *why ? -1 : 0;
}

/* One body field into acc; on failure answers 400 naming it. */
static bool put_field(struct relay_req *req, const char *key, json_t *v,
		      struct route_account *acc, enum MHD_Result *ret)
{
	const char *why = NULL;
	int rc = relay_dir_account_field(key, v, relay_cfg(req->node)->default_country, acc, &why);

	if (rc == 1) {
		char name[32];
		size_t i = 0;
		for (; key[i] && i + 1 < sizeof(name); i++)
			name[i] = key[i] > 0x20 && key[i] < 0x7f ? key[i] : '?';
		name[i] = '\0';
		*ret = relay_reply_error(req, MHD_HTTP_BAD_REQUEST, "bad_field", name,
					 "unknown field");
		return false;
	}
	if (rc != 0)
		*ret = relay_reply_error(req, MHD_HTTP_BAD_REQUEST, "bad_field", key, why);
	return rc == 0;
}

/* The PUT body into acc (defaults: the same address, priority 0, no failover, 600 s). */
static bool parse_body(struct relay_req *req, const struct route_addr *addr,
		       struct route_account *acc, enum MHD_Result *ret)
{
	json_error_t jerr;
	json_t *root, *v;
	const char *key;
	bool ok = true;

	*acc = (struct route_account){.addr = *addr, .failover_delay_s = RELAY_DIR_DELAY_DEFAULT_S};
	snprintf(acc->peer, sizeof(acc->peer), "%s", req->peer->name);
	if (req->len == 0) /* no body: every default */
		return true;
	root = json_loadb(req->body, req->len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(root)) {
		char reason[256]; /* jansson's text is up to 159 bytes */
		if (root)
			snprintf(reason, sizeof(reason), "the body must be a JSON object");
		else
			snprintf(reason, sizeof(reason), "%s (line %d, column %d)", jerr.text,
				 jerr.line, jerr.column);
		*ret = relay_reply_error(req, MHD_HTTP_BAD_REQUEST, "bad_json", NULL, reason);
		json_decref(root);
		return false;
	}
	json_object_foreach(root, key, v) {
		if (!(ok = put_field(req, key, v, acc, ret)))
			break;
	}
	json_decref(root);
	return ok;
}

json_t *relay_dir_entry_json(const struct route_dir_entry *e)
{
	json_t *accs = json_array();

	for (size_t i = 0; accs && i < e->n; i++) {
		const struct route_account *a = &e->acc[i];
		if (json_array_append_new(
			accs, json_pack("{sssssisbsIsb}", "peer", a->peer, "account", a->addr.text,
					"priority", (int)a->priority, "failover", (int)a->failover,
					"failover_delay", (json_int_t)a->failover_delay_s,
					"pending", (int)a->pending)) != 0) {
			json_decref(accs);
			return NULL;
		}
	}
	return accs ? json_pack("{ssso}", "address", e->addr.text, "accounts", accs) : NULL;
}

/* The entry as text; malloc'd, or NULL. */
static char *entry_json(const struct route_dir_entry *e)
{
	json_t *root = relay_dir_entry_json(e);
	char *text = root ? json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

	json_decref(root);
	return text;
}

enum MHD_Result relay_h_dir_put(struct relay_req *req)
{
	enum MHD_Result ret = MHD_YES;
	struct route_addr addr;
	struct route_account acc;
	struct route_dir_entry e;
	bool pending = false;
	char *text;
	int rc;

	if (!parse_addr(req, req->arg, strlen(req->arg), "address", &addr, &ret) ||
	    !parse_body(req, &addr, &acc, &ret))
		return ret;
	/* routing writes the store and waits for the commit: directory changes are rare */
	rc = route_dir_put(req->node->routing, req->peer->name, &addr, &acc, &pending);
	if (rc == 0)
		rc = route_dir_get(req->node->routing, &addr, &e);
	if (rc != 0)
		return reply_route_error(req, rc);
	/* a line outside the carrier's own space waits for the node's operator (202) */
	relay_log(pending ? RELAY_LOG_WARN : RELAY_LOG_INFO, "directory_put",
		  "peer=%s accounts=%zu pending=%s", req->peer->name, e.n, pending ? "yes" : "no");
	if (!(text = entry_json(&e)))
		return relay_reply_retry(req, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
					 "out of memory", 1);
	ret = relay_reply(req, pending ? MHD_HTTP_ACCEPTED : MHD_HTTP_OK, text);
	free(text);
	return ret;
}

enum MHD_Result relay_h_dir_del(struct relay_req *req)
{
	enum MHD_Result ret = MHD_YES;
	struct route_addr addr;
	int rc;

	if (!parse_addr(req, req->arg, strlen(req->arg), "address", &addr, &ret))
		return ret;
	rc = route_dir_del(req->node->routing, req->peer->name, &addr, req->peer->name);
	if (rc != 0)
		return reply_route_error(req, rc);
	relay_log(RELAY_LOG_INFO, "directory_del", "peer=%s", req->peer->name);
	return relay_reply(req, MHD_HTTP_NO_CONTENT, "");
}
