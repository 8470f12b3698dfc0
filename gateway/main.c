/* main — the gridgw command line: sub-command dispatch only. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--version") == 0) {
		printf("gridgw %s\n", GRIDGW_VERSION);
		return 0;
	}
	fprintf(stderr, "usage: gridgw COMMAND [options]\n");
	return 2;
}
