#!/bin/sh
# `make run`: starts interlinkd in the foreground on packaging/interlink-local.conf
# (loopback ports, data under ./var/). Ctrl-C stops it cleanly.
set -eu
bin=${1:-build/interlinkd}
conf=packaging/interlink-local.conf
api=http://127.0.0.1:8443

"$bin" -t -c "$conf" >/dev/null
mkdir -p var
cat <<MSG
interlink relay (local development)
  config       $conf
  data         ./var/data
  carrier API  $api/v1/   (health: curl $api/v1/health)
  admin        http://127.0.0.1:8081/   (user admin; on the first start its password is
               printed below, once — delete ./var to start afresh)
Two demo carriers pull their messages: demo-a (+1555...) and demo-b (@demo-b.example).
  send as demo-b:  curl -s -H 'Authorization: Bearer demo-b-token' -H 'Content-Type: application/json' \\
                     -d '{"v":1,"id":"hello-1","from":"ann@demo-b.example","to":"+15551234567","text":"hi"}' \\
                     $api/v1/messages
  pull as demo-a:  curl -s -H 'Authorization: Bearer demo-a-token' '$api/v1/inbox?wait=5'
Ctrl-C stops it.
MSG
exec "$bin" -c "$conf"
