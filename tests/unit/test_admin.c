/*
 * admin's in-memory sessions and failed-login limiter, on a fake clock: idle
 * expiry, touching, eviction of the least recently used, forgetting a user's
 * sessions, and the lock-out that doubles up to 15 minutes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "admin/admin_priv.h"

#define T0     1700000000000LL
#define MIN_MS 60000LL

static int setup(void **state)
{
	*state = admin_sessions_new();
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	admin_sessions_free(*state);
	return 0;
}

static void test_open_find(void **state)
{
	struct admin_sessions *s = *state;
	struct admin_principal p, q;

	assert_int_equal(admin_sessions_open(s, "ann", ADMIN_ROLE_ADMIN, T0, &p), 0);
	assert_string_equal(p.user, "ann");
	assert_int_equal(p.role, ADMIN_ROLE_ADMIN);
	assert_false(p.api_token);
	assert_int_equal(strlen(p.session), 64);
	assert_int_equal(strlen(p.csrf), 64);
	assert_string_not_equal(p.session, p.csrf);
	assert_int_equal(admin_sessions_find(s, p.session, T0 + 1000, MIN_MS, &q), 0);
	assert_string_equal(q.session, p.session);
	assert_string_equal(q.csrf, p.csrf);
	/* unknown, malformed, upper-case hex */
	char bad[65];
	snprintf(bad, sizeof(bad), "%s", p.session);
	bad[0] = bad[0] == '0' ? '1' : '0';
	assert_int_equal(admin_sessions_find(s, bad, T0, MIN_MS, &q), -1);
	assert_int_equal(admin_sessions_find(s, "", T0, MIN_MS, &q), -1);
	assert_int_equal(admin_sessions_find(s, "abc", T0, MIN_MS, &q), -1);
	for (char *c = bad; *c; c++)
		*c = (char)(*c >= 'a' ? *c - 32 : *c);
	assert_int_equal(admin_sessions_find(s, bad, T0, MIN_MS, &q), -1);
	/* two sessions differ */
	assert_int_equal(admin_sessions_open(s, "ann", ADMIN_ROLE_ADMIN, T0, &q), 0);
	assert_string_not_equal(q.session, p.session);
	assert_int_equal(admin_sessions_count(s), 2);
}

static void test_idle_expiry(void **state)
{
	struct admin_sessions *s = *state;
	struct admin_principal p, q;

	assert_int_equal(admin_sessions_open(s, "ann", ADMIN_ROLE_VIEWER, T0, &p), 0);
	/* each use moves the expiry: alive after 3 minutes of 50 s steps */
	for (int i = 1; i <= 4; i++)
		assert_int_equal(admin_sessions_find(s, p.session, T0 + i * 50000, MIN_MS, &q), 0);
	/* exactly idle_ms later still counts; one ms more does not */
	assert_int_equal(admin_sessions_find(s, p.session, T0 + 200000 + MIN_MS, MIN_MS, &q), 0);
	assert_int_equal(admin_sessions_find(s, p.session, T0 + 260000 + MIN_MS + 1, MIN_MS, &q),
	                 -1);
	/* gone for good, even if asked with a looser expiry afterwards */
	assert_int_equal(admin_sessions_find(s, p.session, T0, 100 * MIN_MS, &q), -1);
	assert_int_equal(admin_sessions_count(s), 0);
}

static void test_expiry_sweeps_others(void **state)
{
	struct admin_sessions *s = *state;
	struct admin_principal a, b;

	assert_int_equal(admin_sessions_open(s, "old", ADMIN_ROLE_VIEWER, T0, &a), 0);
	assert_int_equal(admin_sessions_open(s, "new", ADMIN_ROLE_VIEWER, T0 + 5 * MIN_MS, &b), 0);
	assert_int_equal(admin_sessions_find(s, b.session, T0 + 5 * MIN_MS, 2 * MIN_MS, &b), 0);
	assert_int_equal(admin_sessions_count(s), 1);
}

static void test_close_and_forget(void **state)
{
	struct admin_sessions *s = *state;
	struct admin_principal a1, a2, a3, b, q;

	admin_sessions_open(s, "ann", ADMIN_ROLE_VIEWER, T0, &a1);
	admin_sessions_open(s, "ann", ADMIN_ROLE_VIEWER, T0, &a2);
	admin_sessions_open(s, "ann", ADMIN_ROLE_VIEWER, T0, &a3);
	admin_sessions_open(s, "bob", ADMIN_ROLE_VIEWER, T0, &b);
	admin_sessions_close(s, a1.session);
	assert_int_equal(admin_sessions_find(s, a1.session, T0, MIN_MS, &q), -1);
	admin_sessions_forget(s, "ann", ADMIN_ROLE_ADMIN, NULL); /* a role change */
	assert_int_equal(admin_sessions_find(s, a2.session, T0, MIN_MS, &q), 0);
	assert_int_equal(q.role, ADMIN_ROLE_ADMIN);
	admin_sessions_forget(s, "ann", 0, a3.session); /* a password change: keep the caller's */
	assert_int_equal(admin_sessions_find(s, a2.session, T0, MIN_MS, &q), -1);
	assert_int_equal(admin_sessions_find(s, a3.session, T0, MIN_MS, &q), 0);
	admin_sessions_forget(s, "ann", 0, NULL); /* deleted */
	assert_int_equal(admin_sessions_find(s, a3.session, T0, MIN_MS, &q), -1);
	assert_int_equal(admin_sessions_find(s, b.session, T0, MIN_MS, &q), 0);
	assert_int_equal(q.role, ADMIN_ROLE_VIEWER);
	admin_sessions_close(s, "not-a-session");
	assert_int_equal(admin_sessions_count(s), 1);
}

static void test_bounded(void **state)
{
	struct admin_sessions *s = *state;
	struct admin_principal first, second, p;

	admin_sessions_open(s, "u", ADMIN_ROLE_VIEWER, T0, &first);
	admin_sessions_open(s, "u", ADMIN_ROLE_VIEWER, T0 + 1, &second);
	admin_sessions_find(s, first.session, T0 + 2, MIN_MS, &p); /* first is now the newer */
	for (int i = 2; i < ADMIN_SESSIONS_MAX; i++)
		assert_int_equal(admin_sessions_open(s, "u", ADMIN_ROLE_VIEWER, T0 + 3, &p), 0);
	assert_int_equal(admin_sessions_count(s), ADMIN_SESSIONS_MAX);
	assert_int_equal(admin_sessions_open(s, "u", ADMIN_ROLE_VIEWER, T0 + 4, &p), 0);
	assert_int_equal(admin_sessions_count(s), ADMIN_SESSIONS_MAX);
	assert_int_equal(admin_sessions_find(s, second.session, T0 + 5, MIN_MS, &p), -1);
	assert_int_equal(admin_sessions_find(s, first.session, T0 + 5, MIN_MS, &p), 0);
}

static void test_limit_locks_and_doubles(void **state)
{
	struct admin_sessions *s = *state;
	unsigned retry = 0;
	int64_t now = T0;

	for (int i = 0; i < ADMIN_FAIL_MAX - 1; i++) {
		admin_limit_fail(s, "u:ann", now);
		assert_int_equal(admin_limit_check(s, "u:ann", now, &retry), 0);
	}
	admin_limit_fail(s, "u:ann", now);
	assert_int_equal(admin_limit_check(s, "u:ann", now, &retry), -2);
	assert_int_equal(retry, 60);
	assert_int_equal(admin_limit_check(s, "u:bob", now, &retry), 0); /* per key */
	assert_int_equal(admin_limit_check(s, "u:ann", now + 59500, &retry), -2);
	assert_int_equal(retry, 1);
	now += 60000;
	assert_int_equal(admin_limit_check(s, "u:ann", now, &retry), 0);
	/* one more failure within the window: locked again, twice as long */
	unsigned want[] = {120, 240, 480, 900, 900};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		admin_limit_fail(s, "u:ann", now);
		assert_int_equal(admin_limit_check(s, "u:ann", now, &retry), -2);
		assert_int_equal(retry, want[i]);
		now += 1000LL * want[i];
	}
	/* quiet for longer than the window: starts over */
	now += ADMIN_FAIL_WINDOW_MS + 1;
	admin_limit_fail(s, "u:ann", now);
	assert_int_equal(admin_limit_check(s, "u:ann", now, &retry), 0);
}

static void test_limit_window_and_reset(void **state)
{
	struct admin_sessions *s = *state;
	unsigned retry = 0;

	/* failures spaced wider than the window never lock */
	for (int i = 0; i < 3 * ADMIN_FAIL_MAX; i++) {
		admin_limit_fail(s, "a:127.0.0.1", T0 + i * (ADMIN_FAIL_WINDOW_MS + 1));
		assert_int_equal(admin_limit_check(s, "a:127.0.0.1",
		                                   T0 + i * (ADMIN_FAIL_WINDOW_MS + 1), &retry),
		                 0);
	}
	/* a success (reset) forgets the count */
	for (int i = 0; i < ADMIN_FAIL_MAX - 1; i++)
		admin_limit_fail(s, "u:ann", T0);
	admin_limit_reset(s, "u:ann");
	admin_limit_fail(s, "u:ann", T0);
	assert_int_equal(admin_limit_check(s, "u:ann", T0, &retry), 0);
	admin_limit_reset(s, "u:nobody");
}

static void test_limit_bounded(void **state)
{
	struct admin_sessions *s = *state;
	char key[32];
	unsigned retry;

	for (int i = 0; i < 10000; i++) {
		snprintf(key, sizeof(key), "a:10.0.%d.%d", i / 256, i % 256);
		admin_limit_fail(s, key, T0 + i);
	}
	for (int i = 0; i < ADMIN_FAIL_MAX; i++)
		admin_limit_fail(s, "u:ann", T0 + 20000);
	assert_int_equal(admin_limit_check(s, "u:ann", T0 + 20000, &retry), -2);
}

/* A stored token record round-trips; one whose name holds a NUL within its stated length is
 * refused (fuzz_admin_record found the decoder taking the name up to the NUL). */
static void test_token_record(void **state)
{
	struct admin_token_rec t = {.role = ADMIN_ROLE_VIEWER, .created_ms = 1795651200000}, u;
	unsigned char b[ADMIN_TOKEN_REC_MAX];
	size_t n;

	(void)state;
	strcpy(t.name, "ci-deploy");
	n = admin_token_record_encode(&t, b);
	assert_int_equal(admin_token_record_decode(b, n, &u), 0);
	assert_string_equal(u.name, "ci-deploy");
	assert_int_equal(u.role, ADMIN_ROLE_VIEWER);
	assert_int_equal(u.created_ms, 1795651200000);
	b[n - 5] = '\0'; /* "ci-d\0ploy": the length byte still says 9 */
	assert_int_equal(admin_token_record_decode(b, n, &u), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_open_find, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_idle_expiry, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expiry_sweeps_others, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_and_forget, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bounded, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_limit_locks_and_doubles, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_limit_window_and_reset, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_limit_bounded, setup, teardown),
	    cmocka_unit_test(test_token_record),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
