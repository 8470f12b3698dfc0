#!/bin/bash
# MQTT source back-pressure: with a tiny core queue that the core stops
# draining for 5 s, a 500-message burst must neither block Paho's callback
# thread nor lose or reorder anything: the overflow waits in the source's
# backlog and reaches the core, complete and in order, once it drains again.
. "$(dirname "$0")/../lib/common.sh"

DRIVER=$GRIDGW_TOP/$BUILD/tests/source_driver
[ -x "$DRIVER" ] || { echo "not ok 1 - $DRIVER not built"; exit 1; }
# A random port can be taken between the probe and the bind: try a few.
for try in 1 2 3; do start_broker && break; done || { tap_fail "mosquitto starts"; tap_done; exit 1; }

cat >"$TMP/gw.conf" <<EOF2
gateway = { id = "test-gw"; state_dir = "$TMP/state"; };
mqtt_sources = (
  { name = "bridge"; url = "tcp://127.0.0.1:$BROKER_PORT"; topic = "sensors/+/up"; device_from = "topic:2"; }
);
profiles = { mc = { kind = "manhole"; points = ( { name = "battery"; json = "bat"; } ); }; };
devices = ( { id = "mc-1"; profile = "mc"; source = "bridge"; } );
EOF2

LOG=$TMP/driver.log
has() { grep -sqF -- "$1" "$LOG"; }
hasnt() { ! has "$1"; }
count() { grep -scF -- "$1" "$LOG"; }

spawn driver "$DRIVER" -c "$TMP/gw.conf" --seconds 120 --queue 4 --stall 5
check "the core stalls once the source is subscribed" wait_for 'has "STALLED"' 15
seq 1 500 | sed 's/.*/{"bat":&}/' | \
	mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -t sensors/mc-1/up -l
pub_rc=$?
check "the burst is accepted by the broker while the core is stalled" [ "$pub_rc" = 0 ]
check "nothing reaches the mapping past the 4-slot queue while stalled" \
	[ "$(count "POINT mc-1 battery")" -le 4 ]
check "the core resumes" wait_for 'has "RESUMED"' 10
check "all 500 messages arrive after the stall" wait_for '[ "$(count "POINT mc-1 battery")" -ge 500 ]' 20
order=$(grep -F "POINT mc-1 battery" "$LOG" | awk '{print $4}' | tr '\n' ' ')
check "in publish order, none duplicated" [ "$order" = "$(seq 1 500 | tr '\n' ' ')" ]
kill -TERM "$PID_driver"
wait "$PID_driver"; rc=$?
src=$(grep -F "STATS source=bridge" "$LOG")
echo "# $src"
check "the overflow went through the backlog" grep -qE "backlogged=[1-9][0-9]* deferred=0 " <<<"$src"
check "received=500" grep -q "received=500 " <<<"$src"
check "the driver exits with status 0 (got $rc)" [ "$rc" = 0 ]
check "no sanitizer reports" hasnt "Sanitizer"
tap_done
