#!/usr/bin/env bash
# Instructions per record through the default rules, counted by callgrind: repeatable whatever
# else the machine is doing. Rounds 3 to 6 of 20,000 sites, so creating state is not counted.
# Usage: bench/count_rules.sh [BUILD_DIR]
set -euo pipefail
bin=${1:-build}/bin/bench_rules
count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" --sites 20000 --rounds "$1" 2>&1 |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
base=$(count 2)
with=$(count 6)
echo "instructions per record: $(( (with - base) / 80000 ))"
