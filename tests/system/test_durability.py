"""What a 202 promises: a message acknowledged to a carrier is delivered even
when interlinkd is killed with SIGKILL under load, and a full store refuses
(507) without losing anything, then accepts again once deliveries drain it."""
import json
import threading
import time
import urllib.error
import urllib.request

import pytest

from conftest import Daemon, Peer, free_port, node_config, write_config

TOTAL = 20000
BATCH = 250
SENDERS = 4


def envelope(i, text="x" * 200):
    return {"v": 1, "id": f"m-{i}", "from": "+821011112222", "to": "bob@line.example",
            "text": text}


def post_batch(url, token, batch, timeout=30):
    """POSTs a batch; returns the accepted ids (202 or duplicate) or None when the
    request got no answer (the daemon was killed under it)."""
    req = urllib.request.Request(url + "/v1/messages", method="POST",
                                 data=json.dumps(batch).encode(),
                                 headers={"Content-Type": "application/json",
                                          "Authorization": "Bearer " + token})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            body = json.loads(r.read())
    except urllib.error.HTTPError as e:
        e.read()
        return []
    except (urllib.error.URLError, ConnectionError, OSError):
        return None
    return [batch[x["index"]]["id"] for x in body["results"] if x.get("rid")]


@pytest.fixture
def nodes(tmp_path):
    started = []

    def start(conf_text, port, name="node.conf"):
        conf = write_config(tmp_path / name, conf_text)
        d = Daemon(str(conf), str(tmp_path / (name + f".{len(started)}.log")),
                   f"http://127.0.0.1:{port}")
        started.append(d)
        d.wait_ready()
        return d

    yield start
    for d in started:
        d.stop()


def test_kill_9_under_load_loses_nothing(tmp_path, nodes, fake_carrier):
    carrier = fake_carrier()
    kakao = Peer("kakao", owns=["+8210"], extra="  rate = 1000000\n  burst = 1000000")
    line = Peer("line", owns=["line.example"], endpoints=[carrier.url])
    port = free_port()
    text = node_config(tmp_path / "data", port, free_port(), [kakao, line],
                       ['route { domain = "line.example" peer = "line" }'],
                       delivery='  retry-initial = "100ms"\n  retry-max = "1s"\n'
                                '  timeout = "5s"').replace('sync = "none"', 'sync = "full"')
    url = f"http://127.0.0.1:{port}"
    d = nodes(text, port)

    accepted, lock = set(), threading.Lock()
    batches = [[envelope(i) for i in range(b, min(b + BATCH, TOTAL))]
               for b in range(0, TOTAL, BATCH)]
    todo = list(reversed(batches))

    def sender():
        while True:
            with lock:
                if not todo:
                    return
                batch = todo.pop()
            ids = post_batch(url, kakao.token, batch)
            if ids is None:  # killed under us: this batch gets no promise
                time.sleep(0.2)
                continue
            with lock:
                accepted.update(ids)

    threads = [threading.Thread(target=sender) for _ in range(SENDERS)]
    for t in threads:
        t.start()
    # kill it once a good part of the load is in
    deadline = time.time() + 60
    while len(accepted) < TOTAL // 3 and time.time() < deadline:
        time.sleep(0.01)
    d.proc.kill()
    d.proc.wait()
    killed_at = len(accepted)
    for t in threads:
        t.join(120)
    assert killed_at > 0, "nothing was accepted before the kill"

    # restart on the same data; send what never got an answer, then wait
    d2 = nodes(text, port, name="node.conf")
    for b in batches:
        missing = [e for e in b if e["id"] not in accepted]
        if missing:
            accepted.update(post_batch(url, kakao.token, missing) or [])
    assert len(accepted) == TOTAL

    # wait for every distinct id (duplicates count in carrier.received too)
    deadline = time.time() + 180
    while time.time() < deadline:
        with carrier.lock:
            ids = [body["id"] for _, body in carrier.received]
        unique = set(ids)
        if accepted <= unique:
            break
        time.sleep(0.2)
    duplicates = len(ids) - len(unique)
    print(f"\naccepted before the kill: {killed_at}; delivered {len(unique)} distinct, "
          f"{duplicates} duplicates (deliveries in flight at the kill)")
    assert accepted <= unique, f"lost: {sorted(accepted - unique)[:10]}"
    # a duplicate is only a delivery in flight when the process died
    assert duplicates <= 32 * 2, duplicates
    assert d2.stop() == 0


def test_store_full_refuses_then_accepts_after_draining(tmp_path, nodes, fake_carrier):
    carrier = fake_carrier(default=503)  # down: everything stays queued
    kakao = Peer("kakao", owns=["+8210"], extra="  rate = 1000000\n  burst = 1000000")
    line = Peer("line", owns=["line.example"], endpoints=[carrier.url])
    port = free_port()
    text = node_config(tmp_path / "data", port, free_port(), [kakao, line],
                       ['route { domain = "line.example" peer = "line" }'],
                       extra='store {\n  map-size = "4M"\n  max-map-size = "4M"\n}\n',
                       delivery='  retry-initial = "100ms"\n  retry-max = "500ms"')
    # node_config's base already has a store section with sync none: merge them
    text = text.replace('store {\n  sync = "none"\n}\n', "").replace(
        'store {\n  map-size', 'store {\n  sync = "none"\n  map-size')
    d = nodes(text, port)
    big = "y" * 60000
    accepted, status = [], 0
    for i in range(200):
        st, h, b = d.call("POST", "/v1/messages", envelope(i, big), token=kakao.token)
        status = st
        if st != 202:
            break
        accepted.append(b["rid"])
    assert status == 507, status
    assert b["error"] == "store_full", b
    assert int(h["Retry-After"]) >= 1
    assert len(accepted) > 5
    # load balancers see it too
    assert d.get("/v1/health") == (503, '{"status":"full"}')
    # every accepted message is still there
    for rid in accepted:
        assert d.call("GET", f"/v1/messages/{rid}", token=kakao.token)[0] == 200
    # the carrier comes back: deliveries drain the store, and it accepts again
    carrier.default = 200
    carrier.wait_for(len(accepted), timeout=60)
    deadline = time.time() + 30
    while time.time() < deadline:
        st, _, b = d.call("POST", "/v1/messages", envelope(1000, big), token=kakao.token)
        if st == 202:
            break
        time.sleep(0.5)
    assert st == 202, (st, b)
    assert d.get("/v1/health") == (200, '{"status":"ok"}')
    got = {body["id"] for _, body in carrier.received}
    assert {f"m-{i}" for i in range(len(accepted))} <= got
