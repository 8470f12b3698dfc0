/* gridgw-sim — placeholder entry until the simulator lands. */
#include <stdio.h>
int main(void) { fprintf(stderr, "gridgw-sim: not built yet\n"); return 2; }
