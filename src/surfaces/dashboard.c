/*
 * dashboard: see dashboard.h. Only the paths in the table exist: a path is
 * compared whole, never used to read a file.
 */
#include "surfaces/dashboard.h"

#include <string.h>

const struct asset *dashboard_asset(const char *path)
{
	if (!strcmp(path, "/"))
		path = "/index.html";
	for (const struct asset *a = dashboard_assets; a->path; a++)
		if (!strcmp(a->path, path))
			return a;
	return NULL;
}
