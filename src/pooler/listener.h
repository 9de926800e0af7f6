/*
 * listener: the TCP (IPv4 and IPv6) and unix-domain sockets clients
 * connect to.
 */
#ifndef PGSIFT_LISTENER_H
#define PGSIFT_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "pooler/sift.h"

/* Opens every socket listen_addr and unix_socket_dir ask for. Returns false
 * with err set (and nothing open) when one cannot be opened. */
bool listener_open_all(struct sift *s, char *err, size_t errlen) __attribute__((warn_unused_result));

/* Gives the unix socket files to uid/gid (root, before it switches to that
 * user, which must be able to remove them at exit). false with err set
 * when one cannot be changed. */
bool listener_chown(struct sift *s, uid_t uid, gid_t gid, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Stops accepting and closes the sockets (removing the unix socket file). */
void listener_close_all(struct sift *s);
/* Closes the TCP listeners only: during a shutdown the Unix socket stays,
 * for the console (PgBouncer's rule), until pgsift exits. */
void listener_close_tcp(struct sift *s);

/* SUSPEND (on) stops accepting on every socket until RESUME (off). */
void listener_suspend(struct sift *s, bool on);

/* Resumes accepting after a pause caused by running out of descriptors
 * (not while suspended). */
void listener_resume(struct sift *s);

#endif
