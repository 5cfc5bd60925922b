/*
 * relay's private parts: the declarations its files share, named after the file
 * that defines them (rr_: relay_rules.c, rc_: relay_config_values.c). Nothing
 * outside relay/ includes this file.
 */
#ifndef INTERLINK_RELAY_PRIV_H
#define INTERLINK_RELAY_PRIV_H

#include <stdbool.h>
#include <stddef.h>

#include "relay/relay.h"

/* ------------------------------------------------------ id rules (relay_rules.c) */

/*
 * The character-set rules that the envelope, its stored record and the config
 * share. Each says whether s, of len bytes with s[len] == '\0', obeys the rule;
 * an embedded NUL breaks every rule. Each bounds len by the RELAY_* maximum of
 * relay.h, so what it accepts fits the envelope's field.
 */
bool rr_id_ok(const char *s, size_t len);      /* submitter id: [A-Za-z0-9._:-]{1,64} */
bool rr_rid_ok(const char *s, size_t len);     /* relay id: 26 of Crockford base32 */
bool rr_node_id_ok(const char *s, size_t len); /* node id, hop, peer: [A-Za-z0-9._-]{1,64} */
bool rr_type_ok(const char *s, size_t len);    /* media type: 1-127 printable, with a '/' */

/* ---------------------- config values without libconfuse (relay_config_values.c) */

/* Where a config parse reports: its first error, as "NAME:LINE: reason". */
struct rc_err {
	const char *name; /* the file, in messages */
	char *err;        /* the caller's buffer for the message, or NULL */
	size_t errlen;
	int rc;           /* the first error, or 0 */
};

/* Records the first error (no line when line <= 0); returns e->rc. */
int rc_fail(struct rc_err *e, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Records "out of memory" unless an error came first; returns e->rc. */
int rc_nomem(struct rc_err *e);

/*
 * A copy of text with its comments blanked (lines kept), or NULL with the
 * error in e (an unterminated comment, string or section; no memory).
 * The caller frees it.
 */
char *rc_strip_comments(struct rc_err *e, const char *text);

/* Printable ASCII only (no spaces unless allowed), 1..max bytes. */
int rc_text_ok(const char *s, size_t max, int spaces);

/*
 * A numeric IPv4/IPv6 address or "localhost" into a (16 bytes, IPv4 mapped);
 * *loopback is 0, 1, or 2 for "localhost" (which may also be ::1).
 * Returns 0 or -1.
 */
int rc_addr_parse(const char *s, unsigned char a[16], int *loopback);

/* Whether two listeners would bind the same address and port. */
int rc_listeners_clash(const struct relay_listener_conf *x,
		       const struct relay_listener_conf *y);

/* Refuses the later of two routes for the same thing; returns 0 or e->rc. */
int rc_routes_unique(struct rc_err *e, const struct relay_config *cfg);

#endif
