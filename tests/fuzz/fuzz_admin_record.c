/*
 * libFuzzer target for admin's stored records (admin_users.c): the first byte picks the
 * record (even: a user of the table "admins", odd: an API token of "admin_tokens"), the
 * rest goes through its decoder. A record that decodes must encode back to the same bytes,
 * and the re-encoding must decode to the same fields (a round trip; a mismatch traps).
 */
#include "admin/admin_priv.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void user_round_trip(const uint8_t *data, size_t size)
{
	static struct admin_user_rec u, again;
	unsigned char buf[ADMIN_USER_REC_LEN];

	if (admin_user_record_decode(data, size, &u) != 0)
		return;
	if (size != ADMIN_USER_REC_LEN)
		__builtin_trap();
	admin_user_record_encode(&u, buf);
	if (admin_user_record_decode(buf, sizeof(buf), &again) != 0 || again.role != u.role ||
	    again.iterations != u.iterations || memcmp(again.salt, u.salt, sizeof(u.salt)) != 0 ||
	    memcmp(again.hash, u.hash, sizeof(u.hash)) != 0)
		__builtin_trap();
	if (memcmp(buf, data, size) != 0)
		__builtin_trap(); /* the decoder accepted a form the encoder never writes */
}

static void token_round_trip(const uint8_t *data, size_t size)
{
	static struct admin_token_rec t, again;
	unsigned char buf[ADMIN_TOKEN_REC_MAX];
	size_t n;

	if (admin_token_record_decode(data, size, &t) != 0)
		return;
	if (size > ADMIN_TOKEN_REC_MAX || strlen(t.name) > ADMIN_NAME_MAX)
		__builtin_trap(); /* the encoder's buffer could not hold what was accepted */
	n = admin_token_record_encode(&t, buf);
	if (admin_token_record_decode(buf, n, &again) != 0 || again.role != t.role ||
	    again.created_ms != t.created_ms || strcmp(again.name, t.name) != 0)
		__builtin_trap();
	if (n != size || memcmp(buf, data, n) != 0)
		__builtin_trap(); /* the decoder accepted a form the encoder never writes */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 1)
		token_round_trip(data + 1, size - 1);
	else
		user_round_trip(data + 1, size - 1);
	return 0;
}
