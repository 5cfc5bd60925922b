"""Signed sender attestations and delivery reports against the real interlinkd
(docs/trust.md): node keys and GET /v1/keys, a chain of three nodes whose attestation and
report the receiving carriers verify with only the published keys (trustcheck.py: the
openssl command line and hashlib, not the relay's code), and a relay refusing tampered,
unknown-key, expired-key and unsigned input from a peer whose keys it pins — in its config
file or over the admin API."""
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
from admin_client import admin_listener_extra, admin_session
from conftest import BINARY, CTL, Peer, free_port, node_config, write_config

FAST = 'retry-initial = "100ms"\nretry-max = "1s"\ntimeout = "2s"'
ORIGIN_NUM = "+821011112222"
DEST_NUM = "+822033334444"


# ------------------------------------------------------------ helpers

class NodeKey:
    """An Ed25519 key made with the openssl command, as an operator would give it in
    trust { key-file }: its file (0600) and its raw public key in base64 (for pins)."""

    def __init__(self, path):
        self.path = path
        subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(path)],
                       check=True, capture_output=True)
        os.chmod(path, 0o600)
        der = subprocess.run(["openssl", "pkey", "-in", str(path), "-pubout", "-outform", "DER"],
                             check=True, capture_output=True).stdout
        self.raw = der[-32:]
        self.b64 = base64.b64encode(self.raw).decode()
        self.kid = hashlib.sha256(self.raw).hexdigest()[:16]


def pin(key, until=None):
    """A pin as the config writes it: the raw public key in base64, maybe its end."""
    return f'"{key.b64} until {until}"' if until else f'"{key.b64}"'


def keys_line(*pins):
    return "  keys = {" + ", ".join(pins) + "}"


def trust_section(key):
    return f'trust {{\n  key-file = "{key.path}"\n}}\n'


def start_node(start_daemon, tmp_path, name, peers, routes, key=None, port=None):
    port = port or free_port()
    conf = node_config(tmp_path / f"data-{name}", port, free_port(), peers=peers,
                       routes=routes, node_id=name, delivery=FAST,
                       extra=trust_section(key) if key else "")
    return start_daemon(conf, name=f"{name}.conf", base_url=f"http://127.0.0.1:{port}")


def relay_peer(name, port, key=None, until=None):
    """Node `name` as its neighbour knows it: a relay pushed to on port, its key pinned."""
    p = Peer(name, kind="relay", endpoints=[f"http://127.0.0.1:{port}/v1/messages"])
    if key:
        p.extra = keys_line(pin(key, until))
    return p


def link(a, b):
    """a pushes to b as the peer b knows: the outbound token of b-as-known-by-a is the token
    of a-as-known-by-b."""
    a.outbound_token = b.token


def submit(node, peer, env):
    status, _, body = node.call("POST", "/v1/messages", env, token=peer.token)
    assert status == 202, (status, body)
    return body["rid"]


def envelope(mid, text="hello", **kw):
    env = {"v": 1, "id": mid, "from": ORIGIN_NUM, "to": DEST_NUM, "text": text}
    env.update(kw)
    return env


# ------------------------------------------------------------ node keys

def test_node_key_is_generated_published_and_kept(tmp_path, start_daemon):
    port = free_port()
    conf = node_config(tmp_path / "data", port, free_port(), node_id="node-k")
    d = start_daemon(conf, base_url=f"http://127.0.0.1:{port}")
    key_file = tmp_path / "data" / "node-ed25519.pem"
    assert os.stat(key_file).st_mode & 0o777 == 0o600
    status, _, doc = d.call("GET", "/v1/keys")            # no token: public
    assert status == 200, doc
    assert doc["node"] == "node-k" and len(doc["keys"]) == 1
    k = doc["keys"][0]
    raw = base64.b64decode(k["public_key"])
    assert k["alg"] == "Ed25519" and len(raw) == 32
    assert k["kid"] == hashlib.sha256(raw).hexdigest()[:16]
    assert k["valid_until"] is None
    # the PEM is the same key, as openssl reads it, and so is the private key on disk
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=k["pem"].encode(),
                         check=True, capture_output=True).stdout
    assert der[-32:] == raw
    der = subprocess.run(["openssl", "pkey", "-in", str(key_file), "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    assert der[-32:] == raw
    assert d.stop() == 0
    d2 = start_daemon(conf, name="again.conf", base_url=f"http://127.0.0.1:{port}")
    assert d2.call("GET", "/v1/keys")[2]["keys"][0]["kid"] == k["kid"]
    assert f"kid={k['kid']}" in d2.log_text()


def test_configured_key_and_validity_are_published(tmp_path, start_daemon):
    key = NodeKey(tmp_path / "k.pem")
    port = free_port()
    conf = node_config(tmp_path / "data", port, free_port(), node_id="node-k",
                       extra=f'trust {{\n  key-file = "{key.path}"\n'
                             f'  key-valid-until = "2099-01-01T00:00:00Z"\n}}\n')
    d = start_daemon(conf, base_url=f"http://127.0.0.1:{port}")
    k = d.call("GET", "/v1/keys")[2]["keys"][0]
    assert k["kid"] == key.kid and k["public_key"] == key.b64
    assert k["valid_until"] == 4070908800000
    assert not (tmp_path / "data" / "node-ed25519.pem").exists()


def run_once(tmp_path, extra):
    port = free_port()
    conf = write_config(tmp_path / "refused.conf",
                        node_config(tmp_path / "data", port, free_port(), extra=extra))
    r = subprocess.run([BINARY, "-c", str(conf)], capture_output=True, text=True, timeout=20)
    return r.returncode, r.stderr


def test_a_key_file_readable_by_others_is_refused(tmp_path):
    key = NodeKey(tmp_path / "k.pem")
    os.chmod(key.path, 0o644)
    rc, err = run_once(tmp_path, trust_section(key))
    assert rc == 1, err
    assert str(key.path) in err and "chmod 600" in err, err


def test_a_key_that_is_not_ed25519_is_refused(tmp_path):
    path = tmp_path / "ec.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-out", str(path)], check=True,
                   capture_output=True)
    os.chmod(path, 0o600)
    rc, err = run_once(tmp_path, f'trust {{\n  key-file = "{path}"\n}}\n')
    assert rc == 1, err
    assert str(path) in err and "Ed25519" in err, err


def test_an_expired_node_key_is_refused(tmp_path):
    key = NodeKey(tmp_path / "k.pem")
    rc, err = run_once(tmp_path, f'trust {{\n  key-file = "{key.path}"\n'
                                 f'  key-valid-until = "2020-01-01T00:00:00Z"\n}}\n')
    assert rc == 1, err
    assert "key-valid-until" in err, err


# ------------------------------------------- three nodes, verified by carriers

def test_chain_of_three_nodes_is_verified_by_the_carriers(tmp_path, start_daemon, fake_carrier):
    origin_carrier, dest_carrier = fake_carrier(), fake_carrier()
    pa, pb, pc = free_port(), free_port(), free_port()
    ka, kb, kc = (NodeKey(tmp_path / f"{n}.pem") for n in "abc")
    origin = Peer("origin", owns=["+8210"], endpoints=[origin_carrier.url])
    dest = Peer("dest", owns=["+8220"], endpoints=[dest_carrier.url])
    # each node pins the keys of the neighbours it takes messages (and reports) from
    b_at_a, a_at_b = relay_peer("node-b", pb, kb), relay_peer("node-a", pa, ka)
    c_at_b, b_at_c = relay_peer("node-c", pc, kc), relay_peer("node-b", pb, kb)
    link(b_at_a, a_at_b), link(a_at_b, b_at_a), link(c_at_b, b_at_c), link(b_at_c, c_at_b)
    nodes = {
        "a": start_node(start_daemon, tmp_path, "node-a", [origin, b_at_a],
                        ['route { prefix = "+8210" peer = "origin" }',
                         'route { prefix = "+8220" peer = "node-b" }'], ka, pa),
        "b": start_node(start_daemon, tmp_path, "node-b", [a_at_b, c_at_b],
                        ['route { prefix = "+8210" peer = "node-a" }',
                         'route { prefix = "+8220" peer = "node-c" }'], kb, pb),
        "c": start_node(start_daemon, tmp_path, "node-c", [b_at_c, dest],
                        ['route { prefix = "+8210" peer = "node-b" }',
                         'route { prefix = "+8220" peer = "dest" }'], kc, pc),
    }
    rid = submit(nodes["a"], origin, envelope("m-3", text="Hello over three hops", dlr=True))

    # the receiving carrier: only the envelope and the three nodes' published keys
    keys = {}
    for d in nodes.values():
        keys.update(trustcheck.fetch_keys(d.base_url))
    _, env = dest_carrier.wait_for(1)[0]
    assert env["hops"] == ["node-a", "node-b", "node-c"]
    assert trustcheck.verify_chain(env, keys) == [("node-a", "owned"), ("node-b", "relayed"),
                                                  ("node-c", "relayed")]
    att = env["att"]
    assert [x["peer"] for x in att] == ["origin", "node-a", "node-b"]
    assert att[0]["rid"] == rid and att[2]["rid"] == env["rid"]
    assert [x["kid"] for x in att] == [ka.kid, kb.kid, kc.kid]
    # any signed field changed, and the chain no longer verifies
    for field, value in (("text", "Hello over three hops!"), ("from", "+821099999999"),
                         ("to", "+822099999999"), ("ts", env["ts"] + 1)):
        bad = dict(env, **{field: value})
        with pytest.raises(trustcheck.TrustError):
            trustcheck.verify_chain(bad, keys)
    for i in range(3):
        for field, value in (("rid", "0" * 26), ("peer", "mallory"), ("level", "directory")):
            bad = copy.deepcopy(env)
            bad["att"][i][field] = value
            with pytest.raises(trustcheck.TrustError, match=rf"att\[{i}\]"):
                trustcheck.verify_chain(bad, keys)
    with pytest.raises(trustcheck.TrustError):
        trustcheck.verify_chain(dict(env, att=[att[0], att[2], att[1]]), keys)

    # the report, signed by the node that delivered it, reaches the origin through B and A
    _, rep = origin_carrier.wait_for(1)[0]
    assert rep["kind"] == "report" and rep["status"] == "delivered" and rep["ref"] == rid
    assert rep["via"] == "dest" and rep["sig"]["node"] == "node-c"
    assert rep["hops"] == ["node-c", "node-b", "node-a"]
    trustcheck.verify_report(rep, keys)
    for field, value in (("status", "failed"), ("via", "mallory"), ("ref", "0" * 26),
                         ("at", rep["at"] + 1)):
        with pytest.raises(trustcheck.TrustError):
            trustcheck.verify_report(dict(rep, **{field: value}), keys)


def test_a_pulled_message_carries_its_attestation(tmp_path, start_daemon):
    pa = free_port()
    origin = Peer("origin", owns=["+8210"])
    puller = Peer("dest", owns=["+8220"])
    a = start_node(start_daemon, tmp_path, "node-a", [origin, puller],
                   ['route { prefix = "+8220" peer = "dest" }'], port=pa)
    rid = submit(a, origin, envelope("m-pull"))
    status, _, body = a.call("GET", "/v1/inbox?max=10&wait=5", token=puller.token)
    assert status == 200 and len(body["messages"]) == 1, body
    env = body["messages"][0]
    assert env["rid"] == rid
    keys = trustcheck.fetch_keys(a.base_url)
    assert trustcheck.verify_chain(env, keys) == [("node-a", "owned")]


# ---------------------------------------------- a relay checks what it is given

@pytest.fixture
def signed_by_a(tmp_path, start_daemon, fake_carrier):
    """Node A (its key ka) pushing to a fake "node-b": the envelope A signs, as B would get
    it, and the peer sections B needs to take it."""
    env, ka, _ = sign_at_a(tmp_path, start_daemon, fake_carrier)
    return env, ka


def sign_at_a(tmp_path, start_daemon, fake_carrier):
    """signed_by_a's envelope and key, and node A itself (its GET /v1/keys)."""
    capture = fake_carrier()
    ka = NodeKey(tmp_path / "a.pem")
    origin = Peer("origin", owns=["+8210"])
    b_at_a = Peer("node-b", kind="relay", endpoints=[capture.url])
    a = start_node(start_daemon, tmp_path, "node-a", [origin, b_at_a],
                   ['route { prefix = "+8220" peer = "node-b" }'], ka)
    submit(a, origin, envelope("m-signed", text="signed by A"))
    _, env = capture.wait_for(1)[0]
    assert trustcheck.verify_chain(env, trustcheck.fetch_keys(a.base_url)) == [
        ("node-a", "owned")]
    return env, ka, a


def start_b(tmp_path, start_daemon, fake_carrier, a_pins, name="node-b"):
    dest_carrier = fake_carrier()
    a_at_b = Peer("node-a", kind="relay", extra=keys_line(*a_pins) if a_pins else "")
    dest = Peer("dest", owns=["+8220"], endpoints=[dest_carrier.url])
    b = start_node(start_daemon, tmp_path, name, [a_at_b, dest],
                   ['route { prefix = "+8220" peer = "dest" }'])
    return b, a_at_b, dest_carrier


def refused(b, peer, env, reason):
    status, _, body = b.call("POST", "/v1/messages", env, token=peer.token)
    assert status == 403, (status, body)
    assert body["error"] == "bad_attestation" and body["field"] in ("att", "sig"), body
    assert reason in body["reason"], body
    return body


def test_a_relay_refuses_a_tampered_attestation(tmp_path, start_daemon, fake_carrier,
                                                signed_by_a):
    env, ka = signed_by_a
    b, a_at_b, dest_carrier = start_b(tmp_path, start_daemon, fake_carrier, [pin(ka)])
    sig = base64.b64decode(env["att"][0]["sig"])
    flipped = base64.b64encode(bytes([sig[0] ^ 1]) + sig[1:]).decode()
    for field, value in (("text", "signed by Mallory"), ("from", "+821099999999"),
                         ("to", "+822099999999"), ("ts", env["ts"] - 1000)):
        refused(b, a_at_b, dict(env, **{field: value}), "does not verify")
    for field, value in (("rid", "0" * 26), ("peer", "mallory"), ("level", "directory"),
                         ("sig", flipped), ("at", env["att"][0]["at"] + 1),
                         ("proof", ["l:" + "ab" * 32])):
        bad = copy.deepcopy(env)
        bad["att"][0][field] = value
        refused(b, a_at_b, bad, "does not verify")
    bad = copy.deepcopy(env)
    del bad["att"]
    refused(b, a_at_b, bad, "no attestation")
    bad = copy.deepcopy(env)
    bad["att"][0]["kid"] = "0123456789abcdef"
    refused(b, a_at_b, bad, "unknown key id 0123456789abcdef")
    assert "msg=submit" in b.log_text() and "signed by" not in b.log_text()
    # the genuine envelope is taken, and leaves B with B's link added
    status, _, body = b.call("POST", "/v1/messages", env, token=a_at_b.token)
    assert status == 202, body
    _, out = dest_carrier.wait_for(1)[0]
    assert [x["node"] for x in out["att"]] == ["node-a", "node-b"]
    assert out["att"][1]["level"] == "relayed" and out["att"][1]["peer"] == "node-a"
    keys = {**trustcheck.fetch_keys(b.base_url), **pinned_keys(ka, "node-a")}
    assert trustcheck.verify_chain(out, keys) == [("node-a", "owned"), ("node-b", "relayed")]


def pinned_keys(key, node):
    """key as trustcheck would have it from node's GET /v1/keys."""
    pem = subprocess.run(["openssl", "pkey", "-in", str(key.path), "-pubout"], check=True,
                         capture_output=True, text=True).stdout
    return trustcheck.keys_from_json({"node": node, "keys": [
        {"kid": key.kid, "alg": "Ed25519", "public_key": key.b64, "pem": pem,
         "valid_until": None}]})


def test_a_key_pinned_for_another_peer_or_expired_is_refused(tmp_path, start_daemon,
                                                             fake_carrier, signed_by_a):
    env, ka = signed_by_a
    other = NodeKey(tmp_path / "other.pem")
    b, a_at_b, _ = start_b(tmp_path, start_daemon, fake_carrier, [pin(other)])
    refused(b, a_at_b, env, f"unknown key id {ka.kid}")
    b2, a_at_b2, _ = start_b(tmp_path, start_daemon, fake_carrier,
                             [pin(ka, "2020-01-01T00:00:00Z")], name="node-b2")
    refused(b2, a_at_b2, env, f"key {ka.kid} expired")


def test_unsigned_reports_and_carriers_sending_signatures_are_refused(
        tmp_path, start_daemon, fake_carrier, signed_by_a):
    env, ka = signed_by_a
    b, a_at_b, _ = start_b(tmp_path, start_daemon, fake_carrier, [pin(ka)])
    report = {"v": 1, "id": "dlr.x", "kind": "report", "from": DEST_NUM, "to": ORIGIN_NUM,
              "ref": env["rid"], "status": "delivered", "at": 1}
    refused(b, a_at_b, report, "not signed")
    # a carrier may not hand in an attestation of its own making
    carrier = Peer("kakao", owns=["+8210"])
    port = free_port()
    dest = Peer("dest", owns=["+8220"], endpoints=["http://127.0.0.1:9/none"])
    n = start_daemon(node_config(tmp_path / "data-n", port, free_port(), peers=[carrier, dest],
                                 routes=['route { prefix = "+8220" peer = "dest" }'],
                                 node_id="node-n"),
                     name="n.conf", base_url=f"http://127.0.0.1:{port}")
    body = refused(n, carrier, env, "only a relay peer")
    assert body["field"] == "att"


def test_a_relay_without_pins_passes_the_chain_on(tmp_path, start_daemon, fake_carrier,
                                                  signed_by_a):
    env, ka = signed_by_a
    b, a_at_b, dest_carrier = start_b(tmp_path, start_daemon, fake_carrier, [])
    status, _, body = b.call("POST", "/v1/messages", env, token=a_at_b.token)
    assert status == 202, body
    _, out = dest_carrier.wait_for(1)[0]
    keys = {**trustcheck.fetch_keys(b.base_url), **pinned_keys(ka, "node-a")}
    assert trustcheck.verify_chain(out, keys) == [("node-a", "owned"), ("node-b", "relayed")]


# ------------------------------------------- pins set over the admin API

def test_a_relay_peer_made_over_the_admin_api_pins_keys(tmp_path, start_daemon, fake_carrier):
    """B knows A only as a relay peer created over B's admin API, with the key A publishes
    (GET /v1/keys) pinned by "keys": A's signed message is taken and delivered with its chain
    verifiable by the carrier; a tampered one is refused. After a PUT of the peer without the
    pin, B checks nothing from A, as for any relay peer without pins."""
    env, ka, a = sign_at_a(tmp_path, start_daemon, fake_carrier)
    published = a.call("GET", "/v1/keys")[2]["keys"][0]
    assert published["kid"] == ka.kid and published["public_key"] == ka.b64
    dest_carrier = fake_carrier()
    dest = Peer("dest", owns=["+8220"], endpoints=[dest_carrier.url])
    port, admin_port = free_port(), free_port()
    text = node_config(tmp_path / "data-node-b", port, admin_port, peers=[dest],
                       routes=['route { prefix = "+8220" peer = "dest" }'], node_id="node-b",
                       delivery=FAST)
    text = text.replace(f"  port = {admin_port}\n}}",
                        f"  port = {admin_port}\n{admin_listener_extra()}}}")
    b = start_daemon(text, name="node-b.conf", base_url=f"http://127.0.0.1:{port}")
    admin = admin_session(f"http://127.0.0.1:{admin_port}", b)
    status, _, r = admin.post("/api/peers", {"name": "node-a", "kind": "relay",
                                             "keys": [published["public_key"]]})
    assert status == 201, r
    assert r["peer"]["keys"] == [{"kid": ka.kid, "key": ka.b64, "until": None}], r
    token = r["token"]

    # another upstream rid (a relay's messages are told apart by it), the text changed
    tampered = dict(env, rid="01JDQ5X3M6T9W8E4R2V7C1B0KA", text="signed by Mallory")
    status, _, body = b.call("POST", "/v1/messages", tampered, token=token)
    assert status == 403 and body == {"error": "bad_attestation", "field": "att",
                                      "reason": "att[0]: signature does not verify"}, body
    bad = copy.deepcopy(env)
    bad["att"][0]["kid"] = "0123456789abcdef"
    status, _, body = b.call("POST", "/v1/messages", bad, token=token)
    assert status == 403 and body["reason"] == "att[0]: unknown key id 0123456789abcdef", body
    # the genuine envelope: taken, and delivered with B's link after A's
    status, _, body = b.call("POST", "/v1/messages", env, token=token)
    assert status == 202, body
    _, out = dest_carrier.wait_for(1)[0]
    keys = {**trustcheck.fetch_keys(b.base_url), **trustcheck.fetch_keys(a.base_url)}
    assert trustcheck.verify_chain(out, keys) == [("node-a", "owned"), ("node-b", "relayed")]
    assert out["att"][1]["peer"] == "node-a"

    # the peer replaced without keys: nothing is checked, the tampered chain is passed on
    status, _, r = admin.put("/api/peers/node-a", {"kind": "relay"})
    assert status == 200 and r["peer"]["keys"] == [], r
    status, _, body = b.call("POST", "/v1/messages", tampered, token=token)
    assert status == 202 and body["status"] == "queued", body
    _, out = dest_carrier.wait_for(2)[1]
    assert out["text"] == "signed by Mallory"
    assert [x["node"] for x in out["att"]] == ["node-a", "node-b"]
    with pytest.raises(trustcheck.TrustError, match=r"att\[0\]"):
        trustcheck.verify_chain(out, keys)
    # pinned again (as the console's edit form saves it back): refused again
    status, _, r = admin.put("/api/peers/node-a", {"kind": "relay", "keys": [ka.b64]})
    assert status == 200, r
    status, _, body = b.call("POST", "/v1/messages",
                             dict(tampered, rid="01JDQ5X3M6T9W8E4R2V7C1B0KB"), token=token)
    assert status == 403 and body["reason"] == "att[0]: signature does not verify", body


# --------------------------------------- fetching a peer's keys to pin them

def test_interlinkctl_keys_prints_the_pin_line(tmp_path, start_daemon, fake_carrier,
                                                signed_by_a):
    """An operator fetches node A's keys with interlinkctl, pastes the line into B's peer
    section, and B then takes A's signed messages."""
    env, ka = signed_by_a
    port = free_port()
    a = start_node(start_daemon, tmp_path, "node-a2", [], [], ka, port)
    r = subprocess.run([CTL, "keys", a.base_url], capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    assert "node node-a2" in r.stdout and ka.kid in r.stdout
    line = [x for x in r.stdout.splitlines() if x.strip().startswith("keys = {")]
    assert line == [f'  keys = {{ "{ka.b64}" }}'], r.stdout
    dest_carrier = fake_carrier()
    a_at_b = Peer("node-a", kind="relay", extra=line[0])
    dest = Peer("dest", owns=["+8220"], endpoints=[dest_carrier.url])
    b = start_node(start_daemon, tmp_path, "node-b3", [a_at_b, dest],
                   ['route { prefix = "+8220" peer = "dest" }'])
    status, _, body = b.call("POST", "/v1/messages", env, token=a_at_b.token)
    assert status == 202, body


def test_interlinkctl_keys_refuses_a_key_id_that_does_not_match(tmp_path):
    """A node (or something in the way) publishing a kid that is not its key's: no pin."""
    doc = {"node": "liar", "keys": [{"kid": "0123456789abcdef", "alg": "Ed25519",
                                     "public_key": base64.b64encode(b"k" * 32).decode(),
                                     "pem": "", "valid_until": None}]}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            out = json.dumps(doc).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}"
        r = subprocess.run([CTL, "keys", url], capture_output=True, text=True, timeout=20)
        assert r.returncode == 1, r.stdout
        assert "its kid is not the SHA-256 of its public key" in r.stderr, r.stderr
        assert "keys = {" not in r.stdout
        doc["keys"][0]["kid"] = hashlib.sha256(b"k" * 32).hexdigest()[:16]
        r = subprocess.run([CTL, "keys", url], capture_output=True, text=True, timeout=20)
        assert r.returncode == 0, r.stderr
        assert f'keys = {{ "{doc["keys"][0]["public_key"]}" }}' in r.stdout
    finally:
        srv.shutdown()
        srv.server_close()
