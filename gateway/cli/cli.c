/* cli — helpers shared by the sub-commands. */
#include "gateway/cli/cli.h"

#include <getopt.h>
#include <stdlib.h>

const char *cli_config_path(const char *from_option)
{
	if (from_option && *from_option)
		return from_option;
	const char *env = getenv("GRIDGW_CONF");
	return env && *env ? env : GRIDGW_DEFAULT_CONF;
}

int cli_parse_config_only(int argc, char **argv, const char **conf, void (*usage)(FILE *to))
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	*conf = NULL;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			*conf = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	return -1;
}
