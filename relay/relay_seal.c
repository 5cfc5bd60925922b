/*
 * Encryption at rest: the store's key ring (a key file of "ID:BASE64" lines, the last one
 * the newest) and AES-256-GCM sealing of message bodies, with OpenSSL's EVP. OpenSSL's
 * 1-is-success convention stops here; these functions return 0 or -RELAY_E*.
 */
#include "relay/relay_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define KEYS_MAX      64
#define KEY_FILE_MAX  (64 * 1024)
#define B64_KEY_LEN   44 /* 32 bytes in base64, with one '=' */
#define CANARY_TABLE  RELAY_SEAL_TABLE
#define CANARY_PREFIX "canary:"
#define CANARY_TEXT   "interlink store canary"
#define CANARY_AAD    "interlink-canary-v1"

struct seal_key {
	char id[RELAY_SEAL_ID_MAX + 1];
	unsigned char key[RELAY_SEAL_KEY_LEN];
};

struct relay_keyring {
	struct seal_key keys[KEYS_MAX];
	size_t n; /* keys[n - 1] is the newest */
};

static const struct seal_key *find(const struct relay_keyring *k, const char *id)
{
	for (size_t i = 0; k && i < k->n; i++)
		if (strcmp(k->keys[i].id, id) == 0)
			return &k->keys[i];
	return NULL;
}

/* One "ID:BASE64" line (trimmed) into *out; 0 or -1 with why. */
static int parse_line(char *line, struct seal_key *out, const char **why)
{
	char *colon = strchr(line, ':'), *b64;
	unsigned char raw[RELAY_SEAL_KEY_LEN];
	size_t blen, n;

	if (!colon) {
		*why = "a line is not ID:BASE64";
		return -1;
	}
	*colon = '\0';
	b64 = colon + 1;
	blen = strlen(b64);
	if (!rr_seal_id_ok(line, strlen(line))) {
		*why = "a key id must be 1-32 of [A-Za-z0-9._-]";
		return -1;
	}
	if (blen != B64_KEY_LEN || rr_b64_decode(b64, blen, raw, sizeof(raw), &n) != 0 ||
	    n != RELAY_SEAL_KEY_LEN) {
		OPENSSL_cleanse(raw, sizeof(raw));
		*why = "a key must be 32 bytes in base64 (44 characters, as `openssl rand "
		       "-base64 32` prints)";
		return -1;
	}
	snprintf(out->id, sizeof(out->id), "%s", line);
	memcpy(out->key, raw, RELAY_SEAL_KEY_LEN);
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
}

static int parse(struct relay_keyring *k, char *text, const char *path, char *err,
		 size_t errlen)
{
	int lineno = 0;

	for (char *line = text, *next; line; line = next) {
		const char *why = NULL;
		size_t len;

		if ((next = strchr(line, '\n')))
			*next++ = '\0';
		lineno++;
		while (*line == ' ' || *line == '\t')
			line++;
		len = strlen(line);
		while (len && strchr(" \t\r", line[len - 1]))
			line[--len] = '\0';
		if (len == 0 || line[0] == '#')
			continue;
		if (k->n == KEYS_MAX) {
			snprintf(err, errlen, "%s: more than %d keys", path, KEYS_MAX);
			return -RELAY_ECONFIG;
		}
		if (parse_line(line, &k->keys[k->n], &why) != 0) {
			snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
			return -RELAY_ECONFIG;
		}
		if (find(k, k->keys[k->n].id)) {
			snprintf(err, errlen, "%s:%d: key id '%s' appears twice", path, lineno,
				 k->keys[k->n].id);
			return -RELAY_ECONFIG;
		}
		k->n++;
	}
	if (k->n == 0) {
		snprintf(err, errlen, "%s: holds no key", path);
		return -RELAY_ECONFIG;
	}
	return 0;
}

int relay_keyring_load(const char *path, struct relay_keyring **out, char *err, size_t errlen)
{
	struct relay_keyring *k = NULL;
	char *text = NULL;
	struct stat st;
	ssize_t got;
	int rc = -RELAY_ECONFIG, fd = open(path, O_RDONLY | O_CLOEXEC);

	*out = NULL;
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot be read: %s", path, strerror(errno));
		return -RELAY_ECONFIG;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: is not a regular file", path);
		goto fail;
	}
	if (st.st_mode & 0027) {
		snprintf(err, errlen,
			 "%s: mode %04o is too open: a key file must not be writable by its group "
			 "nor readable by others (chmod 0600)",
			 path, (unsigned)(st.st_mode & 07777));
		goto fail;
	}
	if (st.st_size > KEY_FILE_MAX) {
		snprintf(err, errlen, "%s: larger than %d bytes", path, KEY_FILE_MAX);
		goto fail;
	}
	rc = -RELAY_ENOMEM;
	if (!(text = calloc(1, (size_t)st.st_size + 1)) || !(k = calloc(1, sizeof(*k)))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	rc = -RELAY_ECONFIG;
	got = read(fd, text, (size_t)st.st_size);
	if (got != st.st_size) {
		snprintf(err, errlen, "%s: cannot be read: %s", path,
			 got < 0 ? strerror(errno) : "short read");
		goto fail;
	}
	if (memchr(text, '\0', (size_t)got)) {
		snprintf(err, errlen, "%s: holds a NUL byte", path);
		goto fail;
	}
	if ((rc = parse(k, text, path, err, errlen)) != 0)
		goto fail;
	OPENSSL_cleanse(text, (size_t)st.st_size);
	free(text);
	close(fd);
	*out = k;
	return 0;
fail:
	if (text)
		OPENSSL_cleanse(text, (size_t)st.st_size);
	free(text);
	relay_keyring_free(k);
	close(fd);
	return rc;
}

void relay_keyring_keep(struct relay_keyring *k, const struct relay_keyring *old)
{
	/* Old keys go before the file's, so the file's last line stays the newest. */
	struct relay_keyring merged = {.n = 0};

	if (!k || !old)
		return;
	for (size_t i = 0; i < old->n && merged.n < KEYS_MAX - k->n; i++)
		if (!find(k, old->keys[i].id))
			merged.keys[merged.n++] = old->keys[i];
	for (size_t i = 0; i < k->n; i++)
		merged.keys[merged.n++] = k->keys[i];
	*k = merged;
	OPENSSL_cleanse(&merged, sizeof(merged));
}

void relay_keyring_free(struct relay_keyring *k)
{
	if (!k)
		return;
	OPENSSL_cleanse(k, sizeof(*k));
	free(k);
}

const char *relay_keyring_newest(const struct relay_keyring *k)
{
	return k && k->n ? k->keys[k->n - 1].id : NULL;
}

/* ---------------------------------------------------------------- AES-256-GCM */

int relay_seal_nonce(unsigned char nonce[RELAY_SEAL_NONCE_LEN])
{
	return RAND_bytes(nonce, RELAY_SEAL_NONCE_LEN) == 1 ? 0 : -RELAY_ENOMEM;
}

static int gcm(const unsigned char key[RELAY_SEAL_KEY_LEN], bool enc,
	       const unsigned char nonce[RELAY_SEAL_NONCE_LEN], const unsigned char *aad,
	       size_t aadlen, const unsigned char *in, size_t n, unsigned char *out,
	       unsigned char tag[RELAY_SEAL_TAG_LEN])
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int ok, len;

	if (!ctx)
		return -RELAY_ENOMEM;
	if (n > INT_MAX || aadlen > INT_MAX) {
		EVP_CIPHER_CTX_free(ctx);
		return -RELAY_ERECORD;
	}
	ok = EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) == 1 &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, RELAY_SEAL_NONCE_LEN, NULL) == 1 &&
	     EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc) == 1 &&
	     EVP_CipherUpdate(ctx, NULL, &len, aad, (int)aadlen) == 1 &&
	     (n == 0 || EVP_CipherUpdate(ctx, out, &len, in, (int)n) == 1);
	if (ok && !enc)
		ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, RELAY_SEAL_TAG_LEN, tag) == 1;
	ok = ok && EVP_CipherFinal_ex(ctx, out + n, &len) == 1;
	if (ok && enc)
		ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, RELAY_SEAL_TAG_LEN, tag) == 1;
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : enc ? -RELAY_ENOMEM : -RELAY_EKEY;
}

int relay_seal(const struct relay_keyring *k, const unsigned char nonce[RELAY_SEAL_NONCE_LEN],
	       const unsigned char *aad, size_t aadlen, const unsigned char *pt, size_t n,
	       unsigned char *ct, unsigned char tag[RELAY_SEAL_TAG_LEN])
{
	if (!k || !k->n)
		return -RELAY_EKEY;
	return gcm(k->keys[k->n - 1].key, true, nonce, aad, aadlen, pt, n, ct, tag);
}

int relay_unseal(const struct relay_keyring *k, const char *id,
		 const unsigned char nonce[RELAY_SEAL_NONCE_LEN], const unsigned char *aad,
		 size_t aadlen, const unsigned char *ct, size_t n, unsigned char *pt,
		 const unsigned char tag[RELAY_SEAL_TAG_LEN])
{
	const struct seal_key *key = find(k, id);
	unsigned char t[RELAY_SEAL_TAG_LEN];

	if (!key)
		return -RELAY_EKEY;
	memcpy(t, tag, sizeof(t));
	return gcm(key->key, false, nonce, aad, aadlen, ct, n, pt, t);
}

/* ---------------------------------------------------------------- the store's canaries */

/* A canary value: nonce, then the sealed CANARY_TEXT, then its tag. */
#define CANARY_LEN (RELAY_SEAL_NONCE_LEN + sizeof(CANARY_TEXT) - 1 + RELAY_SEAL_TAG_LEN)

struct check {
	const struct relay_keyring *k;
	size_t seen, known;
	char *err;
	size_t errlen;
	int rc;
};

static int check_one(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct check *c = arg;
	const unsigned char *v = val;
	unsigned char pt[sizeof(CANARY_TEXT)];
	char id[RELAY_SEAL_ID_MAX + 1];
	size_t plen = sizeof(CANARY_PREFIX) - 1, n = sizeof(CANARY_TEXT) - 1;

	if (klen <= plen || klen - plen > RELAY_SEAL_ID_MAX)
		return 0;
	memcpy(id, (const char *)key + plen, klen - plen);
	id[klen - plen] = '\0';
	c->seen++;
	if (!find(c->k, id))
		return 0;
	c->known++;
	if (vlen != CANARY_LEN ||
	    relay_unseal(c->k, id, v, (const unsigned char *)CANARY_AAD, sizeof(CANARY_AAD) - 1,
			 v + RELAY_SEAL_NONCE_LEN, n, pt, v + RELAY_SEAL_NONCE_LEN + n) != 0 ||
	    memcmp(pt, CANARY_TEXT, n) != 0) {
		snprintf(c->err, c->errlen,
			 "key '%s' of the key file is not the key that sealed this store's records "
			 "under that id (wrong key file?)",
			 id);
		c->rc = -RELAY_EKEY;
		return 1;
	}
	return 0;
}

int relay_seal_check_store(struct queue *q, const struct relay_keyring *k, char *err,
			   size_t errlen)
{
	struct check c = {.k = k, .err = err, .errlen = errlen};
	unsigned char val[CANARY_LEN];
	char key[sizeof(CANARY_PREFIX) + RELAY_SEAL_ID_MAX];
	const char *newest = relay_keyring_newest(k);
	struct queue_op op = {.type = QUEUE_OP_KV_PUT};
	void *old = NULL;
	size_t olen;
	int rc = queue_kv_scan(q, CANARY_TABLE, NULL, 0, CANARY_PREFIX,
			       sizeof(CANARY_PREFIX) - 1, check_one, &c);

	if (rc != 0) {
		snprintf(err, errlen, "store: key canaries: %s", queue_strerror(rc));
		return -RELAY_ECONFIG;
	}
	if (c.rc)
		return c.rc;
	if (!newest && c.seen) { /* its sealed records would all fail */
		snprintf(err, errlen,
			 "this store holds records sealed at rest: store { key-file } is needed "
			 "to read them");
		return -RELAY_EKEY;
	}
	if (!newest)
		return 0;
	if (c.seen && !c.known) {
		snprintf(err, errlen,
			 "none of the key file's ids matches a key that sealed this store's "
			 "records (wrong key file?)");
		return -RELAY_EKEY;
	}
	snprintf(key, sizeof(key), "%s%s", CANARY_PREFIX, newest);
	if (queue_kv_get(q, CANARY_TABLE, key, strlen(key), &old, &olen) == 0) {
		free(old); /* it opened above */
		return 0;
	}
	if ((rc = relay_seal_nonce(val)) != 0 ||
	    (rc = relay_seal(k, val, (const unsigned char *)CANARY_AAD, sizeof(CANARY_AAD) - 1,
			     (const unsigned char *)CANARY_TEXT, sizeof(CANARY_TEXT) - 1,
			     val + RELAY_SEAL_NONCE_LEN,
			     val + RELAY_SEAL_NONCE_LEN + sizeof(CANARY_TEXT) - 1)) != 0) {
		snprintf(err, errlen, "store: cannot seal the key canary");
		return rc;
	}
	op.u.kv = (struct queue_op_kv){.table = CANARY_TABLE, .key = key, .klen = strlen(key),
				       .val = val, .vlen = sizeof(val)};
	if ((rc = queue_exec(q, &op)) != 0) {
		snprintf(err, errlen, "store: cannot record the key canary: %s",
			 queue_strerror(rc));
		return -RELAY_ECONFIG;
	}
	return 0;
}
