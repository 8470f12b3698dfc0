#!/bin/bash
# The console's cost at the 500 x 30 workload: tests/bench/daemon.sh twice,
# without the console and with a browser's worth of console traffic (one
# live stream, the incidents list and status every 5 s), and the difference
# in the daemon's CPU. Target: the console adds < 0.5 % of one core.
#
# Two figures: the whole process (with - without), and what the console can
# cost: its own threads (MHD-*) plus the rise of the core thread that
# answers it. The bus threads never see the console, but on a shared 2-core
# machine their share swings by several % between two runs, which swamps
# the whole-process difference; so ✓/✗ is judged on the second figure, and
# the first is printed beside it.
#   BUILD=build tests/bench/console.sh   [DAEMON_BENCH_SECONDS=30]
set -u
cd "$(dirname "$0")/../.."
fig() { # file pattern: the "% of one core" figure of a line
	grep -m1 -- "$2" "$1" | grep -o '[0-9.]* % of one core' | awk '{print $1}'
}
off=$(mktemp) on=$(mktemp)
trap 'rm -f "$off" "$on"' EXIT
tests/bench/daemon.sh | tee /dev/stderr >"$off"
DAEMON_BENCH_CONSOLE=1 tests/bench/daemon.sh | tee /dev/stderr >"$on"
p_off=$(fig "$off" 'gridgw CPU') p_on=$(fig "$on" 'gridgw CPU')
c_off=$(fig "$off" 'core+paho') c_on=$(fig "$on" 'core+paho')
mhd=$(grep -- 'MHD-' "$on" | grep -o '[0-9.]* % of one core' | awk '{s += $1} END {printf "%.2f", s}')
if [ -z "$p_off" ] || [ -z "$p_on" ] || [ -z "$c_off" ] || [ -z "$c_on" ]; then
	echo "  ✗ console cost not measured (a daemon run gave no CPU figures)"
	exit 1
fi
awk -v a="$p_off" -v b="$p_on" -v co="$c_off" -v cn="$c_on" -v m="$mhd" 'BEGIN {
	cost = m + (cn - co)
	printf "  %s console costs %.2f %% of one core: its HTTP threads %.2f %% + core %.2f -> %.2f %%   (target < 0.5 %%)\n",
		cost < 0.5 ? "✓" : "✗", cost, m, co, cn
	printf "    whole process %.2f -> %.2f %% (%+.2f; bus threads included, noisy on a shared machine)\n", a, b, b - a
}'
