/*
 * pidfile: the pidfile, held with an exclusive lock (flock) from the start
 * of the process to its end.
 *
 * A second pgsift on the same config finds the lock taken and refuses to
 * start without touching the file; a pidfile left by a crash holds no lock
 * and is taken over. The lock lives on the open file description, so it
 * survives the fork of -d. Only the file this process locked is removed at
 * exit, and only while the path still names it.
 */
#ifndef PGSIFT_PIDFILE_H
#define PGSIFT_PIDFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct pidfile {
	int fd;			/* -1: none held */
	bool created;		/* this process created the file */
	dev_t dev;
	ino_t ino;
	char *path;		/* owned */
};

enum pidfile_rc { PIDFILE_OK, PIDFILE_BUSY, PIDFILE_ERROR };

/* Sets pf to "none held". */
void pidfile_init(struct pidfile *pf);

/* Opens path (creating it, never through a symlink) and locks it; what it
 * holds is left alone until pidfile_write(). PIDFILE_BUSY: another process
 * holds the lock (err names the pid the file holds). An empty path holds
 * nothing and is PIDFILE_OK. */
enum pidfile_rc pidfile_lock(struct pidfile *pf, const char *path, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Gives a pidfile this process created to uid/gid (root switching users:
 * a later start as that user can open it again). */
bool pidfile_chown(const struct pidfile *pf, uid_t uid, gid_t gid, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Replaces the content with this process's pid. */
bool pidfile_write(struct pidfile *pf, char *err, size_t errlen) __attribute__((warn_unused_result));

/* Removes the file when the path still names the one locked, and lets go
 * of it. Nothing when none is held. */
void pidfile_release(struct pidfile *pf);

#endif
