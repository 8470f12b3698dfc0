#!/bin/bash
# Notifications to people on site, through the real daemon, a real
# mosquitto, the simulator (Modbus TCP) and strict loopback fakes of the
# WeCom, DingTalk and Feishu robot APIs and a signed webhook: alarm → WeCom
# in ≤ 2 s with the room; DingTalk and Feishu signatures verified by the
# fake; an escalation step fires when not acknowledged and not when acked
# before `after`; `hours` holds a battery alarm and lets a fire alarm
# through; the outcome is on the incident (`_notified`, an `updated`
# event, `gridgw incidents`); `gridgw status` and `gridgw notify test`; a
# bad key stops only its channel and raises gateway.notify while polling,
# the uplink and the other channels go on; a reload with the key fixed
# delivers what waited and clears gateway.notify.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/notify_common.sh"
export TZ=Asia/Shanghai

start_broker || { tap_fail "broker"; tap_done; exit 1; }
start_robot_fake robot --wecom-key WKEY --wecom-key WKEY2 --ding-token DTOK --ding-secret SECdingtest123 \
	--feishu-hook FHOOK --feishu-secret fs-secret-1 --webhook-secret whsec || { tap_fail "robot fake"; tap_done; exit 1; }
RP=$ROBOT_PORT
start_smtp_fake smtp --user gw@example.org --password mailpass-9 --accept duty@example.org || { tap_fail "smtp fake"; tap_done; exit 1; }
printf 'mailpass-9\n' >"$TMP/mail.pass"
MB=$(free_port)
P=grid/v1/nt-gw
printf 'SECdingtest123\n' >"$TMP/ding.secret"
printf 'fs-secret-1\n' >"$TMP/fs.secret"
chmod 600 "$TMP/ding.secret" "$TMP/fs.secret" "$TMP/mail.pass"
H=$(date +%-H)
CLOSED=$(printf '%02d:00-%02d:00' $(((H + 2) % 24)) $(((H + 3) % 24)))

write_conf() { # file extra-channel extra-to
	cat >"$1" <<CONF
gateway = { id = "nt-gw"; state_dir = "$TMP/state"; profiles_dir = "$GRIDGW_TOP/config/profiles"; log_level = "debug"; };
uplink = { url = "tcp://127.0.0.1:$BROKER_PORT"; topic_prefix = "grid/v1"; telemetry_interval = "0";
  reconnect_min = "1s"; reconnect_max = "2s"; };
buses = ( { name = "lan"; type = "tcp"; host = "127.0.0.1"; port = $MB; timeout = "300ms"; } );
devices = (
  { id = "smoke-a"; profile = "smoke_detector"; bus = "lan"; unit = 1; poll = "200ms";
    location = { building = "5"; entrance = "2"; floor = 7; room = "701"; }; },
  { id = "smoke-b"; profile = "smoke_detector"; bus = "lan"; unit = 2; poll = "200ms";
    location = { building = "5"; entrance = "2"; floor = 8; room = "801"; }; },
  { id = "smoke-c"; profile = "smoke_detector"; bus = "lan"; unit = 3; poll = "200ms";
    location = { building = "6"; entrance = "1"; floor = 3; room = "301"; }; },
  { id = "smoke-d"; profile = "smoke_detector"; bus = "lan"; unit = 4; poll = "200ms";
    location = { building = "6"; entrance = "1"; floor = 4; room = "401"; }; }
);
rules = ( { id = "smoke"; profile = "smoke_detector"; when = "alarm"; type = "fire.smoke"; severity = 1;
    message = "Smoke at {building}-{entrance}-{room}"; } );
notify = {
  language = "zh-CN";
  console_url = "http://192.168.1.10:8080";
  channels = (
    { name = "wy-wecom"; type = "wecom"; url = "http://127.0.0.1:$RP/cgi-bin/webhook/send?key=WKEY"; },
    { name = "jd-ding"; type = "dingtalk"; url = "http://127.0.0.1:$RP/robot/send?access_token=DTOK";
      secret_file = "$TMP/ding.secret"; mention = ["13800000000"]; },
    { name = "fs"; type = "feishu"; url = "http://127.0.0.1:$RP/open-apis/bot/v2/hook/FHOOK"; secret_file = "$TMP/fs.secret"; },
    { name = "night"; type = "webhook"; url = "http://127.0.0.1:$RP/hook/night"; secret = "whsec"; },
    { name = "mail"; type = "email"; url = "smtp://127.0.0.1:$SMTP_PORT"; from = "<gw@example.org>";
      to = ["<duty@example.org>"]; username = "gw@example.org"; password_file = "$TMP/mail.pass"; } $2
  );
  routes = (
    { match = { severity = [1, 2]; }; to = ["wy-wecom", "fs" $3]; events = ["raised", "cleared"]; },
    { match = { severity = [1]; }; after = "3s"; unless = "acked"; to = ["jd-ding"]; },
    { match = { severity = [1]; building = ["5"]; }; to = ["mail"]; },
    { match = { type = ["device.*", "fire.*"]; }; to = ["night"]; hours = "$CLOSED"; }
  );
};
CONF
}
write_conf "$TMP/gw.conf" "" ""
check "gridgw check accepts the notify section" "$GRIDGW" check -c "$TMP/gw.conf"

record_topic incidents "$P/incident"
spawn sim "$GRIDGW_SIM" -c "$TMP/gw.conf" --control "$TMP/sim.sock"
wait_port "$MB" 10 || tap_fail "simulator up"
spawn gw "$GRIDGW" run -c "$TMP/gw.conf"
wait_for "grep -q 'uplink: connected' $TMP/gw.log" 15 || tap_fail "gridgw connected"
sim() { "$GRIDGW_SIM" ctl "$TMP/sim.sock" "$@" >/dev/null; }
R=$TMP/robot.rec
id_of() { grep "\"event\":\"raised\".*\"device\":\"$1\"" "$TMP/incidents.log" | head -1 | sed 's/.*"id":"\([^"]*\)".*/\1/'; }
wait_for "grep -q '\"event\":\"updated\"\|\"state\"' $TMP/gw.log; sleep 1; true" 3

# --- alarm → WeCom within 2 s, with the room; Feishu signed ------------------
t0=$(date +%s.%N)
sim set smoke-a alarm 1
check "WeCom message for the smoke alarm" wait_for "[ \$(rec_count $R wecom 701室) -ge 1 ]" 10
t1=$("$PY" -c 'import json,sys
for l in open(sys.argv[1], encoding="utf-8"):
    r = json.loads(l)
    if r.get("api") == "wecom" and r.get("ok") and "701室" in r.get("text", ""):
        print(r["t"]); break' "$R")
check "alarm → WeCom in ≤ 2 s ($(printf '%.2f' "$("$PY" -c "print($t1 - $t0)")") s)" "$PY" -c "import sys; sys.exit(0 if $t1 - $t0 <= 2.0 else 1)"
msg=$(grep '"api": "wecom"' "$R" | grep '701室' | head -1)
check "WeCom text: severity and type labels, location, console link" bash -c "echo '$msg' | grep -q '【紧急】烟感报警' && echo '$msg' | grep -q '5号楼2单元7层701室' && echo '$msg' | grep -q 'http://192.168.1.10:8080/incidents/'"
check "Feishu message with a signature the fake verified" wait_for "[ \$(rec_count $R feishu 701室) -ge 1 ]" 10
check "e-mail through SMTP with AUTH, UTF-8 subject and body" \
	wait_for "grep -q '\"subject\": \"【紧急】烟感报警\"' $TMP/smtp.rec 2>/dev/null && grep -q '5号楼2单元7层701室' $TMP/smtp.rec" 10
ID_A=$(id_of smoke-a)
# The channels answer in any order: wy-wecom's record need not be the first.
check "delivery recorded on the incident as an updated event (_notified)" \
	wait_for "grep '\"event\":\"updated\"' $TMP/incidents.log | grep '$ID_A' | grep -q '\"_notified\":\[[^]]*{\"channel\":\"wy-wecom\",\"route\":0,\"step\":0,\"ts\":\"[^\"]*\",\"ok\":true'" 10

# --- escalation: not acked → DingTalk; acked before `after` → nothing -------
sim set smoke-b alarm 1
check "smoke-b raised" wait_for "[ -n \"\$(id_of smoke-b)\" ]" 10
ID_B=$(id_of smoke-b)
check "local ack of smoke-b before its escalation is due" "$GRIDGW" ack "$ID_B" -c "$TMP/gw.conf" --by manager
check "escalation step fires on DingTalk (signed) for the unacknowledged alarm" \
	wait_for "[ \$(rec_count $R dingtalk '701室') -ge 1 ]" 10
ding=$(grep '"api": "dingtalk"' "$R" | grep 701 | head -1)
check "DingTalk escalation says how long it went unacknowledged and @s the duty phone" \
	bash -c "echo '$ding' | grep -q '3秒未确认' && echo '$ding' | grep -q '13800000000'"
sleep 3 # the acked alarm's step was due 3 s after its raise: give it time to (wrongly) fire
check "no escalation for the alarm acknowledged in time" test "$(rec_count "$R" dingtalk 801室)" = 0
check "refused requests: none (signatures, shapes and rates all accepted)" \
	test "$(grep -c '"ok": false' "$R")" = 0

# --- hours: battery alarm held, fire alarm through ---------------------------
sim set smoke-c battery 5
check "battery alarm raised" wait_for "grep -q '\"type\":\"device.battery_low\".*\"device\":\"smoke-c\"' $TMP/incidents.log" 10
check "fire alarm goes through outside hours (severity 1)" wait_for "[ \$(rec_count $R webhook smoke-a) -ge 1 ]" 10
sleep 1
check "battery alarm waits for its hours ($CLOSED)" test "$(rec_count "$R" webhook battery_low)" = 0
st=$("$GRIDGW" status -c "$TMP/gw.conf")
echo "$st" | grep notify | sed 's/^/# /'
check "gridgw status shows the held battery alarm as pending on night" bash -c "echo '$st' | grep -q 'notify    night .* 1 pending'"
check "gridgw status --json has per-channel figures" bash -c "'$GRIDGW' status --json -c '$TMP/gw.conf' | grep -q '\"name\":\"wy-wecom\",\"type\":\"wecom\",\"sent\":[1-9]'"

# --- notify test, incidents ----------------------------------------------------
out=$("$GRIDGW" notify test wy-wecom -c "$TMP/gw.conf")
check "gridgw notify test prints the API's answer" bash -c "echo '$out' | grep -q 'delivered' && echo '$out' | grep -q 'errcode'"
check "the test message arrived" wait_for "[ \$(rec_count $R wecom 通知测试) -ge 1 ]" 5
check "gridgw notify test on an unknown channel fails" bash -c "! '$GRIDGW' notify test nope -c '$TMP/gw.conf' 2>/dev/null"
check "gridgw incidents shows who was told" bash -c "'$GRIDGW' incidents -c '$TMP/gw.conf' | grep -q 'notified wy-wecom (route 0) .* delivered'"

# --- bad key: gateway.notify, others unaffected --------------------------------
write_conf "$TMP/gw.conf" ', { name = "bad"; type = "wecom"; url = "http://127.0.0.1:'$RP'/cgi-bin/webhook/send?key=WRONG"; }' ', "bad"'
kill -HUP "$PID_gw"
check "reload with a channel whose key is wrong" wait_for "grep -q 'reloaded' $TMP/gw.log" 10
sim set smoke-c alarm 1
check "bad key: the channel stops with the API's reason" wait_for "grep -q 'channel bad stopped: wecom error 93000' $TMP/gw.log" 10
check "gateway.notify raised to the platform" wait_for "grep -q '\"event\":\"raised\".*\"type\":\"gateway.notify\"' $TMP/incidents.log" 10
check "the other channels still deliver the alarm" wait_for "[ \$(rec_count $R wecom 301室) -ge 1 ] && [ \$(rec_count $R feishu 301室) -ge 1 ]" 10
check "the property is told that a channel is down" wait_for "[ \$(rec_count $R wecom 通知渠道故障) -ge 1 ]" 10
n93=$(rec_refused "$R" wecom 93000)
sim set smoke-d alarm 1
check "polling and the uplink go on: a new alarm is raised and published" \
	wait_for "grep -q '\"event\":\"raised\".*\"device\":\"smoke-d\"' $TMP/incidents.log" 10
check "…and delivered on the working channels" wait_for "[ \$(rec_count $R wecom 401室) -ge 1 ]" 10
check "a stopped channel is not hammered (one refused request)" test "$(rec_refused "$R" wecom 93000)" = "$n93"
check "gridgw status shows the stopped channel and why" bash -c "'$GRIDGW' status -c '$TMP/gw.conf' | grep -q 'notify    bad .*STOPPED.*93000'"
check "the failure is recorded on the incident" bash -c "'$GRIDGW' incidents -c '$TMP/gw.conf' | grep -q 'notified bad (route 0) .* FAILED: wecom error 93000'"
check "no secret in the log" bash -c "! grep -q 'SECdingtest123\|fs-secret-1\|whsec\|mailpass-9' $TMP/gw.log"

# --- key fixed + reload: what waited is delivered, gateway.notify cleared -----
write_conf "$TMP/gw.conf" ', { name = "bad"; type = "wecom"; url = "http://127.0.0.1:'$RP'/cgi-bin/webhook/send?key=WKEY2"; }' ', "bad"'
kill -HUP "$PID_gw"
check "after the fix, the waiting notifications are delivered" \
	wait_for "[ \$(rec_count $R wecom '\"key\": \"WKEY2\"') -ge 2 ] && grep '\"key\": \"WKEY2\"' $R | grep -q 301室 && grep '\"key\": \"WKEY2\"' $R | grep -q 401室" 15
check "gateway.notify cleared" wait_for "grep -q '\"event\":\"cleared\".*\"type\":\"gateway.notify\"' $TMP/incidents.log" 10
tap_done
