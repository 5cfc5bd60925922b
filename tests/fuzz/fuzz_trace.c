/*
 * libFuzzer target for the message trace's stored record: arbitrary bytes through
 * relay_trace_decode. A record that decodes must encode to the same bytes.
 */
#include "relay/relay_priv.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct relay_trace_record r;
	unsigned char out[RELAY_TRACE_RECORD_MAX];

	if (relay_trace_decode(data, size, &r) != 0)
		return 0;
	struct relay_trace_event ev = {
		.kind = r.kind, .at_ms = r.at_ms, .has_endpoint = r.has_endpoint,
		.endpoint = r.endpoint, .status = r.status, .has_latency = r.has_latency,
		.latency_ms = r.latency_ms, .due_ms = r.due_ms, .peer = r.peer, .error = r.error,
		.downstream_rid = r.downstream_rid, .why = r.why};
	if (relay_trace_encode(&ev, out) != size || memcmp(out, data, size) != 0)
		abort();
	return 0;
}
