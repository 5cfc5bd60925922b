"""interlinkd under a service manager (systemd Type=notify): the notification
datagrams on $NOTIFY_SOCKET — READY=1 once both listeners answer, RELOADING=1
then READY=1 around SIGHUP, STOPPING=1 at SIGTERM — read by this test from its
own AF_UNIX datagram socket, as systemd would."""
import os
import shutil
import signal
import socket
import struct
import tempfile
import time

import pytest

from conftest import free_port, local_config, write_config


class NotifySocket:
    """A bound AF_UNIX datagram socket that records (text, sender pid) per datagram."""

    def __init__(self, abstract=False):
        self.dir = tempfile.mkdtemp(prefix="ilnotify-")  # short: sun_path holds 108 bytes
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        if abstract:
            name = "interlink-test-" + os.path.basename(self.dir)
            self.sock.bind("\0" + name)
            self.env_value = "@" + name
        else:
            path = os.path.join(self.dir, "notify")
            self.sock.bind(path)
            self.env_value = path

    def env(self):
        e = dict(os.environ)
        e["NOTIFY_SOCKET"] = self.env_value
        return e

    def recv(self, timeout=10):
        """The next datagram as (dict of its KEY=value lines, sender pid)."""
        self.sock.settimeout(timeout)
        try:
            data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        except socket.timeout:
            raise AssertionError("no notification within %s s" % timeout)
        pid = None
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", payload[:12])[0]
        lines = data.decode().split("\n")
        fields = dict(ln.split("=", 1) for ln in lines if ln)
        assert len(fields) == len([ln for ln in lines if ln]), data
        return fields, pid

    def close(self):
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def notify_socket():
    made = []

    def make(**kw):
        s = NotifySocket(**kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def start_notified(tmp_path, start_daemon, ns):
    port, admin = free_port(), free_port()
    d = start_daemon(local_config(tmp_path / "data", port, admin),
                     base_url=f"http://127.0.0.1:{port}", ready=False, env=ns.env())
    d.port, d.admin_port = port, admin
    return d


def test_ready_reload_stop(tmp_path, start_daemon, notify_socket):
    ns = notify_socket()
    d = start_notified(tmp_path, start_daemon, ns)
    msg, pid = ns.recv()
    # READY=1 means ready: both listeners answer at once, without a retry.
    assert msg["READY"] == "1", msg
    assert pid == d.proc.pid, "systemd (NotifyAccess=main) takes it only from the main pid"
    assert d.get("/v1/health") == (200, '{"status":"ok"}')
    socket.create_connection(("127.0.0.1", d.admin_port), timeout=2).close()
    assert f"carrier API http://127.0.0.1:{d.port}" in msg["STATUS"], msg
    assert f"admin http://127.0.0.1:{d.admin_port}" in msg["STATUS"], msg
    d.wait_log("msg=started")

    # SIGHUP: RELOADING=1 with CLOCK_MONOTONIC in microseconds, then READY=1.
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    d.signal(signal.SIGHUP)
    msg, _ = ns.recv()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert msg.get("RELOADING") == "1", msg
    assert before <= int(msg["MONOTONIC_USEC"]) <= after, (before, msg, after)
    msg, _ = ns.recv()
    assert msg["READY"] == "1" and "failed" not in msg["STATUS"], msg
    d.wait_log("msg=config_reloaded")

    # A bad file is refused; the relay still says READY=1 (it runs on the old config).
    good = open(d.conf).read()
    write_config(d.conf, good.replace('log-level = "debug"', 'log-level = "loud"'))
    d.signal(signal.SIGHUP)
    assert ns.recv()[0].get("RELOADING") == "1"
    msg, _ = ns.recv()
    assert msg["READY"] == "1" and "reload failed" in msg["STATUS"], msg
    assert d.get("/v1/health")[0] == 200

    # SIGTERM: STOPPING=1, then a clean exit.
    d.signal(signal.SIGTERM)
    msg, pid = ns.recv()
    assert msg == {"STOPPING": "1"} and pid == d.proc.pid, msg
    assert d.stop() == 0
    assert "notify_failed" not in d.log_text()


def test_abstract_socket(tmp_path, start_daemon, notify_socket):
    ns = notify_socket(abstract=True)
    d = start_notified(tmp_path, start_daemon, ns)
    assert ns.recv()[0]["READY"] == "1"
    assert d.get("/v1/health")[0] == 200
    d.signal(signal.SIGINT)
    assert ns.recv()[0] == {"STOPPING": "1"}
    assert d.stop() == 0


def test_no_listener_is_only_a_warning(tmp_path, start_daemon):
    """A NOTIFY_SOCKET nobody listens on must not stop the relay."""
    port = free_port()
    env = dict(os.environ, NOTIFY_SOCKET=str(tmp_path / "nobody-here"))
    d = start_daemon(local_config(tmp_path / "data", port, free_port()),
                     base_url=f"http://127.0.0.1:{port}", env=env)
    d.wait_log("msg=notify_failed")
    line = [ln for ln in d.log_text().splitlines() if "notify_failed" in ln][0]
    assert "level=warn" in line and "READY=1" in line, line
    assert d.get("/v1/health")[0] == 200
    assert d.stop() == 0
