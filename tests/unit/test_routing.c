/*
 * Unit tests for routing's address parsing (routing/route_address.c): tables of inputs with
 * the exact return code and normalised text each must give, plus prefixes, domains, the
 * default-country check and the error texts. Then the route table, its snapshots and its
 * persistence (route_table.c, route_store.c).
 */
#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "queue/queue.h"
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

/* ================================================================ the route table
 * routing/route_table.c and route_store.c: lookups, validation, snapshots, persistence. */

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))
#define HEX64   "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static const char *const eps2[] = {"https://in.kakao.example/v1/deliver",
                                   "https://dr.kakao.example/v1/deliver"};
static const char *const owns2[] = {"+8210", "kakao.example"};

/* A valid carrier named name, with every field set. */
static struct route_peer full_peer(const char *name)
{
	return (struct route_peer){.name = name,
	                           .kind = ROUTE_PEER_CARRIER,
	                           .token_sha256 = HEX64,
	                           .cert_sha256 = HEX64,
	                           .endpoints = eps2,
	                           .n_endpoints = 2,
	                           .outbound_token = "s3cret+/=",
	                           .owns = owns2,
	                           .n_owns = 2,
	                           .rate = 1000,
	                           .burst = 2000,
	                           .max_size = 65536,
	                           .max_queue = 1000000};
}

static struct route_peer bare_peer(const char *name)
{
	return (struct route_peer){.name = name, .kind = ROUTE_PEER_CARRIER};
}

static struct route_entry prefix_route(const char *value, const char *peer)
{
	return (struct route_entry){.match = ROUTE_MATCH_PREFIX, .value = value, .peer = peer};
}

static struct route_entry domain_route(const char *value, const char *peer)
{
	return (struct route_entry){.match = ROUTE_MATCH_DOMAIN, .value = value, .peer = peer};
}

static struct route_entry default_route(const char *peer)
{
	return (struct route_entry){.match = ROUTE_MATCH_DEFAULT, .peer = peer};
}

/* The peer a lookup of `to` gives in t, or NULL for no route. */
static const char *route_of(const struct route_table *t, const char *to)
{
	const struct route_entry *e = NULL;
	struct route_addr a;

	assert_int_equal(route_addr_parse(to, strlen(to), NULL, &a), 0);
	if (route_table_lookup(t, &a, &e) != 0)
		return NULL;
	assert_non_null(e);
	return e->peer;
}

struct lookup_case {
	const char *to;
	const char *peer; /* NULL: no route */
};

static const struct lookup_case lookup_cases[] = {
    /* longest prefix: +821012 beats +8210 beats +82 */
    {"+821012345678", "c"},
    {"+821099999999", "b"},
    {"+8210", "b"},
    {"+822012345678", "a"},
    {"+82", "a"},
    {"+8", NULL}, /* shorter than every prefix */
    {"+15550100", NULL},
    {"+123456789012345", "e"}, /* a 15-digit prefix: the whole number */
    {"+12345678901234", NULL},
    /* domains: exact, then "*.suffix", longest first; a wildcard never matches its base */
    {"bob@line.example", "a"},
    {"bob@x.line.example", "b"},
    {"bob@y.x.line.example", "b"},
    {"bob@other.example", "c"},
    {"bob@deep.other.example", "c"},
    {"bob@example", NULL},
    {"bob@x.jp.example", "d"}, /* exact "x.jp.example" beats "*.jp.example" and "*.example" */
    {"bob@y.jp.example", "e"},
    {"bob@line.example.org", NULL},
};

static struct route_table *lookup_table(void)
{
	static const char *const names[] = {"a", "b", "c", "d", "e"};
	struct route_table *t = route_table_new();
	struct route_entry routes[] = {
	    prefix_route("+82", "a"),          prefix_route("+8210", "b"),
	    prefix_route("+821012", "c"),      prefix_route("+123456789012345", "e"),
	    domain_route("line.example", "a"), domain_route("*.line.example", "b"),
	    domain_route("*.example", "c"),    domain_route("x.jp.example", "d"),
	    domain_route("*.jp.example", "e"),
	};

	assert_non_null(t);
	for (size_t i = 0; i < N_OF(names); i++) {
		struct route_peer p = bare_peer(names[i]);
		assert_int_equal(route_table_add_peer(t, &p), 0);
	}
	for (size_t i = 0; i < N_OF(routes); i++)
		assert_int_equal(route_table_add_route(t, &routes[i]), 0);
	return t;
}

static void check_lookups(const struct route_table *t, const char *dflt)
{
	for (size_t i = 0; i < N_OF(lookup_cases); i++) {
		const struct lookup_case *c = &lookup_cases[i];
		const char *want = c->peer ? c->peer : dflt, *got = route_of(t, c->to);

		if ((want == NULL) != (got == NULL) || (want && strcmp(want, got) != 0))
			print_error("lookup %s: got %s, want %s\n", c->to, got ? got : "none",
			            want ? want : "none");
		if (want)
			assert_string_equal(got, want);
		else
			assert_null(got);
	}
}

static void test_table_lookup(void **state)
{
	struct route_table *t = lookup_table();
	struct route_peer d = bare_peer("dflt");
	struct route_entry dr = default_route("dflt");
	const struct route_entry *e;
	struct route_addr a;

	(void)state;
	check_lookups(t, NULL);
	assert_int_equal(route_addr_parse("+15550100", 9, NULL, &a), 0);
	assert_int_equal(route_table_lookup(t, &a, &e), -ROUTE_ENOROUTE);
	assert_int_equal(route_table_add_peer(t, &d), 0);
	assert_int_equal(route_table_add_route(t, &dr), 0);
	check_lookups(t, "dflt");
	assert_int_equal(route_table_lookup(t, &a, &e), 0);
	assert_int_equal(e->match, ROUTE_MATCH_DEFAULT);
	assert_null(e->value);
	/* listings, in the order added; peers by name */
	assert_string_equal(route_table_peer_at(t, 0)->name, "a");
	assert_string_equal(route_table_peer_at(t, 5)->name, "dflt");
	assert_null(route_table_peer_at(t, 6));
	assert_string_equal(route_table_route_at(t, 1)->value, "+8210");
	assert_int_equal(route_table_route_at(t, 9)->match, ROUTE_MATCH_DEFAULT);
	assert_null(route_table_route_at(t, 10));
	assert_non_null(route_table_peer(t, "c"));
	assert_null(route_table_peer(t, "zz"));
	assert_null(route_table_peer(t, NULL));
	route_table_free(t);
	route_table_free(NULL);
}

/* Equal prefixes are refused when added (EEXIST), so a lookup never meets a tie. */
static void test_table_duplicates(void **state)
{
	struct route_table *t = lookup_table();
	struct route_peer a = bare_peer("a"), f = bare_peer("f");
	struct route_entry dup[] = {
	    prefix_route("+8210", "a"),
	    prefix_route("+8210", "b"),
	    domain_route("line.example", "b"),
	    domain_route("*.line.example", "b"),
	};
	struct route_entry d1 = default_route("a"), d2 = default_route("b");

	(void)state;
	assert_int_equal(route_table_add_peer(t, &a), -ROUTE_EEXIST);
	for (size_t i = 0; i < N_OF(dup); i++)
		assert_int_equal(route_table_add_route(t, &dup[i]), -ROUTE_EEXIST);
	assert_int_equal(route_table_add_route(t, &d1), 0);
	assert_int_equal(route_table_add_route(t, &d2), -ROUTE_EEXIST);
	assert_int_equal(route_table_add_peer(t, &f), 0);
	assert_string_equal(route_of(t, "+821099"), "b"); /* the first one stays */
	route_table_free(t);
}

static const char *const eps9[] = {"http://a", "http://a", "http://a", "http://a", "http://a",
                                   "http://a", "http://a", "http://a", "http://a"};
static const char *const bad_eps[][1] = {
    {"ftp://a.example"}, {"http://"},        {"https:///x"},       {"in.example/v1"},
    {"http://a b"},      {"http://a\r\nX:"}, {"HTTP://a.example"}, {""},
};
static const char *const bad_owns[][1] = {
    {"+82 10"},      {"0082"}, {"+0"},         {"Line.example"}, {"line..example"}, {"8210"},
    {"*.*.example"}, {""},     {"-a.example"}, {"10.0.0.1"},     {"*.82"},
};
static const char *const null_str[1] = {NULL};

static void test_table_bad_peers(void **state)
{
	struct route_table *t = route_table_new();
	static const char *const eps8[] = {"http://a", "https://b:8443/x", "http://c", "http://d",
	                                   "http://e", "http://f",         "http://g", "http://h"};
	static const char *const owns_ok[] = {"+1", "*.line.example", "x-y.example", "localhost"};
	const char *bad_names[] = {
	    "",
	    "a b",
	    "a:b",
	    "a/b",
	    "caf\xc3\xa9",
	    "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij12345"};
	const char *bad_hex[] = {
	    "", HEX64 "0", "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
	    "g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"};
	struct route_peer p;

	(void)state;
	for (size_t i = 0; i < N_OF(bad_names); i++) {
		p = full_peer(bad_names[i]);
		assert_int_equal(route_table_add_peer(t, &p), -ROUTE_EINVAL);
	}
	p = full_peer(NULL);
	assert_int_equal(route_table_add_peer(t, &p), -ROUTE_EINVAL);
	assert_int_equal(route_table_add_peer(t, NULL), -ROUTE_EINVAL);
	for (size_t i = 0; i < N_OF(bad_hex); i++) {
		p = full_peer("p");
		p.token_sha256 = bad_hex[i];
		assert_int_equal(route_table_add_peer(t, &p), -ROUTE_EINVAL);
		p = full_peer("p");
		p.cert_sha256 = bad_hex[i];
		assert_int_equal(route_table_add_peer(t, &p), -ROUTE_EINVAL);
	}
	for (size_t i = 0; i < N_OF(bad_eps); i++) {
		p = full_peer("p");
		p.endpoints = bad_eps[i];
		p.n_endpoints = 1;
		assert_int_equal(route_table_add_peer(t, &p), -ROUTE_EINVAL);
	}
	for (size_t i = 0; i < N_OF(bad_owns); i++) {
		p = full_peer("p");
		p.owns = bad_owns[i];
		p.n_owns = 1;
		assert_int_equal(route_table_add_peer(t, &p), -ROUTE_EINVAL);
	}
	p = full_peer("p");
	p.endpoints = eps9;
	p.n_endpoints = 9;
	assert_int_equal(route_table_add_peer(t, &p), -ROUTE_EINVAL);
	p.endpoints = NULL;
	p.n_endpoints = 1;
	assert_int_equal(route_table_add_peer(t, &p), -ROUTE_EINVAL);
	p.endpoints = null_str;
	assert_int_equal(route_table_add_peer(t, &p), -ROUTE_EINVAL);
	p = full_peer("p");
	p.owns = null_str;
	p.n_owns = 1;
	assert_int_equal(route_table_add_peer(t, &p), -ROUTE_EINVAL);
	p = full_peer("p");
	p.outbound_token = "a\nb";
	assert_int_equal(route_table_add_peer(t, &p), -ROUTE_EINVAL);
	p = full_peer("p");
	p.kind = (enum route_peer_kind)7;
	assert_int_equal(route_table_add_peer(t, &p), -ROUTE_EINVAL);
	assert_null(route_table_peer_at(t, 0)); /* nothing got in */
	/* the limits themselves are fine */
	p = full_peer("abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij1234");
	p.endpoints = eps8;
	p.n_endpoints = 8;
	p.owns = owns_ok;
	p.n_owns = N_OF(owns_ok);
	p.token_sha256 = p.cert_sha256 = p.outbound_token = NULL;
	assert_int_equal(route_table_add_peer(t, &p), 0);
	p = bare_peer("A.b_c-9");
	assert_int_equal(route_table_add_peer(t, &p), 0);
	route_table_free(t);
}

static void test_table_bad_routes(void **state)
{
	struct route_table *t = lookup_table();
	struct route_entry bad[] = {
	    prefix_route("8210", "a"),       prefix_route("+82 10", "a"),
	    prefix_route("0082", "a"),       prefix_route("+1234567890123456", "a"),
	    prefix_route(NULL, "a"),         domain_route("LINE.example", "a"),
	    domain_route("*.", "a"),         domain_route("*", "a"),
	    domain_route("a..example", "a"), domain_route(NULL, "a"),
	    domain_route("+8210", "a"),      prefix_route("+8299", NULL),
	    prefix_route("+8299", "a b"),    domain_route("8210", "a"),
	    domain_route("192.0.2.1", "a"),
	};
	struct route_entry dv = default_route("a"), bogus = prefix_route("+8299", "a");

	(void)state;
	for (size_t i = 0; i < N_OF(bad); i++) {
		if (route_table_add_route(t, &bad[i]) != -ROUTE_EINVAL)
			print_error("bad route %zu accepted\n", i);
		assert_int_equal(route_table_add_route(t, &bad[i]), -ROUTE_EINVAL);
	}
	dv.value = "+82";
	assert_int_equal(route_table_add_route(t, &dv), -ROUTE_EINVAL);
	bogus.match = (enum route_match)9;
	assert_int_equal(route_table_add_route(t, &bogus), -ROUTE_EINVAL);
	assert_int_equal(route_table_add_route(t, NULL), -ROUTE_EINVAL);
	bogus = prefix_route("+8299", "nobody");
	assert_int_equal(route_table_add_route(t, &bogus), -ROUTE_ENOPEER);
	assert_null(route_table_route_at(t, 9)); /* nothing got in */
	route_table_free(t);
}

/* A reader's table stays whole while newer ones are published; it goes with its release. */
static void test_snapshot(void **state)
{
	struct routing *r = routing_new("node-a", NULL, NULL);
	struct route_peer a = bare_peer("a"), b = bare_peer("b");
	struct route_entry ra = prefix_route("+82", "a"), rb = prefix_route("+82", "b");
	const struct route_table *t0, *t1, *t2;
	struct route_table *n;

	(void)state;
	assert_non_null(r);
	assert_null(routing_new("bad id", NULL, NULL));
	assert_null(routing_new(NULL, NULL, NULL));
	t0 = routing_acquire(r);
	assert_null(route_table_peer_at(t0, 0)); /* starts empty */
	assert_null(route_of(t0, "+8210"));
	assert_int_equal(routing_load(r, &a, 1, &ra, 1, NULL, 0), 0);
	t1 = routing_acquire(r);
	assert_string_equal(route_of(t1, "+8210"), "a");
	n = route_table_new();
	assert_int_equal(route_table_add_peer(n, &b), 0);
	assert_int_equal(route_table_add_route(n, &rb), 0);
	routing_publish(r, n);
	t2 = routing_acquire(r);
	assert_string_equal(route_of(t2, "+8210"), "b");
	assert_string_equal(route_of(t1, "+8210"), "a"); /* the old one, unchanged */
	assert_null(route_table_peer(t1, "b"));
	assert_null(route_of(t0, "+8210"));
	routing_release(t1);
	routing_release(t0);
	assert_string_equal(route_of(t2, "+8210"), "b");
	routing_free(r); /* t2 outlives the module */
	assert_string_equal(route_of(t2, "+8210"), "b");
	routing_release(t2);
	routing_release(NULL);
	routing_free(NULL);
}

/* Changes without a store live in memory, and a reload keeps them beside the config. */
static void test_memory_changes(void **state)
{
	struct routing *r = routing_new("node-a", NULL, NULL);
	struct route_peer cfg = bare_peer("cfg"), a = full_peer("a"), bad = full_peer("bad");
	struct route_entry rc = prefix_route("+1", "cfg"), ra = prefix_route("+8210", "a");
	const struct route_table *t;

	(void)state;
	assert_int_equal(routing_load(r, &cfg, 1, &rc, 1, NULL, 0), 0);
	assert_int_equal(routing_put_peer(r, &a), 0);
	assert_int_equal(routing_put_route(r, &ra), 0);
	bad.token_sha256 = "nope";
	assert_int_equal(routing_put_peer(r, &bad), -ROUTE_EINVAL);
	assert_int_equal(routing_set_suspended(r, "cfg", true), 0);
	assert_int_equal(routing_load(r, &cfg, 1, &rc, 1, NULL, 0), 0);
	t = routing_acquire(r);
	assert_string_equal(route_of(t, "+821012"), "a");
	assert_string_equal(route_of(t, "+1555"), "cfg");
	assert_true(route_table_peer(t, "cfg")->suspended);
	assert_true(route_table_peer(t, "cfg")->read_only);
	assert_false(route_table_peer(t, "a")->read_only);
	assert_null(route_table_peer(t, "bad"));
	routing_release(t);
	assert_int_equal(routing_set_suspended(r, "cfg", false), 0);
	assert_int_equal(routing_del_peer(r, "a"), -ROUTE_EINUSE);
	assert_int_equal(routing_del_route(r, ROUTE_MATCH_PREFIX, "+8210"), 0);
	assert_int_equal(routing_del_peer(r, "a"), 0);
	t = routing_acquire(r);
	assert_false(route_table_peer(t, "cfg")->suspended);
	assert_null(route_table_peer(t, "a"));
	assert_null(route_of(t, "+821012"));
	routing_release(t);
	routing_free(r);
}

/* ---------------------------------------------------------- persistence */

struct store_fx {
	char dir[64];
	struct queue *q;
	struct routing *r;
};

static void store_open(struct store_fx *f)
{
	struct queue_options opt = {.dir = f->dir,
	                            .map_size = 4 << 20,
	                            .max_map_size = 16 << 20,
	                            .sync = QUEUE_SYNC_NONE,
	                            .retention_ms = 60000,
	                            .tables = route_queue_tables,
	                            .n_tables = ROUTE_QUEUE_TABLES};
	char err[256];

	if (queue_open(&opt, &f->q, err, sizeof(err)) != 0)
		fail_msg("queue_open: %s", err);
	f->r = routing_new("node-a", f->q, NULL);
	assert_non_null(f->r);
}

/* A fresh module on the same store, as after a restart. */
static void store_restart(struct store_fx *f)
{
	routing_free(f->r);
	queue_close(f->q);
	store_open(f);
}

static int store_setup(void **state)
{
	struct store_fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/test_routing.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	store_open(f);
	*state = f;
	return 0;
}

static int store_teardown(void **state)
{
	struct store_fx *f = *state;
	DIR *d;
	struct dirent *e;
	char path[512];

	routing_free(f->r);
	queue_close(f->q);
	for (d = opendir(f->dir); d && (e = readdir(d));) {
		snprintf(path, sizeof(path), "%s/%s", f->dir, e->d_name);
		if (e->d_name[0] != '.')
			unlink(path);
	}
	if (d)
		closedir(d);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void assert_same_peer(const struct route_peer *a, const struct route_peer *b)
{
	assert_string_equal(a->name, b->name);
	assert_int_equal(a->kind, b->kind);
	assert_true((a->token_sha256 == NULL) == (b->token_sha256 == NULL));
	if (a->token_sha256)
		assert_string_equal(a->token_sha256, b->token_sha256);
	assert_true((a->cert_sha256 == NULL) == (b->cert_sha256 == NULL));
	if (a->cert_sha256)
		assert_string_equal(a->cert_sha256, b->cert_sha256);
	assert_true((a->outbound_token == NULL) == (b->outbound_token == NULL));
	if (a->outbound_token)
		assert_string_equal(a->outbound_token, b->outbound_token);
	assert_int_equal(a->n_endpoints, b->n_endpoints);
	for (size_t i = 0; i < a->n_endpoints; i++)
		assert_string_equal(a->endpoints[i], b->endpoints[i]);
	assert_int_equal(a->n_owns, b->n_owns);
	for (size_t i = 0; i < a->n_owns; i++)
		assert_string_equal(a->owns[i], b->owns[i]);
	assert_int_equal(a->rate, b->rate);
	assert_int_equal(a->burst, b->burst);
	assert_int_equal(a->max_size, b->max_size);
	assert_int_equal(a->max_queue, b->max_queue);
	assert_int_equal(a->suspended, b->suspended);
	assert_int_equal(a->dir_trusted, b->dir_trusted);
	assert_int_equal(a->n_pins, b->n_pins);
	for (size_t i = 0; i < a->n_pins; i++) {
		assert_string_equal(a->pins[i].kid, b->pins[i].kid);
		assert_memory_equal(a->pins[i].pub, b->pins[i].pub, 32);
		assert_true(a->pins[i].until_ms == b->pins[i].until_ms);
	}
}

static void test_store_roundtrip(void **state)
{
	struct store_fx *f = *state;
	struct route_peer a = full_peer("kakao"), b = bare_peer("line");
	struct route_entry routes[] = {
	    prefix_route("+8210", "kakao"), domain_route("line.example", "line"),
	    domain_route("*.line.example", "line"), default_route("line")};
	const struct route_table *t;

	b.kind = ROUTE_PEER_RELAY;
	assert_int_equal(routing_load(f->r, NULL, 0, NULL, 0, NULL, 0), 0);
	assert_int_equal(routing_put_peer(f->r, &a), 0);
	assert_int_equal(routing_put_peer(f->r, &b), 0);
	for (size_t i = 0; i < N_OF(routes); i++)
		assert_int_equal(routing_put_route(f->r, &routes[i]), 0);
	assert_int_equal(routing_set_suspended(f->r, "line", true), 0);
	b.suspended = true;
	store_restart(f);
	t = routing_acquire(f->r);
	assert_null(route_table_peer(t, "kakao")); /* nothing until loaded */
	routing_release(t);
	assert_int_equal(routing_load(f->r, NULL, 0, NULL, 0, NULL, 0), 0);
	t = routing_acquire(f->r);
	assert_same_peer(route_table_peer(t, "kakao"), &a);
	assert_same_peer(route_table_peer(t, "line"), &b);
	assert_false(route_table_peer(t, "kakao")->read_only);
	assert_string_equal(route_of(t, "+821012345678"), "kakao");
	assert_string_equal(route_of(t, "bob@x.line.example"), "line");
	assert_string_equal(route_of(t, "+1555"), "line");
	routing_release(t);
	/* replace a peer and a route, delete a route: the store follows */
	a.endpoints = eps2 + 1;
	a.n_endpoints = 1;
	a.token_sha256 = NULL;
	assert_int_equal(routing_put_peer(f->r, &a), 0);
	routes[0].peer = "line";
	assert_int_equal(routing_put_route(f->r, &routes[0]), 0);
	assert_int_equal(routing_del_route(f->r, ROUTE_MATCH_DEFAULT, NULL), 0);
	assert_int_equal(routing_del_route(f->r, ROUTE_MATCH_DEFAULT, NULL), -ROUTE_ENOTFOUND);
	store_restart(f);
	assert_int_equal(routing_load(f->r, NULL, 0, NULL, 0, NULL, 0), 0);
	t = routing_acquire(f->r);
	assert_same_peer(route_table_peer(t, "kakao"), &a);
	assert_string_equal(route_of(t, "+821012345678"), "line");
	assert_null(route_of(t, "+1555"));
	routing_release(t);
}

static void test_store_config_wins(void **state)
{
	struct store_fx *f = *state;
	struct route_peer stored = full_peer("kakao"), cfg = bare_peer("kakao");
	struct route_peer other = bare_peer("other"), held = bare_peer("held");
	struct route_entry rs = prefix_route("+8210", "other"), rc = prefix_route("+8210", "kakao");
	struct route_entry cfg_routes[] = {rc, prefix_route("+1", "held")};
	struct route_peer cfg_peers[2];
	const struct route_table *t;

	assert_int_equal(routing_load(f->r, NULL, 0, NULL, 0, NULL, 0), 0);
	assert_int_equal(routing_put_peer(f->r, &stored), 0);
	assert_int_equal(routing_put_peer(f->r, &other), 0);
	assert_int_equal(routing_put_route(f->r, &rs), 0);
	store_restart(f);
	held.suspended = true; /* the config file suspends it */
	cfg_peers[0] = cfg;
	cfg_peers[1] = held;
	assert_int_equal(routing_load(f->r, cfg_peers, 2, cfg_routes, 2, NULL, 0), 0);
	t = routing_acquire(f->r);
	assert_same_peer(route_table_peer(t, "kakao"), &cfg);
	assert_true(route_table_peer(t, "kakao")->read_only);
	assert_string_equal(route_of(t, "+821012"), "kakao");
	assert_true(route_table_route_at(t, 0)->read_only);
	routing_release(t);
	assert_int_equal(routing_put_peer(f->r, &stored), -ROUTE_EREADONLY);
	assert_int_equal(routing_del_peer(f->r, "kakao"), -ROUTE_EREADONLY);
	assert_int_equal(routing_put_route(f->r, &rs), -ROUTE_EREADONLY);
	assert_int_equal(routing_del_route(f->r, ROUTE_MATCH_PREFIX, "+8210"), -ROUTE_EREADONLY);
	assert_int_equal(routing_set_suspended(f->r, "held", false), -ROUTE_EREADONLY);
	/* the emergency brake on a config peer persists apart from its definition */
	assert_int_equal(routing_set_suspended(f->r, "kakao", true), 0);
	store_restart(f);
	assert_int_equal(routing_load(f->r, cfg_peers, 2, cfg_routes, 2, NULL, 0), 0);
	t = routing_acquire(f->r);
	assert_true(route_table_peer(t, "kakao")->suspended);
	assert_true(route_table_peer(t, "kakao")->read_only);
	assert_int_equal(route_table_peer(t, "kakao")->n_endpoints, 0); /* still the config's */
	routing_release(t);
	assert_int_equal(routing_set_suspended(f->r, "kakao", false), 0);
	store_restart(f);
	assert_int_equal(routing_load(f->r, cfg_peers, 2, cfg_routes, 2, NULL, 0), 0);
	t = routing_acquire(f->r);
	assert_false(route_table_peer(t, "kakao")->suspended);
	routing_release(t);
	/* without the config entry the stored one is back */
	assert_int_equal(routing_load(f->r, &held, 1, cfg_routes + 1, 1, NULL, 0), 0);
	t = routing_acquire(f->r);
	assert_same_peer(route_table_peer(t, "kakao"), &stored);
	assert_string_equal(route_of(t, "+821012"), "other");
	routing_release(t);
	/* a run-time route to a config peer that the file then drops: the load names it */
	char err[320] = "x";
	struct route_entry rh = prefix_route("+44", "held");
	assert_int_equal(routing_put_route(f->r, &rh), 0);
	store_restart(f);
	assert_int_equal(routing_load(f->r, &cfg, 1, cfg_routes, 1, err, sizeof(err)),
			 -ROUTE_ENOPEER);
	assert_string_equal(err, "the route prefix \"+44\", added at run time, names peer "
				 "\"held\", which is no longer defined: define it again, or delete "
				 "the route first (console, interlinkctl)");
	t = routing_acquire(f->r);
	assert_null(route_table_peer_at(t, 0)); /* nothing published */
	routing_release(t);
	assert_int_equal(routing_load(f->r, &held, 1, NULL, 0, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(routing_load(f->r, &cfg, 1, cfg_routes, 1, err, 0), /* no text wanted */
			 -ROUTE_ENOPEER);
}

static void test_store_del_peer(void **state)
{
	struct store_fx *f = *state;
	struct route_peer a = bare_peer("a");
	struct route_entry ra = domain_route("*.a.example", "a");
	const struct route_table *t;

	assert_int_equal(routing_load(f->r, NULL, 0, NULL, 0, NULL, 0), 0);
	assert_int_equal(routing_put_route(f->r, &ra), -ROUTE_ENOPEER);
	assert_int_equal(routing_put_peer(f->r, &a), 0);
	assert_int_equal(routing_put_route(f->r, &ra), 0);
	assert_int_equal(routing_del_peer(f->r, "a"), -ROUTE_EINUSE);
	assert_int_equal(routing_del_peer(f->r, "zz"), -ROUTE_ENOTFOUND);
	assert_int_equal(routing_del_peer(f->r, "a b"), -ROUTE_EINVAL);
	assert_int_equal(routing_set_suspended(f->r, "zz", true), -ROUTE_ENOTFOUND);
	assert_int_equal(routing_del_route(f->r, ROUTE_MATCH_DOMAIN, "*.b.example"),
	                 -ROUTE_ENOTFOUND);
	assert_int_equal(routing_del_route(f->r, ROUTE_MATCH_DOMAIN, "*.a.example"), 0);
	assert_int_equal(routing_del_peer(f->r, "a"), 0);
	store_restart(f);
	assert_int_equal(routing_load(f->r, NULL, 0, NULL, 0, NULL, 0), 0);
	t = routing_acquire(f->r);
	assert_null(route_table_peer_at(t, 0));
	assert_null(route_table_route_at(t, 0));
	routing_release(t);
}

static void kv_put(struct queue *q, const char *table, const char *key, const void *val,
                   size_t vlen)
{
	struct queue_op op = {.type = QUEUE_OP_KV_PUT};

	op.u.kv = (struct queue_op_kv){
	    .table = table, .key = key, .klen = strlen(key), .val = val, .vlen = vlen};
	assert_int_equal(queue_exec(q, &op), 0);
}

/* Damages one stored record in the ways a bad disk or another version would: each makes the
 * load fail with -ROUTE_ESTORE, and nothing is published. */
static void test_store_corrupt(void **state)
{
	struct store_fx *f = *state;
	struct route_peer a = full_peer("a");
	struct route_entry ra = prefix_route("+8210", "a");
	unsigned char *pv, *rv, buf[1024];
	size_t plen, rlen;
	const struct route_table *t;
	enum {
		VERSION,
		TRUNC,
		EXTRA,
		FLAGS,
		KIND,
		KEY,
		TOKEN,
		RVERSION,
		RMATCH,
		RKEY,
		RVALUE,
		OVERLAY,
		NCASES
	};

	assert_int_equal(routing_load(f->r, NULL, 0, NULL, 0, NULL, 0), 0);
	assert_int_equal(routing_put_peer(f->r, &a), 0);
	assert_int_equal(routing_put_route(f->r, &ra), 0);
	assert_int_equal(queue_kv_get(f->q, "peers", "a", 1, (void **)&pv, &plen), 0);
	assert_int_equal(queue_kv_get(f->q, "routes", "p:+8210", 7, (void **)&rv, &rlen), 0);
	assert_true(plen < sizeof(buf) && rlen < sizeof(buf));
	for (int c = 0; c < NCASES; c++) {
		const char *table = c < RVERSION ? "peers" : "routes";
		const char *key = c < RVERSION ? "a" : "p:+8210";
		size_t len = c < RVERSION ? plen : rlen;
		unsigned char *tok;

		memcpy(buf, c < RVERSION ? pv : rv, len);
		switch (c) {
		case VERSION:
			buf[0] = 2;
			break;
		case TRUNC:
			len--;
			break;
		case EXTRA:
			buf[len++] = 0;
			break;
		case FLAGS:
			buf[2] |= 0x80;
			break;
		case KIND:
			buf[1] = 2;
			break;
		case KEY:
			key = "b";
			break;
		case TOKEN:
			tok = memmem(buf, len, HEX64, 64);
			assert_non_null(tok);
			tok[0] = 'X';
			break;
		case RVERSION:
			buf[0] = 0;
			break;
		case RMATCH:
			buf[1] = ROUTE_MATCH_DOMAIN;
			break;
		case RKEY:
			key = "p:+8211";
			break;
		case RVALUE:
			buf[4] = 'x';
			key = "p:x8210";
			break;
		case OVERLAY:
			table = "peers";
			key = "suspended:a";
			len = 2;
			break;
		}
		kv_put(f->q, table, key, buf, len);
		store_restart(f);
		if (routing_load(f->r, NULL, 0, NULL, 0, NULL, 0) != -ROUTE_ESTORE)
			print_error("corruption case %d loaded\n", c);
		char err[320], want[320];
		assert_int_equal(routing_load(f->r, NULL, 0, NULL, 0, err, sizeof(err)),
				 -ROUTE_ESTORE);
		snprintf(want, sizeof(want),
			 "%s%s%s in the store: a record this interlinkd does not read (written by a "
			 "newer version, or damaged)",
			 c < RVERSION ? "peer \"" : "", key, c < RVERSION ? "\"" : "");
		assert_string_equal(err, want); /* names the damaged record, by its key */
		t = routing_acquire(f->r);
		assert_null(route_table_peer_at(t, 0)); /* nothing published */
		routing_release(t);
		/* repair: the original records back, the stray key gone */
		kv_put(f->q, "peers", "a", pv, plen);
		kv_put(f->q, "routes", "p:+8210", rv, rlen);
		if (strcmp(key, "a") != 0 && strcmp(key, "p:+8210") != 0) {
			struct queue_op op = {.type = QUEUE_OP_KV_DEL};
			op.u.kv =
			    (struct queue_op_kv){.table = table, .key = key, .klen = strlen(key)};
			assert_int_equal(queue_exec(f->q, &op), 0);
		}
		assert_int_equal(routing_load(f->r, NULL, 0, NULL, 0, NULL, 0), 0);
	}
	free(pv);
	free(rv);
}

/* Random damage to a stored peer: every load either succeeds or says -ROUTE_ESTORE, and
 * never reads out of bounds (run under ASan by `make asan`). */
static void test_store_mutations(void **state)
{
	struct store_fx *f = *state;
	struct route_peer a = full_peer("a");
	unsigned char *pv, buf[1024];
	size_t plen;
	unsigned seed = 12345;

	assert_int_equal(routing_load(f->r, NULL, 0, NULL, 0, NULL, 0), 0);
	assert_int_equal(routing_put_peer(f->r, &a), 0);
	assert_int_equal(queue_kv_get(f->q, "peers", "a", 1, (void **)&pv, &plen), 0);
	assert_true(plen < sizeof(buf));
	for (int i = 0; i < 500; i++) {
		size_t len = plen;
		int rc;

		memcpy(buf, pv, plen);
		seed = seed * 1103515245u + 12345u;
		if (i % 5 == 0)
			len = (seed >> 8) % plen; /* truncated */
		else
			buf[(seed >> 8) % plen] ^= (unsigned char)(1u << ((seed >> 4) % 8));
		kv_put(f->q, "peers", "a", buf, len);
		rc = routing_load(f->r, NULL, 0, NULL, 0, NULL, 0);
		if (rc != 0 && rc != -ROUTE_ESTORE)
			print_error("mutation %d: %d\n", i, rc);
		assert_true(rc == 0 || rc == -ROUTE_ESTORE);
	}
	free(pv);
}

/* ------------------------------------------------------------ concurrency
 * Readers take, use and release tables while a writer publishes new ones; every table a
 * reader holds must be whole (both its routes name the same generation) and never older than
 * one it held before. Run under -fsanitize=thread by `make tsan`. */

#define READERS     8
#define GENERATIONS 1000

struct conc {
	struct routing *r;
	atomic_bool stop;
	atomic_long errors, reads, started;
};

static void *reader(void *arg)
{
	struct conc *c = arg;
	struct route_addr num, hdl;
	long last = -1;

	route_addr_parse("+821012345678", 13, NULL, &num);
	route_addr_parse("bob@x.line.example", 18, NULL, &hdl);
	atomic_fetch_add(&c->started, 1);
	while (!atomic_load(&c->stop)) {
		const struct route_table *t = routing_acquire(c->r);
		const struct route_entry *e1, *e2;
		long gen = -1;

		if (route_table_lookup(t, &num, &e1) == 0 &&
		    route_table_lookup(t, &hdl, &e2) == 0) {
			gen = strtol(e1->peer + 4, NULL, 10);
			if (strcmp(e1->peer, e2->peer) != 0 || gen < last ||
			    !route_table_peer(t, e1->peer))
				atomic_fetch_add(&c->errors, 1);
			last = gen;
		} else if (last >= 0) {
			atomic_fetch_add(&c->errors, 1); /* went back to the empty table */
		}
		routing_release(t);
		atomic_fetch_add(&c->reads, 1);
	}
	return NULL;
}

static void test_concurrent_publish(void **state)
{
	struct conc c = {.r = routing_new("node-a", NULL, NULL)};
	pthread_t th[READERS];
	char name[32];

	(void)state;
	assert_non_null(c.r);
	atomic_init(&c.stop, false);
	atomic_init(&c.errors, 0);
	atomic_init(&c.reads, 0);
	atomic_init(&c.started, 0);
	for (int i = 0; i < READERS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, reader, &c), 0);
	while (atomic_load(&c.started) < READERS)
		sched_yield();
	for (int g = 0; g < GENERATIONS; g++) {
		struct route_table *t = route_table_new();
		struct route_peer p = bare_peer(name);
		struct route_entry r1 = prefix_route("+8210", name);
		struct route_entry r2 = domain_route("*.line.example", name);
		struct route_entry r3 = prefix_route(g % 2 ? "+82" : "+8", name);

		snprintf(name, sizeof(name), "gen-%d", g);
		assert_non_null(t);
		assert_int_equal(route_table_add_peer(t, &p), 0);
		assert_int_equal(route_table_add_route(t, &r1), 0);
		assert_int_equal(route_table_add_route(t, &r2), 0);
		assert_int_equal(route_table_add_route(t, &r3), 0);
		routing_publish(c.r, t);
		if (g % 100 == 0) /* the run-time path too */
			assert_int_equal(routing_set_suspended(c.r, name, true), 0);
	}
	atomic_store(&c.stop, true);
	for (int i = 0; i < READERS; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(atomic_load(&c.errors), 0);
	assert_true(atomic_load(&c.reads) > 0);
	routing_free(c.r);
}

#include "routing_dir_health_tests.inc"

#include "routing_decide_tests.inc"

#include "routing_dir_pending_tests.inc"

#include "routing_peer_record_tests.inc"

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
	    cmocka_unit_test(test_table_lookup),
	    cmocka_unit_test(test_table_duplicates),
	    cmocka_unit_test(test_table_bad_peers),
	    cmocka_unit_test(test_table_bad_routes),
	    cmocka_unit_test(test_snapshot),
	    cmocka_unit_test(test_memory_changes),
	    cmocka_unit_test_setup_teardown(test_store_roundtrip, store_setup, store_teardown),
	    cmocka_unit_test_setup_teardown(test_store_config_wins, store_setup, store_teardown),
	    cmocka_unit_test_setup_teardown(test_store_del_peer, store_setup, store_teardown),
	    cmocka_unit_test_setup_teardown(test_store_corrupt, store_setup, store_teardown),
	    cmocka_unit_test_setup_teardown(test_store_mutations, store_setup, store_teardown),
	    cmocka_unit_test(test_concurrent_publish),
	    ROUTING_DIR_HEALTH_TESTS,
	    DD_TEST(test_decide_table),
	    DD_TEST(test_decide_invalid),
	    DD_TEST(test_decide_dr_endpoint),
	    DD_TEST(test_decide_all_open),
	    DD_TEST(test_decide_dry_run),
	    DD_TEST(test_decide_consent_off),
	    DD_TEST(test_decide_consent_on),
	    DD_TEST(test_may_send_table),
	    DD_TEST(test_may_send_invalid),
	    ROUTING_DIR_PENDING_TESTS,
	    ROUTING_PEER_RECORD_TESTS,
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
