"""GET /metrics on the admin listener: a live scrape after real submissions and
deliveries (fake carriers), checked by Debian's promtool and for exact counter values."""
import shutil
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import Peer, free_port, node_config

FAST = 'retry-initial = "100ms"\nretry-max = "300ms"\ntimeout = "2s"'
ORIGIN_NUM = "+821011112222"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def scrape(node):
    url = f"http://127.0.0.1:{node.admin_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as r:
        assert r.status == 200
        ctype = r.headers["Content-Type"]
        return ctype, r.read().decode()


def wait_admin(node, timeout=60):
    """The admin listener starts after the carrier API (its first admin user is made first)."""
    deadline = time.time() + timeout
    while True:
        try:
            return scrape(node)
        except (urllib.error.URLError, ConnectionError):
            if time.time() > deadline or node.proc.poll() is not None:
                raise AssertionError("no admin listener:\n" + node.log_text())
            time.sleep(0.05)


def parse(text):
    """{(name, frozenset(labels.items())): float} of every sample (label values simple)."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, value = line.rsplit(" ", 1)
        labels = {}
        if "{" in series:
            name, rest = series.split("{", 1)
            for part in rest.rstrip("}").split('",'):
                k, v = part.split("=", 1)
                labels[k] = v.strip('"')
        else:
            name = series
        out[(name, frozenset(labels.items()))] = float(value)
    return out


def val(samples, name, **labels):
    return samples[(name, frozenset(labels.items()))]


def promtool_check(text):
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=30)
    return p.returncode, (p.stdout + p.stderr).decode()


def submit(node, peer, mid, to, **kw):
    env = {"v": 1, "id": mid, "from": ORIGIN_NUM, "to": to, "text": "hi"}
    env.update(kw)
    status, _, body = node.call("POST", "/v1/messages", env, token=peer.token)
    return status, body


def wait_for(pred, what, node, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        samples = parse(scrape(node)[1])
        if pred(samples):
            return samples
        time.sleep(0.1)
    raise AssertionError(f"{what}: {scrape(node)[1]}\n{node.log_text()[-3000:]}")


@pytest.fixture
def metrics_node(tmp_path, start_daemon, fake_carrier):
    carrier = fake_carrier(statuses=[500, 400])  # a retry, a permanent failure, then 2xx
    origin = Peer("origin", owns=["+8210"])
    dest = Peer("dest", owns=["+8220"], endpoints=[carrier.url])
    gone = Peer("gone", owns=["+8230"], endpoints=[f"http://127.0.0.1:{free_port()}/v1/x"])
    idle = Peer('idle', owns=["+8240"])
    routes = ['route { prefix = "+8210" peer = "origin" }',
              'route { prefix = "+8220" peer = "dest" }',
              'route { prefix = "+8230" peer = "gone" }',
              'route { prefix = "+8240" peer = "idle" }']
    port, admin = free_port(), free_port()
    conf = node_config(tmp_path / "data", port, admin, peers=[origin, dest, gone, idle],
                       routes=routes, delivery=FAST)
    node = start_daemon(conf, base_url=f"http://127.0.0.1:{port}")
    node.admin_port = admin
    node.origin, node.carrier = origin, carrier
    node.idle_token = idle.token
    wait_admin(node)
    return node


def test_fresh_scrape_is_valid(metrics_node):
    ctype, text = scrape(metrics_node)
    assert ctype.startswith("text/plain; version=0.0.4")
    rc, out = promtool_check(text)
    assert rc == 0 and out.strip() == "", out
    s = parse(text)
    assert val(s, "interlink_build_info", version="0.1.0") == 1
    # every configured peer has its counters from the start, at zero
    for peer in ("origin", "dest", "gone", "idle"):
        for c in ("accepted", "delivered", "failed", "expired", "retried"):
            assert val(s, f"interlink_{c}_total", peer=peer) == 0
    assert val(s, "interlink_accept_latency_seconds_count") == 0
    assert val(s, "interlink_accept_latency_seconds_bucket", le="+Inf") == 0
    assert val(s, "interlink_store_max_bytes") >= val(s, "interlink_store_map_bytes") > 0
    assert val(s, "interlink_store_used_bytes") > 0
    assert val(s, "interlink_store_full") == 0
    assert val(s, "interlink_uptime_seconds") >= 0
    for kind in ("HELP", "TYPE"):
        assert f"# {kind} interlink_queue_depth " in text


def test_counters_move(metrics_node):
    node, origin = metrics_node, metrics_node.origin
    for i in range(3):
        assert submit(node, origin, f"m{i}", "+822033334444")[0] == 202
    assert submit(node, origin, "m0", "+822033334444")[0] == 200  # a duplicate: not counted
    assert submit(node, origin, "exp", "+823055556666", ttl=1)[0] == 202
    assert submit(node, origin, "bad", "+829999999999")[0] == 404   # no route: not counted

    s = wait_for(lambda s: val(s, "interlink_delivered_total", peer="dest") == 2
                 and val(s, "interlink_failed_total", peer="dest") == 1
                 and val(s, "interlink_expired_total", peer="gone") == 1,
                 "deliveries and the expiry", node)
    assert val(s, "interlink_accepted_total", peer="origin") == 4
    assert val(s, "interlink_accepted_total", peer="dest") == 0
    assert val(s, "interlink_retried_total", peer="dest") == 1
    assert val(s, "interlink_expired_total", peer="dest") == 0
    assert val(s, "interlink_failed_total", peer="gone") == 0
    assert val(s, "interlink_retried_total", peer="gone") >= 1
    assert val(s, "interlink_delivered_total", peer="idle") == 0

    # histograms: one accept observation per stored envelope; one delivery per push result
    assert val(s, "interlink_accept_latency_seconds_count") == 4
    assert val(s, "interlink_accept_latency_seconds_bucket", le="+Inf") == 4
    assert val(s, "interlink_accept_latency_seconds_bucket", le="10") == 4
    assert val(s, "interlink_accept_latency_seconds_sum") > 0
    pushes = 4 + val(s, "interlink_retried_total", peer="gone")  # dest: 500, 400, 200, 200
    assert val(s, "interlink_delivery_latency_seconds_count") >= pushes
    buckets = [v for (n, l), v in s.items() if n == "interlink_delivery_latency_seconds_bucket"]
    assert len(buckets) == 14
    assert len(node.carrier.received) == 2

    # the group commit: each insert (the duplicate's too), final state and retry was an
    # operation of some commit
    commits = val(s, "interlink_store_commits_total")
    ops = val(s, "interlink_store_operations_total")
    retries = val(s, "interlink_retried_total", peer="dest") + \
        val(s, "interlink_retried_total", peer="gone")
    assert 0 < commits <= ops and ops >= 5 + 4 + retries

    # nothing left live: depth 0 and no age, for each destination the queue knows
    for peer in ("dest", "gone"):
        assert val(s, "interlink_queue_depth", peer=peer, state="queued") == 0
        assert val(s, "interlink_queue_depth", peer=peer, state="delivering") == 0
        assert val(s, "interlink_queue_depth", peer=peer, state="held") == 0
        assert val(s, "interlink_queue_oldest_age_seconds", peer=peer) == 0

    rc, out = promtool_check(scrape(node)[1])
    assert rc == 0 and out.strip() == "", out


def test_queue_depth_and_age(tmp_path, start_daemon):
    """Messages for a pull peer wait in its inbox: depth and age move."""
    origin = Peer("origin", owns=["+8210"])
    puller = Peer("puller", owns=["+8250"])
    port, admin = free_port(), free_port()
    conf = node_config(tmp_path / "data", port, admin, peers=[origin, puller],
                       routes=['route { prefix = "+8250" peer = "puller" }'], delivery=FAST)
    node = start_daemon(conf, base_url=f"http://127.0.0.1:{port}")
    node.admin_port = admin
    wait_admin(node)
    for i in range(2):
        assert submit(node, origin, f"p{i}", "+825012345678")[0] == 202
    time.sleep(1.1)
    s = parse(scrape(node)[1])
    assert val(s, "interlink_queue_depth", peer="puller", state="queued") == 2
    assert val(s, "interlink_queue_depth", peer="puller", state="delivering") == 0
    assert val(s, "interlink_queue_oldest_age_seconds", peer="puller") >= 1.0
    assert val(s, "interlink_accepted_total", peer="origin") == 2



def test_a_pull_acknowledgement_counts_as_delivered(metrics_node):
    node, origin = metrics_node, metrics_node.origin
    token = node.idle_token  # "idle" has no endpoint: it pulls
    assert submit(node, origin, "pull-1", "+824011112222")[0] == 202
    status, _, body = node.call("GET", "/v1/inbox?max=5&wait=5", token=token)
    assert status == 200 and len(body["messages"]) == 1, body
    rid = body["messages"][0]["rid"]
    assert val(parse(scrape(node)[1]), "interlink_delivered_total", peer="idle") == 0
    status, _, body = node.call("POST", "/v1/inbox/ack", {"rids": [rid]}, token=token)
    assert status == 200, body
    s = wait_for(lambda s: val(s, "interlink_delivered_total", peer="idle") == 1,
                 "the acknowledged pull counted", node)
    assert val(s, "interlink_delivered_total", peer="dest") == 0
