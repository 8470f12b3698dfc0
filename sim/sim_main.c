/* gridgw-sim — the device simulator's entry point: parses the command line,
 * loads the gateway's own configuration, starts the transports (Modbus TCP,
 * Modbus RTU on ptys, MQTT), the control channel and the scenario, then runs
 * the clock: scenario steps, ramps, MQTT publishing, --duration and signals.
 *
 *   gridgw-sim -c GATEWAY.conf [--scenario FILE] [--control SOCK] [--stdin]
 *              [--seed N] [--duration D] [--heartbeat D] [--slow D] [--quiet]
 *   gridgw-sim ctl SOCK COMMAND...
 *
 * Signals are blocked in every thread and taken synchronously here with
 * sigtimedwait(), which doubles as the 50 ms tick: no handler, no global. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gateway/config/config.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "sim/sim.h"
#include "sim/sim_control.h"
#include "sim/sim_modbus.h"
#include "sim/sim_mqtt.h"
#include "sim/sim_scenario.h"

#define TICK_MS 50

struct sim_opts {
	const char *config;
	const char *scenario;
	const char *control;
	bool use_stdin;
	bool quiet;
	unsigned int seed;
	int64_t duration_ms;  /* 0 = run until told */
	int64_t heartbeat_ms;
	int64_t slow_ms;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: gridgw-sim -c GATEWAY.conf [options]\n"
		"       gridgw-sim ctl SOCKET COMMAND...\n"
		"Simulates every device of a gridgw configuration: Modbus TCP on each tcp bus\n"
		"(loopback), Modbus RTU on a pty linked at each rtu bus's device path, and MQTT\n"
		"publishers for devices with a source.\n"
		"  -c, --config FILE     gateway configuration (default $GRIDGW_CONF or /etc/gridgw/gridgw.conf)\n"
		"  -s, --scenario FILE   timed steps (set, ramp, fail, recover, quit)\n"
		"  -C, --control SOCK    control commands on a Unix socket\n"
		"      --stdin           control commands on stdin (replies on stdout)\n"
		"      --seed N          random seed for garbage faults (default: time)\n"
		"  -d, --duration D      stop after D (\"30s\", \"10m\")\n"
		"      --heartbeat D     MQTT heartbeat period (default 10s)\n"
		"      --slow D          delay of the slow fault (default 2s)\n"
		"  -q, --quiet           no step lines, warnings only\n"
		"  -h, --help            this text\n"
		"      --version         version\n"
		"Control commands: set DEV POINT VALUE | ramp DEV POINT TO SECONDS |\n"
		"  fail DEV timeout|exception|busy|garbage|crc|slow|disconnect|silent [DELAY] |\n"
		"  recover DEV | stats [DEV] | get DEV POINT | list | quit\n"
		"See docs/simulator.md.\n");
}

static int parse_duration_opt(const char *name, const char *text, int64_t *ms)
{
	if (duration_parse(text, ms) < 0) {
		fprintf(stderr, "gridgw-sim: --%s: bad duration \"%s\" (e.g. 500ms, 30s, 10m)\n", name, text);
		return -1;
	}
	return 0;
}

/* Returns 0 to run, 1 to exit 0 (help/version), -1 to exit 2. */
static int parse_args(int argc, char **argv, struct sim_opts *o)
{
	enum { OPT_STDIN = 256, OPT_SEED, OPT_HEARTBEAT, OPT_SLOW, OPT_VERSION };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "scenario", required_argument, NULL, 's' },
		{ "control", required_argument, NULL, 'C' },
		{ "stdin", no_argument, NULL, OPT_STDIN },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "duration", required_argument, NULL, 'd' },
		{ "heartbeat", required_argument, NULL, OPT_HEARTBEAT },
		{ "slow", required_argument, NULL, OPT_SLOW },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "c:s:C:d:qh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': o->config = optarg; break;
		case 's': o->scenario = optarg; break;
		case 'C': o->control = optarg; break;
		case OPT_STDIN: o->use_stdin = true; break;
		case 'q': o->quiet = true; break;
		case OPT_SEED: {
			char *end;
			errno = 0;
			unsigned long v = strtoul(optarg, &end, 10);
			if (end == optarg || *end || errno) {
				fprintf(stderr, "gridgw-sim: --seed: not a number: %s\n", optarg);
				return -1;
			}
			o->seed = (unsigned int)v;
			break;
		}
		case 'd':
			if (parse_duration_opt("duration", optarg, &o->duration_ms) < 0)
				return -1;
			break;
		case OPT_HEARTBEAT:
			if (parse_duration_opt("heartbeat", optarg, &o->heartbeat_ms) < 0)
				return -1;
			if (o->heartbeat_ms <= 0) {
				fprintf(stderr, "gridgw-sim: --heartbeat must be positive\n");
				return -1;
			}
			break;
		case OPT_SLOW:
			if (parse_duration_opt("slow", optarg, &o->slow_ms) < 0)
				return -1;
			break;
		case 'h': usage(stdout); return 1;
		case OPT_VERSION: printf("gridgw-sim %s\n", GRIDGW_VERSION); return 1;
		default: usage(stderr); return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "gridgw-sim: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return -1;
	}
	return 0;
}

static struct gw_config *load_config(const char *path)
{
	struct config_errors errs = { 0 };
	struct gw_config *cfg = NULL;
	if (config_load(path, &cfg, &errs) < 0) {
		for (int i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msgs[i]);
		fprintf(stderr, "gridgw-sim: %s: invalid configuration\n", path);
		config_errors_clear(&errs);
		return NULL;
	}
	config_errors_clear(&errs);
	return cfg;
}

struct sim_run {
	struct sim sim;
	struct sim_tcp *tcp;
	struct sim_rtu *rtu;
	struct sim_mqtt *mqtt;
	struct sim_control *ctl;
	struct sim_scenario *scenario;
};

static void run_stop(struct sim_run *r)
{
	atomic_store(&r->sim.stop, true);
	sim_control_stop(r->ctl);
	sim_tcp_stop(r->tcp);
	sim_rtu_stop(r->rtu);
	sim_mqtt_stop(r->mqtt);
	sim_scenario_free(r->scenario);
}

/* The clock: returns when a signal, quit, the scenario or --duration ends
 * the run. */
static void run_loop(struct sim_run *r, const struct sim_opts *o, const sigset_t *sigs)
{
	struct sim *s = &r->sim;
	while (!atomic_load(&s->stop)) {
		struct timespec ts = { 0, TICK_MS * 1000000L };
		siginfo_t si;
		int sig = sigtimedwait(sigs, &si, &ts);
		if (sig == SIGINT || sig == SIGTERM) {
			log_info("sim", "signal %d: stopping", sig);
			break;
		}
		int64_t now = time_mono_ms();
		sim_scenario_tick(s, r->scenario, now);
		pthread_mutex_lock(&s->mu);
		sim_tick_ramps_locked(s, now);
		pthread_mutex_unlock(&s->mu);
		sim_mqtt_tick(r->mqtt, now);
		if (o->duration_ms > 0 && now - s->start_ms >= o->duration_ms) {
			log_info("sim", "duration reached: stopping");
			break;
		}
	}
	/* A last tick so a "set" right before "quit" still gets published. */
	sim_mqtt_tick(r->mqtt, time_mono_ms());
}

static int run(const struct sim_opts *o)
{
	struct gw_config *cfg = load_config(o->config);
	if (!cfg)
		return 2;
	struct sim_run r = { 0 };
	if (sim_init(&r.sim, cfg) < 0) {
		sim_free(&r.sim);
		config_free(cfg);
		return 1;
	}
	struct sim *s = &r.sim;
	s->quiet = o->quiet;
	if (o->slow_ms > 0)
		s->default_slow_ms = o->slow_ms;
	for (int i = 0; i < s->n_devs; i++)
		s->devs[i].slow_ms = s->default_slow_ms;
	if (o->scenario && !(r.scenario = sim_scenario_load(s, o->scenario))) {
		sim_free(s);
		config_free(cfg);
		return 2;
	}
	sim_scenario_initial(s, r.scenario);

	/* Block the stop signals before any thread exists so every thread
	 * inherits the mask and only sigtimedwait() below sees them. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN); /* Paho #1346; our sockets use MSG_NOSIGNAL */

	unsigned int seed = o->seed;
	int rc = 0;
	if (sim_tcp_start(s, seed, &r.tcp) < 0 || sim_rtu_start(s, seed + 1, &r.rtu) < 0 ||
	    sim_mqtt_start(s, o->heartbeat_ms, seed + 2, &r.mqtt) < 0 ||
	    ((o->control || o->use_stdin) && sim_control_start(s, o->control, o->use_stdin, &r.ctl) < 0)) {
		rc = 1;
	} else {
		s->start_ms = time_mono_ms();
		int n_tcp = 0, n_rtu = 0, n_mqtt = 0;
		for (int i = 0; i < s->n_devs; i++) {
			const struct device_config *d = s->devs[i].cfg;
			if (d->source >= 0)
				n_mqtt++;
			else if (d->bus >= 0 && cfg->buses[d->bus].type == BUS_TCP)
				n_tcp++;
			else if (d->bus >= 0)
				n_rtu++;
		}
		sim_print(s, "ready devices=%d tcp=%d rtu=%d mqtt=%d", s->n_devs, n_tcp, n_rtu, n_mqtt);
		if (sim_control_run(r.ctl) < 0)
			rc = 1;
		else
			run_loop(&r, o, &sigs);
	}
	run_stop(&r);
	sim_free(s);
	config_free(cfg);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "ctl") == 0) {
		if (argc < 4) {
			fprintf(stderr, "usage: gridgw-sim ctl SOCKET COMMAND...\n");
			return 2;
		}
		return sim_control_client(argv[2], argc - 3, argv + 3);
	}
	struct sim_opts o = { 0 };
	o.config = getenv("GRIDGW_CONF") ? getenv("GRIDGW_CONF") : "/etc/gridgw/gridgw.conf";
	o.seed = (unsigned int)time(NULL) ^ (unsigned int)getpid();
	o.heartbeat_ms = 10000;
	int pr = parse_args(argc, argv, &o);
	if (pr != 0)
		return pr > 0 ? 0 : 2;
	/* Paho 1.3.12 honours proxies even for loopback (PITFALLS). */
	unsetenv("http_proxy");
	unsetenv("https_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("HTTPS_PROXY");
	if (o.quiet)
		log_set_level(LOG_LVL_WARN);
	/* stdout carries "pty ..." and step lines that tests wait for. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	return run(&o);
}
