#!/bin/bash
# make install honours PREFIX and DESTDIR and puts every piece in place.
. "$(dirname "$0")/../lib/common.sh"
root=$TMP/root
make -s -C "$GRIDGW_TOP" BUILD="$BUILD" install DESTDIR="$root" PREFIX=/usr >"$TMP/install.log" 2>&1
check "make install succeeds" test $? = 0
for f in usr/bin/gridgw usr/bin/gridgw-sim etc/gridgw/gridgw.conf.example etc/gridgw/profiles/smoke_detector.conf \
	usr/lib/systemd/system/gridgw.service usr/lib/sysusers.d/gridgw.conf usr/lib/tmpfiles.d/gridgw.conf; do
	check "installed $f" test -s "$root/$f"
done
check "unit points at the installed binary" grep -q '^ExecStart=/usr/bin/gridgw run' "$root/usr/lib/systemd/system/gridgw.service"
check "installed binary runs" "$root/usr/bin/gridgw" --version
tap_done
