#!/bin/bash
# gridgw check: the shipped config is valid; a config with ten mistakes (some
# in included files, one nested include in another directory) reports all
# ten, each at its FILE:LINE, from any working directory; exit codes.
source "$(dirname "$0")/../lib/common.sh"
cd "$GRIDGW_TOP" || exit 1

# The shipped example passes, and its summary names what it found.
out=$("$GRIDGW" check -c config/gridgw.conf 2>"$TMP/err"); rc=$?
check "shipped config/gridgw.conf is valid (exit 0)" test "$rc" = 0
check "summary names the gateway id" grep -q "zz-jinshui-duling-gw01" <<<"$out"
check "summary lists bus rs485-1 with its 4 devices" grep -qE "rs485-1 +rtu .*4 devices" <<<"$out"
check "summary counts Modbus requests per poll" grep -qE "smoke_detector +4 +Modbus, 7 points, 2 requests per poll" <<<"$out"
check "summary lists the rules" grep -qE "^rules +7 user, 1 correlation" <<<"$out"
check "nothing on stderr for a valid config" test ! -s "$TMP/err"

# GRIDGW_CONF is used without -c.
GRIDGW_CONF=config/gridgw.conf "$GRIDGW" check >/dev/null 2>&1
check "GRIDGW_CONF names the config" test $? = 0

# Ten mistakes, run from another directory with an absolute path and from
# the top with a relative one: includes resolve against the including file.
F=tests/fixtures/config/bad
expect=(
	"$F/bad.conf:7: unknown key 'log_levle' in gateway (did you mean 'log_level'?)"
	"$F/bad.conf:12: 'parity' = \"X\" is not one of"
	"$F/bad.conf:14: 'timeout' = \"5 s\" is not a duration"
	"$F/sub/devices.inc:3: no bus named \"rs485-9\""
	"$F/sub/devices.inc:4: duplicate device id \"smoke-1\""
	"$F/sub/more.inc:2: profile \"smoke_detector\" is a Modbus profile"
	"$F/sub/more.inc:3: 'unit' = 300 is out of range"
	"$F/bad.conf:31: 'when': "
	"$F/bad.conf:33: write: point \"smoke\" of profile \"smoke_detector\" is not writable"
	"$F/extra_profile.inc:6: point \"power\" (holding 11) overlaps point \"energy\""
)
"$GRIDGW" check -c "$F/bad.conf" >"$TMP/out" 2>"$TMP/bad"; rc=$?
check "bad config exits 1" test "$rc" = 1
check "bad config prints no summary on stdout" test ! -s "$TMP/out"
for e in "${expect[@]}"; do
	check "reports: $e" grep -qF -- "$e" "$TMP/bad"
done
check "final line is '10 errors'" test "$(tail -n 1 "$TMP/bad")" = "10 errors"
check "exactly ten error lines" test "$(grep -c ': ' "$TMP/bad")" = 10
(cd /tmp && "$GRIDGW" check -c "$GRIDGW_TOP/$F/bad.conf") >/dev/null 2>"$TMP/bad_abs"
check "from another cwd the nested include is still found" \
	grep -qF "$GRIDGW_TOP/$F/sub/more.inc:3: 'unit' = 300" "$TMP/bad_abs"
check "from another cwd still ten errors" test "$(tail -n 1 "$TMP/bad_abs")" = "10 errors"

# A syntax error is one error at its line; a missing file is reported.
printf 'gateway = {\n  id = "x";\n  state_dir = ;\n};\n' >"$TMP/syntax.conf"
"$GRIDGW" check -c "$TMP/syntax.conf" >/dev/null 2>"$TMP/syn"; rc=$?
check "syntax error exits 1" test "$rc" = 1
check "syntax error reported at its line" grep -qF "$TMP/syntax.conf:3: syntax error" "$TMP/syn"
"$GRIDGW" check -c "$TMP/nonexistent.conf" >/dev/null 2>"$TMP/missing"; rc=$?
check "missing file exits 1 and says so" sh -c "test $rc = 1 && grep -q 'nonexistent.conf:0: cannot open' '$TMP/missing'"

# Usage.
"$GRIDGW" check --help >"$TMP/help" 2>&1; rc=$?
check "--help exits 0 and shows -c" sh -c "test $rc = 0 && grep -q -- '--config' '$TMP/help'"
"$GRIDGW" check --bogus >/dev/null 2>&1
check "unknown option exits 2" test $? = 2
tap_done
