"""Fixtures for system tests: the real interlinkd on loopback ports, a temporary
data directory, real HTTP (and TLS with a throwaway certificate)."""
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("INTERLINKD", os.path.join(ROOT, "build", "interlinkd"))


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(path, body):
    with open(path, "w") as f:
        f.write(body)
    return path


def local_config(data_dir, port, admin_port, extra=""):
    return f"""node-id = "test.interlink"
data-dir = "{data_dir}"
log-level = "debug"
carrier-listener {{
  address = "127.0.0.1"
  port = {port}
  plain-http = true
}}
admin-listener {{
  address = "127.0.0.1"
  port = {admin_port}
}}
store {{
  sync = "none"
}}
{extra}"""


class Daemon:
    """One running interlinkd; stderr (its log) is collected in a file."""

    def __init__(self, conf, log_path, base_url, ssl_context=None):
        self.conf = conf
        self.log_path = log_path
        self.base_url = base_url
        self.ssl_context = ssl_context
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen([BINARY, "-c", conf], stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def get(self, path, method="GET", data=None):
        req = urllib.request.Request(self.base_url + path, method=method, data=data)
        try:
            with urllib.request.urlopen(req, timeout=5, context=self.ssl_context) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def wait_ready(self, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"interlinkd exited {self.proc.returncode}:\n{self.log_text()}")
            try:
                if self.get("/v1/health")[0] == 200:
                    return
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.05)
        raise AssertionError("interlinkd did not become ready:\n" + self.log_text())

    def wait_log(self, needle, timeout=5):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if needle in self.log_text():
                return
            time.sleep(0.05)
        raise AssertionError(f"{needle!r} not in log:\n{self.log_text()}")

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.log.close()
        return rc


@pytest.fixture
def start_daemon(tmp_path):
    """Starts interlinkd on a config text; stops every daemon it started at the end."""
    started = []

    def start(conf_text, name="interlink.conf", base_url=None, ssl_context=None, ready=True):
        conf = write_config(tmp_path / name, conf_text)
        d = Daemon(str(conf), str(tmp_path / (name + ".log")), base_url, ssl_context)
        started.append(d)
        if ready:
            d.wait_ready()
        return d

    yield start
    for d in started:
        d.stop()


@pytest.fixture
def local_daemon(tmp_path, start_daemon):
    port, admin = free_port(), free_port()
    data = tmp_path / "data"
    d = start_daemon(local_config(data, port, admin), base_url=f"http://127.0.0.1:{port}")
    d.data_dir = data
    d.port = port
    d.admin_port = admin
    return d


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1, made with the openssl command."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    ctx = ssl.create_default_context(cafile=str(cert))
    return cert, key, ctx
