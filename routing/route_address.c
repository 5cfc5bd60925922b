/*
 * Address parsing for routing: untrusted E.164 numbers and "local@domain" handles become
 * one normalised text (DESIGN.md "Addresses"), so addresses compare with strcmp.
 * No allocation, no logging; every rejection is a ROUTE_E* code.
 */
#include "routing/routing.h"

#include <assert.h>
#include <string.h>

#define E164_DIGITS_MAX 15
/* Digits kept while scanning a number: "00" + 15 is the longest acceptable run. */
#define DIGITS_KEEP      (E164_DIGITS_MAX + 3)
#define DOMAIN_LABEL_MAX 63
#define PREFIX_OUT_MIN   (1 + E164_DIGITS_MAX + 1)

static int is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static unsigned char lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

/* Phone separators: removed wherever they appear in a number. */
static int is_separator(unsigned char c)
{
	return c == ' ' || c == '-' || c == '.' || c == '(' || c == ')';
}

/* A non-ASCII byte anywhere wins over every other complaint: it is the clearest one. */
static int check_ascii(const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] >= 0x80)
			return -ROUTE_ENONASCII;
	return 0;
}

/* Digits seen in a number, after separators are dropped. */
struct digits {
	int plus; /* a leading "+" was seen */
	size_t n; /* digits seen; only the first DIGITS_KEEP are kept */
	char d[DIGITS_KEEP];
};

/* Collects the digits of a number; '+' is accepted only before the first digit. */
static int number_scan(const unsigned char *p, size_t len, struct digits *dg)
{
	dg->plus = 0;
	dg->n = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = p[i];
		if (is_separator(c))
			continue;
		if (c == '+' && !dg->plus && dg->n == 0) {
			dg->plus = 1;
			continue;
		}
		if (!is_digit(c))
			return -ROUTE_EBADCHAR;
		if (dg->n < DIGITS_KEEP)
			dg->d[dg->n] = (char)c;
		dg->n++;
	}
	if (!dg->plus && dg->n == 0)
		return -ROUTE_EEMPTY;
	return 0;
}

/* Writes "+" cc digits[from..] into out; checks the result is a valid E.164 number. */
static int e164_emit(const struct digits *dg, size_t from, const char *cc, char *out, size_t outsz,
                     size_t *outlen)
{
	size_t ccl = cc ? strlen(cc) : 0;
	size_t rest = dg->n - from;

	if (rest == 0)
		return -ROUTE_ETOOSHORT;
	if (ccl == 0 && dg->d[from] == '0')
		return -ROUTE_ECOUNTRY;
	if (ccl + rest > E164_DIGITS_MAX)
		return -ROUTE_ETOOLONG;
	if (1 + ccl + rest + 1 > outsz)
		return -ROUTE_ETOOLONG;
	out[0] = '+';
	memcpy(out + 1, cc ? cc : "", ccl);
	memcpy(out + 1 + ccl, dg->d + from, rest);
	out[1 + ccl + rest] = '\0';
	*outlen = 1 + ccl + rest;
	return 0;
}

/*
 * Turns scanned digits into "+<digits>": "+", then "00", then a trunk "0" (only when
 * cc is set and national numbers are allowed), else no prefix at all.
 */
static int number_finish(const struct digits *dg, const char *cc, int allow_national, char *out,
                         size_t outsz, size_t *outlen)
{
	if (dg->plus)
		return e164_emit(dg, 0, NULL, out, outsz, outlen);
	if (dg->n >= 2 && dg->d[0] == '0' && dg->d[1] == '0')
		return e164_emit(dg, 2, NULL, out, outsz, outlen);
	if (dg->d[0] != '0' || !allow_national)
		return -ROUTE_ENOPREFIX;
	if (dg->n == 1)
		return -ROUTE_ETOOSHORT;
	if (!cc)
		return -ROUTE_ENATIONAL;
	return e164_emit(dg, 1, cc, out, outsz, outlen);
}

static int parse_number(const unsigned char *p, size_t len, const char *cc, struct route_addr *out)
{
	struct digits dg;
	int rc;

	if (len >= 4 && lower(p[0]) == 't' && lower(p[1]) == 'e' && lower(p[2]) == 'l' &&
	    p[3] == ':') {
		p += 4;
		len -= 4;
	}
	rc = number_scan(p, len, &dg);
	if (rc)
		return rc;
	rc = number_finish(&dg, cc, 1, out->text, sizeof(out->text), &out->len);
	if (rc)
		return rc;
	out->kind = ROUTE_ADDR_E164;
	return 0;
}

/* Checks one DNS label [a-z0-9-]{1,63}, not starting or ending with '-' (already lower). */
static int label_ok(const char *s, size_t n)
{
	if (n == 0 || n > DOMAIN_LABEL_MAX)
		return 0;
	if (s[0] == '-' || s[n - 1] == '-')
		return 0;
	return 1;
}

/*
 * Lower-cases and validates a DNS name into out. A single label ("localhost") is accepted:
 * test carriers and private names use them. A trailing dot ("example.com.") is rejected
 * rather than stripped, so one carrier has exactly one spelling. A wildcard "*." counts
 * toward the 253 bytes, so the result always fits ROUTE_ADDR_DOMAIN_MAX + 1.
 */
static int domain_norm(const unsigned char *p, size_t len, int allow_wildcard, char *out,
                       size_t outsz)
{
	size_t start = 0, label = 0;
	int rc = check_ascii(p, len);

	if (rc)
		return rc;
	if (len > ROUTE_ADDR_DOMAIN_MAX || len + 1 > outsz)
		return -ROUTE_ETOOLONG;
	if (allow_wildcard && len >= 2 && p[0] == '*' && p[1] == '.') {
		memcpy(out, "*.", 2);
		start = label = 2;
	}
	if (start == len)
		return -ROUTE_EDOMAIN;
	for (size_t i = start; i <= len; i++) {
		if (i == len || p[i] == '.') {
			if (!label_ok(out + label, i - label))
				return -ROUTE_EDOMAIN;
			out[i] = (char)(i == len ? '\0' : '.');
			label = i + 1;
			continue;
		}
		unsigned char c = lower(p[i]);
		if (!is_digit(c) && !(c >= 'a' && c <= 'z') && c != '-')
			return -ROUTE_EDOMAIN;
		out[i] = (char)c;
	}
	return 0;
}

/*
 * "local@domain". Whitespace and control bytes are not trimmed but rejected (EBADCHAR), as
 * is a second '@'; other wrong characters name their field (ELOCAL, EDOMAIN). A part over
 * its length limit is ETOOLONG, as routing.h documents for that code.
 */
static int parse_handle(const unsigned char *p, size_t len, const unsigned char *at,
                        struct route_addr *out)
{
	size_t llen = (size_t)(at - p);
	int rc;

	for (size_t i = 0; i < len; i++)
		if (p[i] <= ' ' || p[i] == 0x7f || (p[i] == '@' && p + i != at))
			return -ROUTE_EBADCHAR;
	if (llen == 0)
		return -ROUTE_ELOCAL;
	if (llen > ROUTE_ADDR_LOCAL_MAX)
		return -ROUTE_ETOOLONG;
	for (size_t i = 0; i < llen; i++) {
		unsigned char c = lower(p[i]);
		if (!is_digit(c) && !(c >= 'a' && c <= 'z') && c != '.' && c != '_' && c != '-')
			return -ROUTE_ELOCAL;
		out->text[i] = (char)c;
	}
	out->text[llen] = '@';
	rc = domain_norm(at + 1, len - llen - 1, 0, out->text + llen + 1,
	                 sizeof(out->text) - llen - 1);
	if (rc)
		return rc;
	out->len = strlen(out->text);
	out->kind = ROUTE_ADDR_HANDLE;
	return 0;
}

int route_addr_parse(const char *in, size_t len, const char *default_country,
                     struct route_addr *out)
{
	const unsigned char *p = (const unsigned char *)in;
	const unsigned char *at;
	int rc;

	assert(out != NULL);
	if (default_country && route_country_check(default_country))
		return -ROUTE_ECC;
	if (!in || len == 0)
		return -ROUTE_EEMPTY;
	if (len > ROUTE_ADDR_INPUT_MAX)
		return -ROUTE_ETOOLONG;
	rc = check_ascii(p, len);
	if (rc)
		return rc;
	if (memchr(p, '\0', len))
		return -ROUTE_EBADCHAR;
	at = memchr(p, '@', len);
	if (at)
		return parse_handle(p, len, at, out);
	return parse_number(p, len, default_country, out);
}

int route_prefix_parse(const char *in, size_t len, char *out, size_t outsz)
{
	const unsigned char *p = (const unsigned char *)in;
	struct digits dg;
	size_t outlen;
	int rc;

	assert(out != NULL);
	if (!in || len == 0)
		return -ROUTE_EEMPTY;
	if (len > ROUTE_ADDR_INPUT_MAX)
		return -ROUTE_ETOOLONG;
	rc = check_ascii(p, len);
	if (rc)
		return rc;
	rc = number_scan(p, len, &dg);
	if (rc)
		return rc;
	if (outsz < PREFIX_OUT_MIN)
		return -ROUTE_ETOOLONG;
	return number_finish(&dg, NULL, 0, out, outsz, &outlen);
}

int route_domain_parse(const char *in, size_t len, int allow_wildcard, char *out, size_t outsz)
{
	assert(out != NULL);
	if (!in)
		return -ROUTE_EDOMAIN;
	return domain_norm((const unsigned char *)in, len, allow_wildcard, out, outsz);
}

int route_country_check(const char *cc)
{
	size_t n = 0;

	if (!cc || cc[0] < '1' || cc[0] > '9')
		return -ROUTE_ECC;
	while (cc[n] && n < 4) {
		if (!is_digit((unsigned char)cc[n]))
			return -ROUTE_ECC;
		n++;
	}
	return n <= 3 ? 0 : -ROUTE_ECC;
}

