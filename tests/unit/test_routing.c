/*
 * Unit tests for routing's address parsing (routing/route_address.c): tables of inputs with
 * the exact return code and normalised text each must give, plus prefixes, domains, the
 * default-country check and the error texts.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "routing/routing.h"

/* Long names built from literals: L63 is 63 letters, D253 a 253-byte domain. */
#define L10  "abcdefghij"
#define L50  L10 L10 L10 L10 L10
#define L60  L50 L10
#define L61  L60 "k"
#define L62  L60 "kl"
#define L63  L60 "klm"
#define L64  L63 "n"
#define L65  L63 "no"
#define D253 L63 "." L63 "." L63 "." L61
#define D254 L63 "." L63 "." L63 "." L62
_Static_assert(sizeof(L63) - 1 == 63 && sizeof(L64) - 1 == 64 && sizeof(L65) - 1 == 65, "L6x");
_Static_assert(sizeof(D253) - 1 == 253 && sizeof(D254) - 1 == 254, "D25x");

struct addr_case {
	const char *in;
	size_t len; /* 0: strlen(in); set for inputs with an embedded NUL */
	const char *cc;
	int rc;
	enum route_addr_kind kind; /* checked when rc == 0 */
	const char *text;          /* checked when rc == 0 */
};

#define E164   ROUTE_ADDR_E164
#define HANDLE ROUTE_ADDR_HANDLE
/* clang-format off */
#define OK(in, cc, kind, text) {in, 0, cc, 0, kind, text}
#define ERR(in, cc, code) {in, 0, cc, -(code), 0, NULL}
/* clang-format on */

static const struct addr_case addr_cases[] = {
    /* E.164 in every accepted spelling */
    OK("+821012345678", NULL, E164, "+821012345678"),
    OK("+82 10 1234 5678", NULL, E164, "+821012345678"),
    OK("+82-10-1234-5678", NULL, E164, "+821012345678"),
    OK("+82.10.1234.5678", NULL, E164, "+821012345678"),
    OK("+82 (10) 1234-5678", NULL, E164, "+821012345678"),
    OK("(+82) 10 1234 5678", NULL, E164, "+821012345678"),
    OK("+ 82 10", NULL, E164, "+8210"),
    OK(" +1 555 0100 ", NULL, E164, "+15550100"),
    OK("tel:+821012345678", NULL, E164, "+821012345678"),
    OK("TEL:+821012345678", NULL, E164, "+821012345678"),
    OK("Tel:+82-10-1234-5678", NULL, E164, "+821012345678"),
    OK("tel:+82-10-1234-5678", "82", E164, "+821012345678"),
    OK("0082 10 1234 5678", NULL, E164, "+821012345678"),
    OK("0082 10 1234 5678", "1", E164, "+821012345678"),
    OK("00821012345678", NULL, E164, "+821012345678"),
    OK("tel:0082-10", NULL, E164, "+8210"),
    OK("010-1234-5678", "82", E164, "+821012345678"),
    OK("010 1234 5678", "82", E164, "+821012345678"),
    OK("(010) 1234.5678", "82", E164, "+821012345678"),
    OK("tel:010-1234-5678", "82", E164, "+821012345678"),
    OK("+82 10 1234 5678", "82", E164, "+821012345678"),
    OK("020 7946 0958", "44", E164, "+442079460958"),
    OK("+1", NULL, E164, "+1"),
    OK("+123456789012345", NULL, E164, "+123456789012345"),
    OK("00123456789012345", NULL, E164, "+123456789012345"),
    OK("01234567890123", "82", E164, "+821234567890123"),
    OK("012345678901234", "1", E164, "+112345678901234"),
    /* number errors */
    ERR("+1234567890123456", NULL, ROUTE_ETOOLONG),
    ERR("001234567890123456", NULL, ROUTE_ETOOLONG),
    ERR("012345678901234", "82", ROUTE_ETOOLONG),
    ERR("0123456789012345", "1", ROUTE_ETOOLONG),
    ERR("+12345678901234567890123456789", NULL, ROUTE_ETOOLONG),
    ERR("+", NULL, ROUTE_ETOOSHORT),
    ERR("00", NULL, ROUTE_ETOOSHORT),
    ERR("tel:+", NULL, ROUTE_ETOOSHORT),
    ERR("+ - ( )", NULL, ROUTE_ETOOSHORT),
    ERR("0", "82", ROUTE_ETOOSHORT),
    ERR("+82 10 abcd", NULL, ROUTE_EBADCHAR),
    ERR("+8210ABCD", NULL, ROUTE_EBADCHAR),
    ERR("82+10", NULL, ROUTE_EBADCHAR),
    ERR("++8210", NULL, ROUTE_EBADCHAR),
    ERR("+82+10", NULL, ROUTE_EBADCHAR),
    ERR("+8210\t1234", NULL, ROUTE_EBADCHAR),
    ERR("+82_10", NULL, ROUTE_EBADCHAR),
    ERR("+82/10", NULL, ROUTE_EBADCHAR),
    ERR("tel:+82;ext=1", NULL, ROUTE_EBADCHAR),
    ERR("tel +8210", NULL, ROUTE_EBADCHAR),
    ERR("tel:tel:+8210", NULL, ROUTE_EBADCHAR),
    {"+8210\0"
     "1234",
     10, NULL, -ROUTE_EBADCHAR, 0, NULL},
    ERR("+082", NULL, ROUTE_ECOUNTRY),
    ERR("+0", NULL, ROUTE_ECOUNTRY),
    ERR("000821012345678", NULL, ROUTE_ECOUNTRY),
    ERR("000821012345678", "82", ROUTE_ECOUNTRY),
    ERR("", NULL, ROUTE_EEMPTY),
    ERR(" - . ( ) ", NULL, ROUTE_EEMPTY),
    ERR("tel:", NULL, ROUTE_EEMPTY),
    ERR("010-1234-5678", NULL, ROUTE_ENATIONAL),
    ERR("0 10", NULL, ROUTE_ENATIONAL),
    ERR("821012345678", NULL, ROUTE_ENOPREFIX),
    ERR("82 10 1234 5678", "82", ROUTE_ENOPREFIX),
    ERR("+82 \xd9\xa1\xd9\xa2", NULL, ROUTE_ENONASCII),         /* Arabic-Indic 1 2 */
    ERR("+82 \xef\xbc\x91\xef\xbc\x90", NULL, ROUTE_ENONASCII), /* full-width 1 0 */
    ERR("+82\xc2\xa0"
        "10",
        NULL, ROUTE_ENONASCII), /* no-break space */
    ERR("010", "0", ROUTE_ECC),
    ERR("010", "8a", ROUTE_ECC),
    ERR("alice@example.com", "1234", ROUTE_ECC),
    /* handles */
    OK("alice@example.com", NULL, HANDLE, "alice@example.com"),
    OK("Alice@Example.COM", NULL, HANDLE, "alice@example.com"),
    OK("A.B_C-D@Line-1.Example.org", NULL, HANDLE, "a.b_c-d@line-1.example.org"),
    OK("bob@localhost", NULL, HANDLE, "bob@localhost"),
    OK("0123@carrier.example", "82", HANDLE, "0123@carrier.example"),
    OK("a@b.c", NULL, HANDLE, "a@b.c"),
    OK("._-@x.example", NULL, HANDLE, "._-@x.example"),
    OK("u@xn--bcher-kva.example", NULL, HANDLE, "u@xn--bcher-kva.example"),
    OK("u@1.2.3.4", NULL, HANDLE, "u@1.2.3.4"),
    OK(L64 "@x.example", NULL, HANDLE, L64 "@x.example"),
    OK("x@" L63 ".example", NULL, HANDLE, "x@" L63 ".example"),
    OK("x@" D253, NULL, HANDLE, "x@" D253),
    OK(L64 "@" D253, NULL, HANDLE, L64 "@" D253),
    ERR(L65 "@x.example", NULL, ROUTE_ETOOLONG),
    ERR("x@" D254, NULL, ROUTE_ETOOLONG),
    ERR("@example.com", NULL, ROUTE_ELOCAL),
    ERR("@", NULL, ROUTE_ELOCAL),
    ERR("a+tag@example.com", NULL, ROUTE_ELOCAL),
    ERR("\"a\"@example.com", NULL, ROUTE_ELOCAL),
    ERR("tel:a@example.com", NULL, ROUTE_ELOCAL),
    ERR("+821012345678@example.com", NULL, ROUTE_ELOCAL),
    ERR("alice@", NULL, ROUTE_EDOMAIN),
    ERR("x@" L64 ".example", NULL, ROUTE_EDOMAIN),
    ERR("x@-bad.example", NULL, ROUTE_EDOMAIN),
    ERR("x@bad-.example", NULL, ROUTE_EDOMAIN),
    ERR("x@example.com.", NULL, ROUTE_EDOMAIN),
    ERR("x@.example.com", NULL, ROUTE_EDOMAIN),
    ERR("x@a..b", NULL, ROUTE_EDOMAIN),
    ERR("x@under_score.example", NULL, ROUTE_EDOMAIN),
    ERR("x@*.example.com", NULL, ROUTE_EDOMAIN),
    ERR("x@example.com:80", NULL, ROUTE_EDOMAIN),
    ERR("a@b@c.example", NULL, ROUTE_EBADCHAR),
    ERR(" alice@example.com", NULL, ROUTE_EBADCHAR),
    ERR("alice@example.com ", NULL, ROUTE_EBADCHAR),
    ERR("ali ce@example.com", NULL, ROUTE_EBADCHAR),
    ERR("alice@exa mple.com", NULL, ROUTE_EBADCHAR),
    ERR("alice@example.com\n", NULL, ROUTE_EBADCHAR),
    {"a@b\0c", 5, NULL, -ROUTE_EBADCHAR, 0, NULL},
    ERR("jos\xc3\xa9@example.com", NULL, ROUTE_ENONASCII),
    ERR("alice@ex\xc3\xa9mple.com", NULL, ROUTE_ENONASCII),
};

static void test_addr_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(addr_cases) / sizeof(addr_cases[0]); i++) {
		const struct addr_case *c = &addr_cases[i];
		size_t len = c->len ? c->len : strlen(c->in);
		struct route_addr a;
		int rc;

		memset(&a, 0x5a, sizeof(a));
		rc = route_addr_parse(c->in, len, c->cc, &a);
		if (rc != c->rc)
			print_error("case %zu \"%s\" cc=%s: rc %d (%s), want %d\n", i, c->in,
			            c->cc ? c->cc : "-", rc, route_strerror(rc), c->rc);
		assert_int_equal(rc, c->rc);
		if (rc != 0)
			continue;
		assert_int_equal(a.kind, c->kind);
		assert_string_equal(a.text, c->text);
		assert_int_equal(a.len, strlen(c->text));
		/* Stored records are re-validated by parsing them again: that must be a no-op. */
		struct route_addr again;
		assert_int_equal(route_addr_parse(a.text, a.len, NULL, &again), 0);
		assert_int_equal(again.kind, a.kind);
		assert_string_equal(again.text, a.text);
	}
}

/* Input length limit: 512 bytes of number (mostly separators) pass, 513 do not. */
static void test_addr_input_max(void **state)
{
	char buf[ROUTE_ADDR_INPUT_MAX + 2];
	struct route_addr a;

	(void)state;
	memset(buf, ' ', sizeof(buf));
	memcpy(buf, "+1", 2);
	buf[ROUTE_ADDR_INPUT_MAX - 1] = '2';
	assert_int_equal(route_addr_parse(buf, ROUTE_ADDR_INPUT_MAX, NULL, &a), 0);
	assert_string_equal(a.text, "+12");
	assert_int_equal(route_addr_parse(buf, ROUTE_ADDR_INPUT_MAX + 1, NULL, &a),
	                 -ROUTE_ETOOLONG);
	assert_int_equal(route_addr_parse(NULL, 0, NULL, &a), -ROUTE_EEMPTY);
}

/* The input need not be NUL-terminated: only len bytes are read. */
static void test_addr_not_terminated(void **state)
{
	const char buf[] = {'+', '8', '2', '1', '0', '9', '9'};
	struct route_addr a;

	(void)state;
	assert_int_equal(route_addr_parse(buf, 5, NULL, &a), 0);
	assert_string_equal(a.text, "+8210");
	assert_int_equal(route_addr_parse("bob@example.comXYZ", 15, NULL, &a), 0);
	assert_string_equal(a.text, "bob@example.com");
}

struct prefix_case {
	const char *in;
	int rc;
	const char *text;
};

static const struct prefix_case prefix_cases[] = {
    {"+82", 0, "+82"},
    {"+8210", 0, "+8210"},
    {"0082", 0, "+82"},
    {"+1 (555)", 0, "+1555"},
    {"+44-20", 0, "+4420"},
    {"+123456789012345", 0, "+123456789012345"},
    {"+1234567890123456", -ROUTE_ETOOLONG, NULL},
    {"82", -ROUTE_ENOPREFIX, NULL},
    {"010", -ROUTE_ENOPREFIX, NULL},
    {"+", -ROUTE_ETOOSHORT, NULL},
    {"00", -ROUTE_ETOOSHORT, NULL},
    {"+0", -ROUTE_ECOUNTRY, NULL},
    {"0001", -ROUTE_ECOUNTRY, NULL},
    {"", -ROUTE_EEMPTY, NULL},
    {"  ", -ROUTE_EEMPTY, NULL},
    {"+8a", -ROUTE_EBADCHAR, NULL},
    {"tel:+82", -ROUTE_EBADCHAR, NULL},
    {"+82\xd9\xa1", -ROUTE_ENONASCII, NULL},
};

static void test_prefix(void **state)
{
	char out[17];

	(void)state;
	for (size_t i = 0; i < sizeof(prefix_cases) / sizeof(prefix_cases[0]); i++) {
		const struct prefix_case *c = &prefix_cases[i];
		int rc = route_prefix_parse(c->in, strlen(c->in), out, sizeof(out));

		if (rc != c->rc)
			print_error("prefix case %zu \"%s\": rc %d, want %d\n", i, c->in, rc,
			            c->rc);
		assert_int_equal(rc, c->rc);
		if (rc == 0)
			assert_string_equal(out, c->text);
	}
	assert_int_equal(route_prefix_parse("+82", 3, out, 16), -ROUTE_ETOOLONG);
}

struct domain_case {
	const char *in;
	int wildcard;
	int rc;
	const char *text;
};

static const struct domain_case domain_cases[] = {
    {"Line.Example", 0, 0, "line.example"},
    {"line.example", 1, 0, "line.example"},
    {"localhost", 0, 0, "localhost"},
    {"*.line.example", 1, 0, "*.line.example"},
    {"*.Example", 1, 0, "*.example"},
    {"*.line.example", 0, -ROUTE_EDOMAIN, NULL},
    {"*", 1, -ROUTE_EDOMAIN, NULL},
    {"*.", 1, -ROUTE_EDOMAIN, NULL},
    {"**.x", 1, -ROUTE_EDOMAIN, NULL},
    {"a.*.b", 1, -ROUTE_EDOMAIN, NULL},
    {"*x.example", 1, -ROUTE_EDOMAIN, NULL},
    {"", 0, -ROUTE_EDOMAIN, NULL},
    {"a b.example", 0, -ROUTE_EDOMAIN, NULL},
    {"example.com.", 0, -ROUTE_EDOMAIN, NULL},
    {"-a.example", 0, -ROUTE_EDOMAIN, NULL},
    {"a-.example", 0, -ROUTE_EDOMAIN, NULL},
    {"a_b.example", 0, -ROUTE_EDOMAIN, NULL},
    {L63 ".example", 0, 0, L63 ".example"},
    {L64 ".example", 0, -ROUTE_EDOMAIN, NULL},
    {D253, 0, 0, D253},
    {D254, 0, -ROUTE_ETOOLONG, NULL},
    /* the 253-byte limit includes the "*." */
    {"*." L63 "." L63 "." L63 "." L50 "abcdefghi", 1, 0,
     "*." L63 "." L63 "." L63 "." L50 "abcdefghi"},
    {"*." L63 "." L63 "." L63 "." L60, 1, -ROUTE_ETOOLONG, NULL},
    {"*." D253, 1, -ROUTE_ETOOLONG, NULL},
    {"ex\xc3\xa9mple.com", 0, -ROUTE_ENONASCII, NULL},
};

static void test_domain(void **state)
{
	char out[ROUTE_ADDR_DOMAIN_MAX + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(domain_cases) / sizeof(domain_cases[0]); i++) {
		const struct domain_case *c = &domain_cases[i];
		int rc = route_domain_parse(c->in, strlen(c->in), c->wildcard, out, sizeof(out));

		if (rc != c->rc)
			print_error("domain case %zu \"%s\": rc %d, want %d\n", i, c->in, rc,
			            c->rc);
		assert_int_equal(rc, c->rc);
		if (rc == 0)
			assert_string_equal(out, c->text);
	}
	assert_int_equal(route_domain_parse("a\0b", 3, 0, out, sizeof(out)), -ROUTE_EDOMAIN);
	assert_int_equal(route_domain_parse("example.com", 11, 0, out, 11), -ROUTE_ETOOLONG);
	assert_int_equal(route_domain_parse("example.com", 11, 0, out, 12), 0);
}

static void test_country(void **state)
{
	static const char *const good[] = {"82", "1", "44", "998"};
	static const char *const bad[] = {"0", "08", "1234", "8a", "", " 1", "1 ", "+82"};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(route_country_check(good[i]), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(route_country_check(bad[i]), -ROUTE_ECC);
	assert_int_equal(route_country_check(NULL), -ROUTE_ECC);
}

static void test_strerror(void **state)
{
	const char *unknown = route_strerror(0);

	(void)state;
	assert_string_equal(unknown, "unknown error");
	for (int i = 1; i < ROUTE_EMAX_; i++) {
		const char *s = route_strerror(i);

		assert_non_null(s);
		assert_true(strlen(s) > 0);
		assert_string_not_equal(s, unknown);
		assert_ptr_equal(route_strerror(-i), s);
		for (int j = 1; j < i; j++)
			assert_string_not_equal(route_strerror(j), s);
	}
	assert_string_equal(route_strerror(ROUTE_ENATIONAL),
	                    "a national number needs default-country to be set");
	assert_string_equal(route_strerror(ROUTE_EMAX_), unknown);
	assert_string_equal(route_strerror(-ROUTE_EMAX_), unknown);
	assert_string_equal(route_strerror(999), unknown);
	assert_string_equal(route_strerror(INT_MAX), unknown);
	assert_string_equal(route_strerror(INT_MIN), unknown);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_addr_table),
	    cmocka_unit_test(test_addr_input_max),
	    cmocka_unit_test(test_addr_not_terminated),
	    cmocka_unit_test(test_prefix),
	    cmocka_unit_test(test_domain),
	    cmocka_unit_test(test_country),
	    cmocka_unit_test(test_strerror),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
