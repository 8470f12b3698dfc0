#!/bin/sh
# Installs what a cross build for one Debian architecture needs: the cross
# toolchain (crossbuild-essential-ARCH), qemu-user to run its unit tests, and
# the :ARCH variants of the -dev packages named on the command line (the
# Makefile passes the -dev packages of its DEPS_PKGS, so a library added
# there flows in here). Idempotent: with everything present it runs no apt.
#   scripts/cross-deps.sh arm64 libmodbus-dev libconfig-dev ...
set -e
arch=$1; shift
host_pkgs="crossbuild-essential-$arch qemu-user dpkg-dev"
foreign=""
for p in "$@"; do foreign="$foreign $p:$arch"; done
if [ "$(dpkg --print-architecture)" != "$arch" ] && ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
  need_arch=1
else
  need_arch=0
fi
missing=""
for p in $host_pkgs $foreign; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && [ "$need_arch" = 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "cross-deps: missing packages:$missing (run 'make cross-deps ARCH=$arch' as root)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if [ "$need_arch" = 1 ]; then
  echo "cross-deps: dpkg --add-architecture $arch"
  dpkg --add-architecture "$arch"
fi
echo "cross-deps: installing$missing"
apt-get update -qq -o DPkg::Lock::Timeout=600
apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 $missing
