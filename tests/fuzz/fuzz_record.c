/*
 * libFuzzer target for the stored record: arbitrary bytes through relay_envelope_decode.
 * A record that decodes must encode to the same bytes, and its JSON must pass the wire
 * parser (with limits wide enough for anything the record format allows) unchanged.
 */
#include "relay/relay.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
	if (relay_envelope_encode(&again, &rec2, &n2) != 0 || n2 != n || memcmp(rec, rec2, n) != 0)
		abort();
	free(json);
	free(rec2);
	relay_envelope_clear(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct relay_envelope env;
	unsigned char *rec;
	size_t n;
	int rc = relay_envelope_decode(data, size, &env);

	if (rc == -RELAY_ERECORD) {
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
