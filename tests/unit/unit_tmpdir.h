/*
 * Scratch directories for the unit tests: made fresh under /tmp, removed with
 * everything in them. Header-only, so that each test binary stays one file.
 */
#ifndef INTERLINK_UNIT_TMPDIR_H
#define INTERLINK_UNIT_TMPDIR_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

/* /tmp/<name>.XXXXXX, made and written into dir; dir, or NULL when it cannot be made. */
static inline char *ut_mkdtemp(char *dir, size_t size, const char *name)
{
	if ((size_t)snprintf(dir, size, "/tmp/%s.XXXXXX", name) >= size)
		return NULL;
	return mkdtemp(dir);
}

static inline int ut_rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Removes dir and everything below it (symbolic links as links); best effort. */
static inline void ut_rm_dir(const char *dir)
{
	nftw(dir, ut_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
