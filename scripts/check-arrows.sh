#!/bin/sh
# Checks the module arrows of docs/architecture.md by reading every
# #include "..." of the tree at $1 (default: the repo):
#   common/   includes common/ only (the shared vocabulary depends on nothing of ours)
#   rules/    includes common/ and rules/
#   sensors/  includes common/ and sensors/
#   gateway/  includes anything but sim/
#   sim/      includes anything (a program, like gridgw)
# Prints each back-arrow as FILE:LINE: include and exits 1 when there is one.
root=${1:-$(dirname "$0")/..}
cd "$root" || exit 2
bad=0
check() { # folder allowed-prefix-regex
	hits=$(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$1" --include='*.c' --include='*.h' 2>/dev/null |
		grep -vE "#[[:space:]]*include[[:space:]]*\"($2)")
	if [ -n "$hits" ]; then
		echo "$hits" | sed 's/^/back-arrow: /'
		bad=1
	fi
}
check common 'common/'
check rules 'common/|rules/'
check sensors 'common/|sensors/'
check gateway 'common/|rules/|sensors/|gateway/'
exit $bad
