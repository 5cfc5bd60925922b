/*
 * Benchmark of the route table: longest-prefix lookups of random full numbers in a table of
 * 100 000 random prefixes under real country codes, beside baselines timed in the same run
 * on the same numbers: a table of one prefix (a lookup that is one hash probe), a table of 15
 * prefixes that stays in cache, and a strncmp scan of those 15; plus the cost of building the
 * table and of one run-time change.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "routing/routing.h"

#define N_PREFIXES 100000
#define N_PEERS    50
#define N_ADDRS    (1 << 15) /* distinct numbers looked up, round-robin */
#define N_LOOKUPS  (4 << 20)
#define N_SMALL    15
#define TARGET_NS  1000.0

static const char *const ccs[] = {
    "1",   "7",   "20",  "27",  "30",  "31",  "32",  "33",  "34",  "36",  "39",  "40",
    "41",  "43",  "44",  "45",  "46",  "47",  "48",  "49",  "51",  "52",  "54",  "55",
    "56",  "57",  "58",  "60",  "61",  "62",  "63",  "64",  "65",  "66",  "81",  "82",
    "84",  "86",  "90",  "91",  "92",  "93",  "94",  "95",  "98",  "212", "213", "216",
    "234", "254", "255", "256", "351", "352", "353", "358", "380", "852", "853", "855",
    "880", "886", "960", "966", "971", "972", "974", "977", "998",
};
#define N_CCS (sizeof(ccs) / sizeof(ccs[0]))

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* "+" cc and random digits, `digits` digits in all (at least the country code). */
static void random_number(char *out, size_t digits)
{
	const char *cc = ccs[rnd() % N_CCS];
	size_t n = strlen(cc);

	out[0] = '+';
	memcpy(out + 1, cc, n);
	for (; n < digits; n++)
		out[1 + n] = (char)('0' + rnd() % 10);
	out[1 + n] = '\0';
}

static int add_peers(struct route_table *t)
{
	for (int i = 0; i < N_PEERS; i++) {
		char name[32];
		snprintf(name, sizeof(name), "carrier-%d", i);
		struct route_peer p = {.name = name, .kind = ROUTE_PEER_CARRIER};
		if (route_table_add_peer(t, &p) != 0)
			return -1;
	}
	return 0;
}

/* n distinct prefixes of 2-10 digits; their texts in out (17 bytes each). */
static struct route_table *build(size_t n, char (*out)[17])
{
	struct route_table *t = route_table_new();
	char peer[32];

	if (!t || add_peers(t) != 0)
		return NULL;
	for (size_t i = 0; i < n;) {
		struct route_entry e = {.match = ROUTE_MATCH_PREFIX, .value = out[i], .peer = peer};
		random_number(out[i], 2 + rnd() % 9);
		snprintf(peer, sizeof(peer), "carrier-%d", (int)(rnd() % N_PEERS));
		int rc = route_table_add_route(t, &e);
		if (rc == 0)
			i++;
		else if (rc != -ROUTE_EEXIST)
			return NULL;
	}
	return t;
}

/* Full numbers of 11-13 digits: half extend a stored prefix, half are random. */
static void make_addrs(struct route_addr *a, char (*prefixes)[17], size_t n_prefixes)
{
	for (size_t i = 0; i < N_ADDRS; i++) {
		char num[20];
		size_t digits = 11 + rnd() % 3;
		if (i % 2) {
			size_t len = strlen(strcpy(num, prefixes[rnd() % n_prefixes]));
			for (; len < digits + 1; len++)
				num[len] = (char)('0' + rnd() % 10);
			num[len] = '\0';
		} else {
			random_number(num, digits);
		}
		if (route_addr_parse(num, strlen(num), NULL, &a[i]) != 0)
			abort();
	}
}

/* Average ns per lookup over N_LOOKUPS; *hits: lookups that found a route. */
static double time_lookups(const struct route_table *t, const struct route_addr *a, size_t *hits)
{
	const struct route_entry *e;
	size_t found = 0;
	double t0 = now_ns();

	for (size_t i = 0; i < N_LOOKUPS; i++)
		found += route_table_lookup(t, &a[i & (N_ADDRS - 1)], &e) == 0;
	*hits = found;
	return (now_ns() - t0) / N_LOOKUPS;
}

/* The naive way: compare a number with each of 15 prefixes, keep the longest. */
static double time_scan(char (*small)[17], const struct route_addr *a, size_t *hits)
{
	size_t found = 0, lens[N_SMALL];
	double t0 = now_ns();

	for (size_t j = 0; j < N_SMALL; j++)
		lens[j] = strlen(small[j]);
	for (size_t i = 0; i < N_LOOKUPS; i++) {
		const char *num = a[i & (N_ADDRS - 1)].text;
		size_t best = 0;
		for (size_t j = 0; j < N_SMALL; j++)
			if (lens[j] > best && strncmp(num, small[j], lens[j]) == 0)
				best = lens[j];
		found += best > 0;
	}
	*hits = found;
	return (now_ns() - t0) / N_LOOKUPS;
}

/* Publishes t (and frees it) in a module without a store; times one route change there. */
static double change_ms(struct route_table *t)
{
	struct routing *r = routing_new("bench", NULL, NULL);
	struct route_entry e = {
	    .match = ROUTE_MATCH_PREFIX, .value = "+99912345", .peer = "carrier-0"};
	double t0, ms;

	if (!r) {
		route_table_free(t);
		return -1;
	}
	routing_publish(r, t);
	t0 = now_ns();
	ms = routing_put_route(r, &e) == 0 ? (now_ns() - t0) / 1e6 : -1;
	routing_free(r);
	return ms;
}

int main(void)
{
	static char prefixes[N_PREFIXES][17], small[N_SMALL][17];
	struct route_addr *addrs = malloc(N_ADDRS * sizeof(*addrs));
	struct route_table *big, *tiny, *one;
	struct route_entry e1 = {.match = ROUTE_MATCH_PREFIX, .value = "+8", .peer = "carrier-0"};
	size_t hits_big, hits_tiny, hits_one, hits_scan;
	double t0, build_ms, ns_big, ns_tiny, ns_one, ns_scan;

	t0 = now_ns();
	big = build(N_PREFIXES, prefixes);
	build_ms = (now_ns() - t0) / 1e6;
	tiny = build(N_SMALL, small);
	one = build(0, NULL);
	if (!addrs || !big || !tiny || !one || route_table_add_route(one, &e1) != 0) {
		fprintf(stderr, "bench_routing: out of memory\n");
		return 1;
	}
	make_addrs(addrs, prefixes, N_PREFIXES);
	time_lookups(big, addrs, &hits_big); /* warm up */
	ns_big = time_lookups(big, addrs, &hits_big);
	ns_one = time_lookups(one, addrs, &hits_one);
	ns_tiny = time_lookups(tiny, addrs, &hits_tiny);
	ns_scan = time_scan(small, addrs, &hits_scan);

	printf("route table: %d prefixes (2-10 digits under %zu country codes), %d lookups of "
	       "11-13 digit numbers (%d distinct)\n",
	       N_PREFIXES, N_CCS, N_LOOKUPS, N_ADDRS);
	printf("  build:                            %8.1f ms (%.0f ns per route)\n", build_ms,
	       build_ms * 1e6 / N_PREFIXES);
	printf("  lookup, %6d prefixes:          %8.1f ns  (%.0f%% found a route)\n", N_PREFIXES,
	       ns_big, 100.0 * (double)hits_big / N_LOOKUPS);
	printf("  baseline: lookup, 1 prefix:       %8.1f ns  -> 100k table costs %.2fx "
	       "(one hash probe)\n",
	       ns_one, ns_big / ns_one);
	printf("  baseline: lookup, %2d prefixes:    %8.1f ns  -> 100k table costs %.2fx\n",
	       N_SMALL, ns_tiny, ns_big / ns_tiny);
	printf("  baseline: strncmp scan of %2d:     %8.1f ns  -> 100k table costs %.2fx\n",
	       N_SMALL, ns_scan, ns_big / ns_scan);
	printf("  one run-time change (put_route: rebuild and publish, no store): %.1f ms\n",
	       change_ms(big));
	printf("target < %.0f ns: %s\n", TARGET_NS, ns_big < TARGET_NS ? "ok" : "below target");
	route_table_free(tiny);
	route_table_free(one);
	free(addrs);
	return hits_tiny == hits_scan ? 0 : 1; /* both baselines must agree on what matches */
}
