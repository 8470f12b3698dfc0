/* main — the gridgw command line: finds the sub-command and hands over. */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/cli/cli.h"

/* Process-wide set-up, before any thread exists: glibc gives every thread
 * that mallocs its own arena (64 MB reserved, a few pages touched and kept
 * each): the bus threads, Paho's and SQLite's allocations are few and
 * small, so two arenas are plenty and keep freed memory where the next
 * allocation finds it. (Paho's own set-up is done by common/mqtt_lib.c
 * when it loads a Paho build: gridgw links none.) */
static void process_init(void)
{
	mallopt(M_ARENA_MAX, 2);
}

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
};

static const struct command commands[] = {
	{ "run", cmd_run, "run the daemon in the foreground" },
	{ "check", cmd_check, "validate the configuration" },
	{ "status", cmd_status, "the running daemon's view" },
	{ "incidents", cmd_incidents, "incidents from the store, newest first" },
	{ "ack", cmd_ack, "acknowledge an incident locally" },
	{ "close", cmd_close, "close an incident locally (as the platform's incident.close)" },
	{ "shelve", cmd_shelve, "suppress devices' alarms for a while (detector testing)" },
	{ "unshelve", cmd_unshelve, "end a shelve" },
	{ "notify", cmd_notify, "notify test CHANNEL: send a test message now" },
	{ "scan", cmd_scan, "list Modbus unit ids answering on a bus" },
	{ "read", cmd_read, "read and decode every point of a device once" },
	{ "passwd", cmd_passwd, "print a password hash for a console user" },
};

static void usage(FILE *to)
{
	fprintf(to, "usage: gridgw COMMAND [options]   (gridgw COMMAND --help for its options)\n\ncommands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(to, "  %-10s %s\n", commands[i].name, commands[i].help);
	fprintf(to, "\nconfig: -c FILE, else $GRIDGW_CONF, else %s\n", GRIDGW_DEFAULT_CONF);
}

int main(int argc, char **argv)
{
	/* Paho and the control socket write to sockets whose peer may be gone. */
	signal(SIGPIPE, SIG_IGN);
	process_init();
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("gridgw %s\n", GRIDGW_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "gridgw: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
