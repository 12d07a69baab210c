#!/usr/bin/env python3
"""First starts of ecowarnd on the real broker, counted: how often a start leaves a partition
unread. Each start has a consumer group of its own and an empty Redis, two partitions with
messages on both, and must read them all within 15 s; then it is killed.

    EW_BIN=build-asan/bin python3 bench/first_starts.py [STARTS]     (default 300)

librdkafka 2.0.2 could drop the resume that ends a partition's claim, or its own start of the
partition, when the two came together a round trip after the assignment (cmd/DAEMON.md,
"Inputs"); under ASan and with other work on the machine that was about 1 start in 250. The
rate depends on timing: compare builds in turn, on one machine, with the same load beside them.
"""
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from conftest import Daemon, Kafka, RealBroker, Redis, RedisServer, hourly_packet  # noqa: E402

MESSAGES = 16  # by their keys, on both partitions


def main():
    starts = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    broker = RealBroker()
    if broker.error:
        sys.exit(f"first_starts: no real Kafka broker: {broker.error}")
    tmp = tempfile.mkdtemp(prefix="ecowarn-first-starts-")
    server = RedisServer(tmp)
    redis = Redis(server.port)
    try:
        kafka = Kafka("real", broker)
        kafka.produce([(kafka.hj, hourly_packet(f"MN-F{i}", "20241001100000", 10))
                       for i in range(MESSAGES)])
        name = f'ecowarn_messages_total{{topic="{kafka.hj}"}}'
        stalled = 0
        for start in range(starts):
            redis("FLUSHALL")
            d = Daemon(kafka, server.port, tmp, extra={"kafka.group_id": f"{kafka.group}-{start}"})
            deadline, got = time.monotonic() + 15, 0
            while time.monotonic() < deadline and got < MESSAGES:
                got = d.metrics().get(name, 0)
                time.sleep(0.05)
            d.proc.kill()
            d.proc.wait()
            d.log.close()
            if got < MESSAGES:
                stalled += 1
                print(f"start {start}: {got:.0f} of {MESSAGES} read (log {d.log_path})",
                      flush=True)
            else:
                os.unlink(d.log_path)
        print(f"{stalled} of {starts} first starts left a partition unread")
    finally:
        redis.close()
        server.stop()
        broker.stop()


if __name__ == "__main__":
    main()
