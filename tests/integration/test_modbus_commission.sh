#!/bin/bash
# Commissioning commands against gridgw-sim: `gridgw scan BUS` lists the
# unit ids that answer (TCP and RTU) with a profile guess and the configured
# device; `gridgw read DEVICE` prints every decoded point with its raw
# registers; both fail clearly when the bus cannot be opened or a name is
# wrong, in words a technician can act on (no answer / exception / CRC /
# connection refused). scan: the estimate before starting, progress on a
# terminal and as plain lines, unit ranges per transport, --json. read:
# --json, --watch (changed values marked, ended by SIGTERM or --count).
# With the daemon running, read asks the daemon's bus thread (no second
# master); scan refuses a serial line it polls (unless --force) and only
# warns on Modbus TCP. Every sub-command's --help lists
# all its options.
. "$(dirname "$0")/../lib/common.sh"

PORT=$(free_port)
SOCK=$TMP/sim.sock
mkdir -p "$TMP/state"
cat >"$TMP/gw.conf" <<CONF
gateway = { id = "gw-h4-comm"; state_dir = "$TMP/state"; };
buses = (
  { name = "lan";  type = "tcp"; host = "127.0.0.1"; port = $PORT; timeout = "300ms"; },
  { name = "line"; type = "rtu"; device = "$TMP/ttyC"; baud = 9600; timeout = "300ms"; }
);
profiles = {
  meter = {
    kind = "generic";
    points = (
      { name = "alarm";  table = "discrete"; address = 0; type = "bool"; },
      { name = "temp";   table = "input";    address = 0; type = "s16"; scale = 0.1; unit = "C"; },
      { name = "energy"; table = "input";    address = 2; type = "u32"; word_order = "little"; }
    );
  };
  valve = {
    kind = "generic";
    points = ( { name = "open"; table = "coil"; address = 40; type = "bool"; } );
  };
};
devices = (
  { id = "m1"; profile = "meter"; bus = "lan";  unit = 1; },
  { id = "v3"; profile = "valve"; bus = "lan";  unit = 3; },
  { id = "r7"; profile = "meter"; bus = "line"; unit = 7; }
);
CONF

# before the simulator runs: clear errors, non-zero exit
out=$("$GRIDGW" read -c "$TMP/gw.conf" m1 2>&1); rc=$?
if [ $rc = 1 ] && [[ "$out" == *"bus lan (tcp 127.0.0.1:$PORT): cannot open: connection refused by 127.0.0.1:$PORT — nothing listens there"* ]]; then
	tap_ok "read: TCP bus that cannot be opened -> exit 1 with the reason"
else tap_fail "read with no server: rc=$rc '$out'"; fi
out=$("$GRIDGW" scan -c "$TMP/gw.conf" line --units 1-3 2>&1); rc=$?
if [ $rc = 1 ] && [[ "$out" == *"bus line (rtu $TMP/ttyC 9600 8N1): cannot open: no serial port $TMP/ttyC — check the name"* ]]; then
	tap_ok "scan: serial device missing -> exit 1 with the reason"
else tap_fail "scan with no serial device: rc=$rc '$out'"; fi

spawn sim "$GRIDGW_SIM" -c "$TMP/gw.conf" --control "$SOCK" --quiet
if ! wait_port "$PORT" 10 || ! wait_for "[ -S '$SOCK' ] && [ -e '$TMP/ttyC' ]" 10; then
	tap_fail "simulator starts"; cat "$TMP/sim.log"; tap_done; exit 1
fi
ctl() { "$GRIDGW_SIM" ctl "$SOCK" "$@" >/dev/null; }
ctl set m1 temp -3.5; ctl set m1 energy 70000; ctl set m1 alarm 1; ctl set r7 temp 19

out=$("$GRIDGW" scan -c "$TMP/gw.conf" lan --units 1-5 --timeout 200ms 2>"$TMP/scan.err"); rc=$?
echo "$out" | sed 's/^/# /'
check "scan TCP exits 0" [ $rc = 0 ]
check "scan: unit 1 answers, guessed meter, configured m1" grep -Eq '^unit +1 +answers +profile meter +configured: m1$' <<<"$out"
check "scan: unit 3 answers as valve (v3)" grep -Eq '^unit +3 +answers +profile valve +configured: v3$' <<<"$out"
no_match() { ! grep -Eq -- "$1" <<<"$2"; }
has() { grep -Eq -- "$1" <<<"$2"; }
jq_true() { jq -e "$1" <<<"$2" >/dev/null; }
check "scan: unconfigured units not listed as answering" no_match '^unit +[245] +answers' "$out"
check "scan: summary line with the time taken" has '^2 of 5 unit ids answered \([0-9.]+ m?s\)$' "$out"
check "scan: the estimate before starting" \
	has '^scanning bus lan \(tcp 127.0.0.1:[0-9]+\), units 1-5: up to 1.0 s \(a silent unit costs its 200 ms timeout\)$' "$(head -1 <<<"$out")"
check "scan without a terminal: plain progress lines on stderr" \
	grep -Eq '^progress: unit 3 \(3 of 5\), 2 found, about [0-9.]+ m?s left$' "$TMP/scan.err"

out=$("$GRIDGW" scan -c "$TMP/gw.conf" line --units 6-8 --timeout 200ms 2>&1); rc=$?
echo "$out" | sed 's/^/# /'
check "scan RTU: unit 7 answers as meter (r7)" grep -Eq '^unit +7 +answers +profile meter +configured: r7$' <<<"$out"
check "scan RTU: 1 of 3" has '^1 of 3 unit ids answered ' "$out"

out=$("$GRIDGW" read -c "$TMP/gw.conf" m1 2>&1); rc=$?
echo "$out" | sed 's/^/# /'
check "read exits 0 when every point is good" [ $rc = 0 ]
check "read: s16 scaled with raw register" grep -Eq '^  temp +-3\.5 C +good +input +0 +0xffdd$' <<<"$out"
check "read: u32 little with both raw registers" grep -Eq '^  energy +70000 +good +input +2-3 +0x1170 0x0001$' <<<"$out"
check "read: bool" grep -Eq '^  alarm +1 +good +discrete +0 +1$' <<<"$out"
check "read: request count of the plan" grep -q 'unit 1, 2 requests' <<<"$out"

# expect_fail DESCRIPTION RC REGEX CMD...: CMD exits RC and its output matches REGEX
expect_fail() {
	local d=$1 want=$2 re=$3 out rc; shift 3
	out=$("$@" 2>&1); rc=$?
	if [ "$rc" = "$want" ] && grep -Eq -- "$re" <<<"$out"; then tap_ok "$d"
	else tap_fail "$d (rc $rc, output: $out)"; fi
}
ctl fail m1 timeout
expect_fail "read of a dead TCP device: exit 1, comm_error with the reason" 1 \
	'^  temp +- +C +comm_error +input +0 +- +no answer from unit 1 within 300 ms — check the unit id and that the device is up$' \
	"$GRIDGW" read -c "$TMP/gw.conf" m1
ctl recover m1
ctl fail r7 timeout
expect_fail "read on a serial line: no answer, with what to check" 1 \
	'^  temp .*comm_error .* no answer from unit 7 within 300 ms — check unit id, baud/parity, A/B wiring$' \
	"$GRIDGW" read -c "$TMP/gw.conf" r7
ctl fail r7 crc
expect_fail "read on a serial line: a CRC error in plain words" 1 \
	'garbled answer from unit 7 \(bad CRC\) — check baud/parity, termination and biasing, and that no other device has unit id 7$' \
	"$GRIDGW" read -c "$TMP/gw.conf" r7
ctl recover r7
ctl fail m1 exception
expect_fail "read: an exception in plain words" 1 \
	'unit 1 answers, but has no such register \(exception 02 illegal data address\) — check the profile.s addresses' \
	"$GRIDGW" read -c "$TMP/gw.conf" m1
ctl recover m1

# read --json: one object, values, raw registers, quality
out=$("$GRIDGW" read -c "$TMP/gw.conf" m1 --json); rc=$?
check "read --json exits 0" [ $rc = 0 ]
check "read --json: decoded value and raw registers" \
	jq_true '.device == "m1" and .good == 3 and (.points[] | select(.name == "energy") | .value == 70000 and .raw == [4464, 1])' "$out"
check "read --json: UTC timestamp" jq_true '.ts | test("Z$")' "$out"
ctl fail m1 timeout
out=$("$GRIDGW" read -c "$TMP/gw.conf" m1 --json)
check "read --json of a dead device: null value, the reason" \
	jq_true '.good == 0 and (.points[0] | .value == null and .quality == "comm_error" and (.error | startswith("no answer from unit 1")))' "$out"
ctl recover m1

# read --watch: bounded by --count; a changed value is marked; SIGTERM ends it
out=$("$GRIDGW" read -c "$TMP/gw.conf" m1 --count 3 --interval 100ms); rc=$?
check "read --count 3: exit 0" [ $rc = 0 ]
check "read --count 3: three reads" test "$(grep -c '^read [123] at ' <<<"$out")" = 3
out=$("$GRIDGW" read -c "$TMP/gw.conf" m1 --count 2 --interval 100ms --json)
check "read --count 2 --json: one JSON line per read" test "$(jq -sc 'map(.read)' <<<"$out")" = "[1,2]"
"$GRIDGW" read -c "$TMP/gw.conf" m1 --watch --interval 200ms >"$TMP/watch.out" 2>&1 &
WPID=$!
wait_for "grep -q '^read 2 at ' '$TMP/watch.out'" 10
ctl set m1 alarm 0
check "read --watch: the changed value is marked" wait_for "grep -Eq '^\* alarm +0 +good' '$TMP/watch.out'" 10
check "read --watch: an unchanged value is not" no_match '^\* temp' "$(cat "$TMP/watch.out")"
kill -TERM $WPID
check "read --watch: SIGTERM ends it" wait_for "! kill -0 $WPID 2>/dev/null" 5
wait $WPID; rc=$?
check "read --watch: exit 0 after SIGTERM (rc $rc)" [ $rc = 0 ]
check "read --watch: says it stopped" grep -q '^stopped after [0-9]* reads$' "$TMP/watch.out"
ctl set m1 alarm 1

# scan --json
out=$("$GRIDGW" scan -c "$TMP/gw.conf" lan --units 1-4 --timeout 200ms --json 2>/dev/null); rc=$?
check "scan --json exits 0" [ $rc = 0 ]
check "scan --json: answering units with profile and device" \
	jq_true '.bus == "lan" and .asked == 4 and .answered == 2 and ([.units[] | select(.answers) | [.unit, .profile, .device]] == [[1, "meter", "m1"], [3, "valve", "v3"]])' "$out"

# unit ranges per transport
expect_fail "scan RS-485: unit 0 refused with the reason" 2 'unit ids are 1-247 \(0 is broadcast' \
	"$GRIDGW" scan -c "$TMP/gw.conf" line --units 0-3
expect_fail "scan TCP: 248-254 only: refused, libmodbus named" 2 \
	'unit ids 248-254 cannot be asked over Modbus TCP: libmodbus accepts 0-247 and 255 only' \
	"$GRIDGW" scan -c "$TMP/gw.conf" lan --units 248-254
out=$("$GRIDGW" scan -c "$TMP/gw.conf" lan --units 246-255 --timeout 100ms 2>/dev/null)
check "scan TCP 246-255: 248-254 skipped with the reason" \
	has '^units 248-254 skipped: libmodbus asks 0-247 and 255 only over Modbus TCP$' "$out"
check "scan TCP 246-255: asks 246, 247 and 255" has '^0 of 3 unit ids answered' "$out"

# The whole RS-485 range: minutes, said before it starts (then stopped).
"$GRIDGW" scan -c "$TMP/gw.conf" line >"$TMP/full.out" 2>&1 &
FPID=$!
wait_for "grep -q 'this takes minutes' '$TMP/full.out'" 10
kill $FPID 2>/dev/null; wait $FPID 2>/dev/null
check "scan of the whole RS-485 line: the estimate in minutes first" \
	grep -Eq '^scanning bus line \(rtu .* 9600 8N1\), units 1-247: up to 1 min 1[0-9] s' "$TMP/full.out"
check "scan of the whole RS-485 line: how to shorten it" \
	grep -q -- '--units A-B (the ids on the installation sheet) or --timeout 200ms' "$TMP/full.out"

# Progress on a terminal: one line redrawn in place, cleared before results.
script -qec "'$GRIDGW' scan -c '$TMP/gw.conf' line --units 6-8 --timeout 200ms" /dev/null >"$TMP/tty.out" 2>&1
check "scan on a terminal: progress redrawn in place (unit, found, time left)" \
	grep -aq $'\r\033\\[Kunit 6 (1 of 3), 0 found, about [0-9.]* m\\?s left' "$TMP/tty.out"
check "scan on a terminal: the result line still printed" grep -aEq 'unit +7 +answers +profile meter' "$TMP/tty.out"

# One master per RS-485 line: with the daemon running.
spawn daemon "$GRIDGW" run -c "$TMP/gw.conf"
check "daemon starts (control socket)" wait_for "[ -S '$TMP/state/gridgw.sock' ]" 10
# read asks the daemon's bus thread instead (test_read_daemon.sh has the rest).
out=$("$GRIDGW" read -c "$TMP/gw.conf" r7 2>&1); rc=$?
check "read on the daemon's serial line: done by the daemon, no --force needed (rc $rc)" \
	bash -c "[ $rc = 0 ] && grep -q \"^device r7: profile meter, bus line, .*(read by the running daemon's bus thread)$\" <<<\"\$1\" && ! grep -q -- 'force' <<<\"\$1\"" _ "$out"
expect_fail "scan on the daemon's serial line: refused" 1 'the running gridgw daemon is the master of bus line' \
	"$GRIDGW" scan -c "$TMP/gw.conf" line --units 7
out=$("$GRIDGW" read -c "$TMP/gw.conf" r7 --force 2>&1)
check "read --force: warns" has 'warning: --force: the running gridgw daemon is the master of bus line' "$out"
check "read --force: reads anyway" has '^device r7: profile meter' "$out"
out=$("$GRIDGW" read -c "$TMP/gw.conf" m1 2>&1); rc=$?
check "read on the daemon's TCP bus: through the daemon, no second client to warn about" \
	bash -c "grep -q \"(read by the running daemon's bus thread)\" <<<\"\$1\" && ! grep -q warning <<<\"\$1\"" _ "$out"
check "read on the daemon's TCP bus: the read done (rc $rc)" [ $rc = 0 ]
kill "$PID_daemon"
wait_for "[ ! -S '$TMP/state/gridgw.sock' ]" 10
expect_fail "read of an unknown device: exit 1, named" 1 "no device 'nosuch'" "$GRIDGW" read -c "$TMP/gw.conf" nosuch
expect_fail "scan of an unknown bus: exit 1, lists buses" 1 'buses: lan line' "$GRIDGW" scan -c "$TMP/gw.conf" nosuch
"$GRIDGW" scan -c "$TMP/gw.conf" lan --units 9-2 >/dev/null 2>&1
check "scan with a bad range: usage error 2" [ $? = 2 ]
check "scan --help" bash -c "'$GRIDGW' scan --help | grep -q 'usage: gridgw scan BUS'"

# Every sub-command's --help lists every option it takes .
declare -A opts=(
	[run]="--config" [check]="--config --json" [status]="--config --json"
	[incidents]="--config --open --all --json --limit" [ack]="--config --by --note"
	[shelve]="--config --for" [unshelve]="--config" [notify]="--config"
	[scan]="--config --units --timeout --json --force" [read]="--config --json --watch --count --interval --force"
)
for cmd in run check status incidents ack shelve unshelve notify scan read; do
	help=$("$GRIDGW" "$cmd" --help 2>&1); rc=$?
	missing=""
	for o in ${opts[$cmd]} --help; do grep -q -- "$o" <<<"$help" || missing="$missing $o"; done
	check "$cmd --help: exit 0, lists ${opts[$cmd]} --help${missing:+ (missing:$missing)}" \
		test "$rc" = 0 -a -z "$missing"
done
tap_done
