/* cli — the gridgw sub-commands. Each takes (argc, argv) with argv[0] the
 * sub-command name, parses its own options (getopt_long, with --help), and
 * returns the process exit status (0 ok, 1 failure, 2 usage). */
#ifndef GRIDGW_CLI_H
#define GRIDGW_CLI_H

#include <stdio.h>

#ifndef GRIDGW_DEFAULT_CONF /* the Makefile sets it from SYSCONFDIR */
#define GRIDGW_DEFAULT_CONF "/etc/gridgw/gridgw.conf"
#endif

/* The config path: -c/--config if given (pass what getopt found, or NULL),
 * else $GRIDGW_CONF, else GRIDGW_DEFAULT_CONF. */
const char *cli_config_path(const char *from_option);

/* Option parsing of the sub-commands whose only options are -c/--config
 * FILE and --help. Returns -1 to go on (*conf set or NULL, optind at the
 * first operand), else the exit status: 0 after --help (usage to stdout),
 * 2 after a bad option (usage to stderr). */
int cli_parse_config_only(int argc, char **argv, const char **conf, void (*usage)(FILE *to));

int cmd_run(int argc, char **argv);        /* gateway/core/loop.c */
int cmd_check(int argc, char **argv);      /* gateway/cli/cmd_check.c */
int cmd_status(int argc, char **argv);     /* gateway/cli/cmd_local.c */
int cmd_incidents(int argc, char **argv);  /* gateway/cli/cmd_local.c */
int cmd_ack(int argc, char **argv);        /* gateway/cli/cmd_local.c */
int cmd_close(int argc, char **argv);      /* gateway/cli/cmd_local.c */
int cmd_shelve(int argc, char **argv);     /* gateway/cli/cmd_local.c */
int cmd_unshelve(int argc, char **argv);   /* gateway/cli/cmd_local.c */
int cmd_notify(int argc, char **argv);
int cmd_scan(int argc, char **argv);       /* gateway/cli/commission.c */
int cmd_read(int argc, char **argv);       /* gateway/cli/commission.c */
int cmd_passwd(int argc, char **argv);     /* gateway/cli/cmd_passwd.c */

#endif
