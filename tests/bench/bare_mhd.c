/*
 * The relay benchmark's baseline and sink (tests/bench/bench_relay.py): a bare libmicrohttpd
 * server with relay_api.c's flags that reads each POST body and answers 202 {"rid",...} without
 * storing it, or with -s answers 200 as a carrier endpoint would. GET /count: what it answered.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <microhttpd.h>

#define THREADS        2           /* relay_api.c's API_THREADS */
#define CONN_TIMEOUT_S 60          /* relay_api.c's API_CONN_TIMEOUT_S */
#define BODY_MAX       (16u << 20) /* relay_api.c's limit for POST /v1/messages */
#define RID_LEN        26
#define SEEN_BITS      22 /* 4 Mi slots of 8 bytes, touched as used: ample for 60 s of load */

struct server {
	bool sink;
	atomic_uint_fast64_t posts; /* POSTs answered 2xx */
	atomic_uint_fast64_t seq;   /* makes rids unique */
	/* sink: the Idempotency-Keys seen (64-bit hashes, 0 = free), to count duplicates */
	_Atomic uint64_t *seen;
	atomic_uint_fast64_t unique, no_key, untracked;
};

/* One request's body, as relay_api.c collects it. */
struct body {
	char *buf;
	size_t len, cap;
	bool too_large;
};

static void take(struct body *b, const char *data, size_t n)
{
	if (b->too_large || b->len + n > BODY_MAX) {
		b->too_large = true;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->buf, cap);
		if (!p) {
			b->too_large = true;
			return;
		}
		b->buf = p;
		b->cap = cap;
	}
	memcpy(b->buf + b->len, data, n);
	b->len += n;
	b->buf[b->len] = '\0';
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *json)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(strlen(json), (void *)json, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	enum MHD_Result ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* A ULID-like id, as the relay's: 10 Crockford base32 digits of ms time, 16 of sequence. */
static void make_rid(struct server *s, char out[RID_LEN + 1])
{
	static const char digits[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	struct timespec ts;
	uint64_t seq = atomic_fetch_add(&s->seq, 1), ms;

	clock_gettime(CLOCK_REALTIME, &ts);
	ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	for (int i = 9; i >= 0; i--, ms >>= 5)
		out[i] = digits[ms & 31];
	for (int i = RID_LEN - 1; i >= 10; i--, seq >>= 5)
		out[i] = digits[seq & 31];
	out[RID_LEN] = '\0';
}

/* Counts the request's Idempotency-Key as new or seen (lock-free linear probing). */
static void track(struct server *s, struct MHD_Connection *conn)
{
	const char *key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Idempotency-Key");
	const size_t mask = ((size_t)1 << SEEN_BITS) - 1;
	uint64_t h = 1469598103934665603u; /* FNV-1a */

	if (!key) {
		atomic_fetch_add(&s->no_key, 1);
		return;
	}
	for (const char *p = key; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211u;
	h |= 1;
	if (atomic_load(&s->unique) > mask / 4 * 3) {
		atomic_fetch_add(&s->untracked, 1);
		return;
	}
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		uint64_t old = 0;
		if (atomic_compare_exchange_strong(&s->seen[i], &old, h)) {
			atomic_fetch_add(&s->unique, 1);
			return;
		}
		if (old == h)
			return; /* a duplicate delivery */
	}
}

static enum MHD_Result answer(struct server *s, struct MHD_Connection *conn, const char *url,
                              const char *method, struct body *b)
{
	char text[160];

	if (strcmp(method, "GET") == 0 && strcmp(url, "/count") == 0) {
		snprintf(text, sizeof(text),
		         "{\"posts\":%llu,\"unique\":%llu,\"no_key\":%llu,\"untracked\":%llu}",
		         (unsigned long long)atomic_load(&s->posts),
		         (unsigned long long)atomic_load(&s->unique),
		         (unsigned long long)atomic_load(&s->no_key),
		         (unsigned long long)atomic_load(&s->untracked));
		return reply(conn, MHD_HTTP_OK, text);
	}
	if (strcmp(method, "POST") != 0)
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
		             "{\"error\":\"method_not_allowed\"}");
	if (b->too_large)
		return reply(conn, MHD_HTTP_CONTENT_TOO_LARGE, "{\"error\":\"too_large\"}");
	atomic_fetch_add(&s->posts, 1);
	if (s->sink) {
		track(s, conn);
		return reply(conn, MHD_HTTP_OK, "{\"ok\":true}");
	}
	char rid[RID_LEN + 1];
	make_rid(s, rid);
	snprintf(text, sizeof(text), "{\"rid\":\"%s\",\"status\":\"queued\"}", rid);
	return reply(conn, MHD_HTTP_ACCEPTED, text);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **req_cls)
{
	struct body *b = *req_cls;

	(void)version;
	if (!b) {
		b = calloc(1, sizeof(*b));
		if (!b)
			return MHD_NO;
		*req_cls = b;
		return MHD_YES;
	}
	if (*upload_size) {
		take(b, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	return answer(cls, conn, url, method, b);
}

static void completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                      enum MHD_RequestTerminationCode toe)
{
	struct body *b = *req_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (!b)
		return;
	free(b->buf);
	free(b);
	*req_cls = NULL;
}

static int usage(void)
{
	fprintf(stderr,
	        "usage: bare_mhd [-s] PORT   (listens on 127.0.0.1; -s: sink, answer 200)\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct server s = {0};
	struct sockaddr_in sa = {.sin_family = AF_INET};
	sigset_t sigs;
	int argi = 1, sig;
	long port;
	char *end;

	if (argi < argc && strcmp(argv[argi], "-s") == 0) {
		s.sink = true;
		argi++;
	}
	if (argi != argc - 1)
		return usage();
	if (s.sink && !(s.seen = calloc((size_t)1 << SEEN_BITS, sizeof(*s.seen)))) {
		fprintf(stderr, "bare_mhd: out of memory\n");
		return 1;
	}
	port = strtol(argv[argi], &end, 10);
	if (*end || port < 1 || port > 65535)
		return usage();
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

	/* MHD's threads inherit the mask, so the signals come to sigwait below */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
	                 MHD_ALLOW_SUSPEND_RESUME;
	struct MHD_Daemon *d = MHD_start_daemon(
	    flags, (uint16_t)port, NULL, NULL, handle, &s, MHD_OPTION_SOCK_ADDR, &sa,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)THREADS, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)CONN_TIMEOUT_S, MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "bare_mhd: cannot listen on 127.0.0.1:%ld\n", port);
		return 1;
	}
	sigwait(&sigs, &sig);
	MHD_stop_daemon(d);
	printf("posts=%llu unique=%llu\n", (unsigned long long)atomic_load(&s.posts),
	       (unsigned long long)atomic_load(&s.unique));
	free((void *)s.seen);
	return 0;
}
