/*
 * advisor: pool sizing measurements and the queueing model behind
 * SHOW POOL_ADVICE (doc/advisor.md).
 *
 * Pure module: no libevent, no libpq, no clock. The caller feeds events with
 * the monotonic time in microseconds (a server linked to a client, released,
 * a client that starts to wait, a reserve-pool connection, a finished server
 * login) and reads measurements over a sliding window (ADV_SLOTS slots of
 * slot_len each: the window) and since the first event. The model (Erlang C
 * with an Allen-Cunneen correction for the hold-time variability) is a set
 * of functions of numbers only, unit-tested against textbook values.
 *
 * Ownership: struct adv_pool is caller-owned plain memory (about 25 KB);
 * nothing here allocates.
 */
#ifndef PGSIFT_ADVISOR_H
#define PGSIFT_ADVISOR_H

#include <stdbool.h>
#include <stdint.h>

#include "analyzer/histogram.h"

#define ADV_SLOTS 10 /* the window is ADV_SLOTS slots; the oldest drops as a new one starts */

/* Counters of one slot, of a whole window (merged slots) or since start. */
struct adv_slot {
	int64_t start;		/* usec (monotonic) the slot began; 0: unused */
	uint64_t arrivals;	/* clients asking for a server (transactions offered) */
	uint64_t gaps;		/* inter-arrival gaps counted (each clamped to a slot) */
	double gap_sum, gap_sq_sum;	/* their sum (us) and sum of squares (us^2) */
	uint64_t xacts;		/* ... and released (hold times counted) */
	uint64_t hold_sum_us;
	double hold_sq_sum;	/* sum of squared hold times, us^2 (variance) */
	uint64_t queued;	/* clients that had to wait for a server */
	uint64_t wait_sum_us;	/* their total wait */
	uint64_t reserve_used;	/* reserve-pool connections opened */
	uint64_t connects;	/* server logins finished */
	uint64_t login_sum_us;
	double busy_us;		/* integral of busy servers over time (server-usec) */
	double size_us;		/* integral of the pool size over time */
	int busy_peak;
	struct histogram hold;	/* server hold time per transaction, usec */
	struct histogram wait;	/* client wait for a server (0: none), usec */
	struct hist_exact hold_x, wait_x;	/* exact for few samples, clamps the rest */
};

struct adv_pool {
	int64_t started;	/* first event, 0 before */
	int64_t last;		/* the integrals run up to here */
	int64_t last_arrival;	/* 0: none yet */
	int64_t slot_len;	/* usec */
	int busy;		/* servers linked to a client now */
	int size;		/* pool size at the last event */
	int cur;		/* index of the current slot */
	struct adv_slot slots[ADV_SLOTS];
	struct adv_slot total;	/* since start: the slots cleared so far (adv_since_start adds the rest) */
};

/* Makes a an empty state whose window is window_us long (>= ADV_SLOTS us).
 * Cannot fail. */
void adv_init(struct adv_pool *a, int64_t window_us);

/* Changes the window length: the slots are cleared (since-start totals stay)
 * when it differs. Cannot fail. */
void adv_set_window(struct adv_pool *a, int64_t window_us);

/* Brings the integrals and slots up to now with the current pool size.
 * Inline for the usual case, an event inside the current slot (three
 * events a transaction); adv_tick_slow() starts slots. */
void adv_tick_slow(struct adv_pool *a, int64_t now, int size);
static inline void adv_tick(struct adv_pool *a, int64_t now, int size)
{
	struct adv_slot *sl = &a->slots[a->cur];

	if (__builtin_expect(a->started && now >= a->last && now < sl->start + a->slot_len, 1)) {
		if (now > a->last) { /* the busy and size integrals, as the slow path runs them */
			double dt = (double)(now - a->last);
			sl->busy_us += a->busy * dt;
			sl->size_us += a->size * dt;
			a->last = now;
		}
		a->size = size;
		return;
	}
	adv_tick_slow(a, now, size);
}

/* Events. A client asks for a server (adv_arrival), gets one after wait_us
 * (adv_assign; 0: at once), gives it back after hold_us (adv_release). */
void adv_arrival(struct adv_pool *a, int64_t now, int size);
void adv_assign(struct adv_pool *a, int64_t now, int size, uint64_t wait_us);
void adv_release(struct adv_pool *a, int64_t now, int size, uint64_t hold_us);
void adv_queued(struct adv_pool *a, int64_t now, int size);
void adv_reserve(struct adv_pool *a, int64_t now, int size);
void adv_connect(struct adv_pool *a, int64_t now, int size, uint64_t login_us);

/* Merges the slots of the window ending at now into out (call adv_tick
 * first) and returns the microseconds the window covers. */
int64_t adv_window(const struct adv_pool *a, int64_t now, struct adv_slot *out);
/* The since-start counters and the microseconds they cover. */
int64_t adv_since_start(const struct adv_pool *a, int64_t now, struct adv_slot *out);

/* Numbers derived from a slot (times in milliseconds, rates per second). */
struct adv_measure {
	double seconds;		/* covered */
	uint64_t xacts;
	double arrival_rate;
	double arrival_cv2;	/* squared coefficient of variation of the gaps (1: Poisson) */
	double hold_mean_ms, hold_p50_ms, hold_p95_ms, hold_p99_ms;
	double hold_cv2;	/* squared coefficient of variation of the hold time */
	double wait_p50_ms, wait_p95_ms, wait_p99_ms;
	double busy_mean;
	int busy_peak;
	double utilization;	/* busy server-seconds / pool-size seconds, 0..1 */
	uint64_t queued;
	double queued_ms;	/* total wait of the queued clients */
	uint64_t reserve_used;
	double connects_per_min;
	double login_mean_ms;
};

void adv_measure(const struct adv_slot *sl, int64_t covered_us, struct adv_measure *m);

/* ---- the model ---- */

/* Erlang C: the probability that an arrival waits in an M/M/c queue with c
 * servers and offered load a = lambda * mean hold (erlangs). 1 when a >= c
 * (no steady state); 0 for a <= 0. */
double adv_erlang_c(int c, double a);

/* The q-quantile of the wait in seconds for c servers, arrival rate lambda
 * (1/s), mean hold mean_s (s) and hold-time squared coefficient of
 * variation cs2 (1 for exponential holds; 0 for constant ones) and
 * inter-arrival squared coefficient of variation ca2 (1 for Poisson
 * arrivals). The M/M/c tail P(W > t) = C * exp(-(c/S - lambda) t) is
 * stretched by the Allen-Cunneen factor (ca2 + cs2) / 2, which is 1 for
 * M/M/c. INFINITY when lambda * mean_s >= c. */
double adv_wait_quantile(int c, double lambda, double mean_s, double ca2, double cs2, double q);

/* The mean wait in seconds (Allen-Cunneen approximation of G/G/c). */
double adv_wait_mean(int c, double lambda, double mean_s, double ca2, double cs2);

struct adv_input {
	struct adv_measure m;	/* the window's measurements */
	int size;		/* current pool size */
	double target_wait_ms;	/* advisor_target_wait_ms */
	double headroom;	/* advisor_headroom / 100: size for this much more load */
	uint64_t min_xacts;	/* refuse below this many transactions */
	int cap;		/* most servers this pool may have; <= 0: unknown */
};

struct adv_advice {
	bool advised;		/* false: too little data (reason says) */
	int recommended;
	double predicted_p99_ms;	/* at the recommended size */
	double current_p99_ms;		/* predicted at the current size (INFINITY: unstable) */
	char reason[200];
};

/* Computes the advice for in into out. Cannot fail. */
void adv_advise(const struct adv_input *in, struct adv_advice *out);

#endif
