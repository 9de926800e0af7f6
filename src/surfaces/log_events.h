/*
 * log_events: every finding (N+1, slow statement, hazard) as one structured
 * log event whose fields are the columns of its view (nplusone, slow,
 * hazards), so a log pipeline gets what SHOW and the JSON API show.
 * Literal values appear only where the view has them (the `sample`
 * column, NULL unless log_query_samples is on).
 */
#ifndef PGSIFT_LOG_EVENTS_H
#define PGSIFT_LOG_EVENTS_H

struct sift;

/* sift->on_finding: logs the finding obj of kind event (FD_EV_*). */
void log_events_finding(struct sift *s, int event, const void *obj);

#endif
