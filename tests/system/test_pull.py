"""Pull delivery and the carriers' directory API as a carrier meets them:
GET /v1/inbox (long poll, leases), POST /v1/inbox/ack, PUT and DELETE
/v1/directory/{address}, against the real interlinkd."""
import threading
import time

import pytest

from admin_client import admin_listener_extra, admin_session
from conftest import Peer, free_port, node_config

LEASE_S = 1.0  # delivery.inbox-lease of the node under test


class Pull:
    """A node where kakao (+8210) sends to small (+82705, pull) and line (line.example, pull)."""

    def __init__(self, d, kakao, small, line):
        self.d, self.kakao, self.small, self.line = d, kakao, small, line

    def submit(self, i, to="+827051234567", text="hello", **kw):
        env = {"v": 1, "id": i, "from": "+821011112222", "to": to, "text": text}
        env.update(kw)
        st, _, b = self.d.call("POST", "/v1/messages", env, token=self.kakao.token)
        assert st == 202, b
        return b["rid"]

    def inbox(self, peer, query="", timeout=10):
        st, _, b = self.d.call("GET", "/v1/inbox" + query, token=peer.token, timeout=timeout)
        assert st == 200, b
        return b["messages"]

    def ack(self, peer, rids):
        return self.d.call("POST", "/v1/inbox/ack", {"rids": rids}, token=peer.token)


def make_node(tmp_path, start_daemon, with_admin=False):
    kakao = Peer("kakao", owns=["+8210"])
    small = Peer("small", owns=["+82705"])
    line = Peer("line", owns=["line.example"])
    port, admin = free_port(), free_port()
    text = node_config(tmp_path / "data", port, admin, [kakao, small, line],
                       ['route { prefix = "+8210" peer = "kakao" }',
                        'route { prefix = "+82705" peer = "small" }',
                        'route { domain = "line.example" peer = "line" }'],
                       delivery='  inbox-lease = "1s"')
    if with_admin:
        text = text.replace(f"  port = {admin}\n}}", f"  port = {admin}\n{admin_listener_extra()}}}")
    d = start_daemon(text, base_url=f"http://127.0.0.1:{port}")
    n = Pull(d, kakao, small, line)
    if with_admin:
        url = f"http://127.0.0.1:{admin}"
        n.admin = admin_session(url, d)
    return n


@pytest.fixture
def node(tmp_path, start_daemon):
    return make_node(tmp_path, start_daemon)


@pytest.fixture
def admin_node(tmp_path, start_daemon):
    return make_node(tmp_path, start_daemon, with_admin=True)


# ------------------------------------------------------------------ the inbox

def test_a_pull_peer_receives_its_messages(node):
    rid = node.submit("p-1", text="hi small")
    msgs = node.inbox(node.small)
    assert len(msgs) == 1
    m = msgs[0]
    assert m["rid"] == rid
    assert (m["id"], m["from"], m["to"], m["text"]) == ("p-1", "+821011112222",
                                                         "+827051234567", "hi small")
    assert "test.interlink" in m["hops"]
    assert node.inbox(node.line) == []  # nothing for another peer
    assert node.inbox(node.small) == []  # leased: not offered again within the lease


def test_wait_zero_with_nothing_answers_at_once(node):
    t = time.monotonic()
    assert node.inbox(node.small, "?wait=0") == []
    assert node.inbox(node.small) == []
    assert time.monotonic() - t < 1.0


def test_long_poll_returns_when_a_message_arrives(node):
    node.submit("warm-up", to="+827050000000")
    node.inbox(node.small)  # the inbox is empty again
    got = {}

    def poll():
        got["msgs"] = node.inbox(node.small, "?wait=5")
        got["at"] = time.monotonic()

    th = threading.Thread(target=poll)
    th.start()
    time.sleep(0.5)
    sent = time.monotonic()
    rid = node.submit("p-long")
    th.join(10)
    assert [m["rid"] for m in got["msgs"]] == [rid]
    assert got["at"] - sent < 1.5, "the long poll must answer as soon as the message commits"


def test_long_poll_runs_out_empty(node):
    t = time.monotonic()
    assert node.inbox(node.small, "?wait=2") == []
    assert 1.9 <= time.monotonic() - t < 3.5


def test_max_is_respected(node):
    rids = [node.submit(f"m-{i}") for i in range(5)]
    first = node.inbox(node.small, "?max=2")
    rest = node.inbox(node.small, "?max=10")
    assert [m["rid"] for m in first] == rids[:2]  # oldest first
    assert [m["rid"] for m in rest] == rids[2:]


@pytest.mark.parametrize("query,field", [
    ("?wait=61", "wait"), ("?wait=-1", "wait"), ("?wait=abc", "wait"), ("?wait=", "wait"),
    ("?max=0", "max"), ("?max=1001", "max"), ("?max=1e3", "max"),
])
def test_bad_query_arguments(node, query, field):
    st, _, b = node.d.call("GET", "/v1/inbox" + query, token=node.small.token)
    assert st == 400, b
    assert b["error"] == "bad_field" and b["field"] == field


def test_the_inbox_needs_credentials(node):
    st, _, b = node.d.call("GET", "/v1/inbox")
    assert st == 401, b


# ------------------------------------------------------------ leases and acks

def test_lease_expiry_then_ack(node):
    rid = node.submit("p-lease", dlr=True)
    assert [m["rid"] for m in node.inbox(node.small)] == [rid]
    assert node.inbox(node.small) == []
    time.sleep(LEASE_S + 0.3)
    assert [m["rid"] for m in node.inbox(node.small)] == [rid], "offered again after the lease"
    st, _, b = node.ack(node.small, [rid])
    assert st == 200, b
    assert b == {"results": [{"rid": rid, "status": "acked"}]}
    time.sleep(LEASE_S + 0.3)
    assert node.inbox(node.small) == [], "an acknowledged message is never offered again"
    # acknowledging again is harmless (a lost answer may be retried)
    assert node.ack(node.small, [rid])[2]["results"][0]["status"] == "acked"
    st, _, s = node.d.call("GET", f"/v1/messages/{rid}", token=node.kakao.token)
    assert st == 200, s
    assert s["state"] == "delivered"
    assert s["route"] == "pulled by small"


def test_ack_queues_the_delivery_report(node):
    rid = node.submit("p-dlr", dlr=True)
    node.inbox(node.small)
    assert node.ack(node.small, [rid])[2]["results"][0]["status"] == "acked"
    # kakao has no endpoint either: its report waits in its own inbox
    reports = node.inbox(node.kakao, "?wait=5")
    assert len(reports) == 1, reports
    r = reports[0]
    assert (r["kind"], r["ref"], r["status"]) == ("report", rid, "delivered")
    assert r["to"] == "+821011112222"


def test_ack_results_per_rid(node):
    leased = node.submit("a-1")
    waiting = node.submit("a-2")
    node.inbox(node.small, "?max=1")  # leases a-1 only
    for_line = node.submit("a-3", to="bob@line.example")
    node.inbox(node.line)
    unknown = "01JDQ3ZK4M8X2V7T9N5R6B1C0A"
    st, _, b = node.ack(node.small, [leased, waiting, for_line, unknown, leased])
    assert st == 200, b
    assert b["results"] == [
        {"rid": leased, "status": "acked"},
        {"rid": waiting, "status": "not_leased"},  # never pulled
        {"rid": for_line, "status": "not_found"},  # another peer's: never revealed
        {"rid": unknown, "status": "not_found"},
        {"rid": leased, "status": "acked"},        # the same rid twice
    ]
    # the submitter cannot acknowledge for the recipient either
    assert node.ack(node.kakao, [for_line])[2]["results"][0]["status"] == "not_found"
    # line's message was left alone
    assert node.ack(node.line, [for_line])[2]["results"][0]["status"] == "acked"


@pytest.mark.parametrize("body,error,field", [
    (b'{"rids":["x"', "bad_json", None),
    (b'[]', "bad_json", None),
    (b'{"rids":[],"x":1}', "bad_field", "x"),
    (b'{}', "bad_field", "rids"),
    (b'{"rids":"01JDQ3ZK4M8X2V7T9N5R6B1C0A"}', "bad_field", "rids"),
    (b'{"rids":[]}', "bad_field", "rids"),
    (b'{"rids":["not a rid"]}', "bad_field", "rids"),
    (b'{"rids":[42]}', "bad_field", "rids"),
])
def test_bad_acks(node, body, error, field):
    st, _, b = node.d.call("POST", "/v1/inbox/ack", body, token=node.small.token,
                           headers={"Content-Type": "application/json"})
    assert st == 400, b
    assert b["error"] == error and b.get("field") == field


def test_an_ack_holds_at_most_1000_rids(node):
    st, _, b = node.ack(node.small, ["01JDQ3ZK4M8X2V7T9N5R6B1C0A"] * 1001)
    assert st == 400 and b["field"] == "rids"
    st, _, b = node.ack(node.small, ["01JDQ3ZK4M8X2V7T9N5R6B1C0A"] * 1000)
    assert st == 200 and len(b["results"]) == 1000


# ------------------------------------------------------------------ directory

def put(node, peer, addr, body=None):
    return node.d.call("PUT", "/v1/directory/" + addr, body if body is not None else {},
                       token=peer.token)


def delete(node, peer, addr):
    return node.d.call("DELETE", "/v1/directory/" + addr, token=peer.token)


def test_directory_put_own_account(node):
    st, _, b = put(node, node.small, "+82 70-5123-4567".replace(" ", "%20"))
    assert st == 200, b
    assert b == {"address": "+827051234567", "accounts": [
        {"peer": "small", "account": "+827051234567", "priority": 0, "failover": False,
         "failover_delay": 600, "pending": False}]}
    # a second carrier adds its own account (the caller is always the account's peer); the
    # number is not in its space, so its line waits for the node's operator: 202
    st, _, b = put(node, node.line, "%2B827051234567",
                  {"account": "Bob@Line.Example", "priority": 1, "failover": True,
                   "failover_delay": 60})
    assert st == 202, b
    assert b["accounts"] == [
        {"peer": "small", "account": "+827051234567", "priority": 0, "failover": False,
         "failover_delay": 600, "pending": False},
        {"peer": "line", "account": "bob@line.example", "priority": 1, "failover": True,
         "failover_delay": 60, "pending": True}]
    # replacing one's own account keeps the other
    st, _, b = put(node, node.small, "+827051234567", {"priority": 2})
    assert st == 200, b
    assert [(a["peer"], a["priority"], a["pending"]) for a in b["accounts"]] == \
        [("line", 1, True), ("small", 2, False)]


def test_directory_delete(node):
    assert put(node, node.small, "+827051234567")[0] == 200
    assert put(node, node.line, "+827051234567")[0] == 202
    st, _, b = delete(node, node.small, "+827051234567")
    assert st == 204, b
    st, _, b = delete(node, node.small, "+827051234567")
    assert st == 404, b
    assert b["error"] == "not_found"
    # line's account is still there: small's removal touched only small's line
    st, _, b = put(node, node.line, "+827051234567")
    assert [a["peer"] for a in b["accounts"]] == ["line"]


def approve(node, addr, peer):
    st, _, b = node.admin.post(f"/api/directory/{addr.replace('+', '%2B')}/approve",
                               {"peer": peer})
    assert st == 200, b
    return b


def test_directory_routes_messages_once_approved(admin_node):
    """A number in small's range, ported to line: line's claim waits for the operator, then
    its messages reach line's inbox."""
    node = admin_node
    assert put(node, node.line, "+827059990000", {"account": "dan@line.example"})[0] == 202
    first = node.submit("before", to="+827059990000")
    assert [m["rid"] for m in node.inbox(node.small)] == [first]
    st, _, b = node.admin.get("/api/directory-pending")
    assert st == 200 and b == {"pending": [{"address": "+827059990000", "peer": "line"}],
                               "next": None}, b
    e = approve(node, "+827059990000", "line")
    assert e["accounts"][0]["pending"] is False
    assert node.admin.get("/api/directory-pending")[2]["pending"] == []
    rid = node.submit("ported", to="+827059990000")
    assert [m["rid"] for m in node.inbox(node.line)] == [rid]
    # line's later changes to its approved line keep the approval
    st, _, b = put(node, node.line, "+827059990000", {"account": "dan@line.example",
                                                       "priority": 3})
    assert st == 200 and b["accounts"][0]["pending"] is False, b


def test_a_pending_line_gives_no_right_to_send(admin_node):
    """line claims a number of kakao's: until approved it may not send from it."""
    node = admin_node
    env = {"v": 1, "id": "spoof-1", "from": "+821077770000", "to": "+827051234567",
           "text": "hi"}
    assert put(node, node.line, "+821077770000")[0] == 202
    st, _, b = node.d.call("POST", "/v1/messages", env, token=node.line.token)
    assert st == 403 and b["error"] == "spoofed_from", b
    approve(node, "+821077770000", "line")
    st, _, b = node.d.call("POST", "/v1/messages", env, token=node.line.token)
    assert st == 202, b


def test_directory_pending_pages_and_errors(admin_node):
    node = admin_node
    for n in ("+827050000001", "+827050000002", "+827050000003"):
        assert put(node, node.line, n)[0] == 202
    st, _, b = node.admin.get("/api/directory-pending?limit=2")
    assert st == 200 and [p["address"] for p in b["pending"]] == ["+827050000001",
                                                                   "+827050000002"], b
    nxt = b["next"]
    assert nxt == {"after_address": "+827050000002", "after_peer": "line"}
    st, _, b = node.admin.get("/api/directory-pending?limit=2&after_address=%2B827050000002"
                              "&after_peer=line")
    assert st == 200 and b == {"pending": [{"address": "+827050000003", "peer": "line"}],
                               "next": None}, b
    for q, field in (("limit=0", "limit"), ("limit=x", "limit"),
                     ("after_address=%2B827050000002", "after_peer")):
        st, _, b = node.admin.get("/api/directory-pending?" + q)
        assert st == 400 and b["field"] == field, (q, b)
    st, _, b = node.admin.post("/api/directory/%2B827050000009/approve", {"peer": "line"})
    assert st == 404, b
    st, _, b = node.admin.post("/api/directory/%2B827050000001/approve", {})
    assert st == 400 and b["field"] == "peer", b


@pytest.mark.parametrize("addr,body,field", [
    ("12345", {}, "address"),
    ("alice@line_1.example", {}, "address"),
    ("+821012345678", {"account": "bob@"}, "account"),
    ("+821012345678", {"account": 5}, "account"),
    ("+821012345678", {"priority": 256}, "priority"),
    ("+821012345678", {"priority": "1"}, "priority"),
    ("+821012345678", {"failover": 1}, "failover"),
    ("+821012345678", {"failover_delay": 604801}, "failover_delay"),
    ("+821012345678", {"failover_delay": -1}, "failover_delay"),
    ("+821012345678", {"peer": "line"}, "peer"),
])
def test_directory_bad_requests(node, addr, body, field):
    st, _, b = put(node, node.small, addr, body)
    assert st == 400, b
    assert b["error"] == "bad_field" and b["field"] == field


def test_directory_bad_json_and_bad_delete(node):
    st, _, b = node.d.call("PUT", "/v1/directory/+821012345678", b"{", token=node.small.token,
                           headers={"Content-Type": "application/json"})
    assert st == 400 and b["error"] == "bad_json"
    st, _, b = node.d.call("PUT", "/v1/directory/+821012345678", [1], token=node.small.token)
    assert st == 400 and b["error"] == "bad_json"
    st, _, b = delete(node, node.small, "not-an-address")
    assert st == 400 and b["field"] == "address"


def test_stopping_with_a_long_poll_waiting(node):
    """SIGTERM answers a waiting long poll and the daemon exits cleanly at once."""
    got = {}

    def poll():
        try:
            got["st"] = node.d.call("GET", "/v1/inbox?wait=30", token=node.small.token,
                                    timeout=20)[0]
        except OSError as e:  # the connection may close instead
            got["st"] = e

    th = threading.Thread(target=poll)
    th.start()
    time.sleep(0.5)
    t = time.monotonic()
    assert node.d.stop() == 0, node.d.log_text()
    assert time.monotonic() - t < 5
    th.join(10)
    assert not th.is_alive()
    assert got["st"] in (200, 503) or isinstance(got["st"], OSError), got
