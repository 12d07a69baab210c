"""Integration tests: real processes on loopback. Each test gets its own redis-server on a free
port, its own embedded Kafka broker (ecowarn-kafka, librdkafka's mock cluster, over TCP) and its
own ecowarnd; every wait is bounded and fails the test when its deadline passes.

Run through `make test` (or: python3 -m pytest tests/integration, with EW_BIN pointing at the
build's bin folder).
"""
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("EW_BIN", os.path.join(ROOT, "build", "bin"))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from hj212_frame import crc_hj212  # noqa: E402  (the project's own framing tool)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, predicate, timeout=20.0, step=0.05, seen=None):
    """Polls predicate until it returns something true; fails the test after timeout, saying
    what seen() returns then (what was there instead), when it is given."""
    deadline = time.monotonic() + timeout
    while True:
        got = predicate()
        if got:
            return got
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}" +
                        (f" ({seen()})" if seen else ""))
        time.sleep(step)


def main_thread_stack(pid):
    """Where a process's main thread (ecowarnd's event loop) is, as gdb prints it: a failure's
    report shows whether a daemon that stopped answering waits, and on what. "" without gdb."""
    if not shutil.which("gdb"):
        return ""
    try:
        out = subprocess.run(["gdb", "-p", str(pid), "-batch", "-ex", "thread 1", "-ex", "bt 40"],
                             capture_output=True, text=True, timeout=60).stdout
    except (subprocess.TimeoutExpired, OSError) as e:
        return f"(gdb: {e})\n"
    frames = [line for line in out.splitlines(True) if line.startswith("#")]
    return "".join(frames[1:] if frames[1:2] == frames[:1] else frames)  # "thread 1" shows #0


def http_request(port, method, path, headers=None, body=None, timeout=5):
    """One HTTP/1.0 request to 127.0.0.1:port; returns (status, head text, body text), status
    None when the connection closed without an answer."""
    lines = [f"{method} {path} HTTP/1.0"] + [f"{k}: {v}" for k, v in (headers or {}).items()]
    data = (body or "").encode()
    if body is not None:
        lines.append(f"Content-Length: {len(data)}")
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + data)
        got = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    head, _, rest = got.partition(b"\r\n\r\n")
    return (int(head.split()[1]) if head else None), head.decode(), rest.decode()


class Redis:
    """A small RESP client: enough for the tests' commands, replies parsed in full."""

    def __init__(self, port, auth=()):
        """auth: AUTH's arguments, sent on every connection ((user, password) or (password,))."""
        self.port = port
        self.auth = auth
        self.sock = None
        self.buf = b""

    def _connect(self):
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            self.buf = b""
            if self.auth:
                self.sock.sendall(self._command(("AUTH",) + tuple(self.auth)))
                self._reply()

    @staticmethod
    def _command(args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RuntimeError(f"unexpected reply {line!r}")

    def __call__(self, *args):
        self._connect()
        try:
            self.sock.sendall(self._command(args))
            return self._reply()
        except (ConnectionError, OSError):
            self.close()
            raise

    def close(self):
        if self.sock:
            self.sock.close()
        self.sock = None

    def stream(self, key):
        """Every entry of a stream as (id, {field: value}) with text values."""
        out = []
        for eid, fields in self("XRANGE", key, "-", "+") or []:
            d = {fields[i].decode(): fields[i + 1].decode() for i in range(0, len(fields), 2)}
            out.append((eid.decode(), d))
        return out

    def events(self, key="ecowarn:events"):
        return [json.loads(f["json"]) for _, f in self.stream(key)]


class RedisServer:
    """A redis-server of the test's own; with persist, every write is on disk before its reply
    (appendfsync always), so that a restart shows what was acknowledged before it."""

    def __init__(self, tmp, persist=False, args=(), auth=()):
        """args: more redis-server arguments (--requirepass...); auth: what AUTH takes then."""
        self.port = free_port()
        self.dir = os.path.join(tmp, f"redis-{self.port}")
        os.makedirs(self.dir)
        self.persist = persist
        self.args, self.auth = list(args), auth
        self.proc = None
        self.start()

    def start(self):
        aof = ["--appendonly", "yes", "--appendfsync", "always"] if self.persist else \
            ["--appendonly", "no"]
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--dir", self.dir] + aof + self.args,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = Redis(self.port, self.auth)

        def up():
            try:
                return client("PING") == "PONG"
            except OSError:
                client.close()
                return False
        wait_for("redis-server to answer", up, timeout=10)
        client.close()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


class EmbeddedBroker:
    """librdkafka's mock cluster as a process (ecowarn-kafka): one per test."""
    name = "embedded"

    def __init__(self, topics, partitions):
        self.proc = subprocess.Popen([os.path.join(BIN, "ecowarn-kafka"), "--partitions",
                                      str(partitions), "--topics", ",".join(topics)],
                                     stdout=subprocess.PIPE, text=True)
        self.bootstrap = self.proc.stdout.readline().strip()
        assert self.bootstrap, "ecowarn-kafka printed no address"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class RealBroker:
    """Apache Kafka (scripts/kafka.sh), one per test session; each test makes its own topics."""
    name = "real"

    def __init__(self):
        r = subprocess.run([os.path.join(ROOT, "scripts", "kafka.sh"), "start"],
                           capture_output=True, text=True, timeout=600,
                           env=dict(os.environ, EW_BIN=BIN))
        if r.returncode == 3:
            self.error = r.stderr.strip()
            self.bootstrap = None
            return
        assert r.returncode == 0, r.stderr
        self.bootstrap, self.dir = r.stdout.split()
        self.error = None
        with open(os.path.join(self.dir, "sasl_bootstrap")) as f:
            self.sasl_bootstrap = f.read().strip()  # SASL_PLAINTEXT, SCRAM-SHA-512, ecowarn
        self.sasl_password_file = os.path.join(self.dir, "sasl_password")

    def create(self, topics, partitions):
        r = subprocess.run([os.path.join(BIN, "ecowarn-kafka"), "--create", self.bootstrap,
                            "--topics", ",".join(topics), "--partitions", str(partitions)],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr

    def stop(self):
        if self.bootstrap:
            subprocess.run([os.path.join(ROOT, "scripts", "kafka.sh"), "stop", self.dir],
                           timeout=60)


class Kafka:
    """The test's broker and topics: the three input topics (names of its own on the real
    broker, which every test shares) and a consumer group of its own."""
    serial = 0

    def __init__(self, kind, real=None, partitions=2):
        Kafka.serial += 1
        self.kind = kind
        prefix = f"t{os.getpid()}-{Kafka.serial}." if kind == "real" else ""
        self.hj, self.tel, self.ent = (prefix + "ecowarn.hj212", prefix + "ecowarn.telemetry",
                                       prefix + "ecowarn.enterprise")
        self.group = prefix + "ecowarn"
        self.partitions = partitions
        if kind == "real":
            self.broker = real
            real.create([self.hj, self.tel, self.ent], partitions)
        else:
            self.broker = EmbeddedBroker([self.hj, self.tel, self.ent], partitions)
        self.bootstrap = self.broker.bootstrap

    def options(self):
        return {"kafka.brokers": self.bootstrap, "kafka.group_id": self.group,
                "kafka.topics.hj212": self.hj, "kafka.topics.telemetry": self.tel,
                "kafka.topics.enterprise": self.ent}

    def produce(self, lines, timeout=120, pace=0):
        """lines: (topic, payload) pairs, produced in order (key: the payload's MN); pace: the
        seconds between two, as live input comes."""
        self._produce((f"{t}\t{p}\n" for t, p in lines), timeout, pace)

    def produce_file(self, path, names, timeout=120):
        """Produces a file of TOPIC<TAB>PAYLOAD lines in order, topics renamed by names."""
        def renamed(f):
            for line in f:
                topic, rest = line.split("\t", 1)
                yield f"{names.get(topic, topic)}\t{rest}"
        with open(path) as f:
            self._produce(renamed(f), timeout)

    def _produce(self, lines, timeout, pace=0):
        p = subprocess.Popen([os.path.join(BIN, "ecowarn-sim"), "--produce", "--brokers",
                              self.bootstrap], stdin=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        for line in lines:
            p.stdin.write(line)
            if pace:
                p.stdin.flush()
                time.sleep(pace)
        p.stdin.close()
        err = p.stderr.read()
        assert p.wait(timeout=timeout) == 0, err

    def stop(self):
        if self.kind == "embedded":
            self.broker.stop()


class Daemon:
    def __init__(self, kafka, redis_port, tmp, extra=None, config=None, http_port=None):
        """extra: options for --set; config: a config file (then rules.dir is its business);
        http_port: the HTTP endpoint's port (a free one when None)."""
        self.http = http_port or free_port()
        self.log_path = os.path.join(tmp, f"ecowarnd-{time.monotonic_ns()}.log")
        self.args = [os.path.join(BIN, "ecowarnd")]
        if config:
            self.args += ["-c", config]
        sets = dict(kafka.options())
        sets.update({"redis.url": f"redis://127.0.0.1:{redis_port}/0",
                "http.listen": f"127.0.0.1:{self.http}",
                "engine.reorder_ms": "0",
                "engine.tick_ms": "100",
                "kafka.commit_interval_ms": "200",
                "kafka.session_timeout_ms": "6000",
                "redis.timeout_ms": "1000",
                "redis.reconnect_max_ms": "200",
                "log.level": "debug"})
        if not config:
            sets["rules.dir"] = os.path.join(ROOT, "config", "rules")
        sets.update(extra or {})
        for k, v in sets.items():
            self.args += ["--set", f"{k}={v}"]
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=ROOT)

    def get(self, path):
        try:
            status, _, body = http_request(self.http, "GET", path, timeout=2)
        except OSError:
            return None, ""
        return status, body

    def metrics(self):
        status, body = self.get("/metrics")
        out = {}
        for line in body.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    def wait_healthy(self, timeout=30):
        wait_for("ecowarnd to report Kafka and Redis connected",
                 lambda: self.get("/health")[0] == 200, timeout=timeout)

    def consumed_so_far(self, topic):
        """For a failure's message: how many messages of topic the daemon says it consumed."""
        m = self.metrics()
        if not m:
            return "its metrics do not answer"
        name = f'ecowarn_messages_total{{topic="{topic}"}}'
        lag = m.get("ecowarn_consumer_lag", 0)
        return f"{m.get(name, 0):.0f} consumed, consumer lag {lag:.0f}"

    def wait_consumed(self, topic, n, timeout=30):
        name = f'ecowarn_messages_total{{topic="{topic}"}}'
        wait_for(f"{n} messages of {topic} consumed",
                 lambda: self.metrics().get(name, 0) >= n, timeout=timeout,
                 seen=lambda: self.consumed_so_far(topic))

    def wait_settled(self, timeout=30):
        """Nothing in flight: every consumed message is safe in Redis."""
        def settled():
            m = self.metrics()
            return m and m.get("ecowarn_messages_in_flight", 1) == 0 and \
                m.get("ecowarn_buffered_events", 1) == 0
        wait_for("ecowarnd to settle", settled, timeout=timeout)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                pytest.fail("ecowarnd did not stop within its drain time")
        self.log.close()
        return self.proc.returncode

    def logtext(self):
        with open(self.log_path) as f:
            return f.read()


@pytest.fixture
def tmp():
    with tempfile.TemporaryDirectory(prefix="ecowarn-it-") as d:
        yield d


@pytest.fixture
def redis_server(tmp):
    r = RedisServer(tmp)
    yield r
    r.stop()


@pytest.fixture
def redis(redis_server):
    c = Redis(redis_server.port)
    yield c
    c.close()


@pytest.fixture(scope="session")
def real_broker():
    """One Apache Kafka broker for the session, or a skip that says why (a failure when
    EW_REQUIRE_REAL_KAFKA=1, as in CI)."""
    b = RealBroker()
    yield b
    b.stop()


def broker_of(request, real_broker):
    if request.param == "real" and real_broker.error:
        msg = f"no real Kafka broker: {real_broker.error}"
        if os.environ.get("EW_REQUIRE_REAL_KAFKA") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return request.param


@pytest.fixture(params=["embedded", "real"])
def kafka(request, real_broker):
    k = Kafka(broker_of(request, real_broker), real_broker)
    yield k
    k.stop()


@pytest.fixture(params=["embedded", "real"])
def kafka_one_partition(request, real_broker):
    k = Kafka(broker_of(request, real_broker), real_broker, partitions=1)
    yield k
    k.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keeps each phase's report on the test, for fixtures that act on a failure."""
    outcome = yield
    setattr(item, "rep_" + outcome.get_result().when, outcome.get_result())


@pytest.fixture
def daemons(request, redis_server, tmp):
    """start(kafka, ...) starts an ecowarnd on the test's broker and Redis. When the test
    fails, the end of each daemon's log is printed (pytest shows it with the failure)."""
    started = []

    def start(kafka, redis_port=None, **kw):
        d = Daemon(kafka, redis_port or redis_server.port, tmp, **kw)
        started.append(d)
        return d
    yield start
    rep = getattr(request.node, "rep_call", None)
    failed = rep is not None and rep.failed
    stacks = [main_thread_stack(d.proc.pid) if failed and d.proc.poll() is None else ""
              for d in started]
    for d in started:
        if d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()
    if failed:
        for i, d in enumerate(started):
            d.log.flush()
            print(f"---- ecowarnd #{i} ({d.log_path}), its last 60 lines ----")
            print("".join(d.logtext().splitlines(True)[-60:]))
            if stacks[i]:
                print(f"---- ecowarnd #{i}: its main thread when the test failed ----")
                print(stacks[i])


# ---- inputs ----

def hj212(data):
    """A packet around a data segment: length and CRC (the HJ 212-2017 algorithm)."""
    body = data.encode()
    return f"##{len(body):04d}{data}{crc_hj212(body):04X}"


def hourly_packet(mn, hour, so2, st="31", flag="N", qn=None, extra=""):
    """An hourly flue-gas packet: SO2 converted average, DataTime hour (YYYYmmddHH0000)."""
    q = f"QN={qn};" if qn else ""
    return hj212(f"{q}ST={st};CN=2061;PW=123456;MN={mn};Flag=4;CP=&&DataTime={hour};"
                 f"a21026-ZsAvg={so2},a21026-Flag={flag}{extra}&&")


def outlet(mn, enterprise="E1", name="绍兴测试热电", so2_limit=35, **more):
    """more: other members (region, lon, lat...)."""
    return json.dumps(dict({"type": "outlet.upsert", "enterprise_id": enterprise,
                            "enterprise_name": name, "outlet_id": f"{enterprise}-DA001",
                            "mn": mn, "st": "31",
                            "limits": {"a21026": {"hour": so2_limit, "day": so2_limit,
                                                  "unit": "mg/m3"}}}, **more),
                      ensure_ascii=False)


def b64(s):
    return base64.b64encode(s).decode()


# ---- outputs ----

def outputs(redis):
    """Everything ecowarn wrote, comparable across runs: each stream's events (sorted, without
    detected_at, the processing time; a duplicate shows as an entry twice), the dead letters
    and the active hash."""
    def strip(e):
        e.pop("detected_at", None)
        return json.dumps(e, sort_keys=True, ensure_ascii=False)
    keys = sorted(k.decode() for k in redis("KEYS", "ecowarn:*"))
    out = {}
    for key in keys:
        if key.startswith(("ecowarn:partition:", "ecowarn:state:", "ecowarn:stage:",
                           "ecowarn:written:")):
            continue  # the daemon's own: where each partition stands, its sites' state, the
            # ids written since that state
        kind = redis("TYPE", key)
        if kind == "stream" and key == "ecowarn:deadletter":
            out[key] = sorted(json.dumps(f, sort_keys=True) for _, f in redis.stream(key))
        elif kind == "stream":
            out[key] = sorted(strip(e) for e in redis.events(key))
        elif kind == "hash":
            flat = redis("HGETALL", key)
            out[key] = {flat[i].decode(): strip(json.loads(flat[i + 1]))
                        for i in range(0, len(flat), 2)}
    return out


def differ(a, b, most=6):
    """What two runs' outputs (outputs()) hold that the other does not, key by key."""
    lines = []
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key, []), b.get(key, [])
        if x == y:
            continue
        if isinstance(x, dict) or isinstance(y, dict):
            x = sorted(f"{f} {v}" for f, v in dict(x).items())
            y = sorted(f"{f} {v}" for f, v in dict(y).items())
        only_a, only_b = sorted(set(x) - set(y)), sorted(set(y) - set(x))
        lines.append(f"{key}: {len(only_a)} only in the first, {len(only_b)} only in the second")
        lines += [f"  < {e}" for e in only_a[:most]] + [f"  > {e}" for e in only_b[:most]]
    return "\n".join(lines)
