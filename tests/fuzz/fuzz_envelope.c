/*
 * libFuzzer target for the carrier's submission: arbitrary bytes through
 * relay_envelope_parse_batch. Whatever is accepted must serialise, parse back to the same
 * JSON, and survive the binary record byte for byte; every refusal must render as JSON.
 */
#include "relay/relay.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct relay_env_limits LIM = {4096, 259200, 604800, "82", 1764146615123LL};

static void check_error(const struct relay_env_error *err)
{
	char *s = relay_env_error_json(err);

	if (!s || !err->code)
		abort();
	free(s);
}

/* JSON -> JSON -> same text; struct -> record -> struct -> same record. */
static void check_envelope(const struct relay_envelope *env)
{
	struct relay_envelope again, back;
	struct relay_env_error err;
	unsigned char *rec, *rec2;
	size_t len, n, n2;
	char *json = relay_envelope_to_json(env, &len), *json2;

	if (!json || relay_envelope_parse(json, len, &LIM, &again, &err) != 0)
		abort();
	json2 = relay_envelope_to_json(&again, NULL);
	if (!json2 || strcmp(json, json2) != 0)
		abort();
	if (relay_envelope_encode(env, &rec, &n) != 0 || relay_envelope_decode(rec, n, &back) != 0)
		abort();
	if (relay_envelope_encode(&back, &rec2, &n2) != 0 || n != n2 || memcmp(rec, rec2, n) != 0)
		abort();
	free(json);
	free(json2);
	free(rec);
	free(rec2);
	relay_envelope_clear(&again);
	relay_envelope_clear(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct relay_env_item *items;
	struct relay_env_error err;
	size_t n;
	bool is_array;
	int rc = relay_envelope_parse_batch((const char *)data, size, &LIM, &items, &n, &is_array,
					    &err);

	if (rc) {
		if (items || n)
			abort();
		check_error(&err);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (items[i].rc == 0)
			check_envelope(&items[i].env);
		else
			check_error(&items[i].err);
	}
	relay_env_items_free(items, n);
	return 0;
}
