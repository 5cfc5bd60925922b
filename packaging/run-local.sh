#!/bin/sh
# `make run`: starts interlinkd in the foreground on packaging/interlink-local.conf
# (loopback ports, data under ./var/). Ctrl-C stops it cleanly.
set -eu
bin=${1:-build/interlinkd}
conf=packaging/interlink-local.conf

"$bin" -t -c "$conf" >/dev/null
mkdir -p var
cat <<MSG
interlink relay (local development)
  config       $conf
  data         ./var/data
  carrier API  http://127.0.0.1:8443/v1/   (try: curl http://127.0.0.1:8443/v1/health)
  admin        http://127.0.0.1:8081/      (console: not built yet)
Ctrl-C stops it.
MSG
exec "$bin" -c "$conf"
