/*
 * interlinkctl's parts: the command line it parsed, its HTTP calls to the admin API and its
 * output (interlinkctl_io.c), its manual (interlinkctl_help.c). Only interlinkctl*.c include
 * this; none of it is in the daemon's library.
 */
#ifndef INTERLINK_INTERLINKCTL_H
#define INTERLINK_INTERLINKCTL_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CTL_DEFAULT_URL "http://127.0.0.1:8081"
#define CTL_EXIT_OK 0
#define CTL_EXIT_API 1   /* the API refused, or could not be reached */
#define CTL_EXIT_USAGE 2
#define CTL_LIST_MAX 8   /* --endpoint, --owns and --key given at most this often */
#define CTL_ARG_MAX 256  /* the longest operand or option value taken */
#define CTL_PATH_MAX 1600 /* a request path: operands %-escaped fit */

/* Everything the command line said. */
struct ctl {
	const char *url, *token, *cacert;
	bool json, yes;
	/* command options; `seen` has one bit per option letter that was given */
	unsigned long long seen;
	const char *kind, *outbound, *cert, *peer, *state, *limit, *after, *from, *account;
	const char *rate, *burst, *max_size, *max_queue, *priority, *delay;
	bool failover, dir_trusted;
	const char *endpoints[CTL_LIST_MAX], *owns[CTL_LIST_MAX], *keys[CTL_LIST_MAX];
	size_t n_endpoints, n_owns, n_keys;
	char **args; /* the command and its operands */
	int n_args;
};

/* A response: its body, parsed when it is JSON (json NULL otherwise). */
struct ctl_resp {
	long status;
	char *body;
	size_t len;
	json_t *json;
	char err[CURL_ERROR_SIZE];
};

/* A column of a table, or a line of fields: its heading and the member it shows, which may
 * name alternatives ("dst_peer|peer": the first present); "@created": a time in ms since the
 * epoch, shown as UTC. */
struct ctl_col {
	const char *head, *key;
};

/* Prints "interlinkctl: <message>" and a pointer to --help on stderr; returns CTL_EXIT_USAGE. */
int ctl_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Sends a request (body, borrowed, as JSON when not NULL) and settles the common outcomes:
 * with --json prints the body (an empty one as {}); on an HTTP error prints the API's
 * reason on stderr and returns CTL_EXIT_API, as when the API cannot be reached. Returns
 * CTL_EXIT_OK with r filled (the caller frees it with ctl_resp_free), or the exit code.
 */
int ctl_request(const struct ctl *c, const char *method, const char *path, json_t *body,
		struct ctl_resp *r);
void ctl_resp_free(struct ctl_resp *r);

/* ctl_request whose human output (without --json) is the line `done` printf'd. */
int ctl_simple(const struct ctl *c, const char *method, const char *path, json_t *body,
	       const char *done, ...) __attribute__((format(printf, 5, 6)));

/* A path segment or query value, %-escaped, into buf (size ≥ 3 × CTL_ARG_MAX + 1). */
void ctl_escape(const char *s, char *buf, size_t size);

/* A value as text: strings as they are, numbers, yes/no, lists comma-separated, null "-". */
void ctl_cell(json_t *v, char *buf, size_t size);

/* Rows (objects) as an aligned table with a header line; "(none)" when there are none. */
void ctl_table(json_t *rows, const struct ctl_col *cols, size_t ncol);

/* "label  value" lines for the members of o, in the order given; absent ones skipped. */
void ctl_fields(json_t *o, const struct ctl_col *cols, size_t n);

/* The list in a body: the body when it is an array, else its member `key`; or NULL. */
json_t *ctl_rows_of(json_t *body, const char *key);

/* "1.5 MiB". */
void ctl_bytes(uint64_t n, char *buf, size_t size);

/* The manual (topic NULL), or one command's part of it. Returns 0, or -1 for an unknown
 * topic (after saying so on stderr). */
int ctl_help(const char *topic, FILE *to);

#endif
