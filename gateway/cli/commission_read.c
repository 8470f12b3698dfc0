/* commission_read — `gridgw read DEVICE`: every point of a configured
 * Modbus device read with the bus's block plan, decoded through its profile,
 * with the raw registers; `--watch` repeats it every second (a technician
 * watching a detector while blowing test smoke) until Ctrl-C / SIGTERM or
 * `--count N` reads.
 *
 * While a daemon answers on this config's control socket, the read is the
 * daemon's (control op live_read): the device's own bus thread reads it
 * between two polls, as for the console's live read, so there is never a
 * second master on the line and polling goes on. Without a daemon, or with
 * --force, the bus is opened here. */
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
#include "gateway/control/control.h"
#include "common/timeutil.h"
#include "sensors/decode.h"
#include "sensors/modbus_link.h"
#include "sensors/read_json.h"

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
		   "While the daemon runs, its bus thread does the read (no second master on the\n"
		   "line, polling goes on); an MQTT device shows its last message (not live).\n"
		   "  -c, --config FILE   configuration (default $GRIDGW_CONF or " GRIDGW_DEFAULT_CONF ")\n"
		   "  -j, --json          JSON on stdout (one object per read, one line each)\n"
		   "  -w, --watch         read again every second until Ctrl-C (or SIGTERM); a value\n"
		   "                      that changed since the last read is marked with '*'\n"
		   "  -n, --count N       stop after N reads (implies --watch)\n"
		   "  -i, --interval D    time between reads with --watch (default 1s, at least 100ms)\n"
		   "  -f, --force         open the bus here even while the daemon polls it\n"
		   "  -h, --help          this text\n"
		   "Exit status: 0 every point of the last read good, 1 a point not good, a config/bus\n"
		   "error or the daemon could not read it, 2 usage.\n");
}

/* One point of one read: what the bus thread reports (read_json.h), and
 * why it was not read in plain words ("" when read). */
struct sample {
	struct modbus_read_point rp;
	char why[WHY_LEN];
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
	bool via_daemon;          /* the last read was the daemon's */
	char sock[256];           /* the daemon's control socket */
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
			read_explain(r->bus, r->dc->unit, timeout_ms, e, why, sizeof why);
			if (modbus_link_classify(e) == LINK_FAIL_LINK)
				modbus_link_close(&r->ctx); /* reopened on the next read */
		}
		for (int s = blk->first_slot; s < blk->first_slot + blk->n_slots; s++) {
			int pi = r->plan.slots[s].point, off = r->plan.slots[s].offset;
			const struct point_def *pd = &r->p->points[pi];
			struct sample *sm = &r->now[pi];
			struct modbus_read_point *rp = &sm->rp;
			memset(sm, 0, sizeof *sm);
			rp->quality = QUALITY_COMM_ERROR;
			rp->read_ok = ok;
			if (ok && point_is_bit_table(pd)) {
				rp->bit = r->buf->bits[off];
				rp->quality = point_decode_bit(pd, rp->bit, &rp->value);
			} else if (ok) {
				rp->raw[0] = r->buf->regs[off];
				if (point_width(pd) == 2)
					rp->raw[1] = r->buf->regs[off + 1];
				rp->quality = point_decode_regs(pd, &r->buf->regs[off], &rp->value);
			} else {
				snprintf(sm->why, sizeof sm->why, "%s", why);
			}
			good += rp->quality == QUALITY_GOOD;
		}
	}
	return good;
}

static bool sample_changed(const struct sample *a, const struct sample *b)
{
	return a->rp.quality != b->rp.quality || (a->rp.quality == QUALITY_GOOD && a->rp.value != b->rp.value);
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
	if (sm->rp.read_ok) {
		if (point_is_bit_table(pd))
			snprintf(raw, sizeof raw, "%u", sm->rp.bit);
		else if (w == 2)
			snprintf(raw, sizeof raw, "0x%04x 0x%04x", sm->rp.raw[0], sm->rp.raw[1]);
		else
			snprintf(raw, sizeof raw, "0x%04x", sm->rp.raw[0]);
	}
	if (sm->rp.quality == QUALITY_GOOD)
		snprintf(val, sizeof val, "%.10g", sm->rp.value);
	bool changed = r->watch && r->rounds > 1 && sample_changed(sm, &r->prev[pi]);
	printf("%c %-16s %14s %-6s %-12s %-8s %-11s %s%s%s\n", changed ? '*' : ' ', pd->name, val, pd->unit ? pd->unit : "",
	       quality_name(sm->rp.quality), point_table_name(pd->table), addr, raw, sm->why[0] ? "  " : "", sm->why);
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
	printf("device %s: profile %s, bus %s, unit %d, %d request%s%s\n", r->dc->id, r->p->name, r->bus->name, r->dc->unit,
	       r->plan.n_blocks, r->plan.n_blocks == 1 ? "" : "s",
	       r->via_daemon ? " (read by the running daemon's bus thread)" : "");
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
	cJSON_AddStringToObject(o, "via", r->via_daemon ? "daemon" : "direct");
	cJSON *pts = cJSON_AddArrayToObject(o, "points");
	for (int pi = 0; pi < r->p->n_points; pi++)
		cJSON_AddItemToArray(pts, read_point_json(&r->p->points[pi], &r->now[pi].rp, r->now[pi].why));
	char *s = cJSON_PrintUnformatted(o);
	if (s)
		printf("%s\n", s);
	free(s);
	cJSON_Delete(o);
	fflush(stdout);
}

/* ---- the daemon's read (control op live_read) ---- */

/* A bus thread may take its whole wait (the core answers 504 then): a bit more. */
#define DAEMON_READ_WAIT_MS (CONTROL_LIVE_READ_WAIT_MS + 3000)

/* Asks the daemon for one live read. Returns 0 with its answer in *ans,
 * or control_call's negative errno (-ENOENT/-ECONNREFUSED: no daemon). */
static int daemon_ask(const struct read_ctx *r, cJSON **ans)
{
	*ans = NULL;
	cJSON *q = cJSON_CreateObject();
	cJSON_AddStringToObject(q, "op", "live_read");
	cJSON_AddStringToObject(q, "device", r->dc->id);
	char *line = cJSON_PrintUnformatted(q), *resp = NULL;
	cJSON_Delete(q);
	if (!line)
		return -ENOMEM;
	int rc = control_call(r->sock, line, &resp, DAEMON_READ_WAIT_MS);
	cJSON_free(line);
	if (rc != 0)
		return rc;
	*ans = cJSON_Parse(resp);
	free(resp);
	return *ans ? 0 : -EPROTO;
}

/* The console's HTTP-like status of a failed live read, in plain words. */
static const char *daemon_status_words(int status)
{
	switch (status) {
	case 502: return "no point of the device could be read";
	case 503: return "the daemon is busy with other reads, or the bus is not running; try again";
	case 504: return "the daemon's bus thread did not answer in time (the bus is busy or its link is stuck)";
	case 404: return "the running daemon has no such device: its configuration differs from this file (reload it)";
	default: return "the daemon could not read it";
	}
}

static const char *json_str(const cJSON *o, const char *key)
{
	const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
	return v ? v : "";
}

/* A failed live read: said on stderr, never silent. */
static void daemon_failed(const struct read_ctx *r, const cJSON *ans, int rc)
{
	if (!ans) {
		fprintf(stderr, "gridgw read: cannot ask the daemon at %s for %s: %s\n", r->sock, r->dc->id, strerror(-rc));
		return;
	}
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(ans, "status");
	const char *err = json_str(ans, "error");
	fprintf(stderr, "gridgw read: the daemon could not read %s: %s%s%s\n", r->dc->id,
		daemon_status_words(cJSON_IsNumber(st) ? st->valueint : 0), err[0] ? " — " : "", err);
}

/* A daemon that answers but has no live_read (older than this CLI) says
 * so without a status: the CLI then reads by itself as before. */
static bool daemon_serves(const cJSON *ans)
{
	return ans && (cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(ans, "points")) ||
		       cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(ans, "status")));
}

static enum quality quality_parse(const char *name)
{
	for (enum quality q = QUALITY_NEVER_READ; q <= QUALITY_DECODE_ERROR; q++)
		if (strcmp(quality_name(q), name) == 0)
			return q;
	return QUALITY_NEVER_READ;
}

/* Fills r->now from the daemon's Modbus answer (read_json.h points, in
 * profile order). Returns the number of good points, or -1 (said why). */
static int daemon_fill(struct read_ctx *r, const cJSON *ans)
{
	const cJSON *pts = cJSON_GetObjectItemCaseSensitive(ans, "points");
	if (!cJSON_IsArray(pts)) {
		daemon_failed(r, ans, 0);
		return -1;
	}
	int n = cJSON_GetArraySize(pts), good = 0;
	for (int pi = 0; pi < r->p->n_points && n == r->p->n_points; pi++) {
		const cJSON *j = cJSON_GetArrayItem(pts, pi), *raw = cJSON_GetObjectItemCaseSensitive(j, "raw");
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "value");
		const struct point_def *pd = &r->p->points[pi];
		struct sample *sm = &r->now[pi];
		if (strcmp(json_str(j, "name"), pd->name) != 0) {
			n = -1;
			break;
		}
		memset(sm, 0, sizeof *sm);
		sm->rp.quality = quality_parse(json_str(j, "quality"));
		sm->rp.value = cJSON_IsNumber(v) ? v->valuedouble : 0;
		sm->rp.read_ok = cJSON_IsArray(raw);
		for (int k = 0; sm->rp.read_ok && k < cJSON_GetArraySize(raw) && k < 2; k++) {
			double x = cJSON_GetNumberValue(cJSON_GetArrayItem(raw, k));
			if (point_is_bit_table(pd))
				sm->rp.bit = x != 0;
			else
				sm->rp.raw[k] = (uint16_t)x;
		}
		if (!sm->rp.read_ok) /* a decode error's own words come back from the builder */
			snprintf(sm->why, sizeof sm->why, "%s", json_str(j, "error"));
		good += sm->rp.quality == QUALITY_GOOD;
	}
	if (n != r->p->n_points) {
		fprintf(stderr, "gridgw read: the running daemon's profile of %s differs from this configuration's "
				"(reload the daemon, or --force to read the bus here)\n", r->dc->id);
		return -1;
	}
	return good;
}

/* An MQTT device: the daemon's last message, said to be no live read. */
static int print_mqtt(const struct read_ctx *r, cJSON *ans)
{
	const cJSON *pts = cJSON_GetObjectItemCaseSensitive(ans, "points");
	const cJSON *good = cJSON_GetObjectItemCaseSensitive(ans, "good");
	int n = cJSON_GetArraySize(pts), g = cJSON_IsNumber(good) ? good->valueint : 0;
	if (r->json) {
		cJSON_AddNumberToObject(ans, "read", r->rounds);
		cJSON_AddStringToObject(ans, "via", "daemon");
		char *s = cJSON_PrintUnformatted(ans);
		if (s)
			printf("%s\n", s);
		cJSON_free(s);
		fflush(stdout);
		return g;
	}
	if (r->watch)
		printf("read %d (Ctrl-C ends)\n", r->rounds);
	const char *last = json_str(ans, "last_message_ts");
	printf("device %s: profile %s, MQTT source %s — not a live read: the values of its last message (%s)\n", r->dc->id,
	       r->p->name, json_str(ans, "source"), last[0] ? last : "none received yet");
	printf("  %-16s %14s %-6s %-12s %s\n", "point", "value", "unit", "quality", "received");
	for (int i = 0; i < n; i++) {
		const cJSON *j = cJSON_GetArrayItem(pts, i), *v = cJSON_GetObjectItemCaseSensitive(j, "value");
		char val[48] = "-";
		if (cJSON_IsNumber(v))
			snprintf(val, sizeof val, "%.10g", v->valuedouble);
		printf("  %-16s %14s %-6s %-12s %s\n", json_str(j, "name"), val, json_str(j, "unit"), json_str(j, "quality"),
		       json_str(j, "ts"));
	}
	printf("%d of %d point%s good\n", g, n, n == 1 ? "" : "s");
	fflush(stdout);
	return g;
}

/* One read through the daemon (first: the answer already in hand, taken).
 * Returns the number of good points, or -1 when it failed (said why). */
static int daemon_round(struct read_ctx *r, cJSON **first)
{
	cJSON *ans = *first;
	*first = NULL;
	int rc = ans ? 0 : daemon_ask(r, &ans), good = -1;
	if (rc != 0 || !daemon_serves(ans))
		daemon_failed(r, NULL, rc ? rc : -EPROTO);
	else if (r->dc->bus < 0 || r->p->is_mqtt)
		good = print_mqtt(r, ans);
	else if ((good = daemon_fill(r, ans)) >= 0 && r->json)
		print_json(r, good);
	else if (good >= 0)
		print_text(r, good);
	cJSON_Delete(ans);
	return good;
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

/* The daemon's first answer when one runs on this config's state_dir and
 * does live reads (NULL: read the bus here). */
static cJSON *daemon_first(struct read_ctx *r, const struct read_args *a)
{
	cJSON *ans = NULL;
	if (a->force || control_socket_path(r->cfg->gateway.state_dir, r->sock, sizeof r->sock) != 0)
		return NULL;
	int rc = daemon_ask(r, &ans);
	if (rc == 0 && daemon_serves(ans))
		return ans;
	cJSON_Delete(ans); /* none, or one we cannot ask: as before, the guard warns */
	return NULL;
}

static int read_device(const struct gw_config *cfg, int di, const struct read_args *a)
{
	struct read_ctx r = { .cfg = cfg, .dc = &cfg->devices[di], .json = a->json, .watch = a->watch,
			      .tty = isatty(STDOUT_FILENO) == 1 };
	r.p = &cfg->profiles[r.dc->profile];
	cJSON *first = daemon_first(&r, a);
	bool mqtt = r.dc->bus < 0 || r.p->is_mqtt;
	r.via_daemon = first != NULL;
	if (mqtt && !first) {
		fprintf(stderr, "gridgw read: device %s is not on a Modbus bus (profile %s pushes over MQTT); a running "
				"daemon would show its last message\n", r.dc->id, r.p->name);
		return 1;
	}
	r.bus = mqtt ? NULL : &cfg->buses[r.dc->bus];
	if (!first && commission_guard_bus("read", cfg, r.bus, a->force))
		return 1;
	if (!mqtt && modbus_plan_build(r.p, r.bus, &r.plan) < 0) {
		fprintf(stderr, "gridgw read: profile %s cannot be planned\n", r.p->name);
		cJSON_Delete(first);
		return 1;
	}
	if (!first)
		r.ctx = commission_open("read", r.bus);
	r.buf = malloc(sizeof *r.buf);
	r.now = calloc((size_t)r.p->n_points + 1, sizeof *r.now);
	r.prev = calloc((size_t)r.p->n_points + 1, sizeof *r.prev);
	struct sigaction sa = { .sa_handler = read_on_signal };
	int status = 1;
	if (!r.buf || !r.now || !r.prev) {
		fprintf(stderr, "gridgw read: out of memory\n");
		goto out;
	}
	if (!first && (!r.ctx || modbus_set_slave(r.ctx, r.dc->unit) < 0)) {
		if (r.ctx)
			fprintf(stderr, "gridgw read: invalid unit id\n");
		goto out;
	}
	sigemptyset(&sa.sa_mask);
	read_stop = 0;
	if (a->watch) {
		/* no SA_RESTART: a pause ends at once; libmodbus retries its own select */
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}
	do {
		r.rounds++;
		int good = r.via_daemon ? daemon_round(&r, &first) : read_round(&r);
		if (good < 0) {
			status = 1; /* said why; --watch tries again */
		} else {
			status = good == r.p->n_points ? 0 : 1;
			if (!r.via_daemon && r.json)
				print_json(&r, good);
			else if (!r.via_daemon)
				print_text(&r, good);
			struct sample *t = r.prev;
			r.prev = r.now;
			r.now = t;
		}
		if (!a->watch || read_stop || (a->count > 0 && r.rounds >= a->count))
			break;
		read_pause(a->interval_ms);
	} while (!read_stop);
	if (a->watch) {
		/* The handlers stay until exit: a stop often comes twice (timeout(1)
		 * forwards it to the child and again to its process group; a
		 * technician presses Ctrl-C twice), and the second one, under the
		 * default action again, killed the process by SIGINT (exit 130)
		 * while it was printing its last line. */
		if (read_stop && !r.json)
			printf("stopped after %d read%s\n", r.rounds, r.rounds == 1 ? "" : "s");
	}
out:
	cJSON_Delete(first);
	free(r.buf);
	free(r.now);
	free(r.prev);
	modbus_link_close(&r.ctx);
	if (!mqtt)
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
