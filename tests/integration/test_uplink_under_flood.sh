#!/bin/bash
# Control traffic is never dropped for data (issue 9): an MQTT source is
# flooded from a loopback publisher faster than the "core" (uplink_driver,
# real queue, mqtt_source, uplink, outbox and store) handles it, so the
# queue's data capacity stays full; only then does the uplink connect, and
# every event is then published and acknowledged while the flood goes on.
# A CONNECTED or PUBACK dropped for data shows as a forced reconnect (20 s
# connect watchdog) or a resend (30 s ack timeout): neither may happen.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/uplink_common.sh"

FLOOD=20000        # messages; the driver takes ~1 ms each: ~20 s of flood
EVENTS=300
SRC_PORT=$(free_port)
UP_PORT=$(free_port)
uplink_broker_conf "$TMP/src.conf" "$SRC_PORT"
uplink_broker_conf "$TMP/up.conf" "$UP_PORT"
uplink_start_broker src "$TMP/src.conf" "$SRC_PORT" || { tap_fail "source broker"; tap_done; exit 1; }
uplink_start_broker up "$TMP/up.conf" "$UP_PORT" || { tap_fail "uplink broker"; tap_done; exit 1; }

cat >"$TMP/gw.conf" <<CONF
gateway = { id = "flood-gw"; state_dir = "$TMP/srcstate"; };
mqtt_sources = (
  { name = "bridge"; url = "tcp://127.0.0.1:$SRC_PORT"; topic = "sensors/+/up"; device_from = "topic:2"; }
);
profiles = { mc = { kind = "manhole"; points = ( { name = "battery"; json = "bat"; } ); }; };
devices = ( { id = "mc-1"; profile = "mc"; source = "bridge"; } );
CONF

# the platform: every incident event the uplink delivers
spawn rec mosquitto_sub -h 127.0.0.1 -p "$UP_PORT" -q 1 -v -t 'grid/v1/flood-gw/incident'
LOG=$TMP/driver.log
spawn driver "$DRIVER" --url "tcp://127.0.0.1:$UP_PORT" --state "$TMP/state" --events "$EVENTS" \
	--burst 10 --burst-ms 20 --window 16 --gateway flood-gw --exit-when-empty --deadline 60 \
	--source-config "$TMP/gw.conf" --source-cost-us 1000 --queue 512 --uplink-when-full
check "the source subscribes" wait_for "grep -q 'subscribed to sensors' '$LOG'" 20
# The flood: QoS 1 from a loopback publisher, in the background.
seq 1 "$FLOOD" | sed 's/.*/{"bat":&}/' >"$TMP/flood.txt"
spawn pub bash -c "exec mosquitto_pub -h 127.0.0.1 -p $SRC_PORT -q 1 -t sensors/mc-1/up -l <'$TMP/flood.txt'"
check "the flood fills the queue's data capacity; the uplink starts then" wait_for "grep -q '^FULL' '$LOG'" 30
if wait_for "! kill -0 $PID_driver 2>/dev/null" 70; then
	wait "$PID_driver"; rc=$?
else
	rc=timeout
fi
stats=$(grep '^driver:' "$LOG")
echo "# $stats"
field() { sed -n "s/.* $1=\([-0-9a-z]*\).*/\1/p" <<<"$stats"; }
check "every event delivered before the deadline (exit 0, got $rc)" test "$rc" = 0
check "backlog 0, all $EVENTS acked" test "$(field backlog)/$(field acked)" = "0/$EVENTS"
check "the CONNECTED came through: one connect, no loss" test "$(field connects)/$(field losses)" = "1/0"
check "no resend: $EVENTS publishes for $EVENTS events, the one round of the connect, no failure" \
	test "$(field published)/$(field rewinds)/$(field failed)" = "$EVENTS/1/0"
check "no ack timeout in the log" bash -c "! grep -q 'no PUBACK for seq' '$LOG'"
check "delivered within 15 s of starting the uplink (a lost control message costs 20-30 s)" \
	test "$(field uplink_ms)" -lt 15000
check "the flood was still going when the last PUBACK came" test "$(field source_msgs)" -lt "$FLOOD"
check "data pushes were refused meanwhile (the queue really was full)" test "$(field queue_dropped)" -gt 0
read -r total missing dup order extra < <(uplink_check_seqs "$TMP/rec.log" "$EVENTS" | \
	sed 's/[a-z_]*=//g')
check "the platform got every seq 1..$EVENTS in order (missing=$missing order=$order)" \
	test "$missing/$order" = "0/0"
check "no resent duplicates at the platform (dup=$dup)" test "$dup" = 0
tap_done
