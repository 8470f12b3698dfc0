#!/bin/bash
# GET /metrics parsed by the Prometheus client library's own parser (Debian
# python3-prometheus-client): every name the issue lists is there, label
# values match the status names (escaping itself: tests/unit/test_web.c), and the figures agree
# with `gridgw status --json` taken right before and after (counters may
# only grow between the two). metrics = false turns it off (404).
. "$(dirname "$0")/../lib/common.sh"
PY=/usr/bin/python3

start_broker || { tap_fail "broker"; tap_done; exit 1; }
MB=$(free_port)
WEB=$(free_port)
H=$(echo pw | "$GRIDGW" passwd)
write_conf() { # metrics
	cat >"$TMP/gw.conf" <<CONF
gateway = { id = "m-gw"; site = { street = "S"; community = "C"; grid = "G1"; };
  state_dir = "$TMP/state"; profiles_dir = "$GRIDGW_TOP/config/profiles"; };
uplink = { url = "tcp://127.0.0.1:$BROKER_PORT"; telemetry_interval = "0"; reconnect_min = "1s"; reconnect_max = "2s"; };
buses = ( { name = "lan-east.1"; type = "tcp"; host = "127.0.0.1"; port = $MB; timeout = "300ms"; } );
mqtt_sources = ( { name = "nb"; url = "tcp://127.0.0.1:$BROKER_PORT"; topic = "sensors/+/up"; device_from = "topic:2"; } );
devices = (
  { id = "smoke-a"; profile = "smoke_detector"; bus = "lan-east.1"; unit = 1; poll = "200ms"; },
  { id = "smoke-b"; profile = "smoke_detector"; bus = "lan-east.1"; unit = 2; poll = "200ms"; },
  { id = "mc-1"; profile = "manhole_cover_mqtt"; source = "nb"; offline_after = "1h"; }
);
rules = ( { id = "smoke"; profile = "smoke_detector"; when = "alarm"; type = "fire.smoke"; severity = 1; },
          { id = "tilt"; profile = "manhole_cover_mqtt"; when = "tilt > 10"; type = "manhole.tilt"; severity = 2; } );
console = { listen = "127.0.0.1:$WEB"; metrics = $1;
  users = ( { name = "screen"; role = "viewer"; password_hash = "$H"; } ); };
CONF
}
write_conf true
spawn sim "$GRIDGW_SIM" -c "$TMP/gw.conf" --control "$TMP/sim.sock" --heartbeat 1s
wait_port "$MB" 10 || tap_fail "simulator up"
spawn gw "$GRIDGW" run -c "$TMP/gw.conf"
wait_for "grep -q 'uplink: connected' $TMP/gw.log" 15 || tap_fail "gridgw connected"
wait_port "$WEB" 10 || tap_fail "console listening"
sim() { "$GRIDGW_SIM" ctl "$TMP/sim.sock" "$@" >/dev/null; }
sim set smoke-a alarm 1
sim set mc-1 tilt 30
wait_for "'$GRIDGW' status -c '$TMP/gw.conf' --json | grep -q '\"open_incidents\":2'" 15
"$GRIDGW" shelve -c "$TMP/gw.conf" smoke-b --for 1h >/dev/null
wait_for "'$GRIDGW' status -c '$TMP/gw.conf' --json | grep -q '\"received\":[1-9]'" 10

"$GRIDGW" status -c "$TMP/gw.conf" --json >"$TMP/before.json"
code=$(curl -s -o "$TMP/metrics.txt" -D "$TMP/hdr" -w '%{http_code}' "http://127.0.0.1:$WEB/metrics")
"$GRIDGW" status -c "$TMP/gw.conf" --json >"$TMP/after.json"
check "GET /metrics without login answers 200" test "$code" = 200
check "Content-Type is the text format 0.0.4" grep -qi '^content-type: text/plain; version=0.0.4' "$TMP/hdr"

cat >"$TMP/check.py" <<'EOF'
import json, sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
before, after = json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
n = 0
def tap(ok, desc):
    global n
    n += 1
    print(("PASS" if ok else "FAIL"), desc, flush=True)
try:
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    tap(True, "the Prometheus parser accepts the whole text")
except Exception as e:
    tap(False, "the Prometheus parser accepts the whole text: %r" % e)
    sys.exit(0)
def samples(name):
    out = {}
    for f in fams.values():
        for s in f.samples:
            if s.name == name:
                out[tuple(sorted(s.labels.items()))] = s.value
    return out
def one(name, **labels):
    return samples(name).get(tuple(sorted(labels.items())))
names = ["gridgw_up", "gridgw_devices", "gridgw_incidents_open", "gridgw_events_undelivered",
         "gridgw_uplink_connected", "gridgw_bus_requests_total", "gridgw_bus_errors_total",
         "gridgw_bus_poll_lateness_seconds", "gridgw_mqtt_source_messages_total", "gridgw_store_bytes",
         "process_cpu_seconds_total", "process_resident_memory_bytes", "process_start_time_seconds"]
for nm in names:
    tap(len(samples(nm)) > 0, "%s is present" % nm)
tap(one("gridgw_up") == 1, "gridgw_up is 1")
for st in ("online", "offline", "shelved"):
    v = one("gridgw_devices", state=st)
    tap(v == before["devices"][st] == after["devices"][st], "gridgw_devices{state=%s} = %s as in status" % (st, v))
tap(one("gridgw_devices", state="shelved") == 1, "the shelved device is counted")
for sev in "1234":
    v = one("gridgw_incidents_open", severity=sev)
    tap(v == before["open_by_severity"][sev] == after["open_by_severity"][sev],
        "gridgw_incidents_open{severity=%s} = %s as in status" % (sev, v))
tap(one("gridgw_incidents_open", severity="1") == 1 and one("gridgw_incidents_open", severity="2") == 1,
    "one severity-1 and one severity-2 incident open")
tap(sum(samples("gridgw_incidents_open").values()) == after["open_incidents"], "the severities add up to open_incidents")
v = one("gridgw_events_undelivered")
tap(min(before["backlog"], after["backlog"]) <= v <= max(before["backlog"], after["backlog"]),
    "gridgw_events_undelivered %s between the two status backlogs" % v)
tap(one("gridgw_uplink_connected") == (1 if after["uplink"] == "up" else 0) == 1, "gridgw_uplink_connected = 1 (uplink up)")
bus = after["buses"][0]["name"]
tap(bus == "lan-east.1", "the bus is named in status")
for m, k in (("gridgw_bus_requests_total", "requests"), ("gridgw_bus_errors_total", "errors")):
    v = one(m, bus=bus)
    tap(v is not None and before["buses"][0][k] <= v <= after["buses"][0][k],
        "%s{bus=%r} = %s between the status figures " % (m, bus, v))
for q, k in (("0.5", "late_p50_us"), ("0.99", "late_p99_us"), ("1", "late_max_us")):
    v = one("gridgw_bus_poll_lateness_seconds", bus=bus, quantile=q)
    tap(v is not None and v >= 0, "gridgw_bus_poll_lateness_seconds{quantile=%s} = %s" % (q, v))
tap(fams["gridgw_bus_poll_lateness_seconds"].type == "summary", "lateness is a summary")
v = one("gridgw_mqtt_source_messages_total", source="nb")
tap(v is not None and before["sources"][0]["received"] <= v <= after["sources"][0]["received"] and v >= 1,
    "gridgw_mqtt_source_messages_total{source=nb} = %s as in status" % v)
v = one("gridgw_store_bytes")
tap(v == before["store_bytes"] or v == after["store_bytes"] or (v > 0 and abs(v - after["store_bytes"]) < 1e6),
    "gridgw_store_bytes = %s as in status (%s)" % (v, after["store_bytes"]))
# The client names a counter family without its _total suffix.
tap(fams["gridgw_bus_requests"].type == "counter" and fams["process_cpu_seconds"].type == "counter",
    "counters are typed counter")
import time
tap(0 < time.time() - one("process_start_time_seconds") < 600, "process_start_time_seconds is this process's start")
tap(one("process_resident_memory_bytes") > 1e6, "process_resident_memory_bytes is plausible")
chans = after.get("notify", {}).get("channels", [])
for nm in ("gridgw_notify_sent_total", "gridgw_notify_failed_total"):
    tap(("# TYPE %s counter" % nm) in text and len(samples(nm)) == len(chans),
        "%s: one sample per notify channel in status (%d)" % (nm, len(chans)))
EOF
while IFS= read -r line; do
	case $line in
	PASS\ *) tap_ok "${line#PASS }" ;;
	FAIL\ *) tap_fail "${line#FAIL }" ;;
	Traceback*) tap_fail "the metrics checker crashed (below)"; echo "# $line" ;;
	*) echo "# $line" ;;
	esac
done < <($PY "$TMP/check.py" "$TMP/metrics.txt" "$TMP/before.json" "$TMP/after.json" 2>&1)

# metrics = false
write_conf false
kill -HUP "$PID_gw"
check "metrics = false after a reload: 404" \
	wait_for "[ \$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$WEB/metrics) = 404 ]" 10
check "the API still needs a login" test "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$WEB/api/v1/status)" = 401
tap_done
