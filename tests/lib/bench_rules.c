/* bench_rules — rule engine throughput and allocations on the update path
 * (ARCHITECTURE.md target: 10k points, 2k rules, >= 1M updates/s/core,
 * 0 allocations).
 *
 * Shape (a realistic large compound): 200 device profiles x 10 points,
 * 1000 devices (5 per profile) = 10,000 points, 10 rules per profile =
 * 2,000 rules (each reads 1-3 points; 1 in 10 uses avg() over 60 s; some
 * with on/off delays, hysteresis, latch, count-in-window), plus the
 * built-in offline rule. Updates go to random (device, point) pairs with
 * values that cross the thresholds, so alarms really raise and clear;
 * outputs are drained every 256 updates as the core would.
 *
 * malloc/calloc/realloc/free are interposed in this program (forwarding to
 * glibc's __libc_* functions) and counted only inside the measured loop.
 *
 *   build/tests/bench_rules [updates]     default 5,000,000 per phase
 * Prints one line per phase: updates per CPU-second of the measuring thread
 * (the per-core figure, meaningful even on a loaded machine), updates per
 * wall second, allocations, outputs. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rules/engine.h"

#define N_PROFILES 200
#define N_POINTS 10
#define DEVS_PER_PROFILE 5
#define RULES_PER_PROFILE 10
#define N_DEVICES (N_PROFILES * DEVS_PER_PROFILE)
#define N_RULES (N_PROFILES * RULES_PER_PROFILE)

/* ---------- allocation counting ---------- */

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define BENCH_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define BENCH_SANITIZED 1
#endif

static volatile int counting;
static volatile unsigned long n_allocs;

#ifdef BENCH_SANITIZED
/* The sanitizer owns malloc: allocations are not counted in such a build. */
#define COUNTING_ALLOCS 0
#define raw_calloc calloc
#define raw_free free
#else
#define COUNTING_ALLOCS 1
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
#define raw_calloc __libc_calloc
#define raw_free __libc_free

void *malloc(size_t n)
{
	if (counting)
		n_allocs++;
	return __libc_malloc(n);
}

void *calloc(size_t a, size_t b)
{
	if (counting)
		n_allocs++;
	return __libc_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
	if (counting)
		n_allocs++;
	return __libc_realloc(p, n);
}

void free(void *p)
{
	__libc_free(p);
}
#endif

/* ---------- the configuration ---------- */

static struct point_def points[N_PROFILES][N_POINTS];
static char point_names[N_POINTS][16];
static struct profile profiles[N_PROFILES];
static char profile_names[N_PROFILES][16];
static struct device_config devices[N_DEVICES];
static char device_ids[N_DEVICES][16];
static struct rule_config rules[N_RULES];
static char rule_ids[N_RULES][16];
static char rule_when[N_RULES][96];
static char rule_clear[N_RULES][96];

static void build_config(struct gw_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	for (int k = 0; k < N_POINTS; k++)
		snprintf(point_names[k], sizeof point_names[k], "p%d", k);
	for (int p = 0; p < N_PROFILES; p++) {
		snprintf(profile_names[p], sizeof profile_names[p], "prof%d", p);
		for (int k = 0; k < N_POINTS; k++)
			points[p][k] = (struct point_def){ .name = point_names[k], .type = PT_NUMBER, .scale = 1 };
		profiles[p] = (struct profile){ .name = profile_names[p], .kind = "bench", .points = points[p],
						.n_points = N_POINTS };
	}
	for (int d = 0; d < N_DEVICES; d++) {
		snprintf(device_ids[d], sizeof device_ids[d], "dev%d", d);
		devices[d] = (struct device_config){ .id = device_ids[d], .profile = d % N_PROFILES, .bus = -1,
						     .source = -1, .poll_ms = 1000 };
		devices[d].location = (struct location){ .building = "1", .entrance = "1", .floor = d % 20,
							 .has_floor = true };
	}
	for (int r = 0; r < N_RULES; r++) {
		int p = r / RULES_PER_PROFILE, i = r % RULES_PER_PROFILE;
		int a = i, b = (i + 3) % N_POINTS, c = (i + 7) % N_POINTS;
		struct rule_config *rc = &rules[r];
		snprintf(rule_ids[r], sizeof rule_ids[r], "r%d", r);
		*rc = (struct rule_config){ .id = rule_ids[r], .profile = p, .severity = 1 + i % 4, .type = "bench.alarm",
					    .enabled = true, .message = "{device} p{p0}" };
		switch (i % 5) {
		case 0:
			snprintf(rule_when[r], sizeof rule_when[r], "p%d > 80", a);
			snprintf(rule_clear[r], sizeof rule_clear[r], "p%d < 70", a);
			rc->clear_when = rule_clear[r];
			break;
		case 1:
			snprintf(rule_when[r], sizeof rule_when[r], "p%d > 60 && p%d < 30", a, b);
			rc->for_ms = 2000;
			break;
		case 2:
			snprintf(rule_when[r], sizeof rule_when[r], "(p%d + p%d) / 2 >= 75 || p%d == 99", a, b, c);
			rc->latch = true;
			break;
		case 3:
			snprintf(rule_when[r], sizeof rule_when[r], "!(p%d < 90) && p%d != 0", a, b);
			rc->count = 3;
			rc->within_ms = 60000;
			break;
		default:
			if (i == 9)
				snprintf(rule_when[r], sizeof rule_when[r], "avg(p%d, '60s') > 70", a);
			else
				snprintf(rule_when[r], sizeof rule_when[r], "p%d * 2 - p%d > 100", a, b);
			rc->clear_for_ms = 5000;
			break;
		}
		rc->when = rule_when[r];
	}
	cfg->profiles = profiles;
	cfg->n_profiles = N_PROFILES;
	cfg->devices = devices;
	cfg->n_devices = N_DEVICES;
	cfg->rules = rules;
	cfg->n_rules = N_RULES;
	cfg->builtins.offline.enabled = true;
}

/* ---------- the measured loop ---------- */

static uint64_t rng = 88172645463325252ull;

static inline uint64_t xorshift(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static double clock_s(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* steady: values repeat (a polled device whose readings do not change). */
static void run_phase(struct engine *e, const char *name, long updates, bool steady, int64_t *t_ms)
{
	static struct engine_output out[256];
	unsigned long outputs = 0;
	double *vals = raw_calloc(N_DEVICES * N_POINTS, sizeof *vals);
	for (int i = 0; i < N_DEVICES * N_POINTS; i++)
		vals[i] = 50;
	n_allocs = 0;
	counting = 1;
	double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
	for (long i = 0; i < updates; i++) {
		uint64_t x = xorshift();
		int d = (int)(x % N_DEVICES);
		int k = (int)((x >> 20) % N_POINTS);
		double *v = &vals[d * N_POINTS + k];
		if (!steady) {
			/* a random walk that crosses the thresholds now and then */
			*v += (double)((int)((x >> 40) % 21) - 10);
			if (*v < 0)
				*v = 0;
			if (*v > 100)
				*v = 100;
		}
		struct point_value pv = { .value = *v, .quality = QUALITY_GOOD, .ts_ms = *t_ms };
		engine_point(e, d, k, &pv, *t_ms);
		if ((i & 255) == 255) {
			engine_tick(e, *t_ms);
			size_t n;
			while ((n = engine_drain(e, out, 256)) > 0)
				outputs += n;
		}
		if ((i & 1023) == 1023)
			(*t_ms)++;  /* ~1M updates per simulated second */
	}
	double dt = clock_s(CLOCK_MONOTONIC) - t0, dc = clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
	counting = 0;
	size_t n;
	while ((n = engine_drain(e, out, 256)) > 0)
		outputs += n;
	/* CPU time of this thread gives the per-core figure even on a busy machine */
	printf("bench_rules %-8s %d points, %d rules, %ld updates: %.0f updates/s per CPU-second (%.3f s CPU), "
	       "%.0f updates/s wall, %s%lu allocations, %lu outputs\n",
	       name, N_DEVICES * N_POINTS, N_RULES, updates, updates / dc, dc, updates / dt,
	       COUNTING_ALLOCS ? "" : "(not counted under a sanitizer) ", n_allocs, outputs);
	raw_free(vals);
}

int main(int argc, char **argv)
{
	long updates = argc > 1 ? atol(argv[1]) : 5000000;
	if (updates <= 0) {
		fprintf(stderr, "usage: %s [updates]\n", argv[0]);
		return 2;
	}
	struct gw_config cfg;
	build_config(&cfg);
	char err[256];
	struct engine *e = engine_create(&cfg, err, sizeof err);
	if (!e) {
		fprintf(stderr, "bench_rules: engine_create: %s\n", err);
		return 1;
	}
	int64_t t = 1000;
	run_phase(e, "changing", updates, false, &t);
	run_phase(e, "steady", updates, true, &t);
	engine_destroy(e);
	return 0;
}
