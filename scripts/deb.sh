#!/bin/bash
# make deb: builds the Debian packages gridgw and gridgw-sim with
# dpkg-buildpackage in a fresh copy of the tree (the files git knows, plus
# new ones not ignored; everything when not in a git checkout), so that the
# package builds as from a clean clone and the working tree stays clean.
# The .debs and .buildinfo/.changes land in $DEBDIR; lintian runs on them
# and any error or warning fails the build.
#   DEBDIR=build-deb       output directory
#   ARCH=arm64             cross-build (profiles cross,nocheck)
#   DEB_VERSION=0.1.0+x    package version instead of debian/changelog's
#   DEB_BUILD_OPTIONS=...  as usual (nocheck skips the unit tests)
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
out=${DEBDIR:-build-deb}
mkdir -p "$out"
out=$(cd "$out" && pwd)
version=${DEB_VERSION:-$(dpkg-parsechangelog -S Version)}
src=$out/src/gridgw-$version
rm -rf "$out/src"
mkdir -p "$src"

if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git -C "$top" ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do [ -e "$f" ] || [ -L "$f" ] && printf '%s\0' "$f"; done |
		tar -C "$top" --null -T - -cf - | tar -C "$src" -xf -
else
	tar -C "$top" --exclude='./build*' --exclude=./gridgw --exclude=./gridgw-sim -cf - . | tar -C "$src" -xf -
fi

if [ -n "${DEB_VERSION:-}" ] && [ "$DEB_VERSION" != "$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)" ]; then
	# A changelog entry of its own for the version asked for (tests build
	# N and N+1 this way; no dch, no network).
	{
		echo "gridgw ($version) unstable; urgency=medium"
		echo
		echo "  * Built with DEB_VERSION=$version."
		echo
		echo " -- $(dpkg-parsechangelog -l "$src/debian/changelog" -S Maintainer)  $(date -R)"
		echo
		cat "$src/debian/changelog"
	} >"$src/debian/changelog.new"
	mv "$src/debian/changelog.new" "$src/debian/changelog"
fi

args=(-us -uc -b "-j$(nproc)")
if [ -n "${ARCH:-}" ] && [ "$ARCH" != "$(dpkg --print-architecture)" ]; then
	args+=("-a$ARCH" -Pcross,nocheck)
	export DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:+$DEB_BUILD_OPTIONS }nocheck"
fi
start=$SECONDS
(cd "$src" && dpkg-buildpackage "${args[@]}") >"$out/build.log" 2>&1 || {
	tail -n 40 "$out/build.log" >&2
	echo "deb: dpkg-buildpackage failed (full log: $out/build.log)" >&2
	exit 1
}
echo "deb: built in $((SECONDS - start)) s:"
changes=$(ls "$out"/src/gridgw_"$version"_*.changes)
mv "$out"/src/*.deb "$out"/src/*.buildinfo "$out"/src/*.changes "$out/"
changes=$out/$(basename "$changes")
ls -1 "$out"/gridgw*_"$version"_*.deb | sed 's/^/  /'

# lintian on the binary packages: errors and warnings fail (overrides, each
# with its reason, are in debian/*.lintian-overrides).
start=$SECONDS
if lintian --fail-on error,warning --tag-display-limit 0 "$changes" >"$out/lintian.log" 2>&1; then
	echo "deb: lintian clean ($((SECONDS - start)) s)"
	sed 's/^/  /' "$out/lintian.log"
else
	sed 's/^/  /' "$out/lintian.log" >&2
	echo "deb: lintian found errors or warnings" >&2
	exit 1
fi
rm -rf "$out/src"
