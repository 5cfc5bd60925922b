/*
 * Unit tests for relay/relay_tls.c: loading a listener's certificate and key (each
 * fault with the reason it must give), renewing what a slot serves, and the slots.
 * Certificates are made here with OpenSSL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "relay/relay_priv.h"
#include "tests/unit/unit_tmpdir.h"

static char dir[64];

static char *path(const char *name)
{
	static char buf[4][128];
	static int i;
	char *p = buf[i++ % 4];
	snprintf(p, sizeof(buf[0]), "%s/%s", dir, name);
	return p;
}

static void write_file(const char *name, const char *text)
{
	FILE *f = fopen(path(name), "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* A P-256 key and a self-signed certificate valid for days, appended to cert_name (so a
 * chain can be built) and written to key_name. */
static void make_pair(const char *cert_name, const char *key_name, long days)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	FILE *f;

	assert_non_null(k);
	assert_non_null(x);
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)time(NULL) ^ (long)days);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), days * 86400);
	X509_set_pubkey(x, k);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"127.0.0.1", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	assert_non_null(f = fopen(path(cert_name), "a"));
	assert_int_equal(PEM_write_X509(f, x), 1);
	fclose(f);
	assert_non_null(f = fopen(path(key_name), "w"));
	assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(k);
}

static int setup(void **state)
{
	(void)state;
	if (!ut_mkdtemp(dir, sizeof(dir), "interlink-tls"))
		return -1;
	make_pair("a.crt", "a.key", 2);
	make_pair("b.crt", "b.key", 9);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ut_rm_dir(dir);
	return 0;
}

static struct relay_listener_conf conf(const char *cert, const char *key)
{
	return (struct relay_listener_conf){.tls_cert = path(cert), .tls_key = path(key)};
}

/* Loads cert and key; the error text, or "" when loaded (then freed). */
static const char *load(const char *cert, const char *key)
{
	static char err[512];
	struct relay_listener_conf l = conf(cert, key);
	struct relay_tls_cred *c = (struct relay_tls_cred *)1;

	err[0] = '\0';
	int rc = relay_tls_cred_load(&l, &c, err, sizeof(err));
	if (rc == 0) {
		assert_non_null(c);
		relay_tls_cred_free(c);
		assert_string_equal(err, "");
	} else {
		assert_int_equal(rc, -RELAY_ELISTEN);
		assert_null(c);
	}
	return err;
}

static void test_load_good(void **state)
{
	(void)state;
	assert_string_equal(load("a.crt", "a.key"), "");
	assert_string_equal(load("b.crt", "b.key"), "");
}

static void test_load_faults(void **state)
{
	char want[512];
	(void)state;

	snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", path("none"));
	assert_string_equal(load("none", "a.key"), want);
	assert_string_equal(load("a.crt", "none"), want);
	write_file("empty", "");
	snprintf(want, sizeof(want), "%s: empty file", path("empty"));
	assert_string_equal(load("empty", "a.key"), want);
	write_file("junk", "not a certificate\n");
	snprintf(want, sizeof(want), "tls-cert %s: no PEM certificate in it", path("junk"));
	assert_string_equal(load("junk", "a.key"), want);
	snprintf(want, sizeof(want), "tls-key %s: no PEM private key in it", path("a.crt"));
	assert_string_equal(load("a.crt", "a.crt"), want);
	snprintf(want, sizeof(want),
		 "tls-cert %s, tls-key %s: The certificate and the given key do not match.",
		 path("a.crt"), path("b.key"));
	assert_string_equal(load("a.crt", "b.key"), want);
	write_file("broken", "-----BEGIN CERTIFICATE-----\nAAAA!!\n-----END CERTIFICATE-----\n");
	/* GnuTLS's reason after the file's name (its wording is GnuTLS's) */
	snprintf(want, sizeof(want), "tls-cert %s: Base64 ", path("broken"));
	assert_memory_equal(load("broken", "a.key"), want, strlen(want));
	write_file("broken.key", "-----BEGIN PRIVATE KEY-----\nAAAA!!\n-----END PRIVATE KEY-----\n");
	snprintf(want, sizeof(want), "tls-key %s: Base64 ", path("broken.key"));
	assert_memory_equal(load("a.crt", "broken.key"), want, strlen(want));
}

/* A chain: the leaf first, then what signed it (here just more certificates); at most 16. */
static void test_load_chain(void **state)
{
	char want[512], name[16];
	(void)state;

	make_pair("chain.crt", "chain.key", 3);
	for (int i = 1; i < 16; i++) {
		snprintf(name, sizeof(name), "x%d.key", i);
		make_pair("chain.crt", name, 3);
	}
	assert_string_equal(load("chain.crt", "chain.key"), "");
	make_pair("chain.crt", "x16.key", 3);
	snprintf(want, sizeof(want), "tls-cert %s: more than 16 certificates", path("chain.crt"));
	assert_string_equal(load("chain.crt", "chain.key"), want);
}

static struct relay_tls_cred *cred(const char *cert, const char *key)
{
	char err[512];
	struct relay_listener_conf l = conf(cert, key);
	struct relay_tls_cred *c;

	assert_int_equal(relay_tls_cred_load(&l, &c, err, sizeof(err)), 0);
	return c;
}

/* The served credential through the slot's callback, as GnuTLS asks for it. */
static gnutls_pcert_st *served(gnutls_certificate_retrieve_function2 *cb, unsigned *n)
{
	gnutls_pcert_st *pc = NULL;
	gnutls_privkey_t key = NULL;

	*n = 0;
	if (cb(NULL, NULL, 0, NULL, 0, &pc, n, &key) != 0)
		return NULL;
	assert_non_null(key);
	return pc;
}

/* The listener's client-ca: loaded with the pair, its faults named; part of what renews. */
static void test_client_ca(void **state)
{
	char crt[128], key[128], ca[128], err[512], want[512];
	struct relay_listener_conf l = {.tls_cert = crt, .tls_key = key, .client_ca = ca};
	struct relay_tls_cred *c = NULL, *with_ca;
	gnutls_certificate_retrieve_function2 *cb;
	int slot;
	(void)state;

	snprintf(crt, sizeof(crt), "%s", path("a.crt")); /* path()'s buffers are reused */
	snprintf(key, sizeof(key), "%s", path("a.key"));
	snprintf(ca, sizeof(ca), "%s", path("b.crt")); /* any PEM certificate can be a CA */
	assert_int_equal(relay_tls_cred_load(&l, &with_ca, err, sizeof(err)), 0);
	write_file("junk", "not a certificate\n");
	snprintf(ca, sizeof(ca), "%s", path("junk"));
	assert_int_equal(relay_tls_cred_load(&l, &c, err, sizeof(err)), -RELAY_ELISTEN);
	assert_null(c);
	snprintf(want, sizeof(want), "client-ca %s: no PEM certificate in it", path("junk"));
	assert_string_equal(err, want);
	snprintf(ca, sizeof(ca), "%s", path("none"));
	assert_int_equal(relay_tls_cred_load(&l, &c, err, sizeof(err)), -RELAY_ELISTEN);
	snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", path("none"));
	assert_string_equal(err, want);
	/* the same pair with another client-ca is a renewal */
	assert_int_equal(relay_tls_listen(cred("a.crt", "a.key"), &slot, &cb, err, sizeof(err)), 0);
	assert_true(relay_tls_renew(slot, with_ca));
	relay_tls_release(slot);
}

static void test_renew(void **state)
{
	gnutls_certificate_retrieve_function2 *cb;
	struct relay_tls_cred *a = cred("a.crt", "a.key");
	gnutls_pcert_st *first;
	char err[128];
	unsigned n;
	int slot;
	(void)state;

	assert_true(relay_tls_cred_end(a) > time(NULL) + 86400);
	assert_true(relay_tls_cred_end(a) <= time(NULL) + 2 * 86400);
	assert_int_equal(relay_tls_listen(a, &slot, &cb, err, sizeof(err)), 0);
	assert_non_null(first = served(cb, &n));
	assert_int_equal(n, 1);
	/* the same files again: nothing changes */
	assert_false(relay_tls_renew(slot, cred("a.crt", "a.key")));
	assert_ptr_equal(served(cb, &n), first);
	/* other files: served from now on; the old one stays readable until release */
	struct relay_tls_cred *b = cred("b.crt", "b.key");
	assert_true(relay_tls_cred_end(b) > time(NULL) + 8 * 86400);
	assert_true(relay_tls_renew(slot, b));
	gnutls_pcert_st *second = served(cb, &n);
	assert_non_null(second);
	assert_ptr_not_equal(second, first);
	assert_int_not_equal(first->cert.size, 0);
	assert_false(first->cert.size == second->cert.size &&
		     memcmp(first->cert.data, second->cert.data, first->cert.size) == 0);
	relay_tls_release(slot);
	assert_null(served(cb, &n)); /* a released slot serves nothing */
}

static void test_slots(void **state)
{
	gnutls_certificate_retrieve_function2 *cb[5];
	char err[128];
	int slot[5];
	(void)state;

	for (int i = 0; i < 4; i++)
		assert_int_equal(relay_tls_listen(cred("a.crt", "a.key"), &slot[i], &cb[i], err,
						  sizeof(err)),
				 0);
	for (int i = 1; i < 4; i++)
		assert_ptr_not_equal(cb[i], cb[i - 1]);
	struct relay_tls_cred *c = cred("b.crt", "b.key");
	assert_int_equal(relay_tls_listen(c, &slot[4], &cb[4], err, sizeof(err)), -RELAY_ELISTEN);
	assert_string_equal(err, "more than 4 TLS listeners in one process");
	relay_tls_release(slot[2]); /* a slot given back is taken again */
	assert_int_equal(relay_tls_listen(c, &slot[4], &cb[4], err, sizeof(err)), 0);
	assert_int_equal(slot[4], slot[2]);
	relay_tls_release(slot[0]);
	relay_tls_release(slot[1]);
	relay_tls_release(slot[3]);
	relay_tls_release(slot[4]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_load_good),  cmocka_unit_test(test_client_ca),
	    cmocka_unit_test(test_load_faults),
	    cmocka_unit_test(test_load_chain), cmocka_unit_test(test_renew),
	    cmocka_unit_test(test_slots),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
