"""The message trace, GET /v1/messages/{rid}/trace: a message's history on one node, shown
to its submitter only — attempts, reschedules, the final state — and, across two chained
nodes, the downstream rid that lets the origin follow it hop by hop."""
import time

from conftest import Peer, free_port, node_config
from test_delivery import (Chain, envelope, fake_carrier, pair,  # noqa: F401 (fixtures)
                           submit, wait_state)


def trace(node, peer, rid, want, timeout=10):
    """The trace once its events are named as in want. The final event is read from the
    status, while the events before it are written just after the commit they follow: for
    a moment the final one may stand without the last of those."""
    deadline = time.time() + timeout
    while True:
        status, _, body = node.call("GET", f"/v1/messages/{rid}/trace", token=peer.token)
        assert status == 200, (status, body)
        assert body["rid"] == rid
        if [e["event"] for e in body["events"]] == want:
            return body["events"]
        if time.time() > deadline:
            raise AssertionError(f"{rid}: {body} (wanted {want})")
        time.sleep(0.05)


def test_failed_attempt_then_delivered(pair, fake_carrier):  # noqa: F811
    carrier = fake_carrier(statuses=[500])
    node, origin, dest = pair([carrier.url])
    before = int(time.time() * 1000)
    rid = submit(node, origin, envelope("t-1"))
    wait_state(node, origin, rid, "delivered")
    events = trace(node, origin, rid,
                   ["accepted", "attempt", "rescheduled", "attempt", "delivered"])
    acc, a1, re, a2, done = events
    assert acc["peer"] == "origin" and before - 1000 <= acc["at"]
    assert a1["peer"] == "dest" and a1["endpoint"] == 0 and a1["status"] == 500
    assert a1["latency_ms"] >= 0 and "error" not in a1
    assert re["due"] >= re["at"] and re["error"] == "HTTP 500"
    assert a2["status"] == 200 and a2["endpoint"] == 0
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)
    assert done["at"] >= a2["at"]


def test_trace_is_the_submitters_only(pair, fake_carrier):  # noqa: F811
    node, origin, dest = pair([fake_carrier().url])
    rid = submit(node, origin, envelope("t-2"))
    trace(node, origin, rid, ["accepted", "attempt", "delivered"])
    status, _, body = node.call("GET", f"/v1/messages/{rid}/trace", token=dest.token)
    assert status == 404 and body["error"] == "not_found", body
    status, _, body = node.call("GET", "/v1/messages/" + "0" * 26 + "/trace",
                                token=origin.token)
    assert status == 404, body
    status, _, body = node.call("GET", "/v1/messages/nonsense/trace", token=origin.token)
    assert status == 404, body
    status, _, body = node.call("GET", f"/v1/messages/{rid}/other", token=origin.token)
    assert status == 404, body


def test_permanent_failure_traces_the_error(pair, fake_carrier):  # noqa: F811
    carrier = fake_carrier(statuses=[400])
    node, origin, _ = pair([carrier.url])
    rid = submit(node, origin, envelope("t-3"))
    events = trace(node, origin, rid, ["accepted", "attempt", "failed"])
    assert events[1]["status"] == 400 and events[2]["error"] == "HTTP 400"


def test_chain_followed_hop_by_hop(tmp_path, start_daemon, fake_carrier):  # noqa: F811
    c = Chain(tmp_path, start_daemon, fake_carrier)
    a, b, origin, carrier = c.a, c.b, c.origin, c.carrier
    rid = submit(a, origin, envelope("t-chain"))
    _, body = carrier.wait_for(1)[0]
    events = trace(a, origin, rid, ["accepted", "attempt", "forwarded", "delivered"])
    fwd = events[2]
    assert fwd["peer"] == "node-b" and fwd["downstream_rid"] == body["rid"] != rid
    # the next hop, asked with the credentials the first node has there
    down = trace(b, c.a_at_b, fwd["downstream_rid"], ["accepted", "attempt", "delivered"])
    assert down[0]["peer"] == "node-a" and down[1]["peer"] == "dest"
    assert down[1]["status"] == 200
    # the origin carrier cannot read the downstream node's trace
    status, _, _ = b.call("GET", f"/v1/messages/{rid}/trace", token=origin.token)
    assert status in (401, 404)


def test_trace_right_after_the_submission(pair, fake_carrier):  # noqa: F811
    """Events are written just after the commit they follow: asked at once, the trace may
    still be empty, never an error."""
    node, origin, _ = pair([fake_carrier(default=503).url])
    for i in range(20):
        rid = submit(node, origin, envelope(f"t-now-{i}"))
        status, _, body = node.call("GET", f"/v1/messages/{rid}/trace", token=origin.token)
        assert status == 200 and body["rid"] == rid, body
        assert [e["event"] for e in body["events"]][:1] in ([], ["accepted"]), body


def test_pulled_and_acked(tmp_path, start_daemon):
    kakao, small = Peer("kakao", owns=["+8210"]), Peer("small", owns=["+82705"])
    port = free_port()
    d = start_daemon(node_config(tmp_path / "data", port, free_port(), [kakao, small],
                                 ['route { prefix = "+8210" peer = "kakao" }',
                                  'route { prefix = "+82705" peer = "small" }']),
                     base_url=f"http://127.0.0.1:{port}")
    env = {"v": 1, "id": "t-pull", "from": "+821011112222", "to": "+827051234567",
           "text": "hi"}
    st, _, b = d.call("POST", "/v1/messages", env, token=kakao.token)
    assert st == 202, b
    rid = b["rid"]
    st, _, b = d.call("GET", "/v1/inbox", token=small.token)
    assert st == 200 and [m["rid"] for m in b["messages"]] == [rid], b
    st, _, b = d.call("POST", "/v1/inbox/ack", {"rids": [rid]}, token=small.token)
    assert st == 200, b
    events = trace(d, kakao, rid, ["accepted", "pulled", "acked", "delivered"])
    assert [e.get("peer") for e in events] == ["kakao", "small", "small", "small"]
