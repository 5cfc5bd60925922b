#!/usr/bin/env bash
# The Debian package, installed for real: dpkg -i, files, owners, modes and the
# user; interlinkd -t on the packaged config; the daemon as user interlink on a
# loopback copy of it, a message submitted and pulled over TLS; dpkg --purge and
# nothing left behind; lintian. As root, on Debian 12, with or without systemd.
# Usage: packaging/test-package.sh build/deb/interlink_VERSION_ARCH.deb
set -uo pipefail

deb=${1:?usage: $0 PACKAGE.deb}
[ "$(id -u)" -eq 0 ] || { echo "test-package: must run as root (dpkg -i)" >&2; exit 2; }
[ -f "$deb" ] || { echo "test-package: no such file: $deb" >&2; exit 2; }
src=$(cd "$(dirname "$0")/.." && pwd)

pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
check() { # check DESCRIPTION COMMAND...
	local what=$1; shift
	if "$@"; then ok "$what"; else bad "$what"; fi
}
mode_is() { # mode_is PATH OWNER:GROUP MODE
	local got
	got=$(stat -c '%U:%G %a' "$1" 2>/dev/null)
	[ "$got" = "$2 $3" ] || { echo "     $1: '$got', want '$2 $3'"; return 1; }
}

# A machine where interlink is installed, or its user or paths exist, is not
# ours to purge: refuse rather than destroy someone's relay.
state=$(dpkg-query -W -f='${db:Status-Status}' interlink 2>/dev/null || true)
if [ -n "$state" ] && [ "$state" != not-installed ] ||
	getent passwd interlink >/dev/null || getent group interlink >/dev/null ||
	[ -e /etc/interlink ] || [ -e /var/lib/interlink ]; then
	echo "test-package: interlink (package, user or files) already on this machine; not touching it" >&2
	exit 2
fi

tmp=$(mktemp -d /tmp/interlink-pkgtest.XXXXXX)
chmod 0755 "$tmp"
daemon="" child=""
installed=0
cleanup() {
	if [ -n "$daemon" ] && kill -0 "$daemon" 2>/dev/null; then
		kill -TERM "${child:-$daemon}" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$daemon" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$daemon" ${child:+"$child"} 2>/dev/null
		wait "$daemon" 2>/dev/null
	fi
	[ "$installed" = 1 ] && dpkg --purge interlink >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== lintian $deb"
lintian --fail-on error --display-info "$deb" >"$tmp/lintian" 2>&1
lrc=$?
cat "$tmp/lintian"
check "lintian: no errors" test "$lrc" -eq 0

echo "== dpkg -i"
if dpkg -i "$deb" >"$tmp/dpkg-i" 2>&1; then
	installed=1
	ok "dpkg -i"
else
	installed=1
	cat "$tmp/dpkg-i"
	bad "dpkg -i"
	echo "0 passed, $((fail)) failed (install failed)"
	exit 1
fi

echo "== files, owners, modes"
check "/usr/sbin/interlinkd root:root 0755" mode_is /usr/sbin/interlinkd root:root 755
check "/usr/bin/interlinkctl root:root 0755" mode_is /usr/bin/interlinkctl root:root 755
check "/etc/interlink/interlink.conf root:root 0644" \
	mode_is /etc/interlink/interlink.conf root:root 644
check "interlink.conf is the packaged file" cmp -s /etc/interlink/interlink.conf \
	"$src/packaging/interlink.conf"
check "interlink.conf is a conffile" \
	grep -q '^ /etc/interlink/interlink.conf ' <(dpkg-query -W -f='${Conffiles}\n' interlink)
check "/var/lib/interlink interlink:interlink 0750" \
	mode_is /var/lib/interlink interlink:interlink 750
check "/etc/interlink/tls root:interlink 0750" mode_is /etc/interlink/tls root:interlink 750
check "user interlink: system uid, home /var/lib/interlink, no login shell" bash -c '
	IFS=: read -r _ _ uid gid _ home shell < <(getent passwd interlink)
	[ "$uid" -lt 1000 ] && [ "$home" = /var/lib/interlink ] &&
	case "$shell" in */nologin|*/false) true ;; *) false ;; esac &&
	[ "$(getent group interlink | cut -d: -f3)" = "$gid" ]'
check "interlinkd --version" bash -c '/usr/sbin/interlinkd --version | grep -q "^interlinkd "'
check "interlinkctl --version" bash -c '/usr/bin/interlinkctl --version >/dev/null'
# The pages as packaged (a slim image's dpkg may exclude /usr/share/man from installs).
dpkg-deb -x "$deb" "$tmp/deb"
excluded=$(grep -hs '^path-exclude.*/usr/share/man' /etc/dpkg/dpkg.cfg.d/* || true)
for m in man8/interlinkd.8 man1/interlinkctl.1 man5/interlink.conf.5; do
	f=/usr/share/man/$m.gz
	check "$f renders without warnings" bash -c \
		"out=\$(MANWIDTH=80 man --warnings -l $tmp/deb$f 2>&1 >/dev/null) && [ -z \"\$out\" ]"
	[ -n "$excluded" ] || check "$f installed" test -f "$f"
done
unit=$(dpkg -L interlink | grep '/systemd/system/interlink\.service$' || true)
if [ -f "$src/packaging/interlink.service" ]; then
	check "systemd unit installed ($unit)" test -n "$unit" -a -f "$unit"
	check "unit is the packaged file" cmp -s "$unit" "$src/packaging/interlink.service"
	if [ -d /run/systemd/system ]; then
		check "unit enabled, not started (no certificate yet)" bash -c \
			'systemctl is-enabled -q interlink && ! systemctl is-active -q interlink'
	fi
else
	echo "     (packaging/interlink.service absent: no unit to check)"
fi

echo "== interlinkd -t on the packaged config"
out=$(runuser -u interlink -- /usr/sbin/interlinkd -t -c /etc/interlink/interlink.conf 2>&1)
rc=$?
check "without certificates: exit 1 naming tls-cert ($out)" \
	bash -c "[ $rc -eq 1 ] && grep -q \"tls-cert '/etc/interlink/tls/cert.pem' cannot be read\" <<<\"\$1\"" _ "$out"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-subj /CN=localhost -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' \
	-keyout /etc/interlink/tls/key.pem -out /etc/interlink/tls/cert.pem >/dev/null 2>&1
chgrp interlink /etc/interlink/tls/key.pem && chmod 0640 /etc/interlink/tls/key.pem
out=$(runuser -u interlink -- /usr/sbin/interlinkd -t -c /etc/interlink/interlink.conf 2>&1)
check "with a self-signed certificate, as user interlink: ok ($out)" \
	test "$out" = "/etc/interlink/interlink.conf: ok"

echo "== the daemon as user interlink, on a loopback copy of the packaged config"
read -r cport aport < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')
conf=$tmp/interlink-test.conf
# The packaged file, with its listeners on loopback and free ports: never 0.0.0.0:8443.
sed -e 's/^\( *address = \)"0\.0\.0\.0"/\1"127.0.0.1"/' -e "s/^\( *port = \)8443\$/\1$cport/" \
	-e "s/^\( *port = \)8081\$/\1$aport/" /etc/interlink/interlink.conf >"$conf"
sha() { printf %s "$1" | sha256sum | cut -d' ' -f1; }
cat >>"$conf" <<EOF
# test-package.sh: two carriers that pull, one sends to the other.
peer "pkgtest-a" {
  token-sha256 = "$(sha pkgtest-a-token)"
  owns = {"+1555"}
}
peer "pkgtest-b" {
  token-sha256 = "$(sha pkgtest-b-token)"
  owns = {"b.pkgtest.example"}
}
route { prefix = "+1555" peer = "pkgtest-a" }
EOF
chmod 0644 "$conf"
check "test copy listens on loopback only" \
	bash -c "! grep -q '0\.0\.0\.0' '$conf' && [ \$(grep -c 'address = \"127.0.0.1\"' '$conf') -eq 2 ]"
check "test copy keeps data-dir /var/lib/interlink" grep -q '^data-dir = "/var/lib/interlink"' "$conf"
out=$(runuser -u interlink -- /usr/sbin/interlinkd -t -c "$conf" 2>&1)
check "interlinkd -t on the test copy ($out)" test "$out" = "$conf: ok"

runuser -u interlink -- /usr/sbin/interlinkd -c "$conf" >"$tmp/stdout" 2>"$tmp/log" &
daemon=$!
up=0
for _ in $(seq 100); do
	if curl -sf --cacert /etc/interlink/tls/cert.pem "https://127.0.0.1:$cport/v1/health" \
		>/dev/null 2>&1; then
		up=1
		break
	fi
	kill -0 "$daemon" 2>/dev/null || break
	sleep 0.1
done
check "daemon answers /v1/health over TLS on 127.0.0.1:$cport" test "$up" = 1
# runuser forks: the daemon is its child.
child=$(ps -o pid= --ppid "$daemon" | tr -d ' ')
check "daemon (pid ${child:-none}) runs as user interlink" \
	test "$(ps -o user= -p "${child:-0}" 2>/dev/null)" = interlink
curl_api() { curl -sS --cacert /etc/interlink/tls/cert.pem --max-time 15 "$@"; }
resp=$(curl_api -w ' %{http_code}' -H 'Authorization: Bearer pkgtest-b-token' \
	-H 'Content-Type: application/json' \
	-d '{"v":1,"id":"pkgtest-1","from":"ann@b.pkgtest.example","to":"+15551234567","text":"hello from the package test"}' \
	"https://127.0.0.1:$cport/v1/messages" 2>&1)
check "POST /v1/messages as pkgtest-b: 202 queued ($resp)" \
	bash -c '[[ $1 == *"\"status\":\"queued\""*" 202" ]]' _ "$resp"
resp=$(curl_api -H 'Authorization: Bearer pkgtest-a-token' \
	"https://127.0.0.1:$cport/v1/inbox?wait=5" 2>&1)
check "GET /v1/inbox as pkgtest-a: the message ($resp)" \
	bash -c '[[ $1 == *"\"text\":\"hello from the package test\""* ]]' _ "$resp"
check "the store is in /var/lib/interlink, owned by interlink" bash -c \
	'[ "$(stat -c %U /var/lib/interlink/store.mdb 2>/dev/null)" = interlink ]'
check "admin listener on 127.0.0.1:$aport" bash -c \
	"curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$aport/ | grep -q '^[23]'"
# SIGTERM to the daemon itself (runuser, signalled, would kill it and exit 143);
# runuser then exits with the daemon's status.
kill -TERM "${child:-$daemon}"
rc=0
wait "$daemon" || rc=$?
daemon=""
check "SIGTERM: exit 0 (status $rc)" test "$rc" -eq 0
check "log says stopping, then stopped" bash -c \
	"grep -q 'msg=stopping signal=TERM' '$tmp/log' && tail -n 1 '$tmp/log' | grep -q 'msg=stopped'"
if [ "$fail" -gt 0 ]; then
	echo "---- daemon log"
	cat "$tmp/log"
fi

echo "== dpkg -i again (an upgrade to the same version): an edited conffile, the store kept"
echo '# edited by test-package.sh' >>/etc/interlink/interlink.conf
if dpkg -i --force-confold "$deb" >"$tmp/dpkg-i2" 2>&1; then
	ok "dpkg -i over the installed package"
else
	cat "$tmp/dpkg-i2"
	bad "dpkg -i over the installed package"
fi
check "edited interlink.conf kept" grep -q '^# edited by test-package.sh' \
	/etc/interlink/interlink.conf
check "certificate and store kept" test -f /etc/interlink/tls/key.pem -a \
	-f /var/lib/interlink/store.mdb
check "/var/lib/interlink still interlink:interlink 0750" \
	mode_is /var/lib/interlink interlink:interlink 750

echo "== dpkg --purge"
rm -f "$conf"
if dpkg --purge interlink >"$tmp/dpkg-purge" 2>&1; then
	installed=0
	ok "dpkg --purge"
else
	cat "$tmp/dpkg-purge"
	bad "dpkg --purge"
fi
check "package not installed" bash -c \
	'[ -z "$(dpkg-query -W -f="\${db:Status-Status}" interlink 2>/dev/null | grep -v not-installed)" ]'
for p in /usr/sbin/interlinkd /usr/bin/interlinkctl /etc/interlink /var/lib/interlink \
	/usr/share/man/man8/interlinkd.8.gz /usr/share/man/man1/interlinkctl.1.gz \
	/usr/share/man/man5/interlink.conf.5.gz /usr/share/doc/interlink ${unit:+"$unit"}; do
	check "gone: $p" test ! -e "$p"
done
check "user interlink gone" bash -c '! getent passwd interlink >/dev/null'
check "group interlink gone" bash -c '! getent group interlink >/dev/null'
left=$(find /etc/systemd /var/lib/systemd /run/systemd -name '*interlink*' 2>/dev/null)
check "no systemd enablement left (${left:-none})" test -z "$left"
check "daemon (pid ${child:-none}) not running" bash -c "! kill -0 ${child:-0} 2>/dev/null"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
