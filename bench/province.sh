#!/usr/bin/env bash
# The province on the real broker: how fast ecowarnd catches up on a backlog beside the raw
# limit of consuming it, on this machine, in one run. Usage: bench/province.sh [BUILD_DIR]
#
# Input (deterministic, ecowarn-sim --seed 1): PROV_OUTLETS outlets (20,000 by default; an
# enterprise has 1.33 on average) sending real-time (every 60 s), minute (every 10 min) and
# hourly HJ 212 packets, the power meters of their facilities and their running state, over
# PROV_HOURS hours (4), plus a twentieth as many outlets sending JSON telemetry
# (ecowarn.telemetry), all pre-loaded into a real Apache Kafka (scripts/kafka.sh), topics of
# PROV_PARTITIONS partitions (4).
#
# The broker and redis-server run on core 0, each consumer on core 1 (taskset), one at a time:
#   raw      bench_consume: a bare librdkafka consumer of the same topics, set as ecowarnd is,
#            doing nothing with the messages
#   ecowarnd the daemon with config/ecowarn.json (the default rules, Redis output): from its
#            first consumed message to the last with every event safe in Redis
# Each prints messages/s, MB/s, CPU µs per message (user + system, all threads), peak RSS;
# ecowarnd's line also its ratio to the raw limit. PROV_SET="key=value ..." passes more options
# to ecowarnd (--set each); PROV_ECOWARND=PATH runs another daemon on the same input.
# PROV_PERF=FILE records a profile of ecowarnd into FILE (perf record, PROV_PERF_OPTS: -g).
# PROV_RESULTS=FILE appends the table to FILE (bench/RESULTS.md keeps the figures).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build}/bin
outlets=${PROV_OUTLETS:-20000} hours=${PROV_HOURS:-4} parts=${PROV_PARTITIONS:-4}
topics=ecowarn.hj212,ecowarn.telemetry,ecowarn.enterprise
. bench/lib.sh province
metric() { curl -fs "http://127.0.0.1:$http/metrics" | awk -v m="$1" '$1 == m { s += $2 } END { if (NR) printf "%d", s }'; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
row() { # name messages bytes seconds cpu_seconds rss_kb [ratio]
  python3 - "$@" <<'EOF'
import sys
name, n, b, s, cpu, rss = sys.argv[1], *map(float, sys.argv[2:7])
ratio = sys.argv[7] if len(sys.argv) > 7 else "-"
print(f"| {name} | {n/s:,.0f} | {b/s/1e6:,.1f} | {cpu*1e6/n:.2f} | {rss/1024:,.0f} | {ratio} |")
EOF
}

rport=$(port) http=$(port)
taskset -c 0 redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no \
  --dir "$work" >/dev/null 2>&1 &
pids+=($!)
read -r brokers kafka_dir < <(EW_BIN="$bin" taskset -c 0 scripts/kafka.sh start)
"$bin/ecowarn-kafka" --create "$brokers" --topics "$topics" --partitions "$parts"
for _ in $(seq 100); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done

ents=$((outlets * 3 / 4)) json=$((outlets / 20 * 3 / 4))
start=$(date -u -d "-$((hours + 1)) hours" +%Y-%m-%dT%H:00:00Z)
"$bin/ecowarn-sim" --seed 1 --enterprises "$ents" --start "$start" --duration "${hours}h" \
  --brokers "$brokers" 2>"$work/sim.log"
"$bin/ecowarn-sim" --seed 2 --first 1000000 --enterprises "$json" --start "$start" \
  --duration "${hours}h" --format json --brokers "$brokers" 2>"$work/sim-json.log"
sent=$(cat "$work"/sim*.log | sed -n 's/^ecowarn-sim: \([0-9]*\) messages$/\1/p' |
  awk '{ s += $1 } END { print s }')
echo "input: $sent messages, $outlets + $((outlets / 20)) outlets, $hours h, $parts partitions" \
  "(core 0: broker and Redis; core 1: the consumer)"

taskset -c 1 "$bin/bench_consume" --brokers "$brokers" --topics "$topics" --messages "$sent" \
  --group province-raw >"$work/raw"
eval "$(cat "$work/raw")" # messages= bytes= seconds= ... peak_rss_kb=
raw_rate=$msgs_per_s
raw=$(row "bare librdkafka consumer (bench_consume)" "$messages" "$bytes" "$seconds" \
  "$(python3 -c "print($cpu_us_per_msg * $messages / 1e6)")" "$peak_rss_kb")

extra=()
for kv in ${PROV_SET:-}; do extra+=(--set "$kv"); done
taskset -c 1 "${PROV_ECOWARND:-$bin/ecowarnd}" -c config/ecowarn.json \
  --set "kafka.brokers=$brokers" --set "redis.url=redis://127.0.0.1:$rport/0" \
  --set "http.listen=127.0.0.1:$http" "${extra[@]}" 2>"$work/ecowarnd.log" &
pid=$!
pids+=($pid)
if [ -n "${PROV_PERF:-}" ]; then perf record ${PROV_PERF_OPTS:--g} -p "$pid" -o "$PROV_PERF" 2>/dev/null & pids+=($!); fi
first="" last="" cpu0=0
for _ in $(seq 60000); do
  n=$(metric 'ecowarn_messages_total{topic="ecowarn.hj212"}' || true)
  t=$(metric 'ecowarn_messages_total{topic="ecowarn.telemetry"}' || true)
  e=$(metric 'ecowarn_messages_total{topic="ecowarn.enterprise"}' || true)
  if [ -z "$first" ] && [ "${n:-0}" != 0 ]; then first=$(date +%s.%N) cpu0=$(cpu_ticks "$pid"); fi
  if [ -n "${n:-}" ] && [ $((n + ${t:-0} + ${e:-0})) -ge "$sent" ] &&
     [ "$(metric ecowarn_buffered_events)" = 0 ]; then last=$(date +%s.%N); break; fi
  sleep 0.01
done
[ -n "$last" ] || { echo "province: the backlog was not consumed in time" >&2; tail "$work/ecowarnd.log" >&2; exit 1; }
cpu=$(( $(cpu_ticks "$pid") - cpu0 ))
rss=$(awk '/^VmHWM/ { print $2 }' "/proc/$pid/status")
secs=$(python3 -c "print($last - $first)")
rate=$(python3 -c "print($sent / ($last - $first))")
daemon=$(row "ecowarnd, default config" "$sent" "$bytes" "$secs" \
  "$(python3 -c "print($cpu / $(getconf CLK_TCK))")" "$rss" \
  "$(python3 -c "print(f'{$rate / $raw_rate:.2f}')")")

table=$(cat <<EOF
| consumer (real broker, $sent messages, $outlets outlets) | msgs/s | MB/s | CPU µs/msg | peak RSS MB | ratio to raw |
| --- | --- | --- | --- | --- | --- |
$raw
$daemon
EOF
)
echo "$table"
echo "ecowarnd: $(redis-cli -p "$rport" xlen ecowarn:events) alert events," \
  "$(metric ecowarn_deadletters_total) dead letters"
[ -z "${PROV_RESULTS:-}" ] || printf '\n%s\n' "$table" >>"$PROV_RESULTS"
