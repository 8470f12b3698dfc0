#!/bin/bash
# The local web console in a real browser: mosquitto, gridgw-sim (Modbus TCP
# + MQTT), `gridgw run` with a console and three users (viewer, operator,
# installer), a platform subscriber on the incident topic, and Debian's
# headless chromium driven by tests/browser/console_test.py (Selenium). The
# Python script prints PASS/FAIL/INFO lines, turned into TAP here.
# Screenshots of every page land in $BUILD/screenshots/ for review.
# Chromium missing or not starting is a failure: this test is required.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/notify_common.sh"

PY=/usr/bin/python3
for need in /usr/bin/chromium /usr/bin/chromedriver; do
	[ -x "$need" ] || { tap_fail "$need is installed (make deps)"; tap_done; exit 1; }
done
"$PY" -c 'import selenium' 2>/dev/null || { tap_fail "python3-selenium is installed (make deps)"; tap_done; exit 1; }

start_broker || { tap_fail "broker"; tap_done; exit 1; }
start_robot_fake robot --wecom-key WKEY || { tap_fail "robot fake"; tap_done; exit 1; }
MB=$(free_port)
WEB=$(free_port)
GW=console-gw
P=grid/v1/$GW

# crypt(3) SHA-512 hashes, as `gridgw passwd` writes them.
hash() { openssl passwd -6 -salt "$(openssl rand -hex 8)" "$1"; }
PW_OP=op-$RANDOM$RANDOM PW_VIEW=view-$RANDOM$RANDOM PW_INST=inst-$RANDOM$RANDOM

cat >"$TMP/gw.conf" <<CONF
gateway = { id = "$GW"; site = { street = "Duling"; community = "Shangquan"; grid = "G03"; };
  state_dir = "$TMP/state"; profiles_dir = "$GRIDGW_TOP/config/profiles"; };
uplink = { url = "tcp://127.0.0.1:$BROKER_PORT"; topic_prefix = "grid/v1"; keepalive = "5s";
  telemetry_interval = "0"; reconnect_min = "1s"; reconnect_max = "2s"; };
store = { history_interval = "1s"; };    # charts get a sample a second
console = {
  listen = "127.0.0.1:$WEB";
  users = (
    { name = "zhang.op"; role = "operator"; password_hash = "$(hash "$PW_OP")"; },
    { name = "li.view"; role = "viewer"; password_hash = "$(hash "$PW_VIEW")"; },
    { name = "wang.inst"; role = "installer"; password_hash = "$(hash "$PW_INST")"; }
  );
};
buses = ( { name = "lan"; type = "tcp"; host = "127.0.0.1"; port = $MB; timeout = "300ms"; } );
mqtt_sources = ( { name = "nb"; url = "tcp://127.0.0.1:$BROKER_PORT"; topic = "sensors/+/up"; device_from = "topic:2"; } );
devices = (
  { id = "smoke-a"; profile = "smoke_detector"; bus = "lan"; unit = 1; poll = "200ms";
    location = { building = "5"; entrance = "2"; floor = 7; room = "701"; }; },
  { id = "smoke-b"; profile = "smoke_detector"; bus = "lan"; unit = 2; poll = "500ms";
    location = { building = "5"; entrance = "2"; floor = 8; room = "801"; }; },
  { id = "smoke-x"; profile = "smoke_detector"; bus = "lan"; unit = 3; poll = "500ms";
    location = { building = "5"; entrance = "1"; floor = 3; room = "<script>alert(1)</script>"; }; },
  { id = "lift-6-A"; profile = "elevator_ebike"; bus = "lan"; unit = 4; poll = "500ms";
    location = { building = "6"; entrance = "1"; place = "Elevator A"; }; },
  { id = "mc-1"; profile = "manhole_cover_mqtt"; source = "nb"; offline_after = "1h";
    location = { place = "North gate"; }; }
);
notify = {                               # one channel, for the installer's Send test
  channels = ( { name = "wy-wecom"; type = "wecom"; url = "http://127.0.0.1:$ROBOT_PORT/cgi-bin/webhook/send?key=WKEY"; } );
  routes = ( { match = { severity = [4]; }; to = ["wy-wecom"]; } );
};
rules = (
  { id = "smoke"; profile = "smoke_detector"; when = "alarm"; type = "fire.smoke"; severity = 1;
    message = "Smoke at {building}-{entrance}-{room}"; },
  { id = "tilt"; profile = "manhole_cover_mqtt"; when = "tilt > 10"; type = "manhole.tilt"; severity = 2;
    message = "Tilt {tilt} at {place}"; }
);
CONF

record_topic incidents "$P/incident"
spawn sim "$GRIDGW_SIM" -c "$TMP/gw.conf" --control "$TMP/sim.sock" --heartbeat 1s
wait_port "$MB" 10 || tap_fail "simulator listens"
spawn gw "$GRIDGW" run -c "$TMP/gw.conf"
if ! wait_port "$WEB" 20; then
	tap_fail "console listens on 127.0.0.1:$WEB"
	sed 's/^/# gw: /' "$TMP/gw.log" | tail -20
	tap_done; exit 1
fi
check "gridgw connected to the platform broker" wait_for "grep -q 'uplink: connected' $TMP/gw.log" 15
# A tilted manhole cover gives the Alarms page a second, older incident.
"$GRIDGW_SIM" ctl "$TMP/sim.sock" set mc-1 tilt 25 >/dev/null
check "a manhole.tilt incident is raised before the browser starts" \
	wait_for "grep -q '\"event\":\"raised\".*\"type\":\"manhole.tilt\"' $TMP/incidents.log" 15

shots=$GRIDGW_TOP/$BUILD/screenshots
mkdir -p "$shots"
rm -f "$shots/failure.png" # written only when this run fails
export CONSOLE_URL="http://127.0.0.1:$WEB"
export SIM_CTL="$GRIDGW_SIM ctl $TMP/sim.sock"
export INCIDENT_LOG="$TMP/incidents.log"
export MQTT_PORT=$BROKER_PORT CMD_TOPIC=$P/cmd
export SHOT_DIR=$shots
export USERS="zhang.op:$PW_OP:operator li.view:$PW_VIEW:viewer wang.inst:$PW_INST:installer"
export ALARM_DEVICE=smoke-a XSS_DEVICE=smoke-x
export HOME=$TMP # chromium writes its crash and cache dirs under $HOME

while IFS= read -r line; do
	case $line in
	"PASS "*) tap_ok "${line#PASS }" ;;
	"FAIL "*) tap_fail "${line#FAIL }" ;;
	"EXIT 0") ;;
	"EXIT "*) tap_fail "the browser test script ran to its end (exit status ${line#EXIT })" ;;
	*) echo "# ${line#INFO }" ;;
	esac
done < <(timeout -k 5 240 "$PY" "$GRIDGW_TOP/tests/browser/console_test.py" 2>"$TMP/browser.err"; echo "EXIT $?")
grep -q . "$TMP/browser.err" && sed 's/^/# browser: /' "$TMP/browser.err" | tail -15

check "gridgw still running after the browser session" kill -0 "$PID_gw"
tap_done
