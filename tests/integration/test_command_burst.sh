#!/bin/bash
# A burst of platform commands larger than the core's control slots (1024)
# while the core is slow (every commit stalled by strace's fsync delay
# injection): the uplink holds what the slots cannot take, in arrival order,
# and feeds it on as the core frees them. Every command is applied and
# answered exactly once, in the order sent, with no further traffic needed
# to move them (a command left inside Paho would only come back when its
# socket had something to read).
. "$(dirname "$0")/../lib/common.sh"

command -v strace >/dev/null || { echo "ok 1 - # SKIP strace not installed"; echo "1..1"; exit 0; }
N=2000
FSYNC_DELAY_US=${FSYNC_DELAY_US:-30000}
# The platform's broker must not drop the burst itself (mosquitto's
# default max_queued_messages is 1000 per client).
start_broker "max_queued_messages 0" "log_type notice" || { tap_fail "broker"; tap_done; exit 1; }
P=grid/v1/burst-gw
cat >"$TMP/gw.conf" <<CONF
gateway = { id = "burst-gw"; state_dir = "$TMP/state"; };
uplink = { url = "tcp://127.0.0.1:$BROKER_PORT"; topic_prefix = "grid/v1"; telemetry_interval = "0"; };
CONF
record_topic results "$P/cmd/result"
spawn gw strace -f -qq --seccomp-bpf -o /dev/null -e trace=fsync,fdatasync \
	-e inject=fsync,fdatasync:delay_enter="$FSYNC_DELAY_US" "$GRIDGW" run -c "$TMP/gw.conf"
check "the uplink connects" wait_for "grep -q 'uplink: connected' '$TMP/gw.log'" 20
for i in $(seq 1 $N); do echo "{\"req\":\"b$i\",\"op\":\"gateway.status\"}"; done |
	mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -t "$P/cmd" -l
answers() { grep -o '"req":"b[0-9]*","ok":true' "$TMP/results.log" | grep -o 'b[0-9]*' | tr -d b; }
check "all $N commands answered" wait_for "[ \$(answers | wc -l) -ge $N ]" 180
check "each exactly once" test "$(answers | sort -n | uniq | wc -l)" = "$N"
check "in the order sent" bash -c "grep -o '\"req\":\"b[0-9]*\",\"ok\":true' '$TMP/results.log' | grep -o 'b[0-9]*' | tr -d b | sort -nc"
check "the uplink held the commands the core could not take yet" \
	grep -q 'platform commands wait in the uplink, in order' "$TMP/gw.log"
check "and fed them on" grep -q 'platform commands flow to the core again' "$TMP/gw.log"
check "none was left inside the MQTT client" bash -c "! grep -q 'the next wait in the MQTT client' '$TMP/gw.log'"
check "the broker dropped none" bash -c "! grep -q 'messages are being dropped' '$TMP/mosquitto.log'"
tap_done
