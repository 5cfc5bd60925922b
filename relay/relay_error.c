/* relay_strerror: the one table of relay's error texts. */
#include "relay/relay.h"

static const char *const texts[RELAY_EMAX_] = {
	[RELAY_ECONFIG] = "invalid configuration",
	[RELAY_ENOMEM] = "out of memory",
	[RELAY_EJSON] = "malformed JSON",
	[RELAY_EFIELD] = "invalid envelope field",
	[RELAY_ETOOBIG] = "message too large",
	[RELAY_ERECORD] = "corrupt stored record",
	[RELAY_ELISTEN] = "cannot start listener",
	[RELAY_EKEY] = "sealed record: its key is missing or does not open it",
	[RELAY_ETRUST] = "a signature does not verify",
	[RELAY_EAGAIN] = "not now: retry later",
};

const char *relay_strerror(int code)
{
	if (code < 0)
		code = -code;
	if (code == 0)
		return "success";
	if (code >= RELAY_EMAX_ || !texts[code])
		return "unknown error";
	return texts[code];
}
