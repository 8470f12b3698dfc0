#!/bin/bash
# make cross-test: runs the unit tests of a cross build (BUILD dir given)
# under qemu-user, with the target's libraries from the multiarch paths
# (-L /usr/TRIPLET for the cross libc's loader). TAP like tests/run.sh:
# "N passed, N failed", exit 1 on any failure. Exit 77 (and a reason) only
# where qemu cannot run a binary of that architecture at all.
#   scripts/cross-test.sh arm64 build-arm64
set -u
arch=$1 build=$2
triplet=$(dpkg-architecture -a"$arch" -qDEB_HOST_GNU_TYPE 2>/dev/null)
qarch=$(dpkg-architecture -a"$arch" -qDEB_HOST_GNU_CPU 2>/dev/null)
case $qarch in arm) qarch=arm ;; esac
qemu=$(command -v "qemu-$qarch" || command -v "qemu-$qarch-static" || true)
if [ -z "$qemu" ]; then
	echo "cross-test: SKIP: no qemu-$qarch (make cross-deps ARCH=$arch installs qemu-user)"
	exit 77
fi
# The loader must come from the same glibc build as libc.so.6. With the
# :ARCH -dev packages installed through multiarch, ld.so finds libc6:ARCH in
# /lib/TRIPLET (qemu's -L only redirects paths that exist under the prefix),
# so "-L /usr/TRIPLET" paired the cross toolchain's loader (2.36-8cross1)
# with the multiarch libc (2.36-9+deb12u14): their GLIBC_PRIVATE _rtld_global
# layouts differ and the first pthread_create spun forever walking the stack
# cache list. That, not poll/accept under qemu, hung the threaded suites.
if [ -e "/lib/$triplet/libc.so.6" ]; then
	prefix=/
else
	prefix=/usr/$triplet
fi
run() { "$qemu" -L "$prefix" "$@"; }
# Can qemu run anything of this architecture here (no binfmt needed)?
probe=$build/tests/test_timeutil
if ! out=$(run "$probe" 2>&1); then
	if grep -qiE 'exec format|cannot|Invalid ELF|mmap|not supported' <<<"$out"; then
		echo "cross-test: SKIP: qemu-$qarch cannot run $arch binaries here: $(head -n 1 <<<"$out")"
		exit 77
	fi
fi
echo "cross-test: qemu -L $prefix (target loader and libc from one glibc)"
file -b "$probe" 2>/dev/null | sed "s/^/cross-test: $arch binaries: /" | cut -c1-100
export CMOCKA_MESSAGE_OUTPUT=TAP GRIDGW_TOP=$PWD
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY
logdir=$build/test-logs
mkdir -p "$logdir"
# Suites to skip by name (none by default; for local experiments only).
QEMU_HANGS=${QEMU_HANGS-}
pass=0 fail=0 skipped=0 start=$SECONDS
for t in "$build"/tests/test_*; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	if [[ " $QEMU_HANGS " == *" $name "* ]]; then
		echo "$arch/$name: SKIP (hangs under qemu-user, see scripts/cross-test.sh)"
		skipped=$((skipped + 1)); continue
	fi
	t0=$SECONDS
	timeout -k 10 120 "$qemu" -L "$prefix" "$t" >"$logdir/$name.log" 2>&1
	rc=$?
	p=$(grep -cE '^ok ' "$logdir/$name.log"); f=$(grep -cE '^not ok ' "$logdir/$name.log")
	[ "$rc" != 0 ] && [ "$f" = 0 ] && f=1 && echo "not ok - $name exited with status $rc" >>"$logdir/$name.log"
	pass=$((pass + p)); fail=$((fail + f))
	printf '%s/%-34s %4d passed %4d failed  (%ds)\n' "$arch" "$name" "$p" "$f" $((SECONDS - t0))
	[ "$f" = 0 ] || { grep -E '^not ok ' "$logdir/$name.log" | sed 's/^/    /'; tail -n 20 "$logdir/$name.log" | sed 's/^/    | /'; }
done
echo "cross-test $arch (qemu $($qemu --version | head -n 1 | awk '{print $3}')): $pass passed, $fail failed, $skipped suites skipped in $((SECONDS - start)) s"
[ "$fail" = 0 ] && [ "$pass" -gt 0 ]
