"""Faults and rebalances change nothing in what ecowarn writes (cmd/DAEMON.md, "Guarantees").

A deterministic simulated fleet (ecowarn-sim, one seed) is consumed on a real Apache Kafka broker
of the test's own, once as a reference (one daemon, the fleet produced before it starts), then
again, produced a slice at a time while faults strike at random moments (the seed's): the daemon
killed (-9) at least eight times while it consumes, Redis killed and restarted (its AOF written
before each reply: what it answered survives), Redis stopped for longer than the daemon's reply
timeout, Redis stalled and then the daemon killed, Redis restarted without its last writes, the
broker killed and restarted; on 1 and on 4 partitions. Then the scale-out run: one daemon, a
second and a third joining and leaving while the fleet is produced. Each run's final events,
duty, reminders:* streams, dead letters and active hash must equal the reference's: nothing
lost, nothing spurious, no entry twice.

Short form (make test, about 6 minutes): one seed. Long form, five seeds over a fleet three
times the size (about 27 minutes):
    EW_CHAOS_LONG=1 python3 -m pytest -q -p no:cacheprovider tests/integration/test_chaos.py
"""
import os
import random
import shutil
import signal
import subprocess
import threading
import time

import pytest

from conftest import (BIN, ROOT, Daemon, Kafka, Redis, RealBroker, RedisServer, differ,
                      main_thread_stack, outputs, wait_for)

LONG = os.environ.get("EW_CHAOS_LONG") == "1"
PARTITIONS = (1, 4)
SEEDS = (11, 12, 13, 14, 15) if LONG else (11,)
ENTERPRISES = "60" if LONG else "20"
DURATION = "6h"
REORDER = "5000"

# small batches, fast ticks, the shortest session: many loop passes, rebalances soon after a
# kill. A partition goes idle (and held records are let go by processing time) only after 20 s
# without data: longer than any fault keeps the input away (a broker restart takes about 14 s),
# as it must be, since what an idle partition changes depends on how fast the input came.
IDLE = "20000"
OPTIONS = {"engine.reorder_ms": REORDER, "engine.idle_partition_ms": IDLE, "kafka.batch": "20",
           "engine.tick_ms": "20", "redis.batch_ms": "50", "kafka.session_timeout_ms": "6000"}
# the faulted run on several partitions checkpoints often, a site a transaction, and two of its
# kills come just as Redis shows a checkpoint begun and not complete (cmd/DAEMON.md, "A
# checkpoint"); the one on one partition keeps the default 30 s, and replays long stretches
STAGED = {"redis.checkpoint_ms": "400", "redis.checkpoint_sites": "1"}


@pytest.fixture(scope="module")
def broker():
    """A broker of this module's own: the faults restart it."""
    b = RealBroker()
    if b.error:
        msg = f"no real Kafka broker: {b.error}"
        if os.environ.get("EW_REQUIRE_REAL_KAFKA") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    yield b
    b.stop()


def fleet(seed, tmp):
    """The fleet as TOPIC<TAB>PAYLOAD lines in a file, and how many data messages it holds."""
    path = os.path.join(tmp, f"fleet-{seed}.tsv")
    with open(path, "w") as out:
        subprocess.run([os.path.join(BIN, "ecowarn-sim"), "--seed", str(seed), "--enterprises",
                        ENTERPRISES, "--start", "2024-10-01T00:00:00+08:00", "--duration",
                        DURATION, "--anomalies", "0.5"], stdout=out, stderr=subprocess.DEVNULL,
                       timeout=120, check=True)
    with open(path) as f:
        n = sum(1 for line in f if not line.startswith("ecowarn.enterprise\t"))
    return path, n


def renamed(kafka, line):
    names = {"ecowarn.hj212": kafka.hj, "ecowarn.telemetry": kafka.tel,
             "ecowarn.enterprise": kafka.ent}
    topic, rest = line.split("\t", 1)
    return f"{names[topic]}\t{rest}"


class Feeder:
    """The fleet produced a slice at a time, each slice over a second or so, in order: the next
    slice is let go by the test, so that the input lasts as long as the faults do."""

    def __init__(self, kafka, path, slices):
        with open(path) as f:
            self.lines = [renamed(kafka, line) for line in f]
        self.slices = slices
        self.sent = 0
        self.proc = subprocess.Popen([os.path.join(BIN, "ecowarn-sim"), "--produce", "--brokers",
                                      kafka.bootstrap], stdin=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.gate = threading.Semaphore(0)
        self.thread = threading.Thread(target=self.feed, daemon=True)
        self.thread.start()

    def feed(self):
        per = -(-len(self.lines) // self.slices)
        for i in range(self.slices):
            self.gate.acquire()
            part = self.lines[i * per:(i + 1) * per]
            for j in range(0, len(part), 50):
                self.proc.stdin.writelines(part[j:j + 50])
                self.proc.stdin.flush()
                time.sleep(1.5 * 50 / max(len(part), 1))
            self.sent = min(len(self.lines), (i + 1) * per)
        self.proc.stdin.close()

    def next(self):
        self.gate.release()

    def finish(self):
        for _ in range(self.slices):
            self.gate.release()
        self.thread.join(timeout=600)
        assert self.proc.wait(timeout=120) == 0, self.proc.stderr.read()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()


def read_to_end(kafka, redis, total, timeout=180):
    """Every data message of the fleet is behind the saved cut of its partition, no record is
    held any more and every transaction is answered."""
    def done():
        nexts = 0
        for p in range(kafka.partitions):
            for topic in (kafka.hj, kafka.tel):
                v = redis("HGET", f"ecowarn:partition:{topic}:{p}", "next")
                nexts += int(v) if v else 0
        return nexts >= total
    wait_for("the fleet read to its end", done, timeout=timeout, step=0.2)


def settle(d):
    """The last records judged (a reorder window after they came), the clock at the newest data,
    every transaction answered."""
    wait_for("the partitions idle",
             lambda: d.metrics().get("ecowarn_partitions_holding_clock") == 0,
             timeout=int(IDLE) / 1000 + 60)
    time.sleep(0.5)
    d.wait_settled(timeout=int(REORDER) / 1000 + 60)
    time.sleep(0.3)  # the last transaction after the last tick


def run_reference(path, total, broker, tmp, partitions):
    kafka = Kafka("real", broker, partitions=partitions)
    server = RedisServer(tmp, persist=True)
    redis = Redis(server.port)
    kafka.produce_file(path, {"ecowarn.hj212": kafka.hj, "ecowarn.telemetry": kafka.tel,
                              "ecowarn.enterprise": kafka.ent}, timeout=300)
    d = Daemon(kafka, server.port, tmp, extra=OPTIONS)
    try:
        read_to_end(kafka, redis, total)
        settle(d)
        out = outputs(redis)
        assert d.stop() == 0
        return out
    finally:
        if d.proc.poll() is None:
            d.proc.kill()
        redis.close()
        server.stop()


def progress(d):
    """For a failure's message: where the daemon's input stands, by its metrics."""
    m = d.metrics()
    if not m:
        return "its metrics do not answer"
    return ", ".join(f"{k} {v:.0f}" for k, v in m.items() if k.startswith(
        ("ecowarn_messages_total", "ecowarn_consumer_lag", "ecowarn_messages_in_flight",
         "ecowarn_partitions_live")))


def stacks_of(daemons):
    """Prints each running daemon's main thread (conftest.main_thread_stack)."""
    for d in daemons:
        if d.proc.poll() is None:
            print(f"---- ecowarnd {d.log_path}: its main thread ----")
            print(main_thread_stack(d.proc.pid))


def live(d, timeout=60):
    """The daemon has claimed its partitions: it is consuming. (Its first transaction may wait
    for events to write or for its first checkpoint, redis.checkpoint_ms later.)"""
    wait_for("the daemon consuming", lambda: d.metrics().get("ecowarn_partitions_live", 0) > 0,
             timeout=timeout, step=0.1, seen=lambda: progress(d))


def compare(ref, got, what, logs=()):
    events = ref.get("ecowarn:events", [])
    assert len(events) > 50, "a reference with too few events to prove anything"
    keep = os.environ.get("EW_CHAOS_KEEP")  # a folder: the daemons' logs are kept there
    if got != ref and keep:
        os.makedirs(keep, exist_ok=True)
        for i, log in enumerate(logs):
            subprocess.run(["cp", log, os.path.join(keep, f"daemon{i}.log")], check=False)
    assert got == ref, f"{what} differs from the reference:\n" + differ(ref, got)


class Faults:
    """One run's faults, in the seed's order, each at a random moment while the fleet comes."""

    def __init__(self, seed, kafka, broker, server, tmp, feeder, options, plan):
        self.rng = random.Random(seed)
        self.options, self.plan = options, plan
        self.redis = Redis(server.port)
        self.feeder = feeder
        self.kafka, self.broker, self.server, self.tmp = kafka, broker, server, tmp
        self.daemon = self.start()
        self.kills_consuming = 0

    def start(self):
        d = Daemon(self.kafka, self.server.port, self.tmp, extra=self.options)
        self.logs = getattr(self, "logs", []) + [d.log_path]
        return d

    def pause(self):
        """A random moment while the daemon consumes: claimed, records coming or held."""
        live(self.daemon)
        wait_for("the daemon consuming", self.consuming, timeout=60, step=0.1,
                 seen=lambda: progress(self.daemon))
        time.sleep(self.rng.uniform(0.3, 1.5))

    def consuming(self):
        m = self.daemon.metrics()
        return m.get("ecowarn_consumer_lag", 0) > 0 or m.get("ecowarn_messages_in_flight", 0) > 0

    def kill_daemon(self):
        if self.consuming():
            self.kills_consuming += 1
        self.daemon.proc.kill()
        self.daemon.proc.wait()
        self.daemon.log.close()
        self.daemon = self.start()

    def half_written(self):
        """Some partition's checkpoint is begun and not complete, after one that is (its
        successor has a state to claim): some of its sites are in the stage after the last."""
        try:
            for topic in (self.kafka.hj, self.kafka.tel):
                for p in range(self.kafka.partitions):
                    epoch = int(self.redis("HGET", f"ecowarn:partition:{topic}:{p}", "epoch") or 0)
                    stage = f"ecowarn:stage:{topic}:{p}:{(epoch + 1) % 2}"
                    if epoch and self.redis("HLEN", stage):
                        return True
        except (ConnectionError, OSError):
            pass  # Redis restarted by an earlier fault: connected again at the next call
        return False

    def kill_half_written(self):
        wait_for("a checkpoint half written", self.half_written, timeout=60, step=0.002)
        self.kill_daemon()

    def kill_redis(self):
        self.server.stop()  # -9
        self.server.start()

    def stop_redis(self):
        self.server.proc.send_signal(signal.SIGSTOP)  # longer than redis.timeout_ms
        time.sleep(2.5)
        self.server.proc.send_signal(signal.SIGCONT)

    def redis_goes_back(self):
        """Redis restarts without the writes of its last moments, answered all the same (as with
        appendfsync everysec after a crash): the daemon must see that and write them again."""
        snap = self.server.dir + ".snap"
        self.server.proc.send_signal(signal.SIGSTOP)
        shutil.copytree(self.server.dir, snap)
        self.server.proc.send_signal(signal.SIGCONT)
        time.sleep(self.rng.uniform(0.5, 1.5))  # transactions written and answered, then lost
        self.server.stop()  # -9
        shutil.rmtree(self.server.dir)
        os.rename(snap, self.server.dir)
        self.server.start()

    def stall_redis_then_kill(self):
        if self.consuming():
            self.kills_consuming += 1
        self.server.proc.send_signal(signal.SIGSTOP)
        time.sleep(1.5)  # events pile up in the daemon, not written
        self.daemon.proc.kill()
        self.daemon.proc.wait()
        self.daemon.log.close()
        self.server.proc.send_signal(signal.SIGCONT)
        self.daemon = self.start()

    def restart_broker(self):
        r = subprocess.run([os.path.join(ROOT, "scripts", "kafka.sh"), "restart",
                            self.broker.dir], capture_output=True, text=True, timeout=300,
                           env=dict(os.environ, EW_BIN=BIN))
        assert r.returncode == 0, r.stderr

    def run(self):
        plan = list(self.plan)
        self.rng.shuffle(plan)
        for fault in plan:
            self.feeder.next()
            self.pause()
            getattr(self, fault)()
        return plan


PLAN = ["kill_daemon"] * 8 + ["kill_redis", "stop_redis", "stall_redis_then_kill", "redis_goes_back",
                            "restart_broker"]


@pytest.mark.parametrize("seed", SEEDS)
def test_faults_change_nothing(seed, broker, tmp):
    path, total = fleet(seed, tmp)
    for partitions in PARTITIONS:
        ref = run_reference(path, total, broker, tmp, partitions)
        kafka = Kafka("real", broker, partitions=partitions)
        server = RedisServer(tmp, persist=True)
        redis = Redis(server.port)
        staged = partitions > 1
        plan = PLAN + ["kill_half_written"] * 2 if staged else PLAN
        feeder = Feeder(kafka, path, len(plan) + 1)
        faults = Faults(seed * 10 + partitions, kafka, broker, server, tmp, feeder,
                        OPTIONS | STAGED if staged else OPTIONS, plan)
        try:
            plan = faults.run()
            assert faults.kills_consuming >= 9, \
                f"only {faults.kills_consuming} kills while the daemon consumed: {plan}"
            feeder.finish()
            read_to_end(kafka, redis, total)
            settle(faults.daemon)
            compare(ref, outputs(redis), f"seed {seed}, {partitions} partitions, faults {plan}",
                    faults.logs)
            assert faults.daemon.stop() == 0
        except BaseException:
            stacks_of([faults.daemon])
            raise
        finally:
            feeder.kill()
            if faults.daemon.proc.poll() is None:
                faults.daemon.proc.kill()
            faults.redis.close()
            redis.close()
            server.stop()


@pytest.mark.parametrize("seed", SEEDS)
def test_members_joining_and_leaving_change_nothing(seed, broker, tmp):
    """One daemon, then a second and a third join, the second leaves (SIGTERM), the third is
    killed: each partition's state goes with it, and the output is the single daemon's."""
    path, total = fleet(seed, tmp)
    ref = run_reference(path, total, broker, tmp, 4)
    kafka = Kafka("real", broker, partitions=4)
    server = RedisServer(tmp, persist=True)
    redis = Redis(server.port)
    feeder = Feeder(kafka, path, 6)
    rng = random.Random(seed)
    a = Daemon(kafka, server.port, tmp, extra=OPTIONS | STAGED)
    started = [a]

    def step(d):
        """The next slice comes while d is consuming, for a random while."""
        feeder.next()
        live(d)
        time.sleep(rng.uniform(1, 2.5))
    try:
        step(a)
        b = Daemon(kafka, server.port, tmp, extra=OPTIONS | STAGED)
        started.append(b)
        step(b)
        c = Daemon(kafka, server.port, tmp, extra=OPTIONS | STAGED)
        started.append(c)
        step(c)
        assert b.stop() == 0
        step(c)
        c.proc.kill()
        c.proc.wait()
        step(a)
        feeder.finish()
        read_to_end(kafka, redis, total)
        settle(a)
        assert a.metrics().get("ecowarn_sites_restored_total", 0) > 0  # partitions came back
        compare(ref, outputs(redis), f"seed {seed}, members joining and leaving",
                [d.log_path for d in started])
        assert a.stop() == 0
    except BaseException:
        stacks_of(started)
        raise
    finally:
        feeder.kill()
        for d in started:
            if d.proc.poll() is None:
                d.proc.kill()
        redis.close()
        server.stop()

