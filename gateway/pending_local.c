/* PENDING: placeholder so gridgw links while the real command is being written; deleted when it lands. */
#include <stdio.h>
#include "gateway/cli.h"
int cmd_run(int argc, char **argv) { (void)argc; fprintf(stderr, "gridgw %s: not available in this build yet\n", argv[0]); return 2; }
int cmd_status(int argc, char **argv) { (void)argc; fprintf(stderr, "gridgw %s: not available in this build yet\n", argv[0]); return 2; }
int cmd_incidents(int argc, char **argv) { (void)argc; fprintf(stderr, "gridgw %s: not available in this build yet\n", argv[0]); return 2; }
int cmd_ack(int argc, char **argv) { (void)argc; fprintf(stderr, "gridgw %s: not available in this build yet\n", argv[0]); return 2; }
int cmd_shelve(int argc, char **argv) { (void)argc; fprintf(stderr, "gridgw %s: not available in this build yet\n", argv[0]); return 2; }
int cmd_unshelve(int argc, char **argv) { (void)argc; fprintf(stderr, "gridgw %s: not available in this build yet\n", argv[0]); return 2; }
