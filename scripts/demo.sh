#!/usr/bin/env bash
# make demo: a local redis-server and the embedded Kafka broker, ecowarnd with the example
# config, a few hours of a simulated fleet with anomalies fed in over a couple of minutes, and
# the alerts and reminders printed as they appear. Meanwhile scripts/demo_desk.py plays the
# people of the closed loop through the console (ecowarn-watch): some enterprises answer their
# reminders, the others are escalated, the duty officer acknowledges the critical alerts; at the
# end, each loop's history. Everything it starts is stopped on exit.
#
#   DEMO_ENTERPRISES (30)  DEMO_HOURS (8)  DEMO_RATE (messages/s, 250)  DEMO_SEED (7)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/bin
work=$(mktemp -d /tmp/ecowarn-demo.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "demo: stopped everything it started; logs were in $work (now removed)"
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

redis_port=$(free_port)
http_port=${DEMO_HTTP_PORT:-$(free_port)}
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" \
  >"$work/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done

"$bin/ecowarn-kafka" >"$work/kafka.addr" 2>"$work/kafka.log" &
pids+=($!)
for _ in $(seq 50); do [ -s "$work/kafka.addr" ] && break; sleep 0.1; done
brokers=$(head -1 "$work/kafka.addr")
echo "demo: redis on 127.0.0.1:$redis_port, embedded Kafka at $brokers"

"$bin/ecowarnd" -c config/ecowarn.json --set "kafka.brokers=$brokers" \
  --set "redis.url=redis://127.0.0.1:$redis_port/0" --set "http.listen=127.0.0.1:$http_port" \
  2>"$work/ecowarnd.log" &
pids+=($!)
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$http_port/health" >/dev/null 2>&1 && break; sleep 0.2
done
echo "demo: ecowarnd up; the live risk map at http://127.0.0.1:$http_port/ (open it in a browser), metrics at /metrics"

"$bin/ecowarn-watch" --redis "redis://127.0.0.1:$redis_port/0" &
pids+=($!)

scripts/demo_desk.py "$bin" "redis://127.0.0.1:$redis_port/0" "$brokers" "$work/stop" &
pids+=($!)

echo "demo: feeding ${DEMO_HOURS:-8} h of ${DEMO_ENTERPRISES:-30} enterprises at ${DEMO_RATE:-250} messages/s"
"$bin/ecowarn-sim" --seed "${DEMO_SEED:-7}" --enterprises "${DEMO_ENTERPRISES:-30}" \
  --duration "${DEMO_HOURS:-8}h" --anomalies 0.3 --rate "${DEMO_RATE:-250}" --brokers "$brokers" \
  2> >(sed 's/^/sim: /' >&2)
sleep 5 # the last records, and the reorder window of the newest real-time data
touch "$work/stop"
curl -fs "http://127.0.0.1:$http_port/metrics" | grep -E '^ecowarn_(messages|events|deadletters)_total' || true
echo "demo: the kinds raised (events per rule kind):"
redis-cli -p "$redis_port" --raw xrange ecowarn:events - + | grep '^{' |
  python3 -c 'import collections, json, sys
n = collections.Counter(json.loads(line)["kind"] for line in sys.stdin)
print("\n".join(f"  {k:28} {v}" for k, v in sorted(n.items())))' || true
echo "demo: redis streams: events $(redis-cli -p "$redis_port" xlen ecowarn:events)," \
     "duty $(redis-cli -p "$redis_port" xlen ecowarn:duty), active $(redis-cli -p "$redis_port" hlen ecowarn:active)"
echo "demo: the closed loop, each alert's history (escalated, answered, acknowledged, resolved):"
redis-cli -p "$redis_port" --raw xrange ecowarn:events - + | grep '^{' |
  scripts/demo_desk.py --history || true
echo "demo: still active (ecowarn-watch active):"
"$bin/ecowarn-watch" active --redis "redis://127.0.0.1:$redis_port/0" | tail -12
