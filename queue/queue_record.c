/*
 * The store's byte layouts: keys that sort by time, and the versioned status
 * record, validated whenever it is read back.
 *
 * Status record v1 (little-endian integers):
 *   u8 version (1) | u8 state | u8 mode | u32 attempts |
 *   i64 created, updated, due, visible, expires, final, first_fail (ms) |
 *   five strings, each u8 length + bytes: src_peer, client_id, dst_peer,
 *   last_error, route
 * A state byte of QUEUE_HELD (6) is read only by builds that know it; the other
 * states keep their numbers.
 */
#include <string.h>

#include "queue/queue_priv.h"

#define STATUS_VERSION 1

void q_be64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (56 - 8 * i));
}

uint64_t q_get_be64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Peer names and client ids: 1..64 printable ASCII bytes, no NUL (keys use NUL as separator). */
bool q_name_ok(const char *s)
{
	size_t n = s ? strnlen(s, QUEUE_NAME_MAX + 1) : 0;
	if (n == 0 || n > QUEUE_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

static void put_name(struct qkey *k, const char *name)
{
	size_t n = strlen(name);
	memcpy(k->b + k->len, name, n);
	k->len += n;
	k->b[k->len++] = '\0';
}

static void put_time_rid(struct qkey *k, int64_t t, const struct queue_rid *rid)
{
	q_be64(k->b + k->len, (uint64_t)(t < 0 ? 0 : t));
	memcpy(k->b + k->len + 8, rid->b, 16);
	k->len += 24;
}

void q_key_time_rid(struct qkey *k, int64_t t, const struct queue_rid *rid)
{
	k->len = 0;
	put_time_rid(k, t, rid);
}

void q_key_name_time_rid(struct qkey *k, const char *name, int64_t t, const struct queue_rid *rid)
{
	k->len = 0;
	put_name(k, name);
	put_time_rid(k, t, rid);
}

void q_key_name_rid(struct qkey *k, const char *name, const struct queue_rid *rid)
{
	k->len = 0;
	put_name(k, name);
	memcpy(k->b + k->len, rid->b, 16);
	k->len += 16;
}

void q_key_name_name(struct qkey *k, const char *a, const char *b)
{
	k->len = 0;
	put_name(k, a);
	size_t n = strlen(b);
	memcpy(k->b + k->len, b, n);
	k->len += n;
}

static unsigned char *put_u64le(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		*p++ = (unsigned char)(v >> (8 * i));
	return p;
}

static uint64_t get_u64le(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static unsigned char *put_str(unsigned char *p, const char *s, size_t max)
{
	size_t n = strnlen(s, max);
	*p++ = (unsigned char)n;
	memcpy(p, s, n);
	return p + n;
}

size_t q_status_encode(const struct queue_status *st, unsigned char *buf, size_t size)
{
	unsigned char *p = buf;
	const int64_t times[] = {st->created_ms, st->updated_ms, st->due_ms, st->visible_ms,
				 st->expires_ms, st->final_ms, st->first_fail_ms};

	if (size < STATUS_RECORD_MAX)
		return 0;
	*p++ = STATUS_VERSION;
	*p++ = (unsigned char)st->state;
	*p++ = (unsigned char)st->mode;
	for (int i = 0; i < 4; i++)
		*p++ = (unsigned char)(st->attempts >> (8 * i));
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++)
		p = put_u64le(p, (uint64_t)times[i]);
	p = put_str(p, st->src_peer, QUEUE_NAME_MAX);
	p = put_str(p, st->client_id, QUEUE_NAME_MAX);
	p = put_str(p, st->dst_peer, QUEUE_NAME_MAX);
	p = put_str(p, st->last_error, QUEUE_TEXT_MAX);
	p = put_str(p, st->route, QUEUE_TEXT_MAX);
	return (size_t)(p - buf);
}

/* Reads one length-prefixed string of at most max bytes with no NUL. */
static int get_str(const unsigned char **p, const unsigned char *end, char *out, size_t max)
{
	if (*p >= end)
		return -1;
	size_t n = **p;
	(*p)++;
	if (n > max || (size_t)(end - *p) < n || memchr(*p, '\0', n))
		return -1;
	memcpy(out, *p, n);
	out[n] = '\0';
	*p += n;
	return 0;
}

int q_status_decode(const void *buf, size_t len, const struct queue_rid *rid,
		    struct queue_status *st)
{
	const unsigned char *p = buf, *end = p + len;
	int64_t *times[] = {&st->created_ms, &st->updated_ms, &st->due_ms, &st->visible_ms,
			    &st->expires_ms, &st->final_ms, &st->first_fail_ms};

	memset(st, 0, sizeof(*st));
	if (len < 7 + sizeof(times) / sizeof(times[0]) * 8 || p[0] != STATUS_VERSION)
		return -QUEUE_ECORRUPT;
	if (p[1] < QUEUE_QUEUED || p[1] >= QUEUE_STATE_MAX_ || (p[2] != QUEUE_PUSH && p[2] != QUEUE_PULL))
		return -QUEUE_ECORRUPT;
	st->rid = *rid;
	st->state = (enum queue_state)p[1];
	st->mode = (enum queue_mode)p[2];
	st->attempts = (uint32_t)p[3] | (uint32_t)p[4] << 8 | (uint32_t)p[5] << 16 |
		       (uint32_t)p[6] << 24;
	p += 7;
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++, p += 8)
		*times[i] = (int64_t)get_u64le(p);
	if (get_str(&p, end, st->src_peer, QUEUE_NAME_MAX) ||
	    get_str(&p, end, st->client_id, QUEUE_NAME_MAX) ||
	    get_str(&p, end, st->dst_peer, QUEUE_NAME_MAX) ||
	    get_str(&p, end, st->last_error, QUEUE_TEXT_MAX) ||
	    get_str(&p, end, st->route, QUEUE_TEXT_MAX) || p != end)
		return -QUEUE_ECORRUPT;
	if (!q_name_ok(st->src_peer) || !q_name_ok(st->client_id) || !q_name_ok(st->dst_peer))
		return -QUEUE_ECORRUPT;
	if (QUEUE_STATE_FINAL(st->state) != (st->final_ms != 0))
		return -QUEUE_ECORRUPT;
	return 0;
}

int q_counts_decode(const void *buf, size_t len, uint64_t n[COUNTS_SLOTS])
{
	memset(n, 0, COUNTS_SLOTS * sizeof(n[0]));
	if (len % 8 != 0 || len < COUNTS_SLOTS_MIN * 8 || len > COUNTS_SLOTS * 8)
		return -1;
	for (size_t s = 0; s < len / 8; s++)
		n[s] = get_u64le((const unsigned char *)buf + s * 8);
	return 0;
}
