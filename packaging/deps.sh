#!/bin/sh
# Installs the Debian packages interlink needs to build and test, when missing.
# As root it runs apt-get non-interactively; otherwise it prints the command and fails.
# Usage: packaging/deps.sh [build|test|package]   (test and package include build)
set -eu

build="gcc make pkg-config libmicrohttpd-dev libgnutls28-dev liblmdb-dev libssl-dev
libconfuse-dev libcurl4-openssl-dev libjansson-dev"
# prometheus: /usr/bin/promtool, which checks a live /metrics scrape (tests/system/test_metrics.py)
test="libcmocka-dev python3 python3-pytest curl openssl clang libclang-rt-14-dev lmdb-utils wrk
prometheus
chromium nodejs"
# make deb / make package-test: build the .deb, check it with lintian and man, test it installed
package="dpkg-dev debhelper fakeroot lintian man-db curl openssl python3"

case "${1:-test}" in
build) want="$build" ;;
test) want="$build $test" ;;
package) want="$build $package" ;;
*) echo "usage: $0 [build|test|package]" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$status" = "installed" ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "interlink: missing Debian packages:$missing" >&2
	echo "install them with:" >&2
	echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends$missing" >&2
	exit 1
fi
echo "interlink: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >&2
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing >&2
