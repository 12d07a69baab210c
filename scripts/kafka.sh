#!/usr/bin/env bash
# A real Apache Kafka broker for tests: a single-node KRaft broker on loopback ports, its
# storage formatted in a temporary directory.
#
#   scripts/kafka.sh fetch           download the broker into the cache (once) and exit
#   scripts/kafka.sh start           fetch if needed, start, wait until it answers a metadata
#                                    request; prints "BOOTSTRAP DIR" (DIR: give it to stop)
#                                    DIR/sasl_bootstrap: a second listener, SASL_PLAINTEXT with
#                                    PLAIN (user ecowarn, password in DIR/sasl_password). Not
#                                    SCRAM: librdkafka before 2.6.1 (Debian 12 has 2.0.2) fails
#                                    SCRAM against Kafka 4 (confluentinc/librdkafka#4895)
#   scripts/kafka.sh restart DIR     kill that broker (-9: a crash) and start it again on the
#                                    same ports and storage; waits until it answers again
#   scripts/kafka.sh stop DIR        stop that broker and remove its files
#
# The broker is Apache Kafka $EW_KAFKA_VERSION (default 4.2.0), the artifact
# org.apache.kafka:kafka_2.13 and its runtime dependencies, fetched from Maven Central with
# Maven into $EW_KAFKA_CACHE (default ~/.cache/ecowarn/kafka-VERSION) and reused from there.
# It needs a Java 17 or newer JDK (`java` on the PATH; Debian 12: openjdk-17-jre-headless) and
# Maven (`mvn`) for the first fetch. Exit status 3 means Java or Maven is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
version=${EW_KAFKA_VERSION:-4.2.0}
cache=${EW_KAFKA_CACHE:-$HOME/.cache/ecowarn/kafka-$version}
bin=${EW_BIN:-$here/build/bin}
java=${EW_JAVA:-java} # the JDK's java (EW_JAVA=/nonexistent shows how tests skip without one)

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "kafka.sh: $1 not found: $2" >&2; exit 3; }
}

fetch() {
  [ -f "$cache/.complete" ] && return 0
  need "$java" "a Java 17+ JDK runs the broker"
  need mvn "Maven fetches the broker from Maven Central"
  mkdir -p "$cache"
  cat >"$cache/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>ecowarn.test</groupId>
  <artifactId>kafka-broker</artifactId>
  <version>1</version>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>$version</version>
    </dependency>
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-simple</artifactId>
      <version>1.7.36</version>
    </dependency>
  </dependencies>
</project>
EOF
  echo "kafka.sh: fetching Apache Kafka $version into $cache" >&2
  (cd "$cache" && mvn -q -B dependency:copy-dependencies -DoutputDirectory=lib \
     -DincludeScope=runtime >&2)
  touch "$cache/.complete"
}

port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start() {
  fetch
  need "$java" "a Java 17+ JDK runs the broker"
  local dir bport cport sport password
  dir=$(mktemp -d /tmp/ecowarn-kafka.XXXXXX)
  bport=$(port)
  cport=$(port)
  sport=$(port)
  password=$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')
  cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$bport,CONTROLLER://127.0.0.1:$cport,SASL_PLAINTEXT://127.0.0.1:$sport
advertised.listeners=PLAINTEXT://127.0.0.1:$bport,SASL_PLAINTEXT://127.0.0.1:$sport
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
sasl.enabled.mechanisms=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_ecowarn="$password";
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.segment.bytes=268435456
EOF
  local id
  id=$("$java" "${jvm[@]}" -cp "$cp" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)
  "$java" "${jvm[@]}" -cp "$cp" kafka.tools.StorageTool format -t "$id" \
    -c "$dir/server.properties" >"$dir/format.log" 2>&1 ||
    { cat "$dir/format.log" >&2; rm -rf "$dir"; exit 1; }
  echo "127.0.0.1:$bport" >"$dir/bootstrap"
  echo "127.0.0.1:$sport" >"$dir/sasl_bootstrap"
  (umask 077; echo "$password" >"$dir/sasl_password")
  launch "$dir" || { stop "$dir"; exit 1; }
}

cp="$cache/lib/*"
jvm=(-Xms256m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true)

# Runs the broker of DIR and waits until it answers a metadata request (librdkafka, through
# ecowarn-kafka --check); prints "BOOTSTRAP DIR".
launch() {
  local dir=$1 bootstrap
  bootstrap=$(cat "$dir/bootstrap")
  nohup "$java" "${jvm[@]}" -cp "$cp" kafka.Kafka "$dir/server.properties" \
    >>"$dir/broker.log" 2>&1 &
  echo $! >"$dir/pid"
  for _ in $(seq 600); do
    if "$bin/ecowarn-kafka" --check "$bootstrap" >/dev/null 2>&1; then
      echo "$bootstrap $dir"
      return 0
    fi
    kill -0 "$(cat "$dir/pid")" 2>/dev/null || break
    sleep 0.1
  done
  echo "kafka.sh: the broker did not come up; its log:" >&2
  tail -20 "$dir/broker.log" >&2
  return 1
}

restart() {
  local dir=${1:?usage: kafka.sh restart DIR}
  case "$dir" in /tmp/ecowarn-kafka.*) ;; *) echo "kafka.sh: not a broker dir: $dir" >&2; exit 2 ;; esac
  local pid
  pid=$(cat "$dir/pid")
  kill -9 "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  launch "$dir" || exit 1
}

stop() {
  local dir=${1:?usage: kafka.sh stop DIR}
  case "$dir" in /tmp/ecowarn-kafka.*) ;; *) echo "kafka.sh: not a broker dir: $dir" >&2; exit 2 ;; esac
  if [ -f "$dir/pid" ]; then
    local pid
    pid=$(cat "$dir/pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  restart) restart "${2:-}" ;;
  stop) stop "${2:-}" ;;
  *) echo "usage: scripts/kafka.sh fetch | start | restart DIR | stop DIR" >&2; exit 2 ;;
esac
