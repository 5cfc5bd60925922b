#!/bin/sh
# `make footprint`: what interlink costs a small box — the stripped binaries, the
# daemon's resident memory idle, and its peak under load (wrk POSTing 1 KiB
# envelopes that are stored with sync = full and held for a pull peer, as
# tests/bench/bench_relay.py's case b). Figures for docs/operations.md.
# Usage: packaging/footprint.sh [INTERLINKD [INTERLINKCTL]]   (FOOTPRINT_SECONDS=10)
set -eu
daemon=${1:-build/interlinkd}
ctl=${2:-build/interlinkctl}
secs=${FOOTPRINT_SECONDS:-10}
root=$(cd "$(dirname "$0")/.." && pwd)

mkdir -p build
work=$(mktemp -d "$root/build/footprint.XXXXXX")
pid=
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

free_port() {
	/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}
kb() { # a field of /proc/PID/status, in kB
	awk -v k="$1:" '$1 == k { print $2 }' "/proc/$pid/status"
}
memline() {
	printf '%s kB (anon %s kB, file %s kB, shared memory %s kB), %s threads' \
		"$(kb "$1")" "$(kb RssAnon)" "$(kb RssFile)" "$(kb RssShmem)" "$(kb Threads)"
}

echo "interlink footprint: $daemon, $ctl ($(uname -m), $(${CC:-cc} --version | head -n1))"

# ---- stripped sizes (copies: the build keeps its symbols)
for b in "$daemon" "$ctl"; do
	n=$(basename "$b")
	strip -o "$work/$n" "$b"
	s=$(stat -c %s "$work/$n")
	printf '  %-12s stripped %8d bytes (%d KiB), %d shared libraries (ldd)\n' \
		"$n" "$s" $(((s + 1023) / 1024)) "$(ldd "$b" | grep -c '=>')"
done

# ---- the daemon on loopback: a sending peer and a pull peer that holds what it gets
port=$(free_port)
admin=$(free_port)
token=footprint-bench-token
sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
cat >"$work/interlink.conf" <<CONF
node-id = "footprint.interlink"
data-dir = "$work/data"
log-level = "warn"
carrier-listener {
  address = "127.0.0.1"
  port = $port
  plain-http = true
}
admin-listener {
  address = "127.0.0.1"
  port = $admin
}
store {
  sync = "full"
}
peer "bench" {
  kind = "carrier"
  token-sha256 = "$(sha "$token")"
  owns = {"+8210"}
  rate = 1000000
}
peer "hold" {
  kind = "carrier"
  token-sha256 = "$(sha hold-token-unused)"
  owns = {"+8290"}
  max-queue = 100000000
}
route {
  prefix = "+8290"
  peer = "hold"
}
CONF
"$daemon" -c "$work/interlink.conf" >"$work/stdout" 2>"$work/log" &
pid=$!
url=http://127.0.0.1:$port
i=0
until curl -fs -o /dev/null "$url/v1/health"; do
	i=$((i + 1))
	if [ $i -gt 200 ] || ! kill -0 "$pid" 2>/dev/null; then
		echo "footprint: interlinkd did not start:" >&2
		cat "$work/log" >&2
		exit 1
	fi
	sleep 0.05
done
sleep 2
echo "  RSS idle (2 s after start):   VmRSS $(memline VmRSS)"

if ! command -v wrk >/dev/null; then
	echo "  RSS under load: not measured (wrk is not installed)"
	exit 0
fi
wrk -t2 -c32 -d"${secs}s" -s "$root/tests/bench/wrk_post.lua" "$url/" -- \
	"$token" +821000000001 +829000000001 "fp$$" >"$work/wrk.txt" 2>&1 &
wrk=$!
# VmHWM counts the store's pages (LMDB maps its file): the process's own memory
# is the anonymous part, sampled here for its peak.
anon_max=0
while kill -0 "$wrk" 2>/dev/null; do
	a=$(kb RssAnon)
	[ "$a" -gt "$anon_max" ] && anon_max=$a
	sleep 0.2
done
wait "$wrk" || { echo "footprint: wrk failed:" >&2; cat "$work/wrk.txt" >&2; exit 1; }
rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$work/wrk.txt")
non2xx=$(awk '/Non-2xx/ { print $NF }' "$work/wrk.txt")
echo "  load: wrk -t2 -c32 ${secs} s, 1 KiB envelopes stored (sync = full): ${rps:-?} requests/s" \
	"${non2xx:+($non2xx not 2xx)}"
echo "  RSS under load (peak):        VmHWM $(kb VmHWM) kB, of it anonymous at most" \
	"$anon_max kB (sampled every 0.2 s); the rest is the store's file pages"
echo "  RSS after the load:           VmRSS $(memline VmRSS)"
echo "  store after the load:         $(du -sk "$work/data" | cut -f1) kB on disk"
kill -TERM "$pid"
wait "$pid" || { echo "footprint: interlinkd exited $? on SIGTERM" >&2; exit 1; }
pid=
