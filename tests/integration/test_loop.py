"""The closed loop through the real daemon, the embedded broker and a real Redis, driven by the
console (ecowarn-watch) as an officer and an enterprise would: three enterprises over a limit,
one that nobody answers (escalated to the officer, then to the supervisor), one that answers in
time (responded, not escalated), one whose officer alert is acknowledged (no step after it);
then every alert resolves. Every stream entry is checked, and the active hash on the way.

The data is real-time data of the last minutes (the loop's timers run on the engine's clock,
which is data time bounded by processing time), and the policies here count in minutes."""
import collections
import datetime as dt
import json
import os
import subprocess
import time

from conftest import BIN, Kafka, hj212, hourly_packet, wait_for

TZ = dt.timezone(dt.timedelta(hours=8))
MIN = dt.timedelta(minutes=1)

RULES = {
    "escalation": {
        "remind": {"steps": [{"after": "10m", "to": "officer"}, {"after": "20m", "to": "supervisor"}]},
        "duty": {"steps": [{"after": "15m", "to": "supervisor"}]},
    },
    "rules": [
        {"id": "so2-reminder", "kind": "threshold", "audience": "enterprise", "escalation": "remind",
         "select": {"data": ["realtime"], "field": "Rtd"},
         "levels": [{"name": "over", "above": "100%", "severity": "major"}],
         "message": {"zh": "{enterprise_name}：二氧化硫{value}{unit}超标（{time}）",
                     "en": "{enterprise_name}: SO2 {value} {unit} over the limit ({time})"}},
        {"id": "so2-over", "kind": "threshold", "audience": "officer", "escalation": "duty",
         "select": {"data": ["realtime"], "field": "Rtd"},
         "levels": [{"name": "over", "above": "100%", "severity": "major"}],
         "message": {"zh": "{enterprise_name}（{mn}）二氧化硫{value}{unit}超标（{time}）"}},
    ],
}


def stamp(t):
    return t.astimezone(TZ).strftime("%Y%m%d%H%M%S")


def iso(t):
    return t.astimezone(TZ).isoformat(timespec="seconds")


def packet(mn, t, so2):
    return hj212(f"QN={stamp(t)}000;ST=31;CN=2011;PW=123456;MN={mn};Flag=4;"
                 f"CP=&&DataTime={stamp(t)};a21026-Rtd={so2},a21026-Flag=N&&")


def outlet(eid, name, mn):
    return json.dumps({"type": "outlet.upsert", "enterprise_id": eid, "enterprise_name": name,
                       "mn": mn, "st": "31",
                       "limits": {"a21026": {"rtd": 35, "hour": 35, "unit": "mg/m3"}}},
                      ensure_ascii=False)


def watch(redis_port, *args):
    """The console, as a user runs it; its output."""
    p = subprocess.run([os.path.join(BIN, "ecowarn-watch"), *args, "--redis",
                        f"redis://127.0.0.1:{redis_port}/0"], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, (args, p.stdout, p.stderr)
    return p.stdout


def test_the_loop_through_the_daemon(redis, redis_server, daemons, tmp):
    k = Kafka("embedded", partitions=2)
    try:
        run(k, redis, redis_server.port, daemons, tmp)
    finally:
        k.stop()


def run(k, redis, port, daemons, tmp):
    rules = os.path.join(tmp, "rules")
    os.makedirs(rules)
    with open(os.path.join(rules, "loop.json"), "w") as f:
        json.dump(RULES, f, ensure_ascii=False)
    n = dt.datetime.now(TZ).replace(second=0, microsecond=0)
    k.produce([(k.ent, outlet("E1", "越城热电", "L1")), (k.ent, outlet("E2", "柯桥印染", "L2")),
               (k.ent, outlet("E3", "上虞化工", "L3"))])
    d = daemons(k, extra={"rules.dir": rules, "engine.idle_partition_ms": "2000"})
    d.wait_healthy()

    # over the limit: L1 from 40 minutes ago, L3 from 10, L2 from 6; every 2 minutes up to now
    start = {"L1": n - 40 * MIN, "L2": n - 6 * MIN, "L3": n - 10 * MIN}
    first = [(k.hj, packet(mn, t0 + i * 2 * MIN, 80)) for mn, t0 in start.items()
             for i in range(int((n - t0) / (2 * MIN)) + 1)]
    k.produce(first)
    d.wait_consumed(k.hj, len(first), timeout=60)
    d.wait_settled()
    # L1's steps fell due as the clock passed them; L3's first step is due at the clock now
    wait_for("L1 escalated to the supervisor and L3 to the officer", lambda: {
        (e["mn"], e["rule"], e["audience"]) for e in redis.events()
        if e["event"] == "escalated"} >= {("L1", "so2-reminder", "officer"),
                                          ("L1", "so2-reminder", "supervisor"),
                                          ("L1", "so2-over", "supervisor"),
                                          ("L3", "so2-reminder", "officer")})

    # the enterprise answers its reminder; the officer acknowledges L3's alert; an answer to no
    # alert at all is reported
    reminder = next(e for e in redis.events("ecowarn:reminders:E2") if e["event"] == "reminder")
    out = watch(port, "answer", reminder["id"], "--enterprise", "E2", "--text",
                "已停炉检修，脱硫塔正在恢复", "--brokers", k.bootstrap, "--topic", k.ent)
    assert "sent" in out
    answered_at = dt.datetime.now(TZ)
    watch(port, "answer", "ffffffffffffffff", "--enterprise", "E2", "--text", "无此告警",
          "--brokers", k.bootstrap, "--topic", k.ent)
    firing = next(e for e in redis.events("ecowarn:duty")
                  if e["mn"] == "L3" and e["event"] == "firing")
    watch(port, "ack", firing["id"], "--by", "值班员王五", "--note", "已电话联系企业")
    wait_for("the acknowledgement", lambda: any(
        e["event"] == "acknowledged" for e in redis.events()))
    acked = json.loads(redis("HGET", "ecowarn:active", firing["fingerprint"]))
    assert acked["event"] == "acknowledged" and acked["audience"] == "officer"
    assert acked["evidence"]["loop"]["acknowledged"]["by"] == "值班员王五"
    assert acked["evidence"]["note"] == "已电话联系企业"
    assert [s["type"] for s in acked["evidence"]["loop"]["trail"]] == ["firing", "acknowledged"]
    assert "next_step" not in acked["evidence"]["loop"]  # no step after it
    wait_for("the acknowledgement taken from its group",
             lambda: redis("XPENDING", "ecowarn:acks", "ecowarnd")[0] == 0)
    listed = watch(port, "active")
    assert "acknowledged by 值班员王五" in listed and "escalated to officer" in listed

    # the clock moves past the answer (data a few minutes ahead is allowed), then everything is
    # back under the limit
    while dt.datetime.now(TZ) <= answered_at + dt.timedelta(seconds=1):
        time.sleep(0.2)
    more = [(k.hj, packet(mn, n + i * 2 * MIN, 80)) for i in range(1, 4) for mn in start]
    k.produce(more)
    d.wait_consumed(k.ent, 5, timeout=60)
    # the answer is in the alert as the active hash holds it
    now = wait_for("the answer applied", lambda: json.loads(
        redis("HGET", "ecowarn:active", reminder["fingerprint"]) or b"{}").get(
            "event") == "responded" and json.loads(
        redis("HGET", "ecowarn:active", reminder["fingerprint"])), timeout=30)
    assert now["evidence"]["loop"]["response"]["text"] == "已停炉检修，脱硫塔正在恢复"
    assert "next_step" not in now["evidence"]["loop"]  # answered, no re-check: the chain ends
    last = [(k.hj, packet(mn, n + 8 * MIN, 10)) for mn in start]
    k.produce(last)
    d.wait_consumed(k.hj, len(first) + len(more) + len(last), timeout=60)
    d.wait_settled()
    wait_for("every alert resolved", lambda: redis("HLEN", "ecowarn:active") == 0, timeout=30)

    events = redis.events()
    by_site = collections.defaultdict(list)
    for e in events:
        by_site[e["mn"]].append((e["rule"], e["event"], e["audience"]))
    log = d.logtext()[-3000:]
    assert by_site["L1"] == [
        ("so2-reminder", "reminder", "enterprise"), ("so2-over", "firing", "officer"),
        ("so2-reminder", "escalated", "officer"), ("so2-over", "escalated", "supervisor"),
        ("so2-reminder", "escalated", "supervisor"),
        ("so2-reminder", "resolved", "enterprise"), ("so2-over", "resolved", "officer")], log
    assert by_site["L3"] == [
        ("so2-reminder", "reminder", "enterprise"), ("so2-over", "firing", "officer"),
        ("so2-reminder", "escalated", "officer"), ("so2-over", "acknowledged", "officer"),
        ("so2-reminder", "resolved", "enterprise"), ("so2-over", "resolved", "officer")], log
    assert by_site["L2"] == [
        ("so2-reminder", "reminder", "enterprise"), ("so2-over", "firing", "officer"),
        ("so2-reminder", "responded", "officer"),
        ("so2-reminder", "resolved", "enterprise"), ("so2-over", "resolved", "officer")], log
    assert set(by_site) == {"L1", "L2", "L3"}

    # what the events say
    ev = {(e["mn"], e["rule"], e["event"], e["audience"]): e for e in events}
    answer = ev[("L2", "so2-reminder", "responded", "officer")]
    assert answer["evidence"]["loop"]["response"]["text"] == "已停炉检修，脱硫塔正在恢复"
    assert answer["evidence"]["alert_id"] == reminder["id"]
    assert "已停炉检修" in answer["message"]
    step1 = ev[("L1", "so2-reminder", "escalated", "officer")]
    assert step1["event_time"] == iso(start["L1"] + 10 * MIN)
    assert step1["evidence"]["reason"] == "no response" and step1["evidence"]["step"] == 1
    assert ev[("L1", "so2-reminder", "escalated", "supervisor")]["event_time"] == iso(
        start["L1"] + 20 * MIN)
    end = ev[("L1", "so2-reminder", "resolved", "enterprise")]["evidence"]["loop"]
    assert [(s["type"], s["audience"]) for s in end["trail"]] == [
        ("reminder", "enterprise"), ("escalated", "officer"), ("escalated", "supervisor"),
        ("resolved", "enterprise")]
    closed = ev[("L3", "so2-over", "resolved", "officer")]["evidence"]["loop"]
    assert closed["acknowledged"]["by"] == "值班员王五"
    assert [s["type"] for s in closed["trail"]] == ["firing", "acknowledged", "resolved"]

    # the streams: every event once in events; the officers' and the supervisors' in duty, with
    # the end of each enterprise alert that was escalated to them; each enterprise's own
    assert len({e["id"] for e in events}) == len(events)
    escalated = {e["fingerprint"] for e in events if e["event"] == "escalated"}
    want_duty = [e["id"] for e in events if e["audience"] != "enterprise" or (
        e["event"] == "resolved" and e["fingerprint"] in escalated)]
    assert [e["id"] for e in redis.events("ecowarn:duty")] == want_duty
    for eid, mn in (("E1", "L1"), ("E2", "L2"), ("E3", "L3")):
        assert [e["id"] for e in redis.events(f"ecowarn:reminders:{eid}")] == [
            e["id"] for e in events if e["mn"] == mn and e["audience"] == "enterprise"]
    # the answer to nothing: a dead letter with its reason, counted
    dead = [f for _, f in redis.stream("ecowarn:deadletter")]
    assert [f["error"] for f in dead] == ["not_found"], dead
    assert "ffffffffffffffff" in dead[0]["raw"] and dead[0]["topic"] == k.ent
    m = d.metrics()
    assert m["ecowarn_responses_total"] == 2 and m["ecowarn_responses_unknown_total"] == 1
    assert m["ecowarn_escalations_total"] == 4 and m["ecowarn_alerts_in_loop"] == 0
    assert d.stop() == 0


def test_acknowledgements_reach_the_instance_holding_the_alert(redis, redis_server, daemons, tmp):
    """Two instances share the partitions and the acknowledgements' consumer group: an
    acknowledgement read by the one that does not hold its alert is left pending, claimed by the
    other, and applied to the alert's loop there. The sites that moved to the second instance
    took their loops with them."""
    k = Kafka("embedded", partitions=2)
    try:
        rules = os.path.join(tmp, "rules")
        os.makedirs(rules)
        with open(os.path.join(rules, "loop.json"), "w") as f:
            json.dump(RULES, f, ensure_ascii=False)
        n = dt.datetime.now(TZ).replace(second=0, microsecond=0)
        mns = [f"G{i}" for i in range(8)]
        k.produce([(k.ent, outlet(f"E{i}", f"企业{i}", mn)) for i, mn in enumerate(mns)])
        opts = {"rules.dir": rules, "engine.idle_partition_ms": "2000"}
        a = daemons(k, extra=opts)
        a.wait_healthy()
        data = [(k.hj, packet(mn, n - (10 - i) * MIN, 80)) for i in range(0, 11, 2) for mn in mns]
        k.produce(data)
        a.wait_consumed(k.hj, len(data), timeout=60)
        a.wait_settled()
        b = daemons(k, extra=opts)
        b.wait_healthy(timeout=60)
        wait_for("b to claim a partition with its sites",
                 lambda: b.metrics().get("ecowarn_sites_restored_total", 0) > 0, timeout=60)
        assert 0 < b.metrics()["ecowarn_alerts_in_loop"] < 2 * len(mns)
        firing = [e for e in redis.events("ecowarn:duty") if e["event"] == "firing"]
        assert sorted(e["mn"] for e in firing) == sorted(mns)
        for e in firing:
            watch(redis_server.port, "ack", e["id"], "--by", "值班员", "--note", "已处理")

        def acked():
            return {e["mn"]: e for e in redis.events() if e["event"] == "acknowledged"}
        wait_for("every acknowledgement applied by the instance holding its alert",
                 lambda: len(acked()) == len(mns), timeout=60)
        for mn, e in acked().items():
            loop = e["evidence"]["loop"]  # the loop's own event: its holder wrote it
            assert loop["acknowledged"]["by"] == "值班员" and "next_step" not in loop, (mn, e)
        assert len(redis.events()) == len({e["id"] for e in redis.events()})
        # each instance applied the acknowledgements of the alerts it holds, whichever read them
        # first (those it read for the other were left for it: ecowarn_acks_elsewhere_total)
        done = [d.metrics()["ecowarn_acks_total"] for d in (a, b)]
        assert sum(done) == len(mns) and min(done) > 0, done
        wait_for("nothing pending in the group",
                 lambda: redis("XPENDING", "ecowarn:acks", "ecowarnd")[0] == 0, timeout=30)
        assert a.stop() == 0 and b.stop() == 0
    finally:
        k.stop()


def test_answer_that_does_not_end_it_and_quiet_hours(redis, redis_server, daemons, tmp):
    """Hourly data of two days in 2024 (the engine's clock is their time): P1 answers its
    reminder half an hour after it (its message's time, ecowarn-watch answer --at) but stays
    over the limit, and is escalated at the re-check; Q1 goes over at 23:00, inside the quiet
    hours, so its reminder is held until 07:00, and the step counts from then."""
    k = Kafka("embedded", partitions=2)
    try:
        rules = os.path.join(tmp, "rules")
        os.makedirs(rules)
        policy = {"steps": [{"after": "2h", "to": "officer"}], "recheck": "1h",
                  "quiet": {"from": "22:00", "to": "07:00"}}
        with open(os.path.join(rules, "r.json"), "w") as f:
            json.dump({"escalation": {"p": policy}, "rules": [dict(
                RULES["rules"][0], escalation="p", select={"data": ["hour"], "field": "ZsAvg"})]},
                f, ensure_ascii=False)
        day = dt.datetime(2024, 10, 1, tzinfo=TZ)
        at = lambda h: day + dt.timedelta(hours=h)  # noqa: E731
        k.produce([(k.ent, outlet("E1", "越城热电", "P1")), (k.ent, outlet("E2", "柯桥印染", "Q1"))])
        d = daemons(k, extra={"rules.dir": rules, "engine.idle_partition_ms": "2000"})
        d.wait_healthy()

        def hourly(h):
            p1 = 80 if 10 <= h < 15 else 10
            q1 = 80 if 23 <= h < 34 else 10  # 23:00 to 09:00 the next day
            return [(k.hj, hourly_packet("P1", stamp(at(h)), p1)), (k.hj, hourly_packet("Q1", stamp(at(h)), q1))]

        first = [m for h in range(8, 11) for m in hourly(h)]
        k.produce(first)
        d.wait_consumed(k.hj, len(first))
        reminder = wait_for("P1's reminder", lambda: next(
            (e for e in redis.events("ecowarn:reminders:E1") if e["event"] == "reminder"), None))
        watch(redis_server.port, "answer", reminder["fingerprint"], "--enterprise", "E1",
              "--text", "已整改", "--brokers", k.bootstrap, "--topic", k.ent,
              "--at", iso(at(10) + 30 * MIN))
        d.wait_consumed(k.ent, 3)
        rest = [m for h in range(11, 36) for m in hourly(h)]
        k.produce(rest)
        d.wait_consumed(k.hj, len(first) + len(rest), timeout=60)
        d.wait_settled()
        wait_for("every alert resolved", lambda: redis("HLEN", "ecowarn:active") == 0)

        got = collections.defaultdict(list)
        for e in redis.events():
            got[e["mn"]].append((e["event"], e["audience"], e["event_time"]))
        assert got["P1"] == [("reminder", "enterprise", iso(at(10))),
                             ("responded", "officer", iso(at(10) + 30 * MIN)),
                             ("escalated", "officer", iso(at(12))),
                             ("resolved", "enterprise", iso(at(15)))], got
        # held from 23:00 to 07:00: sent then (as it was), the step two hours after that
        assert got["Q1"] == [("reminder", "enterprise", iso(at(23))),
                             ("escalated", "officer", iso(at(33))),
                             ("resolved", "enterprise", iso(at(34)))], got
        ev = {(e["mn"], e["event"]): e for e in redis.events()}
        step = ev[("P1", "escalated")]["evidence"]
        assert step["reason"] == "the condition persists after the answer"
        assert step["loop"]["response"]["text"] == "已整改"
        assert ev[("Q1", "escalated")]["evidence"]["loop"]["notified_at"] == iso(at(31))
        # the reminder itself says it was sent at the quiet hours' end, not at 23:00 (P1 and Q1
        # may be on different partitions, so their detected_at say nothing about each other)
        told = ev[("Q1", "reminder")]["evidence"]["loop"]
        assert told["notified_at"] == iso(at(31)), told
        assert [(t["type"], t["at"]) for t in told["trail"]] == [("reminder", iso(at(31)))], told
        m = d.metrics()
        assert m["ecowarn_reminders_held_total"] == 1 and m["ecowarn_escalations_total"] == 2
        assert d.stop() == 0
    finally:
        k.stop()
