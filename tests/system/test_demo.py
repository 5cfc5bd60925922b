"""`make demo` keeps working: packaging/demo.py runs to the end against the binaries
under test ($INTERLINKD, $INTERLINKCTL) and prints its key lines."""
import os
import re
import subprocess
import sys

from conftest import BINARY, ROOT

DEMO = os.path.join(ROOT, "packaging", "demo.py")


def test_demo_runs_and_shows_every_step(tmp_path):
    env = dict(os.environ, INTERLINKD=BINARY)
    ctl = os.environ.get("INTERLINKCTL", os.path.join(os.path.dirname(BINARY), "interlinkctl"))
    if os.access(ctl, os.X_OK):
        env["INTERLINKCTL"] = ctl
    out = subprocess.run([sys.executable, DEMO, "--exit", "--dir", str(tmp_path / "demo")],
                         stdin=subprocess.DEVNULL, capture_output=True, text=True,
                         env=env, timeout=120)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    assert "demo failed" not in text, text
    for n in range(1, 8):
        assert f"\n[{n}] " in text, text

    def section(n):
        return text.split(f"\n[{n}] ")[1].split(f"\n[{n + 1}] ")[0]

    # 3: both ways, delivered, every sender gets its report
    s3 = section(3)
    assert re.search(r"line-demo\s+<- message \S+ \+821012345678 -> bob@line\.example", s3), s3
    assert re.search(r"kakao-demo\s+<- message \S+ bob@line\.example -> \+821012345678", s3), s3
    assert len(re.findall(r"<- report: \S+ to \S+ delivered", s3)) == 3, s3
    assert s3.count("state delivered") == 3, s3
    # 5: line-demo down, its messages queued at the relay
    s5 = section(5)
    assert s5.count("state queued") == 2, s5
    assert "Couldn't connect" in s5, s5
    # a retry may hold one of the two at the moment of a snapshot: queued + delivering
    m = re.search(r"/api/status line-demo\s+queued (\d+), delivering (\d+), .*DOWN", s5)
    assert m and int(m[1]) + int(m[2]) == 2, s5
    assert "<- message" not in s5, s5
    if "INTERLINKCTL" in env:   # interlinkctl status: QUEUED and DELIVERING columns
        m = re.search(r"line-demo\s+carrier\s+(\d+)\s+(\d+)\s", s5)
        assert m and int(m[1]) + int(m[2]) == 2, s5
    # 6: delivered after the restart, with their reports
    s6 = section(6)
    assert s6.count("line-demo   <- message") == 2, s6
    assert len(re.findall(r"kakao-demo\s+<- report: \S+ to \S+@line\.example delivered", s6)) == 2, s6
    assert s6.count("state delivered") == 2, s6
    assert "delivered after restart" in s6, s6
    # 7: console and login
    assert re.search(r"console  http://127\.0\.0\.1:\d+/", text), text
    assert "login    user admin, password " in text, text
    assert "Demo finished" in text, text
