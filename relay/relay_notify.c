/*
 * The systemd notification protocol without libsystemd: one datagram of
 * "KEY=value" lines to the AF_UNIX socket named by $NOTIFY_SOCKET
 * (a path, or an abstract name after '@'), as sd_notify(3) sends it.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "relay/relay.h"

int relay_notify(const char *state)
{
	const char *name = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n, len;
	ssize_t sent;
	int fd, rc = 0;

	if (!name || !name[0])
		return 0; /* not started by a service manager that listens */
	if (!state)
		return -EINVAL;
	n = strlen(name);
	if (name[0] != '/' && name[0] != '@')
		return -EAFNOSUPPORT; /* e.g. "vsock:": not spoken here */
	if (n >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, name, n);
	if (name[0] == '@')
		sa.sun_path[0] = '\0'; /* abstract: the name is exactly its n bytes */
	else
		n++; /* a path: its terminating NUL counts */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	len = strlen(state);
	do {
		sent = sendto(fd, state, len, MSG_NOSIGNAL, (const struct sockaddr *)&sa,
		              (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n));
	} while (sent < 0 && errno == EINTR);
	if (sent < 0)
		rc = -errno;
	else if ((size_t)sent != len)
		rc = -EMSGSIZE;
	close(fd);
	return rc;
}
