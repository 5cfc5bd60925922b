"""Tests of trustcheck.py itself, without the daemon: keys made with `openssl genpkey`,
batches signed with `openssl pkeyutl -sign -rawin`, RFC 6962 trees built here."""
import base64
import copy
import hashlib
import http.server
import json
import os
import subprocess
import threading

import pytest

import trustcheck
from trustcheck import TrustError, leaf_hash, inner_hash

AT_A = 1795651200500
AT_B = 1795651201700


def openssl(*args, data=None):
    return subprocess.run(["openssl", *args], input=data, stdout=subprocess.PIPE,
                          check=True).stdout


class Key:
    """A throwaway Ed25519 key of `node`."""

    def __init__(self, tmp, node):
        self.node = node
        self.path = str(tmp / (node + ".pem"))
        openssl("genpkey", "-algorithm", "ed25519", "-out", self.path)
        der = openssl("pkey", "-in", self.path, "-pubout", "-outform", "DER")
        assert len(der) == 44
        self.raw = der[-32:]
        self.kid = hashlib.sha256(self.raw).hexdigest()[:16]
        self.pem = openssl("pkey", "-in", self.path, "-pubout").decode("ascii")
        self.tmp = tmp

    def sign(self, data):
        p = self.tmp / "to-sign"
        p.write_bytes(data)
        return openssl("pkeyutl", "-sign", "-inkey", self.path, "-rawin", "-in", str(p))

    def entry(self, valid_until=None):
        return {"node": self.node, "pem": self.pem, "valid_until": valid_until}


def mth(leaves):
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return inner_hash(mth(leaves[:k]), mth(leaves[k:]))


def path(m, leaves):
    """RFC 6962 PATH(m, D[n]), leaf upwards, each step marked l:/r:."""
    if len(leaves) == 1:
        return []
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    if m < k:
        return path(m, leaves[:k]) + ["r:" + mth(leaves[k:]).hex()]
    return path(m - k, leaves[k:]) + ["l:" + mth(leaves[:k]).hex()]


def sign_batch(key, stmts, at):
    """One signature for all of stmts -> a sig dict for each (as on the wire)."""
    leaves = [leaf_hash(s) for s in stmts]
    root = mth(leaves)
    sig = key.sign(trustcheck.batch_statement(key.node, key.kid, at, root))
    assert len(sig) == 64
    return [{"node": key.node, "kid": key.kid, "at": at, "proof": path(i, leaves),
             "sig": base64.b64encode(sig).decode("ascii")} for i in range(len(stmts))]


def other(n):
    return ("interlink-att/1\nnode=node-a\nrid=OTHER%d\n" % n).encode()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("trust")
    a, b = Key(tmp, "node-a"), Key(tmp, "node-b")
    env = {"v": 1, "id": "m-1", "from": "+821012345678", "to": "+822087654321",
           "ts": 1795651200000, "ttl": 3600, "type": "text/plain; charset=utf-8",
           "text": "Hello from Seoul", "dlr": True, "prio": 1, "hops": ["node-a"],
           "att": []}
    # link 0: node-a, one of a batch of 3 (the middle one: a two-step proof)
    env["att"].append({"node": "node-a", "rid": "01JDQ5X3M6T9W8E4R2V7C1B0KA",
                       "peer": "carrier-a", "level": "owned"})
    stmts = [other(1), trustcheck.att_statement(env, 0), other(2)]
    env["att"][0].update(sign_batch(a, stmts, AT_A)[1])
    # link 1: node-b, which got it from node-a; a batch of one (empty proof)
    env["att"].append({"node": "node-b", "rid": "01JDQ5X4A0B1C2D3E4F5G6H7J8",
                       "peer": "node-a", "level": "relayed"})
    env["att"][1].update(sign_batch(b, [trustcheck.att_statement(env, 1)], AT_B)[0])
    rep = {"v": 1, "id": "dlr-1", "kind": "report", "from": "+822087654321",
           "to": "+821012345678", "ref": "01JDQ5X4A0B1C2D3E4F5G6H7J8",
           "status": "delivered", "at": AT_B + 5000, "via": "carrier-b",
           "sig": {"node": "node-b"}}
    rep["sig"].update(sign_batch(b, [other(3), other(4), trustcheck.report_statement(rep)],
                                 AT_B + 6000)[2])
    keys = {a.kid: a.entry(), b.kid: b.entry(valid_until=AT_B + 86400000)}
    return {"a": a, "b": b, "env": env, "rep": rep, "keys": keys}


def test_statement_bytes(world):
    env = world["env"]
    s0 = trustcheck.att_statement(env, 0)
    assert s0 == (b"interlink-att/1\nnode=node-a\nrid=01JDQ5X3M6T9W8E4R2V7C1B0KA\n"
                  b"from=+821012345678\nto=+822087654321\nts=1795651200000\n"
                  b"body=sha256:" + hashlib.sha256(b"Hello from Seoul").hexdigest().encode()
                  + b"\npeer=carrier-a\nlevel=owned\nprev=-\n")
    s1 = trustcheck.att_statement(env, 1)
    assert s1.endswith(b"\nprev=" + leaf_hash(s0).hex().encode() + b"\n")
    assert trustcheck.report_statement(world["rep"]) == (
        b"interlink-report/1\nnode=node-b\nref=01JDQ5X4A0B1C2D3E4F5G6H7J8\n"
        b"status=delivered\nat=%d\nvia=carrier-b\n" % (AT_B + 5000))


def test_merkle_proofs():
    stmts = [b"s%d\n" % i for i in range(7)]
    leaves = [leaf_hash(s) for s in stmts]
    root = mth(leaves)
    assert mth(leaves[:1]) == leaves[0]
    assert mth(leaves[:3]) == inner_hash(inner_hash(leaves[0], leaves[1]), leaves[2])
    for m in range(7):
        assert trustcheck.root_from_proof(leaves[m], path(m, leaves)) == root
    with pytest.raises(TrustError):
        trustcheck.root_from_proof(leaves[0], ["x:" + "00" * 32])


def test_chain_verifies(world):
    assert trustcheck.verify_chain(world["env"], world["keys"]) == [
        ("node-a", "owned"), ("node-b", "relayed")]
    assert world["env"]["att"][0]["proof"] and not world["env"]["att"][1]["proof"]


def test_report_verifies(world):
    trustcheck.verify_report(world["rep"], world["keys"])


def flip_hex(h):
    return h[:-1] + ("0" if h[-1] != "0" else "1")


def tamper_sig(link):
    raw = bytearray(base64.b64decode(link["sig"]))
    raw[10] ^= 0x01
    link["sig"] = base64.b64encode(bytes(raw)).decode()


TAMPER = {
    "from": (lambda e: e.update({"from": "+821099999999"}), 0),
    "to": (lambda e: e.update({"to": "+822000000000"}), 0),
    "link to": (lambda e: e["att"][1].update({"to": "bob@line.example"}), 1),
    "ts": (lambda e: e.update({"ts": e["ts"] + 1}), 0),
    "text": (lambda e: e.update({"text": "Hello from Busan"}), 0),
    "body": (lambda e: (e.pop("text"), e.update({"body": "SGVsbG8gZnJvbSBTZW91bA=="})), None),
    "rid": (lambda e: e["att"][0].update({"rid": "01JDQ5X3M6T9W8E4R2V7C1B0KB"}), 0),
    "peer": (lambda e: e["att"][0].update({"peer": "carrier-x"}), 0),
    "level": (lambda e: e["att"][0].update({"level": "directory"}), 0),
    "level of last": (lambda e: e["att"][1].update({"level": "owned"}), 1),
    "order": (lambda e: e["att"].reverse(), 0),
    "drop first": (lambda e: e["att"].pop(0), 0),
    "proof step": (lambda e: e["att"][0]["proof"].__setitem__(
        0, e["att"][0]["proof"][0][:2] + flip_hex(e["att"][0]["proof"][0][2:])), 0),
    "proof side": (lambda e: e["att"][0]["proof"].__setitem__(
        0, "r" + e["att"][0]["proof"][0][1:]), 0),
    "proof dropped": (lambda e: e["att"][0]["proof"].pop(), 0),
    "at": (lambda e: e["att"][1].update({"at": e["att"][1]["at"] + 1}), 1),
    "sig byte": (lambda e: tamper_sig(e["att"][1]), 1),
}


@pytest.mark.parametrize("name", sorted(TAMPER))
def test_tampered_chain_fails(world, name):
    fn, index = TAMPER[name]
    env = copy.deepcopy(world["env"])
    fn(env)
    if index is None:       # same bytes as text, sent as body: still verifies
        assert len(trustcheck.verify_chain(env, world["keys"])) == 2
        return
    with pytest.raises(TrustError) as e:
        trustcheck.verify_chain(env, world["keys"])
    assert str(e.value) == "att[%d]: signature does not verify" % index


def test_unknown_kid(world):
    keys = dict(world["keys"])
    del keys[world["a"].kid]
    with pytest.raises(TrustError) as e:
        trustcheck.verify_chain(world["env"], keys)
    assert str(e.value) == "att[0]: unknown key id %s" % world["a"].kid


def test_expired_key(world):
    keys = dict(world["keys"])
    keys[world["b"].kid] = world["b"].entry(valid_until=AT_B - 1)
    with pytest.raises(TrustError) as e:
        trustcheck.verify_chain(world["env"], keys)
    assert str(e.value) == "att[1]: key %s expired" % world["b"].kid
    keys[world["b"].kid] = world["b"].entry(valid_until=AT_B)   # "at" may equal valid_until
    assert len(trustcheck.verify_chain(world["env"], keys)) == 2


def test_key_of_another_node(world):
    env = copy.deepcopy(world["env"])
    env["att"][1]["kid"] = world["a"].kid       # node-b's link claiming node-a's key
    with pytest.raises(TrustError) as e:
        trustcheck.verify_chain(env, world["keys"])
    assert str(e.value).startswith("att[1]: key %s is not node node-b" % world["a"].kid)


@pytest.mark.parametrize("field,value", [("status", "failed"), ("at", 1), ("via", "carrier-x"),
                                         ("ref", "01JDQ5X4A0B1C2D3E4F5G6H7J9")])
def test_tampered_report_fails(world, field, value):
    rep = copy.deepcopy(world["rep"])
    rep[field] = value
    with pytest.raises(TrustError, match="^signature does not verify$"):
        trustcheck.verify_report(rep, world["keys"])


def test_unsigned_report_fails(world):
    rep = copy.deepcopy(world["rep"])
    del rep["sig"]
    with pytest.raises(TrustError):
        trustcheck.verify_report(rep, world["keys"])


def test_fetch_keys(world):
    b = world["b"]
    doc = {"node": "node-b", "keys": [{
        "kid": b.kid, "alg": "Ed25519", "public_key": base64.b64encode(b.raw).decode(),
        "pem": b.pem, "valid_until": None}]}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps(doc).encode() if self.path == "/v1/keys" else b"{}"
            self.send_response(200 if self.path == "/v1/keys" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        keys = trustcheck.fetch_keys("http://127.0.0.1:%d" % srv.server_address[1])
    finally:
        srv.shutdown()
        srv.server_close()
    assert keys == {b.kid: {"node": "node-b", "pem": b.pem, "valid_until": None}}
    assert keys == trustcheck.keys_from_json(json.dumps(doc))
    trustcheck.verify_report(world["rep"], keys)


def test_the_worked_example_in_trust_md_verifies(tmp_path):
    """docs/trust.md's "Check it yourself" block, run as a reader would: it must print the
    hashes it promises and end in openssl's "Signature Verified Successfully"."""
    doc = open(os.path.join(os.path.dirname(__file__), "..", "..", "docs", "trust.md")).read()
    start = doc.index("**Check it yourself**")
    block = doc[doc.index("```bash\n", start) + 8:doc.index("\n```", doc.index("```bash\n", start))]
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=tmp_path,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    promised = [line.strip("# ").split()[0] for line in block.splitlines()
                if line.startswith("#   ") and "Verified" not in line]
    for value in promised:
        assert value in r.stdout, (value, r.stdout)
    assert "Signature Verified Successfully" in r.stdout
