/*
 * libFuzzer target for the stored record: arbitrary bytes through relay_envelope_decode.
 * A record that decodes must encode to the same bytes, and its JSON must pass the wire
 * parser (with limits wide enough for anything the record format allows) unchanged, but for
 * the level, which only stored records hold.
 * The same bytes also go through relay_record_decode under a fixed key (a sealed record,
 * version 2, must be refused cleanly when it does not authenticate).
 */
#include "relay/relay.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* now = INT64_MAX disables the "ts in the future" bound; the rest admit any record. */
static const struct relay_env_limits WIDE = {SIZE_MAX, 1, UINT32_MAX, NULL, INT64_MAX};

/* The decoder and the JSON parser must agree on what a valid envelope is. */
static void check_json(const struct relay_envelope *env, const unsigned char *rec, size_t n)
{
	struct relay_envelope again;
	struct relay_env_error err;
	unsigned char *rec2;
	size_t len, n2;
	char *json = relay_envelope_to_json(env, &len);

	if (!json || relay_envelope_parse(json, len, &WIDE, &again, &err) != 0)
		abort();
	again.level = env->level; /* stored records only: not on the wire (relay.h) */
	if (relay_envelope_encode(&again, &rec2, &n2) != 0 || n2 != n || memcmp(rec, rec2, n) != 0)
		abort();
	free(json);
	free(rec2);
	relay_envelope_clear(&again);
}

/* A fixed key ring, from a key file written once. */
static struct relay_keyring *keys(void)
{
	static struct relay_keyring *k;
	char path[] = "/tmp/fuzz_record_key.XXXXXX", err[256];
	int fd;

	if (k)
		return k;
	if ((fd = mkstemp(path)) < 0)
		abort();
	if (dprintf(fd, "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n") < 0 ||
	    fchmod(fd, 0600) != 0 || relay_keyring_load(path, &k, err, sizeof(err)) != 0)
		abort();
	close(fd);
	unlink(path);
	return k;
}

static void sealed(const uint8_t *data, size_t size)
{
	struct relay_envelope env;
	int rc = relay_record_decode(keys(), data, size, &env);

	if (rc == -RELAY_ERECORD || rc == -RELAY_EKEY) {
		if (env.body)
			abort();
		return;
	}
	if (rc != 0)
		abort();
	relay_envelope_clear(&env);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct relay_envelope env;
	unsigned char *rec;
	size_t n;
	int rc = relay_envelope_decode(data, size, &env);

	sealed(data, size);
	if (rc == -RELAY_ERECORD || rc == -RELAY_EKEY) {
		if (env.body)
			abort();
		return 0;
	}
	if (rc != 0)
		abort();
	if (relay_envelope_encode(&env, &rec, &n) != 0 || n != size || memcmp(rec, data, n) != 0)
		abort();
	check_json(&env, data, size);
	free(rec);
	relay_envelope_clear(&env);
	return 0;
}
