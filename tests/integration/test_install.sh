#!/bin/bash
# make install honours PREFIX, SYSCONFDIR and DESTDIR and puts every piece
# where the Debian package does (shipped profiles in $(DATADIR)/gridgw, the
# installer's empty profiles dir and a safe gridgw.conf under SYSCONFDIR,
# man pages, unit/sysusers/tmpfiles with the paths substituted); a second
# install keeps an edited gridgw.conf; make uninstall removes everything
# but the configuration. Uses the build's own PREFIX (default /usr/local):
# another PREFIX would compile other paths in and rebuild $BUILD.
. "$(dirname "$0")/../lib/common.sh"
root=$TMP/root
P=/usr/local
mk() { make -s -C "$GRIDGW_TOP" BUILD="$BUILD" DESTDIR="$root" "$@" >>"$TMP/install.log" 2>&1; }
mk install
check "make install succeeds" test $? = 0
for f in bin/gridgw bin/gridgw-sim share/gridgw/profiles/smoke_detector.conf share/doc/gridgw/examples/gridgw.conf \
	share/man/man8/gridgw.8 share/man/man5/gridgw.conf.5 share/man/man1/gridgw-sim.1 \
	lib/systemd/system/gridgw.service lib/sysusers.d/gridgw.conf lib/tmpfiles.d/gridgw.conf; do
	check "installed $P/$f" test -s "$root$P/$f"
done
check "installed /etc/gridgw/gridgw.conf (the safe one)" grep -q 'gridgw-unconfigured' "$root/etc/gridgw/gridgw.conf"
check "the installer's /etc/gridgw/profiles is there and empty" \
	bash -c "[ -d '$root/etc/gridgw/profiles' ] && [ -z \"\$(ls -A '$root/etc/gridgw/profiles')\" ]"
check "no profile copied to /etc (vendor copies live in $P/share)" bash -c "! ls '$root'/etc/gridgw/*.example 2>/dev/null"
unit=$root$P/lib/systemd/system/gridgw.service
check "unit points at the installed binary and config" \
	grep -qx "ExecStart=$P/bin/gridgw run -c /etc/gridgw/gridgw.conf" "$unit"
check "no @PLACEHOLDER@ left in the unit" bash -c "! grep -q '@[A-Z]*@' '$unit'"
check "installed binary runs" "$root$P/bin/gridgw" --version
# The installed binary finds the shipped profiles through the vendor dir
# (compiled in as $P/share/gridgw/profiles): point it at the DESTDIR copy.
out=$(GRIDGW_VENDOR_PROFILES_DIR="$root$P/share/gridgw/profiles" "$root$P/bin/gridgw" check -c "$root/etc/gridgw/gridgw.conf" 2>&1)
check "installed config is valid and its profiles come from the vendor dir" \
	grep -q "smoke_detector .*from $root$P/share/gridgw/profiles/smoke_detector.conf" <<<"$out"
check "compiled-in vendor dir is $P/share/gridgw/profiles" \
	bash -c "'$root$P/bin/gridgw' check -c '$root/etc/gridgw/gridgw.conf' | grep -q 'vendor_profiles_dir $P/share/gridgw/profiles'"

echo "# edited" >>"$root/etc/gridgw/gridgw.conf"
mk install
check "a second install keeps an edited gridgw.conf" grep -q '^# edited' "$root/etc/gridgw/gridgw.conf"

mk uninstall
check "make uninstall succeeds" test $? = 0
left=$(cd "$root" && find . -type f | sort | tr '\n' ' ')
check "uninstall leaves only the configuration (left: $left)" test "$left" = "./etc/gridgw/gridgw.conf "
check "uninstall removed the vendor profile dir" test ! -e "$root$P/share/gridgw"
tap_done
