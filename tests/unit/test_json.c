/*
 * Unit tests for the strict JSON reader (relay_json_read.c): RFC 8259's edge cases as a
 * table, the accessors, nesting and duplicate keys, and a differential run against jansson
 * over thousands of generated and mutated texts (fixed seed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "relay/relay_priv.h"

/* Parses a NUL-terminated text (or len bytes of it when len is not 0). */
static struct rj_doc *parse(const char *s, size_t len, char *err, size_t errlen)
{
	bool nomem = true;
	struct rj_doc *d = rj_parse(s, len ? len : strlen(s), err, errlen, &nomem);

	assert_false(nomem);
	return d;
}

/* ------------------------------------------------------------ the table */

struct case_ {
	const char *name;
	const char *json;
	size_t len;        /* 0: strlen(json) */
	const char *error; /* NULL: accepted; else a substring of the error */
	int type;          /* accepted: the root's type */
};

#define OK(n, j, t)   {n, j, 0, NULL, t}
#define OKN(n, j, t)  {n, j, sizeof j - 1, NULL, t}
#define BAD(n, j, e)  {n, j, 0, e, 0}
#define BADN(n, j, e) {n, j, sizeof j - 1, e, 0}

static const struct case_ cases[] = {
	OK("null", "null", RJ_NULL),
	OK("true", "true", RJ_TRUE),
	OK("false", "false", RJ_FALSE),
	OK("zero", "0", RJ_INTEGER),
	OK("minus zero", "-0", RJ_INTEGER),
	OK("minus zero real", "-0.0", RJ_REAL),
	OK("int64 max", "9223372036854775807", RJ_INTEGER),
	OK("int64 min", "-9223372036854775808", RJ_INTEGER),
	OK("int64 max + 1 is real", "9223372036854775808", RJ_REAL),
	OK("int64 min - 1 is real", "-9223372036854775809", RJ_REAL),
	OK("400 digits is real", "1000000000000000000000000000000000000000000000000000000000000000"
				 "0000000000000000000000000000000000000000000000000000000000000000"
				 "0000000000000000000000000000000000000000000000000000000000000000",
	   RJ_REAL),
	OK("1e400 (infinite) is real", "1e400", RJ_REAL),
	OK("1e-400 (zero) is real", "1e-400", RJ_REAL),
	OK("1.5e-3", "1.5e-3", RJ_REAL),
	OK("1E+2", "1E+2", RJ_REAL),
	OK("0.5", "0.5", RJ_REAL),
	OK("whitespace around", " \t\r\n{ \"a\" : [ 1 , 2 ] }\n\t\r ", RJ_OBJECT),
	OK("empty string", "\"\"", RJ_STRING),
	OK("every escape", "\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\uFFFF\"", RJ_STRING),
	OK("surrogate pair", "\"\\ud83d\\ude00\"", RJ_STRING),
	OK("embedded \\u0000", "\"a\\u0000b\"", RJ_STRING),
	OK("UTF-8 2, 3, 4 bytes", "\"\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\"",
	   RJ_STRING),
	OK("DEL unescaped", "\"\x7f\"", RJ_STRING),
	OK("empty array", "[]", RJ_ARRAY),
	OK("empty object", "{}", RJ_OBJECT),
	OK("key \\u0000", "{\"a\\u0000\":1,\"a\":2}", RJ_OBJECT),
	OK("same key, other objects", "{\"a\":{\"a\":1},\"b\":{\"a\":1}}", RJ_OBJECT),
	BAD("empty", "", "value expected (line 1, column 0)"),
	BAD("only whitespace", "  \n ", "value expected (line 2, column 1)"),
	BAD("minus alone", "-", "digit expected"),
	BAD("1.", "1.", "digit expected after '.'"),
	BAD(".5", ".5", "value expected"),
	BAD("01", "01", "leading zeros are not allowed"),
	BAD("-01", "-01", "leading zeros"),
	BAD("1e", "1e", "digit expected in the exponent"),
	BAD("1e+", "1e+", "digit expected in the exponent"),
	BAD("+1", "+1", "value expected"),
	BAD("hex", "0x10", "end of file expected"),
	BAD("NaN", "NaN", "value expected"),
	BAD("Infinity", "-Infinity", "digit expected"),
	BAD("tru", "tru", "invalid literal"),
	BAD("True", "True", "value expected"),
	BAD("two values", "1 2", "end of file expected (line 1, column 3)"),
	BAD("comment", "[1 /* x */]", "']' or ',' expected"),
	BAD("array trailing comma", "[1,]", "value expected (line 1, column 4)"),
	BAD("object trailing comma", "{\"a\":1,}", "string expected (line 1, column 8)"),
	BAD("object no key", "{1:2}", "string or '}' expected"),
	BAD("object no colon", "{\"a\" 1}", "':' expected"),
	BAD("object no comma", "{\"a\":1 \"b\":2}", "'}' or ',' expected (line 1, column 8)"),
	BAD("array unclosed", "[1", "']' or ',' expected (line 1, column 2)"),
	BAD("object unclosed", "{\"a\":1", "'}' or ',' expected"),
	BAD("single quotes", "'a'", "value expected"),
	BAD("string unclosed", "\"abc", "premature end of input (line 1, column 4)"),
	BAD("escape unclosed", "\"abc\\", "premature end of input"),
	BAD("bad escape", "\"\\x41\"", "invalid escape (line 1, column 2)"),
	BAD("short \\u", "\"\\u12\"", "invalid \\u escape"),
	BAD("\\u not hex", "\"\\u12g4\"", "invalid \\u escape"),
	BAD("lone high surrogate", "\"\\ud800\"", "lone high surrogate"),
	BAD("high surrogate, then a letter", "\"\\ud800x\"", "lone high surrogate"),
	BAD("two high surrogates", "\"\\ud800\\ud800\"", "lone high surrogate"),
	BAD("lone low surrogate", "\"\\udc00\"", "lone low surrogate"),
	BAD("control character", "\"a\x01\"", "control character \\x01 in a string"),
	BAD("tab unescaped", "\"\t\"", "control character \\x09"),
	BAD("newline unescaped", "\"a\nb\"", "control character \\x0a"),
	BADN("NUL unescaped", "\"a\0\"", "control character \\x00"),
	BADN("NUL after value", "1\0", "end of file expected"),
	BAD("overlong C0", "\"\xc0\xaf\"", "invalid UTF-8 byte \\xc0"),
	BAD("overlong C1", "\"\xc1\xbf\"", "invalid UTF-8 byte \\xc1"),
	BAD("overlong E0", "\"\xe0\x80\xaf\"", "invalid UTF-8 byte \\xe0"),
	BAD("overlong F0", "\"\xf0\x80\x80\xaf\"", "invalid UTF-8 byte \\xf0"),
	BAD("surrogate in UTF-8", "\"\xed\xa0\x80\"", "invalid UTF-8 byte \\xed"),
	BAD("above U+10FFFF", "\"\xf4\x90\x80\x80\"", "invalid UTF-8 byte \\xf4"),
	BAD("F5", "\"\xf5\x80\x80\x80\"", "invalid UTF-8 byte \\xf5"),
	BAD("FF", "\"\xff\"", "invalid UTF-8 byte \\xff"),
	BAD("lone continuation", "\"\x80\"", "invalid UTF-8 byte \\x80"),
	BAD("truncated sequence", "\"\xe2\x82\"", "invalid UTF-8 byte \\xe2"),
	BAD("truncated at the end", "\"\xe2\x82", "invalid UTF-8 byte \\xe2"),
	BAD("UTF-8 outside a string", "\xc3\xa9", "value expected"),
	BAD("duplicate key", "{\"a\":1,\"b\":2,\"a\":3}", "duplicate object key (line 1, column 14)"),
	BAD("duplicate escaped key", "{\"a\":1,\"\\u0061\":2}", "duplicate object key"),
	BAD("duplicate \\u0000 key", "{\"a\\u0000\":1,\"a\\u0000\":2}", "duplicate object key"),
	BAD("duplicate in nested", "[{\"x\":{\"k\":1,\"k\":1}}]", "duplicate object key"),
	BAD("line and column", "{\n  \"a\": 1,\n  \"b\" 2\n}", "':' expected (line 3, column 7)"),
};

static void test_case(void **state)
{
	const struct case_ *c = *state;
	char err[160] = "x";
	struct rj_doc *d = parse(c->json, c->len, err, sizeof err);

	if (!c->error) {
		if (!d)
			print_error("refused: %s\n", err);
		assert_non_null(d);
		assert_string_equal(err, "");
		assert_int_equal(rj_type(rj_root(d)), c->type);
		rj_free(d);
		return;
	}
	assert_null(d);
	if (!strstr(err, c->error))
		print_error("error \"%s\" lacks \"%s\"\n", err, c->error);
	assert_non_null(strstr(err, c->error));
	assert_non_null(strstr(err, "(line "));
}

/* ------------------------------------------------------------ accessors */

static void test_accessors(void **state)
{
	static const char text[] = "{\"s\":\"a\\u0000b\",\"i\":-42,\"r\":1.5,\"n\":null,"
				   "\"a\":[1,[2,3],{\"x\":4},\"y\"],\"o\":{},\"t\":true,\"e\":[]}";
	char err[128];
	struct rj_doc *d = parse(text, 0, err, sizeof err);
	const struct rj_val *root = rj_root(d), *v, *a;
	static const char *const keys[] = {"s", "i", "r", "n", "a", "o", "t", "e"};
	size_t len, i = 0;
	const char *s;

	(void)state;
	assert_non_null(d);
	assert_int_equal(rj_type(root), RJ_OBJECT);
	assert_int_equal(rj_size(root), 8);
	assert_null(rj_key(root, &len));
	assert_null(rj_next(root));
	for (v = rj_first(root); v; v = rj_next(v), i++) {
		assert_true(i < 8);
		s = rj_key(v, &len);
		assert_non_null(s);
		assert_int_equal(len, 1);
		assert_string_equal(s, keys[i]);
		assert_ptr_equal(rj_get(root, keys[i]), v);
	}
	assert_int_equal(i, 8);
	assert_null(rj_get(root, "z"));
	assert_null(rj_get(root, ""));
	assert_null(rj_get(rj_get(root, "a"), "x")); /* not an object */

	s = rj_str(rj_get(root, "s"), &len);
	assert_int_equal(len, 3);
	assert_memory_equal(s, "a\0b", 4);
	assert_null(rj_str(rj_get(root, "i"), &len));
	assert_int_equal(rj_int(rj_get(root, "i")), -42);
	assert_int_equal(rj_int(rj_get(root, "r")), 0);
	assert_int_equal(rj_type(rj_get(root, "r")), RJ_REAL);
	assert_int_equal(rj_type(rj_get(root, "n")), RJ_NULL);
	assert_int_equal(rj_type(rj_get(root, "t")), RJ_TRUE);
	assert_int_equal(rj_size(rj_get(root, "o")), 0);
	assert_null(rj_first(rj_get(root, "o")));
	assert_null(rj_first(rj_get(root, "e")));
	assert_int_equal(rj_size(rj_get(root, "i")), 0);
	assert_null(rj_first(rj_get(root, "i")));

	a = rj_get(root, "a");
	assert_int_equal(rj_size(a), 4);
	v = rj_first(a);
	assert_int_equal(rj_int(v), 1);
	assert_null(rj_key(v, &len)); /* an element is not a member */
	v = rj_next(v);
	assert_int_equal(rj_size(v), 2);
	assert_int_equal(rj_int(rj_first(v)), 2);
	assert_int_equal(rj_int(rj_next(rj_first(v))), 3);
	assert_null(rj_next(rj_next(rj_first(v))));
	v = rj_next(v); /* past [2,3]'s subtree in O(1) */
	assert_int_equal(rj_type(v), RJ_OBJECT);
	assert_int_equal(rj_int(rj_get(v, "x")), 4);
	v = rj_next(v);
	assert_string_equal(rj_str(v, NULL), "y");
	assert_null(rj_next(v));
	assert_ptr_equal(rj_next(a), rj_get(root, "o"));
	rj_free(d);
	rj_free(NULL);
	assert_null(rj_root(NULL));
}

static void test_integers(void **state)
{
	char err[128];
	struct rj_doc *d = parse("[9223372036854775807,-9223372036854775808,-0,123]", 0, err,
				 sizeof err);
	const struct rj_val *v = rj_first(rj_root(d));

	(void)state;
	assert_true(rj_int(v) == INT64_MAX);
	assert_true(rj_int(v = rj_next(v)) == INT64_MIN);
	assert_true(rj_int(v = rj_next(v)) == 0);
	assert_int_equal(rj_type(v), RJ_INTEGER);
	assert_true(rj_int(rj_next(v)) == 123);
	rj_free(d);
}

/* Strings are unescaped into one buffer: the longest escapes and the shortest. */
static void test_strings(void **state)
{
	char err[128];
	struct rj_doc *d = parse("[\"\\u00e9\\u20ac\\ud83d\\ude00\\n\",\"\",\"\xc3\xa9\"]", 0, err,
				 sizeof err);
	const struct rj_val *v = rj_first(rj_root(d));
	size_t len;

	(void)state;
	assert_string_equal(rj_str(v, &len), "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\n");
	assert_int_equal(len, 10);
	assert_string_equal(rj_str(v = rj_next(v), &len), "");
	assert_int_equal(len, 0);
	assert_string_equal(rj_str(rj_next(v), &len), "\xc3\xa9");
	rj_free(d);
}

static char *nested(int depth, char open, char close)
{
	char *s = malloc(2 * (size_t)depth + 1);

	assert_non_null(s);
	memset(s, open, (size_t)depth);
	memset(s + depth, close, (size_t)depth);
	s[2 * depth] = '\0';
	return s;
}

static void test_depth(void **state)
{
	char err[128], *ok = nested(RJ_DEPTH_MAX, '[', ']'), *deep = nested(RJ_DEPTH_MAX + 1, '[', ']');
	struct rj_doc *d = parse(ok, 0, err, sizeof err);
	const struct rj_val *v = rj_root(d);

	(void)state;
	assert_non_null(d);
	for (int i = 1; i < RJ_DEPTH_MAX; i++)
		v = rj_first(v);
	assert_int_equal(rj_type(v), RJ_ARRAY);
	assert_int_equal(rj_size(v), 0);
	rj_free(d);
	assert_null(parse(deep, 0, err, sizeof err));
	assert_string_equal(err, "nested deeper than 64 (line 1, column 65)");
	/* objects count as arrays do */
	memset(deep, '[', RJ_DEPTH_MAX);
	strcpy(deep + RJ_DEPTH_MAX, "{\"a\":1}");
	assert_null(parse(deep, 0, err, sizeof err));
	assert_non_null(strstr(err, "nested deeper than 64"));
	free(ok);
	free(deep);
}

/* An object of n members "k0".."k<n-1>" (and a repeat of key dup at the end if dup >= 0). */
static char *big_object(size_t n, long dup, size_t *len, size_t *col)
{
	char *s = malloc(n * 24 + 64), *p = s;

	assert_non_null(s);
	*p++ = '{';
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%s\"k%zu\":%zu", i ? "," : "", i, i);
	*col = (size_t)(p - s) + 2; /* the repeat's '"', counted from 1 */
	if (dup >= 0)
		p += sprintf(p, ",\"k%ld\":0", dup);
	*p++ = '}';
	*len = (size_t)(p - s);
	return s;
}

static void test_duplicates_big(void **state)
{
	static const long dups[] = {0, 31, 32, 33, 500, 999999};
	char err[128];
	size_t len, col;
	char *s = big_object(1000000, -1, &len, &col);
	struct rj_doc *d = parse(s, len, err, sizeof err);
	const struct rj_val *v;

	(void)state;
	assert_non_null(d);
	assert_int_equal(rj_size(rj_root(d)), 1000000);
	v = rj_get(rj_root(d), "k999999");
	assert_int_equal(rj_int(v), 999999);
	assert_null(rj_next(v));
	rj_free(d);
	free(s);
	for (size_t i = 0; i < sizeof dups / sizeof dups[0]; i++) {
		s = big_object(i < 5 ? 1000 : 1000000, dups[i], &len, &col);
		assert_null(parse(s, len, err, sizeof err));
		assert_non_null(strstr(err, "duplicate object key (line 1, column "));
		/* the column is the repeated key's */
		assert_int_equal(strtoul(strstr(err, "column ") + 7, NULL, 10), col);
		free(s);
	}
	/* the earliest repeat is named, wherever its first occurrence is */
	s = strdup("{\"a0\":0,\"a1\":1,\"a2\":2,\"a3\":3,\"a4\":4,\"a5\":5,\"a6\":6,\"a7\":7,"
		   "\"a8\":8,\"a9\":9,\"b0\":0,\"b1\":1,\"b2\":2,\"b3\":3,\"b4\":4,\"b5\":5,"
		   "\"b6\":6,\"b7\":7,\"b8\":8,\"b9\":9,\"c0\":0,\"c1\":1,\"c2\":2,\"c3\":3,"
		   "\"c4\":4,\"c5\":5,\"c6\":6,\"c7\":7,\"c8\":8,\"c9\":9,\"d0\":0,\"d1\":1,"
		   "\"d2\":2,\"d3\":3,\"d4\":4,\"d9\":5,\"d4\":6,\"d2\":7}");
	assert_null(parse(s, 0, err, sizeof err));
	assert_non_null(strstr(err, "duplicate object key (line 1, column 254)"));
	free(s);
}

/* Errors never quote the text: only one byte at fault, as \xNN. */
static void test_error_no_quote(void **state)
{
	static const char *const texts[] = {
		"{\"secret\":\"secret\x01\"}", "{\"secret\":1,\"secret\":2}", "[\"secret", "secret",
		"{\"secret\" 1}", "[\"secret\\q\"]", "[\"secret\xff\"]", "[\"\\ud800secret\"]",
	};
	char err[256], small[8];

	(void)state;
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		assert_null(parse(texts[i], 0, err, sizeof err));
		assert_null(strstr(err, "secret"));
		assert_null(strstr(err, "ecr"));
		for (const char *p = err; *p; p++)
			assert_true(*p >= 0x20 && *p < 0x7f);
		assert_null(parse(texts[i], 0, small, sizeof small)); /* cut, NUL-terminated */
		assert_true(strlen(small) < sizeof small);
		assert_null(parse(texts[i], 0, NULL, 0));
	}
}

/* The text need not be NUL-terminated: nothing past len is read (ASan checks). */
static void test_not_terminated(void **state)
{
	static const char *const texts[] = {"123", "\"ab\"", "true", "[1", "\"\\u12", "-", "1e5"};
	char err[128];

	(void)state;
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		size_t n = strlen(texts[i]);
		char *p = malloc(n);
		struct rj_doc *d;

		assert_non_null(p);
		memcpy(p, texts[i], n);
		d = parse(p, n, err, sizeof err);
		rj_free(d);
		free(p);
	}
}

/* ------------------------------------------------------- against jansson */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

struct buf {
	char *s;
	size_t len, cap;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->s = realloc(b->s, b->cap);
		assert_non_null(b->s);
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void puts_(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

static void ws(struct buf *b)
{
	static const char *const w[] = {"", "", "", " ", "\n", "\t", "\r\n  "};

	puts_(b, w[rnd(7)]);
}

static void gen_string(struct buf *b)
{
	static const char *const parts[] = {
		"a", "key", "text", "\\\"", "\\\\", "\\/", "\\b\\f\\n\\r\\t", "\\u0000", "\\u00e9",
		"\\uD83D\\uDE00", "\\ud800", "\\udc00", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
		"\xf4\x8f\xbf\xbf", "\x7f", " ", "0", "id", "v",
	};
	int n = (int)rnd(4);

	puts_(b, "\"");
	for (int i = 0; i < n; i++)
		puts_(b, parts[rnd(sizeof parts / sizeof parts[0])]);
	puts_(b, "\"");
}

static void gen_number(struct buf *b)
{
	static const char *const nums[] = {
		"0", "-0", "1", "-1", "42", "1764146615123", "9223372036854775807",
		"-9223372036854775808", "9223372036854775808", "1.5", "-0.25", "1e5", "1E-3",
		"2.5e+10", "0.0", "123456789012345678901234567890", "1e400", "1e-400",
	};

	puts_(b, nums[rnd(sizeof nums / sizeof nums[0])]);
}

static void gen_value(struct buf *b, int depth)
{
	int n, k = (int)rnd(depth < 4 ? 9 : 6);

	ws(b);
	if (k == 0)
		puts_(b, (const char *[]){"null", "true", "false"}[rnd(3)]);
	else if (k <= 2)
		gen_number(b);
	else if (k <= 5)
		gen_string(b);
	else if (k <= 6) {
		puts_(b, "[");
		n = (int)rnd(5);
		for (int i = 0; i < n; i++) {
			if (i)
				puts_(b, ",");
			gen_value(b, depth + 1);
		}
		ws(b);
		puts_(b, "]");
	} else {
		puts_(b, "{");
		n = (int)rnd(5);
		for (int i = 0; i < n; i++) {
			if (i)
				puts_(b, ",");
			ws(b);
			gen_string(b);
			ws(b);
			puts_(b, ":");
			gen_value(b, depth + 1);
		}
		ws(b);
		puts_(b, "}");
	}
	ws(b);
}

static const char *const seeds[] = {
	"{\"v\":1,\"id\":\"m-1\",\"from\":\"+821012345678\",\"to\":\"bob@line.example\","
	"\"text\":\"hi \\u00e9 \\ud83d\\ude00\",\"ts\":1764146615123,\"ttl\":3600,\"dlr\":true,"
	"\"prio\":2,\"hops\":[\"a\",\"b.c\"]}",
	"[{\"v\":1,\"id\":\"a\",\"from\":\"+1\",\"to\":\"x@y.z\",\"body\":\"AAAA\"},"
	"{\"v\":1,\"kind\":\"report\",\"ref\":\"01ARZ3NDEKTSV4RRFFQ69G5FAV\",\"status\":\"failed\","
	"\"at\":1,\"reason\":\"no route\",\"sig\":{\"node\":\"n1\",\"kid\":\"0123456789abcdef\","
	"\"at\":5,\"proof\":[\"l:00\"],\"sig\":\"AA==\"}}]",
	"{\"a\":[1,-2.5e3,null,false,{\"b\":\"\\n\\t\\\\\"}],\"c\":\"\xc3\xa9\xe2\x82\xac\"}",
};

static const char mutants[] = "{}[]\",:\\0123456789-+.eEtrufalsn \t\n\x01\x7f\x80\xbf\xc0\xc3"
			      "\xe2\xed\xf0\xf4\xf5\xff";

static void mutate(struct buf *b)
{
	int n = 1 + (int)rnd(3);

	for (int i = 0; i < n && b->len; i++) {
		size_t at = rnd((uint32_t)b->len);
		char c = mutants[rnd(sizeof mutants - 1)];

		switch (rnd(3)) {
		case 0: /* flip a byte (or a bit of it) */
			b->s[at] = rnd(2) ? c : (char)(b->s[at] ^ (1 << rnd(8)));
			break;
		case 1: /* insert */
			put(b, "", 1); /* room */
			memmove(b->s + at + 1, b->s + at, b->len - at - 1);
			b->s[at] = c;
			break;
		default: /* delete */
			memmove(b->s + at, b->s + at + 1, b->len - at - 1);
			b->len--;
		}
	}
}

static bool same(const struct rj_val *v, json_t *j)
{
	size_t len, n = 0;
	const char *s;

	switch (rj_type(v)) {
	case RJ_NULL:
		return json_is_null(j);
	case RJ_TRUE:
		return json_is_true(j);
	case RJ_FALSE:
		return json_is_false(j);
	case RJ_INTEGER:
		return json_is_integer(j) && json_integer_value(j) == rj_int(v);
	case RJ_REAL: /* the contract has no accessor for a real's value */
		return json_is_real(j);
	case RJ_STRING:
		s = rj_str(v, &len);
		return json_is_string(j) && json_string_length(j) == len &&
		       memcmp(json_string_value(j), s, len + 1) == 0;
	case RJ_ARRAY:
		if (!json_is_array(j) || json_array_size(j) != rj_size(v))
			return false;
		for (const struct rj_val *e = rj_first(v); e; e = rj_next(e), n++)
			if (!same(e, json_array_get(j, n)))
				return false;
		return n == rj_size(v);
	case RJ_OBJECT:
		if (!json_is_object(j) || json_object_size(j) != rj_size(v))
			return false;
		for (const struct rj_val *m = rj_first(v); m; m = rj_next(m), n++) {
			json_t *jm;

			s = rj_key(m, &len);
			jm = json_object_get(j, s);
			if (!s || strlen(s) != len || !jm || !same(m, jm) ||
			    rj_get(v, s) != m)
				return false;
		}
		return n == rj_size(v);
	}
	return false;
}

/* Where jansson refuses what RFC 8259 and the contract allow. */
static bool allowed_difference(const char *jansson_error)
{
	return strstr(jansson_error, "too big") ||
	       strstr(jansson_error, "real number overflow") ||
	       strstr(jansson_error, "NUL byte in object key");
}

static void test_against_jansson(void **state)
{
	struct buf b = {0};
	size_t accepted = 0, refused = 0, skipped = 0, total = 30000;

	(void)state;
	for (size_t i = 0; i < total; i++) {
		char err[160];
		json_error_t je;
		struct rj_doc *d;
		json_t *j;
		bool nomem;

		b.len = 0;
		if (i % 3 == 0)
			puts_(&b, seeds[rnd(sizeof seeds / sizeof seeds[0])]);
		else
			gen_value(&b, 0);
		if (i % 4 != 3) /* a quarter as generated: mostly valid */
			mutate(&b);
		d = rj_parse(b.s, b.len, err, sizeof err, &nomem);
		j = json_loadb(b.s, b.len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY,
			       &je);
		if (!j && d && allowed_difference(je.text)) {
			skipped++;
		} else if (!!d != !!j) {
			print_error("disagree on %zu bytes: rj %s, jansson %s\n", b.len,
				    d ? "accepts" : err, j ? "accepts" : je.text);
			fail();
		} else if (d) {
			if (!same(rj_root(d), j)) {
				print_error("values differ: %s\n", b.s);
				fail();
			}
			accepted++;
		} else {
			refused++;
		}
		rj_free(d);
		json_decref(j);
	}
	print_message("differential: %zu texts, %zu accepted by both, %zu refused by both, "
		      "%zu skipped (beyond int64 or double, NUL in a key)\n",
		      total, accepted, refused, skipped);
	assert_true(accepted > 5000 && refused > 5000);
	free(b.s);
}

/* ------------------------------------------------------------------- main */

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accessors),
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_duplicates_big),
		cmocka_unit_test(test_error_no_quote),
		cmocka_unit_test(test_not_terminated),
		cmocka_unit_test(test_against_jansson),
	};
	struct CMUnitTest table[sizeof cases / sizeof cases[0]];
	int failed = cmocka_run_group_tests_name("json reader", tests, NULL, NULL);

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		table[i] = (struct CMUnitTest){cases[i].name, test_case, NULL, NULL,
					       (void *)&cases[i]};
	failed += _cmocka_run_group_tests("json reader table", table, sizeof table / sizeof table[0],
					  NULL, NULL);
	return failed ? 1 : 0;
}
