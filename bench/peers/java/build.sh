#!/usr/bin/env bash
# Build the JVM peers (Maven, from Maven Central) into DIR (default
# ~/.cache/ecowarn/peers-java); prints the classpath of each, one line each:
#   kstreams CLASSPATH
#   flink CLASSPATH
# Run a peer with: java -cp CLASSPATH ecowarn.peer.StreamsPeer ... (or ecowarn.peer.FlinkPeer).
set -euo pipefail
src=$(cd "$(dirname "$0")" && pwd)
out=${1:-${EW_PEER_CACHE:-$HOME/.cache/ecowarn}/peers-java}
mkdir -p "$out"
# a copy, so that Maven's target/ stays out of the tree
rm -rf "$out/src" && cp -r "$src" "$out/src"
(cd "$out/src" && mvn -q -B package -DskipTests >&2)
for m in kstreams flink; do
  echo "$m $out/src/$m/target/classes:$out/src/$m/target/lib/*"
done
