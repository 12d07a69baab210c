#!/usr/bin/env bash
# The Debian package as an operator meets it: make deb builds it (lintian-clean, or deb.sh
# fails), dpkg -i installs it on this machine, the installed ecowarnd checks the installed
# config and rules, the unit file is what systemd accepts, and dpkg --purge takes it all away.
# Skips (77) without root or dpkg-deb/lintian, unless EW_REQUIRE_PACKAGE=1 (CI).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
skip() {
  if [ "${EW_REQUIRE_PACKAGE:-}" = 1 ]; then echo "FAIL: $1" >&2; exit 1; fi
  echo "SKIP: $1"; exit 77
}
[ "$(id -u)" = 0 ] || skip "dpkg -i needs root"
for t in dpkg-deb dpkg-shlibdeps lintian; do
  command -v "$t" >/dev/null || skip "$t missing (scripts/deps.sh test)"
done
if dpkg-query -W -f='${Status}' ecowarn 2>/dev/null | grep -q 'install ok installed'; then
  skip "an ecowarn package is installed on this machine already: not replaced by a test"
fi

deb=$(EW_DEB_BUILD="$root/build-deb" "$root/scripts/deb.sh" | tail -1)
trap 'dpkg --purge ecowarn >/dev/null 2>&1 || true' EXIT
contents=$(dpkg-deb -c "$deb")
for f in ./usr/sbin/ecowarnd ./usr/bin/ecowarn-hj212 ./usr/bin/ecowarn-watch ./usr/bin/ecowarn-sim \
         ./lib/systemd/system/ecowarnd.service ./etc/ecowarn/ecowarn.json \
         ./etc/ecowarn/rules/threshold.json ./etc/default/ecowarnd \
         ./usr/share/man/man8/ecowarnd.8.gz ./usr/share/doc/ecowarn/OPERATING.md; do
  grep -q " $f\$" <<<"$contents" || { echo "FAIL: $f not in $deb" >&2; exit 1; }
done
[ "$(dpkg-deb -f "$deb" Package)" = ecowarn ]
grep -q librdkafka1 <<<"$(dpkg-deb -f "$deb" Depends)" || { echo "FAIL: no Depends on librdkafka1" >&2; exit 1; }

dpkg -i "$deb"
out=$(/usr/sbin/ecowarnd -c /etc/ecowarn/ecowarn.json --check-config)
echo "$out"
grep -q "^ok: [0-9]* rules from /etc/ecowarn/rules$" <<<"$out" || { echo "FAIL: --check-config" >&2; exit 1; }
[ "$(stat -c %a /etc/default/ecowarnd)" = 600 ] || { echo "FAIL: /etc/default/ecowarnd not 0600" >&2; exit 1; }
grep -qx /etc/ecowarn/ecowarn.json /var/lib/dpkg/info/ecowarn.conffiles ||
  { echo "FAIL: /etc/ecowarn/ecowarn.json not a conffile" >&2; exit 1; }
# outputs are read whole before they are searched: grep -q leaving a pipe early would kill its
# writer with SIGPIPE, and pipefail would fail the test for it (--help is longer than a pipe write)
decoded=$(echo '{"mn":"MN1","st":"31","cn":"2061","data_time":"2024-01-22T17:00:00+08:00","values":[{"code":"a21026","field":"ZsAvg","value":31.2,"flag":"N"}]}' |
  /usr/bin/ecowarn-hj212 encode | /usr/bin/ecowarn-hj212 decode)
grep -q '^{"ok":true,"mn":"MN1"' <<<"$decoded" || { echo "FAIL: encode | decode: $decoded" >&2; exit 1; }
help=$(/usr/sbin/ecowarnd --help)
grep -q "kafka.properties.NAME" <<<"$help" || { echo "FAIL: --help names no kafka.properties" >&2; exit 1; }
if command -v systemd-analyze >/dev/null; then
  # offline: the unit's syntax and the binaries it names (not whether systemd runs here)
  systemd-analyze verify --man=no /lib/systemd/system/ecowarnd.service
fi

dpkg --purge ecowarn
for f in /usr/sbin/ecowarnd /etc/ecowarn/ecowarn.json /lib/systemd/system/ecowarnd.service; do
  [ ! -e "$f" ] || { echo "FAIL: $f left after dpkg --purge" >&2; exit 1; }
done
echo "the package installs, checks its config and goes: $(basename "$deb")"
