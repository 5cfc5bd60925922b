/*
 * admin: the second listener (default 127.0.0.1:8081) — the admin JSON API,
 * the web console, Prometheus metrics — with admin users, sessions, CSRF
 * tokens, roles and API tokens. It uses relay, routing and queue; nothing
 * there includes this header except interlinkd's main, which wires it.
 */
#ifndef INTERLINK_ADMIN_H
#define INTERLINK_ADMIN_H

#include <stddef.h>

struct relay_node;
struct admin;

/* Queue tables admin keeps its data in: pass them in queue_options.tables. */
extern const char *const admin_queue_tables[];
#define ADMIN_QUEUE_TABLES 2

/*
 * Starts the admin listener of the node's config (cfg->admin). On a first start
 * with no admin user it creates one: from the config's bootstrap hash, else with
 * a random password written once to stdout (never to the log). Returns 0 and
 * *out, or -1 with the reason in err.
 */
int admin_start(struct relay_node *node, struct admin **out, char *err, size_t errlen);

/*
 * Hashes a password for the config's admin-listener bootstrap-password-hash:
 * writes "pbkdf2-sha256$<iterations>$<salt base64>$<hash base64>" into out
 * (128 bytes are enough). Returns 0, or -1 (no randomness, out too small).
 */
int admin_hash_password(const char *pw, char *out, size_t outlen);

/* The base URL of the console and API, e.g. "http://127.0.0.1:8081"; borrowed. */
const char *admin_url(const struct admin *a);

/* Stops listening (before the node stops); admin_free after the node stopped.
 * NULL is a no-op for both. */
void admin_stop(struct admin *a);
void admin_free(struct admin *a);

#endif
