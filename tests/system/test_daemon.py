"""interlinkd as an operator meets it: command line, config check, start,
signals, the data directory, TLS and the health endpoint."""
import http.client
import os
import resource
import shutil
import signal
import socket
import stat
import subprocess
import time
import urllib.error
import urllib.request

from conftest import (BINARY, Renewal, free_port, local_config, make_cert, served_cert,
                      write_config)


def run(*args):
    return subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=20)


def test_version_and_help():
    r = run("--version")
    assert r.returncode == 0
    assert r.stdout.startswith("interlinkd ")
    r = run("--help")
    assert r.returncode == 0
    assert "-c, --config FILE" in r.stdout and "SIGHUP" in r.stdout
    r = run("--bogus")
    assert r.returncode == 2
    assert "usage: interlinkd" in r.stderr


def test_check_good_config(tmp_path):
    conf = write_config(tmp_path / "good.conf", local_config(tmp_path / "d", 8443, 8081))
    r = run("-t", "-c", str(conf))
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{conf}: ok\n"
    assert not (tmp_path / "d").exists(), "-t must not create the data directory"


# A valid head (lines 1-5); each case adds its fault after it.
HEAD = ('node-id = "a"\ncarrier-listener {\n  address = "127.0.0.1"\n'
        '  plain-http = true\n}\n')
BAD_CONFIGS = [
    # (text, line, words the reason must contain)
    (HEAD + 'log-level = "loud"\n', 6, "log-level"),
    (HEAD + '\nbogus-key = 1\n', 7, "bogus-key"),
    (HEAD + 'store {\n  map-size = "12Q"\n}\n', 7, "map-size"),
    (HEAD + 'delivery {\n  concurrency = 0\n}\n', 7, "concurrency"),
    (HEAD + 'peer "p" {\n  kind = "carrier"\n  owns = {"+82"}\n}\n', 6, "token-sha256"),
    (HEAD + 'route {\n  prefix = "+82"\n  peer = "nobody"\n}\n', 8, "nobody"),
    ('node-id = "a"\ncarrier-listener {\n  address = "0.0.0.0"\n  plain-http = true\n}\n',
     None, "loopback"),
]


def test_check_bad_configs(tmp_path):
    for i, (text, line, word) in enumerate(BAD_CONFIGS):
        conf = write_config(tmp_path / f"bad{i}.conf", text)
        r = run("-t", "-c", str(conf))
        assert r.returncode == 1, (text, r.stdout, r.stderr)
        assert r.stdout == ""
        prefix = f"interlinkd: {conf}:{line}: " if line else f"interlinkd: {conf}:"
        assert r.stderr.startswith(prefix), (text, r.stderr)
        assert word in r.stderr, (text, r.stderr)


def test_check_missing_file(tmp_path):
    r = run("-t", "-c", str(tmp_path / "nope.conf"))
    assert r.returncode == 1
    assert str(tmp_path / "nope.conf") in r.stderr
    assert "No such file" in r.stderr


def test_start_health_and_clean_stop(local_daemon):
    assert local_daemon.get("/v1/health") == (200, '{"status":"ok"}')
    mode = stat.S_IMODE(os.stat(local_daemon.data_dir).st_mode)
    assert mode == 0o750
    local_daemon.wait_log("level=info msg=started")  # after the admin listener too
    log = local_daemon.log_text()
    assert f"carrier_api=http://127.0.0.1:{local_daemon.port}" in log
    assert local_daemon.stop() == 0
    assert "msg=stopped" in local_daemon.log_text()


def test_sigint_stops_cleanly(local_daemon):
    local_daemon.signal(signal.SIGINT)
    assert local_daemon.proc.wait(10) == 0


def test_unknown_path_and_method(local_daemon):
    status, body = local_daemon.get("/v1/nope")
    assert status == 404 and '"error":"not_found"' in body
    status, body = local_daemon.get("/v1/health", method="POST", data=b"x")
    assert status == 405 and '"error":"method_not_allowed"' in body


def test_sighup_bad_config_keeps_running(local_daemon):
    good = open(local_daemon.conf).read()
    write_config(local_daemon.conf, good.replace('log-level = "debug"', 'log-level = "loud"'))
    local_daemon.signal(signal.SIGHUP)
    local_daemon.wait_log("msg=config_reload_failed")
    line = [ln for ln in local_daemon.log_text().splitlines() if "config_reload_failed" in ln][0]
    assert line.startswith("ts=") and "level=error" in line
    assert f"{local_daemon.conf}:3:" in line and "kept=old" in line
    assert local_daemon.get("/v1/health")[0] == 200
    # a good file is taken on the next SIGHUP
    write_config(local_daemon.conf, good.replace('log-level = "debug"', 'log-level = "info"'))
    local_daemon.signal(signal.SIGHUP)
    local_daemon.wait_log("msg=config_reloaded")
    assert local_daemon.get("/v1/health")[0] == 200
    assert local_daemon.stop() == 0


def test_port_in_use_is_a_clear_error(tmp_path, local_daemon):
    conf = write_config(tmp_path / "second.conf",
                        local_config(tmp_path / "d2", local_daemon.port, free_port()))
    r = subprocess.run([BINARY, "-c", str(conf)], capture_output=True, text=True, timeout=20)
    assert r.returncode == 1
    assert f"cannot listen on 127.0.0.1 port {local_daemon.port}" in r.stderr


def test_carriers_are_let_in_after_the_first_admin_is_stored(tmp_path, start_daemon):
    """The carrier API opens only once the first admin is in the store: carriers' messages
    filling a small store first made the start fail ("admin bootstrap: store full")."""
    port = free_port()
    d = start_daemon(local_config(tmp_path / "data", port, free_port()), ready=False)
    deadline = time.time() + 10
    while True:
        assert d.proc.poll() is None, d.log_text()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.time() < deadline, d.log_text()
            time.sleep(0.002)
    text = d.log_text()   # written before the port opened
    assert "msg=admin_bootstrap user=admin" in text, text
    assert d.stop() == 0


def test_tls_listener(tmp_path, start_daemon, tls_files):
    cert, key, ctx = tls_files
    port = free_port()
    text = local_config(tmp_path / "data", port, free_port()).replace(
        "plain-http = true", f'tls-cert = "{cert}"\n  tls-key = "{key}"')
    d = start_daemon(text, base_url=f"https://127.0.0.1:{port}", ssl_context=ctx)
    assert d.get("/v1/health") == (200, '{"status":"ok"}')
    d.wait_log(f"carrier_api=https://127.0.0.1:{port}")
    assert d.stop() == 0


def test_tls_key_not_the_certificates_is_a_clear_error(tmp_path, tls_files):
    """interlinkd -t checks that each TLS listener's key is its certificate's; so does start."""
    cert, _, _ = tls_files
    _, other_key, _, _ = make_cert(tmp_path, 3)
    conf = write_config(tmp_path / "c.conf", local_config(tmp_path / "data", free_port(),
                                                          free_port()).replace(
        "plain-http = true", f'tls-cert = "{cert}"\n  tls-key = "{other_key}"'))
    why = (f"carrier listener: tls-cert {cert}, tls-key {other_key}: "
           "The certificate and the given key do not match.")
    r = run("-t", "-c", str(conf))
    assert (r.returncode, r.stdout, r.stderr) == (1, "", f"interlinkd: {conf}: {why}\n")
    r = run("-c", str(conf))
    assert r.returncode == 1
    assert f"interlinkd: {why}\n" in r.stderr, r.stderr


def test_certificate_renewed_in_place_is_served_after_a_reload(tmp_path, start_daemon):
    """A certificate and key renewed at the same paths are served to new connections after
    a reload, with no restart; open connections go on; a broken pair is refused and the
    served one stays."""
    r = Renewal(tmp_path, "live")
    (_, _, old_der, old_end), (_, _, new_der, new_end) = r.old, r.new
    cert, key, ctx = r.cert, r.key, r.ctx
    port, admin = free_port(), free_port()
    text = local_config(tmp_path / "data", port, admin).replace(
        "plain-http = true", f'tls-cert = "{cert}"\n  tls-key = "{key}"')
    d = start_daemon(text, base_url=f"https://127.0.0.1:{port}", ssl_context=ctx)
    assert served_cert(port, ctx) == old_der
    m = metrics(admin)
    assert m["interlink_tls_cert_expiry_timestamp_seconds{listener=\"carrier\"}"] == old_end
    assert m["interlink_restart_needed"] == 0
    assert not any("listener=\"admin\"" in k for k in m)  # plain HTTP: no certificate
    kept = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=5)
    kept.request("GET", "/v1/health")
    assert kept.getresponse().read() == b'{"status":"ok"}'
    kept_sock = kept.sock

    d.signal(signal.SIGHUP)                       # nothing changed: nothing renewed
    d.wait_log("msg=config_reloaded")
    assert "tls_renewed" not in d.log_text()

    r.install(r.new)                              # renewed in place
    d.signal(signal.SIGHUP)
    d.wait_log("msg=config_reloaded", count=2)
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(new_end))
    assert f"msg=tls_renewed listener=carrier not_after={when}\n" in d.log_text()
    assert "config_needs_restart" not in d.log_text()
    assert served_cert(port, ctx) == new_der
    kept.request("GET", "/v1/health")             # the connection open before goes on
    assert kept.getresponse().read() == b'{"status":"ok"}'
    assert kept.sock is kept_sock and kept.sock.getpeercert(binary_form=True) == old_der
    kept.close()
    m = metrics(admin)
    assert m["interlink_tls_cert_expiry_timestamp_seconds{listener=\"carrier\"}"] == new_end
    assert m["interlink_restart_needed"] == 0

    # a key that is not the certificate's, then a file that is no certificate: refused,
    # naming the files; the renewed certificate stays served
    shutil.copy(r.old[1], key)
    d.signal(signal.SIGHUP)
    d.wait_log("msg=config_reload_failed")
    line = [ln for ln in d.log_text().splitlines() if "config_reload_failed" in ln][-1]
    assert f"carrier listener: tls-cert {cert}, tls-key {key}: " in line, line
    assert "do not match" in line, line
    shutil.copy(r.new[1], key)
    cert.write_text("not a certificate\n")
    d.signal(signal.SIGHUP)
    d.wait_log("msg=config_reload_failed", count=2)
    line = [ln for ln in d.log_text().splitlines() if "config_reload_failed" in ln][-1]
    assert f'reason="carrier listener: tls-cert {cert}: no PEM certificate in it"' in line, line
    assert served_cert(port, ctx) == new_der
    assert metrics(admin)["interlink_tls_cert_expiry_timestamp_seconds{listener=\"carrier\"}"] \
        == new_end
    assert d.log_text().count("msg=tls_renewed") == 1
    assert d.stop() == 0


def metrics(admin_port, timeout=30):
    """{series: value} of the admin listener's /metrics (it starts after the carrier API)."""
    deadline = time.time() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=5) as r:
                text = r.read().decode()
            break
        except (urllib.error.URLError, ConnectionError):
            if time.time() > deadline:
                raise
            time.sleep(0.05)
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line and not line.startswith("#")}


def test_log_lines_are_key_value(local_daemon):
    local_daemon.stop()
    for line in local_daemon.log_text().splitlines():
        assert line.startswith("ts=") and " level=" in line and " msg=" in line, line


def test_make_run_config_is_valid():
    """`make run` starts on packaging/interlink-local.conf: it must pass the check."""
    conf = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "packaging",
                        "interlink-local.conf")
    r = run("-t", "-c", conf)
    assert r.returncode == 0, r.stderr


def limited_config(tmp_path, port, per_ip=8):
    return local_config(tmp_path / "data", port, free_port()).replace(
        "  plain-http = true\n",
        f"  plain-http = true\n  max-connections = 64\n  max-connections-per-ip = {per_ip}\n", 1)


def test_one_client_cannot_take_every_connection(tmp_path, start_daemon):
    """max-connections-per-ip: connections from one address past the limit are closed at
    once, others are served meanwhile, and that address again once its connections close.
    The refusals are logged, at most 10 lines a second."""
    port = free_port()
    d = start_daemon(limited_config(tmp_path, port), base_url=f"http://127.0.0.1:{port}")
    # 8 keep-alive connections, each known to be taken: answered once (one may be refused
    # while the server still counts the connection of start_daemon's readiness check)
    idle, deadline = [], time.time() + 10
    while len(idle) < 8:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            c.request("GET", "/v1/health")
            r = c.getresponse()
            assert (r.status, r.read()) == (200, b'{"status":"ok"}')
            idle.append(c)
        except (ConnectionError, http.client.HTTPException):
            c.close()
            assert time.time() < deadline
            time.sleep(0.05)
    t0 = time.time()
    extra = [socket.create_connection(("127.0.0.1", port)) for _ in range(40)]
    closed = 0
    for s in extra:
        s.settimeout(5)
        try:
            closed += s.recv(1) == b""
        except ConnectionResetError:
            closed += 1
    seconds = time.time() - t0
    assert closed == 40
    other = http.client.HTTPConnection("127.0.0.1", port, timeout=5,
                                       source_address=("127.0.0.2", 0))
    other.request("GET", "/v1/health")
    r = other.getresponse()
    assert (r.status, r.read()) == (200, b'{"status":"ok"}')
    other.close()
    for s in idle + extra:
        s.close()
    deadline = time.time() + 5
    while True:  # the server counts them down as it sees them closed
        try:
            if d.get("/v1/health")[0] == 200:
                break
        except (ConnectionError, urllib.error.URLError):
            pass
        assert time.time() < deadline
        time.sleep(0.05)
    refused = [x for x in d.log_text().splitlines()
               if "msg=http_error" in x and "connection limit" in x]
    assert 1 <= len(refused) <= 10 * (int(seconds) + 2), refused


def test_descriptor_limit_is_raised_for_the_connections(tmp_path):
    """A shell's soft limit of open files (often 1024) is raised as far as the hard one
    allows: both listeners' max-connections and a margin; short of that, a warning."""
    hard_now = resource.getrlimit(resource.RLIMIT_NOFILE)[1]  # not to be raised here
    if hard_now == resource.RLIM_INFINITY:
        hard_now = "unlimited"
    else:
        assert hard_now >= 64 + 256 + 1024
    for hard, raised in ((hard_now, True), (600, False)):
        port = free_port()
        conf = write_config(tmp_path / f"n{hard}.conf", limited_config(tmp_path, port))
        log = tmp_path / f"n{hard}.log"
        with open(log, "wb") as f:
            p = subprocess.Popen(["prlimit", f"--nofile=256:{hard}", BINARY, "-c", str(conf)],
                                 stdout=subprocess.DEVNULL, stderr=f)
        try:
            deadline = time.time() + 10
            while "msg=started" not in log.read_text():
                assert p.poll() is None and time.time() < deadline, log.read_text()
                time.sleep(0.05)
            with open(f"/proc/{p.pid}/limits") as f:
                soft = int(next(x for x in f if x.startswith("Max open files")).split()[3])
            want = 64 + 256 + 1024  # the carrier's and the admin's max-connections, a margin
            if raised:
                assert soft == want and "fd_limit_low" not in log.read_text()
            else:
                assert soft == 600
                assert f"msg=fd_limit_low limit=600 want={want}" in log.read_text()
        finally:
            p.terminate()
            assert p.wait(10) == 0
