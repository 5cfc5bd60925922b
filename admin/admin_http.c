/*
 * The admin listener: its routes on relay's HTTP frame, and the hook that
 * authenticates each request (session cookie plus CSRF token, or an API token).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "admin/admin_priv.h"

#define KIB 1024u

const char *const admin_queue_tables[] = {"admins", "admin_tokens"};

/* method, path, has_arg, auth, body_max, handler, body_any */
static const struct relay_http_route routes[] = {
	{"GET", "/", false, false, 0, admin_h_console, false},
	{"GET", "/static/", true, false, 0, admin_h_console, false},
	{"GET", "/metrics", false, false, 0, admin_h_metrics, false},
	{"POST", "/api/login", false, false, 4 * KIB, admin_h_login, false},
	{"POST", "/api/logout", false, true, 0, admin_h_logout, false},
	{"GET", "/api/session", false, true, 0, admin_h_session, false},
	{"GET", "/api/status", false, true, 0, admin_h_status, false},
	{"GET", "/api/peers", false, true, 0, admin_h_peers, false},
	{"POST", "/api/peers", false, true, 64 * KIB, admin_h_peers, false},
	{"GET", "/api/peers/", true, true, 0, admin_h_peer, false},
	{"PUT", "/api/peers/", true, true, 64 * KIB, admin_h_peer, false},
	{"DELETE", "/api/peers/", true, true, 0, admin_h_peer, false},
	{"POST", "/api/peers/", true, true, 4 * KIB, admin_h_peer, false},
	{"GET", "/api/routes", false, true, 0, admin_h_routes, false},
	{"POST", "/api/routes", false, true, 4 * KIB, admin_h_routes, false},
	{"DELETE", "/api/routes/", true, true, 0, admin_h_route, false},
	{"GET", "/api/directory/", true, true, 0, admin_h_directory, false},
	{"PUT", "/api/directory/", true, true, 4 * KIB, admin_h_directory, false},
	{"DELETE", "/api/directory/", true, true, 0, admin_h_directory, false},
	{"POST", "/api/directory/", true, true, 4 * KIB, admin_h_directory, false},
	{"GET", "/api/directory-pending", false, true, 0, admin_h_directory_pending, false},
	{"GET", "/api/route-test", false, true, 0, admin_h_route_test, false},
	{"POST", "/api/reload", false, true, 0, admin_h_reload, false},
	{"GET", "/api/messages", false, true, 0, admin_h_messages, false},
	{"GET", "/api/messages/", true, true, 0, admin_h_message, false},
	{"POST", "/api/messages/", true, true, 4 * KIB, admin_h_message, false},
	{"GET", "/api/users", false, true, 0, admin_h_users, false},
	{"POST", "/api/users", false, true, 4 * KIB, admin_h_users, false},
	{"PUT", "/api/users/", true, true, 4 * KIB, admin_h_user, false},
	{"DELETE", "/api/users/", true, true, 0, admin_h_user, false},
	{"GET", "/api/tokens", false, true, 0, admin_h_tokens, false},
	{"POST", "/api/tokens", false, true, 4 * KIB, admin_h_tokens, false},
	{"DELETE", "/api/tokens/", true, true, 0, admin_h_token, false},
};

static bool changes_state(const char *method)
{
	return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0;
}

int admin_authenticate(struct relay_req *req)
{
	struct admin *a = req->ctx;
	struct admin_principal *p = calloc(1, sizeof(*p));
	const char *auth = relay_req_header(req, MHD_HTTP_HEADER_AUTHORIZATION);
	const char *cookie =
		MHD_lookup_connection_value(req->conn, MHD_COOKIE_KIND, "interlink_session");

	if (!p) {
		relay_reply_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", NULL,
				  "out of memory");
		return -1;
	}
	req->principal = p;
	if (auth && strncmp(auth, "Bearer ", 7) == 0) {
		if (admin_token_check(a, auth + 7, p) == 0)
			return 0;
		relay_reply_error(req, MHD_HTTP_UNAUTHORIZED, "unauthorized", NULL,
				  "unknown API token");
		return -1;
	}
	if (!cookie || admin_session_get(a, cookie, relay_now_ms(), p) != 0) {
		relay_reply_error(req, MHD_HTTP_UNAUTHORIZED, "unauthorized", NULL,
				  "log in first (no session, or it expired)");
		return -1;
	}
	if (changes_state(req->method)) {
		const char *csrf = relay_req_header(req, "X-CSRF-Token");
		size_t n = strlen(p->csrf);
		if (!csrf || strlen(csrf) != n || CRYPTO_memcmp(csrf, p->csrf, n) != 0) {
			relay_reply_error(req, MHD_HTTP_FORBIDDEN, "csrf", NULL,
					  "missing or wrong X-CSRF-Token header");
			return -1;
		}
	}
	return 0;
}

bool admin_may_write(struct relay_req *req)
{
	const struct admin_principal *p = admin_who(req);

	if (p && p->role == ADMIN_ROLE_ADMIN)
		return true;
	relay_reply_error(req, MHD_HTTP_FORBIDDEN, "forbidden", NULL,
			  "this account may only look (role viewer)");
	return false;
}

static void free_principal(struct relay_req *req)
{
	free(req->principal);
	req->principal = NULL;
}

static const struct relay_http_ops admin_ops = {
	.name = "admin",
	.listener = RELAY_LISTENER_ADMIN,
	.authenticate = admin_authenticate,
	.req_free = free_principal,
};

int admin_start(struct relay_node *node, struct admin **out, char *err, size_t errlen)
{
	struct admin *a = calloc(1, sizeof(*a));
	int rc;

	if (!a || !(a->sessions = admin_sessions_new())) {
		free(a);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	a->node = node;
	if ((rc = admin_users_bootstrap(a, err, errlen)) != 0 ||
	    (rc = relay_http_start(node, routes, sizeof(routes) / sizeof(routes[0]), &admin_ops,
				   a, &a->http, err, errlen)) != 0) {
		admin_sessions_free(a->sessions);
		free(a);
		return -1;
	}
	snprintf(a->url, sizeof(a->url), "%s", relay_http_url(a->http));
	*out = a;
	return 0;
}

const char *admin_url(const struct admin *a)
{
	return a->url;
}

void admin_stop(struct admin *a)
{
	if (a)
		relay_http_stop(a->http);
}

void admin_free(struct admin *a)
{
	if (!a)
		return;
	relay_http_free(a->http);
	admin_sessions_free(a->sessions);
	free(a);
}
