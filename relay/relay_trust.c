/*
 * Trust between nodes: the node's Ed25519 key, the peers' pinned keys (kept with the peers
 * in the route table; parsed here from their text form), the statements a node signs
 * (attestation links, reports), batches of them signed once under an RFC 6962 Merkle root
 * (relay_trust_node.c uses them on what comes in and goes out). OpenSSL's 1-is-success
 * convention stops here; these functions return 0 or -RELAY_E*.
 */
#include "relay/relay_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#define KEY_FILE_NAME "node-ed25519.pem"
#define CACHE_SLOTS   1024 /* verified (root statement, signature) pairs remembered */
#define HEX_LEN       (2 * RELAY_HASH_LEN)
#define ROOT_STMT_MAX 256

#define PIN_B64_MAX   256 /* longer key text is refused before it is decoded */

_Static_assert(RELAY_KID_LEN == ROUTE_KID_LEN, "one kid length");

struct relay_trust {
	EVP_PKEY *key; /* this node's private key */
	char kid[RELAY_KID_LEN + 1];
	unsigned char pub[32];
	int64_t valid_until_ms;
	char node[RELAY_NODE_ID_MAX + 1];
	/* verified roots: SHA-256(root statement || signature), direct-mapped */
	pthread_mutex_t lock;
	bool used[CACHE_SLOTS];
	unsigned char cache[CACHE_SLOTS][RELAY_HASH_LEN];
};

/* ------------------------------------------------------------- hashing */

static void hex(const unsigned char *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

static const EVP_MD *sha256_md;

static void fetch_sha256(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL); /* kept for the process's life */
	if (!sha256_md)
		sha256_md = EVP_sha256();
}

const EVP_MD *tr_sha256(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, fetch_sha256);
	return sha256_md;
}

/* SHA-256(prefix || a || b); b may be NULL. */
static void sha256_3(unsigned char prefix, const void *a, size_t alen, const void *b, size_t blen,
		     unsigned char out[RELAY_HASH_LEN])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx && EVP_DigestInit_ex(ctx, tr_sha256(), NULL) == 1 &&
		 EVP_DigestUpdate(ctx, &prefix, 1) == 1 && EVP_DigestUpdate(ctx, a, alen) == 1 &&
		 (!b || EVP_DigestUpdate(ctx, b, blen) == 1) &&
		 EVP_DigestFinal_ex(ctx, out, NULL) == 1;

	EVP_MD_CTX_free(ctx);
	/* SHA-256 cannot fail but for memory; a hash we cannot compute is a broken host */
	if (!ok)
		abort();
}

void relay_leaf_hash(const char *stmt, size_t len, unsigned char out[RELAY_HASH_LEN])
{
	sha256_3(0x00, stmt, len, NULL, 0, out);
}

static void inner_hash(const unsigned char l[RELAY_HASH_LEN], const unsigned char r[RELAY_HASH_LEN],
		       unsigned char out[RELAY_HASH_LEN])
{
	sha256_3(0x01, l, RELAY_HASH_LEN, r, RELAY_HASH_LEN, out);
}

static void kid_of(const unsigned char pub[32], char kid[RELAY_KID_LEN + 1])
{
	unsigned char h[RELAY_HASH_LEN];
	char h_hex[HEX_LEN + 1];

	if (EVP_Digest(pub, 32, h, NULL, tr_sha256(), NULL) != 1)
		abort();
	hex(h, sizeof(h), h_hex);
	memcpy(kid, h_hex, RELAY_KID_LEN);
	kid[RELAY_KID_LEN] = '\0';
}

/* ---------------------------------------------------------- statements */

/* snprintf's result as a statement length: 0 when it did not fit. */
static size_t fitted(int w, size_t size)
{
	return w > 0 && (size_t)w < size ? (size_t)w : 0;
}

/* Link `link` of env, after the link whose leaf hash is prev (NULL: the first). */
static size_t att_one(const struct relay_envelope *env, const struct relay_att *link,
		      const unsigned char *prev, char *buf, size_t size)
{
	const char *level = relay_att_level_name(link->level);
	unsigned char body[RELAY_HASH_LEN];
	char body_hex[HEX_LEN + 1], prev_hex[HEX_LEN + 1];

	if (link->level == RELAY_LEVEL_NONE || !level || !*level)
		return 0;
	if (EVP_Digest(env->body ? (const void *)env->body : "", env->body ? env->body_len : 0,
		       body, NULL, tr_sha256(), NULL) != 1)
		return 0;
	hex(body, sizeof(body), body_hex);
	if (prev)
		hex(prev, RELAY_HASH_LEN, prev_hex);
	else
		snprintf(prev_hex, sizeof(prev_hex), "-");
	return fitted(snprintf(buf, size,
			       "interlink-att/1\nnode=%s\nrid=%s\nfrom=%s\nto=%s\nts=%" PRId64
			       "\nbody=sha256:%s\npeer=%s\nlevel=%s\nprev=%s\n",
			       link->sig.node, link->rid, env->from.text,
			       link->to[0] ? link->to : env->to.text, env->ts_ms, body_hex,
			       link->peer, level, prev_hex),
		      size);
}

size_t relay_att_statement(const struct relay_envelope *env, size_t i,
			   const struct relay_att *link, char *buf, size_t size)
{
	unsigned char prev[RELAY_HASH_LEN];
	char tmp[RELAY_STATEMENT_MAX];

	if (!env || !link || !buf || i > env->n_att || i > RELAY_ATT_MAX)
		return 0;
	/* prev chains every earlier statement: walk them from the first */
	for (size_t j = 0; j < i; j++) {
		size_t n = att_one(env, &env->att[j], j ? prev : NULL, tmp, sizeof(tmp));

		if (n == 0)
			return 0;
		relay_leaf_hash(tmp, n, prev);
	}
	return att_one(env, link, i ? prev : NULL, buf, size);
}

size_t relay_report_statement(const struct relay_envelope *rep, const char *node, char *buf,
			      size_t size)
{
	const char *status;

	if (!rep || !buf || rep->kind != RELAY_ENV_REPORT)
		return 0;
	if (rep->has_rsig)
		node = rep->rsig.node;
	status = relay_report_status_name(rep->status);
	if (!node || !*node || !status)
		return 0;
	return fitted(snprintf(buf, size,
			       "interlink-report/1\nnode=%s\nref=%s\nstatus=%s\nat=%" PRId64
			       "\nvia=%s\n",
			       node, rep->ref, status, rep->at_ms, rep->via[0] ? rep->via : "-"),
		      size);
}

static size_t root_statement(const char *node, const char *kid, int64_t at_ms,
			     const unsigned char root[RELAY_HASH_LEN], char *buf, size_t size)
{
	char root_hex[HEX_LEN + 1];

	hex(root, RELAY_HASH_LEN, root_hex);
	return fitted(snprintf(buf, size,
			       "interlink-batch/1\nnode=%s\nkid=%s\nat=%" PRId64 "\nroot=%s\n",
			       node, kid, at_ms, root_hex),
		      size);
}

/* ------------------------------------------------------------ the key */

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* Creates the key file: O_EXCL, 0600, fsync'd. 0, -EEXIST (someone was quicker) or -1. */
static int key_create(const char *path, EVP_PKEY **out, char *err, size_t errlen)
{
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	FILE *f = NULL;
	int fd, ok;

	if (!pkey)
		return fail(err, errlen, -1, "%s: cannot generate an Ed25519 key", path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		int e = errno;

		EVP_PKEY_free(pkey);
		if (e == EEXIST)
			return -EEXIST;
		return fail(err, errlen, -1, "%s: cannot be created: %s", path, strerror(e));
	}
	f = fdopen(fd, "w");
	ok = f && PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL) == 1 &&
	     fflush(f) == 0 && fsync(fd) == 0;
	if (f ? fclose(f) != 0 : close(fd) != 0)
		ok = 0;
	if (!ok) {
		unlink(path);
		EVP_PKEY_free(pkey);
		return fail(err, errlen, -1, "%s: cannot be written", path);
	}
	*out = pkey;
	return 0;
}

static int key_read(const char *path, EVP_PKEY **out, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	EVP_PKEY *pkey;
	FILE *f;

	if (fd < 0)
		return fail(err, errlen, errno == ENOENT ? -ENOENT : -1, "%s: cannot be read: %s",
			    path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return fail(err, errlen, -1, "%s: is not a regular file", path);
	}
	if (st.st_mode & 077) {
		close(fd);
		return fail(err, errlen, -1,
			    "%s: readable or writable by group or others (chmod 600)", path);
	}
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return fail(err, errlen, -1, "%s: cannot be read", path);
	}
	pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!pkey)
		return fail(err, errlen, -1, "%s: not a PEM private key", path);
	if (!EVP_PKEY_is_a(pkey, "ED25519")) {
		EVP_PKEY_free(pkey);
		return fail(err, errlen, -1, "%s: not an Ed25519 private key", path);
	}
	*out = pkey;
	return 0;
}

static int key_load(const char *path, EVP_PKEY **out, char *err, size_t errlen)
{
	int rc = key_read(path, out, err, errlen);

	if (rc != -ENOENT)
		return rc;
	rc = key_create(path, out, err, errlen);
	if (rc == -EEXIST) /* created meanwhile: read it */
		rc = key_read(path, out, err, errlen);
	return rc;
}

int relay_trust_open(const struct relay_config *cfg, struct relay_trust **out, char *err,
		     size_t errlen)
{
	struct relay_trust *t;
	char *path = NULL;
	size_t publen = 32;
	int rc;

	if (err && errlen)
		err[0] = '\0';
	*out = NULL;
	if (cfg->trust.key_file)
		path = strdup(cfg->trust.key_file);
	else if (cfg->data_dir && asprintf(&path, "%s/%s", cfg->data_dir, KEY_FILE_NAME) < 0)
		path = NULL;
	if (!path)
		return fail(err, errlen, -RELAY_ENOMEM, "%s: out of memory",
			    cfg->path ? cfg->path : "trust");
	if (cfg->trust.key_valid_until_ms != 0 && cfg->trust.key_valid_until_ms <= relay_now_ms()) {
		rc = fail(err, errlen, -RELAY_ECONFIG, "%s: key-valid-until is in the past",
			  cfg->path ? cfg->path : path);
		free(path);
		return rc;
	}
	t = calloc(1, sizeof(*t));
	if (!t || pthread_mutex_init(&t->lock, NULL) != 0) {
		rc = fail(err, errlen, -RELAY_ENOMEM, "%s: out of memory", path);
		free(t);
		free(path);
		return rc;
	}
	t->valid_until_ms = cfg->trust.key_valid_until_ms;
	snprintf(t->node, sizeof(t->node), "%s", cfg->node_id ? cfg->node_id : "");
	rc = key_load(path, &t->key, err, errlen) == 0 ? 0 : -RELAY_ECONFIG;
	if (rc == 0 && (EVP_PKEY_get_raw_public_key(t->key, t->pub, &publen) != 1 || publen != 32))
		rc = fail(err, errlen, -RELAY_ECONFIG, "%s: not an Ed25519 private key", path);
	if (rc == 0)
		kid_of(t->pub, t->kid);
	free(path);
	if (rc != 0) {
		relay_trust_free(t);
		return rc;
	}
	if (err && errlen)
		err[0] = '\0'; /* a missing key file that was then created is no error */
	*out = t;
	return 0;
}

void relay_trust_free(struct relay_trust *t)
{
	if (!t)
		return;
	EVP_PKEY_free(t->key);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

const char *relay_trust_kid(const struct relay_trust *t)
{
	return t ? t->kid : NULL;
}

const unsigned char *relay_trust_public(const struct relay_trust *t)
{
	return t ? t->pub : NULL;
}

bool relay_trust_knows(const struct route_table *rt, const char *kid)
{
	const struct route_peer *p;

	for (size_t i = 0; kid && (p = route_table_peer_at(rt, i)); i++)
		for (size_t k = 0; k < p->n_pins; k++)
			if (strncmp(p->pins[k].kid, kid, RELAY_KID_LEN + 1) == 0)
				return true;
	return false;
}

/* ------------------------------------------------------------ pin text */

int tr_parse_utc(const char *s, int64_t *out_ms)
{
	static const char form[] = "dddd-dd-ddTdd:dd:ddZ";
	struct tm tm = {0}, back;
	time_t t;

	if (!s || strlen(s) != sizeof(form) - 1)
		return -1;
	for (size_t i = 0; form[i]; i++)
		if (form[i] == 'd' ? s[i] < '0' || s[i] > '9' : s[i] != form[i])
			return -1;
#define NUM2(i) ((s[i] - '0') * 10 + (s[(i) + 1] - '0'))
	tm.tm_year = NUM2(0) * 100 + NUM2(2) - 1900;
	tm.tm_mon = NUM2(5) - 1;
	tm.tm_mday = NUM2(8);
	tm.tm_hour = NUM2(11);
	tm.tm_min = NUM2(14);
	tm.tm_sec = NUM2(17);
#undef NUM2
	back = tm;
	t = timegm(&tm);
	/* timegm normalises fields out of range (Feb 30 is Mar 2): a real date comes back. */
	if (t <= 0 || tm.tm_year != back.tm_year || tm.tm_mon != back.tm_mon ||
	    tm.tm_mday != back.tm_mday || tm.tm_hour != back.tm_hour || tm.tm_min != back.tm_min ||
	    tm.tm_sec != back.tm_sec)
		return -1;
	*out_ms = (int64_t)t * 1000;
	return 0;
}

int relay_pin_parse(const char *v, struct route_pin *pin, char *why, size_t whylen)
{
	size_t b64 = strcspn(v, " \t"), n;
	const char *rest = v + b64 + strspn(v + b64, " \t"), *date;

	memset(pin, 0, sizeof(*pin));
	if (*rest) {
		if (strncmp(rest, "until", 5) != 0 || !strchr(" \t", rest[5]) || !rest[5])
			return fail(why, whylen, -RELAY_ECONFIG,
				    "'%.80s' must be \"BASE64\" or \"BASE64 until "
				    "YYYY-MM-DDTHH:MM:SSZ\"",
				    v);
		date = rest + 5 + strspn(rest + 5, " \t");
		if (tr_parse_utc(date, &pin->until_ms) != 0)
			return fail(why, whylen, -RELAY_ECONFIG,
				    "'%.80s' after until is not a UTC time YYYY-MM-DDTHH:MM:SSZ",
				    date);
	}
	if (b64 == 0 || b64 > PIN_B64_MAX ||
	    rr_b64_decode(v, b64, pin->pub, sizeof(pin->pub), &n) == -EINVAL)
		return fail(why, whylen, -RELAY_ECONFIG, "'%.*s' is not standard base64",
			    (int)(b64 > 80 ? 80 : b64), v);
	if (n != sizeof(pin->pub))
		return fail(why, whylen, -RELAY_ECONFIG,
			    "'%.*s' is %zu bytes, not a 32-byte Ed25519 public key",
			    (int)(b64 > 80 ? 80 : b64), v, n);
	kid_of(pin->pub, pin->kid);
	return 0;
}

/* --------------------------------------------------------- signing */

/*
 * The RFC 6962 tree over leaf[lo, hi): its hash into out, and for every leaf below, the
 * sibling on its path at this level appended to its proof. Children are done before
 * their parent, so each proof runs from the leaf upwards.
 */
static void tree(const unsigned char (*leaf)[RELAY_HASH_LEN], size_t lo, size_t hi,
		 struct relay_sig *sigs, unsigned char out[RELAY_HASH_LEN])
{
	unsigned char l[RELAY_HASH_LEN], r[RELAY_HASH_LEN];
	size_t k = 1;

	if (hi - lo == 1) {
		memcpy(out, leaf[lo], RELAY_HASH_LEN);
		return;
	}
	while (k * 2 < hi - lo)
		k *= 2; /* the largest power of two below hi - lo */
	tree(leaf, lo, lo + k, sigs, l);
	tree(leaf, lo + k, hi, sigs, r);
	for (size_t m = lo; m < hi; m++) {
		struct relay_proof_step *s = &sigs[m].proof[sigs[m].n_proof++];

		s->left = m >= lo + k;
		memcpy(s->hash, s->left ? l : r, RELAY_HASH_LEN);
	}
	inner_hash(l, r, out);
}

static int ed25519_sign(EVP_PKEY *key, const char *msg, size_t len,
			unsigned char sig[RELAY_SIG_LEN])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t siglen = RELAY_SIG_LEN;
	int ok = ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) == 1 &&
		 EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)msg, len) == 1 &&
		 siglen == RELAY_SIG_LEN;

	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -RELAY_ENOMEM;
}

int relay_trust_sign(const struct relay_trust *t, const char *node_id, const char *const *stmts,
		     const size_t *lens, size_t n, int64_t now_ms, struct relay_sig *sigs)
{
	unsigned char (*leaf)[RELAY_HASH_LEN], root[RELAY_HASH_LEN], sig[RELAY_SIG_LEN];
	char rs[ROOT_STMT_MAX];
	size_t rlen;
	int rc;

	if (n == 0)
		return 0;
	if (!t || n > RELAY_BATCH_MAX || strlen(node_id) > RELAY_NODE_ID_MAX)
		return -RELAY_ENOMEM; /* not a batch we can sign: the contract's only error */
	leaf = malloc(n * sizeof(*leaf));
	if (!leaf)
		return -RELAY_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		relay_leaf_hash(stmts[i], lens[i], leaf[i]);
		sigs[i].n_proof = 0;
	}
	tree((const unsigned char (*)[RELAY_HASH_LEN])leaf, 0, n, sigs, root);
	free(leaf);
	rlen = root_statement(node_id, t->kid, now_ms, root, rs, sizeof(rs));
	rc = rlen ? ed25519_sign(t->key, rs, rlen, sig) : -RELAY_ENOMEM;
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		snprintf(sigs[i].node, sizeof(sigs[i].node), "%s", node_id);
		memcpy(sigs[i].kid, t->kid, sizeof(sigs[i].kid));
		sigs[i].at_ms = now_ms;
		memcpy(sigs[i].sig, sig, RELAY_SIG_LEN);
	}
	return 0;
}

/* -------------------------------------------------------- verifying */

void tr_why(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (!why || !whylen)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

static void rfc3339(int64_t ms, char *buf, size_t size)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	if (!gmtime_r(&s, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, size, "%" PRId64 " ms", ms);
}

/* The pin for sig in rt (of `peer` when not NULL) whose until allows sig->at_ms; NULL with
 * why. Borrowed from rt. */
static const struct route_pin *pin_for(const struct route_table *rt, const struct relay_sig *sig,
				       const char *peer, char *why, size_t whylen)
{
	const struct route_pin *expired = NULL;
	const struct route_peer *pp = peer ? route_table_peer(rt, peer) : NULL;
	bool known = false;

	/* the usual case first, without a walk over every peer: the named peer's own pin */
	for (size_t k = 0; pp && k < pp->n_pins; k++) {
		const struct route_pin *p = &pp->pins[k];

		if (strncmp(p->kid, sig->kid, sizeof(p->kid)) == 0 &&
		    !(p->until_ms && sig->at_ms > p->until_ms))
			return p;
	}
	for (size_t i = 0; (pp = route_table_peer_at(rt, i)); i++) {
		for (size_t k = 0; k < pp->n_pins; k++) {
			const struct route_pin *p = &pp->pins[k];

			if (strncmp(p->kid, sig->kid, sizeof(p->kid)) != 0)
				continue;
			known = true;
			if (peer && strcmp(pp->name, peer) != 0)
				continue;
			if (p->until_ms && sig->at_ms > p->until_ms) {
				expired = expired ? expired : p;
				continue;
			}
			return p;
		}
	}
	if (expired) {
		char when[40];

		rfc3339(expired->until_ms, when, sizeof(when));
		tr_why(why, whylen, "key %s expired at %s", expired->kid, when);
	} else if (known) {
		tr_why(why, whylen, "key %.*s is not pinned for peer %s", RELAY_KID_LEN, sig->kid,
			peer);
	} else {
		tr_why(why, whylen, "unknown key id %.*s", RELAY_KID_LEN, sig->kid);
	}
	return NULL;
}

/* Whether key was verified before; with remember, records it. */
static bool cache_check(struct relay_trust *t, const unsigned char key[RELAY_HASH_LEN],
			bool remember)
{
	size_t slot = ((size_t)key[0] | (size_t)key[1] << 8) % CACHE_SLOTS;
	bool hit;

	pthread_mutex_lock(&t->lock);
	hit = t->used[slot] && memcmp(t->cache[slot], key, RELAY_HASH_LEN) == 0;
	if (remember) {
		memcpy(t->cache[slot], key, RELAY_HASH_LEN);
		t->used[slot] = true;
	}
	pthread_mutex_unlock(&t->lock);
	return hit;
}

/* Ed25519 over msg with the raw public key pub: 1 verifies, 0 does not, -1 out of memory. The
 * key object is made here, on a cache miss only, and goes at once. */
static int ed25519_verify(const unsigned char pub[32], const unsigned char sig[RELAY_SIG_LEN],
			  const char *msg, size_t len)
{
	EVP_PKEY *pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
	EVP_MD_CTX *ctx = pkey ? EVP_MD_CTX_new() : NULL;
	int ok;

	if (!ctx) {
		EVP_PKEY_free(pkey);
		return -1;
	}
	ok = EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) == 1 &&
	     EVP_DigestVerify(ctx, sig, RELAY_SIG_LEN, (const unsigned char *)msg, len) == 1;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	return ok;
}

int relay_trust_verify(struct relay_trust *t, const struct route_table *rt, const char *stmt,
		       size_t len, const struct relay_sig *sig, const char *peer, char *why,
		       size_t whylen)
{
	unsigned char h[RELAY_HASH_LEN], key[RELAY_HASH_LEN];
	const struct route_pin *pin;
	char rs[ROOT_STMT_MAX];
	size_t rlen;
	int ok;

	if (why && whylen)
		why[0] = '\0';
	if (!t || !sig) {
		tr_why(why, whylen, "no pinned keys");
		return -RELAY_ETRUST;
	}
	pin = pin_for(rt, sig, peer, why, whylen);
	if (!pin)
		return -RELAY_ETRUST;
	if (sig->n_proof > RELAY_PROOF_MAX || !memchr(sig->node, '\0', sizeof(sig->node))) {
		tr_why(why, whylen, "signature does not verify");
		return -RELAY_ETRUST;
	}
	relay_leaf_hash(stmt, len, h);
	for (size_t i = 0; i < sig->n_proof; i++) {
		const struct relay_proof_step *s = &sig->proof[i];

		if (s->left)
			inner_hash(s->hash, h, h);
		else
			inner_hash(h, s->hash, h);
	}
	rlen = root_statement(sig->node, pin->kid, sig->at_ms, h, rs, sizeof(rs));
	if (rlen == 0) {
		tr_why(why, whylen, "signature does not verify");
		return -RELAY_ETRUST;
	}
	/* the cache key covers the whole root statement (node, kid, at, root) and the sig */
	sha256_3(0x02, rs, rlen, sig->sig, RELAY_SIG_LEN, key);
	if (cache_check(t, key, false))
		return 0;
	ok = ed25519_verify(pin->pub, sig->sig, rs, rlen);
	if (ok < 0) {
		tr_why(why, whylen, "out of memory");
		return -RELAY_ENOMEM;
	}
	if (!ok) {
		tr_why(why, whylen, "signature does not verify");
		return -RELAY_ETRUST;
	}
	cache_check(t, key, true);
	return 0;
}

/* ------------------------------------------------------------ GET /v1/keys */

static char *keys_json(const char *node, const struct relay_trust *t)
{
	char b64[RR_B64_LEN(32) + 1], *pem = NULL, *text = NULL;
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long len;
	json_t *root = NULL;

	if (!bio || PEM_write_bio_PUBKEY(bio, t->key) != 1)
		goto done;
	len = BIO_get_mem_data(bio, &data);
	if (len <= 0 || !(pem = strndup(data, (size_t)len)))
		goto done;
	rr_b64_encode(t->pub, 32, b64);
	root = json_pack("{s:s, s:[{s:s, s:s, s:s, s:s, s:o}]}", "node", node, "keys", "kid",
			 t->kid, "alg", "Ed25519", "public_key", b64, "pem", pem, "valid_until",
			 t->valid_until_ms ? json_integer((json_int_t)t->valid_until_ms)
					   : json_null());
	if (root)
		text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
done:
	json_decref(root);
	free(pem);
	BIO_free(bio);
	return text;
}

enum MHD_Result relay_h_keys(struct relay_req *req)
{
	const struct relay_config *cfg = relay_cfg(req->node);
	enum MHD_Result ret;
	char *text;

	if (!cfg->trust.keys)
		return relay_reply_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", NULL,
					 "no signing key");
	text = keys_json(cfg->node_id, cfg->trust.keys);
	if (!text)
		return relay_reply_retry(req, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
					 "out of memory", 1);
	ret = relay_reply(req, MHD_HTTP_OK, text);
	free(text);
	return ret;
}
