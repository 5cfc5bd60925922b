/*
 * The queue browser and its actions: GET /api/messages (metadata of stored messages by
 * peer, state and age, oldest first, a page at a time), GET /api/messages/{rid} (one, with
 * its envelope's header; the body only when admin-can-read-bodies = true), and POST
 * /api/messages/{rid}/retry|hold|release|purge, each one queue operation.
 */
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin_priv.h"

#define LIMIT_DEFAULT 50
#define LIMIT_MAX     500
#define ACTION_DEADLINE_MS 10000 /* the writer commits within this, or 503 */

/* ------------------------------------------------------------------- JSON */

static json_t *time_or_null(int64_t ms)
{
	return ms > 0 ? json_integer((json_int_t)ms) : json_null();
}

/* When it is next offered: push attempt or pull visibility; null when held or final. */
static int64_t due_of(const struct queue_status *st)
{
	if (st->state != QUEUE_QUEUED && st->state != QUEUE_DELIVERING)
		return 0;
	return st->mode == QUEUE_PULL ? st->visible_ms : st->due_ms;
}

static json_t *status_json(const struct queue_status *st)
{
	char rid[QUEUE_RID_TEXT + 1];

	queue_rid_format(&st->rid, rid);
	return json_pack("{ss ss ss ss ss so so so so sI ss? ss?}", "rid", rid, "state",
			 queue_state_name(st->state), "peer", st->dst_peer, "src", st->src_peer,
			 "id", st->client_id, "created", time_or_null(st->created_ms), "updated",
			 time_or_null(st->updated_ms), "due", time_or_null(due_of(st)), "expires",
			 time_or_null(st->expires_ms), "attempts", (json_int_t)st->attempts,
			 "last_error", st->last_error[0] ? st->last_error : NULL, "route",
			 st->route[0] ? st->route : NULL);
}

static enum MHD_Result reply_nomem(struct relay_req *req)
{
	return relay_reply_retry(req, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "out of memory",
				 1);
}

/* A queue error other than the ones a handler answers itself. */
static enum MHD_Result reply_queue_error(struct relay_req *req, int rc)
{
	switch (-rc) {
	case QUEUE_ENOTFOUND:
		return relay_reply_error(req, MHD_HTTP_NOT_FOUND, "not_found", NULL,
					 "no such message");
	case QUEUE_ESTATE:
		return relay_reply_error(req, MHD_HTTP_CONFLICT, "state", NULL, queue_strerror(rc));
	case QUEUE_ENOMEM:
		return reply_nomem(req);
	case QUEUE_ECLOSED:
		return relay_reply_retry(req, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
					 "the node is stopping", 1);
	default:
		relay_log(RELAY_LOG_ERROR, "admin_queue_error", "error=\"%s\"", queue_strerror(rc));
		return relay_reply_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "store_error", NULL,
					 queue_strerror(rc));
	}
}

/* ------------------------------------------------------------------- list */

/* state=queued,held: names joined by commas; "live" stands for the three live states. */
static int parse_states(const char *s, unsigned *out)
{
	*out = 0;
	while (s && *s) {
		size_t n = strcspn(s, ",");
		bool known = false;
		if (n == 4 && strncmp(s, "live", 4) == 0) {
			*out |= QUEUE_LIST_STATE(QUEUE_QUEUED) | QUEUE_LIST_STATE(QUEUE_HELD) |
				QUEUE_LIST_STATE(QUEUE_DELIVERING);
			known = true;
		}
		for (int st = QUEUE_QUEUED; st < QUEUE_STATE_MAX_ && !known; st++) {
			const char *name = queue_state_name((enum queue_state)st);
			if (strlen(name) == n && strncmp(s, name, n) == 0) {
				*out |= QUEUE_LIST_STATE(st);
				known = true;
			}
		}
		if (!known)
			return -1;
		s += n + (s[n] == ',');
	}
	return 0;
}

/* A decimal number in [min, max], or -1. */
static long long parse_num(const char *s, long long min, long long max)
{
	char *end;
	long long v;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	return errno || *end || v < min || v > max ? -1 : v;
}

/* The query of GET /api/messages; false after answering 400. */
static bool list_query(struct relay_req *req, struct queue_list_filter *f,
		       struct queue_rid *after, bool *has_after, size_t *limit,
		       enum MHD_Result *ret)
{
	const char *peer = relay_req_query(req, "peer"), *state = relay_req_query(req, "state");
	const char *older = relay_req_query(req, "older"), *a = relay_req_query(req, "after");
	const char *lim = relay_req_query(req, "limit");
	long long v;

	memset(f, 0, sizeof(*f));
	*limit = LIMIT_DEFAULT;
	*has_after = false;
	if (peer && *peer)
		f->dst_peer = peer;
	if (state && *state && parse_states(state, &f->states) != 0) {
		*ret = relay_reply_error(req, MHD_HTTP_BAD_REQUEST, "bad_field", "state",
					 "queued, delivering, held, delivered, expired, failed or "
					 "live, joined by commas");
		return false;
	}
	if (older && *older) {
		if ((v = parse_num(older, 0, 100LL * 365 * 86400)) < 0) {
			*ret = relay_reply_error(req, MHD_HTTP_BAD_REQUEST, "bad_field", "older",
						 "seconds: a whole number");
			return false;
		}
		f->created_before_ms = relay_now_ms() - v * 1000;
	}
	if (a && *a) {
		if (queue_rid_parse(a, strlen(a), after) != 0) {
			*ret = relay_reply_error(req, MHD_HTTP_BAD_REQUEST, "bad_field", "after",
						 "a rid (26 Crockford base32 characters)");
			return false;
		}
		*has_after = true;
	}
	if (lim && *lim) {
		if ((v = parse_num(lim, 1, LIMIT_MAX)) < 0) {
			*ret = relay_reply_error(req, MHD_HTTP_BAD_REQUEST, "bad_field", "limit",
						 "1 to 500");
			return false;
		}
		*limit = (size_t)v;
	}
	return true;
}

struct list_acc {
	json_t *msgs;
	bool oom;
};

static int list_one(const struct queue_status *st, void *arg)
{
	struct list_acc *acc = arg;
	json_t *o = status_json(st);

	acc->oom = !o || json_array_append_new(acc->msgs, o) != 0;
	return acc->oom; /* out of memory: stop */
}

enum MHD_Result admin_h_messages(struct relay_req *req)
{
	struct queue *q = relay_node_queue(req->node);
	struct queue_list_filter f;
	struct queue_list_page page;
	struct queue_rid after;
	bool has_after;
	size_t limit;
	enum MHD_Result ret = MHD_YES;
	char next[QUEUE_RID_TEXT + 1];
	struct list_acc acc = {.oom = false};
	int rc;

	if (!list_query(req, &f, &after, &has_after, &limit, &ret))
		return ret;
	if (!(acc.msgs = json_array()))
		return reply_nomem(req);
	rc = queue_list(q, &f, has_after ? &after : NULL, limit, list_one, &acc, &page);
	if (rc != 0 || acc.oom) {
		json_decref(acc.msgs);
		if (rc == -QUEUE_EINVAL)
			return relay_reply_error(req, MHD_HTTP_BAD_REQUEST, "bad_field", "peer",
						 "not a peer name");
		return rc ? reply_queue_error(req, rc) : reply_nomem(req);
	}
	if (page.more)
		queue_rid_format(&page.next, next);
	/* next: where the following page starts; null on the last page */
	return admin_reply_json(req, MHD_HTTP_OK,
				json_pack("{so so}", "messages", acc.msgs, "next",
					  page.more ? json_string(next) : json_null()));
}

/* ------------------------------------------------------------------- show */

/* The body as the API gives it: "text" (UTF-8) or "body" (base64). */
static int add_body(json_t *o, const struct relay_envelope *env)
{
	if (env->is_text)
		return json_object_set_new(o, "text",
					   json_stringn((const char *)env->body, env->body_len));
	size_t n = 4 * ((env->body_len + 2) / 3) + 1;
	unsigned char *b64 = malloc(n);
	int rc;

	if (!b64)
		return -1;
	EVP_EncodeBlock(b64, env->body ? env->body : (const unsigned char *)"",
			(int)env->body_len);
	rc = json_object_set_new(o, "body", json_string((const char *)b64));
	free(b64);
	return rc;
}

/* The envelope's header fields (null when the payload is gone: a final message). */
static int add_envelope(json_t *o, const struct relay_envelope *env, bool bodies)
{
	json_t *hops = json_array();
	int rc = 0;

	for (size_t i = 0; env && hops && i < env->n_hops; i++)
		rc |= json_array_append_new(hops, json_string(env->hops[i]));
	if (!hops || rc) {
		json_decref(hops);
		return -1;
	}
	if (!env) {
		json_decref(hops);
		return json_object_update_new(o, json_pack("{sn sn sn sn sn sn sn}", "from", "to",
							   "type", "size", "dlr", "prio", "hops"));
	}
	rc = json_object_update_new(o, json_pack("{ss ss ss sI sb si so}", "from",
						 env->from.text, "to", env->to.text, "type",
						 env->type, "size", (json_int_t)env->body_len,
						 "dlr", (int)env->dlr, "prio", (int)env->prio,
						 "hops", hops));
	if (rc == 0 && bodies && env->kind == RELAY_ENV_MESSAGE)
		rc = add_body(o, env);
	return rc;
}

enum { ENV_GONE = 1, ENV_CORRUPT = 2 };

/* The stored envelope of a live message: 0 and *env (the caller clears it), ENV_GONE when
 * its payload is gone (final), ENV_CORRUPT, or a -QUEUE_E* code. */
static int load_envelope(struct relay_node *node, const struct queue_rid *rid,
			 struct relay_envelope *env)
{
	struct queue *q = relay_node_queue(node);
	unsigned char *payload;
	size_t len;
	int rc = queue_payload_get(q, rid, &payload, &len);

	if (rc == -QUEUE_ENOTFOUND)
		return ENV_GONE;
	if (rc != 0)
		return rc;
	rc = relay_record_decode(relay_node_config(node)->store.keys, payload, len, env);
	free(payload);
	return rc == 0 ? 0 : rc == -RELAY_ENOMEM ? -QUEUE_ENOMEM : ENV_CORRUPT;
}

static enum MHD_Result show(struct relay_req *req, const struct queue_rid *rid)
{
	struct queue *q = relay_node_queue(req->node);
	/* ADMIN BODIES SWITCH: bodies are shown only when the config says so */
	bool bodies = relay_node_config(req->node)->admin_can_read_bodies;
	struct relay_envelope env;
	struct queue_status st;
	json_t *o;
	int rc = queue_status_get(q, rid, &st);

	if (rc != 0)
		return reply_queue_error(req, rc);
	if ((rc = load_envelope(req->node, rid, &env)) < 0)
		return reply_queue_error(req, rc);
	if (!(o = status_json(&st)) || add_envelope(o, rc == 0 ? &env : NULL, bodies) != 0) {
		json_decref(o);
		o = NULL;
	}
	if (rc == 0)
		relay_envelope_clear(&env);
	if (o && rc == ENV_CORRUPT)
		json_object_set_new(o, "record_error", json_string("stored envelope is corrupt"));
	return o ? admin_reply_json(req, MHD_HTTP_OK, o) : reply_nomem(req);
}

/* ---------------------------------------------------------------- actions */

enum action { ACT_RETRY, ACT_HOLD, ACT_RELEASE, ACT_PURGE };
static const char *const action_names[] = {"retry", "hold", "release", "purge"};

/* One action on its way to the writer; req->state, freed with the request. */
struct act {
	struct queue_op op;
	enum action what;
	struct queue_status st;      /* before the change */
	struct relay_envelope env;   /* purge: for the report (its body dropped) */
	bool have_env;
	atomic_bool done;
	char error[QUEUE_TEXT_MAX + 1];
};

static void act_free(void *state)
{
	struct act *a = state;

	relay_envelope_clear(&a->env);
	free(a);
}

/* Writer thread: committed (or failed); the request goes on in its own thread. */
static void act_done(struct queue_op *op)
{
	struct relay_req *req = op->arg;
	struct act *a = req->state;

	atomic_store(&a->done, true);
	relay_req_resume(req);
	relay_req_release(req);
}

/* Purge: the confirmation, and the envelope for the report. false after answering. */
static bool purge_prepare(struct relay_req *req, struct act *a, enum MHD_Result *ret)
{
	static const char *const allowed[] = {"confirm", NULL};
	json_t *body = admin_body_object(req, allowed, ret);
	bool ok = body && json_is_true(json_object_get(body, "confirm"));
	int rc;

	json_decref(body);
	if (!body)
		return false;
	if (!ok) {
		*ret = relay_reply_error(req, MHD_HTTP_BAD_REQUEST, "bad_field", "confirm",
					 "a purge needs {\"confirm\":true}");
		return false;
	}
	rc = load_envelope(req->node, &a->st.rid, &a->env);
	a->have_env = rc == 0;
	if (a->have_env) { /* the report needs no body */
		free(a->env.body);
		a->env.body = NULL;
		a->env.body_len = 0;
	}
	snprintf(a->error, sizeof(a->error), "purged by %s", admin_who(req)->user);
	return true;
}

/* Why the action does not apply to the message (answered 409), or NULL. A retry of a push
 * in flight would start a second one: its outcome comes within the delivery timeout. */
static const char *state_conflict(enum action what, const struct queue_status *st)
{
	if (QUEUE_STATE_FINAL(st->state))
		return "the message is final";
	if (what == ACT_RELEASE && st->state != QUEUE_HELD)
		return "the message is not held";
	if (what == ACT_RETRY && st->state == QUEUE_HELD)
		return "the message is held: release it";
	if (what == ACT_RETRY && st->state == QUEUE_DELIVERING && st->mode == QUEUE_PUSH)
		return "the message is being delivered now";
	return NULL;
}

/* Checks the state for the action (409 as the queue would say it), prepares, submits. */
static enum MHD_Result act_begin(struct relay_req *req, const struct queue_rid *rid,
				 enum action what)
{
	static const enum queue_op_type types[] = {QUEUE_OP_RESCHEDULE, QUEUE_OP_HOLD,
						   QUEUE_OP_RELEASE, QUEUE_OP_FINALISE};
	struct act *a;
	enum MHD_Result ret = MHD_YES;
	int64_t now = relay_now_ms();
	const char *why;
	int rc;

	if (!admin_may_write(req))
		return MHD_YES;
	if (!(a = calloc(1, sizeof(*a))))
		return reply_nomem(req);
	req->state = a;
	req->state_free = act_free;
	a->what = what;
	if ((rc = queue_status_get(relay_node_queue(req->node), rid, &a->st)) != 0)
		return reply_queue_error(req, rc);
	if ((why = state_conflict(what, &a->st)))
		return relay_reply_error(req, MHD_HTTP_CONFLICT, "state", NULL, why);
	if (what == ACT_PURGE && !purge_prepare(req, a, &ret))
		return ret;
	a->op = (struct queue_op){.type = types[what], .done = act_done, .arg = req};
	a->op.u.change = (struct queue_op_change){.rid = *rid, .now_ms = now, .due_ms = now,
						  .state = QUEUE_FAILED};
	if (what == ACT_PURGE)
		a->op.u.change.error = a->error;
	relay_req_suspend(req, now + ACTION_DEADLINE_MS);
	relay_req_hold(req); /* for act_done */
	queue_submit(relay_node_queue(req->node), &a->op);
	return MHD_YES;
}

/* The change committed (or not): the report, a kick, and the message as it is now. */
static enum MHD_Result act_resumed(struct relay_req *req, struct act *a)
{
	struct queue_status st;
	char rid[QUEUE_RID_TEXT + 1];
	int rc;

	if (!atomic_load(&a->done))
		return relay_reply_retry(req, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
					 "the store is busy; try again", 1);
	if (a->op.rc != 0)
		return reply_queue_error(req, a->op.rc);
	queue_rid_format(&a->st.rid, rid);
	relay_log(RELAY_LOG_INFO, "admin_message", "rid=%s action=%s user=%s", rid,
		  action_names[a->what], admin_who(req)->user);
	if (a->what == ACT_PURGE &&
	    (rc = relay_node_report(req->node, a->have_env ? &a->env : NULL, &a->st,
				    RELAY_REPORT_FAILED, a->error)))
		relay_log(RELAY_LOG_WARN, "admin_report_failed", "rid=%s error=\"%s\"", rid,
			  relay_strerror(rc));
	if (a->what == ACT_RETRY || a->what == ACT_RELEASE)
		relay_node_kick(req->node, a->st.mode == QUEUE_PULL ? a->st.dst_peer : NULL);
	if ((rc = queue_status_get(relay_node_queue(req->node), &a->st.rid, &st)) != 0)
		return reply_queue_error(req, rc);
	return admin_reply_json(req, MHD_HTTP_OK, status_json(&st));
}

enum MHD_Result admin_h_message(struct relay_req *req)
{
	const char *slash = strchr(req->arg, '/');
	size_t n = slash ? (size_t)(slash - req->arg) : strlen(req->arg);
	struct queue_rid rid;

	if (req->phase == REQ_RESUMED)
		return act_resumed(req, req->state);
	if (queue_rid_parse(req->arg, n, &rid) != 0)
		return relay_reply_error(req, MHD_HTTP_NOT_FOUND, "not_found", NULL,
					 "not a rid (26 Crockford base32 characters)");
	if (strcmp(req->method, "GET") == 0) {
		if (slash)
			return relay_reply_error(req, MHD_HTTP_NOT_FOUND, "not_found", NULL,
						 "no such path");
		return show(req, &rid);
	}
	for (size_t i = 0; slash && i < sizeof(action_names) / sizeof(action_names[0]); i++)
		if (strcmp(slash + 1, action_names[i]) == 0)
			return act_begin(req, &rid, (enum action)i);
	return relay_reply_error(req, MHD_HTTP_NOT_FOUND, "not_found", NULL,
				 "actions: retry, hold, release, purge");
}
