/*
 * relay_config_read: interlinkd's libconfuse grammar and its callbacks, which note the line of
 * every key and section for "FILE:LINE: reason" errors; one parse at a time, under a lock.
 * docs/config.md describes the grammar; relay_config.c converts what is read.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay/relay_config_priv.h"

#define FMT(f, a) __attribute__((format(printf, f, a)))

/* ---------------------------------------------- the parse context */

/*
 * libconfuse's lexer is global (flex, not reentrant) and its callbacks get no
 * user pointer: one parse at a time, under this lock, reaches its context
 * through parse_cur. Nothing else in this file is mutable.
 */
static pthread_mutex_t parse_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pctx *parse_cur;

static int grow(struct pctx *c, void **arr, size_t *cap, size_t n, size_t size)
{
	size_t ncap = *cap ? *cap * 2 : 16;
	void *p;

	if (n < *cap)
		return 0;
	if (!(p = realloc(*arr, ncap * size)))
		return rc_nomem(&c->e);
	*arr = p;
	*cap = ncap;
	return 0;
}

/* "" for the top level, else "store: " or "peer \"kakao\": ", to start messages. */
static const char *label(cfg_t *sec, char *buf, size_t n)
{
	if (strcmp(cfg_name(sec), "root") == 0)
		snprintf(buf, n, "%s", "");
	else if (cfg_title(sec))
		snprintf(buf, n, "%s \"%.64s\": ", cfg_name(sec), cfg_title(sec));
	else
		snprintf(buf, n, "%s: ", cfg_name(sec));
	return buf;
}

/* ------------------------------------ lines, sorted after parsing */

static int ptr_cmp(const void *a, const void *b)
{
	return ((uintptr_t)a > (uintptr_t)b) - ((uintptr_t)a < (uintptr_t)b);
}

static int key_cmp(const void *a, const void *b)
{
	const struct keyrec *x = a, *y = b;
	int r = ptr_cmp(x->sec, y->sec);

	r = r ? r : strcmp(x->name, y->name);
	return r ? r : (x->idx > y->idx) - (x->idx < y->idx);
}

static int sec_cmp(const void *a, const void *b)
{
	return ptr_cmp(((const struct secrec *)a)->sec, ((const struct secrec *)b)->sec);
}

/* The line of a section's "{", or 0 when it is not in the file. */
int rcfg_sec_line(struct pctx *c, cfg_t *sec)
{
	struct secrec k = {.sec = sec}, *s;

	s = c->nsecs ? bsearch(&k, c->secs, c->nsecs, sizeof(k), sec_cmp) : NULL;
	return s ? s->line : 0;
}

/* The line of a key (list element idx), or 0 when it is not in the file. */
int rcfg_key_line(struct pctx *c, cfg_t *sec, const char *name, unsigned idx)
{
	struct keyrec k = {.sec = sec, .name = name, .idx = idx}, *r;

	r = c->nkeys ? bsearch(&k, c->keys, c->nkeys, sizeof(k), key_cmp) : NULL;
	return r ? r->line : 0;
}

/* Where to point for a key: its line, else its section's, else none. */
int rcfg_line_of(struct pctx *c, cfg_t *sec, const char *key)
{
	int line = rcfg_key_line(c, sec, key, 0);

	return line ? line : rcfg_sec_line(c, sec);
}

/*
 * "<section: ><key >reason" at `line`, or when 0 at the key's line (its
 * section's when the key is not in the file, none for the top level).
 */
FMT(5, 6)
int rcfg_kfail(struct pctx *c, cfg_t *sec, const char *key, int line, const char *fmt, ...)
{
	char msg[320], w[100];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	line = line ? line : key ? rcfg_line_of(c, sec, key) : rcfg_sec_line(c, sec);
	return rc_fail(&c->e, line, "%s%s%s%s", label(sec, w, sizeof(w)), key ? key : "",
	               key ? " " : "", msg);
}

/* --------------------------------------------- libconfuse callbacks */

/* The record of a section, added (its "{" at `line`) when new. */
static struct secrec *sec_get(struct pctx *c, cfg_t *sec, int line)
{
	size_t i = c->nsecs;

	if (i && c->secs[i - 1].sec == sec)
		return &c->secs[i - 1];
	if (!cfg_title(sec) && strcmp(cfg_name(sec), "route") != 0) /* a single one, again? */
		for (i = 0; i < c->nsecs; i++)
			if (c->secs[i].sec == sec)
				return &c->secs[i];
	if (grow(c, (void **)&c->secs, &c->capsecs, c->nsecs, sizeof(*c->secs)))
		return NULL;
	c->secs[c->nsecs] = (struct secrec){.sec = sec, .line = line};
	return &c->secs[c->nsecs++];
}

/* Validation callback of every key: notes its line, refuses a key given twice. */
static int on_key(cfg_t *sec, cfg_opt_t *opt)
{
	struct pctx *c = parse_cur;
	unsigned idx = opt->nvalues ? opt->nvalues - 1 : 0;
	struct secrec *s;

	if (sec != c->root) { /* the root's line stays on the "{" while a section is read */
		if (!(s = sec_get(c, sec, c->root->line)))
			return -1;
		if (s->closed)
			return rc_fail(&c->e, c->root->line,
			               "section '%s' is given twice (first at line %d)",
			               cfg_name(sec), s->line);
	}
	for (size_t i = c->nkeys; i-- > 0;) {
		struct keyrec *k = &c->keys[i];

		if (k->sec != sec && sec != c->root)
			break; /* a section's keys are contiguous */
		if (k->sec != sec || k->name != opt->name || k->idx != idx)
			continue;
		if (i == c->nkeys - 1 && (opt->flags & CFGF_LIST) && !k->closed) {
			k->closed = 1; /* called again at the list's closing brace */
			return 0;
		}
		return rcfg_kfail(c, sec, opt->name, sec->line, "is given twice (first at line %d)",
		                  k->line);
	}
	if (grow(c, (void **)&c->keys, &c->capkeys, c->nkeys, sizeof(*c->keys)))
		return -1;
	c->keys[c->nkeys++] = (struct keyrec){sec, opt->name, idx, sec->line, 0};
	return 0;
}

/* Validation callback of a section, called at its closing brace. */
static int on_section(cfg_t *parent, cfg_opt_t *opt)
{
	struct pctx *c = parse_cur;
	cfg_t *sec = cfg_opt_getnsec(opt, cfg_opt_size(opt) - 1);
	struct secrec *s = sec ? sec_get(c, sec, parent->line) : NULL;

	if (!s)
		return -1;
	if (s->closed)
		return rc_fail(&c->e, parent->line,
		               "section '%s' is given twice (first at line %d)", cfg_name(sec),
		               s->line);
	s->closed = 1;
	return 0;
}

/* libconfuse's own messages, reworded where ours say more. */
FMT(2, 0) static void on_error(cfg_t *sec, const char *fmt, va_list ap)
{
	struct pctx *c = parse_cur;
	char msg[256], w[100];
	size_t n;
	int first = 0;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	if (n > 16 && strncmp(msg, "no such option '", 16) == 0 && msg[n - 1] == '\'') {
		msg[n - 1] = '\0';
		label(sec, w, sizeof(w));
		if (sec == c->root)
			rc_fail(&c->e, sec->line, "unknown option '%s'", msg + 16);
		else
			rc_fail(&c->e, sec->line, "unknown option '%s' in section '%.*s'", msg + 16,
			        (int)strlen(w) - 2, w);
	} else if (n > 23 && !strncmp(msg, "found duplicate title '", 23) && msg[n - 1] == '\'') {
		msg[n - 1] = '\0';
		for (size_t i = 0; i < c->nsecs; i++)
			if (cfg_title(c->secs[i].sec) &&
			    !strcmp(cfg_title(c->secs[i].sec), msg + 23))
				first = c->secs[i].line;
		rc_fail(&c->e, sec->line, "peer \"%s\" is defined twice (first at line %d)",
		        msg + 23, first);
	} else {
		rc_fail(&c->e, sec->line, "%s", msg);
	}
}

/* Integers are decimal (libconfuse would read 010 as 8); ranges are checked later. */
static int parse_int(cfg_t *sec, cfg_opt_t *opt, const char *v, void *result)
{
	const char *d = v + (v[0] == '-');

	if (!d[0] || d[strspn(d, DIGITS)])
		return rcfg_kfail(parse_cur, sec, opt->name, sec->line, "must be a whole number");
	errno = 0;
	*(long *)result = strtol(v, NULL, 10);
	return errno ? rcfg_kfail(parse_cur, sec, opt->name, sec->line, "is out of range") : 0;
}

static int parse_float(cfg_t *sec, cfg_opt_t *opt, const char *v, void *result)
{
	size_t n = strspn(v, DIGITS), f = v[n] == '.' ? strspn(v + n + 1, DIGITS) : 0;

	if (!n || (v[n] && (v[n] != '.' || !f || v[n + 1 + f])))
		return rcfg_kfail(parse_cur, sec, opt->name, sec->line,
		                  "must be a decimal number such as 2.0");
	*(double *)result = strtod(v, NULL);
	return 0;
}

static int parse_bool(cfg_t *sec, cfg_opt_t *opt, const char *v, void *result)
{
	if ((*(int *)result = cfg_parse_boolean(v)) < 0)
		return rcfg_kfail(parse_cur, sec, opt->name, sec->line, "must be true or false");
	return 0;
}

#define O_(n, t, f, ...)                                                                           \
	{                                                                                          \
		.name = (n), .type = (t), .flags = (f), .validcb = on_key, __VA_ARGS__             \
	}
#define O_STR(n, d)   O_(n, CFGT_STR, 0, .def.string = (d))
#define O_LIST(n)     O_(n, CFGT_STR, CFGF_LIST, .def.parsed = NULL)
#define O_INT(n, d)   O_(n, CFGT_INT, 0, .def.number = (d), .parsecb = parse_int)
#define O_FLOAT(n, d) O_(n, CFGT_FLOAT, 0, .def.fpnumber = (d), .parsecb = parse_float)
#define O_BOOL(n, d)  O_(n, CFGT_BOOL, 0, .def.boolean = (d), .parsecb = parse_bool)
#define O_SEC(n, sub, f)                                                                           \
	{                                                                                          \
		.name = (n), .type = CFGT_SEC, .flags = (f), .subopts = (sub),                     \
		.validcb = on_section                                                              \
	}

/* The grammar. The defaults here are the documented ones (docs/config.md). */
static cfg_t *new_cfg(void)
{
	cfg_opt_t carrier[] = {O_STR("address", "0.0.0.0"),
	                       O_INT("port", 8443),
	                       O_STR("tls-cert", NULL),
	                       O_STR("tls-key", NULL),
	                       O_STR("client-ca", NULL),
	                       O_BOOL("plain-http", cfg_false),
	                       O_INT("max-connections", 4096),
	                       O_INT("max-connections-per-ip", 256),
	                       CFG_END()};
	cfg_opt_t admin[] = {O_STR("address", "127.0.0.1"),
	                     O_INT("port", 8081),
	                     O_STR("tls-cert", NULL),
	                     O_STR("tls-key", NULL),
	                     O_STR("bootstrap-user", "admin"),
	                     O_STR("session-idle", "30m"),
	                     O_STR("bootstrap-password-hash", NULL),
	                     O_INT("max-connections", 256),
	                     O_INT("max-connections-per-ip", 64),
	                     CFG_END()};
	cfg_opt_t store[] = {O_STR("map-size", "1G"),
	                     O_STR("max-map-size", "16G"),
	                     O_STR("sync", "full"),
	                     O_STR("status-retention", "7d"),
	                     O_BOOL("encrypt", cfg_false),
	                     O_STR("key-file", NULL),
	                     CFG_END()};
	cfg_opt_t delivery[] = {
	    O_STR("retry-initial", "1s"), O_STR("retry-max", "10m"),   O_FLOAT("retry-factor", 2.0),
	    O_STR("default-ttl", "3d"),   O_STR("max-ttl", "7d"),      O_STR("timeout", "10s"),
	    O_INT("concurrency", 32),     O_STR("inbox-lease", "30s"), CFG_END()};
	cfg_opt_t peer[] = {O_STR("kind", "carrier"),
	                    O_STR("token-sha256", NULL),
	                    O_STR("cert-sha256", NULL),
	                    O_LIST("endpoints"),
	                    O_STR("outbound-token", NULL),
	                    O_LIST("owns"),
	                    O_INT("rate", 1000),
	                    O_INT("burst", 0),
	                    O_STR("max-size", NULL),
	                    O_INT("max-queue", 1000000),
	                    O_BOOL("suspended", cfg_false),
	                    O_BOOL("directory-trusted", cfg_false),
	                    O_LIST("keys"),
	                    CFG_END()};
	cfg_opt_t trust[] = {O_BOOL("attest", cfg_true), O_STR("key-file", NULL),
	                     O_STR("key-valid-until", NULL), CFG_END()};
	cfg_opt_t route[] = {O_STR("prefix", NULL), O_STR("domain", NULL),
	                     O_BOOL("default", cfg_false), O_STR("peer", NULL), CFG_END()};
	cfg_opt_t root[] = {O_STR("node-id", NULL),
	                    O_STR("data-dir", "/var/lib/interlink"),
	                    O_STR("default-country", NULL),
	                    O_STR("log-level", "info"),
	                    O_STR("max-message-size", "64K"),
	                    O_BOOL("admin-can-read-bodies", cfg_false),
	                    O_SEC("carrier-listener", carrier, CFGF_NONE),
	                    O_SEC("admin-listener", admin, CFGF_NONE),
	                    O_SEC("store", store, CFGF_NONE),
	                    O_SEC("delivery", delivery, CFGF_NONE),
	                    O_SEC("trust", trust, CFGF_NONE),
	                    O_SEC("peer", peer, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
	                    O_SEC("route", route, CFGF_MULTI),
	                    CFG_END()};

	return cfg_init(root, CFGF_NONE); /* copies the tables */
}

/* ----------------------------------------------------------- parsing */

/* Parses under parse_lock; the cfg_t is freed on every path. */
void rcfg_parse(struct pctx *c, const char *text, struct relay_config *cfg,
                void (*convert)(struct pctx *c, cfg_t *root, struct relay_config *cfg))
{
	pthread_mutex_lock(&parse_lock);
	parse_cur = c;
	if (!(c->root = new_cfg())) {
		rc_nomem(&c->e);
	} else {
		cfg_set_error_function(c->root, on_error);
		if (cfg_parse_buf(c->root, text) != CFG_SUCCESS)
			rc_fail(&c->e, 0, "cannot be parsed"); /* unless on_error said why */
		if (!c->e.rc) {
			if (c->nkeys) /* qsort's base must not be NULL, even for 0 */
				qsort(c->keys, c->nkeys, sizeof(*c->keys), key_cmp);
			if (c->nsecs)
				qsort(c->secs, c->nsecs, sizeof(*c->secs), sec_cmp);
			convert(c, c->root, cfg); /* while the tree lives */
		}
		cfg_free(c->root); /* also resets libconfuse's lexer for the next parse */
	}
	parse_cur = NULL;
	pthread_mutex_unlock(&parse_lock);
}
