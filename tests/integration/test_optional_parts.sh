#!/bin/bash
# The notifications and the console are for the people on site; alarms, the
# store and the uplink must not depend on them. The daemon runs in a mount
# namespace where libcurl.so.4 and libmicrohttpd.so.12 are empty files (as
# on a box where someone removed them): it starts, an alarm from the
# simulator (Modbus TCP) still reaches the platform (a real mosquitto),
# gateway.notify names the channel and libcurl, the console's failure is
# logged, and `gridgw status` says why the channel stands. The libraries are
# then put back (unmounted in the daemon's namespace) and a reload starts
# both without a restart: the alarm's notification, which waited in the
# store, reaches the webhook and gateway.notify clears. Then, with the
# libraries in place but the console's port taken by another program, the
# daemon runs without a console, and once the port is free a reload starts
# it (no restart).
. "$(dirname "$0")/../lib/common.sh"
. "$GRIDGW_TOP/tests/lib/notify_common.sh"

libpath() { ldconfig -p | awk -v n="$1" '$1 == n { print $NF; exit }'; }
CURL_SO=$(libpath libcurl.so.4)
MHD_SO=$(libpath libmicrohttpd.so.12)
if [ -z "$CURL_SO" ] || [ -z "$MHD_SO" ] || ! unshare -m true 2>/dev/null; then
	echo "ok 1 - # SKIP needs libcurl4, libmicrohttpd12 and mount namespaces (root)"
	echo "1..1"
	exit 0
fi

start_broker || { tap_fail "broker"; tap_done; exit 1; }
MB=$(free_port)
WEB=$(free_port)
P=grid/v1/op-gw
H=$(echo screen-pw | "$GRIDGW" passwd)
start_robot_fake hook || { tap_fail "webhook fake"; tap_done; exit 1; }
HOOK=$ROBOT_PORT
cat >"$TMP/gw.conf" <<CONF
gateway = { id = "op-gw"; state_dir = "$TMP/state"; profiles_dir = "$GRIDGW_TOP/config/profiles"; };
uplink = { url = "tcp://127.0.0.1:$BROKER_PORT"; topic_prefix = "grid/v1"; telemetry_interval = "0";
  reconnect_min = "1s"; reconnect_max = "2s"; };
buses = ( { name = "lan"; type = "tcp"; host = "127.0.0.1"; port = $MB; timeout = "300ms"; } );
devices = ( { id = "smoke-a"; profile = "smoke_detector"; bus = "lan"; unit = 1; poll = "200ms"; } );
rules = ( { id = "smoke"; profile = "smoke_detector"; when = "alarm"; type = "fire.smoke"; severity = 1; } );
notify = { channels = ( { name = "duty"; type = "webhook"; url = "http://127.0.0.1:$HOOK/hook/duty"; } );
  routes = ( { match = { severity = [1, 2]; }; to = ["duty"]; } ); };
console = { listen = "127.0.0.1:$WEB"; users = ( { name = "screen"; role = "viewer"; password_hash = "$H"; } ); };
CONF
check "gridgw check accepts the config" "$GRIDGW" check -c "$TMP/gw.conf"

record_topic incidents "$P/incident"
spawn sim "$GRIDGW_SIM" -c "$TMP/gw.conf" --control "$TMP/sim.sock"
wait_port "$MB" 10 || tap_fail "simulator up"
# Empty files over both libraries, for the daemon's eyes only.
spawn gw unshare -m sh -c 'mount --bind /dev/null "$1" && mount --bind /dev/null "$2" && shift 2 && exec "$@"' \
	sh "$(readlink -f "$CURL_SO")" "$(readlink -f "$MHD_SO")" "$GRIDGW" run -c "$TMP/gw.conf"
check "without libcurl and libmicrohttpd the daemon connects to the platform" \
	wait_for "grep -q 'uplink: connected' $TMP/gw.log" 15
check "it says notifications did not start, and why" \
	grep -q "ERROR notify: notifications not started: libcurl: cannot load libcurl.so.4" "$TMP/gw.log"
check "it says the console did not start, and why" \
	grep -q "ERROR core: console not started: .*libmicrohttpd.so.12" "$TMP/gw.log"
check "gateway.notify is raised naming the channel and libcurl" \
	wait_for "grep '\"event\":\"raised\"' $TMP/incidents.log | grep '\"type\":\"gateway.notify\"' | grep -q 'duty.*libcurl'" 10
"$GRIDGW_SIM" ctl "$TMP/sim.sock" set smoke-a alarm 1 >/dev/null
check "a smoke alarm still becomes an incident on the platform" \
	wait_for "grep '\"event\":\"raised\"' $TMP/incidents.log | grep -q '\"type\":\"fire.smoke\"'" 10
"$GRIDGW" status -c "$TMP/gw.conf" >"$TMP/status.txt" 2>&1
check "gridgw status shows the channel stopped, with the reason" \
	grep -q "notify    duty .*STOPPED, .*last error: libcurl: cannot load" "$TMP/status.txt"
check "the daemon is still running" kill -0 "$PID_gw"
check "nothing reached the webhook meanwhile" test "$(rec_count "$TMP/hook.rec" webhook)" = 0

# "apt install" inside the daemon's namespace: the empty files go away.
nsenter -t "$PID_gw" -m umount "$(readlink -f "$CURL_SO")" "$(readlink -f "$MHD_SO")" ||
	tap_fail "unmount in the daemon's namespace"
kill -HUP "$PID_gw"
check "once the libraries are there a reload starts the console" \
	wait_for "grep -q 'reload: console started' $TMP/gw.log" 15
check "and the notifications: the alarm's job that waited in the store reaches the webhook" \
	wait_for "[ \$(rec_count '$TMP/hook.rec' webhook fire.smoke) -ge 1 ]" 20
check "gateway.notify is cleared at the platform" \
	wait_for "grep '\"type\":\"gateway.notify\"' $TMP/incidents.log | grep -q '\"event\":\"cleared\"'" 15
check "the console answers over HTTP" \
	wait_for "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$WEB/ | grep -q 200" 10
"$GRIDGW" status -c "$TMP/gw.conf" >"$TMP/status1.txt" 2>&1
check "gridgw status no longer shows the channel stopped" bash -c "! grep -q STOPPED '$TMP/status1.txt'"
kill "$PID_gw"; wait "$PID_gw" 2>/dev/null

# --- the console's port taken at start, freed, then a reload -----------------
python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); print("held", flush=True); time.sleep(60)' "$WEB" \
	>"$TMP/squat.log" 2>&1 &
SQUAT=$!
SPAWNED+=($SQUAT)
wait_for "grep -q held $TMP/squat.log" 5 || tap_fail "port squatter up"
: >"$TMP/gw.log"
spawn gw "$GRIDGW" run -c "$TMP/gw.conf"
check "with the console's port taken the daemon runs on" wait_for "grep -q 'uplink: connected' $TMP/gw.log" 15
check "and logs that the console did not start" grep -q "ERROR core: console not started" "$TMP/gw.log"
kill "$SQUAT"; wait "$SQUAT" 2>/dev/null
kill -HUP "$PID_gw"
check "a reload once the port is free starts the console" \
	wait_for "grep -q 'reload: console started' $TMP/gw.log" 10
check "which answers over HTTP" \
	wait_for "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$WEB/ | grep -q 200" 10
"$GRIDGW" status -c "$TMP/gw.conf" >"$TMP/status2.txt" 2>&1
check "the notifications run now that libcurl is there" \
	sh -c "grep -q 'notify    duty' '$TMP/status2.txt' && ! grep -q 'STOPPED' '$TMP/status2.txt' && ! grep -q 'notifications not started' '$TMP/gw.log'"
check "the daemon is still running" kill -0 "$PID_gw"
tap_done
