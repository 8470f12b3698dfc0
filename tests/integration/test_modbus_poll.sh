#!/bin/bash
# Modbus polling against gridgw-sim over TCP and RTU-on-pty: every point type
# and word order of the generic_modbus profile decodes to the value the
# simulator was told; one poll costs the planned number of block requests,
# counted at the simulator; writes of a coil, a register and a bit reach the
# device and come back through the next poll.
. "$(dirname "$0")/../lib/common.sh"

DRIVER=$GRIDGW_TOP/$BUILD/tests/poll_driver
PORT=$(free_port)
SOCK=$TMP/sim.sock
mkdir -p "$TMP/profiles" "$TMP/state"
cp "$GRIDGW_TOP/config/profiles/generic_modbus.conf" "$TMP/profiles/"
cat >"$TMP/gw.conf" <<CONF
gateway = { id = "gw-h4-poll"; state_dir = "$TMP/state"; profiles_dir = "profiles"; log_level = "warn"; };
buses = (
  { name = "lan";  type = "tcp"; host = "127.0.0.1"; port = $PORT; timeout = "300ms"; },
  { name = "line"; type = "rtu"; device = "$TMP/ttyH4"; baud = 115200; timeout = "300ms"; }
);
devices = (
  { id = "g1"; profile = "generic_modbus"; bus = "lan";  unit = 1; poll = "200ms"; },
  { id = "g2"; profile = "generic_modbus"; bus = "line"; unit = 2; poll = "200ms"; }
);
CONF

spawn sim "$GRIDGW_SIM" -c "$TMP/gw.conf" --control "$SOCK" --quiet
if ! wait_port "$PORT" 10 || ! wait_for "[ -S '$SOCK' ] && [ -e '$TMP/ttyH4' ]" 10; then
	tap_fail "simulator starts"; cat "$TMP/sim.log"; tap_done; exit 1
fi
ctl() { "$GRIDGW_SIM" ctl "$SOCK" "$@"; }

# name value: every type and both word orders, with scale and offset
VALUES="coil0 1
coil1 0
di0 1
di1 1
h_u16 65000
h_s16 -1234
h_bit0 1
h_bit15 1
h_bool 1
h_u32_be 4000000000
h_u32_le 70000
h_s32_be -2000000000
h_s32_le -70000
h_f32_be 3.5
h_f32_le -0.25
h_scaled 21.5
i_u16 42
i_s16 -42
i_bit3 1
i_u32_be 123456
i_f32_le 1.5"
bad=0
while read -r name value; do
	for dev in g1 g2; do
		r=$(ctl set "$dev" "$name" "$value")
		[[ "$r" == ok* ]] || { echo "# set $dev $name $value: $r"; bad=1; }
	done
done <<<"$VALUES"
check "simulator accepts every value" [ "$bad" = 0 ]

before1=$(ctl stats g1 | sed -n 's/.*requests=\([0-9]*\).*/\1/p')
before2=$(ctl stats g2 | sed -n 's/.*requests=\([0-9]*\).*/\1/p')
"$DRIVER" -c "$TMP/gw.conf" -d 2.5 \
	-w "1200 g1 h_u16 777" -w "1200 g1 coil0 0" -w "1200 g2 h_bit15 0" -w "1200 g2 h_f32_le 9.75" \
	>"$TMP/out.txt" 2>"$TMP/driver.err"
check "poll_driver runs" [ $? = 0 ]
after1=$(ctl stats g1 | sed -n 's/.*requests=\([0-9]*\).*/\1/p')
after2=$(ctl stats g2 | sed -n 's/.*requests=\([0-9]*\).*/\1/p')

# value of a point in its first "good" line (before the writes at 1200 ms)
first_value() { awk -v d="$1" -v p="$2" '$2=="point" && $3==d && $4==p && $6=="good" {print $5; exit}' "$TMP/out.txt"; }
last_value() { awk -v d="$1" -v p="$2" '$2=="point" && $3==d && $4==p && $6=="good" {v=$5} END {print v}' "$TMP/out.txt"; }
same() { awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && d <= 1e-6 * (1 + (b < 0 ? -b : b))) }'; }

for dev in g1 g2; do
	wrong=""
	while read -r name value; do
		got=$(first_value "$dev" "$name")
		same "$got" "$value" || wrong="$wrong $name=$got(want $value)"
	done <<<"$VALUES"
	bus=lan; [ "$dev" = g2 ] && bus="rtu line"
	if [ -z "$wrong" ]; then tap_ok "$dev ($bus): all 21 points decode (every type, both word orders, scale+offset)"
	else tap_fail "$dev: wrong values:$wrong"; fi
done
check "devices reported online" grep -q ' comm g1 online' "$TMP/out.txt"
check "RTU device reported online" grep -q ' comm g2 online' "$TMP/out.txt"

# Coalescing: generic_modbus = coils 0-1, discrete 0-1, holding 0-16, input
# 0-5 and 14-15 (a gap of 8 > max_gap 4): 5 requests a poll, never 21.
polls_of() { awk -v b="$1" '$1=="stats" && $2==b { for (i = 3; i <= NF; i++) if ($i ~ /^polls=/) { sub("polls=", "", $i); print $i } }' "$TMP/out.txt"; }
reqs_of() { awk -v b="$1" '$1=="stats" && $2==b { for (i = 3; i <= NF; i++) if ($i ~ /^requests=/) { sub("requests=", "", $i); print $i } }' "$TMP/out.txt"; }
p1=$(polls_of lan); p2=$(polls_of line)
served1=$((after1 - before1)); served2=$((after2 - before2))
w2=3  # g2: bit write = read + write, f32 = one write
if [ "$served1" = $((p1 * 5 + 2)) ] && [ "$p1" -ge 10 ]; then
	tap_ok "TCP: simulator served 5 requests per poll ($p1 polls, $served1 requests incl. 2 writes)"
else tap_fail "TCP: simulator served $served1 requests for $p1 polls (want $((p1 * 5 + 2)))"; fi
if [ "$served2" = $((p2 * 5 + w2)) ] && [ "$p2" -ge 10 ]; then
	tap_ok "RTU: simulator served 5 requests per poll ($p2 polls, $served2 requests incl. writes)"
else tap_fail "RTU: simulator served $served2 requests for $p2 polls (want $((p2 * 5 + w2)))"; fi
check "poller's own request count matches the simulator's (TCP)" [ "$(reqs_of lan)" = "$served1" ]

# writes: results, device state, and the next poll
check "4 writes reported ok" [ "$(grep -c ' write .* ok ' "$TMP/out.txt")" = 4 ]
check "holding write reached the device" [ "$(ctl get g1 h_u16)" = "ok 777" ]
check "coil write reached the device" [ "$(ctl get g1 coil0)" = "ok 0" ]
check "bit write kept the other bit of the register" [ "$(ctl get g2 h_bit15) $(ctl get g2 h_bit0)" = "ok 0 ok 1" ]
check "f32 little-endian write reached the device" [ "$(ctl get g2 h_f32_le)" = "ok 9.75" ]
check "written values read back by later polls" same "$(last_value g1 h_u16)" 777
check "written f32 read back" same "$(last_value g2 h_f32_le)" 9.75
check "no point ever had a bad quality" [ "$(awk '$2=="point" && $6!="good"' "$TMP/out.txt" | wc -l)" = 0 ]
tap_done
