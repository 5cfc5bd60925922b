"""Fixtures for system tests: the real interlinkd on loopback ports, a temporary
data directory, real HTTP (and TLS with a throwaway certificate)."""
import calendar
import hashlib
import http.server
import json
import os
import secrets
import shutil
import signal
import threading
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("INTERLINKD", os.path.join(ROOT, "build", "interlinkd"))
CTL = os.environ.get("INTERLINKCTL", os.path.join(ROOT, "build", "interlinkctl"))


_PORTS_GIVEN = set()


def free_port():
    """A loopback port no one listens on, and never one this process was given before:
    the kernel may hand the same free port to two binds in a row, and a config with the
    carrier and admin listeners on one port is refused."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _PORTS_GIVEN:
            _PORTS_GIVEN.add(port)
            return port


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



def exchange(open_fn, req, **kw):
    """Sends req with open_fn (urlopen, or an opener's open): (status, headers, the body as
    JSON, or as text when it is not JSON). An HTTP error status is an answer, not an error."""
    try:
        with open_fn(req, **kw) as r:
            status, rh, raw = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, rh, raw = e.code, e.headers, e.read()
    text = raw.decode("utf-8", "replace")
    try:
        return status, rh, json.loads(text)
    except ValueError:
        return status, rh, text

class Daemon:
    """One running interlinkd; stderr (its log) is collected in a file."""

    def __init__(self, conf, log_path, base_url, ssl_context=None, env=None):
        self.conf = conf
        self.log_path = log_path
        self.base_url = base_url
        self.ssl_context = ssl_context
        self.log = open(log_path, "wb")         # stderr: the log, key=value lines
        self.out_path = log_path + ".stdout"    # stdout: e.g. the first-start admin password
        self.out = open(self.out_path, "wb")
        self.proc = subprocess.Popen([BINARY, "-c", conf], stdout=self.out,
                                     stderr=self.log, env=env)

    def stdout_text(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

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

    def call(self, method, path, body=None, token=None, headers=None, timeout=10,
             ssl_context=None):
        """One API request. body: a dict/list (sent as JSON), bytes or None.
        Returns (status, headers, parsed JSON or text)."""
        hdrs = dict(headers or {})
        data = body
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
        if data is not None:
            hdrs.setdefault("Content-Type", "application/json")
        if token:
            hdrs["Authorization"] = "Bearer " + token
        req = urllib.request.Request(self.base_url + path, method=method, data=data,
                                     headers=hdrs)
        return exchange(urllib.request.urlopen, req, timeout=timeout,
                        context=ssl_context or self.ssl_context)

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

    def wait_log(self, needle, timeout=5, count=1):
        """Waits until the log holds needle (count times)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.log_text().count(needle) >= count:
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
        self.out.close()
        return rc


@pytest.fixture
def start_daemon(tmp_path):
    """Starts interlinkd on a config text; stops every daemon it started at the end."""
    started = []

    def start(conf_text, name="interlink.conf", base_url=None, ssl_context=None, ready=True,
              env=None):
        conf = write_config(tmp_path / name, conf_text)
        d = Daemon(str(conf), str(tmp_path / (name + ".log")), base_url, ssl_context, env)
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
    cert, key, _, _ = make_cert(tmp_path_factory.mktemp("tls"), 2)
    return cert, key, ssl.create_default_context(cafile=str(cert))


def make_cert(directory, days):
    """A new self-signed certificate and key for 127.0.0.1; (cert, key, its DER, its end)."""
    cert, key = directory / f"cert-{days}.pem", directory / f"key-{days}.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", str(days),
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    end = subprocess.run(["openssl", "x509", "-enddate", "-noout", "-in", str(cert)],
                         check=True, capture_output=True, text=True).stdout
    end = calendar.timegm(time.strptime(end.strip().split("=", 1)[1], "%b %d %H:%M:%S %Y GMT"))
    return cert, key, ssl.PEM_cert_to_DER_cert(cert.read_text()), end


class Renewal:
    """Two certificates for renewing a listener's in place: old (served first) and new, each
    (cert, key, DER, end); cert and key, the live paths a config names (holding old now);
    ctx, a client context that trusts both."""

    def __init__(self, directory, name):
        self.old = make_cert(directory, 2)
        self.new = make_cert(directory, 6)
        self.cert, self.key = directory / f"{name}-cert.pem", directory / f"{name}-key.pem"
        self.install(self.old)
        self.ctx = ssl.create_default_context(cafile=str(self.old[0]))
        self.ctx.load_verify_locations(cafile=str(self.new[0]))

    def install(self, which):
        """Copies which's certificate and key over the live paths."""
        shutil.copy(which[0], self.cert)
        shutil.copy(which[1], self.key)


def served_cert(port, ctx):
    """The certificate a new TLS connection to the port is shown (DER)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            return s.getpeercert(binary_form=True)


# ---------------------------------------------------------------- peers

class Peer:
    """A peer of the node under test: its name, bearer token and config section."""

    def __init__(self, name, owns=(), endpoints=(), kind="carrier", extra=""):
        self.name = name
        self.token = secrets.token_hex(16)
        self.token_sha256 = hashlib.sha256(self.token.encode()).hexdigest()
        self.owns = list(owns)
        self.endpoints = list(endpoints)
        self.kind = kind
        self.extra = extra
        self.outbound_token = "out-" + secrets.token_hex(8)

    def section(self):
        lines = [f'peer "{self.name}" {{', f'  kind = "{self.kind}"',
                 f'  token-sha256 = "{self.token_sha256}"']
        if self.owns:
            lines.append("  owns = {" + ", ".join(f'"{o}"' for o in self.owns) + "}")
        if self.endpoints:
            lines.append("  endpoints = {" + ", ".join(f'"{e}"' for e in self.endpoints) + "}")
            lines.append(f'  outbound-token = "{self.outbound_token}"')
        if self.extra:
            lines.append(self.extra)
        lines.append("}")
        return "\n".join(lines) + "\n"


def node_config(data_dir, port, admin_port, peers=(), routes=(), extra="", node_id="test.interlink",
                delivery=""):
    """A loopback node config with peers (Peer objects) and routes (config lines)."""
    text = local_config(data_dir, port, admin_port, extra).replace(
        'node-id = "test.interlink"', f'node-id = "{node_id}"')
    if delivery:
        text += "delivery {\n" + delivery + "\n}\n"
    for p in peers:
        text += p.section()
    for r in routes:
        text += r + "\n"
    return text


# ------------------------------------------------------- fake carriers

class FakeCarrier:
    """A carrier's delivery endpoint: a real HTTP server on loopback that records
    every envelope POSTed to it and answers with scripted status codes."""

    def __init__(self, statuses=None, default=200, headers=None):
        self.received = []          # (headers dict, parsed JSON body)
        self.statuses = list(statuses or [])
        self.default = default
        self.extra_headers = dict(headers or {})
        self.lock = threading.Condition()
        carrier = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(n)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw
                with carrier.lock:
                    status = carrier.statuses.pop(0) if carrier.statuses else carrier.default
                    if 200 <= status < 300:
                        carrier.received.append((dict(self.headers), body))
                    carrier.attempts.append((dict(self.headers), body, status))
                    carrier.lock.notify_all()
                out = b'{"ok":true}' if 200 <= status < 300 else b'{"error":"scripted"}'
                self.send_response(status)
                for k, v in carrier.extra_headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):
                pass

        self.attempts = []          # every POST: (headers, body, status answered)
        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # a relay killed mid-request resets its connections: expected

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1/deliver"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, n, timeout=15):
        """Waits until n envelopes were delivered (2xx); returns them."""
        deadline = time.time() + timeout
        with self.lock:
            while len(self.received) < n:
                left = deadline - time.time()
                if left <= 0:
                    raise AssertionError(f"carrier got {len(self.received)} of {n}; "
                                         f"attempts {[a[2] for a in self.attempts]}")
                self.lock.wait(left)
            return list(self.received)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_carrier():
    made = []

    def make(**kw):
        c = FakeCarrier(**kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.stop()
