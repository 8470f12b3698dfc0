#!/bin/bash
# A flood: 60 smoke alarms in 10 s to a WeCom robot allowed 20 messages per
# window. The gateway keeps to the rate itself (the strict fake would
# answer 45009 and count it), merges what is over it into digests, most
# severe first, and every incident appears in a delivered message. The
# window is scaled to 6 s (rate = "20/6s", the fake counting the same) so
# the test takes seconds, not minutes; the arithmetic is the same as 20/min.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/notify_common.sh"
export TZ=Asia/Shanghai
N=60
WIN=6

start_broker || { tap_fail "broker"; tap_done; exit 1; }
start_robot_fake robot --wecom-key K --window $WIN --wecom-rate 20 || { tap_fail "robot fake"; tap_done; exit 1; }
MB=$(free_port)
cat >"$TMP/gw.conf" <<CONF
gateway = { id = "fl-gw"; state_dir = "$TMP/state"; profiles_dir = "$GRIDGW_TOP/config/profiles"; };
uplink = { url = "tcp://127.0.0.1:$BROKER_PORT"; topic_prefix = "grid/v1"; telemetry_interval = "0"; };
buses = ( { name = "lan"; type = "tcp"; host = "127.0.0.1"; port = $MB; timeout = "300ms"; } );
devices = (
$(smoke_devices $N lan 200ms)
);
rules = ( { id = "smoke"; profile = "smoke_detector"; when = "alarm"; type = "fire.smoke"; severity = 1;
    message = "Smoke at {device}"; } );
notify = {
  channels = ( { name = "wy"; type = "wecom"; url = "http://127.0.0.1:$ROBOT_PORT/cgi-bin/webhook/send?key=K";
                 rate = "20/${WIN}s"; } );
  routes = ( { to = ["wy"]; } );
};
CONF
# The alarms go in through the simulator's stdin, one line each, so setting
# them costs no process start (a `gridgw-sim ctl` per alarm took 13 s for 60
# under ASan and the flood was no longer one).
mkfifo "$TMP/sim.in"
spawn sim bash -c "exec '$GRIDGW_SIM' -c '$TMP/gw.conf' --stdin <'$TMP/sim.in'"
exec 3>"$TMP/sim.in"
wait_port "$MB" 10 || tap_fail "simulator up"
spawn gw "$GRIDGW" run -c "$TMP/gw.conf"
wait_for "grep -q 'uplink: connected' $TMP/gw.log" 15 || tap_fail "gridgw connected"
sleep 1
start=$SECONDS
for i in $(seq 1 $N); do
	printf 'set s%02d alarm 1\n' "$i" >&3
	sleep 0.12
done
wait_for "[ \$(grep -c '^ok s[0-9]* alarm = 1' '$TMP/sim.log') -ge $N ]" 10 || tap_fail "the simulator took every set"
check "$N alarms set within 10 s ($((SECONDS - start)) s)" test $((SECONDS - start)) -le 11
R=$TMP/robot.rec
all_delivered() {
	local i ok
	ok=$(grep '"ok": true' "$R")
	for i in $(seq 1 $N); do
		grep -q "Smoke at $(printf 's%02d' "$i")" <<<"$ok" || return 1
	done
}
check "every incident appears in a delivered message" wait_for all_delivered 40
msgs=$(rec_count "$R" wecom)
check "digests, not $N messages ($msgs messages)" test "$msgs" -lt $N
check "a digest says how many" grep -q '共[0-9]*条告警通知' "$R"
check "the fake never saw more than 20 requests in any ${WIN}s window ($(max_in_window "$R" wecom $WIN))" \
	test "$(max_in_window "$R" wecom $WIN)" -le 20
check "never throttled by the API (no 45009)" test "$(rec_refused "$R" wecom 45009)" = 0
check "every message within WeCom's 4096-byte markdown limit" "$PY" -c '
import json, sys
sys.exit(0 if all(len(json.loads(l).get("text", "").encode()) <= 4096 for l in open(sys.argv[1], encoding="utf-8")) else 1)' "$R"
recorded() { [ "$("$GRIDGW" incidents -c "$TMP/gw.conf" --limit 100 | grep -c 'notified wy (route 0) .* delivered')" -ge $N ]; }
check "each incident's delivery recorded on it" wait_for recorded 10
tap_done
