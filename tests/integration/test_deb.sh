#!/bin/bash
# The Debian packages, for real: `make deb` builds version N and N+1 (a
# changelog entry via DEB_VERSION; no network), both lintian-clean; N is
# installed into this system with dpkg -i, the installed /usr/bin/gridgw
# runs (as user gridgw, from the installed config, shipped profiles and an
# installer's profile) against the simulator and stores an incident; the
# conffile is edited; N+1 is installed over it (the edit survives, the store
# still reads and opens); dpkg --purge removes everything the package put
# or made. Cleans up even on failure: purges the packages, removes the
# gridgw user if this test made it. Needs root and a system where gridgw is
# not installed already (else SKIP: an installed gridgw is not ours to
# touch).
. "$(dirname "$0")/../lib/common.sh"

N=$(dpkg-parsechangelog -l "$GRIDGW_TOP/debian/changelog" -S Version 2>/dev/null)
N1=$N+upgradetest1
ARCH=$(dpkg --print-architecture)
CONF=/etc/gridgw/gridgw.conf
MINE=/etc/gridgw/profiles/smoke_detector.conf

skip_all() { echo "ok 1 - # SKIP $*"; echo "1..1"; exit 0; }
[ "$(id -u)" = 0 ] || skip_all "needs root (installs into the system)"
for tool in dpkg-buildpackage dh lintian setpriv; do
	command -v "$tool" >/dev/null 2>&1 || skip_all "$tool not installed (make deps)"
done
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }
if installed gridgw || installed gridgw-sim || [ -e /etc/gridgw ] || [ -e /var/lib/gridgw ]; then
	skip_all "gridgw is already installed here (or /etc/gridgw, /var/lib/gridgw exist): not touching it"
fi
user_was_there=0
getent passwd gridgw >/dev/null && user_was_there=1

# dpkg takes no lock timeout: wait while another apt/dpkg runs (CI runs
# nothing else, a shared machine may).
dpkg_w() {
	local i out rc
	for ((i = 0; i < 240; i++)); do
		out=$(dpkg "$@" 2>&1); rc=$?
		if [ "$rc" != 0 ] && grep -qE 'dpkg (frontend|status database).* lock|is locked by another' <<<"$out"; then
			sleep 0.5; continue
		fi
		printf '%s\n' "$out" >>"$TMP/dpkg.log"
		return "$rc"
	done
	printf '%s\n' "$out" >>"$TMP/dpkg.log"
	return 1
}

deb_cleanup() {
	local pid
	for pid in "${SPAWNED[@]}"; do kill "$pid" 2>/dev/null; done
	if installed gridgw || installed gridgw-sim || dpkg-query -W gridgw >/dev/null 2>&1; then
		echo "# cleanup: purging the packages"
		dpkg_w --purge gridgw gridgw-sim || sed 's/^/# /' "$TMP/dpkg.log" | tail -n 5
	fi
	rm -f "$MINE"
	rmdir /etc/gridgw/profiles /etc/gridgw 2>/dev/null
	rm -rf /var/lib/gridgw
	if [ "$user_was_there" = 0 ] && getent passwd gridgw >/dev/null; then
		userdel gridgw 2>/dev/null
		getent group gridgw >/dev/null && groupdel gridgw 2>/dev/null
	fi
	cleanup
}
trap deb_cleanup EXIT

# ---- build N and N+1 (unit tests run in make test; nocheck here) ----
build() { # version dir
	local t0=$SECONDS
	DEB_BUILD_OPTIONS=nocheck make -s -C "$GRIDGW_TOP" deb DEBDIR="$2" DEB_VERSION="$1" >"$TMP/build-$1.log" 2>&1
	local rc=$?
	echo "# make deb $1: $((SECONDS - t0)) s"
	[ "$rc" = 0 ] || tail -n 30 "$TMP/build-$1.log" | sed 's/^/# /'
	return "$rc"
}
check "make deb builds version $N (lintian clean)" build "$N" "$TMP/n"
check "make deb builds version $N1 (lintian clean)" build "$N1" "$TMP/n1"
for v in "$N:$TMP/n" "$N1:$TMP/n1"; do
	for p in gridgw gridgw-sim; do
		[ -s "${v#*:}/${p}_${v%%:*}_$ARCH.deb" ] || { tap_fail "${p}_${v%%:*}_$ARCH.deb built"; tap_done; exit 1; }
	done
done
deps=$(dpkg-deb -f "$TMP/n/gridgw_${N}_$ARCH.deb" Depends)
check "gridgw depends on the libraries it dlopen()s (Depends: $deps)" bash -c \
	"for p in libpaho-mqtt1.3 libcurl4 libmicrohttpd12 libssl3 libcrypt1; do grep -qw \"\$p\" <<<'$deps' || exit 1; done"
check "lintian said nothing at all about $N" bash -c "! grep -E '^  [EW]: ' '$TMP/build-$N.log'"

# ---- install N ----
check "dpkg -i installs $N" dpkg_w -i "$TMP/n/gridgw_${N}_$ARCH.deb" "$TMP/n/gridgw-sim_${N}_$ARCH.deb"
check "both packages installed" bash -c "$(declare -f installed); installed gridgw && installed gridgw-sim"
check "installed gridgw --version is $N" bash -c "/usr/bin/gridgw --version | grep -qx 'gridgw $N'"
check "postinst made the gridgw user" getent passwd gridgw
check "tmpfiles made /var/lib/gridgw 0750 gridgw:gridgw" \
	bash -c "[ \"\$(stat -c '%a %U %G' /var/lib/gridgw)\" = '750 gridgw gridgw' ]"
check "gridgw.conf is 0640 root:gridgw" bash -c "[ \"\$(stat -c '%a %U %G' $CONF)\" = '640 root gridgw' ]"
check "gridgw.conf is a conffile" bash -c "dpkg-query -W -f='\${Conffiles}' gridgw | grep -q ' $CONF '"
check "the unit is enabled" test -L /etc/systemd/system/multi-user.target.wants/gridgw.service
if [ -d /run/systemd/system ]; then
	echo "# systemd runs here: the postinst started the service; stopping it for the test"
	systemctl stop gridgw
else
	check "without systemd as PID 1 nothing was started" bash -c "! pgrep -f '^/usr/bin/gridgw ' >/dev/null"
fi
check "the shipped profiles are in /usr/share/gridgw/profiles" test -s /usr/share/gridgw/profiles/smoke_detector.conf
check "man pages installed (gridgw.8, gridgw.conf.5, gridgw-sim.1)" \
	bash -c "{ man -w 8 gridgw && man -w 5 gridgw.conf && man -w 1 gridgw-sim; } >/dev/null"
check "the installed config is valid as shipped" bash -c "/usr/bin/gridgw check -c '$CONF' >/dev/null"

# ---- the installer edits: a Modbus TCP bus on loopback, a smoke detector,
# a rule, and an own copy of the smoke_detector profile ----
MB=$(free_port)
cat >>"$CONF" <<EOF
# --- test_deb edit ---
buses = ( { name = "lan"; type = "tcp"; host = "127.0.0.1"; port = $MB; timeout = "300ms"; } );
devices = ( { id = "smoke-1"; profile = "smoke_detector"; bus = "lan"; unit = 1; poll = "200ms"; } );
rules = ( { id = "smoke"; profile = "smoke_detector"; when = "alarm"; type = "fire.smoke"; severity = 1; } );
EOF
sed 's/^\(\s*description = \).*/\1"the installer'"'"'s copy";/' /usr/share/gridgw/profiles/smoke_detector.conf >"$MINE"
out=$(/usr/bin/gridgw check -c "$CONF" 2>&1)
check "the edited config is valid" grep -q ': valid$' <<<"$out"
check "smoke_detector comes from the installer's copy in /etc/gridgw/profiles" \
	grep -q "smoke_detector .*from $MINE:" <<<"$out"
check "the other profiles come from /usr/share/gridgw/profiles" \
	grep -q "manhole_cover .*from /usr/share/gridgw/profiles/manhole_cover.conf:" <<<"$out"

run_daemon() { # name: the installed daemon, as the service runs it (user gridgw)
	rm -f /var/lib/gridgw/gridgw.sock
	spawn "$1" setpriv --reuid=gridgw --regid=gridgw --init-groups /usr/bin/gridgw run -c "$CONF"
	wait_for "[ -S /var/lib/gridgw/gridgw.sock ]" 20
}
stop_daemon() { # name
	local pid_var=PID_$1
	kill -TERM "${!pid_var}" 2>/dev/null
	wait_for "! kill -0 ${!pid_var} 2>/dev/null" 20
}
spawn sim /usr/bin/gridgw-sim -c "$CONF" --control "$TMP/sim.sock" --quiet
check "installed gridgw-sim serves the bus" wait_port "$MB" 10
check "installed gridgw runs as user gridgw from the installed config" run_daemon gw1
/usr/bin/gridgw-sim ctl "$TMP/sim.sock" set smoke-1 alarm 1 >/dev/null
check "an alarm becomes an incident in /var/lib/gridgw" \
	wait_for "/usr/bin/gridgw incidents -c '$CONF' | grep -q fire.smoke" 15
id1=$(/usr/bin/gridgw incidents -c "$CONF" --json 2>/dev/null | grep -o '"id": *"[0-9A-Z]*"' | head -n 1)
echo "# incident: $id1"
check "the daemon stops on SIGTERM" stop_daemon gw1
check "the store is owned by gridgw" bash -c "[ \"\$(stat -c %U /var/lib/gridgw/gridgw.db)\" = gridgw ]"

# ---- upgrade to N+1 ----
check "dpkg -i upgrades to $N1" dpkg_w -i "$TMP/n1/gridgw_${N1}_$ARCH.deb" "$TMP/n1/gridgw-sim_${N1}_$ARCH.deb"
check "gridgw $N1 installed" bash -c "[ \"\$(dpkg-query -W -f='\${Version}' gridgw)\" = '$N1' ] && /usr/bin/gridgw --version | grep -qx 'gridgw $N1'"
check "the conffile edit survived the upgrade" grep -q '^# --- test_deb edit ---$' "$CONF"
check "dpkg asked nothing and left no .dpkg-new/.dpkg-old" bash -c "! ls /etc/gridgw/*.dpkg-* 2>/dev/null"
check "the installer's profile survived the upgrade" grep -q "installer's copy" "$MINE"
check "the shipped profiles are $N1's" \
	bash -c "cd / && dpkg-query --control-show gridgw md5sums | grep usr/share/gridgw/profiles | md5sum -c --quiet"
check "the store still reads with the daemon down (gridgw incidents)" \
	bash -c "/usr/bin/gridgw incidents -c '$CONF' | grep -q fire.smoke"
check "$N1 opens (and migrates) the store" run_daemon gw2
check "and the running daemon lists the incident from $N" \
	bash -c "/usr/bin/gridgw incidents -c '$CONF' --json | grep -q '${id1:-no incident id}'"
check "the $N1 daemon stops" stop_daemon gw2
kill "$PID_sim" 2>/dev/null
wait_for "! kill -0 $PID_sim 2>/dev/null" 10

# ---- purge ----
check "dpkg --purge removes both" dpkg_w --purge gridgw gridgw-sim
check "neither package is known to dpkg any more" \
	bash -c "! dpkg-query -W gridgw >/dev/null 2>&1 && ! dpkg-query -W gridgw-sim >/dev/null 2>&1"
gone=1
for f in /usr/bin/gridgw /usr/bin/gridgw-sim /usr/share/gridgw /usr/share/doc/gridgw /usr/share/doc/gridgw-sim \
	/lib/systemd/system/gridgw.service /usr/lib/sysusers.d/gridgw.conf /usr/lib/tmpfiles.d/gridgw.conf \
	/usr/share/man/man8/gridgw.8.gz /usr/share/man/man5/gridgw.conf.5.gz /usr/share/man/man1/gridgw-sim.1.gz \
	"$CONF" /var/lib/gridgw /etc/systemd/system/multi-user.target.wants/gridgw.service \
	/var/lib/systemd/deb-systemd-helper-enabled/gridgw.service.dsh-also \
	/var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/gridgw.service; do
	[ -e "$f" ] || [ -L "$f" ] && { echo "# still there: $f"; gone=0; }
done
check "purge removed every file, the store, the config and the enable link" test "$gone" = 1
left=$(find /etc/gridgw -mindepth 1 2>/dev/null | tr '\n' ' ')
check "only the installer's own profile is left in /etc/gridgw ($left)" test "$left" = "/etc/gridgw/profiles $MINE "
check "dpkg --audit finds nothing broken" bash -c "[ -z \"\$(dpkg --audit 2>&1)\" ]"
tap_done
