#!/usr/bin/env bash
# Installs the Debian 12 packages ecowarn needs, only those that are missing.
# Idempotent: when everything is present it returns at once without touching apt.
# Works as root, or through sudo when it is available.
#
#   scripts/deps.sh            build + test packages
#   scripts/deps.sh test       also what make test drives: Chromium and its WebDriver (the
#                              dashboard's browser test; a CJK font for its screenshot), lintian
#                              and dpkg-dev (the Debian package: its build and its check), gdb
#                              (a failed integration test prints each live daemon's main thread)
#   scripts/deps.sh fuzz       also clang and its fuzzer/sanitizer runtime
#   scripts/deps.sh format     also clang-format 14 (make format)
set -euo pipefail

build_pkgs=(gcc make cmake pkg-config libjansson-dev libyajl-dev libcmocka-dev librdkafka-dev libhiredis-dev libev-dev libmicrohttpd-dev liburiparser-dev
            redis-server python3-pytest python3-venv curl)
test_pkgs=(chromium chromium-driver fonts-wqy-microhei lintian dpkg-dev gdb)
fuzz_pkgs=(clang-14 libclang-rt-14-dev)
format_pkgs=(clang-format-14)

want=("${build_pkgs[@]}")
for group in "$@"; do
  case "$group" in
    test) want+=("${test_pkgs[@]}") ;;
    fuzz) want+=("${fuzz_pkgs[@]}") ;;
    format) want+=("${format_pkgs[@]}") ;;
    *) echo "deps.sh: unknown group '$group' (known: test, fuzz, format)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "deps.sh: missing packages: ${missing[*]}; run as root or install sudo" >&2
  exit 1
fi

echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
