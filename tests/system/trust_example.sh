#!/bin/bash
# The worked example of docs/trust.md, with nothing but openssl, xxd, printf and sha256sum:
# a one-link attestation chain signed as a batch of one, then a batch of two showing a
# proof step. Prints every intermediate value. Deterministic but for the key (Ed25519
# signatures are deterministic for a given key); KEY=<Ed25519 PKCS#8 PEM> reuses one.
#
#   tests/system/trust_example.sh            # a fresh key in a temporary directory
#   KEY=node-a.pem OUT=/tmp/ex tests/system/trust_example.sh
set -euo pipefail

OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
cd "$OUT"

sha256hex() { sha256sum | cut -d' ' -f1; }           # stdin -> 64 lower hex
leaf() { { printf '\000'; cat "$1"; } | sha256hex; }  # RFC 6962 leaf hash of a file
inner() { { printf '\001'; printf '%s%s' "$1" "$2" | xxd -r -p; } | sha256hex; }
show() { printf -- '--- %s (%d bytes, every line ends in LF):\n' "$1" "$(wc -c <"$1")"; cat "$1"; }

NODE=node-a
echo "== working directory: $OUT"

# ---- 1. the node's key, its raw public key and kid
if [ -n "${KEY:-}" ]; then cp "$KEY" node-a.pem; else openssl genpkey -algorithm ed25519 -out node-a.pem; fi
chmod 600 node-a.pem
openssl pkey -in node-a.pem -pubout -out node-a.pub.pem
openssl pkey -in node-a.pem -pubout -outform DER | tail -c 32 >node-a.raw
KID=$(sha256hex <node-a.raw | cut -c1-16)
echo "== 1. key"
cat node-a.pub.pem
echo "raw public key (hex):    $(xxd -p -c 64 node-a.raw)"
echo "raw public key (base64): $(base64 -w0 <node-a.raw)"
echo "kid = first 16 hex of SHA-256(raw key) = $KID"

# ---- 2. the statement of link 0 (node-a accepted the message from carrier-a)
TEXT='Hello from Seoul'
BODY=$(printf '%s' "$TEXT" | sha256hex)
echo "== 2. statement of att[0]"
echo "body digest: SHA-256(\"$TEXT\") = $BODY"
printf 'interlink-att/1\nnode=%s\nrid=%s\nfrom=%s\nto=%s\nts=%s\nbody=sha256:%s\npeer=%s\nlevel=%s\nprev=%s\n' \
  "$NODE" 01JDQ5X3M6T9W8E4R2V7C1B0KA +821012345678 +822087654321 1795651200000 \
  "$BODY" carrier-a owned - >stmt1
show stmt1
echo "hex:"; xxd stmt1

# ---- 3. leaf hash; a batch of one: root = leaf, proof = []
LEAF1=$(leaf stmt1)
echo "== 3. leaf = SHA-256(0x00 || statement) = $LEAF1"
echo "batch of one: root = leaf, proof = []"

# ---- 4. the batch (root) statement, signed
AT1=1795651200250
printf 'interlink-batch/1\nnode=%s\nkid=%s\nat=%s\nroot=%s\n' "$NODE" "$KID" "$AT1" "$LEAF1" >batch1
echo "== 4. root statement"
show batch1
openssl pkeyutl -sign -inkey node-a.pem -rawin -in batch1 -out batch1.sig
SIG1=$(base64 -w0 <batch1.sig)
echo "signature (base64, 64 bytes): $SIG1"
echo "the link on the wire:"
printf '"att":[{"node":"%s","rid":"%s","peer":"%s","level":"%s","kid":"%s","at":%s,"proof":[],"sig":"%s"}]\n' \
  "$NODE" 01JDQ5X3M6T9W8E4R2V7C1B0KA carrier-a owned "$KID" "$AT1" "$SIG1"

# ---- 5. verification, as a receiving carrier does it
echo "== 5. verify: openssl pkeyutl -verify -pubin -inkey node-a.pub.pem -rawin -in batch1 -sigfile batch1.sig"
openssl pkeyutl -verify -pubin -inkey node-a.pub.pem -rawin -in batch1 -sigfile batch1.sig

# ---- 6. a batch of two: stmt1 and a second message's statement, one signature
TEXT2='Annyeong'
printf 'interlink-att/1\nnode=%s\nrid=%s\nfrom=%s\nto=%s\nts=%s\nbody=sha256:%s\npeer=%s\nlevel=%s\nprev=%s\n' \
  "$NODE" 01JDQ5X3M6T9W8E4R2V7C1B0KB +821012345678 +822055550000 1795651200100 \
  "$(printf '%s' "$TEXT2" | sha256hex)" carrier-a owned - >stmt2
LEAF2=$(leaf stmt2)
ROOT=$(inner "$LEAF1" "$LEAF2")
AT2=1795651201000
echo "== 6. a batch of two"
show stmt2
echo "leaf 0 (stmt1) = $LEAF1"
echo "leaf 1 (stmt2) = $LEAF2"
echo "root = SHA-256(0x01 || leaf 0 || leaf 1) = $ROOT"
echo "proof of stmt1: [\"r:$LEAF2\"]   (sibling on the right: h = inner(h, sib))"
echo "proof of stmt2: [\"l:$LEAF1\"]   (sibling on the left:  h = inner(sib, h))"
printf 'interlink-batch/1\nnode=%s\nkid=%s\nat=%s\nroot=%s\n' "$NODE" "$KID" "$AT2" "$ROOT" >batch2
show batch2
openssl pkeyutl -sign -inkey node-a.pem -rawin -in batch2 -out batch2.sig
echo "signature (base64): $(base64 -w0 <batch2.sig)"

# ---- 7. a verifier holding only stmt2, its proof and the signature
H=$(inner "$LEAF1" "$(leaf stmt2)")
echo "== 7. verify stmt2: h = leaf(stmt2); step l: h = inner(sib, h) = $H"
[ "$H" = "$ROOT" ] && echo "walk ends at the root"
printf 'interlink-batch/1\nnode=%s\nkid=%s\nat=%s\nroot=%s\n' "$NODE" "$KID" "$AT2" "$H" >check2
openssl pkeyutl -verify -pubin -inkey node-a.pub.pem -rawin -in check2 -sigfile batch2.sig
