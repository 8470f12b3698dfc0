#!/bin/bash
# The uplink's conversation with the platform besides incidents: the
# retained status (online with the contract's fields on connect, offline on
# a clean stop), platform commands answered on cmd/result (accepted,
# refused with a reason, replayed without a second application), and the
# same over MQTT 5.
. "$(dirname "$0")/../lib/common.sh"
. "$GRIDGW_TOP/tests/lib/uplink_common.sh"

start_broker "max_queued_messages 0" || { tap_fail "broker starts"; tap_done; exit 1; }
P=grid/v1/gw-cmd
spawn recorder mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -v -t "$P/#"
sleep 0.3
spawn driver "$DRIVER" --url "tcp://127.0.0.1:$BROKER_PORT" --state "$TMP/state" --gateway gw-cmd \
	--events 50 --commands --deadline 60 --quiet --telemetry-ms 300 --devices 40 --max-payload 1024

wait_for "grep -q '^$P/status .*\"online\"' $TMP/recorder.log" 10
line=$(grep -m1 "^$P/status " "$TMP/recorder.log")
echo "# $line"
ok=yes
for f in '"gateway":"gw-cmd"' '"state":"online"' '"version":"' '"ts":"20' '"devices":{"online":' \
	'"offline":' '"open_incidents":' '"backlog":'; do
	[[ "$line" == *"$f"* ]] || { ok=no; echo "# missing $f"; }
done
check "status online on connect with gateway, state, version, ts, devices, open_incidents, backlog" test $ok = yes
retained=$(mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -t "$P/status" -C 1 -W 3 2>/dev/null)
check "the status is retained" bash -c "[[ '$retained' == *'\"state\":\"online\"'* ]]"

wait_for "[ \$(uplink_count_incidents $TMP/recorder.log) -ge 50 ]" 10
check "incident events flow (50 of 50)" test "$(uplink_check_seqs "$TMP/recorder.log" 50 | grep -c 'missing=0 ')" = 1

# Telemetry: split at max_payload, every device present.
wait_for "[ \$(grep -c '^$P/telemetry ' $TMP/recorder.log) -ge 10 ]" 10
tele=$(grep "^$P/telemetry " "$TMP/recorder.log" | head -n 40)
longest=$(printf '%s\n' "$tele" | sed "s|^$P/telemetry ||" | awk '{ if (length($0) > m) m = length($0) } END { print m + 0 }')
devs=$(printf '%s\n' "$tele" | grep -o '"dev-[0-9]*"' | sort -u | wc -l)
check "telemetry is split into parts of at most 1024 bytes (longest $longest)" \
	bash -c "[ $longest -gt 0 ] && [ $longest -le 1024 ] && grep -q '\"parts\":[2-9]' <<<'$tele'"
check "telemetry covers every device ($devs of 40)" test "$devs" = 40

# The status is refreshed when its figures change (backlog 50 -> 0, within 5 s).
wait_for "grep -q '^$P/status .*\"online\".*\"backlog\":0' $TMP/recorder.log" 8
check "the status is refreshed when the backlog changes" grep -q "^$P/status .*\"online\".*\"backlog\":0" "$TMP/recorder.log"

cmd() { mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -t "$P/cmd" -m "$1"; }
result_count() { grep -c "^$P/cmd/result .*$1" "$TMP/recorder.log" || true; }
cmd '{"req":"r1","op":"incident.ack","incident":"01JABCDEF00000000000000001","by":"worker-17","note":"on my way"}'
wait_for "[ \$(result_count '\"req\":\"r1\",\"ok\":true') -ge 1 ]" 5
check "a valid incident.ack is accepted" test "$(result_count '"req":"r1","ok":true')" = 1
cmd '{"req":"r1","op":"incident.ack","incident":"01JABCDEF00000000000000001","by":"worker-17","note":"on my way"}'
wait_for "[ \$(result_count '\"req\":\"r1\",\"ok\":true') -ge 2 ]" 5
check "a replayed req is answered again with the stored result" test "$(result_count '"req":"r1","ok":true')" = 2

cmd '{"req":"r2","op":'
wait_for "[ \$(result_count 'malformed JSON') -ge 1 ]" 5
check "malformed JSON gets ok:false with a reason" test "$(result_count '"ok":false,"error":"malformed JSON"')" = 1

cmd '{"req":"r3","op":"gateway.reboot"}'
wait_for "[ \$(result_count '\"req\":\"r3\"') -ge 1 ]" 5
check "an unknown op is refused with its name" test "$(result_count '"req":"r3","ok":false,"error":"unknown op .gateway.reboot."')" = 1

big=$(head -c 5000 /dev/zero | tr '\0' 'x')
cmd "{\"req\":\"r4\",\"op\":\"incident.ack\",\"incident\":\"01JABCDEF00000000000000001\",\"note\":\"$big\"}"
wait_for "[ \$(result_count 'command too large') -ge 1 ]" 5
check "an oversized command is refused" test "$(result_count '"ok":false,"error":"command too large"')" = 1

cmd '{"req":"r5","op":"incident.workflow","incident":"01JABCDEF00000000000000001","workflow":"done"}'
wait_for "[ \$(result_count '\"req\":\"r5\"') -ge 1 ]" 5
check "an illegal workflow state is refused" test "$(result_count '"req":"r5","ok":false,"error":"field .workflow. must be one of')" = 1

cmd '{"req":"r6","op":"point.write","device":"elev-1","point":"door_hold"}'
wait_for "[ \$(result_count '\"req\":\"r6\"') -ge 1 ]" 5
check "point.write without a value is refused" test "$(result_count '"req":"r6","ok":false,"error":"missing field .value."')" = 1

cmd '{"req":"r7","op":"device.shelve","device":"smoke-5-2-0701","for":"2h"}'
wait_for "[ \$(result_count '\"req\":\"r7\"') -ge 1 ]" 5
check "device.shelve with a duration is accepted" test "$(result_count '"req":"r7","ok":true')" = 1

kill -TERM "$PID_driver"
wait_for "! kill -0 $PID_driver 2>/dev/null" 10
wait "$PID_driver"; drc=$?
check "the driver stops cleanly on SIGTERM (exit $drc)" test "$drc" = 0
retained=$(mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -t "$P/status" -C 1 -W 3 2>/dev/null)
check "a clean stop leaves the retained status offline" bash -c "[[ '$retained' == *'\"state\":\"offline\"'* ]]"

# MQTT 5: the same delivery and commands.
P5=grid/v1/gw-v5
spawn rec5 mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -V mqttv5 -v -t "$P5/#"
sleep 0.3
spawn driver5 "$DRIVER" --url "tcp://127.0.0.1:$BROKER_PORT" --state "$TMP/state5" --gateway gw-v5 \
	--mqtt 5 --events 2000 --commands --deadline 60 --quiet
wait_for "[ \$(uplink_count_incidents $TMP/rec5.log) -ge 2000 ]" 20
res=$(uplink_check_seqs "$TMP/rec5.log" 2000)
echo "# MQTT 5: $res"
check "MQTT 5: every seq 1..2000 arrived in order" bash -c "[[ '$res' == *missing=0\ *order_violations=0\ * ]]"
mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -V mqttv5 -t "$P5/cmd" -m '{"req":"v5","op":"gateway.status"}'
wait_for "grep -q '^$P5/cmd/result .*\"req\":\"v5\",\"ok\":true' $TMP/rec5.log" 5
check "MQTT 5: a command is answered" grep -q "^$P5/cmd/result .*\"req\":\"v5\",\"ok\":true" "$TMP/rec5.log"
tap_done
