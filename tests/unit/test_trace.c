/*
 * Unit tests for the message trace's stored record: round trips with and without the
 * optional fields, texts cut and cleaned, and the decoder's refusals of damaged records.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "relay/relay_priv.h"

static void test_round_trip(void **state)
{
	(void)state;
	const struct relay_trace_event ev = {
		.kind = RELAY_TRACE_ATTEMPT, .at_ms = 1764146615123LL, .peer = "kakao",
		.error = "Connection refused", .has_endpoint = true, .endpoint = 2,
		.status = 503, .has_latency = true, .latency_ms = 17,
		.due_ms = 1764146617000LL, .downstream_rid = "01JDQ3ZMB2R6T0W3K8Y5N1C7QD",
		.why = "DR endpoint"};
	unsigned char buf[RELAY_TRACE_RECORD_MAX];
	struct relay_trace_record r;
	size_t n = relay_trace_encode(&ev, buf);

	assert_int_equal(relay_trace_decode(buf, n, &r), 0);
	assert_int_equal(r.kind, RELAY_TRACE_ATTEMPT);
	assert_true(r.at_ms == ev.at_ms && r.due_ms == ev.due_ms && r.latency_ms == 17);
	assert_true(r.has_endpoint && r.has_latency);
	assert_int_equal(r.endpoint, 2);
	assert_int_equal(r.status, 503);
	assert_string_equal(r.peer, "kakao");
	assert_string_equal(r.error, "Connection refused");
	assert_string_equal(r.downstream_rid, ev.downstream_rid);
	assert_string_equal(r.why, "DR endpoint");
	assert_string_equal(relay_trace_kind_name(r.kind), "attempt");
}

static void test_minimal_and_cleaned(void **state)
{
	(void)state;
	char long_text[400];
	unsigned char buf[RELAY_TRACE_RECORD_MAX];
	struct relay_trace_record r;

	memset(long_text, 'x', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = '\0';
	long_text[3] = '\n';
	struct relay_trace_event ev = {.kind = RELAY_TRACE_FAILED, .at_ms = 5, .error = long_text};
	size_t n = relay_trace_encode(&ev, buf);

	assert_true(n <= RELAY_TRACE_RECORD_MAX);
	assert_int_equal(relay_trace_decode(buf, n, &r), 0);
	assert_false(r.has_endpoint || r.has_latency);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.peer, "");
	assert_int_equal(strlen(r.error), RELAY_TRACE_TEXT_MAX);
	assert_int_equal(r.error[3], '?');
	assert_string_equal(relay_trace_kind_name(RELAY_TRACE_KIND_MAX_), "unknown");
}

static void test_damaged_records_refused(void **state)
{
	(void)state;
	const struct relay_trace_event ev = {.kind = RELAY_TRACE_ACCEPTED, .at_ms = 1,
					     .peer = "origin"};
	unsigned char buf[RELAY_TRACE_RECORD_MAX], bad[RELAY_TRACE_RECORD_MAX];
	struct relay_trace_record r;
	size_t n = relay_trace_encode(&ev, buf);

	for (size_t len = 0; len < n; len++) /* every truncation */
		assert_int_not_equal(relay_trace_decode(buf, len, &r), 0);
	memcpy(bad, buf, n);
	bad[n] = 0; /* a trailing byte */
	assert_int_not_equal(relay_trace_decode(bad, n + 1, &r), 0);
	const size_t at[] = {0, 1, 1, 10, 27, 28};
	const unsigned char val[] = {2, 0, RELAY_TRACE_KIND_MAX_, 4, 200, 0x01};
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		memcpy(bad, buf, n);
		bad[at[i]] = val[i];
		assert_int_not_equal(relay_trace_decode(bad, n, &r), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_minimal_and_cleaned),
		cmocka_unit_test(test_damaged_records_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
