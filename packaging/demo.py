#!/usr/bin/python3
"""`make demo`: one interlink relay and two demo carriers on loopback, step by step.

Starts interlinkd (plain HTTP on 127.0.0.1, free ports, data under build/demo/)
and two small HTTP servers standing in for two messenger services:

  kakao-demo  subscribers +8210...         (numbers)
  line-demo   subscribers ...@line.example (handles)

Each carrier submits through the carrier API with its bearer token and
receives messages and delivery reports on its push endpoint, printing what
arrives. The demo sends messages both ways, stops line-demo, shows the
messages for it queued, starts it again and shows them delivered with their
reports. At the end it prints the web console's address and login; when run
from a terminal it keeps everything running until Ctrl-C (--exit: end at
once). Everything it started is stopped on exit, Ctrl-C included.

Standard library only. Binaries: $INTERLINKD / $INTERLINKCTL, else build/.
Only 127.0.0.1 is ever contacted.
"""
import argparse
import ctypes
import hashlib
import http.cookiejar
import http.server
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = "127.0.0.1"
PASSWORD = "interlink-demo-2026"          # the demo admin's password (loopback demo only)
LOCK = threading.RLock()     # one line at a time; held across a submission
START = time.monotonic()
# Every HTTP request of the demo goes to 127.0.0.1 directly: never through a proxy.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY",
              "ALL_PROXY", "no_proxy", "NO_PROXY")


def say(text=""):
    with LOCK:
        print(text, flush=True)


def step(n, text):
    say()
    say(f"[{n}] {text}")


def event(text):
    say(f"    {time.monotonic() - START:5.1f}s  {text}")


_PORTS_GIVEN = set()


def free_port():
    """A free loopback port, never one given before (two binds in a row may get the same)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        if port not in _PORTS_GIVEN:
            _PORTS_GIVEN.add(port)
            return port


def http_call(method, url, body=None, token=None, headers=None, opener=OPENER, timeout=10):
    """(status, parsed JSON or text); never raises on an HTTP error status."""
    assert url.startswith(f"http://{HOST}:"), url      # loopback only
    hdrs = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    if token:
        hdrs["Authorization"] = "Bearer " + token
    req = urllib.request.Request(url, method=method, data=data, headers=hdrs)
    try:
        with opener.open(req, timeout=timeout) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    text = raw.decode("utf-8", "replace")
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def wait_until(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise DemoError(f"timed out after {timeout:.0f} s waiting for {what}")


class DemoError(Exception):
    pass


def child_env():
    """The environment for interlinkd and interlinkctl: no proxy (libcurl reads these)."""
    env = dict(os.environ)
    for v in PROXY_VARS:
        env.pop(v, None)
    return env


def die_with_parent():
    """In the child: get SIGTERM if the demo itself dies (Linux prctl PR_SET_PDEATHSIG)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


# ----------------------------------------------------------------- carriers

class Carrier:
    """A demo messenger service: a push endpoint on loopback (printing what the relay
    delivers) and a client of the relay's carrier API (its bearer token)."""

    def __init__(self, name, subscribers, api):
        self.name = name
        self.subscribers = subscribers          # address -> display name
        self.api = api
        self.token = "demo-" + secrets.token_hex(16)           # what it sends to the relay
        self.token_sha256 = hashlib.sha256(self.token.encode()).hexdigest()
        self.outbound_token = "out-" + secrets.token_hex(16)   # what the relay sends to it
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}/v1/deliver"
        self.messages = {}      # rid -> envelope
        self.reports = {}       # ref (the rid we were given) -> report envelope
        self.cond = threading.Condition()
        self.server = None
        self.thread = None
        self.conns = set()      # open (kept-alive) connections, closed on stop
        self.seq = 0

    def start(self):
        carrier = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                with carrier.cond:
                    carrier.conns.add(self.connection)

            def finish(self):
                with carrier.cond:
                    carrier.conns.discard(self.connection)
                super().finish()

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n)
                if self.headers.get("Authorization") != "Bearer " + carrier.outbound_token:
                    self.answer(401)
                    return
                try:
                    env = json.loads(raw)
                except ValueError:
                    self.answer(400)
                    return
                carrier.received(env)
                self.answer(200)

            def answer(self, status):
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

            def handle_error(self, request, client_address):
                pass    # a connection reset while stopping: not worth a traceback

        self.server = Server((HOST, self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            with self.cond:     # the relay's kept-alive connections go down with it
                for conn in list(self.conns):
                    try:
                        conn.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
            self.thread.join(5)
            self.server = None

    def received(self, env):
        with self.cond:
            if env.get("kind") == "report":
                new = env.get("ref") not in self.reports
                self.reports.setdefault(env.get("ref"), env)
            else:
                new = env.get("rid") not in self.messages
                self.messages.setdefault(env.get("rid"), env)
            self.cond.notify_all()
        if not new:
            event(f"{self.name:<10}  <- repeat of {env.get('rid')}: already stored, answered 200")
        elif env.get("kind") == "report":
            reason = f" ({env['reason']})" if env.get("reason") else ""
            event(f"{self.name:<10}  <- report: {env.get('ref')} to {env.get('from')} "
                  f"{env.get('status')}{reason}")
        else:
            event(f"{self.name:<10}  <- message {env.get('rid')} {env.get('from')} -> "
                  f"{env.get('to')}: \"{env.get('text')}\"")

    def send(self, frm, to, text):
        """POST /v1/messages with dlr; returns the rid."""
        self.seq += 1
        env = {"v": 1, "id": f"{self.name}-{self.seq}", "from": frm, "to": to,
               "text": text, "dlr": True}
        with LOCK:      # its line comes before the push and report it causes
            status, body = http_call("POST", self.api + "/v1/messages", env, token=self.token)
            if status != 202:
                raise DemoError(f"{self.name}: POST /v1/messages answered {status} {body}")
            event(f"{self.name:<10}  -> POST /v1/messages {frm} -> {to}: \"{text}\"  "
                  f"=> {status} {body['status']}, rid {body['rid']}")
        return body["rid"]

    def status(self, rid):
        status, body = http_call("GET", f"{self.api}/v1/messages/{rid}", token=self.token)
        if status != 200:
            raise DemoError(f"{self.name}: GET /v1/messages/{rid} answered {status} {body}")
        return body

    def wait(self, messages=(), reports=(), timeout=30):
        """Waits until every rid in messages was pushed to us and a report came for
        every rid (of ours) in reports."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not (all(r in self.messages for r in messages)
                       and all(r in self.reports for r in reports)):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DemoError(f"{self.name}: not everything arrived within {timeout} s")
                self.cond.wait(left)


# -------------------------------------------------------------------- relay

class Relay:
    def __init__(self, binary, ctl, workdir):
        self.binary = binary
        self.ctl = ctl
        self.dir = workdir
        self.port = free_port()
        self.admin_port = free_port()
        self.api = f"http://{HOST}:{self.port}"
        self.admin = f"http://{HOST}:{self.admin_port}"
        self.conf = os.path.join(workdir, "interlink.conf")
        self.log_path = os.path.join(workdir, "interlinkd.log")
        self.proc = None
        self.log = None

    def write_config(self, carriers):
        pw_hash = subprocess.run([self.binary, "--hash-password"], input=PASSWORD + "\n",
                                 capture_output=True, text=True, check=True,
                                 timeout=60).stdout.strip()
        data = os.path.join(self.dir, "data")
        shutil.rmtree(data, ignore_errors=True)     # a fresh store on every run
        text = f"""# written by packaging/demo.py: loopback only, plain HTTP, short retries
node-id = "demo.interlink"
data-dir = "{data}"
log-level = "info"
carrier-listener {{
  address = "{HOST}"
  port = {self.port}
  plain-http = true
}}
admin-listener {{
  address = "{HOST}"
  port = {self.admin_port}
  bootstrap-user = "admin"
  bootstrap-password-hash = "{pw_hash}"
}}
store {{
  map-size = "16M"
  max-map-size = "256M"
}}
delivery {{
  retry-initial = "200ms"
  retry-max = "1s"
  timeout = "2s"
}}
"""
        for c in carriers:
            text += f"""peer "{c.name}" {{
  token-sha256 = "{c.token_sha256}"
  owns = {{"{c.owns}"}}
  endpoints = {{"{c.url}"}}
  outbound-token = "{c.outbound_token}"
}}
route {{ {c.route} peer = "{c.name}" }}
"""
        with open(self.conf, "w") as f:
            f.write(text)
        check = subprocess.run([self.binary, "-t", "-c", self.conf], capture_output=True,
                               text=True, env=child_env())
        if check.returncode != 0:
            raise DemoError("interlinkd -t refused the demo config:\n" + check.stdout + check.stderr)

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([self.binary, "-c", self.conf], stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log, env=child_env(),
                                     preexec_fn=die_with_parent)

        def ready():
            if self.proc.poll() is not None:
                raise DemoError(f"interlinkd exited {self.proc.returncode}; see {self.log_path}")
            try:
                return http_call("GET", self.api + "/v1/health", timeout=2)[0] == 200
            except OSError:
                return False
        wait_until(ready, 20, "interlinkd to answer /v1/health")

    def stop(self):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc = None
        self.log.close()
        return rc


class Admin:
    """The admin API with the demo admin's session (cookie + CSRF token)."""

    def __init__(self, base):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.csrf = None

    def login(self, user, password):
        status, body = http_call("POST", self.base + "/api/login",
                                 {"user": user, "password": password}, opener=self.opener,
                                 timeout=30)
        if status != 200:
            raise DemoError(f"admin login answered {status} {body}")
        self.csrf = body["csrf"]
        return body

    def get(self, path):
        status, body = http_call("GET", self.base + path, opener=self.opener)
        if status != 200:
            raise DemoError(f"GET {path} answered {status} {body}")
        return body

    def post(self, path, body):
        status, answer = http_call("POST", self.base + path, body, opener=self.opener,
                                   headers={"X-CSRF-Token": self.csrf})
        if status not in (200, 201):
            raise DemoError(f"POST {path} answered {status} {answer}")
        return answer


def show_state(carrier, rid, s=None):
    """Print a message's status: s if it was already read, else a fresh GET."""
    if s is None:
        s = carrier.status(rid)
    err = ""
    if s.get("last_error") and s["state"] != "delivered":
        err = f", last_error \"{s['last_error']}\""
    event(f"{carrier.name:<10}  GET /v1/messages/{rid}: state {s['state']}, "
          f"attempts {s['attempts']}{err}")
    return s


def peer_line(p):
    eps = ", ".join(f"{e['state']}" for e in p.get("endpoints", []))
    return (f"{p['name']:<10}  queued {p['queued']}, delivering {p['delivering']}, "
            f"oldest {p['oldest_age_s']} s, endpoint breaker {eps or '-'}, "
            f"{'DOWN' if p.get('down') else 'up'}")


# --------------------------------------------------------------------- main

def run(args):
    binary = os.path.abspath(os.environ.get("INTERLINKD") or os.path.join(ROOT, "build", "interlinkd"))
    ctl = os.environ.get("INTERLINKCTL") or os.path.join(ROOT, "build", "interlinkctl")
    if not os.access(binary, os.X_OK):
        raise DemoError(f"{binary} is missing: build it first (make)")
    if not os.access(ctl, os.X_OK):
        ctl = None
    workdir = os.path.abspath(args.dir)
    os.makedirs(workdir, exist_ok=True)

    relay = Relay(binary, ctl, workdir)
    kakao = Carrier("kakao-demo", {"+821012345678": "Minji", "+821087654321": "Jisoo"}, relay.api)
    kakao.owns, kakao.route = "+8210", 'prefix = "+8210"'
    line = Carrier("line-demo", {"bob@line.example": "Bob", "carol@line.example": "Carol"}, relay.api)
    line.owns, line.route = "line.example", 'domain = "line.example"'
    carriers = [kakao, line]
    cleanup = []
    try:
        step(1, "Start the relay (interlinkd) on loopback, plain HTTP, data in a fresh store")
        relay.write_config(carriers)
        relay.start()
        cleanup.append(relay.stop)
        event(f"relay       carrier API {relay.api}/v1/   admin + console {relay.admin}/")
        event(f"relay       config {os.path.relpath(relay.conf)}, log {os.path.relpath(relay.log_path)}")

        step(2, "Start two demo carriers: push endpoints on loopback, a bearer token each")
        for c in carriers:
            c.start()
            cleanup.append(c.stop)
            subs = ", ".join(f"{n} {a}" for a, n in c.subscribers.items())
            event(f"{c.name:<10}  push endpoint {c.url}  subscribers: {subs}")

        step(3, "Send messages both ways, each asking for a delivery report (dlr)")
        r1 = kakao.send("+821012345678", "bob@line.example", "Hi Bob, lunch at noon?")
        r2 = line.send("bob@line.example", "+821012345678", "Sure Minji, see you there")
        r3 = line.send("carol@line.example", "+821087654321", "Jisoo, the slides are ready")
        line.wait(messages=[r1], reports=[r2, r3])
        kakao.wait(messages=[r2, r3], reports=[r1])
        for c, r in ((kakao, r1), (line, r2), (line, r3)):
            s = show_state(c, r)
            if s["state"] != "delivered":
                raise DemoError(f"{r} is {s['state']}, not delivered")
        say("    => delivered both ways, and every sender got its delivery report")

        step(4, "Stop line-demo (its data centre goes down)")
        line.stop()
        event("line-demo   stopped: its push endpoint refuses connections")

        step(5, "kakao-demo sends two more messages to line-demo subscribers")
        q1 = kakao.send("+821087654321", "carol@line.example", "Carol, are you there?")
        q2 = kakao.send("+821012345678", "bob@line.example", "Bob, running 10 min late")

        admin = Admin(relay.admin)
        admin.login("admin", PASSWORD)

        def waiting():
            """line-demo is down (its breaker open) and both wait in the queue.
            The statuses shown are the ones seen here: a second GET could catch
            a retry in flight ("delivering") a moment later."""
            st = admin.get("/api/status")
            p = next(p for p in st["peers"] if p["name"] == "line-demo")
            seen = [kakao.status(r) for r in (q1, q2)]
            if p["down"] and [s["state"] for s in seen] == ["queued", "queued"]:
                return st, seen
            return None
        st, seen = wait_until(waiting, 15, "the relay to find line-demo down")
        for r, s in zip((q1, q2), seen):
            show_state(kakao, r, s)
        for p in st["peers"]:
            event("relay       /api/status " + peer_line(p))
        linep = next(p for p in st["peers"] if p["name"] == "line-demo")
        if linep["queued"] + linep["delivering"] < 2:
            raise DemoError(f"line-demo's queue is {linep}, expected 2 waiting")
        if ctl:
            tok = admin.post("/api/tokens", {"name": "demo", "role": "viewer"})["token"]
            env = child_env()
            env["INTERLINK_ADMIN_URL"] = relay.admin
            env["INTERLINK_ADMIN_TOKEN"] = tok
            out = subprocess.run([ctl, "status"], capture_output=True, text=True, env=env,
                                 timeout=30)
            event("relay       interlinkctl status (with a viewer API token):")
            for ln in (out.stdout + out.stderr).rstrip().splitlines():
                say("                " + ln)
        say(f"    => queued safely at the relay: line-demo's messages wait for it "
            f"(their ttl still runs)")

        step(6, "Start line-demo again")
        line.start()
        event("line-demo   started: push endpoint back on "
              f"{line.url} (the relay probes it within 5 s)")
        line.wait(messages=[q1, q2], timeout=40)
        kakao.wait(reports=[q1, q2], timeout=10)
        for r in (q1, q2):
            s = show_state(kakao, r)
            if s["state"] != "delivered":
                raise DemoError(f"{r} is {s['state']}, not delivered after restart")
        def drained():
            st = admin.get("/api/status")
            return st if all(p["queued"] + p["delivering"] == 0 for p in st["peers"]) else None
        st = wait_until(drained, 15, "the relay's queues to drain")
        for p in st["peers"]:
            event("relay       /api/status " + peer_line(p))
        say("    => delivered after restart, with their delivery reports")

        step(7, "The web console")
        say(f"    console  {relay.admin}/")
        say(f"    login    user admin, password {PASSWORD}")
        args.finished = True
        if args.stay:
            say()
            say("The relay and both carriers keep running: look around in the console "
                "(Dashboard, Peers, Routes, Queue). Ctrl-C stops everything.")
            while True:
                time.sleep(3600)
        say("    (not on a terminal, or --exit: everything stops now; run from a terminal,"
            " the demo keeps running until Ctrl-C)")
        say()
        say(f"Demo finished in {time.monotonic() - START:.0f} s; stopping the relay and the carriers.")
    finally:
        for stop in reversed(cleanup):
            try:
                rc = stop()
                if stop == relay.stop and rc not in (0, None):
                    say(f"interlinkd exited {rc}; see {relay.log_path}")
            except Exception as e:      # keep stopping the others
                say(f"while stopping: {e}")


def main():
    ap = argparse.ArgumentParser(description="interlink demo: one relay, two carriers, on loopback")
    ap.add_argument("--dir", default=os.path.join(ROOT, "build", "demo"),
                    help="working directory for the config, store and log (default build/demo)")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--stay", dest="stay", action="store_true", default=None,
                   help="keep running after the steps until Ctrl-C (the default on a terminal)")
    g.add_argument("--exit", dest="stay", action="store_false",
                   help="stop everything after the steps (the default when not on a terminal)")
    args = ap.parse_args()
    if args.stay is None:
        args.stay = sys.stdin.isatty() and sys.stdout.isatty()

    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)   # even when started with it ignored
    try:
        run(args)
    except KeyboardInterrupt:
        say("\nStopped (everything the demo started is stopped).")
        return 0 if getattr(args, "finished", False) else 130
    except DemoError as e:
        say(f"\ndemo failed: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
