/* bench_modbus — `make bench` figures for the Modbus poller, on loopback
 * Modbus TCP against gridgw-sim, with the simulator and this process pinned
 * to one core (ARCHITECTURE.md: across cores loopback round trips are ~10x
 * slower and noisy).
 *
 *  1. most requests/s, 50 devices x 30 registers, one connection: a bare
 *     libmodbus read loop (the limit) versus a bus thread polling as fast as
 *     it can (poll periods forced to 1 ms so the schedule is always due),
 *     with a stand-in core draining the queue; median of 3 runs each.
 *  2. 1,000 devices x 30 registers every 1 s on 5 TCP buses of 200 unit ids:
 *     poll-start lateness against the schedule (p50/p99/max), overruns,
 *     requests/s, CPU of this process (bus threads + stand-in core) and its
 *     peak RSS; and, as the floor, the CPU of a bare libmodbus loop paced at
 *     the same 1,000 requests/s.
 *
 *   bench_modbus [--sim PATH] [--seconds S] [--cpu N] [--only tput|jitter]
 * Prints a table; exit status 0 unless the setup fails (figures are not
 * pass/fail, but the verdict against the targets is printed). */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include <modbus.h>

#include "gateway/config/config.h"
#include "common/log.h"
#include "common/queue.h"
#include "sensors/modbus_bus.h"

#define REGS 30

struct bench {
	const char *sim;
	double seconds;
	int cpu;
	char dir[64];
	pid_t sim_pid;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double ru_seconds(const struct rusage *a, const struct rusage *b)
{
	return (double)(b->ru_utime.tv_sec - a->ru_utime.tv_sec + b->ru_stime.tv_sec - a->ru_stime.tv_sec) +
	       (double)(b->ru_utime.tv_usec - a->ru_utime.tv_usec + b->ru_stime.tv_usec - a->ru_stime.tv_usec) / 1e6;
}

static int pin_cpu(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof set, &set);
}

static int free_port(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof a;
	int port = -1;
	if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(s, (struct sockaddr *)&a, &l) == 0)
		port = ntohs(a.sin_port);
	if (s >= 0)
		close(s);
	return port;
}

/* Writes a config with n_buses TCP buses of per_bus devices each. */
static int write_config(struct bench *b, const char *name, int n_buses, int per_bus, const char *poll, int *ports)
{
	char path[128];
	snprintf(path, sizeof path, "%s/%s", b->dir, name);
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f, "gateway = { id = \"bench\"; state_dir = \"%s\"; log_level = \"error\"; };\nbuses = (\n", b->dir);
	for (int i = 0; i < n_buses; i++) {
		ports[i] = free_port();
		fprintf(f, "  { name = \"b%d\"; type = \"tcp\"; host = \"127.0.0.1\"; port = %d; timeout = \"1s\"; }%s\n",
			i, ports[i], i + 1 < n_buses ? "," : "");
	}
	fprintf(f, ");\nprofiles = { meter30 = { kind = \"generic\"; points = (\n");
	for (int r = 0; r < REGS; r++)
		fprintf(f, "  { name = \"r%d\"; table = \"holding\"; address = %d; type = \"u16\"; }%s\n", r, r,
			r + 1 < REGS ? "," : "");
	fprintf(f, "); }; };\ndevices = (\n");
	for (int i = 0; i < n_buses; i++)
		for (int u = 1; u <= per_bus; u++)
			fprintf(f, "  { id = \"d%d-%d\"; profile = \"meter30\"; bus = \"b%d\"; unit = %d; poll = \"%s\"; }%s\n",
				i, u, i, u, poll, (i + 1 < n_buses || u < per_bus) ? "," : "");
	fprintf(f, ");\n");
	return fclose(f);
}

static int wait_port(int port, double secs)
{
	for (double end = now_s() + secs; now_s() < end; usleep(20000)) {
		int s = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		int ok = s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) == 0;
		if (s >= 0)
			close(s);
		if (ok)
			return 0;
	}
	return -1;
}

static int start_sim(struct bench *b, const char *conf, const int *ports, int n_ports)
{
	char path[128], logp[128];
	snprintf(path, sizeof path, "%s/%s", b->dir, conf);
	snprintf(logp, sizeof logp, "%s/sim.log", b->dir);
	b->sim_pid = fork();
	if (b->sim_pid < 0)
		return -1;
	if (b->sim_pid == 0) {
		FILE *lf = freopen(logp, "a", stdout);
		(void)lf;
		dup2(STDOUT_FILENO, STDERR_FILENO);
		pin_cpu(b->cpu); /* same core as the client */
		execl(b->sim, b->sim, "-c", path, "--quiet", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < n_ports; i++)
		if (wait_port(ports[i], 10) < 0) {
			fprintf(stderr, "bench_modbus: simulator did not listen on %d (see %s)\n", ports[i], logp);
			return -1;
		}
	return 0;
}

static void stop_sim(struct bench *b)
{
	if (b->sim_pid > 0) {
		kill(b->sim_pid, SIGTERM);
		waitpid(b->sim_pid, NULL, 0);
		b->sim_pid = 0;
	}
}

static struct gw_config *load(struct bench *b, const char *name)
{
	char path[128];
	struct config_errors errs = { 0 };
	struct gw_config *cfg = NULL;
	snprintf(path, sizeof path, "%s/%s", b->dir, name);
	if (config_load(path, &cfg, &errs) < 0) {
		for (int i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msgs[i]);
		cfg = NULL;
	}
	config_errors_clear(&errs);
	return cfg;
}

/* The bare limit: one context, read each unit's 30 registers in turn. */
/* Returns requests/s; *cpu_us gets CPU microseconds per request. */
static double bench_bare(int port, int units, double secs, double *cpu_us)
{
	modbus_t *ctx = modbus_new_tcp("127.0.0.1", port);
	uint16_t regs[REGS];
	if (!ctx || modbus_connect(ctx) < 0) {
		fprintf(stderr, "bench_modbus: bare connect: %s\n", modbus_strerror(errno));
		if (ctx)
			modbus_free(ctx);
		return -1;
	}
	long n = 0, errs = 0;
	struct rusage u0, u1;
	getrusage(RUSAGE_THREAD, &u0);
	double t0 = now_s(), t;
	do {
		for (int u = 1; u <= units; u++) {
			modbus_set_slave(ctx, u);
			if (modbus_read_registers(ctx, 0, REGS, regs) == REGS)
				n++;
			else
				errs++;
		}
	} while ((t = now_s()) - t0 < secs);
	getrusage(RUSAGE_THREAD, &u1);
	*cpu_us = n ? 1e6 * ru_seconds(&u0, &u1) / (double)n : 0;
	modbus_close(ctx);
	modbus_free(ctx);
	if (errs)
		fprintf(stderr, "bench_modbus: bare loop: %ld errors\n", errs);
	return (double)n / (t - t0);
}

/* The bare loop paced like a poller: `rate` requests/s on one connection
 * (absolute schedule, clock_nanosleep); returns the CPU % of one core it
 * used, the floor for what polling at that rate can cost. */
static double bench_bare_paced(int port, int units, double rate, double secs)
{
	modbus_t *ctx = modbus_new_tcp("127.0.0.1", port);
	uint16_t regs[REGS];
	if (!ctx || modbus_connect(ctx) < 0) {
		if (ctx)
			modbus_free(ctx);
		return -1;
	}
	struct rusage u0, u1;
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	getrusage(RUSAGE_THREAD, &u0);
	double t0 = now_s();
	long step_ns = (long)(1e9 / rate);
	for (int u = 0; now_s() - t0 < secs; u = (u + 1) % units) {
		next.tv_nsec += step_ns;
		while (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
			;
		modbus_set_slave(ctx, u + 1);
		if (modbus_read_registers(ctx, 0, REGS, regs) != REGS)
			modbus_flush(ctx);
	}
	double dt = now_s() - t0;
	getrusage(RUSAGE_THREAD, &u1);
	modbus_close(ctx);
	modbus_free(ctx);
	return 100.0 * ru_seconds(&u0, &u1) / dt;
}

/* Runs the started buses for secs while draining the queue like the core. */
static void drain_for(struct queue *q, double secs)
{
	static struct core_msg msgs[512];
	for (double end = now_s() + secs; now_s() < end;) {
		struct pollfd pfd = { .fd = queue_fd(q), .events = POLLIN };
		if (poll(&pfd, 1, 10) < 0 && errno != EINTR)
			break;
		while (queue_pop_many(q, msgs, 512) > 0)
			;
	}
}

struct poller_result {
	double req_s, points_s;
	int64_t p50_us, p99_us, max_us;
	uint64_t overruns, errors;
	double cpu_pct;
	double cpu_us_per_req;
};

static int bench_poller(struct gw_config *cfg, double secs, double warmup, struct poller_result *r)
{
	struct queue *q = queue_create(65536, 60000);
	struct modbus_bus *bus[8] = { 0 };
	char err[256];
	int nb = cfg->n_buses < 8 ? cfg->n_buses : 8, rc = 0;
	if (!q)
		return -1;
	for (int i = 0; i < nb && rc == 0; i++)
		if (!(bus[i] = modbus_bus_start(cfg, i, q, err, sizeof err))) {
			fprintf(stderr, "bench_modbus: %s\n", err);
			rc = -1;
		}
	if (rc == 0) {
		drain_for(q, warmup);
		struct modbus_bus_stats s0[8], s1[8];
		struct rusage u0, u1;
		for (int i = 0; i < nb; i++) {
			modbus_bus_reset_lateness(bus[i]); /* connects and first polls are not steady state */
			modbus_bus_get_stats(bus[i], &s0[i]);
		}
		getrusage(RUSAGE_SELF, &u0);
		double t0 = now_s();
		drain_for(q, secs);
		double dt = now_s() - t0;
		getrusage(RUSAGE_SELF, &u1);
		memset(r, 0, sizeof *r);
		uint64_t req = 0, pts = 0;
		for (int i = 0; i < nb; i++) {
			modbus_bus_get_stats(bus[i], &s1[i]);
			req += s1[i].requests - s0[i].requests;
			pts += s1[i].points - s0[i].points;
			r->errors += s1[i].errors;
			r->overruns += s1[i].overruns - s0[i].overruns;
			/* per-bus percentiles; the worst bus is reported */
			if (s1[i].late_p50_us > r->p50_us)
				r->p50_us = s1[i].late_p50_us;
			if (s1[i].late_p99_us > r->p99_us)
				r->p99_us = s1[i].late_p99_us;
			if (s1[i].late_max_us > r->max_us)
				r->max_us = s1[i].late_max_us;
		}
		double cpu = ru_seconds(&u0, &u1);
		r->req_s = (double)req / dt;
		r->cpu_us_per_req = req ? 1e6 * cpu / (double)req : 0;
		r->points_s = (double)pts / dt;
		r->cpu_pct = 100.0 * cpu / dt;
	}
	queue_close(q);
	for (int i = 0; i < nb; i++)
		modbus_bus_stop(bus[i]);
	queue_destroy(q);
	return rc;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median3(double v[3])
{
	qsort(v, 3, sizeof v[0], cmp_double);
	return v[1];
}

static int run_throughput(struct bench *b, double *bare, double *req, double *pts, double *bare_us, double *poll_us)
{
	int port;
	if (write_config(b, "tput.conf", 1, 50, "1s", &port) < 0 || start_sim(b, "tput.conf", &port, 1) < 0)
		return -1;
	struct gw_config *cfg = load(b, "tput.conf");
	if (!cfg)
		return -1;
	/* always due: the bus runs flat out (below the 10 ms a config allows) */
	for (int i = 0; i < cfg->n_devices; i++)
		cfg->devices[i].poll_ms = 1;
	double vb[3], vr[3], vp[3], cb[3], cp[3];
	int rc = 0;
	for (int k = 0; k < 3 && rc == 0; k++) {
		struct poller_result r = { 0 };
		if (k % 2) /* alternate which goes first: the machine drifts */
			rc = bench_poller(cfg, b->seconds, 0.3, &r);
		vb[k] = bench_bare(port, 50, b->seconds, &cb[k]);
		if (vb[k] < 0)
			rc = -1;
		else if (k % 2 == 0)
			rc = bench_poller(cfg, b->seconds, 0.3, &r);
		vr[k] = r.req_s;
		cp[k] = r.cpu_us_per_req;
		if (getenv("BENCH_VERBOSE"))
			fprintf(stderr, "run %d: bare %.0f/s %.1f us/req, poller %.0f/s %.1f us/req\n", k, vb[k], cb[k],
				r.req_s, r.cpu_us_per_req);
		vp[k] = r.points_s;
	}
	config_free(cfg);
	stop_sim(b);
	if (rc == 0) {
		*bare = median3(vb);
		*req = median3(vr);
		*pts = median3(vp);
		*bare_us = median3(cb);
		*poll_us = median3(cp);
	}
	return rc;
}

static int run_jitter(struct bench *b, struct poller_result *r, double *bare_cpu)
{
	int ports[5];
	if (write_config(b, "jitter.conf", 5, 200, "1s", ports) < 0 || start_sim(b, "jitter.conf", ports, 5) < 0)
		return -1;
	struct gw_config *cfg = load(b, "jitter.conf");
	if (!cfg)
		return -1;
	double secs = b->seconds * 3 < 5 ? 5 : b->seconds * 3;
	int rc = bench_poller(cfg, secs, 1.5, r);
	*bare_cpu = rc == 0 ? bench_bare_paced(ports[0], 200, 1000, secs) : -1;
	config_free(cfg);
	stop_sim(b);
	return rc;
}

static void cleanup_dir(struct bench *b)
{
	const char *files[] = { "tput.conf", "jitter.conf", "sim.log" };
	char p[160];
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		snprintf(p, sizeof p, "%s/%s", b->dir, files[i]);
		unlink(p);
	}
	rmdir(b->dir);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "sim", required_argument, NULL, 's' },
		{ "seconds", required_argument, NULL, 't' },
		{ "cpu", required_argument, NULL, 'C' },
		{ "only", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench b = { .sim = getenv("GRIDGW_SIM"), .seconds = 3, .cpu = 0 };
	int ch;
	const char *only = "";
	while ((ch = getopt_long(argc, argv, "s:t:C:o:h", opts, NULL)) != -1) {
		switch (ch) {
		case 's': b.sim = optarg; break;
		case 't': b.seconds = atof(optarg); break;
		case 'C': b.cpu = atoi(optarg); break;
		case 'o': only = optarg; break;
		default:
			printf("usage: bench_modbus [--sim PATH] [--seconds S] [--cpu N] [--only tput|jitter]\n");
			return ch == 'h' ? 0 : 2;
		}
	}
	if (!b.sim)
		b.sim = "build/gridgw-sim";
	if (b.seconds <= 0 || access(b.sim, X_OK) != 0) {
		fprintf(stderr, "bench_modbus: need an executable gridgw-sim (--sim PATH or $GRIDGW_SIM), got %s\n", b.sim);
		return 2;
	}
	log_set_level(LOG_LVL_ERROR);
	signal(SIGPIPE, SIG_IGN);
	if (pin_cpu(b.cpu) < 0)
		fprintf(stderr, "bench_modbus: cannot pin to CPU %d: %s (figures will be noisier)\n", b.cpu, strerror(errno));
	snprintf(b.dir, sizeof b.dir, "/tmp/gridgw-bench-%d", (int)getpid());
	if (mkdir(b.dir, 0700) < 0) {
		perror("bench_modbus: mkdir");
		return 1;
	}
	double bare = 0, req = 0, pts = 0, bare_us = 0, poll_us = 0;
	struct poller_result j = { 0 };
	double bare_cpu = -1;
	int rc = 0;
	if (strcmp(only, "jitter") != 0)
		rc = run_throughput(&b, &bare, &req, &pts, &bare_us, &poll_us);
	if (rc == 0 && strcmp(only, "tput") != 0)
		rc = run_jitter(&b, &j, &bare_cpu);
	stop_sim(&b);
	cleanup_dir(&b);
	if (rc < 0) {
		fprintf(stderr, "bench_modbus: setup failed\n");
		return 1;
	}
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("Modbus poller, loopback TCP against gridgw-sim, client and simulator pinned to CPU %d\n", b.cpu);
	if (bare > 0) {
		printf("%-46s %14s %14s %8s\n", "50 devices x 30 registers, one connection", "bare libmodbus",
		       "gridgw poller", "ratio");
		printf("%-46s %14.0f %14.0f %7.1f%%\n", "  requests/s (median of 3)", bare, req, 100.0 * req / bare);
		printf("%-46s %14.0f %14.0f %7.1f%%\n", "  points/s", bare * REGS, pts, 100.0 * pts / (bare * REGS));
		printf("%-46s %14.1f %14.1f %7.1f%%\n", "  client CPU us per request (median of 3)", bare_us, poll_us,
		       100.0 * poll_us / bare_us);
		printf("target: requests/s >= 90%% of the bare loop: %s\n", req >= 0.9 * bare ? "met" : "MISSED");
	}
	if (j.req_s > 0) {
		printf("%-46s\n", "1000 devices x 30 registers every 1 s, 5 buses");
		printf("%-46s %14.0f\n", "  requests/s", j.req_s);
		printf("%-46s %11.2f ms\n", "  poll start lateness p50 (worst bus)", (double)j.p50_us / 1000);
		printf("%-46s %11.2f ms\n", "  poll start lateness p99 (worst bus)", (double)j.p99_us / 1000);
		printf("%-46s %11.2f ms\n", "  poll start lateness max", (double)j.max_us / 1000);
		printf("%-46s %14llu\n", "  overruns (skipped poll slots)", (unsigned long long)j.overruns);
		printf("%-46s %13.2f%%\n", "  CPU of the poller side (bus threads + core)", j.cpu_pct);
		printf("%-46s %13.2f%%\n", "  CPU of a bare loop paced at 1000 requests/s", bare_cpu);
		printf("%-46s %11.1f MB\n", "  peak RSS of this process", (double)ru.ru_maxrss / 1024);
		printf("target: p99 lateness < 10 ms: %s\n", j.p99_us < 10000 ? "met" : "MISSED");
	}
	return 0;
}
