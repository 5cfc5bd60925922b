/*
 * libFuzzer target for routing's address decoders: route_addr_parse (with and without a
 * default-country), route_prefix_parse and route_domain_parse on untrusted bytes, checking
 * that anything accepted is in its documented normal form.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "routing/routing.h"

/* Not assert(): the invariants must hold in any build, NDEBUG or not. */
#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			abort();                                                                   \
	} while (0)

static int all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* ^\+[1-9][0-9]{0,14}$ */
static void check_e164(const char *s, size_t n)
{
	CHECK(n >= 2 && n <= 16);
	CHECK(s[0] == '+' && s[1] >= '1' && s[1] <= '9');
	CHECK(all_digits(s + 1, n - 1));
}

/* Lower-case DNS name, labels [a-z0-9-]{1,63} not starting or ending with '-'. */
static void check_domain(const char *s, size_t n)
{
	size_t start = 0;

	CHECK(n >= 1 && n <= ROUTE_ADDR_DOMAIN_MAX);
	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != '.') {
			char c = s[i];
			CHECK((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
			continue;
		}
		CHECK(i - start >= 1 && i - start <= 63);
		CHECK(s[start] != '-' && s[i - 1] != '-');
		start = i + 1;
	}
}

static void check_addr(const struct route_addr *a)
{
	struct route_addr again;
	const char *at;

	/* Normal forms are fixed points: stored records are re-validated by parsing again. */
	CHECK(route_addr_parse(a->text, a->len, NULL, &again) == 0);
	CHECK(again.kind == a->kind && strcmp(again.text, a->text) == 0);

	CHECK(memchr(a->text, '\0', sizeof(a->text)) != NULL);
	CHECK(a->len == strlen(a->text));
	if (a->kind == ROUTE_ADDR_E164) {
		check_e164(a->text, a->len);
		return;
	}
	CHECK(a->kind == ROUTE_ADDR_HANDLE);
	at = strchr(a->text, '@');
	CHECK(at != NULL && strchr(at + 1, '@') == NULL);
	CHECK(at > a->text && at - a->text <= ROUTE_ADDR_LOCAL_MAX);
	for (const char *p = a->text; p < at; p++)
		CHECK((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' ||
		      *p == '_' || *p == '-');
	check_domain(at + 1, strlen(at + 1));
}

static void check_code(int rc)
{
	CHECK(rc == 0 || (rc < 0 && rc > -ROUTE_EMAX_));
	CHECK(strcmp(route_strerror(rc), "unknown error") != 0 || rc == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	struct route_addr a, b;
	char prefix[17], domain[ROUTE_ADDR_DOMAIN_MAX + 1];
	int rc, rc_cc;

	rc = route_addr_parse(in, size, NULL, &a);
	check_code(rc);
	if (rc == 0)
		check_addr(&a);

	/* A default-country only ever rescues national numbers; it never changes a result. */
	rc_cc = route_addr_parse(in, size, "82", &b);
	check_code(rc_cc);
	if (rc_cc == 0)
		check_addr(&b);
	if (rc == 0)
		CHECK(rc_cc == 0 && strcmp(a.text, b.text) == 0);
	else if (rc != -ROUTE_ENATIONAL)
		CHECK(rc_cc == rc);

	rc = route_prefix_parse(in, size, prefix, sizeof(prefix));
	check_code(rc);
	if (rc == 0)
		check_e164(prefix, strlen(prefix));

	for (int wild = 0; wild <= 1; wild++) {
		rc = route_domain_parse(in, size, wild, domain, sizeof(domain));
		CHECK(rc == 0 || rc == -ROUTE_EDOMAIN || rc == -ROUTE_ENONASCII ||
		      rc == -ROUTE_ETOOLONG);
		if (rc != 0)
			continue;
		if (wild && domain[0] == '*') {
			CHECK(domain[1] == '.' && strlen(domain) <= ROUTE_ADDR_DOMAIN_MAX);
			check_domain(domain + 2, strlen(domain + 2));
		} else {
			check_domain(domain, strlen(domain));
		}
	}
	return 0;
}
