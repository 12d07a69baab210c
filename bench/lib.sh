# Sourced by the benchmark scripts (from the project root): a work directory, the processes
# started (pids) and a broker (kafka_dir), all gone when the script ends; a free loopback port.
# Usage: . bench/lib.sh NAME   (the work directory is /tmp/ecowarn-NAME.XXXXXX)
work=$(mktemp -d "/tmp/ecowarn-$1.XXXXXX")
pids=()
kafka_dir=""
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "$kafka_dir" ] && scripts/kafka.sh stop "$kafka_dir" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
