#!/bin/bash
# MQTT sources against a real mosquitto: messages published with
# mosquitto_pub reach the right device points through source_driver
# (mqtt_source + json_map, as the core runs them); bad messages of every
# kind are counted and dropped without stopping later good ones; rule-action
# publishing goes out on the source broker.
. "$(dirname "$0")/../lib/common.sh"

DRIVER=$GRIDGW_TOP/$BUILD/tests/source_driver
[ -x "$DRIVER" ] || { echo "not ok 1 - $DRIVER not built"; exit 1; }

# A random port can be taken between the probe and the bind: try a few.
for try in 1 2 3; do start_broker && break; done || { tap_fail "mosquitto starts"; tap_done; exit 1; }

# A profile of 20 points (more than one queue message carries).
WIDE=$(for i in $(seq 1 20); do printf '{ name = "p%d"; json = "k%d"; }' $i $i; [ $i -lt 20 ] && printf ', '; done)
cat >"$TMP/gw.conf" <<EOF
gateway = { id = "test-gw"; state_dir = "$TMP/state"; };
mqtt_sources = (
  { name = "bridge"; url = "tcp://127.0.0.1:$BROKER_PORT"; topic = "sensors/+/up";
    device_from = "topic:2"; max_payload = 512; },
  { name = "lora"; url = "tcp://127.0.0.1:$BROKER_PORT"; topic = "lora/#";
    device_from = "json:meta.dev"; ts_key = "time"; }
);
profiles = {
  mc = { kind = "manhole"; points = (
    { name = "tilt";    json = "data.tilt"; type = "number"; },
    { name = "open";    json = "data.open"; type = "bool"; },
    { name = "status";  json = "status";    type = "enum"; values = { alarm = 1; normal = 0; }; },
    { name = "battery"; json = "bat"; },
    { name = "first";   json = "list[0].v"; scale = 0.5; offset = 1.0; },
    { name = "deep";    json = "m.rows[1][0]"; }
  ); };
  wide = { kind = "meter"; points = ( $WIDE ); };
};
devices = (
  { id = "mc-0012"; profile = "mc"; source = "bridge"; offline_after = "2h"; },
  { id = "mc-0013"; profile = "mc"; source = "bridge"; },
  { id = "lr-1";    profile = "mc"; source = "lora"; },
  { id = "4711";    profile = "mc"; source = "lora"; },
  { id = "w-1";     profile = "wide"; source = "bridge"; }
);
EOF

LOG=$TMP/driver.log
record_topic actions "actions/#"
spawn driver "$DRIVER" -c "$TMP/gw.conf" --seconds 120 --publish actions/siren '{"on":1}'
# spawn sends stdout and stderr to one file; that is fine for grepping.

pub() { mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -t "$1" -m "$2"; }
has() { grep -sqF -- "$1" "$LOG"; }
hasnt() { ! has "$1"; }
count() { grep -scF -- "$1" "$LOG"; }

check "both sources connect and subscribe" \
	wait_for 'has "SUBSCRIBED bridge 1" && has "SUBSCRIBED lora 1"' 15

# 1. A full payload on a topic-level device id: every path form.
pub sensors/mc-0012/up '{"data":{"tilt":12.5,"open":true},"status":"alarm","bat":80,"list":[{"v":3},{"v":9}],"m":{"rows":[[1],[7,8]]}}'
wait_for 'has "POINT mc-0012 deep"' 10
check "number at a nested key" has "POINT mc-0012 tilt 12.5 good"
check "bool true" has "POINT mc-0012 open 1 good"
check "enum string mapped to its number" has "POINT mc-0012 status 1 good"
check "top-level number" has "POINT mc-0012 battery 80 good"
check "array index then key, with scale and offset" has "POINT mc-0012 first 2.5 good"
check "nested arrays" has "POINT mc-0012 deep 7 good"

# 2. A device id from a JSON key, as a string and as a number.
pub lora/gw7/rx '{"meta":{"dev":"lr-1"},"bat":55}'
pub lora/gw7/rx '{"meta":{"dev":4711},"bat":44}'
check "device id from a JSON string field" wait_for 'has "POINT lr-1 battery 55 good"' 10
check "device id from a JSON number field" wait_for 'has "POINT 4711 battery 44 good"' 10

# 3. Bools in every accepted form, in order.
for v in true false 1 0 '"true"' '"false"'; do
	pub sensors/mc-0013/up "{\"data\":{\"open\":$v}}"
done
wait_for '[ "$(count "POINT mc-0013 open")" -ge 6 ]' 10
got=$(grep -F "POINT mc-0013 open" "$LOG" | awk '{print $4 $5}' | tr '\n' ' ')
check "bools true/false/1/0/\"true\"/\"false\" decode in order ($got)" \
	[ "$got" = "1good 0good 1good 0good 1good 0good " ]

# 4. A message missing keys updates only what it carries.
before=$(count "POINT mc-0012 ")
pub sensors/mc-0012/up '{"bat":81}'
wait_for 'has "POINT mc-0012 battery 81 good"' 10
sleep 0.3
check "missing keys leave other points alone (one update only)" [ "$(count "POINT mc-0012 ")" = $((before + 1)) ]
pub sensors/mc-0012/up '{"data":{"tilt":null},"bat":82}'
wait_for 'has "POINT mc-0012 battery 82 good"' 10
check "a null value is not an update" [ "$(count "POINT mc-0012 tilt")" = 1 ]

# 5. Payload timestamps: fresh ones are used, stale ones replaced by arrival.
now_ms=$(( $(date +%s) * 1000 ))
fresh=$(( now_ms - 60000 ))
pub sensors/mc-0012/up "{\"bat\":83,\"ts\":$fresh}"
check "a sane payload ts (ms) is used" wait_for "has \"POINT mc-0012 battery 83 good $fresh\"" 10
iso=$(date -u -d "@$(( now_ms / 1000 - 120 ))" +%Y-%m-%dT%H:%M:%SZ)
pub sensors/mc-0012/up "{\"bat\":84,\"ts\":\"$iso\"}"
check "an ISO 8601 payload ts is used" wait_for "has \"POINT mc-0012 battery 84 good $(( now_ms - 120000 ))\"" 10
stale=$(( now_ms / 1000 - 3 * 86400 ))
pub sensors/mc-0012/up "{\"bat\":85,\"ts\":$stale}"
wait_for 'has "POINT mc-0012 battery 85 good"' 10
ts85=$(grep -F "POINT mc-0012 battery 85 good" "$LOG" | awk '{print $6}')
check "a 3-day-old payload ts falls back to arrival time ($ts85)" \
	[ -n "$ts85" ] && [ "$ts85" -ge "$now_ms" ] && [ "$ts85" -le $(( now_ms + 60000 )) ]
pub lora/x '{"meta":{"dev":"lr-1"},"bat":56,"time":'"$(( now_ms / 1000 - 30 ))"'}'
check "a source's own ts_key (seconds)" wait_for "has \"POINT lr-1 battery 56 good $(( now_ms - 30000 ))\"" 10

# 6. Bad messages: each dropped and counted, later good ones still flow.
pub sensors/mc-0012/up '{"data":{"tilt":12.5'
pub sensors/mc-0012/up 'not json at all'
pub sensors/nobody/up '{"bat":1}'
pub lora/x '{"bat":1}'
pub sensors/mc-0012/up '{"data":{"tilt":"steep","open":"yes"},"status":"weird"}'
big=$(head -c 600 /dev/zero | tr '\0' ' ')
pub sensors/mc-0012/up "{\"bat\":1$big}"
pub sensors/mc-0012/up '{"bat":90}'
check "a good message after the bad ones arrives" wait_for 'has "POINT mc-0012 battery 90 good"' 10
check "malformed JSON dropped" [ "$(count "DROP bridge malformed")" = 2 ]
check "unknown device dropped" has "DROP bridge unknown_device"
check "the log names the unknown device's topic" has "topic 'sensors/nobody/up': unknown device"
check "missing JSON device id dropped" has "DROP lora no_device_id"
check "wrong number type marks decode_error" has "POINT mc-0012 tilt 0 decode_error"
check "wrong bool marks decode_error" has "POINT mc-0012 open 0 decode_error"
check "unknown enum string marks decode_error" has "POINT mc-0012 status 0 decode_error"
check "oversized payload never reached the mapping" [ "$(count "POINT mc-0012 battery 1 ")" = 0 ]

# 7. A burst: 300 messages back to back, none lost, in order.
seq 1 300 | sed 's/.*/{"data":{"tilt":&}}/' | \
	mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -t sensors/mc-0013/up -l
wait_for '[ "$(count "POINT mc-0013 tilt")" -ge 300 ]' 20
order=$(grep -F "POINT mc-0013 tilt" "$LOG" | awk '{print $4}' | tr '\n' ' ')
check "a 300-message burst arrives complete and in order" [ "$order" = "$(seq 1 300 | tr '\n' ' ')" ]

# 7b. A device with more points than one queue message carries (16): the
# source splits the message, every point arrives with the same time.
pub sensors/w-1/up "{$(for i in $(seq 1 20); do printf '"k%d":%d,' $i $((i * 10)); done | sed 's/,$//')}"
wait_for '[ "$(count "POINT w-1 p")" -ge 20 ]' 10
got=$(grep -F "POINT w-1 p" "$LOG" | awk '{print $3 "=" $4}' | tr '\n' ' ')
check "all 20 points of a split message arrive, in profile order" \
	[ "$got" = "$(for i in $(seq 1 20); do printf 'p%d=%d ' $i $((i * 10)); done)" ]
check "the parts of a split message share one time" \
	[ "$(grep -F "POINT w-1 p" "$LOG" | awk '{print $6}' | sort -u | wc -l)" = 1 ]

# 8. Rule-action publish on the source broker.
check "publish for a rule action is accepted" has "PUBLISH bridge 0"
check "the action message reaches the broker" wait_for 'grep -qF "actions/siren {\"on\":1}" "$TMP/actions.log"' 10

# 9. Counters at exit.
kill -TERM "$PID_driver"
wait_for 'has "STATS map"' 10
stats=$(grep -F "STATS map" "$LOG")
src=$(grep -F "STATS source=bridge" "$LOG")
echo "# $stats"
echo "# $src"
check "map counts malformed=2" grep -q "malformed=2 " <<<"$stats"
check "map counts unknown_device=1" grep -q "unknown_device=1 " <<<"$stats"
check "map counts no_device_id=1" grep -q "no_device_id=1 " <<<"$stats"
check "map counts wrong_type=3" grep -q "wrong_type=3 " <<<"$stats"
check "map counts ts_rejected=1" grep -q "ts_rejected=1$" <<<"$stats"
check "source counts oversized=1" grep -q "oversized=1 " <<<"$src"
check "the queue never filled (backlogged=0 deferred=0)" grep -q "backlogged=0 deferred=0 " <<<"$src"
wait "$PID_driver"; rc=$?
check "the driver exits with status 0 (got $rc)" [ "$rc" = 0 ]
check "no sanitizer reports" hasnt "Sanitizer"
tap_done
