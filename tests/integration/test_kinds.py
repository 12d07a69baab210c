"""The kinds of issue 19 through the daemon, the embedded broker and a real Redis: one enterprise
per kind (trend, sudden change, treatment facility off, a declared shutdown contradicted, a
heavy-pollution warning and the enterprise's response, a deadline overdue and then done), with
the default rules, and every stream entry checked: which events each enterprise gets, in which
streams, and what the active hash holds at the end."""
import collections
import datetime as dt
import json
import time

from conftest import Kafka, hj212

TZ = dt.timezone(dt.timedelta(hours=8))
MIN = dt.timedelta(minutes=1)


def stamp(t):
    return t.astimezone(TZ).strftime("%Y%m%d%H%M%S")


def iso(t):
    return t.astimezone(TZ).isoformat(timespec="seconds")


def packet(mn, t, cn, values, st="32"):
    items = ";".join(f"{code}-{field}={value},{code}-Flag=N" for code, field, value in values)
    return hj212(f"QN={stamp(t)}000;ST={st};CN={cn};PW=123456;MN={mn};Flag=4;"
                 f"CP=&&DataTime={stamp(t)};{items}&&")


def outlet(eid, name, mn, region=None):
    e = {"type": "outlet.upsert", "enterprise_id": eid, "enterprise_name": name, "mn": mn,
         "outlet_id": f"{eid}-WS01", "st": "32",
         "limits": {"w01018": {"hour": 100, "day": 100, "unit": "mg/L"}}}
    if region:
        e["region"] = region
    return json.dumps(e, ensure_ascii=False)


def test_each_kind_through_the_daemon(redis, daemons):
    k = Kafka("embedded", partitions=2)
    try:
        run(k, redis, daemons)
    finally:
        k.stop()


def run(k, redis, daemons):
    t0 = dt.datetime.now(TZ).replace(second=0, microsecond=0)
    t0 -= dt.timedelta(minutes=t0.minute % 10)
    base = t0 - dt.timedelta(hours=5)
    # the newest data a little after now, when the registry is sent: a deadline is known from
    # its message's time, and the clock must pass it (data up to 10 minutes ahead counts)
    end = dt.datetime.now(TZ) + 8 * MIN
    at = lambda h: base + dt.timedelta(hours=h)
    registry = [
        outlet("E-TREND", "上虞印染", "T1"), outlet("E-JUMP", "柯桥化工", "J1"),
        outlet("E-FAC", "越城纺织", "F1"), outlet("E-DECL", "滨海污水", "D1"),
        outlet("E-WX", "袍江热电", "X1", region="330602"), outlet("E-DUE", "新昌制药", "K1"),
        json.dumps({"type": "facility.upsert", "enterprise_id": "E-FAC", "facility_id": "line",
                    "role": "production", "mn": "F1", "code": "ele01", "on_threshold": 50}),
        json.dumps({"type": "facility.upsert", "enterprise_id": "E-FAC", "facility_id": "wwtp",
                    "role": "treatment", "mn": "F1", "code": "ele02", "on_threshold": 5}),
        json.dumps({"type": "declaration", "enterprise_id": "E-DECL", "mn": "D1",
                    "kind": "shutdown", "from": iso(at(1)), "to": iso(at(3))}),
        json.dumps({"type": "emergency.upsert", "enterprise_id": "E-WX", "mn": "X1",
                    "code": "w00000", "baseline": 100, "cuts": {"orange": 0.2}}),
        json.dumps({"type": "weather_warning", "region": "330602", "level": "orange",
                    "from": iso(at(1)), "to": iso(at(3))}),
        json.dumps({"type": "deadline", "enterprise_id": "E-DUE", "deadline_id": "report-1",
                    "kind": "execution_report", "due": iso(t0 - 30 * MIN),
                    "title": "排污许可执行报告"}, ensure_ascii=False),
    ]
    k.produce((k.ent, e) for e in registry)
    # it reads the registry whole before it joins the group; a partition read to its end is idle
    # soon, so that the clock is the newest data's
    d = daemons(k, extra={"engine.idle_partition_ms": "2000"})
    d.wait_healthy()

    data, t = [], base
    while t <= end:
        h = (t - base).total_seconds() / 3600
        if t.minute % 10 == 0:  # minute records every 10 minutes
            cod = 30 if h < 1 else min(70, 30 + 20 * (h - 1))  # rises 20 mg/L an hour, levels
            data.append(packet("T1", t, "2051", [("w01018", "Avg", round(cod, 3))]))
            data.append(packet("J1", t, "2051", [("w01018", "Avg", 15 if h < 2 else 38)]))
            data.append(packet("X1", t, "2051", [("w00000", "Avg", 95)]))
            data.append(packet("D1", t, "2011", [("w00000", "Rtd", 10)]))
        if t.minute == 0:
            data.append(packet("K1", t, "2061", [("w01018", "Avg", 20)]))
        data.append(packet("K1", t, "2011", [("w01018", "Rtd", 20)]))  # never silent
        off = 2 <= h < 2 + 40 / 60  # the treatment facility draws no power for 40 minutes
        data.append(packet("F1", t, "2011", [("ele01", "Rtd", 300),
                                             ("ele02", "Rtd", 0.3 if off else 40)]))
        t += 5 * MIN
    k.produce((k.hj, p) for p in data)
    d.wait_consumed(k.hj, len(data), timeout=60)
    # the deadline is met: said after the data, then one more record of its site
    k.produce([(k.ent, json.dumps({"type": "deadline", "enterprise_id": "E-DUE",
                                   "deadline_id": "report-1", "status": "done"}))])
    d.wait_consumed(k.ent, len(registry) + 1, timeout=60)
    time.sleep(0.5)
    last = packet("K1", end + MIN, "2011", [("w01018", "Rtd", 20)])
    k.produce([(k.hj, last)])
    d.wait_consumed(k.hj, len(data) + 1, timeout=60)

    def by_enterprise():
        got = collections.defaultdict(list)
        for e in redis.events():
            got[e["enterprise_id"]].append(e)
        return got

    want = {
        "E-TREND": [("trend", "reminder"), ("trend", "resolved")],
        "E-JUMP": [("sudden_change", "firing"), ("sudden_change", "resolved")],
        "E-FAC": [("facility_off", "reminder"), ("facility_off", "resolved")],
        "E-DECL": [("declaration_contradiction", "firing"),
                   ("declaration_contradiction", "resolved")],
        "E-WX": [("weather_warning", "reminder"), ("weather_response", "firing"),
                 ("weather_response", "resolved"), ("weather_warning", "resolved")],
        "E-DUE": [("deadline", "reminder"), ("deadline", "firing"), ("deadline", "resolved"),
                  ("deadline", "resolved")],
    }

    def complete():
        got = by_enterprise()
        return all(len(got[e]) >= len(w) for e, w in want.items())
    try:
        d.wait_settled(timeout=60)
        deadline = time.monotonic() + 60
        while not complete() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        log = d.logtext()
    got = by_enterprise()
    assert set(got) == set(want), (sorted(got), list(redis.stream("ecowarn:deadletter")),
                                   log[-2000:])
    for eid, kinds in want.items():
        events = got[eid]
        seen = [(e["kind"], e["event"]) for e in events]
        assert sorted(seen) == sorted(kinds), {e: [(x["kind"], x["event"], x["event_time"])
                                                   for x in got[e]] for e in got}
        for e in events:
            assert e["id"].startswith(e["fingerprint"] + "-")
            assert e["message"] and e["event_time"].endswith("+08:00")
    # what each event says, where it must
    ev = {(e["enterprise_id"], e["kind"], e["event"]): e for es in got.values() for e in es}
    trend = ev[("E-TREND", "trend", "reminder")]["evidence"]
    assert trend["points"] >= 6 and trend["slope_per_hour"] > 10 and "predicted_at" in trend
    jump = ev[("E-JUMP", "sudden_change", "firing")]
    assert jump["value"] == 38 and jump["evidence"]["previous"] == 15
    assert jump["event_time"] == iso(at(2))
    fac = ev[("E-FAC", "facility_off", "reminder")]
    assert fac["pollutant"] == "ele02" and fac["event_time"] == iso(at(2) + 20 * MIN)
    decl = ev[("E-DECL", "declaration_contradiction", "resolved")]
    assert decl["event_time"] == iso(at(3))
    assert decl["evidence"]["reason"] == "the declared window ended"
    wx = ev[("E-WX", "weather_response", "firing")]
    assert wx["limit"] == 80 and wx["event_time"] == iso(at(2))
    assert ev[("E-WX", "weather_warning", "reminder")]["event_time"] == iso(at(1))
    assert ev[("E-DUE", "deadline", "firing")]["audience"] == "officer"
    # the streams: every event in events once; officers' in duty; each enterprise's reminders
    # stream holds exactly its enterprise-audience events
    everything = redis.events()
    assert len({e["id"] for e in everything}) == len(everything) == sum(map(len, want.values()))
    duty = redis.events("ecowarn:duty")
    assert sorted(e["id"] for e in duty) == sorted(
        e["id"] for e in everything if e["audience"] == "officer")
    for eid in want:
        mine = redis.events(f"ecowarn:reminders:{eid}")
        assert sorted(e["id"] for e in mine) == sorted(
            e["id"] for e in got[eid] if e["audience"] == "enterprise"), eid
    # nothing is left active: every alert was resolved
    assert redis("HLEN", "ecowarn:active") == 0, redis("HGETALL", "ecowarn:active")
    assert d.stop() == 0
