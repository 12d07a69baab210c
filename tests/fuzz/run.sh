#!/usr/bin/env bash
# Runs each libFuzzer target for SECONDS over its corpus, adding what it finds to the corpus.
# Usage: tests/fuzz/run.sh BIN_DIR SECONDS
set -euo pipefail
bin=$1 secs=$2
here=$(cd "$(dirname "$0")" && pwd)
for target in hj212 recjson; do
  echo "== fuzz_$target for ${secs}s"
  mkdir -p "$here/corpus/$target"
  "$bin/fuzz_$target" -max_total_time="$secs" -max_len=12000 -print_final_stats=1 \
    -dict="$here/hj212.dict" "$here/corpus/$target"
done
