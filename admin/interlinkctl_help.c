/*
 * interlinkctl's manual: `interlinkctl --help` prints all of it, `interlinkctl help COMMAND`
 * the part about one command. Written as a man page is: synopsis, commands with their
 * operands and options, environment, exit status, examples.
 */
#include <string.h>

#include "admin/interlinkctl.h"

static const char head[] =
	"NAME\n"
	"    interlinkctl - manage an interlink node through its admin API\n"
	"\n"
	"SYNOPSIS\n"
	"    interlinkctl [--url URL] [--token TOKEN] [--cacert FILE] [--json] [--yes]\n"
	"                 COMMAND [SUBCOMMAND] [OPERAND...] [OPTION...]\n"
	"    interlinkctl help [COMMAND]\n"
	"    interlinkctl --help | --version\n"
	"\n"
	"DESCRIPTION\n"
	"    interlinkctl does from a shell what the web console does: it shows the node's\n"
	"    status, manages peers, routes and directory entries, asks the route tester where\n"
	"    an address would go, and browses, retries, holds, releases and purges queued\n"
	"    messages. It talks to the admin listener of interlinkd (default\n"
	"    " CTL_DEFAULT_URL ") with an API token, sent as \"Authorization: Bearer\".\n"
	"    An admin creates a token in the web console or with POST /api/tokens\n"
	"    {\"name\":\"ops\",\"role\":\"admin\"}; it is shown once. A token of role viewer\n"
	"    may run the commands that only look.\n"
	"\n"
	"    Output is a human-readable aligned table or list; with --json it is the API's\n"
	"    JSON exactly as received (an empty answer prints {}), one document per run.\n"
	"    Options may come before or after the command.\n"
	"\n"
	"OPTIONS\n"
	"    --url URL        the admin listener (default $INTERLINK_ADMIN_URL, else\n"
	"                     " CTL_DEFAULT_URL ")\n"
	"    --token TOKEN    the API token (default $INTERLINK_ADMIN_TOKEN). Prefer the\n"
	"                     variable: a command line is visible to other local users\n"
	"    --cacert FILE    CA certificate(s) to verify an https admin listener with\n"
	"                     (default $INTERLINK_ADMIN_CACERT, else the system's)\n"
	"    --json           print the API's JSON instead of tables\n"
	"    -y, --yes        do not ask before purging\n"
	"    -h, --help       print this manual and exit\n"
	"    --version        print the version and exit\n"
	"\n"
	"COMMANDS\n";

struct topic {
	const char *name, *text;
};

static const struct topic topics[] = {
	{"status",
	 "    status\n"
	 "        The node: version, uptime, message counters since start, accepted and\n"
	 "        delivered per second, store use, when each listener's TLS certificate\n"
	 "        ends, whether a reload is waiting for a restart, and per peer its queue\n"
	 "        (queued, delivering, age of the oldest in seconds), whether its endpoints\n"
	 "        are down, suspended, read-only (from the config file).\n"},
	{"peers",
	 "    peers list\n"
	 "        Every peer: name, kind, endpoints (none: it pulls), what it owns, rate,\n"
	 "        suspended, read-only.\n"
	 "    peers add NAME [--kind carrier|relay] [--endpoint URL]... [--owns PREFIX|DOMAIN]...\n"
	 "              [--outbound-token TOKEN] [--cert-sha256 HEX] [--rate N] [--burst N]\n"
	 "              [--max-size BYTES] [--max-queue N] [--key 'BASE64 [until TIME]']...\n"
	 "              [--directory-trusted]\n"
	 "        Adds a peer (kind carrier unless given). --endpoint (up to 8, in priority\n"
	 "        order) is where the node pushes to it; without one the peer pulls its\n"
	 "        inbox. --owns (up to 8) names the E.164 prefixes (+8210) and domains a\n"
	 "        carrier sends from; a carrier needs at least one. --outbound-token is the\n"
	 "        bearer token the node sends when pushing. --key (up to 8) pins a relay\n"
	 "        peer's signing key, as `interlinkctl keys URL` prints it (docs/trust.md).\n"
	 "        --directory-trusted approves its directory lines outside what it owns\n"
	 "        without review (a number-portability clearing house). The peer's inbound\n"
	 "        token is made by the node and printed once: hand it to the peer.\n"
	 "    peers rm NAME\n"
	 "        Removes a peer that no route names (remove its routes first). The config\n"
	 "        file's peers and routes are read-only here: change the file and reload.\n"
	 "    peers suspend NAME\n"
	 "    peers resume NAME\n"
	 "        An operator's brake: a suspended peer's submissions are refused and\n"
	 "        messages to it wait in the queue. This works on the config file's peers\n"
	 "        too, but one the file suspends cannot be resumed here.\n"},
	{"routes",
	 "    routes list\n"
	 "        Every route: its key, what it matches, the peer it leads to, read-only.\n"
	 "    routes add PREFIX|DOMAIN|default PEER\n"
	 "        Routes numbers starting with PREFIX (+8210), addresses at DOMAIN\n"
	 "        (line.example, or *.line.example for its subdomains), or everything else\n"
	 "        (default) to PEER. An operand starting with + or a digit is a prefix.\n"
	 "    routes rm KEY|PREFIX|DOMAIN|default\n"
	 "        Removes a route, named by its key (p:+8210, d:line.example, default) or\n"
	 "        as it was added.\n"},
	{"route-test",
	 "    route-test ADDRESS [--from ADDRESS]\n"
	 "        Where a message to ADDRESS would go now, and why: the verdict (deliver,\n"
	 "        wait, reject), the peer and endpoint, the directory entry and the route\n"
	 "        that decided. Nothing is sent.\n"},
	{"queue",
	 "    queue list [--peer NAME] [--state STATE] [--limit N] [--after RID]\n"
	 "        Messages, metadata only: filter by peer and by state (queued, held,\n"
	 "        delivering, delivered, expired, failed); at most N; the next page starts\n"
	 "        --after the last RID shown (the table says so when there is more).\n"
	 "    queue show RID\n"
	 "        One message's metadata (never its body, unless the node's config has\n"
	 "        admin-can-read-bodies = true).\n"
	 "    queue retry RID\n"
	 "        Makes a waiting message due now (not a held one: release it).\n"
	 "    queue hold RID\n"
	 "    queue release RID\n"
	 "        Holds a message (not delivered until released), or releases it.\n"
	 "    queue purge RID [--yes]\n"
	 "        Ends a message as failed (\"purged by\" you; its sender gets a failure\n"
	 "        report when it asked for one). Asks on the terminal first unless --yes;\n"
	 "        with no terminal to ask, --yes is required.\n"
	 "        Each action prints the message's state after it; a final message (or, for\n"
	 "        release, one not held) is refused.\n"},
	{"directory",
	 "    directory get ADDRESS\n"
	 "        The directory entry of an address (a number or user@domain): the accounts\n"
	 "        that hold it, by priority, with failover settings.\n"
	 "    directory set ADDRESS PEER [--account ADDRESS] [--priority N] [--failover]\n"
	 "                  [--failover-delay SECONDS]\n"
	 "        Adds or replaces PEER's account for ADDRESS: --account when the peer knows\n"
	 "        it by another address, --priority 0-255 (lower is tried first), --failover\n"
	 "        to allow delivery there when a better account's peer is down for\n"
	 "        --failover-delay seconds (default 600).\n"
	 "    directory rm ADDRESS PEER\n"
	 "        Removes PEER's account from the entry.\n"
	 "    directory pending\n"
	 "        The accounts carriers declared for addresses outside their own prefixes\n"
	 "        and domains: they wait for an admin's approval before they are used for\n"
	 "        delivery or trusted as a sender.\n"
	 "    directory approve ADDRESS PEER\n"
	 "        Approves PEER's pending account for ADDRESS (check the port with the\n"
	 "        number's carrier first).\n"},
	{"keys",
	 "    keys URL\n"
	 "        Another node's public signing keys, from its carrier API (URL/v1/keys, no\n"
	 "        token; --cacert for its TLS certificate): each key id checked against its\n"
	 "        key, then the `keys = {...}` line that pins them in that peer's section of\n"
	 "        interlink.conf (docs/trust.md); for a peer added here, give each key\n"
	 "        to `peers add --key` instead. Check the key ids with the other node's\n"
	 "        operator before you pin them.\n"},
	{"help",
	 "    help [COMMAND]\n"
	 "        This manual, or the part about COMMAND.\n"},
};

static const char tail[] =
	"\n"
	"ENVIRONMENT\n"
	"    INTERLINK_ADMIN_URL     the admin listener's URL, when --url is not given\n"
	"    INTERLINK_ADMIN_TOKEN   the API token, when --token is not given\n"
	"    INTERLINK_ADMIN_CACERT  CA certificate file for https, when --cacert is not given\n"
	"\n"
	"EXIT STATUS\n"
	"    0   the command succeeded\n"
	"    1   the API refused it (its reason is printed on stderr, with the HTTP status\n"
	"        and error code), or the node could not be reached\n"
	"    2   usage error: unknown command or option, missing operand, no token\n"
	"\n"
	"EXAMPLES\n"
	"    export INTERLINK_ADMIN_TOKEN=...        # an API token of role admin\n"
	"    interlinkctl status\n"
	"    interlinkctl peers add lineco --endpoint https://sms.lineco.example/v1/deliver \\\n"
	"        --owns +8210 --outbound-token \"$LINECO_TOKEN\" --rate 200\n"
	"    interlinkctl routes add +8210 lineco\n"
	"    interlinkctl route-test +821012345678\n"
	"    interlinkctl queue list --peer lineco --state queued --limit 20\n"
	"    interlinkctl queue retry 01JD3ZQ8W6M7T2V5X9Y4C1B0AE\n"
	"    interlinkctl --yes queue purge 01JD3ZQ8W6M7T2V5X9Y4C1B0AE\n"
	"    interlinkctl directory set +821099990000 lineco --priority 10\n"
	"    interlinkctl --json peers list | jq -r '.[].name'\n"
	"    interlinkctl keys https://relay-b.example:8443   # the pin line for relay-b\n"
	"\n"
	"SEE ALSO\n"
	"    interlinkd(8); docs/config.md (admin-listener) and docs/metrics.md\n";

int ctl_help(const char *topic, FILE *to)
{
	if (!topic) {
		fputs(head, to);
		for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++)
			fprintf(to, "%s%s", i ? "\n" : "", topics[i].text);
		fputs(tail, to);
		return 0;
	}
	for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++) {
		if (strcmp(topic, topics[i].name) != 0)
			continue;
		fprintf(to, "usage (global options: interlinkctl --help):\n\n%s", topics[i].text);
		return 0;
	}
	fprintf(stderr, "interlinkctl: no such command '%s' (commands: status, peers, routes, "
			"route-test, queue, directory, keys, help)\n", topic);
	return -1;
}
