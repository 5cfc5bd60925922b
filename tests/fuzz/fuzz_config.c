/*
 * libFuzzer target for the config reader: relay_config_parse on untrusted text (what an
 * operator's typo or a half-written file can hold). Each input is parsed twice, as a reload
 * does, and both runs must agree; a refusal must be one "fuzz.conf[:LINE]: reason" line and
 * anything accepted must hold the documented invariants.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "relay/relay.h"

/* Not assert(): the invariants must hold in any build, NDEBUG or not. */
#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			abort();                                                                   \
	} while (0)

static void check_message(const char *err)
{
	CHECK(strncmp(err, "fuzz.conf:", 10) == 0);
	CHECK(strlen(err) > 11);
	for (const char *p = err; *p; p++)
		CHECK((unsigned char)*p >= 0x20 && *p != 0x7f);
}

static void check_config(const struct relay_config *c)
{
	CHECK(c->node_id && strlen(c->node_id) >= 1 && strlen(c->node_id) <= RELAY_NODE_ID_MAX);
	CHECK(c->data_dir && c->data_dir[0]);
	CHECK(c->carrier.address && c->carrier.port > 0);
	CHECK(c->admin.address && c->admin.port > 0);
	CHECK(c->carrier.plain_http || (c->carrier.tls_cert && c->carrier.tls_key));
	CHECK(c->max_message_size >= 1024 && c->max_message_size <= 16u << 20);
	CHECK(c->store.map_size >= 1u << 20 && c->store.max_map_size >= c->store.map_size);
	CHECK(c->delivery.retry_initial_ms <= c->delivery.retry_max_ms);
	CHECK(c->delivery.default_ttl_s >= 1 && c->delivery.default_ttl_s <= c->delivery.max_ttl_s);
	CHECK(c->delivery.retry_factor >= 1.0 && c->delivery.retry_factor <= 10.0);
	CHECK(c->delivery.concurrency >= 1 && c->delivery.concurrency <= 1024);
	for (size_t i = 0; i < c->n_peers; i++) {
		const struct relay_peer_conf *p = &c->peers[i];

		CHECK(relay_config_peer(c, p->name) == p);
		CHECK(p->token_sha256 || p->cert_sha256);
		CHECK(!p->token_sha256 || strlen(p->token_sha256) == 64);
		CHECK(!p->cert_sha256 || strlen(p->cert_sha256) == 64);
		CHECK(p->n_endpoints <= 8);
		CHECK(p->kind == RELAY_PEER_RELAY || p->n_owns > 0);
		CHECK(p->rate >= 1 && p->burst >= 1 && p->max_queue >= 1);
		CHECK(p->max_size >= 1 && p->max_size <= c->max_message_size);
		for (size_t j = 0; j < p->n_owns; j++)
			CHECK(p->owns[j] && p->owns[j][0]);
	}
	for (size_t i = 0; i < c->n_routes; i++) {
		const struct relay_route_conf *r = &c->routes[i];

		CHECK(relay_config_peer(c, r->peer) != NULL);
		CHECK((r->match == RELAY_ROUTE_DEFAULT) == (r->value == NULL));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct relay_config *a, *b;
	char *text = malloc(size + 1), err1[512], err2[512];
	int rc1, rc2;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0'; /* relay_config_load refuses a NUL byte; here it ends the text */
	rc1 = relay_config_parse("fuzz.conf", text, &a, err1, sizeof(err1));
	rc2 = relay_config_parse("fuzz.conf", text, &b, err2, sizeof(err2));
	CHECK(rc1 == rc2);
	CHECK((rc1 == 0) == (a != NULL) && (rc2 == 0) == (b != NULL));
	if (rc1 == 0) {
		check_config(a);
		CHECK(strcmp(a->node_id, b->node_id) == 0 && a->n_peers == b->n_peers &&
		      a->n_routes == b->n_routes);
	} else {
		CHECK(rc1 == -RELAY_ECONFIG || rc1 == -RELAY_ENOMEM);
		CHECK(strcmp(err1, err2) == 0);
		check_message(err1);
	}
	relay_config_free(a);
	relay_config_free(b);
	free(text);
	return 0;
}
