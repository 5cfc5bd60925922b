/*
 * Console sessions and logins: random session ids and CSRF tokens in memory
 * behind one lock, idle expiry, the failed-login limiter, the login, logout
 * and session endpoints, and the JSON helpers admin's handlers share.
 */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "admin/admin_priv.h"

#define HEX_ID       (2 * ADMIN_TOKEN_BYTES)
#define LIMITS_MAX   4096
#define LOCK_FIRST_S 60u
#define LOCK_MAX_S   900u

struct session {
	unsigned char id[ADMIN_TOKEN_BYTES];
	char csrf[HEX_ID + 1];
	char user[ADMIN_NAME_MAX + 1];
	enum admin_role role;
	int64_t seen_ms;
	bool used;
};

struct limit {
	char key[ADMIN_NAME_MAX + 72];
	unsigned fails, lock_s;
	int64_t last_ms, until_ms;
};

struct admin_sessions {
	pthread_mutex_t lock;       /* sessions and limits */
	pthread_mutex_t write_lock; /* serialises check-then-write of users and tokens */
	struct session *s;
	size_t n; /* slots in use or once used: s[0..n) */
	struct limit *l;
	size_t nl;
};

/* ------------------------------------------------------------ helpers */

void admin_hex(const unsigned char *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

static int unhex(const char *s, unsigned char *out, size_t n)
{
	if (strlen(s) != 2 * n)
		return -1;
	for (size_t i = 0; i < 2 * n; i++) {
		char c = s[i];
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (v < 0)
			return -1;
		out[i / 2] = (unsigned char)(i % 2 ? (out[i / 2] | v) : v << 4);
	}
	return 0;
}

int64_t admin_session_idle_ms(const struct admin *a)
{
	const struct relay_config *cfg = relay_node_config(a->node);

	return cfg->admin.session_idle_ms ? (int64_t)cfg->admin.session_idle_ms
	                                  : ADMIN_SESSION_IDLE_MS;
}

/* ------------------------------------------------------------ sessions */

struct admin_sessions *admin_sessions_new(void)
{
	struct admin_sessions *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->s = calloc(ADMIN_SESSIONS_MAX, sizeof(*s->s));
	s->l = calloc(LIMITS_MAX, sizeof(*s->l));
	if (!s->s || !s->l) {
		free(s->s);
		free(s->l);
		free(s);
		return NULL;
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->write_lock, NULL);
	return s;
}

void admin_sessions_free(struct admin_sessions *s)
{
	if (!s)
		return;
	OPENSSL_cleanse(s->s, ADMIN_SESSIONS_MAX * sizeof(*s->s));
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->write_lock);
	free(s->s);
	free(s->l);
	free(s);
}

static void fill(const struct session *e, struct admin_principal *p)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->user, sizeof(p->user), "%s", e->user);
	p->role = e->role;
	admin_hex(e->id, sizeof(e->id), p->session);
	snprintf(p->csrf, sizeof(p->csrf), "%s", e->csrf);
}

int admin_sessions_open(struct admin_sessions *s, const char *user, enum admin_role role,
                        int64_t now_ms, struct admin_principal *p)
{
	unsigned char csrf[ADMIN_TOKEN_BYTES];
	struct session *e = NULL;

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->n && !e; i++)
		if (!s->s[i].used)
			e = &s->s[i];
	if (!e && s->n < ADMIN_SESSIONS_MAX)
		e = &s->s[s->n++];
	if (!e) { /* full: evict the least recently used */
		e = &s->s[0];
		for (size_t i = 1; i < s->n; i++)
			if (s->s[i].seen_ms < e->seen_ms)
				e = &s->s[i];
	}
	memset(e, 0, sizeof(*e));
	if (RAND_bytes(e->id, sizeof(e->id)) != 1 || RAND_bytes(csrf, sizeof(csrf)) != 1) {
		pthread_mutex_unlock(&s->lock);
		return -1;
	}
	admin_hex(csrf, sizeof(csrf), e->csrf);
	snprintf(e->user, sizeof(e->user), "%s", user);
	e->role = role;
	e->seen_ms = now_ms;
	e->used = true;
	fill(e, p);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* The slot of a session id (compared in constant time against each), or NULL.
 * Drops expired sessions on the way when idle_ms > 0. Under the lock. */
static struct session *find_locked(struct admin_sessions *s, const char *session, int64_t now_ms,
                                   int64_t idle_ms)
{
	unsigned char id[ADMIN_TOKEN_BYTES];
	struct session *hit = NULL;

	if (unhex(session, id, sizeof(id)) != 0)
		return NULL;
	for (size_t i = 0; i < s->n; i++) {
		struct session *e = &s->s[i];
		if (!e->used)
			continue;
		if (idle_ms > 0 && now_ms - e->seen_ms > idle_ms) {
			memset(e, 0, sizeof(*e));
			continue;
		}
		if (CRYPTO_memcmp(e->id, id, sizeof(id)) == 0)
			hit = e;
	}
	return hit;
}

int admin_sessions_find(struct admin_sessions *s, const char *session, int64_t now_ms,
                        int64_t idle_ms, struct admin_principal *p)
{
	struct session *e;

	pthread_mutex_lock(&s->lock);
	e = find_locked(s, session, now_ms, idle_ms);
	if (e) {
		if (now_ms > e->seen_ms)
			e->seen_ms = now_ms;
		fill(e, p);
	}
	pthread_mutex_unlock(&s->lock);
	return e ? 0 : -1;
}

void admin_sessions_close(struct admin_sessions *s, const char *session)
{
	struct session *e;

	pthread_mutex_lock(&s->lock);
	if ((e = find_locked(s, session, 0, 0)))
		memset(e, 0, sizeof(*e));
	pthread_mutex_unlock(&s->lock);
}

void admin_sessions_forget(struct admin_sessions *s, const char *user, int role, const char *keep)
{
	unsigned char k[ADMIN_TOKEN_BYTES];
	bool has_keep = keep && unhex(keep, k, sizeof(k)) == 0;

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->n; i++) {
		struct session *e = &s->s[i];
		if (!e->used || strcmp(e->user, user) != 0)
			continue;
		if (role)
			e->role = (enum admin_role)role;
		else if (!has_keep || CRYPTO_memcmp(e->id, k, sizeof(k)) != 0)
			memset(e, 0, sizeof(*e));
	}
	pthread_mutex_unlock(&s->lock);
}

pthread_mutex_t *admin_sessions_write_lock(struct admin_sessions *s)
{
	return &s->write_lock;
}

size_t admin_sessions_count(struct admin_sessions *s)
{
	size_t n = 0;

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->n; i++)
		n += s->s[i].used;
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* ------------------------------------------------ failed-login limiter */

static struct limit *limit_find(struct admin_sessions *s, const char *key, bool create)
{
	struct limit *old = NULL;

	for (size_t i = 0; i < s->nl; i++) {
		if (strcmp(s->l[i].key, key) == 0)
			return &s->l[i];
		if (!old || s->l[i].last_ms < old->last_ms)
			old = &s->l[i];
	}
	if (!create)
		return NULL;
	if (s->nl < LIMITS_MAX)
		old = &s->l[s->nl++];
	memset(old, 0, sizeof(*old));
	snprintf(old->key, sizeof(old->key), "%s", key);
	return old;
}

int admin_limit_check(struct admin_sessions *s, const char *key, int64_t now_ms, unsigned *retry_s)
{
	struct limit *l;
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	if ((l = limit_find(s, key, false)) && l->until_ms > now_ms) {
		*retry_s = (unsigned)((l->until_ms - now_ms + 999) / 1000);
		rc = -2;
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

void admin_limit_fail(struct admin_sessions *s, const char *key, int64_t now_ms)
{
	struct limit *l;

	pthread_mutex_lock(&s->lock);
	l = limit_find(s, key, true);
	if (l->fails && now_ms - (l->until_ms > l->last_ms ? l->until_ms : l->last_ms) >
	                    ADMIN_FAIL_WINDOW_MS) { /* quiet for a window: start over */
		l->fails = 0;
		l->lock_s = 0;
	}
	l->fails++;
	l->last_ms = now_ms;
	if (l->fails >= ADMIN_FAIL_MAX) {
		l->lock_s = l->lock_s ? l->lock_s * 2 : LOCK_FIRST_S;
		if (l->lock_s > LOCK_MAX_S)
			l->lock_s = LOCK_MAX_S;
		l->until_ms = now_ms + 1000LL * l->lock_s;
	}
	pthread_mutex_unlock(&s->lock);
}

void admin_limit_reset(struct admin_sessions *s, const char *key)
{
	struct limit *l;

	pthread_mutex_lock(&s->lock);
	if ((l = limit_find(s, key, false))) {
		*l = s->l[--s->nl];
		memset(&s->l[s->nl], 0, sizeof(s->l[s->nl]));
	}
	pthread_mutex_unlock(&s->lock);
}

/* ------------------------------------------------------------- logins */

int admin_login(struct admin *a, const char *user, const char *password, const char *client,
                struct admin_principal *p, unsigned *retry_s)
{
	char ukey[ADMIN_NAME_MAX + 3], akey[72];
	enum admin_role role = ADMIN_ROLE_VIEWER;
	unsigned r1 = 0, r2 = 0;
	int64_t now = relay_now_ms();

	snprintf(ukey, sizeof(ukey), "u:%s", user);
	snprintf(akey, sizeof(akey), "a:%s", client);
	if (admin_limit_check(a->sessions, ukey, now, &r1) != 0 ||
	    admin_limit_check(a->sessions, akey, now, &r2) != 0) {
		*retry_s = r1 > r2 ? r1 : r2;
		return -2;
	}
	if (admin_user_verify(a, user, password, &role) != 0) {
		admin_limit_fail(a->sessions, ukey, now);
		admin_limit_fail(a->sessions, akey, now);
		return -1;
	}
	admin_limit_reset(a->sessions, ukey);
	admin_limit_reset(a->sessions, akey);
	return admin_sessions_open(a->sessions, user, role, now, p);
}

void admin_logout(struct admin *a, const char *session)
{
	admin_sessions_close(a->sessions, session);
}

int admin_session_get(struct admin *a, const char *session, int64_t now_ms,
                      struct admin_principal *p)
{
	return admin_sessions_find(a->sessions, session, now_ms, admin_session_idle_ms(a), p);
}

/* ------------------------------------------------------------ HTTP: helpers */

/* The body as a JSON object holding only `keys` (NULL-terminated); else answers
 * 400 (naming the unknown fields) and returns NULL. */
json_t *admin_json_body(struct relay_req *req, const char *const *keys)
{
	json_error_t je;
	json_t *root = req->body && req->len
	                   ? json_loadb(req->body, req->len, JSON_REJECT_DUPLICATES, &je)
	                   : NULL;
	char unknown[160] = "", first[ADMIN_NAME_MAX + 1] = "";
	const char *k;
	json_t *v;

	if (!json_is_object(root)) {
		json_decref(root);
		relay_reply_error(req, 400, "bad_json", NULL, "the body must be a JSON object");
		return NULL;
	}
	json_object_foreach(root, k, v)
	{
		size_t i = 0, n = strlen(unknown);
		while (keys[i] && strcmp(keys[i], k) != 0)
			i++;
		if (keys[i])
			continue;
		if (!first[0])
			snprintf(first, sizeof(first), "%s", k);
		if (n + strlen(k) + 3 < sizeof(unknown))
			snprintf(unknown + n, sizeof(unknown) - n, "%s%s", n ? ", " : "", k);
	}
	if (first[0]) {
		char reason[200];
		snprintf(reason, sizeof(reason), "unknown fields: %s",
		         unknown[0] ? unknown : "...");
		json_decref(root);
		relay_reply_error(req, 400, "bad_field", first, reason);
		return NULL;
	}
	return root;
}

/* A string field: *out borrowed from root, NULL when absent and optional.
 * Answers 400 and returns -1 when missing (required) or not a string. */
int admin_json_str(struct relay_req *req, json_t *root, const char *key, bool required,
                   const char **out)
{
	json_t *v = json_object_get(root, key);

	*out = json_string_value(v);
	if ((!v && !required) || (*out && strlen(*out) == json_string_length(v)))
		return 0;
	relay_reply_error(req, 400, "bad_field", key,
	                  v ? "must be a string (no NUL)" : "is required");
	return -1;
}

enum MHD_Result admin_reply_empty(struct relay_req *req, const char *cookie)
{
	struct relay_header h[2] = {{MHD_HTTP_HEADER_CACHE_CONTROL, "no-store"},
	                            {MHD_HTTP_HEADER_SET_COOKIE, cookie}};

	return relay_reply_body(req, MHD_HTTP_NO_CONTENT, "application/json", "", 0, h,
	                        cookie ? 2 : 1);
}

static void client_address(struct relay_req *req, char *out, size_t n)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	snprintf(out, n, "unknown");
	if (ci && ci->client_addr)
		getnameinfo(ci->client_addr,
		            ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
		                                                   : sizeof(struct sockaddr_in),
		            out, (socklen_t)n, NULL, 0, NI_NUMERICHOST);
}

/* ------------------------------------------------- HTTP: login, session */

enum MHD_Result admin_h_login(struct relay_req *req)
{
	static const char *const keys[] = {"user", "password", NULL};
	struct admin *a = req->ctx;
	struct admin_principal p;
	const char *user, *pw;
	char client[64], q[96], cookie[160];
	unsigned retry = 0;
	json_t *root = admin_json_body(req, keys);
	enum MHD_Result r;
	int rc;

	if (!root)
		return MHD_YES;
	if (admin_json_str(req, root, "user", true, &user) ||
	    admin_json_str(req, root, "password", true, &pw)) {
		json_decref(root);
		return MHD_YES;
	}
	client_address(req, client, sizeof(client));
	rc = admin_login(a, user, pw, client, &p, &retry);
	relay_log(rc ? RELAY_LOG_WARN : RELAY_LOG_INFO,
	          rc == -2 ? "admin_login_limited"
	          : rc     ? "admin_login_failed"
	                   : "admin_login",
	          "user=%s client=%s", relay_log_quote(user, q, sizeof(q)), client);
	json_decref(root);
	if (rc == -2)
		return relay_reply_retry(req, 429, "rate_limited",
		                         "too many failed logins: try again later", retry);
	if (rc)
		return relay_reply_error(req, 401, "bad_login", NULL, "wrong user or password");
	snprintf(cookie, sizeof(cookie),
	         "interlink_session=%s; Path=/; HttpOnly; SameSite=Strict%s", p.session,
	         relay_node_config(a->node)->admin.plain_http ? "" : "; Secure");
	json_t *o =
	    json_pack("{ssssss}", "user", p.user, "role", admin_role_name(p.role), "csrf", p.csrf);
	char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	struct relay_header h[2] = {{MHD_HTTP_HEADER_CACHE_CONTROL, "no-store"},
	                            {MHD_HTTP_HEADER_SET_COOKIE, cookie}};
	r = text ? relay_reply_body(req, 200, "application/json", text, strlen(text), h, 2)
	         : relay_reply_error(req, 503, "unavailable", NULL, "out of memory");
	free(text);
	json_decref(o);
	OPENSSL_cleanse(&p, sizeof(p));
	OPENSSL_cleanse(cookie, sizeof(cookie));
	return r;
}

enum MHD_Result admin_h_logout(struct relay_req *req)
{
	const struct admin_principal *p = admin_who(req);
	struct admin *a = req->ctx;

	if (!p->api_token)
		admin_logout(a, p->session);
	return admin_reply_empty(req, relay_node_config(a->node)->admin.plain_http
	                                  ? "interlink_session=; Path=/; Max-Age=0; HttpOnly; "
	                                    "SameSite=Strict"
	                                  : "interlink_session=; Path=/; Max-Age=0; HttpOnly; "
	                                    "SameSite=Strict; Secure");
}

enum MHD_Result admin_h_session(struct relay_req *req)
{
	const struct admin_principal *p = admin_who(req);
	json_t *o = json_pack("{ssssss}", "user", p->user, "role", admin_role_name(p->role), "csrf",
	                      p->csrf);

	if (o)
		json_object_set_new(o, "expires_in",
		                    p->api_token
		                        ? json_null()
		                        : json_integer(admin_session_idle_ms(req->ctx) / 1000));
	return admin_reply_json(req, 200, o);
}
