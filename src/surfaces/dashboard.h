/*
 * dashboard: the web page at GET / (index.html, app.js, style.css in
 * src/surfaces/dashboard/), written in plain HTML, CSS and JavaScript,
 * embedded in the binary at build time (embed.sh) and served from memory:
 * no CDN, nothing read from disk or fetched at run time. The page reads
 * the JSON API (/api/v1/...) every few seconds and draws its charts as SVG
 * with its own code.
 */
#ifndef PGSIFT_DASHBOARD_H
#define PGSIFT_DASHBOARD_H

#include <stddef.h>

struct asset {
	const char *path;	/* "/app.js" */
	const char *type;	/* Content-Type */
	const unsigned char *data;
	size_t len;
};

/* The generated table (dashboard_assets.c), ended by a NULL path. */
extern const struct asset dashboard_assets[];

/* The asset served at path ("/" is /index.html), or NULL. */
const struct asset *dashboard_asset(const char *path);

#endif
