/*
 * The delivery engine's private parts, shared by relay_delivery.c (leases, outcomes, the
 * thread) and relay_push.c (starting the pushes). Nothing else includes this file.
 */
#ifndef INTERLINK_RELAY_DELIVERY_PRIV_H
#define INTERLINK_RELAY_DELIVERY_PRIV_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relay/relay_priv.h"

#define IDLE_EASY   256 /* easy handles kept for reuse (curl_easy_init costs) */
#define ANSWER_KEEP 512 /* bytes of a relay peer's answer kept, for its rid */

/* What the engine knows of a destination peer: its transfers and those waiting for room. */
struct dpeer {
	struct dpeer *next;
	char name[ROUTE_NAME_MAX + 1];
	uint32_t inflight;
	struct xfer *wait_head, *wait_tail;
	size_t n_wait;
	int64_t probe_end_ms; /* our half-open probe is expected back by then; 0: none */
};

/* One leased message, from its lease to the change that hands it back to the queue. */
struct xfer {
	struct xfer *next, *prev; /* every live xfer, for abandon() */
	struct xfer *wnext;       /* the peer's wait list */
	struct xfer *snext;       /* the list of pushes about to start (dl_flush_starts) */
	struct queue_status st;
	struct relay_envelope env;
	struct route_decision dec;
	struct dpeer *peer;
	bool to_relay;            /* pushed to a relay: the report is the downstream node's */
	int64_t lease_end_ms, started_ms;
	CURL *easy;
	struct curl_slist *hdrs;
	char *json;
	char rid[QUEUE_RID_TEXT + 1];
	char errbuf[CURL_ERROR_SIZE];
	char answer[ANSWER_KEEP + 1]; /* the start of a relay peer's answer */
	size_t answer_len;
};

struct relay_delivery {
	struct relay_node *node;
	CURLM *multi;             /* lives until relay_delivery_free: kicks may come late */
	pthread_t thread;
	bool running;
	atomic_bool stop, kicked;
	/* the engine thread's own; nobody else touches them */
	struct dpeer *peers;
	struct xfer *all;         /* xfers alive: flying or waiting */
	size_t held;              /* how many */
	struct queue_op lease;    /* the one lease asked for at a time */
	bool leasing;             /* ...is with the writer */
	atomic_bool lease_back;   /* ...and has come back */
	int64_t next_lease_ms;
	int64_t busy_until_ms;    /* no lease before then: a peer had no room */
	uint64_t rng;
	CURL *idle[IDLE_EASY];    /* easy handles of finished pushes, reset, for the next ones */
	size_t n_idle;
	struct xfer *start_head, *start_tail; /* admitted, to be signed and started together */
	size_t n_start;
	struct relay_trace_sweep sweep; /* the trace of purged messages */
	struct relay_store_watch store_watch;
};

/* ------------------------------------------------------------- relay_delivery.c */

/* Copies src (NULL: "") into dst, cut to fit. */
void dl_copy_text(char *dst, size_t size, const char *src);
/* How many messages the engine holds at most, flying or waiting. */
size_t dl_capacity(const struct relay_config *cfg);
/* The peer's entry, created on first use when `create`; NULL: none, or no memory. */
struct dpeer *dl_peer_get(struct relay_delivery *d, const char *name, bool create);
/* x out of d->all and freed, its easy handle kept for reuse; its peer's counts are the
 * caller's to mend. */
void dl_xfer_free(struct relay_delivery *d, struct xfer *x);
/* Back to queued at due_ms, without counting as a failure (no error text). */
void dl_put_back(struct relay_delivery *d, const struct xfer *x, int64_t due_ms);

/* ----------------------------------------------------------------- relay_push.c */

/* A decided push to x->dec.peer: started now, waiting for room, or put back. */
void dl_admit(struct relay_delivery *d, struct xfer *x, int64_t now);
/* Starts the pushes admitted since the last call, signed together. */
void dl_flush_starts(struct relay_delivery *d);
/* Starts the peer's waiting messages while it has room. */
void dl_drain(struct relay_delivery *d, struct dpeer *p, int64_t now);

#endif
