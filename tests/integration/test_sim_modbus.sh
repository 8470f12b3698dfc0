#!/bin/bash
# gridgw-sim over Modbus: values read over TCP and over RTU on the pty
# symlink decode as the profile says, control commands change them, probe
# writes are visible through `get`, per-unit counters, every fault is
# observable from the client side, and a clean quit removes the symlink.
. "$(dirname "$0")/../lib/common.sh"

PROBE=$GRIDGW_TOP/$BUILD/tests/modbus_probe
PORT=$(free_port)
SOCK=$TMP/sim.sock
TTY=$TMP/ttySIM0
sed -e "s|@PORT@|$PORT|g" -e "s|@DIR@|$TMP|g" "$GRIDGW_TOP/tests/fixtures/sim/modbus.conf.in" >"$TMP/sim.conf"
ln -s /nonexistent/stale "$TTY" # a stale link from a killed run must be replaced

spawn sim "$GRIDGW_SIM" -c "$TMP/sim.conf" --control "$SOCK" --seed 7 --slow 800ms
if ! wait_port "$PORT" 10 || ! wait_for "grep -q '^ready ' '$TMP/sim.log'" 10; then
	tap_fail "simulator starts"
	cat "$TMP/sim.log"
	tap_done
	exit 1
fi
tap_ok "simulator starts and listens on 127.0.0.1:$PORT"

ctl() { "$GRIDGW_SIM" ctl "$SOCK" "$@"; }
probe() { "$PROBE" "$@" 2>&1; }
tcp() { probe -t 500 tcp 127.0.0.1 "$PORT" "$@"; }
rtu() { probe -t 500 rtu "$TTY" "$@"; }
expect() { # description expected actual
	if [ "$2" = "$3" ]; then tap_ok "$1"; else tap_fail "$1 (expected '$2', got '$3')"; fi
}
expect_match() { # description regex actual
	if [[ "$3" =~ $2 ]]; then tap_ok "$1"; else tap_fail "$1 (expected /$2/, got '$3')"; fi
}

# --- the pty ---
pts=$(sed -n 's/^pty rs485-1 //p' "$TMP/sim.log")
expect_match "pty line names a pseudo-terminal" '^/dev/pts/[0-9]+$' "$pts"
expect "stale symlink replaced by one to the pty" "$pts" "$(readlink "$TTY")"

# --- TCP reads decoded through the profile ---
expect "initial values: zeros, battery 100" "0 0 0 0 0 0 100" "$(tcp 1 input 0 7)"
ctl set m1 temp -12.5 >/dev/null
ctl set m1 energy 70000 >/dev/null
ctl set m1 power 1.5 >/dev/null
# s16 -125 = 65411; u32 big 70000 = 1,4464; f32 little 1.5 = 0x3FC00000 -> 0,16320
expect "s16 scaled, u32 big, f32 little encoded" "65411 0 1 4464 0 16320 100" "$(tcp 1 input 0 7)"
expect "set answers ok" "ok m1 alarm = 1" "$(ctl set m1 alarm 1)"
ctl set m1 fault true >/dev/null
expect "bools in discrete inputs" "1 1" "$(tcp 1 discrete 0 2)"
expect "units are separate devices" "0 0" "$(tcp 2 discrete 0 2)"
expect_match "set of a value that does not fit is refused" '^error ' "$(ctl set m1 battery -5)"
expect_match "set of an unknown point is refused" '^error .*no point' "$(ctl set m1 nosuch 1)"
expect "get returns the value" "ok -12.5" "$(ctl get m1 temp)"
expect_match "an unconfigured unit gets exception 0x0B" 'Target device failed to respond' "$(tcp 9 input 0 1)"
expect_match "a read past the profile gets exception 0x02" 'Illegal data address' "$(tcp 1 input 0 8)"
expect "list names every device" "ok m1 m2 r5 r6" "$(ctl list)"

# --- writes from a client are visible through get ---
tcp 1 write coil 3 1 >/dev/null
expect "coil write visible via get" "ok 1" "$(ctl get m1 relay)"
tcp 1 write holding 1 40 >/dev/null
expect "holding write decoded with scale" "ok 20" "$(ctl get m1 setpoint)"
tcp 1 write holding 0 8 9 >/dev/null
expect "multi-register write decodes bit points" "ok 1 ok 4.5" "$(ctl get m1 flags3) $(ctl get m1 setpoint)"
expect "written registers read back" "8 9" "$(tcp 1 holding 0 2)"

# --- per-unit request counters ---
before=$(ctl stats m2 | sed 's/.*requests=\([0-9]*\).*/\1/')
probe -r 5 tcp 127.0.0.1 "$PORT" 2 input 0 7 >/dev/null
tcp 2 write coil 3 1 >/dev/null
expect "stats counts requests, reads and writes" "ok requests=$((before + 6)) reads=$((before + 5)) writes=1" \
	"$(ctl stats m2)"

# --- RTU on the pty symlink ---
ctl set r5 battery 42 >/dev/null
ctl set r5 energy 123456 >/dev/null
expect "RTU read through the symlink" "1 57920 0 0 42" "$(rtu 5 input 2 5)"
expect "RTU second unit on the same line" "0 0 0 0 100" "$(rtu 6 input 2 5)"
expect_match "RTU unit nobody has: no answer" 'timed out' "$(rtu 7 input 0 1)"
rtu 6 write coil 3 1 >/dev/null
expect "RTU coil write visible via get" "ok 1" "$(ctl get r6 relay)"
expect "RTU survives the client reopening the line" "0 0 0 0 100" "$(rtu 6 input 2 5)"

# --- faults, seen from the client ---
expect_match "fail timeout accepted" '^ok' "$(ctl fail m1 timeout)"
expect_match "timeout: no answer" 'timed out' "$(tcp 1 input 0 1)"
expect "another unit still answers" "0" "$(tcp 2 input 0 1)"
ctl fail m1 exception >/dev/null
expect_match "exception: illegal data address" 'Illegal data address' "$(tcp 1 input 0 1)"
ctl fail m1 busy >/dev/null
expect_match "busy: server busy exception" 'busy' "$(tcp 1 input 0 1)"
ctl fail m1 garbage >/dev/null
expect_match "garbage: the client gets an error" '^error:' "$(tcp 1 input 0 1)"
ctl fail m1 crc >/dev/null
expect_match "crc on TCP: an answer to another transaction" '^error:' "$(tcp 1 input 0 1)"
ctl fail m1 disconnect >/dev/null
expect_match "disconnect: the connection drops" '^error:' "$(tcp 1 input 0 1)"
ctl fail m1 silent >/dev/null
expect_match "silent: no answer" 'timed out' "$(tcp 1 input 0 1)"
ctl fail m1 slow >/dev/null
expect_match "slow: a 500 ms client times out" 'timed out' "$(tcp 1 input 0 1)"
start=$(date +%s%N)
out=$(probe -t 2000 tcp 127.0.0.1 "$PORT" 1 input 0 1)
ms=$((($(date +%s%N) - start) / 1000000))
if [ "$out" = "65411" ] && [ "$ms" -ge 700 ]; then tap_ok "slow: answers after the delay (${ms} ms)"
else tap_fail "slow: answers after the delay (got '$out' after ${ms} ms)"; fi
expect_match "recover accepted" '^ok' "$(ctl recover m1)"
expect "after recover the device answers" "65411" "$(tcp 1 input 0 1)"
expect_match "unknown fault mode refused" '^error usage' "$(ctl fail m1 melt)"

ctl fail r5 crc >/dev/null
expect_match "RTU crc: bad CRC seen by the client" 'CRC' "$(rtu 5 input 6 1)"
ctl fail r5 garbage >/dev/null
expect_match "RTU garbage: the client gets an error" '^error:' "$(rtu 5 input 6 1)"
ctl fail r5 exception >/dev/null
expect_match "RTU exception" 'Illegal data address' "$(rtu 5 input 6 1)"
ctl fail r5 timeout >/dev/null
expect_match "RTU timeout" 'timed out' "$(rtu 5 input 6 1)"
ctl recover r5 >/dev/null
expect "RTU after recover" "42" "$(rtu 5 input 6 1)"

# --- clean shutdown ---
expect "quit answers" "ok bye" "$(ctl quit)"
if wait_for "! kill -0 $PID_sim 2>/dev/null" 5; then tap_ok "quit stops the simulator"
else tap_fail "quit stops the simulator"; fi
wait "$PID_sim" 2>/dev/null
expect "exit status 0 after quit" "0" "$?"
if [ ! -e "$TTY" ] && [ ! -L "$TTY" ]; then tap_ok "symlink removed at exit"; else tap_fail "symlink removed at exit"; fi
if [ ! -e "$SOCK" ]; then tap_ok "control socket removed at exit"; else tap_fail "control socket removed at exit"; fi

# --- a real file at the device path is never clobbered ---
echo keep >"$TTY"
"$GRIDGW_SIM" -c "$TMP/sim.conf" --duration 2s >"$TMP/sim2.log" 2>&1
rc=$?
if [ "$rc" != 0 ] && [ "$(cat "$TTY")" = keep ] && grep -q 'not a symlink' "$TMP/sim2.log"; then
	tap_ok "refuses to replace a regular file at the device path"
else
	tap_fail "refuses to replace a regular file at the device path (rc=$rc)"
fi
rm -f "$TTY"

tap_done
