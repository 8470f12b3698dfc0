#!/bin/bash
# MQTT source reconnects: a source started while its broker is down keeps
# retrying and connects when the broker appears; when the broker dies and
# comes back on the same port (without persistence, so the subscription is
# gone) the source reconnects with backoff, subscribes again, and later
# messages arrive. (Publishing while down is covered by tests/unit/test_mqtt_source.c.)
. "$(dirname "$0")/../lib/common.sh"

DRIVER=$GRIDGW_TOP/$BUILD/tests/source_driver
[ -x "$DRIVER" ] || { echo "not ok 1 - $DRIVER not built"; exit 1; }

PORT=$(free_port)
cat >"$TMP/mosquitto.conf" <<EOF
listener $PORT 127.0.0.1
allow_anonymous true
persistence false
log_dest stderr
log_type error
EOF
N_BROKER=0
broker_up() { # starts a fresh mosquitto on $PORT; its pid in $BROKER_PID
	N_BROKER=$((N_BROKER + 1))
	spawn "broker$N_BROKER" mosquitto -c "$TMP/mosquitto.conf"
	eval "BROKER_PID=\$PID_broker$N_BROKER"
	wait_port "$PORT" 10
}
broker_kill() { # the broker dies without a goodbye
	kill -9 "$BROKER_PID" 2>/dev/null
	wait "$BROKER_PID" 2>/dev/null
	! (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null
}

cat >"$TMP/gw.conf" <<EOF
gateway = { id = "test-gw"; state_dir = "$TMP/state"; };
mqtt_sources = (
  { name = "bridge"; url = "tcp://127.0.0.1:$PORT"; topic = "sensors/+/up"; device_from = "topic:2"; }
);
profiles = { mc = { kind = "manhole"; points = ( { name = "battery"; json = "bat"; } ); }; };
devices = ( { id = "mc-1"; profile = "mc"; source = "bridge"; } );
EOF

LOG=$TMP/driver.log
has() { grep -sqF -- "$1" "$LOG"; }
hasnt() { ! has "$1"; }
pub() { mosquitto_pub -h 127.0.0.1 -p "$PORT" -q 1 -t sensors/mc-1/up -m "{\"bat\":$1}"; }

# 1. Started while the broker is down.
spawn driver "$DRIVER" -c "$TMP/gw.conf" --seconds 120
sleep 2
check "no connection while the broker is down" hasnt "CONNECTED bridge"
check "the driver keeps running while the broker is down" kill -0 "$PID_driver"
broker_up
check "connects and subscribes once the broker appears" wait_for 'has "SUBSCRIBED bridge 1"' 40
pub 1
check "a message after the first connect arrives" wait_for 'has "POINT mc-1 battery 1 good"' 10

# 2. The broker dies and comes back on the same port.
check "broker killed" broker_kill
check "the loss is noticed" wait_for 'has "DISCONNECTED bridge 1"' 10
sleep 1.5
broker_up
check "reconnects and subscribes again after a broker restart" wait_for 'has "SUBSCRIBED bridge 2"' 40
pub 2
check "a message after the reconnect arrives" wait_for 'has "POINT mc-1 battery 2 good"' 10

# 3. And again, quickly: no state left over from the previous outage.
check "broker killed again" broker_kill
wait_for 'has "DISCONNECTED bridge 2"' 10
broker_up
check "reconnects a second time" wait_for 'has "SUBSCRIBED bridge 3"' 40
pub 3
check "a message after the second reconnect arrives" wait_for 'has "POINT mc-1 battery 3 good"' 10

kill -TERM "$PID_driver"
wait_for 'has "STATS source=bridge"' 10
src=$(grep -F "STATS source=bridge" "$LOG")
echo "# $src"
check "counts 3 connects" grep -q "connects=3 " <<<"$src"
check "counts 2 losses" grep -q "lost=2 " <<<"$src"
check "every message was received exactly once" grep -q "received=3 " <<<"$src"
wait "$PID_driver"; rc=$?
check "the driver exits with status 0 (got $rc)" [ "$rc" = 0 ]
check "no sanitizer reports" hasnt "Sanitizer"
tap_done
