#!/bin/bash
# make demo — a simulated compound, a loopback broker, alarms live.
#
# Starts mosquitto on a free loopback port (the "grid platform" broker and
# the NB-IoT bridge broker at once), gridgw-sim with config/demo.conf and
# config/demo-scenario.conf, gridgw itself, and a platform-side subscriber;
# shows each alarm becoming an incident and each incident event arriving at
# the platform; ends with `gridgw status` and `gridgw incidents`. Ctrl-C
# stops everything it started. Works without a TTY (CI): it ends by itself.
#   DEMO_SECONDS=N   how long the scenario runs before the summary (default 50)
#   DEMO_DIR=DIR     where it keeps its files (default /tmp/gridgw-demo)
#   DEMO_CONSOLE=HOST:PORT  where the web console listens (default
#                    127.0.0.1:8080, or a free port near it); log in as
#                    demo / gridgw-demo (operator) or screen / gridgw-demo (viewer)
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
GRIDGW=$top/$BUILD/gridgw
SIM=$top/$BUILD/gridgw-sim
run=${DEMO_DIR:-/tmp/gridgw-demo}
seconds=${DEMO_SECONDS:-50}
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY

if [ -t 1 ]; then B=$'\e[1m'; R=$'\e[31m'; G=$'\e[32m'; Y=$'\e[33m'; C=$'\e[36m'; N=$'\e[0m'
else B=; R=; G=; Y=; C=; N=; fi

# Background pipelines are started with job control on, so each gets its
# own process group and stopping one kills all of its processes (gridgw, not
# just its log filter). Job control is off again for the rest, so Ctrl-C
# reaches this script (and its trap) and not only a foreground `sleep`.
groups=""
stop_all() {
	trap - EXIT INT TERM
	local g
	[ -n "$groups" ] || groups=$(jobs -p) # stopped during start-up
	groups=$(echo $groups | tr ' ' '\n' | tac) # gridgw first, the broker last
	for g in $groups; do kill -TERM -- "-$g" 2>/dev/null; done
	for ((i = 0; i < 30; i++)); do
		[ -z "$(jobs -pr)" ] && break
		sleep 0.1
	done 2>/dev/null
	for g in $groups; do kill -KILL -- "-$g" 2>/dev/null; done
	wait 2>/dev/null
}
trap 'stop_all; echo; echo "demo stopped"; exit 130' INT TERM
trap stop_all EXIT

port_free() { ! (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; }
pick_port() { # preferred
	local p=$1 i
	for ((i = 0; i < 50; i++)); do port_free "$p" && { echo "$p"; return; }; p=$((20000 + RANDOM % 12000)); done
	echo "demo: no free port" >&2; exit 1
}
wait_port() { local i; for ((i = 0; i < 100; i++)); do port_free "$1" || return 0; sleep 0.1; done; return 1; }

for f in "$GRIDGW" "$SIM"; do [ -x "$f" ] || { echo "demo: $f missing; run make" >&2; exit 1; }; done
rm -rf "$run"; mkdir -p "$run/state"
broker=$(pick_port 18830)
modbus=$(pick_port 15020)
sed -e "s|tcp://127.0.0.1:18830|tcp://127.0.0.1:$broker|g" -e "s|port = 15020|port = $modbus|" \
    -e "s|/tmp/gridgw-demo|$run|g" -e "s|profiles_dir = \"profiles\"|profiles_dir = \"$top/config/profiles\"|" \
    "$top/config/demo.conf" >"$run/demo.conf"
conf=$run/demo.conf
# The property office's WeCom group, as a loopback fake of the robot API
# (tests/fakes/robot_fake.py) that prints each message as the phones show it.
robot=$(pick_port 18900)
cat >>"$conf" <<NOTIFY
notify = {
  language = "zh-CN";
  channels = ( { name = "wy-duty"; type = "wecom"; url = "http://127.0.0.1:$robot/cgi-bin/webhook/send?key=demo"; } );
  routes = ( { match = { severity = [1, 2]; }; to = ["wy-duty"]; events = ["raised", "cleared"]; } );
};
NOTIFY

# The local web console, with two demo users (crypt(3) SHA-512 hashes as
# `gridgw passwd` would print them). Loopback only unless DEMO_CONSOLE says.
if [ -n "${DEMO_CONSOLE:-}" ]; then
	console_host=${DEMO_CONSOLE%:*} console_port=${DEMO_CONSOLE##*:}
else
	console_host=127.0.0.1 console_port=$(pick_port 8080)
fi
demo_pw=gridgw-demo
demo_hash=$(openssl passwd -6 -salt "$(openssl rand -hex 8)" "$demo_pw")
cat >>"$conf" <<CONSOLE

console = {
  listen = "$console_host:$console_port";
  users = (
    { name = "demo"; role = "operator"; password_hash = "$demo_hash"; },
    { name = "screen"; role = "viewer"; password_hash = "$demo_hash"; }
  );
};
CONSOLE

set -m
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\nlog_type error\n' "$broker" >"$run/mosquitto.conf"
mosquitto -c "$run/mosquitto.conf" >"$run/mosquitto.log" 2>&1 &
wait_port "$broker" || { echo "demo: mosquitto did not start"; cat "$run/mosquitto.log"; exit 1; }

echo "${B}gridgw demo${N}: compound Shangquan — 40 smoke detectors (RS-485 RTU on a pty + Modbus TCP),"
echo "8 manhole covers (MQTT), 4 elevators with e-bike detectors; broker 127.0.0.1:$broker"
echo "files in $run; Ctrl-C stops everything"
echo "${B}web console${N}: http://$console_host:$console_port/  login ${B}demo${N} / ${B}$demo_pw${N} (operator) or ${B}screen${N} / ${B}$demo_pw${N} (viewer)"
echo

# The platform: every incident event and the gateway's status, as it arrives.
# (A bash loop, not awk: Debian's mawk buffers its input and would show
# events late.)
json_get() { # line key -> value of "key": in a one-line JSON object
	local re="\"$2\":(\"([^\"]*)\"|([-0-9.]+|true|false))"
	[[ $1 =~ $re ]] && printf '%s' "${BASH_REMATCH[2]}${BASH_REMATCH[3]}"
}
show_platform() {
	local line
	while IFS= read -r line; do
		case $line in
		*/status\ *) printf '%s[platform]%s status %s: devices %s online, %s open incidents\n' "$G" "$N" \
			"$(json_get "$line" state)" "$(json_get "$line" online)" "$(json_get "$line" open_incidents)" ;;
		*/incident\ *) printf '%s[platform]%s seq %-4s %s%-9s%s %-16s sev %s %-16s %s\n' "$G" "$N" \
			"$(json_get "$line" seq)" "$B" "$(json_get "$line" event)" "$N" "$(json_get "$line" type)" \
			"$(json_get "$line" severity)" "$(json_get "$line" device)" "$(json_get "$line" message)" ;;
		esac
	done
}
/usr/bin/python3 -u "$top/tests/fakes/robot_fake.py" --port "$robot" --wecom-key demo --print --record "$run/robot.rec" 2>"$run/robot.log" |
	sed -u "s/^/${R}[物业群]${N}   /" &
wait_port "$robot" || echo "demo: the WeCom robot fake did not start"
stdbuf -oL mosquitto_sub -h 127.0.0.1 -p "$broker" -q 1 -v -t 'grid/v1/+/incident' -t 'grid/v1/+/status' 2>&1 |
	stdbuf -oL tee "$run/platform.log" | show_platform &

"$SIM" -c "$conf" -s "$top/config/demo-scenario.conf" -C "$run/sim.sock" 2>&1 |
	sed -u "s/^/${Y}[sim]${N}      /" &
for ((i = 0; i < 100; i++)); do
	[ -e "$run/ttyRS485-b1" ] && ! port_free "$modbus" && break
	sleep 0.1
done
[ -e "$run/ttyRS485-b1" ] || echo "demo: the simulator's RS-485 pty did not appear"

"$GRIDGW" run -c "$conf" 2>&1 | tee "$run/gridgw.log" |
	grep --line-buffered -E 'incident|action|offline|uplink|command|ERROR|WARN|running' |
	sed -u "s/^/${C}[gridgw]${N}   /" &

groups=$(jobs -p)
set +m
if wait_port "$console_port"; then
	echo "${B}web console ready${N}: http://$console_host:$console_port/ (demo / $demo_pw)"
else
	echo "demo: the web console did not start (see $run/gridgw.log)"
fi

door_reported=0
for ((t = 0; t < seconds; t++)); do
	sleep 1
	if [ $door_reported = 0 ] && [ $t -ge 35 ]; then
		door=$("$SIM" ctl "$run/sim.sock" get lift-1-A door_hold 2>/dev/null)
		echo "${Y}[sim]${N}      lift-1-A door_hold coil as the detector sees it: ${B}${door:-?}${N}"
		siren=$("$SIM" ctl "$run/sim.sock" get siren-1 siren 2>/dev/null)
		echo "${Y}[sim]${N}      siren-1 sounder relay (the smoke rule's on_raise): ${B}${siren:-?}${N}"
		door_reported=1
	fi
done

echo
echo "${B}== gridgw status ==${N}"
"$GRIDGW" status -c "$conf"
echo
echo "${B}== gridgw incidents --all ==${N}"
"$GRIDGW" incidents -c "$conf" --all --limit 50
echo
events=$(grep -c '/incident ' "$run/platform.log")
echo "${B}$events incident events reached the platform${N} (log: $run/platform.log)"
told=$(grep -c '"ok": true' "$run/robot.rec" 2>/dev/null)
echo "${B}${told:-0} messages reached the property office's WeCom group${N} (log: $run/robot.rec)"
