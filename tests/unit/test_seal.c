/*
 * Unit tests for encryption at rest: key files (format, mode, rotation) and sealed records
 * (version 2): round trip, wrong or missing key, tampering anywhere, version 1 still read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "relay/relay.h"
#include "tests/unit/unit_tmpdir.h"

#define K1 "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
#define K1B "k1:HwECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n" /* same id, other key */
#define K2 "k2:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=\n"
#define NOW_MS 1764146615123LL

static char dir[64];

static const char *key_file(const char *name, const char *text, mode_t mode)
{
	static char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

static struct relay_keyring *ring(const char *text)
{
	struct relay_keyring *k = NULL;
	char err[256];

	assert_int_equal(relay_keyring_load(key_file("ring", text, 0600), &k, err, sizeof(err)), 0);
	return k;
}

static void message(struct relay_envelope *env)
{
	static const struct relay_env_limits lim = {1024, 259200, 604800, "82", NOW_MS};
	const char *json = "{\"v\":1,\"id\":\"m-1\",\"from\":\"+821012345678\","
			   "\"to\":\"bob@line.example\",\"text\":\"secret MARKER text\"}";
	struct relay_env_error e;

	assert_int_equal(relay_envelope_parse(json, strlen(json), &lim, env, &e), 0);
}

static int setup(void **state)
{
	(void)state;
	assert_non_null(ut_mkdtemp(dir, sizeof(dir), "test_seal"));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ut_rm_dir(dir);
	return 0;
}

static bool contains(const unsigned char *buf, size_t len, const char *s)
{
	size_t n = strlen(s);

	for (size_t i = 0; i + n <= len; i++)
		if (memcmp(buf + i, s, n) == 0)
			return true;
	return false;
}

static void test_round_trip(void **state)
{
	struct relay_keyring *k = ring(K1);
	struct relay_envelope env, back;
	unsigned char *rec, *rec2;
	size_t n, n2;

	(void)state;
	message(&env);
	assert_int_equal(relay_record_encode(k, &env, &rec, &n), 0);
	assert_int_equal(rec[0], 2);
	assert_false(contains(rec, n, "MARKER"));
	assert_true(contains(rec, n, "bob@line.example")); /* metadata stays readable */
	assert_int_equal(relay_record_decode(k, rec, n, &back), 0);
	assert_int_equal(back.body_len, env.body_len);
	assert_memory_equal(back.body, env.body, env.body_len);
	assert_true(back.is_text);
	relay_envelope_clear(&back);
	/* a fresh nonce each time */
	assert_int_equal(relay_record_encode(k, &env, &rec2, &n2), 0);
	assert_int_equal(n, n2);
	assert_memory_not_equal(rec, rec2, n);
	/* without keys: refused as a key error, not read as plain text */
	assert_int_equal(relay_envelope_decode(rec, n, &back), -RELAY_EKEY);
	assert_null(back.body);
	free(rec);
	free(rec2);
	relay_envelope_clear(&env);
	relay_keyring_free(k);
}

static void test_wrong_key(void **state)
{
	struct relay_keyring *k = ring(K1), *wrong = ring(K1B), *other = ring(K2);
	struct relay_envelope env, back;
	unsigned char *rec;
	size_t n;

	(void)state;
	message(&env);
	assert_int_equal(relay_record_encode(k, &env, &rec, &n), 0);
	assert_int_equal(relay_record_decode(wrong, rec, n, &back), -RELAY_EKEY);
	assert_int_equal(relay_record_decode(other, rec, n, &back), -RELAY_EKEY);
	assert_null(back.body);
	free(rec);
	relay_envelope_clear(&env);
	relay_keyring_free(k);
	relay_keyring_free(wrong);
	relay_keyring_free(other);
}

/* Any flipped bit — metadata (the associated data), key id, nonce, ciphertext or tag — is
 * refused, as corrupt or as failing authentication, never decoded. */
static void test_tamper(void **state)
{
	struct relay_keyring *k = ring(K1);
	struct relay_envelope env, back;
	unsigned char *rec;
	size_t n;

	(void)state;
	message(&env);
	assert_int_equal(relay_record_encode(k, &env, &rec, &n), 0);
	for (size_t i = 0; i < n; i++) {
		for (int bit = 0; bit < 8; bit += 3) {
			rec[i] ^= (unsigned char)(1 << bit);
			int rc = relay_record_decode(k, rec, n, &back);
			assert_true(rc == -RELAY_EKEY || rc == -RELAY_ERECORD);
			assert_null(back.body);
			rec[i] ^= (unsigned char)(1 << bit);
		}
	}
	for (size_t cut = 0; cut < n; cut++)
		assert_int_not_equal(relay_record_decode(k, rec, cut, &back), 0);
	assert_int_equal(relay_record_decode(k, rec, n, &back), 0);
	relay_envelope_clear(&back);
	free(rec);
	relay_envelope_clear(&env);
	relay_keyring_free(k);
}

/* Rotation: a record sealed under k1 reads with the file "k1, k2"; new ones use k2. */
static void test_rotation(void **state)
{
	struct relay_keyring *old = ring(K1), *both = ring(K1 K2), *only2 = ring(K2);
	struct relay_envelope env, back;
	unsigned char *rec, *rec2;
	size_t n, n2;

	(void)state;
	assert_string_equal(relay_keyring_newest(both), "k2");
	message(&env);
	assert_int_equal(relay_record_encode(old, &env, &rec, &n), 0);
	assert_int_equal(relay_record_decode(both, rec, n, &back), 0);
	relay_envelope_clear(&back);
	assert_int_equal(relay_record_encode(both, &env, &rec2, &n2), 0);
	assert_int_equal(relay_record_decode(only2, rec2, n2, &back), 0);
	relay_envelope_clear(&back);
	assert_int_equal(relay_record_decode(only2, rec, n, &back), -RELAY_EKEY);
	/* a reload keeps the retired keys */
	relay_keyring_keep(only2, old);
	assert_string_equal(relay_keyring_newest(only2), "k2");
	assert_int_equal(relay_record_decode(only2, rec, n, &back), 0);
	relay_envelope_clear(&back);
	/* version 1 records stay readable with keys */
	free(rec);
	assert_int_equal(relay_envelope_encode(&env, &rec, &n), 0);
	assert_int_equal(rec[0], 1);
	assert_int_equal(relay_record_decode(both, rec, n, &back), 0);
	relay_envelope_clear(&back);
	free(rec);
	free(rec2);
	relay_envelope_clear(&env);
	relay_keyring_free(old);
	relay_keyring_free(both);
	relay_keyring_free(only2);
}

static const struct {
	const char *text;
	mode_t mode;
	const char *says;
} bad_files[] = {
    {K1, 0644, "too open"},
    {K1, 0660, "too open"},
    {"", 0600, "holds no key"},
    {"# only a comment\n", 0600, "holds no key"},
    {"k1AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", 0600, ":1: a line is not"},
    {"k 1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", 0600, "key id"},
    {"k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd\n", 0600, "32 bytes"},
    {K1 K1B, 0600, ":2: key id 'k1' appears twice"},
};

static void test_bad_files(void **state)
{
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++) {
		struct relay_keyring *k = (void *)1;
		const char *p = key_file("bad", bad_files[i].text, bad_files[i].mode);

		err[0] = '\0';
		assert_int_equal(relay_keyring_load(p, &k, err, sizeof(err)), -RELAY_ECONFIG);
		assert_null(k);
		if (!strstr(err, bad_files[i].says) || strncmp(err, p, strlen(p)) != 0)
			fail_msg("case %zu: %s", i, err);
	}
	struct relay_keyring *k = NULL;
	assert_int_equal(relay_keyring_load(key_file("ok", "\n# c\n" K1, 0640), &k, err,
					    sizeof(err)),
			 0);
	relay_keyring_free(k);
	assert_int_equal(relay_keyring_load("/nonexistent/key", &k, err, sizeof(err)),
			 -RELAY_ECONFIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip), cmocka_unit_test(test_wrong_key),
		cmocka_unit_test(test_tamper),     cmocka_unit_test(test_rotation),
		cmocka_unit_test(test_bad_files),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
