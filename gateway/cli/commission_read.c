/* commission_read — `gridgw read DEVICE`: every point of a configured
 * Modbus device read with the bus's block plan, decoded through its profile,
 * with the raw registers; `--watch` repeats it every second (a technician
 * watching a detector while blowing test smoke) until Ctrl-C / SIGTERM or
 * `--count N` reads. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "gateway/cli/cli.h"
#include "gateway/cli/commission.h"
#include "gateway/config/config.h"
#include "common/timeutil.h"
#include "sensors/decode.h"
#include "sensors/modbus_link.h"

#define READ_COUNT_MAX 1000000
#define WHY_LEN 256

static volatile sig_atomic_t read_stop;

static void read_on_signal(int sig)
{
	(void)sig;
	read_stop = 1;
}

static void read_usage(FILE *f)
{
	fprintf(f, "usage: gridgw read DEVICE [-c FILE] [--json] [--watch] [--count N] [--interval D] [--force]\n"
		   "Commissioning: reads every point of a configured Modbus device, with the bus's\n"
		   "block plan, and prints each decoded value with its quality and raw registers. A\n"
		   "point that cannot be read says why in plain words (no answer, exception, CRC).\n"
		   "  -c, --config FILE   configuration (default $GRIDGW_CONF or " GRIDGW_DEFAULT_CONF ")\n"
		   "  -j, --json          JSON on stdout (one object per read, one line each)\n"
		   "  -w, --watch         read again every second until Ctrl-C (or SIGTERM); a value\n"
		   "                      that changed since the last read is marked with '*'\n"
		   "  -n, --count N       stop after N reads (implies --watch)\n"
		   "  -i, --interval D    time between reads with --watch (default 1s, at least 100ms)\n"
		   "  -f, --force         read a serial line even while the daemon polls it\n"
		   "  -h, --help          this text\n"
		   "Exit status: 0 every point of the last read good, 1 a point not good or a config/bus\n"
		   "error (or the daemon owns the line), 2 usage.\n");
}

/* One point of one read. */
struct sample {
	enum quality q;
	double v;
	bool read_ok;             /* its block was read: raw is valid */
	uint16_t raw[2];
	uint8_t bit;
	char why[WHY_LEN];        /* why not read ("" when read) */
};

struct read_ctx {
	const struct gw_config *cfg;
	const struct device_config *dc;
	const struct profile *p;
	const struct bus_config *bus;
	struct modbus_plan plan;
	modbus_t *ctx;            /* NULL while the link is down */
	struct block_buf *buf;
	struct sample *now, *prev;
	int rounds;
	bool json, watch, tty;
};

/* Reads every block once into r->now; returns the number of good points. */
static int read_round(struct read_ctx *r)
{
	int attempts = 1 + (r->bus->retries > 0 ? r->bus->retries : 0), good = 0;
	int64_t timeout_ms = r->bus->timeout_ms > 0 ? r->bus->timeout_ms : 500;
	char why[WHY_LEN] = "";
	if (!r->ctx) {
		/* the link was lost on an earlier read: open it again */
		r->ctx = modbus_link_open(r->bus, why, sizeof why);
		if (r->ctx && modbus_set_slave(r->ctx, r->dc->unit) < 0) {
			snprintf(why, sizeof why, "invalid unit id %d", r->dc->unit);
			modbus_link_close(&r->ctx);
		}
	}
	for (int i = 0; i < r->plan.n_blocks; i++) {
		const struct modbus_block *blk = &r->plan.blocks[i];
		int e = 0;
		bool ok = r->ctx && commission_read_block(r->ctx, r->bus, blk, r->buf, attempts, &e) == 0;
		if (!ok && r->ctx) {
			commission_explain(r->bus, r->dc->unit, timeout_ms, e, why, sizeof why);
			if (modbus_link_classify(e) == LINK_FAIL_LINK)
				modbus_link_close(&r->ctx); /* reopened on the next read */
		}
		for (int s = blk->first_slot; s < blk->first_slot + blk->n_slots; s++) {
			int pi = r->plan.slots[s].point, off = r->plan.slots[s].offset;
			const struct point_def *pd = &r->p->points[pi];
			struct sample *sm = &r->now[pi];
			memset(sm, 0, sizeof *sm);
			sm->q = QUALITY_COMM_ERROR;
			sm->read_ok = ok;
			if (ok && point_is_bit_table(pd)) {
				sm->bit = r->buf->bits[off];
				sm->q = point_decode_bit(pd, sm->bit, &sm->v);
			} else if (ok) {
				sm->raw[0] = r->buf->regs[off];
				if (point_width(pd) == 2)
					sm->raw[1] = r->buf->regs[off + 1];
				sm->q = point_decode_regs(pd, &r->buf->regs[off], &sm->v);
			} else {
				snprintf(sm->why, sizeof sm->why, "%s", why);
			}
			good += sm->q == QUALITY_GOOD;
		}
	}
	return good;
}

static bool sample_changed(const struct sample *a, const struct sample *b)
{
	return a->q != b->q || (a->q == QUALITY_GOOD && a->v != b->v);
}

static void print_point(const struct read_ctx *r, int pi)
{
	const struct point_def *pd = &r->p->points[pi];
	const struct sample *sm = &r->now[pi];
	char val[48] = "-", raw[48] = "-", addr[24];
	int w = point_width(pd);
	if (w == 2)
		snprintf(addr, sizeof addr, "%d-%d", pd->address, pd->address + 1);
	else
		snprintf(addr, sizeof addr, "%d", pd->address);
	if (sm->read_ok) {
		if (point_is_bit_table(pd))
			snprintf(raw, sizeof raw, "%u", sm->bit);
		else if (w == 2)
			snprintf(raw, sizeof raw, "0x%04x 0x%04x", sm->raw[0], sm->raw[1]);
		else
			snprintf(raw, sizeof raw, "0x%04x", sm->raw[0]);
	}
	if (sm->q == QUALITY_GOOD)
		snprintf(val, sizeof val, "%.10g", sm->v);
	bool changed = r->watch && r->rounds > 1 && sample_changed(sm, &r->prev[pi]);
	printf("%c %-16s %14s %-6s %-12s %-8s %-11s %s%s%s\n", changed ? '*' : ' ', pd->name, val, pd->unit ? pd->unit : "",
	       quality_name(sm->q), point_table_name(pd->table), addr, raw, sm->why[0] ? "  " : "", sm->why);
}

static void print_text(const struct read_ctx *r, int good)
{
	if (r->watch) {
		char ts[64];
		time_t now = time(NULL);
		struct tm tm;
		localtime_r(&now, &tm);
		strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S %z", &tm);
		if (r->tty)
			fputs("\033[H\033[2J", stdout); /* redraw in place */
		printf("read %d at %s (Ctrl-C ends)\n", r->rounds, ts);
	}
	printf("device %s: profile %s, bus %s, unit %d, %d request%s\n", r->dc->id, r->p->name, r->bus->name, r->dc->unit,
	       r->plan.n_blocks, r->plan.n_blocks == 1 ? "" : "s");
	printf("  %-16s %14s %-6s %-12s %-8s %-11s %s\n", "point", "value", "unit", "quality", "table", "address", "raw");
	for (int b = 0; b < r->plan.n_blocks; b++)
		for (int s = r->plan.blocks[b].first_slot; s < r->plan.blocks[b].first_slot + r->plan.blocks[b].n_slots; s++)
			print_point(r, r->plan.slots[s].point);
	printf("%d of %d point%s good\n", good, r->p->n_points, r->p->n_points == 1 ? "" : "s");
	fflush(stdout);
}

static void print_json(const struct read_ctx *r, int good)
{
	char ts[32];
	time_format_iso(time_wall_ms(), ts, sizeof ts);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "device", r->dc->id);
	cJSON_AddStringToObject(o, "profile", r->p->name);
	cJSON_AddStringToObject(o, "bus", r->bus->name);
	cJSON_AddNumberToObject(o, "unit", r->dc->unit);
	cJSON_AddStringToObject(o, "ts", ts);
	cJSON_AddNumberToObject(o, "read", r->rounds);
	cJSON_AddNumberToObject(o, "good", good);
	cJSON_AddNumberToObject(o, "points_total", r->p->n_points);
	cJSON *pts = cJSON_AddArrayToObject(o, "points");
	for (int pi = 0; pi < r->p->n_points; pi++) {
		const struct point_def *pd = &r->p->points[pi];
		const struct sample *sm = &r->now[pi];
		cJSON *j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "name", pd->name);
		if (sm->q == QUALITY_GOOD)
			cJSON_AddNumberToObject(j, "value", sm->v);
		else
			cJSON_AddNullToObject(j, "value");
		if (pd->unit)
			cJSON_AddStringToObject(j, "unit", pd->unit);
		cJSON_AddStringToObject(j, "quality", quality_name(sm->q));
		cJSON_AddStringToObject(j, "table", point_table_name(pd->table));
		cJSON_AddNumberToObject(j, "address", pd->address);
		if (sm->read_ok) {
			cJSON *raw = cJSON_AddArrayToObject(j, "raw");
			if (point_is_bit_table(pd))
				cJSON_AddItemToArray(raw, cJSON_CreateNumber(sm->bit));
			for (int k = 0; !point_is_bit_table(pd) && k < point_width(pd); k++)
				cJSON_AddItemToArray(raw, cJSON_CreateNumber(sm->raw[k]));
		}
		if (sm->why[0])
			cJSON_AddStringToObject(j, "error", sm->why);
		cJSON_AddItemToArray(pts, j);
	}
	char *s = cJSON_PrintUnformatted(o);
	if (s)
		printf("%s\n", s);
	free(s);
	cJSON_Delete(o);
	fflush(stdout);
}

/* Sleeps ms unless a stop signal comes first. */
static void read_pause(int64_t ms)
{
	int64_t until = time_mono_ms() + ms;
	while (!read_stop) {
		int64_t left = until - time_mono_ms();
		if (left <= 0)
			return;
		struct timespec ts = { (time_t)(left / 1000), (long)(left % 1000) * 1000000L };
		nanosleep(&ts, NULL); /* EINTR on the signal: the loop checks read_stop */
	}
}

struct read_args {
	bool json, watch, force;
	long count;               /* 0 = until stopped (watch) */
	int64_t interval_ms;
};

static int read_device(const struct gw_config *cfg, int di, const struct read_args *a)
{
	struct read_ctx r = { .cfg = cfg, .dc = &cfg->devices[di], .json = a->json, .watch = a->watch,
			      .tty = isatty(STDOUT_FILENO) == 1 };
	r.p = &cfg->profiles[r.dc->profile];
	if (r.dc->bus < 0 || r.p->is_mqtt) {
		fprintf(stderr, "gridgw read: device %s is not on a Modbus bus (profile %s pushes over MQTT)\n", r.dc->id,
			r.p->name);
		return 1;
	}
	r.bus = &cfg->buses[r.dc->bus];
	if (commission_guard_bus("read", cfg, r.bus, a->force))
		return 1;
	if (modbus_plan_build(r.p, r.bus, &r.plan) < 0) {
		fprintf(stderr, "gridgw read: profile %s cannot be planned\n", r.p->name);
		return 1;
	}
	r.ctx = commission_open("read", r.bus);
	r.buf = malloc(sizeof *r.buf);
	r.now = calloc((size_t)r.p->n_points + 1, sizeof *r.now);
	r.prev = calloc((size_t)r.p->n_points + 1, sizeof *r.prev);
	struct sigaction sa = { .sa_handler = read_on_signal }, old_int, old_term;
	int status = 1;
	if (!r.ctx || !r.buf || !r.now || !r.prev || modbus_set_slave(r.ctx, r.dc->unit) < 0) {
		if (r.ctx)
			fprintf(stderr, "gridgw read: %s\n", !r.buf || !r.now || !r.prev ? "out of memory" : "invalid unit id");
		goto out;
	}
	sigemptyset(&sa.sa_mask);
	read_stop = 0;
	if (a->watch) {
		/* no SA_RESTART: a pause ends at once; libmodbus retries its own select */
		sigaction(SIGINT, &sa, &old_int);
		sigaction(SIGTERM, &sa, &old_term);
	}
	do {
		r.rounds++;
		int good = read_round(&r);
		status = good == r.p->n_points ? 0 : 1;
		if (r.json)
			print_json(&r, good);
		else
			print_text(&r, good);
		struct sample *t = r.prev;
		r.prev = r.now;
		r.now = t;
		if (!a->watch || read_stop || (a->count > 0 && r.rounds >= a->count))
			break;
		read_pause(a->interval_ms);
	} while (!read_stop);
	if (a->watch) {
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGTERM, &old_term, NULL);
		if (read_stop && !r.json)
			printf("stopped after %d read%s\n", r.rounds, r.rounds == 1 ? "" : "s");
	}
out:
	free(r.buf);
	free(r.now);
	free(r.prev);
	modbus_link_close(&r.ctx);
	modbus_plan_free(&r.plan);
	return status;
}

int cmd_read(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },   { "json", no_argument, NULL, 'j' },
		{ "watch", no_argument, NULL, 'w' },          { "count", required_argument, NULL, 'n' },
		{ "interval", required_argument, NULL, 'i' }, { "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },           { NULL, 0, NULL, 0 },
	};
	const char *conf = NULL;
	struct read_args a = { .interval_ms = 1000 };
	char *end;
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:jwn:i:fh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': conf = optarg; break;
		case 'j': a.json = true; break;
		case 'w': a.watch = true; break;
		case 'n':
			a.count = strtol(optarg, &end, 10);
			if (*end || end == optarg || a.count < 1 || a.count > READ_COUNT_MAX) {
				fprintf(stderr, "gridgw read: --count must be 1..%d\n", READ_COUNT_MAX);
				return 2;
			}
			a.watch = true;
			break;
		case 'i':
			if (duration_parse(optarg, &a.interval_ms) < 0 || a.interval_ms < 100 || a.interval_ms > 3600000) {
				fprintf(stderr, "gridgw read: bad --interval '%s' (100ms to 1h, e.g. 1s)\n", optarg);
				return 2;
			}
			break;
		case 'f': a.force = true; break;
		case 'h': read_usage(stdout); return 0;
		default: read_usage(stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "gridgw read: expected one DEVICE id\n");
		read_usage(stderr);
		return 2;
	}
	struct gw_config *cfg = commission_load("read", conf);
	if (!cfg)
		return 1;
	int di = config_find_device(cfg, argv[optind]), rc;
	if (di < 0) {
		fprintf(stderr, "gridgw read: no device '%s' in the configuration\n", argv[optind]);
		rc = 1;
	} else {
		rc = read_device(cfg, di, &a);
	}
	config_free(cfg);
	return rc;
}
