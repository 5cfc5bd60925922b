/*
 * Unit tests for the envelope v1 codec: JSON validation field by field, defaults, batches,
 * the error object, JSON and binary round trips, and the binary decoder's refusals.
 * Cases that are data live in tables; each row runs as its own cmocka test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "relay/relay.h"

#define NOW_MS  1764146615123LL
#define MAXBODY 64
#define DAY_MS  86400000LL

static const struct relay_env_limits LIM = {MAXBODY, 259200, 604800, "82", NOW_MS};

/* Pieces of envelopes. */
#define V1     "\"v\":1"
#define ID     "\"id\":\"m-1\""
#define FROM   "\"from\":\"+821012345678\""
#define TO     "\"to\":\"bob@line.example\""
#define TEXT   "\"text\":\"hi\""
#define HEAD   V1 "," ID "," FROM "," TO
#define MSG(x) "{" HEAD "," TEXT x "}"
#define REF    "01ARZ3NDEKTSV4RRFFQ69G5FAV"
#define RHEAD  HEAD ",\"kind\":\"report\""
#define REP(x) "{" RHEAD ",\"ref\":\"" REF "\",\"status\":\"delivered\",\"at\":1" x "}"
#define C8     "abcdefgh"
#define C64    C8 C8 C8 C8 C8 C8 C8 C8
#define A12    "AAAAAAAAAAAA"
#define A84    A12 A12 A12 A12 A12 A12 A12
#define HOP4   "\"n1\",\"n2\",\"n3\",\"n4\""
#define HOP16  HOP4 "," HOP4 "," HOP4 "," HOP4

/* Pieces of attestation links (att) and report signatures (sig). */
#define KID    "0123456789abcdef"
#define H64    KID KID KID KID
#define SIG    "AQIDAQIDAQIDAQIDAQIDAQIDAQIDAQIDAQIDAQIDAQIDAQIDAQIDAQIDAQIDAQIDAQIDAQIDAQID" \
	       "AQIDAQIDBA==" /* 64 bytes */
#define LN     "\"node\":\"relay-a\","
#define LR     "\"rid\":\"" REF "\","
#define LP     "\"peer\":\"kakao\","
#define LL     "\"level\":\"owned\","
#define LK     "\"kid\":\"" KID "\","
#define LA     "\"at\":5,"
#define LPR    "\"proof\":[\"l:" H64 "\"],"
#define LS     "\"sig\":\"" SIG "\""
#define LINK   "{" LN LR LP LL LK LA LPR LS "}"
#define LINK4  LINK "," LINK "," LINK "," LINK
#define LINK16 LINK4 "," LINK4 "," LINK4 "," LINK4
#define ATT(x) MSG(",\"att\":[" x "]")
#define RSIG   "{" LN LK LA LPR LS "}"
#define P4     "\"r:" H64 "\",\"l:" H64 "\",\"r:" H64 "\",\"l:" H64 "\""
#define P16    P4 "," P4 "," P4 "," P4

/* ------------------------------------------------------------ helpers */

static void *st(const void *p)
{
	return (void *)(uintptr_t)p;
}

static void assert_sig_equal(const struct relay_sig *a, const struct relay_sig *b)
{
	assert_string_equal(a->node, b->node);
	assert_string_equal(a->kid, b->kid);
	assert_true(a->at_ms == b->at_ms);
	assert_int_equal(a->n_proof, b->n_proof);
	for (size_t i = 0; i < a->n_proof; i++) {
		assert_int_equal(a->proof[i].left, b->proof[i].left);
		assert_memory_equal(a->proof[i].hash, b->proof[i].hash, RELAY_HASH_LEN);
	}
	assert_memory_equal(a->sig, b->sig, RELAY_SIG_LEN);
}

static void assert_env_equal(const struct relay_envelope *a, const struct relay_envelope *b)
{
	assert_int_equal(a->kind, b->kind);
	assert_string_equal(a->id, b->id);
	assert_string_equal(a->rid, b->rid);
	assert_int_equal(a->from.kind, b->from.kind);
	assert_int_equal(a->from.len, b->from.len);
	assert_string_equal(a->from.text, b->from.text);
	assert_int_equal(a->to.kind, b->to.kind);
	assert_int_equal(a->to.len, b->to.len);
	assert_string_equal(a->to.text, b->to.text);
	assert_true(a->ts_ms == b->ts_ms);
	assert_int_equal(a->ttl_s, b->ttl_s);
	assert_string_equal(a->type, b->type);
	assert_int_equal(a->is_text, b->is_text);
	assert_int_equal(a->body_len, b->body_len);
	if (a->body_len)
		assert_memory_equal(a->body, b->body, a->body_len);
	assert_int_equal(a->dlr, b->dlr);
	assert_int_equal(a->prio, b->prio);
	assert_int_equal(a->n_hops, b->n_hops);
	for (size_t i = 0; i < a->n_hops; i++)
		assert_string_equal(a->hops[i], b->hops[i]);
	assert_string_equal(a->ref, b->ref);
	assert_int_equal(a->status, b->status);
	assert_string_equal(a->reason, b->reason);
	assert_true(a->at_ms == b->at_ms);
	assert_string_equal(a->via, b->via);
	assert_int_equal(a->has_rsig, b->has_rsig);
	if (a->has_rsig)
		assert_sig_equal(&a->rsig, &b->rsig);
	assert_int_equal(a->n_att, b->n_att);
	assert_true(a->n_att == 0 || (a->att && b->att));
	for (size_t i = 0; i < a->n_att; i++) {
		assert_string_equal(a->att[i].rid, b->att[i].rid);
		assert_string_equal(a->att[i].peer, b->att[i].peer);
		assert_int_equal(a->att[i].level, b->att[i].level);
		assert_string_equal(a->att[i].to, b->att[i].to);
		assert_sig_equal(&a->att[i].sig, &b->att[i].sig);
	}
}

static void parse_ok(const char *json, const struct relay_env_limits *lim,
		     struct relay_envelope *env)
{
	struct relay_env_error err;
	int rc = relay_envelope_parse(json, strlen(json), lim, env, &err);

	if (rc)
		fail_msg("%s: %s %s %s", json, err.code, err.field, err.reason);
	assert_null(err.code);
}

static void assert_err(const struct relay_env_error *err, const char *code, const char *field,
		       const char *reason)
{
	assert_non_null(err->code);
	assert_string_equal(err->code, code);
	assert_string_equal(err->field, field);
	if (!strstr(err->reason, reason))
		fail_msg("reason \"%s\" lacks \"%s\"", err->reason, reason);
}

/* ------------------------------------------------------- refused input */

struct bad_case {
	const char *name;
	const char *json;
	int rc;
	const char *code;
	const char *field;
	const char *reason; /* a substring of the reason */
	const char *addr;   /* from/to cases: the reason is route_strerror of this input */
};

#define FIELD(n, json, field, why) {n, json, -RELAY_EFIELD, "bad_field", field, why, NULL}
#define BIG(n, json, field)        {n, json, -RELAY_ETOOBIG, "too_large", field, "64 bytes", NULL}
#define JSON(n, json, why)         {n, json, -RELAY_EJSON, "bad_json", "", why, NULL}
#define ADDR(n, json, field, addr) {n, json, -RELAY_EFIELD, "bad_field", field, "", addr}

/* 34 more members (k0..k63): a big object's duplicates are found by sorting its keys. */
#define K4(n)  ",\"k" #n "0\":1,\"k" #n "1\":1,\"k" #n "2\":1,\"k" #n "3\":1"
#define BIGOBJ ",\"k0\":1,\"k1\":1,\"k2\":1,\"k3\":1,\"k4\":1,\"k5\":1,\"k6\":1,\"k7\":1" \
	",\"k8\":1,\"k9\":1" K4(1) K4(2) K4(3) K4(4) K4(5) K4(6)
/* 64 arrays in the object: the value at 65 levels */
#define DEEP8  "[[[[[[[["
#define DEEP64 DEEP8 DEEP8 DEEP8 DEEP8 DEEP8 DEEP8 DEEP8 DEEP8

static const struct bad_case bad_cases[] = {
	FIELD("v missing", "{" ID "," FROM "," TO "," TEXT "}", "v", "is required"),
	FIELD("v 2", "{\"v\":2," ID "," FROM "," TO "," TEXT "}", "v", "unsupported version"),
	FIELD("v string", "{\"v\":\"1\"," ID "," FROM "," TO "," TEXT "}", "v",
	      "must be an integer"),
	FIELD("v real", "{\"v\":1.0," ID "," FROM "," TO "," TEXT "}", "v", "must be an integer"),
	FIELD("v 2 beats unknown", "{\"v\":2,\"new\":1}", "v", "unsupported version"),
	FIELD("id missing", "{" V1 "," FROM "," TO "," TEXT "}", "id", "is required"),
	FIELD("id empty", "{" V1 ",\"id\":\"\"," FROM "," TO "," TEXT "}", "id", "1-64 characters"),
	FIELD("id 65", "{" V1 ",\"id\":\"" C64 "x\"," FROM "," TO "," TEXT "}", "id", "1-64"),
	FIELD("id space", "{" V1 ",\"id\":\"a b\"," FROM "," TO "," TEXT "}", "id", "1-64"),
	FIELD("id slash", "{" V1 ",\"id\":\"a/b\"," FROM "," TO "," TEXT "}", "id", "1-64"),
	FIELD("id number", "{" V1 ",\"id\":5," FROM "," TO "," TEXT "}", "id", "must be a string"),
	FIELD("id NUL", "{" V1 ",\"id\":\"a\\u0000\"," FROM "," TO "," TEXT "}", "id",
	      "must not contain NUL"),
	FIELD("from missing", "{" V1 "," ID "," TO "," TEXT "}", "from", "is required"),
	ADDR("from no prefix", "{" V1 "," ID ",\"from\":\"12345\"," TO "," TEXT "}", "from",
	     "12345"),
	ADDR("from +0", "{" V1 "," ID ",\"from\":\"+0123\"," TO "," TEXT "}", "from", "+0123"),
	ADDR("from 16 digits", "{" V1 "," ID ",\"from\":\"+1234567890123456\"," TO "," TEXT "}",
	     "from", "+1234567890123456"),
	FIELD("from null", "{" V1 "," ID ",\"from\":null," TO "," TEXT "}", "from",
	      "must be a string"),
	FIELD("to missing", "{" V1 "," ID "," FROM "," TEXT "}", "to", "is required"),
	ADDR("to two @", "{" V1 "," ID "," FROM ",\"to\":\"a@@b.example\"," TEXT "}", "to",
	     "a@@b.example"),
	ADDR("to bad domain", "{" V1 "," ID "," FROM ",\"to\":\"a@-b.example\"," TEXT "}", "to",
	     "a@-b.example"),
	ADDR("to empty", "{" V1 "," ID "," FROM ",\"to\":\"\"," TEXT "}", "to", ""),
	FIELD("to number", "{" V1 "," ID "," FROM ",\"to\":7," TEXT "}", "to", "must be a string"),
	FIELD("ts negative", MSG(",\"ts\":-1"), "ts", ">= 0"),
	FIELD("ts a day and 1 ms ahead", MSG(",\"ts\":1764233015124"), "ts", "in the future"),
	FIELD("ts string", MSG(",\"ts\":\"1\""), "ts", "must be an integer"),
	FIELD("ts real", MSG(",\"ts\":1.5"), "ts", "must be an integer"),
	FIELD("ttl 0", MSG(",\"ttl\":0"), "ttl", "1 to 604800 seconds"),
	FIELD("ttl over max", MSG(",\"ttl\":604801"), "ttl", "604800"),
	FIELD("ttl boolean", MSG(",\"ttl\":true"), "ttl", "must be an integer"),
	FIELD("ttl null", MSG(",\"ttl\":null"), "ttl", "must be an integer"),
	FIELD("type empty", MSG(",\"type\":\"\""), "type", "media type"),
	FIELD("type no slash", MSG(",\"type\":\"textplain\""), "type", "media type"),
	FIELD("type 128", MSG(",\"type\":\"text/" C64 C8 C8 C8 C8 C8 C8 C8 "abc\""), "type",
	      "1-127"),
	FIELD("type tab", MSG(",\"type\":\"text/\\tplain\""), "type", "printable"),
	FIELD("type non-ASCII", MSG(",\"type\":\"text/pl\\u00e4in\""), "type", "printable"),
	FIELD("type number", MSG(",\"type\":1"), "type", "must be a string"),
	FIELD("neither text nor body", "{" HEAD "}", "text", "text or body is required"),
	FIELD("text and body", MSG(",\"body\":\"QQ==\""), "body", "text and body are exclusive"),
	FIELD("text number", "{" HEAD ",\"text\":1}", "text", "must be a string"),
	FIELD("text NUL", "{" HEAD ",\"text\":\"a\\u0000b\"}", "text", "must not contain NUL"),
	BIG("text 65 bytes", "{" HEAD ",\"text\":\"" C64 "x\"}", "text"),
	BIG("text 33 two-byte chars", "{" HEAD ",\"text\":\"" "\\u00e4\\u00e4\\u00e4\\u00e4"
	    "\\u00e4\\u00e4\\u00e4\\u00e4\\u00e4\\u00e4\\u00e4\\u00e4\\u00e4\\u00e4\\u00e4\\u00e4"
	    "\\u00e4\\u00e4\\u00e4\\u00e4\\u00e4\\u00e4\\u00e4\\u00e4\\u00e4\\u00e4\\u00e4\\u00e4"
	    "\\u00e4\\u00e4\\u00e4\\u00e4\\u00e4\"}", "text"),
	FIELD("body unpadded", "{" HEAD ",\"body\":\"QQ\"}", "body", "base64"),
	FIELD("body 3 chars", "{" HEAD ",\"body\":\"QQ=\"}", "body", "base64"),
	FIELD("body newline", "{" HEAD ",\"body\":\"QQ==\\n\"}", "body", "base64"),
	FIELD("body space", "{" HEAD ",\"body\":\"QU JD\"}", "body", "base64"),
	FIELD("body triple pad", "{" HEAD ",\"body\":\"Q===\"}", "body", "base64"),
	FIELD("body all pad", "{" HEAD ",\"body\":\"====\"}", "body", "base64"),
	FIELD("body pad inside", "{" HEAD ",\"body\":\"QQ==QUJD\"}", "body", "base64"),
	FIELD("body pad then data", "{" HEAD ",\"body\":\"QQ=A\"}", "body", "base64"),
	FIELD("body non-canonical", "{" HEAD ",\"body\":\"QR==\"}", "body", "base64"),
	FIELD("body non-canonical 2", "{" HEAD ",\"body\":\"QUJ=\"}", "body", "base64"),
	FIELD("body url alphabet", "{" HEAD ",\"body\":\"-_8=\"}", "body", "base64"),
	FIELD("body number", "{" HEAD ",\"body\":5}", "body", "must be a string"),
	BIG("body 65 bytes", "{" HEAD ",\"body\":\"" A84 "AAA=\"}", "body"),
	FIELD("dlr string", MSG(",\"dlr\":\"yes\""), "dlr", "must be true or false"),
	FIELD("dlr number", MSG(",\"dlr\":1"), "dlr", "must be true or false"),
	FIELD("prio 4", MSG(",\"prio\":4"), "prio", "0 (bulk) to 3 (urgent)"),
	FIELD("prio -1", MSG(",\"prio\":-1"), "prio", "0 (bulk) to 3"),
	FIELD("prio string", MSG(",\"prio\":\"1\""), "prio", "must be an integer"),
	FIELD("hops 17", MSG(",\"hops\":[" HOP16 ",\"n17\"]"), "hops", "at most 16"),
	FIELD("hops space", MSG(",\"hops\":[\"a\",\"a b\"]"), "hops", "element 1 is not a node id"),
	FIELD("hops colon", MSG(",\"hops\":[\"a:b\"]"), "hops", "element 0"),
	FIELD("hops empty id", MSG(",\"hops\":[\"\"]"), "hops", "element 0"),
	FIELD("hops 65", MSG(",\"hops\":[\"" C64 "x\"]"), "hops", "element 0"),
	FIELD("hops number", MSG(",\"hops\":[1]"), "hops", "element 0"),
	FIELD("hops NUL", MSG(",\"hops\":[\"a\\u0000\"]"), "hops", "element 0"),
	FIELD("hops string", MSG(",\"hops\":\"a\""), "hops", "must be an array"),
	FIELD("rid 25", MSG(",\"rid\":\"01ARZ3NDEKTSV4RRFFQ69G5FA\""), "rid", "26 upper-case"),
	FIELD("rid 27", MSG(",\"rid\":\"01ARZ3NDEKTSV4RRFFQ69G5FAVV\""), "rid", "Crockford"),
	FIELD("rid lower", MSG(",\"rid\":\"01arz3ndektsv4rrffq69g5fav\""), "rid", "upper-case"),
	FIELD("rid letter I", MSG(",\"rid\":\"01IRZ3NDEKTSV4RRFFQ69G5FAV\""), "rid", "Crockford"),
	FIELD("rid letter U", MSG(",\"rid\":\"01URZ3NDEKTSV4RRFFQ69G5FAV\""), "rid", "Crockford"),
	FIELD("kind other", MSG(",\"kind\":\"msg\""), "kind", "\"message\" or \"report\""),
	FIELD("kind number", MSG(",\"kind\":1"), "kind", "must be a string"),
	FIELD("report without ref", "{" RHEAD ",\"status\":\"failed\",\"at\":1}", "ref",
	      "is required"),
	FIELD("report without status", "{" RHEAD ",\"ref\":\"" REF "\",\"at\":1}", "status",
	      "is required"),
	FIELD("report without at", "{" RHEAD ",\"ref\":\"" REF "\",\"status\":\"failed\"}", "at",
	      "is required"),
	FIELD("report status ok", "{" RHEAD ",\"ref\":\"" REF "\",\"status\":\"ok\",\"at\":1}",
	      "status", "\"delivered\", \"expired\" or \"failed\""),
	FIELD("report ref short", "{" RHEAD ",\"ref\":\"01ARZ\",\"status\":\"failed\",\"at\":1}",
	      "ref", "Crockford"),
	FIELD("report reason 256", REP(",\"reason\":\"" C64 C64 C64 C64 "x\""), "reason",
	      "at most 255 bytes"),
	FIELD("report reason number", REP(",\"reason\":3"), "reason", "must be a string"),
	FIELD("report at -1", "{" RHEAD ",\"ref\":\"" REF "\",\"status\":\"failed\",\"at\":-1}",
	      "at", ">= 0"),
	FIELD("report with text", REP(",\"text\":\"x\""), "text", "a report has no body"),
	FIELD("report with body", REP(",\"body\":\"QQ==\""), "body", "a report has no body"),
	FIELD("message with ref", MSG(",\"ref\":\"" REF "\""), "ref", "only in a report"),
	FIELD("message with status", MSG(",\"status\":\"failed\""), "status", "only in a report"),
	FIELD("message with reason", MSG(",\"reason\":\"x\""), "reason", "only in a report"),
	FIELD("message with at", MSG(",\"at\":1"), "at", "only in a report"),
	FIELD("unknown field", "{" HEAD ",\"txt\":\"hi\"}", "txt", "unknown field"),
	FIELD("unknown field cut to 31", MSG(",\"" C8 C8 C8 C8 C8 "\":1"), C8 C8 C8 "abcdefg",
	      "unknown field"),
	FIELD("unknown non-ASCII field", MSG(",\"t\\u00e9xt\":1"), "t??xt", "unknown field"),
	JSON("duplicate key", "{" HEAD "," TEXT "," TEXT "}", "duplicate object key"),
	FIELD("att not an array", MSG(",\"att\":{}"), "att", "must be an array"),
	FIELD("att empty", ATT(""), "att", "must hold 1 to 16 links"),
	FIELD("att 17 links", ATT(LINK16 "," LINK), "att", "must hold 1 to 16 links"),
	FIELD("att link not an object", ATT(LINK ",1"), "att", "att[1]: must be an object"),
	FIELD("att unknown member", ATT("{" LN LR LP LL LK LA LPR LS ",\"x\":1}"), "att",
	      "att[0].x: unknown member"),
	FIELD("att level on the wire is not env level", ATT("{" LN LR LP LL LK LA LPR LS
	      ",\"ts\":1}"), "att", "att[0].ts: unknown member"),
	FIELD("att node missing", ATT("{" LR LP LL LK LA LPR LS "}"), "att",
	      "att[0].node: is required"),
	FIELD("att node bad", ATT("{\"node\":\"a:b\"," LR LP LL LK LA LPR LS "}"), "att",
	      "att[0].node: must be a node id"),
	FIELD("att node NUL", ATT("{\"node\":\"a\\u0000b\"," LR LP LL LK LA LPR LS "}"), "att",
	      "att[0].node: must not contain NUL"),
	FIELD("att node number", ATT("{\"node\":1," LR LP LL LK LA LPR LS "}"), "att",
	      "att[0].node: must be a string"),
	FIELD("att rid missing", ATT("{" LN LP LL LK LA LPR LS "}"), "att",
	      "att[0].rid: is required"),
	FIELD("att rid bad", ATT("{" LN "\"rid\":\"01arz\"," LP LL LK LA LPR LS "}"), "att",
	      "att[0].rid: must be 26 upper-case"),
	FIELD("att peer empty", ATT("{" LN LR "\"peer\":\"\"," LL LK LA LPR LS "}"), "att",
	      "att[0].peer: must be a peer name"),
	FIELD("att peer missing", ATT("{" LN LR LL LK LA LPR LS "}"), "att",
	      "att[0].peer: is required"),
	FIELD("att level none", ATT("{" LN LR LP "\"level\":\"\"," LK LA LPR LS "}"), "att",
	      "att[0].level: must be \"owned\", \"directory\" or \"relayed\""),
	FIELD("att level upper", ATT("{" LN LR LP "\"level\":\"Owned\"," LK LA LPR LS "}"),
	      "att", "att[0].level: must be"),
	FIELD("att level missing", ATT("{" LN LR LP LK LA LPR LS "}"), "att",
	      "att[0].level: is required"),
	FIELD("att to not normal", ATT("{" LN LR LP LL "\"to\":\"Bob@line.example\"," LK LA LPR
	      LS "}"), "att", "att[0].to: must be an address in normal form"),
	FIELD("att to national", ATT("{" LN LR LP LL "\"to\":\"01012345678\"," LK LA LPR LS "}"),
	      "att", "att[0].to: "),
	FIELD("att to empty", ATT("{" LN LR LP LL "\"to\":\"\"," LK LA LPR LS "}"), "att",
	      "att[0].to: "),
	FIELD("att kid upper", ATT("{" LN LR LP LL "\"kid\":\"0123456789ABCDEF\"," LA LPR LS "}"),
	      "att", "att[0].kid: must be 16 lower-case hex digits"),
	FIELD("att kid 15", ATT("{" LN LR LP LL "\"kid\":\"0123456789abcde\"," LA LPR LS "}"),
	      "att", "att[0].kid: must be 16 lower-case hex digits"),
	FIELD("att kid missing", ATT("{" LN LR LP LL LA LPR LS "}"), "att",
	      "att[0].kid: is required"),
	FIELD("att at negative", ATT("{" LN LR LP LL LK "\"at\":-1," LPR LS "}"), "att",
	      "att[0].at: must be >= 0"),
	FIELD("att at string", ATT("{" LN LR LP LL LK "\"at\":\"5\"," LPR LS "}"), "att",
	      "att[0].at: must be an integer"),
	FIELD("att at missing", ATT("{" LN LR LP LL LK LPR LS "}"), "att",
	      "att[0].at: is required"),
	FIELD("att proof missing", ATT("{" LN LR LP LL LK LA LS "}"), "att",
	      "att[0].proof: is required"),
	FIELD("att proof string", ATT("{" LN LR LP LL LK LA "\"proof\":\"\"," LS "}"), "att",
	      "att[0].proof: must be an array"),
	FIELD("att proof 17", ATT("{" LN LR LP LL LK LA "\"proof\":[" P16 ",\"l:" H64 "\"]," LS
	      "}"), "att", "att[0].proof: must hold at most 16 steps"),
	FIELD("att proof side x", ATT("{" LN LR LP LL LK LA "\"proof\":[\"x:" H64 "\"]," LS "}"),
	      "att", "att[0].proof[0]: must be \"l:\" or \"r:\""),
	FIELD("att proof upper hex", ATT("{" LN LR LP LL LK LA "\"proof\":[" P4 ",\"l:" KID KID KID
	      "0123456789ABCDEF\"]," LS "}"), "att", "att[0].proof[4]: must be"),
	FIELD("att proof short", ATT("{" LN LR LP LL LK LA "\"proof\":[\"l:" KID "\"]," LS "}"),
	      "att", "att[0].proof[0]: must be"),
	FIELD("att proof number", ATT("{" LN LR LP LL LK LA "\"proof\":[1]," LS "}"), "att",
	      "att[0].proof[0]: must be"),
	FIELD("att sig missing", ATT("{" LN LR LP LL LK LA "\"proof\":[]}"), "att",
	      "att[0].sig: is required"),
	FIELD("att sig 63 bytes", ATT(LINK ",{" LN LR LP LL LK LA LPR "\"sig\":\"" A84 "\"}"),
	      "att", "att[1].sig: not base64 of 64 bytes"),
	FIELD("att sig not base64", ATT("{" LN LR LP LL LK LA LPR "\"sig\":\"" A84 "A!==\"}"),
	      "att", "att[0].sig: not base64 of 64 bytes"),
	FIELD("att sig unpadded", ATT("{" LN LR LP LL LK LA LPR "\"sig\":\"" A84 "AA\"}"), "att",
	      "att[0].sig: not base64 of 64 bytes"),
	FIELD("att sig bits left", ATT("{" LN LR LP LL LK LA LPR "\"sig\":\"" A84 "AB==\"}"),
	      "att", "att[0].sig: not base64 of 64 bytes"),
	FIELD("att in a report", REP(",\"att\":[" LINK "]"), "att", "only in a message"),
	FIELD("via in a message", MSG(",\"via\":\"kakao\""), "via", "only in a report"),
	FIELD("sig in a message", MSG(",\"sig\":" RSIG), "sig", "only in a report"),
	FIELD("via bad", REP(",\"via\":\"a b\""), "via", "must be a peer name"),
	FIELD("via empty", REP(",\"via\":\"\""), "via", "must be a peer name"),
	FIELD("via number", REP(",\"via\":1"), "via", "must be a string"),
	FIELD("sig not an object", REP(",\"sig\":[]"), "sig", "must be an object"),
	FIELD("sig with rid", REP(",\"sig\":{" LN LR LK LA LPR LS "}"), "sig",
	      "sig.rid: unknown member"),
	FIELD("sig kid missing", REP(",\"sig\":{" LN LA LPR LS "}"), "sig",
	      "sig.kid: is required"),
	FIELD("sig node bad", REP(",\"sig\":{\"node\":\"\"," LK LA LPR LS "}"), "sig",
	      "sig.node: must be a node id"),
	FIELD("sig sig bad", REP(",\"sig\":{" LN LK LA LPR "\"sig\":\"AAAA\"}"), "sig",
	      "sig.sig: not base64 of 64 bytes"),
	JSON("malformed", "{\"v\":1,", "string expected (line 1, column 7)"),
	JSON("malformed, line 2", "{\"v\":1,\n \"id\" 1}", "':' expected (line 2, column 7)"),
	JSON("trailing comma", MSG(","), "string expected"),
	JSON("leading zero", MSG(",\"ts\":01"), "leading zeros are not allowed"),
	JSON("trailing garbage", MSG("") " x", "end of file expected"),
	JSON("invalid UTF-8", "{" HEAD ",\"text\":\"\xff\"}", "invalid UTF-8 byte \\xff (line 1,"),
	JSON("overlong UTF-8", "{" HEAD ",\"text\":\"\xc0\xaf\"}", "invalid UTF-8 byte \\xc0"),
	JSON("lone surrogate", "{" HEAD ",\"text\":\"\\ud800\"}", "lone high surrogate"),
	JSON("empty input", "", "value expected (line 1, column 0)"),
	JSON("text not quoted in errors", "{" HEAD ",\"text\":\"secret\x01\"}",
	     "control character"),
	JSON("text not quoted, cut", "{" HEAD ",\"text\":\"secret", "premature end of input"),
	JSON("array for one", "[" MSG("") "]", "must be a JSON object"),
	JSON("scalar", "1", "must be a JSON object"),
	/* beyond int64, a number is a real: the field says it must be an integer */
	FIELD("big integer", MSG(",\"ts\":99999999999999999999"), "ts", "must be an integer"),
	FIELD("NUL in a key", MSG(",\"t\\u0000x\":1"), "t?x", "unknown field"),
	JSON("duplicate key, not quoted", "{" HEAD "," TEXT ",\"text\":\"secret\"}",
	     "duplicate object key (line 1, column 78)"),
	JSON("duplicate key in a big object", "{" HEAD "," TEXT BIGOBJ ",\"k63\":1}",
	     "duplicate object key"),
	JSON("nested too deep", MSG(",\"x\":" DEEP64), "nested deeper than 64"),
};

static void test_bad(void **state)
{
	const struct bad_case *c = *state;
	struct relay_envelope env;
	struct relay_env_error err;
	int rc;

	memset(&env, 0x5a, sizeof env);
	rc = relay_envelope_parse(c->json, strlen(c->json), &LIM, &env, &err);
	assert_int_equal(rc, c->rc);
	assert_err(&err, c->code, c->field, c->reason);
	assert_null(strstr(err.reason, "secret")); /* message content stays out of errors */
	if (c->addr) {
		struct route_addr a;
		int arc = route_addr_parse(c->addr, strlen(c->addr), LIM.default_country, &a);

		assert_int_not_equal(arc, 0);
		assert_int_equal(strncmp(err.reason, route_strerror(arc), sizeof err.reason - 1),
				 0);
	}
	assert_null(env.body); /* nothing to free after a failure */
	assert_int_equal(env.n_hops, 0);
	assert_null(env.att);
	assert_int_equal(env.n_att, 0);
}

/* ---------------------------------------------- accepted input, round trips */

/* JSON -> struct -> JSON -> struct, and struct -> binary -> struct -> binary. */
static void round_trips(const struct relay_envelope *env, const struct relay_env_limits *lim)
{
	struct relay_envelope again, back;
	unsigned char *rec, *rec2;
	size_t len, n, n2;
	char *json = relay_envelope_to_json(env, &len);
	char *json2;

	assert_non_null(json);
	assert_int_equal(strlen(json), len);
	parse_ok(json, lim, &again);
	assert_env_equal(env, &again);
	json2 = relay_envelope_to_json(&again, NULL);
	assert_string_equal(json, json2); /* stable output */
	assert_int_equal(relay_envelope_encode(env, &rec, &n), 0);
	assert_int_equal(rec[0], 1);
	assert_int_equal(relay_envelope_decode(rec, n, &back), 0);
	assert_env_equal(env, &back);
	assert_int_equal(relay_envelope_encode(&back, &rec2, &n2), 0);
	assert_int_equal(n, n2);
	assert_memory_equal(rec, rec2, n);
	free(rec);
	free(rec2);
	free(json);
	free(json2);
	relay_envelope_clear(&again);
	relay_envelope_clear(&back);
}

#define EVERY_FIELD                                                                          \
	"{" V1 ",\"id\":\"A-z.0_9:x\",\"rid\":\"" REF "\"," FROM "," TO ",\"ts\":1,\"ttl\":60," \
	"\"type\":\"application/octet-stream\",\"body\":\"AAEC/w==\",\"dlr\":true,\"prio\":3,"     \
	"\"hops\":[\"relay-a.example\",\"B_2\"]}"
#define REPORT_EXPIRED                                                                       \
	"{" RHEAD ",\"ref\":\"" REF "\",\"status\":\"expired\",\"reason\":\"ttl ran out\","        \
	"\"at\":1764146615000,\"hops\":[\"r1\"],\"rid\":\"" REF "\"}"

struct good_case {
	const char *name;
	const char *json;
};

static const struct good_case good_cases[] = {
	{"minimal message", MSG("")},
	{"every message field", EVERY_FIELD},
	{"text exactly at the limit", "{" HEAD ",\"text\":\"" C64 "\"}"},
	{"text of 32 two-byte chars", "{" HEAD ",\"text\":\"ääääääääääääääääääääääääääääääää\"}"},
	{"body exactly at the limit", "{" HEAD ",\"body\":\"" A84 "AA==\"}"},
	{"empty text", "{" HEAD ",\"text\":\"\"}"},
	{"empty body", "{" HEAD ",\"body\":\"\"}"},
	{"body one byte", "{" HEAD ",\"body\":\"/w==\"}"},
	{"body two bytes", "{" HEAD ",\"body\":\"//8=\"}"},
	{"body three bytes", "{" HEAD ",\"body\":\"AP8A\"}"},
	{"text with escapes", "{" HEAD ",\"text\":\"line\\nTab\\t\\\"q\\\" \\ud83d\\ude00\"}"},
	{"ts 0", MSG(",\"ts\":0")},
	{"ts exactly a day ahead", MSG(",\"ts\":1764233015123")},
	{"ttl 1", MSG(",\"ttl\":1")},
	{"ttl at max", MSG(",\"ttl\":604800")},
	{"prio 0", MSG(",\"prio\":0")},
	{"type 127", MSG(",\"type\":\"text/" C64 C8 C8 C8 C8 C8 C8 C8 "ab\"")},
	{"id 64", "{" V1 ",\"id\":\"" C64 "\"," FROM "," TO "," TEXT "}"},
	{"16 hops", MSG(",\"hops\":[" HOP16 "]")},
	{"hop of 64", MSG(",\"hops\":[\"" C64 "\"]")},
	{"kind message", MSG(",\"kind\":\"message\"")},
	{"dlr false", MSG(",\"dlr\":false")},
	{"report minimal", REP("")},
	{"report expired with reason", REPORT_EXPIRED},
	{"report failed reason 255", "{" RHEAD ",\"ref\":\"" REF "\",\"status\":\"failed\","
	 "\"at\":0,\"reason\":\"" C64 C64 C64 C8 C8 C8 C8 C8 C8 C8 "abcdefg\"}"},
	{"report empty reason", REP(",\"reason\":\"\"")},
	{"handle to handle", "{" V1 "," ID ",\"from\":\"ann@kakao.example\"," TO "," TEXT "}"},
	{"keys in any order", "{" TEXT "," TO "," FROM "," ID "," V1 "}"},
	{"att one link", ATT(LINK)},
	{"att two links, to and empty proof",
	 ATT(LINK ",{" LN LR LP "\"level\":\"relayed\",\"to\":\"+821099998888\"," LK LA
	     "\"proof\":[]," LS "}")},
	{"att directory, members in any order",
	 ATT("{" LS "," LPR LA LK "\"level\":\"directory\"," LP LR "\"node\":\"n._-9\"}")},
	{"att 16 links", ATT(LINK16)},
	{"att 16 proof steps", ATT("{" LN LR LP LL LK "\"at\":0,\"proof\":[" P16 "]," LS "}")},
	{"report via", REP(",\"via\":\"kakao\"")},
	{"report sig", REP(",\"sig\":" RSIG)},
	{"report via and sig", REP(",\"sig\":" RSIG ",\"via\":\"" C64 "\"")},
};

static void test_good(void **state)
{
	const struct good_case *c = *state;
	struct relay_envelope env;

	parse_ok(c->json, &LIM, &env);
	round_trips(&env, &LIM);
	relay_envelope_clear(&env);
	assert_null(env.body);
}

static void test_defaults(void **state)
{
	struct relay_envelope env;

	(void)state;
	parse_ok(MSG(""), &LIM, &env);
	assert_int_equal(env.kind, RELAY_ENV_MESSAGE);
	assert_string_equal(env.id, "m-1");
	assert_string_equal(env.rid, "");
	assert_int_equal(env.from.kind, ROUTE_ADDR_E164);
	assert_string_equal(env.from.text, "+821012345678");
	assert_int_equal(env.to.kind, ROUTE_ADDR_HANDLE);
	assert_string_equal(env.to.text, "bob@line.example");
	assert_true(env.ts_ms == NOW_MS);
	assert_int_equal(env.ttl_s, LIM.default_ttl_s);
	assert_string_equal(env.type, RELAY_ENV_DEFAULT_TYPE);
	assert_true(env.is_text);
	assert_int_equal(env.body_len, 2);
	assert_memory_equal(env.body, "hi", 2);
	assert_false(env.dlr);
	assert_int_equal(env.prio, 1);
	assert_int_equal(env.n_hops, 0);
	relay_envelope_clear(&env);
}

static void test_every_field(void **state)
{
	struct relay_envelope env;

	(void)state;
	parse_ok(EVERY_FIELD, &LIM, &env);
	assert_string_equal(env.id, "A-z.0_9:x");
	assert_string_equal(env.rid, REF);
	assert_true(env.ts_ms == 1);
	assert_int_equal(env.ttl_s, 60);
	assert_string_equal(env.type, "application/octet-stream");
	assert_false(env.is_text);
	assert_int_equal(env.body_len, 4);
	assert_memory_equal(env.body, "\x00\x01\x02\xff", 4);
	assert_true(env.dlr);
	assert_int_equal(env.prio, 3);
	assert_int_equal(env.n_hops, 2);
	assert_string_equal(env.hops[0], "relay-a.example");
	assert_string_equal(env.hops[1], "B_2");
	relay_envelope_clear(&env);
}

static void test_report_fields(void **state)
{
	struct relay_envelope env;

	(void)state;
	parse_ok(REPORT_EXPIRED, &LIM, &env);
	assert_int_equal(env.kind, RELAY_ENV_REPORT);
	assert_string_equal(env.ref, REF);
	assert_int_equal(env.status, RELAY_REPORT_EXPIRED);
	assert_string_equal(env.reason, "ttl ran out");
	assert_true(env.at_ms == 1764146615000LL);
	assert_null(env.body);
	assert_int_equal(env.body_len, 0);
	relay_envelope_clear(&env);
}

static void test_national_number(void **state)
{
	struct relay_env_limits lim = LIM;
	struct relay_envelope env;
	struct relay_env_error err;
	const char *json = "{" V1 "," ID ",\"from\":\"010-1234-5678\",\"to\":\"Bob@Line.Example\","
			   TEXT "}";

	(void)state;
	parse_ok(json, &lim, &env);
	assert_string_equal(env.from.text, "+821012345678");
	assert_string_equal(env.to.text, "bob@line.example");
	relay_envelope_clear(&env);
	lim.default_country = NULL;
	assert_int_equal(relay_envelope_parse(json, strlen(json), &lim, &env, &err), -RELAY_EFIELD);
	assert_err(&err, "bad_field", "from", route_strerror(-ROUTE_ENATIONAL));
}

static void test_body_bytes(void **state)
{
	static const struct {
		const char *b64;
		const char *bytes;
		size_t len;
	} cases[] = {
		{"", "", 0},
		{"QQ==", "A", 1},
		{"QUI=", "AB", 2},
		{"QUJD", "ABC", 3},
		{"AAEC/w==", "\x00\x01\x02\xff", 4},
		{"+/+/", "\xfb\xff\xbf", 3},
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char json[256];
		struct relay_envelope env;

		snprintf(json, sizeof json, "{" HEAD ",\"body\":\"%s\"}", cases[i].b64);
		parse_ok(json, &LIM, &env);
		assert_false(env.is_text);
		assert_non_null(env.body);
		assert_int_equal(env.body_len, cases[i].len);
		assert_memory_equal(env.body, cases[i].bytes, cases[i].len);
		relay_envelope_clear(&env);
	}
}

static void test_to_json_exact(void **state)
{
	struct relay_envelope env;
	char *json;

	(void)state;
	parse_ok("{\"prio\":2," TO "," FROM ",\"hops\":[\"a\"]," ID "," V1 ",\"body\":\"QQ==\"}",
		 &LIM, &env);
	json = relay_envelope_to_json(&env, NULL);
	assert_string_equal(json, "{\"v\":1,\"id\":\"m-1\",\"from\":\"+821012345678\","
			    "\"to\":\"bob@line.example\",\"ts\":1764146615123,\"ttl\":259200,"
			    "\"type\":\"text/plain; charset=utf-8\",\"body\":\"QQ==\","
			    "\"dlr\":false,\"prio\":2,\"hops\":[\"a\"]}");
	free(json);
	relay_envelope_clear(&env);
	parse_ok(REP(",\"rid\":\"" REF "\""), &LIM, &env);
	json = relay_envelope_to_json(&env, NULL);
	assert_string_equal(json, "{\"v\":1,\"id\":\"m-1\",\"rid\":\"" REF "\",\"kind\":\"report\","
			    "\"from\":\"+821012345678\",\"to\":\"bob@line.example\","
			    "\"ts\":1764146615123,\"ttl\":259200,"
			    "\"type\":\"text/plain; charset=utf-8\",\"dlr\":false,\"prio\":1,"
			    "\"hops\":[],\"ref\":\"" REF "\",\"status\":\"delivered\",\"at\":1}");
	free(json);
	relay_envelope_clear(&env);
}

/* att, via and sig are written after the other fields, their members in the spec's order. */
static void test_trust_json_exact(void **state)
{
	struct relay_envelope env;
	char *json;

	(void)state;
	parse_ok(ATT("{" LS "," LPR LA LK "\"to\":\"+821099998888\"," LL LP LR
		     "\"node\":\"relay-a\"}"), &LIM, &env);
	assert_int_equal(env.n_att, 1);
	assert_int_equal(env.level, RELAY_LEVEL_NONE);
	assert_int_equal(env.att[0].level, RELAY_LEVEL_OWNED);
	assert_true(env.att[0].sig.proof[0].left);
	assert_int_equal(env.att[0].sig.proof[0].hash[1], 0x23);
	assert_int_equal(env.att[0].sig.sig[0], 1);
	assert_int_equal(env.att[0].sig.sig[63], 4);
	json = relay_envelope_to_json(&env, NULL);
	assert_string_equal(json, "{\"v\":1,\"id\":\"m-1\",\"from\":\"+821012345678\","
			    "\"to\":\"bob@line.example\",\"ts\":1764146615123,\"ttl\":259200,"
			    "\"type\":\"text/plain; charset=utf-8\",\"text\":\"hi\","
			    "\"dlr\":false,\"prio\":1,\"hops\":[],\"att\":[{\"node\":\"relay-a\","
			    "\"rid\":\"" REF "\",\"peer\":\"kakao\",\"level\":\"owned\","
			    "\"to\":\"+821099998888\",\"kid\":\"" KID "\",\"at\":5,"
			    "\"proof\":[\"l:" H64 "\"],\"sig\":\"" SIG "\"}]}");
	free(json);
	env.level = RELAY_LEVEL_OWNED; /* never on the wire */
	json = relay_envelope_to_json(&env, NULL);
	assert_null(strstr(json, "\"level\":1"));
	assert_int_equal(strlen(json), strlen(strstr(json, "{")));
	free(json);
	relay_envelope_clear(&env);
	assert_null(env.att);
	parse_ok(REP(",\"sig\":" RSIG ",\"via\":\"kakao\""), &LIM, &env);
	assert_true(env.has_rsig);
	json = relay_envelope_to_json(&env, NULL);
	assert_string_equal(json, "{\"v\":1,\"id\":\"m-1\",\"kind\":\"report\","
			    "\"from\":\"+821012345678\",\"to\":\"bob@line.example\","
			    "\"ts\":1764146615123,\"ttl\":259200,"
			    "\"type\":\"text/plain; charset=utf-8\",\"dlr\":false,\"prio\":1,"
			    "\"hops\":[],\"ref\":\"" REF "\",\"status\":\"delivered\",\"at\":1,"
			    "\"via\":\"kakao\",\"sig\":{\"node\":\"relay-a\",\"kid\":\"" KID "\","
			    "\"at\":5,\"proof\":[\"l:" H64 "\"],\"sig\":\"" SIG "\"}}");
	free(json);
	relay_envelope_clear(&env);
}

static void test_att_level_names(void **state)
{
	(void)state;
	assert_string_equal(relay_att_level_name(RELAY_LEVEL_NONE), "");
	assert_string_equal(relay_att_level_name(RELAY_LEVEL_OWNED), "owned");
	assert_string_equal(relay_att_level_name(RELAY_LEVEL_DIRECTORY), "directory");
	assert_string_equal(relay_att_level_name(RELAY_LEVEL_RELAYED), "relayed");
	assert_string_equal(relay_att_level_name((enum relay_att_level)9), "");
	assert_int_equal(relay_att_level_parse("owned"), RELAY_LEVEL_OWNED);
	assert_int_equal(relay_att_level_parse("directory"), RELAY_LEVEL_DIRECTORY);
	assert_int_equal(relay_att_level_parse("relayed"), RELAY_LEVEL_RELAYED);
	assert_int_equal(relay_att_level_parse(""), RELAY_LEVEL_NONE);
	assert_int_equal(relay_att_level_parse("Owned"), RELAY_LEVEL_NONE);
	assert_int_equal(relay_att_level_parse(NULL), RELAY_LEVEL_NONE);
}

/* A binary body need not be UTF-8; it travels as base64 and comes back byte for byte. */
static void test_binary_body_round_trip(void **state)
{
	struct relay_envelope env;
	unsigned char bytes[MAXBODY];

	(void)state;
	parse_ok("{" HEAD ",\"body\":\"\"}", &LIM, &env);
	free(env.body);
	for (size_t i = 0; i < sizeof bytes; i++)
		bytes[i] = (unsigned char)(0xff - i * 7);
	env.body = malloc(sizeof bytes);
	assert_non_null(env.body);
	memcpy(env.body, bytes, sizeof bytes);
	env.body_len = sizeof bytes;
	round_trips(&env, &LIM);
	relay_envelope_clear(&env);
}

/* The largest envelope the struct holds: every string at its maximum. */
static void test_max_everything_round_trip(void **state)
{
	struct relay_env_limits lim = LIM;
	struct relay_envelope env;
	char addr[ROUTE_ADDR_MAX - 1];

	(void)state;
	lim.now_ms = INT64_MAX; /* ts may then be anything */
	parse_ok(REP(",\"reason\":\"" C64 C64 C64 C8 C8 C8 C8 C8 C8 C8 "abcdefg\""), &lim, &env);
	memset(env.id, 'x', RELAY_ENV_ID_MAX);
	memset(env.type, 't', RELAY_ENV_TYPE_MAX);
	env.type[3] = '/';
	for (size_t i = 0; i < RELAY_ENV_HOPS_MAX; i++)
		memset(env.hops[i], 'h', RELAY_NODE_ID_MAX);
	env.n_hops = RELAY_ENV_HOPS_MAX;
	env.ts_ms = INT64_MAX;
	env.at_ms = INT64_MAX;
	env.ttl_s = lim.max_ttl_s;
	/* The longest handle: a 64-byte local part at a 253-byte domain. */
	memset(addr, 'a', sizeof addr);
	addr[64] = '@';
	for (size_t i = 65 + 63; i < 65 + 253; i += 64)
		addr[i] = '.';
	assert_int_equal(route_addr_parse(addr, sizeof addr, NULL, &env.to), 0);
	assert_int_equal(env.to.len, ROUTE_ADDR_MAX - 1);
	round_trips(&env, &lim);
	relay_envelope_clear(&env);
}

/* ---------------------------------------------------------------- batches */

static int batch(const char *json, struct relay_env_item **items, size_t *n, bool *is_array,
		 struct relay_env_error *err)
{
	return relay_envelope_parse_batch(json, strlen(json), &LIM, items, n, is_array, err);
}

static void test_batch_object(void **state)
{
	struct relay_env_item *items;
	struct relay_env_error err;
	size_t n;
	bool is_array = true;

	(void)state;
	assert_int_equal(batch(MSG(""), &items, &n, &is_array, &err), 0);
	assert_false(is_array);
	assert_int_equal(n, 1);
	assert_int_equal(items[0].rc, 0);
	assert_string_equal(items[0].env.id, "m-1");
	relay_env_items_free(items, n);
}

static void test_batch_one_bad_of_three(void **state)
{
	struct relay_env_item *items;
	struct relay_env_error err;
	size_t n;
	bool is_array;

	(void)state;
	assert_int_equal(batch("[" MSG(",\"prio\":0") "," MSG(",\"ttl\":0") ","
			       "{" HEAD ",\"text\":\"" C64 "x\"}," MSG(",\"prio\":3") "]",
			       &items, &n, &is_array, &err),
			 0);
	assert_true(is_array);
	assert_int_equal(n, 4);
	assert_int_equal(items[0].rc, 0);
	assert_int_equal(items[0].env.prio, 0);
	assert_int_equal(items[1].rc, -RELAY_EFIELD);
	assert_err(&items[1].err, "bad_field", "ttl", "604800");
	assert_null(items[1].env.body);
	assert_int_equal(items[2].rc, -RELAY_ETOOBIG);
	assert_err(&items[2].err, "too_large", "text", "64 bytes");
	assert_int_equal(items[3].rc, 0);
	assert_int_equal(items[3].env.prio, 3);
	assert_null(items[3].err.code);
	relay_env_items_free(items, n);
}

static void test_batch_non_objects(void **state)
{
	struct relay_env_item *items;
	struct relay_env_error err;
	size_t n;
	bool is_array;

	(void)state;
	assert_int_equal(batch("[1,\"x\",[],null," MSG("") "]", &items, &n, &is_array, &err), 0);
	assert_int_equal(n, 5);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(items[i].rc, -RELAY_EFIELD);
		assert_err(&items[i].err, "bad_field", "", "must be an object");
	}
	assert_int_equal(items[4].rc, 0);
	relay_env_items_free(items, n);
}

/* "[" then count copies of MSG("") then "]". */
static char *array_of(size_t count)
{
	size_t one = strlen(MSG("")) + 1;
	char *s = malloc(count * one + 3), *p = s;

	assert_non_null(s);
	*p++ = '[';
	for (size_t i = 0; i < count; i++)
		p += sprintf(p, "%s%s", i ? "," : "", MSG(""));
	strcpy(p, "]");
	return s;
}

static void test_batch_sizes(void **state)
{
	struct relay_env_item *items;
	struct relay_env_error err;
	size_t n;
	bool is_array;
	char *max = array_of(RELAY_ENV_BATCH_MAX), *over = array_of(RELAY_ENV_BATCH_MAX + 1);

	(void)state;
	assert_int_equal(batch(max, &items, &n, &is_array, &err), 0);
	assert_int_equal(n, RELAY_ENV_BATCH_MAX);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(items[i].rc, 0);
	relay_env_items_free(items, n);
	assert_int_equal(batch(over, &items, &n, &is_array, &err), -RELAY_EJSON);
	assert_err(&err, "bad_json", "", "at most 1000 envelopes, not 1001");
	assert_null(items);
	assert_int_equal(n, 0);
	assert_int_equal(batch("[]", &items, &n, &is_array, &err), -RELAY_EJSON);
	assert_err(&err, "bad_json", "", "empty array");
	assert_null(items);
	free(max);
	free(over);
}

static void test_batch_not_a_batch(void **state)
{
	static const char *const inputs[] = {"1", "\"x\"", "", "[", "{\"v\":1}}", "null"};
	struct relay_env_item *items;
	struct relay_env_error err;
	size_t n;
	bool is_array;

	(void)state;
	for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
		assert_int_equal(batch(inputs[i], &items, &n, &is_array, &err), -RELAY_EJSON);
		assert_string_equal(err.code, "bad_json");
		assert_null(items);
		assert_int_equal(n, 0);
	}
	assert_int_equal(relay_envelope_parse_batch(NULL, 0, &LIM, &items, &n, &is_array, &err),
			 -RELAY_EJSON);
}

/* ------------------------------------------------------------- error JSON */

static void test_error_json(void **state)
{
	struct relay_env_error err = {"bad_field", "ttl", "must be 1 to 604800 seconds"};
	char *s = relay_env_error_json(&err);

	(void)state;
	assert_string_equal(s, "{\"error\":\"bad_field\",\"field\":\"ttl\","
			       "\"reason\":\"must be 1 to 604800 seconds\"}");
	free(s);
	err = (struct relay_env_error){"bad_json", "", "a \"quoted\" reason"};
	s = relay_env_error_json(&err);
	assert_string_equal(s, "{\"error\":\"bad_json\",\"reason\":\"a \\\"quoted\\\" reason\"}");
	free(s);
}

#define AE4 "\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4" /* "ääää" */

/* Errors quote input; whatever was sent, the error object stays valid JSON and bounded. */
static void test_error_json_hostile(void **state)
{
	static const char *const inputs[] = {
		"{\"v\":1,\x01}",
		"{\"v\":1,\"" AE4 AE4 AE4 AE4 "\":1}", /* a 32-byte key, cut inside a character */
		"{\"v\":1,\"a\":tru\xe2\x82\xac}",
		"{\"v\":1,\"id\":\"\\u0001\"}",
		"[" C64 C64 C64 C64 "]",
	};
	struct relay_envelope env;
	struct relay_env_error err;

	(void)state;
	for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
		json_t *j;
		char *s;

		assert_int_not_equal(relay_envelope_parse(inputs[i], strlen(inputs[i]), &LIM, &env,
							  &err), 0);
		assert_true(strlen(err.field) < sizeof err.field);
		assert_true(strlen(err.reason) < sizeof err.reason);
		s = relay_env_error_json(&err);
		assert_non_null(s);
		j = json_loads(s, JSON_REJECT_DUPLICATES, NULL);
		assert_non_null(j);
		json_decref(j);
		free(s);
	}
}

/* ---------------------------------------------------------- binary record */

/* The record as relay_record.c documents it, written field by field by the test itself. */
struct rspec {
	uint64_t version, kind, flags, prio, ts, ttl, n_hops;
	const char *id, *rid;
	size_t id_len;      /* bytes of id written */
	uint64_t from_kind;
	const char *from;
	uint64_t to_kind;
	const char *to, *type, *hop;
	uint64_t hops_written;
	const char *body;   /* message */
	size_t body_len;
	uint64_t body_lenf; /* the body's length field */
	uint64_t id_lenf;   /* the id's length field */
	const char *ref;    /* report */
	uint64_t status;
	const char *reason;
	uint64_t at;
	size_t trailing;
};

static struct rspec valid_spec(bool report)
{
	struct rspec s = {
		.version = 1, .kind = report, .flags = report ? 2 : 3, .prio = 1,
		.ts = (uint64_t)NOW_MS, .ttl = 60, .n_hops = 2, .id = "m-1", .id_len = 3,
		.rid = REF,
		.from_kind = ROUTE_ADDR_E164, .from = "+821012345678",
		.to_kind = ROUTE_ADDR_HANDLE, .to = "bob@line.example",
		.type = RELAY_ENV_DEFAULT_TYPE, .hop = "relay-a",
		.hops_written = 2, .body = "hi", .body_len = 2,
		.body_lenf = 2, .id_lenf = 3, .ref = REF, .status = 3, .reason = "no route",
		.at = 5,
	};
	return s;
}

static void put(unsigned char **p, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		*(*p)++ = (unsigned char)(v >> (8 * i));
}

static void put_str(unsigned char **p, const char *s)
{
	put(p, strlen(s), 2);
	memcpy(*p, s, strlen(s));
	*p += strlen(s);
}

static size_t build(const struct rspec *s, unsigned char *buf)
{
	unsigned char *p = buf;

	put(&p, s->version, 1);
	put(&p, s->kind, 1);
	put(&p, s->flags, 1);
	put(&p, s->prio, 1);
	put(&p, s->ts, 8);
	put(&p, s->ttl, 4);
	put(&p, s->n_hops, 1);
	put(&p, s->id_lenf, 2);
	memcpy(p, s->id, s->id_len);
	p += s->id_len;
	put_str(&p, s->rid);
	put(&p, s->from_kind, 1);
	put_str(&p, s->from);
	put(&p, s->to_kind, 1);
	put_str(&p, s->to);
	put_str(&p, s->type);
	for (uint64_t i = 0; i < s->hops_written; i++)
		put_str(&p, s->hop);
	if (s->kind == 1) {
		put_str(&p, s->ref);
		put(&p, s->status, 1);
		put_str(&p, s->reason);
		put(&p, s->at, 8);
	} else {
		put(&p, s->body_lenf, 4);
		memcpy(p, s->body, s->body_len);
		p += s->body_len;
	}
	memset(p, 0, s->trailing);
	return (size_t)(p - buf) + s->trailing;
}

/* Decodes len bytes from a buffer of exactly that size, so ASan sees any overread. */
static int decode_exact(const unsigned char *rec, size_t len, struct relay_envelope *env)
{
	unsigned char *copy = malloc(len ? len : 1);
	int rc;

	assert_non_null(copy);
	memcpy(copy, rec, len);
	rc = relay_envelope_decode(copy, len, env);
	free(copy);
	return rc;
}

static void test_record_builder_agrees(void **state)
{
	unsigned char buf[2048], *rec;
	struct relay_envelope env;
	size_t n, len;

	(void)state;
	for (int report = 0; report <= 1; report++) {
		struct rspec s = valid_spec(report);

		n = build(&s, buf);
		assert_int_equal(decode_exact(buf, n, &env), 0);
		assert_string_equal(env.hops[1], "relay-a");
		/* a record without the trust flag: no trust data */
		assert_null(env.att);
		assert_int_equal(env.n_att, 0);
		assert_int_equal(env.level, RELAY_LEVEL_NONE);
		assert_string_equal(env.via, "");
		assert_false(env.has_rsig);
		assert_int_equal(relay_envelope_encode(&env, &rec, &len), 0);
		assert_int_equal(len, n);
		assert_memory_equal(rec, buf, n);
		free(rec);
		relay_envelope_clear(&env);
	}
}

enum mut {
	M_VERSION, M_KIND, M_FLAGS, M_PRIO, M_TS, M_TTL, M_NHOPS, M_ID, M_ID_LENF, M_RID,
	M_FROM_KIND, M_FROM, M_TO_KIND, M_TO, M_TYPE, M_HOP, M_BODY, M_BODY_LENF, M_REF,
	M_STATUS, M_REASON, M_AT, M_TRAILING,
};

struct rec_case {
	const char *name;
	bool report;
	enum mut what;
	uint64_t num;
	const char *str; /* M_BODY: its bytes, num their count */
};

static const struct rec_case rec_cases[] = {
	{"version 0", 0, M_VERSION, 0, NULL},
	{"version 2", 0, M_VERSION, 2, NULL},
	{"kind 2", 0, M_KIND, 2, NULL},
	{"unknown flag", 0, M_FLAGS, 0x07, NULL},
	{"text flag on a report", 1, M_FLAGS, 0x01, NULL},
	{"prio 4", 0, M_PRIO, 4, NULL},
	{"ts negative", 0, M_TS, UINT64_C(1) << 63, NULL},
	{"ttl 0", 0, M_TTL, 0, NULL},
	{"17 hops", 0, M_NHOPS, 17, NULL},
	{"16 hops counted, 2 written", 0, M_NHOPS, 16, NULL},
	{"3 hops counted, 2 written", 0, M_NHOPS, 3, NULL},
	{"1 hop counted, 2 written", 0, M_NHOPS, 1, NULL},
	{"id empty", 0, M_ID, 0, ""},
	{"id 65", 0, M_ID, 0, C64 "x"},
	{"id bad char", 0, M_ID, 0, "a b"},
	{"id NUL", 0, M_ID, 3, "a\0b"},
	{"id length 0xffff", 0, M_ID_LENF, 0xffff, NULL},
	{"id length 4 of 3", 0, M_ID_LENF, 4, NULL},
	{"rid 25", 0, M_RID, 0, "01ARZ3NDEKTSV4RRFFQ69G5FA"},
	{"rid lower-case", 0, M_RID, 0, "01arz3ndektsv4rrffq69g5fav"},
	{"rid letter O", 0, M_RID, 0, "01ORZ3NDEKTSV4RRFFQ69G5FAV"},
	{"from kind handle for a number", 0, M_FROM_KIND, ROUTE_ADDR_HANDLE, NULL},
	{"from kind 9", 0, M_FROM_KIND, 9, NULL},
	{"from not normalised", 0, M_FROM, 0, "+82 10 1234 5678"},
	{"from national", 0, M_FROM, 0, "01012345678"},
	{"from +0", 0, M_FROM, 0, "+0123"},
	{"from empty", 0, M_FROM, 0, ""},
	{"to upper-case", 0, M_TO, 0, "Bob@line.example"},
	{"to kind 0", 0, M_TO_KIND, 0, NULL},
	{"to bad domain", 0, M_TO, 0, "bob@line..example"},
	{"type no slash", 0, M_TYPE, 0, "textplain"},
	{"type control char", 0, M_TYPE, 0, "text/\x01"},
	{"type empty", 0, M_TYPE, 0, ""},
	{"type 128", 0, M_TYPE, 0, "text/" C64 C8 C8 C8 C8 C8 C8 C8 "abc"},
	{"hop bad char", 0, M_HOP, 0, "a:b"},
	{"hop empty", 0, M_HOP, 0, ""},
	{"hop 65", 0, M_HOP, 0, C64 "x"},
	{"body length past the end", 0, M_BODY_LENF, 3, NULL},
	{"body length 0xffffffff", 0, M_BODY_LENF, 0xffffffff, NULL},
	{"text invalid UTF-8", 0, M_BODY, 1, "\xff"},
	{"text NUL", 0, M_BODY, 3, "a\0b"},
	{"text overlong", 0, M_BODY, 2, "\xc0\xaf"},
	{"text surrogate", 0, M_BODY, 3, "\xed\xa0\x80"},
	{"text above U+10FFFF", 0, M_BODY, 4, "\xf4\x90\x80\x80"},
	{"text cut sequence", 0, M_BODY, 2, "\xe2\x82"},
	{"ref short", 1, M_REF, 0, "01ARZ"},
	{"ref empty", 1, M_REF, 0, ""},
	{"status 0", 1, M_STATUS, 0, NULL},
	{"status 4", 1, M_STATUS, 4, NULL},
	{"reason invalid UTF-8", 1, M_REASON, 0, "bad \xfe"},
	{"reason 256", 1, M_REASON, 0, C64 C64 C64 C64 "x"},
	{"at negative", 1, M_AT, UINT64_MAX, NULL},
	{"trailing byte", 0, M_TRAILING, 1, NULL},
	{"trailing byte after a report", 1, M_TRAILING, 1, NULL},
};

static void mutate(struct rspec *s, const struct rec_case *c)
{
	switch (c->what) {
	case M_VERSION: s->version = c->num; break;
	case M_KIND: s->kind = c->num; break;
	case M_FLAGS: s->flags = c->num; break;
	case M_PRIO: s->prio = c->num; break;
	case M_TS: s->ts = c->num; break;
	case M_TTL: s->ttl = c->num; break;
	case M_NHOPS: s->n_hops = c->num; break;
	case M_ID:
		s->id = c->str;
		s->id_len = s->id_lenf = c->num ? c->num : strlen(c->str);
		break;
	case M_ID_LENF: s->id_lenf = c->num; break;
	case M_RID: s->rid = c->str; break;
	case M_FROM_KIND: s->from_kind = c->num; break;
	case M_FROM: s->from = c->str; break;
	case M_TO_KIND: s->to_kind = c->num; break;
	case M_TO: s->to = c->str; break;
	case M_TYPE: s->type = c->str; break;
	case M_HOP: s->hop = c->str; break;
	case M_BODY: s->body = c->str; s->body_len = s->body_lenf = c->num; break;
	case M_BODY_LENF: s->body_lenf = c->num; break;
	case M_REF: s->ref = c->str; break;
	case M_STATUS: s->status = c->num; break;
	case M_REASON: s->reason = c->str; break;
	case M_AT: s->at = c->num; break;
	case M_TRAILING: s->trailing = c->num; break;
	}
}

static void test_record_rejected(void **state)
{
	const struct rec_case *c = *state;
	struct rspec s = valid_spec(c->report);
	unsigned char buf[2048];
	struct relay_envelope env;
	size_t n;

	mutate(&s, c);
	n = build(&s, buf);
	assert_int_equal(decode_exact(buf, n, &env), -RELAY_ERECORD);
	assert_null(env.body);
}

/* Every proper prefix of a valid record is refused, and read only within its length. */
static void test_record_truncated(void **state)
{
	struct relay_envelope env;
	unsigned char *rec;
	size_t len;

	(void)state;
	for (int i = 0; i < 3; i++) {
		parse_ok(i == 0 ? MSG(",\"rid\":\"" REF "\",\"hops\":[" HOP16 "]")
		       : i == 1 ? REP(",\"reason\":\"gone\",\"hops\":[\"a\"]")
				: "{" HEAD ",\"body\":\"AAEC/w==\"}",
			 &LIM, &env);
		assert_int_equal(relay_envelope_encode(&env, &rec, &len), 0);
		relay_envelope_clear(&env);
		for (size_t cut = 0; cut < len; cut++) {
			assert_int_equal(decode_exact(rec, cut, &env), -RELAY_ERECORD);
			assert_null(env.body);
		}
		assert_int_equal(decode_exact(rec, len, &env), 0);
		relay_envelope_clear(&env);
		free(rec);
	}
	assert_int_equal(relay_envelope_decode(NULL, 0, &env), -RELAY_ERECORD);
}

/* A binary (not text) body may hold any bytes, NUL and invalid UTF-8 included. */
static void test_record_binary_body(void **state)
{
	struct rspec s = valid_spec(false);
	unsigned char buf[512];
	struct relay_envelope env;

	(void)state;
	s.flags = 0;
	s.body = "\xff\x00\xfe";
	s.body_len = s.body_lenf = 3;
	assert_int_equal(decode_exact(buf, build(&s, buf), &env), 0);
	assert_false(env.is_text);
	assert_int_equal(env.body_len, 3);
	assert_memory_equal(env.body, "\xff\x00\xfe", 3);
	relay_envelope_clear(&env);
}

/* ------------------------------------------------- the record's trust section */

#define TRUST_LINK_SIZE 171 /* LINK's bytes in a record */

/* ATT(LINK) with a level, and where its trust section starts in the record. */
static size_t trust_message(struct relay_envelope *env)
{
	unsigned char *rec;
	size_t len, n_att;

	parse_ok(ATT(LINK), &LIM, env);
	n_att = env->n_att;
	env->n_att = 0;
	assert_int_equal(relay_envelope_encode(env, &rec, &len), 0);
	free(rec);
	env->n_att = n_att;
	env->level = RELAY_LEVEL_RELAYED;
	return len - 4 - env->body_len; /* before the body's length and bytes */
}

static void encode_decode(const struct relay_keyring *k, const struct relay_envelope *env,
			  unsigned version)
{
	struct relay_envelope back;
	unsigned char *rec, *rec2;
	size_t n, n2;

	assert_int_equal(relay_record_encode(k, env, &rec, &n), 0);
	assert_int_equal(rec[0], version);
	assert_int_equal(rec[2] & 0x08, 0x08);
	assert_int_equal(relay_record_decode(k, rec, n, &back), 0);
	assert_env_equal(env, &back);
	assert_int_equal(back.level, env->level);
	if (version == 1) { /* sealing draws a new nonce */
		assert_int_equal(relay_record_encode(k, &back, &rec2, &n2), 0);
		assert_int_equal(n, n2);
		assert_memory_equal(rec, rec2, n);
		free(rec2);
	}
	free(rec);
	relay_envelope_clear(&back);
}

static void test_trust_record_round_trip(void **state)
{
	struct relay_envelope env;
	unsigned char *rec;
	size_t n;

	(void)state;
	trust_message(&env);
	encode_decode(NULL, &env, 1);
	env.level = RELAY_LEVEL_NONE; /* links only */
	encode_decode(NULL, &env, 1);
	relay_envelope_clear(&env);
	parse_ok(ATT(LINK16), &LIM, &env);
	encode_decode(NULL, &env, 1);
	relay_envelope_clear(&env);
	parse_ok(MSG(""), &LIM, &env);
	env.level = RELAY_LEVEL_OWNED; /* a level only */
	encode_decode(NULL, &env, 1);
	env.level = RELAY_LEVEL_NONE; /* nothing: no section, no flag */
	assert_int_equal(relay_envelope_encode(&env, &rec, &n), 0);
	assert_int_equal(rec[2] & 0x08, 0);
	free(rec);
	relay_envelope_clear(&env);
	parse_ok(REP(",\"via\":\"kakao\",\"sig\":" RSIG), &LIM, &env);
	encode_decode(NULL, &env, 1);
	env.has_rsig = false;
	encode_decode(NULL, &env, 1);
	env.has_rsig = true;
	env.via[0] = '\0';
	encode_decode(NULL, &env, 1);
	relay_envelope_clear(&env);
}

/* A sealed record carries the section too, inside the associated data. */
static void test_trust_record_sealed(void **state)
{
	char path[] = "/tmp/test_envelope.XXXXXX", err[256];
	static const char key[] = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n";
	struct relay_keyring *k = NULL;
	struct relay_envelope env, back;
	unsigned char *rec;
	size_t n, t;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, key, strlen(key)), (ssize_t)strlen(key));
	close(fd);
	assert_int_equal(relay_keyring_load(path, &k, err, sizeof err), 0);
	unlink(path);
	t = trust_message(&env);
	encode_decode(k, &env, 2);
	assert_int_equal(relay_record_encode(k, &env, &rec, &n), 0);
	rec[t + 51] = 'f'; /* the link's kid: still well-formed, but not what was sealed */
	assert_int_equal(relay_record_decode(k, rec, n, &back), -RELAY_EKEY);
	assert_null(back.att);
	free(rec);
	relay_envelope_clear(&env);
	relay_keyring_free(k);
}

struct trust_case {
	const char *name;
	size_t off;         /* from the start of the section */
	unsigned char byte; /* written there */
};

/* Offsets in LINK's section: level 0, n_att 1, rid 2, peer 30, link level 37, to 38,
 * node 40, kid 49, at 67, n_proof 75, side 76, hash 77, sig 109. */
static const struct trust_case trust_cases[] = {
	{"trust: level 4", 0, 4},
	{"trust: level 0xff", 0, 0xff},
	{"trust: n_att 17", 1, 17},
	{"trust: n_att 2, one written", 1, 2},
	{"trust: rid length 25", 2, 25},
	{"trust: rid lower-case", 4, 'a'},
	{"trust: peer empty", 30, 0},
	{"trust: peer length past the end", 31, 0xff},
	{"trust: peer bad char", 32, ':'},
	{"trust: link level 0", 37, 0},
	{"trust: link level 4", 37, 4},
	{"trust: to length 1", 38, 1},
	{"trust: to too long", 39, 0x02},
	{"trust: node empty", 40, 0},
	{"trust: node bad char", 42, ' '},
	{"trust: kid length 15", 49, 15},
	{"trust: kid upper-case", 51, 'A'},
	{"trust: kid not hex", 51, 'g'},
	{"trust: at negative", 74, 0x80},
	{"trust: n_proof 17", 75, 17},
	{"trust: n_proof 2, one written", 75, 2},
	{"trust: n_proof 0, one written", 75, 0},
	{"trust: side 2", 76, 2},
};

static void test_trust_record_rejected(void **state)
{
	const struct trust_case *c = *state;
	struct relay_envelope env;
	unsigned char *rec;
	size_t n, t = trust_message(&env);

	assert_int_equal(relay_envelope_encode(&env, &rec, &n), 0);
	relay_envelope_clear(&env);
	assert_int_equal(n, t + 2 + TRUST_LINK_SIZE + 4 + 2);
	assert_int_equal(rec[t + 37], RELAY_LEVEL_OWNED); /* the offsets are right */
	assert_int_equal(rec[t + 51], '0');
	assert_int_equal(rec[t + 76], 1);
	assert_int_equal(decode_exact(rec, n, &env), 0);
	relay_envelope_clear(&env);
	rec[t + c->off] = c->byte;
	assert_int_equal(decode_exact(rec, n, &env), -RELAY_ERECORD);
	assert_null(env.att);
	assert_null(env.body);
	free(rec);
}

/* Flags, reports, truncation: what the table cannot say. */
static void test_trust_record_refused(void **state)
{
	struct relay_envelope env;
	unsigned char *rec;
	size_t n, t;

	(void)state;
	t = trust_message(&env); /* the flag cleared: the section would be read as the body */
	assert_int_equal(relay_envelope_encode(&env, &rec, &n), 0);
	relay_envelope_clear(&env);
	rec[2] &= (unsigned char)~0x08;
	assert_int_equal(decode_exact(rec, n, &env), -RELAY_ERECORD);
	for (size_t cut = 0; cut < n; cut++) /* no prefix is a record, none read past */
		assert_int_equal(decode_exact(rec, cut, &env), -RELAY_ERECORD);
	free(rec);
	parse_ok(MSG(""), &LIM, &env); /* a section saying nothing is never written */
	env.level = RELAY_LEVEL_OWNED;
	assert_int_equal(relay_envelope_encode(&env, &rec, &n), 0);
	relay_envelope_clear(&env);
	rec[t] = 0;
	assert_int_equal(rec[t + 1], 0);
	assert_int_equal(decode_exact(rec, n, &env), -RELAY_ERECORD);
	free(rec);
	parse_ok(REP(""), &LIM, &env); /* a report: via at t, has_rsig at t + 7, kid at t + 19 */
	assert_int_equal(relay_envelope_encode(&env, &rec, &n), 0);
	relay_envelope_clear(&env);
	free(rec);
	t = n - (2 + RELAY_RID_LEN + 1 + 2 + 8); /* before ref, status, reason, at */
	for (int i = 0; i < 4; i++) {
		static const size_t off[] = {2, 7, 7, 19};
		static const unsigned char byte[] = {':', 2, 0, 'A'};

		parse_ok(REP(",\"via\":\"kakao\",\"sig\":" RSIG), &LIM, &env);
		if (i == 2)
			env.has_rsig = false; /* via alone: has_rsig 1 would read past the end */
		assert_int_equal(relay_envelope_encode(&env, &rec, &n), 0);
		relay_envelope_clear(&env);
		assert_int_equal(rec[t + 7], i != 2);
		assert_int_equal(decode_exact(rec, n, &env), 0);
		relay_envelope_clear(&env);
		for (size_t cut = 0; i == 0 && cut < n; cut++)
			assert_int_equal(decode_exact(rec, cut, &env), -RELAY_ERECORD);
		rec[t + off[i]] = i == 2 ? 1 : byte[i];
		assert_int_equal(decode_exact(rec, n, &env), -RELAY_ERECORD);
		free(rec);
	}
}

static void test_clear(void **state)
{
	struct relay_envelope env;

	(void)state;
	relay_envelope_clear(NULL);
	relay_env_items_free(NULL, 0);
	parse_ok(MSG(""), &LIM, &env);
	relay_envelope_clear(&env);
	assert_null(env.body);
	assert_int_equal(env.body_len, 0);
	assert_string_equal(env.id, "");
	relay_envelope_clear(&env); /* twice is fine */
}

/* ------------------------------------------------------------------- main */

/* One cmocka test per table row, named after the row. */
#define RUN_TABLE(group, table, fn)                                                        \
	do {                                                                               \
		struct CMUnitTest t_[sizeof(table) / sizeof((table)[0])];                  \
		for (size_t i_ = 0; i_ < sizeof t_ / sizeof t_[0]; i_++)                   \
			t_[i_] = (struct CMUnitTest){(table)[i_].name, fn, NULL, NULL,      \
						     st(&(table)[i_])};                    \
		failed += _cmocka_run_group_tests(group, t_, sizeof t_ / sizeof t_[0], NULL, \
						  NULL);                                   \
	} while (0)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_field),
		cmocka_unit_test(test_report_fields),
		cmocka_unit_test(test_national_number),
		cmocka_unit_test(test_body_bytes),
		cmocka_unit_test(test_to_json_exact),
		cmocka_unit_test(test_binary_body_round_trip),
		cmocka_unit_test(test_max_everything_round_trip),
		cmocka_unit_test(test_batch_object),
		cmocka_unit_test(test_batch_one_bad_of_three),
		cmocka_unit_test(test_batch_non_objects),
		cmocka_unit_test(test_batch_sizes),
		cmocka_unit_test(test_batch_not_a_batch),
		cmocka_unit_test(test_error_json),
		cmocka_unit_test(test_error_json_hostile),
		cmocka_unit_test(test_record_builder_agrees),
		cmocka_unit_test(test_record_truncated),
		cmocka_unit_test(test_record_binary_body),
		cmocka_unit_test(test_trust_json_exact),
		cmocka_unit_test(test_att_level_names),
		cmocka_unit_test(test_trust_record_round_trip),
		cmocka_unit_test(test_trust_record_sealed),
		cmocka_unit_test(test_trust_record_refused),
		cmocka_unit_test(test_clear),
	};
	int failed = cmocka_run_group_tests_name("envelope", tests, NULL, NULL);

	RUN_TABLE("envelope refused", bad_cases, test_bad);
	RUN_TABLE("envelope accepted, round trips", good_cases, test_good);
	RUN_TABLE("record refused", rec_cases, test_record_rejected);
	RUN_TABLE("record trust section refused", trust_cases, test_trust_record_rejected);
	return failed ? 1 : 0;
}
