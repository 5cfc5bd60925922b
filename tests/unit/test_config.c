/*
 * Unit tests for relay/relay_config.c: a table of broken files, each with the exact
 * "FILE:LINE: reason" it must give; the defaults of a minimal file; a full file read back
 * field by field; the size and duration parsers; reloads; relay_config_load.
 */
#include <pthread.h>
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

#include "relay/relay_priv.h" /* struct relay_node, for the retired configs */

/* "@D@" in a text stands for a temporary directory holding cert.pem, key.pem and ca.pem. */
static char tmpdir[64];

static char *expand(const char *tmpl)
{
	size_t n = strlen(tmpl) + 1, dl = strlen(tmpdir);
	char *out, *o;

	for (const char *p = tmpl; (p = strstr(p, "@D@")); p += 3)
		n += dl;
	o = out = malloc(n);
	assert_non_null(out);
	for (const char *p = tmpl; *p;) {
		if (strncmp(p, "@D@", 3) == 0) {
			memcpy(o, tmpdir, dl);
			o += dl;
			p += 3;
		} else {
			*o++ = *p++;
		}
	}
	*o = '\0';
	return out;
}

static void write_file(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static int group_setup(void **state)
{
	char p[128];

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_config.XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s/%s", tmpdir,
		         (const char *[]){"cert.pem", "key.pem", "ca.pem"}[i]);
		write_file(p, "-----BEGIN X-----\n", 18);
	}
	return 0;
}

static int group_teardown(void **state)
{
	char p[128];

	(void)state;
	for (int i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s/%s", tmpdir,
		         (const char *[]){"cert.pem", "key.pem", "ca.pem", "t.conf"}[i]);
		unlink(p);
	}
	rmdir(tmpdir);
	return 0;
}

/* Parses an @D@ template as "t.conf"; the config is freed unless out is given. */
static int parse(const char *tmpl, struct relay_config **out, char *err, size_t errlen)
{
	char *text = expand(tmpl);
	struct relay_config *cfg = (struct relay_config *)1;
	int rc = relay_config_parse("t.conf", text, &cfg, err, errlen);

	free(text);
	if (rc)
		assert_null(cfg);
	else
		assert_non_null(cfg);
	if (out)
		*out = cfg;
	else
		relay_config_free(cfg);
	return rc;
}

#define H64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
/* Two lines: what every valid file needs. The key under test is then on line 3. */
#define MIN "node-id = \"n1\"\ncarrier-listener { address = \"127.0.0.1\" plain-http = true }\n"
#define TLS                                                                                        \
	"node-id = \"n1\"\n"                                                                       \
	"carrier-listener { tls-cert = \"@D@/cert.pem\" tls-key = \"@D@/key.pem\" }\n"
#define PEER(body) "peer \"p\" {\n" body "\n}\n"
#define AUTH       "token-sha256 = \"" H64 "\" "
#define OWNS       "owns = {\"+8210\"} "
#define PEER_OK    "peer \"p\" { " AUTH OWNS "}\n"
/* Ed25519 public keys (any 32 bytes do) and their kids: printf '%s' KEY | base64 -d |
 * sha256sum | cut -c1-16 */
#define K1     "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define K1_KID "630dcd2966c43366"
#define K2     "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="
#define K2_KID "72dbb7336c767800"
#define KEYS(list) PEER(AUTH OWNS "\nkeys = {" list "}")
/* Eight distinct keys (bytes 0x40 to 0x47, one per key), a line each, and a ninth (0x48). */
#define KEYS8                                                                                      \
	"\"QEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEA=\",\n"                                      \
	"\"QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=\",\n"                                      \
	"\"QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=\",\n"                                      \
	"\"Q0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0M=\",\n"                                      \
	"\"REREREREREREREREREREREREREREREREREREREREREQ=\",\n"                                      \
	"\"RUVFRUVFRUVFRUVFRUVFRUVFRUVFRUVFRUVFRUVFRUU=\",\n"                                      \
	"\"RkZGRkZGRkZGRkZGRkZGRkZGRkZGRkZGRkZGRkZGRkY=\",\n"                                      \
	"\"R0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0c=\""
#define KEY9 "\"SEhISEhISEhISEhISEhISEhISEhISEhISEhISEhISEg=\""

/* ------------------------------------------------------------- bad files */

struct bad {
	const char *text;
	const char *want; /* the whole message; "~" first: a substring of it */
};

static const struct bad bad_cases[] = {
    /* top level */
    {"carrier-listener { address = \"127.0.0.1\" plain-http = true }\n",
     "t.conf: node-id is required"},
    {"node-id = \"bad id\"\n", "t.conf:1: node-id must be 1-64 characters of A-Z a-z 0-9 . _ -"},
    {"\n\nnode-id = \"a123456789b123456789c123456789d123456789e123456789f123456789g1234\"\n",
     "t.conf:3: node-id must be 1-64 characters of A-Z a-z 0-9 . _ -"},
    {MIN "data-dir = \"\"\n", "t.conf:3: data-dir must be a directory name"},
    {MIN "default-country = \"0\"\n",
     "t.conf:3: default-country must be a country calling code: 1-3 digits, not starting "
     "with 0"},
    {MIN "default-country = \"1234\"\n", "~t.conf:3: default-country must be"},
    {MIN "log-level = \"loud\"\n", "t.conf:3: log-level must be debug, info, warn or error"},
    {MIN "max-message-size = \"512\"\n", "t.conf:3: max-message-size must be between 1K and 16M"},
    {MIN "max-message-size = \"17M\"\n", "t.conf:3: max-message-size must be between 1K and 16M"},
    {MIN "max-message-size = \"64KB\"\n",
     "t.conf:3: max-message-size must be a size such as \"512\", \"64K\", \"1M\" or \"16G\""},
    {MIN "unknown-key = 1\n", "t.conf:3: unknown option 'unknown-key'"},
    {MIN "node-id = \"n2\"\n", "t.conf:3: node-id is given twice (first at line 1)"},
    /* carrier-listener */
    {"node-id = n1\ncarrier-listener {\n plain-http = true\n address = \"example.com\"\n}\n",
     "t.conf:4: carrier-listener: address must be a numeric IPv4 or IPv6 address or "
     "\"localhost\""},
    {"node-id = n1\ncarrier-listener {\n plain-http = true\n address = \"127.0.0.256\"\n}\n",
     "~t.conf:4: carrier-listener: address must be"},
    {MIN "carrier-listener { port = 0 }\n",
     "t.conf:3: section 'carrier-listener' is given twice (first at line 2)"},
    {"node-id = n1\ncarrier-listener {\n plain-http = true address = ::1\n port = 0\n}\n",
     "t.conf:4: carrier-listener: port must be between 1 and 65535"},
    {"node-id = n1\ncarrier-listener {\n plain-http = true address = ::1\n port = 65536\n}\n",
     "t.conf:4: carrier-listener: port must be between 1 and 65535"},
    {"node-id = n1\ncarrier-listener {\n plain-http = true address = ::1\n port = http\n}\n",
     "t.conf:4: carrier-listener: port must be a whole number"},
    {"node-id = n1\ncarrier-listener {\n plain-http = true address = ::1\n port = 0x10\n}\n",
     "t.conf:4: carrier-listener: port must be a whole number"},
    {"node-id = n1\ncarrier-listener {\n plain-http = true address = ::1\n"
     " max-connections = 15\n}\n",
     "t.conf:4: carrier-listener: max-connections must be between 16 and 1000000"},
    {"node-id = n1\ncarrier-listener {\n plain-http = true address = ::1\n"
     " max-connections = 100 max-connections-per-ip = 101\n}\n",
     "t.conf:4: carrier-listener: max-connections-per-ip must be between 0 and 100"},
    {"node-id = n1\ncarrier-listener {\n plain-http = true address = ::1\n"
     " max-connections-per-ip = -1\n}\n",
     "t.conf:4: carrier-listener: max-connections-per-ip must be between 0 and 4096"},
    {MIN "admin-listener {\n max-connections-per-ip = 65\n max-connections = 64\n}\n",
     "t.conf:4: admin-listener: max-connections-per-ip must be between 0 and 64"},
    {"node-id = n1\ncarrier-listener {\n address = ::1\n plain-http = maybe\n}\n",
     "t.conf:4: carrier-listener: plain-http must be true or false"},
    {"node-id = n1\ncarrier-listener {\n plain-http = true\n}\n",
     "t.conf:3: carrier-listener: plain-http is allowed on a loopback address only"},
    {"node-id = n1\ncarrier-listener {\n address = \"10.0.0.1\"\n plain-http = yes\n}\n",
     "t.conf:4: carrier-listener: plain-http is allowed on a loopback address only"},
    {"node-id = n1\n\ncarrier-listener {\n address = \"127.0.0.1\"\n}\n",
     "t.conf:3: carrier-listener: tls-cert and tls-key are required unless plain-http = true"},
    {"node-id = n1\n", "t.conf: carrier-listener: tls-cert and tls-key are required unless "
                       "plain-http = true"},
    {"node-id = n1\ncarrier-listener {\n tls-cert = \"@D@/cert.pem\"\n}\n",
     "t.conf:3: carrier-listener: tls-cert and tls-key must be given together"},
    {"node-id = n1\ncarrier-listener {\n tls-key = \"@D@/key.pem\"\n}\n",
     "t.conf:3: carrier-listener: tls-cert and tls-key must be given together"},
    {"node-id = n1\ncarrier-listener {\n tls-cert = \"@D@/nope.pem\"\n"
     " tls-key = \"@D@/key.pem\"\n}\n",
     "t.conf:3: carrier-listener: tls-cert '@D@/nope.pem' cannot be read: No such file or "
     "directory"},
    {"node-id = n1\ncarrier-listener {\n tls-cert = \"@D@/cert.pem\"\n"
     " tls-key = \"@D@/nokey.pem\"\n}\n",
     "t.conf:4: carrier-listener: tls-key '@D@/nokey.pem' cannot be read: No such file or "
     "directory"},
    {TLS "carrier-listener { }\n",
     "t.conf:3: section 'carrier-listener' is given twice (first at line 2)"},
    {"node-id = n1\ncarrier-listener {\n tls-cert = \"@D@\"\n tls-key = \"@D@/key.pem\"\n}\n",
     "t.conf:3: carrier-listener: tls-cert '@D@' is not a regular file"},
    {"node-id = n1\ncarrier-listener {\n tls-cert = \"@D@/cert.pem\" tls-key = \"@D@/key.pem\"\n"
     " client-ca = \"@D@/noca.pem\"\n}\n",
     "t.conf:4: carrier-listener: client-ca '@D@/noca.pem' cannot be read: No such file or "
     "directory"},
    {"node-id = n1\ncarrier-listener {\n address = localhost tls-cert = \"@D@/cert.pem\"\n"
     " tls-key = \"@D@/key.pem\"\n plain-http = true\n}\n",
     "t.conf:5: carrier-listener: plain-http = true cannot be combined with tls-cert, tls-key "
     "or client-ca"},
    {"node-id = n1\ncarrier-listener {\n plain-http = true address = ::1\n tls-cert = \"\"\n"
     " tls-key = \"\"\n}\n",
     "t.conf:3: carrier-listener: plain-http = true cannot be combined with tls-cert, tls-key "
     "or client-ca"},
    {"node-id = n1\ncarrier-listener {\n tls-cert = \"\"\n tls-key = \"@D@/key.pem\"\n}\n",
     "t.conf:3: carrier-listener: tls-cert must be a file name"},
    {MIN "carrier-listener { colour = blue }\n",
     "t.conf:3: unknown option 'colour' in section 'carrier-listener'"},
    /* admin-listener */
    {MIN "admin-listener {\n address = \"*\"\n}\n",
     "t.conf:4: admin-listener: address must be a numeric IPv4 or IPv6 address or "
     "\"localhost\""},
    {MIN "admin-listener {\n port = 70000\n}\n",
     "t.conf:4: admin-listener: port must be between 1 and 65535"},
    {MIN "admin-listener {\n address = \"0.0.0.0\"\n}\n",
     "t.conf:4: admin-listener: address must be a loopback address unless tls-cert and "
     "tls-key are set"},
    {MIN "admin-listener {\n tls-key = \"@D@/key.pem\"\n}\n",
     "t.conf:4: admin-listener: tls-cert and tls-key must be given together"},
    {MIN "admin-listener {\n tls-cert = \"@D@/cert.pem\"\n tls-key = \"@D@/none.pem\"\n}\n",
     "t.conf:5: admin-listener: tls-key '@D@/none.pem' cannot be read: No such file or "
     "directory"},
    {MIN "admin-listener {\n address = \"127.0.0.1\"\n port = 8443\n}\n",
     "t.conf:5: admin-listener: 127.0.0.1 port 8443 is already used by carrier-listener"},
    {TLS "admin-listener {\n port = 8443\n}\n",
     "t.conf:4: admin-listener: 127.0.0.1 port 8443 is already used by carrier-listener"},
    {MIN "admin-listener {\n bootstrap-user = \"a b\"\n}\n",
     "t.conf:4: admin-listener: bootstrap-user must be 1-64 characters of A-Z a-z 0-9 . _ -"},
    {MIN "admin-listener {\n session-idle = \"59s\"\n}\n",
     "t.conf:4: admin-listener: session-idle must be between 1m and 7d"},
    {MIN "admin-listener {\n session-idle = \"8d\"\n}\n",
     "t.conf:4: admin-listener: session-idle must be between 1m and 7d"},
    {MIN "admin-listener {\n\n bootstrap-password-hash = \"pbkdf2-sha256$200000$"
         "AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"\n}\n",
     "~t.conf:5: admin-listener: bootstrap-password-hash must be \"pbkdf2-sha256$"},
    {MIN "admin-listener {\n bootstrap-password-hash = \"pbkdf2-sha256$99999$"
         "AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"\n}\n",
     "~t.conf:4: admin-listener: bootstrap-password-hash must be"},
    {MIN "admin-listener {\n bootstrap-password-hash = \"scrypt$1$2$3\"\n}\n",
     "~t.conf:4: admin-listener: bootstrap-password-hash must be"},
    {MIN "admin-can-read-bodies = 1\n", "t.conf:3: admin-can-read-bodies must be true or false"},
    {"node-id = n1\ncarrier-listener { address = localhost plain-http = true }\n"
     "admin-listener {\n address = \"127.0.0.1\"\n port = 8443\n}\n",
     "t.conf:5: admin-listener: 127.0.0.1 port 8443 is already used by carrier-listener"},
    {MIN "admin-listener {\n client-ca = \"@D@/ca.pem\"\n}\n",
     "t.conf:4: unknown option 'client-ca' in section 'admin-listener'"},
    /* store */
    {MIN "store {\n map-size = \"512K\"\n}\n", "t.conf:4: store: map-size must be at least 1M"},
    {MIN "store {\n map-size = 1G5\n}\n",
     "t.conf:4: store: map-size must be a size such as \"512\", \"64K\", \"1M\" or \"16G\""},
    {MIN "store {\n max-map-size = \"512M\"\n}\n",
     "t.conf:4: store: max-map-size must not be smaller than map-size"},
    {MIN "store {\n map-size = \"32G\"\n}\n",
     "t.conf:4: store: max-map-size must not be smaller than map-size"},
    {MIN "store {\n max-map-size = \"1T\"\n}\n",
     "t.conf:4: store: max-map-size must be a size such as \"512\", \"64K\", \"1M\" or \"16G\""},
    {MIN "store {\n sync = \"fast\"\n}\n", "t.conf:4: store: sync must be full or none"},
    {MIN "store {\n encrypt = true\n}\n", "t.conf:4: store: encrypt needs key-file"},
    {MIN "store {\n key-file = \"/nonexistent/store.key\"\n}\n",
     "t.conf:4: store: key-file '/nonexistent/store.key' cannot be read: No such file or directory"},
    {MIN "store {\n status-retention = \"30s\"\n}\n",
     "t.conf:4: store: status-retention must be between 1m and 365d"},
    {MIN "store {\n status-retention = \"366d\"\n}\n",
     "t.conf:4: store: status-retention must be between 1m and 365d"},
    {MIN "store {\n status-retention = \"1w\"\n}\n",
     "t.conf:4: store: status-retention must be a duration such as \"500ms\", \"30s\", "
     "\"10m\", \"2h\" or \"7d\""},
    {MIN "store {\n sync = full\n sync = none\n}\n",
     "t.conf:5: store: sync is given twice (first at line 4)"},
    {MIN "store {\n map-size = \"1G\"\n bogus = 1\n}\n",
     "t.conf:5: unknown option 'bogus' in section 'store'"},
    /* delivery */
    {MIN "delivery {\n retry-initial = \"5ms\"\n}\n",
     "t.conf:4: delivery: retry-initial must be between 10ms and 1h"},
    {MIN "delivery {\n retry-initial = \"2h\" retry-max = \"3h\"\n}\n",
     "t.conf:4: delivery: retry-initial must be between 10ms and 1h"},
    {MIN "delivery {\n retry-max = \"2d\"\n}\n",
     "t.conf:4: delivery: retry-max must be between 10ms and 1d"},
    {MIN "delivery {\n retry-initial = 30m\n retry-max = \"10m\"\n}\n",
     "t.conf:5: delivery: retry-max must not be smaller than retry-initial"},
    {MIN "delivery {\n retry-initial = 30m\n}\n",
     "t.conf:4: delivery: retry-max must not be smaller than retry-initial"},
    {MIN "delivery {\n retry-factor = 0.5\n}\n",
     "t.conf:4: delivery: retry-factor must be between 1.0 and 10.0"},
    {MIN "delivery {\n retry-factor = 10.5\n}\n",
     "t.conf:4: delivery: retry-factor must be between 1.0 and 10.0"},
    {MIN "delivery {\n retry-factor = fast\n}\n",
     "t.conf:4: delivery: retry-factor must be a decimal number such as 2.0"},
    {MIN "delivery {\n retry-factor = \"2.\"\n}\n",
     "t.conf:4: delivery: retry-factor must be a decimal number such as 2.0"},
    {MIN "delivery {\n retry-factor = nan\n}\n",
     "t.conf:4: delivery: retry-factor must be a decimal number such as 2.0"},
    {MIN "delivery {\n default-ttl = \"0s\"\n}\n",
     "t.conf:4: delivery: default-ttl must be between 1s and 30d"},
    {MIN "delivery {\n default-ttl = \"1500ms\"\n}\n",
     "t.conf:4: delivery: default-ttl must be whole seconds"},
    {MIN "delivery {\n default-ttl = \"8d\"\n}\n",
     "t.conf:4: delivery: default-ttl must not be larger than max-ttl"},
    {MIN "delivery {\n max-ttl = \"2d\"\n}\n",
     "t.conf:4: delivery: default-ttl must not be larger than max-ttl"},
    {MIN "delivery {\n max-ttl = \"31d\"\n}\n",
     "t.conf:4: delivery: max-ttl must be between 1s and 30d"},
    {MIN "delivery {\n timeout = \"50ms\"\n}\n",
     "t.conf:4: delivery: timeout must be between 100ms and 10m"},
    {MIN "delivery {\n timeout = \"11m\"\n}\n",
     "t.conf:4: delivery: timeout must be between 100ms and 10m"},
    {MIN "delivery {\n concurrency = 0\n}\n",
     "t.conf:4: delivery: concurrency must be between 1 and 1024"},
    {MIN "delivery {\n concurrency = 1025\n}\n",
     "t.conf:4: delivery: concurrency must be between 1 and 1024"},
    {MIN "delivery {\n concurrency = -1\n}\n",
     "t.conf:4: delivery: concurrency must be between 1 and 1024"},
    {MIN "delivery {\n inbox-lease = \"500ms\"\n}\n",
     "t.conf:4: delivery: inbox-lease must be between 1s and 1h"},
    {MIN "delivery {\n inbox-lease = \"61m\"\n}\n",
     "t.conf:4: delivery: inbox-lease must be between 1s and 1h"},
    {MIN "delivery {\n timeout = 10s\n}\ndelivery {\n}\n",
     "t.conf:7: section 'delivery' is given twice (first at line 3)"},
    /* peer */
    {MIN "peer \"bad name\" {\n" AUTH OWNS "\n}\n",
     "t.conf:3: peer \"bad name\": name must be 1-64 characters of A-Z a-z 0-9 . _ -"},
    {MIN "peer \"\" {\n" AUTH OWNS "\n}\n",
     "t.conf:3: peer \"\": name must be 1-64 characters of A-Z a-z 0-9 . _ -"},
    {MIN PEER_OK "peer \"p\" {\n" AUTH OWNS "\n}\n",
     "t.conf:4: peer \"p\" is defined twice (first at line 3)"},
    {MIN PEER("kind = \"friend\" " AUTH OWNS),
     "t.conf:4: peer \"p\": kind must be carrier or relay"},
    {MIN PEER(AUTH OWNS "\n token-sha256 = \"" H64 "\""),
     "t.conf:5: peer \"p\": token-sha256 is given twice (first at line 4)"},
    {MIN PEER("token-sha256 = \"abc\" " OWNS),
     "t.conf:4: peer \"p\": token-sha256 must be 64 hex digits (a SHA-256 digest)"},
    {MIN PEER("token-sha256 = \"" H64 "0\" " OWNS),
     "t.conf:4: peer \"p\": token-sha256 must be 64 hex digits (a SHA-256 digest)"},
    {MIN PEER("token-sha256 = "
              "\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg\" " OWNS),
     "t.conf:4: peer \"p\": token-sha256 must be 64 hex digits (a SHA-256 digest)"},
    {MIN PEER(OWNS "\n cert-sha256 = \"01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45"
                   ":67:89:ab:cd:ef:01:23:45:67:89:ab:cd-ef\""),
     "t.conf:5: peer \"p\": cert-sha256 must be 64 hex digits (a SHA-256 digest)"},
    {MIN PEER(OWNS), "t.conf:3: peer \"p\": token-sha256 or cert-sha256 is required"},
    {MIN PEER(AUTH OWNS "\nendpoints = {\"https://a\", \"https://b\", \"https://c\", "
                        "\"https://d\",\n \"https://e\", \"https://f\", \"https://g\", "
                        "\"https://h\",\n \"https://i\"}"),
     "t.conf:7: peer \"p\": endpoints must list at most 8 URLs"},
    {MIN PEER(AUTH OWNS "\nendpoints = {\"https://a.example/v1\",\n \"ftp://b.example/\"}"),
     "t.conf:6: peer \"p\": endpoint 'ftp://b.example/' must be an http:// or https:// URL"},
    {MIN PEER(AUTH OWNS "\nendpoints = {\"https://\"}"),
     "t.conf:5: peer \"p\": endpoint 'https://' must be an http:// or https:// URL"},
    {MIN PEER(AUTH OWNS "\nendpoints = {\"https://a.example/x y\"}"),
     "t.conf:5: peer \"p\": endpoint 'https://a.example/x y' must be an http:// or https:// "
     "URL"},
    {MIN PEER(AUTH OWNS "\noutbound-token = \"two words\""),
     "t.conf:5: peer \"p\": outbound-token must be 1-1024 printable characters without "
     "spaces"},
    {MIN PEER(AUTH OWNS "\noutbound-token = \"line\\r\\nX-Evil: 1\""),
     "t.conf:5: peer \"p\": outbound-token must be 1-1024 printable characters without "
     "spaces"},
    {MIN PEER(AUTH "\nowns = {\"+8210\",\n \"+0123\"}"),
     "~t.conf:6: peer \"p\": owns: '+0123' is not an E.164 prefix: "},
    {MIN PEER(AUTH "\nowns = {\"kakao..example\"}"),
     "~t.conf:5: peer \"p\": owns: 'kakao..example' is not a domain: "},
    {MIN PEER(AUTH "\nowns = {\"*.kakao.example\"}"),
     "~t.conf:5: peer \"p\": owns: '*.kakao.example' is not a domain: "},
    {MIN PEER(AUTH "\nowns = {\"+8210\", \"+82 10\"}"),
     "t.conf:5: peer \"p\": owns: '+8210' is listed twice"},
    {MIN PEER(AUTH "\nowns = {\"+8210\"}\nowns = {\"+8211\"}"),
     "t.conf:6: peer \"p\": owns is given twice (first at line 5)"},
    /* peer keys (trust pins) */
    {MIN KEYS("\"AAEC!\""), "t.conf:5: peer \"p\": keys: 'AAEC!' is not standard base64"},
    {MIN KEYS("\"" K1 "\",\n\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=\""),
     "t.conf:6: peer \"p\": keys: 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=' is not "
     "standard base64"},
    {MIN KEYS("\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\""),
     "t.conf:5: peer \"p\": keys: 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8' is not "
     "standard base64"},
    {MIN KEYS("\"AAECAw==\""),
     "t.conf:5: peer \"p\": keys: 'AAECAw==' is 4 bytes, not a 32-byte Ed25519 public key"},
    {MIN KEYS("\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIj\""),
     "t.conf:5: peer \"p\": keys: 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIj' is 36 "
     "bytes, not a 32-byte Ed25519 public key"},
    {MIN KEYS("\"" K1 " until 2027-02-29T00:00:00Z\""),
     "t.conf:5: peer \"p\": keys: '2027-02-29T00:00:00Z' after until is not a UTC time "
     "YYYY-MM-DDTHH:MM:SSZ"},
    {MIN KEYS("\"" K1 " until 2027-01-01 00:00:00\""),
     "t.conf:5: peer \"p\": keys: '2027-01-01 00:00:00' after until is not a UTC time "
     "YYYY-MM-DDTHH:MM:SSZ"},
    {MIN KEYS("\"" K1 " until 2027-01-01T24:00:00Z\""),
     "t.conf:5: peer \"p\": keys: '2027-01-01T24:00:00Z' after until is not a UTC time "
     "YYYY-MM-DDTHH:MM:SSZ"},
    {MIN KEYS("\"" K1 " until 2027-01-01T00:00:00+00:00\""),
     "t.conf:5: peer \"p\": keys: '2027-01-01T00:00:00+00:00' after until is not a UTC time "
     "YYYY-MM-DDTHH:MM:SSZ"},
    {MIN KEYS("\"" K1 " since 2027-01-01T00:00:00Z\""),
     "t.conf:5: peer \"p\": keys: '" K1 " since 2027-01-01T00:00:00Z' must be \"BASE64\" or "
     "\"BASE64 until YYYY-MM-DDTHH:MM:SSZ\""},
    {MIN KEYS("\"" K1 " until\""), "t.conf:5: peer \"p\": keys: '" K1 " until' must be "
     "\"BASE64\" or \"BASE64 until YYYY-MM-DDTHH:MM:SSZ\""},
    {MIN KEYS("\"" K2 "\", \"" K1 "\",\n\"" K1 " until 2027-01-01T00:00:00Z\""),
     "t.conf:6: peer \"p\": keys: key " K1_KID " is listed twice (first at line 5)"},
    {MIN PEER(AUTH OWNS "\nkeys = {\"" K1 "\"}\nkeys = {\"" K2 "\"}"),
     "t.conf:6: peer \"p\": keys is given twice (first at line 5)"},
    {MIN KEYS(KEYS8 ",\n" KEY9), "t.conf:13: peer \"p\": keys lists 9 keys; a peer pins at most 8"},
    /* trust */
    {MIN "trust {\n key-valid-until = \"2027-13-01T00:00:00Z\"\n}\n",
     "t.conf:4: trust: key-valid-until must be a UTC time such as \"2027-01-01T00:00:00Z\""},
    {MIN "trust { key-valid-until = \"1970-01-01T00:00:00Z\" }\n",
     "t.conf:3: trust: key-valid-until must be a UTC time such as \"2027-01-01T00:00:00Z\""},
    {MIN "trust { attestt = true }\n", "t.conf:3: unknown option 'attestt' in section 'trust'"},
    {MIN "trust { attest = maybe }\n", "t.conf:3: trust: attest must be true or false"},
    {MIN "trust { key-file = \"\" }\n", "t.conf:3: trust: key-file must be a file name"},
    {MIN "trust { }\ntrust { attest = false }\n",
     "~t.conf:4: section 'trust' is given twice"},
    {MIN PEER(AUTH), "t.conf:3: peer \"p\": a carrier needs owns (the prefixes and domains it "
                     "sends from)"},
    {MIN PEER(AUTH OWNS "\nrate = 0"), "t.conf:5: peer \"p\": rate must be between 1 and 1000000"},
    {MIN PEER(AUTH OWNS "\nrate = 1000001"),
     "t.conf:5: peer \"p\": rate must be between 1 and 1000000"},
    {MIN PEER(AUTH OWNS "\nburst = 0"),
     "t.conf:5: peer \"p\": burst must be between 1 and 4294967295"},
    {MIN PEER(AUTH OWNS "\nmax-size = \"128K\""),
     "t.conf:5: peer \"p\": max-size must be a size from 1 to max-message-size (65536 bytes)"},
    {MIN PEER(AUTH OWNS "\nmax-size = \"0\""),
     "t.conf:5: peer \"p\": max-size must be a size from 1 to max-message-size (65536 bytes)"},
    {MIN PEER(AUTH OWNS "\nmax-queue = 0"), "t.conf:5: peer \"p\": max-queue must be at least 1"},
    {MIN PEER(AUTH OWNS "\nmax-queue = 99999999999999999999"),
     "t.conf:5: peer \"p\": max-queue is out of range"},
    {MIN PEER(AUTH OWNS "\nsuspended = maybe"),
     "t.conf:5: peer \"p\": suspended must be true or false"},
    {MIN PEER(AUTH OWNS "\nweight = 3"),
     "t.conf:5: unknown option 'weight' in section 'peer \"p\"'"},
    {MIN "peer {\n}\n", "t.conf:3: missing title for section 'peer'"},
    /* route */
    {MIN PEER_OK "route {\n prefix = \"+8210\" domain = \"a.example\" peer = p\n}\n",
     "t.conf:4: route: needs exactly one of prefix, domain or default = true"},
    {MIN PEER_OK "route {\n peer = p\n}\n",
     "t.conf:4: route: needs exactly one of prefix, domain or default = true"},
    {MIN PEER_OK "route {\n default = false peer = p\n}\n",
     "t.conf:4: route: needs exactly one of prefix, domain or default = true"},
    {MIN PEER_OK "route {\n default = true prefix = \"+1\" peer = p\n}\n",
     "t.conf:4: route: needs exactly one of prefix, domain or default = true"},
    {MIN PEER_OK "route {\n default = sometimes peer = p\n}\n",
     "t.conf:5: route: default must be true or false"},
    {MIN PEER_OK "route {\n prefix = \"8210\"\n peer = p\n}\n",
     "~t.conf:5: route: prefix '8210' is not an E.164 prefix: "},
    {MIN PEER_OK "route {\n domain = \"-bad.example\"\n peer = p\n}\n",
     "~t.conf:5: route: domain '-bad.example' is not a domain: "},
    {MIN PEER_OK "route {\n domain = \"a.example\"\n}\n", "t.conf:4: route: peer is required"},
    {MIN PEER_OK "route {\n prefix = \"+8210\"\n peer = \"q\"\n}\n",
     "t.conf:6: route: peer 'q' is not defined"},
    {MIN PEER_OK "route { default = true peer = p }\nroute { default = true peer = p }\n",
     "t.conf:5: route: only one default route is allowed (first at line 4)"},
    {MIN PEER_OK
     "route { prefix = \"+8210\" peer = p }\n\nroute { prefix = \"00 82 10\" peer = p }\n",
     "t.conf:6: route: prefix '+8210' is routed twice (first at line 4)"},
    {MIN PEER_OK "route { domain = \"*.A.example\" peer = p }\nroute { domain = \"*.a.example\" "
                 "peer = p }\n",
     "t.conf:5: route: domain '*.a.example' is routed twice (first at line 4)"},
    {MIN PEER_OK "route { prefix = \"+1\" peer = p metric = 3 }\n",
     "t.conf:4: unknown option 'metric' in section 'route'"},
    /* the file itself */
    {MIN "store {\n map-size = \"1G\"\n", "t.conf:3: '{' is never closed"},
    {MIN "owns = {\"+1\"\n", "t.conf:3: '{' is never closed"},
    {MIN "log-level = \"info\n", "t.conf:3: unterminated string"},
    {MIN "\n'junk\n", "t.conf:4: unterminated string"},
    {MIN "\"junk\n", "t.conf:3: unterminated string"},
    {MIN "log-level = \"a\\\"\n", "t.conf:3: unterminated string"},
    {MIN "delivery {\n timeout = \"1s\"\n", "t.conf:3: '{' is never closed"},
    {MIN "store = 1\n", "t.conf:3: missing opening brace for section 'store'"},
    {MIN "}\n", "t.conf:3: unexpected closing brace"},
    {MIN "include(\"/etc/passwd\")\n", "t.conf:3: unknown option 'include'"},
    {MIN "/* a comment\nthat never ends\n", "t.conf:3: unterminated /* comment"},
    {"# one\n# two\n// three\n/* four\n five */\nnode-id = \"n1\"\n# six\n"
     "carrier-listener { address = \"127.0.0.1\" plain-http = true }\nlog-level = \"x\" # seven\n",
     "t.conf:9: log-level must be debug, info, warn or error"},
    {MIN "data-dir = 'multi\nline'\n", "t.conf:4: data-dir must be a directory name"},
    {MIN "data-dir = '/a\\\nb'\nmax-message-size = \"1\"\n",
     "t.conf:5: max-message-size must be between 1K and 16M"},
};

static void test_bad(void **state)
{
	const struct bad *b = *state;
	char err[512], *want = expand(b->want[0] == '~' ? b->want + 1 : b->want);
	int rc = parse(b->text, NULL, err, sizeof(err));

	assert_int_equal(rc, -RELAY_ECONFIG);
	if (b->want[0] == '~') {
		if (!strstr(err, want))
			fail_msg("got \"%s\", want a message containing \"%s\"", err, want);
	} else {
		assert_string_equal(err, want);
	}
	free(want);
}

/* ------------------------------------------------------------ good files */

static void test_defaults(void **state)
{
	struct relay_config *c;
	char err[256] = "x";

	(void)state;
	assert_int_equal(parse(MIN, &c, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_string_equal(c->path, "t.conf");
	assert_string_equal(c->node_id, "n1");
	assert_string_equal(c->data_dir, "/var/lib/interlink");
	assert_null(c->default_country);
	assert_int_equal(c->log_level, RELAY_LOG_INFO);
	assert_int_equal(c->max_message_size, 64 * 1024);
	assert_string_equal(c->carrier.address, "127.0.0.1");
	assert_int_equal(c->carrier.port, 8443);
	assert_null(c->carrier.tls_cert);
	assert_null(c->carrier.tls_key);
	assert_null(c->carrier.client_ca);
	assert_true(c->carrier.plain_http);
	assert_int_equal(c->carrier.max_conns, 4096);
	assert_int_equal(c->carrier.max_conns_per_ip, 256);
	assert_string_equal(c->admin.address, "127.0.0.1");
	assert_int_equal(c->admin.port, 8081);
	assert_int_equal(c->admin.max_conns, 256);
	assert_int_equal(c->admin.max_conns_per_ip, 64);
	assert_null(c->admin.tls_cert);
	assert_null(c->admin.tls_key);
	assert_null(c->admin.client_ca);
	assert_true(c->admin.plain_http);
	assert_string_equal(c->admin.bootstrap_user, "admin");
	assert_null(c->admin.bootstrap_password_hash);
	assert_int_equal(c->admin.session_idle_ms, 30 * 60 * 1000);
	assert_false(c->admin_can_read_bodies);
	assert_int_equal(c->store.map_size, 1ull << 30);
	assert_int_equal(c->store.max_map_size, 16ull << 30);
	assert_int_equal(c->store.sync, RELAY_SYNC_FULL);
	assert_int_equal(c->store.status_retention_ms, 7ull * 86400000);
	assert_int_equal(c->delivery.retry_initial_ms, 1000);
	assert_int_equal(c->delivery.retry_max_ms, 600000);
	assert_true(c->delivery.retry_factor == 2.0);
	assert_int_equal(c->delivery.default_ttl_s, 3 * 86400);
	assert_int_equal(c->delivery.max_ttl_s, 7 * 86400);
	assert_int_equal(c->delivery.timeout_ms, 10000);
	assert_int_equal(c->delivery.concurrency, 32);
	assert_int_equal(c->delivery.inbox_lease_ms, 30000);
	assert_int_equal(c->n_peers, 0);
	assert_null(c->peers);
	assert_int_equal(c->n_routes, 0);
	assert_null(c->routes);
	assert_true(c->trust.attest);
	assert_null(c->trust.key_file);
	assert_int_equal(c->trust.key_valid_until_ms, 0);
	assert_null(c->trust.keys);
	relay_config_free(c);
}

/* Pins: decoded, kid computed, until parsed; the trust section's values. */
static void test_trust(void **state)
{
	struct relay_config *c;
	const struct relay_peer_conf *p;
	char err[256];

	(void)state;
	if (parse(MIN "trust {\n attest = false\n key-file = \"/nonexistent/node.pem\"\n"
	          " key-valid-until = \"2027-11-26T00:00:00Z\"\n}\n"
	          KEYS("\"" K1 "\", \"" K2 "   until  2027-01-01T00:00:00Z\"") PEER_OK, &c, err,
	          sizeof(err)) == 0)
		fail_msg("a duplicate peer was accepted");
	if (parse(MIN "trust {\n attest = false\n key-file = \"/nonexistent/node.pem\"\n"
	          " key-valid-until = \"2027-11-26T00:00:00Z\"\n}\n"
	          KEYS("\"" K1 "\", \"" K2 "   until  2027-01-01T00:00:00Z\""), &c, err,
	          sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_false(c->trust.attest);
	assert_string_equal(c->trust.key_file, "/nonexistent/node.pem"); /* made at start-up */
	assert_true(c->trust.key_valid_until_ms == 1827187200000LL);
	assert_null(c->trust.keys);
	p = relay_config_peer(c, "p");
	assert_non_null(p);
	assert_int_equal(p->n_keys, 2);
	assert_string_equal(p->keys[0].kid, K1_KID);
	assert_true(p->keys[0].until_ms == 0);
	for (int i = 0; i < 32; i++)
		assert_int_equal(p->keys[0].pub[i], i);
	assert_string_equal(p->keys[1].kid, K2_KID);
	assert_true(p->keys[1].until_ms == 1798761600000LL);
	assert_int_equal(p->keys[1].pub[0], 0x20);
	assert_int_equal(p->keys[1].pub[31], 0x3f);
	relay_config_free(c);
	if (parse(MIN KEYS(KEYS8), &c, err, sizeof(err)) != 0) /* eight: the most */
		fail_msg("%s", err);
	assert_int_equal(c->peers[0].n_keys, ROUTE_PINS_MAX);
	assert_int_equal(c->peers[0].keys[7].pub[0], 0x47);
	relay_config_free(c);
	if (parse(MIN "trust { }\n" PEER_OK, &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_true(c->trust.attest);
	assert_null(c->trust.key_file);
	assert_int_equal(c->peers[0].n_keys, 0);
	assert_null(c->peers[0].keys);
	relay_config_free(c);
	if (parse(MIN "trust { key-valid-until = \"2024-02-29T23:59:59Z\" }\n", &c, err,
	          sizeof(err)) != 0)
		fail_msg("%s", err); /* a leap day; in the past is relay_trust_open's refusal */
	assert_true(c->trust.key_valid_until_ms == 1709251199000LL);
	relay_config_free(c);
}

static const char full_text[] =
    "# every key, each set away from its default\n"
    "node-id = \"relay-a.example\"\n"
    "data-dir = \"/srv/interlink\"\n"
    "default-country = \"82\"\n"
    "log-level = \"debug\"\n"
    "max-message-size = \"1M\"\n"
    "admin-can-read-bodies = true\n"
    "carrier-listener {\n"
    "  address = \"::\"\n"
    "  port = \"9443\"\n"
    "  tls-cert = \"@D@/cert.pem\"\n"
    "  tls-key = '@D@/key.pem'\n"
    "  client-ca = \"@D@/ca.pem\"\n"
    "  plain-http = false max-connections = 20000 max-connections-per-ip = 0\n"
    "}\n"
    "admin-listener {\n"
    "  address = \"::1\"\n"
    "  port = 9081 max-connections = 16 max-connections-per-ip = 16\n"
    "  tls-cert = \"@D@/cert.pem\"\n"
    "  tls-key = \"@D@/key.pem\"\n"
    "  bootstrap-user = \"root.admin\"\n"
    "  bootstrap-password-hash = \"pbkdf2-sha256$200000$AAAAAAAAAAAAAAAAAAAAAA==$"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"\n"
    "  session-idle = \"7d\"\n"
    "}\n"
    "store {\n"
    "  map-size = 67108864\n"
    "  max-map-size = \"2g\"\n"
    "  sync = \"none\"\n"
    "  status-retention = \"12h\"\n"
    "}\n"
    "delivery {\n"
    "  retry-initial = \"250ms\"\n"
    "  retry-max = \"1h\"\n"
    "  retry-factor = 1.5\n"
    "  default-ttl = \"1d\"\n"
    "  max-ttl = \"30d\"\n"
    "  timeout = \"30s\"\n"
    "  concurrency = 8\n"
    "  inbox-lease = \"2m\"\n"
    "}\n"
    "peer \"kakao\" {\n"
    "  kind = \"carrier\"\n"
    "  token-sha256 = \"0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789ABCDEF\"\n"
    "  cert-sha256 = \"AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:"
    "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89\"\n"
    "  endpoints = {\"https://in.kakao.example/v1/deliver\",\n"
    "               \"http://dr.kakao.example:8080/v1/deliver\"}\n"
    "  outbound-token = \"s3cret-token\"\n"
    "  owns = {\"+82 10\", \"0082-11\", \"Kakao.Example\"}\n"
    "  owns += {\"talk.kakao.example\"}\n"
    "  rate = 500\n"
    "  burst = 700\n"
    "  max-size = \"32K\"\n"
    "  max-queue = 5000 suspended = true directory-trusted = true\n"
    "}\n"
    "peer \"upstream-relay\" {\n"
    "  kind = relay\n"
    "  cert-sha256 = \"" H64 "\"\n"
    "  endpoints = {\"https://relay-b.example/v1/deliver\"}\n"
    "}\n"
    "route { prefix = \"+8210\" peer = \"kakao\" }\n"
    "route { domain = \"*.kakao.example\" peer = \"kakao\" }\n"
    "route { domain = \"Line.Example\" peer = \"upstream-relay\" }\n"
    "route { default = true peer = \"upstream-relay\" }\n";

static void check_full(const struct relay_config *c)
{
	const struct relay_peer_conf *k = relay_config_peer(c, "kakao"), *u;
	char *p = expand("@D@/cert.pem");

	assert_string_equal(c->node_id, "relay-a.example");
	assert_string_equal(c->data_dir, "/srv/interlink");
	assert_string_equal(c->default_country, "82");
	assert_int_equal(c->log_level, RELAY_LOG_DEBUG);
	assert_int_equal(c->max_message_size, 1 << 20);
	assert_string_equal(c->carrier.address, "::");
	assert_int_equal(c->carrier.port, 9443);
	assert_string_equal(c->carrier.tls_cert, p);
	assert_non_null(strstr(c->carrier.tls_key, "/key.pem"));
	assert_non_null(strstr(c->carrier.client_ca, "/ca.pem"));
	assert_false(c->carrier.plain_http);
	assert_int_equal(c->carrier.max_conns, 20000);
	assert_int_equal(c->carrier.max_conns_per_ip, 0);
	assert_string_equal(c->admin.address, "::1");
	assert_int_equal(c->admin.port, 9081);
	assert_int_equal(c->admin.max_conns, 16);
	assert_int_equal(c->admin.max_conns_per_ip, 16);
	assert_string_equal(c->admin.bootstrap_user, "root.admin");
	assert_non_null(strstr(c->admin.bootstrap_password_hash, "$200000$AAAA"));
	assert_int_equal(c->admin.session_idle_ms, 7ull * 86400 * 1000);
	assert_true(c->admin_can_read_bodies);
	assert_string_equal(c->admin.tls_cert, p);
	assert_non_null(strstr(c->admin.tls_key, "/key.pem"));
	assert_false(c->admin.plain_http);
	assert_int_equal(c->store.map_size, 64 << 20);
	assert_int_equal(c->store.max_map_size, 2ull << 30);
	assert_int_equal(c->store.sync, RELAY_SYNC_NONE);
	assert_int_equal(c->store.status_retention_ms, 12 * 3600000);
	assert_int_equal(c->delivery.retry_initial_ms, 250);
	assert_int_equal(c->delivery.retry_max_ms, 3600000);
	assert_true(c->delivery.retry_factor == 1.5);
	assert_int_equal(c->delivery.default_ttl_s, 86400);
	assert_int_equal(c->delivery.max_ttl_s, 30 * 86400);
	assert_int_equal(c->delivery.timeout_ms, 30000);
	assert_int_equal(c->delivery.concurrency, 8);
	assert_int_equal(c->delivery.inbox_lease_ms, 120000);

	assert_int_equal(c->n_peers, 2);
	assert_ptr_equal(k, &c->peers[0]);
	assert_string_equal(k->name, "kakao");
	assert_int_equal(k->kind, RELAY_PEER_CARRIER);
	assert_string_equal(k->token_sha256, "0123456789abcdef0123456789abcdef"
	                                     "0123456789abcdef0123456789abcdef");
	assert_string_equal(k->cert_sha256, "abcdef0123456789abcdef0123456789"
	                                    "abcdef0123456789abcdef0123456789");
	assert_int_equal(k->n_endpoints, 2);
	assert_string_equal(k->endpoints[0], "https://in.kakao.example/v1/deliver");
	assert_string_equal(k->endpoints[1], "http://dr.kakao.example:8080/v1/deliver");
	assert_string_equal(k->outbound_token, "s3cret-token");
	assert_int_equal(k->n_owns, 4);
	assert_string_equal(k->owns[0], "+8210");
	assert_string_equal(k->owns[1], "+8211");
	assert_string_equal(k->owns[2], "kakao.example");
	assert_string_equal(k->owns[3], "talk.kakao.example");
	assert_int_equal(k->rate, 500);
	assert_int_equal(k->burst, 700);
	assert_int_equal(k->max_size, 32 * 1024);
	assert_int_equal(k->max_queue, 5000);
	assert_true(k->suspended);
	assert_true(k->directory_trusted);
	assert_int_equal(k->line, 41);

	u = relay_config_peer(c, "upstream-relay");
	assert_ptr_equal(u, &c->peers[1]);
	assert_int_equal(u->kind, RELAY_PEER_RELAY);
	assert_false(u->directory_trusted); /* the default */
	assert_null(u->token_sha256);
	assert_string_equal(u->cert_sha256, H64);
	assert_int_equal(u->n_endpoints, 1);
	assert_null(u->outbound_token);
	assert_int_equal(u->n_owns, 0);
	assert_null(u->owns);
	assert_int_equal(u->rate, 1000);
	assert_int_equal(u->burst, 2000);
	assert_int_equal(u->max_size, 1 << 20);
	assert_int_equal(u->max_queue, 1000000);
	assert_int_equal(u->line, 55);
	assert_null(relay_config_peer(c, "nobody"));
	assert_null(relay_config_peer(c, NULL));
	assert_null(relay_config_peer(NULL, "kakao"));

	assert_int_equal(c->n_routes, 4);
	assert_int_equal(c->routes[0].match, RELAY_ROUTE_PREFIX);
	assert_string_equal(c->routes[0].value, "+8210");
	assert_string_equal(c->routes[0].peer, "kakao");
	assert_int_equal(c->routes[0].line, 60);
	assert_int_equal(c->routes[1].match, RELAY_ROUTE_DOMAIN);
	assert_string_equal(c->routes[1].value, "*.kakao.example");
	assert_int_equal(c->routes[2].match, RELAY_ROUTE_DOMAIN);
	assert_string_equal(c->routes[2].value, "line.example");
	assert_string_equal(c->routes[2].peer, "upstream-relay");
	assert_int_equal(c->routes[3].match, RELAY_ROUTE_DEFAULT);
	assert_null(c->routes[3].value);
	assert_string_equal(c->routes[3].peer, "upstream-relay");
	assert_int_equal(c->routes[3].line, 63);
	free(p);
}

static void test_full(void **state)
{
	struct relay_config *c;
	char err[256];

	(void)state;
	if (parse(full_text, &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	check_full(c);
	relay_config_free(c);
}

/* A reload parses again in the same process: libconfuse's global lexer must start clean. */
static void test_twice(void **state)
{
	static const char *const broken[] = {
	    MIN "log-level = \"unterminated\n",
	    MIN "log-level = 'unterminated\n",
	    MIN "store {\n",
	    MIN "/* open comment\n",
	    MIN "x = 1\n",
	    "",
	};
	struct relay_config *a, *b;
	char err[256];

	(void)state;
	assert_int_equal(parse(full_text, &a, err, sizeof(err)), 0);
	assert_int_equal(parse(full_text, &b, err, sizeof(err)), 0);
	check_full(a);
	check_full(b);
	relay_config_free(a);
	relay_config_free(b);
	for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
		assert_int_equal(parse(broken[i], NULL, err, sizeof(err)), -RELAY_ECONFIG);
		assert_int_equal(parse(full_text, &a, err, sizeof(err)), 0);
		check_full(a);
		relay_config_free(a);
	}
}

/* libconfuse's lexer is global: parses from several threads must not meet in it. */
static void *parse_many(void *arg)
{
	char err[256];
	long bad = 0;

	for (int i = 0; i < 40; i++) {
		struct relay_config *c, *d;

		if (relay_config_parse("t.conf", arg, &c, err, sizeof(err)) != 0 ||
		    c->n_routes != 4)
			bad++;
		if (relay_config_parse("t.conf", "x = 1\n", &d, err, sizeof(err)) !=
		        -RELAY_ECONFIG ||
		    strcmp(err, "t.conf:1: unknown option 'x'") != 0)
			bad++;
		relay_config_free(c);
	}
	return (void *)bad;
}

static void test_threads(void **state)
{
	char *text = expand(full_text);
	pthread_t t[4];
	void *bad;

	(void)state;
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, parse_many, text), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], &bad), 0);
		assert_null(bad);
	}
	free(text);
}

/* Odd but valid spellings: unquoted values, unquoted numbers, yes/no, IPv4-mapped loopback. */
static void test_spellings(void **state)
{
	struct relay_config *c;
	char err[256];

	(void)state;
	if (parse("node-id = n.1_x-Y\ncarrier-listener { address = ::ffff:127.0.0.2 port = 010 "
	          "plain-http = yes }\nadmin-listener { address = localhost port = 8443 }\n"
	          "max-message-size = 16777216\ndelivery { retry-factor = 10 default-ttl = 7d "
	          "max-ttl = \"7d\" retry-initial = 1h retry-max = 1h }\n"
	          "admin-listener { }\n",
	          &c, err, sizeof(err)) == 0)
		fail_msg("the repeated admin-listener section was accepted");
	assert_string_equal(err,
	                    "t.conf:6: section 'admin-listener' is given twice (first at line 3)");
	if (parse("node-id = n.1_x-Y\ncarrier-listener { address = ::ffff:127.0.0.2 port = 010 "
	          "plain-http = yes }\nadmin-listener { address = 127.0.0.1 port = 8443 }\n"
	          "max-message-size = 16777216\ndelivery { retry-factor = 10 default-ttl = 7d "
	          "max-ttl = \"7d\" retry-initial = 1h retry-max = 1h }\n",
	          &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_string_equal(c->node_id, "n.1_x-Y");
	assert_int_equal(c->carrier.port, 10);
	assert_true(c->carrier.plain_http);
	assert_int_equal(c->admin.port, 8443);
	assert_int_equal(c->max_message_size, 16 << 20);
	assert_true(c->delivery.retry_factor == 10.0);
	assert_int_equal(c->delivery.default_ttl_s, c->delivery.max_ttl_s);
	relay_config_free(c);
}

/* Peer defaults follow the node: max-size is max-message-size, burst twice the rate. */
static void test_peer_defaults(void **state)
{
	struct relay_config *c;
	char err[256];

	(void)state;
	if (parse(MIN "max-message-size = \"4K\"\n" PEER(AUTH OWNS "rate = 7") PEER_OK, &c, err,
	          sizeof(err)) == 0)
		fail_msg("a duplicate peer was accepted");
	if (parse(MIN "max-message-size = \"4K\"\n" PEER(AUTH OWNS "rate = 7"), &c, err,
	          sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(c->peers[0].rate, 7);
	assert_int_equal(c->peers[0].burst, 14);
	assert_int_equal(c->peers[0].max_size, 4096);
	assert_int_equal(c->peers[0].line, 4);
	relay_config_free(c);
}

/* The error text is always NUL-terminated, however small the buffer. */
static void test_err_buffer(void **state)
{
	char err[8];
	struct relay_config *c = (struct relay_config *)1;

	(void)state;
	memset(err, 'x', sizeof(err));
	assert_int_equal(parse("log-level = \"loud\"\n", NULL, err, sizeof(err)), -RELAY_ECONFIG);
	assert_string_equal(err, "t.conf:");
	assert_int_equal(parse("node-id = 1\n", NULL, NULL, 0), -RELAY_ECONFIG);
	assert_int_equal(relay_config_parse(NULL, "", &c, err, sizeof(err)), -RELAY_ECONFIG);
	assert_null(c);
	assert_string_equal(err, "config:");
	assert_int_equal(relay_config_parse("n", NULL, &c, err, 1), -RELAY_ECONFIG);
	assert_string_equal(err, "");
	relay_config_free(NULL);
}

/* ------------------------------------------------------ relay_config_load */

static void test_load(void **state)
{
	char path[128], err[256], *text = expand(full_text), *want;
	struct relay_config *c = (struct relay_config *)1;

	(void)state;
	snprintf(path, sizeof(path), "%s/t.conf", tmpdir);
	write_file(path, text, strlen(text));
	if (relay_config_load(path, &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_string_equal(c->path, path);
	check_full(c);
	relay_config_free(c);

	write_file(path, MIN "log-level = \"x\"\n", sizeof(MIN "log-level = \"x\"\n") - 1);
	assert_int_equal(relay_config_load(path, &c, err, sizeof(err)), -RELAY_ECONFIG);
	assert_null(c);
	want = expand("@D@/t.conf:3: log-level must be debug, info, warn or error");
	assert_string_equal(err, want);
	free(want);

	write_file(path, MIN "#\0\n", sizeof(MIN "#\0\n") - 1);
	assert_int_equal(relay_config_load(path, &c, err, sizeof(err)), -RELAY_ECONFIG);
	want = expand("@D@/t.conf:3: the file holds a NUL byte");
	assert_string_equal(err, want);
	free(want);

	assert_int_equal(relay_config_load(tmpdir, &c, err, sizeof(err)), -RELAY_ECONFIG);
	want = expand("@D@: cannot read: Is a directory");
	assert_string_equal(err, want);
	free(want);
	unlink(path);
	free(text);
}

static void test_load_missing(void **state)
{
	struct relay_config *c = (struct relay_config *)1;
	char err[256];

	(void)state;
	assert_int_equal(relay_config_load("/nonexistent/interlink.conf", &c, err, sizeof(err)),
	                 -RELAY_ECONFIG);
	assert_null(c);
	assert_string_equal(err, "/nonexistent/interlink.conf: cannot open: No such file or "
	                         "directory");
}

/* ------------------------------------------------------- units */

struct unit_case {
	const char *in;
	int rc;
	uint64_t out;
};

static const struct unit_case durations[] = {
    {"0", 0, 0},
    {"1ms", 0, 1},
    {"1500ms", 0, 1500},
    {"30s", 0, 30000},
    {"10m", 0, 600000},
    {"2h", 0, 7200000},
    {"7d", 0, 604800000},
    {"7", 0, 7000},
    {"007s", 0, 7000},
    {"18446744073709551615ms", 0, UINT64_MAX},
    {"18446744073709551616ms", -RELAY_ECONFIG, 0},
    {"18446744073709552s", -RELAY_ECONFIG, 0},
    {"99999999999999999999d", -RELAY_ECONFIG, 0},
    {"213503982334d", 0, 18446744073657600000ull},
    {"213503982335d", -RELAY_ECONFIG, 0},
    {"", -RELAY_ECONFIG, 0},
    {"s", -RELAY_ECONFIG, 0},
    {"10x", -RELAY_ECONFIG, 0},
    {"-1s", -RELAY_ECONFIG, 0},
    {"+1s", -RELAY_ECONFIG, 0},
    {" 1s", -RELAY_ECONFIG, 0},
    {"1s ", -RELAY_ECONFIG, 0},
    {"1 s", -RELAY_ECONFIG, 0},
    {"1.5s", -RELAY_ECONFIG, 0},
    {"1S", -RELAY_ECONFIG, 0},
    {"1h30m", -RELAY_ECONFIG, 0},
    {"1msx", -RELAY_ECONFIG, 0},
    {NULL, -RELAY_ECONFIG, 0},
};

static const struct unit_case sizes[] = {
    {"0", 0, 0},
    {"100", 0, 100},
    {"64K", 0, 65536},
    {"64k", 0, 65536},
    {"1M", 0, 1048576},
    {"1m", 0, 1048576},
    {"16G", 0, 17179869184ull},
    {"16g", 0, 17179869184ull},
    {"17179869183G", 0, 17179869183ull << 30},
    {"17179869184G", -RELAY_ECONFIG, 0},
    {"18446744073709551615", 0, UINT64_MAX},
    {"18446744073709551616", -RELAY_ECONFIG, 0},
    {"1T", -RELAY_ECONFIG, 0},
    {"1KB", -RELAY_ECONFIG, 0},
    {"1KiB", -RELAY_ECONFIG, 0},
    {"", -RELAY_ECONFIG, 0},
    {"K", -RELAY_ECONFIG, 0},
    {"-1K", -RELAY_ECONFIG, 0},
    {"1.5M", -RELAY_ECONFIG, 0},
    {"0x10", -RELAY_ECONFIG, 0},
    {NULL, -RELAY_ECONFIG, 0},
};

static void check_units(const struct unit_case *t, size_t n, int (*fn)(const char *, uint64_t *))
{
	for (size_t i = 0; i < n; i++) {
		uint64_t v = 12345;
		int rc = fn(t[i].in, &v);

		if (rc != t[i].rc || (rc == 0 && v != t[i].out))
			fail_msg("\"%s\": rc %d value %llu, want rc %d value %llu",
			         t[i].in ? t[i].in : "(null)", rc, (unsigned long long)v, t[i].rc,
			         (unsigned long long)t[i].out);
		if (rc != 0)
			assert_int_equal(v, 12345); /* untouched on error */
	}
}

static void test_durations(void **state)
{
	(void)state;
	check_units(durations, sizeof(durations) / sizeof(durations[0]), relay_parse_duration_ms);
}

/* A reload retires the config it replaces; each is freed RELAY_RETIRED_GRACE_MS later (under
 * ASan a double free or a leak fails this), the younger ones stay in order, and so a node
 * takes any number of reloads over time. */
static void test_retired_configs_freed_after_grace(void **state)
{
	const int64_t g = RELAY_RETIRED_GRACE_MS;
	struct relay_node n = {.n_retired = 0};
	char err[256];

	(void)state;
	for (int i = 0; i < 3; i++) {
		struct relay_config *c;
		assert_int_equal(parse(MIN, &c, err, sizeof(err)), 0);
		n.retired[n.n_retired++] = (struct relay_retired){.cfg = c, .since_ms = i * g / 2};
	}
	struct relay_config *second = n.retired[1].cfg, *third = n.retired[2].cfg;
	relay_node_reclaim(&n, g - 1); /* none is old enough */
	assert_int_equal(n.n_retired, 3);
	relay_node_reclaim(&n, g); /* the first: retired exactly the grace ago */
	assert_int_equal(n.n_retired, 2);
	assert_ptr_equal(n.retired[0].cfg, second);
	assert_ptr_equal(n.retired[1].cfg, third);
	assert_int_equal(n.retired[1].since_ms, g);
	relay_node_reclaim(&n, 2 * g);
	assert_int_equal(n.n_retired, 0);
}

static void test_sizes(void **state)
{
	(void)state;
	check_units(sizes, sizeof(sizes) / sizeof(sizes[0]), relay_parse_size);
}

/* ----------------------------------------------------------------- main */

int main(void)
{
	static const struct CMUnitTest fixed[] = {
	    cmocka_unit_test(test_defaults),     cmocka_unit_test(test_full),
	    cmocka_unit_test(test_twice),        cmocka_unit_test(test_threads),
	    cmocka_unit_test(test_spellings),    cmocka_unit_test(test_peer_defaults),
	    cmocka_unit_test(test_trust),
	    cmocka_unit_test(test_err_buffer),   cmocka_unit_test(test_load),
	    cmocka_unit_test(test_load_missing), cmocka_unit_test(test_durations),
	    cmocka_unit_test(test_sizes),
	    cmocka_unit_test(test_retired_configs_freed_after_grace),
	};
	size_t nbad = sizeof(bad_cases) / sizeof(bad_cases[0]),
	       nfix = sizeof(fixed) / sizeof(fixed[0]);
	struct CMUnitTest *t = calloc(nbad + nfix, sizeof(*t));
	char(*names)[48] = calloc(nbad, sizeof(*names));
	int failed;

	if (!t || !names)
		return 1;
	memcpy(t, fixed, sizeof(fixed));
	for (size_t i = 0; i < nbad; i++) { /* one test per bad file, named by its expected text */
		const char *w = bad_cases[i].want + (bad_cases[i].want[0] == '~');

		snprintf(names[i], sizeof(names[i]), "bad %zu: %s", i, w + strcspn(w, " ") + 1);
		t[nfix + i] =
		    (struct CMUnitTest){names[i], test_bad, NULL, NULL, (void *)&bad_cases[i]};
	}
	failed = _cmocka_run_group_tests("config", t, nbad + nfix, group_setup, group_teardown);
	free(t);
	free(names);
	return failed;
}
