"""The live risk map served by ecowarnd at / (dashboard/DASHBOARD.md): its API over plain
sockets, and the page itself in a real headless Chromium driven through chromedriver's
WebDriver protocol (plain HTTP, no client library): it loads the state, sees an alert arrive
live, resumes after its daemon restarts without missing what was written meanwhile,
acknowledges from the page, shows hostile input as text, and leaves a screenshot in
build*/artifacts/. Without Chromium the browser test skips with its reason (EW_REQUIRE_BROWSER=1,
as in CI, makes that a failure)."""
import base64
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import BIN, free_port, hourly_packet, outlet, wait_for
from conftest import http_request as request

TOKEN = "duty-room-token-7"
HOSTILE = '<img src=x onerror="window.__pwned=1">&amp;热电'


def hour(h, day=1):
    return f"202410{day:02d}{h:02d}0000"


def sse(port, path, headers=None, want=1, timeout=10):
    """Reads a Server-Sent Events stream until want events came; returns [(id, data)]."""
    lines = [f"GET {path} HTTP/1.1", "Host: x"] + [f"{k}: {v}" for k, v in
                                                  (headers or {}).items()]
    events, buf = [], b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        deadline = time.monotonic() + timeout
        while len(events) < want and time.monotonic() < deadline:
            buf += s.recv(65536)
            for block in buf.decode(errors="replace").split("\n\n"):
                fields = dict(line.split(": ", 1) for line in block.splitlines()
                              if line.startswith(("id: ", "data: ")))
                if "data" in fields and (fields.get("id"), fields["data"]) not in events:
                    events.append((fields.get("id"), fields["data"]))
    return events


@pytest.fixture(autouse=True)
def token_in_environment(monkeypatch):
    monkeypatch.setenv("EW_TEST_TOKEN", TOKEN)


def register(kafka, daemon, mn, **more):
    name = f'ecowarn_messages_total{{topic="{kafka.ent}"}}'
    before = daemon.metrics().get(name, 0)  # read before: the daemon may be quicker than us
    kafka.produce([(kafka.ent, outlet(mn, **more))])
    daemon.wait_consumed(kafka.ent, before + 1)


@pytest.mark.parametrize("kafka", ["embedded"], indirect=True)
def test_dashboard_api(kafka, redis, daemons):
    d = daemons(kafka, extra={"http.token": "${EW_TEST_TOKEN}"})  # a secret from the environment
    d.wait_healthy()
    register(kafka, d, "MN-DB1", name="诸暨印染", region="330681", lon=120.23, lat=29.71)
    status, head, page = request(d.http, "GET", "/")
    assert status == 200 and "text/html" in head and "dashboard.js" in page
    assert "Content-Security-Policy: default-src 'none'; script-src 'self'" in head
    for asset, kind in (("/dashboard.js", "text/javascript"), ("/dashboard.css", "text/css")):
        status, head, _ = request(d.http, "GET", asset)
        assert status == 200 and kind in head
    assert request(d.http, "GET", "/nope")[0] == 404
    kafka.produce([(kafka.hj, hourly_packet("MN-DB1", hour(10), 50))])
    d.wait_consumed(kafka.hj, 1)
    d.wait_settled()
    events = redis.stream("ecowarn:events")
    status, _, body = request(d.http, "GET", "/api/state")
    state = json.loads(body)
    assert status == 200 and state["last_id"] == events[-1][0]
    assert state["ack"] is True
    active = [json.loads(a) for a in state["active"]]
    assert any(a["mn"] == "MN-DB1" and a["event"] == "firing" for a in active)
    site = next(s for s in state["sites"] if s["mn"] == "MN-DB1")
    assert site == {"mn": "MN-DB1", "enterprise_id": "E1", "enterprise_name": "诸暨印染",
                    "outlet_id": "E1-DA001", "region": "330681", "lon": 120.23, "lat": 29.71}
    assert json.loads(request(d.http, "GET", "/api/state?region=3399")[2])["sites"] == []
    # the stream after an id (the query's, or Last-Event-ID's, which wins), every one in order
    got = sse(d.http, f"/api/events?since={events[0][0]}", want=len(events) - 1)
    assert [i for i, _ in got] == [i for i, _ in events[1:]]
    assert [json.loads(x)["id"] for _, x in got] == [json.loads(f["json"])["id"]
                                                      for _, f in events[1:]]
    got = sse(d.http, "/api/events?since=0-0", {"Last-Event-ID": events[-2][0]}, want=1)
    assert [i for i, _ in got] == [events[-1][0]]
    assert request(d.http, "GET", "/api/events?since=yesterday")[0] == 400
    # acknowledging: the token, JSON, then it is on ecowarn:acks and becomes an event
    fp = json.loads(events[-1][1]["json"])["fingerprint"]
    body = json.dumps({"alert_id": fp, "by": "王值班", "note": "已电话联系"})
    assert request(d.http, "POST", "/api/ack", {"Content-Type": "application/json"},
                   body)[0] == 401
    assert request(d.http, "POST", "/api/ack", {"Content-Type": "application/json",
                                                "Authorization": "Bearer wrong"}, body)[0] == 401
    auth = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    assert request(d.http, "POST", "/api/ack", auth, "{}")[0] == 400
    assert request(d.http, "POST", "/api/ack", dict(auth, **{"Content-Type": "text/plain"}),
                   body)[0] == 415
    assert request(d.http, "GET", "/api/ack")[0] == 405
    assert request(d.http, "POST", "/api/ack", auth, body)[0] == 202
    wait_for("the acknowledgement to become an event",
             lambda: any(e["event"] == "acknowledged" and e["fingerprint"] == fp
                         for e in redis.events()))
    ack = [e for e in redis.events() if e["event"] == "acknowledged"][-1]
    assert "王值班" in json.dumps(ack["evidence"], ensure_ascii=False), ack
    assert TOKEN not in d.logtext() and TOKEN not in d.get("/metrics")[1]
    assert d.stop() == 0


@pytest.mark.parametrize("kafka", ["embedded"], indirect=True)
def test_read_only_without_a_token(kafka, daemons):
    d = daemons(kafka)
    d.wait_healthy()
    assert json.loads(request(d.http, "GET", "/api/state")[2])["ack"] is False
    status, _, body = request(d.http, "POST", "/api/ack", {"Content-Type": "application/json",
                                                           "Authorization": "Bearer x"},
                              '{"alert_id": "x"}')
    assert status == 403 and "read-only" in body
    assert d.stop() == 0


# ---- a real browser ----

class Browser:
    """Headless Chromium through chromedriver (the W3C WebDriver protocol over HTTP)."""

    def __init__(self, tmp):
        self.port = free_port()
        self.log = open(os.path.join(tmp, "chromedriver.log"), "w")
        self.proc = subprocess.Popen([shutil.which("chromedriver"), f"--port={self.port}"],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        wait_for("chromedriver to answer", lambda: self._status(), timeout=30)
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": shutil.which("chromium"),
                                   "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                                            "--disable-dev-shm-usage", "--window-size=1400,1100",
                                            f"--user-data-dir={tmp}/chromium"]}}}}
        self.session = self._call("POST", "/session", caps)["sessionId"]

    def _status(self):
        try:
            return self._call("GET", "/status")["ready"]
        except OSError:
            return False

    def _call(self, method, path, body=None):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.loads(r.read())["value"]
        except urllib.error.HTTPError as e:
            raise AssertionError(f"WebDriver {method} {path}: {e.read()[:500]}") from None

    def do(self, method, path, body=None):
        return self._call(method, f"/session/{self.session}{path}", body)

    def go(self, url):
        self.do("POST", "/url", {"url": url})

    def js(self, script, *args):
        return self.do("POST", "/execute/sync", {"script": script, "args": list(args)})

    def find(self, css):
        found = self.do("POST", "/element", {"using": "css selector", "value": css})
        return next(iter(found.values()))

    def screenshot(self, path):
        with open(path, "wb") as f:
            f.write(base64.b64decode(self.do("GET", "/screenshot")))

    def close(self):
        try:
            self.do("DELETE", "")
        finally:
            self.proc.terminate()
            self.proc.wait(10)
            self.log.close()


@pytest.fixture
def browser(tmp):
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        msg = "no Chromium: apt-get install chromium chromium-driver (scripts/deps.sh test)"
        if os.environ.get("EW_REQUIRE_BROWSER") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    b = Browser(tmp)
    yield b
    b.close()


ROWS = """return [...document.querySelectorAll('#alerts tr.alert')].map(
    tr => [tr.dataset.fingerprint, tr.dataset.event, tr.cells[2].textContent, tr.cells[3].textContent])"""


@pytest.mark.parametrize("kafka", ["embedded"], indirect=True)
def test_dashboard_in_a_real_browser(kafka, redis, redis_server, daemons, tmp, browser):
    port = free_port()
    extra = {"http.token": TOKEN}
    d = daemons(kafka, extra=extra, http_port=port)
    d.wait_healthy()
    register(kafka, d, "MN-WEB1", name=HOSTILE, region="330602", lon=120.58, lat=30.01)
    register(kafka, d, "MN-WEB2", enterprise="E2", name="上虞化工", region="330604",
             lon=120.87, lat=30.03)
    # one alert before the page loads: from the state
    kafka.produce([(kafka.hj, hourly_packet("MN-WEB2", hour(9), 60))])
    d.wait_consumed(kafka.hj, 1)
    d.wait_settled()
    browser.go(f"http://127.0.0.1:{port}/")
    wait_for("the page to go live",
             lambda: browser.js("return document.getElementById('status').dataset.state")
             == "live", timeout=20)
    assert any(r[3] == "MN-WEB2" for r in browser.js(ROWS))
    assert browser.js("return document.querySelectorAll('#map circle.site').length") == 2
    # an alert arrives live: a row, the site's colour, the region's index, the feed
    kafka.produce([(kafka.hj, hourly_packet("MN-WEB1", hour(10), 50))])
    wait_for("the alert to appear on the page",
             lambda: any(r[3] == "MN-WEB1" for r in browser.js(ROWS)), timeout=20)
    row = next(r for r in browser.js(ROWS) if r[3] == "MN-WEB1")
    assert row[2] == HOSTILE  # shown as text: the name's markup was not run
    assert browser.js("return window.__pwned === undefined")
    assert browser.js("return document.querySelectorAll('#alerts img').length") == 0
    colour = browser.js("return document.querySelector('#map circle[data-mn=\"MN-WEB1\"]')"
                        ".dataset.colour")
    assert colour in ("red", "orange", "yellow", "blue")
    assert browser.js("return document.querySelector('#regions tr[data-region=\"330602\"]')"
                      " !== null")
    # the daemon stops: the page reconnects; what is written meanwhile (by another instance)
    # reaches it once a daemon answers again, through Last-Event-ID
    assert d.stop() == 0
    wait_for("the page to notice", lambda: browser.js(
        "return document.getElementById('status').dataset.state") == "reconnecting", timeout=20)
    other = daemons(kafka, extra=extra)
    kafka.produce([(kafka.hj, hourly_packet("MN-WEB2", hour(11), 70))])
    other.wait_consumed(kafka.hj, 1)
    other.wait_settled()
    fresh = [e for e in redis.events() if e["mn"] == "MN-WEB2"][-1]
    assert other.stop() == 0
    again = daemons(kafka, extra=extra, http_port=port)
    again.wait_healthy()
    wait_for("the event written while the page was away",
             lambda: browser.js("return [...document.querySelectorAll('#feed li')]"
                                ".some(li => li.dataset.id === arguments[0])", fresh["id"]),
             timeout=30)
    # acknowledge from the page
    browser.do("POST", f"/element/{browser.find('#token')}/value", {"text": TOKEN})
    browser.do("POST", f"/element/{browser.find('#by')}/value", {"text": "duty officer"})
    fp = next(r[0] for r in browser.js(ROWS) if r[3] == "MN-WEB1")
    button = browser.find(f'#alerts tr[data-fingerprint="{fp}"] button.ack')
    browser.do("POST", f"/element/{button}/click", {})
    wait_for("the acknowledgement to come back live",
             lambda: any(r[0] == fp and r[1] == "acknowledged" for r in browser.js(ROWS)),
             timeout=30)
    acks = redis.stream("ecowarn:acks")
    assert acks[-1][1]["by"] == "duty officer"
    out = os.environ.get("EW_ARTIFACTS", os.path.join(os.path.dirname(BIN), "artifacts"))
    os.makedirs(out, exist_ok=True)
    shot = os.path.join(out, "dashboard.png")
    browser.screenshot(shot)
    with open(shot, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert again.stop() == 0
