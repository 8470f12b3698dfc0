/* cli — helpers shared by the sub-commands. */
#include "gateway/cli.h"

#include <stdlib.h>

const char *cli_config_path(const char *from_option)
{
	if (from_option && *from_option)
		return from_option;
	const char *env = getenv("GRIDGW_CONF");
	return env && *env ? env : GRIDGW_DEFAULT_CONF;
}
