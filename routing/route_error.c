/* route_strerror: the one table of routing's error texts. */
#include "routing/routing.h"

static const char *const route_errtext[ROUTE_EMAX_] = {
	[ROUTE_EEMPTY] = "address is empty",
	[ROUTE_ETOOLONG] = "too long: more than 15 digits, or over a size limit "
	                   "(local part 64, domain 253, input 512 bytes)",
	[ROUTE_ETOOSHORT] = "no digits after the international prefix",
	[ROUTE_EBADCHAR] = "a character that has no place in an address "
	                   "(a letter in a number, a misplaced '+', whitespace, a second '@')",
	[ROUTE_ENONASCII] = "a non-ASCII byte (addresses are ASCII only)",
	[ROUTE_ECOUNTRY] = "the country code starts with 0 (\"+0...\" or \"000...\")",
	[ROUTE_ENATIONAL] = "a national number needs default-country to be set",
	[ROUTE_ENOPREFIX] = "no international prefix: a number must start with \"+\" or \"00\"",
	[ROUTE_ELOCAL] = "the handle local part is empty or has a character other than a-z 0-9 . _ -",
	[ROUTE_EDOMAIN] = "the domain is not a valid DNS name "
	                  "(labels of 1-63 a-z 0-9 -, not starting or ending with -)",
	[ROUTE_ECC] = "default-country must be 1-3 digits, the first not 0",
	[ROUTE_EINVAL] = "invalid argument",
	[ROUTE_ENOMEM] = "out of memory",
	[ROUTE_EEXIST] = "already exists",
	[ROUTE_ENOTFOUND] = "not found",
	[ROUTE_ENOPEER] = "no such peer",
	[ROUTE_EINUSE] = "the peer is still named by a route or a directory entry",
	[ROUTE_EREADONLY] = "defined in the configuration file: read-only",
	[ROUTE_EPERM] = "a carrier may only change directory accounts that name itself",
	[ROUTE_ESTORE] = "the store failed",
	[ROUTE_EFULL] = "the store is full",
	[ROUTE_ENOROUTE] = "no route",
	[ROUTE_ELOOP] = "loop: this node is already in hops",
	[ROUTE_EHOPS] = "too many hops",
	[ROUTE_ESUSPENDED] = "the destination peer is suspended",
	[ROUTE_ESPOOF] = "the sender address does not belong to the submitting peer",
};

const char *route_strerror(int code)
{
	if (code < 0 && code > -ROUTE_EMAX_)
		code = -code;
	if (code <= 0 || code >= ROUTE_EMAX_ || !route_errtext[code])
		return "unknown error";
	return route_errtext[code];
}
