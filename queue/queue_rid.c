/*
 * rids: 128-bit relay ids, 48 bits of milliseconds then 80 bits that start
 * random each millisecond and increase within it, printed in Crockford base32.
 */
#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "queue/queue.h"

static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* The generator's state: the last rid handed out, shared by every thread. */
static pthread_mutex_t rid_lock = PTHREAD_MUTEX_INITIALIZER;
static struct queue_rid rid_last;

static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void fill_random(unsigned char *p, size_t n)
{
	while (n > 0) {
		ssize_t got = getrandom(p, n, 0);
		if (got > 0) {
			p += got;
			n -= (size_t)got;
		}
	}
}

void queue_rid_new(struct queue_rid *out)
{
	uint64_t now = wall_ms();

	pthread_mutex_lock(&rid_lock);
	if (now > (uint64_t)queue_rid_time_ms(&rid_last)) {
		for (int i = 0; i < 6; i++)
			rid_last.b[i] = (unsigned char)(now >> (40 - 8 * i));
		fill_random(rid_last.b + 6, 10);
		rid_last.b[6] &= 0x7f; /* room to count up within the millisecond */
	} else {
		/* same millisecond, or the clock stepped back: count up from the last */
		for (int i = 15; i >= 0 && ++rid_last.b[i] == 0; i--)
			;
	}
	*out = rid_last;
	pthread_mutex_unlock(&rid_lock);
}

int64_t queue_rid_time_ms(const struct queue_rid *rid)
{
	uint64_t t = 0;
	for (int i = 0; i < 6; i++)
		t = (t << 8) | rid->b[i];
	return (int64_t)t;
}

/* Bit i (0 = most significant) of the 130-bit number 00 || rid. */
static unsigned bit_at(const struct queue_rid *rid, int i)
{
	if (i < 2)
		return 0;
	i -= 2;
	return (rid->b[i / 8] >> (7 - i % 8)) & 1u;
}

void queue_rid_format(const struct queue_rid *rid, char out[QUEUE_RID_TEXT + 1])
{
	for (int c = 0; c < QUEUE_RID_TEXT; c++) {
		unsigned v = 0;
		for (int j = 0; j < 5; j++)
			v = (v << 1) | bit_at(rid, c * 5 + j);
		out[c] = alphabet[v];
	}
	out[QUEUE_RID_TEXT] = '\0';
}

static int digit_value(char ch)
{
	if (ch >= 'a' && ch <= 'z')
		ch = (char)(ch - 'a' + 'A');
	if (ch == 'O')
		return 0;
	if (ch == 'I' || ch == 'L')
		return 1;
	const char *p = ch ? strchr(alphabet, ch) : NULL;
	return p ? (int)(p - alphabet) : -1;
}

int queue_rid_parse(const char *text, size_t len, struct queue_rid *out)
{
	struct queue_rid r = {{0}};

	if (!text || len != QUEUE_RID_TEXT)
		return -QUEUE_EINVAL;
	for (int c = 0; c < QUEUE_RID_TEXT; c++) {
		int v = digit_value(text[c]);
		if (v < 0 || (c == 0 && v > 7)) /* 26 × 5 = 130 bits: the top two are 0 */
			return -QUEUE_EINVAL;
		for (int j = 0; j < 5; j++) {
			int bit = c * 5 + j - 2;
			if (bit >= 0 && ((v >> (4 - j)) & 1))
				r.b[bit / 8] |= (unsigned char)(0x80u >> (bit % 8));
		}
	}
	*out = r;
	return 0;
}
