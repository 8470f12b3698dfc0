#!/bin/bash
# gridgw-sim at benchmark scale: 1000 Modbus TCP devices x 30 registers
# (5 ports x 200 unit ids: libmodbus clients accept unit ids 0-247 only) plus 300 MQTT
# devices, all served by one process: every device answers, every MQTT
# device publishes, and a tight read loop is fast.
. "$(dirname "$0")/../lib/common.sh"

PROBE=$GRIDGW_TOP/$BUILD/tests/modbus_probe
SOCK=$TMP/sim.sock
expect() { if [ "$2" = "$3" ]; then tap_ok "$1"; else tap_fail "$1 (expected '$2', got '$3')"; fi; }

start_broker || { tap_fail "mosquitto starts"; tap_done; exit 1; }
record_topic all 'bench/#'
ports=()
for i in 0 1 2 3 4; do
	p=$(free_port)
	while [[ " ${ports[*]} " == *" $p "* ]]; do p=$(free_port); done
	ports+=("$p")
done
{
	echo 'gateway = { id = "gw-scale"; };'
	echo 'buses = ('
	for i in 0 1 2 3 4; do
		echo "  { name = \"lan$i\"; type = \"tcp\"; host = \"127.0.0.1\"; port = ${ports[$i]}; }$([ $i -lt 4 ] && echo ,)"
	done
	echo ');'
	echo "mqtt_sources = ( { name = \"b\"; url = \"tcp://127.0.0.1:$BROKER_PORT\"; topic = \"bench/+/up\"; device_from = \"topic:2\"; } );"
	echo 'profiles = {'
	echo '  regs30 = { kind = "generic"; points = ('
	for r in $(seq 0 29); do
		echo "    { name = \"r$r\"; table = \"input\"; address = $r; type = \"u16\"; }$([ "$r" -lt 29 ] && echo ,)"
	done
	echo '  ); };'
	echo '  push = { kind = "generic"; points = ( { name = "v"; json = "v"; type = "number"; } ); };'
	echo '};'
	echo 'devices = ('
	for i in 0 1 2 3 4; do
		for u in $(seq 1 200); do
			echo "  { id = \"d$i-$u\"; profile = \"regs30\"; bus = \"lan$i\"; unit = $u; },"
		done
	done
	for n in $(seq 1 300); do
		echo "  { id = \"p$n\"; profile = \"push\"; source = \"b\"; }$([ "$n" -lt 300 ] && echo ,)"
	done
	echo ');'
} >"$TMP/scale.conf"

start=$(date +%s%N)
spawn sim "$GRIDGW_SIM" -c "$TMP/scale.conf" --control "$SOCK" --quiet
if ! wait_for "grep -q '^ready ' '$TMP/sim.log' 2>/dev/null" 20; then
	tap_fail "1300 devices start"
	tail -5 "$TMP/sim.log"
	tap_done
	exit 1
fi
tap_ok "1300 devices start in $((($(date +%s%N) - start) / 1000000)) ms"
expect "ready line counts them" "ready devices=1300 tcp=1000 rtu=0 mqtt=300" "$(grep '^ready ' "$TMP/sim.log")"

"$GRIDGW_SIM" ctl "$SOCK" set 'd4-*' r29 7 >/dev/null
bad=0
for i in 0 1 2 3 4; do
	for u in 1 77 200; do
		want="0"; [ "$i" = 4 ] && want=7
		got=$("$PROBE" -t 1000 tcp 127.0.0.1 "${ports[$i]}" "$u" input 0 30 2>&1 | awk '{print $30}')
		[ "$got" = "$want" ] || { bad=$((bad + 1)); echo "# d$i-$u r29: '$got' (want $want)"; }
	done
done
expect "30 registers read from devices on every port (glob set reached 200)" "0" "$bad"

start=$(date +%s%N)
"$PROBE" -r 2000 tcp 127.0.0.1 "${ports[1]}" 100 input 0 30 >/dev/null
ms=$((($(date +%s%N) - start) / 1000000))
expect "2000 block reads counted for the unit" "ok requests=2000 reads=2000 writes=0" \
	"$("$GRIDGW_SIM" ctl "$SOCK" stats d1-100)"
if [ "$ms" -lt 10000 ]; then tap_ok "2000 reads of 30 registers in ${ms} ms"
else tap_fail "2000 reads of 30 registers in ${ms} ms"; fi

if wait_for "[ \$(grep -a -o '^bench/p[0-9]*/up' '$TMP/all.log' | sort -u | wc -l) -ge 300 ]" 15; then
	tap_ok "every MQTT device published"
else
	tap_fail "every MQTT device published ($(grep -a -o '^bench/p[0-9]*/up' "$TMP/all.log" | sort -u | wc -l))"
fi
rss=$(awk '/VmRSS/ {print $2}' "/proc/$PID_sim/status" 2>/dev/null)
echo "# simulator RSS ${rss:-?} kB"
expect "quit" "ok bye" "$("$GRIDGW_SIM" ctl "$SOCK" quit)"
wait_for "! kill -0 $PID_sim 2>/dev/null" 5
wait "$PID_sim" 2>/dev/null
expect "exit status 0" "0" "$?"

tap_done
