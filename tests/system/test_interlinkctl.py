"""interlinkctl against a running node: every subcommand with its exit code and the
lines that matter, --json output that parses, the API's refusals (exit 1 with the
reason) and usage errors (exit 2). The API token is made through the admin API."""
import base64
import hashlib
import json
import os
import re
import subprocess

import pytest

from admin_client import AdminClient, TEST_PASSWORD, admin_listener_extra, wait_admin
from conftest import CTL, Peer, free_port, node_config

ROUTES = ['route { prefix = "+4930" peer = "cfgpeer" }',
          'route { prefix = "+4940" peer = "puller" }']


class Node:
    pass




@pytest.fixture
def node(tmp_path, start_daemon, fake_carrier):
    """A node with a pushing config peer (cfgpeer, +4930) and a pull peer (puller, +4940);
    n.token is an API token of role admin, n.viewer one of role viewer."""
    n = Node()
    n.carrier = fake_carrier()
    n.cfg = Peer("cfgpeer", owns=["+4930"], endpoints=[n.carrier.url])
    n.puller = Peer("puller", owns=["+4940"])
    port, admin = free_port(), free_port()
    text = node_config(tmp_path / "data", port, admin, peers=[n.cfg, n.puller], routes=ROUTES)
    text = text.replace(f"  port = {admin}\n}}", f"  port = {admin}\n{admin_listener_extra()}}}")
    n.daemon = start_daemon(text, base_url=f"http://127.0.0.1:{port}")
    n.url = f"http://127.0.0.1:{admin}"
    wait_admin(n.url, n.daemon)
    a = AdminClient(n.url)
    assert a.login("admin", TEST_PASSWORD)[0] == 200
    st, _, t = a.post("/api/tokens", {"name": "ctl", "role": "admin"})
    assert st == 201, t
    n.token = t["token"]
    st, _, v = a.post("/api/tokens", {"name": "look", "role": "viewer"})
    assert st == 201, v
    n.viewer = v["token"]
    return n


def ctl(node, *args, token=None, env=None, stdin=None):
    """Runs interlinkctl; returns (exit code, stdout, stderr)."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("INTERLINK_ADMIN_")}
    if node is not None:
        e["INTERLINK_ADMIN_URL"] = node.url
        e["INTERLINK_ADMIN_TOKEN"] = token or node.token
    e.update(env or {})
    p = subprocess.run([CTL, *args], capture_output=True, text=True, env=e, timeout=30,
                       stdin=stdin if stdin is not None else subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


def ok(node, *args, **kw):
    rc, out, err = ctl(node, *args, **kw)
    assert rc == 0, (args, rc, out, err)
    return out


def refused(node, *args, **kw):
    rc, out, err = ctl(node, *args, **kw)
    assert rc == 1, (args, rc, out, err)
    assert err.startswith("interlinkctl: "), err
    return err


def as_json(node, *args, **kw):
    return json.loads(ok(node, "--json", *args, **kw))


def table(out):
    """An aligned table as a list of dicts, by its header's column starts."""
    lines = [l for l in out.splitlines() if l.strip()]
    head = lines[0]
    starts = [m.start() for m in re.finditer(r"(?:(?<=  )|^)\S", head)]
    names = [head[s:e].strip() for s, e in zip(starts, starts[1:] + [None])]
    return [{n: l[s:e].strip() for n, s, e in zip(names, starts, starts[1:] + [None])}
            for l in lines[1:]]


def submit(node, peer, mid, to, frm=None):
    st, _, body = node.daemon.call("POST", "/v1/messages",
                                   {"v": 1, "id": mid, "from": frm or "+4930111", "to": to,
                                    "text": "hi"}, token=peer.token)
    assert st == 202, body
    return body["rid"]


# ---------------------------------------------------------------- usage

def test_help_is_a_manual():
    rc, out, err = ctl(None, "--help")
    assert rc == 0 and err == ""
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "COMMANDS", "ENVIRONMENT",
                    "EXIT STATUS", "EXAMPLES"):
        assert f"\n{section}\n" in "\n" + out, section
    for cmd in ("status", "peers add NAME", "routes add PREFIX|DOMAIN|default PEER",
                "route-test ADDRESS", "queue purge RID", "directory set ADDRESS PEER",
                "INTERLINK_ADMIN_TOKEN", "INTERLINK_ADMIN_URL"):
        assert cmd in out, cmd
    assert max(len(l) for l in out.splitlines()) <= 90
    rc, out, _ = ctl(None, "help", "queue")
    assert rc == 0 and "queue list [--peer NAME]" in out and "directory" not in out
    assert ctl(None, "help", "nonsense")[0] == 2
    assert ctl(None, "--version")[1].startswith("interlinkctl ")


@pytest.mark.parametrize("args", [
    [], ["frobnicate"], ["--bogus", "status"], ["status", "extra"], ["peers"],
    ["peers", "add"], ["peers", "rm"], ["peers", "list", "x"], ["peers", "explode", "x"],
    ["routes", "add", "+4930"], ["route-test"], ["queue", "show"], ["queue", "zap", "X"],
    ["directory", "get"], ["directory", "set", "+4930"], ["directory", "get", "a", "b"],
    ["status", "--peer", "x"], ["peers", "list", "--rate", "5"],
    ["peers", "add", "x", "--rate", "fast"], ["--url"], ["help", "a", "b"],
    ["route-test", "x" * 300],
])
def test_usage_errors_exit_2(args):
    rc, out, err = ctl(None, *args, env={"INTERLINK_ADMIN_TOKEN": "il_x"})
    assert rc == 2, (args, rc, out, err)
    assert "interlinkctl" in err


def test_no_token_is_a_usage_error():
    rc, _, err = ctl(None, "status")
    assert rc == 2 and "INTERLINK_ADMIN_TOKEN" in err


def test_unreachable_node_exits_1():
    url = f"http://127.0.0.1:{free_port()}"
    rc, _, err = ctl(None, "status", env={"INTERLINK_ADMIN_TOKEN": "il_x",
                                          "INTERLINK_ADMIN_URL": url})
    assert rc == 1 and url in err


def test_bad_token_exits_1_with_the_reason(node):
    err = refused(node, "status", token="il_" + "0" * 64)
    assert "unknown API token" in err and "HTTP 401" in err
    # --token wins over the environment
    err = refused(node, "--token", "nonsense", "peers", "list")
    assert "unknown API token" in err


# --------------------------------------------------------------- status

def test_status(node):
    submit(node, node.cfg, "st-1", "+4930222")
    node.carrier.wait_for(1)
    out = ok(node, "status")
    assert re.search(r"^node +test\.interlink$", out, re.M), out
    assert re.search(r"^version +\d+\.\d+\.\d+$", out, re.M)
    assert re.search(r"^accepted +1$", out, re.M)
    assert re.search(r"^store +.* used, map .*, max ", out, re.M)
    assert re.search(r"^certificates +carrier plain HTTP, admin plain HTTP$", out, re.M), out
    assert re.search(r"^restart +not needed$", out, re.M), out
    rows = {r["PEER"]: r for r in table(out[out.index("PEER"):])}
    assert set(rows) == {"cfgpeer", "puller"}
    assert rows["cfgpeer"]["KIND"] == "carrier" and rows["cfgpeer"]["READ-ONLY"] == "yes"
    s = as_json(node, "status")
    assert s["node"] == "test.interlink" and s["counters"]["accepted"] == 1
    # options after the command work too
    assert json.loads(ok(node, "status", "--json"))["version"] == s["version"]


# ------------------------------------------------------ peers and routes

def test_peer_with_pinned_keys_and_directory_trust(node):
    """--key pins a relay peer's keys (the form `interlinkctl keys` prints), --directory-trusted
    spares its directory lines the review; the API's refusal of a bad key comes back whole."""
    k1, k2 = os.urandom(32), os.urandom(32)
    b1, b2 = base64.b64encode(k1).decode(), base64.b64encode(k2).decode()
    out = ok(node, "peers", "add", "upstream", "--kind", "relay", "--key", b1,
             "--key", b2 + " until 2099-01-01T00:00:00Z", "--directory-trusted")
    assert "peer upstream added" in out
    [p] = [p for p in as_json(node, "peers", "list") if p["name"] == "upstream"]
    assert p["directory_trusted"] is True
    assert p["keys"] == [
        {"kid": hashlib.sha256(k1).hexdigest()[:16], "key": b1, "until": None},
        {"kid": hashlib.sha256(k2).hexdigest()[:16], "key": b2, "until": "2099-01-01T00:00:00Z"}]
    [q] = [p for p in as_json(node, "peers", "list") if p["name"] == "puller"]
    assert q["directory_trusted"] is False and q["keys"] == []
    err = refused(node, "peers", "add", "badkey", "--kind", "relay", "--key", "xyz")
    assert "HTTP 400" in err and "keys[0]: 'xyz' is not standard base64" in err, err
    assert "badkey" not in [p["name"] for p in as_json(node, "peers", "list")]
    rc, _, err = ctl(node, "peers", "add", "many", *sum([["--key", b1]] * 9, []))
    assert rc == 2 and "at most 8 --key" in err, err


def test_peers_and_routes(node):
    out = ok(node, "peers", "add", "newco", "--owns", "+8210", "--owns", "newco.example",
             "--endpoint", node.carrier.url, "--outbound-token", "out-secret", "--rate", "50")
    assert "peer newco added" in out
    tok = re.search(r"^inbound token \(shown once; give it to the peer\): (\S+)$", out, re.M)
    assert tok and "out-secret" not in out

    rows = {r["NAME"]: r for r in table(ok(node, "peers", "list"))}
    assert set(rows) == {"cfgpeer", "puller", "newco"}
    assert rows["newco"]["OWNS"] == "+8210,newco.example" and rows["newco"]["RATE"] == "50"
    assert rows["newco"]["ENDPOINTS"] == node.carrier.url
    assert rows["puller"]["ENDPOINTS"] == "-"
    peers = as_json(node, "peers", "list")
    assert sorted(p["name"] for p in peers) == ["cfgpeer", "newco", "puller"]

    assert "peer newco suspended" in ok(node, "peers", "suspend", "newco")
    newco = [p for p in as_json(node, "peers", "list") if p["name"] == "newco"]
    assert newco[0]["suspended"] is True
    assert "peer newco resumed" in ok(node, "peers", "resume", "newco")
    # a config peer may be suspended at run time too
    assert "peer cfgpeer suspended" in ok(node, "peers", "suspend", "cfgpeer")
    assert "peer cfgpeer resumed" in ok(node, "peers", "resume", "cfgpeer")
    assert "HTTP 404" in refused(node, "peers", "suspend", "nobody")

    assert "route p:+8210 added" in ok(node, "routes", "add", "+8210", "newco")
    assert "route d:newco.example added" in ok(node, "routes", "add", "newco.example", "newco")
    assert "route default added" in ok(node, "routes", "add", "default", "puller")
    rows = {r["KEY"]: r for r in table(ok(node, "routes", "list"))}
    assert rows["p:+8210"]["PEER"] == "newco" and rows["p:+8210"]["READ-ONLY"] == "no"
    assert rows["p:+4930"]["READ-ONLY"] == "yes" and rows["default"]["MATCH"] == "default"
    assert {r["key"] for r in as_json(node, "routes", "list")} >= {"p:+8210", "d:newco.example"}
    err = refused(node, "routes", "add", "+8210", "cfgpeer")
    assert "HTTP 409" in err

    out = ok(node, "route-test", "+821012345678")
    assert re.search(r"^verdict +deliver$", out, re.M), out
    assert re.search(r"^peer +newco$", out, re.M)
    assert re.search(r"^endpoint +" + re.escape(node.carrier.url) + "$", out, re.M)
    t = as_json(node, "route-test", "+821012345678", "--from", "+4930111")
    assert t["verdict"] == "deliver" and t["peer"] == "newco"
    assert "to" in refused(node, "route-test", "not an address!")

    err = refused(node, "peers", "rm", "newco")   # routes still lead to it
    assert "HTTP 409" in err
    assert "route p:+8210 removed" in ok(node, "routes", "rm", "+8210")
    assert "route d:newco.example removed" in ok(node, "routes", "rm", "d:newco.example")
    assert "route default removed" in ok(node, "routes", "rm", "default")
    assert "HTTP 404" in refused(node, "routes", "rm", "+8210")
    assert "peer newco removed" in ok(node, "peers", "rm", "newco")
    assert "HTTP 404" in refused(node, "peers", "rm", "newco")
    assert "HTTP 409" in refused(node, "peers", "rm", "cfgpeer")   # from the config file


def test_viewer_may_look_not_change(node):
    ok(node, "peers", "list", token=node.viewer)
    ok(node, "status", token=node.viewer)
    err = refused(node, "peers", "add", "x", "--owns", "+8299", token=node.viewer)
    assert "viewer" in err and "HTTP 403" in err


# ----------------------------------------------------------------- queue

def test_queue(node):
    rids = [submit(node, node.cfg, f"q-{i}", "+4940555") for i in range(3)]
    rows = table(ok(node, "queue", "list", "--peer", "puller"))
    assert sorted(r["RID"] for r in rows) == sorted(rids)
    assert {r["STATE"] for r in rows} == {"queued"}
    assert {r["TO PEER"] for r in rows} == {"puller"}
    page = as_json(node, "queue", "list", "--peer", "puller", "--limit", "2")
    assert len(page["messages"]) == 2 and page["next"]
    out = ok(node, "queue", "list", "--peer", "puller", "--limit", "2")
    assert "(more: --after " in out
    assert ok(node, "queue", "list", "--state", "delivered").strip() == "(none)"

    rid = rids[0]
    out = ok(node, "queue", "show", rid)
    assert re.search(r"^rid +" + rid + "$", out, re.M)
    assert re.search(r"^state +queued$", out, re.M)
    assert re.search(r"^to +\+4940555$", out, re.M)
    assert not re.search(r"^(text|body)", out, re.M)   # no body by default
    assert as_json(node, "queue", "show", rid)["rid"] == rid

    assert "state held" in ok(node, "queue", "hold", rid)
    assert "HTTP 409" in refused(node, "queue", "retry", rid)      # held: release first
    assert "state queued" in ok(node, "queue", "release", rid)
    assert "HTTP 409" in refused(node, "queue", "release", rid)    # not held
    assert f"message {rid}: retry done" in ok(node, "queue", "retry", rid)

    rc, _, err = ctl(node, "queue", "purge", rid)                  # no terminal, no --yes
    assert rc == 2 and "--yes" in err
    assert "state failed" in ok(node, "queue", "purge", rid, "--yes")
    assert as_json(node, "queue", "show", rid)["state"] == "failed"
    assert "final" in refused(node, "queue", "retry", rid)
    assert "HTTP 404" in refused(node, "queue", "show", "not-a-rid")
    assert "HTTP 404" in refused(node, "queue", "show", "0" * 26)


# ------------------------------------------------------------- directory

def test_directory(node):
    assert "HTTP 404" in refused(node, "directory", "get", "+4940777")
    out = ok(node, "directory", "set", "+4940777", "puller", "--priority", "5")
    assert re.search(r"^address +\+4940777$", out, re.M)
    rows = table(out[out.index("PEER"):])
    assert rows == [{"PEER": "puller", "ACCOUNT": "+4940777", "PRIORITY": "5",
                     "FAILOVER": "no", "DELAY(s)": "600", "PENDING": "no"}]
    ok(node, "directory", "set", "+4940777", "cfgpeer", "--priority", "1", "--failover",
       "--failover-delay", "30", "--account", "+4930777")
    e = as_json(node, "directory", "get", "+4940777")
    accs = {a["peer"]: a for a in e["accounts"]}
    assert accs["cfgpeer"]["account"] == "+4930777" and accs["cfgpeer"]["failover"] is True
    assert accs["cfgpeer"]["failover_delay"] == 30 and accs["puller"]["priority"] == 5
    assert "removed" in ok(node, "directory", "rm", "+4940777", "cfgpeer")
    assert [a["peer"] for a in as_json(node, "directory", "get", "+4940777")["accounts"]] == \
        ["puller"]
    assert "HTTP 400" in refused(node, "directory", "set", "nonsense address", "puller")


def test_directory_pending_and_approve(node):
    """puller (+4940) claims a number of cfgpeer's (+4930) through the carrier API: it waits
    until an admin approves it with interlinkctl."""
    st, _, b = node.daemon.call("PUT", "/v1/directory/%2B4930123", {}, token=node.puller.token)
    assert st == 202 and b["accounts"][0]["pending"] is True, b
    rows = table(ok(node, "directory", "pending"))
    assert rows == [{"ADDRESS": "+4930123", "PEER": "puller"}]
    assert as_json(node, "directory", "pending")["pending"] == [
        {"address": "+4930123", "peer": "puller"}]
    assert "HTTP 403" in refused(node, "directory", "approve", "+4930123", "puller",
                                 token=node.viewer)
    assert "approved" in ok(node, "directory", "approve", "+4930123", "puller")
    assert "(none)" in ok(node, "directory", "pending")
    out = ok(node, "directory", "get", "+4930123")
    assert table(out[out.index("PEER"):])[0]["PENDING"] == "no"
    assert "HTTP 404" in refused(node, "directory", "approve", "+4930999", "puller")
