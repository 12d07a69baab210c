#!/usr/bin/env bash
# End-to-end figures of ecowarnd on this machine: a Kafka broker, a local redis-server, the
# default rules, the daemon's default options. Usage: bench/e2e.sh [BUILD_DIR]
#
# E2E_ECOWARND=PATH runs that daemon instead of BUILD_DIR's (the tools stay BUILD_DIR's): to
# compare a build with an older one on the same input.
# E2E_SET="key=value ..." passes more options to the daemon (--set each), e.g.
# E2E_SET=redis.batch_ms=1000.
# E2E_BROKER=embedded (the default): the embedded broker (librdkafka's mock cluster);
# E2E_BROKER=real: a real Apache Kafka from scripts/kafka.sh (needs Java 17+ and Maven), with a
# backlog of about a million messages by default (E2E_ENTERPRISES 2000).
#
# 1. Throughput: a simulated fleet (E2E_ENTERPRISES enterprises, E2E_HOURS hours of real-time,
#    minute and hourly packets) is produced first, then the daemon starts and consumes the
#    backlog; messages/s = messages / (last consumed with its events safe in Redis - first
#    consumed), from its metrics.
#    The topics have 16 partitions: on the embedded broker keep the backlog under ~15,000
#    messages per partition, as Debian's librdkafka 2.0.2 mock broker drops older ones silently.
# 2. Latency, produce -> alert readable in Redis (bench_e2e), idle and while the simulator
#    sends E2E_LOAD messages/s of a fleet of its own (other MNs than the backlog's, so that its
#    data is judged, not dead-lettered as older than what the daemon has seen of those sites).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build}/bin
mode=${E2E_BROKER:-embedded}
[ "$mode" = real ] && default_ents=2000 || default_ents=250
ents=${E2E_ENTERPRISES:-$default_ents} hours=${E2E_HOURS:-6} load=${E2E_LOAD:-2000}
. bench/lib.sh e2e
metric() { curl -fs "http://127.0.0.1:$http/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }

extra=()
for kv in ${E2E_SET:-}; do extra+=(--set "$kv"); done
rport=$(port) http=$(port)
redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" >/dev/null 2>&1 &
pids+=($!)
if [ "$mode" = real ]; then
  read -r brokers kafka_dir < <(EW_BIN="$bin" scripts/kafka.sh start)
  "$bin/ecowarn-kafka" --create "$brokers" --topics ecowarn.hj212,ecowarn.telemetry,ecowarn.enterprise \
    --partitions 16
else
  "$bin/ecowarn-kafka" --partitions 16 >"$work/addr" 2>/dev/null &
  pids+=($!)
  for _ in $(seq 100); do [ -s "$work/addr" ] && break; sleep 0.1; done
  brokers=$(head -1 "$work/addr")
fi
for _ in $(seq 100); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done

"$bin/ecowarn-sim" --seed 1 --enterprises "$ents" --duration "${hours}h" --anomalies 0.2 \
  --brokers "$brokers" 2>"$work/sim.log"
sent=$(sed -n 's/^ecowarn-sim: \([0-9]*\) messages$/\1/p' "$work/sim.log")

"${E2E_ECOWARND:-$bin/ecowarnd}" -c config/ecowarn.json --set "kafka.brokers=$brokers" \
  --set "redis.url=redis://127.0.0.1:$rport/0" --set "http.listen=127.0.0.1:$http" "${extra[@]}" \
  2>"$work/ecowarnd.log" &
pids+=($!)
first="" last=""
for _ in $(seq 30000); do
  n=$(metric 'ecowarn_messages_total{topic="ecowarn.hj212"}' || true)
  e=$(metric 'ecowarn_messages_total{topic="ecowarn.enterprise"}' || true)
  [ -n "${n:-}" ] && [ "$n" != 0 ] && [ -z "$first" ] && first=$(date +%s.%N)
  # all consumed, and every event so far safe in Redis (the newest records may still sit in
  # the reorder window: they are judged when it passes, a matter of latency, not throughput)
  if [ -n "${n:-}" ] && [ $((n + e)) -ge "$sent" ] &&
     [ "$(metric ecowarn_buffered_events)" = 0 ]; then last=$(date +%s.%N); break; fi
  sleep 0.01
done
[ -n "$last" ] || { echo "e2e: the backlog was not consumed in time" >&2; tail "$work/ecowarnd.log" >&2; exit 1; }
events=$(redis-cli -p "$rport" xlen ecowarn:events)
python3 -c "import sys; n,f,l=int(sys.argv[1]),float(sys.argv[2]),float(sys.argv[3]); print(f'throughput ({sys.argv[5]} broker): {n} messages ({sys.argv[4]} alert events) in {l-f:.2f} s: {n/(l-f):,.0f} messages/s end to end')" "$n" "$first" "$last" "$events" "$mode"
echo "dead letters: $(metric ecowarn_deadletters_total | awk '{printf "%d", $1}')"
echo "rule engine: $(metric ecowarn_rule_evaluations_total | awk '{printf "%d", $1}') judgements"

"$bin/bench_e2e" --brokers "$brokers" --redis-port "$rport" --probes 100 --interval-ms 50 |
  sed 's/^/idle: /'
"$bin/ecowarn-sim" --seed 2 --first 100000 --enterprises 200 --duration 12h --rate "$load" \
  --brokers "$brokers" 2>/dev/null &
sim=$!
pids+=($sim)
sleep 2
"$bin/bench_e2e" --brokers "$brokers" --redis-port "$rport" --probes 100 --interval-ms 50 |
  sed "s/^/under ${load} messages\/s: /"
