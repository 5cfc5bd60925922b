/*
 * libFuzzer target for the subscriber directory's record (route_directory.c): arbitrary
 * bytes through rd_record_decode. A record that decodes must encode back to the same bytes,
 * and the re-encoding must decode to the same accounts (a round trip; a mismatch traps).
 */
#include "routing/routing_priv.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same_account(const struct route_account *a, const struct route_account *b)
{
	return memcmp(a->peer, b->peer, sizeof(a->peer)) == 0 && a->addr.kind == b->addr.kind &&
	       a->addr.len == b->addr.len && a->addr.len < sizeof(a->addr.text) &&
	       memcmp(a->addr.text, b->addr.text, a->addr.len + 1) == 0 &&
	       a->priority == b->priority && a->failover == b->failover &&
	       a->pending == b->pending && a->failover_delay_s == b->failover_delay_s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct route_dir_entry e, again;
	static unsigned char buf[RD_REC_MAX];
	size_t n;
	int rc = rd_record_decode(data, size, &e);

	if (rc != 0) {
		if (rc != -ROUTE_ESTORE)
			__builtin_trap();
		return 0;
	}
	if (e.n == 0 || e.n > ROUTE_ACCOUNTS_MAX || size > RD_REC_MAX)
		__builtin_trap();
	n = rd_record_encode(&e, buf);
	if (rd_record_decode(buf, n, &again) != 0 || again.n != e.n)
		__builtin_trap();
	for (size_t i = 0; i < e.n; i++)
		if (!same_account(&e.acc[i], &again.acc[i]))
			__builtin_trap();
	if (n != size || memcmp(buf, data, n) != 0)
		__builtin_trap(); /* the decoder accepted a form the encoder never writes */
	return 0;
}
