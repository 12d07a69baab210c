"""ecowarnd end to end: embedded Kafka in, real Redis out (see conftest.py)."""
import json
import os
import re
import signal
import socket
import threading
import time

import pytest

from conftest import (Redis, RedisServer, b64, differ, hj212, hourly_packet, outlet, outputs,
                      wait_for)

def hour(h, day=1):
    return f"202410{day:02d}{h:02d}0000"


def register(kafka, daemon, *mns, enterprise="E1"):
    kafka.produce([(kafka.ent, outlet(mn, enterprise=enterprise)) for mn in mns])
    daemon.wait_consumed(kafka.ent, len(mns))


def subscribe(port, channel):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    ch = channel.encode()
    s.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$%d\r\n%s\r\n" % (len(ch), ch))
    return s


def test_every_output_key(kafka, redis, redis_server, daemons):
    d = daemons(kafka)
    d.wait_healthy()
    live = subscribe(redis_server.port, "ecowarn:live")
    register(kafka, d, "MN-A1")
    # over the limit (35) for three hours, then below: reminders to the enterprise, firing and
    # resolution for the duty officer; a telemetry JSON record in the middle
    kafka.produce([(kafka.hj, hourly_packet("MN-A1", hour(10), 50)),
                   (kafka.hj, hourly_packet("MN-A1", hour(11), 52))])
    d.wait_consumed(kafka.hj, 2)  # the topics are consumed side by side: in order here on purpose
    kafka.produce([(kafka.tel, json.dumps({"mn": "MN-A1", "st": "31", "cn": "2061",
                                     "data_time": "2024-10-01T12:00:00+08:00",
                                     "values": [{"code": "a21026", "field": "ZsAvg",
                                                 "value": 55, "flag": "N"}]}))])
    d.wait_consumed(kafka.tel, 1)
    d.wait_settled()
    active = redis("HGETALL", "ecowarn:active")
    firing = [json.loads(active[i + 1]) for i in range(0, len(active), 2)]
    assert any(e["rule"] == "over-limit" and e["event"] == "firing" for e in firing)
    kafka.produce([(kafka.hj, hourly_packet("MN-A1", hour(13), 10)),
                   (kafka.hj, hourly_packet("MN-A1", hour(14), 10))])
    d.wait_consumed(kafka.hj, 4)
    d.wait_settled()

    events = redis.events()
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids)), "an event written twice"
    kinds = {(e["rule"], e["event"]) for e in events}
    assert ("over-limit", "firing") in kinds
    assert ("over-limit", "resolved") in kinds
    assert ("over-limit-3h", "firing") in kinds
    assert ("over-limit-reminder", "reminder") in kinds
    # the reminder got no answer within 2 hours: escalated to the duty officer (the default
    # policy), and its end reaches the officers too
    assert ("over-limit-reminder", "escalated") in kinds
    fire = next(e for e in events if e["rule"] == "over-limit" and e["event"] == "firing")
    assert fire["mn"] == "MN-A1" and fire["enterprise_id"] == "E1"
    assert fire["value"] == 50 and fire["limit"] == 35
    assert fire["event_time"] == "2024-10-01T10:00:00+08:00"
    assert fire["audience"] == "officer" and fire["message"]
    # the audiences' streams
    duty = redis.events("ecowarn:duty")
    reminders = redis.events("ecowarn:reminders:E1")
    escalated = {e["fingerprint"] for e in events if e["event"] == "escalated"}
    copies = [e["id"] for e in events if e["audience"] == "enterprise" and
              e["event"] == "resolved" and e["fingerprint"] in escalated]
    assert copies
    assert duty and all(e["audience"] == "officer" or e["id"] in copies for e in duty)
    assert reminders and all(e["audience"] == "enterprise" for e in reminders)
    assert len(duty) + len(reminders) == len(events) + len(copies)
    # resolved alerts leave the active hash; what is still active is there with its last event
    resolved = {e["fingerprint"] for e in events if e["event"] == "resolved"}
    active = redis("HGETALL", "ecowarn:active")
    still = {active[i].decode() for i in range(0, len(active), 2)}
    assert fire["fingerprint"] in resolved and not (resolved & still)
    # the live channel carried every event
    got, buf = [], b""
    live.settimeout(5)
    while len(got) < len(events):
        buf += live.recv(65536)
        while buf.count(b"\r\n") >= 7:  # a pushed message: *3 $7 message $N chan $N payload
            parts = buf.split(b"\r\n", 7)
            if parts[2] == b"message":
                got.append(json.loads(parts[6]))
            elif parts[2] != b"subscribe":
                raise AssertionError(parts)
            buf = parts[7] if parts[2] == b"message" else b"\r\n".join(parts[6:])
    live.close()
    assert [e["id"] for e in got] == ids
    assert d.stop() == 0


def test_poisoned_input_is_dead_lettered(kafka, redis, daemons):
    d = daemons(kafka)
    d.wait_healthy()
    good = hourly_packet("MN-P1", hour(10), 20)
    bad_crc = good[:-4] + ("0000" if not good.endswith("0000") else "1111")
    kafka.produce([
        (kafka.hj, bad_crc),
        (kafka.hj, good[:30]),                                  # cut short
        (kafka.hj, "\x01\x02garbage\xff"),                      # not text
        (kafka.tel, '{"mn": "MN-P1", "st": "31"'),              # broken JSON
        (kafka.ent, '{"type": "no.such.type"}'),                # an event nobody knows
        (kafka.ent, '{"type": "response", "alert_id": "a1", "enterprise_id": "E1", '
              '"text": "x"}'),                                  # not an alert's id
        (kafka.hj, good),
        (kafka.hj, hourly_packet("MN-P1", hour(3), 20)),        # beyond the lateness (2 h)
    ])
    d.wait_consumed(kafka.hj, 5)
    d.wait_consumed(kafka.ent, 2)
    d.wait_settled()
    assert d.proc.poll() is None and d.get("/health")[0] == 200
    dead = [f for _, f in redis.stream("ecowarn:deadletter")]
    errors = sorted(f["error"] for f in dead)
    assert errors == sorted(["crc_mismatch", "malformed", "malformed", "malformed", "malformed",
                             "invalid", "late"]), errors
    for f in dead:
        assert f["reason"] and f["topic"] in (kafka.hj, kafka.tel, kafka.ent)
        assert int(f["partition"]) >= 0 and int(f["kafka_offset"]) >= 0
        assert f["encoding"] in ("text", "base64")
    binary = next(f for f in dead if f["encoding"] == "base64")
    assert binary["raw"] == b64("\x01\x02garbage\xff".encode())
    crc = next(f for f in dead if f["error"] == "crc_mismatch")
    assert crc["raw"] == bad_crc and crc["topic"] == kafka.hj
    m = d.metrics()
    assert m['ecowarn_decode_errors_total{code="crc_mismatch"}'] == 1
    assert m["ecowarn_deadletters_total"] == 7
    assert m["ecowarn_enterprise_events_ignored_total"] == 0
    assert d.stop() == 0


def test_officer_acknowledgement(kafka, redis, daemons):
    d = daemons(kafka)
    d.wait_healthy()
    register(kafka, d, "MN-K1")
    kafka.produce([(kafka.hj, hourly_packet("MN-K1", hour(10), 80))])
    d.wait_settled()
    fire = wait_for("the firing event", lambda: next(
        (e for e in redis.events("ecowarn:duty") if e["event"] == "firing"), None))
    redis("XADD", "ecowarn:acks", "*", "alert_id", fire["id"], "by", "officer-7",
          "note", "已电话联系企业")
    acked = wait_for("the acknowledged event", lambda: next(
        (e for e in redis.events() if e["event"] == "acknowledged"), None))
    assert acked["fingerprint"] == fire["fingerprint"]
    assert acked["evidence"] == {"alert_id": fire["id"], "by": "officer-7",
                                 "note": "已电话联系企业"}
    assert acked["id"] != fire["id"]
    assert any(e["event"] == "acknowledged" for e in redis.events("ecowarn:duty"))
    now = json.loads(redis("HGET", "ecowarn:active", fire["fingerprint"]))
    assert now["event"] == "acknowledged"
    # read once: the group has nothing pending
    wait_for("the ack to be acknowledged in its group",
             lambda: redis("XPENDING", "ecowarn:acks", "ecowarnd")[0] == 0)
    # an ack for nothing known is counted and passed over
    redis("XADD", "ecowarn:acks", "*", "alert_id", "nonsense", "by", "x", "note", "")
    wait_for("the bad ack to be passed over",
             lambda: redis("XPENDING", "ecowarn:acks", "ecowarnd")[0] == 0)
    assert d.proc.poll() is None
    assert d.stop() == 0


def write_rules(folder, above):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "r.json"), "w") as f:
        json.dump({"rules": [{"id": "so2-over", "kind": "threshold", "audience": "officer",
                              "select": {"data": ["hour"], "field": "ZsAvg"},
                              "levels": [{"name": "over", "above": above,
                                          "severity": "major"}],
                              "message": {"zh": "{mn} {value}"}}]}, f)


def test_reload_on_sighup(kafka, redis, daemons, tmp):
    rules1, rules2 = os.path.join(tmp, "r1"), os.path.join(tmp, "r2")
    write_rules(rules1, 100)
    write_rules(rules2, 30)
    cfg = os.path.join(tmp, "ecowarn.json")
    with open(cfg, "w") as f:
        json.dump({"rules": {"dir": rules1}}, f)
    d = daemons(kafka, config=cfg)
    d.wait_healthy()
    kafka.produce([(kafka.hj, hourly_packet("MN-R1", hour(10), 50))])
    d.wait_settled()
    d.wait_consumed(kafka.hj, 1)
    assert redis.events() == []  # 50 is not above 100
    # a broken config is refused and the running one kept
    with open(cfg, "w") as f:
        f.write('{"rules": {"dir": ')
    d.signal(signal.SIGHUP)
    wait_for("the refusal", lambda: "reload rejected" in d.logtext())
    kafka.produce([(kafka.hj, hourly_packet("MN-R1", hour(11), 50))])
    d.wait_consumed(kafka.hj, 2)
    d.wait_settled()
    assert redis.events() == []
    # a good one takes effect: 50 is above 30. redis.prefix may not change at run time: the
    # reload says so and the events keep the running prefix
    with open(cfg, "w") as f:
        json.dump({"rules": {"dir": rules2}, "redis": {"prefix": "other:"}}, f)
    d.signal(signal.SIGHUP)
    wait_for("the reload", lambda: "reloaded: 1 rules" in d.logtext())
    assert "redis.prefix changed: it applies at the next start" in d.logtext()
    kafka.produce([(kafka.hj, hourly_packet("MN-R1", hour(12), 50))])
    d.wait_consumed(kafka.hj, 3)
    d.wait_settled()
    events = wait_for("an event under the new rules", redis.events)
    assert [(e["rule"], e["event"], e["value"]) for e in events] == [("so2-over", "firing", 50)]
    assert redis("KEYS", "other:*") == []
    m = d.metrics()
    assert m["ecowarn_reloads_total"] == 1 and m["ecowarn_reload_failures_total"] == 1
    assert d.proc.poll() is None
    assert d.stop() == 0


def test_check_config(tmp):
    from conftest import BIN, ROOT
    import subprocess
    good = subprocess.run([os.path.join(BIN, "ecowarnd"), "--check-config", "--set",
                           f"rules.dir={os.path.join(ROOT, 'config', 'rules')}"],
                          capture_output=True, text=True, timeout=30)
    assert good.returncode == 0, good.stderr
    cfg = os.path.join(tmp, "bad.json")
    with open(cfg, "w") as f:
        f.write('{\n  "kafka": {"brokers": "x:1"},\n  "redis": {"nope": 1},\n'
                '  "engine": {"max_sites": -5}\n}\n')
    bad = subprocess.run([os.path.join(BIN, "ecowarnd"), "-c", cfg, "--check-config"],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 1
    lines = bad.stderr.strip().splitlines()
    assert f"{cfg}:3: unknown option \"redis.nope\" (ecowarnd --help lists them)" in lines
    assert any(line.startswith(f"{cfg}:4: engine.max_sites: -5 is out of bounds")
               for line in lines)
    rules = os.path.join(tmp, "rules")
    os.makedirs(rules)
    with open(os.path.join(rules, "x.json"), "w") as f:
        f.write('{"rules": [\n  {"id": "x", "kind": "nope"}\n]}\n')
    bad_rules = subprocess.run([os.path.join(BIN, "ecowarnd"), "--check-config", "--set",
                                f"rules.dir={rules}"], capture_output=True, text=True,
                               timeout=30)
    assert bad_rules.returncode == 1
    assert bad_rules.stderr.startswith(f"{rules}/x.json:0: x:"), bad_rules.stderr
    for url in ("http://x", "redis://x:12x/0", "redis://x:6379/1/2"):
        bad_url = subprocess.run([os.path.join(BIN, "ecowarnd"), "--check-config",
                                  f"--set=redis.url={url}"], capture_output=True, text=True,
                                 timeout=30)
        assert bad_url.returncode == 1 and f'redis.url "{url}"' in bad_url.stderr, url
    cfg_ok = os.path.join(tmp, "ok.json")
    with open(cfg_ok, "w") as f:
        json.dump({"rules": {"dir": os.path.join(ROOT, "config", "rules")}}, f)
    long_form = subprocess.run([os.path.join(BIN, "ecowarnd"), "--config", cfg_ok,
                                "--check-config"], capture_output=True, text=True, timeout=30)
    assert long_form.returncode == 0 and long_form.stdout.startswith("ok: ")
    for args in (["--bogus"], ["-c"], ["stray"]):
        wrong = subprocess.run([os.path.join(BIN, "ecowarnd")] + args, capture_output=True,
                               text=True, timeout=30)
        assert wrong.returncode == 2 and "usage: ecowarnd" in wrong.stderr, args
    env = dict(os.environ, ECOWARN_ENGINE_LANG="fr")
    bad_env = subprocess.run([os.path.join(BIN, "ecowarnd"), "--check-config"], env=env,
                             capture_output=True, text=True, timeout=30)
    assert bad_env.returncode == 1 and "ECOWARN_ENGINE_LANG" in bad_env.stderr
    helptext = subprocess.run([os.path.join(BIN, "ecowarnd"), "--help"], capture_output=True,
                              text=True, timeout=30).stdout
    for name in ("kafka.brokers", "kafka.group_id", "redis.url", "redis.prefix", "http.listen",
                 "rules.dir"):
        assert name in helptext
    assert "log.level" in helptext and "reloadable" in helptext


def test_clean_shutdown_writes_state_and_offsets(kafka, redis, daemons, tmp):
    d = daemons(kafka)
    d.wait_healthy()
    register(kafka, d, "MN-S1")
    kafka.produce([(kafka.hj, hourly_packet("MN-S1", hour(h), 50)) for h in (10, 11)])
    d.wait_consumed(kafka.hj, 2)
    d.wait_settled()
    n = len(redis.events())
    assert d.stop() == 0
    assert "stopped" in d.logtext()
    saved = [redis("HGETALL", f"ecowarn:partition:{kafka.hj}:{p}") for p in range(2)]
    assert all(b"gen" in h for h in saved) and any(b"next" in h for h in saved)
    # the next start claims the partitions from Redis: their sites' state and their offsets
    d2 = daemons(kafka)
    d2.wait_healthy()
    wait_for("the partitions claimed", lambda: "sites restored" in d2.logtext())
    time.sleep(1.0)
    assert d2.metrics()[f'ecowarn_messages_total{{topic="{kafka.hj}"}}'] == 0
    assert d2.metrics()["ecowarn_sites_restored_total"] == 1
    # the third hour over the limit fires over-limit-3h: the state carried the first two
    kafka.produce([(kafka.hj, hourly_packet("MN-S1", hour(12), 50))])
    d2.wait_consumed(kafka.hj, 1)
    d2.wait_settled()
    events = redis.events()
    assert len(events) > n
    assert any(e["rule"] == "over-limit-3h" and e["event"] == "firing" for e in events[n:])
    assert d2.stop() == 0


def fired_sites(kafka, daemons, server, prefix, n):
    """A daemon on the given Redis, with n sites registered whose 10:00 values fired and are
    safe in Redis."""
    d = daemons(kafka, redis_port=server.port)
    d.wait_healthy()
    mns = [f"{prefix}{i}" for i in range(n)]
    register(kafka, d, *mns)
    kafka.produce([(kafka.hj, hourly_packet(mn, hour(10), 50)) for mn in mns])
    d.wait_consumed(kafka.hj, len(mns), timeout=90)  # the group joined, the partitions claimed
    d.wait_settled()
    return d, mns


def resolved_sites(events):
    return {e["mn"] for e in events if e["rule"] == "over-limit" and e["event"] == "resolved"}


def test_redis_away_and_back(kafka, tmp, daemons):
    server = RedisServer(tmp, persist=True)
    redis = Redis(server.port)
    try:
        d, mns = fired_sites(kafka, daemons, server, "MN-W", 8)
        before = len(redis.events())
        server.stop()
        wait_for("health to report Redis gone", lambda: d.get("/health")[0] == 503)
        kafka.produce([(kafka.hj, hourly_packet(mn, hour(11), 10)) for mn in mns])
        d.wait_consumed(kafka.hj, 2 * len(mns))
        wait_for("events to be buffered", lambda: d.metrics()["ecowarn_buffered_events"] > 0)
        server.start()
        d.wait_settled(timeout=40)
        events = Redis(server.port).events()
        # nothing lost: every site resolved at 11:00; duplicates only as the same event again
        assert resolved_sites(events) == set(mns)
        assert len(events) >= before + len(mns)
        unique = {}  # at-least-once: an event may come twice, always with the same id
        for e in events:
            assert unique.setdefault(e["id"], e) == e, "one id for two different events"
        assert d.metrics()["ecowarn_redis_reconnects_total"] >= 2
        assert d.stop() == 0
    finally:
        redis.close()
        server.stop()


def test_split_packets_reassembled(kafka, redis, daemons):
    d = daemons(kafka, extra={"split.timeout_ms": "500"})
    d.wait_healthy()
    register(kafka, d, "MN-X1")
    head = "QN=20241001110000001;ST=31;CN=2061;PW=123456;MN=MN-X1;Flag=4;PNUM=2;PNO={};CP=&&"
    part1 = hj212(head.format(1) + f"DataTime={hour(10)};a21002-ZsAvg=20,a21002-Flag=N&&")
    part2 = hj212(head.format(2) + f"DataTime={hour(10)};a21026-ZsAvg=60,a21026-Flag=N&&")
    lonely = hj212(head.replace("0001;", "0002;").format(1) +
                   f"DataTime={hour(10)};a21026-ZsAvg=60,a21026-Flag=N&&")
    kafka.produce([(kafka.hj, part2), (kafka.hj, lonely), (kafka.hj, part1)])  # parts in any order
    d.wait_consumed(kafka.hj, 3)
    fire = wait_for("the whole packet judged", lambda: next(
        (e for e in redis.events() if e["rule"] == "over-limit"), None))
    assert fire["pollutant"] == "a21026" and fire["value"] == 60
    dead = wait_for("the incomplete one dead-lettered",
                    lambda: [f for _, f in redis.stream("ecowarn:deadletter")])
    assert dead[0]["error"] == "split" and "incomplete" in dead[0]["reason"]
    d.wait_settled()
    assert d.stop() == 0


def test_two_daemons_share_the_partitions(kafka, redis, daemons):
    a = daemons(kafka)
    a.wait_healthy()
    mns = [f"MN-G{i}" for i in range(12)]
    kafka.produce([(kafka.ent, outlet(mn)) for mn in mns])
    a.wait_consumed(kafka.ent, len(mns))
    kafka.produce([(kafka.hj, hourly_packet(mn, hour(10), 50)) for mn in mns])
    a.wait_consumed(kafka.hj, len(mns))
    a.wait_settled()
    assert a.metrics()["ecowarn_sites_tracked"] == len(mns)
    # a second member: a gives up half of the partitions, their sites' state goes with them
    b = daemons(kafka)
    b.wait_healthy(timeout=60)
    b.wait_consumed(kafka.ent, len(mns))  # every member reads the whole registry
    wait_for("b to claim a partition with its sites",
             lambda: b.metrics().get("ecowarn_sites_restored_total", 0) > 0, timeout=60)
    # and a to claim again what it kept: its claims may come after b's (each member looks its
    # partitions' start offsets up first, a round trip or two)
    wait_for("a to claim its share again",
             lambda: a.metrics().get("ecowarn_sites_restored_total", 0) > 0, timeout=60)
    left = a.metrics()["ecowarn_sites_tracked"]
    assert 0 < left < len(mns)
    assert left + b.metrics()["ecowarn_sites_tracked"] == len(mns)
    # the next hour is judged by whichever member has the site's partition now
    kafka.produce([(kafka.hj, hourly_packet(mn, hour(11), 50)) for mn in mns])

    def both_judged():
        return len([e for e in redis.events() if e["rule"] == "over-limit-3h" or
                    (e["rule"] == "over-limit" and e["event"] == "reminder")]) >= 0 and \
            b.metrics()[f'ecowarn_messages_total{{topic="{kafka.hj}"}}'] > 0 and \
            a.metrics()["ecowarn_messages_in_flight"] == 0
    wait_for("the second hour judged by the two members", both_judged, timeout=40)
    a.wait_settled()
    b.wait_settled()
    events = redis.events()
    fired = {e["mn"] for e in events if e["rule"] == "over-limit"}
    assert fired == set(mns)
    # the sites that moved carried their alert: none fires again on its new member
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids))
    firing = [e["mn"] for e in events if e["rule"] == "over-limit" and e["event"] == "firing"]
    assert sorted(firing) == sorted(mns)
    assert a.stop() == 0 and b.stop() == 0


def test_a_quiet_daemon_keeps_its_partitions(kafka, redis, daemons):
    """No input for longer than max.poll.interval.ms: the daemon still polls its consumer (once
    a second), so librdkafka does not leave the group and hand its partitions round again.
    Before, it polled only when the queue's pipe woke it, and left every 5 minutes of quiet."""
    d = daemons(kafka, extra={"kafka.properties.max.poll.interval.ms": "6000"})
    d.wait_healthy()
    wait_for("its partitions claimed", lambda: d.metrics().get("ecowarn_partitions_live", 0) > 0)
    time.sleep(9)  # quiet for half as long again as the interval
    log = d.logtext()
    assert "maximum poll interval" not in log
    assert "revoked" not in log
    register(kafka, d, "MN-Q1")
    kafka.produce([(kafka.hj, hourly_packet("MN-Q1", hour(10), 50))])
    d.wait_consumed(kafka.hj, 1)
    assert d.stop() == 0


def test_every_first_start_reads_every_partition(kafka, redis, daemons):
    """Thirty first starts in a row (a group of its own each, Redis empty) each read every
    partition to its end. librdkafka 2.0.2 could drop the resume that ends a partition's claim,
    or its own start of the partition, when the two came together a round trip after the
    assignment: that partition was never read (about 1 start in 250 under ASan; the daemon now
    looks the start offsets up before it assigns, connectors/kafka/ew_kafka.c). A real broker's
    round trips only: on the embedded broker it is skipped."""
    if kafka.kind != "real":
        pytest.skip("the real broker's timing")
    n = 16  # by their keys, on both partitions
    kafka.produce([(kafka.hj, hourly_packet(f"MN-F{i}", hour(10), 10)) for i in range(n)])
    for start in range(30):
        redis("FLUSHALL")
        d = daemons(kafka, extra={"kafka.group_id": f"{kafka.group}-first-{start}"})
        d.wait_consumed(kafka.hj, n, timeout=20)
        d.proc.kill()
        d.proc.wait()


def noon_three_hour_alert(redis, mn, why):
    """The site's three-hour over-limit alert at noon (its hours 10, 11 and 12 over), once."""
    def fired():
        return [e for e in redis.events()
                if e["rule"] == "over-limit-3h" and e["event"] == "firing" and e["mn"] == mn]
    got = wait_for(why, fired)
    assert len(got) == 1 and got[0]["event_time"] == "2024-10-01T12:00:00+08:00"


def test_crash_resumes_from_the_saved_state(kafka, redis, daemons, tmp):
    every = {"redis.checkpoint_ms": "0"}  # every commit saves the state: the hours are in it
    d = daemons(kafka, extra=every)
    d.wait_healthy()
    register(kafka, d, "MN-C1", "MN-C2")
    kafka.produce([(kafka.hj, hourly_packet(mn, hour(h), 50)) for h in (10, 11) for mn in ("MN-C1",)])
    d.wait_consumed(kafka.hj, 2)
    d.wait_settled()
    kafka.produce([(kafka.hj, hourly_packet("MN-C2", hour(12), 50))])
    d.wait_consumed(kafka.hj, 3)
    d.proc.kill()  # no drain, no last transaction: a crash
    d.proc.wait()
    kafka.produce([(kafka.hj, hourly_packet("MN-C1", hour(12), 50))])
    d2 = daemons(kafka, extra=every)
    d2.wait_healthy()
    d2.wait_consumed(kafka.hj, 1)
    d2.wait_settled()
    # hours 10 and 11 are known only from the saved state: the third fires the three-hour alert
    noon_three_hour_alert(redis, "MN-C1", "the three-hour alert across the crash")
    # MN-C2's hour, read before the crash and perhaps written, is written once
    c2 = wait_for("MN-C2's alert", lambda: [e for e in redis.events() if e["mn"] == "MN-C2" and
                                            e["rule"] == "over-limit"])
    assert [e["event"] for e in c2] == ["firing"]
    assert d2.metrics()["ecowarn_sites_restored_total"] >= 1
    assert d2.stop() == 0


def test_crash_between_checkpoints_writes_nothing_twice(kafka, redis, daemons, tmp):
    """Events go out at once, the state at checkpoints (cmd/DAEMON.md, "A checkpoint"): killed
    after its events were written and before any checkpoint saved the records that made them, the
    daemon's successor judges those records again from the older state; what they make again is
    in the written set and is not written twice, and the state they rebuild carries on."""
    never = {"redis.checkpoint_ms": "3600000"}
    d = daemons(kafka, extra=never)
    d.wait_healthy()
    register(kafka, d, "MN-K1", "MN-K2")
    kafka.produce([(kafka.hj, hourly_packet(mn, hour(h), 50)) for h in (10, 11)
                   for mn in ("MN-K1", "MN-K2")])
    d.wait_consumed(kafka.hj, 4)
    firing = lambda: [e for e in redis.events() if e["event"] == "firing"]  # noqa: E731
    before = wait_for("the first hours' alerts", lambda: len(firing()) >= 2 and firing())
    written = [k.decode() for k in redis("KEYS", "ecowarn:written:*")]
    assert written and sum(redis("SCARD", k) for k in written) >= len(before), written
    m = d.metrics()
    # only the claims' first checkpoints (nothing to save then): the events went out without one
    assert m["ecowarn_transactions_total"] > m["ecowarn_checkpoints_total"], m
    d.proc.kill()
    d.proc.wait()

    kafka.produce([(kafka.hj, hourly_packet("MN-K1", hour(12), 50))])
    d2 = daemons(kafka, extra=never)
    d2.wait_healthy()
    d2.wait_consumed(kafka.hj, 5)  # the four again, from the last checkpoint's cut, and the new
    d2.wait_settled()
    noon_three_hour_alert(redis, "MN-K1", "the three-hour alert, from the state the replay rebuilt")
    events = redis.events()
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids)), ids
    for e in before:  # each first-hour event once, as the first daemon wrote it
        assert ids.count(e["id"]) == 1
    assert d2.metrics()["ecowarn_events_written_before_total"] >= len(before)
    assert d2.stop() == 0  # the stop is a checkpoint: the written set goes with it
    assert not redis("KEYS", "ecowarn:written:*")


def read_until_closed(sock, into):
    while True:
        try:
            data = sock.recv(1 << 16)
        except OSError:
            return
        if not data:
            return
        into.append(data)


def test_live_checkpoint_writes_a_few_sites_a_transaction(kafka, redis, redis_server, daemons):
    """With live input a partition's checkpoint writes redis.checkpoint_sites sites a
    transaction (cmd/DAEMON.md, "A checkpoint"), those handed over as they were just before they
    changed again as well: before, each of those went into the next transaction whatever its
    size."""
    opts = {"redis.checkpoint_ms": "300", "redis.checkpoint_sites": "2"}
    d = daemons(kafka, extra=opts)
    d.wait_healthy()
    mns = [f"MN-W{i:02d}" for i in range(30)]
    register(kafka, d, *mns)
    monitor = socket.create_connection(("127.0.0.1", redis_server.port), timeout=10)
    monitor.settimeout(None)  # until the test closes it
    monitor.sendall(b"MONITOR\r\n")
    seen = []
    reader = threading.Thread(target=lambda: read_until_closed(monitor, seen))
    reader.start()
    rounds = 12  # every site each round, one message every 8 ms: a site changes soon after a cut
    kafka.produce([(kafka.hj, hourly_packet(mn, hour(r % 24, 1 + r // 24), 10 + r))
                   for r in range(rounds) for mn in mns], pace=0.008)
    d.wait_consumed(kafka.hj, rounds * len(mns))
    d.wait_settled()
    time.sleep(1)  # the last checkpoints complete
    monitor.shutdown(socket.SHUT_RDWR)
    reader.join()
    sites = []  # the site states each commit transaction carries ("S", the site, its bytes)
    for line in b"".join(seen).decode(errors="replace").split("\r\n"):
        args = re.findall(r'"((?:[^"\\]|\\.)*)"', line)
        if args[:1] == ["EVAL"] and "lua]" not in line:
            sites.append(args.count("S"))
    epochs = [int(redis("HGET", f"ecowarn:partition:{kafka.hj}:{p}", "epoch") or 0)
              for p in range(kafka.partitions)]
    assert sum(epochs) >= 4, epochs  # checkpoints completed meanwhile
    assert sum(sites) >= rounds, sites  # and wrote their sites
    assert max(sites) <= 2, sites
    assert d.stop() == 0


def test_backlog_of_500000_messages_on_one_partition(kafka_one_partition, redis, daemons):
    """A backlog produced before the daemon starts is read completely. On the embedded broker
    it cannot be: Debian's librdkafka 2.0.2 mock keeps about 15,000 messages per partition and
    drops older ones silently. That loss is asserted, so the limit stays known."""
    import subprocess
    from conftest import BIN
    kafka = kafka_one_partition
    r = subprocess.run([os.path.join(BIN, "ecowarn-sim"), "--seed", "5", "--enterprises", "760",
                        "--duration", "8h", "--anomalies", "0", "--brokers", kafka.bootstrap,
                        "--topics", f"{kafka.hj},{kafka.tel},{kafka.ent}"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    by_topic = r.stderr.strip().splitlines()[-2].split(": ", 1)[1]  # "T n, T n, T n"
    counts = {t: int(n) for t, n in (part.split() for part in by_topic.split(", "))}
    packets, registry = counts[kafka.hj], counts[kafka.ent]
    assert packets >= 500000
    d = daemons(kafka)
    d.wait_healthy(timeout=60)
    name = f'ecowarn_messages_total{{topic="{kafka.hj}"}}'

    def done():  # consumed as far as the broker has it: nothing behind, nothing in flight
        m = d.metrics()
        return m and m["ecowarn_consumer_lag"] == 0 and m["ecowarn_messages_in_flight"] == 0 \
            and m[name] > 0 and m
    m = wait_for("the backlog to be consumed", done, timeout=300, step=0.5)
    time.sleep(2.0)
    got = d.metrics()[name]
    if kafka.kind == "real":
        assert got == packets, f"read {got} of {packets}"
        assert d.metrics()['ecowarn_messages_total{topic="%s"}' % kafka.ent] == registry
    else:
        assert got < 20000, f"the embedded broker kept {got} of {packets}: its limit moved"
    assert d.stop() == 0


def test_kafka_pauses_while_redis_is_away(kafka, tmp, daemons):
    """Events wait in memory while Redis is away, and consumption pauses before the bound
    (redis.max_buffered) is reached: memory stays bounded, nothing is lost."""
    server = RedisServer(tmp, persist=True)
    try:
        d = daemons(kafka, redis_port=server.port, extra={"redis.max_buffered": "100"})
        d.wait_healthy()
        mns = [f"MN-B{i:03d}" for i in range(120)]
        register(kafka, d, *mns)
        server.stop()
        wait_for("health to report Redis gone", lambda: d.get("/health")[0] == 503)
        kafka.produce([(kafka.hj, hourly_packet(mn, hour(10), 50)) for mn in mns])
        m = wait_for("consumption to pause", lambda: (lambda m: m.get("ecowarn_kafka_paused") == 1
                                                       and m)(d.metrics()), timeout=30)
        time.sleep(1.0)
        m = d.metrics()
        assert m["ecowarn_kafka_paused"] == 1
        consumed = m[f'ecowarn_messages_total{{topic="{kafka.hj}"}}']
        assert consumed < len(mns), "it went on consuming with Redis away"
        # paused at 80 % of the bound; pausing drops what was fetched, so only the events of
        # the message being handled when it paused come on top
        assert 80 <= m["ecowarn_buffered_events"] <= 100
        server.start()
        d.wait_consumed(kafka.hj, len(mns), timeout=60)
        d.wait_settled(timeout=60)
        assert d.metrics()["ecowarn_kafka_paused"] == 0
        fired = {e["mn"] for e in Redis(server.port).events()
                 if e["rule"] == "over-limit" and e["event"] == "firing"}
        assert fired == set(mns)
        assert d.stop() == 0
    finally:
        server.stop()


def test_redis_refusing_for_now_loses_nothing(kafka, tmp, daemons):
    """A Redis that refuses commands for now (here out of memory; loading its data after a
    restart, a running script or a read-only replica say the same) has them sent again until
    it takes them: no alert event is dropped as a wrong command would be."""
    server = RedisServer(tmp)
    redis = Redis(server.port)
    try:
        d, mns = fired_sites(kafka, daemons, server, "MN-O", 4)
        assert redis("CONFIG", "SET", "maxmemory", "1") == "OK"
        kafka.produce([(kafka.hj, hourly_packet(mn, hour(11), 10)) for mn in mns])
        d.wait_consumed(kafka.hj, 2 * len(mns))
        wait_for("commands refused", lambda: (lambda m: m["ecowarn_redis_refusals_total"] +
                                              m["ecowarn_redis_errors_total"] >= 2)(d.metrics()))
        assert redis("CONFIG", "SET", "maxmemory", "0") == "OK"
        d.wait_settled(timeout=40)
        assert resolved_sites(redis.events()) == set(mns)
        m = d.metrics()
        assert m["ecowarn_redis_refusals_total"] >= 2 and m["ecowarn_redis_errors_total"] == 0
        assert "refused for now: OOM" in d.logtext()
        assert d.stop() == 0
    finally:
        redis.close()
        server.stop()


def test_redis_database_refused_is_not_written_elsewhere(kafka, redis, redis_server, daemons):
    """A SELECT that fails (no such database) closes the connection and it is made again later:
    the commands after it are not written to database 0 in its stead."""
    d = daemons(kafka, extra={"redis.url": f"redis://127.0.0.1:{redis_server.port}/99"})
    register(kafka, d, "MN-S1")
    kafka.produce([(kafka.hj, hourly_packet("MN-S1", hour(10), 50))])
    wait_for("SELECT refused again", lambda: d.metrics()["ecowarn_redis_refusals_total"] >= 8)
    # no partition is read before Redis gives back its state: nothing judged, nothing written
    assert d.metrics()[f'ecowarn_messages_total{{topic="{kafka.hj}"}}'] == 0
    assert redis("KEYS", "*") == []
    assert "SELECT 99 refused" in d.logtext()


def test_redis_reply_timeout_reconnects(kafka, redis, redis_server, daemons):
    """A Redis that stops answering (SIGSTOP) is timed out by the daemon's own timers
    (redis.timeout_ms): the connection is closed and made again, and nothing is lost."""
    d = daemons(kafka, extra={"redis.timeout_ms": "500"})
    d.wait_healthy()
    register(kafka, d, "MN-T1")
    redis_server.proc.send_signal(signal.SIGSTOP)
    try:
        kafka.produce([(kafka.hj, hourly_packet("MN-T1", hour(10), 50))])
        d.wait_consumed(kafka.hj, 1, timeout=60)  # a loaded machine (CI's sanitizer pass)
        wait_for("a reply timeout", lambda: d.metrics()["ecowarn_redis_timeouts_total"] >= 1,
                 timeout=30)
    finally:
        redis_server.proc.send_signal(signal.SIGCONT)
    d.wait_settled(timeout=30)
    assert any(e["rule"] == "over-limit" and e["mn"] == "MN-T1" for e in redis.events())
    assert "closing the connection" in d.logtext()
    assert d.stop() == 0


def test_embedded_broker_in_process(redis, redis_server, tmp):
    """kafka.brokers=embedded: the daemon starts its own broker, says where, and warns."""
    import re
    import subprocess
    from conftest import BIN, Daemon, Kafka
    k = Kafka.__new__(Kafka)  # the daemon's own broker: only names and a group
    k.hj, k.tel, k.ent, k.group = "ecowarn.hj212", "ecowarn.telemetry", "ecowarn.enterprise", "g"
    k.bootstrap = "embedded"
    d = Daemon(k, redis_server.port, tmp)
    try:
        addr = wait_for("the embedded broker's address", lambda: re.search(
            r"embedded broker at (\S+):", d.logtext()))
        k.bootstrap = addr.group(1)
        assert "drops older ones silently" in d.logtext()
        d.wait_healthy()
        r = subprocess.run([os.path.join(BIN, "ecowarn-sim"), "--produce", "--brokers",
                            k.bootstrap], input=f"{k.ent}\t{outlet('MN-E1')}\n", text=True,
                           capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr
        d.wait_consumed(k.ent, 1)
        r = subprocess.run([os.path.join(BIN, "ecowarn-sim"), "--produce", "--brokers",
                            k.bootstrap], input=f"{k.hj}\t{hourly_packet('MN-E1', hour(10), 50)}\n",
                           text=True, capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr
        wait_for("its alert", lambda: [e for e in redis.events() if e["mn"] == "MN-E1"])
    finally:
        assert d.stop() == 0


def test_simulator_is_deterministic():
    import subprocess
    from conftest import BIN
    args = [os.path.join(BIN, "ecowarn-sim"), "--seed", "11", "--enterprises", "6",
            "--duration", "3h", "--start", "2024-10-01T08:00:00+08:00", "--anomalies", "0.5"]
    a = subprocess.run(args, capture_output=True, text=True, timeout=60)
    b = subprocess.run(args, capture_output=True, text=True, timeout=60)
    c = subprocess.run(args[:2] + ["12"] + args[3:], capture_output=True, text=True, timeout=60)
    assert a.returncode == 0 and a.stdout == b.stdout and a.stderr == b.stderr
    assert c.stdout != a.stdout
    lines = a.stdout.splitlines()
    topics = {line.split("\t", 1)[0] for line in lines}
    assert topics == {"ecowarn.hj212", "ecowarn.enterprise"}
    packets = "\n".join(line.split("\t", 1)[1] for line in lines
                        if line.startswith("ecowarn.hj212")) + "\n"
    decoded = subprocess.run([os.path.join(BIN, "ecowarn-hj212"), "decode"], input=packets,
                             capture_output=True, text=True, timeout=60).stdout.splitlines()
    assert decoded and all('"ok":true' in line for line in decoded)
    kinds = {json.loads(line)["cn"] for line in decoded}
    assert kinds == {"2011", "2051", "2061", "2021"}
    assert "anomaly" in a.stderr


def rtd_packet(mn, t):
    """A real-time flue-gas packet (CN 2011) of data time t (YYYYmmddHHMMSS)."""
    return hj212(f"ST=31;CN=2011;PW=123456;MN={mn};Flag=4;CP=&&DataTime={t};"
                 f"a21026-Rtd=10,a21026-Flag=N&&")


def test_lagging_partition_raises_no_false_offline(kafka, redis, daemons):
    """Two sites on the two partitions of the packet topic, each sending every 10 minutes: one
    five hours of data, the other's data stops three hours earlier, as a partition that lags
    would show it. The engine's clock is the earlier partition's watermark, so the lagging site
    is not silent; once its partition has been read to its end and quiet for
    engine.idle_partition_ms it no longer holds the clock back, and the site is offline from
    its own last data."""
    import zlib
    live, lag = "MN-CLK04", "MN-CLK01"  # librdkafka's default partitioner: CRC-32 of the key
    assert zlib.crc32(live.encode()) % 2 != zlib.crc32(lag.encode()) % 2
    # idle after 15 s: the clock must still be the lagging partition's when the consumption and
    # its writes are over, which under ASan on the real broker took longer than 6 s once
    d = daemons(kafka, extra={"engine.idle_partition_ms": "15000"})
    d.wait_healthy()
    every10 = [f"20241001{h:02d}{m:02d}00" for h in range(10, 15) for m in range(0, 60, 10)]
    kafka.produce([(kafka.hj, rtd_packet(live, t)) for t in every10 + ["20241001150000"]] +
                  [(kafka.hj, rtd_packet(lag, t)) for t in every10[:12] + ["20241001120000"]])
    d.wait_consumed(kafka.hj, 31 + 13)
    d.wait_settled()
    # 2024-10-01T12:00+08:00, the lagging partition's, from the next tick on
    wait_for("the clock at the lagging partition's watermark",
             lambda: d.metrics().get("ecowarn_clock_seconds") == 1727755200)
    m = d.metrics()
    assert m["ecowarn_partitions_holding_clock"] == 2  # one site on each partition
    assert m["ecowarn_partitions_awaited"] == 0  # the empty ones are read to their end
    time.sleep(1.0)  # ten ticks
    bad = [e for e in redis.events() if e["rule"] == "site-offline"]
    assert not bad, (bad, d.metrics())
    fired = wait_for("the lagging site offline once its partition is idle", lambda: [
        e for e in redis.events() if e["rule"] == "site-offline"], timeout=45)
    assert [(e["mn"], e["event"], e["event_time"]) for e in fired] == \
        [(lag, "firing", "2024-10-01T12:30:00+08:00")]
    m = d.metrics()
    assert m["ecowarn_partitions_idle"] == 2 and m["ecowarn_clock_seconds"] == 1727766000
    assert d.stop() == 0


# The long form of the test below: about 1.1 million messages (2,000 enterprises, 6 hours), on
# the real broker only, with the daemon's own reorder window (60 s):
#   EW_SAME_OUTPUT_LONG=1 python3 -m pytest -q -p no:cacheprovider tests/integration \
#       -k 'same_input and real'
SAME_OUTPUT_LONG = os.environ.get("EW_SAME_OUTPUT_LONG") == "1"


def test_same_input_same_output_at_any_partitioning(kafka, real_broker, redis, daemons, tmp):
    """A deterministic simulated fleet (4 hours of 12 enterprises, with over-limit, drift,
    flat, offline and fault anomalies) consumed on 4 partitions, again on 4, on 1, and on 4
    sent in parts as the daemon reads it: every stream, every reminders stream and the active
    hash are the same, event for event (the order of events from different partitions
    aside)."""
    from conftest import BIN, Kafka
    import pytest
    import subprocess
    if SAME_OUTPUT_LONG and kafka.kind != "real":
        pytest.skip("the long form runs on the real broker")
    ents, hours, reorder, wait = ("2000", "6h", "60000", 900) if SAME_OUTPUT_LONG else \
        ("12", "4h", "5000", 120)
    fleet = os.path.join(tmp, "fleet.tsv")
    with open(fleet, "w") as out:
        sim = subprocess.run([os.path.join(BIN, "ecowarn-sim"), "--seed", "7", "--enterprises",
                              ents, "--start", "2024-10-01T00:00:00+08:00", "--duration", hours,
                              "--anomalies", "0.5"], stdout=out, stderr=subprocess.PIPE,
                             text=True, timeout=wait)
    assert sim.returncode == 0, sim.stderr
    with open(fleet) as f:
        n = sum(1 for line in f if line.startswith("ecowarn.hj212\t"))
    # the same fleet in 12 parts, in data-time order, each consumed before the next is sent:
    # the daemon sees the data come as it would live, its clock and ticks between the parts.
    # The registry the fleet starts with is there before the daemon starts, as in a burst (the
    # daemon reads it whole before it joins): a site's first records judged before its limits
    # arrive would be judged differently (a trend has no limit to predict against)
    parts, count = [], 0
    with open(fleet) as f:
        lines = f.readlines()
    lead = next(i for i, line in enumerate(lines) if not line.startswith("ecowarn.enterprise\t"))
    registry = os.path.join(tmp, "registry.tsv")
    with open(registry, "w") as out:
        out.writelines(lines[:lead])
    del lines[:lead]
    for i in range(12):
        part = lines[i * len(lines) // 12:(i + 1) * len(lines) // 12]
        count += sum(1 for line in part if line.startswith("ecowarn.hj212\t"))
        path = os.path.join(tmp, f"part{i}.tsv")
        with open(path, "w") as out:
            out.writelines(part)
        parts.append((path, count))
    del lines
    runs = []
    for partitions, spread in ((4, False), (4, False), (1, False), (4, True)):
        k = Kafka(kafka.kind, real_broker, partitions=partitions)
        try:
            names = {"ecowarn.hj212": k.hj, "ecowarn.telemetry": k.tel,
                     "ecowarn.enterprise": k.ent}
            redis("FLUSHALL")
            k.produce_file(fleet if not spread else registry, names, timeout=wait)
            # small batches and fast ticks: the clock is judged many times while a partition's
            # chunk runs ahead of the others
            d = daemons(k, extra={"engine.idle_partition_ms": "1500", "kafka.batch": "20",
                                  "engine.tick_ms": "10", "engine.reorder_ms": reorder})
            d.wait_healthy()
            for path, upto in parts if spread else ():
                k.produce_file(path, names, timeout=wait)
                d.wait_consumed(k.hj, upto, timeout=wait)
                time.sleep(0.3)  # thirty ticks
            d.wait_consumed(k.hj, n, timeout=wait)
            # every partition read to its end and idle: the clock at the newest data
            wait_for("the partitions idle", lambda: d.metrics().get(
                "ecowarn_partitions_holding_clock") == 0, timeout=30)
            time.sleep(0.5)  # five ticks at the final clock
            # the records still held for event-time order go a reorder window after they came
            d.wait_settled(timeout=int(reorder) / 1000 + 30)
            runs.append(outputs(redis))
            assert d.stop() == 0
        finally:
            k.stop()
    events = runs[0]["ecowarn:events"]
    kinds = {json.loads(e)["kind"] for e in events}
    assert {"threshold", "offline"} <= kinds, kinds
    assert len(events) > 50
    if SAME_OUTPUT_LONG:
        print(f"\nsame output: {n} packets, {len(events)} events, kinds "
              f"{sorted(kinds)}, {len(runs[0])} keys")
    assert runs[0] == runs[1], "two runs on 4 partitions differ:\n" + differ(runs[0], runs[1])
    assert runs[0] == runs[2], "4 partitions and 1 differ:\n" + differ(runs[0], runs[2])
    assert runs[0] == runs[3], "a burst and parts differ:\n" + differ(runs[0], runs[3])
