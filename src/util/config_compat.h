/*
 * config_compat: what a PgBouncer user should know about their settings
 * under pgsift (`pgsift --check-config pgbouncer.ini`). Pure: no libevent.
 */
#ifndef PGSIFT_CONFIG_COMPAT_H
#define PGSIFT_CONFIG_COMPAT_H

#include "util/config.h"

/* Calls emit(key, note, arg) for each setting of cfg that pgsift treats
 * differently from PgBouncer with the value it has; returns how many. */
int config_compat_notes(const struct config *cfg, void (*emit)(const char *key, const char *note, void *arg),
			void *arg);

#endif
