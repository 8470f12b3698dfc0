/* poll_driver — test helper for the Modbus bus threads: loads a gridgw
 * config, starts a bus thread per Modbus bus (or the named ones), plays the
 * core's part, and prints every message the buses post as one line:
 *
 *   MS point DEVICE POINT VALUE QUALITY
 *   MS comm DEVICE online|offline [ERROR TEXT]
 *   MS write DEVICE POINT ok|failed REQUEST [ERROR TEXT]
 *   stats BUS requests=N errors=N timeouts=N polls=N points=N overruns=N
 *         connects=N late_p50_us=N late_p99_us=N late_max_us=N online=N offline=N
 *
 * MS is milliseconds since start. Stats lines come at the end (and every
 * --stats-every seconds; with --stats-reset the lateness figures of each
 * line cover only the interval since the previous line).
 *
 *   poll_driver -c FILE [-d SECONDS] [-b BUS]... [-w 'AT_MS DEVICE POINT VALUE']...
 *               [--quiet-points] [--stats-every S] [--stats-reset]
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/config/config.h"
#include "common/log.h"
#include "common/queue.h"
#include "common/timeutil.h"
#include "sensors/modbus_bus.h"
#include "sensors/modbus_link.h"

#define MAX_WRITES 32

struct planned_write {
	int64_t at_ms;
	char device[64];
	char point[64];
	double value;
	bool done;
};

struct driver {
	struct gw_config *cfg;
	struct queue *q;
	struct modbus_bus **bus;     /* per config bus; NULL when not started */
	struct planned_write writes[MAX_WRITES];
	int n_writes;
	bool quiet_points;
	bool stats_reset;
	int64_t start_ms;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: poll_driver -c FILE [-d SECONDS] [-b BUS]... [-w 'AT_MS DEVICE POINT VALUE']...\n"
		   "                   [--quiet-points] [--stats-every SECONDS] [--stats-reset]\n");
}

static void print_msg(struct driver *d, const struct core_msg *m)
{
	int64_t t = time_mono_ms() - d->start_ms;
	char eb[128];
	switch (m->type) {
	case MSG_POINT: {
		if (d->quiet_points)
			return;
		const struct device_config *dc = &d->cfg->devices[m->u.point.device];
		const struct profile *p = &d->cfg->profiles[dc->profile];
		printf("%lld point %s %s %.10g %s\n", (long long)t, dc->id, p->points[m->u.point.point].name,
		       m->u.point.pv.value, quality_name(m->u.point.pv.quality));
		break;
	}
	case MSG_POINTS: {
		if (d->quiet_points)
			return;
		const struct device_config *dc = &d->cfg->devices[m->u.points.device];
		const struct profile *p = &d->cfg->profiles[dc->profile];
		for (int i = 0; i < m->u.points.n; i++) {
			int point;
			struct point_value pv;
			core_msg_point(m, i, &point, &pv);
			printf("%lld point %s %s %.10g %s\n", (long long)t, dc->id, p->points[point].name, pv.value,
			       quality_name(pv.quality));
		}
		break;
	}
	case MSG_DEVICE_COMM:
		printf("%lld comm %s %s%s%s\n", (long long)t, d->cfg->devices[m->u.comm.device].id,
		       m->u.comm.ok ? "online" : "offline", m->u.comm.ok ? "" : " ",
		       m->u.comm.ok ? "" : modbus_link_strerror(m->u.comm.error, eb, sizeof eb));
		break;
	case MSG_WRITE_RESULT: {
		const struct device_config *dc = &d->cfg->devices[m->u.write.device];
		const struct profile *p = &d->cfg->profiles[dc->profile];
		printf("%lld write %s %s %s %llu%s%s\n", (long long)t, dc->id, p->points[m->u.write.point].name,
		       m->u.write.ok ? "ok" : "failed", (unsigned long long)m->u.write.request,
		       m->u.write.ok ? "" : " ", m->u.write.ok ? "" : m->u.write.error);
		break;
	}
	default:
		printf("%lld other %d\n", (long long)t, (int)m->type);
		break;
	}
}

static void print_stats(struct driver *d)
{
	for (int i = 0; i < d->cfg->n_buses; i++) {
		if (!d->bus[i])
			continue;
		struct modbus_bus_stats s;
		modbus_bus_get_stats(d->bus[i], &s);
		printf("stats %s requests=%llu errors=%llu timeouts=%llu polls=%llu points=%llu overruns=%llu "
		       "connects=%llu late_p50_us=%lld late_p99_us=%lld late_max_us=%lld online=%d offline=%d\n",
		       d->cfg->buses[i].name, (unsigned long long)s.requests, (unsigned long long)s.errors,
		       (unsigned long long)s.timeouts, (unsigned long long)s.polls, (unsigned long long)s.points,
		       (unsigned long long)s.overruns, (unsigned long long)s.connects, (long long)s.late_p50_us,
		       (long long)s.late_p99_us, (long long)s.late_max_us, s.online, s.offline);
		if (d->stats_reset)
			modbus_bus_reset_lateness(d->bus[i]);
	}
}

/* Sends planned writes whose time has come. */
static void run_writes(struct driver *d, int64_t now_rel)
{
	for (int i = 0; i < d->n_writes; i++) {
		struct planned_write *w = &d->writes[i];
		if (w->done || w->at_ms > now_rel)
			continue;
		w->done = true;
		int di = config_find_device(d->cfg, w->device), pi = -1, rc = -EINVAL;
		if (di >= 0)
			pi = config_find_point(&d->cfg->profiles[d->cfg->devices[di].profile], w->point);
		if (di >= 0 && pi >= 0 && d->cfg->devices[di].bus >= 0 && d->bus[d->cfg->devices[di].bus])
			rc = modbus_bus_write(d->bus[d->cfg->devices[di].bus], di, pi, w->value, (uint64_t)i + 1);
		if (rc < 0)
			printf("%lld write %s %s refused %d %s\n", (long long)now_rel, w->device, w->point, i + 1,
			       strerror(-rc));
	}
}

static int parse_write(struct driver *d, const char *arg)
{
	if (d->n_writes == MAX_WRITES)
		return -1;
	struct planned_write *w = &d->writes[d->n_writes];
	long long at;
	if (sscanf(arg, "%lld %63s %63s %lf", &at, w->device, w->point, &w->value) != 4)
		return -1;
	w->at_ms = at;
	d->n_writes++;
	return 0;
}

static int start_buses(struct driver *d, char **names, int n_names)
{
	char err[256];
	for (int i = 0; i < d->cfg->n_buses; i++) {
		bool want = n_names == 0;
		for (int k = 0; k < n_names; k++)
			want |= strcmp(names[k], d->cfg->buses[i].name) == 0;
		if (!want)
			continue;
		d->bus[i] = modbus_bus_start(d->cfg, i, d->q, err, sizeof err);
		if (!d->bus[i]) {
			fprintf(stderr, "poll_driver: %s\n", err);
			return -1;
		}
	}
	return 0;
}

static void drive(struct driver *d, double seconds, double stats_every)
{
	struct core_msg msgs[256];
	int64_t end = d->start_ms + (int64_t)(seconds * 1000), next_stats = 0;
	if (stats_every > 0)
		next_stats = d->start_ms + (int64_t)(stats_every * 1000);
	for (int64_t now = time_mono_ms(); now < end; now = time_mono_ms()) {
		run_writes(d, now - d->start_ms);
		struct pollfd pfd = { .fd = queue_fd(d->q), .events = POLLIN };
		int wait = (int)(end - now < 20 ? end - now : 20);
		if (poll(&pfd, 1, wait) < 0 && errno != EINTR)
			break;
		size_t n;
		while ((n = queue_pop_many(d->q, msgs, 256)) > 0)
			for (size_t i = 0; i < n; i++)
				print_msg(d, &msgs[i]);
		if (next_stats && now >= next_stats) {
			print_stats(d);
			next_stats += (int64_t)(stats_every * 1000);
		}
		fflush(stdout);
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "duration", required_argument, NULL, 'd' },
		{ "bus", required_argument, NULL, 'b' },
		{ "write", required_argument, NULL, 'w' },
		{ "quiet-points", no_argument, NULL, 'Q' },
		{ "stats-every", required_argument, NULL, 'S' },
		{ "stats-reset", no_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct driver d = { 0 };
	const char *conf = NULL;
	char *names[16];
	int n_names = 0, ch;
	double seconds = 5, stats_every = 0;
	while ((ch = getopt_long(argc, argv, "c:d:b:w:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': conf = optarg; break;
		case 'd': seconds = atof(optarg); break;
		case 'b': if (n_names < 16) names[n_names++] = optarg; break;
		case 'w':
			if (parse_write(&d, optarg) < 0) {
				fprintf(stderr, "poll_driver: bad --write '%s'\n", optarg);
				return 2;
			}
			break;
		case 'Q': d.quiet_points = true; break;
		case 'S': stats_every = atof(optarg); break;
		case 'R': d.stats_reset = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!conf || seconds <= 0 || !isfinite(seconds)) {
		usage(stderr);
		return 2;
	}
	struct config_errors errs = { 0 };
	if (config_load(conf, &d.cfg, &errs) < 0) {
		for (int i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msgs[i]);
		config_errors_clear(&errs);
		return 1;
	}
	config_errors_clear(&errs);
	enum log_level lvl;
	if (d.cfg->gateway.log_level && log_parse_level(d.cfg->gateway.log_level, &lvl) == 0)
		log_set_level(lvl);
	d.q = queue_create(65536, 60000);
	d.bus = calloc((size_t)(d.cfg->n_buses > 0 ? d.cfg->n_buses : 1), sizeof *d.bus);
	int rc = 1;
	if (d.q && d.bus) {
		d.start_ms = time_mono_ms();
		if (start_buses(&d, names, n_names) == 0) {
			drive(&d, seconds, stats_every);
			rc = 0;
		}
		queue_close(d.q);
		print_stats(&d);
		for (int i = 0; i < d.cfg->n_buses; i++)
			modbus_bus_stop(d.bus[i]);
	}
	free(d.bus);
	if (d.q)
		queue_destroy(d.q);
	config_free(d.cfg);
	fflush(stdout);
	return rc;
}
