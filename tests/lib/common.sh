# Shared helpers for integration tests (bash). Source it, then use:
#   tap_ok "description" / tap_fail "description" / check CMD... -- desc
#   port=$(free_port)            an unused loopback TCP port
#   start_broker [extra conf]    mosquitto on 127.0.0.1:$BROKER_PORT
#   wait_port PORT [secs]        until something accepts on 127.0.0.1:PORT
#   wait_for "grep -q x file" [secs]   poll a shell condition
#   spawn NAME cmd...            background process, killed at exit; log in $TMP/NAME.log
#   record_topic NAME TOPIC      a recorder of TOPIC in $TMP/NAME.log, subscribed on return
# Everything lives under $TMP (a fresh dir, removed at exit) and only
# loopback is used. Every wait is bounded.
set -u
GRIDGW_TOP=${GRIDGW_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=${BUILD:-build}
GRIDGW=$GRIDGW_TOP/$BUILD/gridgw
GRIDGW_SIM=$GRIDGW_TOP/$BUILD/gridgw-sim
TMP=$(mktemp -d /tmp/gridgw-test.XXXXXX)
TAP_N=0
TAP_FAILED=0
declare -a SPAWNED=()
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY

# Every descendant of a process, deepest first. A spawned wrapper (strace,
# setpriv inside a shell function, unshare) is not the daemon: killing only
# the wrapper left the daemon running after its test (strace detaches its
# tracee when it is killed), holding CPU and ports for the tests after it.
descendants() { # pid
	local c
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		descendants "$c"
		echo "$c"
	done
}

cleanup() {
	local pid f all=()
	for pid in "${SPAWNED[@]}"; do all+=($(descendants "$pid") "$pid"); done
	for pid in "${all[@]}"; do kill "$pid" 2>/dev/null; done
	sleep 0.2
	for pid in "${all[@]}"; do kill -9 "$pid" 2>/dev/null; done
	# Under ASan/UBSan a daemon's report lands in its log, not in a test's
	# assertion: any report in any log of this test is a failure.
	for f in "$TMP"/*.log "$TMP"/*/*.log; do
		[ -f "$f" ] || continue
		if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$f"; then
			TAP_FAILED=$((TAP_FAILED + 1))
			echo "not ok - sanitizer report in $(basename "$f")"
			grep -m1 -A25 -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$f" | sed 's/^/# /'
		fi
	done
	if [ "$TAP_FAILED" != 0 ] && [ -n "${KEEP_TMP:-}" ]; then
		echo "# kept $TMP"
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT

tap_ok()   { TAP_N=$((TAP_N + 1)); echo "ok $TAP_N - $*"; }
tap_fail() { TAP_N=$((TAP_N + 1)); TAP_FAILED=$((TAP_FAILED + 1)); echo "not ok $TAP_N - $*"; }
# check DESCRIPTION CMD...: ok when CMD succeeds
check() { # description cmd... ; returns the command's result
	local d=$1 rc=0; shift
	if "$@"; then tap_ok "$d"; else rc=1; tap_fail "$d"; fi
	[ -n "${TAP_TIMES:-}" ] && echo "# t=$SECONDS"
	return $rc
}

# A random loopback port nothing listens on, below the kernel's ephemeral
# range (ip_local_port_range, 32768-60999 on Debian): a port in that range
# can be the local end of any client connection on the box (a broker's
# subscriber, another test's daemon), which no connect probe sees and which
# makes a later bind fail with "address in use" (seen under make
# test-stress). Ports already handed out in this test are not handed out
# again ($(free_port) runs in a subshell: the list is a file).
free_port() {
	local p i lo=20000 hi=32768
	read -r hi _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || hi=32768
	[ "$hi" -gt "$((lo + 2000))" ] || { lo=10000; hi=32768; }
	for ((i = 0; i < 100; i++)); do
		p=$((lo + RANDOM % (hi - lo)))
		grep -qx "$p" "$TMP/.ports" 2>/dev/null && continue
		(exec 3<>/dev/tcp/127.0.0.1/"$p") 2>/dev/null && continue
		echo "$p" >>"$TMP/.ports"
		echo "$p"
		return 0
	done
	return 1
}

wait_port() { # port [secs]
	local port=$1 secs=${2:-10} i
	for ((i = 0; i < secs * 20; i++)); do
		(exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

wait_for() { # "shell condition" [secs]
	# secs*10 tries 0.1 s apart, and never past 3*secs of wall time: a slow
	# condition (a `gridgw status` answered by a stalled core takes 1 s) made
	# a 60 s wait last 750 s and the suite hit its 600 s limit.
	local cond=$1 secs=${2:-10} i end
	end=$((SECONDS + 3 * secs))
	for ((i = 0; i < secs * 10 && SECONDS <= end; i++)); do
		eval "$cond" && return 0
		sleep 0.1
	done
	return 1
}

spawn() { # name cmd...
	local name=$1; shift
	"$@" >"$TMP/$name.log" 2>&1 &
	SPAWNED+=($!)
	eval "PID_${name//[^a-zA-Z0-9_]/_}=$!"
}

start_broker() { # [extra config lines]
	local attempt
	# A free port can be taken between the check and the bind: retry.
	for attempt in 1 2 3 4 5; do
		BROKER_PORT=$(free_port)
		{
			echo "listener $BROKER_PORT 127.0.0.1"
			echo "allow_anonymous true"
			echo "persistence false"
			echo "log_dest stderr"
			echo "log_type error"
			echo "log_type warning"
			echo "log_type subscribe"   # wait_subscribed reads it
			[ $# -gt 0 ] && printf '%s\n' "$@"
		} >"$TMP/mosquitto.conf"
		spawn mosquitto mosquitto -c "$TMP/mosquitto.conf"
		wait_port "$BROKER_PORT" 10 && sleep 0.1 && kill -0 "$PID_mosquitto" 2>/dev/null && return 0
		kill "$PID_mosquitto" 2>/dev/null
		grep -q 'Address already in use' "$TMP/mosquitto.log" || break
	done
	echo "# mosquitto did not start"; sed 's/^/# /' "$TMP/mosquitto.log"
	return 1
}

# Waits until the broker has logged client CLIENT_ID's subscription to TOPIC
# (start_broker logs subscriptions): a subscriber started just before the
# publisher would otherwise miss what is published while it connects.
wait_subscribed() { # client-id topic [broker-log] [secs]
	local log=${3:-$TMP/mosquitto.log}
	wait_for "grep -qF ': $1 ' '$log' && grep -F ': $1 ' '$log' | grep -qF ' $2'" "${4:-10}"
}

# Records every message on the topic to $TMP/NAME.log as "topic payload"
# lines; returns once the broker has the subscription.
record_topic() { # name topic
	spawn "$1" mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -v -i "rec-$1-$$" -t "$2"
	wait_subscribed "rec-$1-$$" "$2"
}

# Prints N smoke detectors "s01".."sNN" on BUS (units 1..N), as the body of
# a libconfig devices list.
smoke_devices() { # N BUS POLL
	local i
	for i in $(seq 1 "$1"); do
		printf '  { id = "s%02d"; profile = "smoke_detector"; bus = "%s"; unit = %d; poll = "%s"; }%s\n' \
			"$i" "$2" "$i" "$3" "$([ "$i" = "$1" ] || echo ,)"
	done
}

tap_done() { echo "1..$TAP_N"; [ "$TAP_FAILED" = 0 ]; }
