/*
 * The character-set rules of ids, media types and node ids, in one place: the JSON
 * envelope (relay_envelope.c), the stored record (relay_record.c) and the config's
 * node-id and peer names (relay_config.c) check the same rule with the same code.
 */
#include "relay/relay_priv.h"

#include <string.h>

#define ALNUM     "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
#define CROCKFORD "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

/* 1..max bytes, each in chars (strspn stops at an embedded NUL: refused). */
static bool chars_ok(const char *s, size_t len, size_t max, const char *chars)
{
	return len >= 1 && len <= max && strspn(s, chars) == len;
}

bool rr_id_ok(const char *s, size_t len)
{
	return chars_ok(s, len, RELAY_ENV_ID_MAX, ALNUM "._:-");
}

bool rr_rid_ok(const char *s, size_t len)
{
	return len == RELAY_RID_LEN && chars_ok(s, len, RELAY_RID_LEN, CROCKFORD);
}

bool rr_node_id_ok(const char *s, size_t len)
{
	return chars_ok(s, len, RELAY_NODE_ID_MAX, ALNUM "._-");
}

bool rr_type_ok(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len && (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] <= 0x7e)
		i++;
	return len >= 1 && len <= RELAY_ENV_TYPE_MAX && i == len && memchr(s, '/', len);
}

bool rr_seal_id_ok(const char *s, size_t len)
{
	return len <= RELAY_SEAL_ID_MAX && rr_node_id_ok(s, len);
}
