/*
 * interlinkctl's I/O: one libcurl request per command to the admin API with the API token,
 * the API's errors turned into a message and an exit code, and aligned tables for people.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin/interlinkctl.h"

#define CELL_MAX 512
#define COLS_MAX 16

int ctl_usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("interlinkctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(interlinkctl --help for the manual)\n", stderr);
	return CTL_EXIT_USAGE;
}

/* ------------------------------------------------------------------- HTTP */

static size_t collect(char *ptr, size_t size, size_t n, void *arg)
{
	struct ctl_resp *r = arg;
	size_t add = size * n;
	char *p = realloc(r->body, r->len + add + 1);

	if (!p)
		return 0; /* curl fails the transfer */
	memcpy(p + r->len, ptr, add);
	r->body = p;
	r->len += add;
	p[r->len] = '\0';
	return add;
}

static void set_options(const struct ctl *c, CURL *e, const char *url, struct curl_slist *h,
			struct ctl_resp *r)
{
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_USERAGENT, "interlinkctl");
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 60000L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->err);
	if (c->cacert)
		curl_easy_setopt(e, CURLOPT_CAINFO, c->cacert);
}

/* One request; 0, or -1 with the reason in r->err when it did not get an answer. */
static int call(const struct ctl *c, const char *method, const char *path, json_t *body,
		struct ctl_resp *r)
{
	struct curl_slist *h = NULL, *l;
	char *url = NULL, *auth = NULL, *text = NULL;
	CURL *e = curl_easy_init();
	CURLcode rc = CURLE_OUT_OF_MEMORY;

	memset(r, 0, sizeof(*r));
	if (!e || asprintf(&url, "%s%s", c->url, path) < 0 ||
	    (c->token && asprintf(&auth, "Authorization: Bearer %s", c->token) < 0) ||
	    (body && !(text = json_dumps(body, JSON_COMPACT))))
		goto out;
	/* the API wants JSON on every route that may take a body, even an empty one */
	const char *hdrs[] = {"Accept: application/json", "Expect:",
			      "Content-Type: application/json", auth};
	for (size_t i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]) && hdrs[i]; i++) {
		if (!(l = curl_slist_append(h, hdrs[i])))
			goto out;
		h = l;
	}
	set_options(c, e, url, h, r);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	if (body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0)
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, text ? text : "");
	if ((rc = curl_easy_perform(e)) == CURLE_OK) {
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
		if (r->len)
			r->json = json_loadb(r->body, r->len, 0, NULL);
	} else if (!r->err[0]) {
		snprintf(r->err, sizeof(r->err), "%s", curl_easy_strerror(rc));
	}
out:
	if (rc == CURLE_OUT_OF_MEMORY && !r->err[0])
		snprintf(r->err, sizeof(r->err), "out of memory");
	curl_slist_free_all(h);
	curl_easy_cleanup(e);
	free(text);
	free(auth);
	free(url);
	return rc == CURLE_OK ? 0 : -1;
}

void ctl_resp_free(struct ctl_resp *r)
{
	json_decref(r->json);
	free(r->body);
	r->json = NULL;
	r->body = NULL;
}

void ctl_escape(const char *s, char *buf, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p && n + 4 <= size; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p)) {
			buf[n++] = (char)*p;
		} else {
			buf[n++] = '%';
			buf[n++] = hex[*p >> 4];
			buf[n++] = hex[*p & 15];
		}
	}
	buf[n] = '\0';
}

static void print_error(const struct ctl_resp *r)
{
	const char *reason = json_string_value(json_object_get(r->json, "reason"));
	const char *code = json_string_value(json_object_get(r->json, "error"));
	const char *field = json_string_value(json_object_get(r->json, "field"));

	if (!reason)
		reason = r->len && !r->json ? r->body : "no reason given";
	fprintf(stderr, "interlinkctl: %s (HTTP %ld%s%s%s%s)\n", reason, r->status,
		code ? " " : "", code ? code : "", field ? ", field " : "", field ? field : "");
}

int ctl_request(const struct ctl *c, const char *method, const char *path, json_t *body,
		struct ctl_resp *r)
{
	if (call(c, method, path, body, r) != 0) {
		fprintf(stderr, "interlinkctl: %s: %s\n", c->url, r->err);
		ctl_resp_free(r);
		return CTL_EXIT_API;
	}
	if (r->status >= 400) {
		if (c->json && r->len)
			printf("%s\n", r->body);
		print_error(r);
		ctl_resp_free(r);
		return CTL_EXIT_API;
	}
	if (c->json)
		printf("%s\n", r->len ? r->body : "{}");
	return CTL_EXIT_OK;
}

int ctl_simple(const struct ctl *c, const char *method, const char *path, json_t *body,
	       const char *done, ...)
{
	struct ctl_resp r;
	int rc = ctl_request(c, method, path, body, &r);
	va_list ap;

	if (rc != CTL_EXIT_OK)
		return rc;
	if (!c->json) {
		va_start(ap, done);
		vprintf(done, ap);
		va_end(ap);
	}
	ctl_resp_free(&r);
	return CTL_EXIT_OK;
}

/* ---------------------------------------------------------------- output */

static void list_cell(json_t *v, char *buf, size_t size)
{
	size_t i, len = 0;
	char one[CELL_MAX];
	json_t *x;

	snprintf(buf, size, "-");
	json_array_foreach(v, i, x) {
		ctl_cell(x, one, sizeof(one));
		len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? "," : "", one);
		if (len >= size)
			break;
	}
}

void ctl_cell(json_t *v, char *buf, size_t size)
{
	char *t;

	if (!v || json_is_null(v))
		snprintf(buf, size, "-");
	else if (json_is_string(v))
		snprintf(buf, size, "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(buf, size, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, size, "%.2f", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(buf, size, "%s", json_is_true(v) ? "yes" : "no");
	else if (json_is_array(v))
		list_cell(v, buf, size);
	else if ((t = json_dumps(v, JSON_COMPACT))) {
		snprintf(buf, size, "%s", t);
		free(t);
	} else
		snprintf(buf, size, "?");
}

/* The member of o named by key, which may list alternatives: "dst_peer|peer". */
static json_t *member(json_t *o, const char *key)
{
	char name[64];

	key += key[0] == '@';
	while (*key) {
		size_t n = strcspn(key, "|");
		snprintf(name, sizeof(name), "%.*s", (int)n, key);
		if (json_object_get(o, name))
			return json_object_get(o, name);
		key += n + (key[n] == '|');
	}
	return NULL;
}

/* The cell of o's member for col: a key starting with @ is a time, ms since the epoch. */
static void col_cell(json_t *o, const struct ctl_col *col, char *buf, size_t size)
{
	json_t *v = member(o, col->key);
	time_t t;
	struct tm tm;

	if (col->key[0] == '@' && json_is_integer(v) && json_integer_value(v) > 0) {
		t = (time_t)(json_integer_value(v) / 1000);
		if (gmtime_r(&t, &tm) && strftime(buf, size, "%Y-%m-%d %H:%M:%SZ", &tm))
			return;
	}
	ctl_cell(v, buf, size);
}

void ctl_table(json_t *rows, const struct ctl_col *cols, size_t ncol)
{
	size_t nrow = json_array_size(rows), width[COLS_MAX] = {0};
	char buf[CELL_MAX];

	if (nrow == 0) {
		printf("(none)\n");
		return;
	}
	ncol = ncol < COLS_MAX ? ncol : COLS_MAX;
	for (size_t j = 0; j < ncol; j++) {
		width[j] = strlen(cols[j].head);
		for (size_t i = 0; i < nrow; i++) {
			col_cell(json_array_get(rows, i), &cols[j], buf, sizeof(buf));
			width[j] = strlen(buf) > width[j] ? strlen(buf) : width[j];
		}
	}
	for (size_t i = 0; i <= nrow; i++) {
		for (size_t j = 0; j < ncol; j++) {
			if (i == 0)
				snprintf(buf, sizeof(buf), "%s", cols[j].head);
			else
				col_cell(json_array_get(rows, i - 1), &cols[j], buf, sizeof(buf));
			if (j + 1 < ncol)
				printf("%-*s  ", (int)width[j], buf);
			else
				printf("%s\n", buf);
		}
	}
}

void ctl_fields(json_t *o, const struct ctl_col *cols, size_t n)
{
	char buf[CELL_MAX];

	for (size_t i = 0; i < n; i++) {
		if (!member(o, cols[i].key))
			continue;
		col_cell(o, &cols[i], buf, sizeof(buf));
		printf("%-14s %s\n", cols[i].head, buf);
	}
}

json_t *ctl_rows_of(json_t *body, const char *key)
{
	json_t *v = json_is_array(body) ? body : json_object_get(body, key);

	return json_is_array(v) ? v : NULL;
}

void ctl_bytes(uint64_t n, char *buf, size_t size)
{
	static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)n;
	size_t u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
}
