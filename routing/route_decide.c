/*
 * The decision (where does a message go now: deliver, wait or reject) and anti-spoofing (may a
 * peer send from an address). Pure reads of the current table, the directory and the endpoint
 * breakers; the only thing it changes is a breaker pass taken for a real delivery.
 */
#include "routing/routing_priv.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MS_PER_S 1000
#define DUR_SZ   24 /* "106751991167d07h" and more */

/* ------------------------------------------------------------------ text */

/* A bounded text builder for `why`: appends, truncates silently, always NUL-terminated. */
struct why {
	char *buf;
	size_t cap, len;
};

__attribute__((format(printf, 2, 3))) static void why_add(struct why *w, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (w->len + 1 >= w->cap)
		return;
	va_start(ap, fmt);
	n = vsnprintf(w->buf + w->len, w->cap - w->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		w->len = (size_t)n >= w->cap - w->len ? w->cap - 1 : w->len + (size_t)n;
}

/* "45s", "11m", "2h05m", "3d04h": a duration rounded down, for people. */
static const char *dur_text(int64_t ms, char buf[DUR_SZ])
{
	int64_t s = ms > 0 ? ms / MS_PER_S : 0;

	if (s < 60)
		snprintf(buf, DUR_SZ, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(buf, DUR_SZ, "%lldm", (long long)(s / 60));
	else if (s < 86400)
		snprintf(buf, DUR_SZ, "%lldh%02lldm", (long long)(s / 3600),
			 (long long)(s / 60 % 60));
	else
		snprintf(buf, DUR_SZ, "%lldd%02lldh", (long long)(s / 86400),
			 (long long)(s / 3600 % 24));
	return buf;
}

static void copy_text(char *dst, size_t dstsz, const char *src)
{
	size_t n = strnlen(src, dstsz - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* A well-formed, normalised address: parsing its text again gives the same text. */
static bool addr_ok(const struct route_addr *a)
{
	struct route_addr n;

	if (!a || a->len == 0 || a->len >= ROUTE_ADDR_MAX || strnlen(a->text, a->len + 1) != a->len)
		return false;
	return route_addr_parse(a->text, a->len, NULL, &n) == 0 && n.kind == a->kind &&
	       n.len == a->len && memcmp(n.text, a->text, a->len) == 0;
}

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/* ------------------------------------------------------------- endpoints */

/* Which endpoint of a peer a delivery goes through now. */
struct ep_pick {
	bool pull;     /* no endpoints: the peer pulls */
	size_t ep;     /* the endpoint (valid when passed and !pull) */
	bool probe;    /* the pass is the half-open breaker's probe */
	int64_t retry; /* none passed: when the first blocked one may pass again */
};

/*
 * The first endpoint of p whose breaker lets a delivery through. A real decision takes the
 * pass (rh_try_pass: a half-open endpoint's single probe is reserved for this delivery); a dry
 * run only looks, so closed and half-open both count as passable and nothing is reserved.
 * Returns whether one passed; else pk->retry is the earliest time one may.
 */
static bool pick_endpoint(struct routing *r, const struct route_peer *p,
			  const struct route_msg *m, struct ep_pick *pk)
{
	int64_t retry = INT64_MAX;

	memset(pk, 0, sizeof(*pk));
	if (p->n_endpoints == 0) {
		pk->pull = true;
		return true;
	}
	for (size_t i = 0; i < p->n_endpoints; i++) {
		bool probe = false;
		int64_t t = 0;

		if (m->dry_run) {
			enum route_ep_state s = route_health_state(r, p->name, i, m->now_ms);

			if (s == ROUTE_EP_OPEN)
				continue;
			probe = s == ROUTE_EP_HALF_OPEN;
		} else if (!rh_try_pass(r->health, p->name, i, m->now_ms, &probe, &t)) {
			retry = min64(retry, t);
			continue;
		}
		pk->ep = i;
		pk->probe = probe;
		return true;
	}
	if (m->dry_run) /* every endpoint open: the peer is down, and says until when */
		route_peer_down(r, p, m->now_ms, NULL, &retry);
	/* never in the past (a breaker that changed between two looks): then retry at once */
	pk->retry = retry > m->now_ms ? retry : m->now_ms;
	return false;
}

/* Fills a DELIVER decision; `head` and `note` complete the why: "<head> -> peer via ...". */
static void deliver(struct route_decision *d, const struct route_peer *p, const char *to,
		    const struct ep_pick *pk, bool linked, const char *head, const char *note)
{
	char extra[sizeof(d->why)] = "";
	struct why w = {d->why, sizeof(d->why), 0}, x = {extra, sizeof(extra), 0};

	d->verdict = ROUTE_DELIVER;
	copy_text(d->peer, sizeof(d->peer), p->name);
	copy_text(d->to, sizeof(d->to), to);
	d->pull = pk->pull;
	d->endpoint = pk->pull ? 0 : pk->ep;
	d->half_open_probe = !pk->pull && pk->probe;
	d->failover = linked || (!pk->pull && pk->ep > 0);
	if (pk->pull)
		why_add(&x, "pull");
	else if (pk->ep == 1)
		why_add(&x, "DR; endpoint 0 open");
	else if (pk->ep > 1)
		why_add(&x, "DR; endpoints 0-%zu open", pk->ep - 1);
	if (d->half_open_probe)
		why_add(&x, "%shalf-open probe", x.len ? "; " : "");
	if (note[0])
		why_add(&x, "%s%s", x.len ? "; " : "", note);
	why_add(&w, "%s -> %s", head, p->name);
	if (!pk->pull)
		why_add(&w, " via endpoint %zu", pk->ep);
	if (x.len)
		why_add(&w, " (%s)", extra);
}

static void reject(struct route_decision *d, int code)
{
	d->verdict = ROUTE_REJECT;
	d->reject = -code;
}

/* Waiting for peer p (the first choice) at address `to` until `until`. */
static void wait_until(struct route_decision *d, const struct route_peer *p, const char *to,
		       int64_t until)
{
	d->verdict = ROUTE_WAIT;
	d->wait_until_ms = until;
	copy_text(d->peer, sizeof(d->peer), p->name);
	copy_text(d->to, sizeof(d->to), to);
}

/* ------------------------------------------------------------- directory */

/* A directory account whose peer is in the table and not suspended. */
struct cand {
	const struct route_peer *p;
	const struct route_account *a;
};

/*
 * Accounts usable now, in preference order: pending ones (not approved yet), those naming a
 * peer the table no longer has (a stale line) or a suspended one are skipped. *skipped: the
 * first suspended one, for `why`.
 */
static size_t candidates(const struct route_table *t, const struct route_dir_entry *e,
			 struct cand *c, const struct route_peer **skipped)
{
	size_t n = 0;

	*skipped = NULL;
	for (size_t i = 0; i < e->n; i++) {
		const struct route_peer *p;

		if (e->acc[i].pending)
			continue;
		p = route_table_peer(t, e->acc[i].peer);

		if (p && p->suspended && !*skipped)
			*skipped = p;
		if (p && !p->suspended)
			c[n++] = (struct cand){p, &e->acc[i]};
	}
	return n;
}

/*
 * The first choice c[0] is blocked. A later account with the subscriber's consent takes the
 * message once c[0] has been down for that account's failover delay, counted from the
 * earlier of the message's first failed attempt and the moment c[0] went down. Returns true
 * when it decided (delivered via a linked account); else *wake is lowered to the earliest
 * time a consenting account may take it, and *pending to that account when its delay is what
 * runs out first.
 */
static bool try_linked(struct routing *r, const struct route_msg *m, const struct cand *c,
		       size_t n, struct route_decision *d, int64_t *wake,
		       const struct cand **pending, const char *head)
{
	int64_t since = 0, start;
	char dur[DUR_SZ], note[sizeof(d->why)];
	struct ep_pick pk;

	if (!route_peer_down(r, c[0].p, m->now_ms, &since, NULL))
		return false; /* blocked only for a moment (a probe in flight): no failover */
	start = since;
	if (m->first_fail_ms > 0 && m->first_fail_ms < start)
		start = m->first_fail_ms;
	for (size_t k = 1; k < n; k++) {
		int64_t due = start + (int64_t)c[k].a->failover_delay_s * MS_PER_S;

		if (!c[k].a->failover)
			continue;
		if (m->now_ms < due) {
			if (due < *wake) {
				*wake = due;
				*pending = &c[k];
			}
			continue;
		}
		if (!pick_endpoint(r, c[k].p, m, &pk)) {
			if (pk.retry < *wake) {
				*wake = pk.retry;
				*pending = NULL;
			}
			continue;
		}
		snprintf(note, sizeof(note), "linked account at %s; %s down %s", c[k].p->name,
			 c[0].p->name, dur_text(m->now_ms - start, dur));
		deliver(d, c[k].p, c[k].a->addr.text, &pk, true, head, note);
		return true;
	}
	return false;
}

/*
 * Decides from the directory entry of m->to, if there is one that names a usable peer.
 * Returns true when it decided; false to fall through to the route table, with *note saying
 * why when there was an entry (or the directory could not be read).
 */
static bool decide_directory(struct routing *r, const struct route_table *t,
			     const struct route_msg *m, struct route_decision *d, const char **note)
{
	struct route_dir_entry e;
	struct cand c[ROUTE_ACCOUNTS_MAX];
	const struct cand *later = NULL;
	const struct route_peer *susp;
	char head[96], skip[ROUTE_NAME_MAX + 24] = "", dur[DUR_SZ];
	struct ep_pick pk;
	int64_t wake;
	size_t n;
	int rc = route_dir_get(r, m->to, &e);

	if (rc == -ROUTE_ENOTFOUND)
		return false;
	if (rc != 0) { /* unreadable (I/O, a corrupt record): route as if there were none */
		*note = "directory unreadable";
		return false;
	}
	n = candidates(t, &e, c, &susp);
	snprintf(head, sizeof(head), "directory: %.64s", m->to->text);
	if (n == 0 && susp) {
		reject(d, ROUTE_ESUSPENDED);
		snprintf(d->why, sizeof(d->why), "%s -> %s: suspended", head, susp->name);
		return true;
	}
	if (n == 0) {
		*note = "directory entry names no known peer";
		return false;
	}
	if (susp)
		snprintf(skip, sizeof(skip), "%s suspended, skipped", susp->name);
	if (pick_endpoint(r, c[0].p, m, &pk)) {
		deliver(d, c[0].p, c[0].a->addr.text, &pk, false, head, skip);
		return true;
	}
	wake = pk.retry;
	if (try_linked(r, m, c, n, d, &wake, &later, head))
		return true;
	wait_until(d, c[0].p, c[0].a->addr.text, wake);
	snprintf(d->why, sizeof(d->why), "%s -> %s: all endpoints open; %s%s in %s", head,
		 c[0].p->name, later ? "failover to " : "retry", later ? later->p->name : "",
		 dur_text(wake - m->now_ms, dur));
	return true;
}

/* ----------------------------------------------------------------- routes */

static void decide_route(struct routing *r, const struct route_table *t,
			 const struct route_msg *m, struct route_decision *d, const char *note)
{
	const struct route_entry *re = NULL;
	const struct route_peer *p;
	char head[96], dur[DUR_SZ];
	struct ep_pick pk;

	if (route_table_lookup(t, m->to, &re) != 0 || !(p = route_table_peer(t, re->peer))) {
		reject(d, ROUTE_ENOROUTE);
		snprintf(d->why, sizeof(d->why), "no route for %.64s%s%s", m->to->text,
			 note[0] ? "; " : "", note);
		return;
	}
	if (re->match == ROUTE_MATCH_DEFAULT)
		snprintf(head, sizeof(head), "default route");
	else
		snprintf(head, sizeof(head), "route %.80s", re->value);
	if (p->suspended) {
		reject(d, ROUTE_ESUSPENDED);
		snprintf(d->why, sizeof(d->why), "%s -> %s: suspended", head, p->name);
		return;
	}
	if (pick_endpoint(r, p, m, &pk)) {
		deliver(d, p, m->to->text, &pk, false, head, note);
		return;
	}
	wait_until(d, p, m->to->text, pk.retry);
	snprintf(d->why, sizeof(d->why), "%s -> %s: all endpoints open; retry in %s", head,
		 p->name, dur_text(pk.retry - m->now_ms, dur));
}

/* ------------------------------------------------------------ the decision */

static bool msg_ok(const struct route_msg *m)
{
	return m && addr_ok(m->to) && (m->n_hops == 0 || m->hops);
}

static bool in_hops(const struct routing *r, const struct route_msg *m)
{
	for (size_t i = 0; i < m->n_hops; i++)
		if (strncmp(m->hops[i], r->node_id, sizeof(m->hops[i])) == 0)
			return true;
	return false;
}

int route_decide(struct routing *r, const struct route_msg *m, struct route_decision *out)
{
	const struct route_table *t;
	const char *note = "";

	if (!out)
		return -ROUTE_EINVAL;
	memset(out, 0, sizeof(*out));
	if (!r || !msg_ok(m)) {
		snprintf(out->why, sizeof(out->why), "invalid message");
		return -ROUTE_EINVAL;
	}
	if (in_hops(r, m)) {
		reject(out, ROUTE_ELOOP);
		snprintf(out->why, sizeof(out->why), "loop: %s is in hops", r->node_id);
		return 0;
	}
	if (m->n_hops > ROUTE_HOPS_MAX) {
		reject(out, ROUTE_EHOPS);
		snprintf(out->why, sizeof(out->why), "%zu hops: more than %d", m->n_hops,
			 ROUTE_HOPS_MAX);
		return 0;
	}
	t = routing_acquire(r); /* one table for the whole decision */
	if (!decide_directory(r, t, m, out, &note))
		decide_route(r, t, m, out, note);
	routing_release(t);
	return 0;
}

/* ---------------------------------------------------------- anti-spoofing */

/*
 * Whether an owned value covers an address. A prefix "+8210" covers numbers that start with
 * it. A domain "kakao.example" covers handles at that domain and at any subdomain
 * ("x@mail.kakao.example"): whoever holds a DNS name holds the names under it. "*.d" covers
 * the subdomains of d only, as in routes.
 */
static bool owns_addr(const char *own, const struct route_addr *a)
{
	size_t on = strlen(own), dn;
	const char *dom;

	if (own[0] == '+')
		return a->kind == ROUTE_ADDR_E164 && a->len >= on && memcmp(a->text, own, on) == 0;
	if (a->kind != ROUTE_ADDR_HANDLE || !(dom = memchr(a->text, '@', a->len)))
		return false;
	dom++;
	dn = a->len - (size_t)(dom - a->text);
	if (own[0] == '*' && own[1] == '.') { /* subdomains only: ".d" must end the domain */
		own++;
		on--;
		return dn > on && memcmp(dom + dn - on, own, on) == 0;
	}
	if (dn == on)
		return memcmp(dom, own, on) == 0;
	return dn > on && dom[dn - on - 1] == '.' && memcmp(dom + dn - on, own, on) == 0;
}

bool rdc_peer_owns(const struct route_peer *p, const struct route_addr *a)
{
	for (size_t i = 0; i < p->n_owns; i++)
		if (owns_addr(p->owns[i], a))
			return true;
	return false;
}

/* Whether addr's directory entry lists an approved account at peer (a pending one, declared
 * outside the peer's own space, vouches for nothing). Unreadable: no (fail closed). */
static bool dir_names(struct routing *r, const char *peer, const struct route_addr *addr)
{
	struct route_dir_entry e;

	if (route_dir_get(r, addr, &e) != 0)
		return false;
	for (size_t i = 0; i < e.n; i++)
		if (strcmp(e.acc[i].peer, peer) == 0)
			return !e.acc[i].pending;
	return false;
}

int route_may_send(struct routing *r, const char *peer, const struct route_addr *from,
		   enum route_trust *level)
{
	const struct route_table *t;
	const struct route_peer *p;
	int rc = -ROUTE_ESPOOF;

	if (!r || !peer || !level || !addr_ok(from))
		return -ROUTE_EINVAL;
	t = routing_acquire(r);
	p = route_table_peer(t, peer);
	if (!p) {
		rc = -ROUTE_ENOPEER;
	} else if (p->suspended) {
		rc = -ROUTE_ESUSPENDED;
	} else if (p->kind == ROUTE_PEER_RELAY) {
		*level = ROUTE_TRUST_RELAYED;
		rc = 0;
	} else {
		if (rdc_peer_owns(p, from)) {
			*level = ROUTE_TRUST_OWNED;
			rc = 0;
		}
		if (rc != 0 && dir_names(r, p->name, from)) {
			*level = ROUTE_TRUST_DIRECTORY;
			rc = 0;
		}
	}
	routing_release(t);
	return rc;
}
