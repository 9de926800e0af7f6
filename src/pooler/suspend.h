/*
 * suspend: the console's SUSPEND and the RESUME that ends it, as in
 * PgBouncer. A suspended pooler accepts no connection and reads no client
 * or server socket (the console's own clients excepted); what is queued
 * for sending is still sent, and SUSPEND answers once every socket's
 * queue is empty, so nothing is left half-sent in pgsift's buffers.
 */
#ifndef PGSIFT_SUSPEND_H
#define PGSIFT_SUSPEND_H

#include <stdbool.h>

#include "pooler/sift.h"

/* Stops the listeners and every client and server connection's reading.
 * false (nothing changed) when the pooler is already suspended. */
bool suspend_start(struct sift *s) __attribute__((warn_unused_result));

/* Has every suspended connection sent what was queued for it? After
 * suspend_timeout, a connection that has not is closed (PgBouncer's rule)
 * and the answer is yes. */
bool suspend_flushed(struct sift *s);

/* Ends the suspension: reading and accepting go on. false when the pooler
 * is not suspended. */
bool suspend_end(struct sift *s);

#endif
