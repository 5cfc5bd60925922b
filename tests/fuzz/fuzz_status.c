/*
 * libFuzzer target for the queue's status record: arbitrary bytes through q_status_decode.
 * A record that decodes must encode back to the same bytes, and the re-encoding must decode
 * to the same status (a round trip; a mismatch traps).
 */
#include "queue/queue_priv.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct queue_rid RID = {{0x01, 0x8f, 0x2a, 0x3b, 0x4c, 0x5d, 0x6e, 0x7f,
				      0x80, 0x91, 0xa2, 0xb3, 0xc4, 0xd5, 0xe6, 0xf7}};

static bool same(const struct queue_status *a, const struct queue_status *b)
{
	return memcmp(&a->rid, &b->rid, sizeof(a->rid)) == 0 && a->state == b->state &&
	       a->mode == b->mode && a->attempts == b->attempts &&
	       a->created_ms == b->created_ms && a->updated_ms == b->updated_ms &&
	       a->due_ms == b->due_ms && a->visible_ms == b->visible_ms &&
	       a->expires_ms == b->expires_ms && a->final_ms == b->final_ms &&
	       a->first_fail_ms == b->first_fail_ms &&
	       strcmp(a->src_peer, b->src_peer) == 0 && strcmp(a->client_id, b->client_id) == 0 &&
	       strcmp(a->dst_peer, b->dst_peer) == 0 &&
	       strcmp(a->last_error, b->last_error) == 0 && strcmp(a->route, b->route) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct queue_status st, again;
	unsigned char buf[STATUS_RECORD_MAX];
	size_t n;
	int rc = q_status_decode(data, size, &RID, &st);

	if (rc != 0) {
		if (rc != -QUEUE_ECORRUPT)
			__builtin_trap();
		return 0;
	}
	if (size > STATUS_RECORD_MAX)
		__builtin_trap(); /* the encoder's buffer could not hold what was accepted */
	n = q_status_encode(&st, buf, sizeof(buf));
	if (n == 0 || q_status_decode(buf, n, &RID, &again) != 0 || !same(&st, &again))
		__builtin_trap();
	if (n != size || memcmp(buf, data, n) != 0)
		__builtin_trap(); /* the decoder accepted a form the encoder never writes */
	return 0;
}
