#!/bin/bash
# gen-big-conf.sh DIR DEVICES RULES [PORT] — writes DIR/gridgw.conf: a compound
# far past any real one, for the scale benchmark (tests/bench/bigconf.sh) and
# the reload test: DEVICES MQTT smoke detectors (smoke_detector_mqtt, one source
# on 127.0.0.1:PORT) spread over buildings and floors, and RULES rules on that
# profile (the first a real smoke rule, the rest threshold variants), so the
# engine holds DEVICES x RULES rule instances. state_dir is DIR/state.
set -eu
dir=$1 ndev=$2 nrules=$3 port=${4:-1}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$dir/state" "$dir/profiles"
cp "$root/config/profiles/smoke_detector_mqtt.conf" "$dir/profiles/"
{
cat <<HEAD
gateway = {
  id = "bench-big-gw01";
  site = { street = "Duling"; community = "Bench"; grid = "G00"; };
  state_dir = "$dir/state";
  profiles_dir = "profiles";
  log_level = "info";
};
mqtt_sources = (
  { name = "bridge"; url = "tcp://127.0.0.1:$port"; topic = "sensors/+/up"; device_from = "topic:2"; }
);
HEAD
echo "devices = ("
awk -v n="$ndev" 'BEGIN { for (i = 0; i < n; i++) {
	b = int(i / 400) + 1; f = int((i % 400) / 20) + 1; r = i % 20 + 1;
	printf "  { id = \"smoke-%06d\"; profile = \"smoke_detector_mqtt\"; source = \"bridge\"; offline_after = \"1d\";\n    location = { building = \"%d\"; entrance = \"1\"; floor = %d; room = \"%d%02d\"; }; }%s\n", i, b, f, f, r, (i < n - 1) ? "," : "" } }'
echo ");"
echo "rules = ("
awk -v n="$nrules" 'BEGIN { for (i = 0; i < n; i++) {
	if (i == 0)
		printf "  { id = \"smoke\"; profile = \"smoke_detector_mqtt\"; when = \"alarm || smoke > 0.15\"; clear_when = \"!alarm && smoke < 0.10\";\n    type = \"fire.smoke\"; severity = 1; message = \"Smoke at building {building}, room {room}\"; }"
	else
		printf "  { id = \"temp-%05d\"; profile = \"smoke_detector_mqtt\"; when = \"temperature > %d.5\"; clear_when = \"temperature < %d\";\n    type = \"fire.heat\"; severity = 2; message = \"Heat {temperature} C: room {room}\"; }", i, 60 + i % 40, 55 + i % 40
	printf "%s\n", (i < n - 1) ? "," : "" } }'
echo ");"
} >"$dir/gridgw.conf"
