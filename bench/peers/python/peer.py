#!/usr/bin/env python3
"""The Python peer of bench/province.sh: what an integrator would write with confluent-kafka and
redis-py to do ecowarnd's default threshold and offline rules.

  peer.py --brokers LIST --redis-port P [--messages N] [--prefix ecowarn:] [--group G] [--live]

It reads ecowarn.enterprise (outlets and their hourly limits) to its end first, then it,
ecowarn.hj212 and ecowarn.telemetry (JSON records) in one consumer group, checks each packet's length and CRC
(HJ 212-2017's CRC-16), and raises, as ecowarnd's default rules do:
  * over-limit (officer) and over-limit-reminder (enterprise): an hourly ZsAvg (else Avg) flagged
    N (valid) above the outlet's hourly limit, `firing` / `reminder` when it goes over,
    `resolved` when back;
  * site-offline (officer): no data for 30 minutes of event time (the partition's newest data
    time), resolved when data comes again.
Events go to the same Redis keys (CONTRACT.md: events, duty, reminders:<enterprise_id>,
active, live) in one pipeline per batch of messages. The consumer is set as confluent-kafka's
documentation has it for throughput (consume() in batches, offsets committed automatically).
With --messages it stops after that many messages (or after 30 s without one) and prints one
line of NAME=VALUE as bench_consume does (messages, seconds, msgs_per_s, cpu_us_per_msg,
peak_rss_kb). With --live it reads the data topics from their end (the registry from its
beginning), as a consumer started beside live input: bench/province.sh measures its latency so.
"""
import argparse
import calendar
import hashlib
import json
import resource
import time

import redis
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, TopicPartition

OFFLINE_MS = 30 * 60 * 1000
TZ_MS = 8 * 3600 * 1000


def crc_table():
    table = []
    for i in range(256):
        r = i
        for _ in range(8):
            r = (r >> 1) ^ 0xA001 if r & 1 else r >> 1
        table.append(r)
    return table


CRC = crc_table()


def hj212_crc(data: bytes) -> int:
    reg = 0xFFFF
    for b in data:
        reg = CRC[(reg >> 8) ^ b]
    return reg


def decode(packet: bytes):
    """(fields, values) of a valid packet, or None: ##LLLL, data, CRC in 4 hex digits."""
    p = packet.rstrip(b"\r\n")
    if len(p) < 10 or p[:2] != b"##":
        return None
    try:
        n = int(p[2:6])
        data, crc = p[6:6 + n], int(p[6 + n:10 + n], 16)
    except ValueError:
        return None
    if len(data) != n or hj212_crc(data) != crc:
        return None
    text = data.decode("utf-8", "replace")
    head, _, cp = text.partition("CP=&&")
    fields = dict(kv.split("=", 1) for kv in head.split(";") if "=" in kv)
    values = {}
    for item in cp.rstrip("&").replace(",", ";").split(";"):
        key, eq, val = item.partition("=")
        if eq:
            values[key] = val
    return fields, values


def data_time(s):
    """HJ 212's DataTime (Beijing time) as epoch ms."""
    return calendar.timegm(time.strptime(s[:14], "%Y%m%d%H%M%S")) * 1000 - TZ_MS


def iso_time(s):
    """An ISO 8601 time with +08:00 (the telemetry's data_time) as epoch ms."""
    return calendar.timegm(time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S")) * 1000 - TZ_MS


def iso(ms):
    s = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime((ms + TZ_MS) / 1000))
    return f"{s}.{ms % 1000:03d}+08:00"


class Peer:
    def __init__(self, r, prefix):
        self.r, self.prefix = r, prefix
        self.outlets = {}  # mn -> outlet.upsert
        self.over = {}  # (mn, code) -> value while over
        self.last = {}  # mn -> ((topic, partition), newest data time)
        self.marks = {}  # (topic, partition) -> newest data time: each one's clock
        self.offline = set()
        self.pipe = r.pipeline(transaction=False)

    def emit(self, rule, kind, event, audience, mn, at, **more):
        o = self.outlets.get(mn, {})
        subject = f"{rule}|{mn}|{more.get('pollutant', '')}".encode()
        fp = hashlib.blake2b(subject, digest_size=8).hexdigest()
        ev = {"id": f"{fp}-{at}-{event}", "fingerprint": fp, "rule": rule, "kind": kind,
              "event": event, "severity": "major", "audience": audience,
              "enterprise_id": o.get("enterprise_id", ""), "mn": mn,
              "event_time": iso(at), "detected_at": iso(int(time.time() * 1000)),
              "message": f"{rule} {mn}", **more}
        j = json.dumps(ev, ensure_ascii=False, separators=(",", ":"))
        p = self.prefix
        self.pipe.xadd(p + "events", {"json": j})
        if audience == "enterprise":
            self.pipe.xadd(f"{p}reminders:{ev['enterprise_id']}", {"json": j})
        else:
            self.pipe.xadd(p + "duty", {"json": j})
        if event == "resolved":
            self.pipe.hdel(p + "active", fp)
        else:
            self.pipe.hset(p + "active", fp, j)
        self.pipe.publish(p + "live", j)

    def enterprise(self, value):
        try:
            e = json.loads(value)
        except ValueError:
            return
        if e.get("type") == "outlet.upsert" and e.get("mn"):
            self.outlets[e["mn"]] = e

    def packet(self, partition, value):
        d = decode(value)
        if not d:
            return
        fields, values = d
        mn, dt = fields.get("MN"), values.get("DataTime")
        if mn and dt:
            self.record(partition, mn, fields.get("CN"), data_time(dt), values)

    def telemetry(self, partition, value):
        try:
            r = json.loads(value)
            values = {}
            for v in r.get("values", []):
                values[f"{v['code']}-{v['field']}"] = v["value"]
                if v.get("flag"):
                    values[f"{v['code']}-Flag"] = v["flag"]
            self.record(partition, r["mn"], r.get("cn"), iso_time(r["data_time"]), values)
        except (ValueError, KeyError, TypeError):
            return

    def record(self, partition, mn, cn, at, values):
        if mn in self.offline:
            self.offline.discard(mn)
            self.emit("site-offline", "offline", "resolved", "officer", mn, at)
        self.last[mn] = (partition, max(at, self.last.get(mn, (0, at))[1]))
        if at > self.marks.get(partition, 0):
            self.marks[partition] = at
            self.sweep(partition, at)
        if cn != "2061":
            return
        limits = self.outlets.get(mn, {}).get("limits", {})
        for code, lim in limits.items():
            hour = lim.get("hour")
            v = values.get(f"{code}-ZsAvg", values.get(f"{code}-Avg"))
            if hour is None or v is None or values.get(f"{code}-Flag", "N") != "N":
                continue
            try:
                v = float(v)
            except (TypeError, ValueError):
                continue
            key, more = (mn, code), {"pollutant": code, "value": v, "limit": hour}
            if v > hour and key not in self.over:
                self.over[key] = v
                self.emit("over-limit", "threshold", "firing", "officer", mn, at, **more)
                self.emit("over-limit-reminder", "threshold", "reminder", "enterprise", mn, at,
                          **more)
            elif v <= hour and key in self.over:
                del self.over[key]
                self.emit("over-limit", "threshold", "resolved", "officer", mn, at, **more)
                self.emit("over-limit-reminder", "threshold", "resolved", "enterprise", mn, at,
                          **more)

    def sweep(self, partition, mark):
        # every site of the partition silent for 30 minutes of its clock: scanned when the
        # clock moves, as a consumer without timers would
        for mn, (p, t) in self.last.items():
            if p == partition and mn not in self.offline and mark - t >= OFFLINE_MS:
                self.offline.add(mn)
                self.emit("site-offline", "offline", "firing", "officer", mn, t + OFFLINE_MS)


def load_registry(peer, brokers):
    """Reads ecowarn.enterprise to its end before any data, as ecowarnd and the JVM peers do (a
    packet judged before its outlet's limits are known raises nothing): for 60 s at most."""
    c = Consumer({"bootstrap.servers": brokers, "group.id": "peer-python-registry",
                  "enable.auto.commit": False})
    topic = "ecowarn.enterprise"
    parts = [TopicPartition(topic, p, OFFSET_BEGINNING)
             for p in c.list_topics(topic, timeout=10).topics[topic].partitions]
    left = {tp.partition: c.get_watermark_offsets(tp, timeout=10)[1] for tp in parts}
    left = {p: end for p, end in left.items() if end > 0}
    c.assign(parts)
    deadline = time.monotonic() + 60
    while left and time.monotonic() < deadline:
        for m in c.consume(num_messages=1000, timeout=0.1):
            if m.error():
                continue
            peer.enterprise(m.value())
            if m.offset() + 1 >= left.get(m.partition(), 0):
                left.pop(m.partition(), None)
    c.close()


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--brokers", required=True)
    a.add_argument("--redis-port", type=int, required=True)
    a.add_argument("--messages", type=int, default=0)
    a.add_argument("--prefix", default="ecowarn:")
    a.add_argument("--group", default="peer-python")
    a.add_argument("--live", action="store_true")
    args = a.parse_args()
    peer = Peer(redis.Redis(port=args.redis_port), args.prefix)
    c = Consumer({"bootstrap.servers": args.brokers, "group.id": args.group,
                  "auto.offset.reset": "earliest", "enable.auto.commit": True})
    def from_end(consumer, parts):
        for p in parts:
            p.offset = OFFSET_BEGINNING if p.topic == "ecowarn.enterprise" else OFFSET_END
        consumer.assign(parts)

    topics = ["ecowarn.enterprise", "ecowarn.hj212", "ecowarn.telemetry"]
    if args.live:
        c.subscribe(topics, on_assign=from_end)
    else:
        c.subscribe(topics)
    n, first, cpu0, heard = 0, None, None, time.monotonic()
    if args.messages:  # the clock starts with the registry's reading
        first, cpu0 = time.monotonic(), time.process_time()
    load_registry(peer, args.brokers)
    heard = time.monotonic()
    try:
        while not args.messages or n < args.messages:
            batch = c.consume(num_messages=1000, timeout=0.1)
            if batch:
                heard = time.monotonic()
            elif args.messages and time.monotonic() - heard > 30:
                break
            for m in batch:
                if m.error() or (args.messages and n == args.messages):
                    continue
                if first is None:
                    first, cpu0 = time.monotonic(), time.process_time()
                n += 1
                topic = m.topic()
                if topic == "ecowarn.enterprise":
                    peer.enterprise(m.value())
                elif topic == "ecowarn.hj212":
                    peer.packet((topic, m.partition()), m.value())
                else:
                    peer.telemetry((topic, m.partition()), m.value())
            if batch:
                peer.pipe.execute()
    except KeyboardInterrupt:
        pass
    finally:
        c.close()
    if args.messages and first is not None:
        secs = time.monotonic() - first
        cpu = time.process_time() - cpu0
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(f"messages={n} seconds={secs:.3f} msgs_per_s={n / secs:.0f} "
              f"cpu_us_per_msg={cpu * 1e6 / n:.3f} peak_rss_kb={rss}")


if __name__ == "__main__":
    main()
