/*
 * admin's private parts: the module handle, sessions and principals, and the
 * seams between its files. Nothing outside admin/ includes this file.
 */
#ifndef INTERLINK_ADMIN_PRIV_H
#define INTERLINK_ADMIN_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "admin/admin.h"
#include "queue/queue.h"
#include "relay/relay.h"
#include "routing/routing.h"

#define ADMIN_NAME_MAX 64          /* user and API token names: [A-Za-z0-9._-]{1,64} */
#define ADMIN_PBKDF2_ITERATIONS 200000
#define ADMIN_SESSION_IDLE_MS (30LL * 60 * 1000) /* idle expiry of a session */
#define ADMIN_TOKEN_BYTES 32       /* session ids, CSRF tokens, API tokens: 256 bits */

enum admin_role { ADMIN_ROLE_VIEWER = 1, ADMIN_ROLE_ADMIN = 2 };

/* Who is calling (req->principal for every authenticated admin request). */
struct admin_principal {
	char user[ADMIN_NAME_MAX + 1];    /* the user, or the API token's name */
	enum admin_role role;
	bool api_token;                   /* authenticated by Authorization: Bearer */
	char session[2 * ADMIN_TOKEN_BYTES + 1]; /* session id (hex), "" for API tokens */
	char csrf[2 * ADMIN_TOKEN_BYTES + 1];    /* the session's CSRF token */
};

struct admin_sessions; /* admin_users.c: in-memory sessions, behind their own lock */

struct admin {
	struct relay_node *node;
	struct relay_http *http;
	struct admin_sessions *sessions;
	char url[128];
};

/* =============================================== users, sessions (admin_users.c)
 * Users live in the queue table "admins" (name → versioned record with role,
 * PBKDF2-HMAC-SHA256 salt, iterations and hash); API tokens in
 * "admin_tokens" (SHA-256 of the token → name, role, created). */

struct admin_sessions *admin_sessions_new(void);
void admin_sessions_free(struct admin_sessions *s);

/* First start: creates the bootstrap admin when there is no user (see admin_start). */
int admin_users_bootstrap(struct admin *a, char *err, size_t errlen);

/* Checks a password (constant time; failed logins are rate limited per user
 * and per client address). On success starts a session: *p filled. Returns 0,
 * -1 wrong user or password, -2 rate limited (*retry_s set). */
int admin_login(struct admin *a, const char *user, const char *password, const char *client,
		struct admin_principal *p, unsigned *retry_s);
void admin_logout(struct admin *a, const char *session);

/* The session of a cookie value, touched (idle expiry), or -1. */
int admin_session_get(struct admin *a, const char *session, int64_t now_ms,
		      struct admin_principal *p);
/* The API token's principal, or -1. */
int admin_token_check(struct admin *a, const char *token, struct admin_principal *p);

/* ====================================================== frame (admin_http.c) */

/* The authenticate hook: cookie session (state-changing methods also need the
 * X-CSRF-Token header equal to the session's token: else 403) or Bearer API
 * token; no principal → 401. Sets req->principal (freed by the req_free hook). */
int admin_authenticate(struct relay_req *req);

/* Whether the caller may change things (role admin); else answers 403 and returns false. */
bool admin_may_write(struct relay_req *req);

/* The principal of an authenticated request. */
static inline const struct admin_principal *admin_who(const struct relay_req *req)
{
	return req->principal;
}

/* ============================================================== handlers */

/* admin_users.c: POST /api/login, POST /api/logout, GET /api/session,
 * users and API tokens CRUD */
enum MHD_Result admin_h_login(struct relay_req *req);
enum MHD_Result admin_h_logout(struct relay_req *req);
enum MHD_Result admin_h_session(struct relay_req *req);
enum MHD_Result admin_h_users(struct relay_req *req);      /* GET, POST /api/users */
enum MHD_Result admin_h_user(struct relay_req *req);       /* PUT, DELETE /api/users/{name} */
enum MHD_Result admin_h_tokens(struct relay_req *req);     /* GET, POST /api/tokens */
enum MHD_Result admin_h_token(struct relay_req *req);      /* DELETE /api/tokens/{name} */

/* admin_api.c: node status, peers, routes, directory, route tester, reload */
enum MHD_Result admin_h_status(struct relay_req *req);     /* GET /api/status */
enum MHD_Result admin_h_peers(struct relay_req *req);      /* GET, POST /api/peers */
enum MHD_Result admin_h_peer(struct relay_req *req);       /* GET, PUT, DELETE /api/peers/{name}
							      POST .../suspend, .../resume */
enum MHD_Result admin_h_routes(struct relay_req *req);     /* GET, POST /api/routes */
enum MHD_Result admin_h_route(struct relay_req *req);      /* DELETE /api/routes/{key} */
enum MHD_Result admin_h_directory(struct relay_req *req);  /* GET, PUT, DELETE
							      /api/directory/{address} */
enum MHD_Result admin_h_route_test(struct relay_req *req); /* GET /api/route-test?to=&from= */
enum MHD_Result admin_h_reload(struct relay_req *req);     /* POST /api/reload */

/* admin_queue.c: the queue browser and its actions */
enum MHD_Result admin_h_messages(struct relay_req *req);   /* GET /api/messages?peer=&state=
							      &older=&after=&limit= */
enum MHD_Result admin_h_message(struct relay_req *req);    /* GET /api/messages/{rid};
							      POST .../retry|hold|release|purge */

/* admin_metrics.c: GET /metrics (no session: scrapers; loopback listener) */
enum MHD_Result admin_h_metrics(struct relay_req *req);

/* admin_console.c: GET / and the console's static files (compiled in) */
enum MHD_Result admin_h_console(struct relay_req *req);

#endif
