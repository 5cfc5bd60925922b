/*
 * The character-set rules of ids, media types and node ids, and the one standard base64
 * codec, in one place: the JSON envelope, the stored record, the config, the store's key
 * file and the trust keys check the same rule with the same code.
 */
#include "relay/relay_priv.h"

#include <errno.h>
#include <stdint.h>
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

/* ------------------------------------------------------------------ base64 */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int rr_b64_decoded_len(const char *s, size_t len, size_t *n)
{
	size_t pad = 0;

	if (len % 4)
		return -EINVAL;
	if (len > 0 && s[len - 1] == '=')
		pad++;
	if (pad && s[len - 2] == '=')
		pad++;
	*n = len / 4 * 3 - pad;
	return 0;
}

int rr_b64_decode(const char *s, size_t len, unsigned char *out, size_t cap, size_t *n)
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t o = 0, need, data;

	if (rr_b64_decoded_len(s, len, &need) != 0)
		return -EINVAL;
	data = len - (len / 4 * 3 - need); /* the characters before the padding */
	for (size_t i = 0; i < data; i++) { /* a third '=', or one inside, is no digit */
		const char *p = memchr(B64, s[i], 64); /* 64: the table's NUL is no digit */

		if (!p)
			return -EINVAL;
		acc = acc << 6 | (uint32_t)(p - B64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (need <= cap)
				out[o] = (unsigned char)(acc >> bits);
			o++;
			acc &= (1u << bits) - 1;
		}
	}
	if (acc)
		return -EINVAL; /* bits left over before the padding: not the canonical text */
	*n = need;
	return need <= cap ? 0 : -ERANGE;
}

size_t rr_b64_encode(const unsigned char *in, size_t n, char *out)
{
	char *p = out;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		*p++ = B64[v >> 18 & 63];
		*p++ = B64[v >> 12 & 63];
		*p++ = i + 1 < n ? B64[v >> 6 & 63] : '=';
		*p++ = i + 2 < n ? B64[v & 63] : '=';
	}
	*p = '\0';
	return (size_t)(p - out);
}
