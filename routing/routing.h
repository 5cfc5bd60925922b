/*
 * routing: addresses, and (in later parts) the route table, the subscriber
 * directory and the delivery decision. A library: it never logs, never exits,
 * and knows nothing of HTTP. Every function returns 0 or a negative ROUTE_E* code.
 */
#ifndef INTERLINK_ROUTING_H
#define INTERLINK_ROUTING_H

#include <stddef.h>

/* Error codes, returned negated (-ROUTE_EEMPTY). route_strerror() names each. */
enum route_error {
	ROUTE_EEMPTY = 1,   /* address is empty (after removing separators) */
	ROUTE_ETOOLONG,     /* more than 15 digits, or the handle/part is too long */
	ROUTE_ETOOSHORT,    /* no digits after the international prefix */
	ROUTE_EBADCHAR,     /* a character that has no place in an address */
	ROUTE_ENONASCII,    /* a byte >= 0x80 */
	ROUTE_ECOUNTRY,     /* country code starts with 0 (e.g. "+0...", "000...") */
	ROUTE_ENATIONAL,    /* national number (trunk 0) and no default-country set */
	ROUTE_ENOPREFIX,    /* digits with neither "+", "00" nor a trunk "0" */
	ROUTE_ELOCAL,       /* handle local part is not [a-z0-9._-]{1,64} */
	ROUTE_EDOMAIN,      /* handle domain is not a valid DNS name of <= 253 bytes */
	ROUTE_ECC,          /* default-country is not 1-3 digits starting 1-9 */
	ROUTE_EMAX_
};

enum route_addr_kind {
	ROUTE_ADDR_E164 = 1,   /* "+" and 1-15 digits, first digit 1-9 */
	ROUTE_ADDR_HANDLE = 2, /* "local@domain", lower-case */
};

#define ROUTE_ADDR_LOCAL_MAX 64
#define ROUTE_ADDR_DOMAIN_MAX 253
/* Longest normalised form: local + "@" + domain, plus the NUL. */
#define ROUTE_ADDR_MAX (ROUTE_ADDR_LOCAL_MAX + 1 + ROUTE_ADDR_DOMAIN_MAX + 1)
/* Longest input accepted before normalisation (separators, "tel:"). */
#define ROUTE_ADDR_INPUT_MAX 512

/* A normalised address: data, compare with strcmp(a.text, b.text). */
struct route_addr {
	enum route_addr_kind kind;
	size_t len;                 /* strlen(text) */
	char text[ROUTE_ADDR_MAX];  /* normalised form, NUL-terminated */
};

/*
 * Parses and normalises one address of `len` bytes (it need not be NUL-terminated).
 * E.164: separators " -.()" are removed, a "tel:" prefix is accepted, a leading
 * "00" becomes "+", and a leading trunk "0" is replaced by "+" default_country
 * when default_country (digits, e.g. "82") is non-NULL, else rejected.
 * Handles are lower-cased. On error *out is unspecified.
 * Returns 0, or -ROUTE_E* naming why the input is not an address.
 */
int route_addr_parse(const char *in, size_t len, const char *default_country,
		     struct route_addr *out);

/*
 * A route or ownership prefix: "+" and 1-15 digits, first digit 1-9 (separators
 * " -.()" removed, "00" accepted for "+"). Writes the normalised prefix into
 * out (at least 17 bytes). Returns 0 or -ROUTE_E*.
 */
int route_prefix_parse(const char *in, size_t len, char *out, size_t outsz);

/*
 * A carrier domain: a DNS name of at most 253 bytes, labels [a-z0-9-]{1,63}
 * not starting or ending with "-", lower-cased into out (at least 254 bytes).
 * With allow_wildcard, a leading "*." is kept ("*.line.example" matches any
 * subdomain). Returns 0 or -ROUTE_EDOMAIN / -ROUTE_ENONASCII / -ROUTE_ETOOLONG.
 */
int route_domain_parse(const char *in, size_t len, int allow_wildcard, char *out, size_t outsz);

/* Checks a default-country value: 1-3 digits, the first 1-9. Returns 0 or -ROUTE_ECC. */
int route_country_check(const char *cc);

/* A static, human-readable reason for a ROUTE_E* code (positive or negated). */
const char *route_strerror(int code);

#endif
