/*
 * The HTTP frame both listeners use (the carrier API, the admin API): one
 * libmicrohttpd daemon (epoll, a thread pool), a table from method and path to
 * handler, request bodies, an authentication hook, and suspended requests
 * with a watchdog.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "relay/relay_priv.h"

#define API_THREADS 2
#define API_CONN_TIMEOUT_S 60
#define LOG_PER_S 10 /* http_error lines a second, per listener */
#define WATCHDOG_TICK_MS 50
struct relay_http {
	struct relay_node *node;
	const struct relay_http_route *routes;
	size_t n_routes;
	const struct relay_http_ops *ops;
	void *ctx;
	struct MHD_Daemon *mhd;
	int tls_slot;    /* relay_tls.c's, or -1: plain HTTP */
	gnutls_certificate_retrieve_function2 *serve_cert;
	char *client_ca; /* PEM text, kept while MHD runs */
	char url[128];
	/* suspended requests with a deadline, for the watchdog */
	pthread_mutex_t wd_lock;
	pthread_cond_t wd_wake;
	struct relay_req *wd_head;
	bool stopping;
	pthread_t watchdog;
	bool watchdog_started;
	/* libmicrohttpd's own errors, at most LOG_PER_S a second (mhd_log) */
	pthread_mutex_t log_lock;
	int64_t log_second;
	unsigned log_n, log_dropped;
};

/* ------------------------------------------------------------ replies */

enum MHD_Result relay_reply_body(struct relay_req *req, unsigned status, const char *content_type,
				 const void *body, size_t len, const struct relay_header *headers,
				 size_t n_headers)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	for (size_t i = 0; i < n_headers; i++)
		MHD_add_response_header(r, headers[i].name, headers[i].value);
	if (status == MHD_HTTP_UNAUTHORIZED) /* RFC 7235: a 401 names its scheme */
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Bearer realm=\"interlink\"");
	enum MHD_Result ret = MHD_queue_response(req->conn, status, r);
	MHD_destroy_response(r);
	req->phase = REQ_ANSWERED;
	return ret;
}

static enum MHD_Result reply_with(struct relay_req *req, unsigned status, const char *json,
				  unsigned retry_after_s)
{
	struct relay_header h[2] = {{MHD_HTTP_HEADER_CACHE_CONTROL, "no-store"}};
	char retry[16];
	size_t n = 1;

	if (retry_after_s) {
		snprintf(retry, sizeof(retry), "%u", retry_after_s);
		h[n++] = (struct relay_header){MHD_HTTP_HEADER_RETRY_AFTER, retry};
	}
	return relay_reply_body(req, status, "application/json", json, strlen(json), h, n);
}

enum MHD_Result relay_reply(struct relay_req *req, unsigned status, const char *json)
{
	return reply_with(req, status, json, 0);
}

enum MHD_Result relay_reply_json_retry(struct relay_req *req, unsigned status, const char *json,
				       unsigned retry_after_s)
{
	return reply_with(req, status, json, retry_after_s);
}

static enum MHD_Result reply_error_with(struct relay_req *req, unsigned status, const char *code,
					const char *field, const char *reason, unsigned retry)
{
	json_t *o = json_pack("{ss}", "error", code);
	char *text;

	if (o && field)
		json_object_set_new(o, "field", json_string(field));
	if (o && reason)
		json_object_set_new(o, "reason", json_string(reason));
	text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(o);
	enum MHD_Result ret = reply_with(
		req, status, text ? text : "{\"error\":\"internal\"}", retry);
	free(text);
	return ret;
}

enum MHD_Result relay_reply_error(struct relay_req *req, unsigned status, const char *code,
				  const char *field, const char *reason)
{
	return reply_error_with(req, status, code, field, reason, 0);
}

enum MHD_Result relay_reply_retry(struct relay_req *req, unsigned status, const char *code,
				  const char *reason, unsigned retry_after_s)
{
	return reply_error_with(req, status, code, NULL, reason,
				retry_after_s ? retry_after_s : 1);
}

/* ------------------------------------------------- requests, suspension */

const char *relay_req_query(struct relay_req *req, const char *key)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *relay_req_header(struct relay_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

void relay_req_hold(struct relay_req *req)
{
	atomic_fetch_add(&req->refs, 1);
}

void relay_req_release(struct relay_req *req)
{
	if (atomic_fetch_sub(&req->refs, 1) != 1)
		return;
	if (req->state_free)
		req->state_free(req->state);
	if (req->http->ops->req_free)
		req->http->ops->req_free(req);
	if (req->table)
		routing_release(req->table);
	free(req->body);
	free(req);
}

static void wd_unlink(struct relay_http *api, struct relay_req *req)
{
	if (req->wd_prev)
		req->wd_prev->wd_next = req->wd_next;
	else if (api->wd_head == req)
		api->wd_head = req->wd_next;
	if (req->wd_next)
		req->wd_next->wd_prev = req->wd_prev;
	req->wd_prev = req->wd_next = NULL;
}

static void resume_locked(struct relay_http *api, struct relay_req *req);

void relay_req_suspend(struct relay_req *req, int64_t deadline_ms)
{
	struct relay_http *api = req->http;

	req->phase = REQ_SUSPENDED;
	req->timed_out = false;
	req->deadline_ms = deadline_ms;
	atomic_store(&req->resume_taken, false);
	pthread_mutex_lock(&api->wd_lock);
	req->wd_prev = NULL;
	req->wd_next = api->wd_head;
	if (api->wd_head)
		api->wd_head->wd_prev = req;
	api->wd_head = req;
	/* under the lock, so that the watchdog cannot resume it before it is suspended */
	MHD_suspend_connection(req->conn);
	if (api->stopping) { /* the watchdog may be gone: MHD must not stop with it suspended */
		req->timed_out = true;
		resume_locked(api, req);
	}
	pthread_mutex_unlock(&api->wd_lock);
}

/* Resumes; the caller holds wd_lock. */
static void resume_locked(struct relay_http *api, struct relay_req *req)
{
	if (atomic_exchange(&req->resume_taken, true))
		return;
	wd_unlink(api, req);
	req->phase = REQ_RESUMED;
	MHD_resume_connection(req->conn);
}

void relay_req_resume(struct relay_req *req)
{
	struct relay_http *api;

	/* answered, completed, or the API stopped (api may be gone then: read it only after,
	 * since relay_node_stop clears node->api while late completions still run) */
	if (atomic_load(&req->resume_taken))
		return;
	api = req->http;
	pthread_mutex_lock(&api->wd_lock);
	resume_locked(api, req);
	pthread_mutex_unlock(&api->wd_lock);
}

/* Resumes requests past their deadline (all of them when stopping). */
static void *watchdog_main(void *arg)
{
	struct relay_http *api = arg;

	pthread_mutex_lock(&api->wd_lock);
	for (;;) {
		int64_t now = relay_now_ms();
		struct relay_req *next;
		for (struct relay_req *r = api->wd_head; r; r = next) {
			next = r->wd_next;
			if (api->stopping || r->deadline_ms <= now) {
				r->timed_out = true;
				resume_locked(api, r);
			}
		}
		if (api->stopping)
			break;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += WATCHDOG_TICK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&api->wd_wake, &api->wd_lock, &ts);
	}
	pthread_mutex_unlock(&api->wd_lock);
	return NULL;
}

/* ------------------------------------------------------------ dispatch */

/* The route for method and url; *path_known tells a 405 from a 404. */
static const struct relay_http_route *match(const struct relay_http *api, const char *method,
					    const char *url, bool *path_known)
{
	const struct relay_http_route *found = NULL;

	*path_known = false;
	for (size_t i = 0; i < api->n_routes; i++) {
		const struct relay_http_route *r = &api->routes[i];
		size_t n = strlen(r->path);
		bool hit = r->has_arg ? strncmp(url, r->path, n) == 0 && url[n] != '\0'
				      : strcmp(url, r->path) == 0;
		if (!hit)
			continue;
		*path_known = true;
		if (strcmp(method, r->method) == 0)
			found = r;
	}
	return found;
}

static bool json_content_type(struct MHD_Connection *conn)
{
	const char *ct =
		MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	size_t n = strlen("application/json");
	return ct && strncasecmp(ct, "application/json", n) == 0 &&
	       (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* The first call for a request: route, argument, content type, authentication. */
static enum MHD_Result begin(struct relay_http *api, struct MHD_Connection *conn, const char *url,
			     const char *method, void **req_cls)
{
	struct relay_req *req = calloc(1, sizeof(*req));
	bool path_known;

	if (!req)
		return MHD_NO;
	req->node = api->node;
	req->http = api;
	req->ctx = api->ctx;
	req->conn = conn;
	req->method = method;
	atomic_init(&req->refs, 1);
	*req_cls = req;
	req->route = match(api, method, url, &path_known);
	if (!req->route)
		return path_known ? relay_reply_error(req, MHD_HTTP_METHOD_NOT_ALLOWED,
						      "method_not_allowed", NULL,
						      "method not allowed on this path")
				  : relay_reply_error(req, MHD_HTTP_NOT_FOUND, "not_found", NULL,
						      "no such path");
	if (req->route->has_arg) {
		const char *arg = url + strlen(req->route->path);
		if (strlen(arg) >= sizeof(req->arg))
			return relay_reply_error(req, MHD_HTTP_NOT_FOUND, "not_found", NULL,
						 "path argument too long");
		strcpy(req->arg, arg);
	}
	req->limit = req->route->body_max;
	if (req->route->auth) {
		req->table = routing_acquire(api->node->routing);
		if (api->ops->authenticate(req) != 0)
			return MHD_YES; /* answered */
	}
	req->phase = REQ_BODY;
	return MHD_YES;
}

static void take_body(struct relay_req *req, const char *data, size_t n)
{
	if (req->too_large || req->len + n > req->limit) {
		req->too_large = true;
		return;
	}
	if (req->len + n + 1 > req->cap) {
		size_t cap = req->cap ? req->cap : 4096;
		while (cap < req->len + n + 1)
			cap *= 2;
		char *b = realloc(req->body, cap);
		if (!b) {
			req->too_large = true;
			return;
		}
		req->body = b;
		req->cap = cap;
	}
	memcpy(req->body + req->len, data, n);
	req->len += n;
	req->body[req->len] = '\0';
}

static enum MHD_Result dispatch(void *cls, struct MHD_Connection *conn, const char *url,
				const char *method, const char *version, const char *upload,
				size_t *upload_size, void **req_cls)
{
	struct relay_req *req = *req_cls;

	(void)version;
	if (!req)
		return begin(cls, conn, url, method, req_cls);
	if (*upload_size) {
		if (req->phase == REQ_BODY)
			take_body(req, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	switch (req->phase) {
	case REQ_BODY:
		if (req->too_large || (req->len && !req->limit))
			return relay_reply_error(req, MHD_HTTP_CONTENT_TOO_LARGE, "too_large", NULL,
						 req->limit ? "request body too large"
							    : "this request takes no body");
		/* a body must be JSON; a bodyless POST (an action) needs no content type */
		if (req->len && !req->route->body_any && !json_content_type(req->conn))
			return relay_reply_error(req, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
						 "unsupported_media_type", NULL,
						 "the body must be application/json");
		if (!req->body && req->limit) /* an empty body is "" for the handler */
			take_body(req, "", 0);
		return req->route->handler(req);
	case REQ_RESUMED:
		return req->route->handler(req);
	case REQ_SUSPENDED: /* MHD calls again only once resumed */
	case REQ_NEW:
	case REQ_ANSWERED:
		break;
	}
	return MHD_YES;
}

static void completed(void *cls, struct MHD_Connection *conn, void **req_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct relay_http *api = cls;
	struct relay_req *req = *req_cls;

	(void)conn;
	(void)toe;
	if (!req)
		return;
	pthread_mutex_lock(&api->wd_lock);
	wd_unlink(api, req);
	atomic_store(&req->resume_taken, true); /* late completions must not resume it */
	pthread_mutex_unlock(&api->wd_lock);
	*req_cls = NULL;
	relay_req_release(req);
}

/* ------------------------------------------------------------ listener */

/*
 * libmicrohttpd's errors: failed handshakes, refused connections (a client past
 * max-connections-per-ip). Clients cause them at will, so at most LOG_PER_S lines
 * a second per listener; the next line that gets through says how many were dropped.
 */
__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct relay_http *api = cls;
	char text[256], q[300];
	int64_t second = relay_now_ms() / 1000;
	unsigned dropped = 0;

	pthread_mutex_lock(&api->log_lock);
	if (second != api->log_second) {
		api->log_second = second;
		api->log_n = 0;
	}
	bool log = api->log_n++ < LOG_PER_S;
	if (log) {
		dropped = api->log_dropped;
		api->log_dropped = 0;
	} else {
		api->log_dropped++;
	}
	pthread_mutex_unlock(&api->log_lock);
	if (!log)
		return;
	vsnprintf(text, sizeof(text), fmt, ap);
	text[strcspn(text, "\n")] = '\0';
	relay_log(RELAY_LOG_WARN, "http_error", "listener=%s reason=%s dropped_before=%u",
		  api->ops->name, relay_log_quote(text, q, sizeof(q)), dropped);
}

static int resolve(const struct relay_listener_conf *l, struct sockaddr_storage *sa, char *err,
		   size_t errlen)
{
	struct addrinfo hints = {.ai_flags = AI_NUMERICSERV | AI_PASSIVE,
				 .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	char port[8];

	snprintf(port, sizeof(port), "%u", l->port);
	if (strcmp(l->address, "localhost") != 0)
		hints.ai_flags |= AI_NUMERICHOST;
	int rc = getaddrinfo(l->address, port, &hints, &res);
	if (rc != 0 || !res) {
		snprintf(err, errlen, "address %s: %s", l->address, gai_strerror(rc));
		return -RELAY_ELISTEN;
	}
	memcpy(sa, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}

static int load_tls(struct relay_http *api, const struct relay_listener_conf *l, char *err,
		    size_t errlen)
{
	struct relay_tls_cred *creds[RELAY_LISTENERS], *cred;
	bool want[RELAY_LISTENERS] = {false};
	int rc;

	if (l->plain_http)
		return 0;
	want[api->ops->listener] = true;
	if ((rc = relay_tls_load_listeners(relay_cfg(api->node), want, creds, err, errlen)) != 0)
		return rc;
	cred = creds[api->ops->listener];
	if ((rc = relay_tls_listen(cred, &api->tls_slot, &api->serve_cert, err, errlen)) != 0) {
		relay_tls_cred_free(cred);
		return rc;
	}
	atomic_store(&api->node->cert_end_s[api->ops->listener], relay_tls_cred_end(cred));
	if (l->client_ca) {
		api->client_ca = relay_read_pem(l->client_ca, err, errlen);
		if (!api->client_ca)
			return -RELAY_ELISTEN;
	}
	return 0;
}

static struct MHD_Daemon *start_mhd(struct relay_http *api, const struct relay_listener_conf *l,
				    struct sockaddr_storage *sa)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
			 MHD_ALLOW_SUSPEND_RESUME;
	struct MHD_OptionItem opts[11];
	size_t n = 0;

	if (sa->ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (!l->plain_http)
		flags |= MHD_USE_TLS;
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, sa};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, API_THREADS, NULL};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, API_CONN_TIMEOUT_S, NULL};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, l->max_conns, NULL};
	if (l->max_conns_per_ip)
		opts[n++] = (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT,
						    l->max_conns_per_ip, NULL};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)completed, api};
	if (api->serve_cert)
		opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_CERT_CALLBACK, 0,
						    (void *)api->serve_cert};
	if (api->client_ca)
		opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, api->client_ca};
	opts[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
	return MHD_start_daemon(flags, l->port, NULL, NULL, dispatch, api,
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, api, MHD_OPTION_ARRAY, opts,
				MHD_OPTION_END);
}

int relay_http_start(struct relay_node *node, const struct relay_http_route *routes,
		     size_t n_routes, const struct relay_http_ops *ops, void *ctx,
		     struct relay_http **out, char *err, size_t errlen)
{
	const struct relay_config *cfg = relay_cfg(node);
	const struct relay_listener_conf *l =
		ops->listener == RELAY_LISTENER_ADMIN ? &cfg->admin : &cfg->carrier;
	struct sockaddr_storage sa;
	struct relay_http *api = calloc(1, sizeof(*api));
	char host[INET6_ADDRSTRLEN];
	int rc;

	if (!api) {
		snprintf(err, errlen, "out of memory");
		return -RELAY_ENOMEM;
	}
	*api = (struct relay_http){.node = node, .routes = routes, .n_routes = n_routes,
				   .ops = ops, .ctx = ctx, .tls_slot = -1};
	pthread_mutex_init(&api->wd_lock, NULL);
	pthread_cond_init(&api->wd_wake, NULL);
	pthread_mutex_init(&api->log_lock, NULL);
	if ((rc = resolve(l, &sa, err, errlen)) != 0 || (rc = load_tls(api, l, err, errlen)) != 0)
		goto fail;
	if (pthread_create(&api->watchdog, NULL, watchdog_main, api) != 0) {
		snprintf(err, errlen, "cannot start the watchdog thread");
		rc = -RELAY_ENOMEM;
		goto fail;
	}
	api->watchdog_started = true;
	api->mhd = start_mhd(api, l, &sa);
	if (!api->mhd) {
		snprintf(err, errlen, "cannot listen on %s port %u (in use, or not an address here)",
			 l->address, l->port);
		rc = -RELAY_ELISTEN;
		goto fail;
	}
	if (sa.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&sa)->sin6_addr, host, sizeof(host));
	else
		inet_ntop(AF_INET, &((struct sockaddr_in *)&sa)->sin_addr, host, sizeof(host));
	snprintf(api->url, sizeof(api->url), sa.ss_family == AF_INET6 ? "%s://[%s]:%u" : "%s://%s:%u",
		 l->plain_http ? "http" : "https", host, l->port);
	pthread_mutex_lock(&node->reload_lock); /* for relay_node_reload */
	node->http[ops->listener] = api;
	pthread_mutex_unlock(&node->reload_lock);
	*out = api;
	return 0;
fail:
	relay_http_stop(api);
	relay_http_free(api);
	return rc;
}

const char *relay_http_url(const struct relay_http *api)
{
	return api->url;
}

void relay_http_stop(struct relay_http *api)
{
	if (!api)
		return;
	pthread_mutex_lock(&api->node->reload_lock);
	if (api->node->http[api->ops->listener] == api)
		api->node->http[api->ops->listener] = NULL;
	pthread_mutex_unlock(&api->node->reload_lock);
	if (api->watchdog_started) {
		/* answer every suspended request before MHD goes */
		pthread_mutex_lock(&api->wd_lock);
		api->stopping = true;
		pthread_cond_signal(&api->wd_wake);
		pthread_mutex_unlock(&api->wd_lock);
		pthread_join(api->watchdog, NULL);
		api->watchdog_started = false;
	}
	if (api->mhd)
		MHD_stop_daemon(api->mhd);
	api->mhd = NULL;
	if (api->tls_slot >= 0) /* no handshake runs any more */
		relay_tls_release(api->tls_slot);
	api->tls_slot = -1;
}

bool relay_http_verify_client(const struct relay_http *api, gnutls_session_t s)
{
	return api->tls_slot >= 0 && relay_tls_verify(api->tls_slot, s);
}

bool relay_http_renew(struct relay_http *api, struct relay_tls_cred *c)
{
	if (api->tls_slot < 0) {
		relay_tls_cred_free(c);
		return false;
	}
	int64_t end = relay_tls_cred_end(c);
	time_t t = (time_t)end;
	struct tm tm;
	char when[32] = "unknown";

	if (!relay_tls_renew(api->tls_slot, c))
		return false;
	atomic_store(&api->node->cert_end_s[api->ops->listener], end);
	if (end > 0 && gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	relay_log(RELAY_LOG_INFO, "tls_renewed", "listener=%s not_after=%s", api->ops->name, when);
	return true;
}

void relay_http_free(struct relay_http *api)
{
	if (!api)
		return;
	free(api->client_ca);
	pthread_cond_destroy(&api->wd_wake);
	pthread_mutex_destroy(&api->wd_lock);
	pthread_mutex_destroy(&api->log_lock);
	free(api);
}
