/*
 * A TLS listener's certificate and key, served through GnuTLS's certificate
 * callback so that a reload can hand new handshakes a renewed certificate
 * while the listener keeps running and its open connections go on; and the CAs
 * its client certificates are verified with (client-ca), swapped the same way.
 *
 * The callback carries no user pointer, so each TLS listener takes one of
 * TLS_SLOTS slots, each with a callback of its own. A replaced credential is
 * kept until its listener stops: a handshake begun with it may still use it,
 * and GnuTLS neither copies nor frees what the callback hands it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "relay/relay_priv.h"

#define TLS_FILE_MAX (1024 * 1024)
#define CHAIN_MAX 16
#define TLS_SLOTS 4

struct relay_tls_cred {
	gnutls_pcert_st chain[CHAIN_MAX];
	unsigned n;
	gnutls_privkey_t key;
	gnutls_x509_trust_list_t ca;   /* client-ca, or NULL */
	int64_t end_s;                 /* when chain[0] ends */
	unsigned char digest[32];      /* of the certificate, key and client-ca files' contents */
	struct relay_tls_cred *older;  /* replaced ones, kept until the slot is released */
};

char *relay_read_pem(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n;

	if (!f) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	buf = malloc(TLS_FILE_MAX + 1);
	if (!buf) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	n = fread(buf, 1, TLS_FILE_MAX + 1, f);
	if (ferror(f) || n == 0 || n > TLS_FILE_MAX) {
		snprintf(err, errlen, "%s: %s", path,
			 ferror(f) ? strerror(errno) : n ? "larger than 1 MiB" : "empty file");
		free(buf);
		buf = NULL;
		goto out;
	}
	buf[n] = '\0';
out:
	fclose(f);
	return buf;
}

static void free_secret(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void relay_tls_cred_free(struct relay_tls_cred *c)
{
	while (c) {
		struct relay_tls_cred *older = c->older;
		for (unsigned i = 0; i < c->n; i++)
			gnutls_pcert_deinit(&c->chain[i]);
		if (c->key)
			gnutls_privkey_deinit(c->key);
		if (c->ca)
			gnutls_x509_trust_list_deinit(c->ca, 1);
		free(c);
		c = older;
	}
}

int64_t relay_tls_cred_end(const struct relay_tls_cred *c)
{
	return c ? c->end_s : 0;
}

/* When the first certificate of the chain ends, in seconds since the epoch; 0 if unknown. */
static int64_t chain_end(const gnutls_pcert_st *first)
{
	gnutls_x509_crt_t x;
	int64_t end = 0;

	if (gnutls_x509_crt_init(&x) < 0)
		return 0;
	if (gnutls_x509_crt_import(x, &first->cert, GNUTLS_X509_FMT_DER) >= 0)
		end = (int64_t)gnutls_x509_crt_get_expiration_time(x);
	gnutls_x509_crt_deinit(x);
	return end > 0 ? end : 0;
}

/* Whether the key belongs to the certificate (GnuTLS checks when both are set). */
static int check_pair(const gnutls_datum_t *cert, const gnutls_datum_t *key, const char *cert_path,
		      const char *key_path, char *err, size_t errlen)
{
	gnutls_certificate_credentials_t cred;
	int rc;

	if (gnutls_certificate_allocate_credentials(&cred) < 0) {
		snprintf(err, errlen, "out of memory");
		return -RELAY_ENOMEM;
	}
	rc = gnutls_certificate_set_x509_key_mem2(cred, cert, key, GNUTLS_X509_FMT_PEM, NULL, 0);
	gnutls_certificate_free_credentials(cred);
	if (rc < 0) {
		snprintf(err, errlen, "tls-cert %s, tls-key %s: %s", cert_path, key_path,
			 gnutls_strerror(rc));
		return -RELAY_ELISTEN;
	}
	return 0;
}

/* The CAs of a client-ca file (PEM, one or more); *pem keeps its text for the digest. */
static int load_ca(const char *path, gnutls_x509_trust_list_t *out, char **pem, char *err,
		   size_t errlen)
{
	gnutls_datum_t d;
	int g;

	if (!(*pem = relay_read_pem(path, err, errlen)))
		return -RELAY_ELISTEN;
	if (!strstr(*pem, "-----BEGIN CERTIFICATE-----")) {
		snprintf(err, errlen, "client-ca %s: no PEM certificate in it", path);
		return -RELAY_ELISTEN;
	}
	if (gnutls_x509_trust_list_init(out, 0) < 0) {
		snprintf(err, errlen, "out of memory");
		return -RELAY_ENOMEM;
	}
	d = (gnutls_datum_t){(unsigned char *)*pem, (unsigned)strlen(*pem)};
	g = gnutls_x509_trust_list_add_trust_mem(*out, &d, NULL, GNUTLS_X509_FMT_PEM, 0, 0);
	if (g <= 0) {
		snprintf(err, errlen, "client-ca %s: %s", path,
			 g == 0 ? "no PEM certificate in it" : gnutls_strerror(g));
		return -RELAY_ELISTEN;
	}
	return 0;
}

int relay_tls_cred_load(const struct relay_listener_conf *l, struct relay_tls_cred **out,
			char *err, size_t errlen)
{
	struct relay_tls_cred *c = NULL;
	char *cert_pem = NULL, *key_pem = NULL, *ca_pem = NULL;
	gnutls_datum_t cert, key;
	int rc = -RELAY_ELISTEN;

	*out = NULL;
	if (!(cert_pem = relay_read_pem(l->tls_cert, err, errlen)) ||
	    !(key_pem = relay_read_pem(l->tls_key, err, errlen)))
		goto done;
	if (!strstr(cert_pem, "-----BEGIN CERTIFICATE-----")) {
		snprintf(err, errlen, "tls-cert %s: no PEM certificate in it", l->tls_cert);
		goto done;
	}
	if (!strstr(key_pem, "-----BEGIN ") || !strstr(key_pem, "PRIVATE KEY-----")) {
		snprintf(err, errlen, "tls-key %s: no PEM private key in it", l->tls_key);
		goto done;
	}
	cert = (gnutls_datum_t){(unsigned char *)cert_pem, (unsigned)strlen(cert_pem)};
	key = (gnutls_datum_t){(unsigned char *)key_pem, (unsigned)strlen(key_pem)};
	rc = -RELAY_ENOMEM;
	if (!(c = calloc(1, sizeof(*c))) || gnutls_privkey_init(&c->key) < 0) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	rc = -RELAY_ELISTEN;
	c->n = CHAIN_MAX;
	int g = gnutls_pcert_list_import_x509_raw(c->chain, &c->n, &cert, GNUTLS_X509_FMT_PEM,
						  GNUTLS_X509_CRT_LIST_IMPORT_FAIL_IF_EXCEED);
	if (g < 0) {
		c->n = 0;
		snprintf(err, errlen, "tls-cert %s: %s", l->tls_cert,
			 g == GNUTLS_E_SHORT_MEMORY_BUFFER ? "more than 16 certificates"
							   : gnutls_strerror(g));
		goto done;
	}
	if ((g = gnutls_privkey_import_x509_raw(c->key, &key, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
		snprintf(err, errlen, "tls-key %s: %s", l->tls_key, gnutls_strerror(g));
		goto done;
	}
	/* each file read on its own first: GnuTLS leaks on a broken certificate here */
	if ((rc = check_pair(&cert, &key, l->tls_cert, l->tls_key, err, errlen)) != 0)
		goto done;
	if (l->client_ca && (rc = load_ca(l->client_ca, &c->ca, &ca_pem, err, errlen)) != 0)
		goto done;
	c->end_s = chain_end(&c->chain[0]);
	gnutls_hash_hd_t h;
	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0) {
		snprintf(err, errlen, "out of memory");
		rc = -RELAY_ENOMEM;
		goto done;
	}
	gnutls_hash(h, cert.data, cert.size);
	gnutls_hash(h, key.data, key.size);
	if (ca_pem)
		gnutls_hash(h, ca_pem, strlen(ca_pem));
	gnutls_hash_deinit(h, c->digest);
	*out = c;
	c = NULL;
	rc = 0;
done:
	relay_tls_cred_free(c);
	free(cert_pem);
	free(ca_pem);
	free_secret(key_pem);
	return rc;
}

/* Whether the client's chain in s verifies against c's client-ca. */
static bool cred_verify(const struct relay_tls_cred *c, gnutls_session_t s)
{
	const gnutls_datum_t *der;
	gnutls_x509_crt_t crt[CHAIN_MAX];
	unsigned n = 0, got, status = 1;

	if (!c || !c->ca || !(der = gnutls_certificate_get_peers(s, &n)) || n == 0)
		return false;
	if (n > CHAIN_MAX)
		n = CHAIN_MAX;
	for (got = 0; got < n; got++) {
		if (gnutls_x509_crt_init(&crt[got]) < 0)
			break;
		if (gnutls_x509_crt_import(crt[got], &der[got], GNUTLS_X509_FMT_DER) < 0) {
			gnutls_x509_crt_deinit(crt[got]);
			break;
		}
	}
	bool ok = got == n &&
		  gnutls_x509_trust_list_verify_crt(c->ca, crt, n, 0, &status, NULL) >= 0 &&
		  status == 0;
	for (unsigned i = 0; i < got; i++)
		gnutls_x509_crt_deinit(crt[i]);
	return ok;
}

int relay_tls_load_listeners(const struct relay_config *cfg, const bool want[RELAY_LISTENERS],
			     struct relay_tls_cred *out[RELAY_LISTENERS], char *err, size_t errlen)
{
	const struct relay_listener_conf *l[RELAY_LISTENERS] = {&cfg->carrier, &cfg->admin};
	static const char *const name[RELAY_LISTENERS] = {"carrier", "admin"};
	char why[512];

	for (int i = 0; i < RELAY_LISTENERS; i++)
		out[i] = NULL;
	for (int i = 0; i < RELAY_LISTENERS; i++) {
		if (!want[i] || l[i]->plain_http)
			continue;
		int rc = relay_tls_cred_load(l[i], &out[i], why, sizeof(why));
		if (rc != 0) {
			snprintf(err, errlen, "%s listener: %s", name[i], why);
			for (int j = 0; j < i; j++) {
				relay_tls_cred_free(out[j]);
				out[j] = NULL;
			}
			return rc;
		}
	}
	return 0;
}

int relay_config_check_tls(const struct relay_config *cfg, char *err, size_t errlen)
{
	const bool all[RELAY_LISTENERS] = {true, true};
	struct relay_tls_cred *c[RELAY_LISTENERS];
	int rc = relay_tls_load_listeners(cfg, all, c, err, errlen);

	for (int i = 0; i < RELAY_LISTENERS; i++)
		relay_tls_cred_free(c[i]);
	return rc;
}

/* ------------------------------------------------------------ slots */

static struct {
	pthread_mutex_t lock; /* claims and releases; a renewal publishes with an atomic */
	bool used[TLS_SLOTS];
	_Atomic(struct relay_tls_cred *) cur[TLS_SLOTS];
} slots = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Hands GnuTLS the slot's credential: the chain as it is, whatever the client asked. */
static int serve(int slot, gnutls_pcert_st **pcert, unsigned int *n, gnutls_privkey_t *key)
{
	struct relay_tls_cred *c = atomic_load(&slots.cur[slot]);

	if (!c)
		return -1;
	*pcert = c->chain;
	*n = c->n;
	*key = c->key;
	return 0;
}

#define SLOT_CALLBACK(i)                                                                         \
	static int serve##i(gnutls_session_t s, const gnutls_datum_t *ca, int n_ca,              \
			    const gnutls_pk_algorithm_t *algos, int n_algos,                     \
			    gnutls_pcert_st **pcert, unsigned int *n, gnutls_privkey_t *key)     \
	{                                                                                        \
		(void)s, (void)ca, (void)n_ca, (void)algos, (void)n_algos;                       \
		return serve(i, pcert, n, key);                                                  \
	}
SLOT_CALLBACK(0)
SLOT_CALLBACK(1)
SLOT_CALLBACK(2)
SLOT_CALLBACK(3)
static gnutls_certificate_retrieve_function2 *const callbacks[TLS_SLOTS] = {serve0, serve1,
									    serve2, serve3};

int relay_tls_listen(struct relay_tls_cred *c, int *slot,
		     gnutls_certificate_retrieve_function2 **cb, char *err, size_t errlen)
{
	pthread_mutex_lock(&slots.lock);
	for (int i = 0; i < TLS_SLOTS; i++) {
		if (slots.used[i])
			continue;
		slots.used[i] = true;
		atomic_store(&slots.cur[i], c);
		pthread_mutex_unlock(&slots.lock);
		*slot = i;
		*cb = callbacks[i];
		return 0;
	}
	pthread_mutex_unlock(&slots.lock);
	snprintf(err, errlen, "more than %d TLS listeners in one process", TLS_SLOTS);
	return -RELAY_ELISTEN;
}

bool relay_tls_verify(int slot, gnutls_session_t s)
{
	return cred_verify(atomic_load(&slots.cur[slot]), s);
}

bool relay_tls_renew(int slot, struct relay_tls_cred *c)
{
	struct relay_tls_cred *cur = atomic_load(&slots.cur[slot]);

	if (cur && memcmp(cur->digest, c->digest, sizeof(c->digest)) == 0) {
		relay_tls_cred_free(c);
		return false;
	}
	c->older = cur;
	atomic_store(&slots.cur[slot], c);
	return true;
}

void relay_tls_release(int slot)
{
	pthread_mutex_lock(&slots.lock);
	relay_tls_cred_free(atomic_exchange(&slots.cur[slot], NULL));
	slots.used[slot] = false;
	pthread_mutex_unlock(&slots.lock);
}
