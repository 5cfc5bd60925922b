"""Admin listener authentication: the bootstrap admin, login and its rate limit,
session cookies and CSRF tokens, roles, logout, API tokens and users CRUD.
Session idle expiry is unit-tested with a fake clock (tests/unit/test_admin.c);
here only its announced value is checked."""
import http.cookiejar
import json
import re
import shutil
import subprocess
import time
import urllib.request

import pytest

from admin_client import BINARY, TEST_PASSWORD, AdminClient, admin_listener_extra
from conftest import CTL, Renewal, free_port, local_config, served_cert

BOOT_LINE = re.compile(r"interlinkd: created admin user '([^']+)' with password (\S+) "
                       r"\(shown once: log in at (\S+) and change it\)")


def login_opener(base_url, user, password, ssl_context=None):
    """The small helper (AdminClient in admin_client.py does the same and more):
    logs in, returns (urllib opener holding the session cookie, CSRF token)."""
    jar = http.cookiejar.CookieJar()
    handlers = [urllib.request.HTTPCookieProcessor(jar)]
    if ssl_context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=ssl_context))
    opener = urllib.request.build_opener(*handlers)
    req = urllib.request.Request(base_url + "/api/login", method="POST",
                                 data=json.dumps({"user": user, "password": password}).encode(),
                                 headers={"Content-Type": "application/json"})
    with opener.open(req, timeout=30) as r:
        return opener, json.loads(r.read())["csrf"]


def admin_conf(tmp_path, admin_port, listener_extra="", top_extra=""):
    port = free_port()
    text = local_config(tmp_path / "data", port, admin_port, top_extra)
    text = text.replace(f"  port = {admin_port}\n", f"  port = {admin_port}\n{listener_extra}")
    return text, port


@pytest.fixture
def admin_node(tmp_path, start_daemon):
    """A node whose admin is 'admin' with TEST_PASSWORD (from bootstrap-password-hash)."""
    def start(listener_extra="", user="admin", **kw):
        admin_port = free_port()
        text, port = admin_conf(tmp_path, admin_port,
                                admin_listener_extra(user=user) + listener_extra)
        d = start_daemon(text, base_url=f"http://127.0.0.1:{port}", **kw)
        d.admin_url = f"http://127.0.0.1:{admin_port}"
        return d
    return start


@pytest.fixture
def node(admin_node):
    return admin_node()


def client(d, user="admin", password=TEST_PASSWORD):
    c = AdminClient(d.admin_url)
    st, _, body = c.login(user, password)
    assert st == 200, body
    return c


def make_user(c, name, role="viewer", password="viewer-password-1"):
    st, _, body = c.post("/api/users", {"name": name, "password": password, "role": role})
    assert st == 201, body
    return password


# ------------------------------------------------------------- bootstrap

def stdout_of(d, needle, timeout=5):
    """The daemon's stdout once it holds needle (stdout and the log are apart)."""
    deadline = time.time() + timeout
    while True:
        out = d.stdout_text()
        if needle in out or time.time() > deadline:
            return out
        time.sleep(0.05)


def test_bootstrap_password_printed_once(tmp_path, start_daemon):
    admin_port = free_port()
    text, port = admin_conf(tmp_path, admin_port)
    d = start_daemon(text, base_url=f"http://127.0.0.1:{port}")
    out = stdout_of(d, "created admin user")
    m = BOOT_LINE.search(out)
    assert m, out + d.log_text()
    user, pw, where = m.groups()
    assert user == "admin"
    assert where == f"http://127.0.0.1:{admin_port}"
    assert re.fullmatch(r"[A-Za-z0-9_-]{24}", pw)
    assert out.count(pw) == 1 and len(out.splitlines()) == 1
    d.wait_log("msg=admin_bootstrap user=admin")
    assert pw not in d.log_text()  # stdout only, never the log
    c = AdminClient(f"http://127.0.0.1:{admin_port}")
    assert c.login("admin", pw)[0] == 200
    assert d.stop() == 0
    assert pw not in d.log_text()

    d2 = start_daemon(text, name="again.conf", base_url=f"http://127.0.0.1:{port}")
    time.sleep(0.2)
    assert "created admin user" not in d2.stdout_text()
    assert "admin_bootstrap" not in d2.log_text()
    assert AdminClient(f"http://127.0.0.1:{admin_port}").login("admin", pw)[0] == 200


def test_bootstrap_from_hash_and_user(admin_node):
    d = admin_node(user="root")
    assert "created admin user" not in d.stdout_text()
    d.wait_log("msg=admin_bootstrap user=root")
    assert AdminClient(d.admin_url).login("admin", TEST_PASSWORD)[0] == 401
    c = client(d, "root")
    assert c.get("/api/users")[2] == [{"name": "root", "role": "admin"}]


# ------------------------------------------------------------------ login

def test_login_ok_and_session(node):
    c = AdminClient(node.admin_url)
    st, h, body = c.login("admin", TEST_PASSWORD)
    assert st == 200
    assert body["user"] == "admin" and body["role"] == "admin"
    assert re.fullmatch(r"[0-9a-f]{64}", body["csrf"])
    assert h["Cache-Control"] == "no-store"
    st, _, s = c.get("/api/session")
    assert st == 200
    assert s == {"user": "admin", "role": "admin", "csrf": body["csrf"], "expires_in": 1800}
    log = node.log_text()
    assert TEST_PASSWORD not in log
    assert body["csrf"] not in log
    cookie = next(iter(c.jar)).value
    assert cookie not in log


def test_cookie_flags_plain_http(node):
    st, h, _ = AdminClient(node.admin_url).login("admin", TEST_PASSWORD)
    assert st == 200
    cookie = h["Set-Cookie"]
    m = re.fullmatch(r"interlink_session=([0-9a-f]{64}); Path=/; HttpOnly; SameSite=Strict",
                     cookie)
    assert m, cookie
    assert "Secure" not in cookie


def test_cookie_secure_under_tls(admin_node, tls_files):
    cert, key, ctx = tls_files
    d = admin_node(f'  tls-cert = "{cert}"\n  tls-key = "{key}"\n')
    url = d.admin_url.replace("http://", "https://")
    c = AdminClient(url, ssl_context=ctx)
    st, h, _ = c.login("admin", TEST_PASSWORD)
    assert st == 200
    assert h["Set-Cookie"].endswith("; HttpOnly; SameSite=Strict; Secure")
    assert c.get("/api/session")[0] == 200
    st, h, _ = c.logout()
    assert st == 204 and "Max-Age=0" in h["Set-Cookie"]
    assert h["Set-Cookie"].endswith("; Secure")
    opener, csrf = login_opener(url, "admin", TEST_PASSWORD, ssl_context=ctx)
    assert re.fullmatch(r"[0-9a-f]{64}", csrf)
    with opener.open(url + "/api/session", timeout=10) as r:
        assert json.loads(r.read())["csrf"] == csrf


def test_admin_certificate_renewed_over_the_api(admin_node, tmp_path):
    """The admin listener's certificate, renewed in place, is served after a reload asked
    for over the admin API; a key that is not the certificate's is refused with 400."""
    r = Renewal(tmp_path, "admin")
    (_, _, old_der, old_end), (_, _, new_der, new_end) = r.old, r.new
    cert, key, ctx = r.cert, r.key, r.ctx
    d = admin_node(f'  tls-cert = "{cert}"\n  tls-key = "{key}"\n')
    url = d.admin_url.replace("http://", "https://")
    port = int(url.rsplit(":", 1)[1])
    c = AdminClient(url, ssl_context=ctx)
    assert c.login("admin", TEST_PASSWORD)[0] == 200
    iso = lambda s: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(s))  # noqa: E731
    assert c.get("/api/status")[2]["certificates"] == {"carrier": None, "admin": iso(old_end)}
    assert served_cert(port, ctx) == old_der

    r.install(r.new)
    assert c.post("/api/reload")[::2] == (200, {"reloaded": True})
    assert served_cert(port, ctx) == new_der
    st, _, body = c.get("/api/status")
    assert (st, body["certificates"], body["restart_needed"]) == \
        (200, {"carrier": None, "admin": iso(new_end)}, False)
    # interlinkctl over https, trusting both certificates: the renewed one's end, 5 days on
    st, _, tok = c.post("/api/tokens", {"name": "ctl", "role": "viewer"})
    assert st == 201, tok
    bundle = tmp_path / "both.pem"
    bundle.write_text(r.old[0].read_text() + r.new[0].read_text())
    out = subprocess.run([CTL, "--url", url, "--token", tok["token"], "--cacert", str(bundle),
                          "status"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    days = (new_end - int(time.time())) // 86400
    assert re.search(rf"^certificates +carrier plain HTTP, admin ends "
                     rf"{iso(new_end)[:10]} \({days} d\)$", out.stdout, re.M), out.stdout

    shutil.copy(r.old[1], key)
    st, _, body = c.post("/api/reload")
    assert (st, body["error"]) == (400, "config"), body
    assert body["reason"] == (f"admin listener: tls-cert {cert}, tls-key {key}: "
                              "The certificate and the given key do not match."), body
    assert served_cert(port, ctx) == new_der


@pytest.mark.parametrize("user,password", [
    ("admin", "wrong password!"),
    ("nobody", TEST_PASSWORD),
    ("bad name", TEST_PASSWORD),
    ("admin", ""),
])
def test_login_refused(node, user, password):
    st, h, body = AdminClient(node.admin_url).login(user, password)
    assert st == 401
    assert body["error"] == "bad_login"
    assert "Set-Cookie" not in h


def test_login_unknown_user_takes_as_long(node):
    c = AdminClient(node.admin_url)
    t0 = time.monotonic()
    assert c.login("admin", "wrong password!")[0] == 401
    known = time.monotonic() - t0
    t0 = time.monotonic()
    assert c.login("nobody", "wrong password!")[0] == 401
    unknown = time.monotonic() - t0
    assert unknown > known / 3, (known, unknown)


@pytest.mark.parametrize("body,status,word", [
    ({"user": "admin", "password": TEST_PASSWORD, "remember": True}, 400,
     '"field": "remember", "reason": "unknown fields: remember"'),
    ({"user": "admin"}, 400, "password"),
    ({"user": 1, "password": TEST_PASSWORD}, 400, "user"),
    ([1, 2], 400, "object"),
    ("not json", 400, "object"),
])
def test_login_strict_json(node, body, status, word):
    st, _, b = AdminClient(node.admin_url).post("/api/login", body)
    assert st == status
    assert word in json.dumps(b)


def test_login_rate_limit(node):
    c = AdminClient(node.admin_url)
    for _ in range(5):
        assert c.login("admin", "wrong password!")[0] == 401
    st, h, body = c.login("admin", "wrong password!")
    assert st == 429
    assert body["error"] == "rate_limited"
    assert 1 <= int(h["Retry-After"]) <= 60
    st, h, _ = c.login("admin", TEST_PASSWORD)  # the right password is refused too
    assert st == 429 and int(h["Retry-After"]) >= 1
    assert "admin_login_limited" in node.log_text()


def test_success_resets_the_failure_count(node):
    c = AdminClient(node.admin_url)
    for _ in range(4):
        assert c.login("admin", "wrong password!")[0] == 401
    assert c.login("admin", TEST_PASSWORD)[0] == 200
    for _ in range(4):
        assert c.login("admin", "wrong password!")[0] == 401
    assert c.login("admin", TEST_PASSWORD)[0] == 200


# ------------------------------------------------------- sessions, CSRF

@pytest.mark.parametrize("method,path", [
    ("GET", "/api/session"), ("GET", "/api/users"), ("GET", "/api/status"),
    ("GET", "/api/tokens"), ("POST", "/api/logout"),
])
def test_no_session_401(node, method, path):
    st, h, body = AdminClient(node.admin_url).request(method, path)
    assert st == 401, body
    assert body["error"] == "unauthorized"


def test_bad_cookie_401(node):
    for v in ["0" * 64, "zz", "a" * 200]:
        st, _, _ = AdminClient(node.admin_url).get(
            "/api/session", headers={"Cookie": "interlink_session=" + v})
        assert st == 401


def test_csrf_required(node):
    c = client(node)
    body = {"name": "ann", "password": "long-enough-pw", "role": "viewer"}
    csrf = c.csrf
    c.csrf = None
    st, _, b = c.post("/api/users", body)
    assert st == 403 and b["error"] == "csrf"
    st, _, b = c.post("/api/users", body, headers={"X-CSRF-Token": "0" * 64})
    assert st == 403 and b["error"] == "csrf"
    st, _, b = c.post("/api/users", body, headers={"X-CSRF-Token": csrf[:-1]})
    assert st == 403
    c.csrf = csrf
    assert c.post("/api/users", body)[0] == 201
    # another session's token does not fit this session
    other = client(node)
    assert other.csrf != csrf
    st, _, _ = c.delete("/api/users/ann", headers={"X-CSRF-Token": other.csrf})
    assert st == 403


def test_logout(node):
    c = client(node)
    other = client(node)
    st, h, _ = c.logout()
    assert st == 204
    assert "Max-Age=0" in h["Set-Cookie"]
    assert h["Set-Cookie"].startswith("interlink_session=;")
    st, _, _ = c.get("/api/session")
    assert st == 401
    assert other.get("/api/session")[0] == 200  # only that session ended


def test_logout_needs_csrf(node):
    c = client(node)
    csrf, c.csrf = c.csrf, None
    assert c.logout()[0] == 403
    c.csrf = csrf
    assert c.get("/api/session")[0] == 200


def test_session_idle_setting(admin_node):
    d = admin_node('  session-idle = "1m"\n')
    st, _, s = client(d).get("/api/session")
    assert st == 200 and s["expires_in"] == 60


# ------------------------------------------------------------------ roles

def test_viewer_cannot_write(node):
    a = client(node)
    pw = make_user(a, "vera", "viewer")
    v = client(node, "vera", pw)
    st, _, s = v.get("/api/session")
    assert s["role"] == "viewer"
    assert v.get("/api/users")[0] == 200
    st, _, b = v.post("/api/users", {"name": "x1", "password": "long-enough-pw"})
    assert st == 403 and b["error"] == "forbidden"
    assert v.post("/api/tokens", {"name": "t"})[0] == 403
    assert v.delete("/api/users/admin")[0] == 403
    assert v.put("/api/users/admin", {"password": "another-password"})[0] == 403
    assert v.put("/api/users/vera", {"role": "admin"})[0] == 403
    # but a viewer may change their own password, and keeps the session
    assert v.put("/api/users/vera", {"password": "new-viewer-password"})[0] == 200
    assert v.get("/api/session")[0] == 200
    assert AdminClient(node.admin_url).login("vera", pw)[0] == 401
    assert AdminClient(node.admin_url).login("vera", "new-viewer-password")[0] == 200


def test_role_change_applies_to_open_sessions(node):
    a = client(node)
    pw = make_user(a, "rita", "viewer")
    r = client(node, "rita", pw)
    st, _, b = a.put("/api/users/rita", {"role": "admin"})
    assert st == 200 and b == {"name": "rita", "role": "admin"}
    assert r.get("/api/session")[2]["role"] == "admin"
    assert r.post("/api/users", {"name": "y1", "password": "long-enough-pw"})[0] == 201


# ------------------------------------------------------------ users CRUD

def test_users_crud(node):
    a = client(node)
    st, _, users = a.get("/api/users")
    assert st == 200 and users == [{"name": "admin", "role": "admin"}]
    st, _, b = a.post("/api/users", {"name": "bob.b_1-x", "password": "bob-password-12",
                                     "role": "admin"})
    assert st == 201 and b == {"name": "bob.b_1-x", "role": "admin"}
    st, _, b = a.post("/api/users", {"name": "bob.b_1-x", "password": "bob-password-12"})
    assert st == 409 and b["error"] == "exists"
    st, _, b = a.post("/api/users", {"name": "carl", "password": "bob-password-12"})
    assert st == 201 and b["role"] == "viewer"
    st, _, users = a.get("/api/users")
    assert users == [{"name": "admin", "role": "admin"}, {"name": "bob.b_1-x", "role": "admin"},
                     {"name": "carl", "role": "viewer"}]
    assert TEST_PASSWORD not in json.dumps(users)
    # another admin changes bob's password: bob's sessions end
    bob = client(node, "bob.b_1-x", "bob-password-12")
    assert a.put("/api/users/bob.b_1-x", {"password": "bob-password-34"})[0] == 200
    assert bob.get("/api/session")[0] == 401
    bob = client(node, "bob.b_1-x", "bob-password-34")
    st, _, b = a.put("/api/users/carl", {"role": "admin", "password": "carl-password-1"})
    assert st == 200 and b == {"name": "carl", "role": "admin"}
    assert a.put("/api/users/nobody", {"role": "admin"})[0] == 404
    assert a.delete("/api/users/carl")[0] == 204
    assert a.delete("/api/users/carl")[0] == 404
    assert a.delete("/api/users/bob.b_1-x")[0] == 204
    assert bob.get("/api/session")[0] == 401  # a deleted user's sessions end
    assert a.get("/api/users")[2] == [{"name": "admin", "role": "admin"}]
    log = node.log_text()
    for action in ["user_add", "user_change", "user_del"]:
        assert f"msg=admin_change user=admin action={action} object=" in log
    for secret in ["bob-password-12", "bob-password-34", "carl-password-1"]:
        assert secret not in log


@pytest.mark.parametrize("body,field", [
    ({"name": "dan", "password": "short"}, "password"),
    ({"name": "dan dan", "password": "long-enough-pw"}, "name"),
    ({"name": "d" * 65, "password": "long-enough-pw"}, "name"),
    ({"name": "", "password": "long-enough-pw"}, "name"),
    ({"name": "dan", "password": "long-enough-pw", "role": "root"}, "role"),
    ({"name": "dan", "password": "long-enough-pw", "admin": True}, "admin"),
    ({"password": "long-enough-pw"}, "name"),
    ({"name": "dan", "password": 123456789012345}, "password"),
])
def test_users_create_refused(node, body, field):
    st, _, b = client(node).post("/api/users", body)
    assert st == 400
    assert field in json.dumps(b)


def test_last_admin_protected(node):
    a = client(node)
    st, _, b = a.delete("/api/users/admin")
    assert st == 409 and b["error"] == "last_admin"
    st, _, b = a.put("/api/users/admin", {"role": "viewer"})
    assert st == 409
    make_user(a, "second", "admin")
    assert a.put("/api/users/admin", {"role": "viewer"})[0] == 200
    assert a.get("/api/session")[2]["role"] == "viewer"
    s = client(node, "second", "viewer-password-1")
    assert s.delete("/api/users/second")[0] == 409
    assert s.delete("/api/users/admin")[0] == 204
    assert a.get("/api/session")[0] == 401


def test_put_user_needs_something(node):
    a = client(node)
    st, _, b = a.put("/api/users/admin", {})
    assert st == 400
    st, _, b = a.put("/api/users/admin", {"password": "short"})
    assert st == 400 and b["field"] == "password"
    st, _, b = a.put("/api/users/admin", {"name": "x"})
    assert st == 400 and "name" in b["reason"]


# ------------------------------------------------------------- API tokens

def test_api_token_lifecycle(node):
    a = client(node)
    st, _, t = a.post("/api/tokens", {"name": "ci-bot", "role": "admin"})
    assert st == 201
    assert t["name"] == "ci-bot" and t["role"] == "admin"
    assert re.fullmatch(r"il_[0-9a-f]{64}", t["token"])
    assert a.post("/api/tokens", {"name": "ci-bot"})[0] == 409
    st, _, v = a.post("/api/tokens", {"name": "grafana"})
    assert st == 201 and v["role"] == "viewer"

    st, _, lst = a.get("/api/tokens")
    assert st == 200
    assert [(x["name"], x["role"]) for x in lst] in (
        [("ci-bot", "admin"), ("grafana", "viewer")], [("grafana", "viewer"), ("ci-bot", "admin")])
    assert all(isinstance(x["created"], int) and x["created"] > 0 for x in lst)
    assert t["token"] not in json.dumps(lst)

    bot = AdminClient(node.admin_url, token=t["token"])
    st, _, s = bot.get("/api/session")
    assert st == 200 and s["user"] == "ci-bot" and s["role"] == "admin"
    # no CSRF token needed for an API token
    assert bot.post("/api/users", {"name": "from-bot", "password": "long-enough-pw"})[0] == 201
    viewer = AdminClient(node.admin_url, token=v["token"])
    assert viewer.get("/api/users")[0] == 200
    assert viewer.post("/api/users", {"name": "nope", "password": "long-enough-pw"})[0] == 403
    # a token named like a user cannot change that user's password
    st, _, adm = a.post("/api/tokens", {"name": "admin"})
    assert st == 201
    fake = AdminClient(node.admin_url, token=adm["token"])
    assert fake.put("/api/users/admin", {"password": "hijacked-password"})[0] == 403

    assert a.delete("/api/tokens/ci-bot")[0] == 204
    assert a.delete("/api/tokens/ci-bot")[0] == 404
    st, _, b = bot.get("/api/session")
    assert st == 401
    for bad in ["il_" + "0" * 64, "nonsense", ""]:
        assert AdminClient(node.admin_url, token=bad).get("/api/session")[0] == 401
    log = node.log_text()
    assert t["token"] not in log and v["token"] not in log
    assert "action=token_add object=ci-bot" in log
    assert "action=token_del object=ci-bot" in log


@pytest.mark.parametrize("body", [
    {"name": "bad name"}, {"name": "t", "role": "owner"}, {"role": "admin"},
    {"name": "t", "secret": "x"},
])
def test_api_token_create_refused(node, body):
    assert client(node).post("/api/tokens", body)[0] == 400


# ------------------------------------------------------- --hash-password

def test_hash_password_cli():
    out = subprocess.run([BINARY, "--hash-password"], input="a good long password\n",
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0
    assert re.fullmatch(r"pbkdf2-sha256\$200000\$[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=\n",
                        out.stdout)
    assert "a good long password" not in out.stdout + out.stderr
    again = subprocess.run([BINARY, "--hash-password"], input="a good long password\n",
                           capture_output=True, text=True, timeout=30)
    assert again.stdout != out.stdout  # a new salt each time
    short = subprocess.run([BINARY, "--hash-password"], input="short\n",
                           capture_output=True, text=True, timeout=30)
    assert short.returncode == 1 and "12 to 1024" in short.stderr
    empty = subprocess.run([BINARY, "--hash-password"], input="",
                           capture_output=True, text=True, timeout=30)
    assert empty.returncode == 1
