/*
 * listener: the TCP (IPv4 and IPv6) and unix-domain sockets clients
 * connect to.
 */
#ifndef PGSIFT_LISTENER_H
#define PGSIFT_LISTENER_H

#include <stdbool.h>
#include <stddef.h>

#include "pooler/sift.h"

/* Opens every socket listen_addr and unix_socket_dir ask for. Returns false
 * with err set (and nothing open) when one cannot be opened. */
bool listener_open_all(struct sift *s, char *err, size_t errlen) __attribute__((warn_unused_result));

/* Stops accepting and closes the sockets (removing the unix socket file). */
void listener_close_all(struct sift *s);

/* Resumes accepting after a pause caused by running out of descriptors. */
void listener_resume(struct sift *s);

#endif
