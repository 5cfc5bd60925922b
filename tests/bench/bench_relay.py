#!/usr/bin/python3
"""The carrier API under wrk (issue 5, `make bench`): (a) a bare libmicrohttpd server, (b)
interlinkd storing with sync = full and nothing delivered, (n) the same with sync = none (no
target: the request path's own ceiling, what (b) would reach if synced commits cost nothing),
(c) interlinkd delivering to a local sink, (d) the same with signing (docs/trust.md) and
encryption at rest, which (c) has off; prints requests/s, p50/p99 latency, delivered/s and the
ratios b/a, n/a, c/a, d/c beside targets."""
import argparse
import base64
import hashlib
import json
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LUA = os.path.join(ROOT, "tests", "bench", "wrk_post.lua")
FROM = "+821000000001"      # owned by the bench peer (+8210)
TO = "+829000000001"        # routed to the destination peer (+8290)
TARGET_B, TARGET_C = 0.5, 0.35
TARGET_TRUST = 0.8          # (d)/(c): signing and encryption at rest against neither
ERROR_SHARE = 0.5           # above this share of non-2xx answers a rate means nothing
DRAIN_MAX_S = 10            # how long (c) waits after the load for the backlog to go


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fs_type(path):
    """The file system type of the mount holding path (from /proc/self/mounts)."""
    path = os.path.realpath(path)
    best, kind = "", "?"
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                _, mnt, typ = line.split()[:3]
                mnt = mnt.replace("\\040", " ")
                inside = path == mnt or path.startswith(mnt.rstrip("/") + "/")
                if inside and len(mnt) >= len(best):
                    best, kind = mnt, typ
    except OSError:
        pass
    return kind


TICK = os.sysconf("SC_CLK_TCK")


def machine_cpu():
    """(busy, idle, steal) CPU seconds of the whole machine so far; busy includes steal."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    idle = v[3] + v[4]
    return (sum(v) - idle) / TICK, idle / TICK, v[7] / TICK


def wait_quiet(limit_s, busy_max=0.05):
    """Waits (at most limit_s) for a second in which the machine is nearly idle."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        b0, i0, _ = machine_cpu()
        time.sleep(1)
        b1, i1, _ = machine_cpu()
        if b1 - b0 <= busy_max * ((b1 - b0) + (i1 - i0)):
            return True
    return False


def process_cpu(pid):
    """User and system CPU seconds of a running process (all its threads)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            v = f.read().rsplit(")", 1)[1].split()
        return (int(v[11]) + int(v[12])) / TICK
    except (OSError, IndexError, ValueError):
        return 0.0


def children_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def http(method, url, body=None, headers=None, timeout=5):
    """(status, text) of one request; (None, reason) when there is no answer."""
    req = urllib.request.Request(url, method=method, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as e:
        return None, str(e)


class Server:
    """A child process (bare_mhd or interlinkd) with its output in a log file."""

    def __init__(self, name, argv, log_path, ready_url):
        self.name = name
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        self.ready_url = ready_url

    def log_tail(self, lines=15):
        with open(self.log_path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(self, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self.proc.returncode}:\n"
                                   + self.log_tail())
            if http("GET", self.ready_url, timeout=1)[0] == 200:
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} not ready after {timeout} s:\n" + self.log_tail())

    def stop(self, timeout=10):
        """SIGTERM, then SIGKILL; returns the exit code (None if it had to be killed)."""
        rc = self.proc.poll()
        if rc is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                rc = None
        self.log.close()
        return rc


class Peer:
    """A peer section of the node's config, with its bearer token."""

    def __init__(self, name, owns, endpoints=(), extra=()):
        self.name = name
        self.token = secrets.token_hex(16)
        self.owns = owns
        self.endpoints = list(endpoints)
        self.extra = list(extra)

    def section(self):
        sha = hashlib.sha256(self.token.encode()).hexdigest()
        lines = [f'peer "{self.name}" {{', '  kind = "carrier"', f'  token-sha256 = "{sha}"',
                 f'  owns = {{"{self.owns}"}}']
        if self.endpoints:
            lines.append("  endpoints = {" + ", ".join(f'"{e}"' for e in self.endpoints) + "}")
            lines.append(f'  outbound-token = "out-{secrets.token_hex(8)}"')
        lines += ["  " + x for x in self.extra]
        return "\n".join(lines + ["}"]) + "\n"


def node_config(data_dir, port, admin_port, bench, dest, log_level, key_file=None, sync="full"):
    """sync = full unless said; the bench peer may send as fast as it can; dest takes all of +8290.
    With key_file: bodies sealed at rest and outgoing messages signed (docs/trust.md);
    without: neither."""
    store = f'  encrypt = true\n  key-file = "{key_file}"\n' if key_file else ""
    attest = "true" if key_file else "false"
    return (f'node-id = "bench.interlink"\ndata-dir = "{data_dir}"\nlog-level = "{log_level}"\n'
            f'carrier-listener {{\n  address = "127.0.0.1"\n  port = {port}\n'
            f'  plain-http = true\n}}\n'
            f'admin-listener {{\n  address = "127.0.0.1"\n  port = {admin_port}\n}}\n'
            f'store {{\n  sync = "{sync}"\n{store}}}\n'
            f'trust {{\n  attest = {attest}\n}}\n'
            + bench.section() + dest.section()
            + f'route {{\n  prefix = "+8290"\n  peer = "{dest.name}"\n}}\n')


UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}


def parse_wrk(out):
    """requests, seconds, non-2xx count, socket errors, p50/p99 (ms), wrk's requests/s."""
    r = {"requests": 0, "seconds": 0.0, "non2xx": 0, "sock": 0, "p50": None, "p99": None,
         "rps": 0.0}
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h),", out)
    if m:
        r["requests"] = int(m.group(1))
        r["seconds"] = float(m.group(2)) * UNIT_MS[m.group(3)] / 1000.0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        r["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        r["sock"] = sum(int(x) for x in m.groups())
        r["sock_text"] = m.group(0)
    for pct in ("50", "99"):
        m = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s|m|h)\s*$", out, re.M)
        if m:
            r["p" + pct] = float(m.group(1)) * UNIT_MS[m.group(2)]
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        r["rps"] = float(m.group(1))
    r["ok"] = max(r["requests"] - r["non2xx"], 0)
    r["ok_rate"] = r["rps"] * r["ok"] / r["requests"] if r["requests"] else 0.0
    return r


class Bench:
    def __init__(self, args):
        self.args = args
        self.tag = secrets.token_hex(3)
        self.work = tempfile.mkdtemp(prefix="bench-relay-", dir=args.workdir)
        self.servers = []
        self.results = {}
        self.notes = []
        self.broken = True

    def start(self, name, argv, ready_url):
        s = Server(name, argv, os.path.join(self.work, name + ".log"), ready_url)
        self.servers.append(s)
        s.wait_ready()
        return s

    def stop_all(self):
        for s in reversed(self.servers):
            rc = s.stop()
            if s.name.startswith("interlinkd") and rc != 0:
                self.notes.append(f"{s.name} exited {'killed' if rc is None else rc} on "
                                  f"SIGTERM; log tail:\n{s.log_tail()}")
        self.servers = []

    def preflight(self, url, token, label):
        """One envelope by urllib: what the server answers, for the report."""
        body = json.dumps({"v": 1, "id": f"pre{self.tag}-{label}", "from": FROM, "to": TO,
                           "text": "preflight"}).encode()
        return http("POST", url + "/v1/messages", body,
                    {"Authorization": "Bearer " + token, "Content-Type": "application/json"})

    def wrk(self, url, token, label):
        a = self.args
        argv = ["wrk", f"-t{a.threads}", f"-c{a.connections}", f"-d{a.duration}s", "--latency",
                "-s", LUA, url + "/", "--", token, FROM, TO, f"{self.tag}{label}"]
        # where the CPU goes during the load: servers, wrk, anything else on the machine
        srv0 = {s.name: process_cpu(s.proc.pid) for s in self.servers}
        busy0, idle0, steal0, wrk0, t0 = *machine_cpu(), children_cpu(), time.monotonic()
        p = subprocess.run(argv, capture_output=True, text=True, timeout=a.duration + 30)
        busy1, idle1, steal1, wrk1, t1 = *machine_cpu(), children_cpu(), time.monotonic()
        cpu = {s.name: process_cpu(s.proc.pid) - srv0[s.name] for s in self.servers}
        cpu["wrk"] = wrk1 - wrk0
        cpu["steal"] = steal1 - steal0
        cpu["other"] = max(busy1 - busy0 - sum(cpu.values()), 0.0)
        cpu["idle"] = idle1 - idle0
        cpu["capacity"] = (t1 - t0) * (os.cpu_count() or 1)
        if p.returncode != 0:
            raise RuntimeError(f"wrk exited {p.returncode}: {p.stderr.strip()}")
        with open(os.path.join(self.work, f"wrk-{label}.txt"), "w") as f:
            f.write(p.stdout)
        if self.args.verbose:
            print(p.stdout)
        r = parse_wrk(p.stdout)
        r["cpu"] = cpu
        return r

    def case_a(self):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        self.start("bare_mhd", [self.args.bare_mhd, str(port)], url + "/count")
        r = self.wrk(url, "any-token", "a")
        self.stop_all()
        return r

    def interlinkd(self, label, dest, trust=False, sync="full"):
        port, admin = free_port(), free_port()
        bench = Peer("bench", "+8210", extra=["rate = 1000000"])
        data = os.path.join(self.work, f"data-{label}")
        conf = os.path.join(self.work, f"interlink-{label}.conf")
        key_file = None
        if trust:
            key_file = os.path.join(self.work, f"store-{label}.key")
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, b"k1:" + base64.b64encode(os.urandom(32)) + b"\n")
            os.close(fd)
        with open(conf, "w") as f:
            f.write(node_config(data, port, admin, bench, dest, self.args.log_level, key_file,
                                sync))
        url = f"http://127.0.0.1:{port}"
        d = self.start(f"interlinkd-{label}", [self.args.interlinkd, "-c", conf],
                       url + "/v1/health")
        d.admin_url = f"http://127.0.0.1:{admin}"
        deadline = time.monotonic() + 30  # the admin listener follows its first user's hash
        while self.store_counters(d) is None and time.monotonic() < deadline:
            time.sleep(0.1)
        return d, url, bench.token

    def case_b(self, label="b", sync="full"):
        # no endpoints: a pull peer, so nothing is delivered and everything stays queued
        hold = Peer("hold", "+8290", extra=["max-queue = 100000000"])
        d, url, token = self.interlinkd(label, hold, sync=sync)
        r = self.run_loaded(d, url, token, label)
        self.stop_all()
        return r

    def case_n(self):
        return self.case_b(label="n", sync="none")

    def case_d(self):
        return self.case_c(label="d", trust=True)

    def case_c(self, label="c", trust=False):
        sport = free_port()
        surl = f"http://127.0.0.1:{sport}"
        self.start("sink", [self.args.bare_mhd, "-s", str(sport)], surl + "/count")
        sink = Peer("sink", "+8290", endpoints=[surl + "/v1/deliver"],
                    extra=["max-queue = 100000000"])
        d, url, token = self.interlinkd(label, sink, trust)
        before = self.sink_count(surl)
        r = self.run_loaded(d, url, token, label)
        after = self.sink_count(surl)
        r["delivered"] = after["distinct"] - before["distinct"]
        r["dlv_rate"] = r["delivered"] / r["seconds"] if r["seconds"] else 0.0
        # the backlog left at the end of the load, and how long it takes to go (wrk does not
        # count the requests in flight when it stops: a few more may come)
        want = r["ok"] + (1 if r["pre"][0] in (200, 202) else 0)
        r["backlog"] = max(want - after["distinct"], 0)
        t0 = time.monotonic()
        while (after["distinct"] < want and time.monotonic() - t0 < DRAIN_MAX_S
               and d.proc.poll() is None):
            time.sleep(0.1)
            after = self.sink_count(surl)
        r["drain_s"] = time.monotonic() - t0
        r["left"] = max(want - after["distinct"], 0)
        r["dups"] = after["posts"] - after["distinct"]
        self.stop_all()
        return r

    @staticmethod
    def sink_count(surl):
        """What the sink got: POSTs, and distinct messages (by Idempotency-Key)."""
        status, text = http("GET", surl + "/count")
        c = json.loads(text) if status == 200 else {}
        posts = c.get("posts", 0)
        return {"posts": posts,
                "distinct": c.get("unique", 0) + c.get("no_key", 0) + c.get("untracked", 0)}

    @staticmethod
    def store_counters(d):
        """The store's commits and operations so far, from the admin listener's /metrics."""
        try:
            status, text = http("GET", d.admin_url + "/metrics")
        except OSError:
            return None
        if status != 200:
            return None
        got = {}
        for line in text.splitlines():
            for name in ("interlink_store_commits_total", "interlink_store_operations_total"):
                if line.startswith(name + " "):
                    got[name] = float(line.split()[1])
        return got if len(got) == 2 else None

    def run_loaded(self, d, url, token, label):
        r = {"pre": self.preflight(url, token, label)}
        before = self.store_counters(d)
        r.update(self.wrk(url, token, label))
        after = self.store_counters(d)
        if before and after:
            commits = after["interlink_store_commits_total"] - before["interlink_store_commits_total"]
            ops = after["interlink_store_operations_total"] - before["interlink_store_operations_total"]
            r["store"] = (commits, ops)
        if d.proc.poll() is not None:
            self.notes.append(f"interlinkd ({label}) died during the load "
                              f"(exit {d.proc.returncode}); log tail:\n{d.log_tail()}")
        return r

    def run(self):
        t0 = time.monotonic()
        print(f"relay benchmark: wrk -t{self.args.threads} -c{self.args.connections} "
              f"-d{self.args.duration}s --latency, 1 KiB text envelopes, 127.0.0.1; "
              f"{os.cpu_count()} CPUs shared by wrk and the servers; "
              f"interlinkd log-level {self.args.log_level}")
        kind = fs_type(self.work)
        print(f"data in {os.path.relpath(self.work, ROOT)} ({kind})")
        if kind in ("tmpfs", "ramfs"):
            print("warning: the data directory is in memory: sync = full costs nothing there")
        sys.stdout.flush()
        for label, fn in (("a", self.case_a), ("b", self.case_b), ("n", self.case_n),
                          ("c", self.case_c), ("d", self.case_d)):
            if label not in self.args.cases:
                continue
            if self.args.quiet_wait and not wait_quiet(self.args.quiet_wait):
                self.notes.append(f"({label}) the machine was still busy after "
                                  f"{self.args.quiet_wait} s of waiting")
            try:
                self.results[label] = fn()
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                self.results[label] = None
                self.notes.append(f"({label}) did not run: {e}")
                self.stop_all()
        self.report()
        print(f"({time.monotonic() - t0:.0f} s)")

    # ------------------------------------------------------------ report

    def usable(self, r, label):
        """Whether r's rate means something; else says why in the notes."""
        if r is None:
            return False
        if r["requests"] == 0:
            self.notes.append(f"({label}) wrk completed no request")
            return False
        share = r["non2xx"] / r["requests"]
        pre = r.get("pre")
        said = f"; a single POST got {pre[0]} {pre[1].strip()[:160]}" if pre else ""
        if share > ERROR_SHARE:
            self.notes.append(f"({label}) ERRORS: {r['non2xx']} of {r['requests']} responses "
                              f"({share:.0%}) were not 2xx{said}: no rate reported")
            return False
        if r["non2xx"]:
            self.notes.append(f"({label}) {r['non2xx']} of {r['requests']} responses "
                              f"({share:.1%}) were not 2xx{said}; 2xx/s counts the others")
        if r["sock"]:
            self.notes.append(f"({label}) wrk: {r['sock_text']}")
        return True

    def report(self):
        a, b, n, c, d = (self.results.get(k) for k in "abncd")
        ok = {k: self.usable(r, k) for k, r in (("a", a), ("b", b), ("n", n), ("c", c), ("d", d))
              if k in self.args.cases}
        self.broken = not all(ok.values())
        ok = {k: ok.get(k, False) for k in "abncd"}
        base = a["ok_rate"] if ok["a"] and a["ok_rate"] else None
        rows, self.verdict = [], True

        def ms(v):
            return "-" if v is None else f"{v:.2f}ms"

        def row(name, r, good, rate_key="ok_rate", ratio_name="", target=None, lat=True,
                base_r=None):
            if r is None:
                rows.append((name, "-", "-", "-", "-", "", "", "did not run"))
                self.verdict = False
                return
            req = f"{r['rps']:.0f}" if rate_key == "ok_rate" else "-"
            p50, p99 = (ms(r["p50"]), ms(r["p99"])) if lat else ("-", "-")
            if not good:
                rows.append((name, req, "-", p50, p99, "", "", "ERRORS (see below)"))
                self.verdict = False
                return
            rate = f"{r[rate_key]:.0f}"
            denom = base_r[rate_key] if base_r else base
            if not ratio_name or not denom:
                rows.append((name, req, rate, p50, p99, "", "", ""))
                return
            if target is None:  # shown, not judged
                rows.append((name, req, rate, p50, p99,
                             f"{ratio_name} {r[rate_key] / denom:.2f}", "", "no target"))
                return
            ratio = r[rate_key] / denom
            met = ratio >= target
            self.verdict &= met
            rows.append((name, req, rate, p50, p99, f"{ratio_name} {ratio:.2f}",
                         f">= {target:.2f}", "ok" if met else "below target"))

        row("(a) bare libmicrohttpd, no store", a, ok["a"])
        row("(b) interlinkd sync=full, no delivery", b, ok["b"], ratio_name="b/a",
            target=TARGET_B)
        if "n" in self.args.cases:
            row("(n) as (b), sync=none", n, ok["n"], ratio_name="n/a")
        row("(c) interlinkd -> sink: accepted", c, ok["c"], ratio_name="c/a",
            target=TARGET_C)
        if c is not None and ok["c"]:
            row("    delivered at the sink", c, True, rate_key="dlv_rate", ratio_name="c/a",
                target=TARGET_C, lat=False)
        both = ok["c"] and ok["d"] and c is not None
        row("(d) as (c), signed + sealed: accepted", d, ok["d"], ratio_name="d/c" if both else "",
            target=TARGET_TRUST if both else None, base_r=c if both else None)
        if d is not None and ok["d"]:
            row("    delivered at the sink", d, True, rate_key="dlv_rate",
                ratio_name="d/c" if both else "",
                target=TARGET_TRUST if both else None, lat=False, base_r=c if both else None)
        head = ("case", "req/s", "2xx/s", "p50", "p99", "ratio", "target", "")
        widths = [max(len(str(x[i])) for x in rows + [head]) for i in range(len(head))]
        print()
        for i, line in enumerate([head] + rows):
            cells = [str(v).ljust(w) if j == 0 or j >= 5 else str(v).rjust(w)
                     for j, (v, w) in enumerate(zip(line, widths))]
            print("  ".join(cells).rstrip())
            if i == 0:
                print("-" * (sum(widths) + 2 * (len(widths) - 1)))
        print()
        for label, r in (("c", c), ("d", d)):
            if r is None or not ok[label]:
                continue
            print(f"({label}) delivered {r['delivered']} during the load; backlog at its end "
                  f"{r['backlog']}; " + (f"drained in {r['drain_s']:.1f} s" if not r["left"]
                                          else f"{r['left']} still undelivered after "
                                               f"{r['drain_s']:.1f} s")
                  + f"; duplicate deliveries: {r['dups']}")
        for label in "bncd":
            r = self.results.get(label)
            if r and r.get("store") and r["seconds"]:
                commits, ops = r["store"]
                print(f"({label}) store: {commits / r['seconds']:.0f} commits/s, "
                      f"{ops / commits if commits else 0:.1f} operations per commit, "
                      f"{ops / r['ok'] if r['ok'] else 0:.2f} operations per 2xx")
        self.report_cpu()
        for n in self.notes:
            print("note: " + n)
        if not base and a is not None:
            print("note: no baseline rate, so no ratios")

    def report_cpu(self):
        """CPU seconds used during each load, and the server's CPU per 2xx answer."""
        print("CPU seconds during the load (user + system):")
        for label in "abncd":
            r = self.results.get(label)
            if not r:
                continue
            cpu = dict(r["cpu"])
            cap, idle, other = cpu.pop("capacity"), cpu.pop("idle"), cpu.pop("other")
            steal = cpu.pop("steal")
            server = {"a": "bare_mhd"}.get(label, "interlinkd-" + label)
            parts = [f"{k} {v:.1f}" for k, v in cpu.items()]
            per = (f"; {server} {cpu.get(server, 0) / r['ok'] * 1e6:.0f} us per 2xx"
                   if r["ok"] and r["non2xx"] <= ERROR_SHARE * r["requests"] else "")
            print(f"  ({label}) " + ", ".join(parts) + f", other processes {other:.1f}, "
                  f"steal {steal:.1f}, idle {idle:.1f} of {cap:.1f}" + per)
            if other + steal > 0.05 * cap:
                self.notes.append(f"({label}) other processes and the hypervisor took "
                                  f"{(other + steal) / cap:.0%} of the CPUs during the load: "
                                  "its figures are disturbed")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--interlinkd", default=os.path.join(ROOT, "build", "interlinkd"))
    p.add_argument("--bare-mhd", default=os.path.join(ROOT, "build", "bench", "bare_mhd"))
    p.add_argument("--workdir", default=os.path.join(ROOT, "build"),
                   help="where the temporary data directories go (a real disk, not tmpfs)")
    p.add_argument("--duration", type=int, default=10, help="seconds of load per case")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--log-level", default="info", choices=("debug", "info", "warn", "error"),
                   help="interlinkd's log-level (info, the default, logs every request)")
    p.add_argument("--quiet-wait", type=int, default=0, metavar="S",
                   help="before each case, wait up to S s for the machine to be idle")
    p.add_argument("--keep", action="store_true", help="keep the logs and data directories")
    p.add_argument("--verbose", action="store_true", help="print wrk's output")
    p.add_argument("--cases", default="abncd",
                   help="which cases to run (default abncd; the ratios need a, and d/c needs c)")
    args = p.parse_args()
    args.interlinkd = os.path.abspath(args.interlinkd)
    args.bare_mhd = os.path.abspath(args.bare_mhd)
    for path in (args.interlinkd, args.bare_mhd):
        if not os.access(path, os.X_OK):
            sys.exit(f"bench_relay: {path} missing: make build/interlinkd build/bench/bare_mhd")
    if not shutil.which("wrk"):
        sys.exit("bench_relay: wrk is not installed (make deps installs it)")
    os.makedirs(args.workdir, exist_ok=True)

    # a SIGTERM unwinds through the finally below like a Ctrl-C
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    bench = Bench(args)
    try:
        bench.run()
    finally:
        bench.stop_all()
        if args.keep:
            print(f"kept {bench.work}")
        else:
            shutil.rmtree(bench.work, ignore_errors=True)
    # below target is a finding, not a broken benchmark: only errors fail `make bench`
    return 1 if bench.broken else 0


if __name__ == "__main__":
    sys.exit(main())
