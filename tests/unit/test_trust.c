/*
 * Unit tests for trust between nodes (relay_trust.c): the node key file, statements byte for
 * byte, batches signed once under a Merkle root, tampering anywhere, pins (held by the route
 * table, as relay_node puts config peers there and the admin API its own), the pin text, and
 * the checks made when an envelope comes in and goes out (two or three trust objects standing
 * for nodes, each with the route table it verifies with).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "relay/relay_priv.h"
#include "tests/unit/unit_tmpdir.h"

#define NOW_MS 1764146615123LL
#define RID_A "0123456789ABCDEFGHJKMNPQRS"
#define RID_B "0123456789ABCDEFGHJKMNPQRT"
#define HELLO_SHA256 "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

static char dir[64];
static unsigned char hello[] = "hello";

/* The route table each test node verifies with (its config's peers and pins, as relay_node's
 * peer_from_conf hands them to routing), by node. */
#define TABLES_MAX 16
static struct {
	const struct relay_config *cfg;
	struct route_table *rt;
} tables[TABLES_MAX];

/* ------------------------------------------------------------- helpers */

struct pin_spec {
	const char *peer;
	const struct relay_config *key; /* the node whose key is pinned */
	int64_t until_ms;
};

static char *path_in(const char *name)
{
	char *p;

	assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
	return p;
}

static struct relay_peer_conf *peer_get(struct relay_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_peers; i++)
		if (strcmp(cfg->peers[i].name, name) == 0)
			return &cfg->peers[i];
	struct relay_peer_conf *p = &cfg->peers[cfg->n_peers++];

	p->name = strdup(name);
	p->kind = RELAY_PEER_RELAY;
	p->keys = calloc(4, sizeof(*p->keys));
	assert_non_null(p->keys);
	return p;
}

/* A config for node `id` (data dir <dir>/<id>), its peers pinning the keys given. */
static struct relay_config *cfg_new(const char *id, const struct pin_spec *pins, size_t n)
{
	struct relay_config *cfg = calloc(1, sizeof(*cfg));

	assert_non_null(cfg);
	cfg->node_id = strdup(id);
	cfg->data_dir = path_in(id);
	mkdir(cfg->data_dir, 0700);
	cfg->trust.attest = true;
	cfg->peers = calloc(8, sizeof(*cfg->peers));
	for (size_t i = 0; i < n; i++) {
		struct relay_peer_conf *p = peer_get(cfg, pins[i].peer);
		struct route_pin *k = &p->keys[p->n_keys++];

		memcpy(k->pub, relay_trust_public(pins[i].key->trust.keys), 32);
		memcpy(k->kid, relay_trust_kid(pins[i].key->trust.keys), sizeof(k->kid));
		k->until_ms = pins[i].until_ms;
	}
	return cfg;
}

/* A table of cfg's peers (relays) with their pins. */
static struct route_table *table_of(const struct relay_config *cfg)
{
	struct route_table *t = route_table_new();

	assert_non_null(t);
	for (size_t i = 0; i < cfg->n_peers; i++) {
		const struct relay_peer_conf *c = &cfg->peers[i];
		struct route_peer p = {.name = c->name, .kind = ROUTE_PEER_RELAY, .pins = c->keys,
				       .n_pins = c->n_keys};

		assert_int_equal(route_table_add_peer(t, &p), 0);
	}
	return t;
}

/* Sets (or, with NULL, drops) the table node cfg verifies with; the old one is freed. */
static void rt_set(const struct relay_config *cfg, struct route_table *rt)
{
	size_t free_slot = TABLES_MAX;

	for (size_t i = 0; i < TABLES_MAX; i++) {
		if (tables[i].cfg == cfg) {
			route_table_free(tables[i].rt);
			tables[i].rt = rt;
			if (!rt)
				tables[i].cfg = NULL;
			return;
		}
		if (!tables[i].cfg && free_slot == TABLES_MAX)
			free_slot = i;
	}
	if (!rt)
		return;
	assert_true(free_slot < TABLES_MAX);
	tables[free_slot].cfg = cfg;
	tables[free_slot].rt = rt;
}

static const struct route_table *rt_of(const struct relay_config *cfg)
{
	for (size_t i = 0; i < TABLES_MAX; i++)
		if (tables[i].cfg == cfg)
			return tables[i].rt;
	fail_msg("no table for %s", cfg->node_id);
	return NULL;
}

/* Peer i of the node's table (config order). */
static const struct route_peer *tpeer(const struct relay_config *cfg, size_t i)
{
	const struct route_peer *p = route_table_peer_at(rt_of(cfg), i);

	assert_non_null(p);
	return p;
}

static void cfg_free(struct relay_config *cfg)
{
	if (!cfg)
		return;
	rt_set(cfg, NULL);
	relay_trust_free(cfg->trust.keys);
	for (size_t i = 0; i < cfg->n_peers; i++) {
		free(cfg->peers[i].name);
		free(cfg->peers[i].keys);
	}
	free(cfg->peers);
	free(cfg->trust.key_file);
	free(cfg->node_id);
	free(cfg->data_dir);
	free(cfg);
}

/* Node `id` with its key loaded (made on first use) and the pins given. */
static struct relay_config *node(const char *id, const struct pin_spec *pins, size_t n)
{
	struct relay_config *cfg = cfg_new(id, pins, n);
	char err[256];

	assert_int_equal(relay_trust_open(cfg, &cfg->trust.keys, err, sizeof(err)), 0);
	rt_set(cfg, table_of(cfg));
	return cfg;
}

/* relay_trust_verify and relay_trust_check_in at node v: its key cache, its table. */
static int verify(const struct relay_config *v, const char *stmt, size_t len,
		  const struct relay_sig *sig, const char *peer, char *why, size_t whylen)
{
	return relay_trust_verify(v->trust.keys, rt_of(v), stmt, len, sig, peer, why, whylen);
}

static int check_in(const struct relay_config *v, const struct route_peer *peer,
		    const struct relay_envelope *e, char *why, size_t whylen)
{
	return relay_trust_check_in(v->trust.keys, rt_of(v), peer, e, why, whylen);
}

static void set_addr(struct route_addr *a, const char *s)
{
	snprintf(a->text, sizeof(a->text), "%s", s);
	a->len = strlen(a->text);
}

static void message(struct relay_envelope *e)
{
	memset(e, 0, sizeof(*e));
	e->kind = RELAY_ENV_MESSAGE;
	snprintf(e->id, sizeof(e->id), "m-1");
	set_addr(&e->from, "+821012345678");
	set_addr(&e->to, "bob@line.example");
	e->ts_ms = NOW_MS;
	e->is_text = true;
	e->body = hello;
	e->body_len = 5;
}

static void report(struct relay_envelope *e)
{
	memset(e, 0, sizeof(*e));
	e->kind = RELAY_ENV_REPORT;
	snprintf(e->ref, sizeof(e->ref), RID_A);
	e->status = RELAY_REPORT_DELIVERED;
	e->at_ms = NOW_MS;
	set_addr(&e->from, "bob@line.example");
	set_addr(&e->to, "+821012345678");
}

/* Appends a link signed (alone) by `signer` to e's chain (kept in arr), and signer as a hop. */
static void link_add(struct relay_envelope *e, struct relay_att *arr,
		     const struct relay_config *signer, const char *rid, const char *peer,
		     enum relay_att_level level)
{
	struct relay_att *l = &arr[e->n_att];
	char st[RELAY_STATEMENT_MAX];
	const char *sp = st;
	size_t len;

	memset(l, 0, sizeof(*l));
	snprintf(l->rid, sizeof(l->rid), "%s", rid);
	snprintf(l->peer, sizeof(l->peer), "%s", peer);
	l->level = level;
	snprintf(l->sig.node, sizeof(l->sig.node), "%s", signer->node_id);
	e->att = arr;
	len = relay_att_statement(e, e->n_att, l, st, sizeof(st));
	assert_int_not_equal(len, 0);
	assert_int_equal(relay_trust_sign(signer->trust.keys, signer->node_id, &sp, &len, 1,
					  NOW_MS, &l->sig),
			 0);
	e->n_att++;
	snprintf(e->hops[e->n_hops++], sizeof(e->hops[0]), "%s", signer->node_id);
}

/* Verifies link i of e (its own statement) with node v's key cache and table; the code. */
static int link_verify(const struct relay_config *v, const struct relay_envelope *e, size_t i,
		       const char *peer, char *why, size_t whylen)
{
	char st[RELAY_STATEMENT_MAX];
	size_t len = relay_att_statement(e, i, &e->att[i], st, sizeof(st));

	if (len == 0) {
		snprintf(why, whylen, "cannot be stated");
		return -RELAY_ETRUST;
	}
	return verify(v, st, len, &e->att[i].sig, peer, why,
				  whylen);
}

static void hex(const unsigned char *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

/* An independent leaf hash: SHA-256(0x00 || s). */
static void leaf(const char *s, size_t len, unsigned char out[32])
{
	unsigned char *buf = malloc(len + 1);

	buf[0] = 0;
	memcpy(buf + 1, s, len);
	assert_int_equal(EVP_Digest(buf, len + 1, out, NULL, EVP_sha256(), NULL), 1);
	free(buf);
}

static void inner(const unsigned char l[32], const unsigned char r[32], unsigned char out[32])
{
	unsigned char buf[65];

	buf[0] = 1;
	memcpy(buf + 1, l, 32);
	memcpy(buf + 33, r, 32);
	assert_int_equal(EVP_Digest(buf, 65, out, NULL, EVP_sha256(), NULL), 1);
}

static int setup(void **state)
{
	(void)state;
	assert_non_null(ut_mkdtemp(dir, sizeof(dir), "test_trust"));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ut_rm_dir(dir);
	return 0;
}

/* ----------------------------------------------------------- the key file */

static void test_key_file(void **state)
{
	struct relay_config *a = node("keys-a", NULL, 0), *again;
	char *path = path_in("keys-a/node-ed25519.pem"), kid[17], expect[65];
	unsigned char h[32];
	struct stat st;

	(void)state;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* kid: the first 16 hex digits of SHA-256(raw public key) */
	assert_int_equal(EVP_Digest(relay_trust_public(a->trust.keys), 32, h, NULL, EVP_sha256(),
				    NULL),
			 1);
	hex(h, 32, expect);
	assert_int_equal(strlen(relay_trust_kid(a->trust.keys)), 16);
	assert_memory_equal(relay_trust_kid(a->trust.keys), expect, 16);
	snprintf(kid, sizeof(kid), "%s", relay_trust_kid(a->trust.keys));
	/* reloaded: the same key */
	again = node("keys-a", NULL, 0);
	assert_string_equal(relay_trust_kid(again->trust.keys), kid);
	assert_memory_equal(relay_trust_public(again->trust.keys),
			    relay_trust_public(a->trust.keys), 32);
	/* an explicit key-file, made there */
	cfg_free(again);
	again = cfg_new("keys-b", NULL, 0);
	again->trust.key_file = path_in("explicit.pem");
	char err[256];
	assert_int_equal(relay_trust_open(again, &again->trust.keys, err, sizeof(err)), 0);
	assert_int_equal(stat(again->trust.key_file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_string_not_equal(relay_trust_kid(again->trust.keys), kid);
	cfg_free(again);
	cfg_free(a);
	free(path);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static void refused(struct relay_config *cfg, const char *reason)
{
	struct relay_trust *t = (struct relay_trust *)1;
	char err[256];

	memset(err, 'x', sizeof(err));
	assert_int_equal(relay_trust_open(cfg, &t, err, sizeof(err)), -RELAY_ECONFIG);
	assert_null(t);
	if (!strstr(err, reason))
		fail_msg("\"%s\" lacks \"%s\"", err, reason);
}

static void test_key_refused(void **state)
{
	struct relay_config *a = node("refuse-a", NULL, 0);
	struct relay_config *cfg = cfg_new("refuse-b", NULL, 0);
	char *path = path_in("refuse-a/node-ed25519.pem"), expect[256];
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	FILE *f;

	(void)state;
	/* group or others may read it */
	assert_int_equal(chmod(path, 0644), 0);
	snprintf(expect, sizeof(expect),
		 "%s: readable or writable by group or others (chmod 600)", path);
	cfg->trust.key_file = strdup(path);
	refused(cfg, expect);
	assert_int_equal(chmod(path, 0620), 0);
	refused(cfg, "(chmod 600)");
	assert_int_equal(chmod(path, 0600), 0);
	/* another key type */
	free(cfg->trust.key_file);
	cfg->trust.key_file = path_in("ec.pem");
	f = fopen(cfg->trust.key_file, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_PrivateKey(f, ec, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	assert_int_equal(chmod(cfg->trust.key_file, 0600), 0);
	refused(cfg, "ec.pem: not an Ed25519 private key");
	/* not PEM at all */
	write_file(cfg->trust.key_file, "not a key\n", 0600);
	refused(cfg, "ec.pem: not a PEM private key");
	/* an empty file */
	write_file(cfg->trust.key_file, "", 0600);
	refused(cfg, "ec.pem: not a PEM private key");
	/* key-valid-until in the past (the key itself is fine) */
	free(cfg->trust.key_file);
	cfg->trust.key_file = strdup(path);
	cfg->trust.key_valid_until_ms = 1000;
	refused(cfg, "key-valid-until is in the past");
	cfg->trust.key_valid_until_ms = relay_now_ms() + 3600000;
	char err[256];
	assert_int_equal(relay_trust_open(cfg, &cfg->trust.keys, err, sizeof(err)), 0);
	assert_string_equal(relay_trust_kid(cfg->trust.keys), relay_trust_kid(a->trust.keys));
	/* a directory that is not there: cannot be created */
	free(cfg->trust.key_file);
	cfg->trust.key_file = path_in("no-such-dir/k.pem");
	refused(cfg, "cannot be created");
	EVP_PKEY_free(ec);
	cfg_free(cfg);
	cfg_free(a);
	free(path);
}

/* ------------------------------------------------------------- statements */

#define STMT0                                                                                 \
	"interlink-att/1\n"                                                                   \
	"node=relay-a\n"                                                                      \
	"rid=" RID_A "\n"                                                                     \
	"from=+821012345678\n"                                                                \
	"to=bob@line.example\n"                                                               \
	"ts=1764146615123\n"                                                                  \
	"body=sha256:" HELLO_SHA256 "\n"                                                      \
	"peer=carrier-1\n"                                                                    \
	"level=owned\n"                                                                       \
	"prev=-\n"

static void test_statements(void **state)
{
	struct relay_envelope e, r;
	struct relay_att att[2] = {0};
	char st[RELAY_STATEMENT_MAX], expect[RELAY_STATEMENT_MAX], prev[65];
	unsigned char h[32], h2[32];
	size_t len;

	(void)state;
	message(&e);
	snprintf(att[0].rid, sizeof(att[0].rid), RID_A);
	snprintf(att[0].peer, sizeof(att[0].peer), "carrier-1");
	att[0].level = RELAY_LEVEL_OWNED;
	snprintf(att[0].sig.node, sizeof(att[0].sig.node), "relay-a");
	/* the link about to be added (i == n_att) */
	len = relay_att_statement(&e, 0, &att[0], st, sizeof(st));
	assert_int_equal(len, strlen(STMT0));
	assert_string_equal(st, STMT0);
	/* the leaf hash */
	relay_leaf_hash(st, len, h);
	leaf(STMT0, strlen(STMT0), h2);
	assert_memory_equal(h, h2, 32);
	/* the second link: prev is link 0's leaf hash, its own `to`, another level */
	e.att = att;
	e.n_att = 1;
	snprintf(att[1].rid, sizeof(att[1].rid), RID_B);
	snprintf(att[1].peer, sizeof(att[1].peer), "relay-a");
	att[1].level = RELAY_LEVEL_RELAYED;
	snprintf(att[1].to, sizeof(att[1].to), "bob2@other.example");
	snprintf(att[1].sig.node, sizeof(att[1].sig.node), "relay-b");
	hex(h2, 32, prev);
	snprintf(expect, sizeof(expect),
		 "interlink-att/1\nnode=relay-b\nrid=" RID_B "\nfrom=+821012345678\n"
		 "to=bob2@other.example\nts=1764146615123\nbody=sha256:" HELLO_SHA256 "\n"
		 "peer=relay-a\nlevel=relayed\nprev=%s\n",
		 prev);
	assert_int_equal(relay_att_statement(&e, 1, &att[1], st, sizeof(st)), strlen(expect));
	assert_string_equal(st, expect);
	/* link 0 as a member of the chain: the same text */
	assert_int_equal(relay_att_statement(&e, 0, &att[0], st, sizeof(st)), strlen(STMT0));
	assert_string_equal(st, STMT0);
	/* directory; an empty body */
	att[0].level = RELAY_LEVEL_DIRECTORY;
	e.body = NULL;
	e.body_len = 0;
	assert_int_not_equal(relay_att_statement(&e, 0, &att[0], st, sizeof(st)), 0);
	assert_non_null(strstr(st, "\nlevel=directory\n"));
	assert_non_null(strstr(st, "\nbody=sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934"
				   "ca495991b7852b855\n"));
	/* what cannot be written */
	assert_int_equal(relay_att_statement(&e, 2, &att[1], st, sizeof(st)), 0); /* i > n_att */
	att[1].level = RELAY_LEVEL_NONE;
	assert_int_equal(relay_att_statement(&e, 1, &att[1], st, sizeof(st)), 0);
	att[1].level = RELAY_LEVEL_RELAYED;
	assert_int_equal(relay_att_statement(&e, 1, &att[1], st, 100), 0); /* too small */
	/* reports */
	report(&r);
	len = relay_report_statement(&r, "relay-c", st, sizeof(st));
	assert_string_equal(st, "interlink-report/1\nnode=relay-c\nref=" RID_A
				"\nstatus=delivered\nat=1764146615123\nvia=-\n");
	assert_int_equal(len, strlen(st));
	snprintf(r.via, sizeof(r.via), "carrier-9");
	r.status = RELAY_REPORT_EXPIRED;
	r.at_ms = 0;
	relay_report_statement(&r, "relay-c", st, sizeof(st));
	assert_string_equal(st, "interlink-report/1\nnode=relay-c\nref=" RID_A
				"\nstatus=expired\nat=0\nvia=carrier-9\n");
	r.status = RELAY_REPORT_FAILED;
	r.has_rsig = true; /* the signer named in rsig */
	snprintf(r.rsig.node, sizeof(r.rsig.node), "relay-d");
	relay_report_statement(&r, "relay-d", st, sizeof(st));
	assert_string_equal(st, "interlink-report/1\nnode=relay-d\nref=" RID_A
				"\nstatus=failed\nat=0\nvia=carrier-9\n");
	r.status = 0;
	assert_int_equal(relay_report_statement(&r, "relay-d", st, sizeof(st)), 0);
}

/* ------------------------------------------------------------------ batches */

/* The RFC 6962 depth of leaf m of n: the proof's length. */
static size_t depth(size_t m, size_t n)
{
	size_t k = 1;

	if (n == 1)
		return 0;
	while (k * 2 < n)
		k *= 2;
	return 1 + (m < k ? depth(m, k) : depth(m - k, n - k));
}

/* An independent root over leaves[lo, hi). */
static void mth(unsigned char (*lv)[32], size_t lo, size_t hi, unsigned char out[32])
{
	unsigned char l[32], r[32];
	size_t k = 1;

	if (hi - lo == 1) {
		memcpy(out, lv[lo], 32);
		return;
	}
	while (k * 2 < hi - lo)
		k *= 2;
	mth(lv, lo, lo + k, l);
	mth(lv, lo + k, hi, r);
	inner(l, r, out);
}

static void test_batches(void **state)
{
	struct relay_config *a = node("batch-a", NULL, 0);
	const struct pin_spec pins[] = {{"a", a, 0}};
	struct relay_config *c = node("batch-c", pins, 1);
	static const size_t sizes[] = {1, 2, 3, 5, 8, 17};

	(void)state;
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t n = sizes[s], lens[17];
		char text[17][64], why[256], rs[256], root_hex[65];
		const char *stmts[17];
		struct relay_sig sigs[17];
		unsigned char lv[17][32], root[32];

		for (size_t i = 0; i < n; i++) {
			lens[i] = (size_t)snprintf(text[i], sizeof(text[i]),
						   "statement %zu of %zu\n", i, n);
			stmts[i] = text[i];
			leaf(text[i], lens[i], lv[i]);
		}
		memset(sigs, 0xa5, sizeof(sigs));
		assert_int_equal(relay_trust_sign(a->trust.keys, "batch-a", stmts, lens, n, NOW_MS,
						  sigs),
				 0);
		for (size_t i = 0; i < n; i++) {
			assert_string_equal(sigs[i].node, "batch-a");
			assert_string_equal(sigs[i].kid, relay_trust_kid(a->trust.keys));
			assert_int_equal(sigs[i].at_ms, NOW_MS);
			assert_int_equal(sigs[i].n_proof, depth(i, n));
			/* one signature for the batch */
			assert_memory_equal(sigs[i].sig, sigs[0].sig, RELAY_SIG_LEN);
			assert_int_equal(verify(c, text[i], lens[i],
							    &sigs[i], "a", why, sizeof(why)),
					 0);
			assert_string_equal(why, "");
			assert_int_equal(verify(c, text[i], lens[i],
							    &sigs[i], NULL, why, sizeof(why)),
					 0);
			/* another statement's proof does not fit */
			if (n > 1)
				assert_int_equal(verify(c, text[i], lens[i],
								    &sigs[(i + 1) % n], NULL, why,
								    sizeof(why)),
						 -RELAY_ETRUST);
		}
		/* the signature is Ed25519 over the root statement, checked without relay_trust */
		mth(lv, 0, n, root);
		hex(root, 32, root_hex);
		snprintf(rs, sizeof(rs),
			 "interlink-batch/1\nnode=batch-a\nkid=%s\nat=%lld\nroot=%s\n",
			 relay_trust_kid(a->trust.keys), NOW_MS, root_hex);
		EVP_PKEY *pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL,
							    relay_trust_public(a->trust.keys), 32);
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();
		assert_int_equal(EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pub), 1);
		assert_int_equal(EVP_DigestVerify(ctx, sigs[0].sig, 64, (unsigned char *)rs,
						  strlen(rs)),
				 1);
		EVP_MD_CTX_free(ctx);
		EVP_PKEY_free(pub);
	}
	cfg_free(c);
	cfg_free(a);
}

/* A batch of the largest size: 2^16 statements, proofs of 16 steps. */
static void test_batch_max(void **state)
{
	struct relay_config *a = node("big-a", NULL, 0);
	const struct pin_spec pins[] = {{"a", a, 0}};
	struct relay_config *c = node("big-c", pins, 1);
	size_t n = (size_t)1 << RELAY_PROOF_MAX, *lens = calloc(n + 1, sizeof(*lens));
	const char **stmts = calloc(n + 1, sizeof(*stmts));
	char *text = calloc(n + 1, 16), why[256];
	struct relay_sig *sigs = calloc(n + 1, sizeof(*sigs));

	(void)state;
	for (size_t i = 0; i <= n; i++) {
		lens[i] = (size_t)snprintf(text + 16 * i, 16, "s%zu\n", i);
		stmts[i] = text + 16 * i;
	}
	assert_int_equal(relay_trust_sign(a->trust.keys, "big-a", stmts, lens, n, NOW_MS, sigs), 0);
	for (size_t i = 0; i < n; i += 4099) {
		assert_int_equal(sigs[i].n_proof, RELAY_PROOF_MAX);
		assert_int_equal(verify(c, stmts[i], lens[i], &sigs[i],
						    NULL, why, sizeof(why)),
				 0);
	}
	assert_int_not_equal(relay_trust_sign(a->trust.keys, "big-a", stmts, lens, n + 1, NOW_MS,
					      sigs),
			     0);
	free(lens);
	free(stmts);
	free(text);
	free(sigs);
	cfg_free(c);
	cfg_free(a);
}

/* ---------------------------------------------------------------- tampering */

struct chain {
	struct relay_config *a, *b, *c; /* a and b sign, c verifies (pins both) */
	struct relay_envelope e;
	struct relay_att att[RELAY_ATT_MAX];
};

static void chain_make(struct chain *ch, const char *tag)
{
	char na[32], nb[32], nc[32];

	snprintf(na, sizeof(na), "%s-a", tag);
	snprintf(nb, sizeof(nb), "%s-b", tag);
	snprintf(nc, sizeof(nc), "%s-c", tag);
	ch->a = node(na, NULL, 0);
	ch->b = node(nb, NULL, 0);
	const struct pin_spec pins[] = {{"a", ch->a, 0}, {"b", ch->b, 0}};
	ch->c = node(nc, pins, 2);
	message(&ch->e);
	link_add(&ch->e, ch->att, ch->a, RID_A, "carrier-1", RELAY_LEVEL_OWNED);
	link_add(&ch->e, ch->att, ch->b, RID_B, "a", RELAY_LEVEL_RELAYED);
}

static void chain_free(struct chain *ch)
{
	cfg_free(ch->a);
	cfg_free(ch->b);
	cfg_free(ch->c);
}

/* Link i must fail when bit i of mask is set, and verify when it is not. */
static void expect(struct chain *ch, unsigned mask)
{
	char why[256];

	for (size_t i = 0; i < 2; i++)
		assert_int_equal(link_verify(ch->c, &ch->e, i, NULL, why, sizeof(why)),
				 (mask >> i) & 1 ? -RELAY_ETRUST : 0);
}

/* Changing `field` makes the links of mask fail; restored, all verify again. */
#define TAMPERED(ch, field, value, mask)                                                      \
	do {                                                                                  \
		__typeof__(field) saved_ = (field);                                           \
		(field) = (value);                                                            \
		expect((ch), (mask));                                                         \
		(field) = saved_;                                                             \
		expect((ch), 0);                                                              \
	} while (0)

static void tamper_text(struct chain *ch, char *field, size_t size, const char *value,
			unsigned mask)
{
	char saved[ROUTE_ADDR_MAX];

	snprintf(saved, sizeof(saved), "%s", field);
	snprintf(field, size, "%s", value);
	expect(ch, mask);
	snprintf(field, size, "%s", saved);
	expect(ch, 0);
}

static void test_tamper_statement(void **state)
{
	struct chain ch;
	char why[256];

	(void)state;
	chain_make(&ch, "tamper");
	assert_int_equal(link_verify(ch.c, &ch.e, 0, "a", why, sizeof(why)), 0);
	assert_int_equal(link_verify(ch.c, &ch.e, 1, "b", why, sizeof(why)), 0);
	/* envelope fields: both links cover them */
	tamper_text(&ch, ch.e.from.text, sizeof(ch.e.from.text), "+821012345679", 3);
	tamper_text(&ch, ch.e.to.text, sizeof(ch.e.to.text), "eve@line.example", 3);
	TAMPERED(&ch, ch.e.ts_ms, NOW_MS + 1, 3);
	TAMPERED(&ch, ch.e.body_len, 4, 3);
	TAMPERED(&ch, hello[4], 'p', 3);
	hello[0] = 'j';
	assert_int_equal(link_verify(ch.c, &ch.e, 0, NULL, why, sizeof(why)),
			 -RELAY_ETRUST);
	assert_string_equal(why, "signature does not verify");
	hello[0] = 'h';
	/* link fields: link 1 covers link 0's statement through prev */
	for (size_t i = 0; i < 2; i++) {
		struct relay_att *l = &ch.att[i];
		unsigned mask = i == 0 ? 3 : 2;

		tamper_text(&ch, l->rid, sizeof(l->rid), "0123456789ABCDEFGHJKMNPQRV", mask);
		tamper_text(&ch, l->peer, sizeof(l->peer), "carrier-2", mask);
		tamper_text(&ch, l->to, sizeof(l->to), "eve@line.example", mask);
		TAMPERED(&ch, l->level, RELAY_LEVEL_DIRECTORY, mask);
		tamper_text(&ch, l->sig.node, sizeof(l->sig.node), "tamper-x", mask);
		/* when it was signed is in the root statement, not in the link's statement */
		TAMPERED(&ch, l->sig.at_ms, NOW_MS - 1, 1u << i);
		TAMPERED(&ch, l->sig.kid[3], l->sig.kid[3] == '0' ? '1' : '0', 1u << i);
	}
	/* order of the links */
	struct relay_att tmp = ch.att[0];
	ch.att[0] = ch.att[1];
	ch.att[1] = tmp;
	assert_int_equal(link_verify(ch.c, &ch.e, 0, NULL, why, sizeof(why)),
			 -RELAY_ETRUST);
	assert_int_equal(link_verify(ch.c, &ch.e, 1, NULL, why, sizeof(why)),
			 -RELAY_ETRUST);
	ch.att[1] = ch.att[0];
	ch.att[0] = tmp;
	/* a link dropped from the front: the next one's prev no longer holds */
	ch.e.att = &ch.att[1];
	ch.e.n_att = 1;
	assert_int_equal(link_verify(ch.c, &ch.e, 0, NULL, why, sizeof(why)),
			 -RELAY_ETRUST);
	ch.e.att = ch.att;
	ch.e.n_att = 2;
	assert_int_equal(link_verify(ch.c, &ch.e, 1, NULL, why, sizeof(why)), 0);
	chain_free(&ch);
}

static void test_tamper_sig(void **state)
{
	struct relay_config *a = node("sig-a", NULL, 0);
	const struct pin_spec pins[] = {{"a", a, 0}};
	struct relay_config *c = node("sig-c", pins, 1);
	const char *stmts[] = {"one\n", "two\n", "three\n"};
	size_t lens[] = {4, 4, 6};
	struct relay_sig sigs[3], s;
	char why[256];

	(void)state;
	assert_int_equal(relay_trust_sign(a->trust.keys, "sig-a", stmts, lens, 3, NOW_MS, sigs), 0);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(verify(c, stmts[i], lens[i], &sigs[i], "a",
						    why, sizeof(why)),
				 0);
	/* each byte of the signature */
	for (size_t b = 0; b < RELAY_SIG_LEN; b++) {
		s = sigs[0];
		s.sig[b] ^= 0x01;
		assert_int_equal(verify(c, stmts[0], lens[0], &s, "a", why,
						    sizeof(why)),
				 -RELAY_ETRUST);
		assert_string_equal(why, "signature does not verify");
	}
	/* each proof step: its hash, its side; a step dropped or added */
	for (size_t i = 0; i < sigs[0].n_proof; i++) {
		s = sigs[0];
		s.proof[i].hash[i * 7 % 32] ^= 0x80;
		assert_int_equal(verify(c, stmts[0], lens[0], &s, NULL, why,
						    sizeof(why)),
				 -RELAY_ETRUST);
		s = sigs[0];
		s.proof[i].left = !s.proof[i].left;
		assert_int_equal(verify(c, stmts[0], lens[0], &s, NULL, why,
						    sizeof(why)),
				 -RELAY_ETRUST);
	}
	s = sigs[0];
	s.n_proof--;
	assert_int_equal(verify(c, stmts[0], lens[0], &s, NULL, why,
					    sizeof(why)),
			 -RELAY_ETRUST);
	s = sigs[2];
	s.proof[s.n_proof++] = sigs[0].proof[0];
	assert_int_equal(verify(c, stmts[2], lens[2], &s, NULL, why,
					    sizeof(why)),
			 -RELAY_ETRUST);
	s = sigs[0];
	s.n_proof = RELAY_PROOF_MAX + 1;
	assert_int_equal(verify(c, stmts[0], lens[0], &s, NULL, why,
					    sizeof(why)),
			 -RELAY_ETRUST);
	/* the root statement's node and at (after a cached success) */
	s = sigs[1];
	snprintf(s.node, sizeof(s.node), "sig-b");
	assert_int_equal(verify(c, stmts[1], lens[1], &s, NULL, why,
					    sizeof(why)),
			 -RELAY_ETRUST);
	s = sigs[1];
	s.at_ms++;
	assert_int_equal(verify(c, stmts[1], lens[1], &s, NULL, why,
					    sizeof(why)),
			 -RELAY_ETRUST);
	/* the statement itself */
	assert_int_equal(verify(c, "one!", 4, &sigs[0], NULL, why,
					    sizeof(why)),
			 -RELAY_ETRUST);
	assert_int_equal(verify(c, stmts[0], 3, &sigs[0], NULL, why,
					    sizeof(why)),
			 -RELAY_ETRUST);
	/* still fine untouched (the cache held nothing wrong) */
	assert_int_equal(verify(c, stmts[1], lens[1], &sigs[1], "a", why,
					    sizeof(why)),
			 0);
	cfg_free(c);
	cfg_free(a);
}

/* -------------------------------------------------------------------- pins */

static void test_pins(void **state)
{
	struct relay_config *a = node("pins-a", NULL, 0), *b = node("pins-b", NULL, 0);
	const struct pin_spec pins[] = {{"a", a, NOW_MS - 1000}, {"b", b, 0}};
	struct relay_config *c = node("pins-c", pins, 2);
	const char *stmt = "statement\n";
	size_t len = strlen(stmt);
	struct relay_sig sa, sb;
	char why[256], expect[256];

	(void)state;
	assert_true(relay_trust_knows(rt_of(c), relay_trust_kid(a->trust.keys)));
	assert_true(relay_trust_knows(rt_of(c), relay_trust_kid(b->trust.keys)));
	assert_false(relay_trust_knows(rt_of(c), relay_trust_kid(c->trust.keys)));
	assert_false(relay_trust_knows(rt_of(a), relay_trust_kid(b->trust.keys)));
	assert_int_equal(relay_trust_sign(a->trust.keys, "pins-a", &stmt, &len, 1, NOW_MS, &sa), 0);
	assert_int_equal(relay_trust_sign(b->trust.keys, "pins-b", &stmt, &len, 1, NOW_MS, &sb), 0);
	/* a pin that ended before the signature */
	assert_int_equal(verify(c, stmt, len, &sa, "a", why, sizeof(why)),
			 -RELAY_ETRUST);
	snprintf(expect, sizeof(expect), "key %s expired at 2025-11-26T08:43:34Z",
		 relay_trust_kid(a->trust.keys));
	assert_string_equal(why, expect);
	assert_int_equal(verify(c, stmt, len, &sa, NULL, why, sizeof(why)),
			 -RELAY_ETRUST);
	assert_string_equal(why, expect);
	/* signed before the end: fine */
	assert_int_equal(relay_trust_sign(a->trust.keys, "pins-a", &stmt, &len, 1, NOW_MS - 1000,
					  &sa),
			 0);
	assert_int_equal(verify(c, stmt, len, &sa, "a", why, sizeof(why)),
			 0);
	/* pinned for another peer */
	assert_int_equal(verify(c, stmt, len, &sb, "a", why, sizeof(why)),
			 -RELAY_ETRUST);
	snprintf(expect, sizeof(expect), "key %s is not pinned for peer a",
		 relay_trust_kid(b->trust.keys));
	assert_string_equal(why, expect);
	assert_int_equal(verify(c, stmt, len, &sb, "b", why, sizeof(why)),
			 0);
	assert_int_equal(verify(c, stmt, len, &sb, NULL, why, sizeof(why)),
			 0);
	/* unknown: to a node without pins, or a kid not pinned */
	assert_int_equal(verify(a, stmt, len, &sb, NULL, why, sizeof(why)),
			 -RELAY_ETRUST);
	snprintf(expect, sizeof(expect), "unknown key id %s", relay_trust_kid(b->trust.keys));
	assert_string_equal(why, expect);
	snprintf(sb.kid, sizeof(sb.kid), "0123456789abcdef");
	assert_int_equal(verify(c, stmt, len, &sb, "b", why, sizeof(why)),
			 -RELAY_ETRUST);
	assert_string_equal(why, "unknown key id 0123456789abcdef");
	/* another pinned kid in a signature it did not make */
	memcpy(sb.kid, relay_trust_kid(a->trust.keys), sizeof(sb.kid));
	sb.at_ms = sa.at_ms;
	assert_int_equal(verify(c, stmt, len, &sb, NULL, why, sizeof(why)),
			 -RELAY_ETRUST);
	assert_string_equal(why, "signature does not verify");
	/* why is cut, and always ends */
	char small[8];
	assert_int_equal(verify(c, stmt, len, &sb, NULL, small,
					    sizeof(small)),
			 -RELAY_ETRUST);
	assert_string_equal(small, "signatu");
	cfg_free(c);
	cfg_free(b);
	cfg_free(a);
}

/* A table of one relay peer, `peer`, pinning n keys (NULL, 0: none). */
static struct route_table *table_with(const char *peer, const struct route_pin *pins, size_t n)
{
	struct route_table *t = route_table_new();
	struct route_peer p = {.name = peer, .kind = ROUTE_PEER_RELAY, .pins = pins, .n_pins = n};

	assert_non_null(t);
	assert_int_equal(route_table_add_peer(t, &p), 0);
	return t;
}

/* node's key as a pin, until until_ms. */
static struct route_pin pin_of(const struct relay_config *node, int64_t until_ms)
{
	struct route_pin k = {.until_ms = until_ms};

	memcpy(k.pub, relay_trust_public(node->trust.keys), 32);
	memcpy(k.kid, relay_trust_kid(node->trust.keys), sizeof(k.kid));
	return k;
}

/* Pins come from the table the caller holds, not from the config at open: a pin added to the
 * table (as the admin API adds one) counts at once; one removed is refused even for a batch
 * verified (and cached) before; one of another peer is not this peer's; and expiry holds. */
static void test_pins_from_table(void **state)
{
	struct relay_config *a = node("tbl-a", NULL, 0), *c = node("tbl-c", NULL, 0);
	struct route_pin pa = pin_of(a, 0);
	const char *stmt = "statement\n";
	size_t len = strlen(stmt);
	struct relay_sig sa;
	char why[256], expect[256];

	(void)state;
	assert_int_equal(relay_trust_sign(a->trust.keys, "tbl-a", &stmt, &len, 1, NOW_MS, &sa), 0);
	/* c's config pins nothing: unknown */
	assert_int_equal(verify(c, stmt, len, &sa, "a", why, sizeof(why)), -RELAY_ETRUST);
	snprintf(expect, sizeof(expect), "unknown key id %s", relay_trust_kid(a->trust.keys));
	assert_string_equal(why, expect);
	/* the table pins a's key for peer a: verified, and cached */
	rt_set(c, table_with("a", &pa, 1));
	assert_true(relay_trust_knows(rt_of(c), sa.kid));
	assert_int_equal(verify(c, stmt, len, &sa, "a", why, sizeof(why)), 0);
	assert_int_equal(verify(c, stmt, len, &sa, NULL, why, sizeof(why)), 0);
	/* the pin removed (the peer replaced without it): unknown, cache or not */
	rt_set(c, table_with("a", NULL, 0));
	assert_false(relay_trust_knows(rt_of(c), sa.kid));
	assert_int_equal(verify(c, stmt, len, &sa, "a", why, sizeof(why)), -RELAY_ETRUST);
	assert_string_equal(why, expect);
	assert_int_equal(verify(c, stmt, len, &sa, NULL, why, sizeof(why)), -RELAY_ETRUST);
	assert_string_equal(why, expect);
	/* pinned for another peer only */
	rt_set(c, table_with("x", &pa, 1));
	assert_true(relay_trust_knows(rt_of(c), sa.kid));
	assert_int_equal(verify(c, stmt, len, &sa, "a", why, sizeof(why)), -RELAY_ETRUST);
	snprintf(expect, sizeof(expect), "key %s is not pinned for peer a",
		 relay_trust_kid(a->trust.keys));
	assert_string_equal(why, expect);
	assert_int_equal(verify(c, stmt, len, &sa, "x", why, sizeof(why)), 0);
	/* ended before the signature, even though the batch verified before */
	pa.until_ms = NOW_MS - 1000;
	rt_set(c, table_with("a", &pa, 1));
	assert_int_equal(verify(c, stmt, len, &sa, "a", why, sizeof(why)), -RELAY_ETRUST);
	snprintf(expect, sizeof(expect), "key %s expired at 2025-11-26T08:43:34Z",
		 relay_trust_kid(a->trust.keys));
	assert_string_equal(why, expect);
	pa.until_ms = NOW_MS;
	rt_set(c, table_with("a", &pa, 1));
	assert_int_equal(verify(c, stmt, len, &sa, "a", why, sizeof(why)), 0);
	/* no table at all: nothing is pinned */
	assert_false(relay_trust_knows(NULL, sa.kid));
	assert_int_equal(relay_trust_verify(c->trust.keys, NULL, stmt, len, &sa, NULL, why,
					    sizeof(why)),
			 -RELAY_ETRUST);
	snprintf(expect, sizeof(expect), "unknown key id %s", relay_trust_kid(a->trust.keys));
	assert_string_equal(why, expect);
	cfg_free(c);
	cfg_free(a);
}

/* The pin text the config and the admin API share. */
static void test_pin_parse(void **state)
{
	static const struct {
		const char *text, *why;
	} bad[] = {
	    {"", "'' is not standard base64"},
	    {"xyz", "'xyz' is not standard base64"},
	    {"AAEC!", "'AAEC!' is not standard base64"},
	    {"AAECAw==", "'AAECAw==' is 4 bytes, not a 32-byte Ed25519 public key"},
	    {"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8 until 2027-01-01T00:00:00Z",
	     "'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8' is not standard base64"},
	    {"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8= until 2027-02-29T00:00:00Z",
	     "'2027-02-29T00:00:00Z' after until is not a UTC time YYYY-MM-DDTHH:MM:SSZ"},
	    {"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8= until",
	     "'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8= until' must be \"BASE64\" or "
	     "\"BASE64 until YYYY-MM-DDTHH:MM:SSZ\""},
	    {"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8= since 2027-01-01T00:00:00Z",
	     "'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8= since 2027-01-01T00:00:00Z' must be "
	     "\"BASE64\" or \"BASE64 until YYYY-MM-DDTHH:MM:SSZ\""},
	};
	struct relay_config *a = node("parse-a", NULL, 0);
	unsigned char b64[64];
	char text[128], why[256];
	struct route_pin k;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(relay_pin_parse(bad[i].text, &k, why, sizeof(why)),
				 -RELAY_ECONFIG);
		assert_string_equal(why, bad[i].why);
	}
	/* a real key: its kid is the node's */
	EVP_EncodeBlock(b64, relay_trust_public(a->trust.keys), 32);
	assert_int_equal(relay_pin_parse((char *)b64, &k, why, sizeof(why)), 0);
	assert_string_equal(k.kid, relay_trust_kid(a->trust.keys));
	assert_memory_equal(k.pub, relay_trust_public(a->trust.keys), 32);
	assert_true(k.until_ms == 0);
	snprintf(text, sizeof(text), "%s \t until  2027-01-01T00:00:00Z", b64);
	assert_int_equal(relay_pin_parse(text, &k, why, sizeof(why)), 0);
	assert_true(k.until_ms == 1798761600000LL);
	assert_string_equal(k.kid, relay_trust_kid(a->trust.keys));
	cfg_free(a);
}

/* --------------------------------------------------------------- check in */

static void test_check_in_message(void **state)
{
	struct chain ch;
	struct relay_config *d = node("in-d", NULL, 0);
	const struct route_peer *pb, *pa;
	struct route_peer plain = {.name = "plain", .kind = ROUTE_PEER_RELAY};
	char why[256], expect[256];

	(void)state;
	chain_make(&ch, "in");
	pa = tpeer(ch.c, 0);
	pb = tpeer(ch.c, 1);
	assert_string_equal(pb->name, "b");
	assert_int_equal(check_in(ch.c, pb, &ch.e, why, sizeof(why)), 0);
	/* from a peer without pins, or one the config does not list: not checked */
	assert_int_equal(check_in(ch.c, &plain, &ch.e, why, sizeof(why)),
			 0);
	assert_int_equal(check_in(ch.c, NULL, &ch.e, why, sizeof(why)), 0);
	/* the last link must be the submitting peer's */
	assert_int_equal(check_in(ch.c, pa, &ch.e, why, sizeof(why)),
			 -RELAY_ETRUST);
	snprintf(expect, sizeof(expect), "att[1]: key %s is not pinned for peer a",
		 relay_trust_kid(ch.b->trust.keys));
	assert_string_equal(why, expect);
	/* ... and name the last hop */
	snprintf(ch.e.hops[1], sizeof(ch.e.hops[1]), "in-x");
	assert_int_equal(check_in(ch.c, pb, &ch.e, why, sizeof(why)),
			 -RELAY_ETRUST);
	assert_string_equal(why, "att[1]: signed by in-b, but the last hop is in-x");
	snprintf(ch.e.hops[1], sizeof(ch.e.hops[1]), "in-b");
	/* a bad earlier link signed by a pinned key */
	ch.att[0].rid[0] = '9';
	assert_int_equal(check_in(ch.c, pb, &ch.e, why, sizeof(why)),
			 -RELAY_ETRUST);
	assert_string_equal(why, "att[0]: signature does not verify");
	ch.att[0].rid[0] = '0';
	/* no chain */
	ch.e.n_att = 0;
	assert_int_equal(check_in(ch.c, pb, &ch.e, why, sizeof(why)),
			 -RELAY_ETRUST);
	assert_string_equal(why, "no attestation (peer b pins keys)");
	/* link 0 from a key not pinned here: vouched for by link 1 */
	message(&ch.e);
	link_add(&ch.e, ch.att, d, RID_A, "carrier-1", RELAY_LEVEL_OWNED);
	link_add(&ch.e, ch.att, ch.b, RID_B, "in-d", RELAY_LEVEL_RELAYED);
	assert_int_equal(check_in(ch.c, pb, &ch.e, why, sizeof(why)), 0);
	/* the last link from a key not pinned here */
	message(&ch.e);
	link_add(&ch.e, ch.att, ch.a, RID_A, "carrier-1", RELAY_LEVEL_OWNED);
	link_add(&ch.e, ch.att, d, RID_B, "a", RELAY_LEVEL_RELAYED);
	assert_int_equal(check_in(ch.c, pb, &ch.e, why, sizeof(why)),
			 -RELAY_ETRUST);
	snprintf(expect, sizeof(expect), "att[1]: unknown key id %s",
		 relay_trust_kid(d->trust.keys));
	assert_string_equal(why, expect);
	/* one link, no hops recorded: only the pin is checked */
	message(&ch.e);
	link_add(&ch.e, ch.att, ch.b, RID_A, "carrier-1", RELAY_LEVEL_OWNED);
	ch.e.n_hops = 0;
	assert_int_equal(check_in(ch.c, pb, &ch.e, why, sizeof(why)), 0);
	cfg_free(d);
	chain_free(&ch);
}

/* A peer that only the table knows (as the admin API makes one) is checked with its pins; the
 * same peer replaced without pins is not checked at all. */
static void test_check_in_table_peer(void **state)
{
	struct chain ch;
	struct route_pin pb;
	char why[256];

	(void)state;
	chain_make(&ch, "tp");
	pb = pin_of(ch.b, 0);
	rt_set(ch.c, table_with("hub", &pb, 1));
	assert_int_equal(check_in(ch.c, tpeer(ch.c, 0), &ch.e, why, sizeof(why)), 0);
	/* a's link is not pinned here any more: vouched for by b's */
	assert_false(relay_trust_knows(rt_of(ch.c), ch.att[0].sig.kid));
	ch.att[1].rid[0] = '9';
	assert_int_equal(check_in(ch.c, tpeer(ch.c, 0), &ch.e, why, sizeof(why)), -RELAY_ETRUST);
	assert_string_equal(why, "att[1]: signature does not verify");
	ch.e.n_att = 0;
	assert_int_equal(check_in(ch.c, tpeer(ch.c, 0), &ch.e, why, sizeof(why)), -RELAY_ETRUST);
	assert_string_equal(why, "no attestation (peer hub pins keys)");
	/* replaced without pins: accepted unchecked, whatever it carries */
	rt_set(ch.c, table_with("hub", NULL, 0));
	assert_int_equal(check_in(ch.c, tpeer(ch.c, 0), &ch.e, why, sizeof(why)), 0);
	ch.e.n_att = 2;
	assert_int_equal(check_in(ch.c, tpeer(ch.c, 0), &ch.e, why, sizeof(why)), 0);
	assert_string_equal(why, "");
	chain_free(&ch);
}

static void report_sign(struct relay_envelope *r, const struct relay_config *signer)
{
	char st[RELAY_STATEMENT_MAX];
	const char *sp = st;
	size_t len = relay_report_statement(r, signer->node_id, st, sizeof(st));

	assert_int_not_equal(len, 0);
	assert_int_equal(relay_trust_sign(signer->trust.keys, signer->node_id, &sp, &len, 1, NOW_MS,
					  &r->rsig),
			 0);
	r->has_rsig = true;
}

static void test_check_in_report(void **state)
{
	struct relay_config *a = node("rep-a", NULL, 0), *d = node("rep-d", NULL, 0);
	const struct pin_spec pins[] = {{"a", a, 0}};
	struct relay_config *c = node("rep-c", pins, 1);
	struct relay_envelope r;
	char why[256];

	(void)state;
	report(&r);
	assert_int_equal(check_in(c, tpeer(c, 0), &r, why, sizeof(why)),
			 -RELAY_ETRUST);
	assert_string_equal(why, "report not signed (peer a pins keys)");
	report_sign(&r, a);
	assert_int_equal(check_in(c, tpeer(c, 0), &r, why, sizeof(why)),
			 0);
	r.status = RELAY_REPORT_FAILED;
	assert_int_equal(check_in(c, tpeer(c, 0), &r, why, sizeof(why)),
			 -RELAY_ETRUST);
	assert_string_equal(why, "sig: signature does not verify");
	r.status = RELAY_REPORT_DELIVERED;
	snprintf(r.via, sizeof(r.via), "carrier-2");
	assert_int_equal(check_in(c, tpeer(c, 0), &r, why, sizeof(why)),
			 -RELAY_ETRUST);
	/* signed by a node whose key is not pinned here: passed on unchecked */
	report(&r);
	report_sign(&r, d);
	assert_int_equal(check_in(c, tpeer(c, 0), &r, why, sizeof(why)),
			 0);
	cfg_free(c);
	cfg_free(d);
	cfg_free(a);
}

/* -------------------------------------------------------------- going out */

/* What a node sends for o: a shallow copy, the new `to`, the node as a hop, o applied. */
static void send_out(const struct relay_outgoing *o, const char *node_id,
		     struct relay_envelope *sent, struct relay_att **scratch)
{
	*sent = *o->env;
	if (o->to)
		sent->to = *o->to;
	sent->level = RELAY_LEVEL_NONE;
	snprintf(sent->hops[sent->n_hops++], sizeof(sent->hops[0]), "%s", node_id);
	assert_int_equal(relay_outgoing_apply(o, sent, scratch), 0);
}

/* a → b → c: a adds an owned link, b (which pins a) a relayed one and sends to a linked
 * account; c pins both and accepts what b sent. */
static void test_round_trip(void **state)
{
	struct relay_config *a = node("rt-a", NULL, 0);
	const struct pin_spec b_pins[] = {{"a", a, 0}};
	struct relay_config *b = node("rt-b", b_pins, 1);
	const struct pin_spec c_pins[] = {{"a", a, 0}, {"b", b, 0}};
	struct relay_config *c = node("rt-c", c_pins, 2);
	struct relay_envelope stored, at_b, at_c;
	struct relay_att *s1 = NULL, *s2 = NULL;
	struct route_addr linked;
	char why[256];

	(void)state;
	message(&stored);
	stored.level = RELAY_LEVEL_OWNED;
	struct relay_outgoing o1 = {.env = &stored, .rid = RID_A, .src_peer = "carrier-1"};
	assert_int_equal(relay_trust_sign_out(a, &o1, 1, NOW_MS), 0);
	assert_true(o1.add_link);
	assert_false(o1.add_rsig);
	assert_string_equal(o1.link.rid, RID_A);
	assert_string_equal(o1.link.peer, "carrier-1");
	assert_int_equal(o1.link.level, RELAY_LEVEL_OWNED);
	assert_string_equal(o1.link.to, "");
	assert_string_equal(o1.link.sig.node, "rt-a");
	assert_int_equal(o1.link.sig.n_proof, 0);
	send_out(&o1, "rt-a", &at_b, &s1);
	assert_ptr_equal(at_b.att, s1);
	assert_int_equal(at_b.n_att, 1);
	assert_int_equal(check_in(b, tpeer(b, 0), &at_b, why, sizeof(why)),
			 0);
	/* b stores it as relayed and sends it to a linked account */
	at_b.level = RELAY_LEVEL_RELAYED;
	set_addr(&linked, "bob@other.example");
	struct relay_outgoing o2 = {.env = &at_b, .rid = RID_B, .src_peer = "a", .to = &linked};
	assert_int_equal(relay_trust_sign_out(b, &o2, 1, NOW_MS + 5), 0);
	assert_true(o2.add_link);
	send_out(&o2, "rt-b", &at_c, &s2);
	assert_int_equal(at_c.n_att, 2);
	assert_string_equal(at_c.to.text, "bob@other.example");
	assert_string_equal(at_c.att[0].to, "bob@line.example"); /* what a signed */
	assert_string_equal(at_c.att[1].to, "");
	assert_string_equal(at_b.att[0].to, ""); /* the stored chain is untouched */
	assert_int_equal(check_in(c, tpeer(c, 1), &at_c, why, sizeof(why)),
			 0);
	/* without the earlier link's own `to`, a's signature no longer holds */
	at_c.att[0].to[0] = '\0';
	assert_int_equal(check_in(c, tpeer(c, 1), &at_c, why, sizeof(why)),
			 -RELAY_ETRUST);
	assert_string_equal(why, "att[0]: signature does not verify");
	/* nor does the to a linked account unless b's link says so */
	at_c.att[0].to[0] = 'b';
	at_c.to = at_b.to;
	assert_int_equal(check_in(c, tpeer(c, 1), &at_c, why, sizeof(why)),
			 -RELAY_ETRUST);
	free(s1);
	free(s2);
	cfg_free(c);
	cfg_free(b);
	cfg_free(a);
}

/* A mixed batch: messages with and without a level, reports made here and passed on; one
 * signature for all. Attestation off, or no key: nothing. */
static void test_sign_out_batch(void **state)
{
	struct relay_config *a = node("so-a", NULL, 0);
	const struct pin_spec pins[] = {{"a", a, 0}};
	struct relay_config *b = node("so-b", pins, 1);
	struct relay_envelope m[4], r_own, r_other, sent;
	struct relay_outgoing o[6];
	struct relay_att *scratch;
	char why[256];

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		message(&m[i]);
		m[i].level = i == 2 ? RELAY_LEVEL_NONE : RELAY_LEVEL_DIRECTORY;
		m[i].ts_ms += (int64_t)i;
	}
	report(&r_own);
	report(&r_other);
	memset(o, 0, sizeof(o));
	for (size_t i = 0; i < 4; i++)
		o[i] = (struct relay_outgoing){.env = &m[i], .rid = RID_A, .src_peer = "carrier-1"};
	o[4] = (struct relay_outgoing){.env = &r_own, .rid = RID_B, .src_peer = "so-a"};
	o[5] = (struct relay_outgoing){.env = &r_other, .rid = RID_B, .src_peer = "carrier-1"};
	a->trust.attest = false;
	assert_int_equal(relay_trust_sign_out(a, o, 6, NOW_MS), 0);
	for (size_t i = 0; i < 6; i++)
		assert_false(o[i].add_link || o[i].add_rsig);
	a->trust.attest = true;
	struct relay_trust *keys = a->trust.keys;
	a->trust.keys = NULL;
	assert_int_equal(relay_trust_sign_out(a, o, 6, NOW_MS), 0);
	for (size_t i = 0; i < 6; i++)
		assert_false(o[i].add_link || o[i].add_rsig);
	a->trust.keys = keys;
	assert_int_equal(relay_trust_sign_out(a, o, 6, NOW_MS), 0);
	assert_true(o[0].add_link && o[1].add_link && !o[2].add_link && o[3].add_link);
	assert_true(o[4].add_rsig && !o[5].add_rsig && !o[4].add_link);
	/* four statements, one signature: proofs of 2 */
	assert_memory_equal(o[0].link.sig.sig, o[4].rsig.sig, RELAY_SIG_LEN);
	assert_memory_equal(o[1].link.sig.sig, o[3].link.sig.sig, RELAY_SIG_LEN);
	assert_int_equal(o[0].link.sig.n_proof, 2);
	assert_int_equal(o[3].link.sig.n_proof, 2);
	assert_int_equal(o[4].rsig.n_proof, 2);
	for (size_t i = 0; i < 6; i++) {
		send_out(&o[i], "so-a", &sent, &scratch);
		assert_int_equal(sent.n_att, o[i].add_link ? 1 : 0);
		assert_true((scratch != NULL) == o[i].add_link);
		assert_int_equal(sent.has_rsig, o[i].add_rsig);
		if (o[i].add_rsig)
			assert_string_equal(sent.rsig.node, "so-a");
		int rc = check_in(b, tpeer(b, 0), &sent, why, sizeof(why));
		assert_int_equal(rc, (i == 2 || i == 5) ? -RELAY_ETRUST : 0);
		free(scratch);
	}
	/* a chain already full gets no link */
	struct relay_att full[RELAY_ATT_MAX] = {0};
	m[0].att = full;
	m[0].n_att = RELAY_ATT_MAX;
	assert_int_equal(relay_trust_sign_out(a, o, 1, NOW_MS), 0);
	assert_false(o[0].add_link);
	cfg_free(b);
	cfg_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_file),
		cmocka_unit_test(test_key_refused),
		cmocka_unit_test(test_statements),
		cmocka_unit_test(test_batches),
		cmocka_unit_test(test_batch_max),
		cmocka_unit_test(test_tamper_statement),
		cmocka_unit_test(test_tamper_sig),
		cmocka_unit_test(test_pins),
		cmocka_unit_test(test_pins_from_table),
		cmocka_unit_test(test_pin_parse),
		cmocka_unit_test(test_check_in_table_peer),
		cmocka_unit_test(test_check_in_message),
		cmocka_unit_test(test_check_in_report),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_sign_out_batch),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
