#!/bin/bash
# The console's cost at the 500 x 30 workload: tests/bench/daemon.sh twice,
# without the console and with a browser's worth of console traffic (one
# live stream, the incidents list and status every 5 s), and the difference
# in the daemon's CPU. Target: the console adds < 0.5 % of one core; the
# last line says ✓ (met) or ✗ (missed) with the measured figures.
#   BUILD=build tests/bench/console.sh   [DAEMON_BENCH_SECONDS=30]
set -u
cd "$(dirname "$0")/../.."
cpu_of() { grep -o 'gridgw CPU [0-9.]*' | awk '{print $3}'; }
off=$(tests/bench/daemon.sh | tee /dev/stderr | cpu_of)
on=$(DAEMON_BENCH_CONSOLE=1 tests/bench/daemon.sh | tee /dev/stderr | cpu_of)
if [ -z "$off" ] || [ -z "$on" ]; then
	echo "  ✗ console cost not measured (a daemon run gave no CPU figure: off='$off' on='$on')"
	exit 1
fi
awk -v a="$off" -v b="$on" 'BEGIN {
	d = b - a
	printf "  %s console adds %.2f %% of one core (%.2f -> %.2f %%)   (target < 0.5 %%)\n", d < 0.5 ? "✓" : "✗", d, a, b
}'
