"""The submission API as a carrier meets it: POST /v1/messages (every status
code, batches, idempotency) and GET /v1/messages/{rid}, with bearer tokens
and TLS client certificates pinned per peer."""
import hashlib
import shutil
import signal
import ssl
import subprocess
import time

import pytest

from conftest import Peer, free_port, node_config

RID_CHARS = set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")


def env(i="m-1", frm="+821011112222", to="bob@line.example", text="hello", **kw):
    e = {"v": 1, "id": i, "from": frm, "to": to, "text": text}
    e.update(kw)
    return e


def is_rid(s):
    return isinstance(s, str) and len(s) == 26 and set(s) <= RID_CHARS


@pytest.fixture
def make_node(tmp_path, start_daemon):
    """A loopback node with the given peers and routes; returns the Daemon."""
    n = [0]

    def make(peers, routes, store="", tls=None, node_id="test.interlink"):
        n[0] += 1
        port, admin = free_port(), free_port()
        text = node_config(tmp_path / f"data{n[0]}", port, admin, peers, routes,
                           node_id=node_id)
        if store:
            text = text.replace('store {\n  sync = "none"\n}', "store {\n" + store + "\n}")
        url = f"http://127.0.0.1:{port}"
        ctx = None
        if tls:
            cert, key, ctx, ca = tls
            text = text.replace("plain-http = true",
                                f'tls-cert = "{cert}"\n  tls-key = "{key}"\n'
                                f'  client-ca = "{ca}"')
            url = f"https://127.0.0.1:{port}"
        return start_daemon(text, name=f"node{n[0]}.conf", base_url=url, ssl_context=ctx)

    return make


@pytest.fixture
def basic(make_node):
    """kakao (a carrier that owns +8210 and kakao.example) sends to line (a pull
    carrier: nothing is ever delivered, so messages stay queued)."""
    kakao = Peer("kakao", owns=["+8210", "kakao.example"])
    line = Peer("line", owns=["line.example"])
    d = make_node([kakao, line], ['route { prefix = "+8210" peer = "kakao" }',
                                  'route { domain = "line.example" peer = "line" }'])
    return d, kakao, line


def post(d, body, peer=None, **kw):
    return d.call("POST", "/v1/messages", body, token=peer.token if peer else None, **kw)


# ------------------------------------------------------------ the happy path

def test_queued_then_duplicate_with_the_same_rid(basic):
    d, kakao, line = basic
    st, h, b = post(d, env(), kakao)
    assert st == 202, b
    assert b["status"] == "queued" and is_rid(b["rid"])
    assert h["Content-Type"] == "application/json"
    st2, _, b2 = post(d, env(text="different text, same id"), kakao)
    assert st2 == 200, b2
    assert b2 == {"rid": b["rid"], "status": "duplicate"}
    # the same id from another peer is another message
    st3, _, b3 = post(d, env(frm="ann@line.example", to="+821033334444"), line)
    assert st3 == 202 and b3["rid"] != b["rid"]
    st, _, s = d.call("GET", "/v1/messages/" + b["rid"], token=kakao.token)
    assert st == 200, s
    assert s["rid"] == b["rid"] and s["id"] == "m-1" and s["state"] == "queued"
    assert s["attempts"] == 0 and s["final"] is None and s["last_error"] is None
    now = time.time() * 1000
    assert abs(s["created"] - now) < 60000 and s["updated"] >= s["created"]
    assert s["expires"] - s["created"] == pytest.approx(3 * 86400 * 1000, abs=60000)
    assert "msg=submit peer=kakao n=1 status=202 queued=1" in d.log_text()
    assert "hello" not in d.log_text()


def test_relay_peer_uses_the_upstream_rid_as_idempotency_key(make_node):
    up = Peer("upstream", kind="relay")
    line = Peer("line", owns=["line.example"])
    d = make_node([up, line], ['route { domain = "line.example" peer = "line" }'])
    rid = "01JDQ3ZK4M8X2V7T9N5R6B1C0A"
    st, _, b = post(d, env("a", rid=rid, hops=["relay-a"]), up)
    assert st == 202, b
    # another id, the same upstream rid: the same message
    st, _, b2 = post(d, env("b", rid=rid, hops=["relay-a"]), up)
    assert (st, b2) == (200, {"rid": b["rid"], "status": "duplicate"})
    st, _, s = d.call("GET", "/v1/messages/" + b["rid"], token=up.token)
    assert s["id"] == rid
    # a loop: this node is in hops
    st, _, b3 = post(d, env("c", hops=["relay-a", "test.interlink"]), up)
    assert st == 400 and b3["field"] == "hops", b3


# ---------------------------------------------------------------- refusals

def test_bad_fields_and_json(basic):
    d, kakao, _ = basic
    st, _, b = post(d, env(to="+82 10 CALL ME"), kakao)
    assert st == 400 and b["error"] == "bad_field" and b["field"] == "to", b
    st, _, b = post(d, dict(env(), txt="typo"), kakao)
    assert (st, b["error"], b["field"], b["reason"]) == (400, "bad_field", "txt", "unknown field")
    st, _, b = post(d, b'{"v":1,"id":"m-1"', kakao)
    assert st == 400 and b["error"] == "bad_json" and "field" not in b, b
    st, _, b = post(d, [], kakao)
    assert st == 400 and b["error"] == "bad_json", b
    st, _, b = post(d, env(ts=int(time.time() * 1000) - 10000, ttl=1), kakao)
    assert (st, b["field"]) == (400, "ttl") and "expired" in b["reason"], b


def test_unauthenticated(basic):
    d, _, _ = basic
    st, h, b = post(d, env())
    assert st == 401 and b["error"] == "unauthorized", b
    assert h["WWW-Authenticate"].startswith("Bearer")
    st, h, b = d.call("POST", "/v1/messages", env(), token="not-a-token")
    assert st == 401 and h["WWW-Authenticate"].startswith("Bearer"), b
    st, _, b = d.call("POST", "/v1/messages", env(), headers={"Authorization": "Basic eDp5"})
    assert st == 401, b
    st, _, _ = d.call("GET", "/v1/messages/01JDQ3ZK4M8X2V7T9N5R6B1C0A")
    assert st == 401
    assert "not-a-token" not in d.log_text()


def test_spoofed_from(basic):
    d, kakao, _ = basic
    st, _, b = post(d, env(frm="+821122223333"), kakao)
    assert st == 403 and b["error"] == "spoofed_from" and b["field"] == "from", b
    st, _, b = post(d, env(frm="eve@line.example"), kakao)
    assert st == 403 and b["error"] == "spoofed_from", b
    report = {"v": 1, "id": "r-1", "kind": "report", "from": "eve@line.example",
              "to": "+821011112222", "ref": "01JDQ3ZK4M8X2V7T9N5R6B1C0A",
              "status": "delivered", "at": 1}
    st, _, b = post(d, report, kakao)
    assert st == 403 and b["error"] == "spoofed_from", b


def test_suspended_peers(make_node):
    """A suspended submitter is refused (403); a suspended destination answers 503."""
    kakao = Peer("kakao", owns=["+8210"])
    line = Peer("line", owns=["line.example"], extra="  suspended = true")
    skt = Peer("skt", owns=["+8211"], extra="  suspended = true")
    d = make_node([kakao, line, skt], ['route { domain = "line.example" peer = "line" }'])
    st, _, b = post(d, env(), skt)
    assert st == 403 and b["error"] == "forbidden" and "suspended" in b["reason"], b
    st, h, b = post(d, env(), kakao)
    assert st == 503 and b["error"] == "destination_suspended", b
    assert int(h["Retry-After"]) >= 1


def test_no_route(basic):
    d, kakao, _ = basic
    st, _, b = post(d, env(to="+4915112345678"), kakao)
    assert st == 404 and b["error"] == "no_route" and b["field"] == "to", b


def test_too_large_and_media_type(make_node):
    kakao = Peer("kakao", owns=["+8210"], extra='  max-size = "1K"')
    line = Peer("line", owns=["line.example"])
    d = make_node([kakao, line], ['route { domain = "line.example" peer = "line" }'])
    st, _, b = post(d, env(text="x" * 1025), kakao)
    assert st == 413 and b["error"] == "too_large" and b["field"] == "text", b
    assert post(d, env(text="x" * 1024), kakao)[0] == 202
    st, _, b = post(d, b'{"v":1}', kakao, headers={"Content-Type": "text/plain"})
    assert st == 415 and b["error"] == "unsupported_media_type", b


def test_rate_limit(make_node):
    kakao = Peer("kakao", owns=["+8210"], extra="  rate = 1\n  burst = 2")
    line = Peer("line", owns=["line.example"])
    d = make_node([kakao, line], ['route { domain = "line.example" peer = "line" }'])
    assert post(d, env("a"), kakao)[0] == 202
    assert post(d, env("b"), kakao)[0] == 202
    st, h, b = post(d, env("c"), kakao)
    assert st == 429 and b["error"] == "rate_limited", b
    assert 1 <= int(h["Retry-After"]) <= 2
    # a batch larger than the burst could never pass: refused, not delayed
    st, _, b = post(d, [env("d"), env("e"), env("f")], kakao)
    assert st == 413 and b["error"] == "batch_too_large", b


def test_destination_busy(make_node):
    kakao = Peer("kakao", owns=["+8210"])
    line = Peer("line", owns=["line.example"], extra="  max-queue = 1")
    d = make_node([kakao, line], ['route { domain = "line.example" peer = "line" }'])
    st, _, first = post(d, env("a"), kakao)
    assert st == 202
    st, h, b = post(d, env("b"), kakao)
    assert st == 503 and b["error"] == "destination_busy", b
    assert int(h["Retry-After"]) >= 1
    st, _, b = post(d, [env("c"), env("d")], kakao)
    assert st == 200 and [r["code"] for r in b["results"]] == [503, 503], b
    # a carrier retrying what it already sent is told its rid, busy or not
    st, _, b = post(d, env("a"), kakao)
    assert (st, b) == (200, {"rid": first["rid"], "status": "duplicate"})


def test_store_full_then_status_still_served(make_node):
    kakao = Peer("kakao", owns=["+8210"])
    line = Peer("line", owns=["line.example"])
    d = make_node([kakao, line], ['route { domain = "line.example" peer = "line" }'],
                  store='  map-size = "4M"\n  max-map-size = "4M"\n  sync = "none"')
    accepted, full = [], None
    for i in range(200):
        st, h, b = post(d, env(f"big-{i}", text="x" * 60 * 1024), kakao)
        if st == 507:
            full = (h, b)
            break
        assert st == 202, (i, st, b)
        accepted.append(b["rid"])
    assert full, "the store never filled"
    h, b = full
    assert b["error"] == "store_full" and int(h["Retry-After"]) >= 1, b
    assert len(accepted) > 10
    # a batch whose every element fails for the full store: 507 as a whole
    st, h, b = post(d, [env("big-x", text="x" * 60 * 1024), env("big-y", text="x" * 60 * 1024)],
                    kakao)
    assert st == 507 and "Retry-After" in h, b
    for rid in (accepted[0], accepted[-1]):
        st, _, s = d.call("GET", "/v1/messages/" + rid, token=kakao.token)
        assert st == 200 and s["state"] == "queued", s
    # still up, and a repeated id is still a duplicate (nothing to write)
    assert d.get("/v1/health") == (503, '{"status":"full"}')  # load balancers see it
    st, _, b = post(d, env("big-0", text="x"), kakao)
    assert (st, b["rid"]) == (200, accepted[0])


# ------------------------------------------------------------------ batches

def test_batch_mixed(basic):
    d, kakao, _ = basic
    batch = [env("b-0"), env("b-1", to="nobody"), env("b-2", frm="+4930123"),
             env("b-3", to="+33612345678"), 42, env("b-0"), dict(env("b-6"), prio=9)]
    st, _, b = post(d, batch, kakao)
    assert st == 200, b
    r = b["results"]
    assert [x["index"] for x in r] == list(range(7))
    assert [x["code"] for x in r] == [202, 400, 403, 404, 400, 200, 400]
    assert r[0]["status"] == "queued" and is_rid(r[0]["rid"])
    assert r[1]["field"] == "to" and r[1]["error"] == "bad_field"
    assert r[2]["error"] == "spoofed_from"
    assert r[3]["error"] == "no_route"
    assert r[4] == {"index": 4, "code": 400, "error": "bad_field",
                    "reason": "must be an object"}
    assert r[5]["status"] == "duplicate" and r[5]["rid"] == r[0]["rid"]
    assert r[6]["field"] == "prio"
    # a resubmitted batch: the accepted one is a duplicate now
    st, _, b2 = post(d, batch[:1], kakao)
    assert b2["results"][0] == {"rid": r[0]["rid"], "status": "duplicate", "index": 0,
                                "code": 200}


# ----------------------------------------------------------------- status

def test_status_only_to_the_submitter(basic):
    d, kakao, line = basic
    _, _, b = post(d, env(), kakao)
    st, _, s = d.call("GET", "/v1/messages/" + b["rid"], token=line.token)
    assert st == 404 and s["error"] == "not_found", s
    st, _, s2 = d.call("GET", "/v1/messages/01JDQ3ZK4M8X2V7T9N5R6B1C0A", token=kakao.token)
    assert (st, s2) == (404, s)  # others' and unknown rids look the same
    st, _, s = d.call("GET", "/v1/messages/not-a-rid", token=kakao.token)
    assert st == 404, s
    st, _, s = d.call("GET", "/v1/messages/" + b["rid"].lower(), token=kakao.token)
    assert st == 200 and s["rid"] == b["rid"]


# -------------------------------------------------------------------- TLS

def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def make_ca(d, name):
    """A CA for client certificates: d/name.pem and d/name.key."""
    openssl("req", "-x509", *EC, "-days", "2", "-subj", f"/CN={name}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout", str(d / f"{name}.key"), "-out", str(d / f"{name}.pem"))
    return d / f"{name}.pem"


def make_client(d, ca, name):
    """A client certificate signed by the CA d/ca: (d/name.pem, d/name.key)."""
    (d / "ext.cnf").write_text("basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n")
    openssl("req", *EC, "-subj", f"/CN={name}", "-keyout", str(d / f"{name}.key"),
            "-out", str(d / f"{name}.csr"))
    openssl("x509", "-req", "-in", str(d / f"{name}.csr"), "-CA", str(d / f"{ca}.pem"),
            "-CAkey", str(d / f"{ca}.key"), "-CAcreateserial", "-days", "2",
            "-extfile", str(d / "ext.cnf"), "-out", str(d / f"{name}.pem"))
    return d / f"{name}.pem", d / f"{name}.key"


@pytest.fixture(scope="module")
def client_certs(tmp_path_factory):
    """A CA, two client certificates it signed, and one self-signed."""
    d = tmp_path_factory.mktemp("clients")
    out = {"ca": make_ca(d, "ca")}
    for name in ("c1", "c2"):
        out[name] = make_client(d, "ca", name)
    openssl("req", "-x509", *EC, "-days", "2", "-subj", "/CN=c1",
            "-keyout", str(d / "self.key"), "-out", str(d / "self.pem"))
    out["self"] = (d / "self.pem", d / "self.key")
    return out


def cert_sha256(pem_path):
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem_path.read_text())).hexdigest()


def test_tls_client_certificate_pin(make_node, tls_files, client_certs):
    server_cert, server_key, _ = tls_files
    pinned = Peer("pinned", owns=["+8210"],
                  extra=f'  cert-sha256 = "{cert_sha256(client_certs["c1"][0])}"')
    line = Peer("line", owns=["line.example"])
    base = ssl.create_default_context(cafile=str(server_cert))
    d = make_node([pinned, line], ['route { domain = "line.example" peer = "line" }',
                                   'route { prefix = "+8210" peer = "pinned" }'],
                  tls=(server_cert, server_key, base, client_certs["ca"]))

    def ctx(name):
        c = ssl.create_default_context(cafile=str(server_cert))
        c.load_cert_chain(*map(str, client_certs[name]))
        return c

    st, _, b = post(d, env("t-1"), pinned, ssl_context=ctx("c1"))
    assert st == 202, b
    st, _, b = post(d, env("t-2"), None, ssl_context=ctx("c1"))  # the certificate alone
    assert st == 202, b
    st, _, b = post(d, env("t-3"), pinned, ssl_context=ctx("c2"))
    assert st == 403 and b["reason"] == "certificate pin mismatch", b
    st, h, b = post(d, env("t-4"), pinned)  # token, no certificate
    assert st == 401 and "WWW-Authenticate" in h, b
    st, _, b = post(d, env("t-5"), None, ssl_context=ctx("c2"))  # a cert no peer pins
    assert st == 401, b
    try:
        st, _, b = post(d, env("t-6"), pinned, ssl_context=ctx("self"))
        assert st == 401 and "not verified" in b["reason"], b
    except OSError as e:
        print("self-signed client certificate refused in the handshake:", e)
    # a peer without a pin still authenticates with its token over TLS
    st, _, b = post(d, env("t-7", frm="ann@line.example", to="+821012345678"), line)
    assert st == 202, b


def test_client_ca_renewed_on_reload(make_node, tls_files, client_certs, tmp_path):
    """client-ca's contents are re-read on reload: client certificates of a new CA are
    verified from then on, the old CA's no more; no restart is asked for."""
    server_cert, server_key, _ = tls_files
    make_ca(tmp_path, "ca2")
    certs = {"c1": client_certs["c1"], "c3": make_client(tmp_path, "ca2", "c3")}
    ca = tmp_path / "client-ca.pem"
    shutil.copy(client_certs["ca"], ca)
    p1 = Peer("p1", owns=["+8210"], extra=f'  cert-sha256 = "{cert_sha256(certs["c1"][0])}"')
    p3 = Peer("p3", owns=["+8220"], extra=f'  cert-sha256 = "{cert_sha256(certs["c3"][0])}"')
    line = Peer("line", owns=["line.example"])
    d = make_node([p1, p3, line], ['route { domain = "line.example" peer = "line" }'],
                  tls=(server_cert, server_key, ssl.create_default_context(cafile=str(server_cert)),
                       ca))

    def send(name, i, frm):
        c = ssl.create_default_context(cafile=str(server_cert))
        c.load_cert_chain(*map(str, certs[name]))
        return post(d, env(i, frm=frm), None, ssl_context=c)

    assert send("c1", "ca-1", "+821011112222")[0] == 202
    st, _, b = send("c3", "ca-2", "+822011112222")
    assert (st, b["reason"]) == (401, "client certificate not verified"), b
    shutil.copy(tmp_path / "ca2.pem", ca)           # the new CA, in place
    d.signal(signal.SIGHUP)
    d.wait_log("msg=config_reloaded", count=1)
    assert send("c3", "ca-3", "+822011112222")[0] == 202
    st, _, b = send("c1", "ca-4", "+821011112222")
    assert (st, b["reason"]) == (401, "client certificate not verified"), b
    assert "config_needs_restart" not in d.log_text()
    ca.write_text("not a CA\n")                      # refused; the new CA stays
    d.signal(signal.SIGHUP)
    d.wait_log("msg=config_reload_failed")
    assert f'client-ca {ca}: no PEM certificate in it' in d.log_text()
    assert send("c3", "ca-5", "+822011112222")[0] == 202
    # removing client-ca is another matter: the listener asks for certificates from its start
    shutil.copy(tmp_path / "ca2.pem", ca)
    with open(d.conf) as f:
        text = f.read()
    with open(d.conf, "w") as f:
        f.write(text.replace(f'  client-ca = "{ca}"\n', ""))
    d.signal(signal.SIGHUP)
    d.wait_log("msg=config_needs_restart key=carrier-listener")


# ------------------------------------------------------------------- load

def test_concurrent_submissions_and_a_full_batch(make_node):
    """Suspended requests resumed from the writer's synced group commits, from many
    connections at once; then the largest batch. Every rid is distinct."""
    import concurrent.futures
    kakao = Peer("kakao", owns=["+8210"])
    line = Peer("line", owns=["line.example"])
    d = make_node([kakao, line], ['route { domain = "line.example" peer = "line" }'],
                  store='  sync = "full"')

    def one(i):
        return post(d, env(f"c-{i}"), kakao)

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(one, range(300)))
    assert [a[0] for a in answers] == [202] * 300
    rids = {a[2]["rid"] for a in answers}
    st, _, b = post(d, [env(f"k-{i}") for i in range(1000)], kakao, timeout=30)
    assert st == 200 and [r["code"] for r in b["results"]] == [202] * 1000
    rids |= {r["rid"] for r in b["results"]}
    assert len(rids) == 1300
    assert "n=1000 status=200 queued=1000" in d.log_text()
