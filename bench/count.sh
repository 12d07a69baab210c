#!/usr/bin/env bash
# Instructions per decoded packet (typical hourly packet), counted by callgrind: repeatable
# whatever else the machine is doing. Usage: bench/count.sh [BUILD_DIR]
set -euo pipefail
bin=${1:-build}/bin/bench_hj212
count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" --packets "$1" 2>&1 |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
base=$(count 0)
with=$(count 10000)
echo "instructions per packet: $(( (with - base) / 10000 ))"
