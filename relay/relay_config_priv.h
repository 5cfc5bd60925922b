/*
 * relay_config's private parts: the parse context and the line of every key, shared by
 * relay_config_read.c (rcfg_: the grammar, its callbacks, the lines) and relay_config.c (the
 * conversion). Only those two include this file, and with it confuse.h.
 */
#ifndef INTERLINK_RELAY_CONFIG_PRIV_H
#define INTERLINK_RELAY_CONFIG_PRIV_H

#include <confuse.h>

#include "relay/relay_priv.h"

#define DIGITS "0123456789"

struct keyrec { /* a key met in the file, for messages after parsing */
	cfg_t *sec;
	const char *name; /* the option's own name: the same pointer for the same key */
	unsigned idx;     /* list element */
	int line, closed; /* closed: a list's closing brace was seen */
};

struct secrec { /* a section met in the file */
	cfg_t *sec;
	int line, closed; /* line of its "{" */
};

struct pctx {
	struct rc_err e; /* the file's name and the first error */
	cfg_t *root;
	struct keyrec *keys;
	struct secrec *secs;
	size_t nkeys, capkeys, nsecs, capsecs;
};

/* The line of a section's "{", or 0 when it is not in the file. */
int rcfg_sec_line(struct pctx *c, cfg_t *sec);

/* The line of a key (list element idx), or 0 when it is not in the file. */
int rcfg_key_line(struct pctx *c, cfg_t *sec, const char *name, unsigned idx);

/* Where to point for a key: its line, else its section's, else none. */
int rcfg_line_of(struct pctx *c, cfg_t *sec, const char *key);

/*
 * Records "<section: ><key >reason" at `line`, or when 0 at the key's line (its
 * section's when the key is not in the file, none for the top level); returns c->e.rc.
 */
int rcfg_kfail(struct pctx *c, cfg_t *sec, const char *key, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/*
 * Parses text (its comments already blanked: rc_strip_comments) into c->root and, when that
 * succeeds, calls convert(c, c->root, cfg) before freeing the tree. libconfuse's lexer is
 * global, so this holds a lock throughout: parses from several threads take turns. Errors
 * go to c->e; c->keys and c->secs stay for the caller to free.
 */
void rcfg_parse(struct pctx *c, const char *text, struct relay_config *cfg,
                void (*convert)(struct pctx *c, cfg_t *root, struct relay_config *cfg));

#endif
