/*
 * interlinkd: reads the config, prepares the data directory, starts the
 * listeners, then waits for signals (SIGHUP reloads, SIGTERM/SIGINT stop).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "relay/relay.h"

#define DEFAULT_CONFIG "/etc/interlink/interlink.conf"
#define ERR_MAX 512

static void usage(FILE *to)
{
	fprintf(to,
		"usage: interlinkd [-c FILE] [-t]\n"
		"       interlinkd --version | --help\n"
		"\n"
		"interlink relay daemon: stores and forwards messages between carriers.\n"
		"\n"
		"  -c, --config FILE  configuration file (default " DEFAULT_CONFIG ")\n"
		"  -t, --test         check the configuration file, print the result, exit 0 or 1\n"
		"  -V, --version      print the version and exit\n"
		"  -h, --help         print this help and exit\n"
		"\n"
		"Signals: SIGHUP re-reads the configuration (a bad file is refused and the\n"
		"running configuration kept); SIGTERM and SIGINT stop the daemon.\n");
}

/* mkdir -p with mode 0750 for the directories it creates. */
static int make_dirs(const char *path, char *err, size_t errlen)
{
	char buf[PATH_MAX];
	struct stat st;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
		snprintf(err, errlen, "data-dir: path too long");
		return -1;
	}
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(buf, 0750) != 0 && errno != EEXIST) {
			snprintf(err, errlen, "data-dir: cannot create %.300s: %s", buf,
				 strerror(errno));
			return -1;
		}
		*p = saved;
		if (saved == '\0')
			break;
	}
	if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "data-dir %.300s: not a directory", path);
		return -1;
	}
	return 0;
}

/* Settings that only a restart applies; a reload that changes them says so. */
static void warn_restart_only(const struct relay_config *old, const struct relay_config *new)
{
	const struct relay_listener_conf *a = &old->carrier, *b = &new->carrier;

	if (strcmp(old->data_dir, new->data_dir) != 0)
		relay_log(RELAY_LOG_WARN, "config_needs_restart", "key=data-dir");
	if (strcmp(old->node_id, new->node_id) != 0)
		relay_log(RELAY_LOG_WARN, "config_needs_restart", "key=node-id");
	if (strcmp(a->address, b->address) != 0 || a->port != b->port ||
	    a->plain_http != b->plain_http)
		relay_log(RELAY_LOG_WARN, "config_needs_restart", "key=carrier-listener");
}

/*
 * SIGHUP: build and validate a new config; on success it replaces the old
 * one, else the old one stays. Returns the config now in force.
 */
static struct relay_config *reload(struct relay_config *cur)
{
	struct relay_config *next = NULL;
	char err[ERR_MAX], q[ERR_MAX + 16];

	if (relay_config_load(cur->path, &next, err, sizeof(err)) != 0) {
		relay_log(RELAY_LOG_ERROR, "config_reload_failed", "reason=%s kept=old",
			  relay_log_quote(err, q, sizeof(q)));
		return cur;
	}
	warn_restart_only(cur, next);
	relay_log_set_level(next->log_level);
	relay_log(RELAY_LOG_INFO, "config_reloaded", "file=%s peers=%zu routes=%zu",
		  relay_log_quote(next->path, q, sizeof(q)), next->n_peers, next->n_routes);
	return next;
}

static int serve(struct relay_config *cfg)
{
	struct relay_api *api = NULL;
	char err[ERR_MAX], q[ERR_MAX + 16];
	sigset_t set;
	int sig;

	if (make_dirs(cfg->data_dir, err, sizeof(err)) != 0 ||
	    relay_api_start(cfg, &api, err, sizeof(err)) != 0) {
		fprintf(stderr, "interlinkd: %s\n", err);
		return 1;
	}
	relay_log(RELAY_LOG_INFO, "started", "version=%s node=%s carrier_api=%s data_dir=%s",
		  INTERLINK_VERSION, cfg->node_id, relay_api_url(api),
		  relay_log_quote(cfg->data_dir, q, sizeof(q)));
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig != SIGHUP)
			break;
		struct relay_config *next = reload(cfg);
		if (next != cfg) {
			/* nothing borrows the old one: the API copied what it needs */
			relay_config_free(cfg);
			cfg = next;
		}
	}
	relay_log(RELAY_LOG_INFO, "stopping", "signal=%s", sig == SIGINT ? "INT" : "TERM");
	relay_api_stop(api);
	relay_log(RELAY_LOG_INFO, "stopped", NULL);
	relay_config_free(cfg);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'}, {"test", no_argument, NULL, 't'},
		{"version", no_argument, NULL, 'V'},      {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *path = DEFAULT_CONFIG;
	struct relay_config *cfg = NULL;
	char err[ERR_MAX];
	int check_only = 0, opt;
	sigset_t set;

	while ((opt = getopt_long(argc, argv, "c:tVh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 't':
			check_only = 1;
			break;
		case 'V':
			printf("interlinkd %s\n", INTERLINK_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "interlinkd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (relay_config_load(path, &cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "interlinkd: %s\n", err);
		return 1;
	}
	if (check_only) {
		printf("%s: ok\n", path);
		relay_config_free(cfg);
		return 0;
	}
	relay_log_set_level(cfg->log_level);
	/* Signals are taken by sigwait() in this thread only; threads started later inherit the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	return serve(cfg);
}
