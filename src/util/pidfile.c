/*
 * pidfile: see pidfile.h.
 */
#include "util/pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define PIDFILE_TRIES 5

void pidfile_init(struct pidfile *pf)
{
	memset(pf, 0, sizeof(*pf));
	pf->fd = -1;
}

/* The pid an existing pidfile holds, as text ("?" when unreadable). */
static void held_pid(int fd, char *out, size_t outlen)
{
	ssize_t n = pread(fd, out, outlen - 1, 0);
	size_t i = 0;

	if (n < 0)
		n = 0;
	out[n] = 0;
	while (out[i] >= '0' && out[i] <= '9')
		i++;
	out[i] = 0;
	if (!i)
		snprintf(out, outlen, "?");
}

/* Opens path, creating it when missing; *created says which. */
static int open_file(const char *path, bool *created)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);

	*created = fd >= 0;
	if (fd < 0 && errno == EEXIST)
		fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	return fd;
}

/* One attempt: 1 locked, 0 the path changed under us (try again), -1 error
 * or busy (rc says which). */
static int try_lock(struct pidfile *pf, const char *path, enum pidfile_rc *rc, char *err, size_t errlen)
{
	struct stat fs, ps;
	char pid[32];
	bool created;
	int fd = open_file(path, &created);

	*rc = PIDFILE_ERROR;
	if (fd < 0) {
		snprintf(err, errlen, "cannot open pidfile %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &fs) != 0 || !S_ISREG(fs.st_mode)) {
		snprintf(err, errlen, "pidfile %s is not a regular file", path);
		close(fd);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK) {
			held_pid(fd, pid, sizeof(pid));
			snprintf(err, errlen, "pidfile %s is held by a running pgsift (pid %s); not starting", path, pid);
			*rc = PIDFILE_BUSY;
		} else
			snprintf(err, errlen, "cannot lock pidfile %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	/* the holder may have removed it between our open and our lock */
	if (stat(path, &ps) != 0 || ps.st_dev != fs.st_dev || ps.st_ino != fs.st_ino) {
		close(fd);
		return 0;
	}
	pf->fd = fd;
	pf->created = created;
	pf->dev = fs.st_dev;
	pf->ino = fs.st_ino;
	return 1;
}

enum pidfile_rc pidfile_lock(struct pidfile *pf, const char *path, char *err, size_t errlen)
{
	enum pidfile_rc rc = PIDFILE_ERROR;

	if (!path || !*path)
		return PIDFILE_OK;
	if (!(pf->path = strdup(path))) {
		snprintf(err, errlen, "out of memory");
		return PIDFILE_ERROR;
	}
	for (int i = 0; i < PIDFILE_TRIES; i++) {
		int r = try_lock(pf, path, &rc, err, errlen);
		if (r > 0)
			return PIDFILE_OK;
		if (r < 0)
			return rc;
	}
	snprintf(err, errlen, "pidfile %s keeps being replaced; not starting", path);
	return PIDFILE_ERROR;
}

bool pidfile_chown(const struct pidfile *pf, uid_t uid, gid_t gid, char *err, size_t errlen)
{
	if (pf->fd < 0 || !pf->created || fchown(pf->fd, uid, gid) == 0)
		return true;
	snprintf(err, errlen, "cannot give pidfile %s to uid %d: %s", pf->path, (int)uid, strerror(errno));
	return false;
}

bool pidfile_write(struct pidfile *pf, char *err, size_t errlen)
{
	char buf[32];
	int n;

	if (pf->fd < 0)
		return true;
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(pf->fd, 0) != 0 || pwrite(pf->fd, buf, (size_t)n, 0) != n) {
		snprintf(err, errlen, "cannot write pidfile %s: %s", pf->path, strerror(errno));
		return false;
	}
	return true;
}

void pidfile_release(struct pidfile *pf)
{
	struct stat ps;

	if (pf->fd >= 0) {
		/* unlink before letting go: a new holder never loses its file */
		if (stat(pf->path, &ps) == 0 && ps.st_dev == pf->dev && ps.st_ino == pf->ino)
			unlink(pf->path);
		close(pf->fd);
	}
	free(pf->path);
	pidfile_init(pf);
}
