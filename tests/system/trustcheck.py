"""Offline verification of interlink sender attestations and signed delivery reports,
as a receiving carrier would run it (docs/trust.md). Standard library only, plus the
`openssl` command line for Ed25519 (Python's standard library has none).

    keys = fetch_keys("https://relay.example")     # GET /v1/keys of each node you trust
    for node, level in verify_chain(envelope, keys): ...
    verify_report(report, keys)
"""
import base64
import hashlib
import json
import os
import re
import subprocess
import tempfile
import urllib.request

HEX64 = re.compile(r"^[0-9a-f]{64}$")
PROOF_MAX = 16


class TrustError(Exception):
    """A statement's signature does not hold; str(e) is the reason."""


# ------------------------------------------------------------------------- keys

def keys_from_json(doc):
    """The body of GET /v1/keys (a dict or JSON text) -> {kid: {"node", "pem", "valid_until"}}."""
    if isinstance(doc, (str, bytes)):
        doc = json.loads(doc)
    out = {}
    for k in doc["keys"]:
        if k.get("alg") != "Ed25519":
            continue
        out[k["kid"]] = {"node": doc["node"], "pem": k["pem"], "valid_until": k.get("valid_until")}
    return out


def fetch_keys(base_url, ssl_context=None):
    """GET <base_url>/v1/keys (no authentication) and parse it with keys_from_json."""
    url = base_url.rstrip("/") + "/v1/keys"
    with urllib.request.urlopen(url, timeout=10, context=ssl_context) as r:
        return keys_from_json(json.loads(r.read().decode("utf-8")))


# ------------------------------------------------------------------- statements

def _lines(*fields):
    return "".join(f + "\n" for f in fields).encode("utf-8")


def _body_bytes(env):
    if "text" in env:
        return env["text"].encode("utf-8")
    return base64.b64decode(env.get("body", ""), validate=True)


def att_statement(env, i):
    """The statement link env["att"][i] signs (prev chains it to link i-1)."""
    link = env["att"][i]
    prev = leaf_hash(att_statement(env, i - 1)).hex() if i > 0 else "-"
    return _lines("interlink-att/1",
                  "node=" + link["node"],
                  "rid=" + link["rid"],
                  "from=" + env["from"],
                  "to=" + (link.get("to") or env["to"]),
                  "ts=%d" % env["ts"],
                  "body=sha256:" + hashlib.sha256(_body_bytes(env)).hexdigest(),
                  "peer=" + link["peer"],
                  "level=" + link["level"],
                  "prev=" + prev)


def report_statement(rep):
    """The statement a delivery report's "sig" covers."""
    return _lines("interlink-report/1",
                  "node=" + rep["sig"]["node"],
                  "ref=" + rep["ref"],
                  "status=" + rep["status"],
                  "at=%d" % rep["at"],
                  "via=" + (rep.get("via") or "-"))


def batch_statement(node, kid, at, root):
    """The root statement: what the Ed25519 signature actually covers."""
    return _lines("interlink-batch/1", "node=" + node, "kid=" + kid, "at=%d" % at,
                  "root=" + root.hex())


# ----------------------------------------------------------------- Merkle (RFC 6962)

def leaf_hash(stmt):
    return hashlib.sha256(b"\x00" + stmt).digest()


def inner_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_proof(leaf, proof):
    """Walk a statement's leaf hash up its proof ("l:<hex>" sibling on the left, "r:<hex>" right)."""
    if len(proof) > PROOF_MAX:
        raise TrustError("proof is longer than %d steps" % PROOF_MAX)
    h = leaf
    for step in proof:
        side, _, hx = step.partition(":")
        if side not in ("l", "r") or not HEX64.match(hx):
            raise TrustError("bad proof step %r" % step)
        sib = bytes.fromhex(hx)
        h = inner_hash(sib, h) if side == "l" else inner_hash(h, sib)
    return h


# ------------------------------------------------------------------ verification

def _openssl_verify(pem, data, sig):
    with tempfile.TemporaryDirectory() as d:
        paths = [os.path.join(d, n) for n in ("pub.pem", "data", "sig")]
        for p, content in zip(paths, (pem.encode("ascii"), data, sig)):
            with open(p, "wb") as f:
                f.write(content)
        r = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", paths[0],
                            "-rawin", "-in", paths[1], "-sigfile", paths[2]],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return r.returncode == 0


def verify_sig(stmt, sig, keys):
    """Checks sig ({"node","kid","at","proof","sig"}) over stmt with keys; raises TrustError."""
    kid = sig["kid"]
    key = keys.get(kid)
    if key is None:
        raise TrustError("unknown key id %s" % kid)
    if key["valid_until"] is not None and sig["at"] > key["valid_until"]:
        raise TrustError("key %s expired" % kid)
    if sig["node"] != key["node"]:
        raise TrustError("key %s is not node %s's" % (kid, sig["node"]))
    try:
        raw = base64.b64decode(sig["sig"], validate=True)
    except ValueError:
        raw = b""
    if len(raw) != 64:
        raise TrustError("sig must be 64 bytes in standard base64")
    root = root_from_proof(leaf_hash(stmt), sig.get("proof", []))
    if not _openssl_verify(key["pem"], batch_statement(sig["node"], kid, sig["at"], root), raw):
        raise TrustError("signature does not verify")


def verify_chain(env, keys):
    """Verifies every link of env["att"], oldest first -> [(node, level), ...]."""
    out = []
    for i, link in enumerate(env.get("att", [])):
        try:
            verify_sig(att_statement(env, i), link, keys)
        except TrustError as e:
            raise TrustError("att[%d]: %s" % (i, e)) from None
        out.append((link["node"], link["level"]))
    return out


def verify_report(rep, keys):
    """Verifies a delivery report's "sig"; raises TrustError (also when it has none)."""
    if "sig" not in rep:
        raise TrustError("report is not signed")
    verify_sig(report_statement(rep), rep["sig"], keys)
