#!/bin/bash
# The console's cost at the 500 x 30 workload: tests/bench/daemon.sh twice,
# without the console and with a browser's worth of console traffic (one
# live stream, the incidents list and status every 5 s), and the difference
# in the daemon's CPU. Target: the console adds < 0.5 % of one core.
#   BUILD=build tests/bench/console.sh   [DAEMON_BENCH_SECONDS=30]
set -u
cd "$(dirname "$0")/../.."
cpu_of() { grep -o 'gridgw CPU [0-9.]*' | awk '{print $3}'; }
off=$(tests/bench/daemon.sh | tee /dev/stderr | cpu_of)
on=$(DAEMON_BENCH_CONSOLE=1 tests/bench/daemon.sh | tee /dev/stderr | cpu_of)
awk -v a="$off" -v b="$on" 'BEGIN { printf "  console adds %.2f %% of one core (%.2f -> %.2f)   (target < 0.5 %%)\n", b - a, a, b }'
