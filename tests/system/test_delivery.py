"""Push delivery as carriers see it: the real interlinkd delivering to fake carriers
(real HTTP servers on loopback) — happy path, retries, an outage, DR endpoints,
expiry and permanent failures with their delivery reports, linked-account
failover, and two nodes chained (and looped) as relays."""
import http.server
import json
import socket
import threading
import time

import pytest

import trustcheck
from conftest import Peer, free_port, node_config

FAST = 'retry-initial = "100ms"\nretry-max = "1s"\ntimeout = "2s"'
ORIGIN_NUM = "+821011112222"   # a subscriber of the submitting carrier
DEST_NUM = "+822033334444"     # a subscriber of the destination carrier
ROUTES = ['route { prefix = "+8210" peer = "origin" }',
          'route { prefix = "+8220" peer = "dest" }']


# ------------------------------------------------------------ helpers

def envelope(mid, text="hello", **kw):
    env = {"v": 1, "id": mid, "from": ORIGIN_NUM, "to": DEST_NUM, "text": text}
    env.update(kw)
    return env


def submit(node, peer, env):
    status, _, body = node.call("POST", "/v1/messages", env, token=peer.token)
    assert status == 202, (status, body)
    return body["rid"]


def message(node, peer, rid):
    status, _, body = node.call("GET", f"/v1/messages/{rid}", token=peer.token)
    assert status == 200, (status, body)
    return body


def wait_state(node, peer, rid, state, timeout=10):
    deadline = time.time() + timeout
    while True:
        body = message(node, peer, rid)
        if body["state"] == state:
            return body
        if time.time() > deadline:
            raise AssertionError(f"{rid}: {body} (wanted {state})\n{node.log_text()[-3000:]}")
        time.sleep(0.05)


def start_node(start_daemon, tmp_path, name, peers, routes, port=None, node_id="test.interlink",
               delivery=FAST):
    port = port or free_port()
    conf = node_config(tmp_path / f"data-{name}", port, free_port(), peers=peers,
                       routes=routes, node_id=node_id, delivery=delivery)
    return start_daemon(conf, name=f"{name}.conf", base_url=f"http://127.0.0.1:{port}")


class FlakyCarrier:
    """A carrier endpoint that can go down (its listener closed, requests on kept-alive
    connections dropped without an answer) and come back on the same port."""

    def __init__(self, delay=0.0):
        self.received = []
        self.attempts = 0
        self.connections = 0       # TCP connections accepted
        self.active = self.most_active = 0
        self.delay = delay         # seconds each answer takes
        self.is_down = False
        self.lock = threading.Condition()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1/deliver"
        self.server = self.holder = None
        self.up()

    def up(self):
        carrier = self
        if self.holder:
            self.holder.close()
            self.holder = None

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                with carrier.lock:
                    carrier.connections += 1

            def do_POST(self):
                with carrier.lock:
                    carrier.attempts += 1
                    down = carrier.is_down
                    carrier.active += 1
                    carrier.most_active = max(carrier.most_active, carrier.active)
                if down:
                    self.close_connection = True
                    return
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                time.sleep(carrier.delay)
                with carrier.lock:
                    carrier.active -= 1
                    carrier.received.append((dict(self.headers), body))
                    carrier.lock.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.is_down = False
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.server.socket.listen(128)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self):
        with self.lock:
            self.is_down = True
        self.server.shutdown()
        self.server.server_close()
        # hold the port, bound but not listening: connections are refused, and no client
        # socket can take it as its ephemeral port before up() binds it again
        self.holder = socket.socket()
        self.holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.holder.bind(("127.0.0.1", self.port))

    def wait_for(self, n, timeout=30):
        deadline = time.time() + timeout
        with self.lock:
            while len(self.received) < n:
                left = deadline - time.time()
                if left <= 0:
                    raise AssertionError(f"got {len(self.received)} of {n}")
                self.lock.wait(left)
            return list(self.received)


@pytest.fixture
def flaky_carrier():
    made = []

    def make(**kw):
        c = FlakyCarrier(**kw)
        made.append(c)
        return c

    yield make
    for c in made:
        if not c.is_down:
            c.down()
        c.holder.close()


@pytest.fixture
def fake_carrier(fake_carrier):
    """conftest's carrier with a listen backlog for the engine's parallel connections (the
    default 5 drops SYNs, and each dropped one costs a second)."""
    def make(**kw):
        c = fake_carrier(**kw)
        c.server.socket.listen(128)
        return c
    return make


@pytest.fixture
def pair(tmp_path, start_daemon, fake_carrier):
    """A node with an origin carrier (it submits, and takes reports at its own endpoint)
    and a destination carrier; build(dest_endpoints) starts it."""
    def build(dest_endpoints, origin_endpoints=None, delivery=FAST):
        origin_ep = origin_endpoints if origin_endpoints is not None else [fake_carrier().url]
        origin = Peer("origin", owns=["+8210"], endpoints=origin_ep)
        dest = Peer("dest", owns=["+8220"], endpoints=dest_endpoints)
        node = start_node(start_daemon, tmp_path, "node", [origin, dest], ROUTES,
                          delivery=delivery)
        return node, origin, dest
    return build


# --------------------------------------------------------------- tests

def test_push_happy_path(pair, fake_carrier):
    carrier = fake_carrier()
    node, origin, dest = pair([carrier.url])
    rid = submit(node, origin, envelope("m-1", text="a body the log must never show"))
    headers, body = carrier.wait_for(1)[0]
    assert body["rid"] == rid and body["id"] == "m-1"
    assert body["hops"] == ["test.interlink"]
    assert body["from"] == ORIGIN_NUM and body["to"] == DEST_NUM
    assert body["text"] == "a body the log must never show"
    assert headers["Authorization"] == "Bearer " + dest.outbound_token
    assert headers["Idempotency-Key"] == rid
    assert headers["Content-Type"] == "application/json"
    st = wait_state(node, origin, rid, "delivered")
    assert st["attempts"] == 1 and st["route"] == "dest/0" and st["last_error"] is None
    log = node.log_text()
    assert f"msg=delivery_attempt rid={rid} peer=dest endpoint=0 attempt=1 status=200" in log
    assert "latency_ms=" in log
    assert "never show" not in log and dest.outbound_token not in log
    assert len(carrier.attempts) == 1
    assert node.stop() == 0


def test_stop_abandons_in_flight_and_restart_delivers(pair, flaky_carrier, start_daemon):
    carrier = flaky_carrier(delay=1.5)
    node, origin, _ = pair([carrier.url])
    rid = submit(node, origin, envelope("m-stop"))
    deadline = time.time() + 5
    while carrier.attempts == 0 and time.time() < deadline:
        time.sleep(0.02)
    assert node.stop() == 0     # the push in flight is abandoned, its lease kept
    carrier.delay = 0
    with open(node.conf) as f:
        again = start_daemon(f.read(), name="again.conf", base_url=node.base_url)
    got = carrier.wait_for(2, timeout=15)  # the abandoned push (answered late) and the retry
    assert [b["rid"] for _, b in got] == [rid, rid]
    st = wait_state(again, origin, rid, "delivered")
    assert st["attempts"] == 2


def test_keep_alive_and_per_peer_concurrency(pair, flaky_carrier):
    carrier = flaky_carrier(delay=0.02)
    node, origin, _ = pair([carrier.url], delivery=FAST + "\nconcurrency = 4")
    batch = [envelope(f"b-{i}") for i in range(200)]
    status, _, body = node.call("POST", "/v1/messages", batch, token=origin.token)
    assert status in (200, 202, 207), body
    got = carrier.wait_for(200)
    assert sorted(b["id"] for _, b in got) == sorted(f"b-{i}" for i in range(200))
    assert carrier.attempts == 200
    assert carrier.most_active <= 4, "more pushes in flight than delivery.concurrency"
    assert carrier.connections <= 4, "connections were not kept alive"


def test_500_then_200_delivers_once_after_two_attempts(pair, fake_carrier):
    carrier = fake_carrier(statuses=[500])
    node, origin, _ = pair([carrier.url])
    rid = submit(node, origin, envelope("m-2"))
    carrier.wait_for(1)
    st = wait_state(node, origin, rid, "delivered")
    assert st["attempts"] == 2 and st["last_error"] == "HTTP 500"
    assert [a[2] for a in carrier.attempts] == [500, 200]
    assert [a[1]["rid"] for a in carrier.attempts] == [rid, rid]
    time.sleep(0.3)
    assert len(carrier.received) == 1


def test_retry_after_is_honoured(pair, fake_carrier):
    carrier = fake_carrier(statuses=[429], headers={"Retry-After": "1"})
    node, origin, _ = pair([carrier.url])
    t0 = time.time()
    rid = submit(node, origin, envelope("m-3"))
    carrier.wait_for(1)
    assert time.time() - t0 >= 0.95, "the second attempt came before Retry-After"
    assert wait_state(node, origin, rid, "delivered")["attempts"] == 2


def test_carrier_down_then_back_loses_nothing(pair, flaky_carrier):
    carrier = flaky_carrier()
    node, origin, _ = pair([carrier.url])
    carrier.down()
    rids = [submit(node, origin, envelope(f"down-{i}")) for i in range(20)]
    time.sleep(20)  # the outage: 20 s of refused connections
    assert not carrier.received
    carrier.up()
    got = carrier.wait_for(20, timeout=60)  # the breaker half-opens within ~20 s
    assert sorted(b["rid"] for _, b in got) == sorted(rids)
    for rid in rids:
        wait_state(node, origin, rid, "delivered")
    time.sleep(0.5)
    assert len(carrier.received) == 20, "delivered twice"
    assert "result=retry" in node.log_text()


def test_dr_endpoint_takes_over(pair, fake_carrier):
    primary, dr = fake_carrier(default=503), fake_carrier()
    node, origin, _ = pair([primary.url, dr.url])
    rids = [submit(node, origin, envelope(f"dr-{i}")) for i in range(10)]
    got = dr.wait_for(10)
    assert sorted(b["rid"] for _, b in got) == sorted(rids)
    assert len(primary.attempts) >= 3
    for rid in rids:
        st = wait_state(node, origin, rid, "delivered")
        assert st["route"] == "dest/1"
    # once the breaker is open, new messages go straight to DR
    n = len(primary.attempts)
    rid = submit(node, origin, envelope("dr-late"))
    dr.wait_for(11)
    assert wait_state(node, origin, rid, "delivered")["attempts"] == 1
    assert len(primary.attempts) == n


def test_expiry_sends_an_expired_report(pair, fake_carrier):
    origin_carrier, dead = fake_carrier(), fake_carrier(default=503)
    node, origin, _ = pair([dead.url], origin_endpoints=[origin_carrier.url])
    rid = submit(node, origin, envelope("m-exp", ttl=2, dlr=True))
    headers, rep = origin_carrier.wait_for(1, timeout=10)[0]
    assert rep["kind"] == "report" and rep["status"] == "expired"
    assert rep["ref"] == rid and rep["id"] == "dlr." + rid
    assert rep["reason"] == "ttl expired"
    assert rep["from"] == DEST_NUM and rep["to"] == ORIGIN_NUM
    assert rep["dlr"] is False and rep["hops"] == ["test.interlink"]
    assert rep["rid"] != rid and headers["Idempotency-Key"] == rep["rid"]
    st = wait_state(node, origin, rid, "expired")
    assert st["last_error"] == "ttl expired"
    assert len(dead.attempts) >= 1


def test_permanent_4xx_fails_with_a_report(pair, fake_carrier):
    origin_carrier, refusing = fake_carrier(), fake_carrier(default=404)
    node, origin, _ = pair([refusing.url], origin_endpoints=[origin_carrier.url])
    rid = submit(node, origin, envelope("m-404", dlr=True))
    _, rep = origin_carrier.wait_for(1)[0]
    assert rep["kind"] == "report" and rep["status"] == "failed"
    assert rep["ref"] == rid and rep["reason"] == "HTTP 404"
    st = wait_state(node, origin, rid, "failed")
    assert st["attempts"] == 1 and st["last_error"] == "HTTP 404"
    assert len(refusing.attempts) == 1


def test_delivered_report_and_no_report_unasked(pair, fake_carrier):
    origin_carrier, carrier = fake_carrier(), fake_carrier()
    node, origin, _ = pair([carrier.url], origin_endpoints=[origin_carrier.url])
    quiet = submit(node, origin, envelope("m-quiet"))
    rid = submit(node, origin, envelope("m-dlr", dlr=True))
    carrier.wait_for(2)
    _, rep = origin_carrier.wait_for(1)[0]
    assert rep["status"] == "delivered" and rep["ref"] == rid and "reason" not in rep
    wait_state(node, origin, quiet, "delivered")
    time.sleep(0.5)
    assert len(origin_carrier.received) == 1


def test_linked_account_failover_reports_via(tmp_path, start_daemon, fake_carrier):
    origin_carrier, kakao_c, line_c = fake_carrier(), fake_carrier(default=503), fake_carrier()
    origin = Peer("origin", owns=["+8210"], endpoints=[origin_carrier.url])
    kakao = Peer("kakao", owns=["+8220"], endpoints=[kakao_c.url])
    # line's line for a number of kakao's needs no approval: the operator trusts its lines
    line = Peer("line", owns=["line.example"], endpoints=[line_c.url],
                extra="  directory-trusted = true")
    routes = ['route { prefix = "+8210" peer = "origin" }',
              'route { prefix = "+8220" peer = "kakao" }',
              'route { domain = "line.example" peer = "line" }']
    node = start_node(start_daemon, tmp_path, "node", [origin, kakao, line], routes)
    path = f"/v1/directory/{DEST_NUM}"
    assert node.call("PUT", path, {"priority": 0}, token=kakao.token)[0] == 200
    status, _, body = node.call("PUT", path, {"account": "bob@line.example", "priority": 1,
                                              "failover": True, "failover_delay": 0},
                                token=line.token)
    assert status == 200, body
    rid = submit(node, origin, envelope("m-linked", dlr=True))
    _, got = line_c.wait_for(1)[0]
    assert got["to"] == "bob@line.example" and got["rid"] == rid
    _, rep = origin_carrier.wait_for(1)[0]
    assert rep["status"] == "delivered" and rep["reason"] == "via line" and rep["ref"] == rid
    assert rep["via"] == "line"
    st = wait_state(node, origin, rid, "delivered")
    assert st["route"] == "via line"
    assert len(kakao_c.attempts) >= 3
    # the node signed the address it sent to, and its trace ends with the carrier that took it
    keys = trustcheck.fetch_keys(node.base_url)
    assert trustcheck.verify_chain(got, keys) == [("test.interlink", "owned")]
    trustcheck.verify_report(rep, keys)
    status, _, tr = node.call("GET", f"/v1/messages/{rid}/trace", token=origin.token)
    assert status == 200 and tr["events"][-1] == {"at": tr["events"][-1]["at"],
                                                   "event": "delivered", "peer": "line"}, tr


def test_linked_account_failover_to_a_pull_carrier_reports_via(tmp_path, start_daemon,
                                                                 fake_carrier):
    """The linked carrier pulls: the message moves to its inbox, and when it is
    acknowledged the report still says where it went."""
    origin_carrier, kakao_c = fake_carrier(), fake_carrier(default=503)
    origin = Peer("origin", owns=["+8210"], endpoints=[origin_carrier.url])
    kakao = Peer("kakao", owns=["+8220"], endpoints=[kakao_c.url])
    line = Peer("line", owns=["line.example"],  # no endpoints: it pulls
                extra="  directory-trusted = true")
    routes = ['route { prefix = "+8210" peer = "origin" }',
              'route { prefix = "+8220" peer = "kakao" }',
              'route { domain = "line.example" peer = "line" }']
    node = start_node(start_daemon, tmp_path, "node", [origin, kakao, line], routes)
    path = f"/v1/directory/{DEST_NUM}"
    assert node.call("PUT", path, {"priority": 0}, token=kakao.token)[0] == 200
    assert node.call("PUT", path, {"account": "bob@line.example", "priority": 1,
                                   "failover": True, "failover_delay": 0},
                     token=line.token)[0] == 200
    rid = submit(node, origin, envelope("m-linked-pull", dlr=True))
    deadline, msgs = time.time() + 20, []
    while not msgs and time.time() < deadline:
        status, _, body = node.call("GET", "/v1/inbox?max=10&wait=2", token=line.token)
        assert status == 200, body
        msgs = body["messages"]
    assert [m["rid"] for m in msgs] == [rid]
    status, _, body = node.call("POST", "/v1/inbox/ack", {"rids": [rid]}, token=line.token)
    assert status == 200 and body["results"][0]["status"] == "acked", body
    _, rep = origin_carrier.wait_for(1)[0]
    assert rep["status"] == "delivered" and rep["reason"] == "via line" and rep["ref"] == rid
    assert wait_state(node, origin, rid, "delivered")["route"] == "via line"


def relay_pair(pa, pb):
    """Two nodes peered as relays, on ports pa and pb: a_at_b is node-a as node-b knows it,
    b_at_a is node-b as node-a knows it. Each pushes to the other's POST /v1/messages with
    the token the other knows it by."""
    a_at_b = Peer("node-a", kind="relay", endpoints=[f"http://127.0.0.1:{pa}/v1/messages"])
    b_at_a = Peer("node-b", kind="relay", endpoints=[f"http://127.0.0.1:{pb}/v1/messages"])
    b_at_a.outbound_token = a_at_b.token   # A pushes to B as node-a
    a_at_b.outbound_token = b_at_a.token   # B pushes to A as node-b
    return a_at_b, b_at_a


class Chain:
    """origin (a carrier at node-a, +8210) → node-a → node-b → dest (a carrier at node-b,
    +8220), each carrier a fake one; a_at_b is node-a as node-b knows it."""

    def __init__(self, tmp_path, start_daemon, fake_carrier):
        self.origin_carrier, self.carrier = fake_carrier(), fake_carrier()
        pa, pb = free_port(), free_port()
        self.origin = Peer("origin", owns=["+8210"], endpoints=[self.origin_carrier.url])
        self.a_at_b, b_at_a = relay_pair(pa, pb)
        dest = Peer("dest", owns=["+8220"], endpoints=[self.carrier.url])
        self.a = start_node(start_daemon, tmp_path, "a", [self.origin, b_at_a],
                            ['route { prefix = "+8210" peer = "origin" }',
                             'route { prefix = "+8220" peer = "node-b" }'],
                            port=pa, node_id="node-a")
        self.b = start_node(start_daemon, tmp_path, "b", [self.a_at_b, dest],
                            ['route { prefix = "+8210" peer = "node-a" }',
                             'route { prefix = "+8220" peer = "dest" }'],
                            port=pb, node_id="node-b")


def test_chain_of_two_nodes(tmp_path, start_daemon, fake_carrier):
    c = Chain(tmp_path, start_daemon, fake_carrier)
    a, origin, origin_carrier, carrier = c.a, c.origin, c.origin_carrier, c.carrier
    rid = submit(a, origin, envelope("m-chain", dlr=True))
    headers, body = carrier.wait_for(1)[0]
    assert body["hops"] == ["node-a", "node-b"] and body["id"] == "m-chain"
    assert body["rid"] != rid and headers["Idempotency-Key"] == body["rid"]
    st = wait_state(a, origin, rid, "delivered")
    assert st["route"] == "node-b/0"
    # one report, B's, back through A, about the rid the origin knows
    _, rep = origin_carrier.wait_for(1)[0]
    assert rep["status"] == "delivered" and rep["ref"] == rid
    assert rep["hops"] == ["node-b", "node-a"]
    time.sleep(0.5)
    assert len(origin_carrier.received) == 1 and len(carrier.received) == 1


def test_loop_between_two_nodes_is_rejected(tmp_path, start_daemon, fake_carrier):
    origin_carrier = fake_carrier()
    pa, pb = free_port(), free_port()
    origin = Peer("origin", owns=["+8210"], endpoints=[origin_carrier.url])
    a_at_b, b_at_a = relay_pair(pa, pb)
    a = start_node(start_daemon, tmp_path, "a", [origin, b_at_a],
                   ['route { prefix = "+8210" peer = "origin" }',
                    'route { prefix = "+8220" peer = "node-b" }'], port=pa, node_id="node-a")
    b = start_node(start_daemon, tmp_path, "b", [a_at_b],
                   ['route { default = true peer = "node-a" }'], port=pb, node_id="node-b")
    rid = submit(a, origin, envelope("m-loop", dlr=True))
    _, rep = origin_carrier.wait_for(1)[0]
    assert rep["status"] == "failed" and rep["ref"] == rid
    assert "HTTP 400" in rep["reason"] or "loop" in rep["reason"]
    assert wait_state(a, origin, rid, "delivered")["route"] == "node-b/0"
    time.sleep(0.5)
    assert b.log_text().count("msg=delivery_attempt") <= 2   # the message, its report
    assert len(origin_carrier.received) == 1
    assert a.stop() == 0 and b.stop() == 0
