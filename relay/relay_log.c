/*
 * Logging: one key=value line per event on stderr, written with a single
 * write(2) so lines from different threads never interleave.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "relay/relay.h"

#define LINE_MAX_BYTES 2048

/* The one piece of shared state: the threshold, read by every thread. */
static atomic_int log_threshold = RELAY_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void relay_log_set_level(enum relay_log_level level)
{
	atomic_store(&log_threshold, (int)level);
}

int relay_log_level_parse(const char *name, enum relay_log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (name && strcmp(name, level_names[i]) == 0) {
			*out = (enum relay_log_level)i;
			return 0;
		}
	}
	return -RELAY_ECONFIG;
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ"; the seconds part is kept per thread, as a busy thread
 * logs many lines a second. */
static void format_ts(char buf[32])
{
	static _Thread_local time_t sec = -1;
	static _Thread_local char head[24];
	struct timespec now;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &now);
	if (now.tv_sec != sec) {
		gmtime_r(&now.tv_sec, &tm);
		if (strftime(head, sizeof(head), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
			head[0] = '\0';
		sec = now.tv_sec;
	}
	snprintf(buf, 32, "%s.%03ldZ", head, now.tv_nsec / 1000000L);
}

void relay_log(enum relay_log_level level, const char *msg, const char *kv, ...)
{
	if ((int)level < atomic_load(&log_threshold))
		return;

	char line[LINE_MAX_BYTES];
	char ts[32];
	size_t cap = sizeof(line) - 1; /* room for the newline */
	format_ts(ts);
	int n = snprintf(line, cap, "ts=%s level=%s msg=%s", ts, level_names[level], msg);
	size_t len = n < 0 ? 0 : ((size_t)n < cap ? (size_t)n : cap - 1);

	if (kv && *kv && len < cap - 1) {
		va_list ap;
		line[len++] = ' ';
		va_start(ap, kv);
		n = vsnprintf(line + len, cap - len, kv, ap);
		va_end(ap);
		if (n > 0)
			len = (size_t)n < cap - len ? len + (size_t)n : cap - 1;
	}
	if (len >= cap - 1) {
		memcpy(line + cap - 4, "...", 3);
		len = cap - 1;
	}
	line[len++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, len);
	(void)w; /* nowhere to report a failing stderr */
}

static int plain_token(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c <= ' ' || c >= 0x7f || c == '"' || c == '\\' || c == '=')
			return 0;
	}
	return 1;
}

const char *relay_log_quote(const char *s, char *buf, size_t size)
{
	size_t o = 0;

	if (size == 0)
		return buf;
	if (!s)
		s = "";
	if (plain_token(s)) {
		snprintf(buf, size, "%s", s);
		return buf;
	}
	/* Quoted: reserve room for the closing quote and the NUL. */
	if (size < 3) {
		buf[0] = '\0';
		return buf;
	}
	buf[o++] = '"';
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[5];
		size_t n;
		if (c == '"' || c == '\\')
			n = (size_t)snprintf(esc, sizeof(esc), "\\%c", c);
		else if (c < ' ' || c == 0x7f)
			n = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", c);
		else {
			esc[0] = (char)c;
			n = 1;
		}
		if (o + n + 2 > size)
			break;
		memcpy(buf + o, esc, n);
		o += n;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}
