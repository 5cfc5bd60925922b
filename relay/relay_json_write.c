/*
 * The JSON writer of the hot paths (relay_priv.h, rw_): appends compact JSON to one growing
 * buffer, byte for byte what jansson's json_dumps(JSON_COMPACT | JSON_PRESERVE_ORDER) writes
 * for the same values, without a value per malloc.
 */
#include "relay/relay_priv.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define RW_CAP_MIN 256

void rw_init(struct rw *w)
{
	*w = (struct rw){0};
}

/* Every later call a no-op, rw_finish NULL; the memory goes now. */
static void fail(struct rw *w)
{
	free(w->buf);
	w->buf = NULL;
	w->len = w->cap = 0;
	w->failed = true;
}

/* Makes room for n more bytes (doubling); false, with w failed, when it cannot. */
static bool reserve(struct rw *w, size_t n)
{
	size_t cap = w->cap ? w->cap : RW_CAP_MIN;
	char *p;

	if (w->failed)
		return false;
	if (n <= w->cap - w->len)
		return true;
	if (n > SIZE_MAX - w->len) {
		fail(w);
		return false;
	}
	while (cap < w->len + n && cap <= SIZE_MAX / 2)
		cap *= 2;
	p = cap >= w->len + n ? realloc(w->buf, cap) : NULL;
	if (!p) {
		fail(w);
		return false;
	}
	w->buf = p;
	w->cap = cap;
	return true;
}

static void put(struct rw *w, const char *s, size_t n)
{
	if (reserve(w, n)) {
		memcpy(w->buf + w->len, s, n);
		w->len += n;
	}
}

static void put_c(struct rw *w, char c)
{
	if (reserve(w, 1))
		w->buf[w->len++] = c;
}

/* Before a value: a comma when it is not a member's value (after "key":) and its
 * container already holds something; the container then holds something. */
static bool value_start(struct rw *w)
{
	uint64_t bit = (uint64_t)1 << w->depth;

	if (w->failed)
		return false;
	if ((w->more & bit) && !(w->len && w->buf[w->len - 1] == ':'))
		put_c(w, ',');
	w->more |= bit;
	return !w->failed;
}

static void open_c(struct rw *w, char c)
{
	if (!value_start(w))
		return;
	if (w->depth >= 63) { /* more has a bit per depth */
		fail(w);
		return;
	}
	w->depth++;
	w->more &= ~((uint64_t)1 << w->depth);
	put_c(w, c);
}

void rw_obj(struct rw *w)
{
	open_c(w, '{');
}

void rw_arr(struct rw *w)
{
	open_c(w, '[');
}

void rw_end(struct rw *w, char close)
{
	if (w->failed)
		return;
	if (w->depth == 0 || (close != '}' && close != ']')) {
		fail(w); /* a caller's mistake: no text rather than broken text */
		return;
	}
	w->more &= ~((uint64_t)1 << w->depth);
	w->depth--;
	put_c(w, close);
}

/* The quoted, escaped string, without the comma logic. */
static void put_str(struct rw *w, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF"; /* jansson writes \u001F */
	size_t i = 0;

	put_c(w, '"');
	while (i < len && !w->failed) {
		size_t run = i;
		char esc[6] = {'\\', 'u', '0', '0', 0, 0};
		size_t n = 2;
		unsigned char c;

		while (run < len && (unsigned char)s[run] >= 0x20 && s[run] != '"' &&
		       s[run] != '\\')
			run++;
		put(w, s + i, run - i);
		if (run == len)
			break;
		c = (unsigned char)s[run];
		switch (c) {
		case '"':
			esc[1] = '"';
			break;
		case '\\':
			esc[1] = '\\';
			break;
		case '\b':
			esc[1] = 'b';
			break;
		case '\f':
			esc[1] = 'f';
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '\r':
			esc[1] = 'r';
			break;
		case '\t':
			esc[1] = 't';
			break;
		default:
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			n = 6;
		}
		put(w, esc, n);
		i = run + 1;
	}
	put_c(w, '"');
}

void rw_key(struct rw *w, const char *key)
{
	uint64_t bit = (uint64_t)1 << w->depth;

	if (w->failed)
		return;
	if (w->more & bit)
		put_c(w, ',');
	w->more |= bit;
	put_str(w, key, strlen(key));
	put_c(w, ':');
}

void rw_str(struct rw *w, const char *s, size_t len)
{
	if (value_start(w))
		put_str(w, s, len);
}

void rw_int(struct rw *w, int64_t v)
{
	char buf[24], *p = buf + sizeof buf;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	if (value_start(w))
		put(w, p, (size_t)(buf + sizeof buf - p));
}

void rw_bool(struct rw *w, bool v)
{
	if (value_start(w))
		put(w, v ? "true" : "false", v ? 4 : 5);
}

void rw_raw(struct rw *w, const char *json, size_t len)
{
	if (value_start(w))
		put(w, json, len);
}

char *rw_finish(struct rw *w, size_t *len)
{
	char *text;

	if (!w->failed && w->depth != 0) /* unclosed: no text rather than broken text */
		fail(w);
	if (!reserve(w, 1)) {
		rw_init(w);
		return NULL;
	}
	text = w->buf;
	text[w->len] = '\0';
	if (len)
		*len = w->len;
	rw_init(w);
	return text;
}
