/*
 * Unit tests of src/analyzer/advisor.c: the Erlang C model against textbook values,
 * the sliding window and the advice rules.
 */
#include <math.h>
#include <string.h>

#include "analyzer/advisor.h"
#include "tap.h"

static bool near(double got, double want, double rel)
{
	return fabs(got - want) <= rel * fabs(want) + 1e-12;
}

static void test_erlang_c(void)
{
	/* M/M/1: the probability of waiting is the utilization */
	tap_ok(near(adv_erlang_c(1, 0.5), 0.5, 1e-12), "Erlang C (1 server, 0.5 erlang) = 0.5");
	/* textbook M/M/2 and M/M/3 with closed forms: 1/3 and 4/9 */
	tap_ok(near(adv_erlang_c(2, 1.0), 1.0 / 3, 1e-12), "Erlang C (2, 1) = 1/3");
	tap_ok(near(adv_erlang_c(3, 2.0), 4.0 / 9, 1e-12), "Erlang C (3, 2) = 4/9");
	/* the call-centre table: 10 erlangs on 11, 12, 13 agents */
	tap_ok(near(adv_erlang_c(11, 10.0), 0.6821, 1e-3), "Erlang C (11, 10) = 0.6821 (got %.4f)", adv_erlang_c(11, 10.0));
	tap_ok(near(adv_erlang_c(12, 10.0), 0.4494, 1e-3), "Erlang C (12, 10) = 0.4494 (got %.4f)", adv_erlang_c(12, 10.0));
	tap_ok(near(adv_erlang_c(13, 10.0), 0.2853, 1e-3), "Erlang C (13, 10) = 0.2853 (got %.4f)", adv_erlang_c(13, 10.0));
	tap_ok(near(adv_erlang_c(100, 90.0), 0.21694, 1e-3), "Erlang C (100, 90) = 0.2169: no overflow at large c");
	tap_ok(adv_erlang_c(4, 4.0) == 1.0 && adv_erlang_c(3, 5.0) == 1.0, "load >= servers: always waits");
	tap_ok(adv_erlang_c(4, 0.0) == 0.0, "no load: never waits");
}

static void test_waits(void)
{
	/* M/M/1, lambda 0.5/s, mean hold 1 s: mean wait rho/(mu-lambda) = 1 s;
	 * P(W > t) = 0.5 exp(-0.5 t) so p99 = 2 ln 50 = 7.824 s */
	tap_ok(near(adv_wait_mean(1, 0.5, 1.0, 1.0, 1.0), 1.0, 1e-12), "M/M/1 mean wait = 1 s");
	tap_ok(near(adv_wait_quantile(1, 0.5, 1.0, 1.0, 1.0, 0.99), 2 * log(50.0), 1e-9), "M/M/1 wait p99 = 2 ln 50 s");
	tap_ok(adv_wait_quantile(1, 0.5, 1.0, 1.0, 1.0, 0.40) == 0.0, "a quantile below P(no wait) is 0");
	/* M/M/11 at 10 erlangs, mean hold 3 min (lambda 10/3 per min):
	 * mean wait = C / (c mu - lambda) = 0.6821 / (11/3 - 10/3) min = 2.046 min */
	tap_ok(near(adv_wait_mean(11, 10.0 / 180, 180.0, 1.0, 1.0), 0.6821 * 180, 1e-3),
	       "M/M/11 at 10 erlangs: mean wait 122.8 s (got %.1f)", adv_wait_mean(11, 10.0 / 180, 180.0, 1.0, 1.0));
	/* Allen-Cunneen: constant holds halve the M/M/c waits */
	tap_ok(near(adv_wait_mean(2, 1.0, 1.0, 1.0, 0.0), adv_wait_mean(2, 1.0, 1.0, 1.0, 1.0) * 0.5, 1e-12),
	       "constant holds: half the M/M/c wait");
	/* bursty arrivals (ca2 = 3) double the M/M/c waits */
	tap_ok(near(adv_wait_quantile(4, 2.0, 1.0, 3.0, 1.0, 0.99), 2 * adv_wait_quantile(4, 2.0, 1.0, 1.0, 1.0, 0.99), 1e-12),
	       "Allen-Cunneen: ca2 3 doubles the wait");
	tap_ok(isinf(adv_wait_quantile(3, 3.0, 1.0, 1.0, 1.0, 0.99)), "unstable queue: infinite wait");
	tap_ok(adv_wait_quantile(3, 0.0, 1.0, 1.0, 1.0, 0.99) == 0.0, "no arrivals: no wait");
	/* more servers never predict a longer wait */
	bool mono = true;
	for (int c = 5; c < 40; c++)
		mono &= adv_wait_quantile(c + 1, 200, 0.025, 1.0, 1.0, 0.99) <= adv_wait_quantile(c, 200, 0.025, 1.0, 1.0, 0.99);
	tap_ok(mono, "wait p99 does not grow with the pool size");
}

static struct adv_pool ap;

/* Feeds n transactions at rate per second, each holding hold_us and
 * waiting wait_us, on a pool of size servers; returns the end time. */
static int64_t feed(struct adv_pool *a, int64_t t, int n, double rate, uint64_t hold_us, uint64_t wait_us, int size)
{
	int64_t gap = (int64_t)(1e6 / rate);

	for (int i = 0; i < n; i++, t += gap) {
		adv_arrival(a, t, size);
		if (wait_us)
			adv_queued(a, t, size);
		adv_assign(a, t + (int64_t)wait_us, size, wait_us);
		adv_release(a, t + (int64_t)wait_us + (int64_t)hold_us, size, hold_us);
	}
	return t;
}

static void test_window(void)
{
	struct adv_slot w, tot;
	struct adv_measure m;
	int64_t t = 1000000, cov;

	adv_init(&ap, 300 * 1000000LL);
	/* 100/s, 5 ms holds, no wait, for 100 s on a pool of 10 */
	t = feed(&ap, t, 10000, 100, 5000, 0, 10);
	adv_tick(&ap, t, 10);
	cov = adv_window(&ap, t, &w);
	adv_measure(&w, cov, &m);
	tap_ok(m.xacts == 10000, "window counts every transaction (%llu)", (unsigned long long)m.xacts);
	tap_ok(near(m.arrival_rate, 100, 0.01), "arrival rate 100/s (got %.2f)", m.arrival_rate);
	tap_ok(near(m.hold_p50_ms, 5, 0.02) && near(m.hold_p99_ms, 5, 0.02) && near(m.hold_mean_ms, 5, 1e-9),
	       "hold p50/p99/mean 5 ms");
	tap_ok(m.hold_cv2 < 1e-9, "constant holds: cv2 0");
	tap_ok(m.arrival_cv2 < 1e-9, "evenly spaced arrivals: cv2 0");
	tap_ok(near(m.busy_mean, 0.5, 0.01) && m.busy_peak == 1, "mean busy 0.5, peak 1 (got %.3f, %d)", m.busy_mean,
	       m.busy_peak);
	tap_ok(near(m.utilization, 0.05, 0.01), "utilization 5%% (got %.4f)", m.utilization);
	tap_ok(m.wait_p99_ms == 0 && m.queued == 0, "no waits");
	/* 400 s later at 50/s with 2 ms waits: the first phase left the window */
	t = feed(&ap, t + 400 * 1000000LL, 5000, 50, 20000, 2000, 10);
	adv_tick(&ap, t, 10);
	cov = adv_window(&ap, t, &w);
	adv_measure(&w, cov, &m);
	tap_ok(m.xacts == 5000, "old slots dropped from the window (%llu)", (unsigned long long)m.xacts);
	/* the window is 300 s (to a slot's 30 s) and 200 s of it were quiet */
	tap_ok(m.arrival_rate >= 5000 / 300.5 && m.arrival_rate <= 5000 / 269.5 && m.seconds <= 300,
	       "window rate counts the quiet part of the window (%.2f/s over %.0f s)", m.arrival_rate, m.seconds);
	tap_ok(m.queued == 5000 && near(m.wait_p99_ms, 2, 0.02), "queued count and wait p99 2 ms");
	cov = adv_since_start(&ap, t, &tot);
	adv_measure(&tot, cov, &m);
	tap_ok(m.xacts == 15000 && m.queued == 5000, "since start keeps everything");
	adv_connect(&ap, t, 10, 3000);
	adv_reserve(&ap, t, 10);
	cov = adv_window(&ap, t, &w);
	adv_measure(&w, cov, &m);
	tap_ok(m.reserve_used == 1 && near(m.login_mean_ms, 3, 1e-9), "reserve use and login time counted");
	/* a day of silence: nothing left in the window, no crash, quick */
	t += 86400 * 1000000LL;
	adv_tick(&ap, t, 10);
	cov = adv_window(&ap, t, &w);
	adv_measure(&w, cov, &m);
	tap_ok(m.xacts == 0 && m.utilization == 0, "a quiet day empties the window");
}

/* The since-start histograms: the same percentiles as one histogram of
 * every sample, whatever slots they went through (samples spread over
 * several window lengths, a window change, quiet spells). */
static void test_since_start_histograms(void)
{
	static struct adv_pool sp;
	static struct histogram hold, wait;
	struct adv_slot tot;
	struct adv_measure m;
	uint64_t x = 0x2545F4914F6CDD1DULL;
	int64_t t = 5000000, cov;
	int same = 1, sums = 1;
	uint64_t hold_sum = 0, wait_sum = 0;

	adv_init(&sp, 10 * 1000000LL);
	hist_init(&hold);
	hist_init(&wait);
	for (int i = 0; i < 20000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		uint64_t h = 100 + x % 400000, w = (x >> 20) % 3 ? 0 : (x >> 24) % 50000;
		if (i == 9000)
			adv_set_window(&sp, 25 * 1000000LL);
		t += (int64_t)((x >> 40) % 20000) + (i % 5000 == 0 ? 400 * 1000000LL : 0);
		adv_arrival(&sp, t, 8);
		adv_assign(&sp, t + (int64_t)w, 8, w);
		adv_release(&sp, t + (int64_t)(w + h), 8, h);
		hist_add(&hold, h);
		hist_add(&wait, w);
		hold_sum += h;
		wait_sum += w;
		if (i % 997 == 0) {
			cov = adv_since_start(&sp, t, &tot);
			/* the counters too: each event counted once, in its slot
			 * until it is cleared, then in the totals */
			sums &= tot.arrivals == (uint64_t)i + 1 && tot.xacts == (uint64_t)i + 1 &&
				tot.hold_sum_us == hold_sum && tot.wait_sum_us == wait_sum && tot.busy_peak == 1 &&
				tot.gaps == (uint64_t)i;
			for (double q = 0; q <= 1.0; q += 0.05)
				same &= hist_quantile(&tot.hold, q) == hist_quantile(&hold, q) &&
					hist_quantile(&tot.wait, q) == hist_quantile(&wait, q);
			same &= hist_count(&tot.hold) == hist_count(&hold) && hist_count(&tot.wait) == hist_count(&wait);
		}
	}
	cov = adv_since_start(&sp, t, &tot);
	adv_measure(&tot, cov, &m);
	tap_ok(same && m.xacts == 20000, "since-start hold and wait percentiles: those of every sample");
	tap_ok(sums, "since-start arrivals, transactions, hold and wait sums, gaps and peak: every event once");
}

static void test_poisson_arrivals(void)
{
	static struct adv_pool pp;
	struct adv_slot w;
	struct adv_measure m;
	uint64_t x = 88172645463325252ULL;
	int64_t t = 1000000, cov;

	adv_init(&pp, 300 * 1000000LL);
	for (int i = 0; i < 20000; i++) {
		double u;
		x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
		u = ((double)(x >> 11) + 0.5) / 9007199254740992.0;
		t += (int64_t)(-log(u) * 10000); /* exponential gaps, mean 10 ms */
		adv_arrival(&pp, t, 5);
	}
	cov = adv_window(&pp, t, &w);
	adv_measure(&w, cov, &m);
	tap_ok(m.arrival_cv2 > 0.93 && m.arrival_cv2 < 1.07, "Poisson arrivals measure ca2 ~ 1 (got %.3f)", m.arrival_cv2);
	tap_ok(near(m.arrival_rate, 100, 0.03), "Poisson arrivals at 100/s (got %.2f)", m.arrival_rate);
}

static void test_advice(void)
{
	struct adv_input in = { .size = 2, .target_wait_ms = 5, .min_xacts = 100 };
	struct adv_advice ad;

	in.m.xacts = 50;
	in.m.arrival_rate = 100;
	in.m.hold_mean_ms = 50;
	in.m.hold_cv2 = 0;
	in.m.arrival_cv2 = 1;
	adv_advise(&in, &ad);
	tap_ok(!ad.advised && strstr(ad.reason, "too little data"), "refuses below min_xacts: %s", ad.reason);
	/* 100/s x 50 ms = 5 erlangs on 2 servers: unstable; constant holds */
	in.m.xacts = 1000;
	in.m.wait_p99_ms = 800;
	adv_advise(&in, &ad);
	tap_ok(ad.advised && ad.recommended > 5 && ad.predicted_p99_ms <= 5 && isinf(ad.current_p99_ms),
	       "undersized: recommends %d, predicts %.2f ms: %s", ad.recommended, ad.predicted_p99_ms, ad.reason);
	tap_ok(adv_wait_quantile(ad.recommended - 1, 100, 0.05, 1.0, 0, 0.99) * 1e3 > 5,
	       "the recommendation is the smallest that meets the target");
	{
		int plain = ad.recommended;
		in.headroom = 0.5;
		adv_advise(&in, &ad);
		tap_ok(ad.recommended > plain && adv_wait_quantile(ad.recommended, 150, 0.05, 1.0, 0, 0.99) * 1e3 <= 5 &&
			       adv_wait_quantile(ad.recommended - 1, 150, 0.05, 1.0, 0, 0.99) * 1e3 > 5,
		       "headroom 50%%: sized for 150/s (%d > %d)", ad.recommended, plain);
		in.headroom = 0;
	}
	{
		/* 100/s x 50 ms on 11 servers meets 5 ms; with 50% more it does not */
		in.size = 11;
		in.headroom = 0.5;
		in.m.wait_p99_ms = 1;
		adv_advise(&in, &ad);
		tap_ok(ad.recommended > 11 && strstr(ad.reason, "tight:"), "headroom alone: %s", ad.reason);
		in.size = 2;
		in.headroom = 0;
		in.m.wait_p99_ms = 800;
	}
	in.cap = 6;
	adv_advise(&in, &ad);
	tap_ok(ad.recommended == 6 && strstr(ad.reason, "capped"), "never more than the server takes: %s", ad.reason);
	in.cap = 0;
	/* the same load on 50 servers: oversized */
	in.size = 50;
	in.m.wait_p99_ms = 0;
	in.m.utilization = 0.1;
	in.m.busy_peak = 9;
	adv_advise(&in, &ad);
	tap_ok(ad.recommended < 50 && ad.recommended > 5 && strstr(ad.reason, "oversized"), "oversized: %d: %s",
	       ad.recommended, ad.reason);
	/* measured waits above target while the model is content: do not shrink */
	in.m.wait_p99_ms = 40;
	adv_advise(&in, &ad);
	tap_ok(ad.recommended == 50 && strstr(ad.reason, "not shrinking"), "measured waits block shrinking: %s",
	       ad.reason);
}

int main(void)
{
	tap_begin();
	test_erlang_c();
	test_waits();
	test_window();
	test_since_start_histograms();
	test_poisson_arrivals();
	test_advice();
	return tap_end();
}
