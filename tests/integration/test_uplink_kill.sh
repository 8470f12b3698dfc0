#!/bin/bash
# kill -9 of the publishing gateway at random moments during a burst, 20
# times over; started again each time on the same store, it goes on
# appending and delivering. In the end every seq 1..N has reached the
# platform's subscriber (duplicates allowed, gaps not) and each incident's
# events arrived in order. The broker stays up, so the recorder's plain
# subscription sees everything the broker acknowledged.
. "$(dirname "$0")/../lib/common.sh"
. "$GRIDGW_TOP/tests/lib/uplink_common.sh"

N=${UPLINK_KILL_EVENTS:-8000}
ROUNDS=20
PORT=$(free_port)
uplink_broker_conf "$TMP/broker.conf" "$PORT"
uplink_start_broker broker "$TMP/broker.conf" "$PORT" || { tap_fail "broker starts"; tap_done; exit 1; }
spawn recorder mosquitto_sub -h 127.0.0.1 -p "$PORT" -q 1 -v -t "grid/v1/gw-kill/#"
sleep 0.3

# 500 events/s appended: 20 rounds of 0.1-0.6 s (~3,500 events) end well
# before N, so every kill lands while events are being appended and published.
killed_mid=0
for ((r = 1; r <= ROUNDS; r++)); do
	"$DRIVER" --url "tcp://127.0.0.1:$PORT" --state "$TMP/state" --gateway gw-kill \
		--events "$N" --burst 5 --burst-ms 10 --deadline 60 --quiet >>"$TMP/driver.log" 2>&1 &
	pid=$!
	sleep "0.$((1 + RANDOM % 5))$((RANDOM % 10))"
	kill -9 "$pid" 2>/dev/null && killed_mid=$((killed_mid + 1))
	wait "$pid" 2>/dev/null
done
before=$(grep '/incident ' "$TMP/recorder.log" | sed 's/.*"seq":\([0-9]*\).*/\1/' | sort -u | wc -l)
echo "# $killed_mid kills; $before distinct seqs recorded before the final run"

"$DRIVER" --url "tcp://127.0.0.1:$PORT" --state "$TMP/state" --gateway gw-kill \
	--events "$N" --burst 200 --burst-ms 5 --exit-when-empty --deadline 90 --quiet >"$TMP/final.log" 2>&1
frc=$?
out=$(grep '^driver:' "$TMP/final.log")
echo "# $out"

check "all $ROUNDS runs were killed with SIGKILL while running" test "$killed_mid" = $ROUNDS
check "the kills happened during the burst ($before of $N delivered before the final run)" \
	bash -c "[ $before -gt 0 ] && [ $before -lt $N ] && [[ '$out' =~ appended=([0-9]+) ]] && [ \${BASH_REMATCH[1]} -gt 0 ]"
check "the final run drained the outbox (exit $frc)" test "$frc" = 0
check "the store holds exactly $N events, none undelivered" bash -c "[[ '$out' == *last_seq=$N\ backlog=0* ]]"

wait_for "[ \$(uplink_count_incidents $TMP/recorder.log) -ge $N ]" 20
res=$(uplink_check_seqs "$TMP/recorder.log" "$N")
echo "# $res"
check "every seq 1..$N arrived after $ROUNDS kills" bash -c "[[ '$res' == *missing=0\ * ]]"
check "no seq outside 1..$N" bash -c "[[ '$res' == *extra=0\ * ]]"
check "each incident's events arrived in seq order" bash -c "[[ '$res' == *order_violations=0\ * ]]"
# The will: a killed gateway is reported offline by the broker.
check "a killed gateway's will set its status offline" grep -q 'gw-kill/status .*"state":"offline"' "$TMP/recorder.log"
tap_done
