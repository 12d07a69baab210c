#!/usr/bin/env python3
"""The risk map at a province's scale: a real Kafka broker (scripts/kafka.sh), a redis-server,
ecowarnd and a simulated fleet registered and fed a few minutes of data; then, several times,
the bytes and the time of /api/state, and the time a headless Chromium takes from asking for
the page to its live stream being open, with how many alert rows and sites it drew.

    bench/dashboard.py [--enterprises 20000] [--minutes 2] [--runs 3] [BUILD_DIR]

Needs Java and Maven (the broker), Chromium and chromedriver (scripts/deps.sh test)."""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--enterprises", type=int, default=20000)
    ap.add_argument("--minutes", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("build", nargs="?", default=os.path.join(ROOT, "build"))
    a = ap.parse_args()
    bin_dir = os.path.join(os.path.abspath(a.build), "bin")
    os.environ["EW_BIN"] = bin_dir
    from conftest import RedisServer, free_port, wait_for  # noqa: E402 (after EW_BIN)
    from test_dashboard import Browser  # noqa: E402

    started = subprocess.run([os.path.join(ROOT, "scripts", "kafka.sh"), "start"], check=True,
                             capture_output=True, text=True, env=dict(os.environ, EW_BIN=bin_dir))
    bootstrap, kdir = started.stdout.split()
    daemon = None
    with tempfile.TemporaryDirectory() as tmp:
        redis = RedisServer(tmp)
        try:
            topics = "ecowarn.hj212,ecowarn.telemetry,ecowarn.enterprise"
            subprocess.run([os.path.join(bin_dir, "ecowarn-kafka"), "--create", bootstrap,
                            "--topics", topics, "--partitions", "4"], check=True)
            sim = subprocess.run([os.path.join(bin_dir, "ecowarn-sim"), "--enterprises",
                                  str(a.enterprises), "--duration", f"{a.minutes}m",
                                  "--brokers", bootstrap], check=True, capture_output=True,
                                 text=True)
            print(sim.stderr.strip().splitlines()[-1])
            port = free_port()
            daemon = subprocess.Popen(
                [os.path.join(bin_dir, "ecowarnd"), "-c", os.path.join(ROOT, "config",
                                                                        "ecowarn.json"),
                 "--set", f"kafka.brokers={bootstrap}",
                 "--set", f"redis.url=redis://127.0.0.1:{redis.port}/0",
                 "--set", f"http.listen=127.0.0.1:{port}",
                 "--set", f"rules.dir={os.path.join(ROOT, 'config', 'rules')}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            url = f"http://127.0.0.1:{port}"

            def metric(name):
                """The sum of a metric's series; -1 while ecowarnd does not answer."""
                try:
                    with urllib.request.urlopen(url + "/metrics", timeout=5) as r:
                        text = r.read().decode()
                except OSError:
                    return -1
                return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                           if line.startswith((name + " ", name + "{")))

            wait_for("ecowarnd to read the backlog", lambda: metric("ecowarn_consumer_lag") == 0
                     and metric("ecowarn_messages_total") > 0, timeout=600, step=1)
            time.sleep(3)
            for run in range(a.runs):
                t0 = time.monotonic()
                with urllib.request.urlopen(url + "/api/state", timeout=60) as r:
                    body = r.read()
                t1 = time.monotonic()
                state = json.loads(body)
                print(f"run {run + 1}: /api/state {len(body):,} bytes in {t1 - t0:.3f} s "
                      f"({len(state['sites']):,} sites, {len(state['active']):,} active alerts)")
            browser = Browser(tmp)
            try:
                for run in range(a.runs):
                    t0 = time.monotonic()
                    browser.go(url + "/")
                    wait_for("the page to go live", lambda: browser.js(
                        "return document.getElementById('status').dataset.state") == "live",
                        timeout=120, step=0.02)
                    t1 = time.monotonic()
                    rows = browser.js("return document.querySelectorAll('#alerts tr.alert')"
                                      ".length")
                    sites = browser.js("return document.querySelectorAll('#map circle')"
                                       ".length")
                    print(f"run {run + 1}: the page live in {t1 - t0:.2f} s ({rows} alert rows, "
                          f"{sites:,} sites drawn)")
                    browser.go("about:blank")
            finally:
                browser.close()
        finally:
            if daemon:
                daemon.terminate()
                daemon.wait(60)
            redis.stop()
            subprocess.run([os.path.join(ROOT, "scripts", "kafka.sh"), "stop", kdir])


if __name__ == "__main__":
    main()
