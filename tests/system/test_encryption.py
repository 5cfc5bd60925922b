"""Encryption at rest against the real interlinkd: with store { encrypt = true key-file = … }
no submitted body is in the LMDB data file, bodies come back on pull and on push, a wrong or
too open key file is refused at start, and a rotated key file still reads old records."""
import base64
import os
import secrets
import subprocess

import pytest

from conftest import BINARY, Peer, free_port, node_config, write_config


def key_line(kid, key=None):
    return f"{kid}:{base64.b64encode(key or secrets.token_bytes(32)).decode()}\n"


class Node:
    """kakao (+8210) submits to small (+82705, pull) and to line (line.example, push)."""

    def __init__(self, tmp_path, start_daemon, carrier_url, encrypt=True):
        self.tmp = tmp_path
        self.start_daemon = start_daemon
        self.data = tmp_path / "data"
        self.key_file = tmp_path / "store.key"
        self.kakao = Peer("kakao", owns=["+8210"])
        self.small = Peer("small", owns=["+82705"])
        self.line = Peer("line", owns=["line.example"], endpoints=[carrier_url])
        self.port, self.admin = free_port(), free_port()
        store = '  sync = "none"'
        if encrypt:
            store += f'\n  encrypt = true\n  key-file = "{self.key_file}"'
        self.text = node_config(self.data, self.port, self.admin,
                                [self.kakao, self.small, self.line],
                                ['route { prefix = "+8210" peer = "kakao" }',
                                 'route { prefix = "+82705" peer = "small" }',
                                 'route { domain = "line.example" peer = "line" }']
                                ).replace('  sync = "none"', store)
        self.d = None

    def write_keys(self, text, mode=0o600):
        self.key_file.write_text(text)
        os.chmod(self.key_file, mode)

    def start(self):
        self.d = self.start_daemon(self.text, base_url=f"http://127.0.0.1:{self.port}")
        return self.d

    def run_once(self):
        """Starts the binary expecting it to refuse: its exit code and stderr."""
        conf = write_config(self.tmp / "interlink.conf", self.text)
        r = subprocess.run([BINARY, "-c", str(conf)], capture_output=True, text=True,
                           timeout=20)
        return r.returncode, r.stderr

    def submit(self, i, text, to="+827051234567"):
        env = {"v": 1, "id": i, "from": "+821011112222", "to": to, "text": text}
        st, _, b = self.d.call("POST", "/v1/messages", env, token=self.kakao.token)
        assert st == 202, b
        return b["rid"]

    def pull(self):
        st, _, b = self.d.call("GET", "/v1/inbox", token=self.small.token)
        assert st == 200, b
        return b["messages"]

    def store_bytes(self):
        with open(self.data / "store.mdb", "rb") as f:
            return f.read()


@pytest.fixture
def node(tmp_path, start_daemon, fake_carrier):
    carrier = fake_carrier()

    def make(encrypt=True):
        n = Node(tmp_path, start_daemon, carrier.url, encrypt)
        n.carrier = carrier
        return n
    return make


@pytest.mark.parametrize("encrypt", [True, False])
def test_the_data_file_holds_no_body_text(node, encrypt):
    n = node(encrypt)
    if encrypt:
        n.write_keys(key_line("k1"))
    n.start()
    marker = "MARKER-" + secrets.token_hex(8)
    rid = n.submit("e-1", f"the secret is {marker}")
    stored = n.store_bytes()
    # without encryption the same grep finds it: the test can see a plaintext body
    assert (marker.encode() in stored) is not encrypt
    assert b"+827051234567" in stored  # metadata stays readable for routing
    msgs = n.pull()
    assert [(m["rid"], m["text"]) for m in msgs] == [(rid, f"the secret is {marker}")]


def test_push_delivery_decrypts(node):
    n = node()
    n.write_keys(key_line("k1"))
    n.start()
    marker = "PUSH-" + secrets.token_hex(8)
    n.submit("e-2", marker, to="bob@line.example")
    got = n.carrier.wait_for(1)
    assert got[0][1]["text"] == marker


def test_a_wrong_key_is_refused_at_start(node):
    n = node()
    n.write_keys(key_line("k1"))
    n.start()
    n.submit("e-3", "sealed under k1")
    assert n.d.stop() == 0
    n.write_keys(key_line("k1"))  # the same id, another key
    rc, err = n.run_once()
    assert rc == 1, err
    assert "key 'k1'" in err and "wrong key file" in err, err
    n.write_keys(key_line("k9"))  # no id that sealed the store
    rc, err = n.run_once()
    assert rc == 1, err
    assert "none of the key file's ids" in err, err
    n.text = n.text.replace(f'  encrypt = true\n  key-file = "{n.key_file}"', "")
    rc, err = n.run_once()  # no key file at all: its sealed records would all fail
    assert rc == 1, err
    assert "store { key-file } is needed" in err, err


def test_a_key_file_readable_by_others_is_refused(node):
    n = node()
    n.write_keys(key_line("k1"), mode=0o644)
    rc, err = n.run_once()
    assert rc == 1, err
    assert f"{n.key_file}: mode 0644 is too open" in err, err


def test_encrypt_needs_a_key_file(node):
    n = node()
    n.text = n.text.replace(f'  key-file = "{n.key_file}"\n', "")
    rc, err = n.run_once()
    assert rc == 1, err
    assert "encrypt needs key-file" in err, err


def test_rotation_keeps_old_records_readable(node):
    n = node()
    k1 = key_line("k1")
    n.write_keys(k1)
    n.start()
    r1 = n.submit("e-4", "under k1")
    assert n.d.stop() == 0
    n.write_keys(k1 + key_line("k2"))  # the last line is the newest
    n.start()
    assert "newest=k2" in n.d.log_text()
    r2 = n.submit("e-5", "under k2")
    assert {m["rid"]: m["text"] for m in n.pull()} == {r1: "under k1", r2: "under k2"}
