#!/bin/bash
# gridgw check: the shipped config is valid; a config with ten mistakes (some
# in included files, one nested include in another directory) reports all
# ten, each at its FILE:LINE, from any working directory; exit codes.
# Warnings (a device no rule watches, a serial port that does not exist)
# keep exit 0; lowercase parity is accepted; did-you-mean for a misspelt
# point; full-width punctuation named with its column; a syntax error's
# column; --json with file, line, column, severity and message. Every
# shipped profile passes on its own.
source "$(dirname "$0")/../lib/common.sh"
cd "$GRIDGW_TOP" || exit 1

# The shipped example passes, and its summary names what it found.
out=$("$GRIDGW" check -c config/gridgw.conf 2>"$TMP/err"); rc=$?
check "shipped config/gridgw.conf is valid (exit 0)" test "$rc" = 0
check "summary names the gateway id" grep -q "zz-jinshui-duling-gw01" <<<"$out"
check "summary lists bus rs485-1 with its 5 devices" grep -qE "rs485-1 +rtu .*5 devices" <<<"$out"
check "summary counts Modbus requests per poll" grep -qE "smoke_detector +4 +Modbus, 7 points, 2 requests per poll" <<<"$out"
check "summary lists the rules" grep -qE "^rules +7 user, 1 correlation" <<<"$out"
# Only warnings may be on stderr (the example's /dev/ttyS1 may not exist here).
check "nothing but warnings on stderr for the shipped config" \
	test -z "$(grep -Ev '^config/gridgw.conf:[0-9]+: warning: |^[0-9]+ warnings?$' "$TMP/err")"
check "the shipped config: no warning but a missing serial port" \
	test -z "$(grep ': warning: ' "$TMP/err" | grep -v 'serial port "/dev/ttyS1" does not exist')"

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
check "syntax error reported at its line and column" \
	grep -qF "$TMP/syntax.conf:3: syntax error at column 15: unexpected ';' where a value belongs" "$TMP/syn"
"$GRIDGW" check -c "$TMP/nonexistent.conf" >/dev/null 2>"$TMP/missing"; rc=$?
check "missing file exits 1 and says so" sh -c "test $rc = 1 && grep -q 'nonexistent.conf:0: cannot open' '$TMP/missing'"

# Warnings: exit 0, FILE:LINE: warning:, the summary still printed.
cat >"$TMP/warn.conf" <<CONF
gateway = { id = "gw-warn"; state_dir = "$TMP"; profiles_dir = "$GRIDGW_TOP/config/profiles"; };
buses = (
  { name = "rs485-9"; type = "rtu"; device = "$TMP/ttyUSB9"; parity = "e"; }
);
devices = (
  { id = "smoke-1"; profile = "smoke_detector"; bus = "rs485-9"; unit = 1; },
  { id = "meter-1"; profile = "generic_modbus"; bus = "rs485-9"; unit = 2; }
);
rules = ( { id = "smoke"; profile = "smoke_detector"; when = "alarm"; type = "fire.smoke"; severity = 1; } );
CONF
"$GRIDGW" check -c "$TMP/warn.conf" >"$TMP/wout" 2>"$TMP/werr"; rc=$?
sed 's/^/# /' "$TMP/werr"
check "only warnings: exit 0" test "$rc" = 0
check "only warnings: summary printed, lowercase parity taken as E" grep -qE "rs485-9 +rtu .* 9600 8E1" "$TMP/wout"
check "warning: the serial port that does not exist, at the bus's line" \
	grep -qF "$TMP/warn.conf:3: warning: bus \"rs485-9\": serial port \"$TMP/ttyUSB9\" does not exist" "$TMP/werr"
check "warning: the device no rule watches, at its line" \
	grep -qF "$TMP/warn.conf:7: warning: device \"meter-1\" has no rule but the built-ins" "$TMP/werr"
check "no warning for the device a rule watches" test -z "$(grep 'smoke-1' "$TMP/werr")"
check "warnings counted" test "$(tail -n 1 "$TMP/werr")" = "2 warnings"
"$GRIDGW" check -c "$TMP/warn.conf" --json >"$TMP/wjson" 2>"$TMP/wjerr"; rc=$?
check "--json with warnings: exit 0, nothing on stderr" test "$rc" = 0 -a ! -s "$TMP/wjerr"
check "--json: valid, counts, each warning with file/line/column/severity/message" jq -e --arg f "$TMP/warn.conf" '
	.valid == true and .errors == 0 and .warnings == 2 and
	(.diagnostics | length == 2) and
	(.diagnostics[0] | .file == $f and .line == 3 and .column == null and .severity == "warning" and (.message | startswith("bus \"rs485-9\""))) and
	(.diagnostics[1] | .line == 7 and (.message | startswith("device \"meter-1\"")))' "$TMP/wjson" >/dev/null

# Did you mean: a misspelt point in an expression.
sed 's/when = "alarm"/when = "alram || smoke > 0.1"/' "$TMP/warn.conf" >"$TMP/typo.conf"
"$GRIDGW" check -c "$TMP/typo.conf" >/dev/null 2>"$TMP/typo"; rc=$?
check "misspelt point: exit 1 with the closest point" sh -c "test $rc = 1 && grep -qF \"$TMP/typo.conf:9: 'when': column 1: unknown point 'alram' (did you mean 'alarm'?)\" '$TMP/typo'"

# Full-width punctuation from a Chinese input method: named, with its column.
printf 'gateway = {\n  id = "gw"\xef\xbc\x9b\n  state_dir \xef\xbc\x9d "/tmp";\n  log_level = \xe2\x80\x9cinfo\xe2\x80\x9d;\n};\n' >"$TMP/fw.conf"
"$GRIDGW" check -c "$TMP/fw.conf" >/dev/null 2>"$TMP/fw"; rc=$?
sed 's/^/# /' "$TMP/fw"
check "full-width: exit 1" test "$rc" = 1
check "full-width ；: named with its column" grep -qF "$TMP/fw.conf:2: full-width '；' (U+FF1B) at column 12, typed with a Chinese input method: use ';'" "$TMP/fw"
check "full-width ＝: named with its column" grep -qF "$TMP/fw.conf:3: full-width '＝' (U+FF1D) at column 13, typed with a Chinese input method: use '='" "$TMP/fw"
check "curly quote “: named with its column" grep -qF "$TMP/fw.conf:4: full-width '“' (U+201C) at column 15, typed with a Chinese input method: use '\"'" "$TMP/fw"
check "no bare 'syntax error' on top" test -z "$(grep 'syntax error' "$TMP/fw")"
"$GRIDGW" check -c "$TMP/fw.conf" --json >"$TMP/fwjson"; rc=$?
check "--json with errors: exit 1, columns given" sh -c "test $rc = 1 && jq -e '.valid == false and .errors == 4 and ([.diagnostics[] | [.line, .column, .severity]] == [[2,12,\"error\"],[3,13,\"error\"],[4,15,\"error\"],[4,20,\"error\"]])' '$TMP/fwjson' >/dev/null"

# Every shipped profile passes `gridgw check` on its own.
for f in config/profiles/*.conf; do
	mkdir -p "$TMP/one/$(basename "$f" .conf)"
	cp "$f" "$TMP/one/$(basename "$f" .conf)/"
	printf 'gateway = { id = "gw-p"; state_dir = "%s"; profiles_dir = "%s"; };\n' "$TMP" "$TMP/one/$(basename "$f" .conf)" >"$TMP/one.conf"
	out=$("$GRIDGW" check -c "$TMP/one.conf" 2>&1); rc=$?
	names=$(grep -oE '^  [a-z_]+ +[A-Za-z0-9_]+ +0 ' <<<"$out" | wc -l)
	check "shipped profile $(basename "$f") passes gridgw check ($names profile(s))" test "$rc" = 0 -a "$names" -ge 1
done

# Usage.
"$GRIDGW" check --help >"$TMP/help" 2>&1; rc=$?
check "--help exits 0 and shows -c" sh -c "test $rc = 0 && grep -q -- '--config' '$TMP/help'"
"$GRIDGW" check --bogus >/dev/null 2>&1
check "unknown option exits 2" test $? = 2
tap_done
