"""The admin JSON API's node side (admin_api.c, admin_peers.c): status, peers,
routes, directory, the route tester and reload, against the real daemon — logged
in as an admin with a session cookie and CSRF token, and as a viewer."""
import base64
import hashlib
import json
import re
import subprocess
import time

import pytest

from admin_client import (AdminClient, TEST_PASSWORD, admin_listener_extra, admin_session,
                          wait_admin)
from conftest import Peer, free_port, node_config, write_config

CFG_ROUTE = 'route { prefix = "+4930" peer = "cfgpeer" }'




def config_text(data, port, admin, peers, routes):
    text = node_config(data, port, admin, peers=peers, routes=routes)
    return text.replace(f"  port = {admin}\n}}", f"  port = {admin}\n{admin_listener_extra()}}}")


class Node:
    pass


def start_node(tmp_path, start_daemon, fake_carrier, more_peers=()):
    n = Node()
    n.carrier = fake_carrier()
    n.cfg = Peer("cfgpeer", owns=["+4930"], endpoints=[n.carrier.url])
    n.port, n.admin_port = free_port(), free_port()
    n.data = tmp_path / "data"
    n.text = config_text(n.data, n.port, n.admin_port, [n.cfg, *more_peers], [CFG_ROUTE])
    n.daemon = start_daemon(n.text, base_url=f"http://127.0.0.1:{n.port}")
    n.conf = n.daemon.conf
    n.url = f"http://127.0.0.1:{n.admin_port}"
    wait_admin(n.url, n.daemon)
    n.admin = AdminClient(n.url)
    status, _, body = n.admin.login("admin", TEST_PASSWORD)
    assert status == 200, body
    return n


@pytest.fixture
def node(tmp_path, start_daemon, fake_carrier):
    """A node with a config peer (cfgpeer, +4930, pushing to a fake carrier) and its
    config route; n.admin is an AdminClient logged in as the bootstrap admin."""
    return start_node(tmp_path, start_daemon, fake_carrier)


def ed25519_pin(path):
    """A new Ed25519 key made with the openssl command (as test_trust.py does): its raw
    public key in base64, as a config pin gives it, and its kid."""
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(path)],
                   check=True, capture_output=True)
    der = subprocess.run(["openssl", "pkey", "-in", str(path), "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    return base64.b64encode(der[-32:]).decode(), hashlib.sha256(der[-32:]).hexdigest()[:16]


@pytest.fixture
def keyed_node(tmp_path, start_daemon, fake_carrier):
    """The node of `node`, plus a config relay peer (relayk) that is directory-trusted and
    pins two signing keys, the second with an end; n.pins: [(base64, kid)]."""
    pins = [ed25519_pin(tmp_path / "k1.pem"), ed25519_pin(tmp_path / "k2.pem")]
    relayk = Peer("relayk", kind="relay", extra=(
        "  directory-trusted = true\n"
        f'  keys = {{"{pins[0][0]}", "{pins[1][0]} until 2099-01-01T00:00:00Z"}}'))
    n = start_node(tmp_path, start_daemon, fake_carrier, [relayk])
    n.pins = pins
    return n


def submit(n, token, mid, frm, to):
    return n.daemon.call("POST", "/v1/messages", {"v": 1, "id": mid, "from": frm, "to": to,
                                                  "text": "hi"}, token=token)


def new_peer(n, name="newco", owns=("+8210",), **kw):
    body = {"name": name, "kind": "carrier", "owns": list(owns), **kw}
    return n.admin.post("/api/peers", body)


# --------------------------------------------------------------- status

def test_status_shape(node):
    assert submit(node, node.cfg.token, "s-1", "+4930111", "+4930222")[0] == 202
    node.carrier.wait_for(1)
    deadline = time.time() + 10
    while True:  # the delivery is final once its commit follows the carrier's answer
        status, _, s = node.admin.get("/api/status")
        assert status == 200, s
        if s["counters"]["delivered"] == 1 or time.time() > deadline:
            break
        time.sleep(0.05)
    assert s["node"] == "test.interlink" and re.match(r"\d+\.\d+\.\d+", s["version"])
    assert s["uptime_s"] >= 0 and re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", s["started"])
    assert set(s["counters"]) == {"accepted", "duplicates", "delivered", "failed", "expired",
                                  "retried"}
    assert s["counters"]["accepted"] == 1 and s["counters"]["delivered"] == 1
    assert set(s["rates"]) >= {"accepted_per_s", "delivered_per_s"}
    assert s["rates"]["accepted_per_s"] > 0
    assert set(s["store"]) == {"used", "map", "max", "full", "errors", "last_error", "failing"}
    assert s["store"]["full"] is False and s["store"]["failing"] is False
    assert s["store"]["errors"] == 0 and s["store"]["last_error"] is None
    assert 0 < s["store"]["used"] <= s["store"]["map"] <= s["store"]["max"]
    [p] = s["peers"]
    assert p["name"] == "cfgpeer" and p["kind"] == "carrier"
    assert p["endpoints"] == [{"url": node.carrier.url, "state": "closed"}]
    assert p["read_only"] is True and p["suspended"] is False and p["down"] is False
    assert p["queued"] == 0 and p["delivering"] == 0 and p["oldest_age_s"] == 0
    # plain HTTP listeners have no certificate; nothing waits for a restart
    assert s["certificates"] == {"carrier": None, "admin": None}
    assert s["restart_needed"] is False


def test_status_says_a_restart_is_needed(node):
    """A reload that moves a listener cannot apply it: the status says a restart is needed,
    until a reload brings back what the node started with."""
    write_config(node.conf, node.text.replace('address = "127.0.0.1"', 'address = "localhost"', 1))
    assert node.admin.post("/api/reload")[0] == 200
    assert node.admin.get("/api/status")[2]["restart_needed"] is True
    write_config(node.conf, node.text)
    assert node.admin.post("/api/reload")[0] == 200
    assert node.admin.get("/api/status")[2]["restart_needed"] is False


def test_no_session_401(node):
    status, _, body = AdminClient(node.url).get("/api/status")
    assert status == 401, body


# ---------------------------------------------------------------- peers

def test_peer_add_token_shown_once_and_usable(node):
    status, _, body = new_peer(node, endpoints=[node.carrier.url], outbound_token="out-secret",
                               rate=50, max_queue=10)
    assert status == 201, body
    token = body["token"]
    assert re.fullmatch(r"pt_[0-9a-f]{64}", token)
    full = hashlib.sha256(token.encode()).hexdigest()
    p = body["peer"]
    assert p["name"] == "newco" and p["owns"] == ["+8210"] and p["rate"] == 50
    assert p["burst"] == 100 and p["max_queue"] == 10 and p["read_only"] is False
    assert p["token_sha256"] == full[:12] and p["outbound_token"] is True
    # never again: not in the list nor the peer, and no secret or full hash anywhere
    for path in ("/api/peers", "/api/peers/newco", "/api/status"):
        status, _, got = node.admin.get(path)
        assert status == 200, got
        text = json.dumps(got)
        assert token not in text and full not in text and "out-secret" not in text
        assert '"token"' not in text
    # the token works on the carrier API at once
    status, _, r = submit(node, token, "m-1", "+821012345678", "+4930123456")
    assert status == 202, r
    node.carrier.wait_for(1)


def test_peer_replace_and_rotate(node):
    token = new_peer(node)[2]["token"]
    status, _, body = node.admin.put("/api/peers/newco", {"kind": "carrier",
                                                          "owns": ["+8210", "line.example"]})
    assert status == 200 and "token" not in body, body
    assert body["peer"]["owns"] == ["+8210", "line.example"]
    assert submit(node, token, "r-1", "+821000000001", "+4930123")[0] == 202
    status, _, body = node.admin.put("/api/peers/newco", {"owns": ["+8210"],
                                                          "rotate_token": True})
    assert status == 200, body
    new = body["token"]
    assert new != token
    assert submit(node, token, "r-2", "+821000000001", "+4930123")[0] == 401
    assert submit(node, new, "r-3", "+821000000001", "+4930123")[0] == 202
    status, _, body = node.admin.put("/api/peers/newco", {"name": "other", "owns": ["+8210"]})
    assert status == 400 and body["field"] == "name", body
    assert node.admin.put("/api/peers/nobody", {"owns": ["+1"]})[0] == 404


def test_peer_replace_keeps_the_secrets_it_leaves_out(node):
    """No answer shows the outbound token or the certificate pin back, so a PUT that leaves
    them out keeps them (a client cannot send them back); a value replaces, null removes."""
    cert = "ab" * 32
    ep = [node.carrier.url]
    assert new_peer(node, endpoints=ep, outbound_token="out-1", cert_sha256=cert)[0] == 201
    assert node.admin.post("/api/routes", {"prefix": "+8210", "peer": "newco"})[0] == 201
    status, _, body = node.admin.put("/api/peers/newco", {"owns": ["+8210"], "endpoints": ep,
                                                          "rate": 70})
    assert status == 200, body
    p = body["peer"]
    assert p["outbound_token"] is True and p["cert_sha256"] == cert[:12] and p["rate"] == 70
    assert submit(node, node.cfg.token, "k-1", "+4930111", "+821012345678")[0] == 202
    headers, _ = node.carrier.wait_for(1)[0]
    assert headers["Authorization"] == "Bearer out-1"
    status, _, body = node.admin.put("/api/peers/newco", {"owns": ["+8210"], "endpoints": ep,
                                                          "outbound_token": "out-2"})
    assert status == 200 and body["peer"]["cert_sha256"] == cert[:12], body
    assert submit(node, node.cfg.token, "k-2", "+4930111", "+821012345678")[0] == 202
    headers, _ = node.carrier.wait_for(2)[1]
    assert headers["Authorization"] == "Bearer out-2"
    status, _, body = node.admin.put("/api/peers/newco", {
        "owns": ["+8210"], "endpoints": ep, "outbound_token": None, "cert_sha256": None})
    assert status == 200, body
    assert body["peer"]["outbound_token"] is False and body["peer"]["cert_sha256"] is None
    assert submit(node, node.cfg.token, "k-3", "+4930111", "+821012345678")[0] == 202
    headers, _ = node.carrier.wait_for(3)[2]
    assert "Authorization" not in headers


def test_peer_errors(node):
    assert new_peer(node)[0] == 201
    status, _, body = new_peer(node)
    assert status == 409 and body["error"] == "exists", body
    cases = [({"name": "a", "owns": ["+1"], "colour": "red", "size": 1}, "colour"),
             ({"owns": ["+1"]}, "name"),
             ({"name": "bad name", "owns": ["+1"]}, "name"),
             ({"name": "a", "kind": "bank", "owns": ["+1"]}, "kind"),
             ({"name": "a", "kind": "carrier"}, "owns"),
             ({"name": "a", "owns": ["not a prefix!"]}, "owns"),
             ({"name": "a", "owns": ["+1"], "endpoints": ["ftp://x"]}, "endpoints"),
             ({"name": "a", "owns": ["+1"], "rate": 0}, "rate"),
             ({"name": "a", "owns": ["+1"], "cert_sha256": "abc"}, "cert_sha256"),
             ({"name": "a", "owns": ["+1"], "rotate_token": True}, "rotate_token"),
             ({"name": "a", "owns": ["+1"], "directory_trusted": "yes"}, "directory_trusted"),
             ({"name": "a", "owns": ["+1"], "directory_trusted": 1}, "directory_trusted"),
             ({"name": "a", "owns": ["+1"], "directory_trusted": None}, "directory_trusted"),
             ({"name": "a", "owns": ["+1"], "keys": "AAAA"}, "keys"),
             ({"name": "a", "owns": ["+1"], "keys": ["AAAA"]}, "keys")]
    for body, field in cases:
        status, _, r = node.admin.post("/api/peers", body)
        assert status == 400 and r["error"] == "bad_field" and r["field"] == field, (body, r)
    assert node.admin.get("/api/peers/a")[0] == 404
    status, _, r = node.admin.post("/api/peers", {"name": "a", "x": 1, "y": 2})
    assert "x" in r["reason"] and "y" in r["reason"], r
    status, _, r = node.admin.post("/api/peers", b"{not json")
    assert status == 400 and r["error"] == "bad_json", r
    assert node.admin.get("/api/peers/nobody")[0] == 404
    assert node.admin.delete("/api/peers/nobody")[0] == 404
    # a relay needs no owns, and without endpoints it pulls
    status, _, r = node.admin.post("/api/peers", {"name": "relay-b", "kind": "relay"})
    assert status == 201 and r["peer"]["pull"] is True, r


def test_peer_directory_trusted(node):
    """A carrier created directory-trusted over the API: its directory line for a number
    outside its owns is in use at once (200, not pending); turned off, its next such line
    waits for approval (202, pending), as a peer's without the field does from the start."""
    status, _, body = new_peer(node, directory_trusted=True)
    assert status == 201, body
    assert body["peer"]["directory_trusted"] is True and body["peer"]["keys"] == [], body
    token = body["token"]
    status, _, p = node.admin.get("/api/peers/newco")
    assert status == 200 and p["directory_trusted"] is True and p["keys"] == [], p
    listed = {p["name"]: p for p in node.admin.get("/api/peers")[2]}
    assert listed["newco"]["directory_trusted"] is True
    assert listed["cfgpeer"]["directory_trusted"] is False and listed["cfgpeer"]["keys"] == []
    # +4930 is cfgpeer's, not newco's
    st, _, b = node.daemon.call("PUT", "/v1/directory/%2B4930555", {}, token=token)
    assert st == 200, b
    assert b == {"address": "+4930555", "accounts": [
        {"peer": "newco", "account": "+4930555", "priority": 0, "failover": False,
         "failover_delay": 600, "pending": False}]}
    assert node.admin.get("/api/directory-pending")[2] == {"pending": [], "next": None}
    # turned off by PUT: its definition is replaced, the token stays
    status, _, body = node.admin.put("/api/peers/newco", {"owns": ["+8210"],
                                                          "directory_trusted": False})
    assert status == 200 and body["peer"]["directory_trusted"] is False, body
    assert node.admin.get("/api/peers/newco")[2]["directory_trusted"] is False
    st, _, b = node.daemon.call("PUT", "/v1/directory/%2B4930556", {}, token=token)
    assert st == 202, b
    assert b == {"address": "+4930556", "accounts": [
        {"peer": "newco", "account": "+4930556", "priority": 0, "failover": False,
         "failover_delay": 600, "pending": True}]}
    st, _, b = node.admin.get("/api/directory-pending")
    assert st == 200 and b == {"pending": [{"address": "+4930556", "peer": "newco"}],
                               "next": None}, b
    # on again, then a PUT without the field: absent means false
    status, _, body = node.admin.put("/api/peers/newco", {"owns": ["+8210"],
                                                          "directory_trusted": True})
    assert status == 200 and body["peer"]["directory_trusted"] is True, body
    status, _, body = node.admin.put("/api/peers/newco", {"owns": ["+8210"]})
    assert status == 200 and body["peer"]["directory_trusted"] is False, body
    # a peer created without it is not trusted
    status, _, body = new_peer(node, name="plain", owns=["+8220"])
    assert status == 201 and body["peer"]["directory_trusted"] is False, body
    st, _, b = node.daemon.call("PUT", "/v1/directory/%2B4930557", {}, token=body["token"])
    assert st == 202 and b["accounts"][0]["pending"] is True, b
    # a bad value or a bad pinned key by PUT: 400, nothing changed
    for body, field, reason in [
            ({"owns": ["+8210"], "directory_trusted": "true"}, "directory_trusted",
             "must be true or false"),
            ({"owns": ["+8210"], "keys": [{"kid": "0123456789abcdef"}]}, "keys",
             'keys[0]: must be a string: "BASE64" or "BASE64 until YYYY-MM-DDTHH:MM:SSZ"')]:
        status, _, r = node.admin.put("/api/peers/newco", body)
        assert status == 400 and r == {"error": "bad_field", "field": field,
                                       "reason": reason}, (body, r)
    assert node.admin.get("/api/peers/newco")[2]["directory_trusted"] is False


KEYS_FORM = '"BASE64" or "BASE64 until YYYY-MM-DDTHH:MM:SSZ"'


def test_peer_keys_set_over_the_api(tmp_path, node):
    """A relay peer made over the API pins keys as the config does ("BASE64" or "BASE64 until
    TIME"); every answer shows each as kid, key and until; a PUT without keys drops them (it
    replaces the whole peer); the audit log names only the peer."""
    (b64a, kida), (b64b, kidb) = (ed25519_pin(tmp_path / "a.pem"),
                                  ed25519_pin(tmp_path / "b.pem"))
    want = [{"kid": kida, "key": b64a, "until": None},
            {"kid": kidb, "key": b64b, "until": "2099-01-01T00:00:00Z"}]
    status, _, r = node.admin.post("/api/peers", {
        "name": "hub", "kind": "relay", "keys": [b64a, f"{b64b}  until 2099-01-01T00:00:00Z"]})
    assert status == 201 and r["peer"]["keys"] == want, r
    status, _, p = node.admin.get("/api/peers/hub")
    assert status == 200 and p["keys"] == want and p["read_only"] is False, p
    listed = {p["name"]: p for p in node.admin.get("/api/peers")[2]}
    assert listed["hub"]["keys"] == want and listed["cfgpeer"]["keys"] == []
    # PUT replaces: without keys, none; with one, that one
    status, _, r = node.admin.put("/api/peers/hub", {"kind": "relay"})
    assert status == 200 and r["peer"]["keys"] == [], r
    status, _, r = node.admin.put("/api/peers/hub", {"kind": "relay", "keys": [b64b]})
    assert status == 200 and r["peer"]["keys"] == [{"kid": kidb, "key": b64b, "until": None}], r
    status, _, r = node.admin.put("/api/peers/hub", {"kind": "relay", "keys": None})
    assert status == 200 and r["peer"]["keys"] == [], r
    log = node.daemon.log_text()
    assert "action=peer_add object=hub" in log and "action=peer_replace object=hub" in log
    assert b64a not in log and b64b not in log
    # eight is the most
    eight = [ed25519_pin(tmp_path / f"k{i}.pem")[0] for i in range(9)]
    status, _, r = node.admin.put("/api/peers/hub", {"kind": "relay", "keys": eight[:8]})
    assert status == 200 and [k["key"] for k in r["peer"]["keys"]] == eight[:8], r


def test_peer_bad_keys(tmp_path, node):
    """Each bad "keys" is refused with 400 naming the element; nothing is changed."""
    b64a, kida = ed25519_pin(tmp_path / "a.pem")
    nine = [ed25519_pin(tmp_path / f"k{i}.pem")[0] for i in range(9)]
    cases = [
        ("AAAA", "must be a list of at most 8 pinned keys, each " + KEYS_FORM),
        ({"0": b64a}, "must be a list of at most 8 pinned keys, each " + KEYS_FORM),
        (nine, "must be a list of at most 8 pinned keys, each " + KEYS_FORM),
        (["xyz"], "keys[0]: 'xyz' is not standard base64"),
        ([b64a, "xyz"], "keys[1]: 'xyz' is not standard base64"),
        ([b64a, 7], "keys[1]: must be a string: " + KEYS_FORM),
        ([""], "keys[0]: '' is not standard base64"),
        (["AAECAw=="], "keys[0]: 'AAECAw==' is 4 bytes, not a 32-byte Ed25519 public key"),
        ([b64a + " until 2027-02-29T00:00:00Z"],
         "keys[0]: '2027-02-29T00:00:00Z' after until is not a UTC time YYYY-MM-DDTHH:MM:SSZ"),
        ([b64a + " until 2027-01-01"],
         "keys[0]: '2027-01-01' after until is not a UTC time YYYY-MM-DDTHH:MM:SSZ"),
        ([b64a + " since 2027-01-01T00:00:00Z"],
         f"keys[0]: '{b64a} since 2027-01-01T00:00:00Z' must be " + KEYS_FORM),
        ([b64a, nine[0], b64a + " until 2099-01-01T00:00:00Z"],
         f"keys[2]: key {kida} is listed twice (first at keys[0])"),
    ]
    for keys, reason in cases:
        status, _, r = node.admin.post("/api/peers", {"name": "hub", "kind": "relay",
                                                      "keys": keys})
        assert status == 400 and r == {"error": "bad_field", "field": "keys",
                                       "reason": reason}, (keys, r)
    assert node.admin.get("/api/peers/hub")[0] == 404
    status, _, r = node.admin.post("/api/peers", {"name": "hub", "kind": "relay",
                                                  "keys": [b64a]})
    assert status == 201, r
    for keys, reason in cases:
        status, _, r = node.admin.put("/api/peers/hub", {"kind": "relay", "keys": keys})
        assert status == 400 and r == {"error": "bad_field", "field": "keys",
                                       "reason": reason}, (keys, r)
    assert node.admin.get("/api/peers/hub")[2]["keys"] == [
        {"kid": kida, "key": b64a, "until": None}]


def test_config_peer_shows_pinned_keys(keyed_node):
    """A config peer's pins, as an API peer's: key ids, the (public) keys and ends; its
    directory-trusted too. Both read-only."""
    node = keyed_node
    [(b64a, kida), (b64b, kidb)] = node.pins
    want = [{"kid": kida, "key": b64a, "until": None},
            {"kid": kidb, "key": b64b, "until": "2099-01-01T00:00:00Z"}]
    status, _, p = node.admin.get("/api/peers/relayk")
    assert status == 200, p
    assert p["keys"] == want and p["directory_trusted"] is True and p["read_only"] is True
    listed = {p["name"]: p for p in node.admin.get("/api/peers")[2]}
    assert listed["relayk"]["keys"] == want and listed["relayk"]["directory_trusted"] is True
    assert listed["cfgpeer"]["keys"] == []
    status, _, r = node.admin.put("/api/peers/relayk", {"kind": "relay",
                                                        "directory_trusted": False})
    assert status == 409 and r["error"] == "read_only", r
    # a run-time brake keeps them
    status, _, r = node.admin.post("/api/peers/relayk/suspend", {})
    assert status == 200 and r["peer"]["keys"] == want, r


def test_peer_delete_and_in_use(node):
    assert new_peer(node)[0] == 201
    assert node.admin.post("/api/routes", {"prefix": "+8210", "peer": "newco"})[0] == 201
    status, _, body = node.admin.delete("/api/peers/newco")
    assert status == 409 and body["error"] == "in_use" and body["routes"] == ["p:+8210"], body
    assert node.admin.delete("/api/routes/p:+8210")[0] == 204
    assert node.admin.delete("/api/peers/newco")[0] == 204
    assert node.admin.get("/api/peers/newco")[0] == 404


def test_config_peer_read_only_but_suspendable(node):
    status, _, body = node.admin.put("/api/peers/cfgpeer", {"owns": ["+4930"]})
    assert status == 409 and body["error"] == "read_only", body
    status, _, body = node.admin.delete("/api/peers/cfgpeer")
    assert status == 409 and body["error"] in ("read_only", "in_use"), body
    status, _, body = node.admin.post("/api/peers", {"name": "cfgpeer", "owns": ["+4930"]})
    assert status == 409, body
    status, _, body = node.admin.post("/api/peers/cfgpeer/suspend", {})
    assert status == 200 and body["peer"]["suspended"] is True, body
    assert node.admin.get("/api/peers/cfgpeer")[2]["suspended"] is True
    assert submit(node, node.cfg.token, "x-1", "+4930111", "+4930222")[0] == 403
    status, _, body = node.admin.post("/api/peers/cfgpeer/resume", {})
    assert status == 200 and body["peer"]["suspended"] is False, body
    assert node.admin.post("/api/peers/cfgpeer/explode", {})[0] == 404
    assert node.admin.post("/api/peers/nobody/suspend", {})[0] == 404


def test_full_store_admins_can_still_change_peers(tmp_path, start_daemon):
    """With the store full, the control plane still writes (peers, routes, admins, within
    half the room kept for deletes), so that an operator can act; a carrier's directory
    line, like a message, is refused with 507 until deliveries drain the store."""
    cfg = Peer("cfgpeer", owns=["+4930"])      # no endpoint: it pulls, so messages stay
    port, admin = free_port(), free_port()
    text = config_text(tmp_path / "data", port, admin, [cfg], [CFG_ROUTE]).replace(
        'store {\n  sync = "none"\n}',
        'store {\n  map-size = "4M"\n  max-map-size = "4M"\n  sync = "none"\n}')
    d = start_daemon(text, base_url=f"http://127.0.0.1:{port}")
    url = f"http://127.0.0.1:{admin}"
    wait_admin(url, d)
    a = AdminClient(url)
    assert a.login("admin", TEST_PASSWORD)[0] == 200
    n = 0
    for size in (60 * 1024, 1024, 1):      # filled to the last byte a message could take
        for _ in range(300):
            n += 1
            st, _, b = d.call("POST", "/v1/messages",
                              {"v": 1, "id": f"m-{n}", "from": "+4930111", "to": "+4930222",
                               "text": "x" * size}, token=cfg.token)
            if st == 507:
                break
            assert st == 202, (n, st, b)
        assert st == 507 and b["error"] == "store_full", (size, b)
    st, _, b = d.call("PUT", "/v1/directory/%2B4930555", {}, token=cfg.token)
    assert (st, b.get("error")) == (507, "store_full"), (st, b)
    st, _, b = a.post("/api/peers", {"name": "newco", "kind": "carrier", "owns": ["+8210"],
                                     "endpoints": ["http://127.0.0.1:9/in"]})
    assert st == 201, b
    st, _, b = a.post("/api/routes", {"prefix": "+8210", "peer": "newco"})
    assert st == 201, b
    st, _, b = a.post("/api/peers/cfgpeer/suspend", {})
    assert st == 200 and b["peer"]["suspended"] is True, b
    st, _, b = a.post("/api/tokens", {"name": "oncall", "role": "viewer"})
    assert st == 201, b
    assert a.get("/api/peers/newco")[0] == 200
    st, _, b = a.post("/api/peers/cfgpeer/resume", {})
    assert st == 200, b
    st, _, b = d.call("POST", "/v1/messages", {"v": 1, "id": "after", "from": "+4930111",
                                               "to": "+4930222", "text": "x" * 60 * 1024},
                      token=cfg.token)
    assert (st, b["error"]) == (507, "store_full"), b


# --------------------------------------------------------------- routes

def test_routes_crud(node):
    status, _, routes = node.admin.get("/api/routes")
    assert status == 200
    assert routes == [{"key": "p:+4930", "match": "prefix", "value": "+4930",
                       "peer": "cfgpeer", "read_only": True}]
    assert new_peer(node)[0] == 201
    status, _, r = node.admin.post("/api/routes", {"prefix": "+82 10", "peer": "newco"})
    assert status == 201 and r["key"] == "p:+8210" and r["read_only"] is False, r
    assert node.admin.post("/api/routes", {"prefix": "+8210", "peer": "newco"})[0] == 409
    status, _, r = node.admin.post("/api/routes", {"domain": "Line.Example", "peer": "newco"})
    assert status == 201 and r["key"] == "d:line.example", r
    status, _, r = node.admin.post("/api/routes", {"default": True, "peer": "newco"})
    assert status == 201 and r == {"key": "default", "match": "default", "value": None,
                                   "peer": "newco", "read_only": False}, r
    assert len(node.admin.get("/api/routes")[2]) == 4
    for body, field in [({"prefix": "+1", "domain": "a.example", "peer": "newco"}, None),
                        ({"peer": "newco"}, None),
                        ({"prefix": "12x", "peer": "newco"}, "prefix"),
                        ({"prefix": "+1", "peer": "nobody"}, "peer"),
                        ({"prefix": "+1"}, "peer"),
                        ({"prefix": "+1", "peer": "newco", "via": "x"}, "via")]:
        status, _, r = node.admin.post("/api/routes", body)
        assert status == 400, (body, r)
        assert field is None or r["field"] == field, (body, r)
    assert node.admin.delete("/api/routes/p:+8210")[0] == 204          # a raw '+'
    assert node.admin.delete("/api/routes/p:%2B8210")[0] == 404
    assert node.admin.delete("/api/routes/d:line.example")[0] == 204
    assert node.admin.delete("/api/routes/default")[0] == 204
    status, _, r = node.admin.delete("/api/routes/p:%2B4930")
    assert status == 409 and r["error"] == "read_only", r
    assert node.admin.delete("/api/routes/bogus")[0] == 400


# ------------------------------------------------------------ directory

def test_directory_crud(node):
    addr = "/api/directory/%2B821012345678"
    assert node.admin.get(addr)[0] == 404
    assert new_peer(node)[0] == 201
    status, _, e = node.admin.put(addr, {"peer": "newco", "priority": 2, "failover": True,
                                         "failover_delay": 60})
    assert status == 200, e
    assert e == {"address": "+821012345678",
                 "accounts": [{"peer": "newco", "account": "+821012345678", "priority": 2,
                               "failover": True, "failover_delay": 60, "pending": False}]}
    status, _, e = node.admin.put(addr, {"peer": "cfgpeer", "account": "+4930555"})
    assert status == 200 and len(e["accounts"]) == 2, e
    assert node.admin.get("/api/directory/0082-10-1234-5678")[0] == 200  # normalised
    for body, field in [({"peer": "nobody"}, "peer"), ({}, "peer"),
                        ({"peer": "newco", "priority": 300}, "priority"),
                        ({"peer": "newco", "account": "x y"}, "account"),
                        ({"peer": "newco", "colour": 1}, "colour")]:
        status, _, r = node.admin.put(addr, body)
        assert status == 400 and r["field"] == field, (body, r)
    assert node.admin.put("/api/directory/not%20an%20address", {"peer": "newco"})[0] == 400
    status, _, r = node.admin.delete(addr)
    assert status == 400 and r["field"] == "peer", r
    assert node.admin.delete(addr + "?peer=cfgpeer")[0] == 204
    assert node.admin.delete(addr + "?peer=cfgpeer")[0] == 404
    assert node.admin.delete(addr + "?peer=newco")[0] == 204
    assert node.admin.get(addr)[0] == 404


# --------------------------------------------------------- route tester

def test_route_tester(node):
    assert new_peer(node)[0] == 201
    # prefix route
    status, _, t = node.admin.get("/api/route-test?to=%2B49%2030%20123")
    assert status == 200, t
    assert t["to"] == "+4930123" and t["verdict"] == "deliver" and t["peer"] == "cfgpeer"
    assert t["endpoint"] == node.carrier.url and t["pull"] is False and t["reject"] is None
    assert t["directory"] is None
    assert t["route"] == {"match": "prefix", "value": "+4930", "peer": "cfgpeer"}
    assert "route +4930" in t["why"]
    # a directory entry wins over the prefix
    assert node.admin.put("/api/directory/%2B4930123", {"peer": "newco"})[0] == 200
    status, _, t = node.admin.get("/api/route-test?to=%2B4930123&from=%2B821011112222")
    assert status == 200, t
    assert t["verdict"] == "deliver" and t["peer"] == "newco" and t["pull"] is True
    assert t["endpoint"] is None and t["directory"]["accounts"][0]["peer"] == "newco"
    assert t["why"].startswith("directory:")
    # no route
    status, _, t = node.admin.get("/api/route-test?to=%2B155512345")
    assert status == 200 and t["verdict"] == "reject" and t["reject"] == "no route", t
    assert t["peer"] is None and t["route"] is None
    # a suspended destination
    assert node.admin.post("/api/peers/cfgpeer/suspend", {})[0] == 200
    t = node.admin.get("/api/route-test?to=%2B4930999")[2]
    assert t["verdict"] == "reject" and t["reject"] == "suspended", t
    # bad input
    status, _, r = node.admin.get("/api/route-test?to=12ab")
    assert status == 400 and r["field"] == "to" and r["reason"], r
    assert node.admin.get("/api/route-test")[2]["field"] == "to"
    assert node.admin.get("/api/route-test?to=%2B4930&from=x%20y")[2]["field"] == "from"


# --------------------------------------------------------------- reload

def test_reload(node):
    status, _, r = node.admin.post("/api/reload")
    assert status == 200 and r == {"reloaded": True}, r
    lines = node.text.splitlines()
    bad = "\n".join(lines) + "\nbogus-key = 1\n"
    write_config(node.conf, bad)
    status, _, r = node.admin.post("/api/reload")
    assert status == 400 and r["error"] == "config", r
    assert r["reason"].startswith(f"{node.conf}:{len(lines) + 1}:"), r
    assert "bogus-key" in r["reason"]
    assert "level=error msg=config_reload_failed" in node.daemon.log_text()
    assert node.daemon.get("/v1/health")[0] == 200
    assert node.admin.get("/api/status")[0] == 200
    assert node.daemon.proc.poll() is None
    # a good file again, with one more route
    write_config(node.conf, node.text + 'route { domain = "mail.example" peer = "cfgpeer" }\n')
    assert node.admin.post("/api/reload")[0] == 200
    keys = [r["key"] for r in node.admin.get("/api/routes")[2]]
    assert "d:mail.example" in keys



def test_reload_dropping_a_peer_a_runtime_route_uses(node, start_daemon):
    """A config peer taken out of the file while a route added at run time still sends to
    it: the reload is refused naming that route and what to do, and the config in force
    stays; a start refuses such a file the same way. With the route deleted first the
    file is taken."""
    assert node.admin.post("/api/routes", {"prefix": "+4477", "peer": "cfgpeer"})[0] == 201
    other = Peer("other", owns=["+31"])
    text = config_text(node.data, node.port, node.admin_port, [other], [])
    write_config(node.conf, text)
    why = ('peers and routes: the route prefix "+4477", added at run time, names peer '
           '"cfgpeer", which is no longer defined: define it again, or delete the route '
           'first (console, interlinkctl)')
    status, _, r = node.admin.post("/api/reload")
    assert (status, r["error"]) == (400, "config"), r
    assert r["reason"] == f"{node.conf}: {why}", r
    assert "cfgpeer" in [p["name"] for p in node.admin.get("/api/peers")[2]]
    failed = [x for x in node.daemon.log_text().splitlines() if "msg=config_reload_failed" in x]
    assert len(failed) == 1 and why.replace('"', '\\"') in failed[0], failed
    assert failed[0].endswith(" kept=old user=admin"), failed
    # a start with that file
    assert node.daemon.stop() == 0
    d = start_daemon(text, name="dropped.conf", ready=False)
    assert d.proc.wait(15) != 0
    assert f"interlinkd: {d.conf}: {why}\n" in d.log_text(), d.log_text()
    # the peer back, the route deleted, then the file without the peer
    d = start_daemon(node.text, name="again.conf", base_url=node.daemon.base_url)
    admin = admin_session(node.url, d)
    assert admin.delete("/api/routes/p:+4477")[0] == 204
    write_config(d.conf, text)
    status, _, r = admin.post("/api/reload")
    assert status == 200, r
    names = [p["name"] for p in admin.get("/api/peers")[2]]
    assert "cfgpeer" not in names and "other" in names, names


def test_reloads_too_fast_are_refused_not_fatal(node):
    """A replaced config is freed ten minutes later (readers may still hold it): 64 reloads
    are taken within ten minutes, the 65th is refused with 503 and the config in force stays."""
    for i in range(64):
        status, _, r = node.admin.post("/api/reload")
        assert status == 200, (i, r)
    write_config(node.conf, node.text + 'route { domain = "late.example" peer = "cfgpeer" }\n')
    status, h, r = node.admin.post("/api/reload")
    assert status == 503 and r["error"] == "reload_busy", r
    assert r["reason"] == "64 reloads in the last 10 minutes: wait a few minutes, or restart"
    assert int(h["Retry-After"]) == 60
    assert "d:late.example" not in [x["key"] for x in node.admin.get("/api/routes")[2]]
    assert node.daemon.get("/v1/health")[0] == 200 and node.daemon.proc.poll() is None


# ---------------------------------------------------------------- roles

def test_viewer_may_only_look(node):
    status, _, r = node.admin.post("/api/users", {"name": "vera", "password": "v" * 16,
                                                  "role": "viewer"})
    assert status == 201, r
    assert new_peer(node)[0] == 201
    viewer = AdminClient(node.url)
    assert viewer.login("vera", "v" * 16)[0] == 200
    for path in ("/api/status", "/api/peers", "/api/peers/newco", "/api/routes",
                 "/api/route-test?to=%2B4930123"):
        assert viewer.get(path)[0] == 200, path
    writes = [("POST", "/api/peers", {"name": "v1", "owns": ["+1"]}),
              ("PUT", "/api/peers/newco", {"owns": ["+8210"]}),
              ("DELETE", "/api/peers/newco", None),
              ("POST", "/api/peers/newco/suspend", {}),
              ("POST", "/api/peers/newco/resume", {}),
              ("POST", "/api/routes", {"prefix": "+8210", "peer": "newco"}),
              ("DELETE", "/api/routes/p:+4930", None),
              ("PUT", "/api/directory/%2B4930123", {"peer": "newco"}),
              ("DELETE", "/api/directory/%2B4930123?peer=newco", None),
              ("POST", "/api/reload", None)]
    for method, path, body in writes:
        status, _, r = viewer.request(method, path, body)
        assert status == 403 and r["error"] == "forbidden", (method, path, r)
    assert node.admin.get("/api/peers/newco")[2]["suspended"] is False
    assert len(node.admin.get("/api/routes")[2]) == 1


def test_csrf_needed_for_writes(node):
    status, _, r = node.admin.request("POST", "/api/routes", {"prefix": "+1", "peer": "cfgpeer"},
                                      headers={"X-CSRF-Token": "wrong"})
    assert status == 403 and r["error"] == "csrf", r


def test_api_tokens(node):
    status, _, r = node.admin.post("/api/tokens", {"name": "ci", "role": "admin"})
    assert status == 201 and r["token"], r
    ci = AdminClient(node.url, token=r["token"])
    assert ci.get("/api/peers")[0] == 200
    status, _, r = ci.post("/api/routes", {"domain": "ci.example", "peer": "cfgpeer"})
    assert status == 201, r  # no cookie, no CSRF header
    assert ci.delete("/api/routes/d:ci.example")[0] == 204
    status, _, r = node.admin.post("/api/tokens", {"name": "look", "role": "viewer"})
    assert status == 201, r
    look = AdminClient(node.url, token=r["token"])
    assert look.get("/api/route-test?to=%2B4930123")[0] == 200
    assert look.post("/api/routes", {"domain": "ci.example", "peer": "cfgpeer"})[0] == 403
