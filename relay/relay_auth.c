/*
 * Who is calling the carrier API: a Bearer token (only its SHA-256 is stored)
 * and/or a TLS client certificate verified against client-ca and pinned per peer.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <gnutls/gnutls.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "relay/relay_priv.h"

#define HEX_LEN 64          /* SHA-256, lower-case hex */
#define TOKEN_MAX 4096      /* longer Authorization values are refused unhashed */

/* What the caller presented. */
struct creds {
	bool token;                 /* an Authorization: Bearer header */
	bool token_ok;              /* ... well formed (hashed into token_hex) */
	char token_hex[HEX_LEN + 1];
	bool cert;                  /* a client certificate was presented */
	bool cert_ok;               /* ... and verified against client-ca */
	char cert_hex[HEX_LEN + 1];
};

static bool sha256_hex(const void *data, size_t len, char out[HEX_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	static const char digits[] = "0123456789abcdef";

	if (EVP_Digest(data, len, md, &n, tr_sha256(), NULL) != 1 || n * 2 != HEX_LEN)
		return false;
	for (unsigned i = 0; i < n; i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 15];
	}
	out[HEX_LEN] = '\0';
	OPENSSL_cleanse(md, sizeof(md));
	return true;
}

/* "Authorization: Bearer <token>" (scheme case-insensitive, RFC 6750). */
static void read_token(struct relay_req *req, struct creds *c)
{
	const char *h = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
						    MHD_HTTP_HEADER_AUTHORIZATION);
	size_t n;

	if (!h)
		return;
	c->token = true;
	if (strncasecmp(h, "Bearer ", 7) != 0)
		return;
	h += 7;
	while (*h == ' ')
		h++;
	n = strlen(h);
	while (n && h[n - 1] == ' ')
		n--;
	if (n == 0 || n > TOKEN_MAX)
		return;
	c->token_ok = sha256_hex(h, n, c->token_hex);
}

/* The client certificate, when the listener asks for one (client-ca). MHD only
 * requests it: a client may send none, so "none" is a normal outcome here. It is
 * verified against the client-ca the listener has now (a reload may renew it). */
static void read_cert(struct relay_req *req, struct creds *c)
{
	const union MHD_ConnectionInfo *ci;
	gnutls_session_t s;
	const gnutls_datum_t *certs;
	unsigned int n = 0;

	if (!relay_cfg(req->node)->carrier.client_ca)
		return;
	ci = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	s = ci ? (gnutls_session_t)ci->tls_session : NULL;
	certs = s ? gnutls_certificate_get_peers(s, &n) : NULL;
	if (!certs || n == 0)
		return;
	c->cert = true;
	if (!relay_http_verify_client(req->http, s))
		return;
	c->cert_ok = sha256_hex(certs[0].data, certs[0].size, c->cert_hex);
}

/* cur, unless it is NULL and eq: then p. Without a branch on eq, so that the time
 * taken does not tell which peer (if any) matched. */
static const struct route_peer *pick(const struct route_peer *cur, const struct route_peer *p,
				     int eq)
{
	uintptr_t take = (uintptr_t)0 - (uintptr_t)(eq & (cur == NULL));

	return (const struct route_peer *)(((uintptr_t)p & take) | ((uintptr_t)cur & ~take));
}

/* The peer whose token (by_cert: certificate pin) hash is hex; every peer is compared. */
static const struct route_peer *find_peer(const struct route_table *t, const char *hex,
					  bool by_cert)
{
	const struct route_peer *found = NULL, *p;

	for (size_t i = 0; (p = route_table_peer_at(t, i)) != NULL; i++) {
		const char *want = by_cert ? p->cert_sha256 : p->token_sha256;
		if (want)
			found = pick(found, p, CRYPTO_memcmp(hex, want, HEX_LEN) == 0);
	}
	return found;
}

static int refuse(struct relay_req *req, unsigned status, const char *why, const char *peer)
{
	char q[80];

	relay_log(RELAY_LOG_WARN, "auth_refused", "status=%u reason=%s peer=%s", status,
		  relay_log_quote(why, q, sizeof(q)), peer ? peer : "-");
	/* relay_reply adds WWW-Authenticate: Bearer to every 401 */
	relay_reply_error(req, status, status == MHD_HTTP_UNAUTHORIZED ? "unauthorized" : "forbidden",
			  NULL, why);
	return -1;
}

int relay_authenticate(struct relay_req *req)
{
	struct creds c = {0};
	const struct route_peer *p = NULL;
	int rc;

	req->peer = NULL;
	read_token(req, &c);
	read_cert(req, &c);
	if (c.cert && !c.cert_ok)
		return refuse(req, MHD_HTTP_UNAUTHORIZED, "client certificate not verified", NULL);
	if (c.token) {
		if (!c.token_ok)
			return refuse(req, MHD_HTTP_UNAUTHORIZED, "malformed Authorization header",
				      NULL);
		p = find_peer(req->table, c.token_hex, false);
		if (!p)
			return refuse(req, MHD_HTTP_UNAUTHORIZED, "unknown token", NULL);
	} else if (c.cert_ok) {
		p = find_peer(req->table, c.cert_hex, true);
		if (!p)
			return refuse(req, MHD_HTTP_UNAUTHORIZED, "unknown client certificate", NULL);
	} else {
		return refuse(req, MHD_HTTP_UNAUTHORIZED, "credentials required", NULL);
	}
	if (p->cert_sha256 && !c.cert_ok)
		return refuse(req, MHD_HTTP_UNAUTHORIZED, "client certificate required", p->name);
	rc = p->cert_sha256 ? CRYPTO_memcmp(c.cert_hex, p->cert_sha256, HEX_LEN) : 0;
	OPENSSL_cleanse(c.token_hex, sizeof(c.token_hex));
	if (rc != 0)
		return refuse(req, MHD_HTTP_FORBIDDEN, "certificate pin mismatch", p->name);
	if (p->suspended)
		return refuse(req, MHD_HTTP_FORBIDDEN, "peer suspended", p->name);
	req->peer = p;
	return 0;
}
