/* PENDING: placeholder so gridgw links while the real command is being written; deleted when it lands. */
#include <stdio.h>
#include "gateway/cli.h"
int cmd_scan(int argc, char **argv) { (void)argc; fprintf(stderr, "gridgw %s: not available in this build yet\n", argv[0]); return 2; }
int cmd_read(int argc, char **argv) { (void)argc; fprintf(stderr, "gridgw %s: not available in this build yet\n", argv[0]); return 2; }
