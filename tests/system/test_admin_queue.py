"""The admin queue browser and its actions (admin_queue.c) against the real daemon:
messages submitted through the carrier API to a pull peer are listed (filters,
pagination), shown (the body only with admin-can-read-bodies = true), held (not
pulled), released (pulled), retried and purged (with confirmation; state failed);
a viewer may look but not act."""
import time

import pytest

from admin_client import AdminClient, admin_listener_extra, admin_session
from conftest import Peer, free_port, node_config

FIELDS = {"rid", "state", "peer", "src", "id", "created", "updated", "due", "expires",
          "attempts", "last_error", "route"}
ENVELOPE = {"from", "to", "type", "size", "dlr", "prio", "hops"}




class Node:
    def submit(self, mid, text="hello", to="+827051234567", **kw):
        env = {"v": 1, "id": mid, "from": "+821011112222", "to": to, "text": text}
        env.update(kw)
        st, _, b = self.daemon.call("POST", "/v1/messages", env, token=self.kakao.token)
        assert st == 202, b
        return b["rid"]

    def inbox(self, peer=None):
        st, _, b = self.daemon.call("GET", "/v1/inbox", token=(peer or self.small).token)
        assert st == 200, b
        return [m["rid"] for m in b["messages"]]

    def messages(self, query=""):
        st, _, b = self.admin.get("/api/messages" + query)
        assert st == 200, b
        return b

    def show(self, rid):
        st, _, b = self.admin.get("/api/messages/" + rid)
        assert st == 200, b
        return b

    def act(self, rid, action, body=None, client=None):
        """POST an action; the admin frame wants a JSON body (or at least its type)."""
        return (client or self.admin).post(f"/api/messages/{rid}/{action}",
                                           {} if body is None else body)


def make_node(tmp_path, start_daemon, bodies=False):
    n = Node()
    n.kakao = Peer("kakao", owns=["+8210"])
    n.small = Peer("small", owns=["+82705"])
    port, admin = free_port(), free_port()
    extra = "admin-can-read-bodies = true\n" if bodies else ""
    text = node_config(tmp_path / "data", port, admin, [n.kakao, n.small],
                       ['route { prefix = "+8210" peer = "kakao" }',
                        'route { prefix = "+82705" peer = "small" }'],
                       extra=extra, delivery='  inbox-lease = "1s"')
    text = text.replace(f"  port = {admin}\n}}", f"  port = {admin}\n{admin_listener_extra()}}}")
    n.daemon = start_daemon(text, base_url=f"http://127.0.0.1:{port}")
    n.url = f"http://127.0.0.1:{admin}"
    n.admin = admin_session(n.url, n.daemon)
    return n


@pytest.fixture
def node(tmp_path, start_daemon):
    return make_node(tmp_path, start_daemon)


def wait_state(n, rid, state, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = n.show(rid)
        if m["state"] == state:
            return m
        time.sleep(0.05)
    raise AssertionError(f"{rid} is {m['state']}, not {state}")


# -------------------------------------------------------------------- browse

def test_list_filters_and_pages(node):
    rids = [node.submit(f"m-{i}") for i in range(5)]
    other = node.submit("k-1", to="+821099998888")  # to kakao (a pull peer too)
    b = node.messages()
    assert [m["rid"] for m in b["messages"]] == rids + [other]  # oldest first
    assert b["next"] is None
    m = b["messages"][0]
    assert set(m) == FIELDS
    assert (m["state"], m["peer"], m["src"], m["id"]) == ("queued", "small", "kakao", "m-0")
    assert "text" not in m and "body" not in m  # metadata only
    assert isinstance(m["created"], int) and m["expires"] > m["created"]

    assert [m["rid"] for m in node.messages("?peer=small")["messages"]] == rids
    assert [m["rid"] for m in node.messages("?peer=kakao&state=queued")["messages"]] == [other]
    assert node.messages("?state=failed")["messages"] == []
    assert node.messages("?older=3600")["messages"] == []  # none is an hour old
    assert len(node.messages("?older=0")["messages"]) == 6

    # pages of two, by the per-peer index and by the whole store
    for base in ("?peer=small&state=live&limit=2", "?limit=2&peer=small"):
        got, after = [], None
        while True:
            b = node.messages(base + (f"&after={after}" if after else ""))
            assert len(b["messages"]) <= 2
            got += [m["rid"] for m in b["messages"]]
            after = b["next"]
            if after is None:
                break
        assert got == rids

    for query, field in (("?limit=0", "limit"), ("?limit=501", "limit"), ("?limit=x", "limit"),
                         ("?state=nope", "state"), ("?older=-1", "older"),
                         ("?after=xyz", "after"), ("?peer=a%20b", "peer")):
        st, _, b = node.admin.get("/api/messages" + query)
        assert st == 400 and b["field"] == field, (query, b)


def test_show_hides_the_body_by_default(node):
    rid = node.submit("s-1", text="secret words", dlr=True)
    m = node.show(rid)
    assert set(m) == FIELDS | ENVELOPE
    assert (m["from"], m["to"], m["size"], m["dlr"]) == ("+821011112222", "+827051234567",
                                                         12, True)
    assert "text" not in m and "body" not in m
    assert "secret" not in str(m)
    st, _, b = node.admin.get("/api/messages/01ARZ3NDEKTSV4RRFFQ69G5FAV")
    assert st == 404, b
    st, _, b = node.admin.get("/api/messages/nonsense")
    assert st == 404, b


def test_show_gives_the_body_when_allowed(tmp_path, start_daemon):
    n = make_node(tmp_path, start_daemon, bodies=True)
    rid = n.submit("s-2", text="visible words")
    assert n.show(rid)["text"] == "visible words"
    assert "text" not in n.messages()["messages"][0]  # the list stays metadata only


# ------------------------------------------------------------------- actions

def test_hold_and_release(node):
    a, b = node.submit("h-1"), node.submit("h-2")
    st, _, m = node.act(a, "hold")
    assert st == 200 and m["state"] == "held" and m["due"] is None, m
    assert node.act(a, "hold")[0] == 200  # again: still held
    assert [m["rid"] for m in node.messages("?state=held")["messages"]] == [a]
    assert node.inbox() == [b]  # the held one is not pulled
    st, _, e = node.act(b, "release")
    assert st == 409 and e["error"] == "state", e
    st, _, e = node.act(a, "retry")
    assert st == 409 and e["error"] == "state", e
    st, _, m = node.act(a, "release")
    assert st == 200 and m["state"] == "queued", m
    assert node.inbox() == [a]


def test_retry_offers_again_now(node):
    a = node.submit("r-1")
    assert node.inbox() == [a]
    assert node.inbox() == []  # leased for a second
    st, _, m = node.act(a, "retry")
    assert st == 200 and m["state"] == "queued", m
    assert node.inbox() == [a]  # at once, not after the lease
    st, _, e = node.act("01ARZ3NDEKTSV4RRFFQ69G5FAV", "retry")
    assert st == 404, e
    st, _, e = node.act(a, "bounce")
    assert st == 404, e


def test_purge_needs_confirmation(node):
    a = node.submit("p-1", dlr=True)
    for body in ({}, {"confirm": False}, {"confirm": "yes"}, {"confirm": 1}):
        st, _, e = node.act(a, "purge", body)
        assert st == 400 and e.get("field") == "confirm", (body, e)
    st, _, e = node.act(a, "purge", {"confirm": True, "other": 1})
    assert st == 400, e
    st, _, m = node.act(a, "purge", {"confirm": True})
    assert st == 200, m
    assert m["state"] == "failed" and m["last_error"] == "purged by admin", m
    assert node.show(a)["from"] is None  # the payload is gone
    assert node.inbox() == []
    st, _, e = node.act(a, "purge", {"confirm": True})
    assert st == 409 and e["error"] == "state", e
    st, _, e = node.act(a, "hold")
    assert st == 409, e
    # the sender asked for a report: it goes to kakao's inbox
    deadline = time.time() + 5
    while time.time() < deadline:
        st, _, r = node.daemon.call("GET", "/v1/inbox", token=node.kakao.token)
        reports = [x for x in r["messages"] if x.get("ref") == a]
        if reports:
            assert reports[0]["status"] == "failed", reports
            break
        time.sleep(0.1)
    else:
        raise AssertionError("no report:\n" + node.daemon.log_text())
    # the purge counts as a failure of the destination's, as a failed delivery would
    st, _, text = node.admin.get("/metrics")
    assert st == 200
    assert 'interlink_failed_total{peer="small"} 1' in text, text


def test_viewer_may_look_but_not_act(node):
    a = node.submit("v-1")
    st, _, r = node.admin.post("/api/users", {"name": "vera", "password": "v" * 16,
                                              "role": "viewer"})
    assert st == 201, r
    viewer = AdminClient(node.url)
    assert viewer.login("vera", "v" * 16)[0] == 200
    assert viewer.get("/api/messages")[0] == 200
    assert viewer.get("/api/messages/" + a)[0] == 200
    for action, body in (("retry", None), ("hold", None), ("release", None),
                         ("purge", {"confirm": True})):
        st, _, e = node.act(a, action, body, client=viewer)
        assert st == 403, (action, e)
    assert node.show(a)["state"] == "queued"
    anon = AdminClient(node.url)
    assert anon.get("/api/messages")[0] == 401


def test_a_held_message_still_expires(node):
    a = node.submit("e-1", ttl=1, dlr=True)
    assert node.act(a, "hold")[0] == 200
    m = wait_state(node, a, "expired", timeout=10)
    assert m["last_error"] == "ttl expired", m
    assert node.inbox() == []
