#!/usr/bin/env bash
# The province on the real broker: how fast ecowarnd catches up on a backlog beside the raw
# limit of consuming it, on this machine, in one run. Usage: bench/province.sh [BUILD_DIR]
#
# Input (deterministic, ecowarn-sim --seed 1): PROV_OUTLETS outlets (20,000 by default; an
# enterprise has 1.33 on average) sending real-time (every 60 s), minute (every 10 min) and
# hourly HJ 212 packets, the power meters of their facilities and their running state, over
# PROV_MINUTES minutes (240; or PROV_HOURS), plus a twentieth as many outlets sending JSON
# telemetry (ecowarn.telemetry), all pre-loaded into a real Apache Kafka (scripts/kafka.sh),
# topics of PROV_PARTITIONS partitions (4). PROV_BROKER=embedded: into the embedded broker
# (ecowarn-kafka, librdkafka's mock cluster) instead, for its figures beside the real one's; it
# keeps about 15,000 messages a partition, so the province must be small (e.g. PROV_OUTLETS=2000
# PROV_MINUTES=60 PROV_PARTITIONS=16) and the script refuses a larger one; the JVM peers cannot
# read from it (their Kafka client gets no metadata from it), so PROV_PEERS is "python" there.
#
# The broker and redis-server run on core 0, each consumer on core 1 (taskset), one at a time:
#   raw      bench_consume: a bare librdkafka consumer of the same topics, set as ecowarnd is,
#            doing nothing with the messages
#   ecowarnd the daemon with config/ecowarn.json (the default rules, Redis output): from its
#            first consumed message to the last with every event safe in Redis
# Each prints messages/s, MB/s, CPU µs per message (user + system, all threads), peak RSS;
# ecowarnd's line also its ratio to the raw limit. PROV_SET="key=value ..." passes more options
# to ecowarnd (--set each); PROV_ECOWARND=PATH runs another daemon on the same input.
# The peers of PROV_PEERS ("python kstreams flink"; bench/peers/) catch up on the same input on
# core 1, each in turn, before ecowarnd: the Python one runs in a virtualenv made once from
# PyPI, the JVM ones are built with Maven from Maven Central (bench/peers/java/build.sh), both
# in EW_PEER_CACHE (~/.cache/ecowarn).
# Then the latency from produce to alert readable in Redis (bench_latency: PROV_PROBES probes,
# 2,000, at PROV_PROBE_RATE a second, 100) while the fleet goes on live at 0, 10, 50 and 90 %
# of ecowarnd's catch-up rate (PROV_LATENCY="0 10 50 90"; empty: none), with its checker's
# count of alerts missing (not in Redis 10 s after the last probe) or extra; then ecowarnd
# stops and each peer, started beside the live fleet, is probed the same way at the shares of
# PROV_PEER_LATENCY ("0 10"). PROV_DUMP=PREFIX keeps each probe's latency in
# PREFIX.CONSUMER.PCT.
# PROV_PERF=FILE records a profile of ecowarnd into FILE (perf record, PROV_PERF_OPTS: -g).
# PROV_RESULTS=FILE appends the table to FILE (bench/RESULTS.md keeps the figures).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build}/bin
outlets=${PROV_OUTLETS:-20000} parts=${PROV_PARTITIONS:-4}
minutes=${PROV_MINUTES:-$((${PROV_HOURS:-4} * 60))}
topics=ecowarn.hj212,ecowarn.telemetry,ecowarn.enterprise
. bench/lib.sh province
metric() {
  curl -fs "http://127.0.0.1:$http/metrics" |
    awk -v m="$1" '$1 == m { s += $2 } END { if (NR) printf "%d", s }'
}
# the over-limit firings in PREFIX's events stream: what ecowarnd and the peers must agree on
over_limit() {
  redis-cli -p "$rport" --raw xrange "${1}events" - + | grep '"rule":"over-limit"' |
    grep -c '"event":"firing"' || true
}
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
broker="real Apache Kafka 4.2.0"
if [ "${PROV_BROKER:-real}" = embedded ]; then
  broker="embedded broker (librdkafka's mock cluster)"
  taskset -c 0 "$bin/ecowarn-kafka" --partitions "$parts" --topics "$topics" >"$work/addr" \
    2>/dev/null &
  pids+=($!)
  for _ in $(seq 100); do [ -s "$work/addr" ] && break; sleep 0.1; done
  brokers=$(head -1 "$work/addr")
else
  read -r brokers kafka_dir < <(EW_BIN="$bin" taskset -c 0 scripts/kafka.sh start)
  "$bin/ecowarn-kafka" --create "$brokers" --topics "$topics" --partitions "$parts"
fi
for _ in $(seq 100); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done

ents=$((outlets * 3 / 4)) json=$((outlets / 20 * 3 / 4))
# the backlog ends 12 hours ago: the latency phase's fleet goes on from there
start=$(date -u -d "-$((minutes + 720)) minutes" +%Y-%m-%dT%H:00:00Z)
live=$(date -u -d "$start + $minutes minutes" +%Y-%m-%dT%H:%M:%SZ)
"$bin/ecowarn-sim" --seed 1 --enterprises "$ents" --start "$start" --duration "${minutes}m" \
  --brokers "$brokers" 2>"$work/sim.log"
"$bin/ecowarn-sim" --seed 2 --first 1000000 --enterprises "$json" --start "$start" \
  --duration "${minutes}m" --format json --brokers "$brokers" 2>"$work/sim-json.log"
sent=$(cat "$work"/sim*.log | sed -n 's/^ecowarn-sim: \([0-9]*\) messages$/\1/p' |
  awk '{ s += $1 } END { print s }')
echo "input: $sent messages, $outlets + $((outlets / 20)) outlets, $minutes min, $parts partitions" \
  "on the $broker (core 0: broker and Redis; core 1: the consumer)"
if [ "${PROV_BROKER:-real}" = embedded ] && [ $((sent / parts)) -gt 12000 ]; then
  # ecowarn-kafka: Debian's librdkafka 2.0.2 mock keeps about 15,000 messages a partition
  echo "province: $((sent / parts)) messages a partition: more than the embedded broker keeps;" \
    "raise PROV_PARTITIONS or make the province smaller" >&2
  exit 2
fi

taskset -c 1 "$bin/bench_consume" --brokers "$brokers" --topics "$topics" --messages "$sent" \
  --group province-raw >"$work/raw"
eval "$(cat "$work/raw")" # messages= bytes= seconds= ... peak_rss_kb=
raw_rate=$msgs_per_s
raw=$(row "bare librdkafka consumer (bench_consume)" "$messages" "$bytes" "$seconds" \
  "$(python3 -c "print($cpu_us_per_msg * $messages / 1e6)")" "$peak_rss_kb")

# peer_cmd NAME: sets name (its line in the table) and cmd (how to run it); 1 when it cannot run
peer_cmd() {
  case "$1" in
  python)
    venv=${EW_PEER_CACHE:-$HOME/.cache/ecowarn}/peer-python
    name="Python peer (confluent-kafka, redis-py)"
    if ! "$venv/bin/python" -c 'import confluent_kafka, redis' 2>/dev/null; then
      if ! /usr/bin/python3 -m venv "$venv" >&2 ||
         ! "$venv/bin/pip" install -q -r bench/peers/python/requirements.txt >&2; then
        name+=": not run, its packages did not install"
        return 1
      fi
    fi
    cmd=("$venv/bin/python" bench/peers/python/peer.py) ;;
  kstreams | flink)
    local main=ecowarn.peer.FlinkPeer
    name="Flink peer (Flink 2.2.0 local, Kafka source, Jedis)"
    if [ "$1" = kstreams ]; then
      name="Kafka Streams peer (kafka-streams 4.2.0, Jedis)" main=ecowarn.peer.StreamsPeer
    fi
    if [ -z "${java_cps:-}" ] && ! java_cps=$(bench/peers/java/build.sh 2>"$work/peers-java.log"); then
      tail "$work/peers-java.log" >&2
      name+=": not run, it did not build"
      return 1
    fi
    cmd=(java -cp "$(awk -v m="$1" '$1 == m { print $2 }' <<<"$java_cps")" "$main") ;;
  *) name="$1: no such peer"; return 1 ;;
  esac
}
# The peers (bench/peers/), each on core 1 in turn, on the same input from its beginning (a
# consumer group of their own), writing under a prefix of their own; before ecowarnd, so that
# the topics hold the backlog alone.
peer_lines=() peer_rates=() peers_run=()
# the JVM clients (kafka-clients 4.2) get no metadata from the embedded broker: Python only there
default_peers="python kstreams flink"
[ "${PROV_BROKER:-real}" = real ] || default_peers=python
for peer in ${PROV_PEERS-$default_peers}; do
  if ! peer_cmd "$peer"; then
    peer_lines+=("| $name | - | - | - | - | -") peer_rates+=(0)
    continue
  fi
  peers_run+=("$peer")
  out=$(taskset -c 1 "${cmd[@]}" --brokers "$brokers" --redis-port "$rport" --messages "$sent" \
    --prefix "peer-$peer:" --group "province-$peer" 2>"$work/$peer.log" | tail -1)
  if [[ "$out" != messages=* ]]; then # it stopped (30 s without a message) before any
    tail -3 "$work/$peer.log" >&2
    peer_lines+=("| $name: read nothing, stopped | - | - | - | - | -") peer_rates+=(0)
    continue
  fi
  echo "$peer: $out; $(redis-cli -p "$rport" xlen "peer-$peer:events") alert events," \
    "$(over_limit "peer-$peer:") over-limit firings"
  eval "$out" # messages= seconds= msgs_per_s= cpu_us_per_msg= peak_rss_kb=
  line=$(row "$name" "$messages" "$bytes" "$seconds" \
    "$(python3 -c "print($cpu_us_per_msg * $messages / 1e6)")" "$peak_rss_kb" \
    "$(python3 -c "print(f'{$msgs_per_s / $raw_rate:.2f}')")")
  peer_lines+=("${line% |}") peer_rates+=("$msgs_per_s")
done

extra=()
for kv in ${PROV_SET:-}; do extra+=(--set "$kv"); done
taskset -c 1 "${PROV_ECOWARND:-$bin/ecowarnd}" -c config/ecowarn.json \
  --set "kafka.brokers=$brokers" --set "redis.url=redis://127.0.0.1:$rport/0" \
  --set "http.listen=127.0.0.1:$http" "${extra[@]}" 2>"$work/ecowarnd.log" &
pid=$!
pids+=($pid)
if [ -n "${PROV_PERF:-}" ]; then
  perf record ${PROV_PERF_OPTS:--g} -p "$pid" -o "$PROV_PERF" 2>/dev/null &
  pids+=($!)
fi
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
if [ -z "$last" ]; then
  echo "province: the backlog was not consumed in time" >&2
  tail "$work/ecowarnd.log" >&2
  exit 1
fi
cpu=$(( $(cpu_ticks "$pid") - cpu0 ))
rss=$(awk '/^VmHWM/ { print $2 }' "/proc/$pid/status")
secs=$(python3 -c "print($last - $first)")
rate=$(python3 -c "print($sent / ($last - $first))")
daemon=$(row "ecowarnd, default config" "$sent" "$bytes" "$secs" \
  "$(python3 -c "print($cpu / $(getconf CLK_TCK))")" "$rss" \
  "$(python3 -c "print(f'{$rate / $raw_rate:.2f}')")")

table=$(cat <<EOF
| consumer ($broker, $sent messages, $outlets outlets) | msgs/s | MB/s | CPU µs/msg | peak RSS MB | ratio to raw |
| --- | --- | --- | --- | --- | --- |
$raw
$daemon
EOF
)
echo "$table"
echo "ecowarnd: $(redis-cli -p "$rport" xlen ecowarn:events) alert events," \
  "$(metric ecowarn_deadletters_total) dead letters, $(over_limit ecowarn:) over-limit firings"
# PROV_EVENTS=FILE: the whole stream of alert events, for comparing two builds on the same input
# (diff the files): read once every partition has been idle for engine.idle_partition_ms (60 s)
# and every held record has been judged (PROV_EVENTS_WAIT seconds, 75), one JSON object a line
# without detected_at (processing time), sorted. The count above is read at the end of the
# catch-up, before the last held records are judged: it can differ between runs.
if [ -n "${PROV_EVENTS:-}" ]; then
  sleep "${PROV_EVENTS_WAIT:-75}"
  redis-cli -p "$rport" --raw xrange ecowarn:events - + | grep '^{' | python3 -c '
import json, sys
for line in sys.stdin:
    e = json.loads(line)
    e.pop("detected_at", None)
    print(json.dumps(e, sort_keys=True, ensure_ascii=False))
' | sort >"$PROV_EVENTS"
  echo "ecowarnd: $(wc -l <"$PROV_EVENTS") alert events in $PROV_EVENTS"
fi

# Latency at shares of the catch-up rate: the province goes on live (the same fleet, from where
# the backlog ended, its data time running ahead at the rate's pace but never past now), sent by
# ecowarn-sim at each share's rate in turn (it sleeps between messages; --rate-file), and
# bench_latency's probes beside it.
lat_rows=""
# probe NAME PCT PREFIX ID: bench_latency's probes through the consumer now running, beside the
# fleet at PCT % of ecowarnd's catch-up rate; one row of the latency table into lat_rows
probe() {
  local load m0 m1 t0 t1 out
  load=$(python3 -c "print(int($rate * $2 / 100))")
  echo "$load" >"$work/rate"
  sleep "$warm"
  warm=3
  m0=$(sim_sent) t0=$(date +%s.%N)
  out=$(taskset -c 0 "$bin/bench_latency" --brokers "$brokers" --redis-port "$rport" \
    --rate "${PROV_PROBE_RATE:-100}" --probes "${PROV_PROBES:-2000}" --id "$4" --prefix "$3" \
    ${PROV_DUMP:+--dump "$PROV_DUMP.$1.$2"} || true)
  m1=$(sim_sent) t1=$(date +%s.%N)
  echo "$1, $2 %: $out"
  lat_rows+=$(python3 - "$1" "$2" "$load" "$m0" "$m1" "$t0" "$t1" "$out" <<'EOF'
import sys
name, pct, load, m0, m1, t0, t1, probe = sys.argv[1:]
kv = dict(x.split("=") for x in probe.split())
got = (int(m1) - int(m0)) / (float(t1) - float(t0))
lat = " | ".join(kv.get(k, "-") for k in ("p50_ms", "p99_ms", "p999_ms", "max_ms"))
print(f"| {name} | {pct} % ({int(load):,} msgs/s asked, {got:,.0f} sent) | {lat} "
      f"| {kv.get('probes', '-')} | {kv.get('missing', '-')} | {kv.get('extra', '-')} |")
EOF
)$'\n'
}
# the live fleet's messages sent so far (ecowarn-sim --rate-file writes them beside the rate)
sim_sent() { cat "$work/rate.sent" 2>/dev/null || echo 0; }
peer_shares=${PROV_PEER_LATENCY-0 10}
[ ${#peers_run[@]} -gt 0 ] || peer_shares=""
if [ -n "${PROV_LATENCY-0 10 50 90}" ] || [ -n "$peer_shares" ]; then
  echo 0 >"$work/rate"
  taskset -c 0 "$bin/ecowarn-sim" --seed 1 --enterprises "$ents" --start "$live" --duration 12h \
    --rate-file "$work/rate" --brokers "$brokers" 2>/dev/null &
  pids+=($!)
fi
warm=10 # the first share resends the registrations first
for pct in ${PROV_LATENCY-0 10 50 90}; do
  probe ecowarnd "$pct" ecowarn: "$pct"
  echo "  ecowarnd: lag $(metric ecowarn_consumer_lag), buffered events $(metric ecowarn_buffered_events)"
done
# Each peer's latency: ecowarnd stops; the peer starts beside the live fleet (--live: the data
# topics from their end, the registry whole), given PROV_PEER_WARM seconds (20) to start, then
# its probes at each share of PROV_PEER_LATENCY ("0 10").
if [ -n "$peer_shares" ]; then
  n=0
  kill "$pid" && wait "$pid" 2>/dev/null || true
  for peer in "${peers_run[@]}"; do
    peer_cmd "$peer"
    echo 0 >"$work/rate"
    taskset -c 1 "${cmd[@]}" --brokers "$brokers" --redis-port "$rport" --live \
      --prefix "peer-$peer:" --group "province-$peer-live" >"$work/$peer-live.log" 2>&1 &
    ppid=$!
    pids+=($ppid)
    warm=${PROV_PEER_WARM:-20}
    n=$((n + 1000)) # each run's probes are sites of their own (bench_latency --id)
    for pct in $peer_shares; do probe "$peer" "$pct" "peer-$peer:" $((n + pct)); done
    kill "$ppid" && wait "$ppid" 2>/dev/null || true
  done
fi
if [ -n "$lat_rows" ]; then
  table+=$(printf '\n\n%s\n%s\n%s' \
    "| produce -> alert readable in Redis | load beside it: a share of ecowarnd's catch-up rate | p50 ms | p99 ms | p99.9 ms | max ms | probes | missing | extra |" \
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |" "${lat_rows%$'\n'}")
  echo "$table" | tail -n +6
fi

peer_rows=""
for i in "${!peer_lines[@]}"; do
  peer_rows+="${peer_lines[$i]} | $(python3 -c "r = ${peer_rates[$i]}; print(f'{$rate / r:.1f}' if r else '-')") |"$'\n'
done
if [ -n "$peer_rows" ]; then
  peer_table=$(printf '%s\n%s\n%s' \
    "| peer (the same input and core, catch-up) | msgs/s | MB/s | CPU µs/msg | peak RSS MB | ratio to raw | ecowarnd ÷ peer |" \
    "| --- | --- | --- | --- | --- | --- | --- |" "${peer_rows%$'\n'}")
  echo "$peer_table"
  table+=$'\n\n'"$peer_table"
fi
[ -z "${PROV_RESULTS:-}" ] || printf '\n%s\n' "$table" >>"$PROV_RESULTS"
