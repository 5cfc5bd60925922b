/*
 * libFuzzer target for routing's stored peer and route records (route_store.c).
 * Input: u8 selector (bit 0: 0 peer, 1 route), u8 key length, the key (clamped to what is
 * left), then the record value. A record that decodes must encode back to the same bytes,
 * and the re-encoding must decode under the same key to the same peer or route (a round
 * trip; a mismatch traps).
 */
#include "routing/routing_priv.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool same_peer(const struct route_peer *a, const struct route_peer *b)
{
	if (!same_str(a->name, b->name) || a->kind != b->kind ||
	    !same_str(a->token_sha256, b->token_sha256) ||
	    !same_str(a->cert_sha256, b->cert_sha256) ||
	    !same_str(a->outbound_token, b->outbound_token) || a->rate != b->rate ||
	    a->burst != b->burst || a->max_size != b->max_size || a->max_queue != b->max_queue ||
	    a->suspended != b->suspended || a->read_only != b->read_only ||
	    a->dir_trusted != b->dir_trusted || a->n_endpoints != b->n_endpoints ||
	    a->n_owns != b->n_owns || a->n_pins != b->n_pins)
		return false;
	for (size_t i = 0; i < a->n_endpoints; i++)
		if (!same_str(a->endpoints[i], b->endpoints[i]))
			return false;
	for (size_t i = 0; i < a->n_owns; i++)
		if (!same_str(a->owns[i], b->owns[i]))
			return false;
	for (size_t i = 0; i < a->n_pins; i++)
		if (strcmp(a->pins[i].kid, b->pins[i].kid) != 0 ||
		    memcmp(a->pins[i].pub, b->pins[i].pub, sizeof(a->pins[i].pub)) != 0 ||
		    a->pins[i].until_ms != b->pins[i].until_ms)
			return false;
	return true;
}

static void check_encoding(const struct rs_wbuf *w, const uint8_t *val, size_t vlen)
{
	if (w->oom || w->len != vlen || (vlen && memcmp(w->p, val, vlen) != 0))
		__builtin_trap(); /* the decoder accepted a form the encoder never writes */
}

static void peer(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
	struct rs_peer_rec pr, again;
	struct rs_wbuf w = {0};
	int rc = rs_peer_decode(key, klen, val, vlen, &pr);

	if (rc != 0) {
		if (rc != -ROUTE_ESTORE && rc != -ROUTE_ENOMEM)
			__builtin_trap();
		rs_peer_rec_free(&pr);
		return;
	}
	if (rs_peer_encode(&pr.p, &w) != 0 ||
	    rs_peer_decode(key, klen, w.p, w.len, &again) != 0 || !same_peer(&pr.p, &again.p))
		__builtin_trap();
	check_encoding(&w, val, vlen);
	rs_peer_rec_free(&again);
	rs_peer_rec_free(&pr);
	free(w.p);
}

static void route(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
	struct route_entry e, again;
	char value[ROUTE_ADDR_DOMAIN_MAX + 1], pname[ROUTE_NAME_MAX + 1];
	char value2[ROUTE_ADDR_DOMAIN_MAX + 1], pname2[ROUTE_NAME_MAX + 1];
	struct rs_wbuf w = {0};
	int rc = rs_route_decode(key, klen, val, vlen, &e, value, pname);

	if (rc != 0) {
		if (rc != -ROUTE_ESTORE)
			__builtin_trap();
		return;
	}
	if (rs_route_encode(&e, &w) != 0 ||
	    rs_route_decode(key, klen, w.p, w.len, &again, value2, pname2) != 0 ||
	    e.match != again.match || !same_str(e.value, again.value) ||
	    !same_str(e.peer, again.peer) || e.read_only != again.read_only)
		__builtin_trap();
	check_encoding(&w, val, vlen);
	free(w.p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t klen;

	if (size < 2)
		return 0;
	klen = data[1] < size - 2 ? data[1] : size - 2;
	if (data[0] & 1)
		route(data + 2, klen, data + 2 + klen, size - 2 - klen);
	else
		peer(data + 2, klen, data + 2 + klen, size - 2 - klen);
	return 0;
}
