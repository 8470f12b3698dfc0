#!/bin/bash
# gridgw check on the notify section: every mistake reported at its
# FILE:LINE in one pass (unknown channel names with a hint, bad globs, bad
# hours, unknown keys and placeholders, unreadable or world-readable secret
# files, e-mail without recipients, rates), and secrets never printed.
. "$(dirname "$0")/../lib/common.sh"
printf 'topsecret-ding\n' >"$TMP/ding.secret"; chmod 600 "$TMP/ding.secret"
printf 'leaky-secret\n' >"$TMP/open.secret"; chmod 644 "$TMP/open.secret"
cat >"$TMP/bad.conf" <<CONF
gateway = { id = "ck"; state_dir = "$TMP/state"; profiles_dir = "$GRIDGW_TOP/config/profiles"; };
notify = {
  language = "fr";
  channels = (
    { name = "wy-wecom"; type = "wecom"; url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"; colour = "red"; },
    { name = "jd-ding"; type = "dingtalk"; url = "ftp://x"; secret_file = "$TMP/ding.secret"; },
    { name = "leaky"; type = "feishu"; url = "https://open.feishu.cn/open-apis/bot/v2/hook/x"; secret_file = "$TMP/open.secret"; },
    { name = "gone"; type = "webhook"; url = "http://127.0.0.1:1/x"; secret_file = "$TMP/missing.secret"; },
    { name = "mail"; type = "email"; url = "smtps://mail.example.org:465"; from = "<gw@example.org>"; },
    { name = "fast"; type = "wecom"; url = "http://127.0.0.1:1/"; rate = "20 per minute"; },
    { name = "wy-wecom"; type = "sms"; url = "http://127.0.0.1:1/"; }
  );
  routes = (
    { match = { severity = [1, 7]; type = ["device.[ab]"]; }; to = ["wy-wecon"]; },
    { match = { type = ["device.*"]; }; to = ["jd-ding"]; hours = "8:00-21:00"; },
    { to = ["jd-ding"]; after = "5m"; unless = "seen"; },
    { to = ["jd-ding"]; unless = "acked"; template = "{severity} {rooom}"; events = ["updated"]; }
  );
};
CONF
"$GRIDGW" check -c "$TMP/bad.conf" >"$TMP/out" 2>"$TMP/err"; rc=$?
check "bad notify config exits 1" test "$rc" = 1
F=$TMP/bad.conf
expect=(
	"$F:3: 'language' = \"fr\" is not one of"
	"$F:5: unknown key 'colour' in notify channel"
	"$F:6: 'url' of a dingtalk channel must start with http:// or https://"
	"$F:7: '$TMP/open.secret' is readable by others (mode 0644)"
	"$F:8: cannot read '$TMP/missing.secret': No such file or directory"
	"$F:9: missing required key 'to'"
	"$F:10: 'rate' must be messages per minute (20) or N/DURATION"
	"$F:11: 'type' = \"sms\" is not one of"
	"$F:11: duplicate notify channel \"wy-wecom\" (first at $F:5)"
	"$F:14: 'severity' values are 1 (most severe) .. 4"
	"$F:14: bad type pattern \"device.[ab]\""
	"$F:14: no notify channel named \"wy-wecon\" (did you mean \"wy-wecom\"?)"
	"$F:15: 'hours' must be \"HH:MM-HH:MM\""
	"$F:16: 'unless' = \"seen\" is not one of"
	"$F:17: 'unless' needs 'after'"
	"$F:17: template: unknown placeholder {rooom}"
	"$F:17: 'events' holds raised, cleared or escalated, not \"updated\""
)
for e in "${expect[@]}"; do
	check "reports: ${e#$TMP/}" grep -qF -- "$e" "$TMP/err"
done
check "no secret in the output" bash -c "! grep -q 'topsecret-ding\|leaky-secret' '$TMP/err' '$TMP/out'"
[ "$TAP_FAILED" = 0 ] || sed 's/^/# /' "$TMP/err"
tap_done
