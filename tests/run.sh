#!/bin/bash
# Runs every unit test binary and integration script, counts TAP lines
# ("ok …" / "not ok …") across all of them, and ends with one line
# "N passed, N failed". A suite that dies without reporting a failure (crash,
# sanitizer abort, timeout) counts as one failure more.
#   TESTS=pattern tests/run.sh   runs only suites whose name matches
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD
export GRIDGW_TOP=$PWD
export CMOCKA_MESSAGE_OUTPUT=TAP
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY
logdir=$BUILD/test-logs
mkdir -p "$logdir"
pass=0; fail=0
pattern=${TESTS:-}

run_suite() { # name timeout cmd...
	local name=$1 limit=$2; shift 2
	[ -n "$pattern" ] && [[ "$name" != *$pattern* ]] && return
	local log=$logdir/${name////_}.log start=$SECONDS
	timeout -k 10 "$limit" "$@" >"$log" 2>&1
	local rc=$?
	local p f
	p=$(grep -cE '^ok ' "$log"); f=$(grep -cE '^not ok ' "$log")
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		f=1
		echo "not ok - $name exited with status $rc" >>"$log"
	fi
	pass=$((pass + p)); fail=$((fail + f))
	printf '%-40s %4d passed %4d failed  (%ds)\n' "$name" "$p" "$f" $((SECONDS - start))
	if [ "$f" != 0 ]; then
		grep -E '^not ok ' "$log" | sed 's/^/    /'
		echo "    --- last lines of $log:"; tail -n 30 "$log" | sed 's/^/    | /'
	fi
}

for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	run_suite "unit/$(basename "$t")" 600 "$t"
done
for t in tests/integration/test_*.sh; do
	[ -f "$t" ] || continue
	run_suite "integration/$(basename "$t" .sh)" 600 bash "$t"
done
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
