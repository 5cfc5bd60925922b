/*
 * admin's private parts: the module handle, sessions and principals, and the
 * seams between its files. Nothing outside admin/ includes this file.
 */
#ifndef INTERLINK_ADMIN_PRIV_H
#define INTERLINK_ADMIN_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
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

struct admin_sessions; /* admin_session.c: in-memory sessions, behind their own lock */

/*
 * admin_api.c: samples of the node's counters for the accepted and delivered rates of
 * GET /api/status. A sample is kept at most once a second in a ring; a rate is the change
 * from the oldest sample of the last ADMIN_RATES_WINDOW_MS (or, before there is one, the
 * average since start) to now. `busy` is a try-lock (zero = free, as calloc leaves it): a
 * status call that finds it taken answers the average since start instead of waiting.
 */
#define ADMIN_RATES_SAMPLES 16
#define ADMIN_RATES_WINDOW_MS 10000
struct admin_rates {
	atomic_int busy;
	unsigned head, n; /* the newest sample is s[(head + n - 1) % SAMPLES] */
	struct {
		int64_t at_ms;
		uint64_t accepted, delivered;
	} s[ADMIN_RATES_SAMPLES];
};

struct admin {
	struct relay_node *node;
	struct relay_http *http;
	struct admin_sessions *sessions;
	char url[128];
	struct admin_rates rates;
};

/* ================== users, tokens (admin_users.c), sessions (admin_session.c)
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

/* The same on the session table alone, with "now" and the idle expiry passed in
 * (unit tests use a fake clock). All take the table's lock.
 * open: a new session for user (evicting the least recently used one when
 * ADMIN_SESSIONS_MAX are open); 0, or -1 when no randomness. find: 0 and *p
 * (the session touched), or -1 (unknown or idle longer than idle_ms: then gone).
 * forget: removes sessions of `user` (role 0) except `keep` (may be NULL), or
 * sets their role. */
#define ADMIN_SESSIONS_MAX 10000
int admin_sessions_open(struct admin_sessions *s, const char *user, enum admin_role role,
			int64_t now_ms, struct admin_principal *p);
int admin_sessions_find(struct admin_sessions *s, const char *session, int64_t now_ms,
			int64_t idle_ms, struct admin_principal *p);
void admin_sessions_close(struct admin_sessions *s, const char *session);
void admin_sessions_forget(struct admin_sessions *s, const char *user, int role,
			   const char *keep);
size_t admin_sessions_count(struct admin_sessions *s);

/* The failed-login limiter, per key ("u:NAME", "a:ADDRESS"): after ADMIN_FAIL_MAX
 * failures, each less than ADMIN_FAIL_WINDOW_MS after the one before (or after the
 * end of a lock), a key is locked for 60 s, doubling with each further failure up
 * to 15 min. At most 4096 keys are kept (the least recently failed are dropped).
 * check: 0, or -2 with *retry_s while locked. fail: counts one. reset: forgets. */
#define ADMIN_FAIL_MAX 5
#define ADMIN_FAIL_WINDOW_MS (10LL * 60 * 1000)
int admin_limit_check(struct admin_sessions *s, const char *key, int64_t now_ms,
		      unsigned *retry_s);
void admin_limit_fail(struct admin_sessions *s, const char *key, int64_t now_ms);
void admin_limit_reset(struct admin_sessions *s, const char *key);

/* admin_session.c: the lock that serialises check-then-write of users and tokens;
 * the session idle expiry in force (ms). */
pthread_mutex_t *admin_sessions_write_lock(struct admin_sessions *s);
int64_t admin_session_idle_ms(const struct admin *a);

/* admin_users.c: checks a password, always with one full PBKDF2 (also for an
 * unknown or malformed name). 0 and *role, or -1. Not rate limited (admin_login is). */
int admin_user_verify(struct admin *a, const char *user, const char *password,
		      enum admin_role *role);
/* "admin" or "viewer" (static). */
const char *admin_role_name(enum admin_role r);

/* admin_users.c: the stored user and token records (non-static for tests/fuzz/fuzz_admin_record.c).
 * User: version, role, iterations (u32 LE), salt, hash. Token: version, role, created_ms
 * (i64 LE), name length, name. decode: 0, or -1 when malformed. */
#define ADMIN_USER_REC_LEN (1 + 1 + 4 + RELAY_PBKDF2_SALT + RELAY_PBKDF2_HASH)
#define ADMIN_TOKEN_REC_MAX (11 + ADMIN_NAME_MAX)
struct admin_user_rec {
	enum admin_role role;
	uint32_t iterations;
	unsigned char salt[RELAY_PBKDF2_SALT], hash[RELAY_PBKDF2_HASH];
};
struct admin_token_rec {
	enum admin_role role;
	int64_t created_ms;
	char name[ADMIN_NAME_MAX + 1];
};
void admin_user_record_encode(const struct admin_user_rec *u,
			      unsigned char out[ADMIN_USER_REC_LEN]);
int admin_user_record_decode(const unsigned char *b, size_t len, struct admin_user_rec *u);
size_t admin_token_record_encode(const struct admin_token_rec *t, unsigned char *b);
int admin_token_record_decode(const unsigned char *b, size_t len, struct admin_token_rec *t);

/* JSON helpers for admin handlers (admin_session.c).
 * body: the request body as a JSON object holding only `keys` (NULL-terminated);
 * else answers 400 ("bad_json", or "bad_field" naming the unknown fields) and
 * returns NULL. The caller owns the object (json_decref).
 * str: a string member (borrowed from root; NULL when absent and !required); else
 * answers 400 naming the field and returns -1.
 * reply_empty: 204, with a Set-Cookie header when set_cookie is not NULL.
 * (admin_reply_json, of admin_api.c, answers a JSON object.) */
struct json_t;
struct json_t *admin_json_body(struct relay_req *req, const char *const *keys);
int admin_json_str(struct relay_req *req, struct json_t *root, const char *key, bool required,
		   const char **out);
enum MHD_Result admin_reply_empty(struct relay_req *req, const char *set_cookie);

/* Lower-case hex of n bytes into out (2n + 1 bytes). admin_session.c */
void admin_hex(const unsigned char *b, size_t n, char *out);

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

/* admin_session.c: POST /api/login, POST /api/logout, GET /api/session;
 * admin_users.c: users and API tokens CRUD */
enum MHD_Result admin_h_login(struct relay_req *req);
enum MHD_Result admin_h_logout(struct relay_req *req);
enum MHD_Result admin_h_session(struct relay_req *req);
enum MHD_Result admin_h_users(struct relay_req *req);      /* GET, POST /api/users */
enum MHD_Result admin_h_user(struct relay_req *req);       /* PUT, DELETE /api/users/{name} */
enum MHD_Result admin_h_tokens(struct relay_req *req);     /* GET, POST /api/tokens */
enum MHD_Result admin_h_token(struct relay_req *req);      /* DELETE /api/tokens/{name} */

/* admin_api.c: node status, routes, directory, route tester, reload; admin_peers.c: peers */
enum MHD_Result admin_h_status(struct relay_req *req);     /* GET /api/status */
enum MHD_Result admin_h_peers(struct relay_req *req);      /* GET, POST /api/peers */
enum MHD_Result admin_h_peer(struct relay_req *req);       /* GET, PUT, DELETE /api/peers/{name}
							      POST .../suspend, .../resume */
enum MHD_Result admin_h_routes(struct relay_req *req);     /* GET, POST /api/routes */
enum MHD_Result admin_h_route(struct relay_req *req);      /* DELETE /api/routes/{key} */
enum MHD_Result admin_h_directory(struct relay_req *req);  /* GET, PUT, DELETE
							      /api/directory/{address},
							      POST .../{address}/approve */
enum MHD_Result admin_h_directory_pending(struct relay_req *req); /* GET
							      /api/directory-pending */
enum MHD_Result admin_h_route_test(struct relay_req *req); /* GET /api/route-test?to=&from= */
enum MHD_Result admin_h_reload(struct relay_req *req);     /* POST /api/reload */

/* Helpers of admin_api.c that admin_peers.c shares (jansson's json_t is struct json_t). */
struct json_t;
/* Answers root as JSON (steals the reference; NULL or out of memory: 503). */
enum MHD_Result admin_reply_json(struct relay_req *req, unsigned status, struct json_t *root);
/* Answers a routing error: 400/404/409/500/507 as docs/admin-api.md lists; field may be NULL. */
enum MHD_Result admin_reply_route_error(struct relay_req *req, int rc, const char *field);
/* The request body as a JSON object whose keys are all in `allowed` (NULL-terminated); else
 * answers 400 (bad_json, or bad_field naming the unknown fields) and returns NULL. The caller
 * owns the object (json_decref). */
struct json_t *admin_body_object(struct relay_req *req, const char *const *allowed,
				 enum MHD_Result *ret);
/* A route's key as the API names it: "p:+8210", "d:line.example" or "default". */
#define ADMIN_ROUTE_KEY_SZ (2 + ROUTE_ADDR_DOMAIN_MAX + 1)
void admin_route_key(const struct route_entry *e, char key[ADMIN_ROUTE_KEY_SZ]);
/* A time in ms as the API writes times, "2026-11-26T08:43:35Z" (UTC); null for 0 or less. */
struct json_t *admin_time_json(int64_t ms);
/* The route table's peer as JSON (secrets never; hashes as a 12-digit prefix), with the keys
 * it pins ({"kid","key","until"}: public keys are no secret); NULL on OOM. */
struct json_t *admin_peer_json(const struct route_peer *p);

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
