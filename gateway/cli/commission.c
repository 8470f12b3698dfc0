/* commission — the commissioning commands `gridgw scan BUS [--units A-B]`
 * (which unit ids answer on a configured bus, with a guess at each one's
 * profile) and `gridgw read DEVICE` (one read of every point of a device,
 * decoded through its profile, with the raw registers). They open the bus
 * themselves, so the daemon must not hold the same serial line (a Modbus
 * TCP endpoint usually accepts several clients). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/cli/cli.h"
#include "gateway/config/config.h"
#include "common/timeutil.h"
#include "sensors/decode.h"
#include "sensors/modbus_link.h"
#include "sensors/modbus_plan.h"

/* Buffers of one block read. */
struct block_buf {
	uint16_t regs[MODBUS_PLAN_MAX_REGS];
	uint8_t bits[MODBUS_PLAN_MAX_BITS];
};

static struct gw_config *commission_load(const char *cmd, const char *conf)
{
	const char *path = cli_config_path(conf);
	struct config_errors errs = { 0 };
	struct gw_config *cfg = NULL;
	if (config_load(path, &cfg, &errs) < 0) {
		for (int i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msgs[i]);
		fprintf(stderr, "gridgw %s: %s is not a valid configuration (see `gridgw check`)\n", cmd, path);
		config_errors_clear(&errs);
		return NULL;
	}
	config_errors_clear(&errs);
	return cfg;
}

static void commission_pace(const struct bus_config *bus)
{
	int64_t us = modbus_link_frame_delay_us(bus);
	struct timespec ts = { (time_t)(us / 1000000), (long)(us % 1000000) * 1000 };
	if (us > 0)
		nanosleep(&ts, NULL);
}

/* One block read with the bus's retries. Returns 0 or -1 with *err. */
static int commission_read_block(modbus_t *ctx, const struct bus_config *bus, const struct modbus_block *blk,
				 struct block_buf *buf, int attempts, int *err)
{
	for (int a = 0; a < attempts; a++) {
		commission_pace(bus);
		int rc = modbus_link_read(ctx, blk->table, blk->start, blk->count, buf->regs, buf->bits);
		if (rc == blk->count)
			return 0;
		*err = rc < 0 ? errno : EMBMDATA;
		enum link_fail k = modbus_link_classify(*err);
		if (k == LINK_FAIL_TIMEOUT || k == LINK_FAIL_FRAME)
			modbus_flush(ctx); /* a late reply must not answer the next request */
		if (k == LINK_FAIL_EXCEPTION || k == LINK_FAIL_LINK)
			return -1;
	}
	return -1;
}

/* ---- gridgw scan ---- */

static void scan_usage(FILE *f)
{
	fprintf(f, "usage: gridgw scan BUS [-c FILE] [--units A-B] [--timeout D]\n"
		   "Commissioning: asks every unit id in the range (default 1-247) on the configured\n"
		   "bus BUS and lists those that answer, with the profile whose registers they all\n"
		   "answer (a guess) and the configured device at that unit, if any.\n"
		   "  -c, --config FILE   configuration (default $GRIDGW_CONF or " GRIDGW_DEFAULT_CONF ")\n"
		   "  -u, --units A-B     unit ids to ask (or a single N)\n"
		   "  -t, --timeout D     response timeout per unit (default: the bus's timeout)\n"
		   "  -h, --help          this text\n"
		   "Exit status: 0 scan done, 1 config or bus error, 2 usage.\n");
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

static int scan_set_timeout(modbus_t *ctx, const char *text)
{
	int64_t ms;
	if (duration_parse(text, &ms) < 0 || ms <= 0)
		return -1;
	return modbus_set_response_timeout(ctx, (uint32_t)(ms / 1000), (uint32_t)(ms % 1000) * 1000);
}

static int scan_run(const struct gw_config *cfg, int bi, int lo, int hi, const char *timeout)
{
	const struct bus_config *bus = &cfg->buses[bi];
	char err[320], what[160], eb[128];
	modbus_link_describe(bus, what, sizeof what);
	modbus_t *ctx = modbus_link_open(bus, err, sizeof err);
	if (!ctx) {
		fprintf(stderr, "gridgw scan: %s\n", err);
		return 1;
	}
	if (timeout && scan_set_timeout(ctx, timeout) < 0) {
		fprintf(stderr, "gridgw scan: bad --timeout '%s' (e.g. 200ms)\n", timeout);
		modbus_link_close(&ctx);
		return 2;
	}
	struct block_buf *buf = malloc(sizeof *buf);
	if (!buf) {
		modbus_link_close(&ctx);
		fprintf(stderr, "gridgw scan: out of memory\n");
		return 1;
	}
	printf("scanning bus %s (%s), units %d-%d\n", bus->name, what, lo, hi);
	int answered = 0, status = 0;
	for (int unit = lo; unit <= hi; unit++) {
		int configured = scan_configured(cfg, bi, unit), matched = -1, e = 0;
		if (modbus_set_slave(ctx, unit) < 0) {
			printf("unit %3d  skipped: %s\n", unit, modbus_link_strerror(errno, eb, sizeof eb));
			continue;
		}
		enum probe r = scan_unit(ctx, cfg, bus, configured, buf, &matched, &e);
		if (r == PROBE_LINK_LOST) {
			fprintf(stderr, "gridgw scan: bus %s lost at unit %d: %s\n", bus->name, unit,
				modbus_link_strerror(e, eb, sizeof eb));
			status = 1;
			break;
		}
		const char *conf_id = configured >= 0 ? cfg->devices[configured].id : NULL;
		if (r == PROBE_SILENT) {
			if (conf_id)
				printf("unit %3d  no answer          configured: %s\n", unit, conf_id);
			fflush(stdout);
			continue;
		}
		answered++;
		printf("unit %3d  answers  profile %-20s %s%s\n", unit,
		       matched >= 0 ? cfg->profiles[matched].name : "?",
		       conf_id ? "configured: " : "(not configured)", conf_id ? conf_id : "");
		fflush(stdout);
	}
	if (status == 0)
		printf("%d of %d unit id%s answered\n", answered, hi - lo + 1, hi == lo ? "" : "s");
	free(buf);
	modbus_link_close(&ctx);
	return status;
}

int cmd_scan(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "units", required_argument, NULL, 'u' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *conf = NULL, *units = NULL, *timeout = NULL;
	int ch, lo = 1, hi = 247;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:u:t:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': conf = optarg; break;
		case 'u': units = optarg; break;
		case 't': timeout = optarg; break;
		case 'h': scan_usage(stdout); return 0;
		default: scan_usage(stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "gridgw scan: expected one BUS name\n");
		scan_usage(stderr);
		return 2;
	}
	if (units && scan_parse_units(units, &lo, &hi) < 0) {
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
		rc = scan_run(cfg, bi, lo, hi, timeout);
	}
	config_free(cfg);
	return rc;
}

/* ---- gridgw read ---- */

static void read_usage(FILE *f)
{
	fprintf(f, "usage: gridgw read DEVICE [-c FILE]\n"
		   "Commissioning: reads every point of a configured Modbus device once, with the\n"
		   "bus's block plan, and prints each decoded value with its quality and raw registers.\n"
		   "  -c, --config FILE   configuration (default $GRIDGW_CONF or " GRIDGW_DEFAULT_CONF ")\n"
		   "  -h, --help          this text\n"
		   "Exit status: 0 every point good, 1 a point not good or a config/bus error, 2 usage.\n");
}

static void read_print_point(const struct point_def *pd, enum quality q, double v, const struct block_buf *buf,
			     int offset, bool read_ok, const char *why)
{
	char val[48] = "-", raw[48] = "-", addr[24];
	int w = point_width(pd);
	if (w == 2)
		snprintf(addr, sizeof addr, "%d-%d", pd->address, pd->address + 1);
	else
		snprintf(addr, sizeof addr, "%d", pd->address);
	if (read_ok) {
		if (point_is_bit_table(pd))
			snprintf(raw, sizeof raw, "%u", buf->bits[offset]);
		else if (w == 2)
			snprintf(raw, sizeof raw, "0x%04x 0x%04x", buf->regs[offset], buf->regs[offset + 1]);
		else
			snprintf(raw, sizeof raw, "0x%04x", buf->regs[offset]);
	}
	if (q == QUALITY_GOOD)
		snprintf(val, sizeof val, "%.10g", v);
	printf("  %-16s %14s %-6s %-12s %-8s %-11s %s%s%s\n", pd->name, val, pd->unit ? pd->unit : "",
	       quality_name(q), point_table_name(pd->table), addr, raw, why ? "  " : "", why ? why : "");
}

static int read_device(const struct gw_config *cfg, int di)
{
	const struct device_config *dc = &cfg->devices[di];
	const struct profile *p = &cfg->profiles[dc->profile];
	if (dc->bus < 0 || p->is_mqtt) {
		fprintf(stderr, "gridgw read: device %s is not on a Modbus bus (profile %s pushes over MQTT)\n",
			dc->id, p->name);
		return 1;
	}
	const struct bus_config *bus = &cfg->buses[dc->bus];
	char err[320], eb[128];
	struct modbus_plan plan;
	if (modbus_plan_build(p, bus, &plan) < 0) {
		fprintf(stderr, "gridgw read: profile %s cannot be planned\n", p->name);
		return 1;
	}
	modbus_t *ctx = modbus_link_open(bus, err, sizeof err);
	struct block_buf *buf = malloc(sizeof *buf);
	if (!ctx || !buf || modbus_set_slave(ctx, dc->unit) < 0) {
		fprintf(stderr, "gridgw read: %s\n", !ctx ? err : !buf ? "out of memory" : "invalid unit id");
		modbus_link_close(&ctx);
		free(buf);
		modbus_plan_free(&plan);
		return 1;
	}
	printf("device %s: profile %s, bus %s, unit %d, %d request%s\n", dc->id, p->name, bus->name, dc->unit,
	       plan.n_blocks, plan.n_blocks == 1 ? "" : "s");
	printf("  %-16s %14s %-6s %-12s %-8s %-11s %s\n", "point", "value", "unit", "quality", "table", "address", "raw");
	int bad = 0, attempts = 1 + (bus->retries > 0 ? bus->retries : 0);
	for (int i = 0; i < plan.n_blocks; i++) {
		const struct modbus_block *blk = &plan.blocks[i];
		int e = 0;
		bool ok = commission_read_block(ctx, bus, blk, buf, attempts, &e) == 0;
		const char *why = ok ? NULL : modbus_link_strerror(e, eb, sizeof eb);
		for (int s = blk->first_slot; s < blk->first_slot + blk->n_slots; s++) {
			const struct point_def *pd = &p->points[plan.slots[s].point];
			int off = plan.slots[s].offset;
			double v = 0;
			enum quality q = QUALITY_COMM_ERROR;
			if (ok)
				q = point_is_bit_table(pd) ? point_decode_bit(pd, buf->bits[off], &v)
							   : point_decode_regs(pd, &buf->regs[off], &v);
			bad += q != QUALITY_GOOD;
			read_print_point(pd, q, v, buf, off, ok, why);
		}
	}
	printf("%d of %d point%s good\n", p->n_points - bad, p->n_points, p->n_points == 1 ? "" : "s");
	free(buf);
	modbus_link_close(&ctx);
	modbus_plan_free(&plan);
	return bad ? 1 : 0;
}

int cmd_read(int argc, char **argv)
{
	const char *conf;
	int pr = cli_parse_config_only(argc, argv, &conf, read_usage);
	if (pr >= 0)
		return pr;
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
		rc = read_device(cfg, di);
	}
	config_free(cfg);
	return rc;
}
