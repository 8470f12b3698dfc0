#!/bin/bash
# Runs each libFuzzer binary given as an argument for $FUZZ_SECONDS (default
# 60) with its seed corpus tests/fuzz/corpus/<name without fuzz_>/. New
# inputs go to a scratch copy (the seeds in git stay as they are); a crash
# leaves its input in build-fuzz/artifacts/. Exits non-zero if any target
# crashed, leaked, timed out or failed to start.
#   FUZZ_SECONDS=300 tests/fuzz/run.sh build-fuzz/fuzz_config build-fuzz/fuzz_duration
set -u
cd "$(dirname "$0")/../.."
secs=${FUZZ_SECONDS:-60}
artifacts=build-fuzz/artifacts
mkdir -p "$artifacts"
work=$(mktemp -d /tmp/gridgw-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
failed=0
[ $# -gt 0 ] || { echo "usage: $0 FUZZ_BINARY..." >&2; exit 2; }
for bin in "$@"; do
	base=$(basename "$bin")
	name=${base#fuzz_}
	seeds=tests/fuzz/corpus/$name
	mkdir -p "$work/$name"
	args=("$work/$name")
	[ -d "$seeds" ] && args+=("$seeds")
	echo "== $base: ${secs}s, seeds ${seeds}"
	start=$SECONDS
	"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
		-artifact_prefix="$artifacts/$name-" -print_final_stats=1 "${args[@]}" \
		>"$work/$name.log" 2>&1
	rc=$?
	runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$work/$name.log" | grep -oE '[0-9]+$')
	if [ "$rc" = 0 ]; then
		echo "ok   $base: ${runs:-?} runs in $((SECONDS - start))s, no crash"
	else
		failed=1
		echo "FAIL $base (exit $rc): last lines of its log:"
		tail -n 40 "$work/$name.log" | sed 's/^/    /'
		ls -1 "$artifacts"/"$name"-* 2>/dev/null | sed 's/^/    artifact: /'
	fi
done
exit "$failed"
