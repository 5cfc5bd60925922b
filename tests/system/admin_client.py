"""A tiny admin API client for system tests: logs in once, then sends the session
cookie on every request and the X-CSRF-Token header on state-changing ones.

    c = AdminClient("http://127.0.0.1:8081")
    c.login("admin", password)            # -> (status, headers, body)
    status, headers, body = c.get("/api/users")
    c.post("/api/users", {"name": "ann", "password": "x" * 12, "role": "viewer"})

Or with an API token instead of a session: AdminClient(url, token="il_...").
Every call returns (status, headers, parsed JSON or text); it never raises on
an HTTP error status.
"""
import http.cookiejar
import json
import os
import subprocess
import time
import urllib.error
import urllib.request

from conftest import exchange

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("INTERLINKD", os.path.join(ROOT, "build", "interlinkd"))

TEST_PASSWORD = "correct horse battery staple"


def hash_password(password, binary=None):
    """The admin-listener bootstrap-password-hash for a password
    (runs `interlinkd --hash-password`)."""
    out = subprocess.run([binary or BINARY, "--hash-password"], input=password + "\n",
                         capture_output=True, text=True, check=True, timeout=30)
    return out.stdout.strip()


_HASH_CACHE = {}


def admin_listener_extra(password=TEST_PASSWORD, user="admin"):
    """Config lines for the admin-listener section that make `user` with a known
    password (cached: hashing takes a moment)."""
    if password not in _HASH_CACHE:
        _HASH_CACHE[password] = hash_password(password)
    return (f'  bootstrap-user = "{user}"\n'
            f'  bootstrap-password-hash = "{_HASH_CACHE[password]}"\n')


class AdminClient:
    def __init__(self, base_url, token=None, ssl_context=None, timeout=30):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.csrf = None
        self.jar = http.cookiejar.CookieJar()
        handlers = [urllib.request.HTTPCookieProcessor(self.jar)]
        if ssl_context is not None:
            handlers.append(urllib.request.HTTPSHandler(context=ssl_context))
        self.opener = urllib.request.build_opener(*handlers)
        self.timeout = timeout

    def login(self, user, password):
        """POST /api/login; on 200 keeps the cookie and the CSRF token."""
        r = self.request("POST", "/api/login", {"user": user, "password": password})
        if r[0] == 200 and isinstance(r[2], dict):
            self.csrf = r[2].get("csrf")
        return r

    def logout(self):
        return self.request("POST", "/api/logout")

    def request(self, method, path, body=None, headers=None):
        hdrs = dict(headers or {})
        data = body
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
        elif isinstance(body, str):
            data = body.encode()
        if data is not None:
            hdrs.setdefault("Content-Type", "application/json")
        if self.token:
            hdrs.setdefault("Authorization", "Bearer " + self.token)
        if self.csrf and method not in ("GET", "HEAD"):
            hdrs.setdefault("X-CSRF-Token", self.csrf)
        req = urllib.request.Request(self.base_url + path, method=method, data=data,
                                     headers=hdrs)
        return exchange(self.opener.open, req, timeout=self.timeout)

    def get(self, path, headers=None):
        return self.request("GET", path, headers=headers)

    def post(self, path, body=None, headers=None):
        return self.request("POST", path, body, headers)

    def put(self, path, body=None, headers=None):
        return self.request("PUT", path, body, headers)

    def delete(self, path, headers=None):
        return self.request("DELETE", path, headers=headers)


def wait_admin(url, daemon, timeout=10):
    """Waits for the admin listener (it starts just after the carrier API)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if daemon.proc.poll() is not None:
            raise AssertionError("interlinkd exited:\n" + daemon.log_text())
        try:
            urllib.request.urlopen(url + "/api/session", timeout=2)
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("no admin listener:\n" + daemon.log_text())


def admin_session(url, daemon):
    """An AdminClient logged in as the first admin, once the listener at url is up."""
    wait_admin(url, daemon)
    client = AdminClient(url)
    status, _, body = client.login("admin", TEST_PASSWORD)
    assert status == 200, body
    return client
