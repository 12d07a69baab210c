#!/usr/bin/env bash
# Instructions per record through the default rules, counted by callgrind: repeatable whatever
# else the machine is doing. 20,000 sites; the difference between two runs, so that creating
# state is not counted: hourly, rounds 3 to 6; minute (MIX "minute"), rounds 7 to 18, two
# hours of 10-minute records with the hours they close.
# Usage: bench/count_rules.sh [BUILD_DIR] [MIX]
set -euo pipefail
bin=${1:-build}/bin/bench_rules
mix=${2:-hourly}
count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" --mix "$mix" --sites 20000 \
    --rounds "$1" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
if [ "$mix" = minute ]; then lo=6 hi=18; else lo=2 hi=6; fi
base=$(count $lo)
with=$(count $hi)
echo "instructions per record: $(( (with - base) / ((hi - lo) * 20000) ))"
