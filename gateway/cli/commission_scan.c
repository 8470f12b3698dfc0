/* commission_scan — `gridgw scan BUS`: which unit ids answer on a
 * configured bus, with a guess at each one's profile and the configured
 * device there. An absent unit costs one response timeout, so the full
 * range of an RS-485 line takes minutes: the estimate is printed before
 * starting, and progress (unit, found so far, time left) while it runs. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "gateway/cli/cli.h"
#include "gateway/cli/commission.h"
#include "gateway/config/config.h"
#include "common/timeutil.h"
#include "sensors/modbus_link.h"
#include "sensors/read_json.h"

/* libmodbus 3.1 (modbus_set_slave) takes 0-247 on RTU and 0-247 or 255
 * (MODBUS_TCP_SLAVE) on TCP. On a serial line 0 is broadcast, which no
 * device answers, and 248-255 are reserved by the serial line spec. */
#define UNIT_MAX 247
#define UNIT_TCP_SELF 255
/* Bits of one character on the line (start, 8 data, parity or stop, stop). */
#define BITS_PER_CHAR 11
/* A read request on the wire: unit, function, address, count, CRC. */
#define RTU_REQUEST_BYTES 8

static void scan_usage(FILE *f)
{
	fprintf(f, "usage: gridgw scan BUS [-c FILE] [--units A-B] [--timeout D] [--json] [--force]\n"
		   "Commissioning: asks every unit id in the range on the configured bus BUS and lists\n"
		   "those that answer, with the profile whose registers they all answer (a guess) and\n"
		   "the configured device at that unit, if any. A silent unit costs one response\n"
		   "timeout: the whole range of an RS-485 line (247 ids) takes about 2 minutes at a\n"
		   "500 ms timeout; the estimate is printed before starting.\n"
		   "  -c, --config FILE   configuration (default $GRIDGW_CONF or " GRIDGW_DEFAULT_CONF ")\n"
		   "  -u, --units A-B     unit ids to ask, or a single N (default 1-247). RS-485: 1-247\n"
		   "                      (0 is broadcast, nobody answers it). TCP: 0-247 and 255, what\n"
		   "                      libmodbus accepts; 248-254 are skipped\n"
		   "  -t, --timeout D     response timeout per unit (default: the bus's timeout, e.g. 200ms)\n"
		   "  -j, --json          the result as one JSON object on stdout\n"
		   "  -f, --force         scan a serial line even while the daemon polls it\n"
		   "  -h, --help          this text\n"
		   "Progress (unit, found so far, time left) goes to stderr: one updating line on a\n"
		   "terminal, a plain line every tenth of the range otherwise.\n"
		   "Exit status: 0 scan done, 1 config or bus error (or the daemon owns the line), 2 usage.\n");
}

static int scan_parse_units(const char *s, int *lo, int *hi)
{
	char *end;
	long a = strtol(s, &end, 10), b = a;
	if (end == s)
		return -1;
	if (*end == '-') {
		const char *t = end + 1;
		b = strtol(t, &end, 10);
		if (end == t)
			return -1;
	}
	if (*end || a < 0 || b > 255 || a > b)
		return -1;
	*lo = (int)a;
	*hi = (int)b;
	return 0;
}

/* Checks the range against the transport. Returns 0, or 2 (usage) after a
 * message. On TCP, *skip_lo..*skip_hi is the part libmodbus refuses (empty
 * when skip_lo > skip_hi). */
static int scan_check_units(const struct bus_config *bus, int lo, int hi, int *skip_lo, int *skip_hi)
{
	*skip_lo = 1;
	*skip_hi = 0;
	if (bus->type == BUS_RTU) {
		if (lo < 1 || hi > UNIT_MAX) {
			fprintf(stderr,
				"gridgw scan: bus %s is an RS-485 line: unit ids are 1-%d (0 is broadcast, which no device "
				"answers; 248-255 are reserved)\n",
				bus->name, UNIT_MAX);
			return 2;
		}
		return 0;
	}
	int a = lo > UNIT_MAX + 1 ? lo : UNIT_MAX + 1, b = hi < UNIT_TCP_SELF - 1 ? hi : UNIT_TCP_SELF - 1;
	if (a <= b) {
		if (lo >= UNIT_MAX + 1 && hi <= UNIT_TCP_SELF - 1) {
			fprintf(stderr,
				"gridgw scan: unit ids %d-%d cannot be asked over Modbus TCP: libmodbus accepts 0-%d and %d "
				"only\n",
				a, b, UNIT_MAX, UNIT_TCP_SELF);
			return 2;
		}
		*skip_lo = a;
		*skip_hi = b;
	}
	return 0;
}

/* The configured device at unit on bus, or -1. */
static int scan_configured(const struct gw_config *cfg, int bus, int unit)
{
	for (int i = 0; i < cfg->n_devices; i++)
		if (cfg->devices[i].bus == bus && cfg->devices[i].unit == unit)
			return i;
	return -1;
}

enum probe { PROBE_SILENT = 0, PROBE_ANSWERED, PROBE_MATCHED, PROBE_LINK_LOST };

/* How one failed probe request counts: a Modbus TCP gateway that answers
 * "gateway path unavailable" / "target failed to respond" (0x0A/0x0B) is
 * telling us nobody is at that unit id. */
static enum probe probe_failure(int err, bool first_request)
{
	if (err == EMBXGPATH || err == EMBXGTAR)
		return PROBE_SILENT;
	switch (modbus_link_classify(err)) {
	case LINK_FAIL_LINK: return PROBE_LINK_LOST;
	case LINK_FAIL_EXCEPTION: case LINK_FAIL_BUSY: return PROBE_ANSWERED;
	default: return first_request ? PROBE_SILENT : PROBE_ANSWERED;
	}
}

/* Reads every block of profile p from the current unit. */
static enum probe scan_probe_profile(modbus_t *ctx, const struct bus_config *bus, const struct profile *p,
				     struct block_buf *buf, int *err)
{
	struct modbus_plan plan;
	if (modbus_plan_build(p, bus, &plan) < 0 || plan.n_blocks == 0) {
		modbus_plan_free(&plan);
		return PROBE_ANSWERED;
	}
	enum probe r = PROBE_MATCHED;
	for (int i = 0; i < plan.n_blocks; i++) {
		if (commission_read_block(ctx, bus, &plan.blocks[i], buf, 1, err) == 0)
			continue;
		r = probe_failure(*err, i == 0);
		break;
	}
	modbus_plan_free(&plan);
	return r;
}

/* Probes one unit: first the profile configured there, then every other
 * Modbus profile, until one is answered in full. A unit silent on its first
 * request is given up at once: an absent unit costs one timeout. */
static enum probe scan_unit(modbus_t *ctx, const struct gw_config *cfg, const struct bus_config *bus, int configured,
			    struct block_buf *buf, int *matched, int *err)
{
	enum probe best = PROBE_SILENT;
	int first = configured >= 0 ? cfg->devices[configured].profile : -1;
	*matched = -1;
	for (int k = -1; k < cfg->n_profiles; k++) {
		int pi = k < 0 ? first : k;
		if (pi < 0 || (k >= 0 && pi == first) || cfg->profiles[pi].is_mqtt)
			continue;
		enum probe r = scan_probe_profile(ctx, bus, &cfg->profiles[pi], buf, err);
		if (r == PROBE_LINK_LOST)
			return r;
		if (r == PROBE_MATCHED) {
			*matched = pi;
			return r;
		}
		if (r == PROBE_SILENT && best == PROBE_SILENT)
			return r;
		best = PROBE_ANSWERED;
	}
	if (best == PROBE_SILENT) {
		/* no Modbus profile at all: is anyone there? any answer counts */
		struct modbus_block blk = { TABLE_HOLDING, 0, 1, 0, 0 };
		if (commission_read_block(ctx, bus, &blk, buf, 1, err) == 0)
			return PROBE_ANSWERED;
		return probe_failure(*err, true);
	}
	return best;
}

/* Worst-case seconds one silent unit costs: the timeout, the request on
 * the wire and the silent interval before it. */
static double scan_silent_cost_s(const struct bus_config *bus, int64_t timeout_ms)
{
	double s = (double)timeout_ms / 1000.0 + (double)modbus_link_frame_delay_us(bus) / 1e6;
	if (bus->type == BUS_RTU)
		s += (double)(RTU_REQUEST_BYTES * BITS_PER_CHAR) / (double)(bus->baud > 0 ? bus->baud : 9600);
	return s;
}

/* Where the scan is, for the progress line. */
struct scan_progress {
	bool tty;                 /* stderr is a terminal: one line redrawn */
	bool shown;               /* a redrawn line is on the screen */
	int total, done, found;
	int every;                /* plain lines: one per this many units */
	int64_t start_ms;
	double silent_s;          /* estimated cost of a silent unit */
	int n_silent;             /* silent units so far, and their time */
	double silent_total_s;
};

static void progress_clear(struct scan_progress *p)
{
	if (p->tty && p->shown) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
		p->shown = false;
	}
}

static void progress_show(struct scan_progress *p, int unit)
{
	if (p->done >= p->total || (!p->tty && p->done % p->every != 0))
		return;
	/* Most of a range is silent: the rest costs what a silent unit did. */
	double per_unit = p->n_silent > 0 ? p->silent_total_s / p->n_silent : p->silent_s;
	char left[32];
	read_format_secs(per_unit * (p->total - p->done), left, sizeof left);
	if (p->tty) {
		fprintf(stderr, "\r\033[Kunit %d (%d of %d), %d found, about %s left", unit, p->done, p->total, p->found,
			left);
		p->shown = true;
	} else {
		fprintf(stderr, "progress: unit %d (%d of %d), %d found, about %s left\n", unit, p->done, p->total, p->found,
			left);
	}
	fflush(stderr);
}

struct scan_args {
	int lo, hi;
	const char *timeout;
	bool json;
	bool force;
};

static void scan_print_plan(const struct bus_config *bus, const struct scan_args *a, int n, int64_t timeout_ms,
			    double silent_s, int skip_lo, int skip_hi)
{
	char what[160], est[32], t[32];
	modbus_link_describe(bus, what, sizeof what);
	read_format_secs(silent_s * n, est, sizeof est);
	read_format_secs((double)timeout_ms / 1000.0, t, sizeof t);
	FILE *f = a->json ? stderr : stdout;
	fprintf(f, "scanning bus %s (%s), units %d-%d: up to %s (a silent unit costs its %s timeout)\n", bus->name, what,
		a->lo, a->hi, est, t);
	if (skip_lo <= skip_hi)
		fprintf(f, "units %d-%d skipped: libmodbus asks 0-%d and %d only over Modbus TCP\n", skip_lo, skip_hi,
			UNIT_MAX, UNIT_TCP_SELF);
	if (silent_s * n >= 60.0 && bus->type == BUS_RTU)
		fprintf(f, "this takes minutes; --units A-B (the ids on the installation sheet) or --timeout 200ms "
			   "shorten it\n");
	else if (silent_s * n >= 60.0)
		fprintf(f, "minutes if absent ids stay silent (a Modbus TCP gateway usually answers them at once); "
			   "--units A-B shortens it\n");
	fflush(f);
}

static cJSON *scan_json_unit(const struct gw_config *cfg, int unit, bool answers, int matched, int configured)
{
	cJSON *u = cJSON_CreateObject();
	cJSON_AddNumberToObject(u, "unit", unit);
	cJSON_AddBoolToObject(u, "answers", answers);
	if (matched >= 0)
		cJSON_AddStringToObject(u, "profile", cfg->profiles[matched].name);
	else
		cJSON_AddNullToObject(u, "profile");
	if (configured >= 0)
		cJSON_AddStringToObject(u, "device", cfg->devices[configured].id);
	else
		cJSON_AddNullToObject(u, "device");
	return u;
}

static int scan_run(const struct gw_config *cfg, int bi, const struct scan_args *a)
{
	const struct bus_config *bus = &cfg->buses[bi];
	char eb[320], what[160];
	int skip_lo, skip_hi;
	int64_t timeout_ms = bus->timeout_ms > 0 ? bus->timeout_ms : 500;
	if (a->timeout && (duration_parse(a->timeout, &timeout_ms) < 0 || timeout_ms <= 0 || timeout_ms > 60000)) {
		fprintf(stderr, "gridgw scan: bad --timeout '%s' (e.g. 200ms, at most 60s)\n", a->timeout);
		return 2;
	}
	int rc = scan_check_units(bus, a->lo, a->hi, &skip_lo, &skip_hi);
	if (rc)
		return rc;
	if (commission_guard_bus("scan", cfg, bus, a->force))
		return 1;
	int n = a->hi - a->lo + 1 - (skip_lo <= skip_hi ? skip_hi - skip_lo + 1 : 0);
	struct scan_progress p = { .tty = isatty(STDERR_FILENO) == 1, .total = n, .every = n >= 10 ? n / 10 : 1,
				   .silent_s = scan_silent_cost_s(bus, timeout_ms) };
	scan_print_plan(bus, a, n, timeout_ms, p.silent_s, skip_lo, skip_hi);
	modbus_t *ctx = commission_open("scan", bus);
	if (!ctx)
		return 1;
	if (modbus_set_response_timeout(ctx, (uint32_t)(timeout_ms / 1000), (uint32_t)(timeout_ms % 1000) * 1000) < 0) {
		fprintf(stderr, "gridgw scan: cannot set the timeout: %s\n", modbus_link_strerror(errno, eb, sizeof eb));
		modbus_link_close(&ctx);
		return 1;
	}
	struct block_buf *buf = malloc(sizeof *buf);
	cJSON *doc = cJSON_CreateObject(), *units = doc ? cJSON_AddArrayToObject(doc, "units") : NULL;
	if (!buf || !units) {
		modbus_link_close(&ctx);
		free(buf);
		cJSON_Delete(doc);
		fprintf(stderr, "gridgw scan: out of memory\n");
		return 1;
	}
	p.start_ms = time_mono_ms();
	int status = 0;
	for (int unit = a->lo; unit <= a->hi; unit++) {
		if (unit >= skip_lo && unit <= skip_hi)
			continue;
		int configured = scan_configured(cfg, bi, unit), matched = -1, e = 0;
		int64_t unit_start = time_mono_ms();
		enum probe r = PROBE_SILENT;
		if (modbus_set_slave(ctx, unit) < 0) {
			progress_clear(&p);
			fprintf(stderr, "gridgw scan: unit %d skipped: %s\n", unit, modbus_link_strerror(errno, eb, sizeof eb));
		} else {
			r = scan_unit(ctx, cfg, bus, configured, buf, &matched, &e);
		}
		p.done++;
		if (r == PROBE_LINK_LOST) {
			progress_clear(&p);
			fprintf(stderr, "gridgw scan: bus %s lost at unit %d: %s\n", bus->name, unit,
				read_explain(bus, unit, timeout_ms, e, eb, sizeof eb));
			status = 1;
			break;
		}
		const char *conf_id = configured >= 0 ? cfg->devices[configured].id : NULL;
		if (r != PROBE_SILENT) {
			p.found++;
		} else {
			p.n_silent++;
			p.silent_total_s += (double)(time_mono_ms() - unit_start) / 1000.0;
		}
		if (r != PROBE_SILENT || conf_id)
			cJSON_AddItemToArray(units, scan_json_unit(cfg, unit, r != PROBE_SILENT, matched, configured));
		if (!a->json && (r != PROBE_SILENT || conf_id)) {
			progress_clear(&p);
			if (r == PROBE_SILENT)
				printf("unit %3d  no answer          configured: %s\n", unit, conf_id);
			else
				printf("unit %3d  answers  profile %-20s %s%s\n", unit,
				       matched >= 0 ? cfg->profiles[matched].name : "?",
				       conf_id ? "configured: " : "(not configured)", conf_id ? conf_id : "");
			fflush(stdout);
		}
		progress_show(&p, unit);
	}
	progress_clear(&p);
	double elapsed = (double)(time_mono_ms() - p.start_ms) / 1000.0;
	if (status == 0 && a->json) {
		modbus_link_describe(bus, what, sizeof what);
		cJSON_AddStringToObject(doc, "bus", bus->name);
		cJSON_AddStringToObject(doc, "link", what);
		cJSON_AddNumberToObject(doc, "from", a->lo);
		cJSON_AddNumberToObject(doc, "to", a->hi);
		cJSON_AddNumberToObject(doc, "asked", p.done);
		cJSON_AddNumberToObject(doc, "answered", p.found);
		cJSON_AddNumberToObject(doc, "timeout_ms", (double)timeout_ms);
		cJSON_AddNumberToObject(doc, "elapsed_ms", (double)(int64_t)(elapsed * 1000.0));
		char *s = cJSON_PrintUnformatted(doc);
		if (s)
			printf("%s\n", s);
		free(s);
	} else if (status == 0) {
		char took[32];
		read_format_secs(elapsed, took, sizeof took);
		printf("%d of %d unit id%s answered (%s)\n", p.found, n, n == 1 ? "" : "s", took);
	}
	cJSON_Delete(doc);
	free(buf);
	modbus_link_close(&ctx);
	return status;
}

int cmd_scan(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "units", required_argument, NULL, 'u' },
		{ "timeout", required_argument, NULL, 't' }, { "json", no_argument, NULL, 'j' },
		{ "force", no_argument, NULL, 'f' },        { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *conf = NULL, *units = NULL;
	struct scan_args a = { .lo = 1, .hi = UNIT_MAX };
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:u:t:jfh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': conf = optarg; break;
		case 'u': units = optarg; break;
		case 't': a.timeout = optarg; break;
		case 'j': a.json = true; break;
		case 'f': a.force = true; break;
		case 'h': scan_usage(stdout); return 0;
		default: scan_usage(stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "gridgw scan: expected one BUS name\n");
		scan_usage(stderr);
		return 2;
	}
	if (units && scan_parse_units(units, &a.lo, &a.hi) < 0) {
		fprintf(stderr, "gridgw scan: bad --units '%s' (A-B within 0-255, or N)\n", units);
		return 2;
	}
	struct gw_config *cfg = commission_load("scan", conf);
	if (!cfg)
		return 1;
	int bi = config_find_bus(cfg, argv[optind]), rc;
	if (bi < 0) {
		fprintf(stderr, "gridgw scan: no bus named '%s' in the configuration (buses:", argv[optind]);
		for (int i = 0; i < cfg->n_buses; i++)
			fprintf(stderr, " %s", cfg->buses[i].name);
		fprintf(stderr, "%s)\n", cfg->n_buses ? "" : " none");
		rc = 1;
	} else {
		rc = scan_run(cfg, bi, &a);
	}
	config_free(cfg);
	return rc;
}
