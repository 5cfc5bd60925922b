/*
 * The carrier-facing HTTP API: one libmicrohttpd daemon (epoll, thread pool)
 * and one table that maps method and path to a handler.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "relay/relay.h"

#define API_THREADS 2
#define API_CONN_TIMEOUT_S 30
#define TLS_FILE_MAX (1024 * 1024)

struct relay_api {
	struct MHD_Daemon *mhd;
	char *tls_cert, *tls_key, *client_ca; /* PEM text, kept while MHD runs */
	char url[128];
};

typedef enum MHD_Result (*api_handler)(struct relay_api *api, struct MHD_Connection *conn);

struct api_route {
	const char *method;
	const char *path;
	api_handler handler;
};

static enum MHD_Result send_json(struct MHD_Connection *conn, unsigned status, const char *json)
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

/* GET /v1/health: for load balancers; no auth and no detail. */
static enum MHD_Result h_health(struct relay_api *api, struct MHD_Connection *conn)
{
	(void)api;
	return send_json(conn, MHD_HTTP_OK, "{\"status\":\"ok\"}");
}

static const struct api_route routes[] = {
	{"GET", "/v1/health", h_health},
};

static enum MHD_Result dispatch(void *cls, struct MHD_Connection *conn, const char *url,
				const char *method, const char *version, const char *upload,
				size_t *upload_size, void **req_cls)
{
	struct relay_api *api = cls;
	const struct api_route *match = NULL;
	int path_known = 0;

	(void)version;
	(void)upload;
	/* Answer once the whole request has arrived; a body is discarded here. */
	if (*req_cls == NULL) {
		*req_cls = api;
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0;
		return MHD_YES;
	}
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strcmp(url, routes[i].path) != 0)
			continue;
		path_known = 1;
		if (strcmp(method, routes[i].method) == 0)
			match = &routes[i];
	}
	if (match)
		return match->handler(api, conn);
	if (path_known)
		return send_json(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
				 "{\"error\":\"method_not_allowed\",\"reason\":\"method not "
				 "allowed on this path\"}");
	return send_json(conn, MHD_HTTP_NOT_FOUND,
			 "{\"error\":\"not_found\",\"reason\":\"no such path\"}");
}

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char text[256], q[300];
	(void)cls;
	vsnprintf(text, sizeof(text), fmt, ap);
	text[strcspn(text, "\n")] = '\0';
	relay_log(RELAY_LOG_WARN, "http_error", "listener=carrier reason=%s",
		  relay_log_quote(text, q, sizeof(q)));
}

/* Reads a whole PEM file into a NUL-terminated string. */
static char *read_pem(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n;

	if (!f) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	buf = malloc(TLS_FILE_MAX + 1);
	if (!buf) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	n = fread(buf, 1, TLS_FILE_MAX + 1, f);
	if (ferror(f) || n == 0 || n > TLS_FILE_MAX) {
		snprintf(err, errlen, "%s: %s", path,
			 ferror(f) ? strerror(errno) : n ? "larger than 1 MiB" : "empty file");
		free(buf);
		buf = NULL;
		goto out;
	}
	buf[n] = '\0';
out:
	fclose(f);
	return buf;
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

static int load_tls(struct relay_api *api, const struct relay_listener_conf *l, char *err,
		    size_t errlen)
{
	if (l->plain_http)
		return 0;
	api->tls_cert = read_pem(l->tls_cert, err, errlen);
	if (!api->tls_cert)
		return -RELAY_ELISTEN;
	api->tls_key = read_pem(l->tls_key, err, errlen);
	if (!api->tls_key)
		return -RELAY_ELISTEN;
	if (l->client_ca) {
		api->client_ca = read_pem(l->client_ca, err, errlen);
		if (!api->client_ca)
			return -RELAY_ELISTEN;
	}
	return 0;
}

int relay_api_start(const struct relay_config *cfg, struct relay_api **out, char *err,
		    size_t errlen)
{
	const struct relay_listener_conf *l = &cfg->carrier;
	struct sockaddr_storage sa;
	struct relay_api *api = calloc(1, sizeof(*api));
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	char host[INET6_ADDRSTRLEN];
	int rc;

	if (!api) {
		snprintf(err, errlen, "out of memory");
		return -RELAY_ENOMEM;
	}
	if ((rc = resolve(l, &sa, err, errlen)) != 0 || (rc = load_tls(api, l, err, errlen)) != 0)
		goto fail;
	if (sa.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (!l->plain_http)
		flags |= MHD_USE_TLS;
	struct MHD_OptionItem opts[8];
	size_t n = 0;
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &sa};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, API_THREADS, NULL};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, API_CONN_TIMEOUT_S, NULL};
	if (api->tls_cert) {
		opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, api->tls_cert};
		opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, api->tls_key};
	}
	if (api->client_ca)
		opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, api->client_ca};
	opts[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
	api->mhd = MHD_start_daemon(flags, l->port, NULL, NULL, dispatch, api,
				    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_ARRAY,
				    opts, MHD_OPTION_END);
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
	*out = api;
	return 0;
fail:
	relay_api_stop(api);
	return rc;
}

const char *relay_api_url(const struct relay_api *api)
{
	return api->url;
}

void relay_api_stop(struct relay_api *api)
{
	if (!api)
		return;
	if (api->mhd)
		MHD_stop_daemon(api->mhd);
	free(api->tls_cert);
	if (api->tls_key) {
		explicit_bzero(api->tls_key, strlen(api->tls_key));
		free(api->tls_key);
	}
	free(api->client_ca);
	free(api);
}
