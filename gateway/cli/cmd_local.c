/* cmd_local — the operator's sub-commands that talk to the running daemon
 * through its control socket: status, incidents, ack, shelve, unshelve,
 * notify test.
 * `gridgw incidents` reads the store directly when the daemon is down. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "gateway/cli/cli.h"
#include "gateway/config/config.h"
#include "gateway/control/control.h"
#include "gateway/store/store.h"
#include "common/timeutil.h"

#define CALL_TIMEOUT_MS 5000
/* A test waits for the channel's API (its timeout is at most 9 s). */
#define NOTIFY_TEST_TIMEOUT_MS 12000

cJSON *incidents_list_json(struct store *s, bool open_only, int limit); /* core_commands.c */

struct local_opts {
	const char *config;
	bool json;
	bool all;
	int limit;
	const char *by;
	const char *note;
	const char *for_text;
	const char *arg;          /* ID or DEVICE */
};

/* The option lines of --help, per option letter. */
static const char *const option_help[] = {
	['c'] = "  -c, --config FILE   configuration (default $GRIDGW_CONF or " GRIDGW_DEFAULT_CONF ");\n"
		"                      its state_dir locates the daemon's control socket",
	['j'] = "      --json          the answer as JSON on stdout (one line)",
	['o'] = "      --open          only open incidents (the default)",
	['a'] = "      --all           closed incidents too",
	['n'] = "      --limit N       at most N incidents, newest first (default 20)",
	['b'] = "      --by NAME       who does it (recorded with the event)",
	['N'] = "      --note TEXT     a note recorded with the event",
	['f'] = "      --for DURATION  how long (500ms, 30s, 10m, 2h, 1d; at most 30 days)",
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

/* Returns -1 to go on, else the exit status. `operands`: how many (0 or 1). */
static int parse_opts(int argc, char **argv, struct local_opts *o, const struct local_help *help, int operands)
{
	const char *usage = help->usage;
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "json", no_argument, NULL, 'j' },
		{ "open", no_argument, NULL, 'o' },         { "all", no_argument, NULL, 'a' },
		{ "limit", required_argument, NULL, 'n' },  { "by", required_argument, NULL, 'b' },
		{ "note", required_argument, NULL, 'N' },   { "for", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },         { NULL, 0, NULL, 0 },
	};
	memset(o, 0, sizeof *o);
	o->limit = 20;
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
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
		case 'h': print_help(stdout, help); return 0;
		default: fprintf(stderr, "usage: %s\n", usage); return 2;
		}
	}
	if (argc - optind != operands) {
		fprintf(stderr, "usage: %s\n", usage);
		return 2;
	}
	if (operands)
		o->arg = argv[optind];
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
	if (config_load(cli_config_path(path), &cfg, &errs) != 0) {
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

static void print_incidents(const cJSON *ans)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(ans, "incidents"), *i;
	if (cJSON_GetArraySize(arr) == 0) {
		printf("no incidents\n");
		return;
	}
	printf("%-26s %-20s %-3s %-18s %-6s %-5s %-11s %5s  %s\n", "ID", "TYPE", "SEV", "DEVICE", "ACTIVE", "ACKED",
	       "WORKFLOW", "COUNT", "LAST");
	cJSON_ArrayForEach(i, arr) {
		printf("%-26s %-20s %-3.0f %-18s %-6s %-5s %-11s %5.0f  %s\n", str(i, "id"), str(i, "type"),
		       num(i, "severity"), str(i, "device"),
		       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(i, "active")) ? "yes" : "no",
		       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(i, "acked")) ? "yes" : "no", str(i, "workflow"),
		       num(i, "count"), str(i, "ts"));
		printf("    %s\n", str(i, "message"));
		const cJSON *n;
		cJSON_ArrayForEach(n, cJSON_GetObjectItemCaseSensitive(i, "notified")) {
			printf("    notified %s (route %.0f%s) %s %s%s%s\n", str(n, "channel"), num(n, "route"),
			       num(n, "step") > 0 ? ", escalation" : "", str(n, "ts"),
			       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(n, "ok")) ? "delivered" : "FAILED",
			       str(n, "error")[0] ? ": " : "", str(n, "error"));
		}
	}
}

int cmd_incidents(int argc, char **argv)
{
	struct local_opts o;
	static const struct local_help help = {
		"gridgw incidents [-c FILE] [--open|--all] [--json] [--limit N]",
		"Incidents, newest first, from the daemon (or from the store when it is not running).",
		"coanjh",
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
	return status;
}

/* ack / shelve / unshelve: one request, "ok" or the daemon's reason. */
static int simple_request(const char *cmd, const char *config, cJSON *req)
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
	if (status == 0)
		printf("ok\n");
	cJSON_Delete(ans);
	return status;
}

int cmd_ack(int argc, char **argv)
{
	struct local_opts o;
	static const struct local_help help = {
		"gridgw ack ID [-c FILE] [--by NAME] [--note TEXT]",
		"Acknowledges incident ID locally (the platform gets the acked event).",
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
	return simple_request(argv[0], o.config, req);
}

int cmd_shelve(int argc, char **argv)
{
	struct local_opts o;
	static const struct local_help help = {
		"gridgw shelve DEVICE --for DURATION [-c FILE]   (e.g. --for 2h)",
		"Suppresses the incidents of DEVICE's rules for a while (testing, servicing); it is\n"
		"still read and evaluated, and the shelve ends by itself.",
		"fch",
	};
	const char *usage = help.usage;
	int r = parse_opts(argc, argv, &o, &help, 1);
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
	cJSON *req = new_request("shelve");
	cJSON_AddStringToObject(req, "device", o.arg);
	cJSON_AddStringToObject(req, "for", o.for_text);
	return simple_request(argv[0], o.config, req);
}

int cmd_unshelve(int argc, char **argv)
{
	struct local_opts o;
	static const struct local_help help = {
		"gridgw unshelve DEVICE [-c FILE]",
		"Ends the shelve of DEVICE before its time runs out.",
		"ch",
	};
	int r = parse_opts(argc, argv, &o, &help, 1);
	if (r >= 0)
		return r;
	cJSON *req = new_request("unshelve");
	cJSON_AddStringToObject(req, "device", o.arg);
	return simple_request(argv[0], o.config, req);
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
