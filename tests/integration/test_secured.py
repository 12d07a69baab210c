"""What a bureau runs: a Kafka broker that wants SASL (PLAIN, the real broker's second
listener) and a Redis that wants a password and has an ACL user. The passwords reach ecowarnd as
secret references (${file:...}, ${VAR}), never appear in its log or /metrics, and a wrong one is
a clear error and a health of 503, never a crash or a silent loop."""
import json
import os
import subprocess
import time

import pytest

from conftest import BIN, Kafka, Redis, RedisServer, hourly_packet, outlet, wait_for

REDIS_USER_PASSWORD = "redis-user-Pa55"
REDIS_DEFAULT_PASSWORD = "redis-default-Pa55"


@pytest.fixture
def secured_redis(tmp):
    # the ACL OPERATING.md gives: ecowarnd's keys and channels only, nothing @dangerous
    r = RedisServer(tmp, args=["--requirepass", REDIS_DEFAULT_PASSWORD,
                               "--user", "ecowarn", "on", ">" + REDIS_USER_PASSWORD,
                               "~ecowarn:*", "&ecowarn:*", "+@all", "-@dangerous"],
                    auth=("ecowarn", REDIS_USER_PASSWORD))
    yield r
    r.stop()


@pytest.fixture
def sasl_kafka(real_broker):
    """The real broker only: the embedded one has no SASL listener."""
    if real_broker.error:
        msg = f"no real Kafka broker: {real_broker.error}"
        if os.environ.get("EW_REQUIRE_REAL_KAFKA") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    k = Kafka("real", real_broker, partitions=2)
    yield k
    k.stop()


def sasl_options(kafka, password_ref):
    """The daemon reads through the SASL listener; the test produces through the plain one."""
    return {"kafka.brokers": kafka.broker.sasl_bootstrap,
            "kafka.properties.security.protocol": "SASL_PLAINTEXT",
            "kafka.properties.sasl.mechanism": "PLAIN",
            "kafka.properties.sasl.username": "ecowarn",
            "kafka.properties.sasl.password": password_ref}


def no_secret_shown(d, *secrets):
    status, metrics = d.get("/metrics")
    text = d.logtext() + metrics
    for s in secrets:
        assert s not in text, "a password shown in the log or /metrics"


def test_sasl_broker_and_redis_acl_user(sasl_kafka, secured_redis, daemons, monkeypatch):
    kafka = sasl_kafka
    redis = Redis(secured_redis.port, ("ecowarn", REDIS_USER_PASSWORD))
    monkeypatch.setenv("EW_TEST_REDIS_PASSWORD", REDIS_USER_PASSWORD)
    with open(kafka.broker.sasl_password_file) as f:
        sasl_password = f.read().strip()
    extra = sasl_options(kafka, "${file:%s}" % kafka.broker.sasl_password_file)
    extra["redis.url"] = (f"redis://ecowarn:${{EW_TEST_REDIS_PASSWORD}}@127.0.0.1:"
                          f"{secured_redis.port}/0")
    d = daemons(kafka, extra=extra)
    d.wait_healthy(timeout=60)
    kafka.produce([(kafka.ent, outlet("MN-SEC1"))])
    d.wait_consumed(kafka.ent, 1)
    kafka.produce([(kafka.hj, hourly_packet("MN-SEC1", "20241001100000", 50))])
    d.wait_consumed(kafka.hj, 1)
    d.wait_settled()
    events = redis.events()
    assert any(e["rule"] == "over-limit" and e["event"] == "firing" and e["mn"] == "MN-SEC1"
               for e in events)
    no_secret_shown(d, sasl_password, REDIS_USER_PASSWORD)
    # the console logs in as the same user
    url = f"redis://ecowarn:{REDIS_USER_PASSWORD}@127.0.0.1:{secured_redis.port}/0"
    w = subprocess.run([os.path.join(BIN, "ecowarn-watch"), "active", "--json", "--redis", url],
                       capture_output=True, text=True, timeout=30)
    assert w.returncode == 0 and "MN-SEC1" in w.stdout, w.stderr
    assert d.stop() == 0
    redis.close()


@pytest.mark.parametrize("kafka", ["embedded"], indirect=True)  # Redis's side only
def test_redis_default_user_password(kafka, secured_redis, daemons):
    """redis://:password@ is Redis's default user (requirepass)."""
    d = daemons(kafka, extra={"redis.url": f"redis://:{REDIS_DEFAULT_PASSWORD}@127.0.0.1:"
                                           f"{secured_redis.port}/0"})
    d.wait_healthy()
    assert "refused" not in d.logtext()
    no_secret_shown(d, REDIS_DEFAULT_PASSWORD)
    assert d.stop() == 0


@pytest.mark.parametrize("kafka", ["embedded"], indirect=True)
def test_wrong_or_missing_redis_password(kafka, secured_redis, daemons):
    wrong = daemons(kafka, extra={"redis.url": f"redis://ecowarn:not-the-Pa55@127.0.0.1:"
                                               f"{secured_redis.port}/0"})
    missing = daemons(kafka, extra={"redis.url": f"redis://127.0.0.1:{secured_redis.port}/0"})
    for d in (wrong, missing):
        wait_for("AUTH refused again",
                 lambda d=d: d.metrics().get("ecowarn_redis_refusals_total", 0) >= 3,
                 timeout=30)
        status, body = d.get("/health")
        assert status == 503 and json.loads(body)["redis"] is False
        assert d.proc.poll() is None  # still running, trying again with its backoff
    assert "AUTH as ecowarn refused: WRONGPASS" in wrong.logtext()
    assert "the server asks for a password: NOAUTH" in missing.logtext()
    no_secret_shown(wrong, "not-the-Pa55")
    for d in (wrong, missing):  # a stop waits at most 30 s for Redis to take what is queued
        assert d.stop(timeout=60) == 0


def test_wrong_sasl_password(sasl_kafka, redis, daemons):
    kafka = sasl_kafka
    d = daemons(kafka, extra=sasl_options(kafka, "not-the-password"))
    wait_for("the broker to refuse the login",
             lambda: "Authentication failed" in d.logtext() or
             "SASL authentication error" in d.logtext(), timeout=60)
    time.sleep(1)
    status, body = d.get("/health")
    assert status == 503 and json.loads(body)["kafka"] is False
    assert d.proc.poll() is None
    no_secret_shown(d, "not-the-password")
    assert d.stop() == 0
