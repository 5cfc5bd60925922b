/*
 * interlinkd: reads the config, prepares the data directory, starts the
 * listeners, then waits for signals (SIGHUP reloads, SIGTERM/SIGINT stop).
 * Under systemd (Type=notify) it reports READY, RELOADING and STOPPING.
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "admin/admin.h"
#include "relay/relay.h"

#define DEFAULT_CONFIG "/etc/interlink/interlink.conf"
#define ERR_MAX 512

static void usage(FILE *to)
{
	fprintf(to,
		"usage: interlinkd [-c FILE] [-t]\n"
		"       interlinkd --hash-password < PASSWORD-FILE\n"
		"       interlinkd --version | --help\n"
		"\n"
		"interlink relay daemon: stores and forwards messages between carriers.\n"
		"\n"
		"  -c, --config FILE  configuration file (default " DEFAULT_CONFIG ")\n"
		"  -t, --test         check the configuration file, print the result, exit 0 or 1\n"
		"  --hash-password    read a password line from stdin, print the hash for\n"
		"                     admin-listener's bootstrap-password-hash, exit\n"
		"  -V, --version      print the version and exit\n"
		"  -h, --help         print this help and exit\n"
		"\n"
		"Signals: SIGHUP re-reads the configuration (a bad file is refused and the\n"
		"running configuration kept); SIGTERM and SIGINT stop the daemon.\n");
}

/* --hash-password: one line from stdin (without its newline) → the hash on stdout. */
static int hash_password(void)
{
	char pw[1100], out[160];
	size_t n;

	if (!fgets(pw, sizeof(pw), stdin)) {
		fprintf(stderr, "interlinkd: --hash-password: no password on stdin\n");
		return 1;
	}
	n = strcspn(pw, "\r\n");
	pw[n] = '\0';
	if (n < 12 || n > 1024) {
		fprintf(stderr, "interlinkd: --hash-password: the password needs 12 to 1024 "
				"characters\n");
		return 1;
	}
	int rc = admin_hash_password(pw, out, sizeof(out));
	memset(pw, 0, sizeof(pw));
	if (rc != 0) {
		fprintf(stderr, "interlinkd: --hash-password: cannot hash\n");
		return 1;
	}
	printf("%s\n", out);
	return 0;
}

/* Tells the service manager (when there is one) the state; a failure is worth a warning,
 * never a stop: the relay works without it. */
static void notify(const char *state)
{
	char qs[96], qr[96];
	int rc = relay_notify(state);

	if (rc != 0)
		relay_log(RELAY_LOG_WARN, "notify_failed", "state=%s reason=%s",
			  relay_log_quote(state, qs, sizeof(qs)),
			  relay_log_quote(strerror(-rc), qr, sizeof(qr)));
}

/* READY=1 with a STATUS= line for `systemctl status`. */
static void notify_ready(struct relay_node *node, struct admin *admin, const char *note)
{
	char state[640];

	snprintf(state, sizeof(state), "READY=1\nSTATUS=%scarrier API %s, admin %s", note,
		 relay_node_url(node), admin_url(admin));
	notify(state);
}

/* SIGHUP: a new config is built and validated; on success the node takes it,
 * else the running one stays. The service manager sees RELOADING=1 with the
 * monotonic time (systemd >= 253 wants it), then READY=1 either way: the relay
 * runs on, with the new configuration or the old one. */
static void reload(struct relay_node *node, struct admin *admin)
{
	char err[ERR_MAX], q[ERR_MAX + 16], state[64];
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	snprintf(state, sizeof(state), "RELOADING=1\nMONOTONIC_USEC=%llu",
		 (unsigned long long)now.tv_sec * 1000000ULL +
			 (unsigned long long)now.tv_nsec / 1000ULL);
	notify(state);
	if (relay_node_reload_file(node, err, sizeof(err)) != 0) {
		relay_log(RELAY_LOG_ERROR, "config_reload_failed", "reason=%s kept=old",
			  relay_log_quote(err, q, sizeof(q)));
		notify_ready(node, admin, "reload failed, old configuration kept; ");
		return;
	}
	const struct relay_config *cfg = relay_node_config(node);
	relay_log(RELAY_LOG_INFO, "config_reloaded", "file=%s peers=%zu routes=%zu",
		  relay_log_quote(cfg->path, q, sizeof(q)), cfg->n_peers, cfg->n_routes);
	notify_ready(node, admin, "");
}

/*
 * Descriptors for both listeners' connections, the pushes and the store: the soft limit
 * goes up as far as the hard one allows (a shell's is often 1024; the systemd unit sets
 * LimitNOFILE=65536). Below what is wanted, connections past it are refused: logged.
 */
static void raise_fd_limit(const struct relay_config *c)
{
	rlim_t want = (rlim_t)c->carrier.max_conns + c->admin.max_conns + 1024;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want ? rl.rlim_max : want;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < want)
		relay_log(RELAY_LOG_WARN, "fd_limit_low",
			  "limit=%llu want=%llu reason=\"raise LimitNOFILE, or lower "
			  "max-connections\"",
			  (unsigned long long)rl.rlim_cur, (unsigned long long)want);
}

static int serve(struct relay_config *cfg)
{
	struct relay_node *node = NULL;
	struct admin *admin = NULL;
	char err[ERR_MAX], q[ERR_MAX + 16];
	sigset_t set;
	int sig;

	raise_fd_limit(cfg);
	if (relay_node_start(cfg, admin_queue_tables, ADMIN_QUEUE_TABLES, &node, err,
			     sizeof(err)) != 0) {
		fprintf(stderr, "interlinkd: %s\n", err);
		return 1;
	}
	cfg = NULL; /* the node's now */
	if (admin_start(node, &admin, err, sizeof(err)) != 0) {
		fprintf(stderr, "interlinkd: admin: %s\n", err);
		relay_node_stop(node);
		return 1;
	}
	/* carriers last: the first admin is in the store before their messages can fill it */
	if (relay_node_listen(node, err, sizeof(err)) != 0) {
		fprintf(stderr, "interlinkd: %s\n", err);
		admin_stop(admin);
		relay_node_stop(node);
		admin_free(admin);
		return 1;
	}
	const struct relay_config *c = relay_node_config(node);
	relay_log(RELAY_LOG_INFO, "started",
		  "version=%s node=%s carrier_api=%s admin=%s data_dir=%s peers=%zu",
		  INTERLINK_VERSION, c->node_id, relay_node_url(node), admin_url(admin),
		  relay_log_quote(c->data_dir, q, sizeof(q)), c->n_peers);
	notify_ready(node, admin, ""); /* both listeners take connections now */
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig != SIGHUP)
			break;
		reload(node, admin);
	}
	notify("STOPPING=1");
	relay_log(RELAY_LOG_INFO, "stopping", "signal=%s", sig == SIGINT ? "INT" : "TERM");
	admin_stop(admin);
	relay_node_stop(node);
	admin_free(admin);
	relay_log(RELAY_LOG_INFO, "stopped", NULL);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'}, {"test", no_argument, NULL, 't'},
		{"version", no_argument, NULL, 'V'},      {"help", no_argument, NULL, 'h'},
		{"hash-password", no_argument, NULL, 'H'}, {NULL, 0, NULL, 0},
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
		case 'H':
			return hash_password();
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
		if (relay_config_check_tls(cfg, err, sizeof(err)) != 0) {
			fprintf(stderr, "interlinkd: %s: %s\n", path, err);
			relay_config_free(cfg);
			return 1;
		}
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
