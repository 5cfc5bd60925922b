/*
 * Admin users and API tokens, as stored: PBKDF2-HMAC-SHA256 password hashes in
 * the table "admins", SHA-256 digests of API tokens in "admin_tokens"; the
 * first start's admin; and the users and tokens endpoints.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "admin/admin_priv.h"

#define HEX_ID       (2 * ADMIN_TOKEN_BYTES)
#define SALT_LEN     RELAY_PBKDF2_SALT
#define HASH_LEN     RELAY_PBKDF2_HASH
#define REC_VERSION  1
#define PASSWORD_MIN 12
#define PASSWORD_MAX 1024
#define TOKEN_PREFIX "il_"

/* ------------------------------------------------------------ helpers */


static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > ADMIN_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

const char *admin_role_name(enum admin_role r)
{
	return r == ADMIN_ROLE_ADMIN ? "admin" : "viewer";
}

static int role_parse(const char *s, enum admin_role *out)
{
	if (strcmp(s, "admin") == 0)
		*out = ADMIN_ROLE_ADMIN;
	else if (strcmp(s, "viewer") == 0)
		*out = ADMIN_ROLE_VIEWER;
	else
		return -1;
	return 0;
}

/* ------------------------------------------------------- user records */

static void put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void admin_user_record_encode(const struct admin_user_rec *u,
                              unsigned char out[ADMIN_USER_REC_LEN])
{
	out[0] = REC_VERSION;
	out[1] = (unsigned char)u->role;
	put_u32(out + 2, u->iterations);
	memcpy(out + 6, u->salt, SALT_LEN);
	memcpy(out + 6 + SALT_LEN, u->hash, HASH_LEN);
}

int admin_user_record_decode(const unsigned char *b, size_t len, struct admin_user_rec *u)
{
	if (len != ADMIN_USER_REC_LEN || b[0] != REC_VERSION ||
	    (b[1] != ADMIN_ROLE_ADMIN && b[1] != ADMIN_ROLE_VIEWER))
		return -1;
	u->role = (enum admin_role)b[1];
	u->iterations = get_u32(b + 2);
	if (u->iterations < 1000 || u->iterations > 100000000)
		return -1;
	memcpy(u->salt, b + 6, SALT_LEN);
	memcpy(u->hash, b + 6 + SALT_LEN, HASH_LEN);
	return 0;
}

static int pbkdf2(const char *pw, const unsigned char *salt, uint32_t iterations,
                  unsigned char out[HASH_LEN])
{
	return PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw), salt, SALT_LEN, (int)iterations, EVP_sha256(),
	                         HASH_LEN, out) == 1
	           ? 0
	           : -1;
}

static int user_hash_new(const char *pw, enum admin_role role, struct admin_user_rec *u)
{
	u->role = role;
	u->iterations = ADMIN_PBKDF2_ITERATIONS;
	if (RAND_bytes(u->salt, SALT_LEN) != 1)
		return -1;
	return pbkdf2(pw, u->salt, u->iterations, u->hash);
}

/* 0, -QUEUE_ENOTFOUND, -QUEUE_ECORRUPT, or another -QUEUE_E*. */
static int user_get(struct admin *a, const char *name, struct admin_user_rec *u)
{
	void *v = NULL;
	size_t vlen = 0;
	int rc = queue_kv_get(relay_node_queue(a->node), "admins", name, strlen(name), &v, &vlen);

	if (rc == 0 && admin_user_record_decode(v, vlen, u) != 0) {
		char q[96];
		relay_log(RELAY_LOG_WARN, "admin_record_corrupt", "table=admins key=%s",
		          relay_log_quote(name, q, sizeof(q)));
		rc = -QUEUE_ECORRUPT;
	}
	free(v);
	return rc;
}

static int kv_write(struct admin *a, enum queue_op_type type, const char *table, const void *key,
                    size_t klen, const void *val, size_t vlen)
{
	struct queue_op op = {.type = type};

	op.u.kv = (struct queue_op_kv){
	    .table = table, .key = key, .klen = klen, .val = val, .vlen = vlen, .control = true};
	return queue_exec(relay_node_queue(a->node), &op);
}

static int user_put(struct admin *a, const char *name, const struct admin_user_rec *u)
{
	unsigned char rec[ADMIN_USER_REC_LEN];

	admin_user_record_encode(u, rec);
	return kv_write(a, QUEUE_OP_KV_PUT, "admins", name, strlen(name), rec, sizeof(rec));
}

int admin_hash_password(const char *pw, char *out, size_t outlen)
{
	struct admin_user_rec u;
	char salt[4 * ((SALT_LEN + 2) / 3) + 1], hash[4 * ((HASH_LEN + 2) / 3) + 1];
	int n;

	if (user_hash_new(pw, ADMIN_ROLE_ADMIN, &u) != 0)
		return -1;
	EVP_EncodeBlock((unsigned char *)salt, u.salt, SALT_LEN);
	EVP_EncodeBlock((unsigned char *)hash, u.hash, HASH_LEN);
	n = snprintf(out, outlen, "pbkdf2-sha256$%u$%s$%s", u.iterations, salt, hash);
	OPENSSL_cleanse(&u, sizeof(u));
	return n > 0 && (size_t)n < outlen ? 0 : -1;
}

/* --------------------------------------------------------- bootstrap */

static int any_key(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	(void)k, (void)kl, (void)v, (void)vl;
	*(bool *)arg = true;
	return 1;
}

/* A random password: 18 bytes as base64url without padding (24 characters). */
static int random_password(char out[25])
{
	unsigned char b[18];

	if (RAND_bytes(b, sizeof(b)) != 1)
		return -1;
	EVP_EncodeBlock((unsigned char *)out, b, sizeof(b));
	for (char *c = out; *c; c++)
		*c = *c == '+' ? '-' : *c == '/' ? '_' : *c;
	OPENSSL_cleanse(b, sizeof(b));
	return 0;
}

static void print_password(const struct relay_listener_conf *l, const char *user, const char *pw)
{
	bool v6 = strchr(l->address, ':') != NULL;

	printf("interlinkd: created admin user '%s' with password %s (shown once: log in at "
	       "%s://%s%s%s:%u and change it)\n",
	       user, pw, l->plain_http ? "http" : "https", v6 ? "[" : "", l->address, v6 ? "]" : "",
	       l->port);
	fflush(stdout);
}

int admin_users_bootstrap(struct admin *a, char *err, size_t errlen)
{
	const struct relay_listener_conf *l = &relay_node_config(a->node)->admin;
	const char *user = l->bootstrap_user ? l->bootstrap_user : "admin";
	struct admin_user_rec u = {.role = ADMIN_ROLE_ADMIN};
	char pw[25] = "", q[96];
	bool exists = false;
	int rc =
	    queue_kv_scan(relay_node_queue(a->node), "admins", NULL, 0, NULL, 0, any_key, &exists);

	if (rc != 0 || exists) {
		if (rc != 0)
			snprintf(err, errlen, "admin users: %s", queue_strerror(rc));
		return rc ? -1 : 0;
	}
	if (l->bootstrap_password_hash)
		rc = relay_pbkdf2_parse(l->bootstrap_password_hash, &u.iterations, u.salt, u.hash);
	else if ((rc = random_password(pw)) == 0)
		rc = user_hash_new(pw, ADMIN_ROLE_ADMIN, &u);
	if (rc == 0 && (rc = user_put(a, user, &u)) != 0)
		snprintf(err, errlen, "admin bootstrap: %s", queue_strerror(rc));
	else if (rc != 0)
		snprintf(err, errlen, "admin bootstrap: cannot make the password hash");
	if (rc == 0) {
		if (pw[0])
			print_password(l, user, pw);
		relay_log(RELAY_LOG_INFO, "admin_bootstrap", "user=%s",
		          relay_log_quote(user, q, sizeof(q)));
	}
	OPENSSL_cleanse(pw, sizeof(pw));
	OPENSSL_cleanse(&u, sizeof(u));
	return rc ? -1 : 0;
}

/* ---------------------------------------------------------- passwords */

int admin_user_verify(struct admin *a, const char *user, const char *password,
                      enum admin_role *role)
{
	static const unsigned char dummy_salt[SALT_LEN];
	unsigned char h[HASH_LEN];
	struct admin_user_rec u;
	bool known = valid_name(user) && user_get(a, user, &u) == 0;
	int rc;

	if (!known) { /* as much work as for a real user */
		u.iterations = ADMIN_PBKDF2_ITERATIONS;
		memcpy(u.salt, dummy_salt, SALT_LEN);
	}
	rc = pbkdf2(password, u.salt, u.iterations, h) != 0 || !known ||
	     CRYPTO_memcmp(h, u.hash, HASH_LEN) != 0;
	if (rc == 0)
		*role = u.role;
	OPENSSL_cleanse(h, sizeof(h));
	OPENSSL_cleanse(&u, sizeof(u));
	return rc ? -1 : 0;
}

/* ------------------------------------------------------------ API tokens */

int admin_token_record_decode(const unsigned char *b, size_t len, struct admin_token_rec *t)
{
	uint64_t c = 0;

	if (len < 12 || b[0] != REC_VERSION ||
	    (b[1] != ADMIN_ROLE_ADMIN && b[1] != ADMIN_ROLE_VIEWER) || b[10] > ADMIN_NAME_MAX ||
	    len != 11u + b[10])
		return -1;
	for (int i = 7; i >= 0; i--)
		c = c << 8 | b[2 + i];
	t->role = (enum admin_role)b[1];
	t->created_ms = (int64_t)c;
	memcpy(t->name, b + 11, b[10]);
	t->name[b[10]] = '\0';
	return valid_name(t->name) && strlen(t->name) == b[10] ? 0 : -1; /* no NUL in the name */
}

size_t admin_token_record_encode(const struct admin_token_rec *t, unsigned char *b)
{
	size_t n = strlen(t->name);

	b[0] = REC_VERSION;
	b[1] = (unsigned char)t->role;
	for (int i = 0; i < 8; i++)
		b[2 + i] = (unsigned char)((uint64_t)t->created_ms >> (8 * i));
	b[10] = (unsigned char)n;
	memcpy(b + 11, t->name, n);
	return 11 + n;
}

int admin_token_check(struct admin *a, const char *token, struct admin_principal *p)
{
	unsigned char key[SHA256_DIGEST_LENGTH];
	struct admin_token_rec t;
	void *v = NULL;
	size_t vlen = 0;
	int rc;

	if (strncmp(token, TOKEN_PREFIX, strlen(TOKEN_PREFIX)) != 0 || strlen(token) > 256)
		return -1;
	SHA256((const unsigned char *)token, strlen(token), key);
	rc = queue_kv_get(relay_node_queue(a->node), "admin_tokens", key, sizeof(key), &v, &vlen);
	if (rc == 0)
		rc = admin_token_record_decode(v, vlen, &t);
	free(v);
	if (rc != 0)
		return -1;
	memset(p, 0, sizeof(*p));
	snprintf(p->user, sizeof(p->user), "%s", t.name);
	p->role = t.role;
	p->api_token = true;
	return 0;
}

static enum MHD_Result reply_store(struct relay_req *req, int rc)
{
	char q[96];

	if (rc == -QUEUE_EFULL)
		return relay_reply_retry(req, 507, "store_full", "the store is full; retry later",
		                         30);
	if (rc == -QUEUE_ENOMEM)
		return relay_reply_retry(req, 503, "unavailable", "out of memory", 1);
	relay_log(RELAY_LOG_ERROR, "admin_store_error", "method=%s arg=%s reason=%s", req->method,
	          relay_log_quote(req->arg, q, sizeof(q)), queue_strerror(rc));
	return relay_reply_error(req, 500, "store_error", NULL, queue_strerror(rc));
}

/* One line in the log for every change (never a password or a token). */
static void audit(struct relay_req *req, const char *action, const char *object)
{
	const struct admin_principal *p = admin_who(req);
	char u[96], o[96];

	relay_log(RELAY_LOG_INFO, "admin_change", "user=%s action=%s object=%s",
	          relay_log_quote(p ? p->user : "?", u, sizeof(u)), action,
	          relay_log_quote(object, o, sizeof(o)));
}

/* ---------------------------------------------------------- HTTP: users */

static int list_user(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	struct admin_user_rec u;
	char name[ADMIN_NAME_MAX + 1];

	if (kl > ADMIN_NAME_MAX || admin_user_record_decode(v, vl, &u) != 0)
		return 0; /* skipped; user_get logs it when it is used */
	memcpy(name, k, kl);
	name[kl] = '\0';
	json_array_append_new(arg,
	                      json_pack("{ssss}", "name", name, "role", admin_role_name(u.role)));
	return 0;
}

static int count_admin(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	struct admin_user_rec u;

	(void)k, (void)kl;
	if (admin_user_record_decode(v, vl, &u) == 0 && u.role == ADMIN_ROLE_ADMIN)
		++*(size_t *)arg;
	return 0;
}

static size_t admins_count(struct admin *a)
{
	size_t n = 0;

	queue_kv_scan(relay_node_queue(a->node), "admins", NULL, 0, NULL, 0, count_admin, &n);
	return n;
}

/* Checks a new password; answers 400 and returns -1 when too short or long. */
static int password_ok(struct relay_req *req, const char *pw)
{
	if (strlen(pw) >= PASSWORD_MIN && strlen(pw) <= PASSWORD_MAX)
		return 0;
	relay_reply_error(req, 400, "bad_field", "password", "must have 12 to 1024 characters");
	return -1;
}

/* Parses "role" (optional: *role left as it is when absent); answers 400 on a bad one. */
static int role_field(struct relay_req *req, json_t *root, enum admin_role *role, bool *given)
{
	const char *r;

	*given = false;
	if (admin_json_str(req, root, "role", false, &r))
		return -1;
	if (!r)
		return 0;
	if (role_parse(r, role) != 0) {
		relay_reply_error(req, 400, "bad_field", "role", "must be \"admin\" or \"viewer\"");
		return -1;
	}
	*given = true;
	return 0;
}

static enum MHD_Result user_create(struct relay_req *req)
{
	static const char *const keys[] = {"name", "password", "role", NULL};
	struct admin *a = req->ctx;
	struct admin_user_rec u = {0}, old;
	enum admin_role role = ADMIN_ROLE_VIEWER;
	const char *name, *pw;
	bool given;
	json_t *root;
	int rc;

	if (!admin_may_write(req) || !(root = admin_json_body(req, keys)))
		return MHD_YES;
	if (admin_json_str(req, root, "name", true, &name) ||
	    admin_json_str(req, root, "password", true, &pw) ||
	    role_field(req, root, &role, &given) || password_ok(req, pw))
		goto done;
	if (!valid_name(name)) {
		relay_reply_error(req, 400, "bad_field", "name", "must match [A-Za-z0-9._-]{1,64}");
		goto done;
	}
	if (user_hash_new(pw, role, &u) != 0) {
		relay_reply_error(req, 503, "unavailable", NULL, "cannot hash the password");
		goto done;
	}
	pthread_mutex_lock(admin_sessions_write_lock(a->sessions));
	rc = user_get(a, name, &old);
	if (rc == -QUEUE_ENOTFOUND)
		rc = user_put(a, name, &u);
	else if (rc == 0 || rc == -QUEUE_ECORRUPT)
		rc = 1;
	pthread_mutex_unlock(admin_sessions_write_lock(a->sessions));
	if (rc == 1)
		relay_reply_error(req, 409, "exists", "name", "a user of that name exists");
	else if (rc)
		reply_store(req, rc);
	else {
		audit(req, "user_add", name);
		admin_reply_json(req, 201,
		                 json_pack("{ssss}", "name", name, "role", admin_role_name(role)));
	}
done:
	OPENSSL_cleanse(&u, sizeof(u));
	json_decref(root);
	return MHD_YES;
}

enum MHD_Result admin_h_users(struct relay_req *req)
{
	json_t *arr;
	int rc;

	if (strcmp(req->method, "POST") == 0)
		return user_create(req);
	if (!(arr = json_array()))
		return relay_reply_error(req, 503, "unavailable", NULL, "out of memory");
	rc = queue_kv_scan(relay_node_queue(((struct admin *)req->ctx)->node), "admins", NULL, 0,
	                   NULL, 0, list_user, arr);
	if (rc) {
		json_decref(arr);
		return reply_store(req, rc);
	}
	return admin_reply_json(req, 200, arr);
}

/* PUT /api/users/{name}, under the write lock: a new password and/or role (NULL: keep).
 * Returns 0, or -1 after answering. */
static int user_change(struct relay_req *req, const char *pw, const enum admin_role *role,
                       struct admin_user_rec *u)
{
	struct admin *a = req->ctx;
	const struct admin_principal *p = admin_who(req);
	int rc = user_get(a, req->arg, u);
	enum admin_role r;

	if (rc == -QUEUE_ENOTFOUND)
		return relay_reply_error(req, 404, "not_found", NULL, "no such user"), -1;
	if (rc)
		return reply_store(req, rc), -1;
	r = role ? *role : u->role;
	if (r != u->role && u->role == ADMIN_ROLE_ADMIN && admins_count(a) <= 1)
		return relay_reply_error(req, 409, "last_admin", "role",
		                         "the last admin cannot become a viewer"),
		       -1;
	if (pw && user_hash_new(pw, r, u) != 0)
		return relay_reply_error(req, 503, "unavailable", NULL, "cannot hash"), -1;
	u->role = r;
	if ((rc = user_put(a, req->arg, u)) != 0)
		return reply_store(req, rc), -1;
	if (pw) /* other sessions of that user end; the caller's own stays */
		admin_sessions_forget(a->sessions, req->arg, 0, p->api_token ? NULL : p->session);
	if (role)
		admin_sessions_forget(a->sessions, req->arg, (int)r, NULL);
	return 0;
}

static enum MHD_Result user_update(struct relay_req *req)
{
	static const char *const keys[] = {"password", "role", NULL};
	struct admin *a = req->ctx;
	const struct admin_principal *p = admin_who(req);
	bool self = !p->api_token && strcmp(p->user, req->arg) == 0, role_given;
	enum admin_role role = ADMIN_ROLE_VIEWER;
	struct admin_user_rec u = {0};
	const char *pw;
	json_t *root = admin_json_body(req, keys);
	int rc;

	if (!root)
		return MHD_YES;
	if (admin_json_str(req, root, "password", false, &pw) ||
	    role_field(req, root, &role, &role_given) || (pw && password_ok(req, pw)))
		goto done;
	if (!pw && !role_given) {
		relay_reply_error(req, 400, "bad_field", NULL, "give a password, a role or both");
		goto done;
	}
	/* a user may change their own password; anything else needs the admin role */
	if ((role_given || !self) && !admin_may_write(req))
		goto done;
	pthread_mutex_lock(admin_sessions_write_lock(a->sessions));
	rc = user_change(req, pw, role_given ? &role : NULL, &u);
	pthread_mutex_unlock(admin_sessions_write_lock(a->sessions));
	if (rc == 0) {
		audit(req, "user_change", req->arg);
		admin_reply_json(
		    req, 200,
		    json_pack("{ssss}", "name", req->arg, "role", admin_role_name(u.role)));
	}
done:
	OPENSSL_cleanse(&u, sizeof(u));
	json_decref(root);
	return MHD_YES;
}

static enum MHD_Result user_delete(struct relay_req *req)
{
	struct admin *a = req->ctx;
	struct admin_user_rec u;
	int rc;

	if (!admin_may_write(req))
		return MHD_YES;
	pthread_mutex_lock(admin_sessions_write_lock(a->sessions));
	rc = user_get(a, req->arg, &u);
	if (rc == 0 && u.role == ADMIN_ROLE_ADMIN && admins_count(a) <= 1)
		rc = 1;
	else if (rc == 0 || rc == -QUEUE_ECORRUPT)
		rc = kv_write(a, QUEUE_OP_KV_DEL, "admins", req->arg, strlen(req->arg), NULL, 0);
	pthread_mutex_unlock(admin_sessions_write_lock(a->sessions));
	if (rc == 1)
		return relay_reply_error(req, 409, "last_admin", NULL,
		                         "the last admin cannot be deleted");
	if (rc == -QUEUE_ENOTFOUND)
		return relay_reply_error(req, 404, "not_found", NULL, "no such user");
	if (rc)
		return reply_store(req, rc);
	admin_sessions_forget(a->sessions, req->arg, 0, NULL);
	audit(req, "user_del", req->arg);
	return admin_reply_empty(req, NULL);
}

enum MHD_Result admin_h_user(struct relay_req *req)
{
	if (!valid_name(req->arg))
		return relay_reply_error(req, 404, "not_found", NULL, "no such user");
	return strcmp(req->method, "DELETE") == 0 ? user_delete(req) : user_update(req);
}

/* --------------------------------------------------------- HTTP: tokens */

struct token_find {
	const char *name;
	unsigned char key[SHA256_DIGEST_LENGTH];
	bool found;
	json_t *list; /* or NULL */
};

static int token_each(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	struct token_find *f = arg;
	struct admin_token_rec t;

	if (kl != SHA256_DIGEST_LENGTH || admin_token_record_decode(v, vl, &t) != 0)
		return 0;
	if (f->list)
		json_array_append_new(f->list, json_pack("{sssssI}", "name", t.name, "role",
		                                         admin_role_name(t.role), "created",
		                                         (json_int_t)t.created_ms));
	if (f->name && strcmp(f->name, t.name) == 0) {
		memcpy(f->key, k, kl);
		f->found = true;
		return 1;
	}
	return 0;
}

static int token_find(struct admin *a, struct token_find *f)
{
	return queue_kv_scan(relay_node_queue(a->node), "admin_tokens", NULL, 0, NULL, 0,
	                     token_each, f);
}

/* Makes, stores and returns (in tok) a new token; 0, 1 (name taken) or -QUEUE_E*. */
static int token_create(struct admin *a, struct admin_token_rec *t, char tok[4 + HEX_ID])
{
	unsigned char raw[ADMIN_TOKEN_BYTES], key[SHA256_DIGEST_LENGTH], rec[12 + ADMIN_NAME_MAX];
	struct token_find f = {.name = t->name};
	int rc;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -QUEUE_ENOMEM;
	memcpy(tok, TOKEN_PREFIX, 3);
	admin_hex(raw, sizeof(raw), tok + 3);
	SHA256((const unsigned char *)tok, strlen(tok), key);
	pthread_mutex_lock(admin_sessions_write_lock(a->sessions));
	rc = token_find(a, &f);
	if (rc == 0 && f.found)
		rc = 1;
	else if (rc == 0)
		rc = kv_write(a, QUEUE_OP_KV_PUT, "admin_tokens", key, sizeof(key), rec,
		              admin_token_record_encode(t, rec));
	pthread_mutex_unlock(admin_sessions_write_lock(a->sessions));
	OPENSSL_cleanse(raw, sizeof(raw));
	return rc;
}

enum MHD_Result admin_h_tokens(struct relay_req *req)
{
	static const char *const keys[] = {"name", "role", NULL};
	struct admin_token_rec t = {.role = ADMIN_ROLE_VIEWER};
	struct token_find f = {0};
	char tok[4 + HEX_ID];
	const char *name;
	bool given;
	json_t *root;
	int rc;

	if (strcmp(req->method, "GET") == 0) {
		if (!(f.list = json_array()) || (rc = token_find(req->ctx, &f)) == 0)
			return admin_reply_json(req, 200, f.list);
		json_decref(f.list);
		return reply_store(req, rc);
	}
	if (!admin_may_write(req) || !(root = admin_json_body(req, keys)))
		return MHD_YES;
	if (admin_json_str(req, root, "name", true, &name) ||
	    role_field(req, root, &t.role, &given))
		goto done;
	if (!valid_name(name)) {
		relay_reply_error(req, 400, "bad_field", "name", "must match [A-Za-z0-9._-]{1,64}");
		goto done;
	}
	snprintf(t.name, sizeof(t.name), "%s", name);
	t.created_ms = relay_now_ms();
	if ((rc = token_create(req->ctx, &t, tok)) == 1)
		relay_reply_error(req, 409, "exists", "name", "a token of that name exists");
	else if (rc)
		reply_store(req, rc);
	else {
		audit(req, "token_add", t.name);
		admin_reply_json(req, 201,
		                 json_pack("{ssssss}", "name", t.name, "role",
		                           admin_role_name(t.role), "token", tok));
	}
	OPENSSL_cleanse(tok, sizeof(tok));
done:
	json_decref(root);
	return MHD_YES;
}

enum MHD_Result admin_h_token(struct relay_req *req)
{
	struct admin *a = req->ctx;
	struct token_find f = {.name = req->arg};
	int rc;

	if (!admin_may_write(req))
		return MHD_YES;
	pthread_mutex_lock(admin_sessions_write_lock(a->sessions));
	rc = token_find(a, &f);
	if (rc == 0 && f.found)
		rc = kv_write(a, QUEUE_OP_KV_DEL, "admin_tokens", f.key, sizeof(f.key), NULL, 0);
	pthread_mutex_unlock(admin_sessions_write_lock(a->sessions));
	if (rc)
		return reply_store(req, rc);
	if (!f.found)
		return relay_reply_error(req, 404, "not_found", NULL, "no such token");
	audit(req, "token_del", req->arg);
	return admin_reply_empty(req, NULL);
}
