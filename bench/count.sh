#!/usr/bin/env bash
# Instructions per decoded packet (typical hourly packet), counted by callgrind: repeatable
# whatever else the machine is doing. Usage: bench/count.sh [BUILD_DIR] [POLLUTANTS]
# POLLUTANTS (4 by default, at most 12) sets how many pollutant groups (Avg, ZsAvg, Flag) the
# packet holds: the difference between two counts is what the groups cost.
set -euo pipefail
bin=${1:-build}/bin/bench_hj212
npol=${2:-4}
count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" --packets "$1" --pollutants "$npol" 2>&1 |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
base=$(count 0)
with=$(count 10000)
echo "instructions per packet: $(( (with - base) / 10000 ))"
