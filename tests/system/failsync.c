/*
 * A failing disk for the system tests, preloaded into interlinkd (LD_PRELOAD): while
 * the file named by INTERLINK_TEST_FAIL_SYNC exists, fdatasync(2) fails with EIO, as
 * a disk's write error reports itself to LMDB's commit. Built by `make system`; never
 * installed.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int fdatasync(int fd)
{
	const char *flag = getenv("INTERLINK_TEST_FAIL_SYNC");

	if (flag && access(flag, F_OK) == 0) {
		errno = EIO;
		return -1;
	}
	return (int)syscall(SYS_fdatasync, fd);
}
