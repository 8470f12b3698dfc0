#!/bin/bash
# Nothing lost, nothing twice: a webhook channel is down for 30 s (15 s
# connection refused, then 15 s HTTP 500) while alarms are raised; then
# gridgw run is killed with SIGKILL with those jobs still pending and
# started again once the endpoint answers. Every alarm's raised event is
# delivered afterwards, exactly once (nothing was in flight successfully at
# the kill: the endpoint answered 500), signed, as published on the uplink.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/notify_common.sh"
N=10

start_broker || { tap_fail "broker"; tap_done; exit 1; }
WP=$(free_port)
MB=$(free_port)
cat >"$TMP/gw.conf" <<CONF
gateway = { id = "du-gw"; state_dir = "$TMP/state"; profiles_dir = "$GRIDGW_TOP/config/profiles"; };
uplink = { url = "tcp://127.0.0.1:$BROKER_PORT"; topic_prefix = "grid/v1"; telemetry_interval = "0"; };
buses = ( { name = "lan"; type = "tcp"; host = "127.0.0.1"; port = $MB; timeout = "300ms"; } );
devices = (
$(smoke_devices $N lan 200ms)
);
rules = ( { id = "smoke"; profile = "smoke_detector"; when = "alarm"; type = "fire.smoke"; severity = 1; } );
notify = {
  channels = ( { name = "ops"; type = "webhook"; url = "http://127.0.0.1:$WP/hook/ops"; secret = "s3cr3t"; timeout = "2s"; } );
  routes = ( { to = ["ops"]; } );
};
CONF
record_topic incidents "grid/v1/du-gw/incident"
spawn sim "$GRIDGW_SIM" -c "$TMP/gw.conf" --control "$TMP/sim.sock"
wait_port "$MB" 10 || tap_fail "simulator up"
spawn gw "$GRIDGW" run -c "$TMP/gw.conf"
wait_for "grep -q 'uplink: connected' $TMP/gw.log" 15 || tap_fail "gridgw connected"
sleep 1
alarm() { "$GRIDGW_SIM" ctl "$TMP/sim.sock" set "$(printf 's%02d' "$1")" alarm 1 >/dev/null; }
raised() { grep -c '"event":"raised"' "$TMP/incidents.log"; }

# --- connection refused ---------------------------------------------------------
down_at=$SECONDS
for i in 1 2 3 4 5; do alarm $i; done
check "alarms raised while the endpoint is down" wait_for "[ \$(raised) -ge 5 ]" 10
check "connection refused is retried with backoff" wait_for "grep -q 'channel ops: .*[Cc]onnect.*retrying with backoff' $TMP/gw.log" 10
st=$("$GRIDGW" status -c "$TMP/gw.conf" | grep 'notify    ops')
echo "# $st"
check "status: queued and the last error" grep -q '5 queued.*last error: .*onnect' <<<"$st"
wait_for "[ \$((SECONDS - down_at)) -ge 15 ]" 20

# --- HTTP 500 ----------------------------------------------------------------------
spawn fake "$PY" "$FAKES/robot_fake.py" --port "$WP" --record "$TMP/fake.rec" --webhook-secret s3cr3t --mode 500
wait_port "$WP" 10 || tap_fail "fake up"
for i in 6 7 8 9 10; do alarm $i; done
check "all $N raised" wait_for "[ \$(raised) -ge $N ]" 10
# The backoff reached its 10 s cap during the refusals: the next attempt
# comes within 10 s of the endpoint answering (500).
check "the endpoint answering HTTP 500 is tried again" wait_for "[ \$(rec_refused $TMP/fake.rec fault 500) -ge 1 ]" 15
wait_for "[ \$((SECONDS - down_at)) -ge 30 ]" 20
check "nothing delivered while down" test "$(rec_count "$TMP/fake.rec" webhook)" = 0

# --- SIGKILL with the jobs pending, endpoint back, restart ------------------------
kill -9 "$PID_gw"
wait "$PID_gw" 2>/dev/null
curl -s "http://127.0.0.1:$WP/_fake/mode?set=ok" >/dev/null || "$PY" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$WP/_fake/mode?set=ok')"
spawn gw2 "$GRIDGW" run -c "$TMP/gw.conf"
check "after the restart every alarm is delivered" wait_for "[ \$(rec_count $TMP/fake.rec webhook '\"event\": \"raised\"') -ge $N ]" 30
sleep 2 # anything sent twice would arrive now
dups=$("$PY" -c '
import json, sys, collections
c = collections.Counter()
for l in open(sys.argv[1], encoding="utf-8"):
    r = json.loads(l)
    if r.get("api") == "webhook" and r.get("ok") and r["event"]["event"] == "raised":
        c[r["event"]["id"]] += 1
print(len(c), sum(1 for v in c.values() if v > 1))' "$TMP/fake.rec")
check "each of the $N incidents delivered exactly once (distinct, twice: $dups)" test "$dups" = "$N 0"
check "the body is the event exactly as published on the uplink" "$PY" -c '
import json, sys
pub = {}
for l in open(sys.argv[1], encoding="utf-8"):
    topic, payload = l.split(" ", 1)
    e = json.loads(payload)
    pub[(e["id"], e["seq"])] = e
got = [json.loads(l)["event"] for l in open(sys.argv[2], encoding="utf-8") if json.loads(l).get("ok")]
sys.exit(0 if got and all(pub.get((e["id"], e["seq"])) == e for e in got) else 1)' "$TMP/incidents.log" "$TMP/fake.rec"
check "signatures verified by the endpoint (no 401)" test "$(rec_refused "$TMP/fake.rec" webhook 401)" = 0
tap_done
