/*
 * Crash test for queue/: a child inserts from 4 threads with synced commits and is killed
 * (SIGKILL) at a random moment; every insert it saw acknowledged must then be in the store,
 * queued, byte for byte. Usage: crash_queue [seed] (printed, so a failure can be replayed).
 */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "queue/queue.h"

#define ROUNDS          20
#define THREADS         4
#define INFLIGHT        16 /* operations each thread keeps submitted */
#define THREAD_MAX      4000 /* records a thread submits per round: keeps the store < 1 GiB */
#define PAYLOAD         1024
#define DELAY_MIN_MS    50
#define DELAY_MAX_MS    400
#define MAX_FAILS_SHOWN 10
#define SRC_PEER        "crash-src"
#define DST_PEER        "crash-dst"

/* ------------------------------------------------------------- shared */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The payload of record (round, thread, seq): its name, then splitmix64 bytes. */
static void make_payload(unsigned round, unsigned thread, unsigned seq, unsigned char *out)
{
	uint64_t x = (uint64_t)round << 48 ^ (uint64_t)thread << 32 ^ seq;
	int n = snprintf((char *)out, PAYLOAD, "round %u thread %u seq %u|", round, thread, seq);

	for (size_t i = (size_t)n; i < PAYLOAD; i++) {
		x += 0x9e3779b97f4a7c15u;
		uint64_t z = x;
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
		out[i] = (unsigned char)(z ^ (z >> 31));
	}
}

static void make_client_id(unsigned round, unsigned thread, unsigned seq, char *out, size_t size)
{
	snprintf(out, size, "r%u-t%u-s%u", round, thread, seq);
}

static void opts_for(const char *dir, struct queue_options *opt)
{
	*opt = (struct queue_options){
		.dir = dir,
		.map_size = 64u << 20,
		.max_map_size = 1u << 30,
		.sync = QUEUE_SYNC_FULL,
		.retention_ms = 7LL * 24 * 3600 * 1000,
	};
}

/* ------------------------------------------------------------- child */

struct worker;

struct slot {
	struct queue_op op;
	struct worker *w;
	unsigned seq;
	struct slot *next_done;
	char client_id[QUEUE_NAME_MAX + 1];
	unsigned char payload[PAYLOAD];
};

struct worker {
	struct queue *q;
	int fd;
	unsigned round, id, next_seq;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct slot *done; /* guarded by lock: committed ops waiting to be reported */
	struct slot slots[INFLIGHT];
};

/* One line per write(2): under PIPE_BUF, so lines from several threads never interleave. */
static void write_line(int fd, const char *line, size_t len)
{
	while (write(fd, line, len) < 0 && errno == EINTR)
		;
}

static void die_child(int fd, const char *what, int rc)
{
	char line[256];
	int n = snprintf(line, sizeof(line), "ERR %s: %s\n", what, queue_strerror(rc));
	write_line(fd, line, (size_t)n);
	_exit(2);
}

/* Runs on the writer thread: hands the op back to its thread. */
static void slot_done(struct queue_op *op)
{
	struct slot *s = op->arg;
	struct worker *w = s->w;

	pthread_mutex_lock(&w->lock);
	s->next_done = w->done;
	w->done = s;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static void slot_submit(struct worker *w, struct slot *s)
{
	int64_t t = (int64_t)time(NULL) * 1000;

	s->seq = w->next_seq++;
	make_payload(w->round, w->id, s->seq, s->payload);
	make_client_id(w->round, w->id, s->seq, s->client_id, sizeof(s->client_id));
	memset(&s->op, 0, sizeof(s->op));
	s->op.type = QUEUE_OP_INSERT;
	s->op.done = slot_done;
	s->op.arg = s;
	s->op.u.insert = (struct queue_op_insert){
		.now_ms = t,
		.src_peer = SRC_PEER,
		.client_id = s->client_id,
		.dst_peer = DST_PEER,
		.mode = QUEUE_PUSH,
		.due_ms = t + 3600 * 1000,
		.expires_ms = t + 24 * 3600 * 1000,
		.payload = s->payload,
		.len = PAYLOAD,
	};
	queue_submit(w->q, &s->op);
}

/* Keeps INFLIGHT inserts submitted (THREAD_MAX in all); reports each one after its commit. */
static void *worker_main(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < INFLIGHT; i++) {
		w->slots[i].w = w;
		slot_submit(w, &w->slots[i]);
	}
	for (;;) {
		pthread_mutex_lock(&w->lock);
		while (!w->done)
			pthread_cond_wait(&w->cond, &w->lock);
		struct slot *s = w->done;
		w->done = NULL;
		pthread_mutex_unlock(&w->lock);
		while (s) {
			struct slot *next = s->next_done;
			char text[QUEUE_RID_TEXT + 1], line[128];
			if (s->op.rc != 0)
				die_child(w->fd, "insert", s->op.rc);
			if (s->op.u.insert.duplicate)
				die_child(w->fd, "insert reported a duplicate", 0);
			queue_rid_format(&s->op.u.insert.rid, text);
			int n = snprintf(line, sizeof(line), "%s %u %u %u\n", text, w->round, w->id,
					 s->seq);
			write_line(w->fd, line, (size_t)n);
			if (w->next_seq < THREAD_MAX)
				slot_submit(w, s);
			s = next;
		}
	}
	return NULL;
}

static void run_child(const char *dir, unsigned round, int fd)
{
	static struct worker workers[THREADS];
	struct queue_options opt;
	struct queue *q;
	char err[256];
	int rc;

	opts_for(dir, &opt);
	if ((rc = queue_open(&opt, &q, err, sizeof(err))) != 0)
		die_child(fd, err, rc);
	for (unsigned i = 0; i < THREADS; i++) {
		struct worker *w = &workers[i];
		*w = (struct worker){.q = q, .fd = fd, .round = round, .id = i};
		pthread_mutex_init(&w->lock, NULL);
		pthread_cond_init(&w->cond, NULL);
		if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
			die_child(fd, "pthread_create", -QUEUE_ENOMEM);
	}
	pause(); /* until SIGKILL */
	_exit(3);
}

/* ------------------------------------------------------------- parent */

struct record {
	struct queue_rid rid;
	unsigned round, thread, seq;
	bool bad; /* already counted as a failure in an earlier round */
};

struct records {
	struct record *v;
	size_t n, cap;
};

static int records_add(struct records *r, const struct record *rec)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 4096;
		struct record *v = realloc(r->v, cap * sizeof(*v));
		if (!v)
			return -1;
		r->v = v;
		r->cap = cap;
	}
	r->v[r->n++] = *rec;
	return 0;
}

/* Parses the complete lines in buf[0..*len) and keeps the rest. Returns the number of
 * bad lines (an ERR from the child, or one that does not parse). */
static int take_lines(char *buf, size_t *len, unsigned round, struct records *recs)
{
	char *p = buf, *end = buf + *len, *nl;
	int bad = 0;

	while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		struct record rec = {.bad = false};
		char text[QUEUE_RID_TEXT + 1];
		*nl = '\0';
		if (sscanf(p, "%26s %u %u %u", text, &rec.round, &rec.thread, &rec.seq) != 4 ||
		    queue_rid_parse(text, strlen(text), &rec.rid) != 0 || rec.round != round ||
		    rec.thread >= THREADS || records_add(recs, &rec) != 0) {
			printf("  child: %s\n", p);
			bad++;
		}
		p = nl + 1;
	}
	*len = (size_t)(end - p);
	memmove(buf, p, *len);
	return bad;
}

/* Runs one child for delay_ms, kills it, and collects what it reported. */
static int run_round(const char *dir, unsigned round, int delay_ms, struct records *recs)
{
	char buf[8192];
	size_t len = 0;
	int fds[2], status, bad = 0;
	bool killed = false;

	if (pipe(fds) != 0) {
		perror("pipe");
		return -1;
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return -1;
	}
	if (pid == 0) {
		close(fds[0]);
		run_child(dir, round, fds[1]);
	}
	close(fds[1]);
	int64_t deadline = now_ms() + delay_ms;
	for (;;) {
		if (!killed) {
			int64_t left = deadline - now_ms();
			struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
			if (left <= 0) {
				kill(pid, SIGKILL);
				killed = true;
			} else if (poll(&pfd, 1, (int)left) <= 0) {
				continue;
			}
		}
		ssize_t got = read(fds[0], buf + len, sizeof(buf) - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		len += (size_t)got;
		bad += take_lines(buf, &len, round, recs);
	}
	close(fds[0]);
	if (!killed)
		kill(pid, SIGKILL); /* it ended early: make sure it is gone */
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!killed || !WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
		printf("  child ended by itself (status %#x) before the kill\n", status);
		bad++;
	}
	if (len > 0)
		printf("  child: a partial last line (%zu bytes): not counted\n", len);
	return bad;
}

/* Checks every record reported so far (all rounds: a later crash must not lose an earlier
 * record either). Returns the number of new failures; each record fails only once. */
static size_t check_store(const char *dir, struct records *recs, size_t *checked)
{
	struct queue_options opt;
	struct queue *q;
	struct queue_peer_counts counts;
	unsigned char want[PAYLOAD];
	char err[256];
	size_t fails = 0, good = 0;
	int rc;

	*checked = 0;
	opts_for(dir, &opt);
	if ((rc = queue_open(&opt, &q, err, sizeof(err))) != 0) {
		printf("  queue_open: %s (%s)\n", err, queue_strerror(rc));
		return 1;
	}
	for (size_t i = 0; i < recs->n; i++) {
		struct record *r = &recs->v[i];
		struct queue_status st;
		unsigned char *got = NULL;
		size_t got_len = 0;
		char text[QUEUE_RID_TEXT + 1], cid[QUEUE_NAME_MAX + 1];
		const char *why = NULL;

		make_client_id(r->round, r->thread, r->seq, cid, sizeof(cid));
		make_payload(r->round, r->thread, r->seq, want);
		if ((rc = queue_status_get(q, &r->rid, &st)) != 0)
			why = queue_strerror(rc);
		else if (st.state != QUEUE_QUEUED)
			why = queue_state_name(st.state);
		else if (strcmp(st.client_id, cid) != 0 || strcmp(st.src_peer, SRC_PEER) != 0)
			why = "status of another message";
		else if ((rc = queue_payload_get(q, &r->rid, &got, &got_len)) != 0)
			why = queue_strerror(rc);
		else if (got_len != PAYLOAD || memcmp(got, want, PAYLOAD) != 0)
			why = "payload differs";
		free(got);
		(*checked)++;
		good += !why;
		if (!why || r->bad)
			continue;
		r->bad = true;
		if (fails++ < MAX_FAILS_SHOWN) {
			queue_rid_format(&r->rid, text);
			printf("  %s (round %u thread %u seq %u): %s\n", text, r->round, r->thread,
			       r->seq, why);
		}
	}
	/* some inserts may have committed without being reported: at least, not equal */
	if ((rc = queue_peer_counts(q, DST_PEER, &counts)) != 0 ||
	    counts.state[QUEUE_QUEUED] < good) {
		printf("  peer counts: %s, %" PRIu64 " queued < %zu found\n", queue_strerror(rc),
		       counts.state[QUEUE_QUEUED], good);
		fails++;
	}
	queue_close(q);
	return fails;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int main(int argc, char **argv)
{
	const char *tmp = getenv("TMPDIR");
	char dir[PATH_MAX];
	struct records recs = {0};
	unsigned seed = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0)
				 : (unsigned)time(NULL) ^ (unsigned)getpid() << 16;
	int passed = 0, failed = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	snprintf(dir, sizeof(dir), "%s/interlink-crash-XXXXXX", tmp && *tmp ? tmp : "/var/tmp");
	if (!mkdtemp(dir)) {
		perror(dir);
		return 1;
	}
	printf("crash_queue: seed %u (replay: %s %u), store %s\n", seed, argv[0], seed, dir);
	srand(seed);
	for (unsigned round = 1; round <= ROUNDS; round++) {
		int delay = DELAY_MIN_MS + rand() % (DELAY_MAX_MS - DELAY_MIN_MS + 1);
		int64_t t0 = now_ms();
		size_t before = recs.n, checked = 0;
		int bad = run_round(dir, round, delay, &recs);
		size_t fails = bad < 0 ? 1 : (size_t)bad;
		fails += check_store(dir, &recs, &checked);
		printf("round %2u: killed after %3d ms, reported %5zu%s, checked %6zu, %zu bad, "
		       "%.2f s: %s\n",
		       round, delay, recs.n - before,
		       recs.n - before == THREADS * THREAD_MAX ? " (all)" : "", checked, fails,
		       (double)(now_ms() - t0) / 1e3, fails ? "FAIL" : "ok");
		if (fails)
			failed++;
		else
			passed++;
	}
	free(recs.v);
	if (failed == 0)
		nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
	else
		printf("store kept for inspection: %s\n", dir);
	printf("%d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
