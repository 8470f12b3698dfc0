#!/bin/bash
# Commissioning commands against gridgw-sim: `gridgw scan BUS` lists the
# unit ids that answer (TCP and RTU) with a profile guess and the configured
# device; `gridgw read DEVICE` prints every decoded point with its raw
# registers; both fail clearly when the bus cannot be opened or a name is
# wrong.
. "$(dirname "$0")/../lib/common.sh"

PORT=$(free_port)
SOCK=$TMP/sim.sock
mkdir -p "$TMP/state"
cat >"$TMP/gw.conf" <<CONF
gateway = { id = "gw-h4-comm"; state_dir = "$TMP/state"; };
buses = (
  { name = "lan";  type = "tcp"; host = "127.0.0.1"; port = $PORT; timeout = "300ms"; },
  { name = "line"; type = "rtu"; device = "$TMP/ttyC"; baud = 19200; timeout = "300ms"; }
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
if [ $rc = 1 ] && [[ "$out" == *"bus lan (tcp 127.0.0.1:$PORT): cannot open: Connection refused"* ]]; then
	tap_ok "read: TCP bus that cannot be opened -> exit 1 with the reason"
else tap_fail "read with no server: rc=$rc '$out'"; fi
out=$("$GRIDGW" scan -c "$TMP/gw.conf" line --units 1-3 2>&1); rc=$?
if [ $rc = 1 ] && [[ "$out" == *"bus line (rtu $TMP/ttyC 19200 8N1): cannot open: No such file or directory"* ]]; then
	tap_ok "scan: serial device missing -> exit 1 with the reason"
else tap_fail "scan with no serial device: rc=$rc '$out'"; fi

spawn sim "$GRIDGW_SIM" -c "$TMP/gw.conf" --control "$SOCK" --quiet
if ! wait_port "$PORT" 10 || ! wait_for "[ -S '$SOCK' ] && [ -e '$TMP/ttyC' ]" 10; then
	tap_fail "simulator starts"; cat "$TMP/sim.log"; tap_done; exit 1
fi
ctl() { "$GRIDGW_SIM" ctl "$SOCK" "$@" >/dev/null; }
ctl set m1 temp -3.5; ctl set m1 energy 70000; ctl set m1 alarm 1; ctl set r7 temp 19

out=$("$GRIDGW" scan -c "$TMP/gw.conf" lan --units 1-5 --timeout 200ms 2>&1); rc=$?
echo "$out" | sed 's/^/# /'
check "scan TCP exits 0" [ $rc = 0 ]
check "scan: unit 1 answers, guessed meter, configured m1" grep -Eq '^unit +1 +answers +profile meter +configured: m1$' <<<"$out"
check "scan: unit 3 answers as valve (v3)" grep -Eq '^unit +3 +answers +profile valve +configured: v3$' <<<"$out"
no_match() { ! grep -Eq -- "$1" <<<"$2"; }
check "scan: unconfigured units not listed as answering" no_match '^unit +[245] +answers' "$out"
check "scan: summary line" grep -q '^2 of 5 unit ids answered$' <<<"$out"

out=$("$GRIDGW" scan -c "$TMP/gw.conf" line --units 6-8 --timeout 200ms 2>&1); rc=$?
echo "$out" | sed 's/^/# /'
check "scan RTU: unit 7 answers as meter (r7)" grep -Eq '^unit +7 +answers +profile meter +configured: r7$' <<<"$out"
check "scan RTU: 1 of 3" grep -q '^1 of 3 unit ids answered$' <<<"$out"

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
expect_fail "read of a dead device: exit 1, comm_error with the reason" 1 '^  temp +- +C +comm_error .*timed out' \
	"$GRIDGW" read -c "$TMP/gw.conf" m1
ctl recover m1
expect_fail "read of an unknown device: exit 1, named" 1 "no device 'nosuch'" "$GRIDGW" read -c "$TMP/gw.conf" nosuch
expect_fail "scan of an unknown bus: exit 1, lists buses" 1 'buses: lan line' "$GRIDGW" scan -c "$TMP/gw.conf" nosuch
"$GRIDGW" scan -c "$TMP/gw.conf" lan --units 9-2 >/dev/null 2>&1
check "scan with a bad range: usage error 2" [ $? = 2 ]
check "scan --help" bash -c "'$GRIDGW' scan --help | grep -q 'usage: gridgw scan BUS'"
tap_done
