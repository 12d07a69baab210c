#!/usr/bin/env python3
"""The demo's people (make demo): while the simulated fleet plays, they act on the active
alerts through the console as an enterprise and a duty officer would.

* Enterprises of an even number answer their over-limit reminders, a quarter of an hour after
  each was sent (in the data's time: ecowarn-watch answer --at), "equipment being repaired";
  those of an odd number never answer, so their reminders are escalated.
* The duty officer acknowledges the alerts of odd-numbered enterprises escalated to them, so
  that they go no further (to the supervisor).

usage: demo_desk.py BIN REDIS_URL BROKERS STOPFILE
It stops when STOPFILE exists, and prints one line per act.
       demo_desk.py --history < events
prints the history of each alert that went round the loop, from the events (JSON lines)."""
import datetime as dt
import json
import os
import subprocess
import sys
import time



def history(lines):
    last = {}
    for line in lines:
        if line.startswith("{"):
            e = json.loads(line)
            if "loop" in (e.get("evidence") or {}):
                last[e["fingerprint"]] = e
    shown = 0
    for e in sorted(last.values(), key=lambda e: (e["enterprise_id"], e["rule"])):
        trail = e["evidence"]["loop"]["trail"]
        if not any(s["type"] in ("escalated", "responded", "acknowledged") for s in trail):
            continue
        steps = " -> ".join(f"{s['type']}({s['audience']}) {s['at'][11:16]}" for s in trail)
        print(f"  {e['enterprise_id']} {e['rule']:20} {e.get('pollutant') or '':7} {steps}")
        shown += 1
    print(f"  ({shown} alerts went round the loop; their escalations are in ecowarn:duty)")


if sys.argv[1:] == ["--history"]:
    history(sys.stdin)
    sys.exit(0)
bin_dir, redis_url, brokers, stopfile = sys.argv[1:5]
watch = os.path.join(bin_dir, "ecowarn-watch")


def console(*args):
    p = subprocess.run([watch, *args, "--redis", redis_url], capture_output=True, text=True,
                       timeout=30)
    if p.returncode:
        print(f"desk: ecowarn-watch {args[0]}: {p.stderr.strip()}", flush=True)
    return p.stdout


done = set()
while not os.path.exists(stopfile):
    for line in console("active", "--json").splitlines():
        try:
            e = json.loads(line)
        except ValueError:
            continue
        fp, eid = e["fingerprint"], e.get("enterprise_id", "")
        number = int(eid[1:]) if eid[1:].isdigit() else 1
        if fp in done:
            continue
        if e["rule"] == "over-limit-reminder" and e["event"] == "reminder" and number % 2 == 0:
            at = dt.datetime.fromisoformat(e["event_time"]) + dt.timedelta(minutes=15)
            console("answer", e["id"], "--enterprise", eid, "--text", "设备故障，已安排检修",
                    "--brokers", brokers, "--at", at.isoformat())
            print(f"desk: {eid} answered its reminder {e['id']}", flush=True)
            done.add(fp)
        elif e["event"] == "escalated" and e["audience"] == "officer" and number % 2:
            console("ack", e["id"], "--by", "值班员李明", "--note", "已电话通知企业整改")
            print(f"desk: the duty officer acknowledged {e['id']}", flush=True)
            done.add(fp)
    time.sleep(0.3)
