/*
 * The carrier API: its routes on the HTTP frame (relay_http.c), the health
 * check, and peer authentication (relay_auth.c) as its hook.
 */
#include "relay/relay_priv.h"

#define KIB 1024u
#define MIB (1024u * 1024u)

/* GET /v1/health: for load balancers; no auth and no detail. 503 while the
 * store is full or failing, since the node then accepts no messages. */
static enum MHD_Result h_health(struct relay_req *req)
{
	struct queue_store_stat st;

	queue_store_stat(req->node->q, &st);
	if (st.full)
		return relay_reply_json_retry(req, MHD_HTTP_SERVICE_UNAVAILABLE,
					      "{\"status\":\"full\"}", 30);
	if (st.failing)
		return relay_reply_json_retry(req, MHD_HTTP_SERVICE_UNAVAILABLE,
					      "{\"status\":\"store_error\"}", 30);
	return relay_reply(req, MHD_HTTP_OK, "{\"status\":\"ok\"}");
}

static const struct relay_http_route routes[] = {
	/* method, path, has_arg, auth, body_max, handler, body_any */
	{"GET", "/v1/health", false, false, 0, h_health, false},
	{"GET", "/v1/keys", false, false, 0, relay_h_keys, false},
	{"POST", "/v1/messages", false, true, 16 * MIB, relay_h_submit, false},
	{"GET", "/v1/messages/", true, true, 0, relay_h_status, false},
	{"GET", "/v1/inbox", false, true, 0, relay_h_inbox, false},
	{"POST", "/v1/inbox/ack", false, true, 1 * MIB, relay_h_ack, false},
	{"PUT", "/v1/directory/", true, true, 64 * KIB, relay_h_dir_put, false},
	{"DELETE", "/v1/directory/", true, true, 0, relay_h_dir_del, false},
};

static const struct relay_http_ops carrier_ops = {
	.name = "carrier",
	.listener = RELAY_LISTENER_CARRIER,
	.authenticate = relay_authenticate,
};

int relay_api_start(struct relay_node *node, char *err, size_t errlen)
{
	return relay_http_start(node, routes, sizeof(routes) / sizeof(routes[0]), &carrier_ops,
				NULL, &node->api, err, errlen);
}
