/* cmd_local — the operator's sub-commands that talk to the running daemon
 * through its control socket: status, incidents, ack, close, shelve,
 * unshelve, notify test.
 * `gridgw incidents` reads the store directly when the daemon is down. */
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "gateway/cli/cli.h"
#include "gateway/config/config.h"
#include "gateway/control/control.h"
#include "gateway/core/incidents_json.h"
#include "gateway/store/store.h"
#include "common/timeutil.h"

#define CALL_TIMEOUT_MS 5000
/* A test waits for the channel's API (its timeout is at most 9 s). */
#define NOTIFY_TEST_TIMEOUT_MS 12000
/* `incidents --follow`: how often the store is looked at (new events show
 * within this), and how many events one look prints at most. */
#define FOLLOW_POLL_MS 200
#define FOLLOW_BATCH 200

struct local_opts {
	const char *config;
	bool json;
	bool all;
	int limit;
	const char *by;
	const char *note;
	const char *for_text;
	bool false_alarm;
	bool follow;
	const char *arg;          /* ID or DEVICE */
	char **args;              /* every operand (shelve/unshelve take several) */
	int n_args;
};

/* The option lines of --help, per option letter. */
static const char *const option_help[] = {
	['c'] = "  -c, --config FILE   configuration (default $GRIDGW_CONF or " GRIDGW_DEFAULT_CONF ");\n"
		"                      its state_dir locates the daemon's control socket",
	['j'] = "      --json          the answer as JSON on stdout (one line)",
	['o'] = "      --open          only open incidents (the default)",
	['a'] = "      --all           closed incidents too",
	['n'] = "      --limit N       at most N incidents, newest first (default 20)",
	['b'] = "      --by NAME       who was on site (kept in the event's note as \"on site: NAME\";\n"
		"                      the event's by is always your Unix user)",
	['N'] = "      --note TEXT     a note recorded with the event",
	['f'] = "      --for DURATION  how long (500ms, 30s, 10m, 2h, 1d; at most 30 days)",
	['F'] = "      --false-alarm   close as a false alarm (workflow false_alarm) instead of closed",
	['w'] = "  -f, --follow        after the list, print every new incident event as it happens\n"
		"                      (read from the store; until Ctrl-C)",
	['h'] = "  -h, --help          this text",
};

/* What one sub-command says on --help: its usage line, what it does, and
 * the option letters it takes (their lines come from option_help). */
struct local_help {
	const char *usage;
	const char *what;
	const char *options;
};

static void print_help(FILE *to, const struct local_help *h)
{
	fprintf(to, "usage: %s\n%s\n", h->usage, h->what);
	for (const char *k = h->options; *k; k++)
		fprintf(to, "%s\n", option_help[(unsigned char)*k]);
	fprintf(to, "Exit status: 0 done, 1 refused or the daemon unreachable, 2 usage.\n");
}

/* Returns -1 to go on, else the exit status. `operands`: how many (0 or 1;
 * -1: one or more). */
static int parse_opts(int argc, char **argv, struct local_opts *o, const struct local_help *help, int operands)
{
	const char *usage = help->usage;
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "json", no_argument, NULL, 'j' },
		{ "open", no_argument, NULL, 'o' },         { "all", no_argument, NULL, 'a' },
		{ "limit", required_argument, NULL, 'n' },  { "by", required_argument, NULL, 'b' },
		{ "note", required_argument, NULL, 'N' },   { "for", required_argument, NULL, 'f' },
		{ "false-alarm", no_argument, NULL, 'F' },  { "follow", no_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },         { NULL, 0, NULL, 0 },
	};
	memset(o, 0, sizeof *o);
	o->limit = 20;
	int ch;
	optind = 1;
	/* -f is --follow only where the command takes it (incidents). */
	const char *shortopts = strchr(help->options, 'w') ? "c:hf" : "c:h";
	int li = -1;
	while ((ch = getopt_long(argc, argv, shortopts, opts, &li)) != -1) {
		if (ch == 'f' && li < 0)
			ch = 'w'; /* the short -f, not --for */
		li = -1;
		switch (ch) {
		case 'c': o->config = optarg; break;
		case 'j': o->json = true; break;
		case 'o': o->all = false; break;
		case 'a': o->all = true; break;
		case 'n': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end || v < 1 || v > CONTROL_LIMIT_MAX) {
				fprintf(stderr, "gridgw %s: --limit must be 1..%d\n", argv[0], CONTROL_LIMIT_MAX);
				return 2;
			}
			o->limit = (int)v;
			break;
		}
		case 'b': o->by = optarg; break;
		case 'N': o->note = optarg; break;
		case 'f': o->for_text = optarg; break;
		case 'F': o->false_alarm = true; break;
		case 'w': o->follow = true; break;
		case 'h': print_help(stdout, help); return 0;
		default: fprintf(stderr, "usage: %s\n", usage); return 2;
		}
	}
	if (operands >= 0 ? argc - optind != operands : argc - optind < 1) {
		fprintf(stderr, "usage: %s\n", usage);
		return 2;
	}
	if (operands)
		o->arg = argv[optind];
	o->args = argv + optind;
	o->n_args = argc - optind;
	return -1;
}

static cJSON *new_request(const char *op)
{
	cJSON *req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "op", op);
	return req;
}

/* The state dir (and so the socket and store) come from the config. */
static struct gw_config *load_config(const char *cmd, const char *path)
{
	struct gw_config *cfg = NULL;
	struct config_errors errs = { 0 };
	if (config_load_without_secrets(cli_config_path(path), &cfg, &errs) != 0) {
		for (int i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msgs[i]);
		fprintf(stderr, "gridgw %s: cannot load the configuration\n", cmd);
		config_errors_clear(&errs);
		return NULL;
	}
	config_errors_clear(&errs);
	return cfg;
}

/* Sends req to the daemon; returns the parsed answer, or NULL with *rc set. */
static cJSON *call_daemon_timeout(const struct gw_config *cfg, cJSON *req, int *rc, int timeout_ms)
{
	char sock[256];
	*rc = control_socket_path(cfg->gateway.state_dir, sock, sizeof sock);
	if (*rc != 0)
		return NULL;
	char *line = cJSON_PrintUnformatted(req);
	char *resp = NULL;
	*rc = line ? control_call(sock, line, &resp, timeout_ms) : -ENOMEM;
	free(line);
	if (*rc != 0)
		return NULL;
	cJSON *j = cJSON_ParseWithLength(resp, strlen(resp));
	free(resp);
	if (!j)
		*rc = -EPROTO;
	return j;
}

static cJSON *call_daemon(const struct gw_config *cfg, cJSON *req, int *rc)
{
	return call_daemon_timeout(cfg, req, rc, CALL_TIMEOUT_MS);
}

static void explain_call_error(const char *cmd, int rc)
{
	if (rc == -ENOENT || rc == -ECONNREFUSED)
		fprintf(stderr, "gridgw %s: the daemon is not running (no control socket)\n", cmd);
	else if (rc == -EACCES)
		fprintf(stderr, "gridgw %s: permission denied on the control socket (join group gridgw)\n", cmd);
	else
		fprintf(stderr, "gridgw %s: control socket: %s\n", cmd, strerror(-rc));
}

/* Prints {"ok":false,"error"} answers; returns the exit status. */
static int check_answer(const char *cmd, const cJSON *ans)
{
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ans, "ok")))
		return 0;
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(ans, "error");
	fprintf(stderr, "gridgw %s: %s\n", cmd, cJSON_IsString(e) ? e->valuestring : "refused");
	return 1;
}

static double num(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static const char *str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : "";
}

/* One line: easy to grep, and jq pretty-prints it for people. */
static void print_json(const cJSON *j)
{
	char *s = cJSON_PrintUnformatted(j);
	if (s)
		printf("%s\n", s);
	free(s);
}

/* "59 min", "2 h 5 min", "45 s": how long, for people. */
static void human_duration(double s, char *buf, size_t len)
{
	long v = s > 0 ? (long)s : 0;
	if (v < 120)
		snprintf(buf, len, "%ld s", v);
	else if (v < 7200)
		snprintf(buf, len, "%ld min", (v + 30) / 60);
	else if (v < 2 * 86400)
		snprintf(buf, len, "%ld h %ld min", v / 3600, (v % 3600) / 60);
	else
		snprintf(buf, len, "%ld d %ld h", v / 86400, (v % 86400) / 3600);
}

static const char *local_time(const char *iso, char *buf, size_t len);

/* status: each shelved device, its expiry, and what it suppressed (so a
 * technician testing a detector sees that the test worked). */
static void print_shelved_devices(const cJSON *devs)
{
	const cJSON *sd, *sp;
	cJSON_ArrayForEach(sd, cJSON_GetObjectItemCaseSensitive(devs, "shelved_devices")) {
		char left[32], until[40], at[40];
		human_duration(num(sd, "left_s"), left, sizeof left);
		printf("shelved   %s until %s (%s left)\n", str(sd, "id"), local_time(str(sd, "until"), until, sizeof until),
		       left);
		cJSON_ArrayForEach(sp, cJSON_GetObjectItemCaseSensitive(sd, "suppressed")) {
			bool active = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(sp, "active"));
			bool clearing = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(sp, "clearing"));
			double n = num(sp, "count");
			printf("          suppressed %s at %s", str(sp, "type"), local_time(str(sp, "at"), at, sizeof at));
			if (n > 1)
				printf(" (%.0f times)", n);
			printf(", %s\n", !active ? "cleared" : clearing ? "clearing" : "still in alarm");
		}
	}
}

int cmd_status(int argc, char **argv)
{
	struct local_opts o;
	static const struct local_help help = {
		"gridgw status [-c FILE] [--json]",
		"The running daemon's view: uplink, devices online/offline/shelved, open incidents,\n"
		"the outbox backlog, MQTT sources and buses (p99 late: docs/commissioning.md).",
		"cjh",
	};
	int r = parse_opts(argc, argv, &o, &help, 0);
	if (r >= 0)
		return r;
	struct gw_config *cfg = load_config(argv[0], o.config);
	if (!cfg)
		return 1;
	cJSON *req = new_request("status");
	int rc;
	cJSON *ans = call_daemon(cfg, req, &rc);
	cJSON_Delete(req);
	config_free(cfg);
	if (!ans) {
		explain_call_error(argv[0], rc);
		return 1;
	}
	int status = check_answer(argv[0], ans);
	if (status == 0 && o.json)
		print_json(ans);
	else if (status == 0) {
		const cJSON *d = cJSON_GetObjectItemCaseSensitive(ans, "devices");
		printf("gateway   %s (gridgw %s, up %.0fs)\n", str(ans, "gateway"), str(ans, "version"), num(ans, "uptime_s"));
		printf("uplink    %s\n", str(ans, "uplink"));
		printf("devices   %.0f online, %.0f offline, %.0f shelved\n", num(d, "online"), num(d, "offline"),
		       num(d, "shelved"));
		const cJSON *ids = cJSON_GetObjectItemCaseSensitive(d, "offline_ids"), *id;
		if (cJSON_GetArraySize(ids) > 0) {
			printf("offline  ");
			cJSON_ArrayForEach(id, ids) printf(" %s", id->valuestring);
			printf("\n");
		}
		print_shelved_devices(d);
		printf("incidents %.0f open\n", num(ans, "open_incidents"));
		printf("outbox    %.0f undelivered (next seq %.0f)\n", num(ans, "backlog"), num(ans, "next_seq"));
		const cJSON *src;
		cJSON_ArrayForEach(src, cJSON_GetObjectItemCaseSensitive(ans, "sources"))
			printf("source    %-12s %s, %.0f messages received, %.0f connections lost, %.0f backlogged now, "
			       "%.0f telemetry dropped\n", str(src, "name"),
			       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(src, "connected")) ? "connected" : "DISCONNECTED",
			       num(src, "received"), num(src, "lost"), num(src, "backlog"), num(src, "dropped"));
		const cJSON *mq = cJSON_GetObjectItemCaseSensitive(ans, "mqtt_sources");
		if (num(mq, "messages") > 0)
			printf("mqtt      %.0f messages, %.0f malformed, %.0f unknown device, %.0f wrong type, %.0f oversized\n",
			       num(mq, "messages"), num(mq, "malformed"), num(mq, "unknown_device"), num(mq, "wrong_type"),
			       num(mq, "oversized"));
		const cJSON *nc;
		cJSON_ArrayForEach(nc, cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(ans, "notify"), "channels")) {
			printf("notify    %-12s %-8s %s%.0f sent, %.0f failed, %.0f queued, %.0f pending, rate %.0f/%gs (%.0f used)",
			       str(nc, "name"), str(nc, "type"),
			       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(nc, "stopped")) ? "STOPPED, " : "", num(nc, "sent"),
			       num(nc, "failed"), num(nc, "queued"), num(nc, "pending"), num(nc, "rate"), num(nc, "window_s"),
			       num(nc, "used"));
			if (str(nc, "last_error")[0])
				printf(", last error: %s", str(nc, "last_error"));
			printf("\n");
		}
		const cJSON *b;
		cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(ans, "buses"))
			printf("bus       %-12s link %s, %.0f/%.0f online, %.0f requests, %.0f errors, p99 late %.1f ms\n",
			       str(b, "name"), cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "link_up")) ? "up" : "down",
			       num(b, "online"), num(b, "devices"), num(b, "requests"), num(b, "errors"),
			       num(b, "late_p99_us") / 1000.0);
	}
	cJSON_Delete(ans);
	return status;
}

/* An ISO UTC time of an answer in the local zone, with date and offset
 * ("2026-12-02 21:03:05 +0800"); as given when it is not one. */
static const char *local_time(const char *iso, char *buf, size_t len)
{
	int64_t ms;
	if (time_parse_iso(iso, &ms) != 0)
		return iso;
	time_format_local(ms, buf, len);
	return buf;
}

/* Where the device is, as people on site say it: building-entrance-floor-
 * room ("5-2-F7-0701"), then the place; "-" when nothing is known. */
static const char *location_text(const cJSON *loc, char *buf, size_t len)
{
	size_t n = 0;
	buf[0] = '\0';
	static const char *const keys[] = { "building", "entrance", "floor", "room" };
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(loc, keys[i]);
		char part[64] = "";
		if (cJSON_IsString(v))
			snprintf(part, sizeof part, "%s", v->valuestring);
		else if (cJSON_IsNumber(v))
			snprintf(part, sizeof part, "F%.0f", v->valuedouble);
		if (part[0] && n < len)
			n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? "-" : "", part);
	}
	const cJSON *place = cJSON_GetObjectItemCaseSensitive(loc, "place");
	if (cJSON_IsString(place) && n < len)
		n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? " " : "", place->valuestring);
	if (!buf[0])
		snprintf(buf, len, "-");
	return buf;
}

static void print_incidents(const cJSON *ans)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(ans, "incidents"), *i;
	if (cJSON_GetArraySize(arr) == 0) {
		printf("no incidents\n");
		return;
	}
	printf("%-26s %-20s %-3s %-18s %-18s %-6s %-5s %-11s %5s  %s\n", "ID", "TYPE", "SEV", "DEVICE", "LOCATION",
	       "ACTIVE", "ACKED", "WORKFLOW", "COUNT", "LAST");
	cJSON_ArrayForEach(i, arr) {
		char ts[40], loc[128];
		printf("%-26s %-20s %-3.0f %-18s %-18s %-6s %-5s %-11s %5.0f  %s\n", str(i, "id"), str(i, "type"),
		       num(i, "severity"), str(i, "device"),
		       location_text(cJSON_GetObjectItemCaseSensitive(i, "location"), loc, sizeof loc),
		       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(i, "active")) ? "yes" : "no",
		       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(i, "acked")) ? "yes" : "no", str(i, "workflow"),
		       num(i, "count"), local_time(str(i, "ts"), ts, sizeof ts));
		printf("    %s\n", str(i, "message"));
		const cJSON *n;
		cJSON_ArrayForEach(n, cJSON_GetObjectItemCaseSensitive(i, "notified")) {
			printf("    notified %s (route %.0f%s) %s %s%s%s\n", str(n, "channel"), num(n, "route"),
			       num(n, "step") > 0 ? ", escalation" : "", local_time(str(n, "ts"), ts, sizeof ts),
			       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(n, "ok")) ? "delivered" : "FAILED",
			       str(n, "error")[0] ? ": " : "", str(n, "error"));
		}
	}
}

/* --- incidents --follow ------------------------------------------------ */

static volatile sig_atomic_t follow_stop;

static void follow_on_signal(int sig)
{
	(void)sig;
	follow_stop = 1;
}

struct follow_ctx {
	bool json;
	uint64_t last;
};

/* One incident event as a line: local time, event, id, type, severity,
 * device, location, alarm state, workflow, who, message. */
static void print_event_line(const cJSON *ev)
{
	char ts[40], loc[128];
	printf("%s  %-9s %s %s sev %.0f %s %s %s%s %s", local_time(str(ev, "ts"), ts, sizeof ts), str(ev, "event"),
	       str(ev, "id"), str(ev, "type"), num(ev, "severity"), str(ev, "device"),
	       location_text(cJSON_GetObjectItemCaseSensitive(ev, "location"), loc, sizeof loc),
	       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ev, "active")) ? "active" : "inactive",
	       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ev, "acked")) ? ",acked" : "", str(ev, "workflow"));
	if (str(ev, "by")[0])
		printf(" by %s", str(ev, "by"));
	printf(": %s", str(ev, "message"));
	if (str(ev, "note")[0])
		printf(" (%s)", str(ev, "note"));
	printf("\n");
}

static int follow_event(void *ctx, uint64_t seq, const char *payload)
{
	struct follow_ctx *fc = ctx;
	fc->last = seq;
	const char *end;
	cJSON *ev = cJSON_ParseWithLengthOpts(payload, strlen(payload), &end, 0);
	if (ev && strcmp(str(ev, "schema"), "gridgw.incident/1") == 0) {
		if (fc->json)
			printf("%s\n", payload); /* as published: UTC */
		else
			print_event_line(ev);
		fflush(stdout); /* a pipe or a log file sees each line at once */
	}
	cJSON_Delete(ev);
	return 0;
}

/* Prints each incident event committed from now on, polling the store
 * read-only (the daemon need not be asked, and a CLI that is slow to read
 * never holds the core), until SIGINT/SIGTERM. */
static int follow_incidents(const struct gw_config *cfg, bool json)
{
	char err[256];
	struct store *s = store_open_readonly(cfg->gateway.state_dir, err, sizeof err);
	if (!s) {
		fprintf(stderr, "gridgw incidents --follow: the store cannot be read: %s\n", err);
		return 1;
	}
	struct follow_ctx fc = { json, store_last_seq(s) };
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = follow_on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (!json)
		fprintf(stderr, "(following new incident events; Ctrl-C to stop)\n");
	int status = 0;
	while (!follow_stop) {
		int n = store_each_event_after(s, fc.last, FOLLOW_BATCH, follow_event, &fc);
		if (n < 0) {
			fprintf(stderr, "gridgw incidents --follow: reading the store failed: %s\n", store_last_error(s));
			status = 1;
			break;
		}
		if (n == FOLLOW_BATCH)
			continue; /* more waiting: no pause */
		struct timespec ts = { 0, FOLLOW_POLL_MS * 1000000L };
		nanosleep(&ts, NULL); /* a signal ends it early */
	}
	store_close(s);
	return status;
}

int cmd_incidents(int argc, char **argv)
{
	struct local_opts o;
	static const struct local_help help = {
		"gridgw incidents [-c FILE] [--open|--all] [--json] [--limit N] [--follow]",
		"Incidents, most severe then newest first, from the daemon (or from the store when it is\n"
		"not running). Times in the table are local, with the UTC offset; --json keeps UTC.\n"
		"LOCATION is building-entrance-Ffloor-room, then the place.",
		"coanjwh",
	};
	int r = parse_opts(argc, argv, &o, &help, 0);
	if (r >= 0)
		return r;
	struct gw_config *cfg = load_config(argv[0], o.config);
	if (!cfg)
		return 1;
	cJSON *req = new_request("incidents");
	cJSON_AddBoolToObject(req, "open", !o.all);
	cJSON_AddNumberToObject(req, "limit", o.limit);
	int rc;
	cJSON *ans = call_daemon(cfg, req, &rc);
	cJSON_Delete(req);
	if (!ans && (rc == -ENOENT || rc == -ECONNREFUSED)) {
		/* Daemon down: read the store (WAL lets us read next to a writer too). */
		char err[256];
		struct store *s = store_open_readonly(cfg->gateway.state_dir, err, sizeof err);
		if (!s) {
			fprintf(stderr, "gridgw incidents: daemon not running and the store cannot be read: %s\n", err);
			config_free(cfg);
			return 1;
		}
		ans = incidents_list_json(s, !o.all, o.limit);
		store_close(s);
		if (!ans) {
			fprintf(stderr, "gridgw incidents: reading the store failed\n");
			config_free(cfg);
			return 1;
		}
		if (!o.json)
			fprintf(stderr, "(daemon not running: read from the store)\n");
	}
	config_free(cfg);
	if (!ans) {
		explain_call_error(argv[0], rc);
		return 1;
	}
	int status = check_answer(argv[0], ans);
	if (status == 0) {
		if (o.json)
			print_json(cJSON_GetObjectItemCaseSensitive(ans, "incidents"));
		else
			print_incidents(ans);
	}
	cJSON_Delete(ans);
	if (status == 0 && o.follow) {
		fflush(stdout);
		cfg = load_config(argv[0], o.config);
		if (!cfg)
			return 1;
		status = follow_incidents(cfg, o.json);
		config_free(cfg);
	}
	return status;
}

/* ack / close: one request; prints what was done to which incident (the
 * full id, as a prefix was resolved to). */
static int incident_request(const char *cmd, const char *config, cJSON *req, const char *done)
{
	struct gw_config *cfg = load_config(cmd, config);
	if (!cfg) {
		cJSON_Delete(req);
		return 1;
	}
	int rc;
	cJSON *ans = call_daemon(cfg, req, &rc);
	cJSON_Delete(req);
	config_free(cfg);
	if (!ans) {
		explain_call_error(cmd, rc);
		return 1;
	}
	int status = check_answer(cmd, ans);
	if (status == 0) {
		const char *wf = str(ans, "workflow");
		printf("%s %s%s%s\n", done, str(ans, "id"), wf[0] && strcmp(wf, "closed") != 0 ? " as " : "",
		       wf[0] && strcmp(wf, "closed") != 0 ? wf : "");
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ans, "was_active")))
			printf("note: it was still in alarm (closed anyway, as the platform's incident.close does); "
			       "its next raise opens a new incident\n");
	}
	cJSON_Delete(ans);
	return status;
}

int cmd_ack(int argc, char **argv)
{
	struct local_opts o;
	static const struct local_help help = {
		"gridgw ack ID [-c FILE] [--by NAME] [--note TEXT]",
		"Acknowledges incident ID locally (the platform gets the acked event). ID may be a unique\n"
		"prefix of at least 4 characters, any case (gridgw ack 01m8tj); an ambiguous one lists\n"
		"the candidates. The event records your Unix user as by; --by NAME goes in its note.",
		"cbNh",
	};
	int r = parse_opts(argc, argv, &o, &help, 1);
	if (r >= 0)
		return r;
	cJSON *req = new_request("ack");
	cJSON_AddStringToObject(req, "id", o.arg);
	if (o.by)
		cJSON_AddStringToObject(req, "by", o.by);
	if (o.note)
		cJSON_AddStringToObject(req, "note", o.note);
	return incident_request(argv[0], o.config, req, "acknowledged");
}

/* The platform's incident.close, on site: same core call, same event. */
int cmd_close(int argc, char **argv)
{
	struct local_opts o;
	static const struct local_help help = {
		"gridgw close ID [-c FILE] [--false-alarm] [--by NAME] [--note TEXT]",
		"Closes incident ID, as the platform's incident.close does: from any open workflow state,\n"
		"an incident still in alarm too (said in the answer); the platform gets the same `closed`\n"
		"event, by your Unix user, with --by (as \"on site: NAME\") and --note in its note.\n"
		"The alarm's next raise opens a new incident.\n"
		"ID may be a unique prefix of at least 4 characters, any case.",
		"cFbNh",
	};
	int r = parse_opts(argc, argv, &o, &help, 1);
	if (r >= 0)
		return r;
	cJSON *req = new_request("close");
	cJSON_AddStringToObject(req, "id", o.arg);
	cJSON_AddStringToObject(req, "workflow", o.false_alarm ? "false_alarm" : "closed");
	if (o.by)
		cJSON_AddStringToObject(req, "by", o.by);
	if (o.note)
		cJSON_AddStringToObject(req, "note", o.note);
	return incident_request(argv[0], o.config, req, "closed");
}

/* --- shelve / unshelve: several devices at once, and globs --------------- */

#define TARGETS_MAX 10000

struct targets {
	const char **id;          /* device ids, each once, in the order named */
	int n;
	int cap;
};

static bool is_glob(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

static int add_target(struct targets *t, const char *id)
{
	for (int i = 0; i < t->n; i++)
		if (strcmp(t->id[i], id) == 0)
			return 0;
	if (t->n == t->cap) {
		int cap = t->cap ? t->cap * 2 : 16;
		if (cap > TARGETS_MAX)
			return -1;
		const char **n = realloc(t->id, (size_t)cap * sizeof *n);
		if (!n)
			return -1;
		t->id = n;
		t->cap = cap;
	}
	t->id[t->n++] = id;
	return 0;
}

/* The devices the operands name. A glob ('smoke-5-2-*', quoted for the
 * shell) is matched against `ids` (n of them); a plain id is taken as it is
 * and the daemon says whether it knows it. Returns 0, or 1 when a glob
 * matches nothing (said on stderr, and then nothing is done at all). */
static int expand_targets(const char *cmd, char **ops, int n_ops, const char *const *ids, int n, const char *none,
			  struct targets *t)
{
	for (int i = 0; i < n_ops; i++) {
		if (!is_glob(ops[i])) {
			if (add_target(t, ops[i]) != 0)
				goto too_many;
			continue;
		}
		int matched = 0;
		for (int k = 0; k < n; k++) {
			if (fnmatch(ops[i], ids[k], 0) != 0)
				continue;
			matched++;
			if (add_target(t, ids[k]) != 0)
				goto too_many;
		}
		if (!matched) {
			fprintf(stderr, "gridgw %s: %s '%s'\n", cmd, none, ops[i]);
			return 1;
		}
	}
	return 0;
too_many:
	fprintf(stderr, "gridgw %s: too many devices (at most %d)\n", cmd, TARGETS_MAX);
	return 1;
}

/* Sends one shelve/unshelve for each target, prints what the daemon
 * answered for it; the exit status is 1 when any was refused. */
static int for_each_target(const char *cmd, const struct gw_config *cfg, const struct targets *t, const char *for_text,
			   void (*print)(const cJSON *ans))
{
	int status = 0;
	for (int i = 0; i < t->n; i++) {
		cJSON *req = new_request(cmd);
		cJSON_AddStringToObject(req, "device", t->id[i]);
		if (for_text)
			cJSON_AddStringToObject(req, "for", for_text);
		int rc;
		cJSON *ans = call_daemon(cfg, req, &rc);
		cJSON_Delete(req);
		if (!ans) {
			explain_call_error(cmd, rc);
			return 1;   /* the daemon is gone: the others would fail the same way */
		}
		if (check_answer(cmd, ans) == 0)
			print(ans);
		else
			status = 1;
		cJSON_Delete(ans);
	}
	return status;
}

static void print_shelved(const cJSON *ans)
{
	char left[32], until[40];
	human_duration(num(ans, "left_s"), left, sizeof left);
	printf("%s shelved until %s (%s)\n", str(ans, "device"), local_time(str(ans, "shelved_until"), until, sizeof until),
	       left);
}

/* After an unshelve: a condition still true is raised after its on-delay. */
static void print_unshelved(const cJSON *ans)
{
	printf("%s unshelved\n", str(ans, "device"));
	const cJSON *p;
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(ans, "pending")) {
		double in = num(p, "raise_in_s");
		if (in <= 0) {
			printf("%s still in alarm: %s is raised now (rule %s has no on-delay)\n", str(ans, "device"),
			       str(p, "type"), str(p, "rule"));
			continue;
		}
		char when[32];
		human_duration(in, when, sizeof when);
		printf("%s still in alarm: it will be raised in %s (%s, the on-delay of rule %s) unless it clears first\n",
		       str(ans, "device"), when, str(p, "type"), str(p, "rule"));
	}
}

int cmd_shelve(int argc, char **argv)
{
	struct local_opts o;
	static const struct local_help help = {
		"gridgw shelve DEVICE... --for DURATION [-c FILE]   (e.g. --for 2h; DEVICE may be a glob: 'smoke-5-2-*')",
		"Suppresses the incidents of each DEVICE's rules for a while (testing a detector, servicing).\n"
		"The device is still read and evaluated: what it raises meanwhile is logged and shown by\n"
		"`gridgw status` (suppressed: shelved until ...) but reaches no one, and is forgotten when\n"
		"the shelve ends. The shelve ends by itself. A glob (quote it) is matched against the\n"
		"configured device ids.",
		"fch",
	};
	const char *usage = help.usage;
	int r = parse_opts(argc, argv, &o, &help, -1);
	if (r >= 0)
		return r;
	int64_t ms;
	if (!o.for_text) {
		fprintf(stderr, "usage: %s\n", usage);
		return 2;
	}
	if (duration_parse(o.for_text, &ms) != 0 || ms <= 0) {
		fprintf(stderr, "gridgw shelve: bad duration '%s' (use 500ms, 30s, 10m, 2h, 1d)\n", o.for_text);
		return 2;
	}
	struct gw_config *cfg = load_config(argv[0], o.config);
	if (!cfg)
		return 1;
	const char **ids = calloc((size_t)cfg->n_devices + 1, sizeof *ids);
	struct targets t = { 0 };
	int status = ids ? 0 : 1;
	for (int d = 0; ids && d < cfg->n_devices; d++)
		ids[d] = cfg->devices[d].id;
	if (status == 0)
		status = expand_targets(argv[0], o.args, o.n_args, ids, cfg->n_devices, "no configured device matches", &t);
	if (status == 0)
		status = for_each_target("shelve", cfg, &t, o.for_text, print_shelved);
	free(t.id);
	free(ids);
	config_free(cfg);
	return status;
}

/* The ids of the devices the daemon has shelved (globs of unshelve match
 * these), pointing into ans; NULL with the exit status in *status. */
static const char **shelved_ids(const struct gw_config *cfg, cJSON **ans, int *n, int *status)
{
	cJSON *req = new_request("status");
	int rc;
	*ans = call_daemon(cfg, req, &rc);
	cJSON_Delete(req);
	if (!*ans) {
		explain_call_error("unshelve", rc);
		*status = 1;
		return NULL;
	}
	if ((*status = check_answer("unshelve", *ans)) != 0)
		return NULL;
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(*ans, "devices"),
							     "shelved_devices");
	const char **ids = calloc((size_t)cJSON_GetArraySize(list) + 1, sizeof *ids);
	if (!ids) {
		*status = 1;
		return NULL;
	}
	*n = 0;
	const cJSON *d;
	cJSON_ArrayForEach(d, list) ids[(*n)++] = str(d, "id");
	return ids;
}

int cmd_unshelve(int argc, char **argv)
{
	struct local_opts o;
	static const struct local_help help = {
		"gridgw unshelve DEVICE... [-c FILE]   (DEVICE may be a glob: 'smoke-5-2-*')",
		"Ends the shelve of each DEVICE before its time runs out. What it raised while shelved is\n"
		"not raised now; an alarm still true is raised as a new one once its rule's on-delay (for)\n"
		"has run from now, and this says so. A glob (quote it) is matched against the devices the\n"
		"daemon has shelved.",
		"ch",
	};
	int r = parse_opts(argc, argv, &o, &help, -1);
	if (r >= 0)
		return r;
	struct gw_config *cfg = load_config(argv[0], o.config);
	if (!cfg)
		return 1;
	cJSON *st = NULL;
	const char **ids = NULL;
	int n = 0, status = 0;
	bool globs = false;
	for (int i = 0; i < o.n_args; i++)
		globs |= is_glob(o.args[i]);
	if (globs)
		ids = shelved_ids(cfg, &st, &n, &status);
	struct targets t = { 0 };
	if (status == 0)
		status = expand_targets(argv[0], o.args, o.n_args, ids, n, "no shelved device matches", &t);
	if (status == 0)
		status = for_each_target("unshelve", cfg, &t, NULL, print_unshelved);
	free(t.id);
	free(ids);
	cJSON_Delete(st);
	config_free(cfg);
	return status;
}

/* `gridgw notify test CHANNEL`: what an installer runs on site. The daemon
 * sends a test message at once and this prints the API's own answer. */
int cmd_notify(int argc, char **argv)
{
	static const struct local_help help = {
		"gridgw notify test CHANNEL [-c FILE]",
		"Sends a test message on CHANNEL through the running daemon now and prints the API's answer.",
		"ch",
	};
	if (argc < 2 || strcmp(argv[1], "test") != 0) {
		bool asked = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
		print_help(asked ? stdout : stderr, &help);
		return asked ? 0 : 2;
	}
	struct local_opts o;
	int r = parse_opts(argc - 1, argv + 1, &o, &help, 1);
	if (r >= 0)
		return r;
	struct gw_config *cfg = load_config("notify test", o.config);
	if (!cfg)
		return 1;
	cJSON *req = new_request("notify_test");
	cJSON_AddStringToObject(req, "channel", o.arg);
	int rc;
	cJSON *ans = call_daemon_timeout(cfg, req, &rc, NOTIFY_TEST_TIMEOUT_MS);
	cJSON_Delete(req);
	config_free(cfg);
	if (!ans) {
		explain_call_error("notify test", rc);
		return 1;
	}
	bool ok = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ans, "ok"));
	const char *ch = str(ans, "channel");
	if (ok)
		printf("%s: delivered (status %.0f)\n", ch, num(ans, "status"));
	else
		printf("%s%sFAILED: %s\n", ch, ch[0] ? ": " : "", str(ans, "error"));
	if (str(ans, "answer")[0])
		printf("answer: %s\n", str(ans, "answer"));
	cJSON_Delete(ans);
	return ok ? 0 : 1;
}
