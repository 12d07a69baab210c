#!/usr/bin/env bash
# Runs each libFuzzer target for SECONDS, starting from the corpus in the tree. New inputs are
# collected in a scratch folder; those that add coverage are then merged into the tree's
# corpus (tests/fuzz/corpus/<target>), so the corpus grows only by what teaches it something.
# A crash leaves its input as crash-* in the scratch folder: add it to the corpus with the fix.
# Usage: tests/fuzz/run.sh BIN_DIR SECONDS
set -euo pipefail
bin=$(cd "$1" && pwd) secs=$2
here=$(cd "$(dirname "$0")" && pwd)
scratch=$(cd "$bin/.." && pwd)/fuzz-scratch
for target in hj212 recjson rules state engine cut; do
  echo "== fuzz_$target for ${secs}s"
  mkdir -p "$scratch/$target"
  (cd "$scratch" && "$bin/fuzz_$target" -max_total_time="$secs" -max_len=12000 \
    -print_final_stats=1 -dict="$here/hj212.dict" "$scratch/$target" "$here/corpus/$target")
  "$bin/fuzz_$target" -merge=1 "$here/corpus/$target" "$scratch/$target" 2>&1 | grep -E 'MERGE-OUTER: [0-9]+ new files' || true
done
